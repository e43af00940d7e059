//! A bounds-checked reader over a byte slice. Every read names the field it
//! is for, so a short buffer becomes an error that says which field at which
//! offset did not fit, never a panic.

use std::fmt;

/// A read that ran past the end of its buffer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} at offset {offset}: needs {needed} bytes, {available} available")]
pub struct Truncated {
    pub field: &'static str,
    pub offset: usize,
    pub needed: usize,
    pub available: usize,
}

/// Cursor over `buf`. Offsets it reports are relative to `base`, so a reader
/// over a sub-slice still reports offsets in the whole packet.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("offset", &self.offset())
            .field("remaining", &self.remaining())
            .finish()
    }
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader::with_base(buf, 0)
    }

    /// A reader over `buf`, which starts at offset `base` of the packet.
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Offset of the next byte, in the packet.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn bytes(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], Truncated> {
        if len > self.remaining() {
            return Err(Truncated {
                field,
                offset: self.offset(),
                needed: len,
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// A reader over the next `len` bytes; this reader skips past them.
    pub fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, Truncated> {
        let base = self.offset();
        let buf = self.bytes(len, field)?;
        Ok(Reader::with_base(buf, base))
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, Truncated> {
        Ok(self.array::<1>(field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Truncated> {
        let bytes = self.bytes(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_tracks_offset() {
        let mut r = Reader::with_base(&[1, 2, 3, 4, 5, 6], 10);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(0x0203));
        assert_eq!(r.offset(), 13);
        assert_eq!(r.u32("c").unwrap_err().offset, 13);
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 3);
        let mut sub = r.sub(2, "d").unwrap();
        assert_eq!(sub.offset(), 13);
        assert_eq!(sub.rest(), &[4, 5]);
        assert_eq!(r.rest(), &[6]);
    }

    #[test]
    fn truncation_names_field() {
        let mut r = Reader::new(&[0]);
        let err = r.u16("hop count").unwrap_err();
        assert_eq!(
            err,
            Truncated {
                field: "hop count",
                offset: 0,
                needed: 2,
                available: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "hop count at offset 0: needs 2 bytes, 1 available"
        );
    }
}
