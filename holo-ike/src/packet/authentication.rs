//! The Authentication payload (RFC 7296, 3.8).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Auth Method   |                RESERVED                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                      Authentication Data                      ~
//! ```
//! Offsets are from the end of the generic payload header.

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::DecodeError;
use super::identification::is_zero;
use super::registry::registry;

pub const METHOD: usize = 0;
pub const RESERVED: usize = 1;
pub const DATA: usize = 4;

registry! {
    /// Auth Method (RFC 7296, 3.8; RFC 7427 for digital signatures).
    AuthMethod(u8) {
        RSA_DIGITAL_SIGNATURE = 1,
        SHARED_KEY_MESSAGE_INTEGRITY_CODE = 2,
        DSS_DIGITAL_SIGNATURE = 3,
        ECDSA_SHA256_P256 = 9,
        ECDSA_SHA384_P384 = 10,
        ECDSA_SHA512_P521 = 11,
        DIGITAL_SIGNATURE = 14,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Authentication {
    pub method: AuthMethod,
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved: [u8; 3],
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

impl Authentication {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Authentication {
            method: AuthMethod(r.u8("auth method")?),
            reserved: r.array("authentication reserved")?,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.method.0);
        buf.extend_from_slice(&self.reserved);
        buf.extend_from_slice(&self.data);
    }
}
