//! Byte lifetimes (RFC 4301, 4.4.2.1) and sequence number exhaustion (RFC
//! 4303, 3.3.3) of child SAs, against what the data plane counted.
//!
//! The core sees no ESP: the driver reports the counters of its SAs with
//! [`Input::ChildSaUsage`](super::Input::ChildSaUsage) when it ticks, and
//! [`Ike::next_wakeup`] asks for a tick at least every [`USAGE_INTERVAL`]
//! while a child SA has a limit. A report that crosses a soft limit makes
//! the child SA due for its rekey at once (the path of the soft time
//! lifetime, [`super::rekey`]), or [`PEER_FIRST`] later on the side that
//! did not initiate the exchange that made it; one that crosses a hard
//! limit deletes it, as its hard time lifetime would.
//!
//! Bytes are those of the inner packets, and a child SA's count is the
//! larger of its two directions': each direction is an SA of its own
//! (RFC 4301, 4.1) with the lifetime, and the first one to reach it
//! decides. Both peers then count about the same (our inbound is their
//! outbound), and as with time their random soft fractions decide who
//! rekeys first.
//!
//! Without ESN the outbound SA seals 2^32 - 1 packets and then refuses
//! (`esp::OutboundSa::seal`): that last sequence number is a hard limit,
//! and the soft fraction of it a soft one, so that the new SA is there
//! before the old one stops sending. With ESN (2^64 - 1) it never matters.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Ike;
use super::config::Config;
use super::io::{ChildSaUsage, Output};

/// The longest a driver that counts may go without reporting, while a
/// child SA has a limit: at 4.4 Gbit/s (the userspace plane's ESP in UDP
/// on two cores) the default byte lifetime's soft margin (10 to 15 % of
/// 4.4 GiB) lasts 0.9 to 1.3 s, about one report.
pub const USAGE_INTERVAL: Duration = Duration::from_secs(1);

/// At a soft limit, how long the side that did not initiate the exchange
/// that made the child SA waits for the other side's rekey, which comes
/// first (its soft fraction is lower, [`super::rekey`]) but is seen here
/// a round trip and up to a report later. Not when, at the rate of the
/// last reports, the hard limit would come first (a fast flow, or a peer
/// that counts no bytes, as strongSwan by default): then it rekeys at
/// once; and either side rekeys below its soft limit when the hard one
/// would come before the report after next.
pub const PEER_FIRST: Duration = Duration::from_secs(2);

/// The byte and sequence number limits of a child SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// None: no byte limit.
    pub bytes: Option<u64>,
    /// The last outbound sequence number.
    pub sequence: u64,
}

impl Limits {
    /// The hard limits of a child SA of `config`, with or without ESN.
    pub fn hard(config: &Config, esn: bool) -> Limits {
        Limits {
            bytes: config.child_lifetime_bytes,
            sequence: if esn { u64::MAX } else { u64::from(u32::MAX) },
        }
    }

    /// These limits times `fraction` (the soft ones).
    pub fn scaled(&self, fraction: f64) -> Limits {
        let scale = |n: u64| (n as f64 * fraction) as u64;
        Limits {
            bytes: self.bytes.map(scale),
            sequence: scale(self.sequence),
        }
    }

    pub fn reached(&self, used: &Used) -> bool {
        self.bytes.is_some_and(|b| used.bytes >= b) || used.sequence >= self.sequence
    }

    /// Whether usage reports can ever reach these limits.
    pub fn counted(&self) -> bool {
        self.bytes.is_some() || self.sequence < u64::MAX
    }
}

/// What the data plane reported of a child SA, the highest so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Used {
    /// The larger direction's bytes.
    pub bytes: u64,
    pub sequence: u64,
    /// When the last report came, and the bytes per second since the one
    /// before.
    at: Option<Instant>,
    rate: f64,
}

impl Used {
    /// Takes in a report at `now`; whether the outbound SA sent since the
    /// last one.
    fn add(&mut self, report: &ChildSaUsage, now: Instant) -> bool {
        let bytes = report.inbound_bytes.max(report.outbound_bytes);
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            if elapsed > 0.0 {
                self.rate = bytes.saturating_sub(self.bytes) as f64 / elapsed;
            }
        }
        self.at = Some(now);
        self.bytes = self.bytes.max(bytes);
        let sent = report.outbound_sequence > self.sequence;
        self.sequence = self.sequence.max(report.outbound_sequence);
        sent
    }

    /// Whether, at the rate of the last reports, `hard`'s byte limit would
    /// come within `within`.
    fn near(&self, hard: &Limits, within: Duration) -> bool {
        hard.bytes.is_some_and(|limit| {
            self.bytes as f64 + self.rate * within.as_secs_f64() >= limit as f64
        })
    }
}

impl Ike {
    pub(super) fn usage(&mut self, reports: &[ChildSaUsage], now: Instant, out: &mut Vec<Output>) {
        let reports: HashMap<u32, &ChildSaUsage> =
            reports.iter().map(|r| (r.inbound_spi, r)).collect();
        for sa in self.sas.values_mut() {
            let mut sent = false;
            for c in &mut sa.children {
                let Some(report) = reports.get(&c.sa.inbound_spi) else {
                    continue;
                };
                sent |= c.used.add(report, now);
                // Due at the soft limit, or before it when the hard one
                // would come before the report after next (a flow fast
                // for the lifetime); now, unless the peer made the SA and
                // has time to rekey first. (Unless a rekey is on its way
                // or it is replaced: None. An IKE SA that is not current
                // rekeys it once its successor has taken it over.)
                let soft = c.soft.reached(&c.used);
                let before_next = c.used.near(&c.hard, 2 * USAGE_INTERVAL);
                let urgent = before_next || c.used.near(&c.hard, PEER_FIRST + USAGE_INTERVAL);
                let due = match c.initiated || urgent {
                    true => now,
                    false => now + PEER_FIRST,
                };
                if (soft || before_next) && c.rekey_at.is_some_and(|t| t > due) {
                    c.rekey_at = Some(due);
                }
            }
            if sent {
                sa.last_sent = sa.last_sent.max(now);
            }
        }
        self.tick(now, out);
    }

    /// When a driver that counts must report next (None: no SA counts).
    pub(super) fn usage_due(&self) -> Option<Instant> {
        let counted = self
            .sas
            .values()
            .filter(|sa| sa.is_established())
            .flat_map(|sa| &sa.children)
            .any(|c| c.hard.counted());
        let since = self.ticked.or(self.now)?;
        counted.then_some(since + USAGE_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limits_are_a_fraction_and_either_limit_is_reached() {
        let mut config = Config::cisco_defaults();
        config.child_lifetime_bytes = Some(1000);
        let hard = Limits::hard(&config, false);
        assert_eq!(hard.sequence, u64::from(u32::MAX));
        let soft = hard.scaled(0.85);
        assert_eq!(soft.bytes, Some(850));
        let mut used = Used::default();
        let now = Instant::now();
        let report = |inbound_bytes, outbound_bytes, outbound_sequence| ChildSaUsage {
            inbound_spi: 7,
            inbound_bytes,
            outbound_bytes,
            outbound_sequence,
        };
        assert!(used.add(&report(849, 10, 1), now));
        assert!(!soft.reached(&used));
        // The larger direction counts, and a replaced outbound SA's 0
        // does not undo what was reported.
        assert!(used.add(&report(10, 850, 2), now));
        assert!(soft.reached(&used) && !hard.reached(&used));
        assert!(!used.add(&report(10, 0, 0), now));
        assert_eq!(used.bytes, 850);
        used.sequence = u64::from(u32::MAX);
        assert!(hard.reached(&used));
        // With ESN and no byte limit there is nothing to count.
        config.child_lifetime_bytes = None;
        assert!(!Limits::hard(&config, true).counted());
        assert!(Limits::hard(&config, false).counted());
    }

    #[test]
    fn the_rate_of_the_reports_says_when_the_hard_limit_is_near() {
        let mut config = Config::cisco_defaults();
        config.child_lifetime_bytes = Some(1_000_000);
        let hard = Limits::hard(&config, false);
        let report = |bytes| ChildSaUsage {
            inbound_spi: 7,
            inbound_bytes: bytes,
            outbound_bytes: 0,
            outbound_sequence: 0,
        };
        let start = Instant::now();
        let mut used = Used::default();
        used.add(&report(800_000), start);
        // One report tells no rate.
        assert!(!used.near(&hard, Duration::from_secs(3)));
        // 80 kB/s: the last 120 kB take 1.5 s.
        used.add(&report(880_000), start + Duration::from_secs(1));
        assert!(used.near(&hard, Duration::from_secs(2)));
        assert!(!used.near(&hard, Duration::from_secs(1)));
        // No byte limit: never near.
        config.child_lifetime_bytes = None;
        let unlimited = Limits::hard(&config, false);
        assert!(!used.near(&unlimited, Duration::from_secs(3600)));
    }
}
