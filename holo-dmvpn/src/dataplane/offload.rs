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

use tun_rs::{GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

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

#[cfg(test)]
#[path = "offload_tests.rs"]
mod tests;
