//! The outer headers of a captured frame: the link layer (Ethernet with
//! VLAN tags, Linux cooked v1/v2, raw IP), then the outer IPv4/IPv6 header
//! in front of GRE, and when asked, of ESP (IP protocol 50) and of UDP on the
//! IKE ports 500 and 4500 (RFC 7296, 2; RFC 3948).

use etherparse::{EtherType, Ethernet2Slice, IpNumber, LaxIpSlice, SingleVlanSlice};
use pcap_file::DataLink;

use super::{Frame, FrameError, FrameErrorKind, GreFrame, IpsecCarrier, IpsecFrame, OuterIp};

/// Linux cooked capture v1 header: protocol at 14..16.
const SLL_LEN: usize = 16;
const SLL_PROTOCOL: usize = 14;
const SLL_HATYPE: usize = 2;
/// Linux cooked capture v2 header: protocol at 0..2, ARPHRD type at 8..10.
const SLL2_LEN: usize = 20;
const SLL2_PROTOCOL: usize = 0;
const SLL2_HATYPE: usize = 8;
/// ARPHRD_NETLINK: the SLL protocol field is a netlink family, not an
/// EtherType.
const ARPHRD_NETLINK: u16 = 824;

/// UDP ports that carry IKE (500) and IKE or ESP with NAT traversal (4500).
const IKE_PORTS: [u16; 2] = [500, 4500];
/// UDP header: ports at 0 and 2, length at 4 (RFC 768).
const UDP_HEADER_LEN: usize = 8;
const UDP_LENGTH: usize = 4;

/// Strips the link layer; `Ok(None)` when the frame carries no IP. With
/// `ipsec`, ESP and UDP on the IKE ports are frames too.
pub(super) fn frame_from_link(
    frame: u64,
    link: DataLink,
    data: &[u8],
    ipsec: bool,
) -> Result<Option<Frame>, FrameError> {
    let error = |kind| FrameError {
        frame,
        outer: None,
        kind,
    };
    let ip = match link {
        DataLink::ETHERNET => ethernet_payload(data).map_err(error)?,
        DataLink::LINUX_SLL => cooked_payload(
            data,
            "Linux cooked (SLL)",
            SLL_LEN,
            SLL_PROTOCOL,
            SLL_HATYPE,
        )
        .map_err(error)?,
        DataLink::LINUX_SLL2 => cooked_payload(
            data,
            "Linux cooked (SLL2)",
            SLL2_LEN,
            SLL2_PROTOCOL,
            SLL2_HATYPE,
        )
        .map_err(error)?,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Some(data),
        other => return Err(error(FrameErrorKind::UnsupportedLinkType(other))),
    };
    match ip {
        Some(ip) => frame_from_ip(frame, ip, ipsec),
        None => Ok(None),
    }
}

/// The IP packet of an Ethernet II frame, behind any number of VLAN tags.
fn ethernet_payload(data: &[u8]) -> Result<Option<&[u8]>, FrameErrorKind> {
    let eth = Ethernet2Slice::from_slice_without_fcs(data).map_err(|e| {
        FrameErrorKind::LinkTruncated {
            header: "Ethernet",
            needed: e.required_len,
            available: e.len,
        }
    })?;
    let mut payload = eth.payload();
    while matches!(
        payload.ether_type,
        EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME
    ) {
        let vlan = SingleVlanSlice::from_slice(payload.payload).map_err(|e| {
            FrameErrorKind::LinkTruncated {
                header: "VLAN tag",
                needed: e.required_len,
                available: e.len,
            }
        })?;
        payload = vlan.payload();
    }
    Ok(is_ip(payload.ether_type).then_some(payload.payload))
}

/// The IP packet of a Linux cooked capture frame (v1 or v2). Parsed here
/// rather than with etherparse, which rejects ARPHRD types (loopback, tun)
/// that carry IP all the same.
fn cooked_payload<'a>(
    data: &'a [u8],
    header: &'static str,
    len: usize,
    protocol_at: usize,
    hatype_at: usize,
) -> Result<Option<&'a [u8]>, FrameErrorKind> {
    if data.len() < len {
        return Err(FrameErrorKind::LinkTruncated {
            header,
            needed: len,
            available: data.len(),
        });
    }
    let be16 = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    if be16(hatype_at) == ARPHRD_NETLINK {
        return Ok(None);
    }
    Ok(is_ip(EtherType(be16(protocol_at))).then_some(&data[len..]))
}

fn is_ip(ether_type: EtherType) -> bool {
    ether_type == EtherType::IPV4 || ether_type == EtherType::IPV6
}

/// The GRE (or with `ipsec`, ESP or IKE-port UDP) packet of an IP packet;
/// `Ok(None)` when it is another protocol.
fn frame_from_ip(frame: u64, data: &[u8], ipsec: bool) -> Result<Option<Frame>, FrameError> {
    let error = |outer, kind| FrameError { frame, outer, kind };
    let (ip, ext_error) =
        LaxIpSlice::from_slice(data).map_err(|e| error(None, FrameErrorKind::Ip(e.to_string())))?;
    let outer = OuterIp {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        ttl: match &ip {
            LaxIpSlice::Ipv4(v4) => v4.header().ttl(),
            LaxIpSlice::Ipv6(v6) => v6.header().hop_limit(),
        },
    };
    // The lax parser falls back to the captured length when the IP length
    // is inconsistent; we want to know.
    let ip_length = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            let total = usize::from(header.total_len());
            if total < header.slice().len() {
                return Err(error(
                    Some(outer),
                    FrameErrorKind::Ip(format!(
                        "IPv4 total length {total} is shorter than the {}-byte header",
                        header.slice().len()
                    )),
                ));
            }
            total
        }
        LaxIpSlice::Ipv6(v6) => 40 + usize::from(v6.header().payload_length()),
    };
    if let Some((e, _)) = ext_error {
        return Err(error(Some(outer), FrameErrorKind::Ip(e.to_string())));
    }
    let payload = ip.payload();
    if ipsec && payload.ip_number == IpNumber::ENCAPSULATING_SECURITY_PAYLOAD {
        if payload.incomplete || payload.fragmented {
            return Err(error(
                Some(outer),
                ipsec_cut(payload, ip_length, data.len()),
            ));
        }
        return Ok(Some(Frame::Ipsec(IpsecFrame {
            frame,
            outer,
            carrier: IpsecCarrier::Esp,
            data: payload.payload.to_vec(),
        })));
    }
    if ipsec && payload.ip_number == IpNumber::UDP {
        return udp_on_ike_ports(frame, outer, payload, ip_length, data.len());
    }
    if payload.ip_number != IpNumber::GRE {
        return Ok(None);
    }
    if payload.incomplete {
        return Err(error(
            Some(outer),
            FrameErrorKind::Truncated {
                ip_length,
                captured: data.len(),
            },
        ));
    }
    if payload.fragmented {
        return Err(error(Some(outer), FrameErrorKind::Fragment));
    }
    Ok(Some(Frame::Gre(GreFrame {
        frame,
        outer,
        gre: payload.payload.to_vec(),
    })))
}

/// Why an ESP or IKE packet cannot be read whole.
fn ipsec_cut(
    payload: &etherparse::LaxIpPayloadSlice<'_>,
    ip_length: usize,
    captured: usize,
) -> FrameErrorKind {
    if payload.fragmented {
        FrameErrorKind::IpsecFragment
    } else {
        FrameErrorKind::IpsecTruncated {
            ip_length,
            captured,
        }
    }
}

/// A UDP datagram from or to port 500 or 4500; `Ok(None)` for other ports.
/// A fragment is judged by the ports its first bytes would hold: only the
/// first fragment really has them, so later ones may be skipped instead of
/// reported.
fn udp_on_ike_ports(
    frame: u64,
    outer: OuterIp,
    payload: &etherparse::LaxIpPayloadSlice<'_>,
    ip_length: usize,
    captured: usize,
) -> Result<Option<Frame>, FrameError> {
    let udp = payload.payload;
    let be16 = |at: usize| {
        udp.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (Some(src_port), Some(dst_port)) = (be16(0), be16(2)) else {
        return Ok(None);
    };
    if !IKE_PORTS.contains(&src_port) && !IKE_PORTS.contains(&dst_port) {
        return Ok(None);
    }
    let error = |kind| FrameError {
        frame,
        outer: Some(outer),
        kind,
    };
    if payload.incomplete || payload.fragmented {
        return Err(error(ipsec_cut(payload, ip_length, captured)));
    }
    let length = be16(UDP_LENGTH).map(usize::from);
    let Some(length) = length.filter(|l| (UDP_HEADER_LEN..=udp.len()).contains(l)) else {
        return Err(error(FrameErrorKind::Udp(format!(
            "UDP length {} does not fit the {} bytes after the IP header",
            length.map_or("missing".to_string(), |l| l.to_string()),
            udp.len()
        ))));
    };
    Ok(Some(Frame::Ipsec(IpsecFrame {
        frame,
        outer,
        carrier: IpsecCarrier::Udp { src_port, dst_port },
        data: udp[UDP_HEADER_LEN..length].to_vec(),
    })))
}
