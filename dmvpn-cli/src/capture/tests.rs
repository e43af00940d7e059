//! Captures built in memory: every link type, the frames to skip and the
//! frames to report.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use etherparse::{IpFragOffset, IpNumber, Ipv6FlowLabel, Ipv6Header};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
use pcap_file::pcapng::{PcapNgWriter, RawBlock};
use pcap_file::{DataLink, Endianness};

use super::*;
use crate::testing::*;

/// A GRE header (no options, protocol NHRP) and four payload bytes.
const GRE: [u8; 8] = [0x00, 0x00, 0x20, 0x01, 0xde, 0xad, 0xbe, 0xef];

fn v6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

/// IPv6 with a Hop-by-Hop Options header (one PadN option) before GRE.
fn ipv6_with_hop_by_hop(payload: &[u8], hop_limit: u8) -> Vec<u8> {
    let hop_by_hop = [IpNumber::GRE.0, 0, 1, 4, 0, 0, 0, 0];
    let header = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: u16::try_from(hop_by_hop.len() + payload.len()).unwrap(),
        next_header: IpNumber::IPV6_HEADER_HOP_BY_HOP,
        hop_limit,
        source: v6(1).octets(),
        destination: v6(2).octets(),
    };
    let mut p = header.to_bytes().to_vec();
    p.extend_from_slice(&hop_by_hop);
    p.extend_from_slice(payload);
    p
}

fn read(bytes: Vec<u8>) -> (Vec<Result<GreFrame, FrameError>>, CaptureStats) {
    let mut reader = CaptureReader::new(Cursor::new(bytes)).unwrap();
    let frames = reader.by_ref().collect();
    (frames, reader.stats())
}

fn v4_outer(ttl: u8) -> OuterIp {
    OuterIp {
        src: IpAddr::V4(Ipv4Addr::from(V4_SRC)),
        dst: IpAddr::V4(Ipv4Addr::from(V4_DST)),
        ttl,
    }
}

#[test]
fn ethernet_frames_gre_skipped_and_reported() {
    // Ethernet pads short frames to 60 bytes: the padding is not GRE.
    let mut padded = ethernet(0x0800, &ipv4(IpNumber::GRE, &GRE, 255));
    padded.resize(60, 0);
    let arp = ethernet(0x0806, &[0; 28]);
    let udp = ethernet(0x0800, &ipv4(IpNumber::UDP, &[0, 1, 0, 2, 0, 8, 0, 0], 64));
    let full = ethernet(0x0800, &ipv4(IpNumber::GRE, &GRE, 254));
    let cut = full[..full.len() - 3].to_vec();
    let mut vlan = [MAC_B, MAC_A].concat();
    vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x81, 0x00, 0x00, 0x65, 0x08, 0x00]);
    vlan.extend_from_slice(&ipv4(IpNumber::GRE, &GRE, 253));
    let mut fragment = ipv4_header(IpNumber::GRE, GRE.len(), 252);
    fragment.more_fragments = true;
    fragment.header_checksum = fragment.calc_header_checksum();
    let mut fragment = ethernet(0x0800, &fragment.to_bytes());
    fragment.extend_from_slice(&GRE);
    let mut later_fragment = ipv4_header(IpNumber::GRE, GRE.len(), 252);
    later_fragment.fragment_offset = IpFragOffset::try_new(185).unwrap();
    let mut later_fragment = ethernet(0x0800, &later_fragment.to_bytes());
    later_fragment.extend_from_slice(&GRE);

    let mut frames = whole(&[padded, arp, udp]);
    frames.push((cut, full.len()));
    frames.extend(whole(&[vlan, fragment, later_fragment]));
    let (frames, stats) = read(pcap(DataLink::ETHERNET, &frames));

    assert_eq!(
        frames,
        vec![
            Ok(GreFrame {
                frame: 1,
                outer: v4_outer(255),
                gre: GRE.to_vec(),
            }),
            Err(FrameError {
                frame: 4,
                outer: Some(v4_outer(254)),
                kind: FrameErrorKind::Truncated {
                    ip_length: 28,
                    captured: 25,
                },
            }),
            Ok(GreFrame {
                frame: 5,
                outer: v4_outer(253),
                gre: GRE.to_vec(),
            }),
            Err(FrameError {
                frame: 6,
                outer: Some(v4_outer(252)),
                kind: FrameErrorKind::Fragment,
            }),
            Err(FrameError {
                frame: 7,
                outer: Some(v4_outer(252)),
                kind: FrameErrorKind::Fragment,
            }),
        ]
    );
    assert_eq!(
        stats,
        CaptureStats {
            frames: 7,
            gre: 2,
            not_gre: 2,
            ipsec: 0,
            errors: 3,
            unreadable_blocks: 0,
        }
    );
}

#[test]
fn ipv6_gre_behind_an_extension_header() {
    let frame = ethernet(0x86dd, &ipv6_with_hop_by_hop(&GRE, 17));
    let (frames, _) = read(pcap(DataLink::ETHERNET, &whole(&[frame])));
    assert_eq!(
        frames,
        vec![Ok(GreFrame {
            frame: 1,
            outer: OuterIp {
                src: IpAddr::V6(v6(1)),
                dst: IpAddr::V6(v6(2)),
                ttl: 17,
            },
            gre: GRE.to_vec(),
        })]
    );
}

#[test]
fn malformed_link_and_ip_headers_are_reported() {
    let short = vec![0u8; 10];
    let cut_vlan = ethernet(0x8100, &[0x00]);
    let mut bad_version = ipv4(IpNumber::GRE, &GRE, 9);
    bad_version[0] = 0x55;
    let bad_version = ethernet(0x0800, &bad_version);
    let mut short_total = ipv4(IpNumber::GRE, &GRE, 9);
    short_total[2..4].copy_from_slice(&10u16.to_be_bytes());
    let short_total = ethernet(0x0800, &short_total);
    let (frames, stats) = read(pcap(
        DataLink::ETHERNET,
        &whole(&[short, cut_vlan, bad_version, short_total]),
    ));

    let kinds: Vec<_> = frames.iter().map(|r| r.as_ref().unwrap_err()).collect();
    assert_eq!(
        kinds[0].kind,
        FrameErrorKind::LinkTruncated {
            header: "Ethernet",
            needed: 14,
            available: 10,
        }
    );
    assert!(matches!(
        kinds[1].kind,
        FrameErrorKind::LinkTruncated {
            header: "VLAN tag",
            ..
        }
    ));
    assert!(matches!(kinds[2].kind, FrameErrorKind::Ip(_)));
    assert_eq!(kinds[2].outer, None);
    assert!(matches!(&kinds[3].kind, FrameErrorKind::Ip(m) if m.contains("total length 10")));
    assert_eq!(kinds[3].outer, Some(v4_outer(9)));
    assert_eq!(
        frames
            .iter()
            .map(|r| r.as_ref().unwrap_err().frame)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(stats.errors, 4);
}

#[test]
fn linux_cooked_v1_and_v2() {
    let ip = ipv4(IpNumber::GRE, &GRE, 64);
    // SLL v1: packet type, ARPHRD, address length, address, protocol.
    let sll = |hatype: u16, protocol: u16| {
        let mut f = vec![0, 4];
        f.extend_from_slice(&hatype.to_be_bytes());
        f.extend_from_slice(&[0, 6]);
        f.extend_from_slice(&MAC_A);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&protocol.to_be_bytes());
        f.extend_from_slice(&ip);
        f
    };
    let frames = [
        sll(1, 0x0800),
        // Loopback (ARPHRD 772): etherparse refuses it, IP all the same.
        sll(772, 0x0800),
        // Netlink: the protocol field is a netlink family.
        sll(824, 0x0800),
        sll(1, 0x0806),
        vec![0; 12],
    ];
    let (frames, stats) = read(pcap(DataLink::LINUX_SLL, &whole(&frames)));
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].as_ref().unwrap().gre, GRE);
    assert_eq!(frames[1].as_ref().unwrap().frame, 2);
    assert_eq!(
        frames[2].as_ref().unwrap_err().kind,
        FrameErrorKind::LinkTruncated {
            header: "Linux cooked (SLL)",
            needed: 16,
            available: 12,
        }
    );
    assert_eq!(stats.not_gre, 2);

    // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address.
    let mut sll2 = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6];
    sll2.extend_from_slice(&[0; 8]);
    sll2.extend_from_slice(&ipv6_with_hop_by_hop(&GRE, 1));
    let (frames, _) = read(pcap(DataLink::LINUX_SLL2, &whole(&[sll2])));
    let frame = frames[0].as_ref().unwrap();
    assert_eq!(frame.outer.src, IpAddr::V6(v6(1)));
    assert_eq!(frame.gre, GRE);
}

#[test]
fn raw_ip_link() {
    let frames = [ipv4(IpNumber::GRE, &GRE, 3), ipv6_with_hop_by_hop(&GRE, 4)];
    let (frames, stats) = read(pcap(DataLink::RAW, &whole(&frames)));
    assert_eq!(
        frames[0],
        Ok(GreFrame {
            frame: 1,
            outer: v4_outer(3),
            gre: GRE.to_vec(),
        })
    );
    assert_eq!(frames[1].as_ref().unwrap().outer.ttl, 4);
    assert_eq!(stats.gre, 2);
}

/// A pcapng block written as is, for what the writer refuses to write.
fn raw_block(type_: u32, body: Vec<u8>) -> RawBlock<'static> {
    let len = u32::try_from(body.len() + 12).unwrap();
    RawBlock {
        type_,
        initial_len: len,
        body: Cow::Owned(body),
        trailer_len: len,
    }
}

/// An Enhanced Packet Block body (big endian) claiming `captured` bytes.
fn epb_body(interface: u32, captured: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for word in [interface, 0, 0, captured, captured] {
        body.extend_from_slice(&word.to_be_bytes());
    }
    body.extend_from_slice(data);
    body.resize(body.len().div_ceil(4) * 4, 0);
    body
}

#[test]
fn pcapng_interfaces_and_packet_blocks() {
    let eth = ethernet(0x0800, &ipv4(IpNumber::GRE, &GRE, 10));
    let raw = ipv4(IpNumber::GRE, &GRE, 11);
    let mut w = PcapNgWriter::with_endianness(Vec::new(), Endianness::Big).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0))
        .unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::RAW, 0))
        .unwrap();
    w.write_pcapng_block(EnhancedPacketBlock {
        interface_id: 1,
        timestamp: Duration::ZERO,
        original_len: u32::try_from(raw.len()).unwrap(),
        data: Cow::Borrowed(&raw),
        options: vec![],
    })
    .unwrap();
    // Simple Packet Blocks belong to interface 0.
    w.write_pcapng_block(SimplePacketBlock {
        original_len: u32::try_from(eth.len()).unwrap(),
        data: Cow::Borrowed(&eth),
    })
    .unwrap();
    w.write_raw_block(&raw_block(6, epb_body(7, 28, &raw)))
        .unwrap();
    // Captured length beyond the block: the block is skipped, not the file.
    w.write_raw_block(&raw_block(6, epb_body(0, 200, &eth)))
        .unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::USB_LINUX, 0))
        .unwrap();
    w.write_pcapng_block(EnhancedPacketBlock {
        interface_id: 2,
        timestamp: Duration::ZERO,
        original_len: 4,
        data: Cow::Borrowed(&[1, 2, 3, 4]),
        options: vec![],
    })
    .unwrap();
    w.write_pcapng_block(EnhancedPacketBlock {
        interface_id: 0,
        timestamp: Duration::ZERO,
        original_len: u32::try_from(eth.len()).unwrap(),
        data: Cow::Borrowed(&eth),
        options: vec![],
    })
    .unwrap();

    let mut reader = CaptureReader::new(Cursor::new(w.into_inner())).unwrap();
    assert_eq!(reader.format(), CaptureFormat::PcapNg);
    let frames: Vec<_> = reader.by_ref().collect();
    assert_eq!(
        frames[0],
        Ok(GreFrame {
            frame: 1,
            outer: v4_outer(11),
            gre: GRE.to_vec(),
        })
    );
    assert_eq!(
        frames[1],
        Ok(GreFrame {
            frame: 2,
            outer: v4_outer(10),
            gre: GRE.to_vec(),
        })
    );
    let error = frames[2].as_ref().unwrap_err();
    assert_eq!(
        (error.frame, &error.kind),
        (3, &FrameErrorKind::UnknownInterface(7))
    );
    let error = frames[3].as_ref().unwrap_err();
    assert_eq!(error.frame, 4);
    assert!(matches!(error.kind, FrameErrorKind::Block(_)));
    let error = frames[4].as_ref().unwrap_err();
    assert_eq!(
        (error.frame, &error.kind),
        (5, &FrameErrorKind::UnsupportedLinkType(DataLink::USB_LINUX))
    );
    assert_eq!(frames[5].as_ref().map(|f| f.frame), Ok(6));
    assert_eq!(frames.len(), 6);
    assert_eq!(reader.stats().frames, 6);
}

#[test]
fn a_file_that_ends_inside_a_record_stops_with_an_error() {
    let frame = ethernet(0x0800, &ipv4(IpNumber::GRE, &GRE, 1));
    let mut bytes = pcap(DataLink::ETHERNET, &whole(&[frame.clone(), frame]));
    bytes.truncate(bytes.len() - 5);
    let (frames, stats) = read(bytes);
    assert!(frames[0].is_ok());
    let error = frames[1].as_ref().unwrap_err();
    assert_eq!(error.frame, 2);
    assert!(matches!(&error.kind, FrameErrorKind::Capture(m) if m.contains("ends inside")));
    assert_eq!(frames.len(), 2);
    assert_eq!(stats.frames, 2);
}

#[test]
fn files_that_are_not_captures() {
    let err = CaptureReader::new(Cursor::new(b"hello, world".to_vec())).unwrap_err();
    assert!(matches!(err, CaptureError::NotACapture(_)));
    assert!(err.to_string().contains("not a pcap or pcapng file"));
    let err = CaptureReader::new(Cursor::new(vec![0xa1, 0xb2])).unwrap_err();
    assert!(matches!(err, CaptureError::TooShort));
    // A pcap magic with no room for the rest of the file header.
    let err = CaptureReader::new(Cursor::new(vec![0xa1, 0xb2, 0xc3, 0xd4, 0])).unwrap_err();
    assert!(matches!(err, CaptureError::Header(_)), "{err:?}");
    let err = CaptureReader::new(Cursor::new(pcap(DataLink::USB_LINUX, &[]))).unwrap_err();
    assert!(matches!(
        err,
        CaptureError::UnsupportedLinkType(DataLink::USB_LINUX)
    ));
}

#[test]
fn read_file_from_disk() {
    let frame = ethernet(0x0800, &ipv4(IpNumber::GRE, &GRE, 1));
    let path = std::env::temp_dir().join(format!("dmvpn-cli-capture-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(DataLink::ETHERNET, &whole(&[frame]))).unwrap();
    let capture = read_file(&path);
    std::fs::remove_file(&path).unwrap();
    let capture = capture.unwrap();
    assert_eq!(capture.frames.len(), 1);
    assert_eq!(capture.stats.gre, 1);
    assert!(matches!(
        read_file(&path),
        Err(CaptureError::Io(e)) if e.kind() == io::ErrorKind::NotFound
    ));
}
