//! Batches for the TUN offloads (IFF_VNET_HDR with TSO4/TSO6/USO and
//! checksum offload): what one TUN read gives and what one batch of TUN
//! writes takes.
//!
//! With the offloads on, the kernel hands the data plane TCP (and UDP)
//! super-packets of up to 64 KB, preceded by a virtio-net header, instead of
//! one read per MTU-sized packet; the data plane segments them in userspace
//! before GRE encapsulation, because the GRE datagrams on the underlay must
//! each fit the path. The other way, consecutive TCP segments of one flow
//! received from the underlay are coalesced (GRO) into one write, so the
//! kernel's TCP stack sees one large segment instead of dozens.
//!
//! The segmentation (`gso_split`) and the coalescing (`handle_gro`) are
//! tun-rs's (a port of wireguard-go's): each segment gets its own IP length,
//! IPv4 ID and header checksum, TCP sequence number and checksum, and
//! PSH/FIN only on the last one; GRO verifies each segment's TCP checksum
//! before merging it and leaves segments with a bad one to the kernel. The
//! tests below pin the properties the data plane relies on, so an upgrade
//! that changes them fails here rather than on the wire.

use tun_rs::{
    GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
    VIRTIO_NET_HDR_LEN, VirtioNetHdr,
};

/// Room left in front of every outbound segment for the GRE header we send
/// (4 bytes, plus 4 for the key; never checksum or sequence), so the header
/// is written in place and the segment is not copied again.
pub const HEADROOM: usize = 8;

/// Largest IP packet (and largest TUN read without the virtio-net header).
pub const MAX_PACKET: usize = 65_535;

/// Packets per batch: the most segments one super-packet may be split into
/// (64 KB at an MSS of 512), and the most datagrams coalesced per flush.
pub const BATCH: usize = IDEAL_BATCH_SIZE;

/// The IP packets one TUN read gave: a super-packet split into segments, or
/// a single packet. Each segment sits in its own buffer after `HEADROOM`
/// bytes. The buffers are allocated once (zeroed pages the kernel maps
/// only when touched).
pub struct Segments {
    /// The raw read: virtio-net header and the unsplit packet.
    pub(super) raw: Vec<u8>,
    pub(super) bufs: Vec<Vec<u8>>,
    pub(super) sizes: Vec<usize>,
    pub(super) count: usize,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments")
            .field("count", &self.count)
            .finish()
    }
}

impl Default for Segments {
    fn default() -> Self {
        Segments {
            raw: vec![0; VIRTIO_NET_HDR_LEN + MAX_PACKET],
            bufs: (0..BATCH).map(|_| vec![0; HEADROOM + MAX_PACKET]).collect(),
            sizes: vec![0; BATCH],
            count: 0,
        }
    }
}

impl Segments {
    /// Number of packets the last read gave.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Packet `i` with the headroom in front, read-only.
    pub fn frame(&self, i: usize) -> Option<&[u8]> {
        let size = *self.sizes.get(i).filter(|_| i < self.count)?;
        self.bufs.get(i)?.get(..HEADROOM + size)
    }

    /// Packet `i` with the headroom in front: `frame[HEADROOM..]` is the IP
    /// packet.
    pub fn frame_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let size = *self.sizes.get(i).filter(|_| i < self.count)?;
        self.bufs.get_mut(i)?.get_mut(..HEADROOM + size)
    }
}

/// IP packets for the TUN device, written as one batch: consecutive TCP
/// segments of a flow are coalesced into one write. Each buffer holds room
/// for the virtio-net header and then the packet (one copy from the
/// receive buffer); the buffers are reused from batch to batch.
#[derive(Default)]
pub struct ToTun {
    pub(super) bufs: Vec<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    pub(super) gro: GROTable,
}

impl ToTun {
    /// Queues a copy of `packet` and returns it for in-place changes (MSS
    /// clamping).
    pub fn push(&mut self, packet: &[u8]) -> &mut [u8] {
        // tun-rs coalesces only into buffers that can take a whole 64 KB
        // packet without reallocating; untouched capacity costs no memory.
        let mut buf = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(2 * VIRTIO_NET_HDR_LEN + MAX_PACKET));
        buf.clear();
        buf.resize(VIRTIO_NET_HDR_LEN, 0);
        buf.extend_from_slice(packet);
        self.bufs.push(buf);
        let last = self.bufs.len() - 1;
        &mut self.bufs[last][VIRTIO_NET_HDR_LEN..]
    }

    pub fn len(&self) -> usize {
        self.bufs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.bufs.len() >= BATCH
    }

    /// Empties the batch after it was written, keeping the buffers.
    pub fn clear(&mut self) {
        self.spare.append(&mut self.bufs);
    }
}

impl std::fmt::Debug for ToTun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToTun")
            .field("queued", &self.bufs.len())
            .finish()
    }
}

/// Offset of the packets in `ToTun`'s buffers, for `send_multiple`.
pub const TO_TUN_OFFSET: usize = VIRTIO_NET_HDR_LEN;

/// virtio-net header flag: the kernel completes the checksum at
/// `csum_start + csum_offset` (the field holds the pseudo-header sum).
const NEEDS_CSUM: u8 = 1;
/// virtio-net GSO flag: the segments carry ECN (CWR seen).
const GSO_ECN: u8 = 0x80;
/// Offset of the checksum field in the TCP header.
const TCP_CHECKSUM: usize = 16;

/// The virtio-net header for an inner TCP packet that the underlay's
/// receive offload had already coalesced, or `None` for any other packet.
///
/// A NIC (or veth with NAPI) doing GRO merges consecutive GRE datagrams of
/// one inner TCP flow into one (`gre_gro_receive`), and the raw socket gets
/// that: one datagram of up to 64 KB whose inner IP length is the merged
/// one and whose inner TCP checksum field holds only the pseudo-header sum
/// (the kernel marks such a packet CHECKSUM_PARTIAL, which a raw socket
/// cannot tell us). Written to the TUN device as a plain packet it fails
/// TCP's checksum check and is dropped, flow after flow. That field is how
/// it is recognised: a TCP packet whose checksum field equals its
/// pseudo-header sum. It goes to the kernel as what it is, a TCP
/// super-packet with the checksum left to complete (`NEEDS_CSUM`) and, when
/// it is longer than one segment, GSO with segments that fit the tunnel MTU
/// (`mtu`), as the sender cut them; the kernel's TCP takes it as one large
/// segment, and re-segments it if it forwards it. (A complete packet whose
/// checksum happens to equal that sum, one in 65 536, gets the same,
/// correct checksum back from the kernel.)
pub fn underlay_gro_header(packet: &[u8], mtu: u16) -> Option<VirtioNetHdr> {
    let (ip_len, pseudo, gso_type) = tcp_pseudo_header(packet)?;
    let tcp = packet.get(ip_len..)?;
    let tcp_len = usize::from(*tcp.get(12)? >> 4) * 4;
    if tcp_len < 20 || tcp.len() < tcp_len {
        return None;
    }
    let field = u16::from_be_bytes([tcp[TCP_CHECKSUM], tcp[TCP_CHECKSUM + 1]]);
    if field != pseudo {
        return None;
    }
    let headers = ip_len + tcp_len;
    let payload = packet.len() - headers;
    let gso_size = usize::from(mtu).saturating_sub(headers);
    let mut hdr = VirtioNetHdr {
        flags: NEEDS_CSUM,
        hdr_len: u16::try_from(headers).ok()?,
        csum_start: u16::try_from(ip_len).ok()?,
        csum_offset: TCP_CHECKSUM as u16,
        ..VirtioNetHdr::default()
    };
    if gso_size > 0 && payload > gso_size {
        let cwr = tcp[13] & 0x80 != 0;
        hdr.gso_type = gso_type | if cwr { GSO_ECN } else { 0 };
        hdr.gso_size = u16::try_from(gso_size).ok()?;
    }
    Some(hdr)
}

/// For an unfragmented IPv4 or IPv6 packet carrying TCP right after the
/// fixed header (no IPv6 extension headers) whose IP length is the
/// packet's: the IP header length, the folded pseudo-header sum and the
/// virtio GSO type.
fn tcp_pseudo_header(packet: &[u8]) -> Option<(usize, u16, u8)> {
    const TCP: u8 = 6;
    let first = *packet.first()?;
    let (ip_len, addresses, tcp_len, gso_type) = match first >> 4 {
        4 => {
            let ip_len = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
            let fragment = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]) & 0x3fff;
            if ip_len < 20 || total != packet.len() || fragment != 0 || packet.get(9)? != &TCP {
                return None;
            }
            (
                ip_len,
                packet.get(12..20)?,
                total.checked_sub(ip_len)?,
                VIRTIO_NET_HDR_GSO_TCPV4,
            )
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([*packet.get(4)?, *packet.get(5)?]));
            if payload + 40 != packet.len() || packet.get(6)? != &TCP {
                return None;
            }
            (40, packet.get(8..40)?, payload, VIRTIO_NET_HDR_GSO_TCPV6)
        }
        _ => return None,
    };
    let mut sum = u32::from(TCP) + u32::try_from(tcp_len).ok()?;
    for word in addresses.chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    Some((ip_len, fold(sum), gso_type))
}

/// One's complement fold of a 32-bit sum into 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    sum as u16
}

/// Completes the TCP checksum of a packet `underlay_gro_header` accepted
/// (its field holds the pseudo-header sum), for a TUN device without
/// offloads: the one's complement of the sum over the TCP header and data.
pub fn complete_tcp_checksum(packet: &mut [u8], csum_start: usize) {
    let Some(tcp) = packet.get_mut(csum_start..) else {
        return;
    };
    let mut sum = 0u32;
    let mut words = tcp.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        sum = (sum >> 16) + (sum & 0xffff);
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    let checksum = !fold(sum);
    if let Some(field) = tcp.get_mut(TCP_CHECKSUM..TCP_CHECKSUM + 2) {
        field.copy_from_slice(&checksum.to_be_bytes());
    }
}

#[cfg(test)]
#[path = "offload_tests.rs"]
mod tests;
