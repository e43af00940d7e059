//! GRE on the underlay: a raw IPv4 socket for IP protocol 47, bound to the
//! tunnel source. There is no ip_gre module involved: the kernel adds and
//! strips only the outer IPv4 header.
//!
//! IPv4 underlay only for now: an IPv4 raw socket hands us the outer header
//! with every datagram, which gives the source without recvfrom's address
//! buffer (uninitialised memory in socket2's safe API).

use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrIn, recv, sendmmsg};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// IP protocol number of GRE (RFC 2784).
pub const IPPROTO_GRE: i32 = 47;

#[derive(Debug)]
pub struct Underlay {
    socket: AsyncFd<Socket>,
    source: Ipv4Addr,
}

impl Underlay {
    /// Opens the raw socket in network namespace `netns` (a front-door
    /// VRF), or in the calling thread's without one, and binds it to
    /// `source`, so only GRE sent to that address is received and ours
    /// leaves from it. Needs CAP_NET_RAW (and CAP_SYS_ADMIN for `netns`).
    pub fn bind(source: Ipv4Addr, ttl: u8, netns: Option<&str>) -> io::Result<Underlay> {
        Underlay::bind_protocol(IPPROTO_GRE, source, ttl, netns)
    }

    /// Like `bind`, for another IP protocol (ESP, 50, for IPsec).
    pub fn bind_protocol(
        protocol: i32,
        source: Ipv4Addr,
        ttl: u8,
        netns: Option<&str>,
    ) -> io::Result<Underlay> {
        // The socket keeps the namespace it is created in; registering it
        // with tokio below is namespace-agnostic.
        let socket = super::netns::run_in_opt(netns, || open(protocol, source, ttl))?;
        // Tokio 1.54 deprecates the safe `AsyncFd::new` because a `T` that
        // does not own its descriptor could let it be closed and reused while
        // registered. A `Socket` owns its descriptor and lives exactly as long
        // as the registration, so this use is sound; the replacement,
        // `AsyncFd::register`, is `unsafe`, which this crate forbids.
        #[allow(deprecated)]
        let socket = AsyncFd::new(socket)?;
        Ok(Underlay { socket, source })
    }

    /// The TTL our GRE packets leave with.
    pub fn ttl(&self) -> io::Result<u32> {
        self.socket.get_ref().ttl_v4()
    }

    /// A new TTL for the GRE packets sent from now on.
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        self.socket.get_ref().set_ttl_v4(u32::from(ttl))
    }

    pub fn source(&self) -> Ipv4Addr {
        self.source
    }

    /// One GRE datagram (one recv(2)): the outer source and the GRE header
    /// onwards. Datagrams with a broken outer header are skipped.
    pub async fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Received<'b>> {
        loop {
            let n = self
                .socket
                .async_io(Interest::READABLE, |s| recv_datagram(s.as_raw_fd(), buf))
                .await?;
            if let Some(parsed) = parse(buf, n) {
                return Ok(parsed.received(buf));
            }
        }
    }

    /// Like `recv`, but only what is already queued: `None` when nothing
    /// is (one recv(2)).
    pub fn try_recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<Received<'b>>> {
        loop {
            let n = match self
                .socket
                .try_io(Interest::READABLE, |s| recv_datagram(s.as_raw_fd(), buf))
            {
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(error) => return Err(error),
            };
            if let Some(parsed) = parse(buf, n) {
                return Ok(Some(parsed.received(buf)));
            }
        }
    }

    /// Sends GRE datagrams, each to its NBMA address, with one sendmmsg(2)
    /// per run that the socket buffer takes; `done(i, result)` is called
    /// once per datagram, in order. A datagram the kernel refuses is
    /// reported and skipped, the rest still go.
    pub async fn send_many(
        &self,
        datagrams: &[(&[u8], Ipv4Addr)],
        mut done: impl FnMut(usize, io::Result<()>),
    ) {
        let mut next = 0;
        while next < datagrams.len() {
            let rest = &datagrams[next..];
            let sent = self
                .socket
                .async_io(Interest::WRITABLE, |s| sendmmsg_once(s.as_raw_fd(), rest))
                .await;
            match sent {
                Ok(sent) if sent > 0 => {
                    for i in next..next + sent {
                        done(i, Ok(()));
                    }
                    next += sent;
                }
                Ok(_) => {
                    done(next, Err(io::Error::other("sendmmsg sent nothing")));
                    next += 1;
                }
                Err(error) => {
                    done(next, Err(error));
                    next += 1;
                }
            }
        }
    }

    /// Sends one GRE datagram to `nbma` (one sendto(2)).
    pub async fn send_to(&self, gre: &[u8], nbma: IpAddr) -> io::Result<()> {
        let to = SockAddr::from(SocketAddr::new(nbma, 0));
        self.socket
            .async_io(Interest::WRITABLE, |s| s.send_to(gre, &to))
            .await
            .map(|_| ())
    }
}

/// The raw socket of IP protocol `protocol`, bound to `source` (in the calling thread's network
/// namespace; the bind fails there when `source` is not a local address).
fn open(protocol: i32, source: Ipv4Addr, ttl: u8) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(protocol)))?;
    socket.set_nonblocking(true)?;
    // The outer IP header is the kernel's (no IP_HDRINCL): its TTL is the
    // socket's.
    socket.set_ttl_v4(u32::from(ttl))?;
    socket.bind(&SockAddr::from(SocketAddr::new(source.into(), 0)))?;
    // Bursts of inner packets must not be lost while the task is busy with
    // the TUN side.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    Ok(socket)
}

/// One sendmmsg(2) of up to `datagrams.len()` datagrams: how many went.
/// nix builds the message headers (its safe wrapper); they are not kept
/// across calls because they hold raw pointers (not `Send`).
fn sendmmsg_once(fd: RawFd, datagrams: &[(&[u8], Ipv4Addr)]) -> io::Result<usize> {
    let iovs: Vec<[IoSlice<'_>; 1]> = datagrams.iter().map(|(d, _)| [IoSlice::new(d)]).collect();
    let addrs: Vec<Option<SockaddrIn>> = datagrams
        .iter()
        .map(|(_, to)| Some(SockaddrIn::from(SocketAddrV4::new(*to, 0))))
        .collect();
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(datagrams.len(), None);
    let no_cmsgs: [ControlMessage<'_>; 0] = [];
    let sent = sendmmsg(fd, &mut headers, &iovs, &addrs, no_cmsgs, MsgFlags::empty())?;
    Ok(sent.count())
}

/// What one recv(2) on the GRE socket gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'b> {
    /// The outer source and the GRE header onwards.
    Gre(IpAddr, &'b [u8]),
    /// A datagram longer than the buffer, cut: the outer source and its
    /// real length. Only an underlay coalescing beyond 64 KB (GRO with BIG
    /// TCP, `gro_ipv4_max_size`) sends such datagrams; their content is
    /// lost.
    Truncated(IpAddr, usize),
}

/// One recv(2) with MSG_TRUNC: the datagram's real length, which is more
/// than `buf` holds when it was cut.
fn recv_datagram(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(recv(fd, buf, MsgFlags::MSG_TRUNC)?)
}

/// Where in the buffer `Received` is, without borrowing it (the receive
/// loops borrow the buffer again on their next turn).
enum Parsed {
    Gre(IpAddr, std::ops::Range<usize>),
    Truncated(IpAddr, usize),
}

impl Parsed {
    fn received(self, buf: &[u8]) -> Received<'_> {
        match self {
            Parsed::Gre(src, range) => Received::Gre(src, &buf[range]),
            Parsed::Truncated(src, len) => Received::Truncated(src, len),
        }
    }
}

/// The datagram `recv_datagram` put into `buf` (real length `n`), unless
/// its outer header is broken.
fn parse(buf: &[u8], n: usize) -> Option<Parsed> {
    let end = n.min(buf.len());
    let (src, start) = outer_ipv4(&buf[..end])?;
    Some(match n > buf.len() {
        true => Parsed::Truncated(src.into(), n),
        false => Parsed::Gre(src.into(), start..end),
    })
}

/// The source address and header length of the outer IPv4 header.
pub fn outer_ipv4(datagram: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let first = *datagram.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || datagram.len() < header_len {
        return None;
    }
    let src: [u8; 4] = datagram.get(12..16)?.try_into().ok()?;
    Some((src.into(), header_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configured tunnel TTL is the socket's (root: raw socket, on
    /// loopback only).
    #[tokio::test]
    async fn the_outer_ttl_is_the_configured_one() {
        let underlay = Underlay::bind(Ipv4Addr::LOCALHOST, 7, None).expect("raw socket (root)");
        assert_eq!(underlay.ttl().unwrap(), 7);
    }

    /// A datagram longer than the buffer is reported with its real length,
    /// not passed on cut (root: raw socket, on loopback only).
    #[tokio::test]
    async fn a_datagram_longer_than_the_buffer_is_reported_truncated() {
        let underlay = Underlay::bind(Ipv4Addr::LOCALHOST, 64, None).expect("raw socket (root)");
        let mut gre = vec![0, 0, 0x08, 0x00];
        gre.resize(500, 0x45);
        underlay
            .send_to(&gre, Ipv4Addr::LOCALHOST.into())
            .await
            .unwrap();
        underlay
            .send_to(&gre[..100], Ipv4Addr::LOCALHOST.into())
            .await
            .unwrap();
        let mut small = [0; 200];
        let localhost = IpAddr::from(Ipv4Addr::LOCALHOST);
        let first = underlay.recv(&mut small).await.unwrap();
        assert_eq!(first, Received::Truncated(localhost, 520));
        let second = underlay.recv(&mut small).await.unwrap();
        assert_eq!(second, Received::Gre(localhost, &gre[..100]));
    }

    #[test]
    fn outer_header_gives_source_and_skips_options() {
        let mut d = vec![0x46, 0, 0, 32, 0, 0, 0, 0, 64, 47, 0, 0];
        d.extend_from_slice(&[192, 0, 2, 11, 192, 0, 2, 1]);
        d.extend_from_slice(&[1, 1, 1, 1]); // 4 bytes of options
        d.extend_from_slice(&[0, 0, 0x20, 0x01]);
        let (src, start) = outer_ipv4(&d).unwrap();
        assert_eq!(src, Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(&d[start..], &[0, 0, 0x20, 0x01]);
        assert_eq!(outer_ipv4(&d[..10]), None);
        assert_eq!(outer_ipv4(&[0x60; 40]), None);
    }
}
