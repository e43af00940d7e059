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
    established_with(|_| {})
}

/// The same, with B's configuration changed by `b_config`.
fn established_with(b_config: impl FnOnce(&mut Config)) -> (Ike, Ike, Instant) {
    let mut config = Config::cisco_defaults();
    config.psk = Psk::any("unit");
    let mut b = config.clone();
    b_config(&mut b);
    let (mut a, mut b) = (Ike::new(config), Ike::new(b));
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

mod create_child_sa_notifies {
    //! Every error notify a CREATE_CHILD_SA responder sends, as data: how
    //! B is set up, what A asks, what B answers.

    use super::*;
    use crate::crypto::DhGroup;
    use crate::ike::child::endpoints;
    use crate::ike::proposals;
    use crate::ike::retransmission::RequestKind;
    use crate::packet::{KeyExchange, Notify, Opaque, ProtocolId, SecurityAssociation};

    fn b_sa(b: &mut Ike) -> &mut sa::IkeSa {
        b.sas.values_mut().next().expect("one IKE SA")
    }

    /// A's request with `payloads`, B's answer decrypted by A.
    fn ask(a: &Ike, b: &mut Ike, payloads: &[Payload], now: Instant) -> Vec<Payload> {
        let sa = the_sa(a);
        let id = sa.window.next_request_id;
        let bytes = sa
            .seal(ExchangeType::CREATE_CHILD_SA, false, id, payloads, &a.rng)
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
        let message = Message::parse(&answer).expect("parses");
        match sa.open(&answer, &message, remote) {
            Ok(p) => p,
            Err(e) => panic!("answer does not open: {e:?}"),
        }
    }

    fn nonce() -> Payload {
        Payload::new(PayloadBody::Nonce(Opaque { data: vec![9; 32] }))
    }

    fn sa_payload(sa: SecurityAssociation) -> Payload {
        Payload::new(PayloadBody::SecurityAssociation(sa))
    }

    fn ke(group: DhGroup) -> Payload {
        Payload::new(PayloadBody::KeyExchange(KeyExchange {
            group: group.transform_id(),
            reserved: 0,
            data: vec![5; group.public_value_len()],
        }))
    }

    fn rekey_sa(spi: u32) -> Payload {
        Payload::new(PayloadBody::Notify(Notify {
            protocol_id: ProtocolId::ESP,
            notify_type: NotifyType::REKEY_SA,
            spi: spi.to_be_bytes().to_vec(),
            data: vec![],
        }))
    }

    /// A's child SA request: `offer`, Ni, [KE], and the selectors of A's
    /// view (or those of `hosts`).
    fn child_request(a: &Ike, offer: SecurityAssociation, extra: Vec<Payload>) -> Vec<Payload> {
        let sa = the_sa(a);
        let (l, r) = endpoints(sa.config.selectors, sa.local.ip(), sa.peer);
        let mut p = extra;
        p.extend([sa_payload(offer), nonce()]);
        p.extend([
            Payload::new(PayloadBody::TrafficSelectorsInitiator(l.payload())),
            Payload::new(PayloadBody::TrafficSelectorsResponder(r.payload())),
        ]);
        p
    }

    fn esp(a: &Ike) -> SecurityAssociation {
        proposals::esp_offer(&the_sa(a).config.esp_proposals, 0x0101_0101)
    }

    fn a_child_spi(a: &Ike) -> u32 {
        the_sa(a).children[0].sa.inbound_spi
    }

    type Setup = fn(&mut Config);
    type Prepare = fn(&mut Ike, Instant);
    type Request = fn(&Ike) -> Vec<Payload>;

    struct Case {
        name: &'static str,
        b_config: Setup,
        prepare_b: Prepare,
        request: Request,
        expect: Option<(NotifyType, &'static [u8])>,
    }

    fn nothing(_: &mut Config) {}
    fn as_is(_: &mut Ike, _: Instant) {}

    const CASES: &[Case] = &[
        Case {
            name: "ordinary rekey",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| child_request(a, esp(a), vec![rekey_sa(a_child_spi(a))]),
            expect: None,
        },
        Case {
            name: "no nonce",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| vec![sa_payload(esp(a))],
            expect: Some((NotifyType::INVALID_SYNTAX, &[])),
        },
        Case {
            name: "ESN nobody configured",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| {
                let mut p = the_sa(a).config.esp_proposals.clone();
                p.iter_mut().for_each(|p| p.esn = true);
                child_request(a, proposals::esp_offer(&p, 7777), vec![])
            },
            expect: Some((NotifyType::NO_PROPOSAL_CHOSEN, &[])),
        },
        Case {
            name: "an AH proposal",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| {
                let mut offer = esp(a);
                offer
                    .proposals
                    .iter_mut()
                    .for_each(|p| p.protocol_id = ProtocolId(2));
                child_request(a, offer, vec![])
            },
            expect: Some((NotifyType::NO_PROPOSAL_CHOSEN, &[])),
        },
        Case {
            name: "PFS group 19 proposed, KE of group 31",
            b_config: |c| c.pfs = Some(DhGroup::Ecp256),
            prepare_b: as_is,
            request: |a| {
                let ours = &the_sa(a).config.esp_proposals;
                let offer = proposals::esp_offer_pfs(ours, 7777, Some(DhGroup::Ecp256));
                let mut p = child_request(a, offer, vec![]);
                p.push(ke(DhGroup::Curve25519));
                p
            },
            expect: Some((NotifyType::INVALID_KE_PAYLOAD, &[0, 19])),
        },
        Case {
            name: "selectors for another host",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| {
                let mut p = child_request(a, esp(a), vec![]);
                let other = crate::ike::traffic_selectors::Endpoint {
                    addr: ip("192.0.2.99"),
                    protocol: 47,
                };
                p.pop();
                p.push(Payload::new(PayloadBody::TrafficSelectorsResponder(
                    other.payload(),
                )));
                p
            },
            expect: Some((NotifyType::TS_UNACCEPTABLE, &[])),
        },
        Case {
            name: "rekey of a child SA B does not have",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| child_request(a, esp(a), vec![rekey_sa(0x1234_5678)]),
            expect: Some((NotifyType::CHILD_SA_NOT_FOUND, &[])),
        },
        Case {
            name: "rekey of a child SA B is deleting",
            b_config: nothing,
            prepare_b: |b, _| {
                let sa = b_sa(b);
                let c = sa.children.remove(0).sa;
                sa.closing.push((c.inbound_spi, c.outbound_spi));
            },
            request: |a| child_request(a, esp(a), vec![rekey_sa(a_child_spi(a))]),
            expect: Some((NotifyType::TEMPORARY_FAILURE, &[])),
        },
        Case {
            name: "a child SA while B rekeys the IKE SA",
            b_config: nothing,
            prepare_b: |b, now| {
                let spi = b_sa(b).local_spi();
                let mut sa = b.sas.remove(&spi).expect("sa");
                b.request(&mut sa, RequestKind::RekeyIke, now, &mut vec![]);
                b.sas.insert(spi, sa);
            },
            request: |a| child_request(a, esp(a), vec![rekey_sa(a_child_spi(a))]),
            expect: Some((NotifyType::TEMPORARY_FAILURE, &[])),
        },
        Case {
            name: "a fifth child SA",
            b_config: nothing,
            prepare_b: |b, _| {
                let sa = b_sa(b);
                for k in 1..4 {
                    let mut c = sa.children[0].clone();
                    c.sa.inbound_spi += k;
                    c.sa.outbound_spi += k;
                    sa.children.push(c);
                }
            },
            request: |a| child_request(a, esp(a), vec![]),
            expect: Some((NotifyType::NO_ADDITIONAL_SAS, &[])),
        },
        Case {
            name: "IKE SA rekey without KE",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| {
                let ours = &the_sa(a).config.ike_proposals;
                vec![sa_payload(proposals::ike_rekey_offer(ours, 99)), nonce()]
            },
            expect: Some((NotifyType::INVALID_SYNTAX, &[])),
        },
        Case {
            name: "IKE SA rekey with nothing in common",
            b_config: |c| c.ike_proposals.truncate(1),
            prepare_b: as_is,
            request: |a| {
                let ours = &the_sa(a).config.ike_proposals[1..2];
                let offer = proposals::ike_rekey_offer(ours, 99);
                vec![sa_payload(offer), nonce(), ke(ours[0].dh)]
            },
            expect: Some((NotifyType::NO_PROPOSAL_CHOSEN, &[])),
        },
        Case {
            name: "IKE SA rekey with the KE of another group",
            b_config: nothing,
            prepare_b: as_is,
            request: |a| {
                let ours = &the_sa(a).config.ike_proposals[..1];
                let offer = proposals::ike_rekey_offer(ours, 99);
                vec![sa_payload(offer), nonce(), ke(DhGroup::Ecp256)]
            },
            expect: Some((NotifyType::INVALID_KE_PAYLOAD, &[0, 31])),
        },
    ];

    #[test]
    fn each_refusal_is_the_notify_the_rfc_names() {
        for case in CASES {
            let (a, mut b, now) = established_with(case.b_config);
            (case.prepare_b)(&mut b, now);
            let answer = ask(&a, &mut b, &(case.request)(&a), now);
            let errors: Vec<(NotifyType, Vec<u8>)> = answer
                .iter()
                .filter_map(|p| match &p.body {
                    PayloadBody::Notify(n) if n.notify_type.is_error() => {
                        Some((n.notify_type, n.data.clone()))
                    }
                    _ => None,
                })
                .collect();
            let expected: Vec<_> = case.expect.iter().map(|(n, d)| (*n, d.to_vec())).collect();
            assert_eq!(errors, expected, "{}", case.name);
            // The IKE SA survives every refusal.
            assert!(the_sa(&b).is_established(), "{}", case.name);
        }
    }
}
