//! `dmvpn-nhrp` configuration: the leaves of an interface (data path ->
//! value, as the northbound's changes give them) become its
//! [`InstanceConfig`]; what the core cannot run is refused naming the leaf.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use northbound::Refusal;

use super::INTERFACE;
use crate::config::{InstanceConfig, NhsConfig, StaticMap};
use crate::yang::dmvpn_nhrp::nhrp;

/// The configuration leaves: data path -> value (`None`: a node without
/// value, such as a presence container).
pub type Leaves = BTreeMap<String, Option<String>>;

/// Whether interface `name` runs NHRP (has the `dmvpn-nhrp:nhrp`
/// container).
pub fn has_nhrp(leaves: &Leaves, name: &str) -> bool {
    leaves.contains_key(&format!("{INTERFACE}{name}']/{}", nhrp::PATH))
}

/// The instance configuration of interface `name`, `None` without NHRP.
/// `nbma` is the tunnel source (dmvpn-tunnel's, read by the caller;
/// unspecified while it has none).
pub fn instance_config(
    leaves: &Leaves,
    name: &str,
    nbma: IpAddr,
) -> Result<Option<InstanceConfig>, Refusal> {
    let base = format!("{INTERFACE}{name}']");
    let container = format!("{base}/{}", nhrp::PATH);
    if !leaves.contains_key(&container) {
        return Ok(None);
    }
    let get = |path: &str| leaves.get(path).cloned().flatten();

    // RFC 2332, 2: the node's protocol address on the NBMA subnetwork is
    // the tunnel interface's address.
    let address = format!("{base}/ietf-ip:ipv4/address[ip='");
    let protocol = leaves
        .range(address.clone()..)
        .take_while(|(path, _)| path.starts_with(&address))
        .find_map(|(path, value)| {
            let ip = path.strip_prefix(&address)?.strip_suffix("']/prefix-length")?;
            IpNetwork::new(ip.parse().ok()?, value.as_deref()?.parse().ok()?).ok()
        })
        .ok_or_else(|| {
            Refusal::new(
                Some(&container),
                "NHRP needs an IPv4 address with a prefix length on the interface (ietf-ip:ipv4/address)",
            )
        })?;

    let mut config = InstanceConfig::new(protocol, nbma);
    let leaf = |path: &str| format!("{base}/{path}");
    if let Some(secs) = parse_leaf(leaves, &leaf(nhrp::HOLDING_TIME), "a holding time")? {
        config.holding_time = secs;
    }
    config.registration_interval = parse_leaf(
        leaves,
        &leaf(nhrp::REGISTRATION_INTERVAL),
        "a number of seconds",
    )?
    .map(|secs: u64| std::time::Duration::from_secs(secs));
    config.authentication = get(&leaf(nhrp::AUTHENTICATION)).map(String::into_bytes);
    if let Some(no_unique) =
        parse_leaf::<bool>(leaves, &leaf(nhrp::REGISTRATION_NO_UNIQUE), "a boolean")?
    {
        config.registration_unique = !no_unique;
    }
    if let Some(mtu) = parse_leaf(leaves, &leaf(nhrp::MTU), "an MTU")? {
        config.mtu = mtu;
        config.mtu_configured = true;
    }
    if let Some(max) = parse_leaf(leaves, &leaf(nhrp::MAX_REGISTRATIONS), "a number")? {
        config.max_registrations = max;
    }
    config.redirect = parse_leaf(leaves, &leaf(nhrp::REDIRECT), "a boolean")?.unwrap_or(false);
    config.shortcut = parse_leaf(leaves, &leaf(nhrp::SHORTCUT), "a boolean")?.unwrap_or(false);
    config.multicast_dynamic =
        parse_leaf(leaves, &leaf(nhrp::multicast::DYNAMIC), "a boolean")?.unwrap_or(false);

    let nhs_entries = leaf(&format!("{}[{}='", nhrp::nhs::PATH, nhrp::nhs::KEY));
    for key in list_keys(leaves, &nhs_entries) {
        let entry = |field: &str| format!("{base}/{}/{field}", nhrp::nhs::entry(&key));
        let address = parse_leaf(leaves, &entry(nhrp::nhs::PROTOCOL_ADDRESS), "an IP address")?
            .or_else(|| key.parse().ok())
            .ok_or_else(|| {
                Refusal::new(
                    Some(&entry(nhrp::nhs::PROTOCOL_ADDRESS)),
                    "not an IP address",
                )
            })?;
        let nbma = parse_leaf(leaves, &entry(nhrp::nhs::NBMA_ADDRESS), "an IP address")?;
        let mut nhs = match (nbma, get(&entry(nhrp::nhs::NBMA_FQDN))) {
            (Some(nbma), _) => NhsConfig::new(address, nbma),
            (None, Some(fqdn)) => NhsConfig::by_name(address, &fqdn),
            (None, None) => {
                return Err(Refusal::new(
                    Some(&entry(nhrp::nhs::NBMA_ADDRESS)),
                    "the NHS needs an nbma-address or an nbma-fqdn",
                ));
            }
        };
        nhs.priority = parse_leaf(leaves, &entry(nhrp::nhs::PRIORITY), "a priority")?.unwrap_or(0);
        nhs.cluster = parse_leaf(leaves, &entry(nhrp::nhs::CLUSTER), "a cluster")?.unwrap_or(0);
        config.nhs.push(nhs);
    }
    let maps = leaf(&format!(
        "{}[{}='",
        nhrp::static_map::PATH,
        nhrp::static_map::KEY
    ));
    for key in list_keys(leaves, &maps) {
        let path = format!(
            "{base}/{}/{}",
            nhrp::static_map::entry(&key),
            nhrp::static_map::NBMA_ADDRESS
        );
        let protocol = key
            .parse()
            .map_err(|_| Refusal::new(Some(&path), "not an IP address"))?;
        let nbma = parse_leaf(leaves, &path, "an IP address")?
            .ok_or_else(|| Refusal::new(Some(&path), "missing"))?;
        config.static_maps.push(StaticMap { protocol, nbma });
    }
    let multicast = leaf(&format!("{}[", nhrp::multicast::NBMA_ADDRESS));
    for (path, value) in leaves
        .range(multicast.clone()..)
        .take_while(|(path, _)| path.starts_with(&multicast))
    {
        let value = value.as_deref().unwrap_or_default();
        let nbma = value
            .parse()
            .map_err(|_| Refusal::new(Some(path), format!("{value:?} is not an IP address")))?;
        config.multicast_static.push(nbma);
    }

    for nhs in &config.nhs {
        if nhs.protocol.is_ipv4() != protocol.ip().is_ipv4() {
            let path = format!("{base}/{}", nhrp::nhs::entry(&nhs.protocol.to_string()));
            return Err(Refusal::new(
                Some(&path),
                "the NHS protocol address is not of the interface address family",
            ));
        }
    }
    Ok(Some(config))
}

/// The value of the leaf at `path`, if set, parsed.
pub fn parse_leaf<T: std::str::FromStr>(
    leaves: &Leaves,
    path: &str,
    what: &str,
) -> Result<Option<T>, Refusal> {
    let Some(value) = leaves.get(path).cloned().flatten() else {
        return Ok(None);
    };
    value
        .parse()
        .map(Some)
        .map_err(|_| Refusal::new(Some(path), format!("{value:?} is not {what}")))
}

/// The keys of the list entries `PREFIX<key>']...` that have any leaf set
/// (the key leaf itself may be absent from the changes).
fn list_keys(leaves: &Leaves, prefix: &str) -> BTreeSet<String> {
    leaves
        .range(prefix.to_owned()..)
        .take_while(|(path, _)| path.starts_with(prefix))
        .filter_map(|(path, _)| Some(path.strip_prefix(prefix)?.split_once("']")?.0.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nbma() -> IpAddr {
        "192.0.2.2".parse().unwrap()
    }

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
    fn spoke_leaves_make_an_instance_config() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("ietf-ip:ipv4/address[ip='10.0.0.2']/prefix-length", "24"),
            ("dmvpn-nhrp:nhrp", ""),
            ("dmvpn-nhrp:nhrp/holding-time", "600"),
            ("dmvpn-nhrp:nhrp/authentication", "DMVPN"),
            ("dmvpn-nhrp:nhrp/shortcut", "true"),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/nbma-address",
                "192.0.2.1",
            ),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/priority",
                "3",
            ),
            (
                "dmvpn-nhrp:nhrp/multicast/nbma-address[.='192.0.2.1']",
                "192.0.2.1",
            ),
        ]);
        let config = instance_config(&leaves, "tun0", nbma()).unwrap().unwrap();
        assert_eq!(config.protocol, "10.0.0.2/24".parse().unwrap());
        assert_eq!(config.nbma, "192.0.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(config.holding_time, 600);
        assert_eq!(config.authentication.as_deref(), Some(&b"DMVPN"[..]));
        assert!(config.shortcut && !config.redirect);
        assert_eq!(config.nhs.len(), 1);
        assert_eq!(config.nhs[0].priority, 3);
        assert_eq!(
            config.multicast_static,
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert!(!config.mtu_configured, "no mtu leaf: the tunnel's");
    }

    #[test]
    fn a_configured_mtu_wins_over_the_tunnels() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("ietf-ip:ipv4/address[ip='10.0.0.2']/prefix-length", "32"),
            ("dmvpn-nhrp:nhrp", ""),
            ("dmvpn-nhrp:nhrp/mtu", "1380"),
        ]);
        let config = instance_config(&leaves, "tun0", nbma()).unwrap().unwrap();
        assert_eq!((config.mtu, config.mtu_configured), (1380, true));
    }

    #[test]
    fn an_nhs_by_name_is_resolved_by_the_instance() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("ietf-ip:ipv4/address[ip='10.0.0.2']/prefix-length", "24"),
            ("dmvpn-nhrp:nhrp", ""),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/nbma-fqdn",
                "hub.example.net",
            ),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.9']/priority",
                "1",
            ),
        ]);
        let refusal = instance_config(&leaves, "tun0", nbma()).unwrap_err();
        assert!(
            refusal
                .path
                .unwrap()
                .ends_with("nhs[protocol-address='10.0.0.9']/nbma-address")
        );
        let mut leaves = leaves;
        leaves.retain(|path, _| !path.contains("10.0.0.9"));
        let config = instance_config(&leaves, "tun0", nbma()).unwrap().unwrap();
        assert_eq!(config.nhs.len(), 1);
        assert_eq!(config.nhs[0].fqdn.as_deref(), Some("hub.example.net"));
        assert_eq!(
            config.nhs[0].protocol,
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn no_address_is_refused_naming_the_nhrp_node() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("dmvpn-nhrp:nhrp", ""),
        ]);
        let refusal = instance_config(&leaves, "tun0", nbma()).unwrap_err();
        assert_eq!(
            refusal.path.as_deref(),
            Some("/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp")
        );
        assert!(refusal.reason.contains("IPv4 address"));
    }

    #[test]
    fn no_nhrp_no_instance() {
        let leaves = leaves(&[("dmvpn-tunnel:tunnel/source-address", "192.0.2.2")]);
        assert_eq!(instance_config(&leaves, "tun0", nbma()), Ok(None));
    }
}
