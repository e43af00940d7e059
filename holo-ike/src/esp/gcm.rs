//! AES-GCM with a 16-byte ICV in ESP (RFC 4106).
//!
//! ```text
//!  SPI | Sequence Number | IV (8) | ciphertext | ICV (16)
//! ```
//! Nonce = salt (the last 4 bytes of the keying material, RFC 4106, 8.1)
//! | explicit IV (RFC 4106, 4). AAD = SPI | Sequence Number, or with ESN
//! SPI | high 32 bits | low 32 bits (RFC 4106, 5). GCM needs no block
//! padding; ESP still aligns the trailer to 4 bytes (RFC 4303, 2.4).

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

use super::EspError;
use super::layout::check_key_len;
use crate::crypto::EncrAlgorithm;

pub(super) const IV_LEN: usize = 8;
pub(super) const ICV_LEN: usize = 16;
const SALT_LEN: usize = 4;

/// One direction's key, expanded once.
pub(super) struct GcmKey {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
}

impl GcmKey {
    /// `keymat` is the AES key followed by the 4-byte salt.
    pub(super) fn new(encr: EncrAlgorithm, keymat: &[u8]) -> Result<GcmKey, EspError> {
        let algorithm = match encr {
            EncrAlgorithm::AesGcm16_128 => &aead::AES_128_GCM,
            EncrAlgorithm::AesGcm16_256 => &aead::AES_256_GCM,
            EncrAlgorithm::AesCbc128 | EncrAlgorithm::AesCbc256 => {
                return Err(EspError::InvalidCombination);
            }
        };
        check_key_len(encr.key_len(), keymat)?;
        let (key, salt) = keymat.split_at(keymat.len() - SALT_LEN);
        let key = UnboundKey::new(algorithm, key).map_err(|_| EspError::KeyLength)?;
        let salt = salt.try_into().map_err(|_| EspError::KeyLength)?;
        Ok(GcmKey {
            key: LessSafeKey::new(key),
            salt,
        })
    }

    fn nonce(&self, iv: &[u8; IV_LEN]) -> Nonce {
        let mut nonce = [0; SALT_LEN + IV_LEN];
        nonce[..SALT_LEN].copy_from_slice(&self.salt);
        nonce[SALT_LEN..].copy_from_slice(iv);
        Nonce::assume_unique_for_key(nonce)
    }

    /// Encrypts `in_out` (payload, padding, trailer) in place; returns the
    /// ICV. `iv` must never repeat under this key: the sender uses the
    /// sequence number, which never cycles.
    pub(super) fn seal(
        &self,
        spi: u32,
        seq: u64,
        esn: bool,
        iv: &[u8; IV_LEN],
        in_out: &mut [u8],
    ) -> Result<aead::Tag, EspError> {
        let (aad, aad_len) = aad(spi, seq, esn);
        let len = in_out.len();
        self.key
            .seal_in_place_separate_tag(self.nonce(iv), Aad::from(&aad[..aad_len]), in_out)
            .map_err(|_| EspError::PayloadTooLong { len })
    }

    /// Checks the ICV at the end of `in_out` (ciphertext | ICV) and
    /// decrypts in place; returns the plaintext length.
    pub(super) fn open(
        &self,
        spi: u32,
        seq: u64,
        esn: bool,
        iv: &[u8; IV_LEN],
        in_out: &mut [u8],
    ) -> Result<usize, EspError> {
        let (aad, aad_len) = aad(spi, seq, esn);
        self.key
            .open_in_place(self.nonce(iv), Aad::from(&aad[..aad_len]), in_out)
            .map(|plaintext| plaintext.len())
            .map_err(|_| EspError::IcvMismatch)
    }
}

/// RFC 4106, 5: the high 32 bits of an ESN sit between SPI and the low
/// 32 bits, unlike their place in the ICV of RFC 4303, 2.2.1.
fn aad(spi: u32, seq: u64, esn: bool) -> ([u8; 12], usize) {
    let mut aad = [0; 12];
    aad[..4].copy_from_slice(&spi.to_be_bytes());
    if esn {
        aad[4..].copy_from_slice(&seq.to_be_bytes());
        (aad, 12)
    } else {
        aad[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        (aad, 8)
    }
}
