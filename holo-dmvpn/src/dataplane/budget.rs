//! What one NBMA address may ask of the NHRP instance: a token bucket per
//! source, checked before an NHRP packet enters the instance's queue.
//!
//! The queue (8192 packets) absorbs a hub restart's burst from many
//! spokes; without a per-source budget one noisy or hostile address could
//! fill it and starve every other spoke, and `max-registrations` caps the
//! state a hub keeps, not the work registrations cost. Two budgets:
//!
//! - every NHRP packet: [`NHRP_RATE`] a second, bursts of [`NHRP_BURST`]
//!   (fairness; a hub relays every other spoke's resolution traffic to a
//!   spoke from one address, so this one is generous);
//! - Registration Requests: [`REGISTRATION_RATE`] a second, bursts of
//!   [`REGISTRATION_BURST`]. A spoke sends one per NHS every third of its
//!   holding time and retries after 1, 2, 4... s; a burst of 50 leaves room
//!   for a site of spokes behind one NAT restarting together.
//!
//! What is over budget is dropped, counted (`nhrp-rate-limited`) and
//! logged at most every 10 s; a real spoke retries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

pub const NHRP_RATE: u32 = 1000;
pub const NHRP_BURST: u32 = 2000;
pub const REGISTRATION_RATE: u32 = 5;
pub const REGISTRATION_BURST: u32 = 50;
/// Buckets are pruned of idle (full) ones when there are more than this
/// many and twice as many as after the last pruning: amortized O(1).
const PRUNE_FLOOR: usize = 4096;
/// Where NHRP's fixed header has the packet type (`ar$op.type`, RFC 2332,
/// 5.2.0.1).
const OP_TYPE_OFFSET: usize = 17;
const REGISTRATION_REQUEST: u8 = 3;

#[derive(Debug)]
pub struct SourceBudget {
    rate: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
    prune_above: usize,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl SourceBudget {
    pub fn new(rate: u32, burst: u32) -> SourceBudget {
        SourceBudget {
            rate: f64::from(rate),
            burst: f64::from(burst),
            buckets: HashMap::new(),
            prune_above: PRUNE_FLOOR,
        }
    }

    /// Whether `source` may send one more packet now (spending a token).
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.refill(rate, burst, now);
        let admitted = bucket.tokens >= 1.0;
        if admitted {
            bucket.tokens -= 1.0;
        }
        if self.buckets.len() > self.prune_above {
            self.buckets.retain(|_, b| {
                b.refill(rate, burst, now);
                b.tokens < burst
            });
            self.prune_above = PRUNE_FLOOR.max(2 * self.buckets.len());
        }
        admitted
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

impl Bucket {
    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
    }
}

/// The two budgets of a tunnel.
#[derive(Debug)]
pub struct NhrpBudgets {
    all: SourceBudget,
    registrations: SourceBudget,
}

impl Default for NhrpBudgets {
    fn default() -> NhrpBudgets {
        NhrpBudgets {
            all: SourceBudget::new(NHRP_RATE, NHRP_BURST),
            registrations: SourceBudget::new(REGISTRATION_RATE, REGISTRATION_BURST),
        }
    }
}

impl NhrpBudgets {
    /// Whether NHRP packet `nhrp` from `source` goes on to the instance.
    pub fn admit(&mut self, source: IpAddr, nhrp: &[u8], now: Instant) -> bool {
        if !self.all.admit(source, now) {
            return false;
        }
        match nhrp.get(OP_TYPE_OFFSET) {
            Some(&REGISTRATION_REQUEST) => self.registrations.admit(source, now),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0xc612_0000 + n))
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let now = Instant::now();
        let mut budget = SourceBudget::new(5, 50);
        let admitted = (0..100).filter(|_| budget.admit(ip(1), now)).count();
        assert_eq!(admitted, 50);
        // Another source is not affected.
        assert!(budget.admit(ip(2), now));
        // One second later: five more.
        let later = now + Duration::from_secs(1);
        let admitted = (0..100).filter(|_| budget.admit(ip(1), later)).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn idle_sources_are_pruned_busy_ones_kept() {
        let mut at = Instant::now();
        let mut budget = SourceBudget::new(5, 50);
        // 100 000 sources, a thousand every 11 s: the older ones are idle
        // (their buckets full again) and go.
        for n in 0..100_000 {
            if n % 1000 == 0 {
                at += Duration::from_secs(11);
            }
            assert!(budget.admit(ip(n), at));
        }
        assert!(budget.len() <= PRUNE_FLOOR + 1000, "{}", budget.len());
        // A source over its budget stays so through a pruning.
        while budget.admit(ip(0), at) {}
        for n in 0..2 * PRUNE_FLOOR as u32 {
            budget.admit(ip(200_000 + n), at);
        }
        assert!(!budget.admit(ip(0), at));
    }

    #[test]
    fn registration_requests_have_their_own_budget() {
        let now = Instant::now();
        let mut budgets = NhrpBudgets::default();
        let mut packet = [0u8; 20];
        packet[OP_TYPE_OFFSET] = REGISTRATION_REQUEST;
        let registrations = (0..1000)
            .filter(|_| budgets.admit(ip(1), &packet, now))
            .count();
        assert_eq!(registrations, REGISTRATION_BURST as usize);
        // Resolution Requests (type 1) from the same source still pass.
        packet[OP_TYPE_OFFSET] = 1;
        assert!(budgets.admit(ip(1), &packet, now));
        // And every NHRP packet has a (larger) budget.
        let all = (0..5000)
            .filter(|_| budgets.admit(ip(2), &packet, now))
            .count();
        assert_eq!(all, NHRP_BURST as usize);
    }
}
