//! The Security Association payload (RFC 7296, 3.3): proposals, their
//! transforms, and the transforms' attributes.
//!
//! ```text
//! Proposal substructure (3.3.1):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Last Substruc |   RESERVED    |         Proposal Length       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                        SPI (variable)                         ~
//! ~                        <Transforms>                           ~
//!
//! Transform substructure (3.3.2):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Last Substruc |   RESERVED    |        Transform Length       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Transform Type |   RESERVED    |          Transform ID         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                      Transform Attributes                     ~
//!
//! Data attribute (3.3.5):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |A|       Attribute Type        |    AF=0  Attribute Length     |
//! |F|                             |    AF=1  Attribute Value      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~             AF=0  Attribute Value (TLV form only)             ~
//! ```
//!
//! Last Substruc, the lengths, SPI Size and Num Transforms are derived when
//! encoding; decoding checks them, so a decoded value re-encodes exactly.

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::{DecodeError, EncodeError, consumed, fits};
use super::registry::registry;

/// Proposal substructure offsets.
pub mod proposal {
    pub const LAST_SUBSTRUC: usize = 0;
    pub const RESERVED: usize = 1;
    pub const LENGTH: usize = 2;
    pub const NUMBER: usize = 4;
    pub const PROTOCOL_ID: usize = 5;
    pub const SPI_SIZE: usize = 6;
    pub const NUM_TRANSFORMS: usize = 7;
    pub const HEADER_LEN: usize = 8;
    /// Last Substruc: 0 for the last proposal, 2 when more follow.
    pub const LAST: u8 = 0;
    pub const MORE: u8 = 2;
}

/// Transform substructure offsets.
pub mod transform {
    pub const LAST_SUBSTRUC: usize = 0;
    pub const RESERVED1: usize = 1;
    pub const LENGTH: usize = 2;
    pub const TYPE: usize = 4;
    pub const RESERVED2: usize = 5;
    pub const ID: usize = 6;
    pub const HEADER_LEN: usize = 8;
    /// Last Substruc: 0 for the last transform, 3 when more follow.
    pub const LAST: u8 = 0;
    pub const MORE: u8 = 3;
}

/// The AF bit: the attribute is TV (a 16-bit value), not TLV.
pub const ATTRIBUTE_TV: u16 = 0x8000;

/// Bounds on what one SA payload may make us hold.
pub const MAX_PROPOSALS: usize = 64;
pub const MAX_TRANSFORMS: usize = 255;
pub const MAX_ATTRIBUTES: usize = 16;

registry! {
    /// Protocol ID (RFC 7296, 3.3.1), also used by Notify and Delete.
    ProtocolId(u8) {
        IKE = 1,
        AH = 2,
        ESP = 3,
    }
}

registry! {
    /// Transform Type (RFC 7296, 3.3.2).
    TransformType(u8) {
        ENCR = 1,
        PRF = 2,
        INTEG = 3,
        DH = 4,
        ESN = 5,
    }
}

registry! {
    /// Transform attribute types (RFC 7296, 3.3.5).
    AttributeType(u16) {
        KEY_LENGTH = 14,
    }
}

/// Transform IDs of type ENCR (RFC 7296, 3.3.2; RFC 4106 for GCM).
pub mod encr {
    pub const AES_CBC: u16 = 12;
    pub const AES_GCM_16: u16 = 20;
}

/// Transform IDs of type PRF.
pub mod prf {
    pub const HMAC_SHA1: u16 = 2;
    pub const HMAC_SHA2_256: u16 = 5;
    pub const HMAC_SHA2_384: u16 = 6;
    pub const HMAC_SHA2_512: u16 = 7;
}

/// Transform IDs of type INTEG.
pub mod integ {
    pub const NONE: u16 = 0;
    pub const HMAC_SHA1_96: u16 = 2;
    pub const HMAC_SHA2_256_128: u16 = 12;
    pub const HMAC_SHA2_384_192: u16 = 13;
    pub const HMAC_SHA2_512_256: u16 = 14;
}

/// Transform IDs of type DH (Diffie-Hellman group numbers).
pub mod dh {
    pub const NONE: u16 = 0;
    /// 1024-bit MODP: not in issue 12's list, but the Cisco capture offers it.
    pub const MODP_1024: u16 = 2;
    pub const MODP_1536: u16 = 5;
    pub const MODP_2048: u16 = 14;
    pub const ECP_256: u16 = 19;
    pub const ECP_384: u16 = 20;
    pub const CURVE25519: u16 = 31;
}

/// Transform IDs of type ESN.
pub mod esn {
    pub const NO: u16 = 0;
    pub const YES: u16 = 1;
}

/// The name of a transform ID within its type, when this module knows it.
pub fn transform_name(ty: TransformType, id: u16) -> Option<&'static str> {
    Some(match (ty, id) {
        (TransformType::ENCR, encr::AES_CBC) => "ENCR_AES_CBC",
        (TransformType::ENCR, encr::AES_GCM_16) => "ENCR_AES_GCM_16",
        (TransformType::PRF, prf::HMAC_SHA1) => "PRF_HMAC_SHA1",
        (TransformType::PRF, prf::HMAC_SHA2_256) => "PRF_HMAC_SHA2_256",
        (TransformType::PRF, prf::HMAC_SHA2_384) => "PRF_HMAC_SHA2_384",
        (TransformType::PRF, prf::HMAC_SHA2_512) => "PRF_HMAC_SHA2_512",
        (TransformType::INTEG, integ::NONE) => "NONE",
        (TransformType::INTEG, integ::HMAC_SHA1_96) => "AUTH_HMAC_SHA1_96",
        (TransformType::INTEG, integ::HMAC_SHA2_256_128) => "AUTH_HMAC_SHA2_256_128",
        (TransformType::INTEG, integ::HMAC_SHA2_384_192) => "AUTH_HMAC_SHA2_384_192",
        (TransformType::INTEG, integ::HMAC_SHA2_512_256) => "AUTH_HMAC_SHA2_512_256",
        (TransformType::DH, dh::NONE) => "NONE",
        (TransformType::DH, dh::MODP_1024) => "MODP_1024",
        (TransformType::DH, dh::MODP_1536) => "MODP_1536",
        (TransformType::DH, dh::MODP_2048) => "MODP_2048",
        (TransformType::DH, dh::ECP_256) => "ECP_256",
        (TransformType::DH, dh::ECP_384) => "ECP_384",
        (TransformType::DH, dh::CURVE25519) => "CURVE25519",
        (TransformType::ESN, esn::NO) => "NO_ESN",
        (TransformType::ESN, esn::YES) => "ESN",
        _ => return None,
    })
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SecurityAssociation {
    pub proposals: Vec<Proposal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proposal {
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved: u8,
    pub number: u8,
    pub protocol_id: ProtocolId,
    /// Empty in IKE_SA_INIT; the SPI Size field is its length.
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transform {
    pub reserved1: u8,
    pub transform_type: TransformType,
    pub reserved2: u8,
    pub transform_id: u16,
    pub attributes: Vec<Attribute>,
}

impl Transform {
    pub fn new(transform_type: TransformType, transform_id: u16) -> Transform {
        Transform {
            reserved1: 0,
            transform_type,
            reserved2: 0,
            transform_id,
            attributes: Vec::new(),
        }
    }

    /// The Key Length attribute, in bits (RFC 7296, 3.3.5).
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a.value {
            AttributeValue::Tv(v) if a.attribute_type == AttributeType::KEY_LENGTH => Some(v),
            _ => None,
        })
    }
}

// By hand, to print the transform ID's name next to its number.
impl Serialize for Transform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named<'a> {
            #[serde(skip_serializing_if = "is_zero")]
            reserved1: u8,
            transform_type: TransformType,
            #[serde(skip_serializing_if = "is_zero")]
            reserved2: u8,
            transform_id: u16,
            #[serde(skip_serializing_if = "Option::is_none")]
            name: Option<&'static str>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            attributes: &'a [Attribute],
        }
        Named {
            reserved1: self.reserved1,
            transform_type: self.transform_type,
            reserved2: self.reserved2,
            transform_id: self.transform_id,
            name: transform_name(self.transform_type, self.transform_id),
            attributes: &self.attributes,
        }
        .serialize(s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attribute {
    /// The 15-bit attribute type (without the AF bit).
    pub attribute_type: AttributeType,
    pub value: AttributeValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeValue {
    /// AF = 1: the value is the 16 bits after the type.
    Tv(u16),
    /// AF = 0: a length and that many bytes.
    Tlv(#[serde(serialize_with = "holo_utils::hex::serialize")] Vec<u8>),
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// Checks a Last Substruc field: `more` while bytes follow, `last` at the end.
fn check_last(
    value: u8,
    offset: usize,
    more_follow: bool,
    (last, more): (u8, u8),
    field: &'static str,
) -> Result<(), DecodeError> {
    let expected = if more_follow { more } else { last };
    if value == expected {
        Ok(())
    } else {
        Err(DecodeError::Value {
            field,
            offset,
            value: value.into(),
            reason: if more_follow {
                "more substructures follow"
            } else {
                "this is the last substructure"
            },
        })
    }
}

/// Reads a substructure length (which includes the `header_len` bytes of
/// its header) and returns a reader over the rest of it.
fn substructure<'a>(
    r: &mut Reader<'a>,
    start: usize,
    length: u16,
    header_len: usize,
    field: &'static str,
) -> Result<Reader<'a>, DecodeError> {
    let length = usize::from(length);
    if length < header_len {
        return Err(DecodeError::Length {
            field,
            offset: start + 2,
            length,
            reason: "shorter than its header",
        });
    }
    Ok(r.sub(length - header_len, field)?)
}

impl SecurityAssociation {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut proposals = Vec::new();
        while !r.is_empty() {
            let start = r.offset();
            if proposals.len() == MAX_PROPOSALS {
                return Err(DecodeError::TooMany {
                    field: "proposals",
                    offset: start,
                    max: MAX_PROPOSALS,
                    reason: "proposals in one SA payload",
                });
            }
            let last = r.u8("proposal last substruc")?;
            let reserved = r.u8("proposal reserved")?;
            let length = r.u16("proposal length")?;
            let number = r.u8("proposal number")?;
            let protocol_id = ProtocolId(r.u8("protocol id")?);
            let spi_size = r.u8("SPI size")?;
            let num_transforms = r.u8("number of transforms")?;
            let mut body = substructure(r, start, length, proposal::HEADER_LEN, "proposal length")?;
            check_last(
                last,
                start,
                !r.is_empty(),
                (proposal::LAST, proposal::MORE),
                "proposal last substruc",
            )?;
            let spi = body.bytes(spi_size.into(), "proposal SPI")?.to_vec();
            let mut transforms = Vec::with_capacity(num_transforms.into());
            for _ in 0..num_transforms {
                let more = transforms.len() + 1 < usize::from(num_transforms);
                transforms.push(Transform::decode(&mut body, more)?);
            }
            consumed(&body, "proposal after its transforms")?;
            proposals.push(Proposal {
                reserved,
                number,
                protocol_id,
                spi,
                transforms,
            });
        }
        Ok(SecurityAssociation { proposals })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        fits("proposals", self.proposals.len(), MAX_PROPOSALS)?;
        for (i, p) in self.proposals.iter().enumerate() {
            let start = buf.len();
            let more = i + 1 < self.proposals.len();
            fits("proposal SPI", p.spi.len(), u8::MAX.into())?;
            fits("transforms", p.transforms.len(), MAX_TRANSFORMS)?;
            buf.push(if more { proposal::MORE } else { proposal::LAST });
            buf.push(p.reserved);
            buf.extend_from_slice(&[0, 0]);
            buf.push(p.number);
            buf.push(p.protocol_id.0);
            buf.push(p.spi.len() as u8);
            buf.push(p.transforms.len() as u8);
            buf.extend_from_slice(&p.spi);
            for (j, t) in p.transforms.iter().enumerate() {
                t.encode(buf, j + 1 < p.transforms.len())?;
            }
            put_length(buf, start, "proposal")?;
        }
        Ok(())
    }
}

/// Writes the 16-bit length at `start + 2` of a substructure that began at
/// `start` and ends at the end of `buf`.
fn put_length(buf: &mut [u8], start: usize, field: &'static str) -> Result<(), EncodeError> {
    let length = buf.len() - start;
    fits(field, length, u16::MAX.into())?;
    buf[start + 2..start + 4].copy_from_slice(&(length as u16).to_be_bytes());
    Ok(())
}

impl Transform {
    fn decode(r: &mut Reader<'_>, more: bool) -> Result<Self, DecodeError> {
        let start = r.offset();
        let last = r.u8("transform last substruc")?;
        let reserved1 = r.u8("transform reserved")?;
        let length = r.u16("transform length")?;
        let transform_type = TransformType(r.u8("transform type")?);
        let reserved2 = r.u8("transform reserved")?;
        let transform_id = r.u16("transform id")?;
        check_last(
            last,
            start,
            more,
            (transform::LAST, transform::MORE),
            "transform last substruc",
        )?;
        let mut body = substructure(r, start, length, transform::HEADER_LEN, "transform length")?;
        let mut attributes = Vec::new();
        while !body.is_empty() {
            if attributes.len() == MAX_ATTRIBUTES {
                return Err(DecodeError::TooMany {
                    field: "transform attributes",
                    offset: body.offset(),
                    max: MAX_ATTRIBUTES,
                    reason: "attributes in one transform",
                });
            }
            attributes.push(Attribute::decode(&mut body)?);
        }
        Ok(Transform {
            reserved1,
            transform_type,
            reserved2,
            transform_id,
            attributes,
        })
    }

    fn encode(&self, buf: &mut Vec<u8>, more: bool) -> Result<(), EncodeError> {
        fits(
            "transform attributes",
            self.attributes.len(),
            MAX_ATTRIBUTES,
        )?;
        let start = buf.len();
        buf.push(if more {
            transform::MORE
        } else {
            transform::LAST
        });
        buf.push(self.reserved1);
        buf.extend_from_slice(&[0, 0]);
        buf.push(self.transform_type.0);
        buf.push(self.reserved2);
        buf.extend_from_slice(&self.transform_id.to_be_bytes());
        for a in &self.attributes {
            a.encode(buf)?;
        }
        put_length(buf, start, "transform")
    }
}

impl Attribute {
    /// The Key Length attribute (TV), in bits.
    pub fn key_length(bits: u16) -> Attribute {
        Attribute {
            attribute_type: AttributeType::KEY_LENGTH,
            value: AttributeValue::Tv(bits),
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = r.u16("attribute type")?;
        let word = r.u16("attribute length/value")?;
        let value = if ty & ATTRIBUTE_TV != 0 {
            AttributeValue::Tv(word)
        } else {
            AttributeValue::Tlv(r.bytes(word.into(), "attribute value")?.to_vec())
        };
        Ok(Attribute {
            attribute_type: AttributeType(ty & !ATTRIBUTE_TV),
            value,
        })
    }

    fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.attribute_type.0 & ATTRIBUTE_TV != 0 {
            return Err(EncodeError::Invalid("attribute types have 15 bits"));
        }
        match &self.value {
            AttributeValue::Tv(v) => {
                buf.extend_from_slice(&(self.attribute_type.0 | ATTRIBUTE_TV).to_be_bytes());
                buf.extend_from_slice(&v.to_be_bytes());
            }
            AttributeValue::Tlv(v) => {
                fits("attribute value", v.len(), u16::MAX.into())?;
                buf.extend_from_slice(&self.attribute_type.0.to_be_bytes());
                buf.extend_from_slice(&(v.len() as u16).to_be_bytes());
                buf.extend_from_slice(v);
            }
        }
        Ok(())
    }
}
