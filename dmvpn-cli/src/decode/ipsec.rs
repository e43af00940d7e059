//! Decoding the IPsec frames of a capture: IKEv2 messages on UDP 500, and on
//! UDP 4500 after the non-ESP marker; ESP headers in IP protocol 50, and on
//! UDP 4500 without the marker (RFC 3948, 2); NAT-keepalives.

use holo_ike::packet::udp_encap::NAT_T_PORT;
use holo_ike::packet::{EspRepr, HeaderView, Message, UdpEncapsulated};
use serde::Serialize;

use super::{Check, FrameRecord, Layer, LayerError, first_difference};
use crate::capture::{IpsecCarrier, IpsecFrame};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UdpPorts {
    pub src_port: u16,
    pub dst_port: u16,
}

/// An ESP header and how much opaque data follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EspRecord {
    /// In hex, as `show crypto ipsec sa` prints it.
    #[serde(serialize_with = "spi_hex")]
    pub spi: u32,
    pub sequence: u32,
    /// IV, ciphertext, padding and ICV.
    pub payload_length: usize,
}

fn spi_hex<S: serde::Serializer>(spi: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{spi:#010x}"))
}

/// What the frame carries, once the UDP encapsulation is taken off.
enum Content<'a> {
    Ike(&'a [u8]),
    Esp(&'a [u8]),
    NatKeepalive,
}

fn content(frame: &IpsecFrame) -> Result<Content<'_>, String> {
    match frame.carrier {
        IpsecCarrier::Esp => Ok(Content::Esp(&frame.data)),
        IpsecCarrier::Udp { src_port, dst_port }
            if src_port == NAT_T_PORT || dst_port == NAT_T_PORT =>
        {
            match UdpEncapsulated::classify(&frame.data) {
                Ok(UdpEncapsulated::Ike(ike)) => Ok(Content::Ike(ike)),
                Ok(UdpEncapsulated::Esp(esp)) => Ok(Content::Esp(esp)),
                Ok(UdpEncapsulated::NatKeepalive) => Ok(Content::NatKeepalive),
                Err(e) => Err(e.to_string()),
            }
        }
        IpsecCarrier::Udp { .. } => Ok(Content::Ike(&frame.data)),
    }
}

/// The length an IKE message claims, within the bytes there are.
fn ike_length(ike: &[u8]) -> usize {
    HeaderView::new(ike)
        .and_then(|v| usize::try_from(v.length()).ok())
        .map_or(ike.len(), |l| l.min(ike.len()))
}

/// Decodes one IPsec frame into its JSON line.
pub fn decode_frame(frame: &IpsecFrame) -> FrameRecord {
    let mut record = FrameRecord::new(frame.frame, Some(frame.outer));
    if let IpsecCarrier::Udp { src_port, dst_port } = frame.carrier {
        record.udp = Some(UdpPorts { src_port, dst_port });
    }
    let error = |layer, message: String| Some(LayerError { layer, message });
    match content(frame) {
        Err(e) => record.error = error(Layer::Udp, e),
        Ok(Content::NatKeepalive) => record.nat_keepalive = true,
        Ok(Content::Ike(ike)) => match Message::parse(ike) {
            Ok(message) => {
                record.trailing_bytes = ike[ike_length(ike)..].to_vec();
                record.ike = Some(message);
            }
            Err(e) => record.error = error(Layer::Ike, e.to_string()),
        },
        Ok(Content::Esp(esp)) => match EspRepr::parse(esp) {
            Ok((header, payload)) => {
                record.esp = Some(EspRecord {
                    spi: header.spi,
                    sequence: header.sequence,
                    payload_length: payload.len(),
                })
            }
            Err(e) => record.error = error(Layer::Esp, e.to_string()),
        },
    }
    record
}

/// Round-trip of one IPsec frame: `emit(parse(x)) == x` for the IKE message
/// (up to its Length) or the ESP packet, with the layer checked; `None` for
/// a NAT-keepalive, which has nothing to re-encode.
pub fn check_roundtrip(frame: &IpsecFrame) -> Option<(Layer, Check)> {
    let compare = |original: &[u8], emitted: &[u8]| match first_difference(original, emitted) {
        None => Check::Exact,
        Some(d) => Check::Mismatch(d),
    };
    match content(frame) {
        Err(e) => Some((Layer::Udp, Check::Undecodable(e))),
        Ok(Content::NatKeepalive) => None,
        Ok(Content::Ike(ike)) => Some((
            Layer::Ike,
            match Message::parse(ike) {
                Err(e) => Check::Undecodable(e.to_string()),
                Ok(message) => match message.emit() {
                    Err(e) => Check::Unencodable(e.to_string()),
                    Ok(bytes) => compare(&ike[..ike_length(ike)], &bytes),
                },
            },
        )),
        Ok(Content::Esp(esp)) => Some((
            Layer::Esp,
            match EspRepr::parse(esp) {
                Err(e) => Check::Undecodable(e.to_string()),
                Ok((header, payload)) => compare(esp, &header.emit(payload)),
            },
        )),
    }
}

#[cfg(test)]
mod tests;
