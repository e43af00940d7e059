//! `dmvpn-tunnel` configuration and the provider of both modules: each
//! interface with `dmvpn-nhrp:nhrp` is an instance, its NHRP side read by
//! holo-nhrp ([`instance_config`]), its tunnel side ([`TunnelParams`])
//! here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use holo_ike::northbound::configuration::{profile_name, protection};
use holo_ike::protection::Protection;
use holo_ike::yang::dmvpn_ipsec;
use holo_nhrp::InstanceConfig;
use holo_nhrp::northbound::configuration::{Leaves, has_nhrp, instance_config, parse_leaf};
use holo_nhrp::northbound::{INTERFACE, interface_name};
use northbound::{Change, Operation, Provider, Refusal};

use super::{Shared, lock};
use crate::yang::dmvpn_tunnel::tunnel;

/// The underlay side of an mGRE interface (`dmvpn-tunnel:tunnel`), for the
/// data plane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelParams {
    /// The data path of the `dmvpn-tunnel:tunnel` container, for refusals.
    pub path: String,
    /// `gre-key`.
    pub gre_key: Option<u32>,
    /// `mtu`; absent: the data plane's default.
    pub mtu: Option<u16>,
    /// `data-plane` when set (`userspace`, `kernel`).
    pub data_plane: Option<String>,
    /// `ttl` of the GRE packets on the underlay; absent: the default (255).
    pub ttl: Option<u8>,
    /// `tcp-mss`: clamp the MSS of TCP SYNs through the tunnel.
    pub tcp_mss: Option<u16>,
    /// `underlay-netns`: the network namespace (`ip netns` name) holding
    /// the underlay, a front-door VRF; `None`: the daemon's own.
    pub underlay_netns: Option<String>,
    /// `source-interface`: the tunnel source is this interface's address
    /// (whatever it is now); `None`: `source-address`, the instance's NBMA.
    pub source_interface: Option<String>,
    /// `dmvpn-ipsec:protection/profile`, read: IPsec on every GRE datagram.
    pub protection: Option<Protection>,
}

/// The configuration provider: keeps the leaves under every interface (data
/// path -> value) and derives each interface's [`InstanceConfig`] from them.
#[derive(Debug)]
pub struct DmvpnProvider {
    shared: Arc<Shared>,
    leaves: BTreeMap<String, Option<String>>,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    leaves: BTreeMap<String, Option<String>>,
    /// The new configuration of each interface the transaction touched;
    /// `None`: no NHRP there.
    configs: BTreeMap<String, Option<(InstanceConfig, TunnelParams)>>,
}

impl DmvpnProvider {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        DmvpnProvider {
            shared,
            leaves: BTreeMap::new(),
            pending: None,
        }
    }
}

impl Provider for DmvpnProvider {
    fn name(&self) -> &str {
        "nhrp"
    }

    fn prepare(&mut self, changes: &[Change]) -> Result<(), Refusal> {
        let mut leaves = self.leaves.clone();
        let mut touched = BTreeSet::new();
        let mut profiles = BTreeSet::new();
        for change in changes {
            if let Some(profile) = profile_name(&change.path) {
                // A profile's change reaches every tunnel it protects.
                profiles.insert(profile.to_owned());
            } else if let Some(name) = interface_name(&change.path) {
                touched.insert(name.to_owned());
            } else {
                continue;
            }
            match change.operation {
                Operation::Create | Operation::Modify => {
                    leaves.insert(change.path.clone(), change.value.clone());
                }
                Operation::Delete => {
                    let below = format!("{}/", change.path);
                    leaves.retain(|path, _| path != &change.path && !path.starts_with(&below));
                }
            }
        }
        touched.extend(protected_by(&leaves, &profiles));
        let tunnel = lock(&self.shared.tunnel).clone();
        let mut configs = BTreeMap::new();
        for name in touched {
            let netns = underlay_netns(&leaves, &name);
            let address_of = |interface: &str| match &tunnel {
                Some(tunnel) => tunnel.interface_address(interface, netns.as_deref()),
                None => Err(format!(
                    "cannot read the address of {interface:?}: no data plane is set"
                )),
            };
            let config = match has_nhrp(&leaves, &name) {
                true => {
                    let nbma = tunnel_nbma(&leaves, &name, &address_of)?;
                    instance_config(&leaves, &name, nbma)?
                }
                false => None,
            };
            let config = match config {
                Some(config) => {
                    let params = tunnel_params(&leaves, &name)?;
                    if let Some(tunnel) = &tunnel {
                        tunnel.check(&name, &params)?;
                    }
                    Some((config, params))
                }
                None => None,
            };
            configs.insert(name, config);
        }
        self.pending = Some(Pending { leaves, configs });
        Ok(())
    }

    fn abort(&mut self, _changes: &[Change]) {
        self.pending = None;
    }

    fn apply(&mut self, _changes: &[Change]) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        self.leaves = pending.leaves;
        let mut instances = lock(&self.shared.instances);
        for (name, config) in pending.configs {
            if let (Some(running), Some((config, params))) = (instances.get_mut(&name), &config) {
                if &running.config == config && &running.params == params {
                    continue;
                }
                if running.takes_in_place(config, params) {
                    running.reconfigure(&name, config.clone(), params.clone());
                    continue;
                }
            }
            let previous = instances
                .remove(&name)
                .map(|old| old.unregister_and_stop(&name));
            if let Some((config, params)) = config {
                tracing::info!(interface = %name, "NHRP instance started");
                let instance =
                    super::instance::start(&self.shared, &name, config, params, previous);
                instances.insert(name.clone(), instance);
            }
        }
    }
}

/// The `dmvpn-tunnel:tunnel` parameters of interface `name`.
pub fn tunnel_params(leaves: &Leaves, name: &str) -> Result<TunnelParams, Refusal> {
    let leaf = |path: &str| format!("{INTERFACE}{name}']/{path}");
    Ok(TunnelParams {
        gre_key: parse_leaf(leaves, &leaf(tunnel::GRE_KEY), "a GRE key")?,
        mtu: parse_leaf(leaves, &leaf(tunnel::MTU), "an MTU")?,
        data_plane: leaves.get(&leaf(tunnel::DATA_PLANE)).cloned().flatten(),
        ttl: parse_leaf(leaves, &leaf(tunnel::TTL), "a TTL")?,
        tcp_mss: parse_leaf(leaves, &leaf(tunnel::TCP_MSS), "an MSS")?,
        underlay_netns: underlay_netns(leaves, name),
        source_interface: leaves
            .get(&leaf(tunnel::SOURCE_INTERFACE))
            .cloned()
            .flatten(),
        protection: tunnel_protection(leaves, name)?,
        path: leaf(tunnel::PATH),
    })
}

/// The path of interface `name`'s `protection/profile` leaf.
fn protection_leaf(name: &str) -> String {
    format!(
        "{INTERFACE}{name}']/{}/{}",
        tunnel::PATH,
        dmvpn_ipsec::protection::PROFILE
    )
}

/// The IPsec profile protecting interface `name`, read.
fn tunnel_protection(leaves: &Leaves, name: &str) -> Result<Option<Protection>, Refusal> {
    let path = protection_leaf(name);
    let Some(profile) = leaves.get(&path).cloned().flatten() else {
        return Ok(None);
    };
    protection(leaves, &profile)?
        .map(Some)
        .ok_or_else(|| Refusal::new(Some(&path), format!("no IPsec profile {profile:?}")))
}

/// The interfaces protected by one of `profiles`.
fn protected_by(leaves: &Leaves, profiles: &BTreeSet<String>) -> Vec<String> {
    if profiles.is_empty() {
        return Vec::new();
    }
    leaves
        .iter()
        .filter(|(_, value)| value.as_ref().is_some_and(|v| profiles.contains(v)))
        .filter_map(|(path, _)| {
            let name = interface_name(path)?;
            (path == &protection_leaf(name)).then(|| name.to_owned())
        })
        .collect()
}

/// The `underlay-netns` of interface `name`: read before the instance
/// configuration, because a `source-interface` is looked up there.
fn underlay_netns(leaves: &Leaves, name: &str) -> Option<String> {
    let path = format!("{INTERFACE}{name}']/{}", tunnel::UNDERLAY_NETNS);
    leaves.get(&path).cloned().flatten()
}

/// The tunnel source of interface `name` as NHRP's NBMA address: the
/// `source-address`, or the address `source-interface` has now (from
/// `address_of`). An interface without an address yet (DHCP, PPPoE at
/// boot) is no error: unspecified, the tunnel stays down until it has one
/// (the data plane follows the interface), as on Cisco.
fn tunnel_nbma(
    leaves: &Leaves,
    name: &str,
    address_of: &dyn Fn(&str) -> Result<IpAddr, String>,
) -> Result<IpAddr, Refusal> {
    let leaf = |path: &str| format!("{INTERFACE}{name}']/{path}");
    let source = leaf(tunnel::SOURCE_ADDRESS);
    match (
        parse_leaf(leaves, &source, "an IP address")?,
        leaves
            .get(&leaf(tunnel::SOURCE_INTERFACE))
            .cloned()
            .flatten(),
    ) {
        (Some(address), _) => Ok(address),
        (None, Some(interface)) => Ok(address_of(&interface).unwrap_or_else(|reason| {
            tracing::info!(%name, %reason, "tunnel source interface has no address yet");
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        })),
        (None, None) => Err(Refusal::new(
            Some(&leaf(holo_nhrp::yang::dmvpn_nhrp::NHRP)),
            "NHRP needs the tunnel source (source-address or source-interface)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(pairs: &[(&str, &str)]) -> Leaves {
        let base = "/ietf-interfaces:interfaces/interface[name='tun0']";
        pairs
            .iter()
            .map(|(path, value)| {
                let value = Some(value.to_string()).filter(|v| !v.is_empty());
                (format!("{base}/{path}"), value)
            })
            .collect()
    }

    #[test]
    fn the_source_interface_gives_the_nbma_address() {
        let address_of = |interface: &str| match interface {
            "eth0" => Ok("192.0.2.7".parse().unwrap()),
            _ => Err(format!("{interface}: no such interface")),
        };
        let mut leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-interface", "eth0"),
            ("dmvpn-nhrp:nhrp", ""),
        ]);
        let nbma = tunnel_nbma(&leaves, "tun0", &address_of).unwrap();
        assert_eq!(nbma, "192.0.2.7".parse::<IpAddr>().unwrap());
        // Without an address yet: no source, the tunnel waits for one.
        let path = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/source-interface";
        leaves.insert(path.to_owned(), Some("eth9".to_owned()));
        assert!(
            tunnel_nbma(&leaves, "tun0", &address_of)
                .unwrap()
                .is_unspecified()
        );
        // Neither: refused naming the NHRP node.
        leaves.remove(path);
        let refusal = tunnel_nbma(&leaves, "tun0", &address_of).unwrap_err();
        assert!(refusal.path.unwrap().ends_with("dmvpn-nhrp:nhrp"));
    }

    #[test]
    fn tunnel_leaves_make_the_data_plane_parameters() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("dmvpn-tunnel:tunnel/gre-key", "42"),
            ("dmvpn-tunnel:tunnel/mtu", "1380"),
            ("dmvpn-tunnel:tunnel/data-plane", "kernel"),
            ("dmvpn-tunnel:tunnel/ttl", "64"),
            ("dmvpn-tunnel:tunnel/tcp-mss", "1360"),
            ("dmvpn-tunnel:tunnel/underlay-netns", "inet"),
        ]);
        assert_eq!(tunnel_params(&leaves, "tun0").unwrap().tcp_mss, Some(1360));
        assert_eq!(
            tunnel_params(&leaves, "tun0")
                .unwrap()
                .underlay_netns
                .as_deref(),
            Some("inet")
        );
        assert_eq!(tunnel_params(&leaves, "tun0").unwrap().ttl, Some(64));
        let params = tunnel_params(&leaves, "tun0").unwrap();
        assert_eq!(params.gre_key, Some(42));
        assert_eq!(params.mtu, Some(1380));
        assert_eq!(params.data_plane.as_deref(), Some("kernel"));
        assert_eq!(
            params.path,
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel"
        );
        let bare = tunnel_params(&BTreeMap::new(), "tun0").unwrap();
        assert_eq!(
            (bare.gre_key, bare.mtu, bare.data_plane, bare.underlay_netns),
            (None, None, None, None)
        );
    }
}
