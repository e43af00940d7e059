//! Why a packet could not be sealed or opened, or an SA not created.
//!
//! A peer, or anyone on the path, causes most of these (a forged ICV, a
//! replayed packet), so they are values, never panics. Each dropped
//! packet is counted in one of the [`super::SaCounters`] fields, chosen
//! by [`EspError::is_replay`] and [`EspError::is_integrity`].

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EspError {
    /// Shorter than header, IV, trailer and ICV, or (AES-CBC) a
    /// ciphertext that is not a whole number of blocks.
    #[error("ESP packet truncated or not a whole number of cipher blocks")]
    Truncated,
    /// A key of the wrong size for its algorithm (the AES-GCM key
    /// includes its 4-byte salt; no integrity key with AES-GCM).
    #[error("ESP key of the wrong length for its algorithm")]
    KeyLength,
    /// AES-CBC needs an integrity algorithm, AES-GCM must have none
    /// (RFC 7296, 3.3.3).
    #[error("ESP encryption and integrity algorithms do not combine")]
    InvalidCombination,
    /// The system random number generator failed (AES-CBC IV key).
    #[error("the system random number generator failed")]
    Random,
    /// The packet belongs to another SA: its lookup went wrong.
    #[error("ESP packet for SPI {actual:#010x} given to the SA of SPI {expected:#010x}")]
    SpiMismatch { expected: u32, actual: u32 },
    /// The ICV (or the GCM tag) does not verify: forged, corrupted, or
    /// keys out of step with the peer's.
    #[error("ESP integrity check failed")]
    IcvMismatch,
    /// RFC 4303, 3.4.3: this sequence number was already received.
    #[error("ESP sequence number {seq} replayed")]
    Replayed { seq: u64 },
    /// RFC 4303, 3.4.3: left of the anti-replay window (or 0, which is
    /// never sent).
    #[error("ESP sequence number {seq} is older than the anti-replay window")]
    TooOld { seq: u64 },
    /// RFC 4303, 2.4: Pad Length beyond the plaintext, or padding bytes
    /// other than 1, 2, 3...; the packet authenticated, so the peer is
    /// broken rather than an attacker.
    #[error("ESP padding is malformed")]
    BadPadding,
    /// RFC 4303, 3.3.3: the sequence number would cycle (2^32 - 1 packets
    /// sent, or 2^64 - 1 with ESN); the SA must be rekeyed.
    #[error("ESP sequence numbers exhausted, the SA needs rekeying")]
    SequenceExhausted,
    /// The cipher refused the payload (beyond what AES-GCM can protect
    /// under one nonce, about 64 GiB): unreachable with real packets.
    #[error("ESP payload of {len} bytes is too long to encrypt")]
    PayloadTooLong { len: usize },
}

impl EspError {
    /// Counted as a replay drop.
    pub fn is_replay(&self) -> bool {
        matches!(self, EspError::Replayed { .. } | EspError::TooOld { .. })
    }

    /// Counted as an integrity failure.
    pub fn is_integrity(&self) -> bool {
        matches!(self, EspError::IcvMismatch)
    }
}
