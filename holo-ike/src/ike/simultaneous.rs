//! Simultaneous initiation: both peers need each other at once (a DMVPN
//! shortcut: each answers the other's resolution directly), each sends
//! IKE_SA_INIT before it hears the other's, and two IKE SAs come up with
//! one child SA each. Nothing forbids that (RFC 7296, 2.8 covers rekeys
//! only), but one pair is redundant: each end would be free to send on
//! either child SA (the data plane takes one per peer), with twice the
//! liveness checks and rekeys from then on.
//!
//! As for a rekey collision (2.8.1), once both IKE SAs are up the one
//! whose IKE_SA_INIT had the lowest of the four nonces is redundant, and
//! the end that initiated it deletes it. Both ends see the same nonces,
//! so they agree without a word, and only one of them deletes: never two
//! different SAs (INITIAL_CONTACT cannot do that either, [`super::auth`]).
//! The redundant child SA leaves our data plane at once (its inbound half
//! stays a few seconds for what the peer sent before our Delete).
//!
//! Each end answers the other's IKE_SA_INIT before it gets the answer to
//! its own, so the SA it answered comes up there first: the redundant SA
//! is usually deleted as soon as its initiator gets the IKE_AUTH answer,
//! its child SA installed and removed at once, never sent on by us.

use std::time::Instant;

use super::Ike;
use super::io::Output;
use super::rekey::ours_is_redundant;
use super::sa::{IkeSa, Role};

impl Ike {
    /// `sa` just came up with its child SA (as responder: once our answer
    /// left, see `receive_request`). If it and another IKE SA with the
    /// same peer crossed (each began before the other was up, one
    /// initiated by either end), the redundant one goes when we initiated
    /// it: another in the table is deleted here; for `sa` itself, returns
    /// true (the caller deletes it).
    pub(super) fn simultaneous(&mut self, sa: &IkeSa, now: Instant, out: &mut Vec<Output>) -> bool {
        if sa.children.is_empty() {
            return false;
        }
        let crossed = self.sas.iter().find(|(_, other)| {
            other.peer == sa.peer
                && other.role != sa.role
                && other.is_current()
                && !other.replacing
                && !other.children.is_empty()
                && other.established.is_some_and(|t| t >= sa.created)
        });
        let Some((&spi, other)) = crossed else {
            return false;
        };
        let lowest = |s: &IkeSa| s.nonce_i.as_slice().min(s.nonce_r.as_slice()).to_vec();
        let redundant_is_sa = ours_is_redundant(&lowest(sa), &lowest(other));
        let redundant = if redundant_is_sa { sa } else { other };
        if redundant.role != Role::Initiator {
            // The peer initiated it, and deletes it.
            return false;
        }
        self.counters.redundant_sas_deleted += 1;
        if redundant_is_sa {
            return true;
        }
        self.delete_sa(spi, now, out);
        false
    }
}
