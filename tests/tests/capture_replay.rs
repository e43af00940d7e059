//! Capture replay: our node, configured as the router that answered in a
//! reference capture (Cisco IOS or FRR, in `$DMVPN_REFERENCE_CAPTURES`), is
//! fed the captured request and must answer what that router answered, in
//! every field that carries protocol meaning.
//!
//! Compared: message type; request id (echoed in answers; ours when we
//! originate is our choice); the whole flags word (every bit set in these
//! captures means something: registration U and Cisco NAT-capable,
//! resolution Q/A/D/U/S and NAT-capable); address family and protocol type;
//! source NBMA, source and destination protocol addresses; every CIE's code,
//! prefix length, MTU (configured to the capture's value), holding time,
//! client NBMA and protocol addresses; every extension in order with its
//! compulsory bit and content (Responder Address, transit records, Cisco NAT
//! addresses, authentication); Error and Traffic Indication codes and the
//! offending packet; and the underlay address the answer is sent to.
//!
//! Skipped, because each implementation chooses them: the hop count (Cisco
//! sends 255, FRR 64, both decrement when forwarding); the checksum and
//! packet size (derived); the CIE preference (Cisco itself puts 255 in a
//! registration's Responder Address CIE and 0 in a resolution's, FRR 0
//! everywhere; RFC 2332 leaves it to the implementation); the request id of
//! requests we originate.
//!
//! Where Cisco and FRR differ we follow Cisco; the FRR comparisons list the
//! differences they expect, each with the reason.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use dmvpn_tests::{gre_frames, reference_captures};
use holo_dmvpn::packet::gre::GreRepr;
use holo_nhrp::cache::EntryType;
use holo_nhrp::nhc::NhsStatus;
use holo_nhrp::packet::{Cie, ExtensionBody, Message, Packet};
use holo_nhrp::{DataPlaneEvent, Input, Instance, InstanceConfig, NhsConfig, Output};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One captured NHRP packet.
#[derive(Clone, Debug)]
struct Frame {
    src: IpAddr,
    dst: IpAddr,
    bytes: Vec<u8>,
    packet: Packet,
}

/// The NHRP frames of a reference capture by frame number; None (after the
/// loud warning of `reference_captures`) when the captures are absent.
fn capture(file: &str) -> Option<BTreeMap<u64, Frame>> {
    let dir: PathBuf = reference_captures()?;
    let mut frames = BTreeMap::new();
    for f in gre_frames(&dir.join(file)) {
        let (gre, payload) = GreRepr::parse(&f.gre).unwrap();
        if gre.protocol.0 != 0x2001 {
            continue;
        }
        // The FRR capture holds one non-NHRP probe sent as NHRP.
        let Ok(packet) = Packet::decode(payload) else {
            continue;
        };
        frames.insert(
            f.frame,
            Frame {
                src: f.outer_src,
                dst: f.outer_dst,
                bytes: payload.to_vec(),
                packet,
            },
        );
    }
    Some(frames)
}

fn cie_fields(out: &mut BTreeMap<String, String>, at: &str, c: &Cie) {
    let mut put = |k: &str, v: String| out.insert(format!("{at}.{k}"), v);
    put("code", c.code.0.to_string());
    put("prefix_length", c.prefix_length.to_string());
    put("mtu", c.mtu.to_string());
    put("holding_time", c.holding_time.to_string());
    put("nbma", c.nbma.address.to_string());
    put("nbma_subaddress", c.nbma_subaddress.address.to_string());
    put("protocol", c.protocol.to_string());
}

/// The fields of a packet that carry protocol meaning (see the top of the
/// file for what is left out), keyed so that two packets compare field by
/// field.
fn meaningful_fields(pkt: &Packet) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| f.insert(k.to_string(), v);
    put("type", pkt.message_type().to_string());
    put("afn", pkt.afn.to_string());
    put("protocol_type", format!("{:?}", pkt.protocol));
    put("src_nbma", pkt.src_nbma.address.to_string());
    put("src_protocol", pkt.src_protocol.to_string());
    put("dst_protocol", pkt.dst_protocol.to_string());
    match &pkt.message {
        Message::ErrorIndication(ei) => {
            put("error_code", ei.code.0.to_string());
            put("error_offset", ei.error_offset.to_string());
        }
        Message::TrafficIndication(ti) => {
            put("traffic_code", ti.traffic_code.to_string());
            // Cisco sends the IP header and 8 octets of payload; FRR the
            // whole packet. Both start the same.
            let head = ti.packet.get(..28).unwrap_or(&ti.packet);
            put("indication_packet", hex(head));
        }
        other => {
            let m = other.request_reply().unwrap();
            let ty = other.message_type();
            put(
                "flags",
                format!("{:#06x} {:?}", m.flags.0, m.flags.names(ty)),
            );
            put("request_id", m.request_id.to_string());
            put("cies", m.cies.len().to_string());
            for (i, c) in m.cies.iter().enumerate() {
                cie_fields(&mut f, &format!("cie[{i}]"), c);
            }
        }
    }
    for (i, ext) in pkt.extensions.iter().enumerate() {
        let at = format!("ext[{i}]");
        let c = if ext.compulsory { "C" } else { "-" };
        f.insert(at.clone(), format!("{c} {}", ext.body.name()));
        match &ext.body {
            ExtensionBody::ResponderAddress { cies }
            | ExtensionBody::ForwardTransitNhs { cies }
            | ExtensionBody::ReverseTransitNhs { cies }
            | ExtensionBody::CiscoNatAddress { cies } => {
                f.insert(format!("{at}.cies"), cies.len().to_string());
                for (j, cie) in cies.iter().enumerate() {
                    cie_fields(&mut f, &format!("{at}.cie[{j}]"), cie);
                }
            }
            ExtensionBody::Authentication(a) => {
                f.insert(
                    format!("{at}.auth"),
                    format!("type {} {}", a.auth_type, hex(&a.data)),
                );
            }
            ExtensionBody::VendorPrivate(v) => {
                f.insert(
                    format!("{at}.vendor"),
                    format!("{:06x} {}", v.vendor_id, hex(&v.data)),
                );
            }
            ExtensionBody::Unknown { data, .. } => {
                f.insert(format!("{at}.data"), hex(data));
            }
            ExtensionBody::End => {}
        }
    }
    f
}

fn hex(data: &[u8]) -> String {
    holo_utils::hex::Hex(data).to_string()
}

/// Every meaningful field where `ours` and `theirs` differ, as
/// "field: ours X, theirs Y" (a missing field shows as "none").
fn differences(ours: &Packet, theirs: &Packet, ignored_fields: &[&str]) -> Vec<String> {
    let a = meaningful_fields(ours);
    let b = meaningful_fields(theirs);
    let none = "none".to_string();
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !ignored_fields.contains(&k.as_str()))
        .filter_map(|k| {
            let (x, y) = (a.get(k).unwrap_or(&none), b.get(k).unwrap_or(&none));
            (x != y).then(|| format!("{k}: ours {x}, theirs {y}"))
        })
        .collect()
}

/// Asserts that our answer (sent to `to`) matches the captured one, but for
/// the `expected` differences.
fn assert_answer(
    what: &str,
    (to, ours): &(IpAddr, Packet),
    theirs: &Frame,
    ignored_fields: &[&str],
    expected: &[&str],
) {
    let mut diff = differences(ours, &theirs.packet, ignored_fields);
    if *to != theirs.dst {
        diff.push(format!(
            "underlay destination: ours {to}, theirs {}",
            theirs.dst
        ));
    }
    assert_eq!(
        diff, expected,
        "{what}\n--- ours\n{ours:#?}\n--- theirs\n{:#?}",
        theirs.packet
    );
}

/// A node under test.
struct Node {
    instance: Instance,
    now: Instant,
}

impl Node {
    fn new(config: InstanceConfig) -> Node {
        let now = Instant::now();
        Node {
            instance: Instance::new(config, now).0,
            now,
        }
    }

    fn handle(&mut self, input: Input) -> Vec<(IpAddr, Packet)> {
        self.instance
            .handle(input, self.now)
            .iter()
            .filter_map(|o| match o {
                Output::Send { to, bytes, .. } => Some((*to, Packet::decode(bytes).unwrap())),
                _ => None,
            })
            .collect()
    }

    /// Feeds a captured packet as it arrived (from its outer source).
    fn feed(&mut self, frame: &Frame) -> Vec<(IpAddr, Packet)> {
        self.handle(Input::Packet {
            from: frame.src,
            bytes: frame.bytes.clone(),
        })
    }

    /// Feeds a captured packet that must be answered with one packet.
    fn answer(&mut self, frame: &Frame) -> (IpAddr, Packet) {
        let mut sent = self.feed(frame);
        assert_eq!(sent.len(), 1, "{sent:#?}");
        sent.remove(0)
    }
}

// The Cisco lab: underlay 192.168.123.0/24 (hub .1, spokes .2 and .3),
// tunnel 172.16.123.0/24, loopbacks N.N.N.N/32, authentication "DMVPN", IP
// MTU 17916 (the CIE MTU Cisco sends), holding time 7200 s.

fn cisco(n: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        format!("172.16.123.{n}/24").parse().unwrap(),
        ip(&format!("192.168.123.{n}")),
    );
    c.authentication = Some(b"DMVPN".to_vec());
    c.holding_time = 7200;
    c.mtu = 17916;
    c.local_prefixes = vec![format!("{n}.{n}.{n}.{n}/32").parse().unwrap()];
    if n == 1 {
        c.redirect = true;
    } else {
        c.nhs = vec![NhsConfig {
            protocol: ip("172.16.123.1"),
            nbma: ip("192.168.123.1"),
            fqdn: None,
            priority: 0,
            cluster: 0,
        }];
        c.shortcut = true;
    }
    c
}

const CISCO_REGISTRATION: &str = "cisco/dmvpn-nhrp-registration.pcap";

/// A Cisco hub with both Cisco spokes registered, from the captured
/// Registration Request (spoke 3's is spoke 2's with its addresses).
fn cisco_hub() -> Option<Node> {
    let reg = capture(CISCO_REGISTRATION)?.remove(&1).unwrap();
    let mut hub = Node::new(cisco(1));
    let mut reg3 = reg.clone();
    reg3.src = ip("192.168.123.3");
    reg3.packet.src_nbma.address = ip("192.168.123.3").into();
    reg3.packet.src_protocol = ip("172.16.123.3").into();
    reg3.bytes = reg3.packet.encode().unwrap();
    for frame in [reg, reg3] {
        let (_, reply) = hub.answer(&frame);
        assert_eq!(reply.message.request_reply().unwrap().cies[0].code.0, 0);
    }
    Some(hub)
}

#[test]
fn cisco_registration_reply() {
    let Some(frames) = capture(CISCO_REGISTRATION) else {
        return;
    };
    // We are the hub: the spoke's request (frame 1) gets the hub's reply
    // (frame 2).
    let mut hub = Node::new(cisco(1));
    let ours = hub.answer(&frames[&1]);
    assert_answer("registration reply", &ours, &frames[&2], &[], &[]);
    let e = hub.instance.cache().host(ip("172.16.123.2")).unwrap();
    assert_eq!(e.ty, EntryType::Dynamic);
    assert_eq!(e.nbma, Some(ip("192.168.123.2")));
    assert!(e.unique);
}

#[test]
fn cisco_registration_request_and_the_hubs_reply() {
    let Some(frames) = capture(CISCO_REGISTRATION) else {
        return;
    };
    // We are the spoke: what we send is what the Cisco spoke sent.
    let mut spoke = Node::new(cisco(2));
    let mut sent = spoke.handle(Input::Tick);
    assert_eq!(sent.len(), 1);
    let ours = sent.remove(0);
    assert_answer(
        "registration request",
        &ours,
        &frames[&1],
        &["request_id"],
        &[],
    );
    // And the Cisco hub's reply (frame 2, request id 1 like ours) brings
    // the NHS up. Its NAT extension only echoes the hub's own CIE: no NAT.
    assert!(spoke.feed(&frames[&2]).is_empty());
    let nhs = &spoke.instance.nhs_states()[0];
    assert_eq!(nhs.status, NhsStatus::Up);
    assert_eq!(nhs.seen_as, None);
}

const CISCO_PHASE2: &str = "cisco/dmvpn-phase-2-nhrp-spoke-to-spoke-resolution.pcap";

#[test]
fn cisco_phase2_resolution_through_the_hub() {
    let Some(frames) = capture(CISCO_PHASE2) else {
        return;
    };
    // We are the hub: the request from spoke 2 (frame 1) is forwarded to
    // spoke 3 with our transit record (frame 2).
    let mut hub = cisco_hub().unwrap();
    let ours = hub.answer(&frames[&1]);
    assert_answer("forwarded request", &ours, &frames[&2], &[], &[]);

    // We are spoke 3: the forwarded request (frame 2) is answered straight
    // to spoke 2 (frame 3), and we learn spoke 2.
    let mut spoke3 = Node::new(cisco(3));
    let ours = spoke3.answer(&frames[&2]);
    assert_answer("resolution reply", &ours, &frames[&3], &[], &[]);
    let e = spoke3.instance.cache().host(ip("172.16.123.2")).unwrap();
    assert_eq!(e.nbma, Some(ip("192.168.123.2")));
}

#[test]
fn cisco_phase2_resolution_request_and_the_reply() {
    let Some(frames) = capture(CISCO_PHASE2) else {
        return;
    };
    // We are spoke 2: a data-plane miss for spoke 3 sends what the Cisco
    // spoke sent (frame 1).
    let mut spoke2 = Node::new(cisco(2));
    let miss = DataPlaneEvent::Miss {
        next_hop: ip("172.16.123.3"),
    };
    let mut sent = spoke2.handle(Input::DataPlane(miss));
    assert_eq!(sent.len(), 1);
    let ours = sent.remove(0);
    assert_answer(
        "resolution request",
        &ours,
        &frames[&1],
        &["request_id"],
        &[],
    );

    // Spoke 3's reply (frame 3), given our request id, installs the
    // binding.
    let id = ours.1.message.request_reply().unwrap().request_id;
    let mut reply = frames[&3].clone();
    let Message::ResolutionReply(m) = &mut reply.packet.message else {
        unreachable!()
    };
    m.request_id = id;
    reply.bytes = reply.packet.encode().unwrap();
    assert!(spoke2.feed(&reply).is_empty());
    let e = spoke2.instance.cache().host(ip("172.16.123.3")).unwrap();
    assert_eq!(e.ty, EntryType::Shortcut);
    assert_eq!(e.nbma, Some(ip("192.168.123.3")));
}

const CISCO_PHASE3: &str = "cisco/dmvpn-phase-3-traffic-indication.pcap";

#[test]
fn cisco_phase3_traffic_indication_and_resolution() {
    let Some(frames) = capture(CISCO_PHASE3) else {
        return;
    };
    // We are the hub: the packet from 2.2.2.2 to 3.3.3.3 hairpins, and we
    // redirect its sender (frame 1).
    let Message::TrafficIndication(ti) = &frames[&1].packet.message else {
        panic!("frame 1 is not a Traffic Indication")
    };
    let mut hub = cisco_hub().unwrap();
    let hairpin = DataPlaneEvent::Hairpin {
        from_nbma: ip("192.168.123.2"),
        packet: ti.packet.clone(),
    };
    let mut sent = hub.handle(Input::DataPlane(hairpin));
    assert_eq!(sent.len(), 1);
    assert_answer("traffic indication", &sent.remove(0), &frames[&1], &[], &[]);

    // We are spoke 2: the indication makes us resolve 3.3.3.3 (frame 2).
    let mut spoke2 = Node::new(cisco(2));
    let ours = spoke2.answer(&frames[&1]);
    assert_answer(
        "resolution request",
        &ours,
        &frames[&2],
        &["request_id"],
        &[],
    );

    // We are the hub, with spoke 3's loopback routed through the tunnel:
    // the request is forwarded (frame 3).
    let routes = vec![("3.3.3.3/32".parse().unwrap(), ip("172.16.123.3"))];
    hub.handle(Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)));
    let ours = hub.answer(&frames[&2]);
    assert_answer("forwarded request", &ours, &frames[&3], &[], &[]);

    // We are spoke 3: we answer for our loopback with its prefix (frame 4).
    let mut spoke3 = Node::new(cisco(3));
    let ours = spoke3.answer(&frames[&3]);
    assert_answer("resolution reply", &ours, &frames[&4], &[], &[]);
}

// The FRR rig: hub 192.0.2.1 / 10.255.255.1, spokes 192.0.2.11 and .12 /
// 10.255.255.11 and .12 with LANs 172.16.1.0/24 and 172.16.2.0/24, no
// authentication, MTU 0 in CIEs, holding time 600 s (GRE key 42, which is
// the driver's business).

const FRR: &str = "frr/frr-8.4-phase3-register-redirect-resolve.pcap";

fn frr(n: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        format!("10.255.255.{n}/32").parse().unwrap(),
        ip(&format!("192.0.2.{n}")),
    );
    c.holding_time = 600;
    c.mtu = 0;
    if n == 1 {
        c.redirect = true;
    } else {
        c.nhs = vec![NhsConfig {
            protocol: ip("10.255.255.1"),
            nbma: ip("192.0.2.1"),
            fqdn: None,
            priority: 0,
            cluster: 0,
        }];
        c.shortcut = true;
        c.local_prefixes = vec![format!("172.16.{}.0/24", n - 10).parse().unwrap()];
    }
    c
}

/// FRR puts prefix length 0 in the CIEs that describe the NHS itself
/// (Responder Address, transit records); Cisco the host length, as we do.
const FRR_RESPONDER_PREFIX: &str = "cie[0].prefix_length: ours 32, theirs 0";

#[test]
fn frr_registration_replies() {
    let Some(frames) = capture(FRR) else {
        return;
    };
    let mut hub = Node::new(frr(1));
    for (request, reply) in [(1, 2), (3, 4)] {
        let ours = hub.answer(&frames[&request]);
        // The FRR spoke sends the extensions in another order than Cisco
        // (transit records first); the reply keeps the request's order.
        // It addresses the request to itself (Cisco: to the NHS); both
        // hubs answer with their own address as destination. Its NAT
        // extension names the hub with protocol address 0.0.0.0 (Cisco:
        // the NHS's tunnel address); both hubs echo it.
        let responder = "ext[2].".to_string() + FRR_RESPONDER_PREFIX;
        assert_answer(
            &format!("registration reply to frame {request}"),
            &ours,
            &frames[&reply],
            &[],
            &[responder.as_str()],
        );
    }
    assert_eq!(hub.instance.cache().count(EntryType::Dynamic), 2);
}

#[test]
fn frr_traffic_indications() {
    let Some(frames) = capture(FRR) else {
        return;
    };
    let mut hub = Node::new(frr(1));
    for (frame, spoke) in [(17, "192.0.2.11"), (18, "192.0.2.12")] {
        let Message::TrafficIndication(ti) = &frames[&frame].packet.message else {
            panic!("frame {frame} is not a Traffic Indication")
        };
        let hairpin = DataPlaneEvent::Hairpin {
            from_nbma: ip(spoke),
            packet: ti.packet.clone(),
        };
        let mut sent = hub.handle(Input::DataPlane(hairpin));
        assert_eq!(sent.len(), 1);
        // FRR sends a Traffic Indication without extensions; Cisco (and we)
        // with the transit records, authentication when configured, the
        // NAT extension and End.
        assert_answer(
            &format!("traffic indication, frame {frame}"),
            &sent.remove(0),
            &frames[&frame],
            &[],
            &[
                "ext[0]: ours C Forward Transit NHS Record, theirs none",
                "ext[0].cies: ours 0, theirs none",
                "ext[1]: ours C Reverse Transit NHS Record, theirs none",
                "ext[1].cies: ours 0, theirs none",
                "ext[2]: ours - Cisco NAT Address, theirs none",
                "ext[2].cies: ours 0, theirs none",
                "ext[3]: ours C End, theirs none",
            ],
        );
    }
}

#[test]
fn frr_phase3_resolution_through_the_hub() {
    let Some(frames) = capture(FRR) else {
        return;
    };
    // Our hub learns both FRR spokes from their captured registrations
    // and routes their LANs through the tunnel.
    let mut hub = Node::new(frr(1));
    hub.feed(&frames[&1]);
    hub.feed(&frames[&3]);
    let routes = vec![
        ("172.16.1.0/24".parse().unwrap(), ip("10.255.255.11")),
        ("172.16.2.0/24".parse().unwrap(), ip("10.255.255.12")),
    ];
    hub.handle(Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)));

    // Requests from each spoke are forwarded to the other with our transit
    // record; replies are passed back with our reverse transit record.
    let transit = "ext[0].".to_string() + FRR_RESPONDER_PREFIX;
    let reverse = "ext[1].".to_string() + FRR_RESPONDER_PREFIX;
    let responder = "ext[2].".to_string() + FRR_RESPONDER_PREFIX;
    for (request, forwarded) in [(19, 20), (21, 22)] {
        let ours = hub.answer(&frames[&request]);
        assert_answer(
            &format!("forwarded request, frame {request}"),
            &ours,
            &frames[&forwarded],
            &[],
            &[transit.as_str()],
        );
    }
    for (reply, forwarded) in [(23, 24), (25, 26)] {
        let ours = hub.answer(&frames[&reply]);
        // The transit and responder records in the reply are the FRR
        // nodes' own, carried through unchanged.
        assert_answer(
            &format!("forwarded reply, frame {reply}"),
            &ours,
            &frames[&forwarded],
            &[],
            &[reverse.as_str()],
        );
    }

    // We are spoke 11, answering the forwarded request of spoke 12 (frame
    // 20). FRR answers through the hub (frame 25, passed on as 26); Cisco
    // and we answer the requester directly. FRR's reply keeps only Q and S
    // of the request's flags (dropping NAT-capable) and adds A and D;
    // Cisco's keeps them all and adds A, D and U.
    let mut spoke11 = Node::new(frr(11));
    let ours = spoke11.answer(&frames[&20]);
    assert_answer(
        "resolution reply",
        &ours,
        &frames[&25],
        &[],
        &[
            responder.as_str(),
            "flags: ours 0xf802 [\"Q\", \"A\", \"D\", \"U\", \"S\", \"nat\"], theirs 0xe800 [\"Q\", \"A\", \"D\", \"S\"]",
            "underlay destination: ours 192.0.2.12, theirs 192.0.2.1",
        ],
    );
    let e = spoke11.instance.cache().host(ip("10.255.255.12")).unwrap();
    assert_eq!(e.nbma, Some(ip("192.0.2.12")));
}
