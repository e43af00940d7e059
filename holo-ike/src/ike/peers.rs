//! What the data plane and the operator ask for: a peer to protect
//! traffic with (Acquire), one no longer needed (Release), and `clear
//! crypto sa` (Clear).

use std::net::IpAddr;
use std::time::Instant;

use super::Ike;
use super::io::Output;
use super::retransmission::RequestKind;
use super::sa::{IkeSa, State};

impl Ike {
    pub(super) fn acquire(
        &mut self,
        local: IpAddr,
        peer: IpAddr,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        self.wanted.insert(peer, local);
        // An IKE SA on its way (either direction) or up with a child SA
        // (or making one) serves the peer already.
        let creating = |sa: &IkeSa| {
            let create = |k: &RequestKind| *k == RequestKind::CreateChild;
            sa.pending.is_some()
                || sa
                    .window
                    .outstanding
                    .as_ref()
                    .is_some_and(|r| create(&r.kind))
                || sa.window.queue.iter().any(create)
        };
        let served = self.sas.values().any(|sa| {
            sa.peer == peer
                && match sa.state {
                    State::InitSent | State::AuthSent | State::AwaitingAuth => true,
                    State::Established => {
                        !sa.children.is_empty()
                            || sa.replacing
                            || sa.rekeyed_to.is_some()
                            || creating(sa)
                    }
                    State::Deleting => false,
                }
        });
        if served {
            return;
        }
        // An IKE SA without child SA (its child was deleted) makes a new
        // one with CREATE_CHILD_SA (RFC 7296, 1.3.1).
        let childless = self
            .sas
            .iter()
            .find(|(_, sa)| sa.peer == peer && sa.is_current())
            .map(|(spi, _)| *spi);
        if let Some(spi) = childless
            && let Some(mut sa) = self.sas.remove(&spi)
        {
            self.request(&mut sa, RequestKind::CreateChild, now, out);
            self.sas.insert(spi, sa);
            return;
        }
        self.initiate(local, peer, None, now, out);
    }

    /// Whether a child SA with `peer` may come with the answer to a
    /// request of ours in flight: our IKE_AUTH, or a CREATE_CHILD_SA for a
    /// new child. The peer installed its half when it answered and may
    /// send on it at once; its ESP can overtake the answer on our side
    /// (another socket), so the data plane holds such ESP for a moment
    /// rather than drop it as of an unknown SPI.
    pub fn child_sa_coming(&self, peer: IpAddr) -> bool {
        // Only a peer the data plane asked for gets either request.
        self.wanted.contains_key(&peer)
            && self.sas.values().any(|sa| {
                sa.peer == peer
                    && (sa.state == State::AuthSent
                        || sa
                            .window
                            .outstanding
                            .as_ref()
                            .is_some_and(|r| r.kind == RequestKind::CreateChild))
            })
    }

    pub(super) fn clear(&mut self, peer: Option<IpAddr>, now: Instant, out: &mut Vec<Output>) {
        let doomed: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, sa)| peer.is_none_or(|p| sa.peer == p))
            .map(|(spi, _)| *spi)
            .collect();
        for spi in doomed {
            self.delete_sa(spi, now, out);
        }
    }

    pub(super) fn release(&mut self, peer: IpAddr, now: Instant, out: &mut Vec<Output>) {
        self.wanted.remove(&peer);
        self.clear(Some(peer), now, out);
    }
}
