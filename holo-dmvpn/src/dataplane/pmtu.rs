//! Path MTU handling of the userspace data plane, sans-IO: what happens to
//! an inner packet larger than the tunnel MTU, the ICMP errors sent back to
//! its sender, and TCP MSS clamping.
//!
//! ```text
//!   IPv4, DF set, len > MTU  -> drop (TooBig) + ICMP type 3 code 4, MTU (RFC 1191)
//!   IPv4, DF clear, len > MTU -> forwarded, counted: the underlay fragments
//!                               the GRE datagram (no inner fragmentation)
//!   IPv6, len > MTU          -> drop (TooBig) + ICMPv6 Packet Too Big (RFC 4443)
//! ```
//!
//! ICMP errors go back into the TUN device (the kernel delivers or routes
//! them to the sender), from the tunnel's own address, rate-limited per
//! sender; none is sent about ICMP errors, non-first fragments, multicast
//! or broadcast, or without a tunnel address of the packet's family
//! (RFC 1812, 4.3.2.7; RFC 4443, 2.4). The packet is dropped all the same.
//!
//! MSS clamping lowers the MSS option of TCP SYN segments (IPv4 first
//! fragments, IPv6 with TCP as the first next header) and fixes the TCP
//! checksum incrementally (RFC 1624).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use holo_utils::checksum::{internet_checksum, ones_complement_sum};

use super::forwarding::ip_addresses;

/// ICMP errors per sender and second.
pub const ICMP_PER_SECOND: u32 = 10;
/// The rate-limit map is pruned of stale entries beyond this size.
const LIMITER_ENTRIES: usize = 4096;
/// RFC 8200 minimum MTU; an ICMPv6 error never exceeds it (RFC 4443, 2.4).
const IPV6_MIN_MTU: usize = 1280;
const TTL: u8 = 64;

/// What to do with an outbound packet, size-wise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fits the tunnel MTU.
    Fits,
    /// IPv4 without DF above the MTU: forwarded, the underlay fragments.
    Oversize,
    /// Dropped; the ICMP error for the sender, unless suppressed or
    /// rate-limited.
    TooBig(Option<Vec<u8>>),
}

/// Per-sender limiter of ICMP errors: at most `per_second` in each
/// one-second window.
#[derive(Debug)]
pub struct IcmpLimiter {
    per_second: u32,
    windows: HashMap<IpAddr, (Instant, u32)>,
}

impl IcmpLimiter {
    pub fn new(per_second: u32) -> Self {
        IcmpLimiter {
            per_second,
            windows: HashMap::new(),
        }
    }

    /// Whether an error to `to` may be sent at `now`, counting it if so.
    pub fn allow(&mut self, to: IpAddr, now: Instant) -> bool {
        let second = Duration::from_secs(1);
        if self.windows.len() >= LIMITER_ENTRIES && !self.windows.contains_key(&to) {
            self.windows
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < second);
        }
        let (start, count) = self.windows.entry(to).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= second {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_second {
            return false;
        }
        *count += 1;
        true
    }
}

impl Default for IcmpLimiter {
    fn default() -> Self {
        IcmpLimiter::new(ICMP_PER_SECOND)
    }
}

/// Checks `packet` against the tunnel `mtu`; `tunnel` is our own tunnel
/// address (the ICMP source).
pub fn check(
    packet: &[u8],
    mtu: u16,
    tunnel: IpAddr,
    limiter: &mut IcmpLimiter,
    now: Instant,
) -> Verdict {
    if packet.len() <= usize::from(mtu) {
        return Verdict::Fits;
    }
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            if packet.len() < 20 || packet[6] & 0x40 == 0 {
                return Verdict::Oversize;
            }
            let icmp = match tunnel {
                IpAddr::V4(tunnel) => frag_needed(packet, tunnel, mtu),
                IpAddr::V6(_) => None,
            };
            Verdict::TooBig(limited(icmp, packet, limiter, now))
        }
        Some(6) => {
            let icmp = match tunnel {
                IpAddr::V6(tunnel) => packet_too_big(packet, tunnel, mtu),
                IpAddr::V4(_) => None,
            };
            Verdict::TooBig(limited(icmp, packet, limiter, now))
        }
        // Not IP: the forwarding decision drops it as malformed.
        _ => Verdict::Fits,
    }
}

/// Sends an ICMP error about `packet` only within the sender's rate.
fn limited(
    icmp: Option<Vec<u8>>,
    packet: &[u8],
    limiter: &mut IcmpLimiter,
    now: Instant,
) -> Option<Vec<u8>> {
    let (src, _, _) = ip_addresses(packet)?;
    icmp.filter(|_| limiter.allow(src, now))
}

/// ICMPv4 Destination Unreachable, Fragmentation Needed and DF Set (type 3
/// code 4) with the next-hop MTU (RFC 1191), quoting the IP header and 8
/// octets (RFC 792), from `tunnel` to the packet's source; `None` when no
/// error may be sent about `packet`.
pub fn frag_needed(packet: &[u8], tunnel: Ipv4Addr, mtu: u16) -> Option<Vec<u8>> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    if packet[0] >> 4 != 4 || header_len < 20 || packet.len() < header_len {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(&packet[12..16]).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&packet[16..20]).ok()?);
    let offset = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff;
    if offset != 0
        || src.is_unspecified()
        || src.is_multicast()
        || src.is_broadcast()
        || src.is_loopback()
        || dst.is_multicast()
        || dst.is_broadcast()
    {
        return None;
    }
    // No error about an ICMP error (anything but echo, timestamp, info,
    // address mask requests and replies).
    if packet[9] == 1 && matches!(packet.get(header_len), Some(3 | 4 | 5 | 11 | 12) | None) {
        return None;
    }
    let quoted = &packet[..packet.len().min(header_len + 8)];
    let total = 20 + 8 + quoted.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, TTL, 1, 0, 0]);
    out.extend_from_slice(&tunnel.octets());
    out.extend_from_slice(&src.octets());
    let ip_sum = internet_checksum(&out);
    out[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    out.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
    out.extend_from_slice(&mtu.to_be_bytes());
    out.extend_from_slice(quoted);
    let icmp_sum = internet_checksum(&out[20..]);
    out[22..24].copy_from_slice(&icmp_sum.to_be_bytes());
    Some(out)
}

/// ICMPv6 Packet Too Big (type 2, RFC 4443, 3.2) with `mtu`, quoting as
/// much of the packet as fits in 1280 bytes, from `tunnel` to the packet's
/// source; `None` when no error may be sent about `packet`.
pub fn packet_too_big(packet: &[u8], tunnel: Ipv6Addr, mtu: u16) -> Option<Vec<u8>> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return None;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).ok()?);
    if src.is_unspecified() || src.is_multicast() || src.is_loopback() {
        return None;
    }
    // No error about an ICMPv6 error (types below 128).
    if packet[6] == 58 && packet.get(40).is_none_or(|t| *t < 128) {
        return None;
    }
    // RFC 4443, 2.4 (e.3): a Packet Too Big is sent about multicast too.
    let quoted = &packet[..packet.len().min(IPV6_MIN_MTU - 40 - 8)];
    let icmp_len = 8 + quoted.len();
    let mut out = Vec::with_capacity(40 + icmp_len);
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(icmp_len as u16).to_be_bytes());
    out.extend_from_slice(&[58, TTL]);
    out.extend_from_slice(&tunnel.octets());
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&[2, 0, 0, 0]);
    out.extend_from_slice(&u32::from(mtu).to_be_bytes());
    out.extend_from_slice(quoted);
    let sum = icmpv6_checksum(&out[8..24], &out[24..40], &out[40..]);
    out[42..44].copy_from_slice(&sum.to_be_bytes());
    Some(out)
}

/// The ICMPv6 checksum of `icmp` (checksum field zero) over the IPv6
/// pseudo-header (RFC 8200, 8.1).
fn icmpv6_checksum(src: &[u8], dst: &[u8], icmp: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + icmp.len());
    pseudo.extend_from_slice(src);
    pseudo.extend_from_slice(dst);
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(icmp);
    internet_checksum(&pseudo)
}

/// The offset of the TCP header in a TCP SYN `packet` (IPv4 first
/// fragment, or IPv6 with TCP right after the fixed header), if it is one.
fn tcp_syn(packet: &[u8]) -> Option<usize> {
    let tcp = match packet.first()? >> 4 {
        4 => {
            let header_len = usize::from(packet[0] & 0x0f) * 4;
            let offset = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]) & 0x1fff;
            (header_len >= 20 && offset == 0 && *packet.get(9)? == 6).then_some(header_len)?
        }
        6 => (*packet.get(6)? == 6).then_some(40)?,
        _ => return None,
    };
    let flags = *packet.get(tcp + 13)?;
    (flags & 0x02 != 0).then_some(tcp)
}

/// Lowers the MSS option of a TCP SYN segment to `clamp` if it is larger,
/// fixing the TCP checksum (RFC 1624); true if the packet changed.
pub fn clamp_mss_in_place(packet: &mut [u8], clamp: u16) -> bool {
    let Some(tcp) = tcp_syn(packet) else {
        return false;
    };
    let Some(data_offset) = packet.get(tcp + 12).map(|b| usize::from(b >> 4) * 4) else {
        return false;
    };
    if data_offset < 20 || packet.len() < tcp + data_offset {
        return false;
    }
    let mut at = tcp + 20;
    let end = tcp + data_offset;
    while at < end {
        match packet[at] {
            0 => return false,
            1 => at += 1,
            kind => {
                let Some(len) = packet.get(at + 1).map(|l| usize::from(*l)) else {
                    return false;
                };
                if len < 2 || at + len > end {
                    return false;
                }
                if kind == 2 && len == 4 {
                    let old = u16::from_be_bytes([packet[at + 2], packet[at + 3]]);
                    if old <= clamp {
                        return false;
                    }
                    packet[at + 2..at + 4].copy_from_slice(&clamp.to_be_bytes());
                    // The MSS value is 16-bit aligned in the TCP header
                    // only if the option is; RFC 1624 needs word alignment.
                    let aligned = (at - tcp).is_multiple_of(2);
                    if aligned {
                        let sum = u16::from_be_bytes([packet[tcp + 16], packet[tcp + 17]]);
                        let sum = incremental(sum, old, clamp);
                        packet[tcp + 16..tcp + 18].copy_from_slice(&sum.to_be_bytes());
                    } else {
                        let sum = tcp_checksum(packet, tcp);
                        packet[tcp + 16..tcp + 18].copy_from_slice(&sum.to_be_bytes());
                    }
                    return true;
                }
                at += len;
            }
        }
    }
    false
}

/// A copy of `packet` with its MSS clamped, or `None` if unchanged.
pub fn clamp_mss(packet: &[u8], clamp: u16) -> Option<Vec<u8>> {
    tcp_syn(packet)?;
    let mut copy = packet.to_vec();
    clamp_mss_in_place(&mut copy, clamp).then_some(copy)
}

/// RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m').
fn incremental(checksum: u16, old: u16, new: u16) -> u16 {
    let sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// The full TCP checksum of the segment at `tcp` in `packet` (the checksum
/// field is skipped), over the IPv4 or IPv6 pseudo-header.
fn tcp_checksum(packet: &[u8], tcp: usize) -> u16 {
    let ip_len = if packet[0] >> 4 == 4 {
        usize::from(u16::from_be_bytes([packet[2], packet[3]]))
    } else {
        40 + usize::from(u16::from_be_bytes([packet[4], packet[5]]))
    };
    // A bogus IP length: sum what we have.
    let end = if (tcp + 20..=packet.len()).contains(&ip_len) {
        ip_len
    } else {
        packet.len()
    };
    let segment_len = end - tcp;
    let mut pseudo = Vec::with_capacity(40 + segment_len);
    if packet[0] >> 4 == 4 {
        pseudo.extend_from_slice(&packet[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(segment_len as u16).to_be_bytes());
    } else {
        pseudo.extend_from_slice(&packet[8..40]);
        pseudo.extend_from_slice(&(segment_len as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 6]);
    }
    let segment = &packet[tcp..tcp + segment_len];
    pseudo.extend_from_slice(&segment[..16]);
    pseudo.extend_from_slice(&[0, 0]);
    pseudo.extend_from_slice(&segment[18..]);
    !ones_complement_sum(&pseudo)
}

#[cfg(test)]
#[path = "pmtu_tests.rs"]
mod tests;
