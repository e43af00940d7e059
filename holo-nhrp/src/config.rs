//! Per-tunnel NHRP configuration, as the northbound hands it to an instance.
//! Defaults follow Cisco IOS so that a mixed cloud behaves the same.

use std::net::IpAddr;
use std::time::Duration;

use ipnetwork::IpNetwork;
use serde::Deserialize;

/// One Next Hop Server this node registers with (NHC role).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NhsConfig {
    /// The NHS's tunnel (protocol) address. Cisco allows it to be learnt
    /// from the Registration Reply; we require it.
    pub protocol: IpAddr,
    /// The NHS's NBMA address; with `fqdn`, the last address the name
    /// resolved to (unspecified until it first resolves).
    #[serde(default = "unspecified")]
    pub nbma: IpAddr,
    /// Resolve `nbma` from this DNS name, and again at every registration
    /// (Cisco `ip nhrp nhs ... nbma FQDN`): hubs on dynamic addresses.
    #[serde(default)]
    pub fqdn: Option<String>,
    /// Lower is preferred (Cisco `ip nhrp nhs ... priority`, 0-255).
    #[serde(default)]
    pub priority: u8,
    #[serde(default)]
    pub cluster: u8,
}

fn unspecified() -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
}

impl NhsConfig {
    pub fn new(protocol: IpAddr, nbma: IpAddr) -> Self {
        NhsConfig {
            protocol,
            nbma,
            fqdn: None,
            priority: 0,
            cluster: 0,
        }
    }

    /// An NHS known by name only; the driver resolves it.
    pub fn by_name(protocol: IpAddr, fqdn: &str) -> Self {
        NhsConfig {
            fqdn: Some(fqdn.to_string()),
            ..NhsConfig::new(protocol, unspecified())
        }
    }
}

/// A static protocol-to-NBMA binding (`ip nhrp map`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMap {
    pub protocol: IpAddr,
    pub nbma: IpAddr,
}

/// JSON (conformance topologies): `protocol` and `nbma` are required, every
/// other field defaults to what `InstanceConfig::new` sets (a new field needs
/// its `de::` default too); durations are seconds (a number) and
/// `authentication` is the password as a string.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// This node's tunnel address and the tunnel subnet.
    pub protocol: IpNetwork,
    /// This node's own NBMA (underlay) address: the tunnel source.
    pub nbma: IpAddr,
    /// Holding time advertised in our registrations and replies (Cisco
    /// `ip nhrp holdtime`, default 7200 s).
    #[serde(default = "de::holding_time")]
    pub holding_time: u16,
    /// Registration refresh interval; default one third of the holding
    /// time (Cisco `ip nhrp registration timeout`).
    #[serde(default = "de::registration_interval", with = "de::optional_seconds")]
    pub registration_interval: Option<Duration>,
    #[serde(default = "de::nhs")]
    pub nhs: Vec<NhsConfig>,
    #[serde(default = "de::static_maps")]
    pub static_maps: Vec<StaticMap>,
    /// Hub: send Traffic Indications for hairpinned traffic (Phase 3).
    #[serde(default = "de::redirect")]
    pub redirect: bool,
    /// Spoke: act on Traffic Indications by resolving and installing
    /// shortcuts (Phase 3).
    #[serde(default = "de::shortcut")]
    pub shortcut: bool,
    /// Cisco cleartext authentication string (at most 8 octets on IOS).
    #[serde(default = "de::authentication", with = "de::password")]
    pub authentication: Option<Vec<u8>>,
    /// Register with the U bit (Cisco default; `ip nhrp registration
    /// no-unique` clears it).
    #[serde(default = "de::registration_unique")]
    pub registration_unique: bool,
    /// MTU advertised in our CIEs (RFC 2332, 5.2.0.1; 0 means unspecified,
    /// as FRR sends) when `mtu_configured`. Otherwise our CIEs carry the
    /// tunnel interface's MTU as the data plane reports it
    /// (`DataPlaneEvent::TunnelMtu`), as Cisco puts its `ip mtu`, and this
    /// one only until the first report.
    #[serde(default = "de::mtu")]
    pub mtu: u16,
    /// Whether `mtu` was configured (dmvpn-nhrp `mtu`): then it wins over
    /// the tunnel interface's MTU.
    #[serde(default = "de::mtu_configured")]
    pub mtu_configured: bool,
    /// NHS: most dynamic registrations accepted; more are answered with CIE
    /// code 5 (insufficient resources).
    #[serde(default = "de::max_registrations")]
    pub max_registrations: usize,
    /// Prefixes this node is authoritative for besides its own tunnel
    /// address (the LANs behind it), answered in Resolution Replies with
    /// their prefix length. Filled by the driver from the routing table.
    #[serde(default = "de::local_prefixes")]
    pub local_prefixes: Vec<IpNetwork>,
    /// Minimum interval between two Traffic Indications for the same
    /// (source, destination) pair.
    #[serde(default = "de::redirect_interval", with = "de::seconds")]
    pub redirect_interval: Duration,
    /// Replicate multicast to every dynamically registered peer (Cisco
    /// `ip nhrp map multicast dynamic`, a hub's setting).
    #[serde(default = "de::multicast_dynamic")]
    pub multicast_dynamic: bool,
    /// NBMA addresses that always get multicast (Cisco `ip nhrp map
    /// multicast ADDRESS`); the NHSs get it too.
    #[serde(default = "de::multicast_static")]
    pub multicast_static: Vec<IpAddr>,
}

impl InstanceConfig {
    pub const DEFAULT_HOLDING_TIME: u16 = 7200;
    /// The MTU advertised until the data plane reports the tunnel's: the
    /// data plane's own default tunnel MTU (Cisco's usual `ip mtu 1400`).
    pub const DEFAULT_MTU: u16 = 1400;

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
            mtu: Self::DEFAULT_MTU,
            mtu_configured: false,
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

/// JSON input: the defaults of `InstanceConfig::new` and human units.
mod de {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use ipnetwork::IpNetwork;
    use serde::{Deserialize, Deserializer};

    use super::{InstanceConfig, NhsConfig, StaticMap};

    /// A config with every default, whose addresses serde replaces.
    fn defaults() -> InstanceConfig {
        let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        InstanceConfig::new(IpNetwork::from(unspecified), unspecified)
    }

    pub fn holding_time() -> u16 {
        defaults().holding_time
    }
    pub fn registration_interval() -> Option<Duration> {
        defaults().registration_interval
    }
    pub fn nhs() -> Vec<NhsConfig> {
        defaults().nhs
    }
    pub fn static_maps() -> Vec<StaticMap> {
        defaults().static_maps
    }
    pub fn redirect() -> bool {
        defaults().redirect
    }
    pub fn shortcut() -> bool {
        defaults().shortcut
    }
    pub fn authentication() -> Option<Vec<u8>> {
        defaults().authentication
    }
    pub fn registration_unique() -> bool {
        defaults().registration_unique
    }
    pub fn mtu() -> u16 {
        defaults().mtu
    }
    pub fn mtu_configured() -> bool {
        defaults().mtu_configured
    }
    pub fn max_registrations() -> usize {
        defaults().max_registrations
    }
    pub fn local_prefixes() -> Vec<IpNetwork> {
        defaults().local_prefixes
    }
    pub fn redirect_interval() -> Duration {
        defaults().redirect_interval
    }
    pub fn multicast_dynamic() -> bool {
        defaults().multicast_dynamic
    }
    pub fn multicast_static() -> Vec<IpAddr> {
        defaults().multicast_static
    }

    /// Seconds, fractions allowed: `1`, `0.5`.
    pub mod seconds {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            let secs = f64::deserialize(d)?;
            Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
        }
    }

    pub mod optional_seconds {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<f64>::deserialize(d)?
                .map(|secs| Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom))
                .transpose()
        }
    }

    /// The password as a string: `"DMVPN"`.
    pub mod password {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            Ok(Option::<String>::deserialize(d)?.map(String::into_bytes))
        }
    }
}
