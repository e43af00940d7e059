//! Per-SA counters: what `show crypto ipsec sa` shows, and what byte and
//! packet lifetimes (RFC 4301, 4.4.2.1) are measured against.

use super::EspError;

/// Counters of one SA direction. `packets` and `bytes` count packets
/// sealed or accepted, and the bytes of their payload (the inner packet);
/// the other fields count packets dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SaCounters {
    pub packets: u64,
    pub bytes: u64,
    pub replay_drops: u64,
    pub icv_failures: u64,
    pub other_drops: u64,
}

impl SaCounters {
    pub(super) fn count_packet(&mut self, payload_len: usize) {
        self.packets += 1;
        self.bytes += payload_len as u64;
    }

    pub(super) fn count_drop(&mut self, error: &EspError) {
        if error.is_replay() {
            self.replay_drops += 1;
        } else if error.is_integrity() {
            self.icv_failures += 1;
        } else {
            self.other_drops += 1;
        }
    }
}
