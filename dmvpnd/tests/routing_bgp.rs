//! iBGP over the DMVPN tunnel (issue 6): a hub and three spokes, each the
//! real dmvpnd in its own network namespace with FRR's zebra and bgpd
//! (Debian's frr package, one private instance per namespace:
//! common/frr.rs), LANs behind the spokes.
//!
//! The hub is a route reflector with dynamic neighbours (`bgp listen range
//! 10.0.0.0/24`: a new spoke needs no hub configuration) and advertises
//! only the summary 172.16.0.0/16 towards the spokes (`aggregate-address
//! ... summary-only`); each spoke advertises its LAN. So a spoke reaches
//! the other LANs via the hub, and Phase 3 does the rest: a flow from s1's
//! LAN to s2's makes the hub redirect and s1 resolve a shortcut, whose
//! /24 kernel route (proto 205) overrides the summary for the duration of
//! the flow, and expires after it (holding time 10 s on the spokes, so
//! the test stays short).
//!
//! Asserted: sessions Established, the routes in zebra and in the kernel,
//! the TTL of the replies (63 via the hub, 64 direct), the path the kernel
//! picks (`ip route get`) during and after the shortcut, zebra seeing our
//! route as a kernel route of distance 250, dmvpnd's NHRP state (gRPC),
//! and no route flaps in s1's FIB sampled from before the flow until after
//! the shortcut expired.
//!
//! Needs root and FRR (scripts/setup.sh); everything is removed at the end,
//! also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::frr::{FibSampler, Frr, assert_stable, fib, poll};
use common::netns::{
    Cloud, Echo, assert_root, cache, connect, hub_config, nhrp, ping_ttls, run, spoke_config,
    spoke_nbma, spoke_tunnel, state,
};
use serde_json::{Value, json};

const SPOKES: u8 = 3;
/// The spokes' NHRP holding time: the lifetime of an unused shortcut.
const HOLDING: u64 = 10;

fn echo() -> Echo {
    Echo::new(0x0b6b, b"dmvpnd routing bgp", Duration::from_millis(50))
}

/// The hub: route reflector for every spoke in the tunnel subnet, which
/// only hears the summary. Short timers: a lost session shows quickly.
const HUB_BGPD: &str = "\
hostname bgp-hub
!
router bgp 65000
 bgp router-id 10.0.0.1
 timers bgp 3 9
 neighbor SPOKES peer-group
 neighbor SPOKES remote-as 65000
 bgp listen range 10.0.0.0/24 peer-group SPOKES
 !
 address-family ipv4 unicast
  neighbor SPOKES route-reflector-client
  aggregate-address 172.16.0.0/16 summary-only
 exit-address-family
";

/// A spoke's bgpd; s1 also redistributes dmvpnd's shortcuts, which zebra
/// hands over as kernel routes, told apart by their metric (250 in the low
/// 24 bits, `kernel_routes::METRIC`).
fn spoke_bgpd(i: u8) -> String {
    let (redistribute, route_map) = if i == 1 {
        (
            "  redistribute kernel route-map NHRP\n",
            "!\nroute-map NHRP permit 10\n match metric 250\n",
        )
    } else {
        ("", "")
    };
    format!(
        "hostname bgp-s{i}\n\
         !\n\
         router bgp 65000\n\
         \x20bgp router-id 10.0.0.1{i}\n\
         \x20timers bgp 3 9\n\
         \x20neighbor 10.0.0.1 remote-as 65000\n\
         \x20!\n\
         \x20address-family ipv4 unicast\n\
         \x20 network 172.16.{i}.0/24\n\
         {redistribute}\
         \x20exit-address-family\n\
         {route_map}"
    )
}

/// The peers of `frr` whose session is Established.
fn established(frr: &Frr) -> Vec<String> {
    let json = frr.json("show bgp ipv4 unicast summary json");
    json["peers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, p)| p["state"] == "Established")
        .map(|(id, _)| id.clone())
        .collect()
}

fn has_route(ns: &str, dst: &str, proto: &str, gateway: &str) -> bool {
    fib(ns)
        .iter()
        .any(|(d, p, _, gw)| d == dst && p == proto && gw == gateway)
}

/// The next hop the kernel of `ns` picks for `dst` (`ip route get`).
fn next_hop(ns: &str, dst: &str) -> String {
    let text = run("ip", &["-n", ns, "-j", "route", "get", dst]);
    let json: Value = serde_json::from_str(&text).unwrap();
    json[0]["gateway"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ibgp_summary_from_the_hub_phase3_shortcut_overrides_it_for_the_flow() {
    assert_root();
    let started = Instant::now();
    let mut cloud = Cloud::start(
        format!("dmvpnd-bgp-{}", std::process::id()),
        "bgp",
        &hub_config(),
        SPOKES,
        |n| {
            let mut config = spoke_config(&spoke_tunnel(n), &spoke_nbma(n));
            nhrp(&mut config)["holding-time"] = json!(HOLDING);
            config
        },
    );
    cloud.hub.wait_tunnel();
    for s in &mut cloud.spokes {
        s.wait_tunnel();
    }
    cloud.wait_registered(Duration::from_secs(15), &[]).await;
    let (hub, spokes, ns) = (&cloud.hub, &cloud.spokes, &cloud.ns);
    let all: Vec<String> = (1..=SPOKES).map(spoke_tunnel).collect();

    let hub_frr = Frr::start(&ns[0], "bgp-hub", "hostname hub\n", &[("bgpd", HUB_BGPD)]);
    let mut spoke_frr = vec![];
    for i in 1..=SPOKES {
        spoke_frr.push(Frr::start(
            &ns[usize::from(i)],
            &format!("bgp-s{i}"),
            &format!("hostname s{i}\n"),
            &[("bgpd", &spoke_bgpd(i))],
        ));
    }

    // Sessions: every spoke with the hub, over the tunnel.
    let sessions = Instant::now();
    let up = poll(Duration::from_secs(60), || {
        let hub_peers = established(&hub_frr);
        all.iter().all(|s| hub_peers.contains(s))
            && spoke_frr
                .iter()
                .all(|f| established(f).contains(&"10.0.0.1".to_owned()))
    });
    assert!(
        up,
        "BGP sessions not Established\nhub:\n{}\ns1:\n{}\nhub dmvpnd:\n{}\n{}",
        hub_frr.vtysh("show bgp summary"),
        spoke_frr[0].vtysh("show bgp summary"),
        hub.site.log(),
        hub_frr.logs()
    );
    let sessions = sessions.elapsed();

    // The hub has each LAN via its spoke; the spokes the summary via the
    // hub, and no other spoke's LAN (summary-only).
    for i in 1..=SPOKES {
        let (dst, gw) = (format!("172.16.{i}.0/24"), format!("10.0.0.1{i}"));
        assert!(
            poll(Duration::from_secs(20), || has_route(
                &ns[0], &dst, "bgp", &gw
            )),
            "hub: no BGP route {dst} via {gw}: {:?}\n{}",
            fib(&ns[0]),
            hub_frr.vtysh("show bgp ipv4 unicast")
        );
    }
    for (i, s_ns) in ns.iter().enumerate().skip(1) {
        assert!(
            poll(Duration::from_secs(20), || has_route(
                s_ns,
                "172.16.0.0/16",
                "bgp",
                "10.0.0.1"
            )),
            "s{i}: no summary via the hub: {:?}\n{}",
            fib(s_ns),
            spoke_frr[i - 1].vtysh("show bgp ipv4 unicast")
        );
        let others: Vec<_> = fib(s_ns)
            .into_iter()
            .filter(|r| r.1 == "bgp" && r.0 != "172.16.0.0/16")
            .collect();
        assert!(others.is_empty(), "s{i}: more than the summary: {others:?}");
        let zebra = spoke_frr[i - 1].json("show ip route bgp json");
        assert!(
            zebra["172.16.0.0/16"]
                .as_array()
                .is_some_and(|r| r.iter().any(|e| e["selected"] == json!(true))),
            "s{i}: zebra has no selected summary: {zebra:#}"
        );
    }
    assert_eq!(next_hop(&ns[1], "172.16.2.1"), "10.0.0.1");

    // The flow s1 LAN -> s2 LAN, with s1's FIB sampled from before it
    // until after the shortcut expired.
    let sampler = FibSampler::start(&ns[1]);
    let s1 = &spokes[0];
    let ttls = ping_ttls(&ns[1], "172.16.1.1", "172.16.2.1", 40, echo());
    assert!(
        ttls.len() >= 36,
        "{}/40 echo replies: {ttls:?}\ns1 log:\n{}\nhub log:\n{}",
        ttls.len(),
        s1.site.log(),
        hub.site.log()
    );
    assert_eq!(
        ttls[0], 63,
        "the first reply did not cross the hub: {ttls:?}"
    );
    assert!(
        ttls[ttls.len() - 10..].iter().all(|&t| t == 64),
        "traffic did not go direct (TTL 64) at the end: {ttls:?}\ns1 log:\n{}",
        s1.site.log()
    );

    // During the flow: our /24 beside BGP's /16, and the kernel takes ours.
    let shortcut_route = |ns: &str| has_route(ns, "172.16.2.0/24", "205", "10.0.0.12");
    assert!(
        shortcut_route(&ns[1]),
        "no shortcut route of proto 205 on s1: {:?}",
        fib(&ns[1])
    );
    assert!(
        fib(&ns[1])
            .iter()
            .any(|r| r.0 == "172.16.2.0/24" && r.2 == 4_194_304_250)
    );
    assert!(has_route(&ns[1], "172.16.0.0/16", "bgp", "10.0.0.1"));
    assert_eq!(next_hop(&ns[1], "172.16.2.1"), "10.0.0.12");
    assert_eq!(
        next_hop(&ns[1], "172.16.3.1"),
        "10.0.0.1",
        "s3 still via the hub"
    );
    let mut s1_client = connect(&s1.socket()).await;
    let entries = cache(&state(&mut s1_client).await);
    assert!(
        entries
            .iter()
            .any(|(prefix, ty, nh)| prefix == "172.16.2.0/24"
                && ty == "shortcut"
                && nh == "10.0.0.12"),
        "s1 has no shortcut for 172.16.2.0/24: {entries:?}"
    );
    // zebra sees it by its protocol: a kernel route, distance 250.
    let kernel = spoke_frr[0].json("show ip route kernel json");
    assert!(
        kernel["172.16.2.0/24"]
            .as_array()
            .is_some_and(|r| r.iter().any(|e| e["distance"] == json!(250))),
        "zebra does not show our shortcut as a kernel route of distance 250: {kernel:#}"
    );
    // ... and bgpd redistributes it: the hub holds a second path for s2's
    // LAN, from s1 with origin incomplete, and keeps s2's (origin IGP) as
    // the best, in BGP and in its FIB.
    let from_s1 = |hub_frr: &Frr| {
        let route = hub_frr.json("show bgp ipv4 unicast 172.16.2.0/24 json");
        route["paths"].as_array().is_some_and(|paths| {
            paths
                .iter()
                .any(|p| p["peer"]["peerId"] == "10.0.0.11" && p["origin"] == "incomplete")
        })
    };
    assert!(
        poll(Duration::from_secs(10), || from_s1(&hub_frr)),
        "the hub has no redistributed path from s1: {}",
        hub_frr.vtysh("show bgp ipv4 unicast 172.16.2.0/24")
    );
    assert!(has_route(&ns[0], "172.16.2.0/24", "bgp", "10.0.0.12"));

    // After the flow: the shortcut expires (holding time, no refresh
    // without use) and the summary carries the traffic again.
    let flow_end = Instant::now();
    let limit = Duration::from_secs(3 * HOLDING + 10);
    assert!(
        poll(limit, || !shortcut_route(&ns[1])),
        "the shortcut route is still there {limit:?} after the flow: {:?}\ns1 log:\n{}",
        fib(&ns[1]),
        s1.site.log()
    );
    let expired_after = flow_end.elapsed();
    let entries = cache(&state(&mut s1_client).await);
    assert!(
        !entries
            .iter()
            .any(|(prefix, ty, _)| prefix == "172.16.2.0/24" && ty == "shortcut"),
        "the shortcut is still in s1's cache: {entries:?}"
    );
    assert_eq!(next_hop(&ns[1], "172.16.2.1"), "10.0.0.1");
    assert!(
        poll(Duration::from_secs(10), || !from_s1(&hub_frr)),
        "s1 still advertises the expired shortcut: {}",
        hub_frr.vtysh("show bgp ipv4 unicast 172.16.2.0/24")
    );
    // A couple more samples after the expiry, then the verdict.
    std::thread::sleep(Duration::from_secs(1));
    let samples = sampler.finish();
    assert_stable(&samples, "bgp");
    assert!(
        samples.iter().any(|s| s.iter().any(|r| r.1 == "205")),
        "the sampler never saw the shortcut"
    );
    let after = ping_ttls(&ns[1], "172.16.1.1", "172.16.2.1", 1, echo());
    assert_eq!(
        after,
        vec![63],
        "after expiry the first packet crosses the hub"
    );
    eprintln!(
        "BGP: Established after {sessions:?}; TTLs {ttls:?}; shortcut gone {expired_after:?} \
         after the flow; {} FIB samples; took {:?}",
        samples.len(),
        started.elapsed()
    );
}
