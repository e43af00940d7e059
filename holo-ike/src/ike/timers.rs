//! Everything that happens because time passed: retransmissions (RFC
//! 7296, 2.1), half-open expiry, liveness checks (2.4), lifetimes.
//!
//! Lifetimes without CREATE_CHILD_SA: at 90% of the shorter of the IKE
//! and child lifetimes, the original initiator of a still wanted peer
//! starts a new IKE SA, and deletes the old one once the new one is up
//! (make before break). A child SA whose lifetime ends is deleted; an IKE
//! SA whose lifetime ends is deleted.

use std::time::Instant;

use super::Ike;
use super::config::HALF_OPEN_TIMEOUT;
use super::io::{DownReason, Notification, Output};
use super::retransmission::{RequestKind, Timeout};
use super::sa::{IkeSa, Role, State};

/// When the initiator starts the replacement of an established SA.
fn reauth_at(sa: &IkeSa) -> Option<Instant> {
    let established = sa.established?;
    let life = sa.config.ike_lifetime.min(sa.config.child_lifetime);
    Some(established + life * 9 / 10)
}

fn dpd_at(sa: &IkeSa) -> Option<Instant> {
    let idle = sa.window.outstanding.is_none() && sa.window.queue.is_empty();
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
            due.extend(sa.children.iter().map(|c| c.created + c.sa.lifetime));
            if sa.role == Role::Initiator && !sa.replacing {
                due.extend(reauth_at(sa));
            }
            due.extend(dpd_at(sa));
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
            match self.tick_sa(&mut sa, spi, now, out) {
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

    fn tick_sa(
        &mut self,
        sa: &mut IkeSa,
        spi: u64,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> TickFate {
        if let Some(r) = sa.window.outstanding.as_mut().filter(|r| r.deadline <= now) {
            match r.timeout(&sa.config.retransmit, now) {
                Timeout::Resend => {
                    let (local, remote, bytes) = (r.local, r.remote, r.bytes.clone());
                    self.counters.retransmissions += 1;
                    self.send(local, remote, bytes, out);
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
            State::Established => self.tick_established(sa, spi, now, out),
            _ => TickFate::Keep,
        }
    }

    fn tick_established(
        &mut self,
        sa: &mut IkeSa,
        spi: u64,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> TickFate {
        let established = sa.established.unwrap_or(sa.created);
        if now >= established + sa.config.ike_lifetime {
            return TickFate::Delete;
        }
        let (expired, live): (Vec<_>, Vec<_>) = sa
            .children
            .drain(..)
            .partition(|c| now >= c.created + c.sa.lifetime);
        sa.children = live;
        if !expired.is_empty() {
            let mut spis = vec![];
            for c in expired {
                let (peer, inbound_spi, outbound_spi) =
                    (c.sa.peer, c.sa.inbound_spi, c.sa.outbound_spi);
                spis.push(inbound_spi);
                out.push(Output::RemoveChildSa {
                    peer,
                    inbound_spi,
                    outbound_spi,
                });
                out.push(Output::Notification(Notification::ChildSaDown {
                    peer,
                    inbound_spi,
                    outbound_spi,
                }));
            }
            self.request(sa, RequestKind::DeleteChild(spis), now, out);
        }
        if sa.role == Role::Initiator && !sa.replacing && reauth_at(sa).is_some_and(|t| now >= t) {
            sa.replacing = true;
            if let Some(local) = self.wanted.get(&sa.peer).copied() {
                self.initiate(local, sa.peer, Some(spi), now, out);
            }
        }
        if dpd_at(sa).is_some_and(|t| now >= t) {
            self.request(sa, RequestKind::Dpd, now, out);
        }
        TickFate::Keep
    }
}
