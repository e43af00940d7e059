//! ESP that comes before its SA: our IKE_AUTH (or CREATE_CHILD_SA for a
//! new child SA) is answered, the peer installed its half of the child SA
//! as it answered and sends on it at once (what waited for the SA on its
//! side: say the reply to our NHRP resolution), and that ESP is read
//! before the answer, from another socket. Dropped as of an unknown SPI,
//! the first packets of every such SA would be lost. They are kept, a few
//! per peer, while IKE awaits the answer, and opened once it installed the
//! SA; dropped if the exchange fails.

use std::collections::HashMap;
use std::net::IpAddr;

use super::sas::Sas;

/// Packets kept per peer, at most; and for all peers together.
const PER_PEER: usize = 16;
const TOTAL: usize = 256;

#[derive(Default)]
pub struct EarlyEsp {
    held: HashMap<IpAddr, Vec<Vec<u8>>>,
    total: usize,
}

impl EarlyEsp {
    /// Keeps `packet` (ESP, SPI onwards, of an SPI `sas` does not know)
    /// from `from` if there is room and `coming` (IKE awaits the answer
    /// that brings a child SA with `from`, `Ike::child_sa_coming`), asked
    /// only then. Whether it was kept.
    pub fn hold(&mut self, from: IpAddr, packet: &[u8], coming: impl FnOnce() -> bool) -> bool {
        let held = self.held.get(&from).map_or(0, Vec::len);
        if held >= PER_PEER || self.total >= TOTAL || !coming() {
            return false;
        }
        self.held.entry(from).or_default().push(packet.to_vec());
        self.total += 1;
        true
    }

    /// After IKE's outputs went to `sas`: the packets whose SA is installed
    /// now, each peer's in the order they came, to open; those of a peer no longer `coming` (the
    /// exchange failed, or answered without that SPI) are dropped. Returns
    /// (released, how many dropped).
    pub fn settle(
        &mut self,
        sas: &Sas,
        coming: impl Fn(IpAddr) -> bool,
    ) -> (Vec<(IpAddr, Vec<u8>)>, u64) {
        let mut released = Vec::new();
        let mut dropped = 0;
        if self.total == 0 {
            return (released, dropped);
        }
        self.held.retain(|&peer, packets| {
            let still = coming(peer);
            packets.retain_mut(|packet| {
                if sas.knows(peer, packet) {
                    released.push((peer, std::mem::take(packet)));
                    false
                } else {
                    dropped += u64::from(!still);
                    still
                }
            });
            !packets.is_empty()
        });
        self.total = self.held.values().map(Vec::len).sum();
        (released, dropped)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use holo_ike::crypto::{EncrAlgorithm, IntegAlgorithm};
    use holo_ike::esp::OutboundSa;
    use holo_ike::ike::{ChildSa, Mode};

    use super::*;

    fn peer() -> IpAddr {
        "192.0.2.12".parse().unwrap()
    }

    /// A child SA with `peer()`, and an ESP packet the peer sent on it.
    fn child_and_packet(inbound_spi: u32) -> (ChildSa, Vec<u8>) {
        let child = ChildSa {
            peer: peer(),
            local: "192.0.2.11".parse().unwrap(),
            encap: None,
            mode: Mode::Transport,
            encr: EncrAlgorithm::AesCbc128,
            integ: Some(IntegAlgorithm::HmacSha256_128),
            esn: false,
            inbound_spi,
            inbound_encr_key: vec![1; 16],
            inbound_integ_key: vec![2; 32],
            outbound_spi: 0x0200_0000,
            outbound_encr_key: vec![3; 16],
            outbound_integ_key: vec![4; 32],
            lifetime: Duration::from_secs(3600),
        };
        let mut theirs = OutboundSa::new(
            inbound_spi,
            child.encr,
            child.integ,
            &child.inbound_encr_key,
            &child.inbound_integ_key,
            false,
        )
        .unwrap();
        let mut packet = Vec::new();
        theirs.seal(47, b"gre", &mut packet).unwrap();
        (child, packet)
    }

    #[test]
    fn esp_before_its_sa_is_kept_and_released_once_installed() {
        let (mut sas, mut early) = (Sas::default(), EarlyEsp::default());
        let (child, packet) = child_and_packet(0x0100_0001);
        // Nothing coming from that peer: not kept.
        assert!(!early.hold(peer(), &packet, || false));
        assert!(early.hold(peer(), &packet, || true));
        assert_eq!(early.settle(&sas, |_| true), (vec![], 0));
        // The answer came: the SA is in (IKE awaits nothing more).
        sas.install(&child, 64).unwrap();
        let (released, dropped) = early.settle(&sas, |_| false);
        assert_eq!(dropped, 0);
        let [(from, mut held)] = <[_; 1]>::try_from(released).unwrap();
        assert_eq!((from, &held), (peer(), &packet));
        assert!(sas.open(from, &mut held).is_ok());
        assert_eq!(early.settle(&sas, |_| false), (vec![], 0));
    }

    #[test]
    fn held_esp_goes_when_the_exchange_fails_and_is_bounded() {
        let (sas, mut early) = (Sas::default(), EarlyEsp::default());
        let (_, packet) = child_and_packet(0x0100_0001);
        let kept = (0..PER_PEER + 3)
            .filter(|_| early.hold(peer(), &packet, || true))
            .count();
        assert_eq!(kept, PER_PEER);
        // Another peer has room of its own.
        let other: IpAddr = "192.0.2.13".parse().unwrap();
        assert!(early.hold(other, &packet, || true));
        // The IKE_AUTH with the first peer failed; the other still awaits.
        let (released, dropped) = early.settle(&sas, |p| p == other);
        assert!(released.is_empty());
        assert_eq!(dropped, PER_PEER as u64);
        assert_eq!(early.total, 1);
    }
}
