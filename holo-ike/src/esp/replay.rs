//! Anti-replay (RFC 4303, 3.4.3) and the high-order bits of extended
//! sequence numbers, which are never sent (RFC 4303, 2.2.1, Appendix A2).
//!
//! The window is a bitmap of the last W sequence numbers below and
//! including the highest authenticated one, T. It is a ring of 64-bit
//! words indexed by the sequence number itself, one word longer than W:
//! sliding the window right only clears the words it enters, instead of
//! shifting the whole bitmap.
//!
//! The receiver checks a packet against the window before its ICV (a
//! cheap early drop) but marks it received only after the ICV verified
//! (RFC 4303, 3.4.3): a forged packet must not move the window.

use super::EspError;

/// The largest window we keep; larger requests are capped.
pub const MAX_REPLAY_WINDOW: u32 = 4096;
const WORD_BITS: u64 = u64::BITS as u64;

pub(super) struct ReplayWindow {
    esn: bool,
    /// T: the highest sequence number authenticated so far, 0 before the
    /// first (the sender starts at 1, RFC 4303, 3.3.3).
    top: u64,
    /// W in bits, a multiple of 64; 0 when anti-replay is off.
    size: u32,
    words: Box<[u64]>,
}

impl ReplayWindow {
    /// `size` 0 turns anti-replay off; other sizes are rounded up to a
    /// multiple of 64 and capped at [`MAX_REPLAY_WINDOW`].
    pub(super) fn new(size: u32, esn: bool) -> ReplayWindow {
        let size = size.div_ceil(64).saturating_mul(64).min(MAX_REPLAY_WINDOW);
        let words = if size == 0 {
            Box::default()
        } else {
            vec![0; size as usize / 64 + 1].into_boxed_slice()
        };
        ReplayWindow {
            esn,
            top: 0,
            size,
            words,
        }
    }

    pub(super) fn size(&self) -> u32 {
        self.size
    }

    pub(super) fn top(&self) -> u64 {
        self.top
    }

    /// The full sequence number of a packet carrying `low`, if it may be
    /// new: not 0, not left of the window, not already received. Changes
    /// nothing; [`ReplayWindow::accept`] does, after the ICV verified.
    pub(super) fn check(&self, low: u32) -> Result<u64, EspError> {
        let seq = if self.esn {
            self.infer(low)
        } else {
            u64::from(low)
        };
        if seq == 0 {
            return Err(EspError::TooOld { seq });
        }
        if self.size == 0 || seq > self.top {
            return Ok(seq);
        }
        if self.top - seq >= u64::from(self.size) {
            return Err(EspError::TooOld { seq });
        }
        if self.is_marked(seq) {
            return Err(EspError::Replayed { seq });
        }
        Ok(seq)
    }

    /// RFC 4303, A2.2: the high 32 bits that put `low` in the window or
    /// right of it. Without anti-replay, a notional window of half the
    /// 32-bit space picks the value closest to T.
    fn infer(&self, low: u32) -> u64 {
        let w = if self.size == 0 { 1 << 31 } else { self.size };
        let high = (self.top >> 32) as u32;
        let top_low = self.top as u32;
        let high = if top_low >= w - 1 {
            // The window lies within one 2^32 subspace: below its bottom
            // means the next subspace. At the last one, keep the high
            // bits: the packet is then left of the window, TooOld.
            if low >= top_low - (w - 1) {
                high
            } else {
                high.saturating_add(1)
            }
        } else if low >= top_low.wrapping_sub(w - 1) {
            // The window starts in the previous subspace, and `low` is in
            // that part of it. Before T reaches W there is no previous
            // subspace: `low` is then far right of the window.
            high.saturating_sub(1)
        } else {
            high
        };
        (u64::from(high) << 32) | u64::from(low)
    }

    /// Marks `seq` received, sliding the window if it is the new T.
    pub(super) fn accept(&mut self, seq: u64) {
        if seq > self.top {
            let ring = self.words.len() as u64;
            if ring > 0 {
                let from = self.top / WORD_BITS;
                let entered = (seq / WORD_BITS - from).min(ring);
                for word in from + 1..=from + entered {
                    if let Some(word) = self.words.get_mut((word % ring) as usize) {
                        *word = 0;
                    }
                }
            }
            self.top = seq;
        }
        if let Some((word, bit)) = self.slot(seq)
            && let Some(word) = self.words.get_mut(word)
        {
            *word |= bit;
        }
    }

    fn is_marked(&self, seq: u64) -> bool {
        self.slot(seq)
            .and_then(|(word, bit)| self.words.get(word).map(|word| word & bit != 0))
            .unwrap_or(false)
    }

    /// Index of the word holding `seq`, and its bit.
    fn slot(&self, seq: u64) -> Option<(usize, u64)> {
        let ring = self.words.len() as u64;
        (ring > 0).then(|| (((seq / WORD_BITS) % ring) as usize, 1 << (seq % WORD_BITS)))
    }

    /// Starts the window at `top`, as if that packet alone had been
    /// received: lets tests reach the 2^32 boundary without sending 2^32
    /// packets.
    #[cfg(test)]
    pub(super) fn set_top(&mut self, top: u64) {
        self.words.fill(0);
        self.top = 0;
        self.accept(top);
    }
}
