//! The Identification payloads IDi and IDr (RFC 7296, 3.5).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   ID Type     |                 RESERVED                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                   Identification Data                         ~
//! ```
//! Offsets are from the end of the generic payload header.

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::DecodeError;
use super::registry::registry;

pub const ID_TYPE: usize = 0;
pub const RESERVED: usize = 1;
pub const DATA: usize = 4;

registry! {
    /// ID Type (RFC 7296, 3.5).
    IdType(u8) {
        ID_IPV4_ADDR = 1,
        ID_FQDN = 2,
        ID_RFC822_ADDR = 3,
        ID_IPV6_ADDR = 5,
        ID_DER_ASN1_DN = 9,
        ID_DER_ASN1_GN = 10,
        ID_KEY_ID = 11,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identification {
    pub id_type: IdType,
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved: [u8; 3],
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

pub(crate) fn is_zero(v: &[u8; 3]) -> bool {
    *v == [0; 3]
}

impl Identification {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Identification {
            id_type: IdType(r.u8("ID type")?),
            reserved: r.array("identification reserved")?,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.id_type.0);
        buf.extend_from_slice(&self.reserved);
        buf.extend_from_slice(&self.data);
    }
}
