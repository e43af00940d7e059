//! What goes into the sans-IO IKE core and what comes out of it.
//!
//! ```text
//!   driver                                   core (no IO, no clock)
//!   UDP 500/4500 (marker stripped) --Input::Packet-->  Ike::handle(input, now)
//!   data plane needs a peer ---------Input::Acquire-->      |
//!   NHRP forgot a peer --------------Input::Release-->      |
//!   clear crypto sa -----------------Input::Clear---->      |
//!   commit --------------------------Input::Configure->     |
//!   timer expired -------------------Input::Tick----->      |
//!   timer expired, with ESP counts --Input::ChildSaUsage->  v
//!   UDP (marker added on 4500) <-----Output::Send------ Vec<Output>
//!   UDP 4500, one octet 0xFF <-------Output::NatKeepalive
//!   ESP data plane <-----------------Output::InstallChildSa / RemoveChildSa
//!   logs, northbound <---------------Output::Notification
//!   sleep until ---------------------- Ike::next_wakeup()
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use super::config::{Config, Mode};
use super::error::Error;
use super::identity::Identity;
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};

#[derive(Debug)]
pub enum Input {
    /// A UDP datagram on port 500 or 4500 (non-ESP marker already stripped
    /// on 4500).
    Packet {
        local: SocketAddr,
        remote: SocketAddr,
        bytes: Vec<u8>,
    },
    /// The data plane needs protected traffic to `peer` (NBMA address) from
    /// `local`: bring up an IKE SA and a child SA unless one is up or on its
    /// way (idempotent).
    Acquire { local: IpAddr, peer: IpAddr },
    /// Tear down everything with `peer` (None: with every peer), sending
    /// Deletes (`clear crypto sa`).
    Clear { peer: Option<IpAddr> },
    /// The peer is no longer wanted (NHRP forgot it): delete its SAs.
    Release { peer: IpAddr },
    /// Applies to IKE SAs created from now on; existing SAs keep theirs
    /// until they are re-established.
    Configure(Box<Config>),
    /// Time passed: process everything due at `now`.
    Tick,
    /// What the data plane's SAs carried so far (one entry per child SA
    /// it has), for byte lifetimes and sequence number exhaustion
    /// ([`super::usage`]); then, as `Tick`, everything due at `now`, a
    /// limit reached included. A driver that counts sends this instead
    /// of `Tick`.
    ChildSaUsage(Vec<ChildSaUsage>),
}

/// The counters of one child SA in the data plane since it was installed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildSaUsage {
    /// Our inbound SPI: which child SA.
    pub inbound_spi: u32,
    /// Bytes of the inner packets accepted on the inbound SA.
    pub inbound_bytes: u64,
    /// Bytes of the inner packets sealed on the outbound SA (0 once a
    /// rekey replaced it: what was reported before still counts).
    pub outbound_bytes: u64,
    /// The last sequence number the outbound SA used.
    pub outbound_sequence: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "output", rename_all = "snake_case")]
pub enum Output {
    /// An IKE message; on port 4500 the driver prepends the non-ESP marker.
    Send {
        local: SocketAddr,
        remote: SocketAddr,
        #[serde(serialize_with = "holo_utils::hex::serialize")]
        bytes: Vec<u8>,
    },
    /// RFC 3948, 2.3: a NAT-keepalive, the single octet 0xFF from our
    /// port 4500 to the peer's, without the non-ESP marker.
    NatKeepalive {
        local: SocketAddr,
        remote: SocketAddr,
    },
    InstallChildSa(ChildSa),
    RemoveChildSa {
        peer: IpAddr,
        inbound_spi: u32,
        outbound_spi: u32,
    },
    Notification(Notification),
}

/// A negotiated ESP SA pair, ready for the data plane.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ChildSa {
    /// The peer's address as seen on the wire (its NAT's, behind NAT).
    pub peer: IpAddr,
    pub local: IpAddr,
    /// (local port, remote port) for ESP-in-UDP (RFC 3948), None: plain ESP.
    pub encap: Option<(u16, u16)>,
    pub mode: Mode,
    #[serde(serialize_with = "super::snapshot::debug")]
    pub encr: EncrAlgorithm,
    #[serde(serialize_with = "super::snapshot::debug_opt")]
    pub integ: Option<IntegAlgorithm>,
    pub esn: bool,
    pub inbound_spi: u32,
    #[serde(skip)]
    pub inbound_encr_key: Vec<u8>,
    #[serde(skip)]
    pub inbound_integ_key: Vec<u8>,
    pub outbound_spi: u32,
    #[serde(skip)]
    pub outbound_encr_key: Vec<u8>,
    #[serde(skip)]
    pub outbound_integ_key: Vec<u8>,
    pub lifetime: Duration,
}

// Keys never reach a log line.
impl std::fmt::Debug for ChildSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSa")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("encap", &self.encap)
            .field("mode", &self.mode)
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("esn", &self.esn)
            .field("inbound_spi", &format_args!("{:08x}", self.inbound_spi))
            .field("outbound_spi", &format_args!("{:08x}", self.outbound_spi))
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "notification", rename_all = "snake_case")]
pub enum Notification {
    IkeSaUp {
        peer: IpAddr,
        local_id: Identity,
        remote_id: Identity,
    },
    IkeSaDown {
        peer: IpAddr,
        reason: DownReason,
    },
    ChildSaUp {
        peer: IpAddr,
        inbound_spi: u32,
        outbound_spi: u32,
    },
    ChildSaDown {
        peer: IpAddr,
        inbound_spi: u32,
        outbound_spi: u32,
    },
    /// The IKE SA came up but its child SA did not (the notify the
    /// responder sent, or what we found wrong in its answer).
    ChildSaFailed {
        peer: IpAddr,
        reason: String,
    },
    /// Authentication (PSK or certificate) failed, on either side.
    AuthFailed {
        peer: IpAddr,
    },
    /// Something to log: a dropped message and why ([`Error::level`]).
    Error(Error),
}

/// Why an IKE SA went away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DownReason {
    /// We deleted it (Clear, Release, lifetime, replaced by a new SA).
    Deleted,
    DeletedByPeer,
    /// Retransmissions of a request (DPD or other) went unanswered.
    DeadPeer,
    /// The handshake got no answer.
    Timeout,
    /// The peer sent INITIAL_CONTACT in a new IKE SA: it restarted.
    InitialContact,
    AuthenticationFailed,
    /// The responder answered with this error notify.
    Refused(String),
    /// Half-open for too long.
    HalfOpenExpired,
    /// The peer's answer was not acceptable.
    Invalid(String),
    Expired,
}
