//! Hostile and malformed input: every packet gets the RFC 2332 reaction (a
//! reply code, an Error Indication, or a silent drop), is counted, leaves
//! the state alone where it must, and never panics or grows memory without
//! bound.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{HUB, PASSWORD, ip, spoke};
use holo_nhrp::cache::{Entry, EntryType};
use holo_nhrp::nhc::NhsStatus;
use holo_nhrp::packet::{
    Authentication, Cie, CieCode, ErrorCode, ErrorIndication, Extension, ExtensionBody, Message,
    MessageType, NbmaAddress, Packet, TrafficIndication,
};
use holo_nhrp::sim::Rng;
use holo_nhrp::{DataPlaneEvent, Input, Instance, InstanceConfig, Output};

/// The spoke at tunnel address 10.0.0.n and NBMA 192.0.2.n (n = 11, 12):
/// spoke `n - 10` of the cloud, without a LAN.
fn spoke_config(n: u8) -> InstanceConfig {
    InstanceConfig {
        local_prefixes: vec![],
        ..spoke(n - 10)
    }
}

/// A node under test, its clock, and helpers to feed it packets.
struct Node {
    instance: Instance,
    now: Instant,
}

impl Node {
    fn new(config: InstanceConfig) -> Node {
        let now = Instant::now();
        let (instance, _) = Instance::new(config, now);
        Node { instance, now }
    }

    fn feed_bytes(&mut self, from: &str, bytes: Vec<u8>) -> Vec<Output> {
        let input = Input::Packet {
            from: ip(from),
            bytes,
        };
        self.instance.handle(input, self.now)
    }

    fn feed(&mut self, from: &str, pkt: &Packet) -> Vec<Output> {
        self.feed_bytes(from, pkt.encode().unwrap())
    }

    fn errors(&self, reason: &str) -> u64 {
        self.instance.counters.errors(reason)
    }

    fn entries(&self) -> Vec<Entry> {
        self.instance.cache().iter().cloned().collect()
    }
}

/// The packets among `out`, decoded, with where they go.
fn sent(out: &[Output]) -> Vec<(IpAddr, Packet)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, bytes, .. } => Some((*to, Packet::decode(bytes).unwrap())),
            _ => None,
        })
        .collect()
}

/// The one packet `out` sends, and where.
fn only_packet(out: &[Output]) -> (IpAddr, Packet) {
    let mut s = sent(out);
    assert_eq!(s.len(), 1, "{out:#?}");
    s.remove(0)
}

fn error_indication(pkt: &Packet) -> &ErrorIndication {
    match &pkt.message {
        Message::ErrorIndication(ei) => ei,
        other => panic!("not an Error Indication: {other:?}"),
    }
}

fn reply_codes(pkt: &Packet) -> Vec<CieCode> {
    pkt.message
        .request_reply()
        .unwrap()
        .cies
        .iter()
        .map(|c| c.code)
        .collect()
}

/// What a freshly started spoke sends first: its Registration Request.
fn registration(n: u8) -> Packet {
    let mut spoke = Node::new(spoke_config(n));
    let out = spoke.instance.handle(Input::Tick, spoke.now);
    let (to, pkt) = only_packet(&out);
    assert_eq!(to, ip(HUB));
    assert_eq!(pkt.message_type(), MessageType::RegistrationRequest);
    pkt
}

/// The Resolution Request spoke `n` sends for `target`.
fn resolution_request(n: u8, target: &str) -> Packet {
    let mut spoke = Node::new(spoke_config(n));
    let miss = DataPlaneEvent::Miss {
        next_hop: ip(target),
    };
    let out = spoke.instance.handle(Input::DataPlane(miss), spoke.now);
    let (_, pkt) = sent(&out)
        .into_iter()
        .find(|(_, p)| p.message_type() == MessageType::ResolutionRequest)
        .unwrap();
    pkt
}

/// A hub with spokes 11 and 12 registered.
fn hub_with_spokes() -> Node {
    let mut hub = Node::new(common::hub(1));
    for n in [11, 12] {
        let out = hub.feed(&format!("192.0.2.{n}"), &registration(n));
        assert_eq!(reply_codes(&only_packet(&out).1), [CieCode::SUCCESS]);
    }
    hub
}

fn set_password(pkt: &mut Packet, password: &[u8]) {
    for ext in &mut pkt.extensions {
        if let ExtensionBody::Authentication(a) = &mut ext.body {
            *a = Authentication::cisco_cleartext(password);
        }
    }
}

/// Inserts an extension just before End.
fn insert_extension(pkt: &mut Packet, ext: Extension) {
    let end = pkt.extensions.len() - 1;
    pkt.extensions.insert(end, ext);
}

#[test]
fn wrong_or_missing_authentication_is_refused_with_code_11() {
    let mut hub = Node::new(common::hub(1));
    let mut wrong = registration(11);
    set_password(&mut wrong, b"NOTDMVPN");
    let mut missing = registration(11);
    missing
        .extensions
        .retain(|e| !matches!(e.body, ExtensionBody::Authentication(_)));

    for (n, pkt) in [wrong, missing].iter().enumerate() {
        let bytes = pkt.encode().unwrap();
        let out = hub.feed_bytes("192.0.2.11", bytes.clone());
        // RFC 2332, 5.3.4: dropped, answered with an Error Indication.
        let (to, ei) = only_packet(&out);
        assert_eq!(to, ip("192.0.2.11"));
        assert_eq!(
            error_indication(&ei).code,
            ErrorCode::AUTHENTICATION_FAILURE
        );
        assert_eq!(error_indication(&ei).packet, bytes);
        // Our own Error Indication is authenticated.
        assert_eq!(ei.cleartext_password(), Some(PASSWORD));
        assert_eq!(hub.errors("authentication"), n as u64 + 1);
        assert!(hub.instance.cache().is_empty());
    }
    assert_eq!(
        hub.instance
            .counters
            .received(MessageType::RegistrationRequest),
        2
    );
    assert_eq!(
        hub.instance.counters.sent(MessageType::RegistrationReply),
        0
    );

    // An Error Indication that fails authentication is dropped without an
    // answer: no Error Indication ping-pong.
    let mut ei = Packet {
        message: Message::ErrorIndication(ErrorIndication {
            code: ErrorCode::PROTOCOL_ERROR,
            ..ErrorIndication::default()
        }),
        ..registration(11)
    };
    set_password(&mut ei, b"WRONG");
    assert!(hub.feed("192.0.2.11", &ei).is_empty());
    assert_eq!(hub.errors("authentication"), 3);

    // The right password still works.
    let out = hub.feed("192.0.2.11", &registration(11));
    assert_eq!(reply_codes(&only_packet(&out).1), [CieCode::SUCCESS]);
}

#[test]
fn a_forged_registration_of_a_unique_address_gets_code_14() {
    let mut hub = hub_with_spokes();
    hub.now += Duration::from_secs(60);
    let before = hub.entries();

    // Someone else claims spoke 11's address: from its own NBMA address,
    // and claiming spoke 11's NBMA address from elsewhere.
    let mut own_nbma = registration(11);
    own_nbma.src_nbma = NbmaAddress::new(ip("192.0.2.66"));
    let forged_nbma = registration(11);
    for pkt in [own_nbma, forged_nbma] {
        let out = hub.feed("192.0.2.66", &pkt);
        let (to, reply) = only_packet(&out);
        assert_eq!(to, ip("192.0.2.66"));
        assert_eq!(reply.message_type(), MessageType::RegistrationReply);
        assert_eq!(reply_codes(&reply), [CieCode::ALREADY_REGISTERED]);
        // No binding, no notification.
        assert_eq!(out.len(), 1);
    }
    assert_eq!(hub.errors("registration-not-unique"), 2);
    // The rightful entry is intact, holding time included.
    assert_eq!(hub.entries(), before);

    // The owner refreshes from its address as before.
    let out = hub.feed("192.0.2.11", &registration(11));
    assert_eq!(reply_codes(&only_packet(&out).1), [CieCode::SUCCESS]);
}

#[test]
fn nobody_registers_the_nhs_own_address_or_prefixes() {
    let mut config = common::hub(1);
    config.local_prefixes = vec!["172.16.0.0/24".parse().unwrap()];
    let mut hub = Node::new(config);
    for claimed in ["10.0.0.1", "172.16.0.1"] {
        let mut pkt = registration(11);
        pkt.src_protocol = ip(claimed).into();
        let out = hub.feed("192.0.2.11", &pkt);
        assert_eq!(
            reply_codes(&only_packet(&out).1),
            [CieCode::ADMINISTRATIVELY_PROHIBITED],
            "{claimed}"
        );
    }
    assert!(hub.instance.cache().is_empty());
    assert_eq!(hub.errors("registration-prohibited"), 2);
}

#[test]
fn nobody_registers_an_address_outside_the_tunnel_subnet() {
    let mut hub = Node::new(common::hub(1));
    let mut pkt = registration(11);
    pkt.src_protocol = ip("198.51.100.7").into();
    let out = hub.feed("192.0.2.11", &pkt);
    assert_eq!(
        reply_codes(&only_packet(&out).1),
        [CieCode::ADMINISTRATIVELY_PROHIBITED]
    );
    assert!(hub.instance.cache().is_empty());
    assert_eq!(hub.errors("registration-outside-subnet"), 1);

    // A hub with a host-length tunnel address has no subnet to hold
    // clients to (FRR hubs are often configured so): it accepts them.
    let mut config = common::hub(1);
    config.protocol = "10.0.0.1/32".parse().unwrap();
    let mut hub = Node::new(config);
    let out = hub.feed("192.0.2.11", &pkt);
    assert_eq!(reply_codes(&only_packet(&out).1), [CieCode::SUCCESS]);
}

#[test]
fn hop_count_0_and_1_on_a_request_to_forward_gets_code_15() {
    let mut hub = hub_with_spokes();
    let before = hub.entries();
    for hops in [0, 1] {
        let mut req = resolution_request(11, "10.0.0.12");
        req.hop_count = hops;
        let bytes = req.encode().unwrap();
        let out = hub.feed_bytes("192.0.2.11", bytes.clone());
        // Not forwarded: one Error Indication back to the sender.
        let (to, pkt) = only_packet(&out);
        assert_eq!(to, ip("192.0.2.11"));
        let ei = error_indication(&pkt);
        assert_eq!(ei.code, ErrorCode::HOP_COUNT_EXCEEDED);
        assert_eq!(
            usize::from(ei.error_offset),
            holo_nhrp::packet::header::HOP_COUNT
        );
        assert_eq!(ei.packet, bytes);
        assert_eq!(pkt.dst_protocol, ip("10.0.0.11").into());
    }
    assert_eq!(hub.errors("hop-count-exceeded"), 2);
    assert_eq!(hub.entries(), before);

    // With hops left it is forwarded, one hop less.
    let mut req = resolution_request(11, "10.0.0.12");
    req.hop_count = 2;
    let (to, fwd) = only_packet(&hub.feed("192.0.2.11", &req));
    assert_eq!(to, ip("192.0.2.12"));
    assert_eq!(fwd.hop_count, 1);
}

#[test]
fn a_request_that_already_passed_us_is_a_loop_code_3() {
    let mut hub = hub_with_spokes();
    let mut req = resolution_request(11, "10.0.0.12");
    let us = Cie {
        nbma: NbmaAddress::new(ip(HUB)),
        protocol: ip("10.0.0.1").into(),
        prefix_length: 32,
        ..Cie::default()
    };
    for ext in &mut req.extensions {
        if let ExtensionBody::ForwardTransitNhs { cies } = &mut ext.body {
            cies.push(us.clone());
        }
    }
    let out = hub.feed("192.0.2.11", &req);
    let (to, pkt) = only_packet(&out);
    assert_eq!(to, ip("192.0.2.11"));
    assert_eq!(error_indication(&pkt).code, ErrorCode::LOOP_DETECTED);
    assert_eq!(hub.errors("loop-detected"), 1);
}

#[test]
fn unknown_compulsory_extension_gets_code_1_and_a_non_compulsory_one_is_ignored() {
    let unknown = |compulsory| {
        Extension::new(
            compulsory,
            ExtensionBody::Unknown {
                ty: 0x0123,
                data: vec![1, 2, 3, 4],
            },
        )
    };
    let mut hub = Node::new(common::hub(1));
    let mut pkt = registration(11);
    insert_extension(&mut pkt, unknown(true));
    let bytes = pkt.encode().unwrap();
    let out = hub.feed_bytes("192.0.2.11", bytes.clone());
    let (to, reply) = only_packet(&out);
    assert_eq!(to, ip("192.0.2.11"));
    let ei = error_indication(&reply);
    assert_eq!(ei.code, ErrorCode::UNRECOGNIZED_EXTENSION);
    // The offset points at the unknown extension's type field.
    let at = usize::from(ei.error_offset);
    assert_eq!(&bytes[at..at + 4], [0x81, 0x23, 0, 4]);
    assert_eq!(hub.errors("unrecognized-extension"), 1);
    assert!(hub.instance.cache().is_empty());

    let mut pkt = registration(11);
    insert_extension(&mut pkt, unknown(false));
    let out = hub.feed("192.0.2.11", &pkt);
    let (_, reply) = only_packet(&out);
    assert_eq!(reply_codes(&reply), [CieCode::SUCCESS]);
    assert!(hub.instance.cache().host(ip("10.0.0.11")).is_some());
    assert_eq!(hub.errors("unrecognized-extension"), 1);
}

/// Deterministic pseudo-random bytes.
fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn truncated_oversized_and_garbage_packets_are_counted_and_dropped() {
    let mut hub = hub_with_spokes();
    let before = hub.entries();
    let valid = registration(13).encode().unwrap();
    let mut dropped = 0;

    // Every truncation of a valid packet.
    for len in 0..valid.len() {
        assert!(
            hub.feed_bytes("192.0.2.13", valid[..len].to_vec())
                .is_empty()
        );
        dropped += 1;
    }
    // A packet size larger than the datagram, a 100 kB datagram with a
    // broken checksum, a datagram of the largest packet size of zeros.
    let mut claims_more = valid.clone();
    claims_more[10..12].copy_from_slice(&u16::MAX.to_be_bytes());
    let mut huge = valid.clone();
    huge[10..12].copy_from_slice(&u16::MAX.to_be_bytes());
    huge.resize(100_000, 0xa5);
    for pkt in [claims_more, huge, vec![0; 65_535]] {
        assert!(hub.feed_bytes("192.0.2.13", pkt).is_empty());
        dropped += 1;
    }
    // Random garbage.
    let mut rng = Rng::new(0x5eed);
    for _ in 0..10_000 {
        let len = rng.below(300);
        assert!(
            hub.feed_bytes("192.0.2.13", random_bytes(&mut rng, len))
                .is_empty()
        );
        dropped += 1;
    }
    assert_eq!(hub.errors("malformed"), dropped);
    assert_eq!(hub.entries(), before);
    assert_eq!(hub.instance.counters.received.values().sum::<u64>(), 2);

    // Link-layer padding after the packet is not an error (RFC 2332,
    // 5.2.0.1: ar$pktsz is the NHRP length).
    let mut padded = valid.clone();
    padded.extend_from_slice(&[0; 1000]);
    let out = hub.feed_bytes("192.0.2.13", padded);
    assert_eq!(reply_codes(&only_packet(&out).1), [CieCode::SUCCESS]);
}

/// Recomputes ar$chksum so that a mutated packet gets past the checksum.
fn fix_checksum(bytes: &mut [u8]) {
    let size = usize::from(u16::from_be_bytes([bytes[10], bytes[11]])).min(bytes.len());
    bytes[12..14].fill(0);
    let sum = holo_utils::checksum::internet_checksum(&bytes[..size]);
    bytes[12..14].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn mutated_packets_with_valid_checksums_never_panic() {
    // Valid packets of several types, mutated a few bytes at a time, fed to
    // a hub and to a spoke; every one is either dropped as malformed or
    // processed, and the registration limit holds.
    let mut templates = vec![
        registration(11),
        resolution_request(11, "10.0.0.12"),
        resolution_request(12, "172.16.9.9"),
    ];
    let mut reply = resolution_request(11, "10.0.0.12");
    reply.message = Message::ResolutionReply(reply.message.request_reply().unwrap().clone());
    templates.push(reply);
    let mut purge = registration(12);
    purge.message = Message::PurgeRequest(purge.message.request_reply().unwrap().clone());
    templates.push(purge);
    let templates: Vec<Vec<u8>> = templates.iter().map(|p| p.encode().unwrap()).collect();

    let mut config = common::hub(1);
    config.max_registrations = 50;
    let mut hub = Node::new(config);
    let mut spoke = Node::new(spoke_config(11));
    let mut rng = Rng::new(42);
    for i in 0..20_000 {
        let mut bytes = templates[i % templates.len()].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next_u64() as u8;
        }
        fix_checksum(&mut bytes);
        let from = format!("192.0.2.{}", rng.below(250) + 1);
        hub.feed_bytes(&from, bytes.clone());
        spoke.feed_bytes(&from, bytes);
        if i % 1000 == 0 {
            hub.now += Duration::from_secs(1);
            spoke.now += Duration::from_secs(1);
            hub.instance.handle(Input::Tick, hub.now);
            spoke.instance.handle(Input::Tick, spoke.now);
        }
    }
    for node in [&hub, &spoke] {
        let c = &node.instance.counters;
        assert_eq!(
            c.errors("malformed") + c.received.values().sum::<u64>(),
            20_000
        );
    }
    assert!(hub.instance.cache().count(EntryType::Dynamic) <= 50);
}

#[test]
fn a_registration_flood_is_bounded_by_max_registrations() {
    let mut config = common::hub(1);
    // A /8 tunnel subnet: room for every address the flood claims.
    config.protocol = "10.0.0.1/8".parse().unwrap();
    config.max_registrations = 1000;
    let mut hub = Node::new(config);
    let template = registration(11);
    let mut refused = 0;
    for i in 0..100_000u32 {
        let [_, a, b, c] = (i + 1).to_be_bytes();
        let mut pkt = template.clone();
        let nbma = IpAddr::from(Ipv4Addr::new(100, a | 64, b, c));
        pkt.src_nbma = NbmaAddress::new(nbma);
        pkt.src_protocol = IpAddr::from(Ipv4Addr::new(10, a | 128, b, c)).into();
        let out = hub.feed(&nbma.to_string(), &pkt);
        let (to, reply) = only_packet(&out);
        assert_eq!(to, nbma);
        let expected = if i < 1000 {
            CieCode::SUCCESS
        } else {
            refused += 1;
            CieCode::INSUFFICIENT_RESOURCES
        };
        assert_eq!(reply_codes(&reply), [expected], "registration {i}");
        if i % 10_000 == 0 {
            assert!(hub.instance.cache().len() <= 1000);
        }
    }
    assert_eq!(hub.instance.cache().count(EntryType::Dynamic), 1000);
    assert_eq!(hub.instance.cache().len(), 1000);
    assert_eq!(hub.errors("registration-limit"), refused);

    // A registered client still refreshes; a slot freed by expiry is
    // taken by the next newcomer.
    let mut first = template.clone();
    first.src_nbma = NbmaAddress::new(ip("100.64.0.1"));
    first.src_protocol = ip("10.128.0.1").into();
    let out = hub.feed("100.64.0.1", &first);
    assert_eq!(reply_codes(&only_packet(&out).1), [CieCode::SUCCESS]);
    let mut late = template.clone();
    late.src_nbma = NbmaAddress::new(ip("198.18.0.1"));
    late.src_protocol = ip("10.250.0.1").into();
    let out = hub.feed("198.18.0.1", &late);
    assert_eq!(
        reply_codes(&only_packet(&out).1),
        [CieCode::INSUFFICIENT_RESOURCES]
    );
    hub.now += Duration::from_secs(7200);
    hub.instance.handle(Input::Tick, hub.now);
    assert_eq!(hub.instance.cache().count(EntryType::Dynamic), 0);
    let out = hub.feed("198.18.0.1", &late);
    assert_eq!(reply_codes(&only_packet(&out).1), [CieCode::SUCCESS]);
}

#[test]
fn one_registration_with_thousands_of_cies_is_bounded_too() {
    let mut config = common::hub(1);
    // A /8 tunnel subnet: room for every address the flood claims.
    config.protocol = "10.0.0.1/8".parse().unwrap();
    config.max_registrations = 100;
    let mut hub = Node::new(config);
    let mut pkt = registration(11);
    let Message::RegistrationRequest(m) = &mut pkt.message else {
        unreachable!()
    };
    let cie = m.cies[0].clone();
    m.cies = (0..3000u32)
        .map(|i| {
            let [_, _, b, c] = i.to_be_bytes();
            Cie {
                protocol: IpAddr::from(Ipv4Addr::new(10, 9, b, c)).into(),
                ..cie.clone()
            }
        })
        .collect();
    let out = hub.feed("192.0.2.11", &pkt);
    let (_, reply) = only_packet(&out);
    let codes = reply_codes(&reply);
    assert_eq!(codes.len(), 3000);
    assert!(codes[..100].iter().all(|c| *c == CieCode::SUCCESS));
    assert!(
        codes[100..]
            .iter()
            .all(|c| *c == CieCode::INSUFFICIENT_RESOURCES)
    );
    assert_eq!(hub.instance.cache().count(EntryType::Dynamic), 100);
}

#[test]
fn a_resolution_flood_for_unknown_targets_gets_naks_and_no_state() {
    let mut hub = hub_with_spokes();
    let before = hub.entries();
    let wakeup = hub.instance.next_wakeup();
    let template = resolution_request(11, "10.0.0.12");
    for i in 0..10_000u32 {
        let [_, a, b, c] = i.to_be_bytes();
        let mut req = template.clone();
        req.dst_protocol = IpAddr::from(Ipv4Addr::new(10, 200 + a, b, c)).into();
        let out = hub.feed("192.0.2.11", &req);
        let (to, reply) = only_packet(&out);
        assert_eq!(to, ip("192.0.2.11"));
        assert_eq!(reply.message_type(), MessageType::ResolutionReply);
        assert_eq!(reply_codes(&reply), [CieCode::NO_BINDING]);
    }
    assert_eq!(hub.entries(), before);
    assert_eq!(hub.instance.next_wakeup(), wakeup);
    assert_eq!(hub.errors("no-binding"), 10_000);
}

#[test]
fn requests_for_our_own_address_from_a_crowd_of_requesters_are_bounded() {
    // Every answered request teaches us its requester; forged requesters
    // must not grow the cache without bound.
    let mut config = spoke_config(12);
    config.max_registrations = 100;
    let mut spoke = Node::new(config);
    let template = resolution_request(11, "10.0.0.12");
    for i in 0..5_000u32 {
        let [_, a, b, c] = i.to_be_bytes();
        let mut req = template.clone();
        let nbma = IpAddr::from(Ipv4Addr::new(100, 64 + a, b, c));
        req.src_nbma = NbmaAddress::new(nbma);
        req.src_protocol = IpAddr::from(Ipv4Addr::new(10, 128 + a, b, c)).into();
        let out = spoke.feed(&nbma.to_string(), &req);
        let (to, reply) = only_packet(&out);
        // Still answered.
        assert_eq!(to, nbma);
        assert_eq!(reply_codes(&reply), [CieCode::SUCCESS]);
    }
    // 100 learnt requesters and our NHS.
    assert_eq!(spoke.instance.cache().len(), 101);
    assert_eq!(spoke.instance.cache().count(EntryType::Shortcut), 100);
    assert_eq!(spoke.errors("learn-limit"), 4_900);
}

#[test]
fn a_traffic_indication_flood_is_bounded() {
    let mut config = spoke_config(11);
    config.max_registrations = 100;
    let mut spoke = Node::new(config);
    let mut requests = 0;
    for i in 0..1_000u32 {
        let [_, _, b, c] = i.to_be_bytes();
        let mut ti = registration(12);
        ti.src_protocol = ip("10.0.0.1").into();
        ti.src_nbma = NbmaAddress::new(ip(HUB));
        let mut packet = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 172, 16, 11, 1];
        packet.extend_from_slice(&[172, 20 + b, c, 1]);
        packet.extend_from_slice(&[0; 8]);
        ti.message = Message::TrafficIndication(TrafficIndication {
            packet,
            ..TrafficIndication::default()
        });
        let out = spoke.feed(HUB, &ti);
        requests += sent(&out).len();
    }
    assert_eq!(requests, 100);
    assert_eq!(spoke.instance.cache().count(EntryType::Incomplete), 100);
    assert_eq!(spoke.errors("resolution-limit"), 900);
}

#[test]
fn unsolicited_replies_are_counted_and_change_nothing() {
    let mut spoke = Node::new(spoke_config(11));
    spoke.instance.handle(Input::Tick, spoke.now);
    let before = spoke.entries();

    // A Registration Reply nobody asked for (wrong request id).
    let mut reg = registration(11);
    let Message::RegistrationRequest(m) = &reg.message else {
        unreachable!()
    };
    let mut m = m.clone();
    m.request_id = 0xdead;
    reg.message = Message::RegistrationReply(m);
    assert!(spoke.feed(HUB, &reg).is_empty());
    assert_eq!(spoke.errors("unexpected-reply"), 1);
    assert_eq!(spoke.instance.nhs_states()[0].status, NhsStatus::Connecting);

    // A Resolution Reply for a target we never asked about.
    let mut res = resolution_request(11, "10.0.0.13");
    let Message::ResolutionRequest(m) = &res.message else {
        unreachable!()
    };
    let mut m = m.clone();
    m.cies[0].nbma = NbmaAddress::new(ip("192.0.2.66"));
    m.cies[0].protocol = ip("10.0.0.13").into();
    res.message = Message::ResolutionReply(m.clone());
    assert!(spoke.feed("192.0.2.66", &res).is_empty());
    assert_eq!(spoke.errors("unexpected-reply"), 2);
    assert_eq!(spoke.entries(), before);

    // One for a target we do resolve, but with the wrong request id.
    let miss = DataPlaneEvent::Miss {
        next_hop: ip("10.0.0.13"),
    };
    spoke.instance.handle(Input::DataPlane(miss), spoke.now);
    let pending = spoke.entries();
    m.request_id = 0xbeef;
    res.message = Message::ResolutionReply(m);
    assert!(spoke.feed("192.0.2.66", &res).is_empty());
    assert_eq!(spoke.errors("unexpected-reply"), 3);
    assert_eq!(spoke.entries(), pending);
    assert_eq!(
        spoke.instance.cache().host(ip("10.0.0.13")).map(|e| e.ty),
        Some(EntryType::Incomplete)
    );
}

#[test]
fn an_error_indication_about_our_resolution_caches_it_negatively() {
    let mut spoke = Node::new(spoke_config(11));
    let miss = DataPlaneEvent::Miss {
        next_hop: ip("10.0.0.13"),
    };
    let out = spoke.instance.handle(Input::DataPlane(miss), spoke.now);
    let (_, request) = sent(&out)
        .into_iter()
        .find(|(_, p)| p.message_type() == MessageType::ResolutionRequest)
        .unwrap();
    let request = request.encode().unwrap();

    let indication = |packet: Vec<u8>| {
        let mut ei = registration(11);
        ei.src_nbma = NbmaAddress::new(ip(HUB));
        ei.src_protocol = ip("10.0.0.1").into();
        ei.dst_protocol = ip("10.0.0.11").into();
        ei.message = Message::ErrorIndication(ErrorIndication {
            code: ErrorCode::PROTOCOL_ADDRESS_UNREACHABLE,
            packet,
            ..ErrorIndication::default()
        });
        ei.extensions.retain(|e| {
            matches!(
                e.body,
                ExtensionBody::Authentication(_) | ExtensionBody::End
            )
        });
        ei
    };

    // About someone else's request (another request id): ignored.
    let mut other = Packet::decode(&request).unwrap();
    let Message::ResolutionRequest(m) = &mut other.message else {
        unreachable!()
    };
    m.request_id += 1000;
    let other = other.encode().unwrap();
    assert!(spoke.feed(HUB, &indication(other)).is_empty());
    assert_eq!(
        spoke.instance.cache().host(ip("10.0.0.13")).map(|e| e.ty),
        Some(EntryType::Incomplete)
    );

    // About ours: the resolution failed; remember it for a while.
    assert!(spoke.feed(HUB, &indication(request)).is_empty());
    let e = spoke.instance.cache().host(ip("10.0.0.13")).unwrap();
    assert_eq!(e.ty, EntryType::Negative);
    assert_eq!(e.nbma, None);
    // No more retries for it, and a new miss does not resend at once.
    spoke.now += Duration::from_secs(2);
    let out = spoke.instance.handle(Input::Tick, spoke.now);
    assert!(
        sent(&out)
            .iter()
            .all(|(_, p)| p.message_type() != MessageType::ResolutionRequest)
    );
    let miss = DataPlaneEvent::Miss {
        next_hop: ip("10.0.0.13"),
    };
    assert!(sent(&spoke.instance.handle(Input::DataPlane(miss), spoke.now)).is_empty());
}

#[test]
fn a_replayed_registration_reply_is_unexpected() {
    let mut spoke = Node::new(spoke_config(11));
    let (_, request) = only_packet(&spoke.instance.handle(Input::Tick, spoke.now));
    let mut hub = Node::new(common::hub(1));
    let (_, reply) = only_packet(&hub.feed("192.0.2.11", &request));

    let out = spoke.feed(HUB, &reply);
    assert_eq!(
        out,
        [Output::Notify(holo_nhrp::Notification::NhsUp {
            nhs: ip("10.0.0.1")
        })]
    );
    let wakeup = spoke.instance.next_wakeup();
    // The same reply again (duplicated or replayed): counted, no effect.
    assert!(spoke.feed(HUB, &reply).is_empty());
    assert_eq!(spoke.errors("unexpected-reply"), 1);
    assert_eq!(spoke.instance.nhs_states()[0].status, NhsStatus::Up);
    assert_eq!(spoke.instance.next_wakeup(), wakeup);
}

#[test]
fn error_indications_are_rate_limited_per_destination() {
    let mut hub = Node::new(common::hub(1));
    let mut wrong = registration(11);
    set_password(&mut wrong, b"NOTDMVPN");
    let bytes = wrong.encode().unwrap();
    // A flood of bad packets "from" one address (forged or not) in one
    // second: only five Error Indications go back to it.
    let mut answered = 0;
    for _ in 0..100 {
        answered += sent(&hub.feed_bytes("198.51.100.9", bytes.clone())).len();
    }
    assert_eq!(answered, 5);
    assert_eq!(hub.errors("authentication"), 100);
    assert_eq!(hub.errors("error-indication-limited"), 95);
    // Another destination has its own budget; the next second a new one.
    assert_eq!(
        sent(&hub.feed_bytes("198.51.100.10", bytes.clone())).len(),
        1
    );
    hub.now += Duration::from_secs(1);
    assert_eq!(sent(&hub.feed_bytes("198.51.100.9", bytes)).len(), 1);
}

#[test]
fn a_node_may_only_purge_its_own_bindings() {
    let mut hub = hub_with_spokes();
    // Spoke 12 tries to purge spoke 11's registration.
    let mut purge = registration(12);
    let Message::RegistrationRequest(m) = &purge.message else {
        panic!()
    };
    let mut m = m.clone();
    // The registration's U bit would be N (no reply) in a purge.
    m.flags.0 = 0;
    m.cies = vec![Cie {
        protocol: ip("10.0.0.11").into(),
        nbma: NbmaAddress::new(ip("192.0.2.11")),
        prefix_length: 32,
        ..Cie::default()
    }];
    purge.message = Message::PurgeRequest(m);
    let out = hub.feed("192.0.2.12", &purge);
    assert_eq!(hub.errors("purge-not-owner"), 1);
    assert!(hub.instance.cache().host(ip("10.0.0.11")).is_some());
    // It is still answered (the reply lists what was asked).
    assert_eq!(only_packet(&out).1.message_type(), MessageType::PurgeReply);

    // Its own binding it may purge.
    let Message::PurgeRequest(m) = &mut purge.message else {
        panic!()
    };
    m.cies[0].protocol = ip("10.0.0.12").into();
    hub.feed("192.0.2.12", &purge);
    assert!(hub.instance.cache().host(ip("10.0.0.12")).is_none());
    assert!(hub.instance.cache().host(ip("10.0.0.11")).is_some());
}

#[test]
fn a_requester_without_the_s_bit_is_not_learnt() {
    // RFC 2332, 6.2.1: only stable source bindings may be cached.
    let mut spoke = Node::new({
        let mut c = spoke_config(12);
        c.local_prefixes = vec!["172.16.2.0/24".parse().unwrap()];
        c
    });
    let mut req = resolution_request(11, "172.16.2.1");
    let Message::ResolutionRequest(m) = &mut req.message else {
        panic!()
    };
    m.flags.0 &= !holo_nhrp::packet::Flags::RESOLUTION_SOURCE_STABLE;
    let out = spoke.feed("192.0.2.11", &req);
    assert_eq!(
        only_packet(&out).1.message_type(),
        MessageType::ResolutionReply
    );
    assert!(spoke.instance.cache().host(ip("10.0.0.11")).is_none());

    // With the S bit it is.
    let req = resolution_request(11, "172.16.2.1");
    spoke.feed("192.0.2.11", &req);
    assert!(spoke.instance.cache().host(ip("10.0.0.11")).is_some());
}

#[test]
fn repeated_resolution_failures_back_off() {
    // A target nobody answers for: each failure in a row keeps the
    // negative entry twice as long (10 s, 20 s, 40 s ...), up to 5 minutes.
    let mut spoke = Node::new(spoke_config(11));
    let target = ip("10.0.0.99");
    let mut holds = vec![];
    for _ in 0..8 {
        let miss = DataPlaneEvent::Miss { next_hop: target };
        spoke.instance.handle(Input::DataPlane(miss), spoke.now);
        // No NHS answers: retries at 1, 2, 4, 8 s, then the failure.
        for _ in 0..20 {
            spoke.now += Duration::from_secs(1);
            spoke.instance.handle(Input::Tick, spoke.now);
            if spoke.instance.cache().host(target).map(|e| e.ty) == Some(EntryType::Negative) {
                break;
            }
        }
        let e = spoke.instance.cache().host(target).unwrap();
        assert_eq!(e.ty, EntryType::Negative);
        holds.push(e.expires.unwrap().duration_since(spoke.now).as_secs());
        // Wait until it expires, then the data plane misses again.
        spoke.now = e.expires.unwrap();
        spoke.instance.handle(Input::Tick, spoke.now);
        assert!(spoke.instance.cache().host(target).is_none());
    }
    assert_eq!(holds, [10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(spoke.errors("resolution-timeout"), 8);
}

#[test]
fn an_intact_but_malformed_packet_gets_a_protocol_error() {
    // RFC 2332, 5.2.7: checksum and size good, but an extension has its
    // reserved bit set: Error Indication code 7 pointing at the field.
    let mut hub = Node::new(common::hub(1));
    let mut bytes = registration(11).encode().unwrap();
    let extoff = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    bytes[extoff] |= 0x40;
    fix_checksum(&mut bytes);
    let out = hub.feed_bytes("192.0.2.11", bytes.clone());
    let (to, ei) = only_packet(&out);
    assert_eq!(to, ip("192.0.2.11"));
    assert_eq!(error_indication(&ei).code, ErrorCode::PROTOCOL_ERROR);
    assert_eq!(usize::from(error_indication(&ei).error_offset), extoff);
    assert_eq!(error_indication(&ei).packet, bytes);
    assert_eq!(hub.errors("malformed"), 1);
    assert!(hub.instance.cache().is_empty());

    // A corrupted packet (bad checksum) is only dropped.
    bytes[extoff + 1] ^= 0xff;
    assert!(hub.feed_bytes("192.0.2.11", bytes).is_empty());
    assert_eq!(hub.errors("malformed"), 2);
}

#[test]
fn per_peer_counters_are_bounded() {
    let mut hub = Node::new(common::hub(1));
    let mut reg = registration(11);
    for i in 0..(holo_nhrp::counters::Counters::MAX_PEERS as u32 + 500) {
        let nbma = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        reg.src_nbma = NbmaAddress::new(nbma);
        hub.instance.handle(
            Input::Packet {
                from: nbma,
                bytes: reg.encode().unwrap(),
            },
            hub.now,
        );
    }
    let peers = &hub.instance.counters.peers;
    assert_eq!(peers.len(), holo_nhrp::counters::Counters::MAX_PEERS);
    assert_eq!(peers[&ip("10.0.0.0")].received, 1);
}
