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

/// Node 0's first IKE_SA_INIT request to `to`, from a fresh instance at
/// `from` (a fresh SPI and nonce each time).
fn first_request(from: std::net::IpAddr, to: std::net::IpAddr, now: Instant) -> Vec<u8> {
    let mut ike = Ike::new(config());
    let out = ike.handle(
        Input::Acquire {
            local: from,
            peer: to,
        },
        now,
    );
    out.into_iter()
        .find_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes),
            _ => None,
        })
        .expect("an IKE_SA_INIT request")
}

#[test]
fn cookies_bound_half_open_state_under_a_spoofed_flood() {
    let mut hub = config();
    hub.cookie_threshold = 5;
    let mut net = Net::new(vec![hub, config(), config()]);
    // An IKE SA that is up before the flood.
    net.acquire(2, 0);
    assert_eq!(net.nodes[2].installed.len(), 1);
    let hub_addr = SocketAddr::new(net.addr(0), 500);
    for k in 0..200u32 {
        let spoofed: std::net::IpAddr = [198, 51, (k / 250) as u8, (k % 250 + 1) as u8].into();
        let bytes = first_request(spoofed, net.addr(0), net.now);
        let out = net.input(
            0,
            Input::Packet {
                local: hub_addr,
                remote: SocketAddr::new(spoofed, 500),
                bytes,
            },
        );
        assert_eq!(sends(&out), 1, "one small answer each");
    }
    net.run();
    // Five half-open SAs (the threshold), then only cookies.
    let c = net.nodes[0].ike.counters();
    assert_eq!(c.cookies_sent, 195);
    assert_eq!(c.cookies_rejected, 0);
    assert_eq!(net.nodes[0].ike.snapshot().ike_sas.len(), 1 + 5);
    // A real initiator retries with the cookie first and gets in.
    net.acquire(1, 0);
    assert_eq!(net.nodes[1].installed.len(), 1);
    assert_eq!(net.nodes[0].installed.len(), 2);
    assert_eq!(net.nodes[0].ike.counters().cookies_sent, 196);
    let from_1: Vec<_> = net
        .wire
        .iter()
        .filter(|d| d.from.ip() == net.addr(1) && d.exchange() == ExchangeType::IKE_SA_INIT)
        .collect();
    assert_eq!(from_1.len(), 2);
    let retry = Message::parse(&from_1[1].bytes).expect("parses");
    assert!(matches!(&retry.payloads[0].body,
        holo_ike::packet::PayloadBody::Notify(n)
            if n.notify_type == holo_ike::packet::NotifyType::COOKIE));
    // Its cookie is no good from another address.
    let replay = from_1[1].bytes.clone();
    let out = net.input(
        0,
        Input::Packet {
            local: hub_addr,
            remote: "203.0.113.9:500".parse().expect("a"),
            bytes: replay,
        },
    );
    assert_eq!(sends(&out), 1);
    assert_eq!(net.nodes[0].ike.counters().cookies_rejected, 1);
    // The SA from before the flood is untouched; the half-open ones
    // expire and cookies are no longer asked for.
    assert_eq!(net.nodes[2].installed.len(), 1);
    net.advance(std::time::Duration::from_secs(31));
    assert_eq!(net.nodes[0].ike.snapshot().ike_sas.len(), 2);
    // (197: the replay above got a fresh cookie too.)
    assert_eq!(net.nodes[0].ike.counters().cookies_sent, 197);
    net.restart(1, config());
    net.acquire(1, 0);
    assert_eq!(net.nodes[0].ike.counters().cookies_sent, 197);
    assert_eq!(net.nodes[1].installed.len(), 1);
}
