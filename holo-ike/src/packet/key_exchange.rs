//! The Key Exchange payload (RFC 7296, 3.4).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Diffie-Hellman Group Num    |           RESERVED            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                       Key Exchange Data                       ~
//! ```
//! Offsets are from the end of the generic payload header.

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::DecodeError;

pub const GROUP: usize = 0;
pub const RESERVED: usize = 2;
pub const DATA: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyExchange {
    /// A DH transform ID ([`super::sa::dh`]).
    pub group: u16,
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved: u16,
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

impl KeyExchange {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KeyExchange {
            group: r.u16("DH group number")?,
            reserved: r.u16("key exchange reserved")?,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.group.to_be_bytes());
        buf.extend_from_slice(&self.reserved.to_be_bytes());
        buf.extend_from_slice(&self.data);
    }
}
