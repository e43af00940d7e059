//! Codec errors. Every decode error names the field and the byte offset in
//! the NHRP packet (offset 0 = first byte of the fixed header), so that a log
//! line or an Error Indication (RFC 2332, 5.2.7: Error Offset) can point at it.

use holo_utils::bytes::Truncated;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: {0}")]
    Truncated(#[from] Truncated),
    #[error("packet size (ar$pktsz) at offset 10 is {size}, but {available} bytes are available")]
    PacketSize { size: u16, available: usize },
    #[error("checksum (ar$chksum) at offset 12 is {found:#06x}, computed {computed:#06x}")]
    Checksum { found: u16, computed: u16 },
    #[error("version (ar$op.version) at offset 16 is {0}, only 1 (RFC 2332) is supported")]
    Version(u8),
    #[error("unknown packet type (ar$op.type) {0} at offset 17")]
    UnknownType(u8),
    #[error(
        "protocol SNAP (ar$pro.snap) at offset 4 is not zero for short-form protocol type {0:#06x}"
    )]
    SnapNotZero(u16),
    #[error("{field} at offset {offset}: reserved bit set in {value:#04x}")]
    ReservedBit {
        field: &'static str,
        offset: usize,
        value: u16,
    },
    #[error("extension offset (ar$extoff) at offset 14 is {extoff}, must be 0 or in {min}..{max}")]
    ExtensionOffset { extoff: u16, min: usize, max: usize },
    #[error("{name} extension at offset {offset}: length {length} is invalid ({reason})")]
    ExtensionLength {
        name: &'static str,
        offset: usize,
        length: u16,
        reason: &'static str,
    },
}

impl DecodeError {
    /// Offset of the offending field in the NHRP packet.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Truncated(t) => t.offset,
            DecodeError::PacketSize { .. } => 10,
            DecodeError::Checksum { .. } => 12,
            DecodeError::Version(_) => 16,
            DecodeError::UnknownType(_) => 17,
            DecodeError::SnapNotZero(_) => 4,
            DecodeError::ReservedBit { offset, .. } => *offset,
            DecodeError::ExtensionOffset { .. } => 14,
            DecodeError::ExtensionLength { offset, .. } => *offset,
        }
    }

    /// Whether the packet arrived intact (size and checksum good, RFC 2332
    /// version) but breaks the format, so its sender deserves an Error
    /// Indication "Protocol Error" rather than a silent drop: corruption in
    /// transit and foreign traffic are only dropped.
    pub fn is_protocol_error(&self) -> bool {
        match self {
            DecodeError::Truncated(t) => t.offset >= super::header::LEN,
            DecodeError::PacketSize { .. }
            | DecodeError::Checksum { .. }
            | DecodeError::Version(_) => false,
            DecodeError::UnknownType(_)
            | DecodeError::SnapNotZero(_)
            | DecodeError::ReservedBit { .. }
            | DecodeError::ExtensionOffset { .. }
            | DecodeError::ExtensionLength { .. } => true,
        }
    }

    /// Name of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            DecodeError::Truncated(t) => t.field,
            DecodeError::PacketSize { .. } => "packet size",
            DecodeError::Checksum { .. } => "checksum",
            DecodeError::Version(_) => "version",
            DecodeError::UnknownType(_) => "packet type",
            DecodeError::SnapNotZero(_) => "protocol snap",
            DecodeError::ReservedBit { field, .. } => field,
            DecodeError::ExtensionOffset { .. } => "extension offset",
            DecodeError::ExtensionLength { name, .. } => name,
        }
    }
}

/// A packet value that cannot be put on the wire (shared by every codec).
pub use holo_utils::encode::EncodeError;
pub(crate) use holo_utils::encode::fits;
