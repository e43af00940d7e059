//! Purge Requests we send (RFC 2332, 5.2.5) are retransmitted until their
//! Purge Reply (5.2.6) comes back, and given up after a few tries; and
//! `clear ip nhrp` on a spoke registers again with every NHS at once.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{HUB, STEP, hub, ip, miss, nhs, secs, spoke};
use holo_nhrp::cache::host;
use holo_nhrp::sim::Network;
use holo_nhrp::{Command, DataPlaneEvent, Input, InstanceConfig, Notification, Output};

const HUB_B: &str = "192.0.2.2";
const S1: &str = "192.0.2.11";
const S2: &str = "192.0.2.12";

/// A hub and spokes 1 and 2, registered.
fn cloud(seed: u64, spoke2: InstanceConfig) -> Network {
    let mut net = Network::new(seed);
    net.add(hub(1));
    net.add(spoke(1));
    net.add(spoke2);
    net.run_for(secs(5), STEP);
    net
}

/// Spoke 1 resolves spoke 2 (Phase 2): both ends learn each other.
fn shortcut_1_to_2(net: &mut Network) {
    miss(net, S1, "10.0.0.12");
    net.run_for(secs(2), STEP);
    assert!(spoke_knows(net, S2, "10.0.0.11"));
}

/// Spoke 1 resolves LAN 2 (the hub routes it via spoke 2): spoke 2
/// answers for its prefix.
fn lan_2_shortcut(net: &mut Network) {
    let routes = vec![("172.16.2.0/24".parse().unwrap(), ip("10.0.0.12"))];
    net.input(
        ip(HUB),
        Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)),
    );
    miss(net, S1, "172.16.2.1");
    net.run_for(secs(2), STEP);
    let lan2 = "172.16.2.0/24".parse().unwrap();
    assert!(net.node(S1).instance.cache().get(&lan2).is_some());
}

fn purge_command(net: &mut Network, nbma: &str, peer: &str) {
    net.input(
        ip(nbma),
        Input::Command(Command::Purge {
            prefix: host(ip(peer)),
        }),
    );
}

fn spoke_knows(net: &Network, nbma: &str, peer: &str) -> bool {
    net.node(nbma).instance.cache().host(ip(peer)).is_some()
}

/// The request ids of the Purge Requests a node sent to `to`, in order.
fn purges_sent(net: &Network, nbma: &str, to: &str) -> Vec<u32> {
    sent(net, nbma, to, "Purge Request")
        .iter()
        .map(|s| {
            let id = s.split_whitespace().skip_while(|w| *w != "id").nth(1);
            id.unwrap().parse().unwrap()
        })
        .collect()
}

/// Summaries of what a node sent to `to` that start with `what`.
fn sent(net: &Network, nbma: &str, to: &str, what: &str) -> Vec<String> {
    net.node(nbma)
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to: t, summary, .. } if *t == ip(to) && summary.starts_with(what) => {
                Some(summary.clone())
            }
            _ => None,
        })
        .collect()
}

fn errors(net: &Network, nbma: &str, reason: &str) -> u64 {
    net.node(nbma).instance.counters.errors(reason)
}

/// Delivers everything queued, losing the datagrams that start with `what`.
fn deliver_losing(net: &mut Network, what: &str) {
    loop {
        match net.in_flight.front() {
            None => return,
            Some(d) if d.summary.starts_with(what) => {
                net.in_flight.pop_front();
            }
            Some(_) => {
                net.deliver_one();
            }
        }
    }
}

/// Runs the clock to `at` after `start` (both from the same origin).
fn run_until(net: &mut Network, start: std::time::Instant, at: Duration) {
    let left = (start + at).saturating_duration_since(net.now);
    net.run_for(left, STEP);
}

#[test]
fn an_unanswered_purge_is_retransmitted_with_backoff_then_given_up() {
    let mut net = cloud(1, spoke(2));
    shortcut_1_to_2(&mut net);
    // Spoke 2 goes silent; spoke 1 purges what it told it.
    net.down.push(ip(S2));
    let start = net.now;
    purge_command(&mut net, S1, "10.0.0.12");
    // Sent at 0 s, then again at 1, 3 and 7 s; given up at 15 s.
    let expected = [
        (500, 1, 0),
        (1500, 2, 0),
        (2500, 2, 0),
        (3500, 3, 0),
        (6500, 3, 0),
        (7500, 4, 0),
        (14500, 4, 0),
        (15500, 4, 1),
        (60000, 4, 1),
    ];
    for (at, sends, give_ups) in expected {
        run_until(&mut net, start, Duration::from_millis(at));
        let ids = purges_sent(&net, S1, S2);
        assert_eq!(ids.len(), sends, "at {at} ms: {ids:?}");
        assert_eq!(errors(&net, S1, "purge-timeout"), give_ups, "at {at} ms");
    }
    // Retransmissions of one request, with its request id.
    let ids = purges_sent(&net, S1, S2);
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    // Nothing left to wait for but the registration refresh.
    assert!(net.node(S1).instance.next_wakeup().unwrap() > net.now + secs(60));
}

#[test]
fn a_purge_reply_stops_the_retransmission() {
    let mut net = cloud(2, spoke(2));
    shortcut_1_to_2(&mut net);
    purge_command(&mut net, S1, "10.0.0.12");
    // The first Purge Request is lost; the retransmission gets through and
    // is answered.
    deliver_losing(&mut net, "Purge Request");
    assert!(spoke_knows(&net, S2, "10.0.0.11"));
    net.run_for(secs(30), STEP);
    assert!(!spoke_knows(&net, S2, "10.0.0.11"));
    assert_eq!(purges_sent(&net, S1, S2).len(), 2);
    assert_eq!(
        net.node(S1).instance.counters.received.get("purge_reply"),
        Some(&1)
    );
    assert_eq!(errors(&net, S1, "purge-timeout"), 0);
    assert_eq!(errors(&net, S1, "unexpected-reply"), 0);
}

#[test]
fn the_purges_of_an_nbma_change_and_a_lan_withdrawal_are_retransmitted() {
    // NBMA address change: the purge of the old binding at the NHS.
    let mut net = cloud(3, spoke(2));
    net.down.push(ip(HUB));
    let new = ip("192.0.2.111");
    net.renumber(ip(S1), new);
    net.input(new, Input::Command(Command::NbmaChanged { nbma: new }));
    net.run_for(secs(20), STEP);
    assert_eq!(purges_sent(&net, "192.0.2.111", HUB).len(), 4);
    assert_eq!(errors(&net, "192.0.2.111", "purge-timeout"), 1);

    // A local prefix withdrawn: the purge at the peer that was given it.
    let mut net = cloud(4, spoke(2));
    shortcut_1_to_2(&mut net);
    lan_2_shortcut(&mut net);
    net.down.push(ip(S1));
    net.input(
        ip(S2),
        Input::DataPlane(DataPlaneEvent::LocalPrefixes(vec![])),
    );
    net.run_for(secs(20), STEP);
    let purges = sent(&net, S2, S1, "Purge Request");
    assert_eq!(purges.len(), 4, "{purges:#?}");
    assert!(purges.iter().all(|p| p.contains("172.16.2.0/24")));
    assert_eq!(errors(&net, S2, "purge-timeout"), 1);
}

#[test]
fn outstanding_purges_are_bounded() {
    // Spoke 2 keeps one outstanding purge at most.
    let mut s2 = spoke(2);
    s2.max_registrations = 1;
    let mut net = cloud(5, s2);
    shortcut_1_to_2(&mut net);
    lan_2_shortcut(&mut net);
    net.down.push(ip(S1));
    // Two purges for spoke 1: what it learnt about spoke 2, then LAN 2.
    net.input(ip(S2), Input::Command(Command::ClearCache));
    net.input(
        ip(S2),
        Input::DataPlane(DataPlaneEvent::LocalPrefixes(vec![])),
    );
    net.run_for(secs(20), STEP);
    let ids = purges_sent(&net, S2, S1);
    // The first is tracked and retransmitted; the second, beyond the
    // bound, goes out once and is counted.
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(ids.iter().filter(|id| **id == ids[0]).count(), 4);
    assert_eq!(errors(&net, S2, "purge-limit"), 1);
    assert_eq!(errors(&net, S2, "purge-timeout"), 1);
}

#[test]
fn a_registration_after_an_nbma_change_is_not_undone_by_a_retransmitted_purge() {
    let mut net = cloud(6, spoke(2));
    let new = ip("192.0.2.111");
    net.renumber(ip(S1), new);
    net.input(new, Input::Command(Command::NbmaChanged { nbma: new }));
    // The hub removes the old binding and registers the new one, but its
    // Purge Reply is lost: the registration reply tells the spoke the hub
    // holds its binding, so the purge is not sent again.
    deliver_losing(&mut net, "Purge Reply");
    net.run_for(secs(30), STEP);
    assert_eq!(purges_sent(&net, "192.0.2.111", HUB).len(), 1);
    let e = net
        .node(HUB)
        .instance
        .cache()
        .host(ip("10.0.0.11"))
        .unwrap();
    assert_eq!(e.nbma, Some(new));
    let down = Notification::PeerDown {
        protocol: ip("10.0.0.11"),
    };
    let hub = &net.node(HUB).outputs;
    let downs = hub.iter().filter(|o| **o == Output::Notify(down.clone()));
    assert_eq!(downs.count(), 1);
}

/// Spoke 1 purges its shortcut to spoke 2; spoke 2 forgets spoke 1 but its
/// Purge Reply is lost.
fn purged_with_the_reply_lost(seed: u64) -> Network {
    let mut net = cloud(seed, spoke(2));
    shortcut_1_to_2(&mut net);
    purge_command(&mut net, S1, "10.0.0.12");
    deliver_losing(&mut net, "Purge Reply");
    assert!(!spoke_knows(&net, S2, "10.0.0.11"));
    net
}

#[test]
fn a_peer_we_resolve_again_keeps_what_it_learnt_despite_the_purge() {
    let mut net = purged_with_the_reply_lost(7);
    // Spoke 1 resolves spoke 2 again before the purge is retransmitted:
    // spoke 2 learns spoke 1 afresh from the request.
    miss(&mut net, S1, "10.0.0.12");
    net.deliver();
    assert!(spoke_knows(&net, S2, "10.0.0.11"));
    net.run_for(secs(30), STEP);
    assert!(spoke_knows(&net, S2, "10.0.0.11"));
    assert_eq!(purges_sent(&net, S1, S2).len(), 1);
}

#[test]
fn a_peer_we_answer_again_keeps_what_it_learnt_despite_the_purge() {
    let mut net = purged_with_the_reply_lost(8);
    // Spoke 2 resolves spoke 1 before the purge is retransmitted: spoke 1's
    // answer gives it the binding afresh.
    miss(&mut net, S2, "10.0.0.11");
    net.deliver();
    assert!(spoke_knows(&net, S2, "10.0.0.11"));
    net.run_for(secs(30), STEP);
    assert!(spoke_knows(&net, S2, "10.0.0.11"));
    assert_eq!(purges_sent(&net, S1, S2).len(), 1);
}

#[test]
fn clear_cache_on_a_spoke_registers_again_with_every_nhs_at_once() {
    let mut net = Network::new(9);
    net.add(hub(1));
    net.add(hub(2));
    let mut s1 = spoke(1);
    s1.nhs = vec![nhs("10.0.0.1", HUB), nhs("10.0.0.2", HUB_B)];
    net.add(s1);
    net.run_for(secs(5), STEP);
    let registrations = |net: &Network, to| sent(net, S1, to, "Registration Request").len();
    let before = (registrations(&net, HUB), registrations(&net, HUB_B));

    // Cisco's `clear ip nhrp` on a spoke: a registration to each NHS right
    // away, not at the next refresh (a third of the holding time).
    net.input(ip(S1), Input::Command(Command::ClearCache));
    let after = (registrations(&net, HUB), registrations(&net, HUB_B));
    assert_eq!(after, (before.0 + 1, before.1 + 1));
    net.deliver();
    for n in net.node(S1).instance.nhs_states() {
        assert_eq!(n.request_id, None, "{} answered", n.config.protocol);
    }

    // A hub has no NHS to register with.
    let sent_before = net.node(HUB).outputs.len();
    net.input(ip(HUB), Input::Command(Command::ClearCache));
    assert!(
        net.node(HUB).outputs[sent_before..]
            .iter()
            .all(|o| !matches!(o, Output::Send { summary, .. } if summary.starts_with("Registration Request")))
    );
}
