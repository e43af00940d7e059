//! Every NHRP setting changed on a running cloud (`Input::Configure`, what
//! a commit hands the instance): applied in place, one row per setting.
//! After each row: no NHS or peer went down, every cache entry of the
//! reconfigured node is still there (but the one the row removes), and the
//! new value is observably in effect on the wire or in the state.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{HUB, ip, ipv4_header, nhs, spoke};
use holo_nhrp::cache::{EntryType, host};
use holo_nhrp::nhc::NhsStatus;
use holo_nhrp::packet::{CieCode, MessageType, Packet};
use holo_nhrp::sim::Network;
use holo_nhrp::{DataPlaneEvent, Input, InstanceConfig, Notification, Output, StaticMap};

const HUB2: &str = "192.0.2.2";
const S1: &str = "192.0.2.11";
const S2: &str = "192.0.2.12";
const S3: &str = "192.0.2.13";

/// Hub `n` of these tests redirects (Phase 3).
fn hub(n: u8) -> InstanceConfig {
    InstanceConfig {
        redirect: true,
        ..common::hub(n)
    }
}

/// A hub, a second hub s1 is not registered with yet, two spokes with a
/// shortcut between them, and a third spoke that is still off.
fn cloud() -> Network {
    let mut net = Network::new(7);
    net.add(hub(1));
    net.add(hub(2));
    for n in 1..=3 {
        net.add(spoke(n));
    }
    net.down.push(ip(S3));
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    let miss = DataPlaneEvent::Miss {
        next_hop: ip("10.0.0.12"),
    };
    net.input(ip(S1), Input::DataPlane(miss));
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    let shortcut = net.node(S1).instance.cache().host(ip("10.0.0.12"));
    assert_eq!(shortcut.map(|e| e.ty), Some(EntryType::Shortcut));
    net
}

/// Changes the configuration of the node at `nbma` with `change`, runs the
/// cloud for `run`, checks what every row must hold and returns the
/// datagrams sent meanwhile.
fn reconfigure(
    net: &mut Network,
    nbma: &str,
    change: impl FnOnce(&mut InstanceConfig),
    run: Duration,
    expect: Expect,
) -> Vec<Packet> {
    let node = ip(nbma);
    let entries = |net: &Network| -> BTreeSet<(String, String)> {
        let cache = net.nodes[&node].instance.cache();
        // Pending and negative entries come and go by themselves.
        (cache.iter())
            .filter(|e| !matches!(e.ty, EntryType::Incomplete | EntryType::Negative))
            .map(|e| (e.prefix.to_string(), format!("{:?}", e.ty)))
            .collect()
    };
    let before = entries(net);
    for n in net.nodes.values_mut() {
        n.outputs.clear();
    }
    net.trace.clear();
    let mut config = net.nodes[&node].instance.config().clone();
    change(&mut config);
    net.input(node, Input::Configure(Box::new(config)));
    net.run_for(run, Duration::from_millis(100));

    let peer_gone = expect.peer_down_at.map(ip);
    for (at, n) in &net.nodes {
        let downs: Vec<_> = (n.outputs.iter())
            .filter(|o| match o {
                Output::Notify(Notification::NhsDown { .. }) => true,
                Output::Notify(Notification::PeerDown { protocol }) => {
                    Some(*at) != peer_gone
                        || *protocol != net.nodes[&node].instance.config().protocol.ip()
                }
                _ => false,
            })
            .collect();
        assert!(downs.is_empty(), "{at}: {downs:?}");
    }
    let after = entries(net);
    let lost: Vec<_> = (before.difference(&after))
        .filter(|(prefix, _)| Some(prefix.as_str()) != expect.removed)
        .collect();
    assert!(lost.is_empty(), "{nbma} lost cache entries {lost:?}");
    (net.trace.iter())
        .filter(|d| d.from == node)
        .map(|d| Packet::decode(&d.bytes).unwrap())
        .collect()
}

/// What a row changes besides the value itself.
#[derive(Clone, Copy, Default)]
struct Expect {
    /// The cache entry the row takes away.
    removed: Option<&'static str>,
    /// The node that sees the reconfigured node go as its peer (a purge).
    peer_down_at: Option<&'static str>,
}

const NOTHING: Expect = Expect {
    removed: None,
    peer_down_at: None,
};

fn of_type(sent: &[Packet], ty: MessageType) -> Vec<&Packet> {
    sent.iter().filter(|p| p.message_type() == ty).collect()
}

fn first_cie(p: &Packet) -> &holo_nhrp::packet::Cie {
    &p.message.request_reply().unwrap().cies[0]
}

#[test]
fn every_nhrp_setting_applies_to_a_running_cloud_in_place() {
    let mut net = cloud();
    let registration = MessageType::RegistrationRequest;

    // registration-interval: the next refresh comes within the new one.
    let sent = reconfigure(
        &mut net,
        S1,
        |c| c.registration_interval = Some(Duration::from_secs(10)),
        Duration::from_secs(11),
        NOTHING,
    );
    assert_eq!(of_type(&sent, registration).len(), 1, "one refresh in 11 s");

    // holding-time: the next registration carries it.
    let sent = reconfigure(
        &mut net,
        S1,
        |c| c.holding_time = 900,
        Duration::from_secs(11),
        NOTHING,
    );
    assert_eq!(first_cie(of_type(&sent, registration)[0]).holding_time, 900);
    let at_hub = net
        .node(HUB)
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap();
    let left = at_hub.expires.unwrap().duration_since(net.now);
    assert!(left <= Duration::from_secs(900), "{left:?}");

    // registration-no-unique: the next registration has no U bit.
    reconfigure(
        &mut net,
        S1,
        |c| c.registration_unique = false,
        Duration::from_secs(11),
        NOTHING,
    );
    let at_hub = net
        .node(HUB)
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap();
    assert!(!at_hub.unique);

    // authentication, the hub first, then its spokes, as an operator
    // would: s1 changed at once stays registered; s2, not changed yet, is
    // refused by the hub.
    let password = |c: &mut InstanceConfig| c.authentication = Some(b"NEWPASS".to_vec());
    reconfigure(&mut net, HUB, password, Duration::from_millis(100), NOTHING);
    reconfigure(
        &mut net,
        HUB2,
        password,
        Duration::from_millis(100),
        NOTHING,
    );
    let replies = |net: &Network| net.node(S1).instance.nhs_states()[0].replies_received;
    let before = replies(&net);
    reconfigure(&mut net, S1, password, Duration::from_secs(11), NOTHING);
    assert!(
        replies(&net) > before,
        "registered again with the new password"
    );
    let failures = |net: &Network| net.node(HUB).instance.counters.errors("authentication");
    assert_eq!(failures(&net), 0);
    let miss = |to: &str| Input::DataPlane(DataPlaneEvent::Miss { next_hop: ip(to) });
    net.input(ip(S2), miss("10.0.0.13"));
    net.run_for(Duration::from_millis(500), Duration::from_millis(100));
    assert!(failures(&net) > 0, "the hub checks the new password");
    reconfigure(&mut net, S2, password, Duration::from_secs(1), NOTHING);

    // mtu: advertised in our CIEs from the next packet on.
    reconfigure(
        &mut net,
        S2,
        |c| c.mtu = 1300,
        Duration::from_secs(1),
        NOTHING,
    );
    net.trace.clear();
    net.input(ip(S2), miss("10.0.0.14"));
    net.run_for(Duration::from_secs(1), Duration::from_millis(100));
    let sent: Vec<Packet> = (net.trace.iter())
        .filter(|d| d.from == ip(S2))
        .map(|d| Packet::decode(&d.bytes).unwrap())
        .collect();
    let request = of_type(&sent, MessageType::ResolutionRequest)[0];
    assert_eq!(first_cie(request).mtu, 1300);

    // max-registrations: two spokes registered; the third is refused.
    reconfigure(
        &mut net,
        HUB,
        |c| c.max_registrations = 2,
        Duration::from_secs(1),
        NOTHING,
    );
    let mut s3 = spoke(3);
    s3.authentication = Some(b"NEWPASS".to_vec());
    net.nodes.remove(&ip(S3));
    net.add(s3);
    net.down.clear();
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    let refused = (net.trace.iter())
        .filter(|d| d.from == ip(HUB) && d.to == ip(S3))
        .map(|d| Packet::decode(&d.bytes).unwrap())
        .find(|p| p.message_type() == MessageType::RegistrationReply)
        .unwrap();
    assert_eq!(first_cie(&refused).code, CieCode::INSUFFICIENT_RESOURCES);

    // redirect: the hub no longer answers hairpins with a Traffic Indication.
    reconfigure(
        &mut net,
        HUB,
        |c| c.redirect = false,
        Duration::from_secs(1),
        NOTHING,
    );
    let hairpin = DataPlaneEvent::Hairpin {
        from_nbma: ip(S1),
        packet: ipv4_header("172.16.1.1", "172.16.2.1"),
    };
    net.input(ip(HUB), Input::DataPlane(hairpin.clone()));
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    let indications = |net: &Network| {
        (net.trace.iter())
            .filter(|d| d.summary.starts_with("Traffic Indication"))
            .count()
    };
    assert_eq!(indications(&net), 0);
    reconfigure(
        &mut net,
        HUB,
        |c| c.redirect = true,
        Duration::from_secs(1),
        NOTHING,
    );
    net.input(ip(HUB), Input::DataPlane(hairpin));
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    assert_eq!(indications(&net), 1, "redirect on again");

    // NHS added: registered with at once.
    let sent = reconfigure(
        &mut net,
        S1,
        |c| c.nhs.push(nhs("10.0.0.2", HUB2)),
        Duration::from_secs(1),
        NOTHING,
    );
    assert!(
        of_type(&sent, registration)
            .iter()
            .any(|p| p.dst_protocol.ip() == Some(ip("10.0.0.2")))
    );
    let at_hub2 = net.node(HUB2).instance.cache().host(ip("10.0.0.11"));
    assert_eq!(at_hub2.map(|e| e.ty), Some(EntryType::Dynamic));
    let states = net.node(S1).instance.nhs_states();
    assert!(
        states.iter().all(|n| n.status == NhsStatus::Up),
        "{states:?}"
    );

    // NHS priority and cluster: in place.
    reconfigure(
        &mut net,
        S1,
        |c| {
            c.nhs[1].priority = 7;
            c.nhs[1].cluster = 2;
        },
        Duration::from_secs(1),
        NOTHING,
    );
    let second = &net.node(S1).instance.nhs_states()[1];
    assert_eq!((second.config.priority, second.config.cluster), (7, 2));
    assert_eq!(second.status, NhsStatus::Up);

    // NHS removed: our binding there purged, its state gone.
    reconfigure(
        &mut net,
        S1,
        |c| c.nhs.retain(|n| n.protocol != ip("10.0.0.2")),
        Duration::from_secs(1),
        Expect {
            removed: Some("10.0.0.2/32"),
            peer_down_at: Some(HUB2),
        },
    );
    assert!(
        net.node(HUB2)
            .instance
            .cache()
            .host(ip("10.0.0.11"))
            .is_none()
    );
    assert_eq!(net.node(S1).instance.nhs_states().len(), 1);

    // static-map: added, then removed.
    let map = StaticMap {
        protocol: ip("10.0.0.99"),
        nbma: ip("192.0.2.99"),
    };
    let added = map.clone();
    reconfigure(
        &mut net,
        S1,
        move |c| c.static_maps.push(added),
        Duration::from_secs(1),
        NOTHING,
    );
    let entry = net.node(S1).instance.cache().get(&host(map.protocol));
    assert_eq!(entry.map(|e| e.ty), Some(EntryType::Static));
    reconfigure(
        &mut net,
        S1,
        |c| c.static_maps.clear(),
        Duration::from_secs(1),
        Expect {
            removed: Some("10.0.0.99/32"),
            peer_down_at: None,
        },
    );
    let outputs = &net.node(S1).outputs;
    assert!(outputs.contains(&Output::BindingRemoved {
        protocol: map.protocol
    }));

    // multicast map: a static entry, then dynamic on the hub.
    reconfigure(
        &mut net,
        S1,
        |c| c.multicast_static.push(ip("192.0.2.77")),
        Duration::from_secs(1),
        NOTHING,
    );
    let nbma = ip("192.0.2.77");
    assert!(
        net.node(S1)
            .outputs
            .contains(&Output::MulticastAdded { nbma })
    );
    reconfigure(
        &mut net,
        HUB,
        |c| c.multicast_dynamic = true,
        Duration::from_secs(1),
        NOTHING,
    );
    for spoke in [S1, S2] {
        let nbma = ip(spoke);
        assert!(
            net.node(HUB)
                .outputs
                .contains(&Output::MulticastAdded { nbma })
        );
    }

    // shortcut off: a Traffic Indication no longer starts a resolution.
    reconfigure(
        &mut net,
        S1,
        |c| c.shortcut = false,
        Duration::from_secs(1),
        NOTHING,
    );
    let hairpin = DataPlaneEvent::Hairpin {
        from_nbma: ip(S1),
        packet: ipv4_header("172.16.1.1", "172.16.3.1"),
    };
    net.input(ip(HUB), Input::DataPlane(hairpin));
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    let resolutions = (net.trace.iter())
        .filter(|d| d.from == ip(S1) && d.summary.starts_with("Resolution Request"))
        .count();
    assert_eq!(resolutions, 0);
    assert_eq!(indications(&net), 1, "the hub did redirect");

    // The tunnel source (NBMA) moves: the hub holds s1 once, at the new one.
    net.renumber(ip(S1), ip("192.0.2.21"));
    reconfigure(
        &mut net,
        "192.0.2.21",
        |c| c.nbma = ip("192.0.2.21"),
        Duration::from_secs(1),
        Expect {
            removed: None,
            peer_down_at: Some(HUB),
        },
    );
    let hub = &net.node(HUB).instance;
    let s1: Vec<_> = (hub.cache().iter())
        .filter(|e| e.next_hop == ip("10.0.0.11"))
        .collect();
    assert_eq!(s1.len(), 1, "{s1:?}");
    assert_eq!(s1[0].nbma, Some(ip("192.0.2.21")));
}
