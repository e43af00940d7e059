//! OSPF over the DMVPN tunnel (issue 6): a hub and three spokes, each the
//! real dmvpnd in its own network namespace with FRR's zebra and ospfd
//! (Debian's frr package, one private instance per namespace:
//! common/frr.rs), LANs behind the spokes.
//!
//! Two designs, one test each:
//! - Phase 3, `ip ospf network point-to-multipoint` on dmvpn0: OSPF sends
//!   its hellos to 224.0.0.5, which our data plane replicates to the
//!   multicast map (hub: every registered spoke; spoke: the hub). Each spoke
//!   forms one adjacency, with the hub, and learns the other LANs via the
//!   hub (p2mp next hops are the hub), so spoke to spoke traffic hairpins
//!   at the hub until its redirect makes the spoke resolve a shortcut.
//! - Phase 2, `ip ospf network broadcast` with the hub as DR (spoke
//!   priority 0, so no spoke is ever DR or BDR: spokes do not hear each
//!   other's hellos): the next hop of another spoke's LAN is that spoke's
//!   tunnel address, and the first packet makes dmvpnd resolve it (no
//!   redirect, no shortcut routes).
//!
//! Asserted: Full adjacencies hub <-> each spoke (vtysh), the LAN routes in
//! zebra and in the kernel FIB, spoke to spoke traffic by the TTL of the
//! replies (63: via the hub, 64: direct) and dmvpnd's NHRP state (gRPC),
//! zebra seeing our shortcut as a kernel route of distance 250 while its
//! OSPF route stays selected and installed, and no route flaps in the FIB
//! of the spoke sampled during the whole flow.
//!
//! Needs root and FRR (scripts/setup.sh); everything is removed at the end,
//! also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::frr::{FibSampler, Frr, assert_stable, fib, poll};
use common::netns::{
    Cloud, Echo, assert_root, cache, connect, hub_config, nhrp, ping_ttls, spoke_config,
    spoke_nbma, spoke_tunnel, state,
};
use serde_json::json;

const SPOKES: u8 = 3;

fn echo() -> Echo {
    Echo::new(0x0f5f, b"dmvpnd routing ospf", Duration::from_millis(50))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Design {
    /// Point-to-multipoint, hub redirect and spoke shortcuts on.
    Phase3,
    /// Broadcast with the hub as DR, no redirect, no shortcuts.
    Phase2,
}

/// ospfd's configuration for the router with tunnel address `tunnel` and
/// (spokes) LAN `lan`.
fn ospfd_conf(design: Design, tunnel: &str, lan: Option<&str>, hub: bool) -> String {
    let network = match design {
        Design::Phase3 => " ip ospf network point-to-multipoint\n".to_owned(),
        Design::Phase2 => format!(
            " ip ospf network broadcast\n ip ospf priority {}\n",
            if hub { 255 } else { 0 }
        ),
    };
    let mut conf = format!(
        "hostname ospf-{tunnel}\n\
         !\n\
         interface dmvpn0\n\
         {network} ip ospf hello-interval 1\n\
         \x20ip ospf dead-interval 4\n\
         !\n\
         router ospf\n\
         \x20ospf router-id {tunnel}\n\
         \x20network 10.0.0.0/24 area 0\n"
    );
    if let Some(lan) = lan {
        conf.push_str(&format!(" network {lan} area 0\n passive-interface lan0\n"));
    }
    conf
}

/// The router ids with which `frr` has a Full adjacency.
fn full_neighbors(frr: &Frr) -> Vec<String> {
    let json = frr.json("show ip ospf neighbor json");
    let mut full = vec![];
    for (id, entries) in json["neighbors"].as_object().into_iter().flatten() {
        let entries = entries.as_array().cloned().unwrap_or_default();
        if entries.iter().any(|e| {
            e["nbrState"]
                .as_str()
                .or(e["state"].as_str())
                .is_some_and(|s| s.starts_with("Full"))
        }) {
            full.push(id.clone());
        }
    }
    full
}

/// Whether the kernel FIB of `ns` has `dst` from OSPF via `gateway`.
fn ospf_route(ns: &str, dst: &str, gateway: &str) -> bool {
    fib(ns)
        .iter()
        .any(|(d, proto, _, gw)| d == dst && proto == "ospf" && gw == gateway)
}

async fn scenario(design: Design, tag: &str) {
    assert_root();
    let started = Instant::now();

    // dmvpnd: the hub with `multicast dynamic`, spokes with the hub as NHS
    // and multicast peer (common/netns.rs), per design.
    let mut hub_config = hub_config();
    if design == Design::Phase2 {
        nhrp(&mut hub_config)["redirect"] = json!(false);
    }
    let mut cloud = Cloud::start(
        format!("dmvpnd-ospf-{}-{tag}", std::process::id()),
        &format!("ospf-{tag}"),
        &hub_config,
        SPOKES,
        |n| {
            let mut config = spoke_config(&spoke_tunnel(n), &spoke_nbma(n));
            if design == Design::Phase2 {
                nhrp(&mut config)["shortcut"] = json!(false);
            }
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

    // FRR: zebra + ospfd in each namespace.
    let zebra = |name: &str| format!("hostname {name}\n");
    let hub_frr = Frr::start(
        &ns[0],
        &format!("ospf-{tag}-hub"),
        &zebra("hub"),
        &[("ospfd", &ospfd_conf(design, "10.0.0.1", None, true))],
    );
    let mut spoke_frr = vec![];
    for i in 1..=SPOKES {
        let conf = ospfd_conf(
            design,
            &format!("10.0.0.1{i}"),
            Some(&format!("172.16.{i}.0/24")),
            false,
        );
        spoke_frr.push(Frr::start(
            &ns[usize::from(i)],
            &format!("ospf-{tag}-s{i}"),
            &zebra(&format!("s{i}")),
            &[("ospfd", &conf)],
        ));
    }

    // Full adjacencies, hub <-> every spoke, over our multicast replication.
    let adjacency = Instant::now();
    let full = poll(Duration::from_secs(40), || {
        let hub_full = full_neighbors(&hub_frr);
        all.iter().all(|s| hub_full.contains(s))
            && spoke_frr
                .iter()
                .all(|f| full_neighbors(f).contains(&"10.0.0.1".to_owned()))
    });
    assert!(
        full,
        "no Full adjacencies\nhub: {}\n{}\nhub dmvpnd:\n{}\n{}",
        hub_frr.vtysh("show ip ospf neighbor"),
        hub_frr.vtysh("show ip ospf interface dmvpn0"),
        hub.site.log(),
        hub_frr.logs()
    );
    let adjacency = adjacency.elapsed();
    // Spokes are adjacent with the hub only.
    for (i, f) in spoke_frr.iter().enumerate() {
        let n = full_neighbors(f);
        assert_eq!(n, vec!["10.0.0.1".to_owned()], "s{} neighbors", i + 1);
    }

    // LAN routes: the hub reaches each LAN via its spoke; spoke s1 reaches
    // the others' LANs via the hub (p2mp) or via their spoke (broadcast).
    for i in 1..=SPOKES {
        let (dst, gw) = (format!("172.16.{i}.0/24"), format!("10.0.0.1{i}"));
        assert!(
            poll(Duration::from_secs(20), || ospf_route(&ns[0], &dst, &gw)),
            "hub: no OSPF route {dst} via {gw}: {:?}\n{}",
            fib(&ns[0]),
            hub_frr.vtysh("show ip route")
        );
    }
    for (i, s_ns) in ns.iter().enumerate().skip(1) {
        for j in 1..=SPOKES {
            if usize::from(j) == i {
                continue;
            }
            let dst = format!("172.16.{j}.0/24");
            let gw = match design {
                Design::Phase3 => "10.0.0.1".to_owned(),
                Design::Phase2 => format!("10.0.0.1{j}"),
            };
            assert!(
                poll(Duration::from_secs(20), || ospf_route(s_ns, &dst, &gw)),
                "s{i}: no OSPF route {dst} via {gw}: {:?}\n{}",
                fib(s_ns),
                spoke_frr[i - 1].vtysh("show ip route")
            );
            let zebra_routes = spoke_frr[i - 1].json("show ip route ospf json");
            assert!(
                zebra_routes[&dst]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|e| e["selected"] == json!(true))),
                "s{i}: zebra has no selected OSPF route {dst}: {zebra_routes:#}"
            );
        }
    }

    // Spoke to spoke: s1's LAN to s2's LAN, with s1's FIB sampled all along.
    let sampler = FibSampler::start(&ns[1]);
    let ttls = ping_ttls(&ns[1], "172.16.1.1", "172.16.2.1", 40, echo());
    let s1 = &spokes[0];
    assert!(
        ttls.len() >= 36,
        "{}/40 echo replies: {ttls:?}\ns1 log:\n{}\nhub log:\n{}",
        ttls.len(),
        s1.site.log(),
        hub.site.log()
    );
    assert!(
        ttls.iter().all(|&t| t == 63 || t == 64),
        "unexpected TTLs {ttls:?}"
    );
    assert!(
        ttls[ttls.len() - 10..].iter().all(|&t| t == 64),
        "traffic did not go direct (TTL 64) at the end: {ttls:?}\ns1 log:\n{}",
        s1.site.log()
    );

    let mut s1_client = connect(&s1.socket()).await;
    let s1_state = state(&mut s1_client).await;
    let entries = cache(&s1_state);
    let s1_fib = fib(&ns[1]);
    let ours: Vec<_> = s1_fib.iter().filter(|r| r.1 == "205").cloned().collect();
    match design {
        Design::Phase3 => {
            assert!(
                entries
                    .iter()
                    .any(|(prefix, ty, nh)| prefix == "172.16.2.0/24"
                        && ty == "shortcut"
                        && nh == "10.0.0.12"),
                "s1 has no shortcut for 172.16.2.0/24: {entries:?}"
            );
            // Our shortcut and OSPF's route side by side in the kernel: with
            // a plain metric 250 zebra took ours for a distance 0 route and
            // deleted its OSPF route from the kernel (the fight).
            assert!(
                ours.iter()
                    .any(|r| r.0 == "172.16.2.0/24" && r.3 == "10.0.0.12"),
                "no shortcut route of proto 205 on s1: {s1_fib:?}"
            );
            assert!(
                ospf_route(&ns[1], "172.16.2.0/24", "10.0.0.1"),
                "zebra withdrew its OSPF route beside our shortcut: {s1_fib:?}"
            );
            assert!(
                ours.iter()
                    .any(|r| r.0 == "172.16.2.0/24" && r.2 == 4_194_304_250),
                "our route's metric does not carry distance 250: {ours:?}"
            );
            // zebra sees it as a kernel route of distance 250 and keeps
            // its OSPF route selected.
            let route = spoke_frr[0].json("show ip route 172.16.2.0/24 json");
            let entries = route["172.16.2.0/24"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let kernel = entries.iter().find(|e| e["protocol"] == "kernel");
            assert!(
                kernel.is_some_and(|e| e["distance"] == json!(250)),
                "zebra does not see our shortcut with distance 250: {route:#}"
            );
            assert!(
                entries
                    .iter()
                    .any(|e| e["protocol"] == "ospf" && e["selected"] == json!(true)),
                "zebra's OSPF route is not selected: {route:#}"
            );
            let kernel_routes = spoke_frr[0].json("show ip route kernel json");
            assert!(
                kernel_routes.get("172.16.2.0/24").is_some(),
                "not in `show ip route kernel`: {kernel_routes:#}"
            );
            // Not selected, zebra redistributes it nowhere here (zebra only
            // redistributes a prefix's best route): routing_bgp.rs shows
            // the redistribution, where no route competes with the /24.
        }
        Design::Phase2 => {
            // A binding for s2's tunnel address, resolved by s1 itself; no
            // shortcut for the LAN prefix and no routes of ours.
            assert!(
                entries
                    .iter()
                    .any(|(prefix, ty, nh)| prefix.starts_with("10.0.0.12")
                        && ty == "shortcut"
                        && nh == "10.0.0.12"),
                "s1 did not resolve 10.0.0.12: {entries:?}"
            );
            assert!(
                !entries
                    .iter()
                    .any(|(prefix, _, _)| prefix == "172.16.2.0/24"),
                "Phase 2 with a shortcut for the LAN: {entries:?}"
            );
            assert!(
                !ours.iter().any(|r| r.0 == "172.16.2.0/24"),
                "Phase 2 with a route of ours: {ours:?}"
            );
        }
    }

    // A few more seconds of flow, then no route came and went.
    let more = ping_ttls(&ns[1], "172.16.1.1", "172.16.2.1", 40, echo());
    assert!(more.len() >= 36, "{}/40 replies later", more.len());
    let samples = sampler.finish();
    assert_stable(&samples, "ospf");
    eprintln!(
        "{design:?}: Full after {adjacency:?}; TTLs {ttls:?}; {} FIB samples; took {:?}",
        samples.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ospf_point_to_multipoint_phase3_shortcut_beside_ospf_routes() {
    scenario(Design::Phase3, "p3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ospf_broadcast_hub_dr_phase2_spokes_resolve_next_hops() {
    scenario(Design::Phase2, "p2").await;
}
