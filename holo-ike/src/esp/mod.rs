//! ESP transforms (RFC 4303): what turns an inner packet into an ESP packet
//! and back, for one child SA in one direction.
//!
//! ```text
//!  SPI | Sequence Number | IV | Payload | Padding | Pad Length | Next Header | ICV
//!                              \______________ encrypted _______________/
//! ```
//!
//! An [`OutboundSa`] seals: it numbers packets from 1, pads, encrypts and
//! appends the ICV. An [`InboundSa`] opens: it authenticates, checks the
//! anti-replay window, decrypts in place and strips the trailer. Each
//! concept has its file: the packet layout an SA's algorithms imply
//! (`layout.rs`), the padding (`trailer.rs`), the two ciphers (`gcm.rs`:
//! AES-GCM, RFC 4106; `cbc.rs`: AES-CBC with HMAC, RFC 3602, 2404, 4868),
//! the anti-replay window with the inference of extended sequence numbers
//! (`replay.rs`), and the two directions of an SA (`outbound.rs`,
//! `inbound.rs`).
//!
//! This is the data plane: no allocation per packet beyond growing the
//! caller's output buffer, keys expanded once when the SA is created.

mod cbc;
mod counters;
mod error;
mod gcm;
mod inbound;
mod layout;
mod outbound;
mod replay;
mod trailer;

#[cfg(test)]
mod tests;

pub use counters::SaCounters;
pub use error::EspError;
pub use inbound::InboundSa;
pub use outbound::OutboundSa;
pub use replay::MAX_REPLAY_WINDOW;

use crate::packet::esp::{HEADER_LEN, SEQUENCE, SPI};

/// The SPI of an ESP packet without processing it (None if shorter than
/// the 8-byte header), to look up its [`InboundSa`].
pub fn spi_of(packet: &[u8]) -> Option<u32> {
    header(packet).map(|(spi, _)| spi)
}

/// SPI and the low 32 bits of the sequence number (RFC 4303, 2.1, 2.2).
fn header(packet: &[u8]) -> Option<(u32, u32)> {
    let spi = packet.get(SPI..SPI + 4)?.try_into().ok()?;
    let sequence = packet.get(SEQUENCE..HEADER_LEN)?.try_into().ok()?;
    Some((u32::from_be_bytes(spi), u32::from_be_bytes(sequence)))
}
