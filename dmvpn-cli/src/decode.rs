//! Decoding the GRE frames of a capture: GRE header, then NHRP when the GRE
//! protocol type says so (0x2001), and the byte-exact round-trip check; and
//! the IPsec frames: IKEv2 messages and ESP headers ([`ipsec`]).
//!
//! One [`FrameRecord`] per GRE or IPsec frame, serialized as one JSON line. A frame
//! that does not decode carries an `error` naming the layer; it never stops
//! the walk over the capture.

use std::io::{self, Write};

use etherparse::LaxIpSlice;
use holo_dmvpn::packet::gre::{GreProtocol, GreRepr};
use holo_nhrp::packet::Packet;
use serde::Serialize;

use crate::capture::{
    CaptureReader, CaptureStats, Frame, FrameError, FrameErrorKind, GreFrame, OuterIp,
};

pub mod ipsec;

pub use ipsec::{EspRecord, UdpPorts};

/// Offset of ar$pktsz in the NHRP fixed header (RFC 2332, 5.2.0.1).
const NHRP_PACKET_SIZE: usize = 10;

/// The layer at which a frame stopped decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Capture,
    Link,
    Ip,
    Gre,
    Nhrp,
    Udp,
    Ike,
    Esp,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Capture => "capture",
            Layer::Link => "link",
            Layer::Ip => "ip",
            Layer::Gre => "gre",
            Layer::Nhrp => "nhrp",
            Layer::Udp => "udp",
            Layer::Ike => "ike",
            Layer::Esp => "esp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerError {
    pub layer: Layer,
    pub message: String,
}

/// A GRE payload other than NHRP: its size, and for IPv4/IPv6 the inner
/// header an operator looks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PayloadSummary {
    /// "IPv4", "IPv6", or the protocol type in hex.
    pub protocol: String,
    pub length: usize,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub inner: Option<InnerIp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InnerIp {
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub ttl: u8,
    /// The IP protocol number of the inner packet (1 = ICMP, 6 = TCP, ...).
    pub ip_protocol: u8,
}

/// Everything decoded from one frame: one line of `dmvpn-cli decode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrameRecord {
    pub frame: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outer: Option<OuterIp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gre: Option<GreRepr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nhrp: Option<Packet>,
    /// Bytes of the GRE payload after the NHRP packet (after ar$pktsz).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "holo_utils::hex::serialize"
    )]
    pub trailing_bytes: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadSummary>,
    /// The UDP ports of an IKE message or UDP-encapsulated ESP packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpPorts>,
    /// An IKEv2 message (UDP 500, or 4500 after the non-ESP marker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ike: Option<holo_ike::packet::Message>,
    /// An ESP header (IP protocol 50, or UDP 4500 without the marker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub esp: Option<EspRecord>,
    /// A NAT-keepalive on UDP 4500 (RFC 3948, 2.3).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nat_keepalive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LayerError>,
}

impl FrameRecord {
    /// A record with nothing decoded yet.
    pub fn new(frame: u64, outer: Option<OuterIp>) -> FrameRecord {
        FrameRecord {
            frame,
            outer,
            gre: None,
            nhrp: None,
            trailing_bytes: Vec::new(),
            payload: None,
            udp: None,
            ike: None,
            esp: None,
            nat_keepalive: false,
            error: None,
        }
    }
}

/// ar$pktsz, when the payload is long enough to hold it.
fn nhrp_packet_size(payload: &[u8]) -> Option<usize> {
    let bytes = payload.get(NHRP_PACKET_SIZE..NHRP_PACKET_SIZE + 2)?;
    Some(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
}

/// Decodes the GRE header and, for protocol NHRP, the NHRP packet.
pub fn decode_frame(frame: &GreFrame) -> FrameRecord {
    let mut record = FrameRecord::new(frame.frame, Some(frame.outer));
    let (gre, payload) = match GreRepr::parse(&frame.gre) {
        Ok(parsed) => parsed,
        Err(e) => {
            record.error = Some(LayerError {
                layer: Layer::Gre,
                message: e.to_string(),
            });
            return record;
        }
    };
    if gre.protocol == GreProtocol::NHRP {
        match Packet::decode(payload) {
            Ok(packet) => {
                let size = nhrp_packet_size(payload).unwrap_or(payload.len());
                record.trailing_bytes = payload.get(size..).unwrap_or_default().to_vec();
                record.nhrp = Some(packet);
            }
            Err(e) => {
                record.error = Some(LayerError {
                    layer: Layer::Nhrp,
                    message: e.to_string(),
                })
            }
        }
    } else {
        record.payload = Some(summarize_payload(gre.protocol, payload));
    }
    record.gre = Some(gre);
    record
}

fn summarize_payload(protocol: GreProtocol, payload: &[u8]) -> PayloadSummary {
    let inner = (protocol == GreProtocol::IPV4 || protocol == GreProtocol::IPV6)
        .then(|| LaxIpSlice::from_slice(payload).ok())
        .flatten()
        .map(|(ip, _)| InnerIp {
            src: ip.source_addr(),
            dst: ip.destination_addr(),
            ttl: match &ip {
                LaxIpSlice::Ipv4(v4) => v4.header().ttl(),
                LaxIpSlice::Ipv6(v6) => v6.header().hop_limit(),
            },
            ip_protocol: ip.payload_ip_number().0,
        });
    PayloadSummary {
        protocol: match protocol.name() {
            Some(name) => name.to_string(),
            None => format!("{:#06x}", protocol.0),
        },
        length: payload.len(),
        inner,
    }
}

/// The record of a frame that did not get as far as GRE.
pub fn error_record(error: &FrameError) -> FrameRecord {
    FrameRecord {
        error: Some(LayerError {
            layer: frame_error_layer(error),
            message: error.kind.to_string(),
        }),
        ..FrameRecord::new(error.frame, error.outer)
    }
}

fn frame_error_layer(error: &FrameError) -> Layer {
    match error.kind {
        FrameErrorKind::Capture(_)
        | FrameErrorKind::Block(_)
        | FrameErrorKind::UnknownInterface(_) => Layer::Capture,
        FrameErrorKind::UnsupportedLinkType(_) | FrameErrorKind::LinkTruncated { .. } => {
            Layer::Link
        }
        FrameErrorKind::Ip(_)
        | FrameErrorKind::Truncated { .. }
        | FrameErrorKind::Fragment
        | FrameErrorKind::IpsecTruncated { .. }
        | FrameErrorKind::IpsecFragment => Layer::Ip,
        FrameErrorKind::Udp(_) => Layer::Udp,
    }
}

/// Where re-encoding first departs from the original bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    pub offset: usize,
    /// The original byte; `None` when the original ends there.
    pub expected: Option<u8>,
    /// The re-encoded byte; `None` when the re-encoding ends there.
    pub actual: Option<u8>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let byte = |b: Option<u8>| b.map_or("end of packet".to_string(), |b| format!("{b:#04x}"));
        write!(
            f,
            "first difference at offset {}: expected {}, actual {}",
            self.offset,
            byte(self.expected),
            byte(self.actual)
        )
    }
}

/// The first difference between two byte strings, `None` when equal.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> Option<Difference> {
    let offset = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    (expected != actual).then(|| Difference {
        offset,
        expected: expected.get(offset).copied(),
        actual: actual.get(offset).copied(),
    })
}

/// The outcome of re-encoding one layer of one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    Exact,
    /// It did not decode, so there is nothing to re-encode.
    Undecodable(String),
    /// It decoded, but the value could not be encoded back.
    Unencodable(String),
    /// It decoded and encoded back to different bytes.
    Mismatch(Difference),
}

impl Check {
    /// A packet that decodes but does not come back byte-exact.
    pub fn is_failure(&self) -> bool {
        matches!(self, Check::Unencodable(_) | Check::Mismatch(_))
    }
}

/// Round-trip of one GRE frame: `emit(parse(gre)) == gre`, and for NHRP
/// `encode(decode(payload)) == payload[..ar$pktsz]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roundtrip {
    pub gre: Check,
    /// `None` when the GRE payload is not NHRP or GRE did not decode.
    pub nhrp: Option<Check>,
}

pub fn check_roundtrip(frame: &GreFrame) -> Roundtrip {
    let (gre, payload) = match GreRepr::parse(&frame.gre) {
        Ok(parsed) => parsed,
        Err(e) => {
            return Roundtrip {
                gre: Check::Undecodable(e.to_string()),
                nhrp: None,
            };
        }
    };
    let gre_check = match first_difference(&frame.gre, &gre.emit(payload)) {
        None => Check::Exact,
        Some(d) => Check::Mismatch(d),
    };
    let nhrp = (gre.protocol == GreProtocol::NHRP).then(|| match Packet::decode(payload) {
        Err(e) => Check::Undecodable(e.to_string()),
        Ok(packet) => match packet.encode() {
            Err(e) => Check::Unencodable(e.to_string()),
            Ok(bytes) => {
                let size = nhrp_packet_size(payload).unwrap_or(payload.len());
                let original = payload.get(..size).unwrap_or(payload);
                match first_difference(original, &bytes) {
                    None => Check::Exact,
                    Some(d) => Check::Mismatch(d),
                }
            }
        },
    });
    Roundtrip {
        gre: gre_check,
        nhrp,
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    pub check_roundtrip: bool,
    /// Frames that do not decode at all are listed, but are no failure.
    pub allow_undecodable: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundtripSummary {
    /// GRE packets that re-encode byte-exact.
    pub gre_exact: u64,
    /// NHRP packets that re-encode byte-exact.
    pub nhrp_exact: u64,
    /// IKE messages that re-encode byte-exact.
    pub ike_exact: u64,
    /// ESP headers that re-encode byte-exact.
    pub esp_exact: u64,
    /// Frames with a layer that does not decode.
    pub undecodable: u64,
    /// Packets that decode but do not re-encode byte-exact.
    pub failures: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeSummary {
    pub capture: CaptureStats,
    /// NHRP packets that decoded.
    pub nhrp: u64,
    /// IKE messages that decoded.
    pub ike: u64,
    /// ESP headers that decoded.
    pub esp: u64,
    /// Lines with an error (capture, link, IP, GRE or NHRP).
    pub errors: u64,
    pub roundtrip: Option<RoundtripSummary>,
}

impl DecodeSummary {
    /// Whether `--check-roundtrip` found a reason to fail.
    pub fn roundtrip_failed(&self, options: &DecodeOptions) -> bool {
        self.roundtrip
            .is_some_and(|r| r.failures > 0 || (r.undecodable > 0 && !options.allow_undecodable))
    }
}

/// Decodes a whole capture: a JSON line per GRE or IPsec frame to `out`; with
/// `check_roundtrip`, one line per undecodable or failing packet and the
/// verdict to `diag`; then the summary line to `diag`.
pub fn decode_capture(
    capture: &mut CaptureReader,
    options: &DecodeOptions,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> io::Result<DecodeSummary> {
    let mut summary = DecodeSummary::default();
    let mut roundtrip = RoundtripSummary::default();
    for result in capture.frames() {
        // The layer the round-trip check starts at: GRE, IKE or ESP, or the
        // layer that stopped the frame before them.
        let (record, checked, first_layer) = match &result {
            Ok(Frame::Gre(frame)) => (
                decode_frame(frame),
                options.check_roundtrip.then(|| check_roundtrip(frame)),
                Layer::Gre,
            ),
            Ok(Frame::Ipsec(frame)) => {
                let checked = options
                    .check_roundtrip
                    .then(|| ipsec::check_roundtrip(frame))
                    .flatten();
                let layer = checked.as_ref().map_or(Layer::Ike, |(layer, _)| *layer);
                let checked = checked.map(|(_, check)| Roundtrip {
                    gre: check,
                    nhrp: None,
                });
                (ipsec::decode_frame(frame), checked, layer)
            }
            Err(e) => {
                let checked = options.check_roundtrip.then(|| Roundtrip {
                    gre: Check::Undecodable(e.kind.to_string()),
                    nhrp: None,
                });
                (error_record(e), checked, frame_error_layer(e))
            }
        };
        summary.nhrp += u64::from(record.nhrp.is_some());
        summary.ike += u64::from(record.ike.is_some());
        summary.esp += u64::from(record.esp.is_some());
        summary.errors += u64::from(record.error.is_some());
        serde_json::to_writer(&mut *out, &record)?;
        writeln!(out)?;
        if let Some(checked) = checked {
            report_roundtrip(
                record.frame,
                first_layer,
                &checked,
                options,
                &mut roundtrip,
                diag,
            )?;
        }
    }
    summary.capture = capture.stats();
    let stats = summary.capture;
    if options.check_roundtrip {
        summary.roundtrip = Some(roundtrip);
        if summary.roundtrip_failed(options) {
            writeln!(
                diag,
                "roundtrip FAILED: {} packets not byte-exact, {} frames undecodable{}",
                roundtrip.failures,
                roundtrip.undecodable,
                if options.allow_undecodable {
                    " (allowed)"
                } else {
                    ""
                }
            )?;
        } else {
            write!(
                diag,
                "roundtrip ok: {} GRE, {} NHRP packets byte-exact",
                roundtrip.gre_exact, roundtrip.nhrp_exact
            )?;
            if stats.ipsec > 0 {
                write!(
                    diag,
                    "; {} IKE messages, {} ESP headers byte-exact",
                    roundtrip.ike_exact, roundtrip.esp_exact
                )?;
            }
            writeln!(diag)?;
        }
    }
    write!(
        diag,
        "summary: {} frames read, {} GRE packets, {} NHRP packets, {} errors, {} non-GRE frames skipped",
        stats.frames, stats.gre, summary.nhrp, summary.errors, stats.not_gre
    )?;
    if stats.ipsec > 0 {
        write!(
            diag,
            "; {} IPsec frames: {} IKE messages, {} ESP packets",
            stats.ipsec, summary.ike, summary.esp
        )?;
    }
    writeln!(diag)?;
    Ok(summary)
}

/// One stderr line per layer that is not byte-exact, and the counts.
fn report_roundtrip(
    frame: u64,
    first_layer: Layer,
    checked: &Roundtrip,
    options: &DecodeOptions,
    counts: &mut RoundtripSummary,
    diag: &mut dyn Write,
) -> io::Result<()> {
    let layers = [
        (first_layer, Some(&checked.gre)),
        (Layer::Nhrp, checked.nhrp.as_ref()),
    ];
    let mut undecodable = false;
    for (layer, check) in layers {
        let name = layer.name();
        let Some(check) = check else { continue };
        match check {
            Check::Exact if layer == Layer::Nhrp => counts.nhrp_exact += 1,
            Check::Exact if layer == Layer::Ike => counts.ike_exact += 1,
            Check::Exact if layer == Layer::Esp => counts.esp_exact += 1,
            Check::Exact => counts.gre_exact += 1,
            Check::Undecodable(m) if options.allow_undecodable => {
                undecodable = true;
                writeln!(diag, "undecodable: frame {frame}: {name}: {m}")?;
            }
            Check::Undecodable(m) => {
                undecodable = true;
                writeln!(
                    diag,
                    "roundtrip: frame {frame}: {name}: does not decode: {m}"
                )?;
            }
            Check::Unencodable(m) => {
                counts.failures += 1;
                writeln!(
                    diag,
                    "roundtrip: frame {frame}: {name}: decodes but does not encode: {m}"
                )?;
            }
            Check::Mismatch(d) => {
                counts.failures += 1;
                writeln!(
                    diag,
                    "roundtrip: frame {frame}: {name}: not byte-exact: {d}"
                )?;
            }
        }
    }
    counts.undecodable += u64::from(undecodable);
    Ok(())
}

#[cfg(test)]
mod tests;
