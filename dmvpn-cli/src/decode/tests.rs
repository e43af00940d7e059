//! Decoding and round-trip checks on packets built with the codecs, and
//! the whole `decode` run over a capture built in memory.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};

use etherparse::IpNumber;
use holo_nhrp::packet::{
    Address, Extension, ExtensionBody, Flags, Message, NbmaAddress, ProtocolType, RequestReply,
};
use pcap_file::DataLink;
use serde_json::{Value, json};

use super::*;
use crate::testing::*;

/// What FRR's hub received in frame 37 of its capture: no NHRP at all.
const JUNK: &[u8] = b"hello-from-host-userspace-gre";

fn registration_request() -> Packet {
    let spoke = IpAddr::V4(Ipv4Addr::new(10, 255, 0, 2));
    Packet {
        afn: 1,
        protocol: ProtocolType::IPV4,
        hop_count: 255,
        src_nbma: NbmaAddress::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
        src_nbma_subaddress: NbmaAddress::default(),
        src_protocol: Address::Ip(spoke),
        dst_protocol: Address::Ip(IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1))),
        message: Message::RegistrationRequest(RequestReply {
            flags: Flags(Flags::REGISTRATION_UNIQUE),
            request_id: 7,
            cies: vec![],
        }),
        extensions: vec![Extension::new(true, ExtensionBody::End)],
        trailer: vec![],
    }
}

fn gre(protocol: GreProtocol, key: Option<u32>, payload: &[u8]) -> Vec<u8> {
    GreRepr::tunnel(key, protocol).emit(payload)
}

fn gre_frame(frame: u64, gre: Vec<u8>) -> GreFrame {
    GreFrame {
        frame,
        outer: OuterIp {
            src: IpAddr::V4(Ipv4Addr::from(V4_SRC)),
            dst: IpAddr::V4(Ipv4Addr::from(V4_DST)),
            ttl: 255,
        },
        gre,
    }
}

fn nhrp_frame(frame: u64) -> GreFrame {
    let nhrp = registration_request().encode().unwrap();
    gre_frame(frame, gre(GreProtocol::NHRP, Some(42), &nhrp))
}

#[test]
fn nhrp_frame_becomes_one_json_object() {
    let record = decode_frame(&nhrp_frame(3));
    assert_eq!(record.nhrp, Some(registration_request()));
    assert_eq!(record.gre.as_ref().map(|g| g.key), Some(Some(42)));
    assert_eq!((&record.payload, &record.error), (&None, &None));

    let line = serde_json::to_value(&record).unwrap();
    assert_eq!(line["frame"], 3);
    assert_eq!(
        line["outer"],
        json!({"src": "192.0.2.1", "dst": "198.51.100.7", "ttl": 255})
    );
    assert_eq!(line["gre"]["key"], 42);
    assert_eq!(
        line["nhrp"],
        serde_json::to_value(registration_request()).unwrap()
    );
    let keys: Vec<_> = line.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["frame", "gre", "nhrp", "outer"]);
}

#[test]
fn bytes_after_the_nhrp_packet_are_trailing_bytes() {
    let mut nhrp = registration_request().encode().unwrap();
    nhrp.extend_from_slice(&[0xaa, 0xbb]);
    let frame = gre_frame(1, gre(GreProtocol::NHRP, None, &nhrp));
    let record = decode_frame(&frame);
    assert_eq!(record.trailing_bytes, [0xaa, 0xbb]);
    assert_eq!(
        serde_json::to_value(&record).unwrap()["trailing_bytes"],
        "aabb"
    );
    // Only the NHRP packet itself is re-encoded.
    assert_eq!(
        check_roundtrip(&frame),
        Roundtrip {
            gre: Check::Exact,
            nhrp: Some(Check::Exact),
        }
    );
}

#[test]
fn other_payloads_are_summarized() {
    let inner = ipv4(IpNumber::ICMP, &[8, 0, 0, 0, 0, 0, 0, 0], 63);
    let record = decode_frame(&gre_frame(1, gre(GreProtocol::IPV4, None, &inner)));
    assert_eq!(record.nhrp, None);
    assert_eq!(
        serde_json::to_value(&record).unwrap()["payload"],
        json!({
            "protocol": "IPv4", "length": 28,
            "src": "192.0.2.1", "dst": "198.51.100.7", "ttl": 63, "ip_protocol": 1,
        })
    );

    let record = decode_frame(&gre_frame(1, gre(GreProtocol(0x88be), None, &[1, 2, 3])));
    assert_eq!(
        serde_json::to_value(&record).unwrap()["payload"],
        json!({"protocol": "0x88be", "length": 3})
    );
}

#[test]
fn undecodable_layers_are_named() {
    // GRE version 1 (PPTP) is not RFC 2784 GRE.
    let record = decode_frame(&gre_frame(1, vec![0x00, 0x01, 0x88, 0x0b]));
    let error = record.error.unwrap();
    assert_eq!(error.layer, Layer::Gre);
    assert!(error.message.contains("version"), "{}", error.message);
    assert_eq!(record.gre, None);

    let junk = gre_frame(2, gre(GreProtocol::NHRP, None, JUNK));
    let record = decode_frame(&junk);
    assert!(record.gre.is_some());
    assert_eq!(record.nhrp, None);
    let line = serde_json::to_value(&record).unwrap();
    assert_eq!(line["error"]["layer"], "nhrp");
    assert!(
        line["error"]["message"]
            .as_str()
            .unwrap()
            .contains("packet size")
    );

    let checked = check_roundtrip(&junk);
    assert_eq!(checked.gre, Check::Exact);
    assert!(matches!(checked.nhrp, Some(Check::Undecodable(_))));
    assert!(!checked.nhrp.unwrap().is_failure());
}

#[test]
fn frames_stopped_before_gre_keep_their_outer_header() {
    let outer = gre_frame(1, vec![]).outer;
    let record = error_record(&FrameError {
        frame: 9,
        outer: Some(outer),
        kind: FrameErrorKind::Truncated {
            ip_length: 100,
            captured: 60,
        },
    });
    let line = serde_json::to_value(&record).unwrap();
    assert_eq!(line["frame"], 9);
    assert_eq!(line["outer"]["ttl"], 255);
    assert_eq!(line["error"]["layer"], "ip");
    assert_eq!(
        line["error"]["message"],
        "GRE packet truncated: IP length 100, 60 bytes captured"
    );

    let layer = |kind| {
        let error = FrameError {
            frame: 1,
            outer: None,
            kind,
        };
        error_record(&error).error.unwrap().layer
    };
    assert_eq!(layer(FrameErrorKind::Capture("eof".into())), Layer::Capture);
    assert_eq!(layer(FrameErrorKind::UnknownInterface(3)), Layer::Capture);
    let link = FrameErrorKind::UnsupportedLinkType(DataLink::USB_LINUX);
    assert_eq!(layer(link), Layer::Link);
    assert_eq!(layer(FrameErrorKind::Fragment), Layer::Ip);
}

#[test]
fn first_difference_names_offset_and_bytes() {
    assert_eq!(first_difference(&[1, 2, 3], &[1, 2, 3]), None);
    let d = first_difference(&[1, 2, 3], &[1, 9, 3]).unwrap();
    assert_eq!((d.offset, d.expected, d.actual), (1, Some(2), Some(9)));
    assert_eq!(
        d.to_string(),
        "first difference at offset 1: expected 0x02, actual 0x09"
    );
    let d = first_difference(&[1, 2], &[1, 2, 3]).unwrap();
    assert_eq!((d.offset, d.expected, d.actual), (2, None, Some(3)));
    let d = first_difference(&[1, 2, 3], &[1]).unwrap();
    assert_eq!((d.offset, d.expected, d.actual), (1, Some(2), None));
}

#[test]
fn failures_are_listed_with_frame_and_offset() {
    let mut counts = RoundtripSummary::default();
    let mut diag = Vec::new();
    let checked = Roundtrip {
        gre: Check::Exact,
        nhrp: Some(Check::Mismatch(Difference {
            offset: 34,
            expected: Some(0x0a),
            actual: Some(0x0b),
        })),
    };
    let options = DecodeOptions {
        check_roundtrip: true,
        allow_undecodable: true,
    };
    report_roundtrip(12, Layer::Gre, &checked, &options, &mut counts, &mut diag).unwrap();
    assert_eq!(
        String::from_utf8(diag).unwrap(),
        "roundtrip: frame 12: nhrp: not byte-exact: \
         first difference at offset 34: expected 0x0a, actual 0x0b\n"
    );
    assert_eq!((counts.gre_exact, counts.failures), (1, 1));
    let summary = DecodeSummary {
        roundtrip: Some(counts),
        ..DecodeSummary::default()
    };
    // Allowing undecodable frames never excuses a packet that decodes.
    assert!(summary.roundtrip_failed(&options));
}

/// A capture with a good NHRP packet, FRR's junk, an IPv4 GRE packet, a
/// truncated GRE packet and an ARP frame.
fn mixed_capture() -> Vec<u8> {
    let nhrp = ethernet(0x0800, &ipv4(IpNumber::GRE, &nhrp_frame(1).gre, 255));
    let junk = gre(GreProtocol::NHRP, None, JUNK);
    let junk = ethernet(0x0800, &ipv4(IpNumber::GRE, &junk, 255));
    let inner = ipv4(IpNumber::ICMP, &[0; 8], 64);
    let data = gre(GreProtocol::IPV4, None, &inner);
    let data = ethernet(0x0800, &ipv4(IpNumber::GRE, &data, 255));
    let cut = data[..40].to_vec();
    let arp = ethernet(0x0806, &[0; 28]);
    let mut frames = whole(&[nhrp, junk, data.clone()]);
    frames.push((cut, data.len()));
    frames.extend(whole(&[arp]));
    pcap(DataLink::ETHERNET, &frames)
}

fn run(options: DecodeOptions) -> (DecodeSummary, Vec<Value>, String) {
    let mut capture = CaptureReader::new(Cursor::new(mixed_capture())).unwrap();
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    let summary = decode_capture(&mut capture, &options, &mut out, &mut diag).unwrap();
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (summary, lines, String::from_utf8(diag).unwrap())
}

#[test]
fn decode_prints_a_line_per_gre_frame_and_a_summary() {
    let (summary, lines, diag) = run(DecodeOptions::default());
    let frames: Vec<_> = lines.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, [1, 2, 3, 4]);
    assert_eq!(lines[0]["nhrp"]["type"], "registration_request");
    assert_eq!(lines[1]["error"]["layer"], "nhrp");
    assert_eq!(lines[2]["payload"]["protocol"], "IPv4");
    assert_eq!(lines[3]["error"]["layer"], "ip");
    assert_eq!(
        diag,
        "summary: 5 frames read, 3 GRE packets, 1 NHRP packets, 2 errors, \
         1 non-GRE frames skipped\n"
    );
    assert_eq!(
        (summary.nhrp, summary.errors, summary.roundtrip),
        (1, 2, None)
    );
}

#[test]
fn roundtrip_fails_on_undecodable_frames_unless_allowed() {
    let strict = DecodeOptions {
        check_roundtrip: true,
        allow_undecodable: false,
    };
    let (summary, lines, diag) = run(strict);
    assert_eq!(lines.len(), 4);
    assert!(summary.roundtrip_failed(&strict));
    assert!(
        diag.contains("roundtrip: frame 2: nhrp: does not decode: "),
        "{diag}"
    );
    assert!(diag.contains("roundtrip: frame 4: ip: does not decode: GRE packet truncated"));
    assert!(diag.contains("roundtrip FAILED: 0 packets not byte-exact, 2 frames undecodable\n"));

    let lenient = DecodeOptions {
        check_roundtrip: true,
        allow_undecodable: true,
    };
    let (summary, _, diag) = run(lenient);
    assert!(!summary.roundtrip_failed(&lenient));
    assert!(diag.contains("undecodable: frame 2: nhrp: "), "{diag}");
    assert!(diag.contains("undecodable: frame 4: ip: "), "{diag}");
    assert!(
        diag.contains("roundtrip ok: 3 GRE, 1 NHRP packets byte-exact\n"),
        "{diag}"
    );
    assert_eq!(
        summary.roundtrip,
        Some(RoundtripSummary {
            gre_exact: 3,
            nhrp_exact: 1,
            ike_exact: 0,
            esp_exact: 0,
            undecodable: 2,
            failures: 0,
        })
    );
}
