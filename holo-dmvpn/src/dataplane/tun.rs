//! The TUN device: the tunnel's multipoint interface as the kernel sees it.
//! Layer 3, no packet-information header, one queue, and the offloads on
//! (`offload`): every read and write carries a virtio-net header, reads may
//! be TCP/UDP super-packets of up to 64 KB, and writes may be coalesced
//! TCP segments. A kernel that refuses the offloads gets a plain device.

use std::io;

use ipnetwork::IpNetwork;
use tun_rs::{AsyncDevice, DeviceBuilder, VIRTIO_NET_HDR_LEN, VirtioNetHdr};

use super::offload::{HEADROOM, Segments, TO_TUN_OFFSET, ToTun, complete_tcp_checksum};

pub struct Tun {
    device: AsyncDevice,
    name: String,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("offload", &self.offload())
            .finish()
    }
}

impl Tun {
    /// Creates the device `name` in the calling thread's network namespace,
    /// with its MTU and address (ioctls; IPv6 addresses via tun-rs), and
    /// brings it up. It goes away when the value is dropped.
    pub fn create(name: &str, mtu: u16, address: IpNetwork) -> io::Result<Tun> {
        let device = match Self::build(name, mtu, address, true) {
            Ok(device) => device,
            Err(error) => {
                tracing::warn!(%error, "TUN offloads unavailable: one read/write per packet");
                Self::build(name, mtu, address, false)?
            }
        };
        // The data plane writes ICMP errors from our own tunnel address
        // into the device (`pmtu`); without accept_local the kernel drops
        // them as martians (a local source address received).
        let sysctl = format!("/proc/sys/net/ipv4/conf/{name}/accept_local");
        if let Err(error) = std::fs::write(&sysctl, "1") {
            tracing::warn!(%error, %sysctl, "ICMP errors of the data plane will be dropped");
        }
        Ok(Tun {
            device,
            name: name.to_string(),
        })
    }

    fn build(name: &str, mtu: u16, address: IpNetwork, offload: bool) -> io::Result<AsyncDevice> {
        let builder = DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .packet_information(false)
            .offload(offload)
            .multi_queue(false);
        let builder = match address {
            IpNetwork::V4(a) => builder.ipv4(a.ip(), a.prefix(), None),
            IpNetwork::V6(a) => builder.ipv6(a.ip(), a.prefix()),
        };
        builder.enable(true).build_async()
    }

    /// A new MTU on the running device (an `ip link set mtu`): no packet
    /// and no route through the device is lost.
    pub fn set_mtu(&self, mtu: u16) -> io::Result<()> {
        self.device.set_mtu(mtu)
    }

    /// The kernel's index of the device (it stays for the device's life).
    pub fn if_index(&self) -> io::Result<u32> {
        self.device.if_index()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether reads and writes carry virtio-net headers (TSO/GRO on).
    pub fn offload(&self) -> bool {
        self.device.tcp_gso()
    }

    /// What the kernel routed into the tunnel, from one read(2): a single IP
    /// packet or a super-packet split into segments that each fit the MTU
    /// the kernel segmented for, in `segments`.
    pub async fn recv(&self, segments: &mut Segments) -> io::Result<usize> {
        segments.count = 0;
        let n = self
            .device
            .recv_multiple(
                &mut segments.raw,
                &mut segments.bufs,
                &mut segments.sizes,
                HEADROOM,
            )
            .await?;
        segments.count = n;
        Ok(n)
    }

    /// Hands the queued packets to the kernel as received on the tunnel:
    /// one write(2) per flow's run of coalesced TCP segments and one per
    /// other packet. The batch is emptied, also on error.
    pub async fn send_batch(&self, batch: &mut ToTun) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let sent = self
            .device
            .send_multiple(&mut batch.gro, &mut batch.bufs, TO_TUN_OFFSET)
            .await;
        batch.clear();
        sent.map(|_| ())
    }

    /// Hands one TCP packet that the underlay had coalesced to the kernel
    /// (one write(2)), with `hdr` from `offload::underlay_gro_header`;
    /// `scratch` is reused between calls. Without offloads its checksum is
    /// completed here instead and it goes as one large packet.
    pub async fn send_coalesced(
        &self,
        hdr: VirtioNetHdr,
        packet: &[u8],
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        scratch.clear();
        if self.offload() {
            scratch.resize(VIRTIO_NET_HDR_LEN, 0);
            hdr.encode(scratch)?;
            scratch.extend_from_slice(packet);
        } else {
            scratch.extend_from_slice(packet);
            complete_tcp_checksum(scratch, usize::from(hdr.csum_start));
        }
        self.device.send(scratch).await.map(|_| ())
    }

    /// Hands one IP packet to the kernel (one write(2)): for the data
    /// plane's own ICMP errors, off the fast path.
    pub async fn send(&self, packet: &[u8]) -> io::Result<()> {
        if self.offload() {
            // A zero virtio-net header: no GSO, checksums complete.
            let mut framed = vec![0; VIRTIO_NET_HDR_LEN];
            framed.extend_from_slice(packet);
            self.device.send(&framed).await.map(|_| ())
        } else {
            self.device.send(packet).await.map(|_| ())
        }
    }
}
