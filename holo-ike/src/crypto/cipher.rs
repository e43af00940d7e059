//! Protection of the Encrypted payload SK (RFC 7296, 3.14).
//!
//! The SK body is IV | ciphertext | ICV, the plaintext being the inner
//! payload chain | padding | Pad Length. `associated` below is the message
//! from the IKE header through the SK payload's generic header (with any
//! unencrypted payloads before it): AES-CBC's ICV covers it together with
//! the IV and ciphertext (encrypt-then-MAC), AES-GCM authenticates it as
//! AAD (RFC 5282, 5.1). Its length fields must already be final, so
//! callers size the message with [`SkCipher::encrypted_len`] first.
//!
//! One `SkCipher` protects one direction: SK_ei/SK_ai for what the original
//! initiator sends, SK_er/SK_ar for the responder.

use aes::{Aes128, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

use super::error::CryptoError;
use super::keys::KeyLengths;
use crate::packet::sa::{encr, integ};

const AES_BLOCK: usize = 16;
/// RFC 5282, 3.1: the salt is the last 4 bytes of the keying material.
const GCM_SALT: usize = 4;
/// RFC 5282, 3.1: an 8-byte explicit IV in the payload.
const GCM_IV: usize = 8;
/// AES-GCM with a 16-byte ICV (ENCR_AES_GCM_16).
const GCM_ICV: usize = 16;

/// The encryption algorithm (transform type 1) with its key size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncrAlgorithm {
    AesCbc128,
    AesCbc256,
    AesGcm16_128,
    AesGcm16_256,
}

impl EncrAlgorithm {
    /// From the transform ID and its Key Length attribute in bits
    /// (mandatory for both AES transforms, RFC 7296, 3.3.5).
    pub fn from_transform(id: u16, key_bits: Option<u16>) -> Option<EncrAlgorithm> {
        match (id, key_bits) {
            (encr::AES_CBC, Some(128)) => Some(EncrAlgorithm::AesCbc128),
            (encr::AES_CBC, Some(256)) => Some(EncrAlgorithm::AesCbc256),
            (encr::AES_GCM_16, Some(128)) => Some(EncrAlgorithm::AesGcm16_128),
            (encr::AES_GCM_16, Some(256)) => Some(EncrAlgorithm::AesGcm16_256),
            _ => None,
        }
    }

    /// Transform ID and Key Length attribute (bits).
    pub fn transform(self) -> (u16, u16) {
        match self {
            EncrAlgorithm::AesCbc128 => (encr::AES_CBC, 128),
            EncrAlgorithm::AesCbc256 => (encr::AES_CBC, 256),
            EncrAlgorithm::AesGcm16_128 => (encr::AES_GCM_16, 128),
            EncrAlgorithm::AesGcm16_256 => (encr::AES_GCM_16, 256),
        }
    }

    pub fn is_aead(self) -> bool {
        matches!(
            self,
            EncrAlgorithm::AesGcm16_128 | EncrAlgorithm::AesGcm16_256
        )
    }

    /// Keying material taken from prf+ (SK_e), salt included for GCM.
    pub fn key_len(self) -> usize {
        match self {
            EncrAlgorithm::AesCbc128 => 16,
            EncrAlgorithm::AesCbc256 => 32,
            EncrAlgorithm::AesGcm16_128 => 16 + GCM_SALT,
            EncrAlgorithm::AesGcm16_256 => 32 + GCM_SALT,
        }
    }

    pub fn iv_len(self) -> usize {
        if self.is_aead() { GCM_IV } else { AES_BLOCK }
    }
}

/// The integrity algorithm (transform type 3): HMAC truncated to the ICV
/// length (RFC 2404; RFC 4868).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntegAlgorithm {
    HmacSha1_96,
    HmacSha256_128,
    HmacSha384_192,
    HmacSha512_256,
}

impl IntegAlgorithm {
    pub fn from_transform_id(id: u16) -> Option<IntegAlgorithm> {
        match id {
            integ::HMAC_SHA1_96 => Some(IntegAlgorithm::HmacSha1_96),
            integ::HMAC_SHA2_256_128 => Some(IntegAlgorithm::HmacSha256_128),
            integ::HMAC_SHA2_384_192 => Some(IntegAlgorithm::HmacSha384_192),
            integ::HMAC_SHA2_512_256 => Some(IntegAlgorithm::HmacSha512_256),
            _ => None,
        }
    }

    pub fn transform_id(self) -> u16 {
        match self {
            IntegAlgorithm::HmacSha1_96 => integ::HMAC_SHA1_96,
            IntegAlgorithm::HmacSha256_128 => integ::HMAC_SHA2_256_128,
            IntegAlgorithm::HmacSha384_192 => integ::HMAC_SHA2_384_192,
            IntegAlgorithm::HmacSha512_256 => integ::HMAC_SHA2_512_256,
        }
    }

    /// SK_a length: the hash output (RFC 2404, 2; RFC 4868, 2.1.1).
    pub fn key_len(self) -> usize {
        match self {
            IntegAlgorithm::HmacSha1_96 => 20,
            IntegAlgorithm::HmacSha256_128 => 32,
            IntegAlgorithm::HmacSha384_192 => 48,
            IntegAlgorithm::HmacSha512_256 => 64,
        }
    }

    pub fn icv_len(self) -> usize {
        match self {
            IntegAlgorithm::HmacSha1_96 => 12,
            IntegAlgorithm::HmacSha256_128 => 16,
            IntegAlgorithm::HmacSha384_192 => 24,
            IntegAlgorithm::HmacSha512_256 => 32,
        }
    }

    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            IntegAlgorithm::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            IntegAlgorithm::HmacSha256_128 => hmac::HMAC_SHA256,
            IntegAlgorithm::HmacSha384_192 => hmac::HMAC_SHA384,
            IntegAlgorithm::HmacSha512_256 => hmac::HMAC_SHA512,
        }
    }
}

/// The key sizes prf+ must produce for this pair (SK_e, SK_a).
pub fn key_lengths(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>) -> KeyLengths {
    KeyLengths {
        encr: encr.key_len(),
        integ: integ.map_or(0, IntegAlgorithm::key_len),
    }
}

/// Keys of one direction of an IKE SA, ready to seal and open SK bodies.
pub struct SkCipher {
    encr: EncrAlgorithm,
    keys: Keys,
}

enum Keys {
    Cbc {
        key: Vec<u8>,
        integ: IntegAlgorithm,
        mac: hmac::Key,
    },
    Gcm {
        // Boxed: ring's AES-GCM key schedule is several hundred bytes.
        key: Box<LessSafeKey>,
        salt: [u8; GCM_SALT],
    },
}

impl std::fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let integ = match &self.keys {
            Keys::Cbc { integ, .. } => Some(*integ),
            Keys::Gcm { .. } => None,
        };
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &integ)
            .finish_non_exhaustive()
    }
}

impl SkCipher {
    /// `encr_key` is SK_e (with the salt for GCM), `integ_key` SK_a (empty
    /// for GCM).
    pub fn new(
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<SkCipher, CryptoError> {
        check_len(encr.key_len(), encr_key.len())?;
        let keys = match (encr, integ) {
            (EncrAlgorithm::AesCbc128 | EncrAlgorithm::AesCbc256, Some(integ)) => {
                check_len(integ.key_len(), integ_key.len())?;
                Keys::Cbc {
                    key: encr_key.to_vec(),
                    integ,
                    mac: hmac::Key::new(integ.hmac_algorithm(), integ_key),
                }
            }
            (EncrAlgorithm::AesGcm16_128 | EncrAlgorithm::AesGcm16_256, None) => {
                check_len(0, integ_key.len())?;
                let algorithm = match encr {
                    EncrAlgorithm::AesGcm16_128 => &aead::AES_128_GCM,
                    _ => &aead::AES_256_GCM,
                };
                let (key, salt) = encr_key.split_at(encr_key.len() - GCM_SALT);
                let key = UnboundKey::new(algorithm, key).map_err(|_| CryptoError::KeyLength {
                    expected: encr.key_len(),
                    actual: encr_key.len(),
                })?;
                let mut salt_bytes = [0; GCM_SALT];
                salt_bytes.copy_from_slice(salt);
                Keys::Gcm {
                    key: Box::new(LessSafeKey::new(key)),
                    salt: salt_bytes,
                }
            }
            _ => return Err(CryptoError::InvalidCombination),
        };
        Ok(SkCipher { encr, keys })
    }

    fn icv_len(&self) -> usize {
        match &self.keys {
            Keys::Cbc { integ, .. } => integ.icv_len(),
            Keys::Gcm { .. } => GCM_ICV,
        }
    }

    /// Padding for a payload chain of `len` bytes: CBC pads to whole
    /// blocks counting the Pad Length byte; GCM needs none (RFC 5282, 3).
    fn pad_len(&self, len: usize) -> usize {
        match self.keys {
            Keys::Cbc { .. } => (AES_BLOCK - (len + 1) % AES_BLOCK) % AES_BLOCK,
            Keys::Gcm { .. } => 0,
        }
    }

    /// Length of the SK body (IV through ICV) for a payload chain of
    /// `plaintext_len` bytes.
    pub fn encrypted_len(&self, plaintext_len: usize) -> usize {
        self.encr.iv_len() + plaintext_len + self.pad_len(plaintext_len) + 1 + self.icv_len()
    }

    /// Encrypts the payload chain `plaintext` into an SK body (IV |
    /// ciphertext | ICV) with a fresh IV from `rng`. `associated` is the
    /// message up to the SK body, lengths already final.
    pub fn seal(
        &self,
        associated: &[u8],
        plaintext: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, CryptoError> {
        let pad_len = self.pad_len(plaintext.len());
        let iv_len = self.encr.iv_len();
        let mut body = Vec::with_capacity(self.encrypted_len(plaintext.len()));
        body.resize(iv_len, 0);
        rng.fill(&mut body).map_err(|_| CryptoError::Random)?;
        body.extend_from_slice(plaintext);
        body.resize(body.len() + pad_len, 0);
        // pad_len < 16: fits the Pad Length byte.
        body.push(pad_len as u8);
        let (iv, inner) = body.split_at_mut(iv_len);
        match &self.keys {
            Keys::Cbc { key, integ, mac } => {
                let inner_len = inner.len();
                cbc_encrypt(key, iv, inner)
                    .map_err(|_| CryptoError::MalformedCiphertext { len: inner_len })?;
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(associated);
                ctx.update(&body);
                let tag = ctx.sign();
                body.extend_from_slice(tag.as_ref().get(..integ.icv_len()).unwrap_or_default());
            }
            Keys::Gcm { key, salt } => {
                let nonce = gcm_nonce(salt, iv)?;
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(associated), inner)
                    .map_err(|_| CryptoError::MalformedCiphertext { len: inner.len() })?;
                body.extend_from_slice(tag.as_ref());
            }
        }
        Ok(body)
    }

    /// Checks and decrypts an SK body; returns the inner payload chain
    /// without padding.
    pub fn open(&self, associated: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        let malformed = CryptoError::MalformedCiphertext { len: body.len() };
        // At least one cipher block (CBC) or the Pad Length byte (GCM).
        let min_inner = if self.encr.is_aead() { 1 } else { AES_BLOCK };
        if body.len() < iv_len + min_inner + icv_len {
            return Err(malformed);
        }
        let (iv, rest) = body.split_at(iv_len);
        let (ciphertext, icv) = rest.split_at(rest.len() - icv_len);
        let mut inner = match &self.keys {
            Keys::Cbc { key, mac, .. } => {
                if ciphertext.len() % AES_BLOCK != 0 {
                    return Err(malformed);
                }
                // Encrypt-then-MAC: check the ICV before decrypting.
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(associated);
                ctx.update(iv);
                ctx.update(ciphertext);
                let tag = ctx.sign();
                let expected = tag.as_ref().get(..icv_len).unwrap_or_default();
                if !bool::from(expected.ct_eq(icv)) {
                    return Err(CryptoError::IntegrityCheckFailed);
                }
                let mut inner = ciphertext.to_vec();
                cbc_decrypt(key, iv, &mut inner).map_err(|_| malformed)?;
                inner
            }
            Keys::Gcm { key, salt } => {
                let nonce = gcm_nonce(salt, iv)?;
                let mut in_out = rest.to_vec();
                let plain_len = key
                    .open_in_place(nonce, Aad::from(associated), &mut in_out)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?
                    .len();
                in_out.truncate(plain_len);
                in_out
            }
        };
        // The Pad Length byte is last; the padding before it is ignored
        // (RFC 7296, 3.14: its contents are arbitrary).
        let len = inner.len();
        let pad_len = usize::from(inner.last().copied().unwrap_or_default());
        if pad_len + 1 > len {
            return Err(CryptoError::BadPadding { pad_len, len });
        }
        inner.truncate(len - pad_len - 1);
        Ok(inner)
    }
}

fn check_len(expected: usize, actual: usize) -> Result<(), CryptoError> {
    if expected == actual {
        Ok(())
    } else {
        Err(CryptoError::KeyLength { expected, actual })
    }
}

/// RFC 5282, 3.1: nonce = salt | explicit IV.
fn gcm_nonce(salt: &[u8; GCM_SALT], iv: &[u8]) -> Result<Nonce, CryptoError> {
    let mut nonce = [0; GCM_SALT + GCM_IV];
    nonce[..GCM_SALT].copy_from_slice(salt);
    let explicit = nonce.get_mut(GCM_SALT..).unwrap_or_default();
    if iv.len() != explicit.len() {
        return Err(CryptoError::MalformedCiphertext { len: iv.len() });
    }
    explicit.copy_from_slice(iv);
    Ok(Nonce::assume_unique_for_key(nonce))
}

/// AES-CBC in place over whole blocks (our own IKE padding, no PKCS#7).
/// Errors only on a key, IV or buffer of the wrong size.
fn cbc_encrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), ()> {
    let len = buf.len();
    match key.len() {
        16 => cbc::Encryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(drop)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(drop)
            .map_err(drop),
        32 => cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(drop)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(drop)
            .map_err(drop),
        _ => Err(()),
    }
}

fn cbc_decrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), ()> {
    match key.len() {
        16 => cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(drop)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(drop)
            .map_err(drop),
        32 => cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(drop)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(drop)
            .map_err(drop),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests;
