//! The netlink route monitor: mirrors the kernel routes whose output
//! interface is the tunnel (static routes, FRR, BIRD, Holo) into the data
//! plane's longest-prefix-match table, because a TUN reader does not see
//! the next hop the kernel chose (ARCHITECTURE.md).
//!
//! It subscribes to route changes first and dumps the table second, so no
//! change falls between the two; after each change it hands the whole set
//! (prefix -> tunnel next hop) over, which the data plane also gives NHRP.
//! Mirrored: unicast routes of the main table with a gateway and the tunnel
//! as output interface. Routes without a gateway are on-link, like the
//! tunnel subnet itself; multipath routes are not mirrored yet. Not
//! mirrored either: our own NHRP routes (protocol
//! [`RTPROT_DMVPN`](super::kernel_routes::RTPROT_DMVPN)), which the data
//! plane has from NHRP already.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use futures_util::{StreamExt, TryStreamExt};
use ipnetwork::IpNetwork;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::{Handle, MulticastGroup, RouteMessageBuilder};
use tokio::sync::mpsc;

/// The mirrored routes: prefix -> tunnel next hop.
pub type TunnelRoutes = BTreeMap<IpNetwork, IpAddr>;

/// What a route message means for the mirror of interface `ifindex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MirroredRoute {
    pub prefix: IpNetwork,
    pub next_hop: IpAddr,
}

/// The tunnel route a kernel route message describes, if it is one.
pub fn tunnel_route(msg: &RouteMessage, ifindex: u32) -> Option<MirroredRoute> {
    if msg.header.kind != RouteType::Unicast
        || msg.header.protocol == RouteProtocol::from(super::kernel_routes::RTPROT_DMVPN)
    {
        return None;
    }
    let mut table = u32::from(msg.header.table);
    let (mut oif, mut destination, mut gateway) = (None, None, None);
    for attribute in &msg.attributes {
        match attribute {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Destination(a) => destination = address(a),
            RouteAttribute::Gateway(a) => gateway = address(a),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || oif != Some(ifindex) {
        return None;
    }
    let next_hop = gateway?;
    let length = msg.header.destination_prefix_length;
    let destination = destination.unwrap_or(match next_hop {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    });
    let prefix = IpNetwork::new(destination, length).ok()?;
    Some(MirroredRoute { prefix, next_hop })
}

fn address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some((*v4).into()),
        RouteAddress::Inet6(v6) => Some((*v6).into()),
        _ => None,
    }
}

/// Applies one route message to the mirror; whether it changed.
pub fn apply(routes: &mut TunnelRoutes, message: &RouteNetlinkMessage, ifindex: u32) -> bool {
    match message {
        RouteNetlinkMessage::NewRoute(msg) => match tunnel_route(msg, ifindex) {
            Some(r) => routes.insert(r.prefix, r.next_hop) != Some(r.next_hop),
            None => false,
        },
        RouteNetlinkMessage::DelRoute(msg) => match tunnel_route(msg, ifindex) {
            Some(r) => routes.remove(&r.prefix).is_some(),
            None => false,
        },
        _ => false,
    }
}

/// Starts the monitor for interface `name` in the calling thread's network
/// namespace: every version of the mirror goes to `updates`, the first one
/// right after the initial dump. It ends when `updates` is closed.
pub async fn spawn(name: &str, updates: mpsc::Sender<TunnelRoutes>) -> io::Result<()> {
    let (connection, handle, mut messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
    ])?;
    tokio::spawn(connection);
    let ifindex = ifindex(&handle, name).await?;
    let mut routes = TunnelRoutes::new();
    for message in [
        RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
        RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
    ] {
        let mut dump = handle.route().get(message).execute();
        while let Some(msg) = dump.try_next().await.map_err(io::Error::other)? {
            if let Some(r) = tunnel_route(&msg, ifindex) {
                routes.insert(r.prefix, r.next_hop);
            }
        }
    }
    tokio::spawn(async move {
        // The connection ends with the handle: keep it for the task's life.
        let _handle = handle;
        if updates.send(routes.clone()).await.is_err() {
            return;
        }
        loop {
            let message = tokio::select! {
                message = messages.next() => message,
                // The data plane is gone: stop listening.
                () = updates.closed() => return,
            };
            let Some((message, _)) = message else { break };
            let NetlinkPayload::InnerMessage(message) = message.payload else {
                continue;
            };
            if apply(&mut routes, &message, ifindex) && updates.send(routes.clone()).await.is_err()
            {
                return;
            }
        }
        tracing::warn!("route monitor: netlink connection closed");
    });
    Ok(())
}

/// The prefixes behind this node, for NHRP's `LocalPrefixes`, read once in
/// the calling thread's network namespace: see
/// [`interfaces::local_prefixes`](super::interfaces::local_prefixes), which
/// an interface monitor's snapshots can feed instead.
pub async fn local_prefixes(tunnel: &str, underlay: IpAddr) -> io::Result<Vec<IpNetwork>> {
    let interfaces = super::interfaces::dump(None)
        .await
        .map_err(io::Error::other)?;
    Ok(super::interfaces::local_prefixes(
        &interfaces,
        tunnel,
        underlay,
    ))
}

async fn ifindex(handle: &Handle, name: &str) -> io::Result<u32> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(link.header.index),
        Ok(None) => Err(io::Error::new(io::ErrorKind::NotFound, name.to_string())),
        Err(e) => Err(io::Error::other(e)),
    }
}

#[cfg(test)]
mod tests {
    use rtnetlink::packet_route::AddressFamily;

    use super::*;

    fn route(dst: &str, len: u8, gateway: Option<&str>, oif: u32) -> RouteMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = len;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(
                dst.parse().unwrap(),
            )));
        if let Some(g) = gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(
                    g.parse().unwrap(),
                )));
        }
        msg.attributes.push(RouteAttribute::Oif(oif));
        msg
    }

    #[test]
    fn only_gateway_routes_through_the_tunnel_are_mirrored() {
        let r = tunnel_route(&route("172.16.0.0", 16, Some("10.0.0.1"), 7), 7).unwrap();
        assert_eq!(r.prefix, "172.16.0.0/16".parse::<IpNetwork>().unwrap());
        assert_eq!(r.next_hop, "10.0.0.1".parse::<IpAddr>().unwrap());
        // Another interface, no gateway, another table, not unicast.
        assert_eq!(
            tunnel_route(&route("172.16.0.0", 16, Some("10.0.0.1"), 8), 7),
            None
        );
        assert_eq!(tunnel_route(&route("10.0.0.0", 24, None, 7), 7), None);
        let mut local = route("172.16.0.0", 16, Some("10.0.0.1"), 7);
        local.header.table = 255;
        assert_eq!(tunnel_route(&local, 7), None);
        let mut blackhole = route("172.16.0.0", 16, Some("10.0.0.1"), 7);
        blackhole.header.kind = RouteType::BlackHole;
        assert_eq!(tunnel_route(&blackhole, 7), None);
        // Our own NHRP routes are not mirrored back.
        let mut ours = route("172.16.2.0", 24, Some("10.0.0.12"), 7);
        ours.header.protocol = RouteProtocol::from(super::super::kernel_routes::RTPROT_DMVPN);
        assert_eq!(tunnel_route(&ours, 7), None);
    }

    #[test]
    fn new_and_deleted_routes_update_the_mirror() {
        let mut routes = TunnelRoutes::new();
        let add = RouteNetlinkMessage::NewRoute(route("172.16.2.0", 24, Some("10.0.0.12"), 7));
        assert!(apply(&mut routes, &add, 7));
        assert!(!apply(&mut routes, &add, 7), "no change the second time");
        let other = RouteNetlinkMessage::NewRoute(route("192.168.0.0", 16, Some("192.0.2.254"), 2));
        assert!(!apply(&mut routes, &other, 7));
        assert_eq!(routes.len(), 1);
        let del = RouteNetlinkMessage::DelRoute(route("172.16.2.0", 24, Some("10.0.0.12"), 7));
        assert!(apply(&mut routes, &del, 7));
        assert!(routes.is_empty());
    }
}
