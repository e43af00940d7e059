//! Hostile input: garbage, truncated and oversized datagrams, flipped
//! bits in real messages, stale SPIs. Nothing panics, everything is
//! counted, and what we send back stays bounded.

mod ike_sim;

use std::net::SocketAddr;
use std::time::Instant;

use holo_ike::ike::{Ike, Input, Output};
use holo_ike::packet::{ExchangeType, Flags, Message, header};
use ike_sim::*;
use proptest::prelude::*;

fn addrs() -> (SocketAddr, SocketAddr) {
    (
        "10.0.0.2:500".parse().expect("a"),
        "10.0.0.1:500".parse().expect("a"),
    )
}

fn feed(ike: &mut Ike, bytes: Vec<u8>, now: Instant) -> Vec<Output> {
    let (local, remote) = addrs();
    ike.handle(
        Input::Packet {
            local,
            remote,
            bytes,
        },
        now,
    )
}

fn sends(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Send { .. }))
        .count()
}

/// A real handshake's four messages.
fn wire() -> Vec<Vec<u8>> {
    let mut net = Net::pair(config(), config());
    net.acquire(0, 1);
    net.wire.iter().map(|d| d.bytes.clone()).collect()
}

#[test]
fn garbage_truncated_and_oversized_are_counted() {
    let net = Net::pair(config(), config());
    let mut ike = Ike::new(config());
    assert!(sends(&feed(&mut ike, vec![], net.now)) == 0);
    assert!(sends(&feed(&mut ike, vec![0xff; 3], net.now)) == 0);
    assert!(sends(&feed(&mut ike, vec![0; 70_000], net.now)) == 0);
    let c = ike.counters();
    assert_eq!((c.packets_in, c.malformed, c.packets_out), (3, 3, 0));
    // Every prefix of every real message, to a fresh responder.
    for message in wire() {
        for len in 0..message.len() {
            let out = feed(&mut ike, message[..len].to_vec(), net.now);
            assert_eq!(sends(&out), 0, "prefix of {len} bytes answered");
        }
    }
    assert!(ike.counters().malformed > 100);
    assert!(ike.snapshot().ike_sas.is_empty());
}

#[test]
fn responses_and_requests_for_unknown_spis_are_dropped_and_counted() {
    let net = Net::pair(config(), config());
    let mut ike = Ike::new(config());
    for (flags, exchange) in [
        (Flags::RESPONSE, ExchangeType::INFORMATIONAL),
        (Flags::INITIATOR, ExchangeType::IKE_AUTH),
        (Flags::RESPONSE, ExchangeType::IKE_SA_INIT),
    ] {
        let m = Message {
            spi_initiator: 0x1111,
            spi_responder: 0x2222,
            major_version: header::MAJOR_VERSION,
            minor_version: 0,
            exchange_type: exchange,
            flags: Flags(flags),
            message_id: 1,
            payloads: vec![],
        };
        let out = feed(&mut ike, m.emit().expect("emits"), net.now);
        assert_eq!(sends(&out), 0);
    }
    assert_eq!(ike.counters().unknown_spi, 3);
}

#[test]
fn flipped_bits_in_an_established_exchange_never_break_the_sa() {
    let mut net = Net::pair(config(), config());
    net.acquire(0, 1);
    matching_pair(&net);
    let auth_request = net.wire[2].bytes.clone();
    for bit in (0..auth_request.len() * 8).step_by(7) {
        let mut bytes = auth_request.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let out = feed(&mut net.nodes[1].ike, bytes, net.now);
        // At most the cached answer again (when the flip hit nothing
        // checked before the cache, e.g. the ciphertext).
        assert!(sends(&out) <= 1);
    }
    // Still up, and only one child SA was ever made.
    assert_eq!(net.nodes[1].ike.counters().child_sas_installed, 1);
    assert_eq!(net.nodes[1].ike.snapshot().ike_sas.len(), 1);
    let peer = net.addr(0);
    net.input(1, Input::Clear { peer: Some(peer) });
    net.run();
    assert!(net.nodes[0].ike.snapshot().ike_sas.is_empty());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let net = Net::pair(config(), config());
        let mut ike = Ike::new(config());
        let out = feed(&mut ike, bytes, net.now);
        prop_assert!(sends(&out) <= 1);
        prop_assert_eq!(ike.counters().packets_in, 1);
    }

    #[test]
    fn mutated_real_messages_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let mut net = Net::pair(config(), config());
        net.acquire(0, 1);
        let mut bytes = net.wire[which].bytes.clone();
        for (at, x) in flips {
            let len = bytes.len();
            bytes[at % len] ^= x;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        for i in [0, 1] {
            let out = feed(&mut net.nodes[i].ike, bytes.clone(), net.now);
            prop_assert!(sends(&out) <= 1);
        }
    }
}
