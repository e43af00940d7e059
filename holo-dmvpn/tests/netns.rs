//! The userspace data plane end to end in network namespaces: a hub and two
//! spokes, each a thread of this process that enters its own namespace and
//! runs a tokio runtime with a data plane and an NHRP driver. The underlay is
//! a bridge in a fourth namespace. Needs root (CI runs as root); everything
//! is removed at the end, also when the test panics.
//!
//! ```text
//!   s1 lan0 172.16.1.1/24        hub               s2 lan0 172.16.2.1/24
//!   s1 dmvpn0 10.0.0.11 ---- dmvpn0 10.0.0.1 ---- dmvpn0 10.0.0.12
//!   s1 eth0 192.0.2.11 ---[ul: br0]--- hub eth0 192.0.2.1 --- s2 eth0 192.0.2.12
//! ```

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dmvpn_test_support::netns::{add_dummy, assert_root, enter, ip_in, run};
use dmvpn_test_support::ping::{Echo, ping_ttls_within};
use dmvpn_test_support::topology::{TUNNEL, Topology, topology};
use holo_dmvpn::dataplane::{Counters, DataPlane, DataPlaneConfig, DropReason, Snapshot};
use holo_nhrp::cache::EntryType;
use holo_nhrp::driver::{self, State};
use holo_nhrp::{InstanceConfig, NhsConfig};
use ipnetwork::IpNetwork;
use tokio::sync::{mpsc, oneshot};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

/// Namespaces `dmvpn-t-<pid>-<role>`.
fn prefix() -> String {
    format!("dmvpn-t-{}", std::process::id())
}

/// One DMVPN node: a thread inside its namespace running the data plane and
/// the NHRP driver until it is dropped.
struct Node {
    name: &'static str,
    dataplane: DataPlane,
    nhrp: driver::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    fn start(name: &'static str, ns: &str, nhrp_config: InstanceConfig) -> Node {
        let config = DataPlaneConfig::from_nhrp(TUNNEL, &nhrp_config, Some(42)).unwrap();
        Node::start_with(name, ns, nhrp_config, config)
    }

    fn start_with(
        name: &'static str,
        ns: &str,
        nhrp_config: InstanceConfig,
        config: DataPlaneConfig,
    ) -> Node {
        let ns = ns.to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Err(e) = enter(&ns) {
                let _ = ready_tx.send(Err(e));
                return;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async move {
                let (outputs_tx, outputs) = mpsc::channel(1024);
                let (nhrp, _task) = driver::spawn(nhrp_config, outputs_tx);
                match DataPlane::spawn(config, nhrp.inputs.clone(), outputs).await {
                    Ok(dataplane) => {
                        let _ = ready_tx.send(Ok((dataplane, nhrp)));
                        let _ = stopped.await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let (dataplane, nhrp) = ready_rx
            .recv()
            .expect("node thread died")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        Node {
            name,
            dataplane,
            nhrp,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.take().map(|s| s.send(()));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Queries from the test's own thread, across the nodes' runtimes.
struct Query(tokio::runtime::Runtime);

impl Query {
    fn nhrp(&self, node: &Node) -> State {
        self.0.block_on(async { node.nhrp.state().await.unwrap() })
    }

    fn dataplane(&self, node: &Node) -> Snapshot {
        self.0
            .block_on(node.dataplane.snapshot())
            .unwrap_or_else(|| panic!("{}: data plane ended", node.name))
    }

    /// Waits until the route monitor mirrored `routes` (and nothing else).
    fn wait_mirror(&self, node: &Node, routes: &[(&str, &str)]) {
        let want: BTreeMap<IpNetwork, IpAddr> =
            routes.iter().map(|(p, n)| (net(p), ip(n))).collect();
        let start = Instant::now();
        while self.dataplane(node).kernel_routes != want {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{}: routes not mirrored: {:?}",
                node.name,
                self.dataplane(node).kernel_routes
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `limit` for `cond` on a node's NHRP state.
    fn wait_nhrp(&self, node: &Node, limit: Duration, cond: impl Fn(&State) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if cond(&self.nhrp(node)) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Echo requests from `from` to `to` inside `ns`, one every 200 ms, each
/// given a second for its reply; the TTLs of the replies.
fn ping(ns: &str, from: &str, to: &str, count: u16) -> Vec<u8> {
    let echo = Echo::new(0, b"dmvpn ping payload", Duration::from_millis(200));
    ping_ttls_within(ns, from, to, count, echo, Duration::from_secs(1))
}

#[test]
fn hub_and_two_spokes_register_resolve_and_build_a_phase3_shortcut() {
    assert_root();
    let started = Instant::now();
    let (_topo, namespaces) = topology(prefix());
    let (hub_ns, s1_ns, s2_ns) = (&namespaces[0], &namespaces[1], &namespaces[2]);

    let mut hub_cfg = InstanceConfig::new(net("10.0.0.1/24"), ip("192.0.2.1"));
    hub_cfg.redirect = true;
    hub_cfg.multicast_dynamic = true;
    let spoke_cfg = |addr: &str, nbma: &str, lan: &str| {
        let mut c = InstanceConfig::new(net(addr), ip(nbma));
        c.nhs = vec![NhsConfig::new(ip("10.0.0.1"), ip("192.0.2.1"))];
        c.shortcut = true;
        c.local_prefixes = vec![net(lan)];
        c
    };

    let query = Query(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    let hub = Node::start("hub", hub_ns, hub_cfg);
    ip_in(hub_ns, "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0");
    ip_in(hub_ns, "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0");
    // The route monitor mirrors them into the data plane (and NHRP).
    query.wait_mirror(
        &hub,
        &[
            ("172.16.1.0/24", "10.0.0.11"),
            ("172.16.2.0/24", "10.0.0.12"),
        ],
    );
    let s1 = Node::start(
        "s1",
        s1_ns,
        spoke_cfg("10.0.0.11/24", "192.0.2.11", "172.16.1.0/24"),
    );
    let s2 = Node::start(
        "s2",
        s2_ns,
        spoke_cfg("10.0.0.12/24", "192.0.2.12", "172.16.2.0/24"),
    );
    for (node, ns) in [(&s1, s1_ns), (&s2, s2_ns)] {
        ip_in(ns, "route add 172.16.0.0/16 via 10.0.0.1 dev dmvpn0");
        query.wait_mirror(node, &[("172.16.0.0/16", "10.0.0.1")]);
    }

    // Both spokes register: the hub's cache holds them as dynamic entries.
    let registered = |s: &State| {
        ["10.0.0.11", "10.0.0.12"].iter().all(|p| {
            s.cache
                .iter()
                .any(|e| e.next_hop == ip(p) && e.ty == EntryType::Dynamic)
        })
    };
    assert!(
        query.wait_nhrp(&hub, Duration::from_secs(10), registered),
        "spokes did not register: {:#?}",
        query.nhrp(&hub).cache
    );
    let hub_dp = query.dataplane(&hub);
    assert_eq!(
        hub_dp.bindings.get(&ip("10.0.0.11")),
        Some(&ip("192.0.2.11"))
    );
    assert!(hub_dp.multicast.contains(&ip("192.0.2.12")));

    // Phase 2: s1 has no binding for s2's tunnel address. The first packet
    // goes via the NHS while s1 resolves 10.0.0.12; then it goes direct.
    assert_eq!(query.dataplane(&s1).bindings.get(&ip("10.0.0.12")), None);
    let via_hub = |c: &Counters| c.peers.get(&ip("192.0.2.11")).map_or(0, |t| t.packets_in);
    let before = via_hub(&query.dataplane(&hub).counters);
    assert_eq!(ping(s1_ns, "10.0.0.11", "10.0.0.12", 1).len(), 1);
    let after = via_hub(&query.dataplane(&hub).counters);
    assert_eq!(after, before + 1, "first packet via the NHS");
    let resolved = |s: &State| {
        s.cache
            .iter()
            .any(|e| e.next_hop == ip("10.0.0.12") && e.ty == EntryType::Shortcut)
    };
    assert!(
        query.wait_nhrp(&s1, Duration::from_secs(10), resolved),
        "s1 did not resolve 10.0.0.12: {:#?}",
        query.nhrp(&s1).cache
    );
    assert_eq!(
        query.dataplane(&s1).bindings.get(&ip("10.0.0.12")),
        Some(&ip("192.0.2.12"))
    );
    // s2 learnt s1 from the Resolution Request, so the reply is direct too.
    assert_eq!(ping(s1_ns, "10.0.0.11", "10.0.0.12", 2), vec![64, 64]);
    assert_eq!(via_hub(&query.dataplane(&hub).counters), after);

    // LAN to LAN through the hub; the hub notices the hairpin and redirects.
    let ttls = ping(s1_ns, "172.16.1.1", "172.16.2.1", 3);
    // The first reply crossed the hub, which decremented its TTL.
    assert_eq!(ttls.first(), Some(&63), "first ping via the hub: {ttls:?}");
    let hub_dp = query.dataplane(&hub);
    let from_s1 = &hub_dp.counters.peers[&ip("192.0.2.11")];
    assert!(from_s1.packets_in >= 1, "{hub_dp:#?}");

    // Phase 3: each spoke holds a shortcut route to the other's LAN.
    let shortcut = |lan: &'static str| {
        move |s: &State| {
            s.cache
                .iter()
                .any(|e| e.prefix == net(lan) && e.ty == EntryType::Shortcut)
        }
    };
    assert!(
        query.wait_nhrp(&s1, Duration::from_secs(10), shortcut("172.16.2.0/24")),
        "s1 has no shortcut: {:#?}",
        query.nhrp(&s1).cache
    );
    assert!(
        query.wait_nhrp(&s2, Duration::from_secs(10), shortcut("172.16.1.0/24")),
        "s2 has no shortcut: {:#?}",
        query.nhrp(&s2).cache
    );
    let s1_dp = query.dataplane(&s1);
    assert_eq!(
        s1_dp.nhrp_routes.get(&net("172.16.2.0/24")),
        Some(&ip("10.0.0.12"))
    );
    assert_eq!(
        s1_dp.bindings.get(&ip("10.0.0.12")),
        Some(&ip("192.0.2.12"))
    );

    // Later pings go spoke to spoke: the hub's data counters stand still and
    // the replies arrive with the TTL they left with (no router between).
    let before = query.dataplane(&hub).counters;
    let s1_before = query.dataplane(&s1).counters;
    let ttls = ping(s1_ns, "172.16.1.1", "172.16.2.1", 3);
    assert_eq!(ttls, vec![64, 64, 64], "replies not direct");
    let after = query.dataplane(&hub).counters;
    assert_eq!(before.tunnel.packets_in, after.tunnel.packets_in);
    assert_eq!(before.tunnel.packets_out, after.tunnel.packets_out);
    let s1_after = query.dataplane(&s1).counters;
    let direct = |c: &Counters| c.peers.get(&ip("192.0.2.12")).map_or(0, |t| t.packets_out);
    assert!(direct(&s1_after) >= direct(&s1_before) + 3);
    // No data was dropped. (The kernel's own multicast on the new interface,
    // IPv6 neighbour discovery, may precede NHRP's multicast map.)
    let mut drops = s1_after.tunnel.drops.clone();
    drops.remove(&DropReason::NoMulticastPeers);
    assert!(drops.is_empty(), "{s1_after:#?}");

    // Nodes stop before the namespaces go (drop order: reverse declaration).
    drop((s2, s1, hub));
    eprintln!("netns test took {:?}", started.elapsed());
}

/// A GRE packet with the wrong key is dropped and counted, not delivered.
#[test]
fn wrong_gre_key_is_dropped_and_counted() {
    assert_root();
    let mut topo = Topology::new(prefix());
    let ns = topo.add("key");
    add_dummy(&ns, "d0", "192.0.2.1/24");
    ip_in(&ns, "addr add 192.0.2.2/24 dev d0");
    let query = Query(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    // Two nodes in one namespace on two addresses, keys 42 and 7 apart.
    let hub = Node::start(
        "hub",
        &ns,
        InstanceConfig::new(net("10.0.0.1/24"), ip("192.0.2.1")),
    );
    let mut spoke_cfg = InstanceConfig::new(net("10.0.0.11/24"), ip("192.0.2.2"));
    spoke_cfg.nhs = vec![NhsConfig::new(ip("10.0.0.1"), ip("192.0.2.1"))];
    let spoke = start_with_key("spoke", &ns, spoke_cfg, 7);
    let wrong_key = |s: &Snapshot| {
        s.counters
            .peers
            .get(&ip("192.0.2.2"))
            .and_then(|t| t.drops.get(&DropReason::WrongKey))
            .copied()
            .unwrap_or(0)
    };
    let start = Instant::now();
    while wrong_key(&query.dataplane(&hub)) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no wrong-key drop: {:#?}",
            query.dataplane(&hub)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let hub_state = query.nhrp(&hub);
    assert!(hub_state.cache.iter().all(|e| e.ty != EntryType::Dynamic));
    drop((spoke, hub));
}

fn start_with_key(name: &'static str, ns: &str, cfg: InstanceConfig, key: u32) -> Node {
    // Same as Node::start, with another key: the TUN device needs its own
    // name too, as both nodes share a namespace.
    let config = DataPlaneConfig::from_nhrp("dmvpn1", &cfg, Some(key)).unwrap();
    Node::start_with(name, ns, cfg, config)
}

#[test]
fn oversize_packet_with_df_gets_fragmentation_needed_back() {
    assert_root();
    let mut topo = Topology::new(prefix());
    let ns = topo.add("pmtu");
    add_dummy(&ns, "d0", "192.0.2.1/24");
    let query = Query(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    let node = Node::start(
        "pmtu",
        &ns,
        InstanceConfig::new(net("10.0.0.11/24"), ip("192.0.2.1")),
    );
    // The data plane's MTU is 1400; a TUN device MTU above it lets the
    // kernel hand over packets the path cannot carry.
    ip_in(&ns, &format!("link set {TUNNEL} mtu 1500"));
    let out = Command::new("ip")
        .args(["netns", "exec", &ns, "ping", "-c", "1", "-W", "1"])
        .args(["-M", "do", "-s", "1450", "-I", "10.0.0.11", "10.0.0.12"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("mtu = 1400"),
        "ping saw no fragmentation needed: {stdout}"
    );
    let route = run("ip", &["-n", &ns, "route", "get", "10.0.0.12"]);
    assert!(route.contains("mtu 1400"), "no PMTU exception: {route}");
    let snapshot = query.dataplane(&node);
    assert_eq!(
        snapshot.counters.tunnel.drops.get(&DropReason::TooBig),
        Some(&1)
    );
    drop(node);
}
