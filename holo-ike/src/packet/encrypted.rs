//! The Encrypted payload SK (RFC 7296, 3.14) and the Encrypted Fragment
//! payload SKF (RFC 7383, 2.5). The IV, ciphertext, padding and ICV stay
//! opaque here: taking them apart needs the SA's keys and algorithms.
//!
//! ```text
//! SK body:
//! ~                 Initialization Vector ... ICV                 ~
//!
//! SKF body:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Fragment Number        |        Total Fragments        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                 Initialization Vector ... ICV                 ~
//! ```
//! Offsets are from the end of the generic payload header. The Next Payload
//! field of both names the first payload inside the ciphertext (in an SKF,
//! only in fragment 1; 0 in the others).

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::DecodeError;
use super::payload::PayloadType;

pub const FRAGMENT_NUMBER: usize = 0;
pub const TOTAL_FRAGMENTS: usize = 2;
pub const FRAGMENT_DATA: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Encrypted {
    /// The type of the first payload inside (the SK's Next Payload field).
    pub first_payload: PayloadType,
    /// IV, encrypted payloads with padding, and ICV.
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EncryptedFragment {
    pub first_payload: PayloadType,
    /// From 1.
    pub fragment_number: u16,
    pub total_fragments: u16,
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

impl Encrypted {
    pub(crate) fn decode(first_payload: PayloadType, r: &mut Reader<'_>) -> Self {
        Encrypted {
            first_payload,
            data: r.rest().to_vec(),
        }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.data);
    }
}

impl EncryptedFragment {
    pub(crate) fn decode(
        first_payload: PayloadType,
        r: &mut Reader<'_>,
    ) -> Result<Self, DecodeError> {
        Ok(EncryptedFragment {
            first_payload,
            fragment_number: r.u16("fragment number")?,
            total_fragments: r.u16("total fragments")?,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.fragment_number.to_be_bytes());
        buf.extend_from_slice(&self.total_fragments.to_be_bytes());
        buf.extend_from_slice(&self.data);
    }
}
