//! A spoke behind a masquerading NAT, end to end with real dmvpnd
//! processes (issue 6, "Spokes behind NAT"): a shortcut towards it is only
//! used once the direct path is shown to work, so traffic never goes into a
//! black hole (FRR 8.4 installs the shortcut at once; the NAT, with no
//! mapping, answers ICMP unreachable and FRR keeps the shortcut).
//!
//! ```text
//!   s1 LAN 172.16.1.1/24                       s2 LAN 172.16.2.1/24
//!   s1 10.0.1.11 --- nat 10.0.1.1 | 192.0.2.22 --- br0 --- s2 192.0.2.12
//!     (tunnel 10.0.0.11)  (iptables MASQUERADE)     |        (10.0.0.12)
//!                                             hub 192.0.2.1 (10.0.0.1)
//! ```
//!
//! The hub records s1 at 192.0.2.22 (claimed 10.0.1.11) and tells s1 in
//! the Cisco NAT extension. Both directions of Phase 3 are checked: s1 ->
//! s2's LAN (s2 answers the NATed requester back through the hub, since
//! s1's NAT holds no mapping for s2 yet) and s2 -> s1's LAN (the shortcut
//! towards the NATed spoke: used once s1's answer came straight through
//! its NAT, which proves the path). Either way only the first packets cross
//! the hub and none is lost once the shortcut is there. The case where the
//! NAT holds no mapping at all (the FRR black hole) is covered by the
//! deterministic tests in holo-nhrp/tests/nat.rs.
//!
//! Needs root (CI runs as root) and iptables with NAT support; daemons and
//! namespaces are removed at the end, also when the test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::netns::{
    Echo, Node, Topology, add_lan, assert_root, dmvpn_routes, entries_via, hub_config, ip_in,
    masquerade, ping_ttls, poll, private_segment, registered, run, spoke_config, state, sysctl,
    wait_state,
};
use serde_json::Value;

/// TTL of an echo reply that came straight from the far spoke (one that
/// crossed the hub arrives with 63).
const DIRECT: u8 = 64;
const NAT_PUBLIC: &str = "192.0.2.22";
const S1_PRIVATE: &str = "10.0.1.11";

fn echo() -> Echo {
    Echo::new(0x4e41, b"dmvpnd e2e nat", Duration::from_millis(20))
}

/// The namespaces hub, s1 (behind nat), s2, nat, on an underlay bridge.
struct NatCloud {
    hub: Node,
    s1: Node,
    s2: Node,
    nat: String,
    // Last: the daemons stop before their namespaces go.
    _topo: Topology,
}

impl NatCloud {
    fn start() -> NatCloud {
        let mut topo = Topology::with_underlay(format!("dmvpnd-nat-{}", std::process::id()));
        let hub = topo.attach("hub", "192.0.2.1", None);
        let s2 = topo.attach("s2", "192.0.2.12", Some("172.16.2.1/24"));
        let nat = topo.attach("nat", NAT_PUBLIC, None);
        let s1 = topo.add("s1");
        private_segment(&nat, &s1, "10.0.1.1", S1_PRIVATE);
        add_lan(&s1, "172.16.1.1/24");
        sysctl(
            &s1,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ],
        );
        // A packet to 192.0.2.22 only gets in if s1 sent to its source
        // first.
        masquerade(&nat, "eth0");
        let hub_node = Node::start(&hub, "nat-hub", &hub_config());
        let s1_node = Node::start(&s1, "nat-s1", &spoke_config("10.0.0.11", S1_PRIVATE));
        let s2_node = Node::start(&s2, "nat-s2", &spoke_config("10.0.0.12", "192.0.2.12"));
        NatCloud {
            hub: hub_node,
            s1: s1_node,
            s2: s2_node,
            nat,
            _topo: topo,
        }
    }

    /// Phase 3 routes: the hub knows both LANs, the spokes a summary.
    fn routes(&mut self) {
        self.hub.wait_tunnel();
        ip_in(
            &self.hub.ns,
            "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0",
        );
        ip_in(
            &self.hub.ns,
            "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0",
        );
        for spoke in [&mut self.s1, &mut self.s2] {
            spoke.wait_tunnel();
            ip_in(&spoke.ns, "route add 172.16.0.0/16 via 10.0.0.1 dev dmvpn0");
        }
    }

    /// Waits until both spokes are registered with the hub (20 s at most;
    /// panics with the logs); the hub's client.
    async fn wait_registered(&mut self) -> common::Client {
        let mut hub = self.hub.client().await;
        let ok = registered(&["10.0.0.11", "10.0.0.12"]);
        if let Err(s) = wait_state(&mut hub, Duration::from_secs(20), ok).await {
            panic!("not registered: {s:#}\n{}", self.logs());
        }
        hub
    }

    fn logs(&self) -> String {
        format!(
            "hub log:\n{}\ns1 log:\n{}\ns2 log:\n{}\nnat rules:\n{}",
            self.hub.site.log(),
            self.s1.site.log(),
            self.s2.site.log(),
            run(
                "ip",
                &["netns", "exec", &self.nat, "iptables", "-t", "nat", "-S"]
            ),
        )
    }
}

/// Pings `from_lan` -> `to_lan` in `ns` until replies come straight (TTL
/// 64), then 40 more: the TTLs of all. Panics with the logs after `limit`.
fn ping_until_direct(
    cloud: &NatCloud,
    ns: &str,
    from_lan: &str,
    to_lan: &str,
    limit: Duration,
) -> (Vec<u8>, u16) {
    let start = Instant::now();
    let (mut seen, mut sent) = (vec![], 0u16);
    loop {
        let ttls = ping_ttls(ns, from_lan, to_lan, 5, echo());
        sent += 5;
        seen.extend(&ttls);
        if ttls.last() == Some(&DIRECT) {
            break;
        }
        assert!(
            start.elapsed() < limit,
            "{from_lan} -> {to_lan}: no direct reply within {limit:?}, TTLs {seen:?}\n{}",
            cloud.logs()
        );
    }
    let after = ping_ttls(ns, from_lan, to_lan, 40, echo());
    assert!(
        after.len() == 40 && after.iter().all(|&t| t == DIRECT),
        "{from_lan} -> {to_lan}: lost or indirect once the shortcut was up: {after:?}\n{}",
        cloud.logs()
    );
    seen.extend(after);
    (seen, sent + 40)
}

fn shortcut_to(state: &Value, next_hop: &str, prefix: &str) -> Option<Value> {
    entries_via(state, "shortcut", next_hop)
        .into_iter()
        .find(|e| e["prefix"] == prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_behind_masquerading_nat_gets_shortcuts_without_black_holes() {
    assert_root();
    let started = Instant::now();
    let mut cloud = NatCloud::start();
    cloud.routes();

    // Registration through the NAT: the hub records where s1 really is.
    let mut hub = cloud.wait_registered().await;
    let s = state(&mut hub).await;
    let e = entries_via(&s, "dynamic", "10.0.0.11");
    assert_eq!(e[0]["nbma-address"], NAT_PUBLIC, "{s:#}");
    assert_eq!(e[0]["claimed-nbma-address"], S1_PRIVATE, "{s:#}");

    // s1 (behind NAT) -> s2's LAN first: s2 cannot answer s1's request
    // straight (s1's NAT holds no mapping for s2 yet), so it answers back
    // through the hub; s1's shortcut to s2 (not behind NAT) is used at
    // once. The echo replies hairpin at the hub too, so s2 resolves s1's
    // LAN meanwhile.
    let s1_ns = cloud.s1.ns.clone();
    let (ttls, sent) = ping_until_direct(
        &cloud,
        &s1_ns,
        "172.16.1.1",
        "172.16.2.1",
        Duration::from_secs(20),
    );
    eprintln!("s1 (NATed) -> s2: {sent} sent, TTLs {ttls:?}");
    assert!(
        usize::from(sent) - ttls.len() <= 2,
        "s1 -> s2: {} of {sent} echoes lost: {ttls:?}",
        usize::from(sent) - ttls.len()
    );
    let mut s1 = cloud.s1.client().await;
    let s = state(&mut s1).await;
    let route = shortcut_to(&s, "10.0.0.12", "172.16.2.0/24").unwrap_or_else(|| {
        panic!("s1 has no shortcut to s2's LAN: {s:#}\n{}", cloud.logs());
    });
    assert_eq!(route["nbma-address"], "192.0.2.12", "{s:#}");
    assert!(poll(Duration::from_secs(5), || dmvpn_routes(&cloud.s1.ns)
        .contains("172.16.2.0/24 via 10.0.0.12")));
    // s2 -> s1's LAN: the shortcut towards the spoke behind NAT, used once
    // s1's answer came straight through its NAT.
    let s2_ns = cloud.s2.ns.clone();
    let (ttls, sent) = ping_until_direct(
        &cloud,
        &s2_ns,
        "172.16.2.1",
        "172.16.1.1",
        Duration::from_secs(20),
    );
    eprintln!("s2 -> s1 (NATed): {sent} sent, TTLs {ttls:?}");
    assert!(
        usize::from(sent) - ttls.len() <= 2,
        "s2 -> s1: {} of {sent} echoes lost: {ttls:?}",
        usize::from(sent) - ttls.len()
    );
    let mut s2 = cloud.s2.client().await;
    let s = state(&mut s2).await;
    let route = shortcut_to(&s, "10.0.0.11", "172.16.1.0/24").unwrap_or_else(|| {
        panic!("s2 has no shortcut to s1's LAN: {s:#}\n{}", cloud.logs());
    });
    assert_eq!(route["nbma-address"], NAT_PUBLIC, "{s:#}");
    assert_eq!(route["claimed-nbma-address"], S1_PRIVATE, "{s:#}");
    assert!(poll(Duration::from_secs(5), || dmvpn_routes(&cloud.s2.ns)
        .contains("172.16.1.0/24 via 10.0.0.11")));
    // s2 installed its shortcut towards s1 because the path was shown to
    // work, and never gave up on it.
    let log = cloud.s2.site.log();
    assert!(
        log.contains("direct path to a peer behind NAT works"),
        "s2 never proved the path to s1:\n{}",
        cloud.logs()
    );
    assert!(!log.contains("not shown to work"), "{}", cloud.logs());

    eprintln!("e2e nat took {:?}", started.elapsed());
}

/// A spoke behind NAT stays reachable from the hub while it is idle: its
/// registration refresh (every 30 s behind NAT, instead of a third of the
/// 2 h holding time) keeps the NAT's GRE mapping alive. Here the NAT
/// forgets a GRE mapping after 40 s without packets; after 55 s of
/// silence the hub still reaches s1 through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_spoke_behind_nat_stays_reachable_from_the_hub() {
    assert_root();
    let mut cloud = NatCloud::start();
    sysctl(
        &cloud.nat,
        &[
            "net.netfilter.nf_conntrack_gre_timeout=40",
            "net.netfilter.nf_conntrack_gre_timeout_stream=40",
        ],
    );
    cloud.routes();
    // No IPv6 on the tunnels: the kernel's router solicitations, replicated
    // as multicast between s1 and the hub, would keep the mapping alive on
    // their own for the first minutes.
    for ns in [&cloud.hub.ns, &cloud.s1.ns] {
        sysctl(ns, &["net.ipv6.conf.dmvpn0.disable_ipv6=1"]);
    }
    cloud.wait_registered().await;
    tokio::time::sleep(Duration::from_secs(55)).await;
    let replies = ping_ttls(&cloud.hub.ns, "10.0.0.1", "10.0.0.11", 3, echo()).len();
    assert!(
        replies >= 2,
        "{replies}/3 echoes from the hub answered by s1 after 55 s idle\n{}",
        cloud.logs()
    );
    assert!(
        cloud
            .s1
            .site
            .log()
            .contains("behind NAT: the NHS sees us at another address"),
        "{}",
        cloud.logs()
    );
}
