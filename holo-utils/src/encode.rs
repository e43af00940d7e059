//! What stops a value from being put on the wire, for every codec of the
//! workspace (NHRP, IKEv2): a length or count beyond its field, or a value
//! the format cannot carry.

/// A value that cannot be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{field} is {len} bytes long, at most {max} fit")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{0}")]
    Invalid(&'static str),
}

/// Checks that a length or count fits its field.
pub fn fits(field: &'static str, len: usize, max: usize) -> Result<(), EncodeError> {
    if len > max {
        Err(EncodeError::TooLong { field, len, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_beyond_its_field_is_named() {
        assert_eq!(fits("cie", 255, 255), Ok(()));
        let error = fits("cie", 256, 255).unwrap_err();
        assert_eq!(error.to_string(), "cie is 256 bytes long, at most 255 fit");
    }
}
