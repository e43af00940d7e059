use rtnetlink::packet_route::address::AddressMessage;
use rtnetlink::packet_route::link::LinkMessage;

use super::*;

const UP: LinkFlags = LinkFlags::Up
    .union(LinkFlags::LowerUp)
    .union(LinkFlags::Running);

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

fn link(ifindex: u32, name: &str, flags: LinkFlags, mtu: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = ifindex;
    msg.header.flags = flags;
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg.attributes.push(LinkAttribute::Mtu(mtu));
    msg
}

/// An address message as the kernel sends it: IPv4 with IFA_LOCAL and
/// IFA_ADDRESS, IPv6 with IFA_ADDRESS only.
fn address(ifindex: u32, address: &str, scope: AddressScope) -> AddressMessage {
    let address = net(address);
    let mut msg = AddressMessage::default();
    msg.header.index = ifindex;
    msg.header.prefix_len = address.prefix();
    msg.header.scope = scope;
    msg.header.family = match address {
        IpNetwork::V4(_) => AddressFamily::Inet,
        IpNetwork::V6(_) => AddressFamily::Inet6,
    };
    msg.attributes.push(AddressAttribute::Address(address.ip()));
    if address.is_ipv4() {
        msg.attributes.push(AddressAttribute::Local(address.ip()));
    }
    msg
}

fn interface(ifindex: u32, name: &str, up: bool, addresses: &[&str]) -> Interface {
    Interface {
        name: name.to_string(),
        ifindex,
        admin_up: up,
        carrier: up,
        oper_up: up,
        mtu: 1500,
        addresses: addresses
            .iter()
            .map(|a| InterfaceAddress {
                address: net(a),
                peer: None,
                scope: AddressScope::Universe,
                secondary: false,
            })
            .collect(),
    }
}

fn down(reason: &str) -> SourceState {
    SourceState::Down {
        reason: reason.to_string(),
    }
}

#[test]
fn links_and_addresses_follow_new_and_deleted_messages() {
    let mut interfaces = Interfaces::default();
    let eth0 = RouteNetlinkMessage::NewLink(link(2, "eth0", UP, 1500));
    assert!(interfaces.apply(&eth0));
    assert!(!interfaces.apply(&eth0), "no change the second time");
    let a = address(2, "192.0.2.1/24", AddressScope::Universe);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(a.clone())));
    assert!(!interfaces.apply(&RouteNetlinkMessage::NewAddress(a.clone())));
    let v6 = address(2, "2001:db8::1/64", AddressScope::Universe);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(v6)));
    let eth0 = interfaces.by_name("eth0").unwrap();
    assert_eq!((eth0.ifindex, eth0.mtu, eth0.is_up()), (2, 1500, true));
    assert_eq!(
        eth0.addresses.iter().map(|a| a.address).collect::<Vec<_>>(),
        vec![net("192.0.2.1/24"), net("2001:db8::1/64")]
    );

    // A link message (MTU, flags) keeps the addresses.
    let changed = link(2, "eth0", LinkFlags::Up, 9000);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewLink(changed)));
    let eth0 = interfaces.get(2).unwrap();
    assert_eq!(
        (eth0.mtu, eth0.carrier, eth0.addresses.len()),
        (9000, false, 2)
    );

    assert!(interfaces.apply(&RouteNetlinkMessage::DelAddress(a.clone())));
    assert!(!interfaces.apply(&RouteNetlinkMessage::DelAddress(a)));
    assert_eq!(interfaces.get(2).unwrap().addresses.len(), 1);
    let gone = RouteNetlinkMessage::DelLink(link(2, "eth0", LinkFlags::empty(), 0));
    assert!(interfaces.apply(&gone));
    assert_eq!(interfaces.iter().count(), 0);
}

#[test]
fn a_renamed_link_keeps_its_ifindex_and_addresses() {
    let mut interfaces = Interfaces::default();
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(3, "eth1", UP, 1500)));
    let a = address(3, "198.51.100.2/24", AddressScope::Universe);
    interfaces.apply(&RouteNetlinkMessage::NewAddress(a));
    let mut renamed = link(3, "wan0", UP, 1500);
    // Later notifications may leave attributes out: the known ones stay.
    renamed
        .attributes
        .retain(|a| matches!(a, LinkAttribute::IfName(_)));
    assert!(interfaces.apply(&RouteNetlinkMessage::NewLink(renamed)));
    assert!(interfaces.by_name("eth1").is_none());
    let wan0 = interfaces.by_name("wan0").unwrap();
    assert_eq!((wan0.ifindex, wan0.mtu, wan0.addresses.len()), (3, 1500, 1));
}

/// A bridge tells about its ports on RTNLGRP_LINK with AF_BRIDGE; an
/// RTM_DELLINK there means the port left the bridge, not that it is gone.
#[test]
fn bridge_port_messages_do_not_remove_the_interface() {
    let mut interfaces = Interfaces::default();
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(4, "eth2", UP, 1500)));
    let mut port = link(4, "eth2", LinkFlags::empty(), 1500);
    port.header.interface_family = AddressFamily::Bridge;
    assert!(!interfaces.apply(&RouteNetlinkMessage::NewLink(port.clone())));
    assert!(!interfaces.apply(&RouteNetlinkMessage::DelLink(port)));
    assert!(interfaces.get(4).unwrap().is_up());
}

#[test]
fn addresses_of_unknown_links_and_broken_messages_are_ignored() {
    let mut interfaces = Interfaces::default();
    let orphan = address(9, "192.0.2.1/24", AddressScope::Universe);
    assert!(!interfaces.apply(&RouteNetlinkMessage::NewAddress(orphan)));
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(2, "eth0", UP, 1500)));
    let mut impossible = address(2, "192.0.2.1/24", AddressScope::Universe);
    impossible.header.prefix_len = 33;
    assert!(!interfaces.apply(&RouteNetlinkMessage::NewAddress(impossible)));
    let mut empty = address(2, "192.0.2.1/24", AddressScope::Universe);
    empty.attributes.clear();
    assert!(!interfaces.apply(&RouteNetlinkMessage::NewAddress(empty)));
    let mut nameless = link(5, "x", UP, 1500);
    nameless.attributes.clear();
    assert!(!interfaces.apply(&RouteNetlinkMessage::NewLink(nameless)));
    assert!(interfaces.get(2).unwrap().addresses.is_empty());
    assert!(interfaces.get(5).is_none());
}

/// The kernel re-announces an address whose flags changed (a promoted
/// secondary, an IPv6 address past DAD): the same address, replaced in
/// place.
#[test]
fn a_changed_address_replaces_the_old_one() {
    let mut interfaces = Interfaces::default();
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(2, "eth0", UP, 1500)));
    let mut secondary = address(2, "192.0.2.2/24", AddressScope::Universe);
    secondary.header.flags = AddressHeaderFlags::Secondary;
    interfaces.apply(&RouteNetlinkMessage::NewAddress(secondary));
    assert!(interfaces.get(2).unwrap().addresses[0].secondary);
    let promoted = address(2, "192.0.2.2/24", AddressScope::Universe);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(promoted)));
    assert_eq!(interfaces.get(2).unwrap().addresses.len(), 1);
    assert!(!interfaces.get(2).unwrap().addresses[0].secondary);
    // IPv4: another prefix length is another address.
    let wider = address(2, "192.0.2.2/16", AddressScope::Universe);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(wider)));
    assert_eq!(interfaces.get(2).unwrap().addresses.len(), 2);
    // IPv6: the address alone tells them apart.
    let v6 = address(2, "2001:db8::1/64", AddressScope::Universe);
    interfaces.apply(&RouteNetlinkMessage::NewAddress(v6));
    let v6 = address(2, "2001:db8::1/56", AddressScope::Universe);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(v6)));
    let addresses = &interfaces.get(2).unwrap().addresses;
    assert_eq!(addresses.len(), 3);
    assert_eq!(addresses[2].address, net("2001:db8::1/56"));
}

#[test]
fn a_point_to_point_address_keeps_its_peer() {
    let mut msg = address(6, "10.1.1.1/32", AddressScope::Universe);
    msg.attributes = vec![
        AddressAttribute::Local("10.1.1.1".parse().unwrap()),
        AddressAttribute::Address("10.9.0.0".parse().unwrap()),
    ];
    msg.header.prefix_len = 16;
    let a = InterfaceAddress::from_message(&msg).unwrap();
    assert_eq!(a.address, net("10.1.1.1/16"));
    assert_eq!(a.peer, Some("10.9.0.0".parse().unwrap()));
    assert_eq!(a.prefix_address(), "10.9.0.0".parse::<IpAddr>().unwrap());
    let mut interfaces = Interfaces::default();
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(6, "ppp0", UP, 1492)));
    interfaces.apply(&RouteNetlinkMessage::NewAddress(msg));
    // The subnet behind a point-to-point address is the peer's.
    let nbma = "192.0.2.1".parse().unwrap();
    assert_eq!(
        local_prefixes(&interfaces, "dmvpn0", nbma),
        vec![net("10.9.0.0/16")]
    );
}

#[test]
fn a_clone_is_a_snapshot() {
    let mut interfaces = Interfaces::default();
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(2, "eth0", UP, 1500)));
    let snapshot = interfaces.clone();
    assert_eq!(snapshot, interfaces);
    interfaces.apply(&RouteNetlinkMessage::NewAddress(address(
        2,
        "192.0.2.1/24",
        AddressScope::Universe,
    )));
    assert_ne!(snapshot, interfaces);
    assert!(snapshot.get(2).unwrap().addresses.is_empty());
}

#[test]
fn a_source_interface_needs_to_be_up_with_a_global_ipv4_address() {
    let eth1 = Source::Interface("eth1".to_string());
    assert_eq!(
        source_state(&Interfaces::default(), &eth1),
        down("no interface eth1")
    );
    let mut admin_down = interface(3, "eth1", true, &["192.0.2.2/24"]);
    admin_down.admin_up = false;
    let mut no_carrier = interface(3, "eth1", true, &["192.0.2.2/24"]);
    no_carrier.carrier = false;
    let mut dormant = interface(3, "eth1", true, &["192.0.2.2/24"]);
    dormant.oper_up = false;
    for (interface, reason) in [
        (admin_down, "eth1 is administratively down"),
        (no_carrier, "eth1 is down (no carrier)"),
        (dormant, "eth1 is down (not operational)"),
        (interface(3, "eth1", true, &[]), "eth1 has no IPv4 address"),
        (
            interface(3, "eth1", true, &["2001:db8::2/64"]),
            "eth1 has no IPv4 address",
        ),
    ] {
        let interfaces = Interfaces::from_iter([interface]);
        assert_eq!(source_state(&interfaces, &eth1), down(reason));
    }

    // lo: 127.0.0.1 (scope host) first, then a global /32, a secondary
    // first in another subnet: the first primary global one is the source.
    let mut lo = interface(
        1,
        "lo",
        true,
        &["127.0.0.1/8", "10.0.0.3/24", "192.0.2.9/32"],
    );
    lo.addresses[0].scope = AddressScope::Host;
    lo.addresses[1].secondary = true;
    lo.mtu = 65_536;
    let interfaces = Interfaces::from_iter([lo.clone()]);
    assert_eq!(
        source_state(&interfaces, &Source::Interface("lo".to_string())),
        SourceState::Up {
            address: "192.0.2.9".parse().unwrap(),
            interface: "lo".to_string(),
            mtu: 65_536,
        }
    );
    lo.addresses.truncate(1);
    let interfaces = Interfaces::from_iter([lo]);
    assert_eq!(
        source_state(&interfaces, &Source::Interface("lo".to_string())),
        down("lo has no IPv4 address of global scope")
    );
}

#[test]
fn a_source_address_needs_an_interface_that_holds_it_and_is_up() {
    let source = Source::Address("192.0.2.2".parse().unwrap());
    let other = interface(2, "eth0", true, &["198.51.100.1/24"]);
    let interfaces = Interfaces::from_iter([other.clone()]);
    assert_eq!(
        source_state(&interfaces, &source),
        down("no interface has 192.0.2.2")
    );
    let mut eth1 = interface(3, "eth1", true, &["192.0.2.2/24"]);
    eth1.carrier = false;
    let interfaces = Interfaces::from_iter([other.clone(), eth1.clone()]);
    assert_eq!(
        source_state(&interfaces, &source),
        down("192.0.2.2 is on eth1, which is down (no carrier)")
    );
    // The same address on an interface that is up will do.
    let mut eth2 = interface(4, "eth2", true, &["192.0.2.2/32"]);
    eth2.mtu = 1400;
    let interfaces = Interfaces::from_iter([other, eth1, eth2]);
    assert_eq!(
        source_state(&interfaces, &source),
        SourceState::Up {
            address: "192.0.2.2".parse().unwrap(),
            interface: "eth2".to_string(),
            mtu: 1400,
        }
    );
}

/// What routes.rs's `local_prefixes` always did: global IPv4 subnets of
/// every interface but the tunnel, without the underlay's, each once,
/// sorted; down interfaces count.
#[test]
fn local_prefixes_are_the_other_interfaces_global_ipv4_subnets() {
    let mut lo = interface(1, "lo", true, &["127.0.0.1/8", "172.16.9.1/32"]);
    lo.addresses[0].scope = AddressScope::Host;
    let eth0 = interface(2, "eth0", true, &["192.0.2.11/24", "2001:db8::11/64"]);
    let mut lan0 = interface(3, "lan0", false, &["172.16.1.1/24", "172.16.1.2/24"]);
    lan0.addresses.push(InterfaceAddress {
        address: net("169.254.1.1/16"),
        peer: None,
        scope: AddressScope::Link,
        secondary: false,
    });
    let lan1 = interface(4, "lan1", true, &["172.16.0.77/25"]);
    let tunnel = interface(5, "dmvpn0", true, &["10.0.0.11/24"]);
    let interfaces = Interfaces::from_iter([lo, eth0, lan0, lan1, tunnel]);
    assert_eq!(
        local_prefixes(&interfaces, "dmvpn0", "192.0.2.11".parse().unwrap()),
        vec![
            net("172.16.0.0/25"),
            net("172.16.1.0/24"),
            net("172.16.9.1/32")
        ]
    );
    // Without a tunnel interface of that name, nothing is left out for it.
    let all = local_prefixes(&interfaces, "dmvpn9", "192.0.2.11".parse().unwrap());
    assert!(all.contains(&net("10.0.0.0/24")), "{all:?}");
}

/// The kernel dumps an IPv6 address during DAD (flag tentative) but sends
/// RTM_NEWADDR only when DAD is over: both must give the same snapshot.
#[test]
fn ipv6_addresses_in_dad_are_left_out() {
    let mut interfaces = Interfaces::default();
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(2, "eth0", UP, 1500)));
    let mut tentative = address(2, "fe80::1/64", AddressScope::Link);
    tentative.header.flags = AddressHeaderFlags::Tentative;
    assert!(!interfaces.apply(&RouteNetlinkMessage::NewAddress(tentative.clone())));
    assert!(interfaces.get(2).unwrap().addresses.is_empty());
    // DAD over: the notification without the flag.
    let done = address(2, "fe80::1/64", AddressScope::Link);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(done)));
    // DAD failed: out again (the flag may come in IFA_FLAGS only).
    let mut failed = address(2, "fe80::1/64", AddressScope::Link);
    failed.attributes.push(AddressAttribute::Flags(
        AddressFlags::Tentative | AddressFlags::Dadfailed,
    ));
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(failed)));
    assert!(interfaces.get(2).unwrap().addresses.is_empty());
    // Optimistic DAD (RFC 4429): usable while tentative.
    tentative.attributes.push(AddressAttribute::Flags(
        AddressFlags::Tentative | AddressFlags::Optimistic,
    ));
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(tentative)));
    assert_eq!(interfaces.get(2).unwrap().addresses.len(), 1);
}

/// A dump lists IPv4 then IPv6 addresses, notifications come as they
/// happen: the snapshot must not depend on which, or a new dump would look
/// like a change.
#[test]
fn the_address_order_does_not_depend_on_their_arrival() {
    let mut lo_host = address(1, "127.0.0.1/8", AddressScope::Host);
    lo_host.header.scope = AddressScope::Host;
    let global = address(1, "192.0.2.9/32", AddressScope::Universe);
    let second_global = address(1, "198.51.100.9/32", AddressScope::Universe);
    let v6 = address(1, "2001:db8::9/128", AddressScope::Universe);
    let v6_host = address(1, "::1/128", AddressScope::Host);
    // The kernel's order: a host-scope primary before global ones, each
    // scope in the order added; IPv6 after IPv4.
    let dumped = [&lo_host, &global, &second_global, &v6_host, &v6];
    let notified = [&v6, &global, &v6_host, &lo_host, &second_global];
    let snapshot = |messages: &[&AddressMessage]| {
        let mut interfaces = Interfaces::default();
        interfaces.apply(&RouteNetlinkMessage::NewLink(link(1, "lo", UP, 65_536)));
        for msg in messages {
            interfaces.apply(&RouteNetlinkMessage::NewAddress((*msg).clone()));
        }
        interfaces
    };
    let (dumped, notified) = (snapshot(&dumped), snapshot(&notified));
    assert_eq!(dumped, notified);
    let order: Vec<_> = dumped
        .get(1)
        .unwrap()
        .addresses
        .iter()
        .map(|a| a.address)
        .collect();
    assert_eq!(
        order,
        [
            net("127.0.0.1/8"),
            net("192.0.2.9/32"),
            net("198.51.100.9/32"),
            net("::1/128"),
            net("2001:db8::9/128")
        ]
    );
    assert_eq!(
        dumped.get(1).unwrap().ipv4(),
        Some("192.0.2.9".parse().unwrap())
    );
}

/// When a primary goes, the kernel may promote a secondary of its subnet
/// (RTM_DELADDR, then RTM_NEWADDR without the flag): it moves among the
/// primaries, ahead of the remaining secondaries.
#[test]
fn a_promoted_secondary_joins_the_primaries() {
    let mut interfaces = Interfaces::default();
    interfaces.apply(&RouteNetlinkMessage::NewLink(link(2, "eth0", UP, 1500)));
    let primary = address(2, "192.0.2.1/24", AddressScope::Universe);
    let secondary = |a: &str| {
        let mut msg = address(2, a, AddressScope::Universe);
        msg.header.flags = AddressHeaderFlags::Secondary;
        msg
    };
    for msg in [
        primary.clone(),
        secondary("192.0.2.2/24"),
        secondary("192.0.2.3/24"),
    ] {
        interfaces.apply(&RouteNetlinkMessage::NewAddress(msg));
    }
    interfaces.apply(&RouteNetlinkMessage::NewAddress(address(
        2,
        "198.51.100.1/24",
        AddressScope::Universe,
    )));
    interfaces.apply(&RouteNetlinkMessage::DelAddress(primary));
    let promoted = address(2, "192.0.2.3/24", AddressScope::Universe);
    assert!(interfaces.apply(&RouteNetlinkMessage::NewAddress(promoted)));
    let eth0 = interfaces.get(2).unwrap();
    let order: Vec<_> = eth0
        .addresses
        .iter()
        .map(|a| (a.address, a.secondary))
        .collect();
    assert_eq!(
        order,
        [
            (net("198.51.100.1/24"), false),
            (net("192.0.2.3/24"), false),
            (net("192.0.2.2/24"), true)
        ]
    );
    assert_eq!(eth0.ipv4(), Some("198.51.100.1".parse().unwrap()));
}
