//! Unit tests per payload from hand-built bytes laid out as the RFC
//! diagrams, and property tests: random bytes never panic, generated
//! messages round-trip.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

/// An IKE header for `exchange` with the given first payload, followed by
/// `payloads`, Length filled in.
fn message(exchange: u8, flags: u8, first: u8, payloads: &[u8]) -> Vec<u8> {
    let mut buf = vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0];
    buf.extend_from_slice(&[first, 0x20, exchange, flags, 0, 0, 0, 7]);
    buf.extend_from_slice(&((header::LEN + payloads.len()) as u32).to_be_bytes());
    buf.extend_from_slice(payloads);
    buf
}

/// A generic payload header and body.
fn payload(next: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![next, flags];
    p.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

/// Parses, checks the round trip, and returns the only payload's body.
fn single(ty: u8, body: &[u8]) -> PayloadBody {
    let bytes = message(34, 0x08, ty, &payload(0, 0, body));
    let msg = Message::parse(&bytes).expect("parses");
    assert_eq!(msg.emit().expect("emits"), bytes);
    assert_eq!(msg.payloads.len(), 1);
    msg.payloads[0].body.clone()
}

#[test]
fn header_fields() {
    let bytes = message(35, 0x28 | 0x01, 0, &[]);
    let view = HeaderView::new(&bytes).unwrap();
    assert_eq!(view.spi_initiator(), 0x0102030405060708);
    assert_eq!(view.length(), 28);
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(msg.exchange_type, ExchangeType::IKE_AUTH);
    assert!(msg.flags.response() && msg.flags.initiator() && !msg.flags.higher_version());
    assert_eq!(msg.flags.0 & Flags::RESERVED, 0x01, "reserved flag kept");
    assert_eq!(msg.message_id, 7);
    assert_eq!((msg.major_version, msg.minor_version), (2, 0));
    assert_eq!(msg.emit().unwrap(), bytes);
}

#[test]
fn bytes_after_length_are_ignored() {
    let mut bytes = message(37, 0, 0, &[]);
    bytes.extend_from_slice(&[9, 9]);
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(msg.emit().unwrap(), bytes[..28]);
}

#[test]
fn header_errors_name_field_and_offset() {
    let bytes = message(34, 0, 0, &[]);
    let e = Message::parse(&bytes[..20]).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("IKE header", 0));

    let mut v1 = bytes.clone();
    v1[17] = 0x10;
    assert_eq!(Message::parse(&v1), Err(DecodeError::MajorVersion(1)));

    let mut long = bytes.clone();
    long[27] = 29;
    let e = Message::parse(&long).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("message length", 24));
}

#[test]
fn security_association_with_key_length() {
    // One IKE proposal: ENCR AES-CBC (key length 128, TV), PRF HMAC-SHA1,
    // INTEG HMAC-SHA1-96, DH 14 (RFC 7296, 3.3.1, 3.3.2, 3.3.5).
    let transforms = [
        &[3u8, 0, 0, 12, 1, 0, 0, 12, 0x80, 14, 0, 128][..],
        &[3, 0, 0, 8, 2, 0, 0, 2],
        &[3, 0, 0, 8, 3, 0, 0, 2],
        &[0, 0, 0, 8, 4, 0, 0, 14],
    ]
    .concat();
    let mut proposal = vec![0, 0, 0, (8 + transforms.len()) as u8, 1, 1, 0, 4];
    proposal.extend_from_slice(&transforms);
    let PayloadBody::SecurityAssociation(sa) = single(33, &proposal) else {
        panic!("not an SA")
    };
    let p = &sa.proposals[0];
    assert_eq!((p.number, p.protocol_id), (1, ProtocolId::IKE));
    assert!(p.spi.is_empty());
    assert_eq!(p.transforms.len(), 4);
    assert_eq!(p.transforms[0].transform_type, TransformType::ENCR);
    assert_eq!(p.transforms[0].transform_id, sa::encr::AES_CBC);
    assert_eq!(p.transforms[0].key_length(), Some(128));
    assert_eq!(p.transforms[3].transform_id, sa::dh::MODP_2048);
    let json = serde_json::to_string(&sa).unwrap();
    assert!(json.contains(r#""name":"ENCR_AES_CBC""#), "{json}");
}

#[test]
fn security_association_two_proposals_with_spi_and_tlv() {
    let t = [0u8, 0, 0, 14, 1, 0, 0, 20, 0, 99, 0, 2, 0xab, 0xcd];
    let mut p1 = vec![
        2,
        0,
        0,
        (12 + t.len()) as u8,
        1,
        3,
        4,
        1,
        0xde,
        0xad,
        0xbe,
        0xef,
    ];
    p1.extend_from_slice(&t);
    let mut p2 = vec![0, 0, 0, 8 + 8, 2, 3, 0, 1];
    p2.extend_from_slice(&[0, 0, 0, 8, 5, 0, 0, 1]);
    let PayloadBody::SecurityAssociation(sa) = single(33, &[p1, p2].concat()) else {
        panic!()
    };
    assert_eq!(sa.proposals[0].spi, [0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(
        sa.proposals[0].transforms[0].attributes[0].value,
        AttributeValue::Tlv(vec![0xab, 0xcd])
    );
    assert_eq!(
        sa.proposals[1].transforms[0].transform_type,
        TransformType::ESN
    );
}

#[test]
fn security_association_rejects_wrong_last_substruc_and_counts() {
    // Last Substruc 2 on the only proposal.
    let bad = [2u8, 0, 0, 8, 1, 1, 0, 0];
    let e = Message::parse(&message(34, 0, 33, &payload(0, 0, &bad))).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("proposal last substruc", 32));
    // Num Transforms says 2, one is there.
    let bad = [0u8, 0, 0, 16, 1, 1, 0, 2, 0, 0, 0, 8, 1, 0, 0, 12];
    let e = Message::parse(&message(34, 0, 33, &payload(0, 0, &bad))).unwrap_err();
    assert_eq!(e.field(), "transform last substruc");
}

#[test]
fn too_many_proposals_is_an_error() {
    let mut body = Vec::new();
    for i in 0..=sa::MAX_PROPOSALS {
        let last = if i == sa::MAX_PROPOSALS { 0 } else { 2 };
        body.extend_from_slice(&[last, 0, 0, 8, 1, 1, 0, 0]);
    }
    let e = Message::parse(&message(34, 0, 33, &payload(0, 0, &body))).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::TooMany {
                field: "proposals",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn too_many_payloads_is_an_error() {
    let mut chain = Vec::new();
    for i in 0..=payload::MAX_PAYLOADS {
        let next = if i == payload::MAX_PAYLOADS { 0 } else { 43 };
        chain.extend_from_slice(&payload(next, 0, &[]));
    }
    let e = Message::parse(&message(34, 0, 43, &chain)).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::TooMany {
                field: "payloads",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn key_exchange() {
    let PayloadBody::KeyExchange(ke) = single(34, &[0, 19, 0, 0, 1, 2, 3]) else {
        panic!()
    };
    assert_eq!(
        (ke.group, ke.reserved, ke.data),
        (sa::dh::ECP_256, 0, vec![1, 2, 3])
    );
}

#[test]
fn identification_keeps_reserved() {
    let PayloadBody::IdentificationInitiator(id) = single(35, &[1, 0, 0, 5, 192, 0, 2, 1]) else {
        panic!()
    };
    assert_eq!(id.id_type, IdType::ID_IPV4_ADDR);
    assert_eq!(id.reserved, [0, 0, 5]);
    assert_eq!(id.data, [192, 0, 2, 1]);
    assert!(matches!(
        single(36, &[2, 0, 0, 0, b'a']),
        PayloadBody::IdentificationResponder(_)
    ));
}

#[test]
fn certificate_and_request() {
    let PayloadBody::Certificate(c) = single(37, &[4, 0x30, 0x82]) else {
        panic!()
    };
    assert_eq!(c.encoding, CertificateEncoding::X509_CERTIFICATE_SIGNATURE);
    assert_eq!(c.data, [0x30, 0x82]);
    assert!(matches!(
        single(38, &[4]),
        PayloadBody::CertificateRequest(_)
    ));
}

#[test]
fn authentication() {
    let PayloadBody::Authentication(a) = single(39, &[2, 0, 0, 0, 0xaa]) else {
        panic!()
    };
    assert_eq!(a.method, AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE);
    assert_eq!(a.data, [0xaa]);
}

#[test]
fn nonce_and_vendor_id() {
    assert_eq!(
        single(40, &[1; 16]),
        PayloadBody::Nonce(Opaque { data: vec![1; 16] })
    );
    assert_eq!(
        single(43, b"CISCO"),
        PayloadBody::VendorId(Opaque {
            data: b"CISCO".to_vec()
        })
    );
}

#[test]
fn notify_with_and_without_spi() {
    let PayloadBody::Notify(n) = single(41, &[0, 0, 0x40, 0x04, 7, 7]) else {
        panic!()
    };
    assert_eq!(n.notify_type, NotifyType::NAT_DETECTION_SOURCE_IP);
    assert!(n.spi.is_empty() && !n.notify_type.is_error());
    assert_eq!(n.data, [7, 7]);
    let PayloadBody::Notify(n) = single(41, &[3, 4, 0, 11, 1, 2, 3, 4]) else {
        panic!()
    };
    assert_eq!(n.notify_type, NotifyType::INVALID_SPI);
    assert_eq!(
        (n.protocol_id, n.spi.as_slice()),
        (ProtocolId::ESP, &[1, 2, 3, 4][..])
    );
    let json = serde_json::to_string(&n).unwrap();
    assert!(json.contains(r#""notify_type":"INVALID_SPI""#), "{json}");
    // SPI Size larger than what is there.
    let e = Message::parse(&message(34, 0, 41, &payload(0, 0, &[3, 8, 0, 11, 1]))).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("notify SPI", 36));
}

#[test]
fn delete() {
    let PayloadBody::Delete(d) = single(42, &[3, 4, 0, 2, 1, 1, 1, 1, 2, 2, 2, 2]) else {
        panic!()
    };
    assert_eq!(d.spis, [Spi(vec![1; 4]), Spi(vec![2; 4])]);
    let PayloadBody::Delete(d) = single(42, &[1, 0, 0, 0]) else {
        panic!()
    };
    assert!(d.spis.is_empty());
    // 65535 empty SPIs backed by no bytes: refused, not allocated.
    let e = Message::parse(&message(37, 0, 42, &payload(0, 0, &[1, 0, 0xff, 0xff]))).unwrap_err();
    assert!(matches!(e, DecodeError::TooMany { .. }), "{e}");
    let e = Message::parse(&message(37, 0, 42, &payload(0, 0, &[1, 0, 0, 3]))).unwrap_err();
    assert!(matches!(e, DecodeError::Value { .. }), "{e}");
}

#[test]
fn traffic_selectors() {
    // GRE (47) from 192.0.2.1 to 192.0.2.1, any port; then an IPv6 range.
    let mut body = vec![2, 0, 0, 0];
    body.extend_from_slice(&[7, 47, 0, 16, 0, 0, 0xff, 0xff, 192, 0, 2, 1, 192, 0, 2, 1]);
    body.extend_from_slice(&[8, 0, 0, 40, 0, 0, 0xff, 0xff]);
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&[0xff; 16]);
    let PayloadBody::TrafficSelectorsInitiator(ts) = single(44, &body) else {
        panic!()
    };
    assert_eq!(
        ts.selectors[0],
        TrafficSelector::Ipv4 {
            ip_protocol: 47,
            start_port: 0,
            end_port: 65535,
            start: Ipv4Addr::new(192, 0, 2, 1),
            end: Ipv4Addr::new(192, 0, 2, 1),
        }
    );
    assert!(matches!(ts.selectors[1], TrafficSelector::Ipv6 { .. }));
    // An unknown TS type stays bytes; TSr.
    let PayloadBody::TrafficSelectorsResponder(ts) = single(45, &[1, 0, 0, 0, 10, 0, 0, 6, 9, 9])
    else {
        panic!()
    };
    assert!(matches!(
        ts.selectors[0],
        TrafficSelector::Other { number: 10, .. }
    ));
    // An IPv4 range must be 16 bytes.
    let bad = [1, 0, 0, 0, 7, 0, 0, 12, 0, 0, 0, 0, 1, 2, 3, 4];
    let e = Message::parse(&message(35, 0, 44, &payload(0, 0, &bad))).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("selector length", 38));
}

#[test]
fn encrypted_ends_the_chain_and_keeps_its_next_payload() {
    // A Nonce, then SK whose Next Payload (IDi, 35) names the first inner
    // payload (RFC 7296, 3.14).
    let chain = [payload(46, 0, &[1, 2]), payload(35, 0, &[0xee; 20])].concat();
    let bytes = message(35, 0x08, 40, &chain);
    let msg = Message::parse(&bytes).unwrap();
    let PayloadBody::Encrypted(sk) = &msg.payloads[1].body else {
        panic!()
    };
    assert_eq!(sk.first_payload, PayloadType::IDI);
    assert_eq!(sk.data, [0xee; 20]);
    assert_eq!(msg.emit().unwrap(), bytes);
    // Anything after SK is an error.
    let chain = [payload(35, 0, &[0xee; 4]), payload(0, 0, &[])].concat();
    let e = Message::parse(&message(35, 0, 46, &chain)).unwrap_err();
    assert!(matches!(e, DecodeError::TrailingBytes { .. }), "{e}");
}

#[test]
fn encrypted_fragment() {
    let PayloadBody::EncryptedFragment(f) = single(53, &[0, 2, 0, 3, 0xaa, 0xbb]) else {
        panic!()
    };
    assert_eq!((f.fragment_number, f.total_fragments), (2, 3));
    assert_eq!(f.first_payload, PayloadType::NO_NEXT_PAYLOAD);
    assert_eq!(f.data, [0xaa, 0xbb]);
}

#[test]
fn unknown_payload_and_critical_bit_kept() {
    // CP (47) is not taken apart; C set and a reserved bit.
    let bytes = message(35, 0, 47, &payload(0, 0x81, &[1, 2, 3]));
    let msg = Message::parse(&bytes).unwrap();
    assert!(msg.payloads[0].critical);
    assert_eq!(msg.payloads[0].reserved, 1);
    assert_eq!(
        msg.payloads[0].body,
        PayloadBody::Unknown(UnknownPayload {
            payload_type: PayloadType::CP,
            data: vec![1, 2, 3]
        })
    );
    assert_eq!(msg.emit().unwrap(), bytes);
}

#[test]
fn payload_errors() {
    // Payload Length 3.
    let e = Message::parse(&message(34, 0, 40, &[0, 0, 0, 3])).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("payload length", 30));
    // Payload Length past the message.
    let e = Message::parse(&message(34, 0, 40, &[0, 0, 0, 9, 1])).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("payload body", 32));
    // The chain says more follow but the message ends.
    let e = Message::parse(&message(34, 0, 40, &payload(40, 0, &[1]))).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("next payload", 33));
    // The chain ends but bytes follow.
    let e = Message::parse(&message(
        34,
        0,
        40,
        &[payload(0, 0, &[1]), vec![0]].concat(),
    ))
    .unwrap_err();
    assert!(
        matches!(e, DecodeError::TrailingBytes { offset: 33, .. }),
        "{e}"
    );
}

#[test]
fn esp_header() {
    let bytes = [0x11, 0x50, 0xfd, 0x74, 0, 0, 0, 6, 0xaa, 0xbb];
    let (esp, rest) = EspRepr::parse(&bytes).unwrap();
    assert_eq!((esp.spi, esp.sequence), (0x1150fd74, 6));
    assert_eq!(rest, [0xaa, 0xbb]);
    assert_eq!(esp.emit(rest), bytes);
    assert!(EspRepr::parse(&bytes[..7]).is_err());
    assert!(matches!(
        EspRepr::parse(&[0, 0, 0, 0, 0, 0, 0, 1]),
        Err(DecodeError::Value {
            field: "ESP SPI",
            ..
        })
    ));
}

#[test]
fn udp_encapsulation_markers() {
    assert_eq!(
        UdpEncapsulated::classify(&[0xff]),
        Ok(UdpEncapsulated::NatKeepalive)
    );
    let ike = [0, 0, 0, 0, 1, 2];
    assert_eq!(
        UdpEncapsulated::classify(&ike),
        Ok(UdpEncapsulated::Ike(&[1, 2]))
    );
    let esp = [0, 0, 1, 0, 0, 0, 0, 1];
    assert_eq!(
        UdpEncapsulated::classify(&esp),
        Ok(UdpEncapsulated::Esp(&esp))
    );
    assert!(UdpEncapsulated::classify(&[0, 0]).is_err());
    for bytes in [&ike[..], &esp[..], &[0xff][..]] {
        assert_eq!(UdpEncapsulated::classify(bytes).unwrap().emit(), bytes);
    }
}

/// The first message of the Cisco capture's IKE_SA_INIT, as far as its SA
/// payload (wireshark-capture-ipsec-ikev2.pcap, frame 1), with the chain cut
/// after the SA.
#[test]
fn cisco_sa_init_proposal() {
    let sa = [
        0x00, 0x00, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x04, 0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00,
        0x0c, 0x80, 0x0e, 0x00, 0x80, 0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x02, 0x03, 0x00,
        0x00, 0x08, 0x03, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x02,
    ];
    let PayloadBody::SecurityAssociation(sa) = single(33, &sa) else {
        panic!()
    };
    let ids: Vec<_> = sa.proposals[0]
        .transforms
        .iter()
        .map(|t| (t.transform_type, t.transform_id))
        .collect();
    assert_eq!(
        ids,
        [
            (TransformType::ENCR, sa::encr::AES_CBC),
            (TransformType::PRF, sa::prf::HMAC_SHA1),
            (TransformType::INTEG, sa::integ::HMAC_SHA1_96),
            (TransformType::DH, sa::dh::MODP_1024),
        ]
    );
}

#[test]
fn message_json() {
    let bytes = message(34, 0x08, 40, &payload(0, 0, &[0xab]));
    let json = serde_json::to_value(Message::parse(&bytes).unwrap()).unwrap();
    assert_eq!(json["spi_initiator"], "0102030405060708");
    assert_eq!(json["exchange_type"], "IKE_SA_INIT");
    assert_eq!(json["flags"]["initiator"], true);
    assert_eq!(json["payloads"][0]["type"], "nonce");
    assert_eq!(json["payloads"][0]["data"], "ab");
}

// Property tests.

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    (
        0u16..0x8000,
        prop_oneof![
            any::<u16>().prop_map(AttributeValue::Tv),
            bytes(8).prop_map(AttributeValue::Tlv)
        ],
    )
        .prop_map(|(ty, value)| Attribute {
            attribute_type: AttributeType(ty),
            value,
        })
}

fn transform() -> impl Strategy<Value = Transform> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        proptest::collection::vec(attribute(), 0..3),
    )
        .prop_map(|(r1, ty, r2, id, attributes)| Transform {
            reserved1: r1,
            transform_type: TransformType(ty),
            reserved2: r2,
            transform_id: id,
            attributes,
        })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        bytes(9),
        proptest::collection::vec(transform(), 0..5),
    )
        .prop_map(|(reserved, number, protocol, spi, transforms)| Proposal {
            reserved,
            number,
            protocol_id: ProtocolId(protocol),
            spi,
            transforms,
        })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>()
        )
            .prop_map(|(p, s, e, a, b)| TrafficSelector::Ipv4 {
                ip_protocol: p,
                start_port: s,
                end_port: e,
                start: a.into(),
                end: b.into(),
            }),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>()
        )
            .prop_map(|(p, s, e, a, b)| TrafficSelector::Ipv6 {
                ip_protocol: p,
                start_port: s,
                end_port: e,
                start: a.into(),
                end: b.into(),
            }),
        (9u8..=255, any::<u8>(), bytes(8)).prop_map(|(number, second_octet, data)| {
            TrafficSelector::Other {
                number,
                second_octet,
                data,
            }
        }),
    ]
}

/// Bodies that may appear anywhere in the chain (not SK or SKF).
fn inner_body() -> impl Strategy<Value = PayloadBody> {
    prop_oneof![
        proptest::collection::vec(proposal(), 0..3).prop_map(|proposals| {
            PayloadBody::SecurityAssociation(SecurityAssociation { proposals })
        }),
        (any::<u16>(), any::<u16>(), bytes(16)).prop_map(|(group, reserved, data)| {
            PayloadBody::KeyExchange(KeyExchange {
                group,
                reserved,
                data,
            })
        }),
        (any::<u8>(), any::<[u8; 3]>(), bytes(12)).prop_map(|(t, reserved, data)| {
            PayloadBody::IdentificationInitiator(Identification {
                id_type: IdType(t),
                reserved,
                data,
            })
        }),
        (any::<u8>(), bytes(12)).prop_map(|(e, data)| PayloadBody::CertificateRequest(
            Certificate {
                encoding: CertificateEncoding(e),
                data
            }
        )),
        (any::<u8>(), any::<[u8; 3]>(), bytes(12)).prop_map(|(m, reserved, data)| {
            PayloadBody::Authentication(Authentication {
                method: AuthMethod(m),
                reserved,
                data,
            })
        }),
        bytes(32).prop_map(|data| PayloadBody::Nonce(Opaque { data })),
        (any::<u8>(), any::<u16>(), bytes(8), bytes(8)).prop_map(|(p, t, spi, data)| {
            PayloadBody::Notify(Notify {
                protocol_id: ProtocolId(p),
                notify_type: NotifyType(t),
                spi,
                data,
            })
        }),
        (any::<u8>(), 1u8..8, 0usize..4).prop_map(|(p, size, n)| PayloadBody::Delete(Delete {
            protocol_id: ProtocolId(p),
            spi_size: size,
            spis: (0..n).map(|i| Spi(vec![i as u8; size.into()])).collect(),
        })),
        bytes(20).prop_map(|data| PayloadBody::VendorId(Opaque { data })),
        (
            any::<[u8; 3]>(),
            proptest::collection::vec(selector(), 0..4)
        )
            .prop_map(
                |(reserved, selectors)| PayloadBody::TrafficSelectorsResponder(TrafficSelectors {
                    reserved,
                    selectors
                })
            ),
        (prop_oneof![1u8..33, 54u8..=255], bytes(8)).prop_map(|(t, data)| {
            PayloadBody::Unknown(UnknownPayload {
                payload_type: PayloadType(t),
                data,
            })
        }),
    ]
}

fn last_body() -> impl Strategy<Value = Option<PayloadBody>> {
    proptest::option::of(prop_oneof![
        (any::<u8>(), bytes(32)).prop_map(|(f, data)| PayloadBody::Encrypted(Encrypted {
            first_payload: PayloadType(f),
            data
        })),
        (any::<u8>(), any::<u16>(), any::<u16>(), bytes(32)).prop_map(|(f, n, t, data)| {
            PayloadBody::EncryptedFragment(EncryptedFragment {
                first_payload: PayloadType(f),
                fragment_number: n,
                total_fragments: t,
                data,
            })
        }),
    ])
}

fn arb_payload(body: PayloadBody, flags: u8) -> Payload {
    Payload {
        critical: flags & 0x80 != 0,
        reserved: flags & 0x7f,
        body,
    }
}

fn arb_message() -> impl Strategy<Value = Message> {
    (
        any::<(u64, u64, u8, u8, u8, u32)>(),
        proptest::collection::vec((inner_body(), any::<u8>()), 0..6),
        last_body(),
        any::<u8>(),
    )
        .prop_map(
            |((si, sr, minor, exchange, flags, id), inner, last, last_flags)| {
                let mut payloads: Vec<_> =
                    inner.into_iter().map(|(b, f)| arb_payload(b, f)).collect();
                payloads.extend(last.map(|b| arb_payload(b, last_flags)));
                Message {
                    spi_initiator: si,
                    spi_responder: sr,
                    major_version: 2,
                    minor_version: minor & 0x0f,
                    exchange_type: ExchangeType(exchange),
                    flags: Flags(flags),
                    message_id: id,
                    payloads,
                }
            },
        )
}

proptest! {
    #[test]
    fn generated_messages_round_trip(msg in arb_message()) {
        let bytes = msg.emit().expect("a generated message emits");
        let parsed = Message::parse(&bytes).expect("an emitted message parses");
        prop_assert_eq!(&parsed, &msg);
        prop_assert_eq!(parsed.emit().expect("emits again"), bytes);
    }

    #[test]
    fn random_bytes_never_panic(data in bytes(600)) {
        if let Ok(msg) = Message::parse(&data) {
            let length = HeaderView::new(&data).map(|v| v.length() as usize).unwrap_or(0);
            prop_assert_eq!(msg.emit().expect("parsed emits"), &data[..length]);
        }
        let _ = EspRepr::parse(&data);
        let _ = UdpEncapsulated::classify(&data);
    }

    /// Random bytes behind a valid header with a plausible first payload
    /// reach the payload parsers far more often than raw random bytes.
    #[test]
    fn random_payload_chains_never_panic(first in 33u8..54, body in bytes(400)) {
        let data = message(34, 0, first, &body);
        if let Ok(msg) = Message::parse(&data) {
            prop_assert_eq!(msg.emit().expect("parsed emits"), data);
        }
    }

    /// Mutating one byte of a valid message: parse either fails or gives a
    /// message that re-emits the mutated bytes.
    #[test]
    fn mutated_messages_never_panic(msg in arb_message(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut data = msg.emit().expect("emits");
        let i = at.index(data.len());
        data[i] = byte;
        if let Ok(parsed) = Message::parse(&data) {
            let length = HeaderView::new(&data).map(|v| v.length() as usize).unwrap_or(0);
            prop_assert_eq!(parsed.emit().expect("parsed emits"), &data[..length]);
        }
    }
}
