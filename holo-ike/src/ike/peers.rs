//! What the data plane and the operator ask for: a peer to protect
//! traffic with (Acquire), one no longer needed (Release), and `clear
//! crypto sa` (Clear).

use std::net::IpAddr;
use std::time::Instant;

use super::Ike;
use super::io::Output;
use super::sa::State;

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
        // serves the peer already.
        let served = self.sas.values().any(|sa| {
            sa.peer == peer
                && match sa.state {
                    State::InitSent | State::AuthSent | State::AwaitingAuth => true,
                    State::Established => !sa.children.is_empty() || sa.replacing,
                    State::Deleting => false,
                }
        });
        if served {
            return;
        }
        // An IKE SA without child SA (its child was deleted) cannot make a
        // new one until CREATE_CHILD_SA exists: replace it.
        let childless = self
            .sas
            .iter_mut()
            .find(|(_, sa)| sa.peer == peer && sa.state == State::Established);
        let replaces = childless.map(|(spi, sa)| {
            sa.replacing = true;
            *spi
        });
        self.initiate(local, peer, replaces, now, out);
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
