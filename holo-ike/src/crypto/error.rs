//! Errors of the cryptographic building blocks. A peer can cause most of
//! them (a bad public value, a forged ICV), so they are values, never
//! panics.

use super::dh::DhGroup;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// RFC 7296, 2.13: prf+ yields at most 255 PRF outputs.
    #[error("prf+ asked for {requested} bytes, at most {max} possible")]
    PrfPlusTooLong { requested: usize, max: usize },
    #[error("{group}: public value of {actual} bytes, expected {expected}")]
    PublicValueLength {
        group: DhGroup,
        expected: usize,
        actual: usize,
    },
    /// Out of range (MODP: not 1 < y < p-1), not on the curve, or an
    /// all-zero shared secret (RFC 8031, 2.3).
    #[error("{group}: invalid public value from the peer")]
    InvalidPublicValue { group: DhGroup },
    #[error("the system random number generator failed")]
    Random,
    /// AES-CBC needs an integrity algorithm, AES-GCM must have none
    /// (RFC 7296, 3.3.3).
    #[error("encryption and integrity algorithms do not combine")]
    InvalidCombination,
    #[error("key of {actual} bytes, expected {expected}")]
    KeyLength { expected: usize, actual: usize },
    /// The Encrypted payload is shorter than IV + one block + ICV, or its
    /// ciphertext is not a whole number of blocks.
    #[error("encrypted payload of {len} bytes is malformed")]
    MalformedCiphertext { len: usize },
    /// The ICV (or the GCM tag) does not verify: forged, corrupted, or
    /// the wrong key.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// The Pad Length byte points before the start of the plaintext.
    #[error("pad length {pad_len} exceeds the decrypted length {len}")]
    BadPadding { pad_len: usize, len: usize },
}
