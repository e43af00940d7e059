//! NAT detection (RFC 7296, 2.23).
//!
//! NAT_DETECTION_SOURCE_IP carries SHA-1(SPIi | SPIr | source IP | source
//! port) of the sender's view of the packet, NAT_DETECTION_DESTINATION_IP
//! the same over the destination. The SPIs are those of the message's
//! header (SPIr is zero in the IKE_SA_INIT request). When the destination
//! hash we receive does not match our own address, we are behind a NAT;
//! when no source hash matches the address the packet came from, the peer
//! is.

use std::net::{IpAddr, SocketAddr};

use ring::digest;
use serde::Serialize;

use crate::packet::{Notify, NotifyType, Payload, PayloadBody, ProtocolId};

pub fn hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(&spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}

fn notify(notify_type: NotifyType, data: Vec<u8>) -> Payload {
    Payload::new(PayloadBody::Notify(Notify {
        protocol_id: ProtocolId(0),
        notify_type,
        spi: vec![],
        data,
    }))
}

/// Our two NAT-D notifies. `force_encap` fakes a NAT on our side the way
/// strongSwan does: the source hash covers no real address, so the peer
/// believes we are behind a NAT and encapsulates.
pub fn notifies(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
    force_encap: bool,
) -> [Payload; 2] {
    let source = if force_encap {
        let unspecified = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0);
        hash(!spi_i, !spi_r, unspecified)
    } else {
        hash(spi_i, spi_r, local)
    };
    [
        notify(NotifyType::NAT_DETECTION_SOURCE_IP, source),
        notify(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            hash(spi_i, spi_r, remote),
        ),
    ]
}

/// What NAT detection found for one IKE SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NatState {
    /// The peer sent NAT-D notifies (it supports NAT traversal).
    pub supported: bool,
    /// Our address is translated.
    pub local_behind: bool,
    /// The peer's address is translated (or it fakes it).
    pub remote_behind: bool,
    /// `force_encap` is on for this SA.
    pub forced: bool,
}

impl NatState {
    /// Checks the peer's NAT-D notifies in `payloads`, sent in a message
    /// with these SPIs that we received on `local` from `remote`.
    pub fn detect(
        payloads: &[Payload],
        spi_i: u64,
        spi_r: u64,
        local: SocketAddr,
        remote: SocketAddr,
        forced: bool,
    ) -> NatState {
        let of = |ty: NotifyType| {
            payloads.iter().filter_map(move |p| match &p.body {
                PayloadBody::Notify(n) if n.notify_type == ty => Some(&n.data),
                _ => None,
            })
        };
        let sources: Vec<_> = of(NotifyType::NAT_DETECTION_SOURCE_IP).collect();
        let destination = of(NotifyType::NAT_DETECTION_DESTINATION_IP).next();
        let Some(destination) = destination.filter(|_| !sources.is_empty()) else {
            return NatState {
                forced,
                ..NatState::default()
            };
        };
        let remote_hash = hash(spi_i, spi_r, remote);
        NatState {
            supported: true,
            local_behind: *destination != hash(spi_i, spi_r, local),
            remote_behind: !sources.iter().any(|s| **s == remote_hash),
            forced,
        }
    }

    /// Whether IKE floats to 4500 and ESP goes in UDP. Faking a NAT only
    /// works with a peer that does NAT traversal.
    pub fn encapsulate(&self) -> bool {
        self.supported && (self.local_behind || self.remote_behind || self.forced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn detection_from_both_sides() {
        let (i, r) = (addr("10.0.0.1:500"), addr("203.0.113.2:500"));
        let sent = notifies(7, 0, i, r, false);
        // No NAT: the responder sees i as the source.
        let seen = NatState::detect(&sent, 7, 0, r, i, false);
        assert!(seen.supported && !seen.local_behind && !seen.remote_behind);
        assert!(!seen.encapsulate());
        // The initiator's NAT rewrote its address to 198.51.100.9:1024.
        let seen = NatState::detect(&sent, 7, 0, r, addr("198.51.100.9:1024"), false);
        assert!(seen.remote_behind && !seen.local_behind && seen.encapsulate());
        // Forced on the sender's side: the receiver sees a NAT in front of it.
        let sent = notifies(7, 0, i, r, true);
        assert!(NatState::detect(&sent, 7, 0, r, i, false).remote_behind);
        // Without notifies, no NAT traversal at all, even when forced.
        assert!(!NatState::detect(&[], 7, 0, r, i, true).encapsulate());
    }
}
