//! The child SAs in the data plane: outbound by peer, inbound by SPI, and
//! how a rekey hands one over to the next without losing a packet.
//!
//! - A rekey's new outbound SA waits behind the peer's current one
//!   (`Outbound::successor`): the responder of a rekey installs its SAs
//!   when it answers, and what it sent on the new SA before the initiator
//!   processed that answer would be lost there (strongSwan as initiator
//!   drops it; as responder it waits the same way). It takes over when
//!   IKE removes the old SA (the rekey's Delete) or when the peer sends on
//!   the new one, whichever comes first.
//! - The old inbound SA stays until IKE removes it, and then for
//!   [`REKEYED_INBOUND_GRACE`] more when the peer keeps another SA: the
//!   peer sent on the old one until it processed our Delete, and those
//!   packets are still on their way.
//!
//! No sockets here, so the hand-over is tested packet by packet.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use holo_ike::esp::{self, EspError, InboundSa, OutboundSa};
use holo_ike::ike::{ChildSa, ChildSaUsage, Mode};

use super::ChildSaState;
use crate::dataplane::forwarding::DropReason;

/// How long the inbound half of a child SA replaced by a rekey still opens
/// packets after IKE removed it (strongSwan's `delete_rekeyed_delay` is
/// the same 5 s). Without it, as the initiator of a rekey, we lost what
/// the peer sent during the Delete's round trip (1 ping in 100 during a
/// flood, strongSwan interop).
pub const REKEYED_INBOUND_GRACE: Duration = Duration::from_secs(5);

pub struct Outbound {
    pub sa: OutboundSa,
    /// A rekey's new SA, not used yet: the peer may not have installed its
    /// inbound half.
    successor: Option<Box<Outbound>>,
    /// (local port, remote port) of ESP-in-UDP; `None`: plain ESP.
    pub encap: Option<(u16, u16)>,
    pub mode: Mode,
    pub local: IpAddr,
    inbound_spi: u32,
}

struct Inbound {
    sa: InboundSa,
    peer: IpAddr,
    /// Installed by a rekey whose outbound half waits (`Outbound::successor`):
    /// the first packet opened here lets it take over. Only then is the
    /// outbound table looked at, not for every packet.
    promotes: bool,
    /// IKE removed it after a rekey: it opens what is still on its way
    /// (`Sas::retiring`) and is neither reported nor shown.
    retired: bool,
}

/// Why `Sas::open` refused an ESP packet (the tunnel's counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not ESP (too short for a header) or not decodable.
    Malformed,
    /// No inbound SA of that SPI from that address.
    UnknownSpi,
    /// The SA's own checks (counted on the SA).
    IcvFailure,
    Replayed,
}

impl From<Refused> for DropReason {
    fn from(refused: Refused) -> DropReason {
        match refused {
            Refused::Malformed => DropReason::Malformed,
            Refused::UnknownSpi => DropReason::UnknownSpi,
            Refused::IcvFailure => DropReason::IcvFailure,
            Refused::Replayed => DropReason::Replayed,
        }
    }
}

#[derive(Default)]
pub struct Sas {
    outbound: HashMap<IpAddr, Outbound>,
    inbound: HashMap<u32, Inbound>,
    /// Inbound SAs replaced by a rekey and removed by IKE, oldest first,
    /// with the time they go.
    retiring: VecDeque<(Instant, u32)>,
    /// Peers whose last outbound SA went without a successor: their path
    /// is down until IKE brings a new one up (`take_lost`).
    lost: Vec<IpAddr>,
}

impl Sas {
    /// (outbound, inbound) SAs installed.
    pub fn len(&self) -> (usize, usize) {
        (self.outbound.len(), self.inbound.len())
    }

    /// Whether `peer` has an outbound SA in use.
    pub fn is_up(&self, peer: IpAddr) -> bool {
        self.outbound.contains_key(&peer)
    }

    /// The outbound SA in use for `peer`.
    pub fn outbound(&mut self, peer: IpAddr) -> Option<&mut Outbound> {
        self.outbound.get_mut(&peer)
    }

    /// Installs both directions of a child SA (`replay_window` packets
    /// for the inbound one); a rekey's outbound half waits behind the
    /// peer's current one.
    pub fn install(&mut self, child: &ChildSa, replay_window: u32) -> Result<(), EspError> {
        let inbound = InboundSa::new(
            child.inbound_spi,
            child.encr,
            child.integ,
            &child.inbound_encr_key,
            &child.inbound_integ_key,
            child.esn,
            replay_window,
        )?;
        let outbound = OutboundSa::new(
            child.outbound_spi,
            child.encr,
            child.integ,
            &child.outbound_encr_key,
            &child.outbound_integ_key,
            child.esn,
        )?;
        self.inbound.insert(
            child.inbound_spi,
            Inbound {
                sa: inbound,
                peer: child.peer,
                promotes: self.outbound.contains_key(&child.peer),
                retired: false,
            },
        );
        let new = Outbound {
            sa: outbound,
            successor: None,
            encap: child.encap,
            mode: child.mode,
            local: child.local,
            inbound_spi: child.inbound_spi,
        };
        match self.outbound.get_mut(&child.peer) {
            Some(current) => current.successor = Some(Box::new(new)),
            None => {
                self.outbound.insert(child.peer, new);
            }
        }
        Ok(())
    }

    /// Removes a child SA (IKE's `RemoveChildSa`). If the peer keeps
    /// another, the inbound half still opens packets for
    /// [`REKEYED_INBOUND_GRACE`]; if not, the peer's path is lost and its
    /// retiring inbound SAs go too.
    pub fn remove(&mut self, peer: IpAddr, inbound_spi: u32, outbound_spi: u32, now: Instant) {
        if let Some(current) = self.outbound.get_mut(&peer) {
            if current.sa.spi() == outbound_spi {
                match current.successor.take() {
                    Some(successor) => *current = *successor,
                    None => {
                        self.outbound.remove(&peer);
                        self.lost.push(peer);
                    }
                }
            } else if current
                .successor
                .as_ref()
                .is_some_and(|next| next.sa.spi() == outbound_spi)
            {
                current.successor = None;
            }
        }
        if self.outbound.contains_key(&peer) {
            if let Some(inbound) = self.inbound.get_mut(&inbound_spi)
                && !inbound.retired
            {
                inbound.retired = true;
                self.retiring
                    .push_back((now + REKEYED_INBOUND_GRACE, inbound_spi));
            }
            return;
        }
        self.inbound.remove(&inbound_spi);
        // Only those of the last few seconds' rekeys are looked at.
        let inbound = &mut self.inbound;
        self.retiring.retain(|(_, spi)| match inbound.get(spi) {
            Some(i) if i.peer == peer && i.retired => {
                inbound.remove(spi);
                false
            }
            _ => true,
        });
    }

    /// Drops the retiring inbound SAs whose time is up.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(until, spi)) = self.retiring.front()
            && until <= now
        {
            self.retiring.pop_front();
            // The SPI may have been given to a new SA since.
            if self.inbound.get(&spi).is_some_and(|i| i.retired) {
                self.inbound.remove(&spi);
            }
        }
    }

    /// When `expire` has something to do.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.retiring.front().map(|&(until, _)| until)
    }

    /// Whether the SPI of `packet` (ESP, SPI onwards) is that of an inbound
    /// SA from `from`.
    pub fn knows(&self, from: IpAddr, packet: &[u8]) -> bool {
        esp::spi_of(packet)
            .and_then(|spi| self.inbound.get(&spi))
            .is_some_and(|inbound| inbound.peer == from)
    }

    /// An ESP packet (SPI onwards) from `from`, decrypted in place: its
    /// Next Header and payload. The peer sending on a rekey's new SA lets
    /// our outbound half of it take over.
    pub fn open<'p>(
        &mut self,
        from: IpAddr,
        packet: &'p mut [u8],
    ) -> Result<(u8, &'p [u8]), Refused> {
        let spi = esp::spi_of(packet).ok_or(Refused::Malformed)?;
        let inbound = match self.inbound.get_mut(&spi) {
            // Another SA's peer, or a stranger guessing SPIs.
            Some(inbound) if inbound.peer == from => inbound,
            _ => return Err(Refused::UnknownSpi),
        };
        let opened = inbound.sa.open(packet).map_err(|error| match error {
            EspError::IcvMismatch => Refused::IcvFailure,
            EspError::Replayed { .. } | EspError::TooOld { .. } => Refused::Replayed,
            _ => Refused::Malformed,
        })?;
        if std::mem::take(&mut inbound.promotes)
            && let Some(current) = self.outbound.get_mut(&from)
            && current
                .successor
                .as_ref()
                .is_some_and(|next| next.inbound_spi == spi)
            && let Some(successor) = current.successor.take()
        {
            *current = *successor;
        }
        Ok(opened)
    }

    /// The peers that lost their SA since the last call and have none
    /// again (dead peer, Delete, clear): NHRP takes them down.
    pub fn take_lost(&mut self) -> Vec<IpAddr> {
        let mut lost = std::mem::take(&mut self.lost);
        lost.retain(|peer| !self.outbound.contains_key(peer));
        lost.sort();
        lost.dedup();
        lost
    }

    /// The counters of every installed child SA, by its inbound SPI: the
    /// inbound SA's, and the outbound SA's while it is the peer's current
    /// one (a replaced outbound SA is gone; what it carried was reported).
    pub fn usage(&self) -> Vec<ChildSaUsage> {
        let mut usage: HashMap<u32, ChildSaUsage> = self
            .inbound
            .iter()
            .filter(|(_, inbound)| !inbound.retired)
            .map(|(&inbound_spi, inbound)| {
                let counted = ChildSaUsage {
                    inbound_spi,
                    inbound_bytes: inbound.sa.counters().bytes,
                    ..ChildSaUsage::default()
                };
                (inbound_spi, counted)
            })
            .collect();
        for out in self.outbound.values() {
            let counted = usage.entry(out.inbound_spi).or_insert(ChildSaUsage {
                inbound_spi: out.inbound_spi,
                ..ChildSaUsage::default()
            });
            counted.outbound_bytes = out.sa.counters().bytes;
            counted.outbound_sequence = out.sa.sequence();
        }
        usage.into_values().collect()
    }

    /// Every pair in use or waiting, as management sees it.
    pub fn child_sas(&self) -> Vec<ChildSaState> {
        self.outbound
            .iter()
            .flat_map(|(peer, out)| {
                std::iter::once((peer, out))
                    .chain(out.successor.as_deref().map(|next| (peer, next)))
            })
            .map(|(peer, out)| ChildSaState {
                peer: *peer,
                inbound_spi: out.inbound_spi,
                outbound_spi: out.sa.spi(),
                encap: out.encap,
                inbound: self
                    .inbound
                    .get(&out.inbound_spi)
                    .map(|i| i.sa.counters())
                    .unwrap_or_default(),
                outbound: out.sa.counters(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holo_ike::crypto::{EncrAlgorithm, IntegAlgorithm};

    const IPPROTO_GRE: u8 = 47;

    fn peer() -> IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    /// Our half of child SA pair `n` with `peer()`, and the peer's sealer
    /// of what it sends us on it.
    fn pair(n: u8, inbound_spi: u32) -> (ChildSa, OutboundSa) {
        let child = ChildSa {
            peer: peer(),
            local: "192.0.2.11".parse().unwrap(),
            encap: None,
            mode: Mode::Transport,
            encr: EncrAlgorithm::AesCbc128,
            integ: Some(IntegAlgorithm::HmacSha256_128),
            esn: false,
            inbound_spi,
            inbound_encr_key: vec![n; 16],
            inbound_integ_key: vec![n + 1; 32],
            outbound_spi: 0x0200_0000 + u32::from(n),
            outbound_encr_key: vec![n + 2; 16],
            outbound_integ_key: vec![n + 3; 32],
            lifetime: Duration::from_secs(3600),
        };
        let theirs = OutboundSa::new(
            inbound_spi,
            child.encr,
            child.integ,
            &child.inbound_encr_key,
            &child.inbound_integ_key,
            false,
        )
        .unwrap();
        (child, theirs)
    }

    /// `sas.open` of a GRE datagram the peer sealed with `theirs`, from
    /// `from`.
    fn receive(sas: &mut Sas, theirs: &mut OutboundSa, from: IpAddr) -> Result<Vec<u8>, Refused> {
        let mut packet = Vec::new();
        theirs.seal(IPPROTO_GRE, b"gre", &mut packet).unwrap();
        sas.open(from, &mut packet).map(|(_, gre)| gre.to_vec())
    }

    fn sending_on(sas: &mut Sas) -> Option<u32> {
        sas.outbound(peer()).map(|out| out.sa.spi())
    }

    /// Pair 1 in use, pair 2 (a rekey's) installed behind it, with the
    /// peer's sealers of each.
    fn rekeyed() -> (Sas, [(ChildSa, OutboundSa); 2]) {
        let mut sas = Sas::default();
        let pairs = [pair(1, 0x0100_0001), pair(2, 0x0100_0002)];
        for (child, _) in &pairs {
            sas.install(child, 64).unwrap();
        }
        (sas, pairs)
    }

    #[test]
    fn a_rekey_hands_over_when_the_old_sa_is_removed() {
        let now = Instant::now();
        let (mut sas, [(old, mut theirs_old), (new, mut theirs_new)]) = rekeyed();
        // The new outbound SA waits: the peer may not have its inbound half.
        assert_eq!(sending_on(&mut sas), Some(old.outbound_spi));
        assert_eq!(sas.child_sas().len(), 2);

        sas.remove(peer(), old.inbound_spi, old.outbound_spi, now);
        assert_eq!(sending_on(&mut sas), Some(new.outbound_spi));
        assert!(sas.take_lost().is_empty());
        // What the peer sent on the old SA before it processed our Delete
        // still arrives, for a while; the old SA is no longer reported.
        assert_eq!(
            receive(&mut sas, &mut theirs_old, peer()),
            Ok(b"gre".to_vec())
        );
        let shown: Vec<u32> = sas.child_sas().iter().map(|c| c.inbound_spi).collect();
        assert_eq!(shown, [new.inbound_spi]);
        let reported: Vec<u32> = sas.usage().iter().map(|u| u.inbound_spi).collect();
        assert_eq!(reported, [new.inbound_spi]);
        assert_eq!(sas.next_expiry(), Some(now + REKEYED_INBOUND_GRACE));

        sas.expire(now + REKEYED_INBOUND_GRACE - Duration::from_millis(1));
        assert_eq!(
            receive(&mut sas, &mut theirs_old, peer()),
            Ok(b"gre".to_vec())
        );
        sas.expire(now + REKEYED_INBOUND_GRACE);
        assert_eq!(
            receive(&mut sas, &mut theirs_old, peer()),
            Err(Refused::UnknownSpi)
        );
        assert_eq!(sas.next_expiry(), None);
        assert_eq!(
            receive(&mut sas, &mut theirs_new, peer()),
            Ok(b"gre".to_vec())
        );
        assert_eq!(sas.len(), (1, 1));
    }

    #[test]
    fn the_peer_sending_on_the_new_sa_lets_ours_take_over() {
        let (mut sas, [(old, _), (new, mut theirs_new)]) = rekeyed();
        // From another address: not the peer's, nothing changes.
        let stranger = "192.0.2.99".parse().unwrap();
        assert_eq!(
            receive(&mut sas, &mut theirs_new, stranger),
            Err(Refused::UnknownSpi)
        );
        assert_eq!(sending_on(&mut sas), Some(old.outbound_spi));
        assert_eq!(
            receive(&mut sas, &mut theirs_new, peer()),
            Ok(b"gre".to_vec())
        );
        assert_eq!(sending_on(&mut sas), Some(new.outbound_spi));
        // The old SA's removal then leaves the new one in place.
        sas.remove(peer(), old.inbound_spi, old.outbound_spi, Instant::now());
        assert_eq!(sending_on(&mut sas), Some(new.outbound_spi));
    }

    #[test]
    fn a_peer_that_loses_its_last_sa_keeps_no_retiring_one() {
        let now = Instant::now();
        let (mut sas, [(old, mut theirs_old), (new, mut theirs_new)]) = rekeyed();
        sas.remove(peer(), old.inbound_spi, old.outbound_spi, now);
        // `clear crypto sa`, a dead peer: the last SA goes.
        sas.remove(peer(), new.inbound_spi, new.outbound_spi, now);
        assert_eq!(sas.take_lost(), [peer()]);
        assert!(!sas.is_up(peer()));
        for theirs in [&mut theirs_old, &mut theirs_new] {
            assert_eq!(receive(&mut sas, theirs, peer()), Err(Refused::UnknownSpi));
        }
        assert_eq!(sas.len(), (0, 0));
    }

    #[test]
    fn a_retired_spi_given_to_a_new_sa_survives_the_expiry() {
        let now = Instant::now();
        let (mut sas, [(first, _), _]) = rekeyed();
        sas.remove(peer(), first.inbound_spi, first.outbound_spi, now);
        // IKE does not know the data plane still holds the old SPI.
        let (third, mut theirs_third) = pair(3, first.inbound_spi);
        sas.install(&third, 64).unwrap();
        sas.expire(now + REKEYED_INBOUND_GRACE);
        assert_eq!(
            receive(&mut sas, &mut theirs_third, peer()),
            Ok(b"gre".to_vec())
        );
    }
}
