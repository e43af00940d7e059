//! Whole DMVPN clouds in memory: a hub and spokes wired together, run
//! deterministically.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{HUB, STEP, ip, ipv4_header, miss, nhs, secs, spoke};
use holo_nhrp::cache::{EntryType, host};
use holo_nhrp::nhc::NhsStatus;
use holo_nhrp::sim::Network;
use holo_nhrp::{Command, DataPlaneEvent, Input, InstanceConfig, NhsConfig, Notification, Output};

/// Hub `n` of these tests redirects (Phase 3).
fn hub(n: u8) -> InstanceConfig {
    InstanceConfig {
        redirect: true,
        ..common::hub(n)
    }
}

fn cloud(seed: u64, spokes: u8) -> Network {
    let mut net = Network::new(seed);
    net.add(hub(1));
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
    spoke_lan_routes(&mut net);
    // Spoke 1 sends to 172.16.2.1 through the hub; the hub sees it hairpin.
    hairpin(&mut net, "192.0.2.11", "172.16.1.1", "172.16.2.1");
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

#[test]
fn the_hub_multicast_map_follows_registrations() {
    use holo_nhrp::Output;
    let mut net = Network::new(3);
    let mut h = hub(1);
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

// Helpers for the scenarios below.

fn notifications(net: &Network, nbma: &str) -> Vec<Notification> {
    net.node(nbma)
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Notify(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// Summaries of what a node sent to `to`, in order.
fn sent_to(net: &Network, nbma: &str, to: &str) -> Vec<String> {
    net.node(nbma)
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to: t, summary, .. } if *t == ip(to) => Some(summary.clone()),
            _ => None,
        })
        .collect()
}

/// Whether the wire trace holds a delivered packet `from` -> `to` whose
/// summary starts with `what`.
fn delivered(net: &Network, from: &str, to: &str, what: &str) -> bool {
    net.trace
        .iter()
        .any(|d| d.from == ip(from) && d.to == ip(to) && d.summary.starts_with(what))
}

fn spoke_lan_routes(net: &mut Network) {
    let routes = vec![
        ("172.16.1.0/24".parse().unwrap(), ip("10.0.0.11")),
        ("172.16.2.0/24".parse().unwrap(), ip("10.0.0.12")),
        ("172.16.3.0/24".parse().unwrap(), ip("10.0.0.13")),
    ];
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)),
    );
}

fn hairpin(net: &mut Network, from_nbma: &str, src: &str, dst: &str) {
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::Hairpin {
            from_nbma: ip(from_nbma),
            packet: ipv4_header(src, dst),
        }),
    );
}

#[test]
fn registration_completes_despite_loss_and_reordering() {
    let (mut lost, mut retried) = (0, 0);
    for seed in 1..=10 {
        let mut net = cloud(seed, 3);
        net.loss = 20;
        net.reorder = 20;
        // Seven attempts of the backoff schedule: 1 + 2 + 4 + ... + 64 s.
        net.run_for(secs(127), STEP);
        let hub = &net.node(HUB).instance;
        assert_eq!(hub.cache().count(EntryType::Dynamic), 3, "seed {seed}");
        for n in 11..=13 {
            let nbma = format!("192.0.2.{n}");
            let e = hub
                .cache()
                .host(ip(&format!("10.0.0.{n}")))
                .unwrap_or_else(|| panic!("seed {seed}: spoke {n} not registered"));
            assert_eq!(e.nbma, Some(ip(&nbma)), "seed {seed}");
            assert!(e.unique, "seed {seed}");
            let s = &net.node(&nbma).instance;
            assert_eq!(s.nhs_states()[0].status, NhsStatus::Up, "seed {seed}");
            assert!(
                notifications(&net, &nbma).contains(&Notification::NhsUp {
                    nhs: ip("10.0.0.1")
                }),
                "seed {seed}"
            );
        }
        let sends = net
            .nodes
            .values()
            .flat_map(|n| &n.outputs)
            .filter(|o| matches!(o, Output::Send { .. }))
            .count();
        lost += sends - net.trace.len();
        retried += net
            .trace
            .iter()
            .filter(|d| d.summary.starts_with("Registration Request"))
            .count()
            - 3;
    }
    // The loss was real: packets were dropped and registrations retried.
    assert!(lost > 10 && retried > 5, "lost {lost}, retried {retried}");
}

#[test]
fn phase2_miss_resolves_through_the_hub_and_both_spokes_learn() {
    let mut net = cloud(3, 3);
    net.run_for(secs(5), STEP);
    miss(&mut net, "192.0.2.11", "10.0.0.12");
    net.run_for(secs(2), STEP);

    // Request via the hub, forwarded to the owner, answered directly.
    assert!(delivered(
        &net,
        "192.0.2.11",
        HUB,
        "Resolution Request 10.0.0.11 -> 10.0.0.12"
    ));
    assert!(delivered(
        &net,
        HUB,
        "192.0.2.12",
        "Resolution Request 10.0.0.11 -> 10.0.0.12"
    ));
    assert!(delivered(
        &net,
        "192.0.2.12",
        "192.0.2.11",
        "Resolution Reply 10.0.0.11 -> 10.0.0.12"
    ));

    let s1 = &net.node("192.0.2.11");
    let e = s1.instance.cache().host(ip("10.0.0.12")).expect("binding");
    assert_eq!(e.ty, EntryType::Shortcut);
    assert_eq!(e.nbma, Some(ip("192.0.2.12")));
    assert!(e.authoritative);
    assert!(s1.outputs.contains(&Output::BindingAdded {
        protocol: ip("10.0.0.12"),
        nbma: ip("192.0.2.12"),
    }));
    // The responder learnt the requester from the request.
    let s2 = &net.node("192.0.2.12");
    let e = s2.instance.cache().host(ip("10.0.0.11")).expect("learnt");
    assert_eq!(e.ty, EntryType::Shortcut);
    assert_eq!(e.nbma, Some(ip("192.0.2.11")));
    assert!(s2.outputs.contains(&Output::BindingAdded {
        protocol: ip("10.0.0.11"),
        nbma: ip("192.0.2.11"),
    }));
    // The third spoke saw nothing of it.
    assert!(
        net.node("192.0.2.13")
            .instance
            .cache()
            .iter()
            .all(|e| e.ty == EntryType::Nhs)
    );
}

#[test]
fn phase3_redirect_with_loss_installs_the_lan_shortcut() {
    let mut net = cloud(4, 3);
    net.loss = 20;
    net.reorder = 20;
    net.run_for(secs(127), STEP);
    spoke_lan_routes(&mut net);
    // Traffic from LAN 1 to LAN 2 keeps hairpinning through the hub until
    // the shortcut is there; the hub keeps redirecting (rate-limited).
    let mut rounds = 0;
    while net
        .node("192.0.2.11")
        .instance
        .cache()
        .get(&"172.16.2.0/24".parse().unwrap())
        .is_none()
    {
        rounds += 1;
        assert!(rounds < 60, "no shortcut after {rounds} s of traffic");
        hairpin(&mut net, "192.0.2.11", "172.16.1.1", "172.16.2.1");
        net.run_for(secs(1), STEP);
    }
    let s1 = &net.node("192.0.2.11");
    let route = s1.instance.cache().lookup(ip("172.16.2.77")).unwrap();
    assert_eq!(route.ty, EntryType::Shortcut);
    assert_eq!(route.prefix, "172.16.2.0/24".parse().unwrap());
    assert_eq!(route.next_hop, ip("10.0.0.12"));
    assert!(s1.outputs.contains(&Output::RouteAdded {
        prefix: "172.16.2.0/24".parse().unwrap(),
        next_hop: ip("10.0.0.12"),
    }));
    let binding = s1.instance.cache().host(ip("10.0.0.12")).unwrap();
    assert_eq!(binding.nbma, Some(ip("192.0.2.12")));
    // The hub only had a route to LAN 2: it forwarded, never answered.
    assert!(
        net.trace
            .iter()
            .filter(|d| d.from == ip(HUB))
            .all(|d| !d.summary.starts_with("Resolution Reply"))
    );
    assert!(delivered(
        &net,
        HUB,
        "192.0.2.11",
        "Traffic Indication 10.0.0.1 -> 172.16.1.1"
    ));
    // The responder learnt the requester.
    let e = net
        .node("192.0.2.12")
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .expect("responder learnt the requester");
    assert_eq!(e.nbma, Some(ip("192.0.2.11")));
}

#[test]
fn purge_removes_the_shortcut_on_both_ends() {
    let mut net = cloud(5, 3);
    net.run_for(secs(5), STEP);
    miss(&mut net, "192.0.2.11", "10.0.0.12");
    net.run_for(secs(2), STEP);
    assert!(
        net.node("192.0.2.12")
            .instance
            .cache()
            .host(ip("10.0.0.11"))
            .is_some()
    );

    net.input(
        ip("192.0.2.11"),
        Input::Command(Command::Purge {
            prefix: host(ip("10.0.0.12")),
        }),
    );
    net.run_for(secs(1), STEP);
    assert!(delivered(
        &net,
        "192.0.2.11",
        "192.0.2.12",
        "Purge Request 10.0.0.11 -> 10.0.0.12"
    ));
    assert!(delivered(&net, "192.0.2.12", "192.0.2.11", "Purge Reply"));
    let s1 = net.node("192.0.2.11");
    assert!(s1.instance.cache().host(ip("10.0.0.12")).is_none());
    assert!(s1.outputs.contains(&Output::BindingRemoved {
        protocol: ip("10.0.0.12")
    }));
    let s2 = net.node("192.0.2.12");
    assert!(s2.instance.cache().host(ip("10.0.0.11")).is_none());
    assert!(s2.outputs.contains(&Output::BindingRemoved {
        protocol: ip("10.0.0.11")
    }));
    // The registrations at the hub are untouched.
    assert_eq!(net.node(HUB).instance.cache().count(EntryType::Dynamic), 3);
}

#[test]
fn clear_cache_removes_a_phase3_shortcut_on_both_ends() {
    let mut net = cloud(6, 2);
    net.run_for(secs(5), STEP);
    spoke_lan_routes(&mut net);
    hairpin(&mut net, "192.0.2.11", "172.16.1.1", "172.16.2.1");
    net.run_for(secs(2), STEP);
    let lan2: ipnetwork::IpNetwork = "172.16.2.0/24".parse().unwrap();
    assert!(net.node("192.0.2.11").instance.cache().get(&lan2).is_some());

    net.input(ip("192.0.2.11"), Input::Command(Command::ClearCache));
    net.run_for(secs(1), STEP);
    let s1 = net.node("192.0.2.11");
    assert!(s1.instance.cache().get(&lan2).is_none());
    assert!(s1.instance.cache().host(ip("10.0.0.12")).is_none());
    assert!(s1.outputs.contains(&Output::RouteRemoved { prefix: lan2 }));
    // Our NHS is configuration, not learnt: it stays.
    assert_eq!(
        s1.instance.cache().host(ip("10.0.0.1")).map(|e| e.ty),
        Some(EntryType::Nhs)
    );
    let s2 = net.node("192.0.2.12");
    assert!(s2.instance.cache().host(ip("10.0.0.11")).is_none());
    assert!(delivered(&net, "192.0.2.11", "192.0.2.12", "Purge Request"));
}

const HUB_B: &str = "192.0.2.2";

/// Spokes 11-14 registering with two hubs: A (192.0.2.1, priority 1) and B
/// (192.0.2.2, priority 2), holding time 30 s.
fn dual_hub_cloud(seed: u64) -> Network {
    let mut net = Network::new(seed);
    net.add(hub(1));
    net.add(hub(2));
    for n in 1..=4 {
        let mut s = spoke(n);
        s.holding_time = 30;
        s.nhs = vec![
            NhsConfig {
                priority: 2,
                ..nhs("10.0.0.2", HUB_B)
            },
            NhsConfig {
                priority: 1,
                ..nhs("10.0.0.1", HUB)
            },
        ];
        net.add(s);
    }
    net
}

/// The last Resolution Request spoke 11 sent about `target`, and where to.
fn resolution_sent_to(net: &Network, target: &str) -> Option<IpAddr> {
    net.node("192.0.2.11")
        .outputs
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::Send { to, summary, .. }
                if summary.starts_with(&format!("Resolution Request 10.0.0.11 -> {target} ")) =>
            {
                Some(*to)
            }
            _ => None,
        })
}

#[test]
fn nhs_failover_uses_the_backup_and_returns_to_the_preferred_nhs() {
    let mut net = dual_hub_cloud(7);
    net.run_for(secs(5), STEP);
    let up = |net: &Network, nhs: &str| {
        notifications(net, "192.0.2.11")
            .iter()
            .filter(|n| **n == Notification::NhsUp { nhs: ip(nhs) })
            .count()
    };
    assert_eq!((up(&net, "10.0.0.1"), up(&net, "10.0.0.2")), (1, 1));

    // Both up: the better priority gets the requests.
    miss(&mut net, "192.0.2.11", "10.0.0.12");
    net.run_for(secs(2), STEP);
    assert_eq!(resolution_sent_to(&net, "10.0.0.12"), Some(ip(HUB)));
    assert!(
        net.node("192.0.2.11")
            .instance
            .cache()
            .host(ip("10.0.0.12"))
            .is_some()
    );

    // A fails: after a refresh and its retries go unanswered it is down.
    net.down.push(ip(HUB));
    net.run_for(secs(25), STEP);
    let s1 = &net.node("192.0.2.11").instance;
    let state = |s: &holo_nhrp::Instance, nhs: &str| {
        s.nhs_states()
            .iter()
            .find(|n| n.config.protocol == ip(nhs))
            .unwrap()
            .status
    };
    assert_eq!(state(s1, "10.0.0.1"), NhsStatus::Down);
    assert_eq!(state(s1, "10.0.0.2"), NhsStatus::Up);
    assert!(
        notifications(&net, "192.0.2.11").contains(&Notification::NhsDown {
            nhs: ip("10.0.0.1")
        })
    );
    miss(&mut net, "192.0.2.11", "10.0.0.13");
    net.run_for(secs(2), STEP);
    assert_eq!(resolution_sent_to(&net, "10.0.0.13"), Some(ip(HUB_B)));
    let e = net
        .node("192.0.2.11")
        .instance
        .cache()
        .host(ip("10.0.0.13"))
        .expect("resolved through the backup NHS");
    assert_eq!(e.nbma, Some(ip("192.0.2.13")));

    // A recovers: the backoff (at most 64 s) brings it back, and it is
    // preferred again.
    net.down.clear();
    net.run_for(secs(70), STEP);
    assert_eq!(up(&net, "10.0.0.1"), 2);
    assert_eq!(
        state(&net.node("192.0.2.11").instance, "10.0.0.1"),
        NhsStatus::Up
    );
    miss(&mut net, "192.0.2.11", "10.0.0.14");
    net.run_for(secs(2), STEP);
    assert_eq!(resolution_sent_to(&net, "10.0.0.14"), Some(ip(HUB)));
    assert!(
        net.node("192.0.2.11")
            .instance
            .cache()
            .host(ip("10.0.0.14"))
            .is_some()
    );
}

#[test]
fn a_silent_spoke_expires_at_its_holding_time() {
    let mut net = Network::new(8);
    net.add(hub(1));
    let mut s = spoke(1);
    s.holding_time = 30;
    net.add(s);
    // Refreshed every 10 s: still there long after one holding time.
    net.run_for(secs(65), STEP);
    let entry = net
        .node(HUB)
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap();
    let expires = entry.expires.unwrap();
    let left = expires - net.now;
    assert!(left <= secs(30) && left > secs(15), "{left:?}");

    net.down.push(ip("192.0.2.11"));
    net.run_for(left - Duration::from_millis(500), STEP);
    assert!(
        net.node(HUB)
            .instance
            .cache()
            .host(ip("10.0.0.11"))
            .is_some()
    );
    assert!(!notifications(&net, HUB).contains(&Notification::PeerDown {
        protocol: ip("10.0.0.11")
    }));
    net.run_for(secs(1), STEP);
    let hub = net.node(HUB);
    assert!(hub.instance.cache().host(ip("10.0.0.11")).is_none());
    assert!(notifications(&net, HUB).contains(&Notification::PeerDown {
        protocol: ip("10.0.0.11")
    }));
    assert!(hub.outputs.contains(&Output::BindingRemoved {
        protocol: ip("10.0.0.11")
    }));
}

#[test]
fn nbma_change_purges_the_old_binding_and_registers_the_new_one() {
    let mut net = cloud(9, 2);
    net.run_for(secs(5), STEP);
    let old = ip("192.0.2.11");
    let new = ip("192.0.2.111");
    net.renumber(old, new);
    net.input(new, Input::Command(Command::NbmaChanged { nbma: new }));
    net.run_for(secs(3), STEP);

    assert!(delivered(
        &net,
        "192.0.2.111",
        HUB,
        "Purge Request 10.0.0.11 -> 10.0.0.1"
    ));
    let purge = net
        .trace
        .iter()
        .position(|d| d.summary.starts_with("Purge Request"))
        .unwrap();
    // The purge names the old binding.
    assert!(
        net.trace[purge].summary.contains("nbma 192.0.2.11 "),
        "{}",
        net.trace[purge].summary
    );
    let hub = net.node(HUB);
    let e = hub.instance.cache().host(ip("10.0.0.11")).unwrap();
    assert_eq!(e.nbma, Some(new));
    assert_eq!(e.claimed_nbma, None);
    let n = notifications(&net, HUB);
    let down = n
        .iter()
        .position(|n| {
            *n == Notification::PeerDown {
                protocol: ip("10.0.0.11"),
            }
        })
        .expect("old binding purged");
    let up = n
        .iter()
        .rposition(|n| {
            *n == Notification::PeerUp {
                protocol: ip("10.0.0.11"),
                nbma: new,
            }
        })
        .expect("new binding registered");
    assert!(down < up);
    assert!(hub.outputs.contains(&Output::BindingAdded {
        protocol: ip("10.0.0.11"),
        nbma: new
    }));
    assert_eq!(
        net.node("192.0.2.111").instance.nhs_states()[0].status,
        NhsStatus::Up
    );
    // Spoke 2 now resolves spoke 1 at its new address.
    miss(&mut net, "192.0.2.12", "10.0.0.11");
    net.run_for(secs(2), STEP);
    let e = net
        .node("192.0.2.12")
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap();
    assert_eq!(e.nbma, Some(new));
}

#[test]
fn a_spoke_behind_nat_is_recorded_with_both_addresses() {
    let mut net = cloud(10, 2);
    let public = ip("198.51.100.11");
    net.nat.insert(ip("192.0.2.11"), public);
    net.run_for(secs(5), STEP);

    let e = net
        .node(HUB)
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap();
    assert_eq!(e.nbma, Some(public));
    assert_eq!(e.claimed_nbma, Some(ip("192.0.2.11")));
    let e = net
        .node(HUB)
        .instance
        .cache()
        .host(ip("10.0.0.12"))
        .unwrap();
    assert_eq!(e.nbma, Some(ip("192.0.2.12")));
    assert_eq!(e.claimed_nbma, None);
    let nat = &net.node("192.0.2.11").instance.nhs_states()[0];
    assert_eq!(nat.status, NhsStatus::Up);
    assert_eq!(nat.seen_as, Some(public));
    assert_eq!(
        net.node("192.0.2.12").instance.nhs_states()[0].seen_as,
        None
    );

    // Spoke 2 resolves the spoke behind NAT: the binding is the address
    // the NAT shows, not the one the spoke claims.
    miss(&mut net, "192.0.2.12", "10.0.0.11");
    net.run_for(secs(2), STEP);
    let e = net
        .node("192.0.2.12")
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .expect("resolved");
    assert_eq!(e.nbma, Some(public));
    assert_eq!(e.claimed_nbma, Some(ip("192.0.2.11")));
}

#[test]
fn a_spoke_behind_nat_resolves_and_is_answered() {
    let mut net = cloud(11, 2);
    let public = ip("198.51.100.11");
    net.nat.insert(ip("192.0.2.11"), public);
    net.run_for(secs(5), STEP);
    miss(&mut net, "192.0.2.11", "10.0.0.12");
    net.run_for(secs(2), STEP);
    let e = net
        .node("192.0.2.11")
        .instance
        .cache()
        .host(ip("10.0.0.12"))
        .expect("the reply reached the spoke behind NAT");
    assert_eq!(e.nbma, Some(ip("192.0.2.12")));
    // The responder answers (and will send data) to the public address.
    let e = net
        .node("192.0.2.12")
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap();
    assert_eq!(e.nbma, Some(public));
}

#[test]
fn a_second_spoke_claiming_a_unique_address_is_refused() {
    let mut net = cloud(12, 1);
    net.run_for(secs(5), STEP);
    // Another router, elsewhere, configured with spoke 1's tunnel address.
    let mut impostor = spoke(1);
    impostor.nbma = ip("192.0.2.99");
    net.add(impostor);
    net.run_for(secs(60), STEP);

    let hub = &net.node(HUB).instance;
    let e = hub.cache().host(ip("10.0.0.11")).unwrap();
    assert_eq!(e.nbma, Some(ip("192.0.2.11")));
    assert_eq!(hub.cache().count(EntryType::Dynamic), 1);
    assert!(hub.counters.errors("registration-not-unique") >= 2);
    let replies = sent_to(&net, HUB, "192.0.2.99");
    assert!(!replies.is_empty());
    assert!(
        replies
            .iter()
            .all(|s| s.starts_with("Registration Reply") && s.contains("[14 ")),
        "{replies:#?}"
    );
    let impostor = net.node("192.0.2.99");
    assert_ne!(impostor.instance.nhs_states()[0].status, NhsStatus::Up);
    assert!(
        !notifications(&net, "192.0.2.99").contains(&Notification::NhsUp {
            nhs: ip("10.0.0.1")
        })
    );
    // The rightful owner stays registered and refreshes fine.
    assert_eq!(
        net.node("192.0.2.11").instance.nhs_states()[0].status,
        NhsStatus::Up
    );
}

#[test]
fn purging_a_phase3_peer_takes_the_routes_through_it_along() {
    let mut net = cloud(13, 2);
    net.run_for(secs(5), STEP);
    spoke_lan_routes(&mut net);
    hairpin(&mut net, "192.0.2.11", "172.16.1.1", "172.16.2.1");
    net.run_for(secs(2), STEP);
    let lan2: ipnetwork::IpNetwork = "172.16.2.0/24".parse().unwrap();
    assert!(net.node("192.0.2.11").instance.cache().get(&lan2).is_some());

    net.input(
        ip("192.0.2.11"),
        Input::Command(Command::Purge {
            prefix: host(ip("10.0.0.12")),
        }),
    );
    net.run_for(secs(1), STEP);
    // No route is left pointing at a peer without a binding.
    let s1 = net.node("192.0.2.11");
    assert!(s1.instance.cache().host(ip("10.0.0.12")).is_none());
    assert!(s1.instance.cache().get(&lan2).is_none());
    assert!(s1.outputs.contains(&Output::RouteRemoved { prefix: lan2 }));
    assert!(
        net.node("192.0.2.12")
            .instance
            .cache()
            .host(ip("10.0.0.11"))
            .is_none()
    );
}

#[test]
fn nbma_change_converges_when_the_registration_overtakes_the_purge() {
    let mut overtaken = 0;
    for seed in 1..=20 {
        let mut net = cloud(seed, 1);
        net.run_for(secs(5), STEP);
        // Every other datagram is swapped with the next one: the new
        // registration may reach the hub before the purge of the old
        // binding, and be refused as a duplicate of a unique binding.
        net.reorder = 50;
        let new = ip("192.0.2.111");
        net.renumber(ip("192.0.2.11"), new);
        net.input(new, Input::Command(Command::NbmaChanged { nbma: new }));
        net.run_for(secs(10), STEP);
        let e = net.node(HUB).instance.cache().host(ip("10.0.0.11"));
        assert_eq!(e.and_then(|e| e.nbma), Some(new), "seed {seed}");
        assert_eq!(
            net.node("192.0.2.111").instance.nhs_states()[0].status,
            NhsStatus::Up,
            "seed {seed}"
        );
        overtaken += net
            .node(HUB)
            .instance
            .counters
            .errors("registration-not-unique");
    }
    assert!(overtaken > 0, "no seed reordered the purge");
}

#[test]
fn an_nhs_given_by_name_is_resolved_and_followed_when_it_moves() {
    let mut net = Network::new(9);
    net.add(hub(1));
    let mut c = spoke(1);
    c.nhs = vec![NhsConfig::by_name(ip("10.0.0.1"), "hub.dmvpn.example")];
    c.registration_interval = Some(Duration::from_secs(60));
    net.add(c);

    // The name does not resolve yet: nothing is sent, the spoke keeps asking.
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    assert!(net.trace.is_empty());
    assert!(
        net.node("192.0.2.11")
            .instance
            .counters
            .errors("nhs-name-unresolved")
            > 0
    );

    net.dns.insert("hub.dmvpn.example".into(), vec![ip(HUB)]);
    net.run_for(Duration::from_secs(70), Duration::from_millis(100));
    let spoke = &net.node("192.0.2.11").instance;
    assert_eq!(spoke.nhs_states()[0].status, NhsStatus::Up);
    assert_eq!(spoke.nhs_states()[0].config.nbma, ip(HUB));
    assert!(
        net.node(HUB)
            .instance
            .cache()
            .host(ip("10.0.0.11"))
            .is_some()
    );

    // The hub moves to a new address and DNS follows: at its next
    // registration the spoke looks the name up again and goes there.
    net.renumber(ip(HUB), ip("198.51.100.1"));
    net.dns
        .insert("hub.dmvpn.example".into(), vec![ip("198.51.100.1")]);
    net.run_for(Duration::from_secs(70), Duration::from_millis(100));
    let spoke = &net.node("192.0.2.11").instance;
    assert_eq!(spoke.nhs_states()[0].config.nbma, ip("198.51.100.1"));
    assert_eq!(spoke.nhs_states()[0].status, NhsStatus::Up);
    let binding = spoke.cache().host(ip("10.0.0.1")).unwrap();
    assert_eq!(binding.nbma, Some(ip("198.51.100.1")));
    let outputs = &net.node("192.0.2.11").outputs;
    assert!(outputs.contains(&holo_nhrp::Output::MulticastRemoved { nbma: ip(HUB) }));
    assert!(outputs.contains(&holo_nhrp::Output::MulticastAdded {
        nbma: ip("198.51.100.1")
    }));
}

#[test]
fn a_withdrawn_lan_is_purged_from_the_peers_that_were_given_it() {
    let mut net = cloud(10, 2);
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    spoke_lan_routes(&mut net);
    hairpin(&mut net, "192.0.2.11", "172.16.1.1", "172.16.2.1");
    net.run_for(Duration::from_secs(2), Duration::from_millis(100));
    let lan2: ipnetwork::IpNetwork = "172.16.2.0/24".parse().unwrap();
    assert!(net.node("192.0.2.11").instance.cache().get(&lan2).is_some());
    // The responder keeps a Local entry for what it gave out.
    let local = net
        .node("192.0.2.12")
        .instance
        .cache()
        .get(&lan2)
        .cloned()
        .unwrap();
    assert_eq!(local.ty, EntryType::Local);

    // Spoke 2 loses its LAN: spoke 1's shortcut goes at once (RFC 2332,
    // 5.2.5), not at the end of its holding time.
    net.input(
        ip("192.0.2.12"),
        Input::DataPlane(DataPlaneEvent::LocalPrefixes(vec![])),
    );
    net.deliver();
    assert!(net.node("192.0.2.11").instance.cache().get(&lan2).is_none());
    assert!(net.node("192.0.2.12").instance.cache().get(&lan2).is_none());
    assert!(
        net.node("192.0.2.11")
            .outputs
            .contains(&holo_nhrp::Output::RouteRemoved { prefix: lan2 })
    );
    // Spoke 1's binding for spoke 2 itself stays: only the prefix went.
    assert!(
        net.node("192.0.2.11")
            .instance
            .cache()
            .host(ip("10.0.0.12"))
            .is_some()
    );
}

#[test]
fn a_traffic_indication_carries_the_ip_header_and_8_octets() {
    use holo_nhrp::Output;
    use holo_nhrp::packet::{Message, Packet};
    let mut net = cloud(11, 1);
    net.run_for(Duration::from_secs(5), Duration::from_millis(100));
    // IPv4 with options (24-byte header) and IPv6 (40-byte header).
    let mut v4 = ipv4_header("172.16.1.1", "172.16.2.1");
    v4[0] = 0x46;
    v4.splice(20..20, [1, 1, 1, 1]);
    let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
    v6.extend_from_slice(
        &"2001:db8:1::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v6.extend_from_slice(
        &"2001:db8:2::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v6.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1, 9, 9, 9, 9]);
    for (packet, carried) in [(v4, 32), (v6, 48)] {
        net.input(
            ip(HUB),
            Input::DataPlane(DataPlaneEvent::Hairpin {
                from_nbma: ip("192.0.2.11"),
                packet,
            }),
        );
        let ti = net.node(HUB).outputs.iter().rev().find_map(|o| match o {
            Output::Send { bytes, .. } => Packet::decode(bytes).ok(),
            _ => None,
        });
        let Some(Message::TrafficIndication(ti)) = ti.map(|p| p.message) else {
            panic!("no Traffic Indication")
        };
        assert_eq!(ti.packet.len(), carried);
    }
}
