//! The emulated spokes, without IO or clock: they take the answers
//! received and `now`, and say what to send and when to wake them.
//!
//! Each spoke registers once it may start (the start rate), then behaves
//! as a holo or Cisco spoke towards its one NHS: an unanswered request is
//! sent again after 1, 2, 4 ... 64 s with a new request ID, a refused one
//! is retried on the same schedule, an answered one is refreshed after the
//! refresh interval. A spoke counts as registered from an answered
//! registration until one of its refreshes goes unanswered or is refused.
//! Once every spoke registered, Resolution Requests go between random
//! pairs of spokes at the same rate.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use crate::schedule::{RESOLUTION_RETRIES, TokenBucket, registration_backoff, resolution_backoff};

/// What to send, for the driver to build and put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Send {
    Registration {
        spoke: u32,
        request_id: u32,
    },
    Resolution {
        spoke: u32,
        target: u32,
        request_id: u32,
    },
}

/// An answer to one of our requests, matched to the spoke by its client
/// protocol address (the packet's source protocol address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The code of the first CIE (0: success).
    Registration {
        spoke: u32,
        request_id: u32,
        code: u8,
    },
    Resolution {
        spoke: u32,
        request_id: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// The registration in flight went unanswered.
    Retry,
    /// Time to register: refresh, or retry after a refusal.
    Register,
    /// A Resolution Request went unanswered (its request ID).
    Resolution(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Instant,
    spoke: u32,
    /// The spoke's timer generation when set: a later one supersedes it.
    generation: u32,
    kind: TimerKind,
}

#[derive(Clone, Debug, Default)]
struct Spoke {
    /// Request ID of the registration in flight (0: none).
    pending: u32,
    sent_at: Option<Instant>,
    /// Unanswered or refused registrations in a row.
    attempts: u32,
    registered: bool,
    /// The last answered registration.
    answered_at: Option<Instant>,
    generation: u32,
}

#[derive(Debug)]
struct Resolution {
    spoke: u32,
    target: u32,
    sent_at: Instant,
    attempts: u32,
}

/// Counts for the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub retries: u64,
    pub refreshes: u64,
    pub answered: u64,
    /// Refusals by CIE code.
    pub refused: BTreeMap<u8, u64>,
    /// Answers to a request ID no longer in flight (answered after its
    /// retry left).
    pub late: u64,
    /// Registrations lost: a refresh unanswered or refused.
    pub lost: u64,
    /// Seconds from each answered registration's request to its answer.
    pub latencies: Vec<f64>,
    pub resolutions_sent: u64,
    pub resolution_retries: u64,
    pub resolutions_answered: u64,
    pub resolutions_failed: u64,
    pub resolution_latencies: Vec<f64>,
    /// The last first registration answered (for registrations/s).
    pub last_first_answer: Option<Instant>,
    /// When the last spoke sent its first registration.
    pub all_started: Option<Instant>,
}

#[derive(Debug)]
pub struct Fleet {
    spokes: Vec<Spoke>,
    timers: BinaryHeap<Reverse<Timer>>,
    bucket: TokenBucket,
    refresh: Option<Duration>,
    next_request_id: u32,
    /// Spokes that sent their first registration.
    started: u32,
    /// Spokes registered now, and ever.
    registered: u32,
    ever_registered: u32,
    pub first_sent: Option<Instant>,
    pub converged: Option<Instant>,
    /// Resolution Requests still to send, and those in flight.
    resolutions_to_send: u32,
    resolutions: HashMap<u32, Resolution>,
    random: u64,
    /// When the hub restarted, and the spokes answered since.
    pub hub_restart: Option<Instant>,
    pub reregistered: u32,
    pub last_reregistration: Option<Instant>,
    pub stats: Stats,
}

impl Fleet {
    /// `spokes` spokes starting at `rate` per second (0: all at once),
    /// refreshing every `refresh` (None: never), then `resolutions`
    /// Resolution Requests between random pairs (seeded by `seed`).
    pub fn new(
        spokes: u32,
        rate: f64,
        refresh: Option<Duration>,
        resolutions: u32,
        seed: u64,
        now: Instant,
    ) -> Self {
        Fleet {
            spokes: vec![Spoke::default(); spokes as usize],
            timers: BinaryHeap::new(),
            bucket: TokenBucket::new(rate, now),
            refresh,
            next_request_id: 1,
            started: 0,
            registered: 0,
            ever_registered: 0,
            first_sent: None,
            converged: None,
            resolutions_to_send: if spokes >= 2 { resolutions } else { 0 },
            resolutions: HashMap::new(),
            random: seed | 1,
            hub_restart: None,
            reregistered: 0,
            last_reregistration: None,
            stats: Stats::default(),
        }
    }

    pub fn len(&self) -> u32 {
        self.spokes.len() as u32
    }

    pub fn registered(&self) -> u32 {
        self.registered
    }

    /// Spokes answered at least once.
    pub fn ever_registered(&self) -> u32 {
        self.ever_registered
    }

    /// Resolution Requests still to send or in flight.
    pub fn resolving(&self) -> bool {
        self.resolutions_to_send > 0 || !self.resolutions.is_empty()
    }

    fn request_id(&mut self) -> u32 {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1).max(1);
        id
    }

    /// xorshift64*: reproducible pairs without a dependency.
    fn random(&mut self, below: u32) -> u32 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        let r = self.random.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((r >> 32) % u64::from(below)) as u32
    }

    fn set_timer(&mut self, spoke: u32, at: Instant, kind: TimerKind) {
        let s = &mut self.spokes[spoke as usize];
        s.generation = s.generation.wrapping_add(1);
        let generation = s.generation;
        self.timers.push(Reverse(Timer {
            at,
            spoke,
            generation,
            kind,
        }));
    }

    fn register(&mut self, spoke: u32, now: Instant, out: &mut Vec<Send>) {
        let request_id = self.request_id();
        let s = &mut self.spokes[spoke as usize];
        s.pending = request_id;
        s.sent_at = Some(now);
        let wait = registration_backoff(s.attempts);
        self.stats.requests += 1;
        self.first_sent.get_or_insert(now);
        self.set_timer(spoke, now + wait, TimerKind::Retry);
        out.push(Send::Registration { spoke, request_id });
    }

    /// The spoke lost its registration (a refresh unanswered or refused).
    fn lose(&mut self, spoke: u32) {
        let s = &mut self.spokes[spoke as usize];
        if s.registered {
            s.registered = false;
            self.registered -= 1;
            self.stats.lost += 1;
        }
    }

    /// Sends what is due at `now`, at most `max` packets; call again while
    /// it returns `max`.
    pub fn poll(&mut self, now: Instant, max: usize, out: &mut Vec<Send>) -> usize {
        let before = out.len();
        while out.len() - before < max {
            let Some(Reverse(timer)) = self.timers.peek().copied() else {
                break;
            };
            if timer.at > now {
                break;
            }
            self.timers.pop();
            self.on_timer(timer, now, out);
        }
        while out.len() - before < max
            && (self.started as usize) < self.spokes.len()
            && self.bucket.take(now)
        {
            let spoke = self.started;
            self.started += 1;
            if self.started == self.len() {
                self.stats.all_started = Some(now);
            }
            self.register(spoke, now, out);
        }
        while out.len() - before < max
            && self.converged.is_some()
            && self.resolutions_to_send > 0
            && self.bucket.take(now)
        {
            self.resolutions_to_send -= 1;
            self.resolve(now, out);
        }
        out.len() - before
    }

    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Send>) {
        if let TimerKind::Resolution(request_id) = timer.kind {
            self.resolution_timeout(request_id, timer.at, now, out);
            return;
        }
        let s = &mut self.spokes[timer.spoke as usize];
        if s.generation != timer.generation {
            return;
        }
        if timer.kind == TimerKind::Retry {
            s.attempts += 1;
            self.stats.retries += 1;
            self.lose(timer.spoke);
        } else if self.spokes[timer.spoke as usize].registered {
            self.stats.refreshes += 1;
        }
        self.register(timer.spoke, now, out);
    }

    fn resolve(&mut self, now: Instant, out: &mut Vec<Send>) {
        let n = self.len();
        let spoke = self.random(n);
        let target = (spoke + 1 + self.random(n - 1)) % n;
        let request_id = self.request_id();
        self.resolutions.insert(
            request_id,
            Resolution {
                spoke,
                target,
                sent_at: now,
                attempts: 0,
            },
        );
        self.stats.resolutions_sent += 1;
        self.timers.push(Reverse(Timer {
            at: now + resolution_backoff(0),
            spoke,
            generation: 0,
            kind: TimerKind::Resolution(request_id),
        }));
        out.push(Send::Resolution {
            spoke,
            target,
            request_id,
        });
    }

    /// RFC 2332 leaves the retries to the implementation; holo sends the
    /// same request again (same ID) 3 times, then gives up.
    fn resolution_timeout(
        &mut self,
        request_id: u32,
        due: Instant,
        now: Instant,
        out: &mut Vec<Send>,
    ) {
        let Some(r) = self.resolutions.get_mut(&request_id) else {
            return;
        };
        if r.sent_at + resolution_backoff(r.attempts) > due {
            return;
        }
        if r.attempts >= RESOLUTION_RETRIES {
            self.resolutions.remove(&request_id);
            self.stats.resolutions_failed += 1;
            return;
        }
        r.attempts += 1;
        r.sent_at = now;
        let (spoke, target) = (r.spoke, r.target);
        let wait = resolution_backoff(r.attempts);
        self.stats.resolution_retries += 1;
        self.timers.push(Reverse(Timer {
            at: now + wait,
            spoke,
            generation: 0,
            kind: TimerKind::Resolution(request_id),
        }));
        out.push(Send::Resolution {
            spoke,
            target,
            request_id,
        });
    }

    /// An answer received at `now`.
    pub fn on_answer(&mut self, answer: Answer, now: Instant) {
        match answer {
            Answer::Registration {
                spoke,
                request_id,
                code,
            } => self.on_registration_reply(spoke, request_id, code, now),
            Answer::Resolution { request_id, .. } => match self.resolutions.remove(&request_id) {
                Some(r) => {
                    self.stats.resolutions_answered += 1;
                    let latency = now.saturating_duration_since(r.sent_at);
                    self.stats.resolution_latencies.push(latency.as_secs_f64());
                }
                None => self.stats.late += 1,
            },
        }
    }

    fn on_registration_reply(&mut self, spoke: u32, request_id: u32, code: u8, now: Instant) {
        let Some(s) = self.spokes.get_mut(spoke as usize) else {
            return;
        };
        if s.pending == 0 || s.pending != request_id {
            self.stats.late += 1;
            return;
        }
        s.pending = 0;
        if let Some(sent) = s.sent_at.take() {
            let latency = now.saturating_duration_since(sent);
            self.stats.latencies.push(latency.as_secs_f64());
        }
        if code != 0 {
            // RFC 2332, 5.2.4: a NAK; retried on the backoff schedule.
            *self.stats.refused.entry(code).or_default() += 1;
            s.attempts += 1;
            let wait = registration_backoff(s.attempts);
            self.lose(spoke);
            self.set_timer(spoke, now + wait, TimerKind::Register);
            return;
        }
        self.stats.answered += 1;
        s.attempts = 0;
        let first = s.answered_at.is_none();
        let after_restart = self
            .hub_restart
            .is_some_and(|at| s.answered_at.is_none_or(|last| last < at));
        s.answered_at = Some(now);
        let newly = !s.registered;
        s.registered = true;
        if newly {
            self.registered += 1;
        }
        if first {
            self.ever_registered += 1;
            self.stats.last_first_answer = Some(now);
            if self.ever_registered == self.len() {
                self.converged = Some(now);
            }
        }
        if after_restart {
            self.reregistered += 1;
            self.last_reregistration = Some(now);
        }
        match self.refresh {
            Some(refresh) => self.set_timer(spoke, now + refresh, TimerKind::Register),
            // The Retry timer in flight is void.
            None => {
                let s = &mut self.spokes[spoke as usize];
                s.generation = s.generation.wrapping_add(1);
            }
        }
    }

    /// The hub restarted at `at`: from then on, count the spokes answered
    /// again (those answered since `at` already are).
    pub fn hub_restarted(&mut self, at: Instant) {
        self.hub_restart = Some(at);
        let since: Vec<Instant> = self
            .spokes
            .iter()
            .filter_map(|s| s.answered_at.filter(|t| *t >= at))
            .collect();
        self.reregistered = since.len() as u32;
        self.last_reregistration = since.into_iter().max();
    }

    /// When `poll` has something to do next; None when nothing is planned.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        let timer = self.timers.peek().map(|t| t.0.at);
        let more = (self.started as usize) < self.spokes.len()
            || (self.converged.is_some() && self.resolutions_to_send > 0);
        let token = more.then(|| self.bucket.next_token(now));
        match (timer, token) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests;
