//! ESP in UDP (RFC 3948) on port 4500, a TUN super-packet at a time.
//!
//! ```text
//!   send: ESP packets of one TUN read ──► gso_runs ──► one sendmsg(2) per run,
//!         cut by the kernel every UDP_SEGMENT bytes (UDP GSO)
//!         refused (EIO, EMSGSIZE, EINVAL) ──► Gso remembers ──► sendmmsg(2), one datagram each
//!   recv: recvmsg(2) with UDP_GRO ──► up to 64 KB of one flow + segment size
//!         ──► gro_segments ──► each: keepalive / IKE / ESP (holo_ike's
//!         UdpEncapsulated; IKE may follow ESP of the same flow)
//! ```
//!
//! The kernel here has no ESP, so ESP is built in userspace; UDP is still
//! the kernel's, and its GSO and GRO let the segments of one TCP
//! super-packet from the TUN device cross the kernel in one call each way,
//! as GRE super-packets do on a plain tunnel (raw ESP, IP 50, has no GRO
//! without the kernel's ESP).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmsg, sendmmsg,
    sendmsg,
};

/// Segments in one UDP GSO send, at most: the kernel's UDP_MAX_SEGMENTS
/// (64 before Linux 6.10, 128 since).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// UDP payload of one GSO send, at most: what one IPv4 datagram holds
/// (65535 less the IPv4 and UDP headers); the kernel refuses more.
pub const GSO_MAX_BYTES: usize = 65_535 - 20 - 8;

/// Which packets leave together in one GSO send: consecutive ones to the
/// same destination, all as long as the first but the last (which may be
/// shorter: the kernel cuts every `first` bytes), at most
/// `max_segments` and `max_bytes` together. `packets` are (destination,
/// length); every packet is in exactly one run, in order. A run of one
/// needs no GSO.
pub fn gso_runs<D: PartialEq>(
    packets: &[(D, usize)],
    max_segments: usize,
    max_bytes: usize,
) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < packets.len() {
        let (to, segment) = &packets[start];
        let mut end = start + 1;
        let mut bytes = *segment;
        while end < packets.len() && end - start < max_segments && *segment > 0 {
            let (next_to, len) = &packets[end];
            if next_to != to || len > segment || bytes + len > max_bytes {
                break;
            }
            bytes += len;
            end += 1;
            if len < segment {
                // A shorter one ends the run.
                break;
            }
        }
        runs.push(start..end);
        start = end;
    }
    runs
}

/// The segments of a datagram read with UDP GRO: `len` bytes cut every
/// `segment` bytes (the last may be shorter); without a segment size (not
/// coalesced), the whole datagram.
pub fn gro_segments(len: usize, segment: Option<usize>) -> impl Iterator<Item = Range<usize>> {
    let step = segment.filter(|&s| s > 0).unwrap_or(len.max(1));
    (0..len)
        .step_by(step)
        .map(move |start| start..(start + step).min(len))
}

/// Whether UDP GSO is worth a try: the kernel refuses it with EIO when the
/// route cannot have it (no checksum offload, xfrm), for good; with
/// EMSGSIZE when a segment plus headers is above the route's MTU (the
/// segments would need IP fragmentation, which GSO does not do) and with
/// EINVAL when a limit of the run's is exceeded, for that size and above.
/// Each refusal costs the run a second send, one datagram at a time (the
/// kernel fragments those above the MTU); what was refused is not tried
/// again.
#[derive(Debug)]
pub struct Gso {
    /// Segment sizes from this one up are refused (`usize::MAX`: none).
    refused_from: usize,
    warned: bool,
}

impl Default for Gso {
    fn default() -> Gso {
        Gso {
            refused_from: usize::MAX,
            warned: false,
        }
    }
}

impl Gso {
    /// Whether a run of `count` segments of `segment` bytes goes with GSO.
    pub fn allows(&self, count: usize, segment: usize) -> bool {
        count > 1 && segment < self.refused_from && u16::try_from(segment).is_ok()
    }

    /// The kernel refused a run of `segment`-byte segments with `error`:
    /// whether the run is to be sent again one datagram at a time (it was
    /// refused as a whole, nothing went). Logged once at warn level.
    pub fn refused(&mut self, segment: usize, error: &io::Error) -> bool {
        let refused_from = match Errno::from_raw(error.raw_os_error().unwrap_or(0)) {
            Errno::EIO => 0,
            Errno::EINVAL | Errno::EMSGSIZE => segment,
            _ => return false,
        };
        self.refused_from = self.refused_from.min(refused_from);
        if self.warned {
            tracing::debug!(segment, %error, "UDP GSO refused");
        } else if error.raw_os_error() == Some(Errno::EMSGSIZE as i32) {
            tracing::warn!(
                segment,
                %error,
                "ESP in UDP above the underlay MTU: every such packet leaves in IP fragments, \
                 one datagram at a time (no UDP GSO); a tunnel MTU that leaves room for ESP \
                 avoids both (warned once)"
            );
        } else {
            tracing::warn!(
                segment,
                %error,
                "UDP GSO refused by the kernel: ESP in UDP of this size and above (of any size \
                 after EIO) leaves one datagram at a time (warned once)"
            );
        }
        self.warned = true;
        true
    }
}

/// One sendmsg(2): `segments` back to back as one UDP datagram to `to`,
/// which the kernel (or the NIC) cuts into datagrams of `segment` bytes
/// (UDP_SEGMENT, Linux 4.18). nix builds the message header (its safe
/// wrapper).
pub fn send_gso(fd: RawFd, segments: &[&[u8]], segment: u16, to: SocketAddrV4) -> io::Result<()> {
    let iov: Vec<IoSlice<'_>> = segments.iter().map(|s| IoSlice::new(s)).collect();
    let cmsgs = [ControlMessage::UdpGsoSegments(&segment)];
    let to = SockaddrIn::from(to);
    sendmsg(fd, &iov, &cmsgs, MsgFlags::empty(), Some(&to))?;
    Ok(())
}

/// One sendmmsg(2) of up to `datagrams.len()` datagrams, each to its
/// address: how many went.
pub fn send_each(fd: RawFd, datagrams: &[(&[u8], SocketAddrV4)]) -> io::Result<usize> {
    let iovs: Vec<[IoSlice<'_>; 1]> = datagrams.iter().map(|(d, _)| [IoSlice::new(d)]).collect();
    let addrs: Vec<Option<SockaddrIn>> = datagrams
        .iter()
        .map(|(_, to)| Some(SockaddrIn::from(*to)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(datagrams.len(), None);
    let no_cmsgs: [ControlMessage<'_>; 0] = [];
    let sent = sendmmsg(fd, &mut headers, &iovs, &addrs, no_cmsgs, MsgFlags::empty())?;
    Ok(sent.count())
}

/// What one recvmsg(2) on UDP 4500 gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    /// Bytes in the buffer (all of them unless `truncated`).
    pub len: usize,
    /// The GRO segment size, when the kernel coalesced several datagrams.
    pub segment: Option<usize>,
    /// Longer than the buffer: the rest is lost.
    pub truncated: bool,
}

/// One recvmsg(2), with the UDP_GRO control message that says where the
/// kernel joined datagrams of one flow.
pub fn recv_gro(fd: RawFd, buf: &mut [u8]) -> io::Result<Datagram> {
    let capacity = buf.len();
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(i32);
    let msg = recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
    let from = msg
        .address
        .map(|a| SocketAddr::V4(a.into()))
        .ok_or_else(|| io::Error::other("UDP datagram without a source address"))?;
    let mut segment = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::UdpGroSegments(size) = cmsg {
            segment = usize::try_from(size).ok();
        }
    }
    Ok(Datagram {
        from,
        len: msg.bytes.min(capacity),
        segment,
        truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_packets_to_one_peer_make_one_run_with_a_shorter_last() {
        let p = [(1, 1440), (1, 1440), (1, 1440), (1, 600)];
        assert_eq!(gso_runs(&p, 64, GSO_MAX_BYTES), vec![0..4]);
    }

    #[test]
    fn a_shorter_packet_ends_the_run_and_a_longer_one_starts_the_next() {
        let p = [
            (1, 1440),
            (1, 600),
            (1, 1440),
            (1, 1440),
            (1, 1500),
            (1, 1500),
        ];
        assert_eq!(gso_runs(&p, 64, GSO_MAX_BYTES), vec![0..2, 2..4, 4..6]);
    }

    #[test]
    fn another_destination_starts_a_new_run() {
        let p = [(1, 100), (1, 100), (2, 100), (1, 100)];
        assert_eq!(gso_runs(&p, 64, GSO_MAX_BYTES), vec![0..2, 2..3, 3..4]);
    }

    #[test]
    fn runs_respect_the_segment_and_byte_limits() {
        let p = vec![(1, 1000); 10];
        assert_eq!(gso_runs(&p, 4, usize::MAX), vec![0..4, 4..8, 8..10]);
        assert_eq!(gso_runs(&p, 64, 3500), vec![0..3, 3..6, 6..9, 9..10]);
        // A TUN super-packet of 64 KB in 1440-byte ESP packets: two sends.
        let p = vec![(1, 1440); 46];
        let runs = gso_runs(&p, GSO_MAX_SEGMENTS, GSO_MAX_BYTES);
        assert_eq!(runs, vec![0..45, 45..46]);
    }

    #[test]
    fn every_packet_is_in_exactly_one_run_in_order() {
        let p = [(3, 0), (3, 0), (1, 5), (1, 7), (1, 7), (1, 2), (1, 7)];
        let runs = gso_runs(&p, 64, GSO_MAX_BYTES);
        let flat: Vec<usize> = runs.iter().flat_map(|r| r.clone()).collect();
        assert_eq!(flat, (0..p.len()).collect::<Vec<_>>());
        assert_eq!(gso_runs::<u8>(&[], 64, GSO_MAX_BYTES), vec![]);
    }

    #[test]
    fn gro_segments_cut_every_segment_size() {
        let cut: Vec<_> = gro_segments(10, Some(4)).collect();
        assert_eq!(cut, vec![0..4, 4..8, 8..10]);
        let cut: Vec<_> = gro_segments(8, Some(4)).collect();
        assert_eq!(cut, vec![0..4, 4..8]);
        let cut: Vec<_> = gro_segments(10, None).collect();
        assert_eq!(cut, vec![0..10]);
        let cut: Vec<_> = gro_segments(3, Some(0)).collect();
        assert_eq!(cut, vec![0..3]);
        assert_eq!(gro_segments(0, Some(4)).count(), 0);
    }

    #[test]
    fn gso_refused_with_eio_is_off_for_good_with_einval_from_that_size() {
        let mut gso = Gso::default();
        assert!(gso.allows(2, 1440));
        assert!(!gso.allows(1, 1440), "one datagram needs no GSO");
        assert!(!gso.allows(2, 70_000), "above UDP_SEGMENT's u16");
        let einval = io::Error::from_raw_os_error(Errno::EINVAL as i32);
        assert!(gso.refused(1500, &einval));
        let emsgsize = io::Error::from_raw_os_error(Errno::EMSGSIZE as i32);
        assert!(gso.refused(1440, &emsgsize));
        assert!(!gso.allows(2, 1440));
        assert!(!gso.allows(2, 1500));
        assert!(gso.allows(2, 1300));
        let eio = io::Error::from_raw_os_error(Errno::EIO as i32);
        assert!(gso.refused(100, &eio));
        assert!(!gso.allows(2, 1));
        // Other errors are the datagrams' (full buffer, unreachable): no
        // second send, GSO stays.
        let mut gso = Gso::default();
        let unreachable = io::Error::from_raw_os_error(Errno::ENETUNREACH as i32);
        assert!(!gso.refused(1440, &unreachable));
        assert!(gso.allows(2, 1440));
    }

    /// Over loopback (no root): one GSO send arrives as one GRO datagram
    /// whose segments are the packets sent, or as separate datagrams where
    /// the kernel does not coalesce; either way the bytes and boundaries
    /// are the sender's.
    #[test]
    fn a_gso_send_comes_back_as_the_same_segments() {
        use std::os::fd::AsRawFd;
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::UdpGroSegment, &true).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(to) = rx.local_addr().unwrap() else {
            unreachable!()
        };
        let packets: Vec<Vec<u8>> = (0..5u8)
            .map(|i| vec![i + 1; if i == 4 { 300 } else { 1000 }])
            .collect();
        let slices: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        send_gso(tx.as_raw_fd(), &slices, 1000, to).unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0; 65_535];
        while received.len() < packets.len() {
            let datagram = recv_gro(rx.as_raw_fd(), &mut buf).unwrap();
            assert!(!datagram.truncated);
            assert_eq!(datagram.from, tx.local_addr().unwrap());
            for range in gro_segments(datagram.len, datagram.segment) {
                received.push(buf[range].to_vec());
            }
        }
        assert_eq!(received, packets);
    }
}
