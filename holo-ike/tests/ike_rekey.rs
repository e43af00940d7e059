//! CREATE_CHILD_SA (RFC 7296, 1.3, 2.8): rekeys of child SAs and of the
//! IKE SA under traffic (make before break: no ESP packet ever meets a
//! receiver without its SA), PFS, collisions (2.8.1), rekeys crossing a
//! Delete (2.25), and the fallback to re-establishing when a rekey fails.

mod ike_sim;

use std::time::Duration;

use holo_ike::crypto::DhGroup;
use holo_ike::ike::{Config, Input};
use holo_ike::packet::ExchangeType;
use ike_sim::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = config();
    f(&mut c);
    c
}

/// Messages of `exchange` on the wire (requests only unless `responses`).
fn count(net: &Net, exchange: ExchangeType, responses: bool) -> usize {
    net.wire
        .iter()
        .filter(|d| d.exchange() == exchange && (responses || !d.is_response()))
        .count()
}

fn up_with_traffic(a: Config, b: Config) -> Net {
    let mut net = Net::pair(a, b);
    net.traffic = Some(Traffic::default());
    net.acquire(0, 1);
    matching_pair(&net);
    net
}

/// No ESP packet was lost, many were delivered, and no node was ever left
/// without an outbound SA.
fn assert_no_gap(net: &Net) {
    let t = net.traffic.as_ref().expect("traffic on");
    assert!(t.lost.is_empty(), "lost: {:?}", t.lost);
    assert!(t.delivered > 10, "delivered {}", t.delivered);
    for (i, n) in net.nodes.iter().enumerate() {
        assert_eq!(n.outbound_lost, 0, "node {i} lost its outbound SA");
    }
}

#[test]
fn child_sa_rekey_under_traffic_makes_before_it_breaks() {
    let a = with(|c| c.child_lifetime = secs(100));
    let b = with(|c| c.child_lifetime = secs(100));
    let mut net = up_with_traffic(a, b);
    let (old, _) = matching_pair(&net);
    // The soft lifetime is at 85 to 90 s; the old SA goes 3 s later.
    net.advance(secs(84));
    assert_eq!(matching_pair(&net).0.inbound_spi, old.inbound_spi);
    net.advance(secs(10));
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert_ne!(new.inbound_encr_key, old.inbound_encr_key);
    for i in [0, 1] {
        let c = net.nodes[i].ike.counters();
        assert_eq!(c.child_sas_rekeyed, 1, "node {i}");
        assert_eq!(c.ike_sas_rekeyed, 0, "node {i}");
        assert_eq!(net.nodes[i].ike.snapshot().ike_sas.len(), 1, "node {i}");
        assert_eq!(net.nodes[i].removed.len(), 1, "node {i}");
        // Make before break: the old inbound SA outlived the new one's
        // arrival by at least 2 s on each side.
        let h = &net.nodes[i].history;
        let installed = h.iter().filter(|e| e.2).map(|e| e.0).max().expect("new");
        let removed = h.iter().find(|e| !e.2).map(|e| e.0).expect("old removed");
        assert!(removed >= installed + secs(2), "node {i}: {h:?}");
    }
    assert_eq!(count(&net, ExchangeType::IKE_SA_INIT, true), 2);
    assert_eq!(count(&net, ExchangeType::CREATE_CHILD_SA, false), 1);
    // And again, and again: one pair at a time, never a gap.
    net.advance(secs(400));
    matching_pair(&net);
    assert!(net.nodes[0].ike.counters().child_sas_rekeyed >= 4);
    assert_eq!(count(&net, ExchangeType::IKE_SA_INIT, true), 2);
    assert_no_gap(&net);
}

#[test]
fn child_sa_rekey_with_pfs_and_a_responder_that_follows() {
    let a = with(|c| {
        c.child_lifetime = secs(100);
        c.pfs = Some(DhGroup::Ecp256);
    });
    // B has no PFS of its own, and takes A's group.
    let mut net = up_with_traffic(a, config());
    let (old, _) = matching_pair(&net);
    net.advance(secs(94));
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert_eq!(net.nodes[1].ike.counters().child_sas_rekeyed, 1);
    assert_no_gap(&net);
}

#[test]
fn ike_sa_rekey_keeps_the_child_sas_and_deletes_the_old_ike_sa() {
    let a = with(|c| c.ike_lifetime = secs(100));
    let b = with(|c| c.ike_lifetime = secs(100));
    let mut net = up_with_traffic(a, b);
    let (child, _) = matching_pair(&net);
    let old = net.nodes[0].ike.snapshot().ike_sas[0].clone();
    net.advance(secs(95));
    let (same, _) = matching_pair(&net);
    assert_eq!(same.inbound_spi, child.inbound_spi);
    let sa = |i: usize| {
        let mut sas = net.nodes[i].ike.snapshot().ike_sas;
        assert_eq!(sas.len(), 1, "node {i}");
        sas.remove(0)
    };
    let (a, b) = (sa(0), sa(1));
    assert_eq!((a.spi_i, a.spi_r), (b.spi_i, b.spi_r));
    assert_ne!(a.spi_i, old.spi_i);
    assert_ne!(a.spi_r, old.spi_r);
    assert_eq!(a.child_sas.len(), 1);
    for i in [0, 1] {
        assert_eq!(net.nodes[i].ike.counters().ike_sas_rekeyed, 1, "node {i}");
        assert!(net.nodes[i].removed.is_empty(), "node {i}");
        // A rekey is no IKE SA going down.
        let down = |n: &holo_ike::ike::Notification| {
            matches!(n, holo_ike::ike::Notification::IkeSaDown { .. })
        };
        assert_eq!(net.count(i, down), 0, "node {i}");
    }
    // The new IKE SA works: liveness and child SA rekeys over it, and a
    // Clear through it removes everything on both sides.
    net.advance(secs(3600));
    matching_pair(&net);
    assert!(net.nodes[0].ike.counters().child_sas_rekeyed >= 1);
    assert!(net.nodes[0].ike.counters().ike_sas_rekeyed >= 30);
    assert_no_gap(&net);
    net.traffic = None;
    net.input(0, Input::Clear { peer: None });
    net.run();
    for i in [0, 1] {
        assert!(net.nodes[i].installed.is_empty(), "node {i}");
        assert!(net.nodes[i].ike.snapshot().ike_sas.is_empty(), "node {i}");
    }
}

#[test]
fn refused_rekey_falls_back_to_reestablishing() {
    // PFS groups that cannot meet: A's rekey is refused.
    let a = with(|c| {
        c.child_lifetime = secs(100);
        c.pfs = Some(DhGroup::Ecp256);
    });
    let b = with(|c| c.pfs = Some(DhGroup::Curve25519));
    let mut net = up_with_traffic(a, b);
    let (old, _) = matching_pair(&net);
    net.advance(secs(95));
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert_eq!(net.nodes[0].ike.counters().rekeys_failed, 1);
    assert_eq!(net.nodes[1].ike.counters().no_proposal, 1);
    assert_eq!(count(&net, ExchangeType::IKE_SA_INIT, false), 2);
    for i in [0, 1] {
        assert_eq!(net.nodes[i].ike.snapshot().ike_sas.len(), 1, "node {i}");
    }
    assert_no_gap(&net);
    // Released: no more replacements.
    let peer = net.addr(1);
    net.input(0, Input::Release { peer });
    net.traffic = None;
    net.advance(secs(1000));
    for i in [0, 1] {
        assert!(net.nodes[i].ike.snapshot().ike_sas.is_empty(), "node {i}");
    }
}

#[test]
fn lost_child_sa_is_made_again_with_create_child_sa() {
    // B's rekey needs no PFS, A insists on it: B's rekey fails, B does
    // not want A (no Acquire), so its child SA reaches the hard lifetime.
    let a = with(|c| c.pfs = Some(DhGroup::Ecp256));
    let b = with(|c| c.child_lifetime = secs(60));
    let mut net = Net::pair(a, b);
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    net.advance(secs(60));
    for i in [0, 1] {
        assert!(net.nodes[i].installed.is_empty(), "node {i}");
        assert_eq!(net.nodes[i].ike.snapshot().ike_sas.len(), 1, "node {i}");
    }
    assert_eq!(net.nodes[1].ike.counters().rekeys_failed, 1);
    assert_eq!(net.nodes[0].removed, [old.inbound_spi]);
    // The data plane asks again: a new child SA in the same IKE SA.
    net.acquire(0, 1);
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert_eq!(count(&net, ExchangeType::IKE_SA_INIT, false), 1);
    assert_eq!(count(&net, ExchangeType::CREATE_CHILD_SA, false), 2);
}

#[test]
fn child_sa_hard_lifetime_when_the_rekey_gets_no_answer() {
    let a = with(|c| c.child_lifetime = secs(100));
    let b = with(|c| c.child_lifetime = secs(100));
    let mut net = Net::pair(a, b);
    net.acquire(0, 1);
    net.filter = Box::new(|d| {
        if d.exchange() == ExchangeType::CREATE_CHILD_SA {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    net.advance(secs(99));
    assert_eq!(net.nodes[0].installed.len(), 1);
    net.advance(secs(1));
    for i in [0, 1] {
        assert!(net.nodes[i].installed.is_empty(), "node {i}");
    }
}

/// Holds CREATE_CHILD_SA requests until both nodes sent one, then lets
/// them cross.
fn collide(net: &mut Net, until: u64) {
    net.filter = Box::new(|d| {
        if d.exchange() == ExchangeType::CREATE_CHILD_SA && !d.is_response() {
            Fate::Hold
        } else {
            Fate::Deliver
        }
    });
    let from = |net: &Net, i: usize| net.held.iter().any(|d| d.from.ip() == net.addr(i));
    for _ in 0..until * 10 {
        net.advance(Duration::from_millis(100));
        if from(net, 0) && from(net, 1) {
            break;
        }
    }
    assert!(from(net, 0) && from(net, 1), "both rekeyed");
    net.filter = Box::new(|_| Fate::Deliver);
    net.release();
}

#[test]
fn simultaneous_child_sa_rekeys_keep_one_pair() {
    let a = with(|c| c.child_lifetime = secs(100));
    let b = with(|c| c.child_lifetime = secs(100));
    let mut net = up_with_traffic(a, b);
    let (old, _) = matching_pair(&net);
    collide(&mut net, 100);
    net.advance(secs(40));
    // RFC 7296, 2.8.1: each saw the collision, the side that made the SA
    // with the lowest nonce deleted it, and one pair is left (the old
    // one gone too).
    let c = [0, 1].map(|i| net.nodes[i].ike.counters());
    assert_eq!((c[0].rekey_collisions, c[1].rekey_collisions), (1, 1));
    assert_eq!(c[0].redundant_sas_deleted + c[1].redundant_sas_deleted, 1);
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    for i in [0, 1] {
        let sas = net.nodes[i].ike.snapshot().ike_sas;
        assert_eq!(sas.len(), 1, "node {i}");
        assert_eq!(sas[0].child_sas.len(), 1, "node {i}");
    }
    // The data plane never lost its outbound SA; packets sent on the
    // redundant SA in the crossing can be lost (it is never installed by
    // the side that deletes it), but only those.
    for i in [0, 1] {
        assert_eq!(net.nodes[i].outbound_lost, 0, "node {i}");
    }
    let lost = |net: &Net| net.traffic.as_ref().map_or(0, |t| t.lost.len());
    let spis: std::collections::BTreeSet<u32> = net
        .traffic
        .iter()
        .flat_map(|t| t.lost.iter().map(|l| l.1))
        .collect();
    assert!(spis.len() <= 1, "{spis:?}");
    // Later rekeys are ordinary again: nothing more is lost.
    let before = lost(&net);
    net.advance(secs(100));
    matching_pair(&net);
    assert_eq!(lost(&net), before);
}

#[test]
fn simultaneous_ike_sa_rekeys_keep_one_ike_sa_with_the_children() {
    let a = with(|c| c.ike_lifetime = secs(100));
    let b = with(|c| c.ike_lifetime = secs(100));
    let mut net = up_with_traffic(a, b);
    let (child, _) = matching_pair(&net);
    collide(&mut net, 100);
    net.advance(secs(40));
    let c = [0, 1].map(|i| net.nodes[i].ike.counters());
    assert_eq!((c[0].rekey_collisions, c[1].rekey_collisions), (1, 1));
    assert_eq!(c[0].redundant_sas_deleted + c[1].redundant_sas_deleted, 1);
    let sa = |i: usize| {
        let mut sas = net.nodes[i].ike.snapshot().ike_sas;
        assert_eq!(sas.len(), 1, "node {i}: {sas:?}");
        sas.remove(0)
    };
    let (a, b) = (sa(0), sa(1));
    assert_eq!((a.spi_i, a.spi_r), (b.spi_i, b.spi_r));
    assert_eq!(a.child_sas.len(), 1);
    assert_eq!(b.child_sas.len(), 1);
    // The child SAs were carried over, untouched.
    assert_eq!(matching_pair(&net).0.inbound_spi, child.inbound_spi);
    assert_no_gap(&net);
    // The survivor works.
    net.advance(secs(200));
    matching_pair(&net);
}

#[test]
fn child_sa_rekey_crossing_an_ike_sa_delete() {
    let b = with(|c| c.child_lifetime = secs(100));
    let mut net = Net::pair(config(), b);
    net.acquire(0, 1);
    net.filter = Box::new(|d| {
        if d.exchange() == ExchangeType::CREATE_CHILD_SA {
            Fate::Hold
        } else {
            Fate::Deliver
        }
    });
    net.advance(secs(91));
    assert!(!net.held.is_empty(), "B's rekey request");
    assert!(net.held.iter().all(|d| d.from.ip() == net.addr(1)));
    // A clears the peer while B's request is on its way: B answers the
    // Delete (RFC 7296, 2.25.2) and forgets its rekey; A answers B's
    // request TEMPORARY_FAILURE if it still has the SA, else drops it.
    let peer = net.addr(1);
    net.input(0, Input::Clear { peer: Some(peer) });
    net.filter = Box::new(|_| Fate::Deliver);
    net.release();
    net.run();
    net.advance(secs(60));
    for i in [0, 1] {
        assert!(net.nodes[i].installed.is_empty(), "node {i}");
        assert!(net.nodes[i].ike.snapshot().ike_sas.is_empty(), "node {i}");
    }
}

#[test]
fn ike_sa_rekey_request_to_an_sa_being_deleted_is_a_temporary_failure() {
    let b = with(|c| c.ike_lifetime = secs(100));
    let mut net = Net::pair(config(), b);
    net.acquire(0, 1);
    // A's Delete is held, B's rekey goes to A, which is deleting.
    net.filter = Box::new(|d| {
        if d.exchange() == ExchangeType::INFORMATIONAL && !d.is_response() {
            Fate::Hold
        } else {
            Fate::Deliver
        }
    });
    net.advance(secs(80));
    let peer = net.addr(1);
    net.input(0, Input::Clear { peer: Some(peer) });
    net.run();
    net.advance(secs(11));
    // Once, or twice when B's retry (5 to 10 s after its rekey at 85 to
    // 90 s) came before 91 s.
    let refused = net.nodes[0].ike.counters().temporary_failures;
    assert!((1..=2).contains(&refused), "{refused}");
    // B keeps its SA and tries later; the Delete then arrives.
    assert_eq!(net.nodes[1].ike.snapshot().ike_sas.len(), 1);
    net.filter = Box::new(|_| Fate::Deliver);
    net.release();
    net.advance(secs(60));
    for i in [0, 1] {
        assert!(net.nodes[i].ike.snapshot().ike_sas.is_empty(), "node {i}");
    }
}
