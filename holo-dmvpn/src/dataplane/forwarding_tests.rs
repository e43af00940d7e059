use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

/// An IPv4 header (no options) and 8 bytes of payload.
fn ipv4(src: &str, dst: &str) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0];
    for a in [src, dst] {
        let IpAddr::V4(a) = ip(a) else { panic!() };
        p.extend_from_slice(&a.octets());
    }
    p.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    p
}

fn spoke() -> Forwarding {
    let mut f = Forwarding::new(ForwardingConfig {
        tunnel: net("10.0.0.11/24"),
        key: None,
        nhs: vec![ip("10.0.0.1")],
        redirect: false,
    });
    f.apply(&Output::BindingAdded {
        protocol: ip("10.0.0.1"),
        nbma: ip("192.0.2.1"),
    });
    f.set_tunnel_routes(&[(net("172.16.0.0/16"), ip("10.0.0.1"))]);
    f
}

fn hub() -> Forwarding {
    let mut f = Forwarding::new(ForwardingConfig {
        tunnel: net("10.0.0.1/24"),
        key: None,
        nhs: vec![],
        redirect: true,
    });
    for (p, n) in [("10.0.0.11", "192.0.2.11"), ("10.0.0.12", "192.0.2.12")] {
        f.apply(&Output::BindingAdded {
            protocol: ip(p),
            nbma: ip(n),
        });
    }
    f.set_tunnel_routes(&[
        (net("172.16.1.0/24"), ip("10.0.0.11")),
        (net("172.16.2.0/24"), ip("10.0.0.12")),
    ]);
    f
}

#[test]
fn longest_prefix_wins_and_nhrp_routes_beat_kernel_routes_of_equal_length() {
    let mut f = spoke();
    assert_eq!(f.route(ip("172.16.2.1")).unwrap().next_hop, ip("10.0.0.1"));
    f.apply(&Output::RouteAdded {
        prefix: net("172.16.2.0/24"),
        next_hop: ip("10.0.0.12"),
    });
    let r = f.route(ip("172.16.2.1")).unwrap();
    assert_eq!(r.next_hop, ip("10.0.0.12"));
    assert_eq!(r.nhrp_prefix, Some(net("172.16.2.0/24")));
    // Other destinations keep the summary.
    assert_eq!(f.route(ip("172.16.3.1")).unwrap().next_hop, ip("10.0.0.1"));
    f.set_tunnel_routes(&[
        (net("172.16.0.0/16"), ip("10.0.0.1")),
        (net("172.16.2.0/24"), ip("10.0.0.99")),
    ]);
    assert_eq!(f.route(ip("172.16.2.1")).unwrap().next_hop, ip("10.0.0.12"));
    f.apply(&Output::RouteRemoved {
        prefix: net("172.16.2.0/24"),
    });
    assert_eq!(f.route(ip("172.16.2.1")).unwrap().next_hop, ip("10.0.0.99"));
    // Off the tunnel and off every route: nothing.
    assert_eq!(f.route(ip("198.51.100.1")), None);
}

#[test]
fn tunnel_subnet_is_on_link() {
    let f = spoke();
    let r = f.route(ip("10.0.0.12")).unwrap();
    assert_eq!(r.next_hop, ip("10.0.0.12"));
    assert_eq!(r.nhrp_prefix, None);
}

#[test]
fn bound_next_hop_goes_straight_to_its_nbma() {
    let mut f = spoke();
    f.apply(&Output::BindingAdded {
        protocol: ip("10.0.0.12"),
        nbma: ip("192.0.2.12"),
    });
    let out = f.outbound(&ipv4("10.0.0.11", "10.0.0.12"), Instant::now());
    assert_eq!(out.decision, Decision::Unicast(ip("192.0.2.12")));
    assert!(out.events.is_empty());
    assert_eq!(f.nbma_for(ip("10.0.0.12")), Some(ip("192.0.2.12")));
    f.apply(&Output::BindingRemoved {
        protocol: ip("10.0.0.12"),
    });
    assert_eq!(f.nbma_for(ip("10.0.0.12")), None);
}

#[test]
fn miss_goes_via_the_nhs_and_is_reported_once_per_interval() {
    let mut f = spoke();
    let now = Instant::now();
    let pkt = ipv4("10.0.0.11", "10.0.0.12");
    let out = f.outbound(&pkt, now);
    assert_eq!(out.decision, Decision::Unicast(ip("192.0.2.1")));
    let miss = DataPlaneEvent::Miss {
        next_hop: ip("10.0.0.12"),
    };
    assert_eq!(out.events, vec![miss.clone()]);
    assert!(f.outbound(&pkt, now + MISS_INTERVAL / 2).events.is_empty());
    assert_eq!(f.outbound(&pkt, now + MISS_INTERVAL).events, vec![miss]);
}

#[test]
fn miss_without_nhs_is_dropped_and_still_reported() {
    let mut f = hub();
    let out = f.outbound(&ipv4("10.0.0.1", "10.0.0.13"), Instant::now());
    assert_eq!(out.decision, Decision::Drop(DropReason::NoBinding));
    assert_eq!(
        out.events,
        vec![DataPlaneEvent::Miss {
            next_hop: ip("10.0.0.13")
        }]
    );
    let out = f.outbound(&ipv4("10.0.0.1", "198.51.100.1"), Instant::now());
    assert_eq!(out.decision, Decision::Drop(DropReason::NoRoute));
}

#[test]
fn multicast_and_broadcast_are_replicated_to_the_multicast_map() {
    let mut f = spoke();
    let now = Instant::now();
    let hello = ipv4("10.0.0.11", "224.0.0.5");
    assert_eq!(
        f.outbound(&hello, now).decision,
        Decision::Drop(DropReason::NoMulticastPeers)
    );
    for n in ["192.0.2.1", "192.0.2.2"] {
        f.apply(&Output::MulticastAdded { nbma: ip(n) });
    }
    let both = Decision::Replicate(vec![ip("192.0.2.1"), ip("192.0.2.2")]);
    assert_eq!(f.outbound(&hello, now).decision, both);
    let subnet_broadcast = ipv4("10.0.0.11", "10.0.0.255");
    assert_eq!(f.outbound(&subnet_broadcast, now).decision, both);
    f.apply(&Output::MulticastRemoved {
        nbma: ip("192.0.2.2"),
    });
    assert_eq!(
        f.outbound(&ipv4("10.0.0.11", "255.255.255.255"), now)
            .decision,
        Decision::Replicate(vec![ip("192.0.2.1")])
    );
}

#[test]
fn hub_reports_a_hairpin_with_the_packet_head() {
    let mut f = hub();
    let now = Instant::now();
    let pkt = ipv4("172.16.1.1", "172.16.2.1");
    let out = f.outbound(&pkt, now);
    assert_eq!(out.decision, Decision::Unicast(ip("192.0.2.12")));
    assert_eq!(
        out.events,
        vec![DataPlaneEvent::Hairpin {
            from_nbma: ip("192.0.2.11"),
            packet: pkt.clone(),
        }]
    );
    // Rate-limited per flow.
    assert!(f.outbound(&pkt, now).events.is_empty());
    assert_eq!(f.outbound(&pkt, now + HAIRPIN_INTERVAL).events.len(), 1);
}

#[test]
fn no_hairpin_for_own_traffic_same_peer_or_without_redirect() {
    let mut f = hub();
    let now = Instant::now();
    // The hub's own traffic has no binding for its source.
    assert!(
        f.outbound(&ipv4("10.0.0.1", "172.16.2.1"), now)
            .events
            .is_empty()
    );
    // In and out towards the same peer is no hairpin.
    assert!(
        f.outbound(&ipv4("10.0.0.12", "172.16.2.1"), now)
            .events
            .is_empty()
    );
    let mut spoke = spoke();
    spoke.apply(&Output::BindingAdded {
        protocol: ip("10.0.0.12"),
        nbma: ip("192.0.2.12"),
    });
    // A spoke (redirect off) whose source routes via the hub: no event.
    assert!(
        spoke
            .outbound(&ipv4("172.16.9.9", "10.0.0.12"), now)
            .events
            .is_empty()
    );
}

#[test]
fn used_shortcut_is_reported_once_per_interval() {
    let mut f = spoke();
    let now = Instant::now();
    f.apply(&Output::RouteAdded {
        prefix: net("172.16.2.0/24"),
        next_hop: ip("10.0.0.12"),
    });
    f.apply(&Output::BindingAdded {
        protocol: ip("10.0.0.12"),
        nbma: ip("192.0.2.12"),
    });
    let pkt = ipv4("172.16.1.1", "172.16.2.1");
    let out = f.outbound(&pkt, now);
    assert_eq!(out.decision, Decision::Unicast(ip("192.0.2.12")));
    let used = DataPlaneEvent::Used {
        prefix: net("172.16.2.0/24"),
    };
    assert_eq!(out.events, vec![used]);
    assert!(f.outbound(&pkt, now).events.is_empty());
}

#[test]
fn malformed_packets_are_dropped() {
    let mut f = spoke();
    let now = Instant::now();
    for bad in [&[][..], &[0x45, 0, 0][..], &[0x10; 40][..], &[0x44; 20][..]] {
        assert_eq!(
            f.outbound(bad, now).decision,
            Decision::Drop(DropReason::Malformed),
            "{bad:?}"
        );
    }
}

#[test]
fn ipv6_destinations_use_the_same_table() {
    let mut f = Forwarding::new(ForwardingConfig {
        tunnel: net("fd00::11/64"),
        key: None,
        nhs: vec![],
        redirect: false,
    });
    f.apply(&Output::BindingAdded {
        protocol: ip("fd00::12"),
        nbma: ip("192.0.2.12"),
    });
    let mut pkt = vec![0x60, 0, 0, 0, 0, 0, 58, 64];
    pkt.extend_from_slice(&"fd00::11".parse::<std::net::Ipv6Addr>().unwrap().octets());
    pkt.extend_from_slice(&"fd00::12".parse::<std::net::Ipv6Addr>().unwrap().octets());
    let out = f.outbound(&pkt, Instant::now());
    assert_eq!(out.decision, Decision::Unicast(ip("192.0.2.12")));
    assert_eq!(gre_protocol(&pkt), Some(GreProtocol::IPV6));
}

fn gre(key: Option<u32>, protocol: GreProtocol, payload: &[u8]) -> Vec<u8> {
    GreRepr::tunnel(key, protocol).emit(payload)
}

#[test]
fn inbound_gre_is_classified_by_protocol() {
    let nhrp = gre(Some(7), GreProtocol::NHRP, b"nhrp");
    assert_eq!(classify_inbound(&nhrp, Some(7)), Inbound::Nhrp(b"nhrp"));
    let data = gre(Some(7), GreProtocol::IPV4, b"ip");
    assert_eq!(classify_inbound(&data, Some(7)), Inbound::Ip(b"ip"));
    let data = gre(Some(7), GreProtocol::IPV6, b"ip6");
    assert_eq!(classify_inbound(&data, Some(7)), Inbound::Ip(b"ip6"));
    let other = gre(Some(7), GreProtocol(0x6558), b"eth");
    assert_eq!(
        classify_inbound(&other, Some(7)),
        Inbound::Drop(DropReason::UnknownProtocol)
    );
    assert_eq!(
        classify_inbound(&[0x00, 0x01, 0x08], Some(7)),
        Inbound::Drop(DropReason::BadGre)
    );
}

#[test]
fn wrong_missing_or_unexpected_key_is_dropped() {
    let wrong = gre(Some(8), GreProtocol::IPV4, b"ip");
    assert_eq!(
        classify_inbound(&wrong, Some(7)),
        Inbound::Drop(DropReason::WrongKey)
    );
    let missing = gre(None, GreProtocol::IPV4, b"ip");
    assert_eq!(
        classify_inbound(&missing, Some(7)),
        Inbound::Drop(DropReason::WrongKey)
    );
    let unexpected = gre(Some(7), GreProtocol::NHRP, b"nhrp");
    assert_eq!(
        classify_inbound(&unexpected, None),
        Inbound::Drop(DropReason::WrongKey)
    );
}

#[test]
fn a_packet_claiming_our_tunnel_address_is_recognized() {
    let own: IpAddr = "10.0.0.11".parse().unwrap();
    let mut v4 = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0];
    v4.extend_from_slice(&[10, 0, 0, 11, 10, 0, 0, 12]);
    assert!(claims_source(&v4, own));
    v4[15] = 99;
    assert!(!claims_source(&v4, own));
    assert!(!claims_source(&[0x45], own));
    let own6: IpAddr = "2001:db8::1".parse().unwrap();
    let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
    v6.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v6.extend_from_slice(&[0; 16]);
    assert!(claims_source(&v6, own6));
}
