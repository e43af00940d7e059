//! AES-CBC (RFC 3602) with HMAC-SHA-1-96 (RFC 2404) or HMAC-SHA-256-128,
//! -384-192, -512-256 (RFC 4868) in ESP.
//!
//! ```text
//!  SPI | Sequence Number | IV (16) | ciphertext (whole blocks) | ICV
//!  \________________ covered by the ICV ______________/
//! ```
//! Encrypt-then-MAC: the sender encrypts then computes the ICV over SPI
//! through the ciphertext; the receiver verifies the ICV (in constant
//! time) before it decrypts anything. With ESN the high 32 bits of the
//! sequence number, never sent, follow the ciphertext in the ICV input
//! (RFC 4303, 2.2.1).

use aes::{Aes128Dec, Aes128Enc, Aes256Dec, Aes256Enc};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit};
use ring::hmac;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

use super::EspError;
use super::layout::{AES_BLOCK, check_key_len};
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};

/// The expanded encryption key of one direction. The variants differ in
/// size, but their holders are boxed whole.
#[allow(clippy::large_enum_variant)]
enum EncryptKey {
    Aes128(Aes128Enc),
    Aes256(Aes256Enc),
}

#[allow(clippy::large_enum_variant)]
enum DecryptKey {
    Aes128(Aes128Dec),
    Aes256(Aes256Dec),
}

/// HMAC truncated to the ICV length (RFC 2404, 2; RFC 4868, 2.1.1).
pub(super) struct Integrity {
    key: hmac::Key,
    icv_len: usize,
}

impl Integrity {
    fn new(integ: IntegAlgorithm, key: &[u8]) -> Result<Integrity, EspError> {
        check_key_len(integ.key_len(), key)?;
        let algorithm = match integ {
            IntegAlgorithm::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            IntegAlgorithm::HmacSha256_128 => hmac::HMAC_SHA256,
            IntegAlgorithm::HmacSha384_192 => hmac::HMAC_SHA384,
            IntegAlgorithm::HmacSha512_256 => hmac::HMAC_SHA512,
        };
        Ok(Integrity {
            key: hmac::Key::new(algorithm, key),
            icv_len: integ.icv_len(),
        })
    }

    fn tag(&self, covered: &[u8], esn_high: Option<u32>) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(covered);
        if let Some(high) = esn_high {
            context.update(&high.to_be_bytes());
        }
        context.sign()
    }

    /// Appends the ICV of `out[covered..]` to `out`.
    pub(super) fn push_icv(&self, out: &mut Vec<u8>, covered: usize, esn_high: Option<u32>) {
        let tag = self.tag(out.get(covered..).unwrap_or_default(), esn_high);
        let icv = tag.as_ref().get(..self.icv_len).unwrap_or_default();
        out.extend_from_slice(icv);
    }

    /// Compares in constant time, so a forger learns nothing from timing.
    pub(super) fn verify(&self, covered: &[u8], esn_high: Option<u32>, icv: &[u8]) -> bool {
        let tag = self.tag(covered, esn_high);
        let expected = tag.as_ref().get(..self.icv_len).unwrap_or_default();
        bool::from(expected.ct_eq(icv))
    }
}

/// The sender's keys: AES, the IV key, HMAC.
pub(super) struct CbcSealer {
    key: EncryptKey,
    /// RFC 3602, 2.1: the IV MUST be unpredictable. Drawing 16 random
    /// bytes per packet costs a getrandom call; instead each IV is the
    /// sequence number (unique within the SA) encrypted under this AES key,
    /// drawn once from the system RNG when the SA is created and used for
    /// nothing else, so the IVs are as unpredictable as AES outputs.
    iv_key: Aes128Enc,
    pub(super) integrity: Integrity,
}

impl CbcSealer {
    pub(super) fn new(
        encr: EncrAlgorithm,
        encr_key: &[u8],
        integ: IntegAlgorithm,
        integ_key: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<CbcSealer, EspError> {
        check_key_len(encr.key_len(), encr_key)?;
        let key = match encr {
            EncrAlgorithm::AesCbc128 => EncryptKey::Aes128(new_key(encr_key)?),
            EncrAlgorithm::AesCbc256 => EncryptKey::Aes256(new_key(encr_key)?),
            EncrAlgorithm::AesGcm16_128 | EncrAlgorithm::AesGcm16_256 => {
                return Err(EspError::InvalidCombination);
            }
        };
        let mut iv_key = [0; 16];
        rng.fill(&mut iv_key).map_err(|_| EspError::Random)?;
        Ok(CbcSealer {
            key,
            iv_key: new_key(&iv_key)?,
            integrity: Integrity::new(integ, integ_key)?,
        })
    }

    /// The IV of the packet with sequence number `seq`.
    pub(super) fn iv(&self, seq: u64) -> [u8; AES_BLOCK] {
        let mut block = [0; AES_BLOCK];
        block[8..].copy_from_slice(&seq.to_be_bytes());
        let mut block = block.into();
        self.iv_key.encrypt_block(&mut block);
        block.into()
    }

    /// Encrypts whole blocks in place.
    pub(super) fn encrypt(&self, iv: &[u8; AES_BLOCK], blocks: &mut [u8]) -> Result<(), EspError> {
        let len = blocks.len();
        let done = match &self.key {
            EncryptKey::Aes128(key) => cbc::Encryptor::inner_iv_init(key, iv.into())
                .encrypt_padded_mut::<NoPadding>(blocks, len)
                .is_ok(),
            EncryptKey::Aes256(key) => cbc::Encryptor::inner_iv_init(key, iv.into())
                .encrypt_padded_mut::<NoPadding>(blocks, len)
                .is_ok(),
        };
        // Only a buffer of partial blocks fails; callers pad first.
        if done {
            Ok(())
        } else {
            Err(EspError::Truncated)
        }
    }
}

/// The receiver's keys: AES, HMAC.
pub(super) struct CbcOpener {
    key: DecryptKey,
    pub(super) integrity: Integrity,
}

impl CbcOpener {
    pub(super) fn new(
        encr: EncrAlgorithm,
        encr_key: &[u8],
        integ: IntegAlgorithm,
        integ_key: &[u8],
    ) -> Result<CbcOpener, EspError> {
        check_key_len(encr.key_len(), encr_key)?;
        let key = match encr {
            EncrAlgorithm::AesCbc128 => DecryptKey::Aes128(new_key(encr_key)?),
            EncrAlgorithm::AesCbc256 => DecryptKey::Aes256(new_key(encr_key)?),
            EncrAlgorithm::AesGcm16_128 | EncrAlgorithm::AesGcm16_256 => {
                return Err(EspError::InvalidCombination);
            }
        };
        Ok(CbcOpener {
            key,
            integrity: Integrity::new(integ, integ_key)?,
        })
    }

    /// Decrypts whole blocks in place; Err(Truncated) on a partial block.
    pub(super) fn decrypt(&self, iv: &[u8; AES_BLOCK], blocks: &mut [u8]) -> Result<(), EspError> {
        let done = match &self.key {
            DecryptKey::Aes128(key) => cbc::Decryptor::inner_iv_init(key, iv.into())
                .decrypt_padded_mut::<NoPadding>(blocks)
                .is_ok(),
            DecryptKey::Aes256(key) => cbc::Decryptor::inner_iv_init(key, iv.into())
                .decrypt_padded_mut::<NoPadding>(blocks)
                .is_ok(),
        };
        if done {
            Ok(())
        } else {
            Err(EspError::Truncated)
        }
    }
}

fn new_key<K: KeyInit>(key: &[u8]) -> Result<K, EspError> {
    K::new_from_slice(key).map_err(|_| EspError::KeyLength)
}
