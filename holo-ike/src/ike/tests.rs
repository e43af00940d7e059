//! Tests that need the inside of an IKE SA: messages that only a holder
//! of the keys can build (authentic garbage, critical unknown payloads).
//! The two-node network tests are in `holo-ike/tests/`.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::*;
use crate::packet::payload::{PayloadType, UnknownPayload};
use crate::packet::{ExchangeType, Message, NotifyType, Payload, PayloadBody};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// Two instances with one IKE SA between them (A initiated).
fn established() -> (Ike, Ike, Instant) {
    let mut config = Config::cisco_defaults();
    config.psk = Psk::any("unit");
    let (mut a, mut b) = (Ike::new(config.clone()), Ike::new(config));
    let now = Instant::now();
    let (ia, ib) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let mut queue = a.handle(
        Input::Acquire {
            local: ia,
            peer: ib,
        },
        now,
    );
    let mut to_b = true;
    for _ in 0..4 {
        let mut next = vec![];
        for o in queue {
            if let Output::Send {
                local,
                remote,
                bytes,
            } = o
            {
                let input = Input::Packet {
                    local: remote,
                    remote: local,
                    bytes,
                };
                let node = if to_b { &mut b } else { &mut a };
                next.extend(node.handle(input, now));
            }
        }
        queue = next;
        to_b = !to_b;
    }
    assert_eq!(a.counters().child_sas_installed, 1);
    assert_eq!(b.counters().child_sas_installed, 1);
    (a, b, now)
}

fn the_sa(ike: &Ike) -> &sa::IkeSa {
    ike.sas.values().next().expect("one IKE SA")
}

/// A's request with `plain` as the encrypted chain, and B's answer
/// decrypted by A.
fn request_from_a(first: PayloadType, plain: &[u8]) -> (Ike, Vec<Payload>) {
    let (a, mut b, now) = established();
    let sa = the_sa(&a);
    let id = sa.window.next_request_id;
    let bytes = sa
        .seal_chain(ExchangeType::INFORMATIONAL, false, id, first, plain, &a.rng)
        .expect("sealed");
    let (local, remote) = (sa.remote, sa.local);
    let out = b.handle(
        Input::Packet {
            local,
            remote,
            bytes,
        },
        now,
    );
    let answer = out
        .iter()
        .find_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .expect("an answer");
    let message = Message::parse(&answer).expect("answer parses");
    let payloads = match sa.open(&answer, &message, remote) {
        Ok(p) => p,
        Err(e) => panic!("answer does not open: {e:?}"),
    };
    assert_eq!(message.message_id, id);
    (b, payloads)
}

fn notifies(payloads: &[Payload]) -> Vec<NotifyType> {
    payloads
        .iter()
        .filter_map(|p| match &p.body {
            PayloadBody::Notify(n) => Some(n.notify_type),
            _ => None,
        })
        .collect()
}

#[test]
fn garbage_inside_an_authentic_message_is_invalid_syntax() {
    // A Notify payload whose length (3) is shorter than its header.
    let (b, answer) = request_from_a(PayloadType::N, &[0, 0, 0, 3]);
    assert_eq!(notifies(&answer), [NotifyType::INVALID_SYNTAX]);
    assert_eq!(b.counters().malformed, 1);
    // The IKE SA survives it.
    assert!(the_sa(&b).is_established());
    assert_eq!(b.counters().integrity_failures, 0);
}

#[test]
fn unknown_critical_payload_is_refused() {
    let mut plain = vec![];
    let unknown = Payload {
        critical: true,
        reserved: 0,
        body: PayloadBody::Unknown(UnknownPayload {
            payload_type: PayloadType(200),
            data: vec![1, 2, 3],
        }),
    };
    let first = crate::packet::payload::encode_chain(&[unknown], &mut plain).expect("encodes");
    let (b, answer) = request_from_a(first, &plain);
    assert_eq!(
        notifies(&answer),
        [NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD]
    );
    assert_eq!(b.counters().malformed, 1);
}

#[test]
fn empty_informational_is_a_liveness_check() {
    let (b, answer) = request_from_a(PayloadType::NO_NEXT_PAYLOAD, &[]);
    assert!(answer.is_empty());
    assert_eq!(b.counters().malformed, 0);
}

#[test]
fn forged_message_is_dropped_silently() {
    let (a, mut b, now) = established();
    let sa = the_sa(&a);
    let mut bytes = sa
        .seal(ExchangeType::INFORMATIONAL, false, 2, &[], &a.rng)
        .expect("sealed");
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
    let remote: SocketAddr = sa.local;
    let out = b.handle(
        Input::Packet {
            local: sa.remote,
            remote,
            bytes,
        },
        now,
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Send { .. })));
    assert_eq!(b.counters().integrity_failures, 1);
}
