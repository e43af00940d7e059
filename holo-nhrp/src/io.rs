//! What goes into the sans-IO core and what comes out of it.
//!
//! ```text
//!   driver (tokio)                         core (no IO, no clock)
//!   GRE 0x2001 from NBMA X ---Input::Packet-->  Instance::handle(input, now)
//!   timer expired ------------Input::Tick---->        |
//!   data plane miss/hairpin --Input::DataPlane->      |
//!   northbound RPC -----------Input::Command-->       |
//!   northbound commit --------Input::Configure->      v
//!   raw socket <-------------Output::Send------- Vec<Output>
//!   kernel neighbors/routes <-Output::Binding*/Route*
//!   northbound notifications <-Output::Notify
//!   sleep until -------------- Instance::next_wakeup()
//! ```

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::config::InstanceConfig;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// An NHRP packet (GRE protocol 0x2001) and the underlay address it
    /// came from (which differs from its claimed NBMA address behind NAT).
    Packet {
        from: IpAddr,
        bytes: Vec<u8>,
    },
    /// Time passed: process everything due at `now`.
    Tick,
    DataPlane(DataPlaneEvent),
    Command(Command),
    /// A new configuration (a commit): applied in place, only what changed
    /// moves (`reconfigure`).
    Configure(Box<InstanceConfig>),
}

/// JSON (conformance steps): `{"miss": {"next_hop": "10.0.0.12"}}`,
/// `{"hairpin": {"from_nbma": …, "packet": "<hex>"}}`, `{"used": {"prefix":
/// …}}`, `{"tunnel_routes": [["172.16.2.0/24", "10.0.0.12"]]}`, `{"peer_down":
/// {"nbma": "192.0.2.12"}}`, `{"tunnel_mtu": {"mtu": 1472}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DataPlaneEvent {
    /// A packet to `destination` whose tunnel next hop has no binding
    /// (Phase 2): resolve `next_hop`. The packet goes via the NHS meanwhile.
    Miss { next_hop: IpAddr },
    /// Hub: a packet that came in from `from_nbma` leaves again on the same
    /// tunnel (Phase 3 redirect). `packet` holds its IP header and at least
    /// the first 8 octets of payload.
    Hairpin {
        from_nbma: IpAddr,
        #[serde(deserialize_with = "holo_utils::hex::deserialize")]
        packet: Vec<u8>,
    },
    /// A shortcut route was used recently: keep it.
    Used { prefix: IpNetwork },
    /// The kernel routes whose output interface is this tunnel changed:
    /// the full new set, prefix -> tunnel next hop. An NHS forwards
    /// Resolution Requests along them (a spoke LAN learnt from OSPF/BGP).
    TunnelRoutes(Vec<(IpNetwork, IpAddr)>),
    /// The prefixes behind this node (its LANs) changed: the full new set,
    /// replacing `InstanceConfig::local_prefixes`. Peers that were given a
    /// withdrawn prefix in a Resolution Reply are sent a Purge Request.
    LocalPrefixes(Vec<IpNetwork>),
    /// The path to `nbma` is gone: the IPsec SA protecting it died (dead
    /// peer detection, a Delete, `clear crypto sa`). What was learnt from
    /// that peer goes, and an NHS there is registered with again at once
    /// (which brings a new SA up).
    PeerDown { nbma: IpAddr },
    /// The tunnel interface's MTU (the largest passenger packet), when the
    /// data plane starts and whenever it changes (underlay MTU, commit):
    /// advertised in our CIEs from the next packet on, unless an MTU is
    /// configured (`InstanceConfig::mtu_configured`).
    TunnelMtu { mtu: u16 },
}

/// JSON: `"clear_cache"`, `{"purge": {"prefix": …}}`, `{"nbma_changed":
/// {"nbma": …}}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Remove every dynamic and shortcut entry; purge the shortcuts at
    /// their responders.
    ClearCache,
    /// Remove one entry, telling the peer that holds it.
    Purge { prefix: IpNetwork },
    /// Our NBMA address changed (DHCP, failover): purge the old binding at
    /// every NHS and register the new one.
    NbmaChanged { nbma: IpAddr },
    /// The answer to `Output::ResolveName` (empty when the name did not
    /// resolve).
    NameResolved {
        fqdn: String,
        addresses: Vec<IpAddr>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "output", rename_all = "snake_case")]
pub enum Output {
    /// Send an NHRP packet in GRE to this underlay address.
    Send {
        to: IpAddr,
        #[serde(skip)]
        bytes: Vec<u8>,
        /// Decoded form, for logs and conformance tests.
        summary: String,
    },
    /// The data plane may reach `protocol` at `nbma` (neighbor entry).
    BindingAdded {
        protocol: IpAddr,
        nbma: IpAddr,
    },
    BindingRemoved {
        protocol: IpAddr,
    },
    /// Install a route for `prefix` via the tunnel peer `next_hop`.
    RouteAdded {
        prefix: IpNetwork,
        next_hop: IpAddr,
    },
    RouteRemoved {
        prefix: IpNetwork,
    },
    /// Multicast and broadcast (routing protocol hellos) must also be
    /// replicated to this NBMA address (the multicast map).
    MulticastAdded {
        nbma: IpAddr,
    },
    MulticastRemoved {
        nbma: IpAddr,
    },
    /// Look up this DNS name (an NHS given by FQDN) and answer with
    /// `Command::NameResolved`.
    ResolveName {
        fqdn: String,
    },
    Notify(Notification),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "notification", rename_all = "snake_case")]
pub enum Notification {
    NhsUp { nhs: IpAddr },
    NhsDown { nhs: IpAddr },
    PeerUp { protocol: IpAddr, nbma: IpAddr },
    PeerDown { protocol: IpAddr },
}
