//! What happens to IKE SAs over time: Delete both ways, dead peers,
//! retransmissions, the response cache, INITIAL_CONTACT after a restart,
//! half-open bounds. Lifetimes and rekeys are in `ike_rekey.rs`.

mod ike_sim;

use std::time::Duration;

use holo_ike::ike::sa::State;
use holo_ike::ike::{DownReason, Input, Notification};
use holo_ike::packet::ExchangeType;
use ike_sim::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn down(reason: DownReason) -> impl Fn(&Notification) -> bool {
    move |n| matches!(n, Notification::IkeSaDown { reason: r, .. } if *r == reason)
}

#[test]
fn clear_deletes_the_ike_sa_on_both_sides() {
    for (deleter, other) in [(0, 1), (1, 0)] {
        let mut net = Net::pair(config(), config());
        net.acquire(0, 1);
        matching_pair(&net);
        let peer = net.addr(other);
        let outputs = net.input(deleter, Input::Clear { peer: Some(peer) });
        // The child SAs leave our data plane at once.
        assert!(net.nodes[deleter].installed.is_empty());
        assert!(!outputs.is_empty());
        net.run();
        for i in [0, 1] {
            assert!(net.nodes[i].installed.is_empty(), "node {i}");
            assert!(net.nodes[i].ike.snapshot().ike_sas.is_empty(), "node {i}");
        }
        assert_eq!(net.count(other, down(DownReason::DeletedByPeer)), 1);
        assert_eq!(net.count(deleter, down(DownReason::Deleted)), 1);
        assert_eq!(net.nodes[other].ike.counters().deletes_received, 1);
        // Nothing is left to do.
        net.advance(secs(100));
        assert_eq!(net.wire.len(), 6);
    }
}

#[test]
fn dpd_declares_a_silent_peer_dead() {
    let mut a = config();
    a.dpd_interval = Some(secs(10));
    let mut net = Net::pair(a, config());
    net.acquire(0, 1);
    matching_pair(&net);
    // Liveness checks answered: nothing happens.
    net.advance(secs(35));
    assert!(net.count(0, down(DownReason::DeadPeer)) == 0);
    assert_eq!(net.nodes[0].installed.len(), 1);
    let checks = net.wire.len() - 4;
    assert_eq!(checks, 6, "three checks and their answers");
    // Now the peer is gone.
    net.filter = Box::new(|_| Fate::Drop);
    let before = net.wire.len();
    net.advance(secs(10 + 16));
    assert_eq!(net.count(0, down(DownReason::DeadPeer)), 1);
    assert!(net.nodes[0].installed.is_empty());
    assert!(net.nodes[0].ike.snapshot().ike_sas.is_empty());
    let c = net.nodes[0].ike.counters();
    assert_eq!((c.dead_peers, c.retransmissions), (1, 4));
    assert_eq!(net.wire.len() - before, 5);
}

#[test]
fn lost_first_message_is_retransmitted() {
    let mut net = Net::pair(config(), config());
    let mut dropped = false;
    net.filter = Box::new(move |_| {
        if dropped {
            Fate::Deliver
        } else {
            dropped = true;
            Fate::Drop
        }
    });
    net.acquire(0, 1);
    assert!(net.nodes[0].installed.is_empty());
    net.advance(Duration::from_millis(499));
    assert_eq!(net.wire.len(), 1);
    net.advance(Duration::from_millis(1));
    matching_pair(&net);
    assert_eq!(net.nodes[0].ike.counters().retransmissions, 1);
    assert_eq!(net.wire[0].bytes, net.wire[1].bytes);
}

#[test]
fn handshake_gives_up_after_the_retransmissions() {
    let mut net = Net::pair(config(), config());
    net.filter = Box::new(|_| Fate::Drop);
    net.acquire(0, 1);
    net.advance(secs(60));
    assert_eq!(net.wire.len(), 5);
    assert_eq!(net.count(0, down(DownReason::Timeout)), 1);
    assert!(net.nodes[0].ike.snapshot().ike_sas.is_empty());
    assert_eq!(net.nodes[0].ike.next_wakeup(), None);
}

#[test]
fn duplicate_requests_are_answered_from_the_cache() {
    let mut net = Net::pair(config(), config());
    net.filter = Box::new(|d| {
        if d.is_response() {
            Fate::Deliver
        } else {
            Fate::Duplicate
        }
    });
    net.acquire(0, 1);
    matching_pair(&net);
    let b = net.nodes[1].ike.counters();
    // IKE_SA_INIT and IKE_AUTH each came twice, were processed once.
    assert_eq!(b.responses_resent, 2);
    assert_eq!((b.ike_sas_established, b.child_sas_installed), (1, 1));
    // A got each answer twice; the second IKE_AUTH answer is stale.
    let a = net.nodes[0].ike.counters();
    assert_eq!(a.invalid_message_id, 2);
    assert_eq!(a.ike_sas_established, 1);
}

#[test]
fn initial_contact_after_a_restart_removes_the_old_sas() {
    let mut net = Net::pair(config(), config());
    net.acquire(0, 1);
    let (_, old_b) = matching_pair(&net);
    net.advance(secs(5));
    net.restart(0, config());
    net.acquire(0, 1);
    let (_, new_b) = matching_pair(&net);
    assert_ne!(new_b.inbound_spi, old_b.inbound_spi);
    assert_eq!(net.nodes[1].removed, [old_b.inbound_spi]);
    assert_eq!(net.count(1, down(DownReason::InitialContact)), 1);
    assert_eq!(net.nodes[1].ike.snapshot().ike_sas.len(), 1);
}

/// Both ends initiate at once (crossing IKE_SA_INITs): both sent
/// INITIAL_CONTACT, yet neither SA was up before the other began, so that
/// deletes neither; the redundant one (lowest nonce, as for a rekey
/// collision, RFC 7296, 2.8.1) is deleted by the end that initiated it,
/// and both ends keep the same IKE SA and child SA pair.
#[test]
fn simultaneous_initiations_keep_one_ike_sa() {
    let mut net = Net::pair(config(), config());
    let (a, b) = (net.addr(0), net.addr(1));
    net.input(0, Input::Acquire { local: a, peer: b });
    net.input(1, Input::Acquire { local: b, peer: a });
    net.run();
    let sas = |i: usize| {
        let snapshot = net.nodes[i].ike.snapshot();
        let up = snapshot.ike_sas.iter();
        let up = up.filter(|sa| sa.state == State::Established);
        up.map(|sa| (sa.spi_i, sa.spi_r)).collect::<Vec<_>>()
    };
    assert_eq!(sas(0).len(), 1, "{:?}", sas(0));
    assert_eq!(sas(0), sas(1));
    let deleted: Vec<u64> = (0..2)
        .map(|i| net.nodes[i].ike.counters().redundant_sas_deleted)
        .collect();
    assert_eq!(deleted.iter().sum::<u64>(), 1, "{deleted:?}");
    for i in [0, 1] {
        assert_eq!(net.count(i, down(DownReason::InitialContact)), 0);
        assert_eq!(net.nodes[i].installed.len(), 1, "node {i}");
    }
    for (spi, child) in &net.nodes[0].installed {
        let other = net.nodes[1].installed.get(&child.outbound_spi);
        assert_eq!(other.map(|o| o.outbound_spi), Some(*spi));
    }
}

/// While our IKE_AUTH awaits its answer, the peer may already send on the
/// child SA it installed as it answered: the data plane holds such ESP
/// (`child_sa_coming`) instead of dropping it. Not for the responder, nor
/// once the answer came.
#[test]
fn a_child_sa_is_coming_while_our_ike_auth_awaits_its_answer() {
    let mut net = Net::pair(config(), config());
    let (a, b) = (net.addr(0), net.addr(1));
    assert!(!net.nodes[0].ike.child_sa_coming(b));
    net.filter = Box::new(|d| {
        if d.exchange() == ExchangeType::IKE_AUTH && d.is_response() {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    net.acquire(0, 1);
    assert_eq!(net.nodes[1].installed.len(), 1);
    assert!(net.nodes[0].ike.child_sa_coming(b));
    assert!(!net.nodes[1].ike.child_sa_coming(a));
    // The retransmission gets the answer again, from the cache.
    net.filter = Box::new(|_| Fate::Deliver);
    net.advance(secs(1));
    matching_pair(&net);
    assert!(!net.nodes[0].ike.child_sa_coming(b));
}

#[test]
fn acquire_is_idempotent() {
    let mut net = Net::pair(config(), config());
    net.acquire(0, 1);
    net.acquire(0, 1);
    matching_pair(&net);
    // B wanting A as well while the SA is up: nothing new either.
    net.acquire(1, 0);
    assert_eq!(net.wire.len(), 4);
    assert_eq!(net.nodes[0].ike.snapshot().ike_sas.len(), 1);
}

#[test]
fn half_open_sas_are_bounded_and_expire() {
    let mut b = config();
    b.max_half_open = 2;
    let mut configs = vec![config(); 3];
    configs.insert(0, b);
    let mut net = Net::new(configs);
    // Three initiators, whose IKE_AUTH never arrives.
    net.filter = Box::new(|d| {
        if d.exchange() == ExchangeType::IKE_AUTH {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    for i in 1..=3 {
        net.acquire(i, 0);
    }
    let c = net.nodes[0].ike.counters();
    assert_eq!(c.half_open_dropped, 1);
    assert_eq!(net.nodes[0].ike.snapshot().ike_sas.len(), 2);
    net.advance(secs(30));
    let c = net.nodes[0].ike.counters();
    assert_eq!(c.half_open_expired, 2);
    assert!(net.nodes[0].ike.snapshot().ike_sas.is_empty());
}

#[test]
fn configure_applies_to_new_sas_only() {
    let mut net = Net::pair(config(), config());
    net.acquire(0, 1);
    let mut c = config();
    c.ike_proposals = vec![cbc()];
    net.input(0, Input::Configure(Box::new(c)));
    // The existing SA keeps its algorithms.
    let s = net.nodes[0].ike.snapshot();
    assert_eq!(s.ike_sas[0].proposal, Some(config().ike_proposals[0]));
    net.restart(1, config());
    net.input(0, Input::Clear { peer: None });
    net.acquire(0, 1);
    // The old SA waits for the answer to its Delete; the new one is up.
    let s = net.nodes[0].ike.snapshot();
    let up = s.ike_sas.iter().find(|sa| sa.state == State::Established);
    assert_eq!(up.and_then(|sa| sa.proposal), Some(cbc()));
}

#[test]
fn snapshot_serializes() {
    let mut net = Net::pair(config(), config());
    net.acquire(0, 1);
    let json = serde_json::to_value(net.nodes[1].ike.snapshot()).expect("serializes");
    let sa = &json["ike_sas"][0];
    assert_eq!(sa["role"], "responder");
    assert_eq!(sa["state"], "established");
    assert_eq!(sa["child_sas"][0]["mode"], "transport");
    assert_eq!(json["counters"]["ike_sas_established"], 1);
    assert!(!json.to_string().contains("key\""), "no keys in snapshots");
}
