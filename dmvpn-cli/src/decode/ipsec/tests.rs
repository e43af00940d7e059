//! IKE and ESP frames in a capture built in memory: what `decode` prints
//! for each, the round-trip check, and that the GRE-only walk skips them.

use std::io::Cursor;

use etherparse::IpNumber;
use holo_ike::packet::{ExchangeType, Flags, Message, Opaque, Payload, PayloadBody};
use pcap_file::DataLink;
use serde_json::Value;

use super::super::{DecodeOptions, decode_capture};
use crate::capture::CaptureReader;
use crate::testing::*;

fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = src_port.to_be_bytes().to_vec();
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

fn ike_message() -> Vec<u8> {
    Message {
        spi_initiator: 0x1122334455667788,
        spi_responder: 0,
        major_version: 2,
        minor_version: 0,
        exchange_type: ExchangeType::IKE_SA_INIT,
        flags: Flags(Flags::INITIATOR),
        message_id: 0,
        payloads: vec![Payload::new(PayloadBody::Nonce(Opaque {
            data: vec![0xab; 16],
        }))],
    }
    .emit()
    .unwrap()
}

const ESP: [u8; 12] = [0x11, 0x50, 0xfd, 0x74, 0, 0, 0, 6, 1, 2, 3, 4];

fn frame(protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
    ethernet(0x0800, &ipv4(protocol, payload, 64))
}

fn ipsec_capture() -> Vec<u8> {
    let marked = [&[0u8; 4][..], &ike_message()].concat();
    let esp = frame(IpNumber::ENCAPSULATING_SECURITY_PAYLOAD, &ESP);
    let cut = esp[..esp.len() - 6].to_vec();
    let mut frames = whole(&[
        frame(IpNumber::UDP, &udp(500, 500, &ike_message())),
        frame(IpNumber::UDP, &udp(4500, 4500, &marked)),
        frame(IpNumber::UDP, &udp(4500, 4500, &ESP)),
        frame(IpNumber::UDP, &udp(4500, 4500, &[0xff])),
        esp.clone(),
        frame(IpNumber::UDP, &udp(53, 53, &[0; 12])),
        frame(IpNumber::UDP, &udp(500, 500, &[0; 12])),
    ]);
    frames.push((cut, esp.len()));
    pcap(DataLink::ETHERNET, &frames)
}

fn run(options: DecodeOptions) -> (Vec<Value>, String, super::super::DecodeSummary) {
    let mut capture = CaptureReader::new(Cursor::new(ipsec_capture())).unwrap();
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    let summary = decode_capture(&mut capture, &options, &mut out, &mut diag).unwrap();
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, String::from_utf8(diag).unwrap(), summary)
}

#[test]
fn ike_esp_and_keepalives_are_decoded() {
    let (lines, diag, summary) = run(DecodeOptions::default());
    let frames: Vec<_> = lines.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, [1, 2, 3, 4, 5, 7, 8], "UDP 53 is skipped");
    for ike in &lines[..2] {
        assert_eq!(ike["ike"]["exchange_type"], "IKE_SA_INIT");
        assert_eq!(ike["ike"]["spi_initiator"], "1122334455667788");
        assert_eq!(ike["ike"]["payloads"][0]["type"], "nonce");
    }
    assert_eq!(lines[0]["udp"]["dst_port"], 500);
    for esp in [&lines[2], &lines[4]] {
        assert_eq!(esp["esp"]["spi"], "0x1150fd74");
        assert_eq!(esp["esp"]["sequence"], 6);
        assert_eq!(esp["esp"]["payload_length"], 4);
    }
    assert_eq!(lines[3]["nat_keepalive"], true);
    assert_eq!(lines[5]["error"]["layer"], "ike");
    assert_eq!(lines[6]["error"]["layer"], "ip");
    assert!(
        lines[6]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("ESP/IKE packet truncated"),
        "{}",
        lines[6]
    );
    assert_eq!((summary.ike, summary.esp, summary.errors), (2, 2, 2));
    assert!(
        diag.ends_with("; 6 IPsec frames: 2 IKE messages, 2 ESP packets\n"),
        "{diag}"
    );
}

#[test]
fn roundtrip_covers_ike_and_esp() {
    let options = DecodeOptions {
        check_roundtrip: true,
        allow_undecodable: true,
    };
    let (_, diag, summary) = run(options);
    let roundtrip = summary.roundtrip.unwrap();
    assert_eq!(
        (
            roundtrip.ike_exact,
            roundtrip.esp_exact,
            roundtrip.undecodable,
            roundtrip.failures
        ),
        (2, 2, 2, 0)
    );
    assert!(diag.contains("undecodable: frame 7: ike: "), "{diag}");
    assert!(
        diag.contains("; 2 IKE messages, 2 ESP headers byte-exact\n"),
        "{diag}"
    );
    assert!(!summary.roundtrip_failed(&options));
}

#[test]
fn the_gre_walk_skips_ipsec_frames() {
    let mut capture = CaptureReader::new(Cursor::new(ipsec_capture())).unwrap();
    assert_eq!(capture.by_ref().count(), 0);
    let stats = capture.stats();
    assert_eq!((stats.frames, stats.not_gre, stats.ipsec), (8, 8, 0));
}
