//! The sockets of IPsec on the underlay, bound to the tunnel source: UDP
//! 500 and 4500 for IKE (4500 also carries ESP-in-UDP, RFC 3948), and a raw
//! IPv4 socket for ESP (IP protocol 50). The kernel here has no ESP: it
//! adds and strips only the outer IPv4 header.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;

use super::super::netns;
use super::super::underlay::{Received, Underlay};

/// IKE's port (RFC 7296, 2).
pub const IKE_PORT: u16 = 500;
/// NAT traversal's port (RFC 3948): IKE with a non-ESP marker, ESP in UDP.
pub const NAT_T_PORT: u16 = 4500;
/// IP protocol number of ESP (RFC 4303).
pub const IPPROTO_ESP: i32 = 50;

#[derive(Debug)]
pub struct Sockets {
    pub ike: UdpSocket,
    pub nat_t: UdpSocket,
    pub esp: Underlay,
    pub source: Ipv4Addr,
}

impl Sockets {
    /// Opens all three in network namespace `netns` (or the caller's),
    /// bound to `source`. Needs CAP_NET_RAW and CAP_NET_BIND_SERVICE.
    pub fn bind(source: Ipv4Addr, ttl: u8, netns: Option<&str>) -> io::Result<Sockets> {
        let ike = netns::run_in_opt(netns, || udp(source, IKE_PORT))?;
        let nat_t = netns::run_in_opt(netns, || udp(source, NAT_T_PORT))?;
        Ok(Sockets {
            ike: UdpSocket::from_std(ike.into())?,
            nat_t: UdpSocket::from_std(nat_t.into())?,
            esp: Underlay::bind_protocol(IPPROTO_ESP, source, ttl, netns)?,
            source,
        })
    }

    /// The socket of local port `port` (500 or 4500).
    pub fn udp(&self, port: u16) -> &UdpSocket {
        match port {
            NAT_T_PORT => &self.nat_t,
            _ => &self.ike,
        }
    }

    /// One ESP datagram: its outer source and the ESP header onwards
    /// (copied to the start of `buf`'s range returned).
    pub async fn recv_esp<'b>(&self, buf: &'b mut [u8]) -> io::Result<Received<'b>> {
        self.esp.recv(buf).await
    }

    /// Sends an ESP packet (SPI onwards) to `peer` as IP protocol 50.
    pub async fn send_esp(&self, esp: &[u8], peer: IpAddr) -> io::Result<()> {
        self.esp.send_to(esp, peer).await
    }
}

fn udp(source: Ipv4Addr, port: u16) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(SocketAddr::new(source.into(), port)))?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    Ok(socket)
}
