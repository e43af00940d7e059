//! NHRP routes (shortcuts) in the kernel: every `RouteAdded` from NHRP
//! becomes `PREFIX via NEXT_HOP dev <tunnel> proto 205 metric 4194304250
//! onlink` (distance 250 for zebra, see [`METRIC`]; on-link, see
//! [`route_message`]) in the main table, so `ip route`, FRR, BIRD and Holo
//! see it; `RouteRemoved`
//! (expiry, purge) deletes it, and so does the end of the data plane (on
//! shutdown every route installed is deleted). At start, routes of our
//! protocol through the tunnel left by a run that crashed are flushed.
//!
//! ```text
//!   NHRP --RouteAdded--> install (RTM_NEWROUTE, NLM_F_CREATE|NLM_F_REPLACE)
//!   NHRP --RouteRemoved--> remove (RTM_DELROUTE)
//!   start --> flush stale routes of RTPROT_DMVPN via the tunnel
//!   data plane ends (shutdown, SIGTERM) --> remove all, then flush
//! ```
//!
//! The route monitor (`routes`) ignores routes of [`RTPROT_DMVPN`]: they are
//! in the forwarding table already, as NHRP routes.
//!
//! Nothing here depends on the data plane behind the tunnel device: the
//! userspace one (a TUN device) and a kernel one (a GRE device whose
//! neighbours NHRP fills) get the same routes, from the same messages.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use futures_util::TryStreamExt;
use ipnetwork::IpNetwork;
use rtnetlink::packet_route::route::{RouteAttribute, RouteHeader, RouteMessage, RouteProtocol};
use rtnetlink::{Handle, RouteMessageBuilder};
use tokio::task::JoinHandle;

/// The route protocol number (`rtm_protocol`, `ip route ... proto 205`) of
/// the routes dmvpnd installs. 205 is in the 200-252 range that neither the
/// kernel (`RTPROT_*` in `rtnetlink.h`), iproute2's `/etc/iproute2/rt_protos`
/// nor FRR's `rt_protos.d/frr.conf` (186-199: bgp, isis, ospf, rip, ripng,
/// nhrp, eigrp, ldp, sharp, pbr, static, openfabric, srte) nor BIRD (12)
/// assign. In particular not 191, FRR nhrpd's number: both daemons on one
/// host must not flush each other's routes.
pub const RTPROT_DMVPN: u8 = 205;

/// The administrative distance of our routes as a routing daemon reading
/// the kernel table sees it: 250, like Cisco's NHRP routes, worse than
/// every routing protocol's.
pub const DISTANCE: u8 = 250;

/// The metric (`ip route ... metric`, RTA_PRIORITY) of our routes:
/// [`DISTANCE`] in the top byte and 250 in the low 24 bits, 4194304250.
///
/// Why the top byte: FRR's zebra reads a foreign kernel route's priority as
/// `distance << 24 | metric`. With a plain metric 250 zebra saw our
/// shortcut as a kernel route of distance 0, preferred it to its own OSPF
/// or BGP route for the same prefix and deleted that one from the kernel
/// while the shortcut lived (FRR 8.4, dmvpnd/tests/routing_ospf.rs), a
/// fight over the prefix at every shortcut. With distance 250 zebra keeps
/// its route selected and installed, and only shows ours
/// (`show ip route kernel`: `[250/250]`).
///
/// It is also the worst metric of the main table, so a shortcut never
/// replaces a route of another protocol for the same prefix (the kernel
/// keys routes on table, prefix, TOS and metric); the data plane prefers
/// the NHRP route at equal prefix length itself (`forwarding`), which is
/// Cisco's "NHRP route next-hop override".
pub const METRIC: u32 = (DISTANCE as u32) << 24 | 250;

/// The route message for `prefix via next_hop dev ifindex proto 205
/// onlink`.
///
/// Always on-link (RTNH_F_ONLINK), whatever the tunnel's prefix length:
/// on an NBMA tunnel every peer is one hop away once NHRP has its NBMA
/// address, so the tunnel subnet says nothing about reachability; it is
/// only a numbering convention (Cisco: a /24 per cloud; FRR: a /32 per
/// node). Without the flag the kernel wants the next hop inside a
/// connected subnet of the device and refuses the route with "Network is
/// unreachable" (ENETUNREACH) on a /32 tunnel address, where nothing is.
/// Always rather than only outside the subnet: the route then depends on
/// the device alone, not on an address a commit may renumber, and every
/// route of ours looks the same in `ip route`. The kernel still refuses a
/// local address as next hop, as before.
pub fn route_message(
    prefix: IpNetwork,
    next_hop: IpAddr,
    ifindex: u32,
) -> Result<RouteMessage, String> {
    Ok(RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(prefix.network(), prefix.prefix())
        .map_err(|e| e.to_string())?
        .gateway(next_hop)
        .map_err(|e| e.to_string())?
        .output_interface(ifindex)
        .onlink()
        .table_id(u32::from(RouteHeader::RT_TABLE_MAIN))
        .protocol(RouteProtocol::from(RTPROT_DMVPN))
        .priority(METRIC)
        .build())
}

/// The message that deletes our route for `prefix` through `ifindex`,
/// whatever its next hop. No on-link flag: the kernel matches a deletion
/// on table, prefix, protocol, metric and output interface, not on the
/// next hop's flags, so one message removes the route on any tunnel.
fn delete_message(prefix: IpNetwork, ifindex: u32) -> Result<RouteMessage, rtnetlink::Error> {
    let message = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(prefix.network(), prefix.prefix())
        .map_err(|e| rtnetlink::Error::InvalidNla(e.to_string()))?
        .output_interface(ifindex)
        .table_id(u32::from(RouteHeader::RT_TABLE_MAIN))
        .protocol(RouteProtocol::from(RTPROT_DMVPN))
        .priority(METRIC)
        .build();
    Ok(message)
}

/// Whether a kernel route is one of ours through `ifindex` (to flush).
pub fn is_ours(msg: &RouteMessage, ifindex: u32) -> bool {
    msg.header.protocol == RouteProtocol::from(RTPROT_DMVPN)
        && msg
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == ifindex))
}

/// The routes installed through one tunnel, and the netlink socket that
/// installs them (in the namespace of the thread that opened it).
#[derive(Debug)]
pub struct KernelRoutes {
    handle: Handle,
    connection: JoinHandle<()>,
    ifindex: u32,
    installed: BTreeMap<IpNetwork, IpAddr>,
}

impl KernelRoutes {
    /// Opens the netlink socket for tunnel `interface` and flushes the
    /// routes a previous run left behind.
    pub async fn open(interface: &str) -> io::Result<KernelRoutes> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let connection = tokio::spawn(connection);
        let mut links = handle
            .link()
            .get()
            .match_name(interface.to_string())
            .execute();
        let ifindex = match links.try_next().await {
            Ok(Some(link)) => link.header.index,
            Ok(None) => {
                connection.abort();
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    interface.to_string(),
                ));
            }
            Err(error) => {
                connection.abort();
                return Err(io::Error::other(error));
            }
        };
        let mut routes = KernelRoutes {
            handle,
            connection,
            ifindex,
            installed: BTreeMap::new(),
        };
        let stale = routes.flush().await;
        if stale > 0 {
            tracing::info!(interface, stale, "stale NHRP routes flushed");
        }
        Ok(routes)
    }

    /// Installs (or replaces) `prefix via next_hop`.
    pub async fn install(&mut self, prefix: IpNetwork, next_hop: IpAddr) {
        if self.installed.get(&prefix) == Some(&next_hop) {
            return;
        }
        let message = match route_message(prefix, next_hop, self.ifindex) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%prefix, %next_hop, %error, "NHRP route not installed");
                return;
            }
        };
        match self.handle.route().add(message).replace().execute().await {
            Ok(()) => {
                tracing::debug!(%prefix, %next_hop, "NHRP route installed");
                self.installed.insert(prefix, next_hop);
            }
            Err(error) => tracing::warn!(%prefix, %next_hop, %error, "installing NHRP route"),
        }
    }

    /// Deletes our route for `prefix`, if we installed one; whether it did.
    pub async fn remove(&mut self, prefix: IpNetwork) -> bool {
        if self.installed.remove(&prefix).is_none() {
            return false;
        }
        let result = match delete_message(prefix, self.ifindex) {
            Ok(message) => self.handle.route().del(message).execute().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                tracing::debug!(%prefix, "NHRP route removed");
                true
            }
            Err(error) => {
                tracing::warn!(%prefix, %error, "removing NHRP route");
                false
            }
        }
    }

    /// Deletes every route of ours through the tunnel, installed by this
    /// run or not; how many.
    async fn flush(&mut self) -> usize {
        let mut stale = vec![];
        for message in [
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
        ] {
            let mut dump = self.handle.route().get(message).execute();
            loop {
                match dump.try_next().await {
                    Ok(Some(msg)) if is_ours(&msg, self.ifindex) => stale.push(msg),
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "reading the routes to flush");
                        break;
                    }
                }
            }
        }
        let count = stale.len();
        for msg in stale {
            if let Err(error) = self.handle.route().del(msg).execute().await {
                tracing::warn!(%error, "flushing NHRP route");
            }
        }
        count
    }

    /// Deletes every route installed, and any other of ours through the
    /// tunnel, then closes the socket.
    pub async fn shutdown(mut self) {
        let prefixes: Vec<_> = self.installed.keys().copied().collect();
        let mut removed = 0;
        for prefix in prefixes {
            removed += usize::from(self.remove(prefix).await);
        }
        removed += self.flush().await;
        tracing::info!(removed, "NHRP routes removed from the kernel");
        self.connection.abort();
    }
}

#[cfg(test)]
mod tests {
    use rtnetlink::packet_route::AddressFamily;
    use rtnetlink::packet_route::route::{RouteAddress, RouteFlags, RouteType};

    use super::*;

    #[test]
    fn shortcut_routes_are_on_link_whatever_the_tunnel_prefix() {
        // FRR's convention: 10.0.0.11/32 on the tunnel, so 10.0.0.12 is in
        // no connected subnet; Cisco's: a /24 that holds it. Same message.
        for (prefix, next_hop) in [
            ("172.16.2.0/24", "10.0.0.12"),
            ("10.0.0.12/32", "10.0.0.12"),
            ("2001:db8:2::/48", "fd00::12"),
        ] {
            let msg = route_message(prefix.parse().unwrap(), next_hop.parse().unwrap(), 7).unwrap();
            assert!(
                msg.header.flags.contains(RouteFlags::Onlink),
                "{prefix} via {next_hop}: {:?}",
                msg.header.flags
            );
            assert_eq!(msg.header.kind, RouteType::Unicast);
            assert!(
                msg.attributes
                    .iter()
                    .any(|a| matches!(a, RouteAttribute::Gateway(_))),
                "{prefix}: an on-link route still has its next hop"
            );
        }
    }

    #[test]
    fn the_deletion_names_no_next_hop() {
        // Whatever next hop (and flags) the route was installed with, the
        // deletion finds it by prefix, interface, protocol and metric.
        let msg = delete_message("172.16.2.0/24".parse().unwrap(), 7).unwrap();
        assert!(
            !msg.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Gateway(_))),
            "{msg:?}"
        );
        assert!(msg.attributes.contains(&RouteAttribute::Oif(7)));
        assert!(msg.attributes.contains(&RouteAttribute::Priority(METRIC)));
        assert_eq!(msg.header.protocol, RouteProtocol::Other(RTPROT_DMVPN));
        assert_eq!(msg.header.destination_prefix_length, 24);
        assert!(is_ours(&msg, 7));
    }

    #[test]
    fn shortcut_route_message() {
        let prefix: IpNetwork = "172.16.2.0/24".parse().unwrap();
        let msg = route_message(prefix, "10.0.0.12".parse().unwrap(), 7).unwrap();
        assert_eq!(msg.header.address_family, AddressFamily::Inet);
        assert_eq!(msg.header.destination_prefix_length, 24);
        assert_eq!(msg.header.protocol, RouteProtocol::Other(RTPROT_DMVPN));
        assert_eq!(msg.header.table, RouteHeader::RT_TABLE_MAIN);
        let attributes = &msg.attributes;
        assert!(
            attributes.contains(&RouteAttribute::Destination(RouteAddress::Inet(
                "172.16.2.0".parse().unwrap()
            )))
        );
        assert!(
            attributes.contains(&RouteAttribute::Gateway(RouteAddress::Inet(
                "10.0.0.12".parse().unwrap()
            )))
        );
        assert!(attributes.contains(&RouteAttribute::Oif(7)));
        assert!(attributes.contains(&RouteAttribute::Priority(METRIC)));
        assert!(is_ours(&msg, 7));
        assert!(!is_ours(&msg, 8), "another interface");
        let mut other = msg.clone();
        other.header.protocol = RouteProtocol::Static;
        assert!(!is_ours(&other, 7), "another protocol");
        // Host bits are cleared; IPv6 too.
        let msg = route_message(
            "172.16.2.1/24".parse().unwrap(),
            "10.0.0.12".parse().unwrap(),
            7,
        )
        .unwrap();
        assert!(
            msg.attributes
                .contains(&RouteAttribute::Destination(RouteAddress::Inet(
                    "172.16.2.0".parse().unwrap()
                )))
        );
        let v6 = route_message(
            "2001:db8:2::/48".parse().unwrap(),
            "fd00::12".parse().unwrap(),
            7,
        )
        .unwrap();
        assert_eq!(v6.header.address_family, AddressFamily::Inet6);
        assert_eq!(v6.header.destination_prefix_length, 48);
    }

    #[test]
    fn zebra_reads_distance_250_from_the_metric() {
        // zebra: distance = priority >> 24, metric = priority & 0xffffff.
        assert_eq!(METRIC >> 24, 250);
        assert_eq!(METRIC & 0x00ff_ffff, 250);
        assert_eq!(METRIC, 4_194_304_250);
    }

    #[test]
    fn the_protocol_number_is_no_other_daemons() {
        // Kernel and iproute2's rt_protos, BIRD (12), FRR's rt_protos.d.
        let assigned: Vec<u8> = [0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 42, 99]
            .into_iter()
            .chain(186..=199)
            .collect();
        assert!(!assigned.contains(&RTPROT_DMVPN));
        // Nor a name iproute2 knows on this host.
        if let Ok(text) = std::fs::read_to_string("/etc/iproute2/rt_protos") {
            let numbers: Vec<&str> = text
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            assert!(!numbers.contains(&RTPROT_DMVPN.to_string().as_str()));
        }
        assert_eq!(
            RouteProtocol::from(RTPROT_DMVPN),
            RouteProtocol::Other(RTPROT_DMVPN)
        );
    }
}
