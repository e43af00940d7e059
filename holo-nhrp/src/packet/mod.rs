//! NHRP wire codec (RFC 2332, 5, plus the Cisco DMVPN extensions).
//!
//! [`Packet`] is the high-level value: decode bytes into it, build or change
//! it, encode it back. Everything a valid packet carries is kept — reserved
//! fields, unknown extensions, bytes after the End extension — so that
//! `encode(decode(x)) == x` byte for byte. Lengths, offsets and the checksum
//! are derived when encoding; they are not fields of the value.
//!
//! A packet is a fixed header ([`header`]), a mandatory part ([`message`]:
//! message-specific fields, addresses, then CIEs ([`cie`]) or the offending
//! packet) and optional extensions ([`extension`]).

pub mod address;
pub mod cie;
pub mod error;
pub mod extension;
pub mod header;
pub mod message;

#[cfg(test)]
mod tests;

use holo_utils::bytes::Reader;
use holo_utils::checksum;
use serde::{Deserialize, Serialize};

pub use address::{Address, NbmaAddress};
pub use cie::{Cie, CieCode};
pub use error::{DecodeError, EncodeError};
pub use extension::{Authentication, Extension, ExtensionBody, VendorPrivate};
pub use header::{HeaderView, ProtocolType};
pub use message::{
    ErrorCode, ErrorIndication, Flags, Message, MessageType, RequestReply, TrafficIndication,
};

use address::type_length;
use error::fits;

/// One NHRP packet.
///
/// JSON (`Deserialize`) reads what `Serialize` writes, so that tests can
/// write packets by hand; `afn` and `protocol` default to IPv4, fields the
/// output omits when empty may be omitted, and lengths, offsets and the
/// checksum are computed by `encode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    /// ar$afn: address family of the NBMA addresses (`header::afn`).
    #[serde(default = "ipv4_afn")]
    pub afn: u16,
    #[serde(default = "ipv4_protocol")]
    pub protocol: ProtocolType,
    pub hop_count: u8,
    pub src_nbma: NbmaAddress,
    #[serde(default, skip_serializing_if = "is_absent")]
    pub src_nbma_subaddress: NbmaAddress,
    pub src_protocol: Address,
    pub dst_protocol: Address,
    #[serde(flatten)]
    pub message: Message,
    /// In wire order; the End extension, when present, is the last one.
    pub extensions: Vec<Extension>,
    /// Bytes after the End extension, inside ar$pktsz.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "holo_utils::hex::serialize",
        deserialize_with = "holo_utils::hex::deserialize"
    )]
    pub trailer: Vec<u8>,
}

fn ipv4_afn() -> u16 {
    header::afn::IPV4
}

fn ipv4_protocol() -> ProtocolType {
    ProtocolType::IPV4
}

fn is_absent(a: &NbmaAddress) -> bool {
    a.address.is_empty() && !a.e164
}

impl Packet {
    pub fn message_type(&self) -> MessageType {
        self.message.message_type()
    }

    /// The first extension of the given type number.
    pub fn extension(&self, ty: u16) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.body.type_number() == ty)
    }

    /// The Cisco cleartext authentication password, when the packet has one.
    pub fn cleartext_password(&self) -> Option<&[u8]> {
        self.extensions.iter().find_map(|e| match &e.body {
            ExtensionBody::Authentication(a) => a.cleartext_password(),
            _ => None,
        })
    }

    /// Decodes the packet at the start of `buf`. Bytes after ar$pktsz (link
    /// padding) are ignored; use [`HeaderView::packet_size`] to find them.
    /// The checksum is verified.
    pub fn decode(buf: &[u8]) -> Result<Packet, DecodeError> {
        let view = HeaderView::new(buf).ok_or(holo_utils::bytes::Truncated {
            field: "fixed header",
            offset: 0,
            needed: header::LEN,
            available: buf.len(),
        })?;
        let size = view.packet_size();
        if usize::from(size) < header::LEN || usize::from(size) > buf.len() {
            return Err(DecodeError::PacketSize {
                size,
                available: buf.len(),
            });
        }
        let buf = &buf[..size.into()];
        if !checksum::verify(buf) {
            let mut zeroed = buf.to_vec();
            zeroed[header::CHECKSUM..header::CHECKSUM + 2].fill(0);
            return Err(DecodeError::Checksum {
                found: view.checksum(),
                computed: checksum::internet_checksum(&zeroed),
            });
        }
        if view.version() != header::VERSION_RFC2332 {
            return Err(DecodeError::Version(view.version()));
        }
        let ty = MessageType::from_u8(view.packet_type())
            .ok_or(DecodeError::UnknownType(view.packet_type()))?;
        let protocol = ProtocolType::from_wire(view.protocol_type(), view.protocol_snap())?;
        let mut r = Reader::with_base(&buf[header::SHTL..], header::SHTL);
        let shtl = get_type_length(&mut r, "source NBMA address type/length")?;
        let sstl = get_type_length(&mut r, "source NBMA subaddress type/length")?;

        // Mandatory part: where it ends depends on ar$extoff.
        let mandatory_start = header::LEN;
        let extoff = view.extension_offset();
        let mandatory_end = if extoff == 0 {
            buf.len()
        } else {
            usize::from(extoff)
        };
        let mut extensions_part = Reader::with_base(&[], buf.len());
        let mut r = if extoff == 0 {
            Reader::with_base(&buf[mandatory_start..], mandatory_start)
        } else {
            // The first extension must exist: at least its 4-octet header.
            let max = buf.len().saturating_sub(4);
            if mandatory_end < mandatory_start + 8 || mandatory_end > max {
                return Err(DecodeError::ExtensionOffset {
                    extoff,
                    min: mandatory_start + 8,
                    max: max + 1,
                });
            }
            extensions_part = Reader::with_base(&buf[mandatory_end..], mandatory_end);
            Reader::with_base(&buf[mandatory_start..mandatory_end], mandatory_start)
        };

        let src_proto_len = r.u8("source protocol address length")?;
        let dst_proto_len = r.u8("destination protocol address length")?;
        let word_a = r.u16(if ty == MessageType::ErrorIndication {
            "unused"
        } else {
            "flags"
        })?;
        let word_b = r.u16("request id / error code")?;
        let word_c = r.u16("request id / error offset")?;
        let src_nbma = get_nbma(&mut r, shtl, "source NBMA address")?;
        let src_nbma_subaddress = get_nbma(&mut r, sstl, "source NBMA subaddress")?;
        let src_protocol =
            Address::from_bytes(r.bytes(src_proto_len.into(), "source protocol address")?);
        let dst_protocol =
            Address::from_bytes(r.bytes(dst_proto_len.into(), "destination protocol address")?);
        let request_reply = |r: &mut Reader<'_>| -> Result<RequestReply, DecodeError> {
            Ok(RequestReply {
                flags: Flags(word_a),
                request_id: u32::from(word_b) << 16 | u32::from(word_c),
                cies: Cie::decode_all(r)?,
            })
        };
        let message = match ty {
            MessageType::ResolutionRequest => Message::ResolutionRequest(request_reply(&mut r)?),
            MessageType::ResolutionReply => Message::ResolutionReply(request_reply(&mut r)?),
            MessageType::RegistrationRequest => {
                Message::RegistrationRequest(request_reply(&mut r)?)
            }
            MessageType::RegistrationReply => Message::RegistrationReply(request_reply(&mut r)?),
            MessageType::PurgeRequest => Message::PurgeRequest(request_reply(&mut r)?),
            MessageType::PurgeReply => Message::PurgeReply(request_reply(&mut r)?),
            MessageType::ErrorIndication => Message::ErrorIndication(ErrorIndication {
                reserved: word_a,
                code: ErrorCode(word_b),
                error_offset: word_c,
                packet: r.rest().to_vec(),
            }),
            MessageType::TrafficIndication => Message::TrafficIndication(TrafficIndication {
                reserved: word_a,
                traffic_code: word_b,
                reserved2: word_c,
                packet: r.rest().to_vec(),
            }),
        };

        // Extensions (RFC 2332, 5.3): until End or the end of the packet.
        let mut extensions = Vec::new();
        while !extensions_part.is_empty() {
            let ext = Extension::decode(&mut extensions_part)?;
            let end = ext.body == ExtensionBody::End;
            extensions.push(ext);
            if end {
                break;
            }
        }
        let trailer = extensions_part.rest().to_vec();

        Ok(Packet {
            afn: view.afn(),
            protocol,
            hop_count: view.hop_count(),
            src_nbma,
            src_nbma_subaddress,
            src_protocol,
            dst_protocol,
            message,
            extensions,
            trailer,
        })
    }

    /// Encodes the packet, computing ar$pktsz, ar$extoff and ar$chksum.
    ///
    /// The End extension may only come last, and a trailer needs an End
    /// extension before it: anything else would not decode to this value.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let end_at = self
            .extensions
            .iter()
            .position(|e| e.body == ExtensionBody::End);
        let ends_with_end = end_at.is_some_and(|at| at + 1 == self.extensions.len());
        if end_at.is_some() && !ends_with_end {
            return Err(EncodeError::Invalid(
                "the End extension must be the last one",
            ));
        }
        if !self.trailer.is_empty() && !ends_with_end {
            return Err(EncodeError::Invalid(
                "a trailer needs an End extension before it",
            ));
        }
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&self.afn.to_be_bytes());
        self.protocol.put(&mut buf);
        buf.push(self.hop_count);
        // ar$pktsz, ar$chksum and ar$extoff are filled in at the end.
        buf.extend_from_slice(&[0; 6]);
        buf.push(header::VERSION_RFC2332);
        buf.push(self.message_type() as u8);
        put_type_length(&mut buf, &self.src_nbma, "source NBMA address")?;
        put_type_length(
            &mut buf,
            &self.src_nbma_subaddress,
            "source NBMA subaddress",
        )?;

        fits("source protocol address", self.src_protocol.len(), 255)?;
        fits("destination protocol address", self.dst_protocol.len(), 255)?;
        buf.push(self.src_protocol.len() as u8);
        buf.push(self.dst_protocol.len() as u8);
        let (word_a, word_b, word_c) = match &self.message {
            Message::ErrorIndication(m) => (m.reserved, m.code.0, m.error_offset),
            Message::TrafficIndication(m) => (m.reserved, m.traffic_code, m.reserved2),
            other => {
                let m = other.request_reply().map(|m| (m.flags.0, m.request_id));
                let (flags, id) = m.unwrap_or_default();
                (flags, (id >> 16) as u16, id as u16)
            }
        };
        for word in [word_a, word_b, word_c] {
            buf.extend_from_slice(&word.to_be_bytes());
        }
        self.src_nbma.address.put(&mut buf);
        self.src_nbma_subaddress.address.put(&mut buf);
        self.src_protocol.put(&mut buf);
        self.dst_protocol.put(&mut buf);
        match &self.message {
            Message::ErrorIndication(m) => buf.extend_from_slice(&m.packet),
            Message::TrafficIndication(m) => buf.extend_from_slice(&m.packet),
            other => {
                for cie in other
                    .request_reply()
                    .map(|m| m.cies.as_slice())
                    .unwrap_or_default()
                {
                    cie.encode(&mut buf)?;
                }
            }
        }

        let extoff = if self.extensions.is_empty() {
            0
        } else {
            buf.len()
        };
        for ext in &self.extensions {
            ext.encode(&mut buf)?;
        }
        buf.extend_from_slice(&self.trailer);

        fits("packet", buf.len(), u16::MAX.into())?;
        let size = buf.len() as u16;
        buf[header::PACKET_SIZE..header::PACKET_SIZE + 2].copy_from_slice(&size.to_be_bytes());
        buf[header::EXTENSION_OFFSET..header::EXTENSION_OFFSET + 2]
            .copy_from_slice(&(extoff as u16).to_be_bytes());
        let sum = checksum::internet_checksum(&buf);
        buf[header::CHECKSUM..header::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
        Ok(buf)
    }
}

/// A type/length octet, checked for its reserved bit.
fn get_type_length(r: &mut Reader<'_>, field: &'static str) -> Result<u8, DecodeError> {
    let offset = r.offset();
    let tl = r.u8(field)?;
    if tl & type_length::RESERVED != 0 {
        return Err(DecodeError::ReservedBit {
            field,
            offset,
            value: tl.into(),
        });
    }
    Ok(tl)
}

/// The NBMA address a type/length octet announces.
fn get_nbma(r: &mut Reader<'_>, tl: u8, field: &'static str) -> Result<NbmaAddress, DecodeError> {
    let len = usize::from(tl & type_length::LEN_MASK);
    Ok(NbmaAddress {
        address: Address::from_bytes(r.bytes(len, field)?),
        e164: tl & type_length::E164 != 0,
    })
}

fn put_type_length(
    buf: &mut Vec<u8>,
    nbma: &NbmaAddress,
    field: &'static str,
) -> Result<(), EncodeError> {
    fits(field, nbma.address.len(), type_length::MAX_LEN)?;
    let ty = if nbma.e164 { type_length::E164 } else { 0 };
    buf.push(ty | nbma.address.len() as u8);
    Ok(())
}
