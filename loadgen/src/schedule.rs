//! When the emulated spokes send: the registration retry schedule of a
//! real spoke, and the rate at which spokes come up.

use std::time::{Duration, Instant};

/// First retry after 1 s, doubling up to 64 s: Cisco's registration
/// retransmission schedule, which holo's spokes follow (holo-nhrp nhc.rs).
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(64);

/// How long a spoke waits for the answer to a registration sent after
/// `attempts` unanswered ones in a row, before sending the next.
pub fn registration_backoff(attempts: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << attempts.min(6))
        .min(MAX_RETRY)
}

/// Resolution Requests: sent again after 1, 2, 4 s, then given up 8 s
/// later (holo-nhrp resolution.rs: 3 retries).
pub const RESOLUTION_RETRIES: u32 = 3;

pub fn resolution_backoff(attempts: u32) -> Duration {
    FIRST_RETRY.saturating_mul(1 << attempts.min(RESOLUTION_RETRIES))
}

/// A token bucket: `rate` events per second on average, at most 10 ms
/// worth at once (at least one), so that a driver waking every
/// millisecond or so keeps the rate. A rate of 0 means no limit (a
/// restart burst). Kept in nanoseconds of credit: no rounding drift.
#[derive(Debug)]
pub struct TokenBucket {
    /// Nanoseconds one event costs; 0 when unlimited.
    cost: u64,
    burst: u64,
    credit: u64,
    last: Instant,
}

impl TokenBucket {
    /// The bucket starts with one token: the first event goes at once.
    pub fn new(rate: f64, now: Instant) -> Self {
        let cost = if rate > 0.0 {
            (1e9 / rate).round().max(1.0) as u64
        } else {
            0
        };
        TokenBucket {
            cost,
            burst: cost.max(10_000_000),
            credit: cost,
            last: now,
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.cost == 0
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        let elapsed = u64::try_from(elapsed).unwrap_or(u64::MAX);
        self.credit = self.credit.saturating_add(elapsed).min(self.burst);
        self.last = self.last.max(now);
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.is_unlimited() {
            return true;
        }
        self.refill(now);
        if self.credit >= self.cost {
            self.credit -= self.cost;
            true
        } else {
            false
        }
    }

    /// When the next token is there.
    pub fn next_token(&self, now: Instant) -> Instant {
        if self.credit >= self.cost {
            return now;
        }
        self.last + Duration::from_nanos(self.cost - self.credit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_back_off_from_1_s_to_64_s() {
        let waits: Vec<u64> = (0..9).map(|a| registration_backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(registration_backoff(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn resolutions_back_off_1_2_4_8() {
        let waits: Vec<u64> = (0..5).map(|a| resolution_backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8]);
    }

    #[test]
    fn the_bucket_keeps_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1000.0, start);
        // One token at first, then one per millisecond.
        assert!(bucket.take(start));
        assert!(!bucket.take(start));
        assert_eq!(bucket.next_token(start), start + Duration::from_millis(1));
        let later = start + Duration::from_secs(1);
        let taken = (0..2000).filter(|_| bucket.take(later)).count();
        // A second's worth, capped at the 10 ms burst.
        assert_eq!(taken, 10);
        assert!(bucket.next_token(later) > later);
        let mut total = 0;
        for ms in 1..=1000 {
            let now = later + Duration::from_millis(ms);
            while bucket.take(now) {
                total += 1;
            }
        }
        assert_eq!(total, 1000);
    }

    #[test]
    fn rate_zero_is_unlimited() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(0.0, now);
        assert!((0..100_000).all(|_| bucket.take(now)));
        assert_eq!(bucket.next_token(now), now);
    }
}
