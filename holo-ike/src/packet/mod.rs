//! IKEv2 and ESP wire codecs.
//!
//! [`Message`] is an IKEv2 message (RFC 7296, 3): parse bytes into it, build
//! or change it, emit it back. Everything a valid message carries is kept —
//! reserved bits, unknown payloads, the opaque ciphertext of SK and SKF —
//! so that `emit(parse(x)) == x` byte for byte. Lengths, counts, SPI sizes,
//! Last Substruc and Next Payload fields are derived when emitting, and
//! checked when parsing.
//!
//! One file per wire format: [`header`], the generic [`payload`] header and
//! chain, then one per payload ([`sa`], [`key_exchange`],
//! [`identification`], [`certificate`], [`authentication`], [`notify`],
//! [`delete`], [`traffic_selector`], [`encrypted`]); [`esp`] and the UDP
//! encapsulation of NAT traversal ([`udp_encap`]).
//!
//! Parsing never panics, checks every length before slicing, and bounds
//! what a message can make us allocate ([`payload::MAX_PAYLOADS`],
//! [`sa::MAX_PROPOSALS`], ...): each element it allocates is backed by
//! bytes of the input.

pub mod authentication;
pub mod certificate;
pub mod delete;
pub mod encrypted;
pub mod error;
pub mod esp;
pub mod header;
pub mod identification;
pub mod key_exchange;
pub mod notify;
pub mod payload;
mod registry;
pub mod sa;
pub mod traffic_selector;
pub mod udp_encap;

#[cfg(test)]
mod tests;

use holo_utils::bytes::{Reader, Truncated};
use serde::{Serialize, Serializer};

pub use authentication::{AuthMethod, Authentication};
pub use certificate::{Certificate, CertificateEncoding};
pub use delete::{Delete, Spi};
pub use encrypted::{Encrypted, EncryptedFragment};
pub use error::{DecodeError, EncodeError};
pub use esp::{EspPacket, EspRepr};
pub use header::{ExchangeType, Flags, HeaderView};
pub use identification::{IdType, Identification};
pub use key_exchange::KeyExchange;
pub use notify::{Notify, NotifyType};
pub use payload::{Opaque, Payload, PayloadBody, PayloadType, UnknownPayload};
pub use sa::{
    Attribute, AttributeType, AttributeValue, Proposal, ProtocolId, SecurityAssociation, Transform,
    TransformType,
};
pub use traffic_selector::{TrafficSelector, TrafficSelectors};
pub use udp_encap::UdpEncapsulated;

/// One IKEv2 message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    #[serde(serialize_with = "spi_hex")]
    pub spi_initiator: u64,
    #[serde(serialize_with = "spi_hex")]
    pub spi_responder: u64,
    /// MjVer: 2; `parse` takes no other.
    pub major_version: u8,
    /// MnVer: 0 from RFC 7296 senders; others kept.
    pub minor_version: u8,
    pub exchange_type: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
    /// In wire order; an Encrypted (Fragment) payload can only be last.
    pub payloads: Vec<Payload>,
}

fn spi_hex<S: Serializer>(spi: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{spi:016x}"))
}

impl Message {
    /// Parses the message at the start of `buf`. Bytes after its Length are
    /// ignored; [`HeaderView::length`] tells where they start.
    pub fn parse(buf: &[u8]) -> Result<Message, DecodeError> {
        let view = HeaderView::new(buf).ok_or(Truncated {
            field: "IKE header",
            offset: 0,
            needed: header::LEN,
            available: buf.len(),
        })?;
        if view.major_version() != header::MAJOR_VERSION {
            return Err(DecodeError::MajorVersion(view.major_version()));
        }
        let length = usize::try_from(view.length()).unwrap_or(usize::MAX);
        if length < header::LEN || length > buf.len() {
            return Err(DecodeError::Length {
                field: "message length",
                offset: header::LENGTH,
                length,
                reason: if length < header::LEN {
                    "shorter than the IKE header"
                } else {
                    "longer than the bytes available"
                },
            });
        }
        let mut r = Reader::with_base(&buf[header::LEN..length], header::LEN);
        let payloads = payload::decode_chain(PayloadType(view.next_payload()), &mut r)?;
        Ok(Message {
            spi_initiator: view.spi_initiator(),
            spi_responder: view.spi_responder(),
            major_version: view.major_version(),
            minor_version: view.minor_version(),
            exchange_type: view.exchange_type(),
            flags: view.flags(),
            message_id: view.message_id(),
            payloads,
        })
    }

    /// Emits the message, deriving Length and every Next Payload field.
    pub fn emit(&self) -> Result<Vec<u8>, EncodeError> {
        if self.major_version > 0x0f || self.minor_version > 0x0f {
            return Err(EncodeError::Invalid("versions are four bits each"));
        }
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&self.spi_initiator.to_be_bytes());
        buf.extend_from_slice(&self.spi_responder.to_be_bytes());
        // Next Payload and Length are filled in once the chain is known.
        buf.push(0);
        buf.push(self.major_version << 4 | self.minor_version);
        buf.push(self.exchange_type.0);
        buf.push(self.flags.0);
        buf.extend_from_slice(&self.message_id.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        let first = payload::encode_chain(&self.payloads, &mut buf)?;
        buf[header::NEXT_PAYLOAD] = first.0;
        let length = u32::try_from(buf.len()).map_err(|_| EncodeError::TooLong {
            field: "message",
            len: buf.len(),
            max: u32::MAX as usize,
        })?;
        buf[header::LENGTH..header::LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        Ok(buf)
    }

    /// The payloads of one type, in order.
    pub fn payloads_of(&self, ty: PayloadType) -> impl Iterator<Item = &Payload> {
        self.payloads
            .iter()
            .filter(move |p| p.body.payload_type() == ty)
    }
}
