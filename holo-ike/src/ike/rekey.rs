//! Rekeying (RFC 7296, 2.8): when, what replaces what, and collisions.
//!
//! At its soft lifetime (85 to 90 % of the lifetime, at random so that
//! the two peers rarely start together) an SA is rekeyed with
//! CREATE_CHILD_SA by whichever side gets there first; at its hard
//! lifetime it is deleted. A rekey the peer refuses falls back to
//! re-establishing the IKE SA (a new IKE_SA_INIT; the old SA goes once
//! the new one is up), for peers the data plane still wants;
//! TEMPORARY_FAILURE only delays it (2.25).
//!
//! A child SA also has a byte lifetime (`child_lifetime_bytes`, counted
//! on the larger of its two directions) and, without ESN, the limit of
//! 2^32 - 1 outbound sequence numbers. Its soft limits are the same
//! random fraction of these as of its time lifetime: a usage report from
//! the data plane that reaches one makes the rekey due at once, on the
//! path above; one that reaches a hard limit deletes the SA
//! ([`super::usage`]). Both peers count about the same bytes, so the
//! fraction of a child SA is drawn from the lower half of the range by
//! the side that initiated the exchange that made it, from the upper half
//! by the other, which also waits [`super::usage::PEER_FIRST`] at a soft
//! byte or sequence limit: the former rekeys first unless it cannot.
//!
//! Make before break: the new child SA enters the data plane first (its
//! outbound SA replaces the old one there at once); the old one stays
//! [`RETIRE_DELAY`] longer for the packets still on their way, then the
//! rekey initiator removes it and sends the Delete. The responder removes
//! it at that Delete, or after [`RETIRE_FALLBACK`] if none comes.
//!
//! A new IKE SA (keys from SK_d, 2.18) takes the child SAs over at once;
//! the rekey initiator deletes the old IKE SA.
//!
//! Collisions (2.8.1, 2.8.2): both sides rekey the same SA at once. Each
//! answers the other's request as usual and notes the collision; when
//! the answer to its own request comes, the SA made by the exchange with
//! the lowest of the four nonces is redundant and its initiator deletes
//! it. A redundant child SA is deleted before it is installed, so that
//! its outbound SA never replaces the survivor's in our data plane.

use std::time::{Duration, Instant};

use super::child::KeySource;
use super::create_child::create_payloads;
use super::error::Error;
use super::init::{NONCE_RANGE, error_notify, sk_ciphers};
use super::io::{Notification, Output};
use super::proposals;
use super::receive::Fate;
use super::retransmission::RequestKind;
use super::sa::{ChildOffer, Creating, IkeSa, Keys, Made, PendingCreate, Role, State};
use super::{Ike, IkeProposal};
use crate::crypto::cipher::key_lengths;
use crate::crypto::{CryptoError, IkeSaKeys, SharedSecret};
use crate::packet::{NotifyType, Payload};

/// The soft lifetime is this fraction of the lifetime...
pub const SOFT: f64 = 0.9;
/// ...less a random part of up to this fraction.
pub const JITTER: f64 = 0.05;
/// How long a replaced child SA stays in the data plane.
pub const RETIRE_DELAY: Duration = Duration::from_secs(3);
/// Responder: how long a replaced SA waits for the peer's Delete.
pub const RETIRE_FALLBACK: Duration = Duration::from_secs(30);
/// After TEMPORARY_FAILURE, wait this long (and up to as much again at
/// random) before trying again (RFC 7296, 2.25: not at once).
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// RFC 7296, 2.8.1: whether our exchange made the redundant SA, given the
/// lower nonce of each exchange.
pub fn ours_is_redundant(ours_lowest: &[u8], theirs_lowest: &[u8]) -> bool {
    ours_lowest < theirs_lowest
}

fn lowest(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

impl Ike {
    /// A delay of `RETRY_AFTER` plus up to as much at random.
    fn retry_at(&self, now: Instant) -> Instant {
        now + RETRY_AFTER + self.jitter(RETRY_AFTER)
    }

    /// The peer replaced our child SA `sa.children[at]` by the one whose
    /// inbound SPI is `new`: the old one retires once the peer deletes it.
    pub(super) fn rekeyed_by_peer(
        &mut self,
        sa: &mut IkeSa,
        at: usize,
        new: u32,
        lowest_nonce: Vec<u8>,
        now: Instant,
    ) {
        self.counters.child_sas_rekeyed += 1;
        let old = &mut sa.children[at];
        old.rekey_at = None;
        old.retire_at = Some(now + RETIRE_FALLBACK);
        let rekeyed = Made::Child(old.sa.inbound_spi);
        Ike::note_collision(sa, rekeyed, lowest_nonce, Made::Child(new));
    }

    /// The new IKE SA of a rekey, with keys from the old one's SK_d.
    /// `role`: ours in the new SA, i.e. in the rekey exchange (2.18).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rekeyed_ike_sa(
        &self,
        old: &IkeSa,
        role: Role,
        chosen: IkeProposal,
        (nonce_i, nonce_r): (&[u8], &[u8]),
        shared: &[u8],
        (spi_i, spi_r): (u64, u64),
        now: Instant,
    ) -> Result<IkeSa, CryptoError> {
        let old_keys = old.keys.as_ref().ok_or(CryptoError::InvalidCombination)?;
        let sk = IkeSaKeys::derive_rekeyed(
            old_keys.prf,
            &old_keys.sk.sk_d,
            chosen.prf,
            key_lengths(chosen.encr, chosen.integ),
            nonce_i,
            nonce_r,
            shared,
            spi_i,
            spi_r,
        )?;
        let (tx, rx) = sk_ciphers(&chosen, &sk, role)?;
        let config = old.config.clone();
        let mut new = IkeSa::new(
            config.clone(),
            role,
            State::Established,
            (old.local, old.remote),
            old.local_id.clone(),
            now,
        );
        new.spi_i = spi_i;
        new.spi_r = spi_r;
        new.peer = old.peer;
        new.established = Some(now);
        new.proposal = Some(chosen);
        new.ke_group = chosen.dh;
        new.nonce_i = nonce_i.to_vec();
        new.nonce_r = nonce_r.to_vec();
        new.keys = Some(Keys {
            prf: chosen.prf,
            sk,
            tx,
            rx,
        });
        new.nat = old.nat;
        new.remote_id = old.remote_id.clone();
        // RFC 7383, 2.3: the new IKE SA keeps what IKE_SA_INIT negotiated.
        new.fragmentation = old.fragmentation;
        new.credentials = old.credentials.clone();
        new.peer_hashes = old.peer_hashes.clone();
        new.rekey_at = Some(now + self.soft_lifetime(config.ike_lifetime));
        Ok(new)
    }

    /// Responder: the peer rekeyed `old` into `new`.
    pub(super) fn ike_rekeyed_by_peer(
        &mut self,
        old: &mut IkeSa,
        mut new: IkeSa,
        lowest_nonce: Vec<u8>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        self.counters.ike_sas_rekeyed += 1;
        let spi = new.local_spi();
        let rekeyed = Made::Ike(old.local_spi());
        Ike::note_collision(old, rekeyed, lowest_nonce, Made::Ike(spi));
        let collided = old.pending.as_ref().is_some_and(|p| p.collision.is_some());
        if !collided {
            // With a collision the children wait for the answer to ours.
            self.adopt(old, &mut new, now, out);
        }
        old.rekeyed_to = Some(spi);
        old.retire_at = Some(now + RETIRE_FALLBACK);
        self.sas.insert(spi, new);
    }

    /// The child SAs of `old`, and the child SA requests it had queued,
    /// move to `new`.
    pub(super) fn adopt(
        &mut self,
        old: &mut IkeSa,
        new: &mut IkeSa,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        new.children.append(&mut old.children);
        new.closing.append(&mut old.closing);
        let queue = std::mem::take(&mut old.window.queue);
        for kind in queue {
            match kind {
                RequestKind::DeleteChild(_)
                | RequestKind::CreateChild
                | RequestKind::RekeyChild(_) => self.request(new, kind, now, out),
                _ => {}
            }
        }
    }

    /// `old`'s children go to the IKE SA `to` of the table, if it is there.
    fn adopt_into(&mut self, old: &mut IkeSa, to: u64, now: Instant, out: &mut Vec<Output>) {
        if let Some(mut new) = self.sas.remove(&to) {
            self.adopt(old, &mut new, now, out);
            self.sas.insert(to, new);
        }
    }

    /// An IKE SA about to go: if it was rekeyed, its children (still
    /// there after a collision) live on in its successor.
    pub(super) fn hand_over_children(
        &mut self,
        sa: &mut IkeSa,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        if let Some(to) = sa.rekeyed_to
            && !sa.children.is_empty()
        {
            self.adopt_into(sa, to, now, out);
        }
    }

    /// Initiator: the answer to our CREATE_CHILD_SA.
    pub(super) fn create_child_response(
        &mut self,
        sa: &mut IkeSa,
        payloads: &[Payload],
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Fate {
        let Some(pending) = sa.pending.take() else {
            self.next_request(sa, now, out);
            return Fate::Keep;
        };
        match pending.creating.clone() {
            Creating::Ike { spi } => self.ike_rekey_answer(sa, pending, spi, payloads, now, out),
            Creating::Child { rekeys, offer } => {
                self.next_request(sa, now, out);
                self.child_answer(sa, pending, rekeys, offer, payloads, now, out);
                Fate::Keep
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn child_answer(
        &mut self,
        sa: &mut IkeSa,
        pending: PendingCreate,
        rekeys: Option<u32>,
        offer: ChildOffer,
        payloads: &[Payload],
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let remote = sa.remote;
        if let Some(n) = error_notify(payloads) {
            let notify = n.notify_type;
            self.error(Error::Refused { remote, notify }, out);
            return self.child_refused(sa, rekeys, notify, pending.collision.is_some(), now, out);
        }
        let found = create_payloads(payloads);
        let Some(nonce_r) = found.child.nonce.filter(|n| NONCE_RANGE.contains(&n.len())) else {
            return self.child_failed(sa, rekeys, "bad or no nonce".into(), now, out);
        };
        let shared = match child_pfs(sa, pending.dh, &found.child) {
            Ok(shared) => shared,
            Err(reason) => return self.child_failed(sa, rekeys, reason, now, out),
        };
        let source = KeySource::CreateChildSa {
            nonce_i: &pending.nonce,
            nonce_r,
            shared: shared.as_ref().map(SharedSecret::as_bytes),
        };
        let (child, proposal) = match self.accept_child(sa, &offer, &found.child, payloads, source)
        {
            Ok(c) => c,
            Err(reason) => return self.child_failed(sa, rekeys, reason, now, out),
        };
        if let Some(c) = &pending.collision {
            self.counters.rekey_collisions += 1;
            if ours_is_redundant(&lowest(&pending.nonce, nonce_r), &c.lowest_nonce) {
                // Never in our data plane; the peer removes it at the Delete.
                self.counters.redundant_sas_deleted += 1;
                let spis = vec![offer.inbound_spi];
                self.request(sa, RequestKind::DeleteChild(spis), now, out);
                return;
            }
        }
        self.install_child(sa, (child, proposal), true, now, out);
        if let Some(old) = rekeys {
            self.counters.child_sas_rekeyed += 1;
            if let Some(c) = sa.children.iter_mut().find(|c| c.sa.inbound_spi == old) {
                c.rekey_at = None;
                c.retire_at = Some(now + RETIRE_DELAY);
            }
        }
    }

    /// Our child SA request was refused with `notify`.
    fn child_refused(
        &mut self,
        sa: &mut IkeSa,
        rekeys: Option<u32>,
        notify: NotifyType,
        collided: bool,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let old = rekeys.and_then(|old| sa.children.iter().position(|c| c.sa.inbound_spi == old));
        match notify {
            // The peer's own rekey of it won the race.
            NotifyType::TEMPORARY_FAILURE if collided => {}
            NotifyType::TEMPORARY_FAILURE => {
                let retry = self.retry_at(now);
                if let Some(c) = old
                    .map(|at| &mut sa.children[at])
                    .filter(|c| c.is_current())
                {
                    c.rekey_at = Some(retry);
                }
            }
            // RFC 7296, 2.25: the peer has no such child SA: forget ours
            // without a Delete and make a new one.
            NotifyType::CHILD_SA_NOT_FOUND => {
                if let Some(at) = old {
                    let gone = sa.children.remove(at);
                    super::remove_child(&gone.sa, out);
                }
                self.request(sa, RequestKind::CreateChild, now, out);
            }
            _ => self.child_failed(sa, rekeys, notify.to_string(), now, out),
        }
    }

    /// Our child SA request failed for good: the old SA (if any) runs on
    /// until its hard lifetime, while the IKE SA is re-established.
    fn child_failed(
        &mut self,
        sa: &mut IkeSa,
        rekeys: Option<u32>,
        reason: String,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        self.counters.rekeys_failed += u64::from(rekeys.is_some());
        out.push(Output::Notification(Notification::ChildSaFailed {
            peer: sa.peer,
            reason,
        }));
        if rekeys.is_some() {
            self.reestablish(sa, sa.local_spi(), now, out);
        }
    }

    /// The answer to our rekey of the IKE SA `sa` (our new SPI `spi`).
    fn ike_rekey_answer(
        &mut self,
        sa: &mut IkeSa,
        pending: PendingCreate,
        spi: u64,
        payloads: &[Payload],
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Fate {
        let remote = sa.remote;
        let made = pending.collision.as_ref().map(|c| c.made);
        if let Some(n) = error_notify(payloads) {
            let notify = n.notify_type;
            self.error(Error::Refused { remote, notify }, out);
            self.next_request(sa, now, out);
            match (notify, made) {
                // The peer's rekey stands.
                (_, Some(Made::Ike(to))) => self.adopt_into(sa, to, now, out),
                (NotifyType::TEMPORARY_FAILURE, _) => sa.rekey_at = Some(self.retry_at(now)),
                _ => {
                    self.counters.rekeys_failed += 1;
                    self.reestablish(sa, sa.local_spi(), now, out);
                }
            }
            return Fate::Keep;
        }
        let new = match self.rekeyed_from_answer(sa, pending.dh, &pending.nonce, spi, payloads, now)
        {
            Ok(new) => new,
            Err(reason) => {
                self.counters.rekeys_failed += 1;
                out.push(Output::Notification(Notification::Error(
                    Error::Unexpected {
                        remote,
                        exchange: crate::packet::ExchangeType::CREATE_CHILD_SA,
                        reason,
                    },
                )));
                self.next_request(sa, now, out);
                self.reestablish(sa, sa.local_spi(), now, out);
                return Fate::Keep;
            }
        };
        self.counters.ike_sas_rekeyed += 1;
        let mut new = new;
        if let (Some(c), Some(Made::Ike(theirs))) = (&pending.collision, made) {
            self.counters.rekey_collisions += 1;
            let ours_lowest = lowest(&pending.nonce, &new.nonce_r);
            if ours_is_redundant(&ours_lowest, &c.lowest_nonce) {
                // Theirs survives: the children go there, ours is deleted,
                // and the peer deletes the old one.
                self.counters.redundant_sas_deleted += 1;
                self.sas.insert(spi, new);
                self.delete_sa(spi, now, out);
                self.adopt_into(sa, theirs, now, out);
                sa.rekeyed_to = Some(theirs);
                sa.retire_at = Some(now + RETIRE_FALLBACK);
                return Fate::Keep;
            }
        }
        self.adopt(sa, &mut new, now, out);
        if new.window.outstanding.is_none()
            && let Some(kind) = new.window.queue.pop_front()
        {
            self.request(&mut new, kind, now, out);
        }
        self.sas.insert(spi, new);
        sa.rekeyed_to = Some(spi);
        Fate::Delete
    }

    /// The new IKE SA the responder's answer makes.
    fn rekeyed_from_answer(
        &mut self,
        sa: &IkeSa,
        dh: Option<crate::crypto::DiffieHellman>,
        nonce_i: &[u8],
        spi: u64,
        payloads: &[Payload],
        now: Instant,
    ) -> Result<IkeSa, &'static str> {
        let found = create_payloads(payloads);
        let (Some(answer), Some(nonce_r), Some(ke), Some(dh)) =
            (found.child.sa, found.child.nonce, found.child.ke, dh)
        else {
            return Err("SA, Nonce or KE missing in the IKE SA rekey");
        };
        let group = dh.group();
        let Some((spi_r, chosen)) = proposals::chosen_ike_rekey(answer).filter(|(_, c)| {
            sa.config.ike_proposals.contains(c) && c.dh == group && ke.group == group.transform_id()
        }) else {
            self.counters.no_proposal += 1;
            return Err("the responder chose a proposal we did not offer");
        };
        if !NONCE_RANGE.contains(&nonce_r.len()) || self.sas.contains_key(&spi) {
            return Err("bad nonce or SPI");
        }
        let shared = dh.shared_secret(&ke.data).map_err(|_| "bad KE")?;
        let nonces = (nonce_i, nonce_r);
        let spis = (spi, spi_r);
        self.rekeyed_ike_sa(
            sa,
            Role::Initiator,
            chosen,
            nonces,
            shared.as_bytes(),
            spis,
            now,
        )
        .map_err(|_| "key derivation failed")
    }

    /// Fallback when a rekey failed: a new IKE SA replaces this one, if the
    /// data plane still wants the peer.
    pub(super) fn reestablish(
        &mut self,
        sa: &mut IkeSa,
        spi: u64,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        if sa.replacing {
            return;
        }
        if let Some(local) = self.wanted.get(&sa.peer).copied() {
            sa.replacing = true;
            self.initiate(local, sa.peer, Some(spi), now, out);
        }
    }
}

/// Initiator: g^ir of the child SA's PFS exchange, checking that the
/// responder took the group we offered (or none if we offered none).
fn child_pfs(
    sa: &IkeSa,
    dh: Option<crate::crypto::DiffieHellman>,
    found: &super::child::ChildPayloads<'_>,
) -> Result<Option<SharedSecret>, String> {
    let chosen = match found.sa.map(proposals::chosen_esp_dh) {
        Some(None) => return Err("bad DH transform in the answer".into()),
        Some(Some(group)) => group,
        None => None,
    };
    match (dh, chosen, found.ke) {
        (None, None, None) => Ok(None),
        (Some(dh), Some(group), Some(ke))
            if group == dh.group() && ke.group == group.transform_id() =>
        {
            dh.shared_secret(&ke.data)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "PFS group of the answer does not match ours ({:?})",
            sa.config.pfs
        )),
    }
}
