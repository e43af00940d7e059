//! The receiving side of a child SA: authenticates, checks for replays,
//! decrypts in place, strips the trailer (RFC 4303, 3.4).

use std::ops::Range;

use super::cbc::CbcOpener;
use super::gcm::GcmKey;
use super::layout::{AES_BLOCK, Layout};
use super::replay::ReplayWindow;
use super::{EspError, SaCounters, header, trailer};
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};
use crate::packet::esp::HEADER_LEN;

pub struct InboundSa {
    spi: u32,
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
    esn: bool,
    layout: Layout,
    cipher: Opener,
    replay: ReplayWindow,
    counters: SaCounters,
}

// Boxed: expanded keys are several hundred bytes.
enum Opener {
    Gcm(Box<GcmKey>),
    Cbc(Box<CbcOpener>),
}

impl std::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay.size())
            .field("highest_sequence", &self.replay.top())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// `encr_key` includes the 4-byte salt for AES-GCM; `integ` is None
    /// (and `integ_key` empty) for AES-GCM, Some for AES-CBC.
    /// `replay_window` 0 turns anti-replay off; other values are rounded
    /// up to a multiple of 64 and capped at [`super::MAX_REPLAY_WINDOW`].
    pub fn new(
        spi: u32,
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
        encr_key: &[u8],
        integ_key: &[u8],
        esn: bool,
        replay_window: u32,
    ) -> Result<InboundSa, EspError> {
        let layout = Layout::new(encr, integ)?;
        let cipher = match integ {
            None if integ_key.is_empty() => Opener::Gcm(Box::new(GcmKey::new(encr, encr_key)?)),
            None => return Err(EspError::KeyLength),
            Some(integ) => Opener::Cbc(Box::new(CbcOpener::new(encr, encr_key, integ, integ_key)?)),
        };
        Ok(InboundSa {
            spi,
            encr,
            integ,
            esn,
            layout,
            cipher,
            replay: ReplayWindow::new(replay_window, esn),
            counters: SaCounters::default(),
        })
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Authenticates `packet` (SPI .. ICV), checks it against the
    /// anti-replay window, decrypts it in place and checks its padding;
    /// returns Next Header and the payload, a part of `packet`. The ICV
    /// is verified before the window is updated (RFC 4303, 3.4.3, 3.4.4).
    /// Next Header 59 marks a dummy packet (RFC 4303, 2.6), which the
    /// caller discards.
    pub fn open<'a>(&mut self, packet: &'a mut [u8]) -> Result<(u8, &'a [u8]), EspError> {
        match self.open_in_place(packet) {
            Ok((next_header, payload)) => {
                self.counters.count_packet(payload.len());
                Ok((next_header, packet.get(payload).unwrap_or_default()))
            }
            Err(error) => {
                self.counters.count_drop(&error);
                Err(error)
            }
        }
    }

    /// Next Header and where the payload is in `packet`.
    fn open_in_place(&mut self, packet: &mut [u8]) -> Result<(u8, Range<usize>), EspError> {
        if packet.len() < self.layout.min_packet_len() {
            return Err(EspError::Truncated);
        }
        let (spi, low) = header(packet).ok_or(EspError::Truncated)?;
        if spi != self.spi {
            return Err(EspError::SpiMismatch {
                expected: self.spi,
                actual: spi,
            });
        }
        // An early, cheap drop; the window changes only after the ICV.
        let seq = self.replay.check(low)?;
        let start = HEADER_LEN + self.layout.iv_len;
        let plaintext_len = match &self.cipher {
            Opener::Gcm(key) => {
                let (head, rest) = packet.split_at_mut(start);
                key.open(self.spi, seq, self.esn, explicit_iv(head)?, rest)?
            }
            Opener::Cbc(cbc) => {
                let covered = packet.len() - self.layout.icv_len;
                if !(covered - start).is_multiple_of(AES_BLOCK) {
                    return Err(EspError::Truncated);
                }
                let (covered, icv) = packet.split_at_mut(covered);
                let esn_high = self.esn.then_some((seq >> 32) as u32);
                // Encrypt-then-MAC: nothing is decrypted before this.
                if !cbc.integrity.verify(covered, esn_high, icv) {
                    return Err(EspError::IcvMismatch);
                }
                let (head, ciphertext) = covered.split_at_mut(start);
                cbc.decrypt(explicit_iv(head)?, ciphertext)?;
                ciphertext.len()
            }
        };
        self.replay.accept(seq);
        let plaintext = packet
            .get(start..start + plaintext_len)
            .ok_or(EspError::Truncated)?;
        let (next_header, payload_len) = trailer::parse(plaintext)?;
        Ok((next_header, start..start + payload_len))
    }

    pub fn counters(&self) -> SaCounters {
        self.counters
    }

    /// Starts the anti-replay window (and the ESN inference) at `seq`, as
    /// if that packet had just been received.
    #[cfg(test)]
    pub(super) fn set_highest_sequence(&mut self, seq: u64) {
        self.replay.set_top(seq);
    }
}

/// The IV after the header of `head` (header | IV).
fn explicit_iv<const N: usize>(head: &[u8]) -> Result<&[u8; N], EspError> {
    head.get(HEADER_LEN..)
        .and_then(|iv| iv.try_into().ok())
        .ok_or(EspError::Truncated)
}
