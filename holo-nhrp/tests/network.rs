//! Whole DMVPN clouds in memory: a hub and spokes wired together, run
//! deterministically.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use holo_nhrp::cache::EntryType;
use holo_nhrp::nhc::NhsStatus;
use holo_nhrp::sim::Network;
use holo_nhrp::{DataPlaneEvent, Input, InstanceConfig, NhsConfig};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const HUB: &str = "192.0.2.1";

fn hub() -> InstanceConfig {
    let mut c = InstanceConfig::new("10.0.0.1/24".parse().unwrap(), ip(HUB));
    c.redirect = true;
    c.authentication = Some(b"DMVPN".to_vec());
    c
}

fn spoke(n: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        format!("10.0.0.{}/24", 10 + n).parse().unwrap(),
        ip(&format!("192.0.2.{}", 10 + n)),
    );
    c.nhs = vec![NhsConfig {
        protocol: ip("10.0.0.1"),
        nbma: ip(HUB),
        priority: 0,
        cluster: 0,
    }];
    c.shortcut = true;
    c.authentication = Some(b"DMVPN".to_vec());
    c.local_prefixes = vec![format!("172.16.{n}.0/24").parse().unwrap()];
    c
}

fn cloud(seed: u64, spokes: u8) -> Network {
    let mut net = Network::new(seed);
    net.add(hub());
    for n in 1..=spokes {
        net.add(spoke(n));
    }
    net
}

#[test]
fn spokes_register_and_the_hub_learns_them() {
    let mut net = cloud(1, 3);
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    let hub = &net.node(HUB).instance;
    assert_eq!(hub.cache().count(EntryType::Dynamic), 3);
    let e = hub.cache().host(ip("10.0.0.12")).unwrap();
    assert_eq!(e.nbma, Some(ip("192.0.2.12")));
    for n in 1..=3 {
        let s = &net.node(&format!("192.0.2.{}", 10 + n)).instance;
        assert_eq!(s.nhs_states()[0].status, NhsStatus::Up);
    }
}

#[test]
fn phase3_redirect_resolves_a_shortcut_for_the_whole_lan() {
    let mut net = cloud(2, 2);
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    // The hub's routing protocol knows the spoke LANs.
    let routes = vec![
        ("172.16.1.0/24".parse().unwrap(), ip("10.0.0.11")),
        ("172.16.2.0/24".parse().unwrap(), ip("10.0.0.12")),
    ];
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)),
    );
    // Spoke 1 sends to 172.16.2.1 through the hub; the hub sees it hairpin.
    let packet = ipv4_header("172.16.1.1", "172.16.2.1");
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::Hairpin {
            from_nbma: ip("192.0.2.11"),
            packet,
        }),
    );
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    let s1 = &net.node("192.0.2.11").instance;
    let route = s1.cache().lookup(ip("172.16.2.1")).expect("shortcut");
    assert_eq!(route.ty, EntryType::Shortcut);
    assert_eq!(route.prefix, "172.16.2.0/24".parse().unwrap());
    assert_eq!(route.next_hop, ip("10.0.0.12"));
    assert_eq!(route.nbma, Some(ip("192.0.2.12")));
    let trace: Vec<&str> = net.trace.iter().map(|d| d.summary.as_str()).collect();
    assert!(
        trace.iter().any(|s| s.starts_with("Traffic Indication")),
        "{trace:#?}"
    );
}

fn ipv4_header(src: &str, dst: &str) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0];
    h.extend_from_slice(&src.parse::<std::net::Ipv4Addr>().unwrap().octets());
    h.extend_from_slice(&dst.parse::<std::net::Ipv4Addr>().unwrap().octets());
    h.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    h
}

#[test]
fn the_hub_multicast_map_follows_registrations() {
    use holo_nhrp::Output;
    let mut net = Network::new(3);
    let mut h = hub();
    h.multicast_dynamic = true;
    net.add(h);
    net.add(spoke(1));
    net.add(spoke(2));
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    let added: Vec<IpAddr> = net
        .node(HUB)
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::MulticastAdded { nbma } => Some(*nbma),
            _ => None,
        })
        .collect();
    assert_eq!(added, [ip("192.0.2.11"), ip("192.0.2.12")]);
    // A spoke's own map holds its NHS from the start.
    assert!(
        net.node("192.0.2.11")
            .outputs
            .contains(&Output::MulticastAdded { nbma: ip(HUB) })
    );

    // Spoke 2 goes away: its registration expires and it leaves the map.
    net.down.push(ip("192.0.2.12"));
    net.run_for(Duration::from_secs(7300), Duration::from_secs(10));
    assert!(
        net.node(HUB).outputs.contains(&Output::MulticastRemoved {
            nbma: ip("192.0.2.12")
        }),
        "expired peer leaves the multicast map"
    );
}

#[test]
fn a_used_shortcut_is_refreshed_and_an_idle_one_expires() {
    use holo_nhrp::packet::MessageType;
    let mut net = cloud(4, 2);
    for n in 1..=2u8 {
        let mut c = spoke(n);
        c.holding_time = 600;
        net.nodes.remove(&c.nbma);
        net.add(c);
    }
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    let s1 = ip("192.0.2.11");
    net.input(
        s1,
        Input::DataPlane(DataPlaneEvent::Miss {
            next_hop: ip("10.0.0.12"),
        }),
    );
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    let binding = "10.0.0.12/32".parse().unwrap();
    assert_eq!(
        net.node("192.0.2.11")
            .instance
            .cache()
            .get(&binding)
            .unwrap()
            .ty,
        EntryType::Shortcut
    );
    let sent = |net: &Network| {
        net.node("192.0.2.11")
            .instance
            .counters
            .sent(MessageType::ResolutionRequest)
    };
    let before = sent(&net);

    // Used: resolved again before the 600 s holding time runs out, and kept.
    net.input(
        s1,
        Input::DataPlane(DataPlaneEvent::Used { prefix: binding }),
    );
    net.run_for(Duration::from_secs(500), Duration::from_secs(1));
    assert_eq!(sent(&net), before + 1);
    assert!(
        net.node("192.0.2.11")
            .instance
            .cache()
            .get(&binding)
            .is_some()
    );

    // Idle from now on: it expires.
    net.run_for(Duration::from_secs(700), Duration::from_secs(1));
    assert!(
        net.node("192.0.2.11")
            .instance
            .cache()
            .get(&binding)
            .is_none()
    );
    assert_eq!(sent(&net), before + 1);
}
