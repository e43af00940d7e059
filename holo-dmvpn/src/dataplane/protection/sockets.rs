//! The sockets of IPsec on the underlay, bound to the tunnel source: UDP
//! 500 and 4500 for IKE (4500 also carries ESP-in-UDP, RFC 3948), and a raw
//! IPv4 socket for ESP (IP protocol 50). The kernel here has no ESP: it
//! adds and strips only the outer IPv4 header. ESP in UDP goes out with
//! UDP GSO and comes in with UDP GRO (`udp_offload`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::super::netns;
use super::super::underlay::{Received, Underlay};
use super::udp_offload::{self, Datagram, GSO_MAX_BYTES, GSO_MAX_SEGMENTS, Gso};

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
    /// Whether UDP GSO is still worth a try on `nat_t` (and `ike`).
    gso: Gso,
}

/// An ESP packet in UDP to send: the packet (SPI onwards), our port (the
/// socket) and the peer's address and port.
pub type EspInUdp<'a> = (&'a [u8], u16, SocketAddrV4);

impl Sockets {
    /// Opens all three in network namespace `netns` (or the caller's),
    /// bound to `source`. Needs CAP_NET_RAW and CAP_NET_BIND_SERVICE.
    pub fn bind(source: Ipv4Addr, ttl: u8, netns: Option<&str>) -> io::Result<Sockets> {
        let ike = netns::run_in_opt(netns, || udp(source, IKE_PORT))?;
        let nat_t = netns::run_in_opt(netns, || udp(source, NAT_T_PORT))?;
        // ESP in UDP from one peer arrives coalesced (`recv_nat_t`); a
        // kernel without UDP_GRO (before 5.0) hands it over one by one.
        if let Err(error) =
            nix::sys::socket::setsockopt(&nat_t, nix::sys::socket::sockopt::UdpGroSegment, &true)
        {
            tracing::info!(%error, "UDP GRO not available on port 4500");
        }
        Ok(Sockets {
            ike: UdpSocket::from_std(ike.into())?,
            nat_t: UdpSocket::from_std(nat_t.into())?,
            esp: Underlay::bind_protocol(IPPROTO_ESP, source, ttl, netns)?,
            source,
            gso: Gso::default(),
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

    /// Sends ESP packets in UDP: each run of equal packets to one peer
    /// (the segments of one TUN super-packet) with one sendmsg(2) and UDP
    /// GSO, the rest, and runs the kernel refuses GSO for, with
    /// sendmmsg(2), in order. `done(i, result)` is called once per packet.
    pub async fn send_esp_in_udp(
        &mut self,
        packets: &[EspInUdp<'_>],
        mut done: impl FnMut(usize, io::Result<()>),
    ) {
        let keys: Vec<((u16, SocketAddrV4), usize)> = packets
            .iter()
            .map(|(esp, local, to)| ((*local, *to), esp.len()))
            .collect();
        // Packets not sent with GSO, sent together before the next GSO run
        // (or at the end) so that nothing overtakes.
        let mut singles: Vec<usize> = Vec::new();
        for run in udp_offload::gso_runs(&keys, GSO_MAX_SEGMENTS, GSO_MAX_BYTES) {
            let (esp, local, to) = packets[run.start];
            let segment = esp.len();
            if !self.gso.allows(run.len(), segment) {
                singles.extend(run);
                continue;
            }
            self.send_singles(packets, &mut singles, &mut done).await;
            let segments: Vec<&[u8]> = packets[run.clone()].iter().map(|p| p.0).collect();
            let socket = self.udp(local);
            let sent = socket
                .async_io(Interest::WRITABLE, || {
                    // `allows` checked that the size fits.
                    let size = u16::try_from(segment).unwrap_or(u16::MAX);
                    udp_offload::send_gso(socket.as_raw_fd(), &segments, size, to)
                })
                .await;
            match sent {
                Ok(()) => run.for_each(|i| done(i, Ok(()))),
                Err(error) if self.gso.refused(segment, &error) => singles.extend(run),
                Err(error) => {
                    for i in run {
                        done(i, Err(copy_error(&error)));
                    }
                }
            }
        }
        self.send_singles(packets, &mut singles, &mut done).await;
    }

    /// Sends `packets[i]` for every `i` in `singles` (emptied), one
    /// datagram each, with as few sendmmsg(2) as the socket buffers take.
    async fn send_singles(
        &self,
        packets: &[EspInUdp<'_>],
        singles: &mut Vec<usize>,
        done: &mut impl FnMut(usize, io::Result<()>),
    ) {
        let mut next = 0;
        while next < singles.len() {
            // One socket per call: the run of packets from the same port.
            let local = packets[singles[next]].1;
            let same_port = singles[next..]
                .iter()
                .take_while(|&&i| packets[i].1 == local)
                .count();
            let batch: Vec<(&[u8], SocketAddrV4)> = singles[next..next + same_port]
                .iter()
                .map(|&i| (packets[i].0, packets[i].2))
                .collect();
            let socket = self.udp(local);
            let sent = socket
                .async_io(Interest::WRITABLE, || {
                    udp_offload::send_each(socket.as_raw_fd(), &batch)
                })
                .await;
            match sent {
                Ok(sent) if sent > 0 => {
                    for &i in &singles[next..next + sent] {
                        done(i, Ok(()));
                    }
                    next += sent;
                }
                Ok(_) => {
                    done(
                        singles[next],
                        Err(io::Error::other("sendmmsg sent nothing")),
                    );
                    next += 1;
                }
                Err(error) => {
                    done(singles[next], Err(error));
                    next += 1;
                }
            }
        }
        singles.clear();
    }

    /// One datagram on UDP 4500 into `buf`, coalesced with those that
    /// followed it from the same peer when the kernel did (UDP GRO).
    pub async fn recv_nat_t(&self, buf: &mut [u8]) -> io::Result<Datagram> {
        self.nat_t
            .async_io(Interest::READABLE, || {
                udp_offload::recv_gro(self.nat_t.as_raw_fd(), buf)
            })
            .await
    }

    /// Like `recv_nat_t`, but only what is already queued: `None` when
    /// nothing is.
    pub fn try_recv_nat_t(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        let read = self.nat_t.try_io(Interest::READABLE, || {
            udp_offload::recv_gro(self.nat_t.as_raw_fd(), buf)
        });
        match read {
            Ok(datagram) => Ok(Some(datagram)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The same error again, for each packet of a run that failed as a whole
/// (`io::Error` is not `Clone`).
fn copy_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
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
