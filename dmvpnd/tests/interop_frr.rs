//! Interop with FRR 8.4 nhrpd over real Linux kernel mGRE (issue 6): the
//! FRR routers run in a QEMU guest (interop/frr/, see its README.md), our
//! dmvpnd in host network namespaces plugged into the guest's underlay.
//!
//! - our spoke + FRR hub and FRR spoke: registration, LAN to LAN traffic,
//!   Phase 3 shortcut through the FRR hub's redirect;
//! - FRR spokes + our hub: registration, our redirect, FRR's shortcut, and
//!   our hub out of the path afterwards;
//! - NAT: an FRR spoke behind NAT registers with our hub (NAT extension);
//!   our spoke behind NAT registers with the FRR hub;
//! - the NAT shortcut rule: traffic towards an FRR spoke whose NAT drops
//!   the direct path keeps flowing through the hub.
//!
//! One guest at a time (the tests serialise on it); each test powers it
//! off and removes its namespaces at the end, also when it fails. Needs
//! root, and the harness build (apt, debootstrap) the first time.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;
mod interop;

use std::time::{Duration, Instant};

use common::netns::{Echo, Node, add_lan, connect, ping_ttls, router_sysctls, state, wait_state};
use interop::nat::NatSite;
use interop::{Guest, HOST_NBMA, config, host_ns, our_cache, route, tunnel_packets};
use serde_json::Value;

fn echo() -> Echo {
    Echo::new(0x1f1f, b"dmvpnd frr interop", Duration::from_millis(200))
}

/// Our cache entry for `protocol` (a host address or a prefix).
fn our_entry(state: &Value, protocol: &str) -> Option<Value> {
    our_cache(state).into_iter().find(|e| {
        let prefix = e["prefix"].as_str().unwrap_or_default();
        prefix == protocol || prefix.split('/').next() == Some(protocol)
    })
}

/// Our shortcut entry for a prefix inside `lan` (e.g. "172.16.1.") whose
/// next hop is `next_hop`.
fn our_shortcut(state: &Value, lan: &str, next_hop: &str) -> Option<Value> {
    our_cache(state).into_iter().find(|e| {
        e["type"] == "shortcut"
            && e["next-hop"] == next_hop
            && e["prefix"].as_str().is_some_and(|p| p.starts_with(lan))
    })
}

/// Our NHRP message counter: `direction` "sent" or "received".
fn messages(state: &Value, ty: &str, direction: &str) -> u64 {
    state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["counters"]["message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == ty)
        .map(|m| {
            let v = &m[direction];
            v.as_u64()
                .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
                .unwrap_or_default()
        })
        .sum()
}

fn nhs_up(state: &Value) -> bool {
    state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["nhs-state"]
        .as_array()
        .is_some_and(|l| !l.is_empty() && l.iter().all(|n| n["status"] == "up"))
}

/// (a) Our spoke and the FRR hub: it registers (FRR's cache shows it),
/// reaches the FRR spoke's LAN through the hub, and the hub's redirect
/// gives both spokes a shortcut: replies arrive with TTL 64 (no hub hop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_spoke_registers_with_the_frr_hub_and_takes_its_shortcut() {
    let guest = Guest::boot("frr-hub");
    let ns = host_ns();
    router_sysctls(&ns);
    add_lan(&ns, "172.16.100.1/24");
    let spoke_config = config("10.0.0.100", HOST_NBMA, Some(("10.0.0.1", "192.0.2.1")));
    let mut spoke = Node::start(&ns, "iop-a-spoke", &spoke_config);
    spoke.wait_tunnel();
    route(&ns, "172.16.0.0/16", "10.0.0.1");
    let mut client = connect(&spoke.socket()).await;

    let hub_entry = guest
        .wait_frr_cache("hub", Duration::from_secs(60), |e| {
            e.protocol == "10.0.0.100" && e.kind == "dynamic"
        })
        .unwrap_or_else(|c| panic!("not in the FRR hub's cache: {c:?}\n{}", spoke.site.log()));
    assert_eq!(hub_entry.nbma, HOST_NBMA, "{hub_entry:?}");
    assert_eq!(hub_entry.claimed, HOST_NBMA, "{hub_entry:?}");
    wait_state(&mut client, Duration::from_secs(30), nhs_up)
        .await
        .unwrap_or_else(|s| panic!("NHS not up: {s:#}"));

    // LAN to LAN: the first replies cross the hub (TTL 63), then the
    // shortcut carries them (TTL 64)
    let ttls = ping_ttls(&ns, "172.16.100.1", "172.16.1.1", 50, echo());
    eprintln!("a: TTLs {ttls:?}");
    assert!(ttls.len() >= 45, "lost too many: {ttls:?}");
    assert_eq!(
        ttls.first(),
        Some(&63),
        "the first reply should cross the hub: {ttls:?}"
    );
    assert!(
        ttls.iter().rev().take(10).all(|&t| t == 64),
        "no direct path at the end: {ttls:?}\n{}",
        spoke.site.log()
    );

    let s = state(&mut client).await;
    let shortcut = our_shortcut(&s, "172.16.1.", "10.0.0.11")
        .unwrap_or_else(|| panic!("no shortcut to s1's LAN in our cache: {:#?}", our_cache(&s)));
    eprintln!("a: our shortcut {shortcut}");
    assert_eq!(shortcut["nbma-address"], "192.0.2.11", "{shortcut}");
    // FRR's side: s1 reaches us directly too
    let s1 = guest
        .wait_frr_cache("s1", Duration::from_secs(20), |e| {
            e.protocol == "10.0.0.100"
        })
        .unwrap_or_else(|c| panic!("s1 does not know our spoke: {c:?}"));
    assert_eq!(s1.nbma, HOST_NBMA, "{s1:?}");
    eprintln!(
        "a: s1 cache {:?}, shortcuts {:?}",
        guest.frr_cache("s1"),
        guest.frr_shortcuts("s1")
    );

    // with the shortcut in place the hub is out of the path
    let ttls = ping_ttls(&ns, "172.16.100.1", "172.16.1.1", 10, echo());
    assert!(ttls.len() >= 9 && ttls.iter().all(|&t| t == 64), "{ttls:?}");
    drop(spoke);
    drop(guest);
}

/// (b) FRR spokes and our hub: both register, s1 -> s2 LAN traffic first
/// crosses our hub, our hub's redirect makes FRR resolve and install a
/// shortcut, and afterwards our hub forwards none of that flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frr_spokes_register_with_our_hub_and_follow_its_redirect() {
    let guest = Guest::start("frr-spokes");
    let ns = host_ns();
    router_sysctls(&ns);
    // started while the guest boots, so FRR's first registrations find it
    let mut hub = Node::start(&ns, "iop-b-hub", &config("10.0.0.1", HOST_NBMA, None));
    hub.wait_tunnel();
    route(&ns, "172.16.1.0/24", "10.0.0.11");
    route(&ns, "172.16.2.0/24", "10.0.0.12");
    let mut client = connect(&hub.socket()).await;
    guest.wait_ready();

    wait_state(&mut client, Duration::from_secs(90), |s| {
        ["10.0.0.11", "10.0.0.12"]
            .iter()
            .all(|p| our_entry(s, p).is_some_and(|e| e["type"] == "dynamic"))
    })
    .await
    .unwrap_or_else(|s| panic!("FRR spokes not registered: {s:#}\n{}", hub.site.log()));
    let s = state(&mut client).await;
    for (tunnel, nbma) in [("10.0.0.11", "192.0.2.11"), ("10.0.0.12", "192.0.2.12")] {
        let e = our_entry(&s, tunnel).unwrap();
        assert_eq!(e["nbma-address"], nbma, "{e}");
    }

    let ttls = guest.ping("s1", "172.16.1.1", "172.16.2.1", 40);
    eprintln!("b: TTLs {ttls:?}");
    assert!(ttls.len() >= 36, "lost too many: {ttls:?}");
    assert_eq!(
        ttls.first(),
        Some(&63),
        "the first reply should cross our hub: {ttls:?}"
    );
    assert!(
        ttls.iter().rev().take(10).all(|&t| t == 64),
        "FRR did not take the shortcut: {ttls:?}\ns1: {:?}\n{}",
        guest.frr_cache("s1"),
        hub.site.log()
    );
    let shortcuts = guest.frr_shortcuts("s1");
    eprintln!(
        "b: s1 shortcuts {shortcuts:?}, cache {:?}",
        guest.frr_cache("s1")
    );
    assert!(
        shortcuts
            .iter()
            .any(|(p, via)| p.starts_with("172.16.2.") && via == "10.0.0.12"),
        "no shortcut to s2's LAN on s1: {shortcuts:?}"
    );
    let s1 = guest.frr_cache("s1");
    assert!(
        s1.iter()
            .any(|e| e.protocol == "10.0.0.12" && e.nbma == "192.0.2.12"),
        "{s1:?}"
    );

    // the flow no longer crosses our hub: its data counters stand still
    let before = tunnel_packets(&state(&mut client).await);
    let ttls = guest.ping("s1", "172.16.1.1", "172.16.2.1", 20);
    let after = tunnel_packets(&state(&mut client).await);
    eprintln!("b: hub data packets in/out {before:?} -> {after:?}");
    assert!(
        ttls.len() >= 19 && ttls.iter().all(|&t| t == 64),
        "{ttls:?}"
    );
    assert!(
        after.0 - before.0 < 3 && after.1 - before.1 < 3,
        "our hub still forwards the flow: {before:?} -> {after:?}"
    );
    drop(hub);
    drop(guest);
}

/// (c) An FRR spoke behind a masquerading NAT registers with our hub: the
/// hub records the address the request really came from (NBMA = the NAT's
/// outside address, claimed = the spoke's private address) and returns it
/// in the Cisco NAT extension, so FRR learns its own outside address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_frr_spoke_behind_nat_registers_with_our_hub() {
    let guest = Guest::start("frr-spokes-nat");
    let ns = host_ns();
    router_sysctls(&ns);
    let mut hub = Node::start(&ns, "iop-c-hub", &config("10.0.0.1", HOST_NBMA, None));
    hub.wait_tunnel();
    route(&ns, "172.16.1.0/24", "10.0.0.11");
    route(&ns, "172.16.2.0/24", "10.0.0.12");
    let mut client = connect(&hub.socket()).await;
    guest.wait_ready();

    wait_state(&mut client, Duration::from_secs(90), |s| {
        our_entry(s, "10.0.0.12").is_some_and(|e| e["type"] == "dynamic")
    })
    .await
    .unwrap_or_else(|s| panic!("s2 not registered: {s:#}\n{}", hub.site.log()));
    let s = state(&mut client).await;
    let e = our_entry(&s, "10.0.0.12").unwrap();
    eprintln!("c: our entry for s2 {e}");
    assert_eq!(e["nbma-address"], "192.0.2.22", "{e}");
    assert_eq!(e["claimed-nbma-address"], "10.0.2.12", "{e}");
    assert_eq!(e["nat"], true, "{e}");

    // FRR took the outside address from our reply's NAT extension
    let local = guest
        .wait_frr_cache("s2", Duration::from_secs(20), |e| {
            e.kind == "local" && e.protocol == "10.0.0.12" && e.nbma == "192.0.2.22"
        })
        .unwrap_or_else(|c| panic!("s2 did not learn its outside address: {c:?}"));
    assert_eq!(local.claimed, "10.0.2.12", "{local:?}");

    // and the tunnel works through the NAT both ways
    let ttls = guest.ping("s2", "172.16.2.1", "10.0.0.1", 10);
    assert!(ttls.len() >= 9, "s2 cannot reach our hub: {ttls:?}");
    drop(hub);
    drop(guest);
}

/// (c) Our spoke behind a host-side masquerading NAT registers with the
/// FRR hub, which sees the NAT's outside address, and traffic flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_spoke_behind_nat_registers_with_the_frr_hub() {
    let guest = Guest::boot("frr-hub");
    let nat = NatSite::new("iopnat", &host_ns(), "192.0.2.101", "10.0.101.2");
    router_sysctls(&nat.spoke);
    add_lan(&nat.spoke, "172.16.101.1/24");
    let spoke_config = config("10.0.0.101", "10.0.101.2", Some(("10.0.0.1", "192.0.2.1")));
    let mut spoke = Node::start(&nat.spoke, "iop-c-natspoke", &spoke_config);
    spoke.wait_tunnel();
    route(&nat.spoke, "172.16.0.0/16", "10.0.0.1");
    let mut client = connect(&spoke.socket()).await;

    let e = guest
        .wait_frr_cache("hub", Duration::from_secs(60), |e| {
            e.protocol == "10.0.0.101"
        })
        .unwrap_or_else(|c| panic!("not in the FRR hub's cache: {c:?}\n{}", spoke.site.log()));
    eprintln!("c: FRR hub's entry for our NATed spoke {e:?}");
    assert_eq!(e.nbma, "192.0.2.101", "{e:?}");
    assert_eq!(e.claimed, "10.0.101.2", "{e:?}");
    wait_state(&mut client, Duration::from_secs(30), nhs_up)
        .await
        .unwrap_or_else(|s| panic!("NHS not up: {s:#}"));

    let ttls = ping_ttls(&nat.spoke, "172.16.101.1", "172.16.0.1", 10, echo());
    assert!(ttls.len() >= 9, "no traffic through the NAT: {ttls:?}");
    drop(spoke);
    drop(nat);
    drop(guest);
}

/// (d) The NAT shortcut rule. FRR spoke s1 sits behind NAT router nat1,
/// which drops every GRE packet from our spoke's address: the direct path
/// never works, though the Resolution Reply (s1 -> us) gets through. A
/// shortcut towards a NATed spoke may only be used once the direct path is
/// shown to work, so our LAN's traffic to s1's LAN must keep flowing
/// through the hub, never black-holed (FRR 8.4 itself black-holes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_to_a_natted_frr_spoke_is_never_black_holed() {
    let guest = Guest::boot("frr-hub-nat");
    guest.exec(
        "ip netns exec nat1 iptables -t raw -I PREROUTING -i eth0 -s 192.0.2.100 -p gre -j DROP",
    );
    let ns = host_ns();
    router_sysctls(&ns);
    add_lan(&ns, "172.16.100.1/24");
    let spoke_config = config("10.0.0.100", HOST_NBMA, Some(("10.0.0.1", "192.0.2.1")));
    let mut spoke = Node::start(&ns, "iop-d-spoke", &spoke_config);
    spoke.wait_tunnel();
    route(&ns, "172.16.0.0/16", "10.0.0.1");
    let mut client = connect(&spoke.socket()).await;
    wait_state(&mut client, Duration::from_secs(60), nhs_up)
        .await
        .unwrap_or_else(|s| panic!("NHS not up: {s:#}"));
    guest
        .wait_frr_cache("hub", Duration::from_secs(60), |e| {
            e.protocol == "10.0.0.11"
        })
        .unwrap_or_else(|c| panic!("s1 not registered with the FRR hub: {c:?}"));

    // 25 s of traffic: time for the redirect, the resolution, and whatever
    // the spoke does with the shortcut it learns
    let start = Instant::now();
    let ttls = ping_ttls(&ns, "172.16.100.1", "172.16.1.1", 100, echo());
    let s = state(&mut client).await;
    eprintln!(
        "d: {} replies of 100 in {:.0} s, TTLs {ttls:?}\nd: our shortcut {:?}",
        ttls.len(),
        start.elapsed().as_secs_f64(),
        our_shortcut(&s, "172.16.1.", "10.0.0.11")
    );
    assert!(
        ttls.len() >= 97,
        "traffic to the NATed spoke was black-holed: {} of 100 answered\n{s:#}",
        ttls.len()
    );
    // the scenario did exercise the shortcut: the FRR hub redirected us and
    // s1 answered our resolution with its NATed address
    assert!(messages(&s, "traffic-indication", "received") >= 1, "{s:#}");
    assert!(messages(&s, "resolution-reply", "received") >= 1, "{s:#}");
    // the last 20 all answered: whatever state the shortcut is in now
    let tail = ping_ttls(&ns, "172.16.100.1", "172.16.1.1", 20, echo());
    assert_eq!(tail.len(), 20, "{tail:?}");

    // Once the NAT lets our GRE in, the direct path works: the shortcut to
    // the NATed spoke may then carry the traffic (at its NAT's address).
    guest.exec("ip netns exec nat1 iptables -t raw -F PREROUTING");
    let start = Instant::now();
    let shortcut = loop {
        let ttls = ping_ttls(&ns, "172.16.100.1", "172.16.1.1", 10, echo());
        assert!(
            ttls.len() >= 9,
            "traffic lost after the NAT opened: {ttls:?}"
        );
        let s = state(&mut client).await;
        if let Some(e) = our_shortcut(&s, "172.16.1.", "10.0.0.11") {
            break e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no shortcut to the NATed spoke once its direct path works: {:#?}",
            our_cache(&s)
        );
    };
    eprintln!(
        "d: shortcut after {:.0} s: {shortcut}",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(shortcut["nbma-address"], "192.0.2.21", "{shortcut}");
    drop(spoke);
    drop(guest);
}
