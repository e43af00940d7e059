//! GRE frames out of a pcap or pcapng capture.
//!
//! [`CaptureReader`] walks a capture frame by frame, strips the link layer
//! (Ethernet with VLAN tags, Linux cooked SLL v1/v2, raw IP) and the outer
//! IPv4/IPv6 header, and yields every GRE (IP protocol 47) packet as a
//! [`GreFrame`]. Frames that are not GRE are skipped and counted; frames that
//! cannot be read far enough to know are reported as a [`FrameError`] and the
//! walk goes on. Only a capture that ends inside a record stops it.
//!
//! [`CaptureReader::frames`] walks the same capture and yields, besides GRE,
//! the IPsec packets as [`IpsecFrame`]s: ESP (IP protocol 50) and UDP from
//! or to the IKE ports 500 and 4500.
//!
//! Frames are numbered from 1 in file order, as Wireshark numbers them.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::net::IpAddr;
use std::path::Path;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use serde::Serialize;

/// First four bytes of a pcapng file (the Section Header Block type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// pcap magic numbers: microsecond and nanosecond, both byte orders.
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];

/// The outer IP header of a GRE packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OuterIp {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

/// One GRE packet found in a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GreFrame {
    /// Frame number, from 1.
    pub frame: u64,
    pub outer: OuterIp,
    /// The GRE header and payload, exactly as the IP payload carried them.
    pub gre: Vec<u8>,
}

/// How an IPsec packet travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpsecCarrier {
    /// IP protocol 50: `data` is the ESP packet.
    Esp,
    /// UDP with port 500 or 4500 on one side: `data` is the UDP payload
    /// (an IKE message; on 4500 also a non-ESP marker, ESP or a keepalive).
    Udp { src_port: u16, dst_port: u16 },
}

/// One ESP packet or IKE-port UDP datagram found in a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpsecFrame {
    /// Frame number, from 1.
    pub frame: u64,
    pub outer: OuterIp,
    pub carrier: IpsecCarrier,
    /// The IP payload (ESP) or the UDP payload, exactly as carried.
    pub data: Vec<u8>,
}

/// A frame [`CaptureReader::frames`] yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Gre(GreFrame),
    Ipsec(IpsecFrame),
}

/// A frame that could not be read far enough to tell whether, or to be
/// sure that, it is a complete GRE packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    pub frame: u64,
    /// The outer IP header, when the frame got that far.
    pub outer: Option<OuterIp>,
    pub kind: FrameErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// The capture file is damaged at this frame; nothing after it is read.
    Capture(String),
    /// A pcapng packet block that could not be parsed; the next block is read.
    Block(String),
    /// A pcapng packet names an interface the file did not describe.
    UnknownInterface(u32),
    UnsupportedLinkType(DataLink),
    /// The link-layer header is cut short.
    LinkTruncated {
        header: &'static str,
        needed: usize,
        available: usize,
    },
    /// The IP header (or an IPv6 extension header) is malformed or cut short.
    Ip(String),
    /// The IP packet is longer than what was captured (snap length).
    Truncated {
        ip_length: usize,
        captured: usize,
    },
    /// A fragment of a GRE packet; fragments are not reassembled.
    Fragment,
    /// An ESP or IKE packet longer than what was captured.
    IpsecTruncated {
        ip_length: usize,
        captured: usize,
    },
    /// A fragment of an ESP or IKE packet.
    IpsecFragment,
    /// A UDP header on an IKE port that is malformed or cut short.
    Udp(String),
}

impl fmt::Display for FrameErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameErrorKind::Capture(m) => write!(f, "capture file unreadable here: {m}"),
            FrameErrorKind::Block(m) => write!(f, "pcapng packet block unreadable: {m}"),
            FrameErrorKind::UnknownInterface(id) => {
                write!(f, "pcapng packet on undescribed interface {id}")
            }
            FrameErrorKind::UnsupportedLinkType(dl) => {
                write!(f, "unsupported link type {} ({dl:?})", u32::from(*dl))
            }
            FrameErrorKind::LinkTruncated {
                header,
                needed,
                available,
            } => write!(
                f,
                "{header} header truncated: {available} of {needed} bytes captured"
            ),
            FrameErrorKind::Ip(m) => write!(f, "IP header: {m}"),
            FrameErrorKind::Truncated {
                ip_length,
                captured,
            } => write!(
                f,
                "GRE packet truncated: IP length {ip_length}, {captured} bytes captured"
            ),
            FrameErrorKind::Fragment => {
                write!(
                    f,
                    "IP fragment of a GRE packet (fragments are not reassembled)"
                )
            }
            FrameErrorKind::IpsecTruncated {
                ip_length,
                captured,
            } => write!(
                f,
                "ESP/IKE packet truncated: IP length {ip_length}, {captured} bytes captured"
            ),
            FrameErrorKind::IpsecFragment => write!(
                f,
                "IP fragment of an ESP/IKE packet (fragments are not reassembled)"
            ),
            FrameErrorKind::Udp(m) => write!(f, "UDP header: {m}"),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame {}: {}", self.frame, self.kind)
    }
}

impl std::error::Error for FrameError {}

/// A file that cannot be read as a capture at all.
#[derive(Debug)]
pub enum CaptureError {
    Io(io::Error),
    /// The first four bytes are no pcap or pcapng magic number.
    NotACapture([u8; 4]),
    /// The file is shorter than a magic number.
    TooShort,
    /// The pcap or pcapng file header is malformed.
    Header(String),
    /// A pcap file whose link type this reader does not know.
    UnsupportedLinkType(DataLink),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io(e) => write!(f, "{e}"),
            CaptureError::NotACapture(m) => write!(
                f,
                "not a pcap or pcapng file (starts with {:02x}{:02x}{:02x}{:02x})",
                m[0], m[1], m[2], m[3]
            ),
            CaptureError::TooShort => write!(f, "not a pcap or pcapng file (shorter than 4 bytes)"),
            CaptureError::Header(m) => write!(f, "malformed capture file header: {m}"),
            CaptureError::UnsupportedLinkType(dl) => write!(
                f,
                "unsupported link type {} ({dl:?}); supported: Ethernet, Linux cooked (SLL, SLL2), raw IP",
                u32::from(*dl)
            ),
        }
    }
}

// The I/O error is part of the message, not a source: a chain would print
// it twice.
impl std::error::Error for CaptureError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    PcapNg,
}

/// What a walk over a capture has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// Frames (pcap records, pcapng packet blocks) read.
    pub frames: u64,
    /// GRE packets yielded.
    pub gre: u64,
    /// Frames skipped because they are not GRE (other IP protocols, ARP, ...;
    /// with [`CaptureReader::frames`], neither ESP nor IKE-port UDP).
    pub not_gre: u64,
    /// ESP packets and IKE-port UDP datagrams yielded by
    /// [`CaptureReader::frames`].
    #[serde(skip_serializing_if = "is_zero")]
    pub ipsec: u64,
    /// Frames reported as a [`FrameError`].
    pub errors: u64,
    /// pcapng blocks other than packets that could not be parsed (ignored).
    pub unreadable_blocks: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

type BoxedRead = Box<dyn Read>;

enum Source {
    Pcap {
        reader: PcapReader<BoxedRead>,
        link: DataLink,
    },
    PcapNg(PcapNgReader<BoxedRead>),
}

/// Iterator over the GRE frames of a capture.
pub struct CaptureReader {
    source: Source,
    stats: CaptureStats,
    /// Set once the file is damaged beyond the current record.
    done: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Every frame result of a capture, and the counts.
#[derive(Debug)]
pub struct Capture {
    pub frames: Vec<Result<GreFrame, FrameError>>,
    pub stats: CaptureStats,
}

/// Reads a whole capture file.
pub fn read_file(path: &Path) -> Result<Capture, CaptureError> {
    let mut reader = CaptureReader::open(path)?;
    let frames = reader.by_ref().collect();
    Ok(Capture {
        frames,
        stats: reader.stats(),
    })
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let file = File::open(path).map_err(CaptureError::Io)?;
        CaptureReader::new(BufReader::new(file))
    }

    /// Detects pcap or pcapng by the magic number and reads the file header.
    pub fn new(mut input: impl Read + 'static) -> Result<CaptureReader, CaptureError> {
        let mut magic = [0u8; 4];
        input.read_exact(&mut magic).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => CaptureError::TooShort,
            _ => CaptureError::Io(e),
        })?;
        let input: BoxedRead = Box::new(Cursor::new(magic).chain(input));
        let source = if magic == PCAPNG_MAGIC {
            Source::PcapNg(PcapNgReader::new(input).map_err(header_error)?)
        } else if PCAP_MAGICS.contains(&magic) {
            let reader = PcapReader::new(input).map_err(header_error)?;
            let link = reader.header().datalink;
            if !is_supported(link) {
                return Err(CaptureError::UnsupportedLinkType(link));
            }
            Source::Pcap { reader, link }
        } else {
            return Err(CaptureError::NotACapture(magic));
        };
        Ok(CaptureReader {
            source,
            stats: CaptureStats::default(),
            done: false,
        })
    }

    pub fn format(&self) -> CaptureFormat {
        match self.source {
            Source::Pcap { .. } => CaptureFormat::Pcap,
            Source::PcapNg(_) => CaptureFormat::PcapNg,
        }
    }

    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// Iterates over GRE and IPsec frames alike (the plain iterator yields
    /// GRE only).
    pub fn frames(&mut self) -> Frames<'_> {
        Frames { reader: self }
    }

    /// The next GRE frame, or with `ipsec` the next GRE or IPsec frame.
    fn next_wanted(&mut self, ipsec: bool) -> Option<Result<Frame, FrameError>> {
        loop {
            if self.done {
                return None;
            }
            let frame = self.next_frame()?;
            self.stats.frames += 1;
            let number = self.stats.frames;
            let result = frame
                .map_err(|kind| FrameError {
                    frame: number,
                    outer: None,
                    kind,
                })
                .and_then(|(link, data)| outer::frame_from_link(number, link, &data, ipsec));
            match result {
                Ok(Some(frame)) => {
                    match frame {
                        Frame::Gre(_) => self.stats.gre += 1,
                        Frame::Ipsec(_) => self.stats.ipsec += 1,
                    }
                    return Some(Ok(frame));
                }
                Ok(None) => self.stats.not_gre += 1,
                Err(e) => {
                    self.stats.errors += 1;
                    return Some(Err(e));
                }
            }
        }
    }

    /// The next frame: its link type and captured bytes, or why it could
    /// not be read. `None` at the end of the file.
    fn next_frame(&mut self) -> Option<Result<(DataLink, Vec<u8>), FrameErrorKind>> {
        match &mut self.source {
            Source::Pcap { reader, link } => match reader.next_raw_packet()? {
                Ok(packet) => Some(Ok((*link, packet.data.into_owned()))),
                Err(e) => {
                    self.done = true;
                    Some(Err(FrameErrorKind::Capture(describe(&e))))
                }
            },
            Source::PcapNg(reader) => next_pcapng_frame(reader, &mut self.stats, &mut self.done),
        }
    }
}

impl Iterator for CaptureReader {
    type Item = Result<GreFrame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            return match self.next_wanted(false)? {
                Ok(Frame::Gre(gre)) => Some(Ok(gre)),
                // Never yielded without `ipsec`.
                Ok(Frame::Ipsec(_)) => continue,
                Err(e) => Some(Err(e)),
            };
        }
    }
}

/// Iterator over the GRE and IPsec frames of a capture
/// ([`CaptureReader::frames`]).
#[derive(Debug)]
pub struct Frames<'a> {
    reader: &'a mut CaptureReader,
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next_wanted(true)
    }
}

fn header_error(e: pcap_file::PcapError) -> CaptureError {
    match e {
        pcap_file::PcapError::IoError(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
            CaptureError::Io(e)
        }
        e => CaptureError::Header(describe(&e)),
    }
}

/// pcap-file's messages, with the I/O cause it keeps as a source.
fn describe(e: &pcap_file::PcapError) -> String {
    match e {
        pcap_file::PcapError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "the file ends inside a record".to_string()
        }
        pcap_file::PcapError::IoError(io) => format!("read error: {io}"),
        e => e.to_string(),
    }
}

fn is_supported(link: DataLink) -> bool {
    matches!(
        link,
        DataLink::ETHERNET
            | DataLink::LINUX_SLL
            | DataLink::LINUX_SLL2
            | DataLink::RAW
            | DataLink::IPV4
            | DataLink::IPV6
    )
}

/// The next packet block of a pcapng file (Enhanced, Simple or the obsolete
/// Packet block), with the link type of its interface.
fn next_pcapng_frame(
    reader: &mut PcapNgReader<BoxedRead>,
    stats: &mut CaptureStats,
    done: &mut bool,
) -> Option<Result<(DataLink, Vec<u8>), FrameErrorKind>> {
    loop {
        // (interface id, captured bytes); the block borrows the reader.
        let (interface, data) = match reader.next_block()? {
            Ok(Block::EnhancedPacket(b)) => (b.interface_id, b.data.into_owned()),
            Ok(Block::Packet(b)) => (u32::from(b.interface_id), b.data.into_owned()),
            Ok(Block::SimplePacket(b)) => {
                // The block has no captured length: the data runs to the
                // end of the block, padding included (pcapng, 4.4).
                let len = usize::try_from(b.original_len).unwrap_or(usize::MAX);
                let mut data = b.data.into_owned();
                data.truncate(len);
                (0, data)
            }
            Ok(_) => continue,
            Err(e) => {
                // The block's framing may be fine and only its body bad:
                // step over it as a raw block and go on.
                let message = describe(&e);
                return match reader.next_raw_block() {
                    Some(Ok(raw)) if is_packet_block(raw.type_) => {
                        Some(Err(FrameErrorKind::Block(message)))
                    }
                    Some(Ok(_)) => {
                        stats.unreadable_blocks += 1;
                        continue;
                    }
                    _ => {
                        *done = true;
                        Some(Err(FrameErrorKind::Capture(message)))
                    }
                };
            }
        };
        let Some(idb) = reader.interfaces().get(interface as usize) else {
            return Some(Err(FrameErrorKind::UnknownInterface(interface)));
        };
        let mut data = data;
        if idb.snaplen != 0 {
            data.truncate(usize::try_from(idb.snaplen).unwrap_or(usize::MAX));
        }
        return Some(Ok((idb.linktype, data)));
    }
}

fn is_packet_block(ty: u32) -> bool {
    use pcap_file::pcapng::blocks::{ENHANCED_PACKET_BLOCK, PACKET_BLOCK, SIMPLE_PACKET_BLOCK};
    matches!(
        ty,
        ENHANCED_PACKET_BLOCK | PACKET_BLOCK | SIMPLE_PACKET_BLOCK
    )
}

mod outer;
#[cfg(test)]
mod tests;
