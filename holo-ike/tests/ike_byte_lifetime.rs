//! Byte lifetimes and sequence number exhaustion of child SAs (RFC 4301,
//! 4.4.2.1; RFC 4303, 3.3.3): what the data plane counted, reported with
//! `Input::ChildSaUsage`, rekeys a child SA at its soft limit (85 to 90 %,
//! on the path of the soft time lifetime) and deletes it at its hard one.

mod ike_sim;

use std::time::Duration;

use holo_ike::ike::usage::{PEER_FIRST, USAGE_INTERVAL};
use holo_ike::ike::{ChildSaUsage, Config, Input, Output};
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

/// The bytes of each ESP packet the sim sends: about one per second and
/// direction (one per usage report), so 1000 bytes a second.
const PACKET: u64 = 1000;

fn limited(bytes: u64) -> Config {
    with(|c| c.child_lifetime_bytes = Some(bytes))
}

/// Messages of `exchange` on the wire (requests only).
fn requests(net: &Net, exchange: ExchangeType) -> usize {
    net.wire
        .iter()
        .filter(|d| d.exchange() == exchange && !d.is_response())
        .count()
}

fn usage(inbound_spi: u32, bytes: u64, sequence: u64) -> Input {
    Input::ChildSaUsage(vec![ChildSaUsage {
        inbound_spi,
        inbound_bytes: bytes,
        outbound_bytes: 0,
        outbound_sequence: sequence,
    }])
}

fn removed(outputs: &[Output]) -> Vec<u32> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::RemoveChildSa { inbound_spi, .. } => Some(*inbound_spi),
            _ => None,
        })
        .collect()
}

#[test]
fn counted_traffic_rekeys_at_the_soft_byte_limit_before_the_hard_one() {
    // 100 kB: the soft limit comes after 85 to 90 s of traffic, the time
    // lifetime (an hour) never.
    let mut net = Net::pair(limited(100 * PACKET), limited(100 * PACKET));
    net.traffic = Some(Traffic {
        packet_bytes: PACKET,
        ..Traffic::default()
    });
    let start = net.now;
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    net.advance(secs(75));
    assert_eq!(matching_pair(&net).0.inbound_spi, old.inbound_spi);
    let snapshot = net.nodes[0].ike.snapshot();
    let counted = &snapshot.ike_sas[0].child_sas[0];
    assert!(counted.bytes >= 70 * PACKET, "{counted:?}");
    assert_eq!(counted.lifetime_bytes, Some(100 * PACKET));
    net.advance(secs(25));
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 1);
    for i in [0, 1] {
        assert_eq!(net.nodes[i].ike.counters().child_sas_rekeyed, 1, "node {i}");
        // Installed at the soft limit; the old one retired (make before
        // break), not deleted at its hard limit.
        let h = &net.nodes[i].history;
        let installed = h.iter().filter(|e| e.2).map(|e| e.0).max().expect("new");
        assert!(installed >= start + secs(75), "node {i}: {h:?}");
        assert!(installed <= start + secs(95), "node {i}: {h:?}");
        let removed = h.iter().find(|e| !e.2).map(|e| e.0).expect("old removed");
        assert!(removed >= installed + secs(2), "node {i}: {h:?}");
        assert_eq!(net.nodes[i].outbound_lost, 0, "node {i}");
    }
    // The new SA counts from zero: a rekey every 85 to 90 s, one pair at
    // a time, in the same IKE SA, and no ESP packet ever lost.
    net.advance(secs(400));
    // Unless a rekey is in its make-before-break seconds right now.
    for _ in 0..5 {
        if net.nodes.iter().all(|n| n.installed.len() == 1) {
            break;
        }
        net.advance(secs(1));
    }
    matching_pair(&net);
    assert!(net.nodes[0].ike.counters().child_sas_rekeyed >= 5);
    assert_eq!(requests(&net, ExchangeType::IKE_SA_INIT), 1);
    let t = net.traffic.as_ref().expect("traffic");
    assert!(t.lost.is_empty(), "lost: {:?}", t.lost);
    for (i, n) in net.nodes.iter().enumerate() {
        assert_eq!(n.outbound_lost, 0, "node {i}");
        // Both count the same bytes, yet never rekey at once.
        assert_eq!(n.ike.counters().rekey_collisions, 0, "node {i}");
    }
}

#[test]
fn counted_traffic_deletes_the_child_sa_at_the_hard_byte_limit() {
    // B's rekey fails (A insists on PFS) and B does not want A, so
    // nothing replaces B's child SA: it goes at 100 kB, after about 100 s.
    let a = with(|c| c.pfs = Some(holo_ike::crypto::DhGroup::Ecp256));
    let mut net = Net::pair(a, limited(100 * PACKET));
    net.traffic = Some(Traffic {
        packet_bytes: PACKET,
        ..Traffic::default()
    });
    let start = net.now;
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    net.advance(secs(120));
    assert_eq!(net.nodes[1].ike.counters().rekeys_failed, 1);
    for i in [0, 1] {
        assert!(net.nodes[i].installed.is_empty(), "node {i}");
        assert_eq!(net.nodes[i].ike.snapshot().ike_sas.len(), 1, "node {i}");
    }
    assert_eq!(net.nodes[0].removed, [old.inbound_spi]);
    let h = &net.nodes[1].history;
    let gone = h.iter().find(|e| !e.2).map(|e| e.0).expect("removed");
    assert!(
        gone >= start + secs(95) && gone <= start + secs(110),
        "{h:?}"
    );
}

#[test]
fn a_report_past_the_soft_byte_limit_starts_the_rekey_at_once() {
    let mut net = Net::pair(limited(1_000_000), config());
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    // Below 85 %, or for an SA we do not have: nothing.
    net.input(0, usage(old.inbound_spi, 849_000, 10));
    net.input(0, usage(old.inbound_spi ^ 1, 10_000_000, 10));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 0);
    // At 90 %, whatever the random fraction: rekeyed now.
    net.input(0, usage(old.inbound_spi, 900_000, 10));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 1);
    net.run();
    let (new, _) = matching_pair_after_retire(&mut net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert_eq!(net.nodes[0].ike.counters().child_sas_rekeyed, 1);
    // The old SA's reports do not rekey the new one.
    net.input(0, usage(old.inbound_spi, 2_000_000, 10));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 1);
}

/// The child SA pair once the replaced one has retired.
fn matching_pair_after_retire(net: &mut Net) -> (holo_ike::ike::ChildSa, holo_ike::ike::ChildSa) {
    net.advance(secs(5));
    matching_pair(net)
}

#[test]
fn a_report_at_the_hard_byte_limit_deletes_at_once() {
    let mut net = Net::pair(limited(1_000_000), config());
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    let outputs = net.input(0, usage(old.inbound_spi, 1_000_000, 10));
    assert_eq!(removed(&outputs), [old.inbound_spi]);
    net.run();
    for i in [0, 1] {
        assert!(net.nodes[i].installed.is_empty(), "node {i}");
    }
    assert_eq!(net.nodes[1].ike.counters().deletes_received, 1);
}

#[test]
fn sequence_numbers_near_2_32_rekey_and_at_the_last_one_delete() {
    let mut net = Net::pair(config(), config());
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    // 3.9e9 packets: past 90 % of 2^32 - 1, far from the byte limit.
    let near = 3_900_000_000;
    net.input(0, usage(old.inbound_spi, 0, near));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 1);
    net.run();
    let (new, _) = matching_pair_after_retire(&mut net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    // A new SA that used its last sequence number cannot send: deleted.
    let outputs = net.input(0, usage(new.inbound_spi, 0, u64::from(u32::MAX)));
    assert_eq!(removed(&outputs), [new.inbound_spi]);
}

#[test]
fn with_esn_and_no_byte_limit_nothing_is_counted() {
    let esn = |c: &mut Config| {
        for p in &mut c.esp_proposals {
            p.esn = true;
        }
    };
    let mut net = Net::pair(with(esn), with(esn));
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    assert!(old.esn);
    // With the default byte limit the core wants a report every second.
    let due = net.nodes[0].ike.next_wakeup().expect("wakeup");
    assert!(due <= net.now + USAGE_INTERVAL);
    net.input(0, usage(old.inbound_spi, 0, u64::from(u32::MAX) + 5));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 0);
    // Without it, only the soft time lifetime (85 to 90 % of an hour).
    let mut net = Net::pair(
        with(|c| {
            esn(c);
            c.child_lifetime_bytes = None;
        }),
        with(|c| {
            esn(c);
            c.child_lifetime_bytes = None;
        }),
    );
    net.acquire(0, 1);
    let due = net.nodes[0].ike.next_wakeup().expect("wakeup");
    assert!(due >= net.now + secs(3000), "{:?}", due - net.now);
}

#[test]
fn the_side_that_did_not_make_the_child_sa_gives_the_other_time_to_rekey() {
    // B answered the IKE_AUTH that made the child SA: past its soft limit
    // it waits (usage::PEER_FIRST) for A, whose soft limit is lower.
    let mut net = Net::pair(config(), limited(1_000_000));
    net.acquire(0, 1);
    let (_, b) = matching_pair(&net);
    net.input(1, usage(b.inbound_spi, 950_000, 10));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 0);
    net.advance(PEER_FIRST - secs(1));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 0);
    // A did not rekey (its limit is the default): B does.
    net.advance(secs(1));
    assert_eq!(requests(&net, ExchangeType::CREATE_CHILD_SA), 1);
    let rekey = net
        .wire
        .iter()
        .find(|d| d.exchange() == ExchangeType::CREATE_CHILD_SA && !d.is_response());
    assert_eq!(rekey.map(|d| d.from.ip()), Some(net.addr(1)));
}

#[test]
fn a_peer_that_counts_no_bytes_is_not_waited_for_past_the_hard_limit() {
    // A initiates and counts no bytes (strongSwan's default); B counts
    // 10 kB. B's soft limit (87.5 to 90 %: it did not initiate) leaves 1 to
    // 1.25 s of this traffic, less than PEER_FIRST: at the rate of its
    // reports B sees the hard limit coming and rekeys at once, before it.
    let a = with(|c| c.child_lifetime_bytes = None);
    let mut net = Net::pair(a, limited(10 * PACKET));
    net.traffic = Some(Traffic {
        packet_bytes: PACKET,
        ..Traffic::default()
    });
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    net.advance(secs(12));
    for _ in 0..5 {
        if net.nodes.iter().all(|n| n.installed.len() == 1) {
            break;
        }
        net.advance(secs(1));
    }
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    assert!(net.nodes[1].ike.counters().child_sas_rekeyed >= 1);
    assert_eq!(net.nodes[1].ike.counters().rekeys_failed, 0);
    let t = net.traffic.as_ref().expect("traffic");
    assert!(t.lost.is_empty(), "lost: {:?}", t.lost);
    for (i, n) in net.nodes.iter().enumerate() {
        assert_eq!(n.outbound_lost, 0, "node {i}");
    }
    // The old SA was retired after the new one came, not deleted alone.
    let h = &net.nodes[1].history;
    let removed = h.iter().find(|e| !e.2).map(|e| e.0).expect("old removed");
    let installs = h.iter().filter(|e| e.2 && e.0 <= removed).count();
    assert_eq!(installs, 2, "{h:?}");
}

#[test]
fn a_flow_fast_for_the_lifetime_rekeys_before_its_soft_limit() {
    // 1 kB a second against 4 kB: the reports see 1, 2, 3, 4 kB, and the
    // soft limit (at least 3.4 kB) first at the hard one, 4 kB. At the
    // rate of the first two the hard limit comes before the report after
    // next: the rekey starts at 2 kB.
    let mut net = Net::pair(limited(4 * PACKET), limited(4 * PACKET));
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    for second in 1..=4 {
        // A new pair is installed: the old one no longer counts.
        if net.nodes[0]
            .installed
            .iter()
            .any(|(&spi, _)| spi != old.inbound_spi)
        {
            break;
        }
        let used = second * PACKET;
        net.input(0, usage(old.inbound_spi, used, second));
        net.input(1, usage(old.outbound_spi, used, second));
        net.run();
        net.advance(USAGE_INTERVAL);
    }
    net.advance(secs(3));
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    // Rekeyed, not deleted at the hard limit: the old pair was retired
    // after the new one came.
    for i in [0, 1] {
        assert_eq!(net.nodes[i].ike.counters().rekeys_failed, 0, "node {i}");
        let h = &net.nodes[i].history;
        let removed = h.iter().find(|e| !e.2).map(|e| e.0).expect("old removed");
        let installs = h.iter().filter(|e| e.2 && e.0 <= removed).count();
        // Both may have started it (a collision, RFC 7296 2.8.1, settled
        // as usual): at least one new pair before the old one went.
        assert!(installs >= 2, "node {i}: {h:?}");
    }
}
