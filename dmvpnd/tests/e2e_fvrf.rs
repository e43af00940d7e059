//! A front-door VRF (`underlay-netns`, issue 5) with real daemons: spoke s1
//! runs in `<prefix>-s1`, which holds its LAN and its tunnel but no
//! underlay at all; its underlay (eth0 on the bridge) is in
//! `<prefix>-s1-fvrf`. s1's tunnel source is `source-interface eth0`, so
//! the address, the underlay MTU and the GRE socket all come from the fVRF.
//! Proves that s1 registers with the hub, that LAN to LAN traffic flows
//! both through the hub and over a Phase 3 shortcut to s2 (a plain spoke),
//! and that the tunnel MTU is the fVRF's eth0 MTU (1450) less IPv4 and GRE
//! with key (28). Daemons and namespaces are removed on drop, also when the
//! test fails.
//!
//! ```text
//!   s1: lan0 172.16.1.1/24, dmvpn0 10.0.0.11   hub 10.0.0.1   s2: lan0 172.16.2.1, dmvpn0 10.0.0.12
//!   s1-fvrf: eth0 192.0.2.11 (mtu 1450) ---[ul: br0]--- hub eth0 192.0.2.1 --- s2 eth0 192.0.2.12
//! ```

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::netns::{
    Echo, Node, TUNNEL, Topology, assert_root, cache, connect, has_link, hub_config, ip_in,
    ping_ttls, registered, run, spoke_config, spoke_lan, wait_state,
};
use serde_json::{Value, json};

/// ICMP echo from `from` to `to` in namespace `ns`: how many of `count`
/// requests got their reply.
fn ping(ns: &str, from: &str, to: &str, count: u16) -> usize {
    let echo = Echo::new(0x5f5f, b"dmvpnd fvrf", Duration::ZERO);
    ping_ttls(ns, from, to, count, echo).len()
}

/// s1's startup configuration: the tunnel source is the fVRF's eth0,
/// declared in ietf-interfaces so `source-interface` can refer to it.
fn fvrf_spoke_config(fvrf: &str) -> Value {
    let mut config = spoke_config("10.0.0.11", "192.0.2.11");
    let interfaces = config["ietf-interfaces:interfaces"]["interface"]
        .as_array_mut()
        .unwrap();
    let tunnel = interfaces[0]["dmvpn-tunnel:tunnel"]
        .as_object_mut()
        .unwrap();
    tunnel.remove("source-address");
    tunnel.insert("source-interface".into(), json!("eth0"));
    tunnel.insert("underlay-netns".into(), json!(fvrf));
    interfaces.push(json!({"name": "eth0", "type": "iana-if-type:ethernetCsmacd"}));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_with_its_underlay_in_a_front_door_vrf_registers_and_forwards() {
    assert_root();

    let mut topo = Topology::with_underlay(format!("dmvpnd-fvrf-{}", std::process::id()));
    let hub_ns = topo.attach("hub", "192.0.2.1", None);
    let lan1 = format!("{}/24", spoke_lan(1));
    let (s1_ns, fvrf) = topo.attach_fvrf("s1", "192.0.2.11", Some(&lan1), 1450);
    let lan2 = format!("{}/24", spoke_lan(2));
    let s2_ns = topo.attach("s2", "192.0.2.12", Some(&lan2));
    // The daemon's namespace has no way onto the underlay of its own.
    assert!(!has_link(&s1_ns, "eth0"), "s1 must not see the underlay");

    // Declared after the topology: dropped (stopped) before it goes.
    let mut hub = Node::start(&hub_ns, "fvrf-hub", &hub_config());
    let mut s1 = Node::start(&s1_ns, "fvrf-s1", &fvrf_spoke_config(&fvrf));
    let mut s2 = Node::start(&s2_ns, "fvrf-s2", &spoke_config("10.0.0.12", "192.0.2.12"));

    // Phase 3 routes: the hub knows each spoke's LAN, the spokes only a
    // summary via the hub.
    hub.wait_tunnel();
    ip_in(&hub_ns, "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0");
    ip_in(&hub_ns, "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0");
    for node in [&mut s1, &mut s2] {
        node.wait_tunnel();
        ip_in(&node.ns, "route add 172.16.0.0/16 via 10.0.0.1 dev dmvpn0");
    }

    // The TUN device is in the daemon's namespace, not in the fVRF, with
    // the MTU of the fVRF's eth0 less 20 (IPv4) and 8 (GRE with key).
    assert!(!has_link(&fvrf, TUNNEL), "the tunnel went into the fVRF");
    let link = run("ip", &["-n", &s1_ns, "link", "show", TUNNEL]);
    assert!(
        link.contains("mtu 1422 "),
        "{link}\ns1 log:\n{}",
        s1.site.log()
    );

    // s1 registers from inside the fVRF: the hub holds both spokes.
    let mut hub_client = connect(&hub.socket()).await;
    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(15), both).await {
        panic!(
            "spokes did not register: {state:#}\nhub log:\n{}\ns1 log:\n{}",
            hub.site.log(),
            s1.site.log()
        );
    }
    // Its NBMA address is the fVRF's eth0 address (source-interface).
    let state = common::netns::state(&mut hub_client).await;
    assert!(
        cache(&state)
            .iter()
            .any(|(_, ty, nh)| ty == "dynamic" && nh == "10.0.0.11"),
        "{state:#}"
    );
    let nbma = common::netns::tunnel_peer(&state, "192.0.2.11");
    assert!(nbma.is_some(), "no peer 192.0.2.11 on the hub: {state:#}");

    // LAN to LAN through the hub, which redirects s1 (Phase 3).
    let replies = ping(&s1_ns, "172.16.1.1", "172.16.2.1", 3);
    assert!(
        replies >= 2,
        "{replies}/3 echo replies from 172.16.2.1\ns1 log:\n{}\nhub log:\n{}",
        s1.site.log(),
        hub.site.log()
    );

    // s1 builds a shortcut to s2's LAN, from the fVRF to a plain spoke.
    let mut s1_client = connect(&s1.socket()).await;
    let shortcut = |state: &Value| {
        cache(state).iter().any(|(prefix, ty, nh)| {
            prefix == "172.16.2.0/24" && ty == "shortcut" && nh == "10.0.0.12"
        })
    };
    if let Err(state) = wait_state(&mut s1_client, Duration::from_secs(10), shortcut).await {
        panic!(
            "no shortcut for 172.16.2.0/24 on s1: {state:#}\ns1 log:\n{}\ns2 log:\n{}",
            s1.site.log(),
            s2.site.log()
        );
    }
    // Traffic flows over it, and s2 reaches s1's LAN too (through the
    // hub or its own shortcut); s2 knows s1 by the fVRF's address.
    assert_eq!(ping(&s1_ns, "172.16.1.1", "172.16.2.1", 2), 2);
    assert!(ping(&s2_ns, "172.16.2.1", "172.16.1.1", 2) >= 1);
    let mut s2_client = connect(&s2.socket()).await;
    let state = common::netns::state(&mut s2_client).await;
    assert!(
        common::netns::tunnel_peer(&state, "192.0.2.11").is_some(),
        "s2 has no peer 192.0.2.11 (the fVRF's address): {state:#}"
    );

    // A namespace that does not exist is refused at commit, naming the
    // leaf and the namespace; s2 keeps running as it was.
    let before = common::running(&mut s2_client).await;
    let leaf =
        "/ietf-interfaces:interfaces/interface[name='dmvpn0']/dmvpn-tunnel:tunnel/underlay-netns";
    let missing = format!("{}-missing", fvrf);
    let status = s2_client
        .commit(common::set(leaf, &missing, "missing fVRF"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains(leaf) && status.message().contains(&missing),
        "{}",
        status.message()
    );
    // Not a namespace name (a path component): refused by the YANG pattern.
    let status = s2_client
        .commit(common::set(leaf, "..", "parent directory"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("not namespace names"),
        "{}",
        status.message()
    );
    assert_eq!(common::running(&mut s2_client).await, before);

    // SIGTERM: s1 exits cleanly; its tunnel goes, the fVRF is untouched.
    let status = s1.terminate().expect("s1 did not exit on SIGTERM");
    assert!(status.success(), "s1 exit status {status}");
    assert!(!has_link(&s1_ns, TUNNEL), "dmvpn0 left behind in s1");
    assert!(has_link(&fvrf, "eth0"));
}
