//! Issue 6, "Spokes behind NAT": a shortcut towards a spoke behind a
//! masquerading NAT is only used once the direct path is shown to work;
//! until then traffic stays on the hub path. FRR 8.4 installs such a
//! shortcut at once and black-holes the traffic (the NAT has no mapping and
//! answers ICMP unreachable, which NHRP never sees); we must not.
//!
//! Spoke 1 (192.0.2.11) sits behind a masquerading NAT that shows it as
//! 198.51.100.11; spoke 2 (192.0.2.12) is not behind NAT.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{HUB, STEP, ip, ipv4_header, miss, secs, spoke};
use holo_nhrp::cache::{EntryType, NatPath};
use holo_nhrp::sim::Network;
use holo_nhrp::{DataPlaneEvent, Input, InstanceConfig, Output};

const NATED: &str = "192.0.2.11";
const PUBLIC: &str = "198.51.100.11";
const OTHER: &str = "192.0.2.12";

/// The hub of these tests redirects (Phase 3).
fn hub() -> InstanceConfig {
    InstanceConfig {
        redirect: true,
        ..common::hub(1)
    }
}

/// Hub, spoke 1 behind a masquerading NAT, spoke 2; registered.
fn cloud(seed: u64, holding_time: u16) -> Network {
    let mut net = Network::new(seed);
    net.add(hub());
    for n in 1..=2 {
        let mut s = spoke(n);
        s.holding_time = holding_time;
        net.add(s);
    }
    net.nat.insert(ip(NATED), ip(PUBLIC));
    net.masquerade.insert(ip(NATED));
    net.run_for(secs(5), STEP);
    assert_eq!(
        net.node(NATED).instance.nhs_states()[0].seen_as,
        Some(ip(PUBLIC)),
        "spoke 1 learnt its public address from the hub"
    );
    net
}

/// The request id in a packet summary ("... id 7 ...").
fn summary_id(summary: &str) -> Option<&str> {
    summary.split(" id ").nth(1)?.split(' ').next()
}

/// Like `Network::run_for`, but the NATed spoke answers Resolution
/// Requests that reached it through the hub back through the hub instead of
/// straight to spoke 2 (as FRR's nhrpd does): its NAT gets no mapping for
/// spoke 2 from them, and spoke 2 gets them from the hub. Requests that
/// came straight (probes) are answered straight.
fn run_relaying(net: &mut Network, total: Duration) {
    let end = net.now + total;
    let mut relayed: Vec<String> = vec![];
    loop {
        while let Some(d) = net.in_flight.front_mut() {
            let id = summary_id(&d.summary).map(str::to_owned);
            if d.from == ip(HUB)
                && d.to == ip(PUBLIC)
                && d.summary.starts_with("Resolution Request")
            {
                relayed.extend(id);
            } else if d.from == ip(PUBLIC)
                && d.to == ip(OTHER)
                && d.summary.starts_with("Resolution Reply")
                && id.is_some_and(|id| relayed.contains(&id))
            {
                d.to = ip(HUB);
            }
            net.deliver_one();
        }
        if net.now >= end {
            break;
        }
        net.now += STEP;
        let now = net.now;
        let due: Vec<IpAddr> = net
            .nodes
            .iter()
            .filter(|(_, n)| n.instance.next_wakeup().is_some_and(|t| t <= now))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in due {
            net.input(ip, Input::Tick);
        }
    }
}

/// What spoke 2 told its data plane about spoke 1 (bindings and routes via
/// it), in order.
fn installs_towards_nated(net: &Network) -> Vec<Output> {
    net.node(OTHER)
        .outputs
        .iter()
        .filter(|o| match o {
            Output::BindingAdded { protocol, .. } | Output::BindingRemoved { protocol } => {
                *protocol == ip("10.0.0.11")
            }
            Output::RouteAdded { next_hop, .. } => *next_hop == ip("10.0.0.11"),
            Output::RouteRemoved { prefix } => prefix.contains(ip("172.16.1.1")),
            _ => false,
        })
        .cloned()
        .collect()
}

/// Probes spoke 2 sent straight to the NATed spoke's public address.
fn probes_on_wire(net: &Network) -> usize {
    net.node(OTHER)
        .outputs
        .iter()
        .filter(|o| {
            matches!(o, Output::Send { to, summary, .. }
                if *to == ip(PUBLIC) && summary.starts_with("Resolution Request"))
        })
        .count()
}

#[test]
fn a_shortcut_to_a_nated_spoke_without_mapping_is_not_used_until_proven() {
    let mut net = cloud(61, 7200);
    // Phase 3: spoke 2 sends to spoke 1's LAN through the hub.
    let routes = vec![
        ("172.16.1.0/24".parse().unwrap(), ip("10.0.0.11")),
        ("172.16.2.0/24".parse().unwrap(), ip("10.0.0.12")),
    ];
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)),
    );
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::Hairpin {
            from_nbma: ip(OTHER),
            packet: ipv4_header("172.16.2.1", "172.16.1.1"),
        }),
    );
    run_relaying(&mut net, secs(2));

    // Resolved, with the address the NAT shows, but not installed: the data
    // plane keeps sending through the hub.
    let s2 = &net.node(OTHER).instance;
    let route = s2.cache().lookup(ip("172.16.1.1")).unwrap();
    assert_eq!(route.ty, EntryType::Shortcut);
    assert_eq!(route.prefix, "172.16.1.0/24".parse().unwrap());
    assert_eq!(route.nat_path, NatPath::Pending);
    let binding = s2.cache().host(ip("10.0.0.11")).unwrap();
    assert_eq!(binding.nbma, Some(ip(PUBLIC)));
    assert_eq!(binding.claimed_nbma, Some(ip(NATED)));
    assert_eq!(binding.nat_path, NatPath::Pending);
    assert_eq!(installs_towards_nated(&net), []);
    // The probe went straight to the public address and the NAT dropped it.
    assert!(s2.counters.nat.probes_sent >= 1);
    assert!(
        net.nat_drops
            .iter()
            .any(|d| d.from == ip(OTHER) && d.to == ip(PUBLIC))
    );

    // The series runs out: negative entries keep traffic on the hub path
    // and stop re-resolution for a while.
    run_relaying(&mut net, secs(20));
    let s2 = &net.node(OTHER).instance;
    assert_eq!(s2.counters.nat.probes_sent, 4);
    assert_eq!(probes_on_wire(&net), 4);
    assert_eq!(s2.counters.nat.give_ups, 1);
    assert_eq!(s2.counters.nat.proofs, 0);
    assert_eq!(
        s2.cache().lookup(ip("172.16.1.1")).unwrap().ty,
        EntryType::Negative
    );
    assert_eq!(installs_towards_nated(&net), []);

    // Spoke 1 sends to spoke 2 (its data plane uses its own shortcut to
    // spoke 2, which is not behind NAT): its NAT now maps spoke 2.
    net.mappings.insert((ip(NATED), ip(OTHER)));
    // The negative entry has run out; traffic triggers the shortcut again.
    run_relaying(&mut net, secs(5));
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::Hairpin {
            from_nbma: ip(OTHER),
            packet: ipv4_header("172.16.2.1", "172.16.1.1"),
        }),
    );
    run_relaying(&mut net, secs(2));
    let s2 = &net.node(OTHER).instance;
    assert_eq!(s2.counters.nat.proofs, 1);
    assert_eq!(
        s2.counters.nat.probes_sent, 5,
        "the first probe got through"
    );
    let route = s2.cache().lookup(ip("172.16.1.1")).unwrap();
    assert_eq!(route.ty, EntryType::Shortcut);
    assert_eq!(route.nat_path, NatPath::Verified);
    let installed = installs_towards_nated(&net);
    assert!(installed.contains(&Output::BindingAdded {
        protocol: ip("10.0.0.11"),
        nbma: ip(PUBLIC)
    }));
    assert!(installed.contains(&Output::RouteAdded {
        prefix: "172.16.1.0/24".parse().unwrap(),
        next_hop: ip("10.0.0.11")
    }));
}

#[test]
fn a_probe_that_gets_through_mid_series_installs_the_shortcut() {
    let mut net = cloud(62, 7200);
    miss(&mut net, OTHER, "10.0.0.11");
    run_relaying(&mut net, secs(2));
    assert_eq!(installs_towards_nated(&net), []);
    let sent = net.node(OTHER).instance.counters.nat.probes_sent;
    assert!((1..4).contains(&sent), "{sent} probes before the mapping");

    net.mappings.insert((ip(NATED), ip(OTHER)));
    run_relaying(&mut net, secs(10));
    let s2 = &net.node(OTHER).instance;
    assert_eq!(s2.counters.nat.proofs, 1);
    assert_eq!(s2.counters.nat.give_ups, 0);
    assert_eq!(
        s2.cache().host(ip("10.0.0.11")).unwrap().nat_path,
        NatPath::Verified
    );
    assert_eq!(
        installs_towards_nated(&net),
        [Output::BindingAdded {
            protocol: ip("10.0.0.11"),
            nbma: ip(PUBLIC)
        }]
    );
    // No probe after the proof.
    let after = s2.counters.nat.probes_sent;
    run_relaying(&mut net, secs(30));
    assert_eq!(net.node(OTHER).instance.counters.nat.probes_sent, after);
}

#[test]
fn a_nated_spoke_that_answers_straight_is_used_at_once() {
    // Our own responders answer the requester directly (as Cisco does): the
    // reply crossing the NAT is the proof, so no probe and no added delay.
    let mut net = cloud(63, 7200);
    miss(&mut net, OTHER, "10.0.0.11");
    net.run_for(secs(2), STEP);
    let s2 = &net.node(OTHER).instance;
    let e = s2.cache().host(ip("10.0.0.11")).unwrap();
    assert_eq!(e.nat_path, NatPath::Verified);
    assert_eq!(e.nbma, Some(ip(PUBLIC)));
    assert_eq!(s2.counters.nat.probes_sent, 0);
    assert_eq!(s2.counters.nat.proofs, 1);
    assert_eq!(
        installs_towards_nated(&net),
        [Output::BindingAdded {
            protocol: ip("10.0.0.11"),
            nbma: ip(PUBLIC)
        }]
    );
    assert!(net.nat_drops.is_empty());
}

#[test]
fn a_shortcut_to_a_spoke_not_behind_nat_needs_no_proof() {
    let mut net = cloud(64, 7200);
    // Spoke 1 (behind NAT) resolves spoke 2 (not behind NAT).
    miss(&mut net, NATED, "10.0.0.12");
    net.run_for(secs(2), STEP);
    let s1 = &net.node(NATED).instance;
    let e = s1.cache().host(ip("10.0.0.12")).unwrap();
    assert_eq!(e.nat_path, NatPath::NotNated);
    assert_eq!(e.claimed_nbma, None);
    assert_eq!(s1.counters.nat.probes_sent, 0);
    assert!(net.node(NATED).outputs.contains(&Output::BindingAdded {
        protocol: ip("10.0.0.12"),
        nbma: ip(OTHER)
    }));
}

#[test]
fn continuous_traffic_without_mapping_never_floods() {
    let mut net = cloud(65, 7200);
    // Traffic for spoke 1 every 100 ms for 3 minutes; its NAT never maps
    // spoke 2.
    let end = net.now + secs(180);
    while net.now < end {
        miss(&mut net, OTHER, "10.0.0.11");
        run_relaying(&mut net, STEP);
    }
    let s2 = &net.node(OTHER).instance;
    // Series of 4 probes at 0, 1, 3, 7 s, given up at 15 s, then negative
    // for 10, 20, 40, 80 s: series start near 0, 25, 60, 115 s.
    assert_eq!(s2.counters.nat.give_ups, 4, "{:?}", s2.counters.nat);
    assert_eq!(s2.counters.nat.probes_sent, 16);
    assert_eq!(probes_on_wire(&net), 16);
    assert_eq!(s2.counters.nat.proofs, 0);
    let resolutions = net
        .node(OTHER)
        .outputs
        .iter()
        .filter(|o| {
            matches!(o, Output::Send { to, summary, .. }
                if *to == ip(HUB) && summary.starts_with("Resolution Request"))
        })
        .count();
    assert!(
        resolutions <= 5,
        "{resolutions} resolutions through the hub"
    );
    assert_eq!(installs_towards_nated(&net), []);
}

#[test]
fn a_proven_shortcut_whose_nat_forgets_is_withdrawn_at_refresh() {
    // Holding time 60 s: used shortcuts are resolved again at 40 s.
    let mut net = cloud(66, 60);
    miss(&mut net, OTHER, "10.0.0.11");
    net.run_for(secs(2), STEP);
    assert_eq!(
        net.node(OTHER)
            .instance
            .cache()
            .host(ip("10.0.0.11"))
            .unwrap()
            .nat_path,
        NatPath::Verified
    );

    // The NAT reboots and loses its mapping for spoke 2; the data plane
    // keeps using the shortcut (it cannot see the ICMP unreachable), and
    // the refresh reply now comes through the hub.
    net.mappings.remove(&(ip(NATED), ip(OTHER)));
    let end = net.now + secs(60);
    while net.now < end {
        net.input(
            ip(OTHER),
            Input::DataPlane(DataPlaneEvent::Used {
                prefix: "10.0.0.11/32".parse().unwrap(),
            }),
        );
        run_relaying(&mut net, secs(1));
    }
    let s2 = &net.node(OTHER).instance;
    assert_eq!(s2.counters.nat.give_ups, 1, "{:?}", s2.counters.nat);
    assert_eq!(s2.counters.nat.probes_sent, 4);
    assert_eq!(
        installs_towards_nated(&net),
        [
            Output::BindingAdded {
                protocol: ip("10.0.0.11"),
                nbma: ip(PUBLIC)
            },
            Output::BindingRemoved {
                protocol: ip("10.0.0.11")
            }
        ]
    );
    assert_eq!(
        s2.cache().host(ip("10.0.0.11")).unwrap().ty,
        EntryType::Negative
    );
}

#[test]
fn the_responder_answers_a_nated_requester_through_the_hub_and_waits_for_proof() {
    let mut net = cloud(67, 7200);
    // Spoke 1 (behind NAT) resolves spoke 2: spoke 2 cannot answer it
    // straight (no mapping at spoke 1's NAT), so the reply goes back
    // through the hub, and spoke 2's binding for spoke 1 is not installed.
    miss(&mut net, NATED, "10.0.0.12");
    net.run_for(secs(2), STEP);
    assert!(net.nat_drops.is_empty(), "{:?}", net.nat_drops);
    assert!(net.node(NATED).outputs.contains(&Output::BindingAdded {
        protocol: ip("10.0.0.12"),
        nbma: ip(OTHER)
    }));
    let learnt = net
        .node(OTHER)
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap()
        .clone();
    assert_eq!(learnt.nbma, Some(ip(PUBLIC)));
    assert_eq!(learnt.claimed_nbma, Some(ip(NATED)));
    assert_eq!(learnt.nat_path, NatPath::Pending);
    assert_eq!(installs_towards_nated(&net), []);

    // Spoke 2's traffic for spoke 1 probes the path: nothing gets through
    // yet, so the series is given up and traffic stays on the hub path.
    miss(&mut net, OTHER, "10.0.0.11");
    net.run_for(secs(20), STEP);
    let s2 = &net.node(OTHER).instance;
    assert_eq!(s2.counters.nat.probes_sent, 4);
    assert_eq!(s2.counters.nat.give_ups, 1);
    assert_eq!(installs_towards_nated(&net), []);

    // Spoke 1 sends data straight to spoke 2 over its shortcut: its NAT
    // maps spoke 2, and the next probe (after the negative hold) proves it.
    net.mappings.insert((ip(NATED), ip(OTHER)));
    net.run_for(secs(10), STEP);
    miss(&mut net, OTHER, "10.0.0.11");
    net.run_for(secs(5), STEP);
    let s2 = &net.node(OTHER).instance;
    assert_eq!(s2.counters.nat.proofs, 1, "{:?}", s2.counters.nat);
    assert_eq!(
        installs_towards_nated(&net),
        [Output::BindingAdded {
            protocol: ip("10.0.0.11"),
            nbma: ip(PUBLIC)
        }]
    );
}

/// Registration Requests spoke `nbma` sent so far.
fn registrations(net: &Network, nbma: &str) -> u64 {
    net.node(nbma).instance.nhs_states()[0].registrations_sent
}

/// A spoke behind NAT keeps its NAT's GRE mapping (and so the hub's path to
/// it) alive by refreshing every 30 s, instead of every third of the
/// holding time (40 min by default: long after any NAT forgot it). A spoke
/// not behind NAT keeps the usual refresh, and an interval the operator
/// configured is kept behind NAT too.
#[test]
fn a_spoke_behind_nat_refreshes_its_registration_every_30_s() {
    let mut net = cloud(11, InstanceConfig::DEFAULT_HOLDING_TIME);
    let (nated, other) = (registrations(&net, NATED), registrations(&net, OTHER));
    net.run_for(secs(300), STEP);
    let nated = registrations(&net, NATED) - nated;
    let other = registrations(&net, OTHER) - other;
    assert_eq!(nated, 10, "registrations behind NAT in 300 s");
    assert_eq!(other, 0, "registrations not behind NAT in 300 s");
    // Each refresh is answered: the hub entry and the NHS state stay.
    assert_eq!(
        net.node(NATED).instance.nhs_states()[0].seen_as,
        Some(ip(PUBLIC))
    );

    let mut net = Network::new(12);
    net.add(hub());
    let mut s = spoke(1);
    s.registration_interval = Some(secs(100));
    net.add(s);
    net.nat.insert(ip(NATED), ip(PUBLIC));
    net.masquerade.insert(ip(NATED));
    net.run_for(secs(5), STEP);
    let before = registrations(&net, NATED);
    net.run_for(secs(300), STEP);
    assert_eq!(
        registrations(&net, NATED) - before,
        3,
        "a configured interval of 100 s is kept behind NAT"
    );
}
