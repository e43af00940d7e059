//! More DMVPN scenarios end to end with the real dmvpnd, each in its own
//! set of network namespaces (as in e2e.rs; the shared helpers are in
//! common/netns.rs):
//! - Phase 1: shortcuts off on the spokes, redirect off on the hub: LAN to
//!   LAN traffic keeps crossing the hub (TTL 63) and s1 has no shortcut;
//! - hub restart: SIGTERM the hub, start it again with the same state dir,
//!   and both spokes are registered again within 15 s (holding time 30 s,
//!   so the spokes refresh every 10 s);
//! - a spoke with a wrong NHRP password is not registered and the hub
//!   counts an authentication error.
//!
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::netns::{
    Echo, Entry, Node, TUNNEL, assert_root, cache, connect, error_count, has_link, hub_config,
    ip_in, nhrp, ping_ttls, registered, routes, spoke_config, state, topology,
    wait_both_registered, wait_state,
};
use serde_json::{Value, json};

/// The namespaces of one scenario: `dmvpnd-e2s-<pid>-<scenario>-<role>`.
fn scenario(scenario: &str) -> String {
    format!("dmvpnd-e2s-{}-{scenario}", std::process::id())
}

/// How these scenarios ping: an identifier apart from e2e.rs's, and a
/// pause after each request.
fn echo() -> Echo {
    Echo::new(0x5a5a, b"dmvpnd e2e scenarios", Duration::from_millis(50))
}

/// Phase 1: no redirect on the hub, no shortcuts on the spokes. Spoke to
/// spoke traffic always crosses the hub (TTL 63) and s1 learns no shortcut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phase1_without_shortcuts_traffic_keeps_crossing_the_hub() {
    assert_root();
    let started = Instant::now();
    let (_topo, ns) = topology(scenario("p1"));
    let mut hub_config = hub_config();
    nhrp(&mut hub_config)["redirect"] = json!(false);
    let mut hub = Node::start(&ns[0], "e2s-p1-hub", &hub_config);
    let spoke = |ns: &str, name: &str, tunnel: &str, nbma: &str| {
        let mut config = spoke_config(tunnel, nbma);
        nhrp(&mut config)["shortcut"] = json!(false);
        Node::start(ns, name, &config)
    };
    let mut s1 = spoke(&ns[1], "e2s-p1-s1", "10.0.0.11", "192.0.2.11");
    let mut s2 = spoke(&ns[2], "e2s-p1-s2", "10.0.0.12", "192.0.2.12");
    routes(&mut hub, [&mut s1, &mut s2]);

    wait_both_registered(&mut hub).await;

    // Long enough for a Phase 3 redirect and resolution to have happened,
    // were they enabled (they take well under a second in e2e.rs).
    let ttls = ping_ttls(&ns[1], "172.16.1.1", "172.16.2.1", 20, echo());
    assert!(
        ttls.len() >= 18,
        "{}/20 echo replies\ns1 log:\n{}\nhub log:\n{}",
        ttls.len(),
        s1.site.log(),
        hub.site.log()
    );
    assert!(
        ttls.iter().all(|&ttl| ttl == 63),
        "a reply did not cross the hub (TTL 63 expected): {ttls:?}"
    );

    let mut s1_client = connect(&s1.socket()).await;
    let s1_state = state(&mut s1_client).await;
    let shortcuts: Vec<Entry> = cache(&s1_state)
        .into_iter()
        .filter(|(_, ty, _)| ty == "shortcut")
        .collect();
    assert!(shortcuts.is_empty(), "s1 has shortcuts: {shortcuts:?}");
    eprintln!("phase 1 took {:?}", started.elapsed());
}

/// Hub restart: with a holding time of 30 s the spokes refresh every 10 s,
/// so both are registered again within 15 s after the hub is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spokes_register_again_after_a_hub_restart() {
    assert_root();
    let started = Instant::now();
    let (_topo, ns) = topology(scenario("hr"));
    let holding = |mut config: Value| {
        nhrp(&mut config)["holding-time"] = json!(30);
        config
    };
    let mut hub = Node::start(&ns[0], "e2s-hr-hub", &holding(hub_config()));
    let mut s1 = Node::start(
        &ns[1],
        "e2s-hr-s1",
        &holding(spoke_config("10.0.0.11", "192.0.2.11")),
    );
    let mut s2 = Node::start(
        &ns[2],
        "e2s-hr-s2",
        &holding(spoke_config("10.0.0.12", "192.0.2.12")),
    );
    routes(&mut hub, [&mut s1, &mut s2]);

    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    let mut hub_client = connect(&hub.socket()).await;
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), &both).await {
        panic!(
            "spokes did not register: {state:#}\nhub log:\n{}",
            hub.site.log()
        );
    }
    drop(hub_client);

    let status = hub.terminate().expect("the hub did not exit on SIGTERM");
    assert!(status.success(), "hub exit status {status}");
    assert!(!has_link(&ns[0], TUNNEL), "dmvpn0 left behind on the hub");

    // Same settings, same state dir, same startup configuration.
    hub.spawn();
    let restarted = Instant::now();
    hub.wait_tunnel();
    ip_in(&ns[0], "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0");
    ip_in(&ns[0], "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0");
    let mut hub_client = connect(&hub.socket()).await;
    let limit = Duration::from_secs(15).saturating_sub(restarted.elapsed());
    if let Err(state) = wait_state(&mut hub_client, limit, &both).await {
        panic!(
            "spokes not registered again 15 s after the hub restart: {state:#}\nhub log:\n{}\ns1 log:\n{}",
            hub.site.log(),
            s1.site.log()
        );
    }
    eprintln!(
        "re-registered {:?} after the restart; hub restart took {:?}",
        restarted.elapsed(),
        started.elapsed()
    );
}

/// A spoke with the wrong NHRP password: the hub does not register it and
/// counts an authentication error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_with_a_wrong_password_is_rejected_and_counted() {
    assert_root();
    let started = Instant::now();
    let (_topo, ns) = topology(scenario("au"));
    let mut hub = Node::start(&ns[0], "e2s-au-hub", &hub_config());
    let mut bad = spoke_config("10.0.0.11", "192.0.2.11");
    nhrp(&mut bad)["authentication"] = json!("wrong-pw");
    let mut s1 = Node::start(&ns[1], "e2s-au-s1", &bad);
    let mut s2 = Node::start(
        &ns[2],
        "e2s-au-s2",
        &spoke_config("10.0.0.12", "192.0.2.12"),
    );
    routes(&mut hub, [&mut s1, &mut s2]);

    let mut hub_client = connect(&hub.socket()).await;
    // The good spoke registers, and the hub counts the bad one's attempts.
    let good_and_counted = |state: &Value| {
        registered(&["10.0.0.12"])(state) && error_count(state, "authentication") > 0
    };
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), good_and_counted).await
    {
        panic!(
            "no authentication error counted (or s2 not registered): {state:#}\nhub log:\n{}",
            hub.site.log()
        );
    }
    let hub_state = state(&mut hub_client).await;
    let bad_entries: Vec<Entry> = cache(&hub_state)
        .into_iter()
        .filter(|(_, _, nh)| nh == "10.0.0.11")
        .collect();
    assert!(
        bad_entries.is_empty(),
        "the spoke with the wrong password is in the hub's cache: {bad_entries:?}"
    );
    eprintln!(
        "{} authentication errors; took {:?}",
        error_count(&hub_state, "authentication"),
        started.elapsed()
    );
}
