//! Per-tunnel NHRP configuration, as the northbound hands it to an instance.
//! Defaults follow Cisco IOS so that a mixed cloud behaves the same.

use std::net::IpAddr;
use std::time::Duration;

use ipnetwork::IpNetwork;

/// One Next Hop Server this node registers with (NHC role).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NhsConfig {
    /// The NHS's tunnel (protocol) address. Cisco allows it to be learnt
    /// from the Registration Reply; we require it.
    pub protocol: IpAddr,
    pub nbma: IpAddr,
    /// Lower is preferred (Cisco `ip nhrp nhs ... priority`, 0-255).
    pub priority: u8,
    pub cluster: u8,
}

/// A static protocol-to-NBMA binding (`ip nhrp map`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticMap {
    pub protocol: IpAddr,
    pub nbma: IpAddr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    /// This node's tunnel address and the tunnel subnet.
    pub protocol: IpNetwork,
    /// This node's own NBMA (underlay) address: the tunnel source.
    pub nbma: IpAddr,
    /// Holding time advertised in our registrations and replies (Cisco
    /// `ip nhrp holdtime`, default 7200 s).
    pub holding_time: u16,
    /// Registration refresh interval; default one third of the holding
    /// time (Cisco `ip nhrp registration timeout`).
    pub registration_interval: Option<Duration>,
    pub nhs: Vec<NhsConfig>,
    pub static_maps: Vec<StaticMap>,
    /// Hub: send Traffic Indications for hairpinned traffic (Phase 3).
    pub redirect: bool,
    /// Spoke: act on Traffic Indications by resolving and installing
    /// shortcuts (Phase 3).
    pub shortcut: bool,
    /// Cisco cleartext authentication string (at most 8 octets on IOS).
    pub authentication: Option<Vec<u8>>,
    /// Register with the U bit (Cisco default; `ip nhrp registration
    /// no-unique` clears it).
    pub registration_unique: bool,
    /// MTU advertised in our CIEs (Cisco puts the tunnel's IP MTU; 0 means
    /// unspecified, as FRR sends).
    pub mtu: u16,
    /// NHS: most dynamic registrations accepted; more are answered with CIE
    /// code 5 (insufficient resources).
    pub max_registrations: usize,
    /// Prefixes this node is authoritative for besides its own tunnel
    /// address (the LANs behind it), answered in Resolution Replies with
    /// their prefix length. Filled by the driver from the routing table.
    pub local_prefixes: Vec<IpNetwork>,
    /// Minimum interval between two Traffic Indications for the same
    /// (source, destination) pair.
    pub redirect_interval: Duration,
    /// Replicate multicast to every dynamically registered peer (Cisco
    /// `ip nhrp map multicast dynamic`, a hub's setting).
    pub multicast_dynamic: bool,
    /// NBMA addresses that always get multicast (Cisco `ip nhrp map
    /// multicast ADDRESS`); the NHSs get it too.
    pub multicast_static: Vec<IpAddr>,
}

impl InstanceConfig {
    pub const DEFAULT_HOLDING_TIME: u16 = 7200;

    pub fn new(protocol: IpNetwork, nbma: IpAddr) -> Self {
        InstanceConfig {
            protocol,
            nbma,
            holding_time: Self::DEFAULT_HOLDING_TIME,
            registration_interval: None,
            nhs: vec![],
            static_maps: vec![],
            redirect: false,
            shortcut: false,
            authentication: None,
            registration_unique: true,
            mtu: 1400,
            max_registrations: 10_000,
            local_prefixes: vec![],
            redirect_interval: Duration::from_secs(1),
            multicast_dynamic: false,
            multicast_static: vec![],
        }
    }

    pub fn registration_interval(&self) -> Duration {
        self.registration_interval
            .unwrap_or(Duration::from_secs(u64::from(self.holding_time / 3).max(1)))
    }

    /// Whether this node is an NHS (hub): it has no NHS of its own.
    pub fn is_nhs(&self) -> bool {
        self.nhs.is_empty()
    }
}
