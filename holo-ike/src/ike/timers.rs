//! Everything that happens because time passed: retransmissions (RFC
//! 7296, 2.1), half-open expiry, liveness checks (2.4), lifetimes: rekeys
//! at the soft lifetime, deletes at the hard one (or at a byte limit,
//! [`super::usage`]), the retirement of replaced SAs ([`super::rekey`]),
//! and NAT-keepalives ([`super::keepalive`]).

use std::time::Instant;

use super::Ike;
use super::config::HALF_OPEN_TIMEOUT;
use super::io::{DownReason, Output};
use super::keepalive::keepalive_at;
use super::retransmission::{RequestKind, Timeout};
use super::sa::{IkeSa, State};

fn dpd_at(sa: &IkeSa) -> Option<Instant> {
    let idle = sa.window.outstanding.is_none() && sa.window.queue.is_empty() && sa.is_current();
    sa.config
        .dpd_interval
        .filter(|_| idle)
        .map(|d| sa.last_heard + d)
}

/// The next time something is due on `sa`.
pub fn next_event(sa: &IkeSa) -> Option<Instant> {
    let mut due = vec![];
    if let Some(r) = &sa.window.outstanding {
        due.push(r.deadline);
    }
    match sa.state {
        State::AwaitingAuth => due.push(sa.created + HALF_OPEN_TIMEOUT),
        State::Established => {
            let established = sa.established.unwrap_or(sa.created);
            due.push(established + sa.config.ike_lifetime);
            due.extend(sa.retire_at);
            for c in &sa.children {
                due.push(c.created + c.sa.lifetime);
                due.extend(c.retire_at);
                due.extend(c.rekey_at.filter(|_| sa.is_current()));
            }
            due.extend(sa.rekey_at.filter(|_| sa.is_current()));
            due.extend(dpd_at(sa));
            due.extend(keepalive_at(sa));
        }
        State::Deleting if sa.window.outstanding.is_none() => due.push(sa.created),
        _ => {}
    }
    due.into_iter().min()
}

enum TickFate {
    Keep,
    Drop(DownReason),
    Delete,
}

impl Ike {
    pub(super) fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        let spis: Vec<u64> = self.sas.keys().copied().collect();
        for spi in spis {
            let Some(mut sa) = self.sas.remove(&spi) else {
                continue;
            };
            match self.tick_sa(&mut sa, now, out) {
                TickFate::Keep => {
                    self.sas.insert(spi, sa);
                }
                TickFate::Drop(reason) => self.drop_sa(sa, reason, out),
                TickFate::Delete => {
                    self.sas.insert(spi, sa);
                    self.delete_sa(spi, now, out);
                }
            }
        }
    }

    fn tick_sa(&mut self, sa: &mut IkeSa, now: Instant, out: &mut Vec<Output>) -> TickFate {
        if let Some(r) = sa.window.outstanding.as_mut().filter(|r| r.deadline <= now) {
            match r.timeout(&sa.config.retransmit, now) {
                Timeout::Resend => {
                    let (addrs, datagrams) = ((r.local, r.remote), r.datagrams.clone());
                    self.counters.retransmissions += 1;
                    // RFC 7383, 2.6.1: every fragment again.
                    self.send_all(addrs, &datagrams, out);
                    sa.last_sent = now;
                }
                Timeout::GiveUp => {
                    return TickFate::Drop(match sa.state {
                        State::InitSent | State::AuthSent => DownReason::Timeout,
                        State::Deleting => DownReason::Deleted,
                        _ => {
                            self.counters.dead_peers += 1;
                            DownReason::DeadPeer
                        }
                    });
                }
            }
        }
        match sa.state {
            State::AwaitingAuth if Ike::half_open_expired(sa, now) => {
                self.counters.half_open_expired += 1;
                TickFate::Drop(DownReason::HalfOpenExpired)
            }
            State::Deleting if sa.window.outstanding.is_none() => {
                TickFate::Drop(DownReason::Deleted)
            }
            State::Established => self.tick_established(sa, now, out),
            _ => TickFate::Keep,
        }
    }

    fn tick_established(
        &mut self,
        sa: &mut IkeSa,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> TickFate {
        let established = sa.established.unwrap_or(sa.created);
        if now >= established + sa.config.ike_lifetime {
            return TickFate::Delete;
        }
        if sa.retire_at.is_some_and(|t| now >= t) {
            return TickFate::Delete;
        }
        // Hard lifetimes (time, bytes, sequence numbers), and the old SAs
        // of rekeys.
        let (gone, live): (Vec<_>, Vec<_>) = sa.children.drain(..).partition(|c| {
            now >= c.created + c.sa.lifetime
                || c.hard.reached(&c.used)
                || c.retire_at.is_some_and(|t| now >= t)
        });
        sa.children = live;
        if !gone.is_empty() {
            let mut spis = vec![];
            for c in gone {
                spis.push(c.sa.inbound_spi);
                sa.closing.push((c.sa.inbound_spi, c.sa.outbound_spi));
                super::remove_child(&c.sa, out);
            }
            self.request(sa, RequestKind::DeleteChild(spis), now, out);
        }
        if !sa.is_current() {
            return TickFate::Keep;
        }
        // Soft lifetimes: the IKE SA first, then its children.
        if sa.rekey_at.is_some_and(|t| now >= t) {
            sa.rekey_at = None;
            self.request(sa, RequestKind::RekeyIke, now, out);
        }
        let due: Vec<u32> = sa
            .children
            .iter_mut()
            .filter(|c| c.rekey_at.is_some_and(|t| now >= t))
            .map(|c| {
                c.rekey_at = None;
                c.sa.inbound_spi
            })
            .collect();
        for spi in due {
            self.request(sa, RequestKind::RekeyChild(spi), now, out);
        }
        if dpd_at(sa).is_some_and(|t| now >= t) {
            self.request(sa, RequestKind::Dpd, now, out);
        }
        self.keepalive(sa, now, out);
        TickFate::Keep
    }
}
