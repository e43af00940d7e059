//! A minimal DER reader (X.690): enough to walk certificates, keys and
//! AlgorithmIdentifiers. Single-byte tags only; lengths up to 4 bytes.
//! Malformed input is an error value, never a panic.

pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// Context-specific, constructed: `[n] EXPLICIT`.
pub(crate) const fn explicit(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific, primitive: `[n] IMPLICIT` of a primitive type.
pub(crate) const fn implicit(n: u8) -> u8 {
    0x80 | n
}

/// Why DER input was refused.
pub(crate) type DerError = &'static str;

/// One element: its tag, its contents, and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads consecutive elements from a buffer.
#[derive(Clone, Debug)]
pub(crate) struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Der<'a> {
        Der { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub(crate) fn next(&mut self) -> Result<Tlv<'a>, DerError> {
        let input = self.rest;
        let (&tag, after_tag) = input.split_first().ok_or("truncated DER")?;
        if tag & 0x1f == 0x1f {
            return Err("multi-byte DER tag");
        }
        let (&first, after_len) = after_tag.split_first().ok_or("truncated DER length")?;
        let (len, body) = if first < 0x80 {
            (usize::from(first), after_len)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err("unsupported DER length");
            }
            let (len_bytes, body) = after_len
                .split_at_checked(n)
                .ok_or("truncated DER length")?;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, body)
        };
        let value = body.get(..len).ok_or("DER length beyond the input")?;
        let header = input.len() - body.len();
        let raw = &input[..header + len];
        self.rest = &body[len..];
        Ok(Tlv { tag, value, raw })
    }

    /// The next element, which must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.next()?;
        if tlv.tag != tag {
            return Err("unexpected DER tag");
        }
        Ok(tlv)
    }

    /// The next element if it has tag `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.next().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// `bytes` must be exactly one element with tag `tag`.
pub(crate) fn single(bytes: &[u8], tag: u8) -> Result<Tlv<'_>, DerError> {
    let mut der = Der::new(bytes);
    let tlv = der.expect(tag)?;
    if !der.is_empty() {
        return Err("trailing data after DER element");
    }
    Ok(tlv)
}

/// The contents of a BIT STRING with no unused bits.
pub(crate) fn bit_string_bytes(value: &[u8]) -> Result<&[u8], DerError> {
    match value.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err("BIT STRING with unused bits"),
    }
}

/// Encodes one element.
pub(crate) fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// A non-negative INTEGER from big-endian bytes (minimal, with a leading
/// zero where the high bit is set).
pub(crate) fn encode_unsigned(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().take_while(|&&b| b == 0).count();
    let digits = &bytes[start..];
    let mut value = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(digits);
    encode(INTEGER, &value)
}

/// Dotted text of an OBJECT IDENTIFIER's contents, for log lines.
pub(crate) fn oid_to_string(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = vec![];
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_der_reads_short_and_long_lengths() {
        let long = encode(OCTET_STRING, &[7; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let tlv = single(&long, OCTET_STRING).expect("one element");
        assert_eq!(tlv.value.len(), 300);
        assert_eq!(tlv.raw, &long[..]);
        let short = encode(0x05, &[]);
        assert_eq!(short, [0x05, 0x00]);
        assert!(single(&long[..100], OCTET_STRING).is_err());
        assert!(single(&[0x04, 0x80], OCTET_STRING).is_err());
        assert!(single(&[0x1f, 0x01, 0x00], OCTET_STRING).is_err());
        assert!(single(&[0x05, 0x00, 0x00], 0x05).is_err());
    }

    #[test]
    fn certificates_der_unsigned_integers_and_oids() {
        assert_eq!(encode_unsigned(&[0, 0, 0x7f]), [0x02, 0x01, 0x7f]);
        assert_eq!(encode_unsigned(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(encode_unsigned(&[0, 0]), [0x02, 0x01, 0x00]);
        // ecdsa-with-SHA256.
        let oid = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        assert_eq!(oid_to_string(&oid), "1.2.840.10045.4.3.2");
    }
}
