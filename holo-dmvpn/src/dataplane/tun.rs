//! The TUN device: the tunnel's multipoint interface as the kernel sees it.
//! Layer 3, no packet-information header, no offloads, one queue.

use std::io;

use ipnetwork::IpNetwork;
use tun_rs::{AsyncDevice, DeviceBuilder};

pub struct Tun {
    device: AsyncDevice,
    name: String,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun").field("name", &self.name).finish()
    }
}

impl Tun {
    /// Creates the device `name` in the calling thread's network namespace,
    /// with its MTU and address (ioctls; IPv6 addresses via tun-rs), and
    /// brings it up. It goes away when the value is dropped.
    pub fn create(name: &str, mtu: u16, address: IpNetwork) -> io::Result<Tun> {
        let builder = DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .packet_information(false)
            .offload(false)
            .multi_queue(false);
        let builder = match address {
            IpNetwork::V4(a) => builder.ipv4(a.ip(), a.prefix(), None),
            IpNetwork::V6(a) => builder.ipv6(a.ip(), a.prefix()),
        };
        let device = builder.enable(true).build_async()?;
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

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One IP packet the kernel routed into the tunnel (one read(2)).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.device.recv(buf).await
    }

    /// Hands one IP packet to the kernel as received on the tunnel (one
    /// write(2)).
    pub async fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.device.send(packet).await.map(|_| ())
    }
}
