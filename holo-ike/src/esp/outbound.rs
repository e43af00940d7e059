//! The sending side of a child SA: numbers, pads, encrypts, appends the
//! ICV (RFC 4303, 3.3).

use ring::rand::SystemRandom;

use super::cbc::CbcSealer;
use super::gcm::{self, GcmKey};
use super::layout::{AES_BLOCK, Layout};
use super::{EspError, SaCounters, trailer};
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};
use crate::packet::esp::HEADER_LEN;

pub struct OutboundSa {
    spi: u32,
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
    esn: bool,
    layout: Layout,
    /// The last sequence number sent, 0 before the first.
    sequence: u64,
    cipher: Sealer,
    counters: SaCounters,
}

// Boxed: expanded keys are several hundred bytes.
enum Sealer {
    Gcm(Box<GcmKey>),
    Cbc(Box<CbcSealer>),
}

impl std::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("esn", &self.esn)
            .field("sequence", &self.sequence)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// `encr_key` includes the 4-byte salt for AES-GCM; `integ` is None
    /// (and `integ_key` empty) for AES-GCM, Some for AES-CBC.
    pub fn new(
        spi: u32,
        encr: EncrAlgorithm,
        integ: Option<IntegAlgorithm>,
        encr_key: &[u8],
        integ_key: &[u8],
        esn: bool,
    ) -> Result<OutboundSa, EspError> {
        let layout = Layout::new(encr, integ)?;
        let cipher = match integ {
            None if integ_key.is_empty() => Sealer::Gcm(Box::new(GcmKey::new(encr, encr_key)?)),
            None => return Err(EspError::KeyLength),
            Some(integ) => Sealer::Cbc(Box::new(CbcSealer::new(
                encr,
                encr_key,
                integ,
                integ_key,
                &SystemRandom::new(),
            )?)),
        };
        Ok(OutboundSa {
            spi,
            encr,
            integ,
            esn,
            layout,
            sequence: 0,
            cipher,
            counters: SaCounters::default(),
        })
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Appends to `out` one ESP packet (SPI .. ICV) carrying `payload`
    /// with Next Header `next_header` (47 for GRE in transport mode, 4 for
    /// IPv4 in tunnel mode). Sequence numbers start at 1 and never cycle
    /// (RFC 4303, 3.3.3): after 2^32 - 1 packets (2^64 - 1 with ESN) every
    /// call fails with SequenceExhausted until the SA is replaced.
    pub fn seal(
        &mut self,
        next_header: u8,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EspError> {
        let last = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if self.sequence >= last {
            self.counters.count_drop(&EspError::SequenceExhausted);
            return Err(EspError::SequenceExhausted);
        }
        // Consumed even if sealing fails below: a sequence number, hence a
        // GCM nonce, is never used twice.
        self.sequence += 1;
        let seq = self.sequence;
        let mut iv = [0; AES_BLOCK];
        match &self.cipher {
            // RFC 4106, 3.1: the IV must not repeat under one key; the
            // sequence number never does.
            Sealer::Gcm(_) => iv[..gcm::IV_LEN].copy_from_slice(&seq.to_be_bytes()),
            Sealer::Cbc(cbc) => iv = cbc.iv(seq),
        }
        match self.seal_with_iv(seq, &iv, next_header, payload, out) {
            Ok(()) => {
                self.counters.count_packet(payload.len());
                Ok(())
            }
            Err(error) => {
                self.counters.count_drop(&error);
                Err(error)
            }
        }
    }

    /// `seal` with a given sequence number and IV (the first `iv_len`
    /// bytes of `iv`): what the known-answer tests need.
    pub(super) fn seal_with_iv(
        &self,
        seq: u64,
        iv: &[u8; AES_BLOCK],
        next_header: u8,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EspError> {
        let pad_len = self.layout.pad_len(payload.len());
        out.reserve(payload.len() + self.layout.overhead(payload.len()));
        let start = out.len();
        out.extend_from_slice(&self.spi.to_be_bytes());
        // Only the low 32 bits are sent (RFC 4303, 2.2.1).
        out.extend_from_slice(&(seq as u32).to_be_bytes());
        let encrypted = start + HEADER_LEN + self.layout.iv_len;
        match &self.cipher {
            Sealer::Gcm(key) => {
                let [iv @ .., _, _, _, _, _, _, _, _] = iv;
                out.extend_from_slice(iv);
                out.extend_from_slice(payload);
                trailer::push(out, pad_len, next_header);
                let in_out = out.get_mut(encrypted..).unwrap_or_default();
                match key.seal(self.spi, seq, self.esn, iv, in_out) {
                    Ok(tag) => out.extend_from_slice(tag.as_ref()),
                    Err(error) => {
                        out.truncate(start);
                        return Err(error);
                    }
                }
            }
            Sealer::Cbc(cbc) => {
                out.extend_from_slice(iv);
                out.extend_from_slice(payload);
                trailer::push(out, pad_len, next_header);
                let blocks = out.get_mut(encrypted..).unwrap_or_default();
                if let Err(error) = cbc.encrypt(iv, blocks) {
                    out.truncate(start);
                    return Err(error);
                }
                let esn_high = self.esn.then_some((seq >> 32) as u32);
                cbc.integrity.push_icv(out, start, esn_high);
            }
        }
        Ok(())
    }

    /// Bytes `seal` adds around a payload of `len` bytes (header, IV,
    /// padding, trailer, ICV).
    pub fn overhead(&self, len: usize) -> usize {
        self.layout.overhead(len)
    }

    pub fn counters(&self) -> SaCounters {
        self.counters
    }

    /// The highest sequence number used so far (lifetimes, rekeying).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Continues numbering after `sequence`, as if that many packets had
    /// been sent.
    #[cfg(test)]
    pub(super) fn set_sequence(&mut self, sequence: u64) {
        self.sequence = sequence;
    }
}
