//! Codec tests on packets written out by hand in RFC layout. The same codec
//! is checked against real Cisco IOS and FRR captures in the workspace's
//! `tests` crate.

use std::net::Ipv4Addr;

use holo_utils::checksum::internet_checksum;
use proptest::prelude::*;

use super::extension::ty;
use super::*;

/// Fills in ar$chksum of a hand-written packet.
fn with_checksum(mut pkt: Vec<u8>) -> Vec<u8> {
    pkt[12..14].fill(0);
    let sum = internet_checksum(&pkt);
    pkt[12..14].copy_from_slice(&sum.to_be_bytes());
    pkt
}

/// A registration request as a DMVPN spoke sends it: unique + NAT-capable,
/// one CIE with holding time 7200, Responder Address, both Transit NHS
/// Records, Cisco cleartext authentication "secret" (odd total length), Cisco
/// NAT Address with one CIE, End.
fn registration_request() -> Vec<u8> {
    #[rustfmt::skip]
    let pkt = vec![
        0x00, 0x01,                         // ar$afn: IPv4
        0x08, 0x00,                         // ar$pro.type: IPv4
        0, 0, 0, 0, 0,                      // ar$pro.snap
        0xff,                               // ar$hopcnt
        0x00, 106,                          // ar$pktsz
        0x00, 0x00,                         // ar$chksum (filled in)
        0x00, 52,                           // ar$extoff
        0x01, 0x03,                         // version 1, Registration Request
        0x04, 0x00,                         // shtl 4, sstl 0
        0x04, 0x04,                         // src/dst protocol length
        0x80, 0x02,                         // flags: U, Cisco NAT-capable
        0x00, 0x00, 0x00, 0x2a,             // request id 42
        198, 51, 100, 2,                    // source NBMA
        10, 0, 0, 2,                        // source protocol
        10, 0, 0, 1,                        // destination protocol
        // CIE: code 0, prefix 32, unused, MTU 1400, holding time 7200,
        // no client addresses, preference 255.
        0x00, 32, 0x00, 0x00, 0x05, 0x78, 0x1c, 0x20, 0x00, 0x00, 0x00, 0xff,
        0x80, 0x03, 0x00, 0x00,             // Responder Address (C), empty
        0x80, 0x04, 0x00, 0x00,             // Forward Transit NHS Record (C)
        0x80, 0x05, 0x00, 0x00,             // Reverse Transit NHS Record (C)
        0x80, 0x07, 0x00, 10,               // Authentication (C), 10 octets
        0x00, 0x00, 0x00, 0x01, b's', b'e', b'c', b'r', b'e', b't',
        0x00, 0x09, 0x00, 20,               // Cisco NAT Address, one CIE
        0x00, 32, 0x00, 0x00, 0x05, 0x78, 0x00, 0x00, 0x04, 0x00, 0x04, 0xff,
        203, 0, 113, 9, 10, 0, 0, 1,
        0x80, 0x00, 0x00, 0x00,             // End (C)
    ];
    with_checksum(pkt)
}

#[test]
fn registration_request_fields() {
    let bytes = registration_request();
    let pkt = Packet::decode(&bytes).unwrap();
    assert_eq!(pkt.afn, header::afn::IPV4);
    assert_eq!(pkt.protocol, ProtocolType::IPV4);
    assert_eq!(pkt.hop_count, 255);
    assert_eq!(
        pkt.src_nbma,
        NbmaAddress::new(Ipv4Addr::new(198, 51, 100, 2))
    );
    assert_eq!(pkt.src_protocol, Address::from(Ipv4Addr::new(10, 0, 0, 2)));
    assert_eq!(pkt.dst_protocol, Address::from(Ipv4Addr::new(10, 0, 0, 1)));
    let Message::RegistrationRequest(m) = &pkt.message else {
        panic!("{:?}", pkt.message)
    };
    assert!(m.flags.contains(Flags::REGISTRATION_UNIQUE));
    assert!(m.flags.contains(Flags::CISCO_NAT_CAPABLE));
    assert_eq!(
        m.flags.names(MessageType::RegistrationRequest),
        ["U", "nat"]
    );
    assert_eq!(m.request_id, 42);
    assert_eq!(m.cies.len(), 1);
    assert_eq!(m.cies[0].holding_time, 7200);
    assert_eq!(m.cies[0].mtu, 1400);
    assert_eq!(m.cies[0].prefix_length, 32);
    assert_eq!(m.cies[0].preference, 255);
    assert_eq!(m.cies[0].protocol, Address::Absent);
    let types: Vec<u16> = pkt
        .extensions
        .iter()
        .map(|e| e.body.type_number())
        .collect();
    assert_eq!(types, [3, 4, 5, 7, 9, 0]);
    assert!(
        pkt.extensions
            .iter()
            .filter(|e| e.body.type_number() != 9)
            .all(|e| e.compulsory)
    );
    assert_eq!(pkt.cleartext_password(), Some(&b"secret"[..]));
    let Some(ExtensionBody::CiscoNatAddress { cies }) =
        pkt.extension(ty::CISCO_NAT_ADDRESS).map(|e| &e.body)
    else {
        panic!("no NAT extension")
    };
    assert_eq!(
        cies[0].nbma.address,
        Address::from(Ipv4Addr::new(203, 0, 113, 9))
    );
    assert_eq!(pkt.encode().unwrap(), bytes);
}

#[test]
fn header_view_peeks_without_decoding() {
    let bytes = registration_request();
    let view = HeaderView::new(&bytes).unwrap();
    assert_eq!(view.packet_type(), 3);
    assert_eq!(view.packet_size(), 106);
    assert_eq!(view.extension_offset(), 52);
    assert!(HeaderView::new(&bytes[..19]).is_none());
}

#[test]
fn link_padding_after_packet_size_is_ignored() {
    let mut bytes = registration_request();
    let pkt = Packet::decode(&bytes).unwrap();
    bytes.extend_from_slice(&[0, 0, 0]);
    assert_eq!(Packet::decode(&bytes).unwrap(), pkt);
}

/// Cisco's Traffic Indication: no flags or request id, the offending IP
/// packet as payload, no extensions (ar$extoff 0, as FRR sends it).
#[test]
fn traffic_indication_carries_packet() {
    #[rustfmt::skip]
    let mut pkt = vec![
        0x00, 0x01, 0x08, 0x00, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x08, 0x04, 0x00,
        0x04, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        192, 0, 2, 1, 10, 255, 255, 1, 172, 16, 1, 1,
    ];
    let inner = [
        0x45, 0, 0, 20, 0, 0, 0x40, 0, 63, 1, 0, 0, 172, 16, 1, 1, 172, 16, 2, 1,
    ];
    pkt.extend_from_slice(&inner);
    pkt[11] = pkt.len() as u8;
    let bytes = with_checksum(pkt);
    let pkt = Packet::decode(&bytes).unwrap();
    let Message::TrafficIndication(ti) = &pkt.message else {
        panic!()
    };
    assert_eq!(ti.traffic_code, 0);
    assert_eq!(ti.packet, inner);
    assert!(pkt.extensions.is_empty());
    assert_eq!(pkt.encode().unwrap(), bytes);
}

/// RFC 2332, 5.2.7: unused, error code, error offset, then the packet in
/// error.
#[test]
fn error_indication_layout() {
    let original = registration_request();
    #[rustfmt::skip]
    let mut pkt = vec![
        0x00, 0x01, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff, 0x00, 0, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x07, 0x04, 0x00,
        0x04, 0x04, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x5a,
        198, 51, 100, 1, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    pkt.extend_from_slice(&original);
    pkt[11] = pkt.len() as u8;
    let bytes = with_checksum(pkt);
    let pkt = Packet::decode(&bytes).unwrap();
    let Message::ErrorIndication(ei) = &pkt.message else {
        panic!()
    };
    assert_eq!(ei.code, ErrorCode::AUTHENTICATION_FAILURE);
    assert_eq!(ei.code.to_string(), "authentication failure (11)");
    assert_eq!(ei.error_offset, 90);
    assert_eq!(
        Packet::decode(&ei.packet).unwrap().message_type(),
        MessageType::RegistrationRequest
    );
    assert_eq!(pkt.encode().unwrap(), bytes);
}

#[test]
fn rfc2332_code_numbers() {
    assert_eq!(ErrorCode::LOOP_DETECTED.0, 3);
    assert_eq!(ErrorCode::HOP_COUNT_EXCEEDED.0, 15);
    assert_eq!(CieCode::NO_BINDING.0, 12);
    assert_eq!(CieCode::ALREADY_REGISTERED.0, 14);
    assert_eq!(CieCode::ADMINISTRATIVELY_PROHIBITED.0, 4);
    assert_eq!(CieCode::INSUFFICIENT_RESOURCES.0, 5);
}

#[test]
fn unknown_extension_is_kept_with_its_compulsory_bit() {
    let mut pkt = Packet::decode(&registration_request()).unwrap();
    let unknown = Extension::new(
        true,
        ExtensionBody::Unknown {
            ty: 0x1234,
            data: vec![1, 2, 3],
        },
    );
    pkt.extensions.insert(0, unknown.clone());
    let bytes = pkt.encode().unwrap();
    let back = Packet::decode(&bytes).unwrap();
    assert_eq!(back.extensions[0], unknown);
    assert!(!back.extensions[0].body.is_known());
    assert_eq!(back.encode().unwrap(), bytes);
}

#[test]
fn vendor_private_carries_cisco_nhrp_group() {
    let mut pkt = Packet::decode(&registration_request()).unwrap();
    pkt.extensions.insert(
        0,
        Extension::new(
            false,
            ExtensionBody::VendorPrivate(VendorPrivate::cisco_nhrp_group("gold")),
        ),
    );
    let bytes = pkt.encode().unwrap();
    // Vendor-Private header, Cisco OUI 00-00-0C, then the name.
    assert_eq!(
        bytes[52..63],
        [
            0x00, 0x08, 0x00, 7, 0x00, 0x00, 0x0c, b'g', b'o', b'l', b'd'
        ]
    );
    let back = Packet::decode(&bytes).unwrap();
    let ExtensionBody::VendorPrivate(vp) = &back.extensions[0].body else {
        panic!()
    };
    assert_eq!(vp.nhrp_group(), Some("gold"));
}

#[test]
fn decode_errors_name_field_and_offset() {
    let good = registration_request();
    let fix = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        with_checksum(b)
    };

    let err = Packet::decode(&good[..10]).unwrap_err();
    assert_eq!((err.field(), err.offset()), ("fixed header", 0));

    let err = Packet::decode(&good[..100]).unwrap_err();
    assert_eq!(
        err,
        DecodeError::PacketSize {
            size: 106,
            available: 100
        }
    );

    let mut bad = good.clone();
    bad[30] ^= 0xff;
    assert!(matches!(
        Packet::decode(&bad),
        Err(DecodeError::Checksum { .. })
    ));

    let err = Packet::decode(&fix(&|b| b[16] = 2)).unwrap_err();
    assert_eq!(err, DecodeError::Version(2));
    let err = Packet::decode(&fix(&|b| b[17] = 9)).unwrap_err();
    assert_eq!(err, DecodeError::UnknownType(9));
    let err = Packet::decode(&fix(&|b| b[5] = 1)).unwrap_err();
    assert_eq!(err.offset(), 4);
    let err = Packet::decode(&fix(&|b| b[18] = 0x84)).unwrap_err();
    assert_eq!(
        (err.field(), err.offset()),
        ("source NBMA address type/length", 18)
    );
    let err = Packet::decode(&fix(&|b| b[15] = 200)).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::ExtensionOffset { extoff: 200, .. }
    ));
    // Source protocol length 40 runs into the CIEs and then past ar$extoff.
    let err = Packet::decode(&fix(&|b| b[20] = 40)).unwrap_err();
    assert_eq!(err.field(), "source protocol address");
    // A CIE claiming a 63-byte client NBMA address.
    let err = Packet::decode(&fix(&|b| b[48] = 63)).unwrap_err();
    assert_eq!((err.field(), err.offset()), ("CIE client NBMA address", 52));
    // Authentication extension too short for its type field.
    let err = Packet::decode(&fix(&|b| {
        b[67] = 2;
        b.drain(70..78);
        b[11] = b.len() as u8;
    }))
    .unwrap_err();
    assert_eq!(err.field(), "Authentication");
    assert_eq!(err.offset(), 66);
    // Extension length past the end of the packet.
    let err = Packet::decode(&fix(&|b| b[67] = 200)).unwrap_err();
    assert_eq!((err.field(), err.offset()), ("extension value", 68));
    // End extension with a value.
    let err = Packet::decode(&fix(&|b| b[105] = 1)).unwrap_err();
    assert!(
        err.field() == "End" || err.field() == "extension value",
        "{err}"
    );
    // Reserved bit of an extension type.
    let err = Packet::decode(&fix(&|b| b[52] = 0x40)).unwrap_err();
    assert_eq!((err.field(), err.offset()), ("extension type", 52));
}

#[test]
fn encode_rejects_what_cannot_be_sent() {
    let mut pkt = Packet::decode(&registration_request()).unwrap();
    pkt.src_nbma.address = Address::Other(vec![0; 64]);
    assert!(matches!(
        pkt.encode(),
        Err(EncodeError::TooLong { max: 63, .. })
    ));
    let mut pkt = Packet::decode(&registration_request()).unwrap();
    pkt.extensions
        .insert(0, Extension::new(true, ExtensionBody::End));
    assert!(matches!(pkt.encode(), Err(EncodeError::Invalid(_))));
    let mut pkt = Packet::decode(&registration_request()).unwrap();
    pkt.extensions.pop();
    pkt.trailer = vec![0];
    assert!(matches!(pkt.encode(), Err(EncodeError::Invalid(_))));
}

#[test]
fn json_names_the_message_type() {
    let pkt = Packet::decode(&registration_request()).unwrap();
    let json = serde_json::to_value(&pkt).unwrap();
    assert_eq!(json["type"], "registration_request");
    assert_eq!(json["request_id"], 42);
    assert_eq!(json["src_nbma"]["address"], "198.51.100.2");
    assert_eq!(json["extensions"][3]["type"], "authentication");
    // The cleartext password never reaches JSON or Debug output.
    assert_eq!(json["extensions"][3]["password"], "<6 bytes hidden>");
    assert!(!json.to_string().contains("736563726574"));
    assert!(!format!("{pkt:?}").contains("115, 101, 99"));
}

#[test]
fn json_input_reads_hand_written_packets() {
    // What a conformance test writes: defaults for afn and protocol, the
    // password in clear.
    let json = r#"{
        "hop_count": 255, "src_nbma": {"address": "192.0.2.11"},
        "src_protocol": "10.0.0.11", "dst_protocol": "10.0.0.1",
        "type": "registration_request", "flags": 32770, "request_id": 1,
        "cies": [{"prefix_length": 32, "holding_time": 600}],
        "extensions": [
            {"compulsory": true, "type": "authentication", "password": "DMVPN"},
            {"compulsory": true, "type": "unknown", "number": 4097, "data": "ca fe"},
            {"compulsory": true, "type": "end"}
        ]
    }"#;
    let pkt: Packet = serde_json::from_str(json).unwrap();
    assert_eq!(pkt.afn, header::afn::IPV4);
    assert_eq!(pkt.protocol, ProtocolType::IPV4);
    assert_eq!(pkt.cleartext_password(), Some(&b"DMVPN"[..]));
    assert_eq!(
        pkt.message.request_reply().unwrap().cies[0].holding_time,
        600
    );
    assert_eq!(
        pkt.extensions[1].body,
        ExtensionBody::Unknown {
            ty: 4097,
            data: vec![0xca, 0xfe]
        }
    );

    // The hidden password of the output is no input, and typos are errors.
    let hidden = json.replace("\"DMVPN\"", "\"<5 bytes hidden>\"");
    assert!(serde_json::from_str::<Packet>(&hidden).is_err());
    let typo = json.replace("request_id", "request_ID");
    assert!(serde_json::from_str::<Packet>(&typo).is_err());
    let typo = json.replace("holding_time", "holdtime");
    assert!(serde_json::from_str::<Packet>(&typo).is_err());
}

/// The JSON of a packet with each cleartext password (hidden by
/// `Serialize`) given as hex data instead, as a test input would.
fn json_with_passwords(pkt: &Packet) -> serde_json::Value {
    let mut json = serde_json::to_value(pkt).unwrap();
    for (i, ext) in pkt.extensions.iter().enumerate() {
        if let ExtensionBody::Authentication(auth) = &ext.body
            && auth.cleartext_password().is_some()
        {
            let ext = json["extensions"][i].as_object_mut().unwrap();
            ext.remove("password");
            let hex: String = auth.data.iter().map(|b| format!("{b:02x}")).collect();
            ext.insert("data".into(), hex.into());
        }
    }
    json
}

// Property tests: any valid packet value survives encode -> decode and JSON
// output -> input, and no input panics the decoder.

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address::Absent),
        any::<[u8; 4]>().prop_map(|b| Address::from_bytes(&b)),
        any::<[u8; 16]>().prop_map(|b| Address::from_bytes(&b)),
        proptest::collection::vec(any::<u8>(), 1..40).prop_map(|b| Address::from_bytes(&b)),
    ]
}

fn nbma() -> impl Strategy<Value = NbmaAddress> {
    (address(), any::<bool>()).prop_map(|(address, e164)| NbmaAddress { address, e164 })
}

prop_compose! {
    fn cie()(code in any::<u8>(), prefix_length in any::<u8>(), reserved in any::<u16>(),
             mtu in any::<u16>(), holding_time in any::<u16>(), preference in any::<u8>(),
             nbma in nbma(), nbma_subaddress in nbma(), protocol in address()) -> Cie {
        Cie { code: CieCode(code), prefix_length, reserved, mtu, holding_time, preference,
              nbma, nbma_subaddress, protocol }
    }
}

fn cies() -> impl Strategy<Value = Vec<Cie>> {
    proptest::collection::vec(cie(), 0..3)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn extension_body() -> impl Strategy<Value = ExtensionBody> {
    prop_oneof![
        cies().prop_map(|cies| ExtensionBody::ResponderAddress { cies }),
        cies().prop_map(|cies| ExtensionBody::ForwardTransitNhs { cies }),
        cies().prop_map(|cies| ExtensionBody::ReverseTransitNhs { cies }),
        cies().prop_map(|cies| ExtensionBody::CiscoNatAddress { cies }),
        (any::<u32>(), bytes(20)).prop_map(|(auth_type, data)| ExtensionBody::Authentication(
            Authentication { auth_type, data }
        )),
        (0u32..0x100_0000, bytes(20)).prop_map(|(vendor_id, data)| ExtensionBody::VendorPrivate(
            VendorPrivate { vendor_id, data }
        )),
        (10u16..0x4000, bytes(20)).prop_map(|(ty, data)| ExtensionBody::Unknown { ty, data }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let rr = || {
        (any::<u16>(), any::<u32>(), cies()).prop_map(|(f, request_id, cies)| RequestReply {
            flags: Flags(f),
            request_id,
            cies,
        })
    };
    prop_oneof![
        rr().prop_map(Message::ResolutionRequest),
        rr().prop_map(Message::ResolutionReply),
        rr().prop_map(Message::RegistrationRequest),
        rr().prop_map(Message::RegistrationReply),
        rr().prop_map(Message::PurgeRequest),
        rr().prop_map(Message::PurgeReply),
        (any::<u16>(), any::<u16>(), any::<u16>(), bytes(60)).prop_map(|(r, c, o, packet)| {
            Message::ErrorIndication(ErrorIndication {
                reserved: r,
                code: ErrorCode(c),
                error_offset: o,
                packet,
            })
        }),
        (any::<u16>(), any::<u16>(), any::<u16>(), bytes(60)).prop_map(|(r, c, r2, packet)| {
            Message::TrafficIndication(TrafficIndication {
                reserved: r,
                traffic_code: c,
                reserved2: r2,
                packet,
            })
        }),
    ]
}

prop_compose! {
    fn packet()(afn in any::<u16>(),
                protocol in prop_oneof![
                    (0u16..0xffff).prop_filter("not SNAP", |t| *t != header::PRO_TYPE_SNAP)
                        .prop_map(ProtocolType::Short),
                    (any::<[u8; 3]>(), any::<u16>())
                        .prop_map(|(oui, pid)| ProtocolType::Snap { oui, pid }),
                ],
                hop_count in any::<u8>(), src_nbma in nbma(), src_nbma_subaddress in nbma(),
                src_protocol in address(), dst_protocol in address(), message in message(),
                mut extensions in proptest::collection::vec(
                    (any::<bool>(), extension_body())
                        .prop_map(|(c, body)| Extension::new(c, body)), 0..4),
                end in any::<bool>(), end_compulsory in any::<bool>(), trailer in bytes(5))
                -> Packet {
        // End only last, and a trailer only after End (see Packet::encode).
        let end = end || !trailer.is_empty();
        if end {
            extensions.push(Extension::new(end_compulsory, ExtensionBody::End));
        }
        // Error and Traffic Indication payloads, and unknown extensions,
        // are opaque, so any bytes are valid there.
        Packet { afn, protocol, hop_count, src_nbma, src_nbma_subaddress, src_protocol,
                 dst_protocol, message, extensions, trailer }
    }
}

proptest! {
    #[test]
    fn valid_packets_survive_encode_decode(pkt in packet()) {
        let bytes = pkt.encode().unwrap();
        let back = Packet::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &pkt);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn json_reads_back_what_it_writes(pkt in packet()) {
        let back: Packet = serde_json::from_value(json_with_passwords(&pkt)).unwrap();
        prop_assert_eq!(back, pkt);
    }

    #[test]
    fn random_bytes_never_panic(data in bytes(300)) {
        if let Ok(pkt) = Packet::decode(&data) {
            let size = HeaderView::new(&data).unwrap().packet_size();
            prop_assert_eq!(pkt.encode().unwrap(), &data[..size.into()]);
        }
    }

    /// Random bytes rarely pass the checksum; these do, so the decoder past
    /// the fixed header sees hostile input too.
    #[test]
    fn random_bytes_with_valid_size_and_checksum_never_panic(mut data in bytes(300),
                                                            ty in 1u8..=8) {
        if data.len() >= 20 {
            let len = data.len() as u16;
            data[10..12].copy_from_slice(&len.to_be_bytes());
            data[16] = 1;
            data[17] = ty;
            data = with_checksum(data);
        }
        if let Ok(pkt) = Packet::decode(&data) {
            prop_assert_eq!(pkt.encode().unwrap(), data);
        }
    }

    /// Every single-byte corruption of a valid packet (checksum fixed up)
    /// either decodes to something that re-encodes to the same bytes or is
    /// an error.
    #[test]
    fn corrupted_valid_packets_roundtrip_or_error(pkt in packet(), at in any::<usize>(),
                                                 value in any::<u8>()) {
        let mut data = pkt.encode().unwrap();
        let at = at % data.len();
        if !(10..14).contains(&at) {
            data[at] = value;
            data = with_checksum(data);
            if let Ok(back) = Packet::decode(&data) {
                prop_assert_eq!(back.encode().unwrap(), data);
            }
        }
    }
}
