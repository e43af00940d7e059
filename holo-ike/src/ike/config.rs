//! What an IKE instance is told: identities, keys, proposals, lifetimes and
//! timers. A new configuration applies to IKE SAs created after it; the
//! SAs that exist keep the configuration they were created with.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::certificates::CertificateConfig;
use super::identity::{Identity, Psk};
use crate::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// None: our IP address as ID_IPV4_ADDR / ID_IPV6_ADDR (Cisco's
    /// default), or with a certificate its subject DN (strongSwan's).
    pub local_id: Option<Identity>,
    /// None: any ID from the peer is accepted (the PSK or its certificate
    /// still has to match).
    pub remote_id: Option<Identity>,
    pub psk: Psk,
    /// None: pre-shared keys. Some: we authenticate with this certificate
    /// and the peer must authenticate with one that chains to its `ca`
    /// and vouches for the peer's ID; the keyring is not consulted.
    pub certificate: Option<CertificateConfig>,
    /// In order of preference; the first one's DH group goes in our KE.
    pub ike_proposals: Vec<IkeProposal>,
    pub esp_proposals: Vec<EspProposal>,
    pub mode: Mode,
    /// What the child SA protects: GRE between the NBMA addresses (DMVPN).
    pub selectors: Selectors,
    pub ike_lifetime: Duration,
    pub child_lifetime: Duration,
    /// Byte lifetime of a child SA: the most either direction may carry
    /// (the inner packets' bytes) before the SA is deleted; rekeyed at the
    /// same soft fraction as the time lifetime ([`super::rekey`]). None:
    /// no byte limit (Cisco's `lifetime kilobytes disable`).
    pub child_lifetime_bytes: Option<u64>,
    /// Send a liveness check after this much silence from the peer.
    pub dpd_interval: Option<Duration>,
    /// Act as if a NAT were in the way: UDP-encapsulate ESP (strongSwan
    /// `encap = yes`).
    pub force_encap: bool,
    /// Behind a NAT, a NAT-keepalive (RFC 3948, 2.3) after this long
    /// without anything sent to the peer, so that the NAT keeps our
    /// mapping. None: no keepalives.
    pub nat_keepalive: Option<Duration>,
    pub retransmit: Retransmit,
    /// Responder IKE SAs waiting for IKE_AUTH, at most.
    pub max_half_open: usize,
    /// From this many half-open IKE SAs on, IKE_SA_INIT requests must
    /// carry a cookie (RFC 7296, 2.6).
    pub cookie_threshold: usize,
    /// Perfect forward secrecy for child SAs made by CREATE_CHILD_SA: a
    /// Diffie-Hellman exchange of this group in each (Cisco's `set pfs`
    /// of the IPsec profile). None: their keys come from SK_d alone.
    pub pfs: Option<DhGroup>,
    /// IKE fragmentation (RFC 7383): announce IKEV2_FRAGMENTATION_SUPPORTED
    /// and, when the peer does too, fragment large messages.
    pub fragmentation: bool,
    /// The largest IP datagram an IKE message (after IKE_SA_INIT) may make
    /// before it is sent in fragments; IP and UDP headers and the non-ESP
    /// marker count against it (RFC 7383, 2.5.1).
    pub fragment_size: usize,
}

/// Cisco's default byte lifetime of an IPsec SA: 4 608 000 kilobytes
/// (of 1024 bytes), 10 Mbit/s for the hour of its time lifetime.
pub const DEFAULT_CHILD_LIFETIME_BYTES: u64 = 4_608_000 * 1024;

/// strongSwan's NAT-keepalive interval (`charon.keep_alive`); Cisco's
/// `crypto isakmp nat keepalive` is off unless configured.
pub const DEFAULT_NAT_KEEPALIVE: Duration = Duration::from_secs(20);

/// RFC 7383, 2.5.1: 1280 octets fit every IPv6 path and, in practice,
/// the IPv4 paths DMVPN runs over.
pub const DEFAULT_FRAGMENT_SIZE: usize = 1280;

/// IKE SA transforms: ENCR + INTEG + PRF + DH, or an AEAD ENCR (no INTEG)
/// + PRF + DH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct IkeProposal {
    #[serde(serialize_with = "super::snapshot::debug")]
    pub encr: EncrAlgorithm,
    #[serde(serialize_with = "super::snapshot::debug_opt")]
    pub integ: Option<IntegAlgorithm>,
    #[serde(serialize_with = "super::snapshot::debug")]
    pub prf: PrfAlgorithm,
    #[serde(serialize_with = "super::snapshot::debug")]
    pub dh: DhGroup,
}

/// ESP transforms: ENCR (+ INTEG unless AEAD) + ESN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct EspProposal {
    #[serde(serialize_with = "super::snapshot::debug")]
    pub encr: EncrAlgorithm,
    #[serde(serialize_with = "super::snapshot::debug_opt")]
    pub integ: Option<IntegAlgorithm>,
    pub esn: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// ESP directly over GRE: the NBMA addresses are the IPsec endpoints.
    #[default]
    Transport,
    Tunnel,
}

/// The traffic selectors of the child SA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selectors {
    /// IP protocol 47 from our address to the peer's (both /32 or /128).
    #[default]
    Gre,
    /// Any protocol between two inner host addresses (a tunnel-mode test
    /// against a gateway that expects, say, 192.0.2.1/32 <-> 192.0.2.2/32).
    Hosts { local: IpAddr, remote: IpAddr },
}

/// Retransmission of requests (RFC 7296, 2.1): the first wait is
/// `initial`, each next one twice as long; after `tries` transmissions
/// without a response the IKE SA is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Retransmit {
    pub initial: Duration,
    pub tries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit {
            initial: Duration::from_millis(500),
            tries: 5,
        }
    }
}

/// RFC 7296, 2.1 / strongSwan: half-open SAs live this long without IKE_AUTH.
pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

impl Config {
    /// Cisco IOS smart defaults and what strongSwan 5.9 proposes by
    /// default, AEAD first, with the PSK left empty.
    pub fn cisco_defaults() -> Self {
        use DhGroup::*;
        use EncrAlgorithm::*;
        use IntegAlgorithm::*;
        use PrfAlgorithm::*;
        let mut ike_proposals = vec![];
        for dh in [Curve25519, Ecp256, Ecp384, Modp2048] {
            ike_proposals.push(IkeProposal {
                encr: AesGcm16_256,
                integ: None,
                prf: HmacSha256,
                dh,
            });
        }
        for dh in [Ecp256, Modp2048, Modp1536, Curve25519] {
            ike_proposals.push(IkeProposal {
                encr: AesCbc256,
                integ: Some(HmacSha512_256),
                prf: HmacSha512,
                dh,
            });
        }
        for dh in [Curve25519, Ecp256, Modp2048] {
            ike_proposals.push(IkeProposal {
                encr: AesCbc256,
                integ: Some(HmacSha256_128),
                prf: HmacSha256,
                dh,
            });
        }
        ike_proposals.push(IkeProposal {
            encr: AesCbc128,
            integ: Some(HmacSha1_96),
            prf: HmacSha1,
            dh: Modp2048,
        });
        Config {
            local_id: None,
            remote_id: None,
            psk: Psk::default(),
            certificate: None,
            ike_proposals,
            esp_proposals: vec![
                EspProposal {
                    encr: AesGcm16_256,
                    integ: None,
                    esn: false,
                },
                EspProposal {
                    encr: AesCbc256,
                    integ: Some(HmacSha256_128),
                    esn: false,
                },
                EspProposal {
                    encr: AesCbc128,
                    integ: Some(HmacSha1_96),
                    esn: false,
                },
            ],
            mode: Mode::Transport,
            selectors: Selectors::Gre,
            // Cisco: 86400 s for IKEv2 SAs, 3600 s for IPsec SAs.
            ike_lifetime: Duration::from_secs(86400),
            child_lifetime: Duration::from_secs(3600),
            child_lifetime_bytes: Some(DEFAULT_CHILD_LIFETIME_BYTES),
            dpd_interval: Some(Duration::from_secs(30)),
            force_encap: false,
            // strongSwan's; IOS sends none unless configured.
            nat_keepalive: Some(DEFAULT_NAT_KEEPALIVE),
            retransmit: Retransmit::default(),
            max_half_open: 1000,
            cookie_threshold: 50,
            pfs: None,
            fragmentation: true,
            fragment_size: DEFAULT_FRAGMENT_SIZE,
        }
    }
}
