//! Commits on a running cloud apply in place (the real dmvpnd, a hub and
//! two spokes in network namespaces, as in e2e.rs):
//! - a ping every 20 ms across a Phase 3 shortcut while holding-time,
//!   authentication (hub first, then the spokes), redirect, shortcut,
//!   tcp-mss and mtu are committed: not one echo lost, every tunnel device
//!   kept (same ifindex) with every route through it, ours and another
//!   daemon's;
//! - one row per leaf of dmvpn-nhrp and dmvpn-tunnel: the commit either
//!   applies in place (same ifindex, the spoke's cache entries kept, no
//!   NHS-down or peer-down notification, the new value in effect where a
//!   daemon shows it) or is refused naming the leaf. What each NHRP value
//!   does once applied is checked message by message in
//!   holo-nhrp/tests/reconfigure.rs.
//!
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::netns::{
    Node, TUNNEL, cache, connect, entries_via, hub_config, ip_in, nhs_status, routes, run,
    spoke_config, state, topology, wait_both_registered, wait_state,
};
use common::{Client, set};
use dmvpn_api::v1 as api;
use serde_json::Value;

const INTERFACE: &str = "/ietf-interfaces:interfaces/interface[name='dmvpn0']";

fn scenario(name: &str) -> String {
    format!("dmvpnd-rc-{}-{name}", std::process::id())
}

fn root() {
    let uid = run("id", &["-u"]);
    assert_eq!(uid.trim(), "0", "the namespace tests need root");
}

/// The tunnel device's ifindex in `ns`: a new one means it was recreated.
fn ifindex(ns: &str) -> String {
    let line = run("ip", &["-n", ns, "-o", "link", "show", TUNNEL]);
    line.split(':').next().unwrap().trim().to_owned()
}

fn link_mtu(ns: &str) -> u32 {
    let line = run("ip", &["-n", ns, "-o", "link", "show", TUNNEL]);
    let (_, rest) = line.split_once(" mtu ").unwrap();
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// Every route through the tunnel device in `ns`, as `ip route` prints it.
fn tunnel_routes(ns: &str) -> BTreeSet<String> {
    run("ip", &["-n", ns, "route", "show", "dev", TUNNEL])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Commits `value` at `leaf` below the tunnel interface (SET), or deletes
/// it (`None`); the refusal's message when the daemon refuses.
async fn commit(client: &mut Client, leaf: &str, value: Option<&str>) -> Result<(), String> {
    let path = format!("{INTERFACE}/{leaf}");
    let mut request = set(&path, value.unwrap_or_default(), "e2e reconfigure");
    if value.is_none() {
        request.edits[0].kind = api::path_edit::Kind::Delete as i32;
    }
    client
        .commit(request)
        .await
        .map(|_| ())
        .map_err(|status| status.message().to_owned())
}

/// The notifications of a daemon, collected in the background.
async fn notifications(client: &mut Client) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let request = api::SubscribeRequest {
        path: String::new(),
        encoding: api::Encoding::Json as i32,
    };
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(n)) = stream.message().await {
            let _ = tx.send(n.data.map(|d| d.data).unwrap_or_default());
        }
    });
    rx
}

/// The NHS-down and peer-down notifications received so far.
fn downs(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut downs = vec![];
    while let Ok(n) = rx.try_recv() {
        if n.contains("nhs-down") || n.contains("peer-down") {
            downs.push(n);
        }
    }
    downs
}

/// Waits until s1 holds a shortcut to s2, pinging s2's LAN meanwhile.
async fn wait_shortcut(ns: &str, s1: &mut Client) {
    let shortcut = |state: &Value| !entries_via(state, "shortcut", "10.0.0.12").is_empty();
    for _ in 0..20 {
        let _ = Command::new("ip")
            .args(["netns", "exec", ns, "ping", "-c", "1", "-W", "1"])
            .args(["-I", "172.16.1.1", "172.16.2.1"])
            .stdout(Stdio::null())
            .status();
        if shortcut(&state(s1).await) {
            return;
        }
    }
    panic!("no shortcut: {:#}", state(s1).await);
}

struct Cloud {
    ns: Vec<String>,
    hub: Node,
    s1: Node,
    s2: Node,
}

async fn cloud(name: &str) -> (common::netns::Topology, Cloud) {
    let (topo, ns) = topology(scenario(name));
    let mut hub = Node::start(&ns[0], &format!("rc-{name}-hub"), &hub_config());
    let mut s1 = Node::start(
        &ns[1],
        &format!("rc-{name}-s1"),
        &spoke_config("10.0.0.11", "192.0.2.11"),
    );
    let mut s2 = Node::start(
        &ns[2],
        &format!("rc-{name}-s2"),
        &spoke_config("10.0.0.12", "192.0.2.12"),
    );
    routes(&mut hub, [&mut s1, &mut s2]);
    wait_both_registered(&mut hub).await;
    let cloud = Cloud { ns, hub, s1, s2 };
    (topo, cloud)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_during_traffic_lose_no_ping_and_keep_every_route() {
    root();
    let (_topo, mut c) = cloud("ping").await;
    // A route another daemon installed through the tunnel.
    ip_in(
        &c.ns[1],
        "route add 172.31.0.0/24 via 10.0.0.1 dev dmvpn0 proto 188",
    );
    let mut s1 = c.s1.client().await;
    let s2 = c.s2.client().await;
    let hub = c.hub.client().await;
    wait_shortcut(&c.ns[1], &mut s1).await;
    let devices: Vec<String> = c.ns.iter().take(3).map(|ns| ifindex(ns)).collect();
    let before: Vec<BTreeSet<String>> = c.ns.iter().take(3).map(|ns| tunnel_routes(ns)).collect();

    let ping = Command::new("ip")
        .args(["netns", "exec", &c.ns[1], "ping", "-i", "0.02", "-c", "400"])
        .args(["-W", "1", "-I", "172.16.1.1", "172.16.2.1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pause = || tokio::time::sleep(Duration::from_millis(300));
    pause().await;
    const S1: usize = 0;
    const S2: usize = 1;
    const HUB: usize = 2;
    let steps = [
        (S1, "dmvpn-nhrp:nhrp/holding-time", "900"),
        (HUB, "dmvpn-nhrp:nhrp/holding-time", "900"),
        (HUB, "dmvpn-nhrp:nhrp/authentication", "e2e-new"),
        (S1, "dmvpn-nhrp:nhrp/authentication", "e2e-new"),
        (S2, "dmvpn-nhrp:nhrp/authentication", "e2e-new"),
        (HUB, "dmvpn-nhrp:nhrp/redirect", "false"),
        (HUB, "dmvpn-nhrp:nhrp/redirect", "true"),
        (S1, "dmvpn-nhrp:nhrp/shortcut", "false"),
        (S1, "dmvpn-nhrp:nhrp/shortcut", "true"),
        (S1, "dmvpn-tunnel:tunnel/tcp-mss", "1300"),
        (S1, "dmvpn-tunnel:tunnel/mtu", "1380"),
        (S2, "dmvpn-tunnel:tunnel/mtu", "1380"),
    ];
    let mut clients = [s1, s2, hub];
    for (node, leaf, value) in steps {
        commit(&mut clients[node], leaf, Some(value)).await.unwrap();
        pause().await;
    }
    let [mut s1, _, _] = clients;

    let output = ping.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_default();
    assert!(
        summary.starts_with("400 packets transmitted, 400 received"),
        "{summary}\ns1 log:\n{}",
        c.s1.site.log()
    );
    let after: Vec<String> = c.ns.iter().take(3).map(|ns| ifindex(ns)).collect();
    assert_eq!(devices, after, "a tunnel device was recreated");
    for (i, ns) in c.ns.iter().take(3).enumerate() {
        let now = tunnel_routes(ns);
        let lost: Vec<_> = before[i].difference(&now).collect();
        assert!(lost.is_empty(), "{ns} lost routes {lost:?}; has {now:?}");
    }
    assert_eq!(link_mtu(&c.ns[1]), 1380);
    let shortcut = entries_via(&state(&mut s1).await, "shortcut", "10.0.0.12");
    assert!(!shortcut.is_empty(), "the shortcut survived");
}

/// What a row of the table expects of its commit.
enum Outcome {
    /// Applied in place.
    InPlace,
    /// Refused, the refusal naming this leaf.
    Refused,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_leaf_applies_in_place_or_is_refused_naming_it() {
    root();
    let (_topo, mut c) = cloud("leaves").await;
    let mut s1 = c.s1.client().await;
    let mut hub = c.hub.client().await;
    let mut s1_events = notifications(&mut s1).await;
    let mut hub_events = notifications(&mut hub).await;
    wait_shortcut(&c.ns[1], &mut s1).await;
    let s1_device = ifindex(&c.ns[1]);
    let hub_device = ifindex(&c.ns[0]);
    // The underlay address the source-address row moves to, and the
    // underlay interface the source-interface row names.
    ip_in(&c.ns[1], "address add 192.0.2.21/24 dev eth0");
    let eth0 = "/ietf-interfaces:interfaces/interface[name='eth0']/type";
    let declared = set(eth0, "iana-if-type:ethernetCsmacd", "underlay");
    s1.commit(declared).await.unwrap();

    use Outcome::{InPlace, Refused};
    // (on the hub?, leaf, value (None: delete), outcome)
    let rows: &[(bool, &str, Option<&str>, Outcome)] = &[
        (false, "dmvpn-nhrp:nhrp/network-id", Some("7"), InPlace),
        (false, "dmvpn-nhrp:nhrp/holding-time", Some("900"), InPlace),
        (
            false,
            "dmvpn-nhrp:nhrp/registration-interval",
            Some("30"),
            InPlace,
        ),
        (
            true,
            "dmvpn-nhrp:nhrp/authentication",
            Some("e2e-new"),
            InPlace,
        ),
        (
            false,
            "dmvpn-nhrp:nhrp/authentication",
            Some("e2e-new"),
            InPlace,
        ),
        (
            false,
            "dmvpn-nhrp:nhrp/registration-no-unique",
            Some("true"),
            InPlace,
        ),
        (false, "dmvpn-nhrp:nhrp/mtu", Some("1300"), InPlace),
        (
            true,
            "dmvpn-nhrp:nhrp/max-registrations",
            Some("50"),
            InPlace,
        ),
        (true, "dmvpn-nhrp:nhrp/redirect", Some("false"), InPlace),
        (true, "dmvpn-nhrp:nhrp/redirect", Some("true"), InPlace),
        (false, "dmvpn-nhrp:nhrp/shortcut", Some("false"), InPlace),
        (false, "dmvpn-nhrp:nhrp/shortcut", Some("true"), InPlace),
        (
            false,
            "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/priority",
            Some("3"),
            InPlace,
        ),
        (
            false,
            "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/cluster",
            Some("1"),
            InPlace,
        ),
        (
            false,
            "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.2']/nbma-address",
            Some("192.0.2.2"),
            InPlace,
        ),
        (
            false,
            "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.2']",
            None,
            InPlace,
        ),
        (
            false,
            "dmvpn-nhrp:nhrp/static-map[protocol-address='10.0.0.99']/nbma-address",
            Some("192.0.2.99"),
            InPlace,
        ),
        (
            false,
            "dmvpn-nhrp:nhrp/multicast/nbma-address",
            Some("192.0.2.77"),
            InPlace,
        ),
        (
            true,
            "dmvpn-nhrp:nhrp/multicast/dynamic",
            Some("true"),
            InPlace,
        ),
        (false, "dmvpn-tunnel:tunnel/mtu", Some("1380"), InPlace),
        (false, "dmvpn-tunnel:tunnel/ttl", Some("64"), InPlace),
        (false, "dmvpn-tunnel:tunnel/tcp-mss", Some("1300"), InPlace),
        (false, "dmvpn-tunnel:tunnel/gre-key", Some("4343"), InPlace),
        (false, "dmvpn-tunnel:tunnel/gre-key", Some("4242"), InPlace),
        (
            false,
            "dmvpn-tunnel:tunnel/data-plane",
            Some("kernel"),
            Refused,
        ),
        (
            false,
            "dmvpn-tunnel:tunnel/underlay-netns",
            Some("rc-no-such-ns"),
            Refused,
        ),
        (
            false,
            "dmvpn-tunnel:tunnel/source-address",
            Some("192.0.2.21"),
            InPlace,
        ),
        (
            false,
            "dmvpn-tunnel:tunnel/source-interface",
            Some("eth0"),
            InPlace,
        ),
    ];
    for (on_hub, leaf, value, outcome) in rows {
        let kept: BTreeSet<_> = cache(&state(&mut s1).await)
            .into_iter()
            .filter(|(_, ty, _)| ty != "incomplete" && ty != "negative")
            .collect();
        let (client, ns, node) = match on_hub {
            true => (&mut hub, &c.ns[0], &c.hub),
            false => (&mut s1, &c.ns[1], &c.s1),
        };
        let result = commit(client, leaf, *value).await;
        match outcome {
            Refused => {
                let message = result.expect_err(leaf);
                assert!(
                    message.contains(leaf.rsplit('/').next().unwrap()),
                    "{leaf}: {message}"
                );
                continue;
            }
            InPlace => {
                if let Err(message) = result {
                    panic!("{leaf}: {message}\n{}", node.site.log());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            ifindex(ns),
            *if *on_hub { &hub_device } else { &s1_device },
            "{leaf}"
        );
        let now: BTreeSet<_> = cache(&state(&mut s1).await).into_iter().collect();
        let lost: Vec<_> = kept
            .difference(&now)
            .filter(|(prefix, _, _)| !prefix.starts_with("10.0.0.2/"))
            .collect();
        assert!(lost.is_empty(), "{leaf}: s1 lost {lost:?}");
        // The new value, where the daemons show it.
        let client = if *on_hub { &mut hub } else { &mut s1 };
        check(leaf, *value, client, &c).await;
        // A new source address is a new NBMA binding: the hub sees s1's
        // old one purged (peer down), then the new one registered.
        let moved = leaf.contains("tunnel/source-");
        let mut downs = [downs(&mut s1_events), downs(&mut hub_events)].concat();
        downs.retain(|n| !(moved && n.contains("peer-down") && n.contains("\"10.0.0.11\"")));
        assert!(downs.is_empty(), "{leaf}: {downs:?}");
    }
}

/// The observable effect of a row (none for the values only NHRP's
/// messages show: holo-nhrp/tests/reconfigure.rs checks those).
async fn check(leaf: &str, value: Option<&str>, client: &mut Client, c: &Cloud) {
    let second_nhs = "nhs[protocol-address='10.0.0.2']";
    let within = Duration::from_secs(1);
    match leaf.rsplit_once('/').map_or(leaf, |(_, last)| last) {
        "mtu" if leaf.starts_with("dmvpn-tunnel") => {
            assert_eq!(link_mtu(&c.ns[1]).to_string(), value.unwrap());
        }
        "nbma-address" if leaf.contains(second_nhs) => {
            // Registration with the new NHS within a second.
            let asked = |state: &Value| nhs_status(state, "10.0.0.2").is_some();
            wait_state(client, within, asked).await.unwrap();
        }
        _ if leaf.ends_with(second_nhs) => {
            let gone = |state: &Value| nhs_status(state, "10.0.0.2").is_none();
            wait_state(client, within, gone).await.unwrap();
        }
        "source-address" | "source-interface" => {
            let nbma = match value {
                Some("eth0") => "192.0.2.11",
                _ => "192.0.2.21",
            };
            // The hub holds s1 once, at its new address.
            let mut hub = connect(&c.hub.socket()).await;
            let moved = |state: &Value| {
                let s1: Vec<_> = cache(state)
                    .into_iter()
                    .filter(|(_, _, next_hop)| next_hop == "10.0.0.11")
                    .collect();
                let peer = common::netns::tunnel_peer(state, nbma);
                s1.len() == 1 && peer.is_some_and(|p| p["tunnel-address"] == "10.0.0.11")
            };
            if let Err(state) = wait_state(&mut hub, Duration::from_secs(3), moved).await {
                panic!("{state:#}\ns1 log:\n{}", c.s1.site.log());
            }
            // The purge's peer-down notification has arrived by now.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        _ => {}
    }
}

/// The prefixes behind a spoke follow its LAN addresses at once (netlink
/// monitor), not at the next poll: NHRP hears of a new LAN within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_prefixes_follow_a_lan_address_at_once() {
    root();
    let (_topo, ns) = topology(scenario("lan"));
    let config = spoke_config("10.0.0.11", "192.0.2.11");
    let mut s1 = Node::start(&ns[1], "rc-lan-s1", &config);
    s1.wait_tunnel();
    let told = |s1: &Node, prefix: &str| {
        (s1.site.log().lines()).any(|l| l.contains("local prefixes") && l.contains(prefix))
    };
    assert!(
        common::netns::poll(Duration::from_secs(5), || told(&s1, "172.16.1.0")),
        "{}",
        s1.site.log()
    );
    ip_in(&ns[1], "address add 172.18.5.1/24 dev lan0");
    assert!(
        common::netns::poll(Duration::from_secs(1), || told(&s1, "172.18.5.0")),
        "not told within a second:\n{}",
        s1.site.log()
    );
}

/// The hub's cache entries for `tunnel` (next hop), with their NBMA address.
fn hub_entries(state: &Value, tunnel: &str) -> Vec<Value> {
    common::netns::cache_entries(state)
        .into_iter()
        .filter(|e| e["next-hop"] == tunnel)
        .collect()
}

/// The tunnel follows its underlay: s1 starts before its source address
/// exists (a WAN address that comes from DHCP later), reports the tunnel
/// down with the reason, and registers within a second of the address
/// being added; s2 takes its source from eth0 (source-interface) and, when
/// eth0's address changes, registers from the new one: the hub holds
/// exactly one entry for it, at the new address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tunnel_follows_its_source_address() {
    root();
    let (_topo, ns) = topology(scenario("src"));
    let mut hub = Node::start(&ns[0], "rc-src-hub", &hub_config());
    let s1 = Node::start(
        &ns[1],
        "rc-src-s1",
        &spoke_config("10.0.0.11", "192.0.2.21"),
    );
    let mut s2_config = spoke_config("10.0.0.12", "192.0.2.12");
    let interfaces = &mut s2_config["ietf-interfaces:interfaces"]["interface"];
    let tunnel = &mut interfaces[0]["dmvpn-tunnel:tunnel"];
    tunnel.as_object_mut().unwrap().remove("source-address");
    tunnel["source-interface"] = serde_json::json!("eth0");
    interfaces
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "eth0", "type": "iana-if-type:ethernetCsmacd"}));
    let s2 = Node::start(&ns[2], "rc-src-s2", &s2_config);
    let mut hub_client = hub.client().await;

    // s1: down, saying why; its tunnel interface is there all the same.
    let mut s1_client = connect(&s1.socket()).await;
    let down = |state: &Value| {
        let tunnel = &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"];
        tunnel["oper-status"] == "down"
            && tunnel["down-reason"]
                .as_str()
                .is_some_and(|r| r.contains("192.0.2.21"))
    };
    if let Err(state) = wait_state(&mut s1_client, Duration::from_secs(5), down).await {
        panic!("{state:#}\n{}", s1.site.log());
    }
    ifindex(&ns[1]);
    let registered = |tunnel: &'static str, nbma: &'static str| {
        move |state: &Value| {
            let entries = hub_entries(state, tunnel);
            entries.len() == 1 && entries[0]["nbma-address"] == nbma
        }
    };
    let s2_up = registered("10.0.0.12", "192.0.2.12");
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), s2_up).await {
        panic!("s2 not registered: {state:#}\n{}", s2.site.log());
    }

    // The WAN address comes: registered within a second.
    let added = std::time::Instant::now();
    ip_in(&ns[1], "address add 192.0.2.21/24 dev eth0");
    let s1_up = registered("10.0.0.11", "192.0.2.21");
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(1), s1_up).await {
        panic!(
            "s1 not registered within a second: {state:#}\n{}",
            s1.site.log()
        );
    }
    eprintln!("s1 registered {:?} after its address came", added.elapsed());
    let up = |state: &Value| {
        let tunnel = &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"];
        tunnel["oper-status"] == "up" && tunnel["source-address-in-use"] == "192.0.2.21"
    };
    wait_state(&mut s1_client, Duration::from_secs(1), up)
        .await
        .unwrap();

    // s2's address changes (DHCP: the old one goes, the new one comes):
    // one entry at the hub, the new one.
    ip_in(&ns[2], "address del 192.0.2.12/24 dev eth0");
    ip_in(&ns[2], "address add 192.0.2.22/24 dev eth0");
    let moved = registered("10.0.0.12", "192.0.2.22");
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(2), moved).await {
        panic!("s2 did not move: {state:#}\n{}", s2.site.log());
    }
}

/// Adding and removing an NHS on a running spoke, with two real hubs: s1
/// registers with hub 2 within a second of the commit that adds it, and
/// the commit that removes hub 1 purges s1's binding there within a
/// second; neither commit takes the tunnel down. Removing NHRP then
/// purges s1 at hub 2 before the tunnel goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nhs_added_and_removed_on_a_running_spoke() {
    root();
    let mut topo = dmvpn_test_support::topology::Topology::with_underlay(scenario("nhs"));
    let hub1_ns = topo.attach("hub", "192.0.2.1", None);
    let hub2_ns = topo.attach("hub2", "192.0.2.2", None);
    let s1_ns = topo.attach("s1", "192.0.2.11", Some("172.16.1.1/24"));
    let hub1 = Node::start(&hub1_ns, "rc-nhs-hub1", &hub_config());
    let mut hub2_config = hub_config();
    let interface = &mut hub2_config["ietf-interfaces:interfaces"]["interface"][0];
    interface["ietf-ip:ipv4"]["address"][0]["ip"] = serde_json::json!("10.0.0.2");
    interface["dmvpn-tunnel:tunnel"]["source-address"] = serde_json::json!("192.0.2.2");
    let hub2 = Node::start(&hub2_ns, "rc-nhs-hub2", &hub2_config);
    let s1 = Node::start(
        &s1_ns,
        "rc-nhs-s1",
        &spoke_config("10.0.0.11", "192.0.2.11"),
    );
    let mut hub1_client = connect(&hub1.socket()).await;
    let mut hub2_client = connect(&hub2.socket()).await;
    let mut s1_client = connect(&s1.socket()).await;
    let registered = |state: &Value| !entries_via(state, "dynamic", "10.0.0.11").is_empty();
    if let Err(state) = wait_state(&mut hub1_client, Duration::from_secs(8), registered).await {
        panic!("s1 not registered with hub 1: {state:#}\n{}", s1.site.log());
    }
    let device = ifindex(&s1_ns);

    let added = std::time::Instant::now();
    let nhs2 = "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.2']/nbma-address";
    commit(&mut s1_client, nhs2, Some("192.0.2.2"))
        .await
        .unwrap();
    if let Err(state) = wait_state(&mut hub2_client, Duration::from_secs(1), registered).await {
        panic!(
            "s1 not registered with hub 2 within a second: {state:#}\n{}",
            s1.site.log()
        );
    }
    eprintln!("registered with the added NHS after {:?}", added.elapsed());

    let removed = std::time::Instant::now();
    let nhs1 = "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']";
    commit(&mut s1_client, nhs1, None).await.unwrap();
    let purged = |state: &Value| entries_via(state, "dynamic", "10.0.0.11").is_empty();
    if let Err(state) = wait_state(&mut hub1_client, Duration::from_secs(1), purged).await {
        panic!(
            "s1's binding not purged on hub 1 within a second: {state:#}\n{}",
            s1.site.log()
        );
    }
    eprintln!("purged on the removed NHS after {:?}", removed.elapsed());
    let s1_state = state(&mut s1_client).await;
    assert_eq!(nhs_status(&s1_state, "10.0.0.1"), None, "{s1_state:#}");
    assert_eq!(nhs_status(&s1_state, "10.0.0.2").as_deref(), Some("up"));
    assert_eq!(ifindex(&s1_ns), device, "the tunnel device was recreated");
    let hub2_state = state(&mut hub2_client).await;
    assert!(registered(&hub2_state), "still registered with hub 2");

    // NHRP removed from the interface: the instance says goodbye (a purge
    // at its NHS) before it and its tunnel go.
    commit(&mut s1_client, "dmvpn-nhrp:nhrp", None)
        .await
        .unwrap();
    if let Err(state) = wait_state(&mut hub2_client, Duration::from_secs(1), purged).await {
        panic!(
            "s1's binding not purged on hub 2 when NHRP was removed: {state:#}\n{}",
            s1.site.log()
        );
    }
    let gone = || !common::netns::has_link(&s1_ns, TUNNEL);
    assert!(
        common::netns::poll(Duration::from_secs(2), gone),
        "{TUNNEL} still there"
    );
}
