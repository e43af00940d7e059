//! The generic payload header and the payload chain (RFC 7296, 3.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The type of a payload is the Next Payload field of what comes before it
//! (the IKE header for the first). A [`Payload`] carries its own type (its
//! body variant); the Next Payload fields are derived when encoding, except
//! in the Encrypted and Encrypted Fragment payloads, which end the chain
//! and whose Next Payload names the first payload inside the ciphertext
//! (RFC 7296, 3.14; RFC 7383, 2.5).

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::authentication::Authentication;
use super::certificate::Certificate;
use super::delete::Delete;
use super::encrypted::{Encrypted, EncryptedFragment};
use super::error::{DecodeError, EncodeError, consumed, fits};
use super::identification::Identification;
use super::key_exchange::KeyExchange;
use super::notify::Notify;
use super::registry::registry;
use super::sa::SecurityAssociation;
use super::traffic_selector::TrafficSelectors;

pub const NEXT_PAYLOAD: usize = 0;
pub const FLAGS: usize = 1;
pub const LENGTH: usize = 2;
pub const HEADER_LEN: usize = 4;

/// The critical bit in the flags octet; the other seven bits are RESERVED.
pub const CRITICAL: u8 = 0x80;

/// At most this many payloads in one message: a real IKE_AUTH carries about
/// fifteen; a stranger must not make us hold thousands.
pub const MAX_PAYLOADS: usize = 128;

registry! {
    /// Payload Type (RFC 7296, 3.2; RFC 7383, 2.5 for SKF).
    PayloadType(u8) {
        NO_NEXT_PAYLOAD = 0,
        SA = 33,
        KE = 34,
        IDI = 35,
        IDR = 36,
        CERT = 37,
        CERTREQ = 38,
        AUTH = 39,
        NONCE = 40,
        N = 41,
        D = 42,
        V = 43,
        TSI = 44,
        TSR = 45,
        SK = 46,
        CP = 47,
        EAP = 48,
        GSPM = 49,
        SKF = 53,
    }
}

/// A zero-copy look at a generic payload header.
#[derive(Clone, Copy, Debug)]
pub struct PayloadHeaderView<'a> {
    buf: &'a [u8; HEADER_LEN],
}

impl<'a> PayloadHeaderView<'a> {
    pub fn new(buf: &'a [u8]) -> Option<Self> {
        buf.get(..HEADER_LEN)?
            .try_into()
            .ok()
            .map(|buf| PayloadHeaderView { buf })
    }

    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buf[NEXT_PAYLOAD])
    }

    pub fn critical(&self) -> bool {
        self.buf[FLAGS] & CRITICAL != 0
    }

    pub fn reserved(&self) -> u8 {
        self.buf[FLAGS] & !CRITICAL
    }

    /// Length of the payload, header included.
    pub fn length(&self) -> u16 {
        u16::from_be_bytes([self.buf[LENGTH], self.buf[LENGTH + 1]])
    }
}

/// One payload of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Payload {
    /// C: the sender wants the message rejected if we do not know the type.
    pub critical: bool,
    /// The seven RESERVED bits after C, kept as received.
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved: u8,
    #[serde(flatten)]
    pub body: PayloadBody,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

impl Payload {
    /// A payload with C and RESERVED clear.
    pub fn new(body: PayloadBody) -> Payload {
        Payload {
            critical: false,
            reserved: 0,
            body,
        }
    }
}

/// The body of a payload, typed where RFC 7296 gives it plain structure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PayloadBody {
    SecurityAssociation(SecurityAssociation),
    KeyExchange(KeyExchange),
    IdentificationInitiator(Identification),
    IdentificationResponder(Identification),
    Certificate(Certificate),
    CertificateRequest(Certificate),
    Authentication(Authentication),
    Nonce(Opaque),
    Notify(Notify),
    Delete(Delete),
    VendorId(Opaque),
    TrafficSelectorsInitiator(TrafficSelectors),
    TrafficSelectorsResponder(TrafficSelectors),
    Encrypted(Encrypted),
    EncryptedFragment(EncryptedFragment),
    /// A type this codec does not take apart (CP, EAP, ...), kept as bytes.
    Unknown(UnknownPayload),
}

/// A payload that is nothing but its data (Nonce, Vendor ID).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Opaque {
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownPayload {
    pub payload_type: PayloadType,
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

impl PayloadBody {
    pub fn payload_type(&self) -> PayloadType {
        match self {
            PayloadBody::SecurityAssociation(_) => PayloadType::SA,
            PayloadBody::KeyExchange(_) => PayloadType::KE,
            PayloadBody::IdentificationInitiator(_) => PayloadType::IDI,
            PayloadBody::IdentificationResponder(_) => PayloadType::IDR,
            PayloadBody::Certificate(_) => PayloadType::CERT,
            PayloadBody::CertificateRequest(_) => PayloadType::CERTREQ,
            PayloadBody::Authentication(_) => PayloadType::AUTH,
            PayloadBody::Nonce(_) => PayloadType::NONCE,
            PayloadBody::Notify(_) => PayloadType::N,
            PayloadBody::Delete(_) => PayloadType::D,
            PayloadBody::VendorId(_) => PayloadType::V,
            PayloadBody::TrafficSelectorsInitiator(_) => PayloadType::TSI,
            PayloadBody::TrafficSelectorsResponder(_) => PayloadType::TSR,
            PayloadBody::Encrypted(_) => PayloadType::SK,
            PayloadBody::EncryptedFragment(_) => PayloadType::SKF,
            PayloadBody::Unknown(u) => u.payload_type,
        }
    }

    /// Encrypted and Encrypted Fragment end the chain: their Next Payload
    /// field names the first payload inside them.
    fn inner_first_payload(&self) -> Option<PayloadType> {
        match self {
            PayloadBody::Encrypted(e) => Some(e.first_payload),
            PayloadBody::EncryptedFragment(f) => Some(f.first_payload),
            _ => None,
        }
    }

    /// Decodes the body of a payload of type `ty`; `next` is the payload's
    /// own Next Payload field (only the encrypted payloads keep it).
    fn decode(ty: PayloadType, next: PayloadType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let opaque = |r: &mut Reader<'_>| Opaque {
            data: r.rest().to_vec(),
        };
        let body = match ty {
            PayloadType::SA => PayloadBody::SecurityAssociation(SecurityAssociation::decode(r)?),
            PayloadType::KE => PayloadBody::KeyExchange(KeyExchange::decode(r)?),
            PayloadType::IDI => PayloadBody::IdentificationInitiator(Identification::decode(r)?),
            PayloadType::IDR => PayloadBody::IdentificationResponder(Identification::decode(r)?),
            PayloadType::CERT => PayloadBody::Certificate(Certificate::decode(r)?),
            PayloadType::CERTREQ => PayloadBody::CertificateRequest(Certificate::decode(r)?),
            PayloadType::AUTH => PayloadBody::Authentication(Authentication::decode(r)?),
            PayloadType::NONCE => PayloadBody::Nonce(opaque(r)),
            PayloadType::N => PayloadBody::Notify(Notify::decode(r)?),
            PayloadType::D => PayloadBody::Delete(Delete::decode(r)?),
            PayloadType::V => PayloadBody::VendorId(opaque(r)),
            PayloadType::TSI => {
                PayloadBody::TrafficSelectorsInitiator(TrafficSelectors::decode(r)?)
            }
            PayloadType::TSR => {
                PayloadBody::TrafficSelectorsResponder(TrafficSelectors::decode(r)?)
            }
            PayloadType::SK => PayloadBody::Encrypted(Encrypted::decode(next, r)),
            PayloadType::SKF => PayloadBody::EncryptedFragment(EncryptedFragment::decode(next, r)?),
            other => PayloadBody::Unknown(UnknownPayload {
                payload_type: other,
                data: r.rest().to_vec(),
            }),
        };
        consumed(r, "payload body")?;
        Ok(body)
    }

    fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            PayloadBody::SecurityAssociation(sa) => sa.encode(buf)?,
            PayloadBody::KeyExchange(ke) => ke.encode(buf),
            PayloadBody::IdentificationInitiator(id) | PayloadBody::IdentificationResponder(id) => {
                id.encode(buf)
            }
            PayloadBody::Certificate(c) | PayloadBody::CertificateRequest(c) => c.encode(buf),
            PayloadBody::Authentication(a) => a.encode(buf),
            PayloadBody::Nonce(o) | PayloadBody::VendorId(o) => buf.extend_from_slice(&o.data),
            PayloadBody::Notify(n) => n.encode(buf)?,
            PayloadBody::Delete(d) => d.encode(buf)?,
            PayloadBody::TrafficSelectorsInitiator(ts)
            | PayloadBody::TrafficSelectorsResponder(ts) => ts.encode(buf)?,
            PayloadBody::Encrypted(e) => e.encode(buf),
            PayloadBody::EncryptedFragment(f) => f.encode(buf),
            PayloadBody::Unknown(u) => buf.extend_from_slice(&u.data),
        }
        Ok(())
    }
}

/// Decodes the payload chain that starts with a payload of type `first`,
/// up to the end of `r`.
pub(crate) fn decode_chain(
    first: PayloadType,
    r: &mut Reader<'_>,
) -> Result<Vec<Payload>, DecodeError> {
    let mut payloads = Vec::new();
    let mut ty = first;
    while ty != PayloadType::NO_NEXT_PAYLOAD {
        let start = r.offset();
        if payloads.len() == MAX_PAYLOADS {
            return Err(DecodeError::TooMany {
                field: "payloads",
                offset: start,
                max: MAX_PAYLOADS,
                reason: "payloads in one message",
            });
        }
        let next = PayloadType(r.u8("next payload")?);
        let flags = r.u8("payload flags")?;
        let length = usize::from(r.u16("payload length")?);
        if length < HEADER_LEN {
            return Err(DecodeError::Length {
                field: "payload length",
                offset: start + LENGTH,
                length,
                reason: "shorter than the payload header",
            });
        }
        let mut body = r.sub(length - HEADER_LEN, "payload body")?;
        let body = PayloadBody::decode(ty, next, &mut body)?;
        let ends_chain = body.inner_first_payload().is_some();
        payloads.push(Payload {
            critical: flags & CRITICAL != 0,
            reserved: flags & !CRITICAL,
            body,
        });
        if ends_chain {
            // RFC 7296, 3.14: the Encrypted payload is the last one.
            break;
        }
        ty = next;
    }
    consumed(r, "after the last payload")?;
    Ok(payloads)
}

/// Encodes the chain; returns the type of the first payload, for the Next
/// Payload field of what comes before it.
pub(crate) fn encode_chain(
    payloads: &[Payload],
    buf: &mut Vec<u8>,
) -> Result<PayloadType, EncodeError> {
    fits("payload count", payloads.len(), MAX_PAYLOADS)?;
    for (i, payload) in payloads.iter().enumerate() {
        let following = payloads.get(i + 1).map(|p| p.body.payload_type());
        let next = match payload.body.inner_first_payload() {
            Some(_) if following.is_some() => {
                return Err(EncodeError::Invalid(
                    "an Encrypted (Fragment) payload must be the last one",
                ));
            }
            Some(inner) => inner,
            None => following.unwrap_or(PayloadType::NO_NEXT_PAYLOAD),
        };
        if payload.body.payload_type() == PayloadType::NO_NEXT_PAYLOAD {
            return Err(EncodeError::Invalid("payload type 0 ends the chain"));
        }
        if payload.reserved & CRITICAL != 0 {
            return Err(EncodeError::Invalid(
                "the RESERVED payload bits do not include C",
            ));
        }
        let start = buf.len();
        buf.push(next.0);
        buf.push(if payload.critical { CRITICAL } else { 0 } | payload.reserved);
        buf.extend_from_slice(&[0, 0]);
        payload.body.encode(buf)?;
        let length = buf.len() - start;
        fits("payload", length, u16::MAX.into())?;
        buf[start + LENGTH..start + LENGTH + 2].copy_from_slice(&(length as u16).to_be_bytes());
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NO_NEXT_PAYLOAD, |p| p.body.payload_type()))
}
