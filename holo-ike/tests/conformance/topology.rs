//! The input files: a topology (the nodes and their configurations) and
//! the numbered steps, as serde reads them. Every field of a node's
//! configuration may be left out: the default is the simulation's
//! (`ike_sim::config()`: Cisco's defaults, one PSK for everyone, no DPD).

use std::net::IpAddr;
use std::time::Duration;

use holo_ike::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use holo_ike::ike::{Config, EspProposal, IkeProposal, Mode, Psk, Retransmit, Selectors};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// What the scenario shows, for the human reader.
    pub description: String,
    pub nodes: Vec<NodeSpec>,
    /// Source NAT in front of one node (the simulation has at most one).
    pub nat: Option<NatSpec>,
    /// Why the outcome depends on random values (nonces): the scenario
    /// then passes when one of several runs gives the expected outputs.
    pub random_outcome: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    /// Default: 10.0.0.1 for the first node, 10.0.0.2 for the second, ...
    pub address: Option<IpAddr>,
    #[serde(default)]
    pub config: ConfigSpec,
}

/// The node `node` sits behind a NAT: it has the address `inside`, the
/// others see it as `public`, port p as p + 10000.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    pub node: String,
    pub inside: IpAddr,
    pub public: IpAddr,
}

/// `ike::Config`, field by field; durations in seconds (`_s`) or
/// milliseconds (`_ms`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    pub psk: Option<String>,
    pub local_id: Option<String>,
    pub remote_id: Option<String>,
    /// Authenticate with a certificate of this key type ("p256" or
    /// "rsa2048") from the scenario's CA, made at run time.
    pub certificate: Option<String>,
    pub ike_proposals: Option<Vec<IkeProposalSpec>>,
    pub esp_proposals: Option<Vec<EspProposalSpec>>,
    /// "transport" or "tunnel".
    pub mode: Option<String>,
    pub selectors: Option<SelectorsSpec>,
    pub ike_lifetime_s: Option<u64>,
    pub child_lifetime_s: Option<u64>,
    pub child_lifetime_bytes: Option<u64>,
    /// 0: no DPD (the default here).
    pub dpd_interval_s: Option<u64>,
    pub force_encap: Option<bool>,
    /// 0: no NAT-keepalives.
    pub nat_keepalive_s: Option<u64>,
    pub retransmit_initial_ms: Option<u64>,
    pub retransmit_tries: Option<u32>,
    pub max_half_open: Option<usize>,
    pub cookie_threshold: Option<usize>,
    pub pfs: Option<String>,
    pub fragmentation: Option<bool>,
    pub fragment_size: Option<usize>,
}

/// "gre", or {"hosts": {"local": .., "remote": ..}}.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SelectorsSpec {
    Gre,
    Hosts { local: IpAddr, remote: IpAddr },
}

/// Algorithms by their Rust names, as `Snapshot` prints them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IkeProposalSpec {
    pub encr: String,
    pub integ: Option<String>,
    pub prf: String,
    pub dh: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspProposalSpec {
    pub encr: String,
    pub integ: Option<String>,
    #[serde(default)]
    pub esn: bool,
}

pub fn encr(name: &str) -> EncrAlgorithm {
    [12, 20]
        .into_iter()
        .flat_map(|id| [128, 192, 256].map(|bits| EncrAlgorithm::from_transform(id, Some(bits))))
        .flatten()
        .find(|a| format!("{a:?}") == name)
        .unwrap_or_else(|| panic!("unknown encryption algorithm {name}"))
}

pub fn integ(name: &str) -> IntegAlgorithm {
    (1..=20)
        .filter_map(IntegAlgorithm::from_transform_id)
        .find(|a| format!("{a:?}") == name)
        .unwrap_or_else(|| panic!("unknown integrity algorithm {name}"))
}

pub fn prf(name: &str) -> PrfAlgorithm {
    (1..=20)
        .filter_map(PrfAlgorithm::from_transform_id)
        .find(|a| format!("{a:?}") == name)
        .unwrap_or_else(|| panic!("unknown PRF {name}"))
}

pub fn dh(name: &str) -> DhGroup {
    DhGroup::ALL
        .into_iter()
        .find(|g| format!("{g:?}") == name)
        .unwrap_or_else(|| panic!("unknown DH group {name}"))
}

impl IkeProposalSpec {
    pub fn proposal(&self) -> IkeProposal {
        IkeProposal {
            encr: encr(&self.encr),
            integ: self.integ.as_deref().map(integ),
            prf: prf(&self.prf),
            dh: dh(&self.dh),
        }
    }
}

impl EspProposalSpec {
    pub fn proposal(&self) -> EspProposal {
        EspProposal {
            encr: encr(&self.encr),
            integ: self.integ.as_deref().map(integ),
            esn: self.esn,
        }
    }
}

impl ConfigSpec {
    /// `c` with the fields given here.
    pub fn apply(&self, mut c: Config) -> Config {
        let secs = Duration::from_secs;
        if let Some(psk) = &self.psk {
            c.psk = Psk::any(psk.as_str());
        }
        if let Some(id) = &self.local_id {
            c.local_id = Some(id.parse().unwrap_or_else(|e| panic!("local_id: {e}")));
        }
        if let Some(id) = &self.remote_id {
            c.remote_id = Some(id.parse().unwrap_or_else(|e| panic!("remote_id: {e}")));
        }
        if let Some(p) = &self.ike_proposals {
            c.ike_proposals = p.iter().map(IkeProposalSpec::proposal).collect();
        }
        if let Some(p) = &self.esp_proposals {
            c.esp_proposals = p.iter().map(EspProposalSpec::proposal).collect();
        }
        if let Some(mode) = &self.mode {
            c.mode = match mode.as_str() {
                "transport" => Mode::Transport,
                "tunnel" => Mode::Tunnel,
                other => panic!("mode {other}: transport or tunnel"),
            };
        }
        if let Some(selectors) = self.selectors {
            c.selectors = match selectors {
                SelectorsSpec::Gre => Selectors::Gre,
                SelectorsSpec::Hosts { local, remote } => Selectors::Hosts { local, remote },
            };
        }
        if let Some(s) = self.ike_lifetime_s {
            c.ike_lifetime = secs(s);
        }
        if let Some(s) = self.child_lifetime_s {
            c.child_lifetime = secs(s);
        }
        if let Some(b) = self.child_lifetime_bytes {
            c.child_lifetime_bytes = Some(b);
        }
        if let Some(s) = self.dpd_interval_s {
            c.dpd_interval = (s > 0).then(|| secs(s));
        }
        if let Some(f) = self.force_encap {
            c.force_encap = f;
        }
        if let Some(s) = self.nat_keepalive_s {
            c.nat_keepalive = (s > 0).then(|| secs(s));
        }
        let mut retransmit: Retransmit = c.retransmit;
        if let Some(ms) = self.retransmit_initial_ms {
            retransmit.initial = Duration::from_millis(ms);
        }
        if let Some(tries) = self.retransmit_tries {
            retransmit.tries = tries;
        }
        c.retransmit = retransmit;
        if let Some(n) = self.max_half_open {
            c.max_half_open = n;
        }
        if let Some(n) = self.cookie_threshold {
            c.cookie_threshold = n;
        }
        if let Some(g) = &self.pfs {
            c.pfs = Some(dh(g));
        }
        if let Some(f) = self.fragmentation {
            c.fragmentation = f;
        }
        if let Some(n) = self.fragment_size {
            c.fragment_size = n;
        }
        c
    }
}

/// One step: exactly one action, plus a description (what the step
/// checks and why, with the RFC section).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub description: String,
    pub acquire: Option<Pair>,
    pub release: Option<Pair>,
    pub clear: Option<Clear>,
    pub configure: Option<Configure>,
    pub restart: Option<NodeRef>,
    pub tick: Option<Tick>,
    /// The next N datagrams in flight, or "all": until nothing is left.
    pub deliver: Option<Value>,
    pub drop: Option<Value>,
    /// The next N datagrams, each delivered twice.
    pub duplicate: Option<Value>,
    pub link: Option<Link>,
    pub mutate: Option<Mutate>,
    pub inject: Option<Inject>,
}

impl Step {
    pub fn actions(&self) -> usize {
        [
            self.acquire.is_some(),
            self.release.is_some(),
            self.clear.is_some(),
            self.configure.is_some(),
            self.restart.is_some(),
            self.tick.is_some(),
            self.deliver.is_some(),
            self.drop.is_some(),
            self.duplicate.is_some(),
            self.link.is_some(),
            self.mutate.is_some(),
            self.inject.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
    }
}

/// The data plane of `node` wants (or no longer wants) `peer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub node: String,
    pub peer: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clear {
    pub node: String,
    /// None: every peer.
    pub peer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Configure {
    pub node: String,
    /// Applied to the node's topology configuration.
    pub config: ConfigSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRef {
    pub node: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tick {
    pub advance_ms: u64,
}

/// While a node's link is down, every datagram to or from it is lost.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub node: String,
    pub up: bool,
}

/// Edits the next datagram in flight (decrypted and encrypted again with
/// the keys of its IKE SA when it is encrypted).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutate {
    pub edits: Vec<Edit>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Removes every payload of this type (`NONCE`, `KE`, ...): from the
    /// encrypted payloads if the message has them, else from the message.
    Remove(String),
    Append(PayloadSpec),
    Prepend(PayloadSpec),
    /// Replaces the encrypted payload chain by these bytes, whose first
    /// payload is of type `first`.
    ReplaceChain {
        first: u8,
        hex: String,
    },
    /// Flips the last bit of the message (after any other edit).
    Corrupt,
}

/// A message sent in the name of `from` to `to`: raw bytes (`hex`), or an
/// authentic message of the IKE SA `sa` (its symbolic name without the
/// `-i`/`-r`, as the outputs show it) with `encrypted` payloads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inject {
    /// A node name, or a socket address (a stranger).
    pub from: String,
    pub to: String,
    pub hex: Option<String>,
    pub sa: Option<String>,
    pub exchange: Option<String>,
    #[serde(default)]
    pub response: bool,
    pub message_id: Option<u32>,
    #[serde(default)]
    pub encrypted: Vec<PayloadSpec>,
    /// Instead of `encrypted`: this chain, whose first payload is of type
    /// `first`, encrypted as it is (garbage, for INVALID_SYNTAX).
    pub chain: Option<Chain>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    pub first: u8,
    pub hex: String,
}

/// A payload written by hand.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PayloadSpec {
    /// A Notify by type name; `spi` symbolic or hex; `data` hex.
    Notify {
        #[serde(rename = "type")]
        notify_type: String,
        protocol: Option<String>,
        spi: Option<String>,
        data: Option<String>,
    },
    /// A nonce of this many octets.
    Nonce(usize),
    /// An SA payload offering child SAs with the inbound SPI `spi`.
    EspOffer {
        spi: String,
        proposals: Vec<EspProposalSpec>,
        pfs: Option<String>,
    },
    /// An SA payload rekeying the IKE SA, with the new SPI `spi`.
    IkeOffer {
        spi: String,
        proposals: Vec<IkeProposalSpec>,
    },
    /// A KE payload of this group (its value is not a valid point).
    Ke(String),
    /// TSi and TSr: one host each, this IP protocol.
    Ts {
        initiator: IpAddr,
        responder: IpAddr,
        protocol: u8,
    },
    Delete {
        protocol: String,
        spis: Vec<String>,
    },
    Unknown {
        #[serde(rename = "type")]
        payload_type: u8,
        critical: bool,
        hex: String,
    },
}
