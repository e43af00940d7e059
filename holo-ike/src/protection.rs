//! What a tunnel protected by an IPsec profile runs: the IKE configuration
//! and the data plane's part of ESP (`dmvpn-ipsec` profile, read by
//! `northbound::configuration`).

use crate::ike::{Config, Mode};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protection {
    /// The profile's name.
    pub profile: String,
    pub ike: Config,
    /// `esp/replay-window`: packets; 0 disables the anti-replay check.
    pub replay_window: u32,
}

impl Protection {
    /// The most ESP adds to a GRE datagram with this profile, over all its
    /// ESP proposals (RFC 4303, 2): SPI and sequence number, IV, padding
    /// to the cipher's block (4-octet alignment for GCM), pad length and
    /// next header, ICV; plus a UDP header (RFC 3948: NAT may appear, or
    /// encapsulation is forced) and tunnel mode's inner IPv4 header. A
    /// tunnel MTU that leaves this room never makes the underlay fragment
    /// an ESP packet.
    pub fn overhead(&self) -> u32 {
        let esp = self
            .ike
            .esp_proposals
            .iter()
            .map(|proposal| {
                let (padding, icv) = match proposal.encr.is_aead() {
                    true => (3, 16),
                    false => (15, proposal.integ.map_or(0, |i| i.icv_len())),
                };
                8 + proposal.encr.iv_len() + padding + 2 + icv
            })
            .max()
            .unwrap_or(0);
        let inner = match self.ike.mode {
            Mode::Tunnel => 20,
            Mode::Transport => 0,
        };
        (esp + 8 + inner) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{EncrAlgorithm, IntegAlgorithm};
    use crate::ike::EspProposal;

    fn profile(proposals: &[(EncrAlgorithm, Option<IntegAlgorithm>)], mode: Mode) -> Protection {
        let mut ike = Config::cisco_defaults();
        ike.esp_proposals = proposals
            .iter()
            .map(|&(encr, integ)| EspProposal {
                encr,
                integ,
                esn: false,
            })
            .collect();
        ike.mode = mode;
        Protection {
            profile: "p".to_owned(),
            ike,
            replay_window: 64,
        }
    }

    #[test]
    fn the_overhead_is_the_largest_proposals_with_udp() {
        let gcm = (EncrAlgorithm::AesGcm16_256, None);
        let cisco = (EncrAlgorithm::AesCbc128, Some(IntegAlgorithm::HmacSha1_96));
        let sha512 = (
            EncrAlgorithm::AesCbc256,
            Some(IntegAlgorithm::HmacSha512_256),
        );
        // 8 UDP + 8 ESP + 8 IV + 3 padding + 2 trailer + 16 ICV.
        assert_eq!(profile(&[gcm], Mode::Transport).overhead(), 45);
        // 8 UDP + 8 ESP + 16 IV + 15 padding + 2 trailer + 12 ICV.
        assert_eq!(profile(&[gcm, cisco], Mode::Transport).overhead(), 61);
        assert_eq!(profile(&[cisco, sha512], Mode::Transport).overhead(), 81);
        assert_eq!(profile(&[gcm], Mode::Tunnel).overhead(), 65);
    }
}
