//! The eBPF fast path (`data-plane ebpf`) end to end, on the topology of
//! e2e.rs: a hub and two spokes, each dmvpnd in its own namespace, every
//! tunnel asking for the fast path.
//! - Spoke to spoke over the Phase 3 shortcut, N echo requests cross the
//!   fast path and `show dmvpn` counts exactly N out and N in on s1's line
//!   for s2; the hub forwarded the first packets (hairpins) in its fast path
//!   and handed a sample to its userspace plane, which sent the redirect.
//! - Refused: dmvpnd without CAP_BPF and CAP_SYS_ADMIN cannot load the
//!   program; the tunnel runs on the userspace plane, says why in its log
//!   and in YANG state, and carries traffic.
//! - SIGKILL (of a spoke): the programs go with the daemon (tcx links die with their
//!   descriptors), and a restart loads them again and forwards.
//!
//! The rest of the end-to-end suites run on the fast path too:
//! `DMVPN_TEST_DATA_PLANE=ebpf` (scripts/test.sh).
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use aya::programs::{SchedClassifier, TcAttachType};
use common::cli_at;
use common::netns::{
    Echo, Node, assert_root, cache, connect, has_link, hub_config, ping_ttls, registered, routes,
    spoke_config, state, topology, wait_state,
};
use holo_dmvpn::dataplane::netns::run_in;
use serde_json::{Value, json};

fn ebpf(mut config: Value) -> Value {
    config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["data-plane"] =
        json!("ebpf");
    config
}

fn tunnel(state: &Value) -> &Value {
    &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]
}

fn count(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Packets the fast path handed to userspace for `reason`.
fn to_userspace(state: &Value, reason: &str) -> u64 {
    tunnel(state)["fast-path"]["to-userspace"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["reason"] == reason)
        .map(|r| count(&r["packets"]))
        .sum()
}

/// The `Pkts In` and `Pkts Out` of `nbma`'s line in `show dmvpn`.
fn show_dmvpn_packets(node: &Node, nbma: &str) -> (u64, u64) {
    let out = cli_at(&node.socket(), &["show dmvpn"]);
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(nbma))
        .unwrap_or_else(|| panic!("no line for {nbma} in show dmvpn:\n{out}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let n = |i: usize| fields[fields.len() - i].parse().unwrap_or(0);
    (n(2), n(1))
}

/// The tcx programs attached to `interface` in `ns`, both directions; 0
/// when the interface is gone (a TUN device dies with its daemon). A query
/// that fails on an interface that exists fails the test: it must not
/// pass for "no program" unseen.
fn tcx_programs(ns: &str, interface: &str) -> usize {
    let name = interface.to_owned();
    let counted = run_in(ns, move || {
        let mut total = 0;
        for direction in [TcAttachType::Ingress, TcAttachType::Egress] {
            match SchedClassifier::query_tcx(&name, direction) {
                Ok((_, programs)) => total += programs.len(),
                Err(error) => return Ok(Err(error.to_string())),
            }
        }
        Ok(Ok(total))
    })
    .unwrap();
    match counted {
        Ok(total) => total,
        Err(_) if !has_link(ns, interface) => 0,
        Err(error) => panic!("querying the tcx programs of {interface} in {ns}: {error}"),
    }
}

async fn wait_fast_path(node: &mut Node, what: &str) -> Value {
    let mut client = node.client().await;
    let active = |s: &Value| tunnel(s)["data-plane-in-use"] == "ebpf";
    if let Err(state) = wait_state(&mut client, Duration::from_secs(8), active).await {
        panic!(
            "{what}: the fast path is not in use: {:#}\n{}",
            tunnel(&state),
            node.site.log()
        );
    }
    state(&mut client).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoke_to_spoke_through_the_fast_path_counted_in_show_dmvpn() {
    assert_root();
    let (_topo, namespaces) = topology(format!("dmvpnd-fp-{}", std::process::id()));
    let (hub_ns, s1_ns, s2_ns) = (&namespaces[0], &namespaces[1], &namespaces[2]);
    let mut hub = Node::start(hub_ns, "fp-hub", &ebpf(hub_config()));
    let mut s1 = Node::start(
        s1_ns,
        "fp-s1",
        &ebpf(spoke_config("10.0.0.11", "192.0.2.11")),
    );
    let mut s2 = Node::start(
        s2_ns,
        "fp-s2",
        &ebpf(spoke_config("10.0.0.12", "192.0.2.12")),
    );
    routes(&mut hub, [&mut s1, &mut s2]);
    for (node, name) in [(&mut hub, "hub"), (&mut s1, "s1"), (&mut s2, "s2")] {
        let state = wait_fast_path(node, name).await;
        assert!(
            tunnel(&state).get("fast-path-reason").is_none(),
            "{name}: {:#}",
            tunnel(&state)
        );
    }
    let mut hub_client = connect(&hub.socket()).await;
    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), both).await {
        panic!("spokes did not register: {state:#}\n{}", hub.site.log());
    }

    // Each spoke answers for its LAN once it has seen it on its interfaces
    // (asked before, it answers for nothing and s1 would not ask again
    // until its negative entry ages out).
    for (node, lan) in [(&s1, "172.16.1.0"), (&s2, "172.16.2.0")] {
        let start = Instant::now();
        while !node
            .site
            .log()
            .lines()
            .any(|l| l.contains("local prefixes") && l.contains(lan))
        {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{lan} not a local prefix:\n{}",
                node.site.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // The first packets cross the hub, whose fast path forwards the
    // hairpins and hands a sample to userspace: the redirects go out.
    let echo = |id| Echo::new(id, b"dmvpnd fast path", Duration::from_millis(20));
    let first = ping_ttls(s1_ns, "172.16.1.1", "172.16.2.1", 5, echo(1));
    assert!(first.len() >= 4, "{first:?}\n{}", s1.site.log());
    let (mut s1_client, mut s2_client) = (connect(&s1.socket()).await, connect(&s2.socket()).await);
    let shortcut = |prefix: &'static str, via: &'static str| {
        move |state: &Value| {
            cache(state)
                .iter()
                .any(|(p, ty, nh)| p == prefix && ty == "shortcut" && nh == via)
        }
    };
    // Replies too must go direct: s2 needs its own shortcut back.
    for _ in 0..3 {
        let _ = ping_ttls(s1_ns, "172.16.1.1", "172.16.2.1", 3, echo(2));
        let s1_done = wait_state(
            &mut s1_client,
            Duration::from_secs(1),
            shortcut("172.16.2.0/24", "10.0.0.12"),
        )
        .await;
        let s2_done = wait_state(
            &mut s2_client,
            Duration::from_secs(1),
            shortcut("172.16.1.0/24", "10.0.0.11"),
        )
        .await;
        if s1_done.is_ok() && s2_done.is_ok() {
            break;
        }
    }
    let hub_state = state(&mut hub_client).await;
    assert!(
        to_userspace(&hub_state, "hairpin") >= 1,
        "the hub's fast path handed no hairpin to userspace: {:#}",
        tunnel(&hub_state)
    );
    for (client, prefix, via) in [
        (&mut s1_client, "172.16.2.0/24", "10.0.0.12"),
        (&mut s2_client, "172.16.1.0/24", "10.0.0.11"),
    ] {
        if let Err(state) = wait_state(client, Duration::from_secs(5), shortcut(prefix, via)).await
        {
            panic!(
                "no shortcut for {prefix}: {state:#}\ns1 log:\n{}\ns2 log:\n{}",
                s1.site.log(),
                s2.site.log()
            );
        }
    }

    // N echoes, all direct (TTL 64), counted exactly in show dmvpn.
    const N: u16 = 40;
    let before = show_dmvpn_packets(&s1, "192.0.2.12");
    let fast_before = count(&tunnel(&state(&mut s1_client).await)["fast-path"]["forwarded-out"]);
    let ttls = ping_ttls(s1_ns, "172.16.1.1", "172.16.2.1", N, echo(3));
    assert_eq!(ttls.len(), usize::from(N), "{ttls:?}");
    assert!(ttls.iter().all(|t| *t == 64), "not all direct: {ttls:?}");
    let after = show_dmvpn_packets(&s1, "192.0.2.12");
    let s1_state = state(&mut s1_client).await;
    let fast_after = count(&tunnel(&s1_state)["fast-path"]["forwarded-out"]);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (u64::from(N), u64::from(N)),
        "show dmvpn on s1, peer 192.0.2.12: {before:?} -> {after:?}"
    );
    // All through the fast path but a sample for the shortcut's use (one
    // per 5 s) to userspace, which counts it too.
    assert!(
        fast_after - fast_before >= u64::from(N) - 2,
        "fast path forwarded {} of {N}: {:#}",
        fast_after - fast_before,
        tunnel(&s1_state)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cap_bpf_the_tunnel_runs_on_the_userspace_plane_and_says_why() {
    assert_root();
    common::netns::expect_fallback();
    let (_topo, namespaces) = topology(format!("dmvpnd-fpcap-{}", std::process::id()));
    let (hub_ns, s1_ns, s2_ns) = (&namespaces[0], &namespaces[1], &namespaces[2]);
    let mut hub = Node::start(hub_ns, "fpcap-hub", &hub_config());
    // s1 asks for the fast path without the capabilities to load it.
    let mut s1 = Node::start_under(
        s1_ns,
        "fpcap-s1",
        &ebpf(spoke_config("10.0.0.11", "192.0.2.11")),
        &["setpriv", "--bounding-set=-bpf,-sys_admin", "--"],
    );
    let mut s2 = Node::start(s2_ns, "fpcap-s2", &spoke_config("10.0.0.12", "192.0.2.12"));
    routes(&mut hub, [&mut s1, &mut s2]);

    let mut client = s1.client().await;
    let said = |s: &Value| tunnel(s)["fast-path-reason"].is_string();
    if let Err(state) = wait_state(&mut client, Duration::from_secs(8), said).await {
        panic!(
            "no fast-path-reason on s1: {:#}\n{}",
            tunnel(&state),
            s1.site.log()
        );
    }
    let s1_state = state(&mut client).await;
    assert_eq!(tunnel(&s1_state)["data-plane-in-use"], "userspace");
    let reason = tunnel(&s1_state)["fast-path-reason"]
        .as_str()
        .unwrap()
        .to_owned();
    // The kernel refused it: not a program or build problem.
    assert!(reason.contains("not permitted"), "{reason}");
    let log = s1.site.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("eBPF fast path unavailable"))
            .count(),
        1,
        "{log}"
    );
    let mut hub_client = connect(&hub.socket()).await;
    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), both).await {
        panic!("spokes did not register: {state:#}\n{}", hub.site.log());
    }
    let echo = Echo::new(4, b"userspace fallback", Duration::from_millis(20));
    let ttls = ping_ttls(s1_ns, "172.16.1.1", "172.16.2.1", 10, echo);
    assert!(ttls.len() >= 9, "{ttls:?}\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_leaves_no_program_and_a_restart_forwards_again() {
    assert_root();
    let (_topo, namespaces) = topology(format!("dmvpnd-fpkill-{}", std::process::id()));
    let (hub_ns, s1_ns, s2_ns) = (&namespaces[0], &namespaces[1], &namespaces[2]);
    let mut hub = Node::start(hub_ns, "fpkill-hub", &ebpf(hub_config()));
    let mut s1 = Node::start(
        s1_ns,
        "fpkill-s1",
        &ebpf(spoke_config("10.0.0.11", "192.0.2.11")),
    );
    let mut s2 = Node::start(
        s2_ns,
        "fpkill-s2",
        &ebpf(spoke_config("10.0.0.12", "192.0.2.12")),
    );
    routes(&mut hub, [&mut s1, &mut s2]);
    wait_fast_path(&mut s1, "s1").await;
    assert_eq!(tcx_programs(s1_ns, "eth0"), 1, "s1's ingress program");
    assert_eq!(tcx_programs(s1_ns, "dmvpn0"), 1, "s1's egress program");

    s1.kill();
    let start = Instant::now();
    while tcx_programs(s1_ns, "eth0") > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a program stayed on s1's eth0 after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    s1.spawn();
    wait_fast_path(&mut s1, "s1 after the restart").await;
    assert_eq!(
        tcx_programs(s1_ns, "eth0"),
        1,
        "one ingress program after the restart"
    );
    let mut hub_client = connect(&hub.socket()).await;
    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(15), both).await {
        panic!("s1 did not register again: {state:#}\n{}", hub.site.log());
    }
    let mut s1_client = connect(&s1.socket()).await;
    let before = count(&tunnel(&state(&mut s1_client).await)["fast-path"]["forwarded-out"]);
    let echo = Echo::new(5, b"after the restart", Duration::from_millis(20));
    let ttls = ping_ttls(s1_ns, "10.0.0.11", "10.0.0.1", 10, echo);
    assert_eq!(ttls.len(), 10, "{ttls:?}\n{}", s1.site.log());
    let after = count(&tunnel(&state(&mut s1_client).await)["fast-path"]["forwarded-out"]);
    assert!(
        after - before >= 10,
        "s1's fast path sent {} of 10",
        after - before
    );

    // SIGTERM: the daemon removes both programs itself.
    let status = hub.terminate().expect("the hub did not exit on SIGTERM");
    assert!(status.success(), "{status}");
    assert_eq!(
        tcx_programs(hub_ns, "eth0"),
        0,
        "a program stayed after SIGTERM"
    );
}
