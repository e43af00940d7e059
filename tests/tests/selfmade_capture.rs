//! `captures/dmvpn-selfmade.pcap`, the capture the repository ships (the
//! demo decodes it, `scripts/test.sh` round-trips it), is made here from this
//! project's own encoders: a small DMVPN story on an IPv4 underlay (and one
//! spoke on IPv6) with every NHRP message type. The test fails when the
//! committed file differs from what the encoders produce today; run it with
//! `DMVPN_REGENERATE=1` to rewrite the file, then review the diff.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use dmvpn_test_support::gre;
use etherparse::{IpNumber, PacketBuilder};
use holo_dmvpn::packet::gre::{GreProtocol, GreRepr};
use holo_nhrp::packet::extension::AUTH_CISCO_CLEARTEXT;
use holo_nhrp::packet::header::afn;
use holo_nhrp::packet::{
    Address, Authentication, Cie, CieCode, ErrorCode, ErrorIndication, Extension, ExtensionBody,
    Flags, Message, NbmaAddress, Packet, ProtocolType, RequestReply, TrafficIndication,
    VendorPrivate,
};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

const KEY: u32 = 1000;
const PASSWORD: &[u8] = b"DMVPN";
const HUB_NBMA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const HUB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SPOKE1_NBMA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const SPOKE1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
/// Spoke 2 sits behind a NAT: it claims 198.51.100.7, the hub sees 203.0.113.5.
const SPOKE2_PRIVATE_NBMA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const SPOKE2_NBMA: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const SPOKE2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);

fn ext(body: ExtensionBody) -> Extension {
    Extension::new(true, body)
}

fn nat_ext(cies: Vec<Cie>) -> Extension {
    Extension::new(false, ExtensionBody::CiscoNatAddress { cies })
}

/// The extensions every request carries, as Cisco IOS sends them.
fn request_extensions(nat: Vec<Cie>) -> Vec<Extension> {
    vec![
        ext(ExtensionBody::ResponderAddress { cies: vec![] }),
        ext(ExtensionBody::ForwardTransitNhs { cies: vec![] }),
        ext(ExtensionBody::ReverseTransitNhs { cies: vec![] }),
        ext(ExtensionBody::Authentication(
            Authentication::cisco_cleartext(PASSWORD),
        )),
        nat_ext(nat),
        ext(ExtensionBody::End),
    ]
}

fn cie(nbma: Option<Ipv4Addr>, proto: Option<Ipv4Addr>, prefix: u8, hold: u16) -> Cie {
    Cie {
        code: CieCode::SUCCESS,
        prefix_length: prefix,
        mtu: 1400,
        holding_time: hold,
        preference: 255,
        nbma: nbma.map(NbmaAddress::new).unwrap_or_default(),
        protocol: proto.map(Address::from).unwrap_or_default(),
        ..Cie::default()
    }
}

fn packet(src_nbma: Ipv4Addr, src: Ipv4Addr, dst: Ipv4Addr, message: Message) -> Packet {
    Packet {
        afn: afn::IPV4,
        protocol: ProtocolType::IPV4,
        hop_count: 255,
        src_nbma: NbmaAddress::new(src_nbma),
        src_nbma_subaddress: NbmaAddress::default(),
        src_protocol: src.into(),
        dst_protocol: dst.into(),
        message,
        extensions: vec![],
        trailer: vec![],
    }
}

fn rr(flags: u16, request_id: u32, cies: Vec<Cie>) -> RequestReply {
    RequestReply {
        flags: Flags(flags),
        request_id,
        cies,
    }
}

/// A frame: outer addresses and the GRE payload.
struct Frame {
    src: IpAddr,
    dst: IpAddr,
    gre: GreRepr,
    payload: Vec<u8>,
}

fn nhrp_frame(src: Ipv4Addr, dst: Ipv4Addr, pkt: &Packet) -> Frame {
    Frame {
        src: src.into(),
        dst: dst.into(),
        gre: gre::header(Some(KEY), GreProtocol::NHRP),
        payload: pkt.encode().expect("our own packet encodes"),
    }
}

/// An ICMP echo request from 172.16.1.1 to 172.16.2.1 (spoke LANs).
fn lan_ping(ttl: u8) -> Vec<u8> {
    let mut ip = Vec::new();
    PacketBuilder::ipv4([172, 16, 1, 1], [172, 16, 2, 1], ttl)
        .icmpv4_echo_request(7, 1)
        .write(&mut ip, b"dmvpn-rs")
        .expect("ICMP builds");
    ip
}

fn story() -> Vec<Frame> {
    let unique_nat = Flags::REGISTRATION_UNIQUE | Flags::CISCO_NAT_CAPABLE;
    let mut frames = Vec::new();

    // 1-2: spoke 1 registers with the hub (RFC 2332, 5.2.3 / 5.2.4).
    let mut req = packet(
        SPOKE1_NBMA,
        SPOKE1,
        HUB,
        Message::RegistrationRequest(rr(unique_nat, 1, vec![cie(None, None, 32, 7200)])),
    );
    req.extensions = request_extensions(vec![cie(Some(HUB_NBMA), Some(HUB), 32, 0)]);
    // Cisco's per-tunnel QoS group name rides in a Vendor-Private extension.
    req.extensions.insert(
        4,
        Extension::new(
            false,
            ExtensionBody::VendorPrivate(VendorPrivate::cisco_nhrp_group("gold")),
        ),
    );
    frames.push(nhrp_frame(SPOKE1_NBMA, HUB_NBMA, &req));
    let mut reply = req.clone();
    reply.message = Message::RegistrationReply(rr(unique_nat, 1, vec![cie(None, None, 32, 7200)]));
    reply.extensions[0] = ext(ExtensionBody::ResponderAddress {
        cies: vec![cie(Some(HUB_NBMA), Some(HUB), 32, 7200)],
    });
    frames.push(nhrp_frame(HUB_NBMA, SPOKE1_NBMA, &reply));

    // 3-4: spoke 2 registers from behind a NAT; the hub answers with the
    // address it saw in the Cisco NAT extension.
    let mut req = packet(
        SPOKE2_PRIVATE_NBMA,
        SPOKE2,
        HUB,
        Message::RegistrationRequest(rr(unique_nat, 7, vec![cie(None, None, 32, 7200)])),
    );
    req.extensions = request_extensions(vec![cie(Some(HUB_NBMA), Some(HUB), 32, 0)]);
    frames.push(nhrp_frame(SPOKE2_NBMA, HUB_NBMA, &req));
    let mut reply = req.clone();
    reply.message = Message::RegistrationReply(rr(unique_nat, 7, vec![cie(None, None, 32, 7200)]));
    reply.extensions[0] = ext(ExtensionBody::ResponderAddress {
        cies: vec![cie(Some(HUB_NBMA), Some(HUB), 32, 7200)],
    });
    reply.extensions[4] = nat_ext(vec![cie(Some(SPOKE2_NBMA), Some(SPOKE2), 32, 0)]);
    frames.push(nhrp_frame(HUB_NBMA, SPOKE2_NBMA, &reply));

    // 5-6: data from spoke 1's LAN to spoke 2's LAN crosses the hub.
    for (src, dst, ttl) in [(SPOKE1_NBMA, HUB_NBMA, 64), (HUB_NBMA, SPOKE2_NBMA, 63)] {
        frames.push(Frame {
            src: src.into(),
            dst: dst.into(),
            gre: gre::header(Some(KEY), GreProtocol::IPV4),
            payload: lan_ping(ttl),
        });
    }

    // 7: the hub redirects spoke 1 (Cisco Traffic Indication, Phase 3).
    let mut ti = packet(
        HUB_NBMA,
        HUB,
        Ipv4Addr::new(172, 16, 1, 1),
        Message::TrafficIndication(TrafficIndication {
            packet: lan_ping(64)[..28].to_vec(),
            ..TrafficIndication::default()
        }),
    );
    ti.extensions = request_extensions(vec![]);
    ti.extensions.remove(0);
    frames.push(nhrp_frame(HUB_NBMA, SPOKE1_NBMA, &ti));

    // 8-10: spoke 1 resolves spoke 2's LAN through the hub; spoke 2 answers
    // directly with the whole /24 (RFC 2332, 5.2.1 / 5.2.2).
    let res_flags = Flags::RESOLUTION_ROUTER
        | Flags::RESOLUTION_AUTHORITATIVE
        | Flags::RESOLUTION_SOURCE_STABLE
        | Flags::CISCO_NAT_CAPABLE;
    let lan2 = Ipv4Addr::new(172, 16, 2, 1);
    let mut req = packet(
        SPOKE1_NBMA,
        SPOKE1,
        lan2,
        Message::ResolutionRequest(rr(res_flags, 2, vec![cie(None, None, 32, 7200)])),
    );
    req.extensions = request_extensions(vec![]);
    frames.push(nhrp_frame(SPOKE1_NBMA, HUB_NBMA, &req));
    let mut fwd = req.clone();
    fwd.hop_count = 254;
    fwd.extensions[1] = ext(ExtensionBody::ForwardTransitNhs {
        cies: vec![cie(Some(HUB_NBMA), Some(HUB), 32, 7200)],
    });
    frames.push(nhrp_frame(HUB_NBMA, SPOKE2_NBMA, &fwd));
    let mut reply = fwd.clone();
    reply.message = Message::ResolutionReply(rr(
        res_flags | Flags::RESOLUTION_DESTINATION_STABLE,
        2,
        vec![cie(Some(SPOKE2_NBMA), Some(SPOKE2), 24, 7200)],
    ));
    reply.extensions[0] = ext(ExtensionBody::ResponderAddress {
        cies: vec![cie(Some(SPOKE2_NBMA), Some(SPOKE2), 32, 7200)],
    });
    frames.push(nhrp_frame(SPOKE2_NBMA, SPOKE1_NBMA, &reply));

    // 11: then spoke to spoke directly.
    frames.push(Frame {
        src: SPOKE1_NBMA.into(),
        dst: SPOKE2_NBMA.into(),
        gre: gre::header(Some(KEY), GreProtocol::IPV4),
        payload: lan_ping(64),
    });

    // 12-13: spoke 1 purges the binding it registered (RFC 2332, 5.2.5).
    let mut purge = packet(
        SPOKE1_NBMA,
        SPOKE1,
        HUB,
        Message::PurgeRequest(rr(0, 3, vec![cie(Some(SPOKE1_NBMA), Some(SPOKE1), 32, 0)])),
    );
    purge.extensions = request_extensions(vec![]);
    frames.push(nhrp_frame(SPOKE1_NBMA, HUB_NBMA, &purge));
    let mut reply = purge.clone();
    reply.message =
        Message::PurgeReply(rr(0, 3, vec![cie(Some(SPOKE1_NBMA), Some(SPOKE1), 32, 0)]));
    frames.push(nhrp_frame(HUB_NBMA, SPOKE1_NBMA, &reply));

    // 14: a registration with the wrong password, answered with Error
    // Indication "authentication failure" (RFC 2332, 5.2.7) carrying it.
    let mut bad = packet(
        SPOKE1_NBMA,
        SPOKE1,
        HUB,
        Message::RegistrationRequest(rr(unique_nat, 4, vec![cie(None, None, 32, 7200)])),
    );
    bad.extensions = request_extensions(vec![]);
    bad.extensions[3] = ext(ExtensionBody::Authentication(Authentication {
        auth_type: AUTH_CISCO_CLEARTEXT,
        data: b"wrong".to_vec(),
    }));
    let bad_bytes = bad.encode().expect("encodes");
    let auth_offset = 20 + 8 + 12 + 12 + 3 * 4;
    let mut err = packet(
        HUB_NBMA,
        HUB,
        SPOKE1,
        Message::ErrorIndication(ErrorIndication {
            code: ErrorCode::AUTHENTICATION_FAILURE,
            error_offset: auth_offset,
            packet: bad_bytes,
            ..ErrorIndication::default()
        }),
    );
    err.extensions = vec![ext(ExtensionBody::End)];
    frames.push(nhrp_frame(HUB_NBMA, SPOKE1_NBMA, &err));

    // 15: a spoke on an IPv6 underlay, with GRE checksum and sequence number
    // present (RFC 2784 / RFC 2890).
    let v6_spoke: Ipv6Addr = "2001:db8::13".parse().expect("literal");
    let v6_hub: Ipv6Addr = "2001:db8::1".parse().expect("literal");
    let mut req = packet(
        SPOKE1_NBMA,
        Ipv4Addr::new(10, 0, 0, 13),
        HUB,
        Message::RegistrationRequest(rr(unique_nat, 1, vec![cie(None, None, 32, 7200)])),
    );
    req.afn = afn::IPV6;
    req.src_nbma = NbmaAddress::new(v6_spoke);
    req.extensions = request_extensions(vec![]);
    frames.push(Frame {
        src: v6_spoke.into(),
        dst: v6_hub.into(),
        gre: GreRepr {
            checksum_present: true,
            sequence: Some(1),
            ..gre::header(Some(KEY), GreProtocol::NHRP)
        },
        payload: req.encode().expect("encodes"),
    });

    assert!(frames.iter().all(|f| !f.payload.is_empty()));
    frames
}

fn mac(ip: IpAddr) -> [u8; 6] {
    match ip {
        IpAddr::V4(a) => {
            let [_, _, c, d] = a.octets();
            [0x02, 0, 0, 0, c, d]
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            [0x02, 0, 0, 1, o[14], o[15]]
        }
    }
}

fn pcap(frames: &[Frame]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).expect("pcap header");
    for (i, f) in frames.iter().enumerate() {
        let gre = f.gre.emit(&f.payload);
        let eth = PacketBuilder::ethernet2(mac(f.src), mac(f.dst));
        let mut data = Vec::new();
        match (f.src, f.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                eth.ipv4(s.octets(), d.octets(), 64)
                    .write(&mut data, IpNumber::GRE, &gre)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                eth.ipv6(s.octets(), d.octets(), 64)
                    .write(&mut data, IpNumber::GRE, &gre)
            }
            _ => panic!("mixed address families"),
        }
        .expect("frame builds");
        // Fixed timestamps: the file must be reproducible byte for byte.
        let ts = Duration::from_millis(1_764_000_000_000 + 100 * i as u64);
        writer
            .write_packet(&PcapPacket::new(ts, data.len() as u32, &data))
            .expect("pcap packet");
    }
    writer.into_writer()
}

#[test]
fn shipped_capture_is_what_our_encoders_produce() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures/dmvpn-selfmade.pcap");
    let made = pcap(&story());
    if std::env::var_os("DMVPN_REGENERATE").is_some() {
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&path, &made).expect("write capture");
    }
    let shipped = std::fs::read(&path).expect("captures/dmvpn-selfmade.pcap is shipped");
    assert!(
        shipped == made,
        "{} differs from what the encoders produce; rerun with DMVPN_REGENERATE=1 and review",
        path.display()
    );
}

#[test]
fn selfmade_capture_decodes_back_to_the_story() {
    let frames = story();
    let file = std::env::temp_dir().join(format!("dmvpn-selfmade-{}.pcap", std::process::id()));
    std::fs::write(&file, pcap(&frames)).expect("write temp capture");
    let read = dmvpn_tests::gre_frames(&file);
    std::fs::remove_file(&file).expect("remove temp capture");
    assert_eq!(read.len(), frames.len());
    let mut types = Vec::new();
    for (got, want) in read.iter().zip(&frames) {
        assert_eq!((got.outer_src, got.outer_dst), (want.src, want.dst));
        let (gre, payload) = GreRepr::parse(&got.gre).expect("GRE decodes");
        assert_eq!(gre, want.gre);
        assert_eq!(payload, want.payload);
        if gre.protocol == GreProtocol::NHRP {
            let pkt = Packet::decode(payload).expect("NHRP decodes");
            assert_eq!(pkt.encode().expect("encodes"), payload);
            types.push(pkt.message_type() as u8);
        }
    }
    // Every NHRP message type appears.
    types.sort_unstable();
    types.dedup();
    assert_eq!(types, [1, 2, 3, 4, 5, 6, 7, 8]);
}
