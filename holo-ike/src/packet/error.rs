//! Codec errors. Every decode error names the field and its byte offset in
//! the message (offset 0 = first byte of the IKE header, or of the ESP
//! header), so that a log line can point at it.

use holo_utils::bytes::Truncated;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: {0}")]
    Truncated(#[from] Truncated),
    #[error("{field} at offset {offset}: length {length} is invalid ({reason})")]
    Length {
        field: &'static str,
        offset: usize,
        length: usize,
        reason: &'static str,
    },
    #[error("major version at offset 17 is {0}, only 2 (IKEv2) is supported")]
    MajorVersion(u8),
    #[error("{field} at offset {offset}: more than {max} ({reason})")]
    TooMany {
        field: &'static str,
        offset: usize,
        max: usize,
        reason: &'static str,
    },
    #[error("{field} at offset {offset}: value {value} is invalid ({reason})")]
    Value {
        field: &'static str,
        offset: usize,
        value: u32,
        reason: &'static str,
    },
    #[error("{field} at offset {offset}: {count} bytes left over")]
    TrailingBytes {
        field: &'static str,
        offset: usize,
        count: usize,
    },
}

impl DecodeError {
    /// Offset of the offending field.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Truncated(t) => t.offset,
            DecodeError::MajorVersion(_) => super::header::VERSION,
            DecodeError::Length { offset, .. }
            | DecodeError::TooMany { offset, .. }
            | DecodeError::Value { offset, .. }
            | DecodeError::TrailingBytes { offset, .. } => *offset,
        }
    }

    /// Name of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            DecodeError::Truncated(t) => t.field,
            DecodeError::MajorVersion(_) => "version",
            DecodeError::Length { field, .. }
            | DecodeError::TooMany { field, .. }
            | DecodeError::Value { field, .. }
            | DecodeError::TrailingBytes { field, .. } => field,
        }
    }
}

/// A value that cannot be put on the wire (shared by every codec).
pub use holo_utils::encode::EncodeError;
pub(crate) use holo_utils::encode::fits;

/// Fails when a reader that should be used up still holds bytes.
pub(crate) fn consumed(
    r: &holo_utils::bytes::Reader<'_>,
    field: &'static str,
) -> Result<(), DecodeError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes {
            field,
            offset: r.offset(),
            count: r.remaining(),
        })
    }
}
