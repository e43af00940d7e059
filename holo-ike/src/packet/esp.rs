//! The ESP header (RFC 4303, 2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~    Payload Data (IV ...), Padding, Pad Length, Next Header, ICV ~
//! ```
//! Everything after the sequence number is encrypted or depends on the
//! SA's algorithms, so it stays opaque here.

use serde::Serialize;

use super::error::DecodeError;

pub const SPI: usize = 0;
pub const SEQUENCE: usize = 4;
pub const HEADER_LEN: usize = 8;

/// A zero-copy look at an ESP packet.
#[derive(Clone, Copy, Debug)]
pub struct EspPacket<'a> {
    buf: &'a [u8],
}

impl<'a> EspPacket<'a> {
    /// Checks that the header is there and the SPI is not the reserved 0
    /// (RFC 4303, 2.1: never sent on the wire).
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(holo_utils::bytes::Truncated {
                field: "ESP header",
                offset: 0,
                needed: HEADER_LEN,
                available: buf.len(),
            }
            .into());
        }
        let packet = EspPacket { buf };
        if packet.spi() == 0 {
            return Err(DecodeError::Value {
                field: "ESP SPI",
                offset: SPI,
                value: 0,
                reason: "SPI 0 is reserved",
            });
        }
        Ok(packet)
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.buf[at..at + 4]);
        u32::from_be_bytes(b)
    }

    pub fn spi(&self) -> u32 {
        self.u32_at(SPI)
    }

    pub fn sequence(&self) -> u32 {
        self.u32_at(SEQUENCE)
    }

    /// Everything after the header, opaque.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EspRepr {
    pub spi: u32,
    /// The low 32 bits of the sequence number (the high ones of an ESN are
    /// never sent).
    pub sequence: u32,
}

impl EspRepr {
    /// The header at the start of `buf` and what follows it.
    pub fn parse(buf: &[u8]) -> Result<(EspRepr, &[u8]), DecodeError> {
        let packet = EspPacket::new_checked(buf)?;
        let repr = EspRepr {
            spi: packet.spi(),
            sequence: packet.sequence(),
        };
        Ok((repr, packet.payload()))
    }

    pub fn emit(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.spi.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }
}
