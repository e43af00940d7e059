//! The shape of the ESP packets of one SA, fixed by its algorithms:
//! IV and ICV sizes and the alignment of the encrypted part.

use super::{EspError, gcm, trailer};
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};
use crate::packet::esp::HEADER_LEN;

/// AES block size (RFC 3602, 2.4: the IV and the ciphertext blocks).
pub(super) const AES_BLOCK: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) iv_len: usize,
    pub(super) icv_len: usize,
    /// Payload, padding and trailer fill whole multiples of this.
    pub(super) align: usize,
}

impl Layout {
    /// AES-CBC needs an integrity algorithm, AES-GCM must have none
    /// (RFC 7296, 3.3.3).
    pub(super) fn new(
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
    ) -> Result<Layout, EspError> {
        match (encr.is_aead(), integ) {
            // GCM is a stream mode: only the 4-byte alignment ESP
            // itself requires (RFC 4303, 2.4).
            (true, None) => Ok(Layout {
                iv_len: gcm::IV_LEN,
                icv_len: gcm::ICV_LEN,
                align: 4,
            }),
            (false, Some(integ)) => Ok(Layout {
                iv_len: AES_BLOCK,
                icv_len: integ.icv_len(),
                align: AES_BLOCK,
            }),
            _ => Err(EspError::InvalidCombination),
        }
    }

    /// Padding for a payload of `len` bytes.
    pub(super) fn pad_len(&self, len: usize) -> usize {
        trailer::pad_len(len, self.align)
    }

    /// Everything but the payload: header, IV, padding, trailer, ICV.
    pub(super) fn overhead(&self, len: usize) -> usize {
        HEADER_LEN + self.iv_len + self.pad_len(len) + trailer::TRAILER_LEN + self.icv_len
    }

    /// The shortest packet worth decrypting: an empty payload.
    pub(super) fn min_packet_len(&self) -> usize {
        self.overhead(0)
    }
}

pub(super) fn check_key_len(expected: usize, key: &[u8]) -> Result<(), EspError> {
    if key.len() == expected {
        Ok(())
    } else {
        Err(EspError::KeyLength)
    }
}
