//! The interfaces of a network namespace and their addresses, followed over
//! netlink, so that a tunnel follows its underlay: a source address that
//! DHCP hands out after start, a source that moves or goes down, and the
//! LAN prefixes behind the node as addresses come and go.
//!
//! ```text
//!   kernel --RTM_{NEW,DEL}LINK (RTNLGRP_LINK)-------+
//!          --RTM_{NEW,DEL}ADDR (RTNLGRP_IPV4_IFADDR, |--> [ monitor task ] --watch--> consumers
//!                               RTNLGRP_IPV6_IFADDR)-+    Interfaces::apply     Interfaces
//!                                                         each; on overrun
//!                                                         (ENOBUFS) dump again
//!   consumers: source_state(&Interfaces, &Source), local_prefixes(&Interfaces, ..)
//! ```
//!
//! `Interfaces` is a plain value that consumers compare and query without
//! netlink; `monitor` keeps one up to date in a task of its own.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnetwork::IpNetwork;
pub use rtnetlink::packet_route::address::AddressScope;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

mod monitor;
pub use monitor::{Error, InterfaceMonitor, dump};

/// The interfaces of one network namespace and their addresses, by
/// ifindex. A clone shares the table until one of them changes (copy on
/// write), so snapshots are cheap to hand out and to compare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interfaces(Arc<BTreeMap<u32, Interface>>);

/// One interface, as `ip address show` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub ifindex: u32,
    /// IFF_UP: administratively up (`ip link set up`).
    pub admin_up: bool,
    /// IFF_LOWER_UP: the link has carrier (a cable, a veth whose peer is up).
    pub carrier: bool,
    /// IFF_RUNNING: the operational state (RFC 2863) is up, or unknown as
    /// on interfaces that do not report one (loopback, dummy).
    pub oper_up: bool,
    pub mtu: u32,
    /// IPv4 in the kernel's order (primaries, then secondaries), then
    /// IPv6 by address; without IPv6 addresses still in duplicate address
    /// detection.
    pub addresses: Vec<InterfaceAddress>,
}

/// One address of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The local address and its prefix length (host bits kept).
    pub address: IpNetwork,
    /// The far end of a point-to-point address (`ip address add A peer
    /// P/LEN`), which the prefix length then applies to.
    pub peer: Option<IpAddr>,
    pub scope: AddressScope,
    /// IFA_F_SECONDARY: an IPv4 address of a subnet that already had one.
    pub secondary: bool,
}

impl Interfaces {
    /// The interface with `ifindex`.
    pub fn get(&self, ifindex: u32) -> Option<&Interface> {
        self.0.get(&ifindex)
    }

    /// The interface named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Interface> {
        self.0.values().find(|i| i.name == name)
    }

    /// Every interface, by ifindex.
    pub fn iter(&self) -> impl Iterator<Item = &Interface> {
        self.0.values()
    }

    /// Applies one link or address message, from a dump or a notification;
    /// whether the snapshot changed. Other messages change nothing.
    pub fn apply(&mut self, message: &RouteNetlinkMessage) -> bool {
        match message {
            RouteNetlinkMessage::NewLink(msg) => self.new_link(msg),
            RouteNetlinkMessage::DelLink(msg) => self.del_link(msg),
            RouteNetlinkMessage::NewAddress(msg) => self.new_address(msg),
            RouteNetlinkMessage::DelAddress(msg) => self.del_address(msg),
            _ => false,
        }
    }

    fn new_link(&mut self, msg: &LinkMessage) -> bool {
        // A bridge's notifications about its ports (AF_BRIDGE) come on
        // RTNLGRP_LINK too; their RTM_DELLINK means "left the bridge", not
        // "gone". Only the generic ones (AF_UNSPEC) describe the interface.
        if msg.header.interface_family != AddressFamily::Unspec {
            return false;
        }
        let ifindex = msg.header.index;
        let known = self.0.get(&ifindex);
        let mut name = known.map(|i| i.name.clone());
        let mut mtu = known.map_or(0, |i| i.mtu);
        for attribute in &msg.attributes {
            match attribute {
                LinkAttribute::IfName(n) => name = Some(n.clone()),
                LinkAttribute::Mtu(m) => mtu = *m,
                _ => {}
            }
        }
        let Some(name) = name else {
            tracing::debug!(ifindex, "link message without a name ignored");
            return false;
        };
        let flags = msg.header.flags;
        let interface = Interface {
            name,
            ifindex,
            admin_up: flags.contains(LinkFlags::Up),
            carrier: flags.contains(LinkFlags::LowerUp),
            oper_up: flags.contains(LinkFlags::Running),
            mtu,
            addresses: known.map(|i| i.addresses.clone()).unwrap_or_default(),
        };
        if known == Some(&interface) {
            return false;
        }
        Arc::make_mut(&mut self.0).insert(ifindex, interface);
        true
    }

    fn del_link(&mut self, msg: &LinkMessage) -> bool {
        if msg.header.interface_family != AddressFamily::Unspec
            || !self.0.contains_key(&msg.header.index)
        {
            return false;
        }
        Arc::make_mut(&mut self.0).remove(&msg.header.index);
        true
    }

    fn new_address(&mut self, msg: &AddressMessage) -> bool {
        let Some((address, usable)) = parse_address(msg) else {
            return false;
        };
        // The kernel dumps an IPv6 address in DAD but notifies it only once
        // DAD is over: left out until then, both agree.
        if !usable {
            return self.del_address(msg);
        }
        let Some(interface) = self.0.get(&msg.header.index) else {
            // Only a dump that raced a new link sees this; that link's own
            // notifications follow and bring the address along.
            tracing::debug!(ifindex = msg.header.index, %address.address, "address of an unknown interface ignored");
            return false;
        };
        let known = interface.addresses.iter().position(|a| a.same(&address));
        if known.is_some_and(|i| interface.addresses[i] == address) {
            return false;
        }
        let Some(interface) = Arc::make_mut(&mut self.0).get_mut(&msg.header.index) else {
            return false;
        };
        let addresses = &mut interface.addresses;
        match known {
            // It keeps its place unless it turned primary or secondary.
            Some(i) if addresses[i].secondary == address.secondary => addresses[i] = address,
            Some(i) => {
                addresses.remove(i);
                addresses.insert(insert_position(addresses, &address), address);
            }
            None => addresses.insert(insert_position(addresses, &address), address),
        }
        true
    }

    fn del_address(&mut self, msg: &AddressMessage) -> bool {
        let Some((address, _)) = parse_address(msg) else {
            return false;
        };
        let Some(i) = self
            .0
            .get(&msg.header.index)
            .and_then(|interface| interface.addresses.iter().position(|a| a.same(&address)))
        else {
            return false;
        };
        if let Some(interface) = Arc::make_mut(&mut self.0).get_mut(&msg.header.index) {
            interface.addresses.remove(i);
        }
        true
    }
}

/// Where `new` goes among `addresses`, so that the order does not depend on
/// whether they came from a dump or one by one: IPv4 first, in the kernel's
/// order (`__inet_insert_ifa`: primaries by scope, host before global,
/// each after those it found; secondaries at the end), then IPv6 by
/// address.
fn insert_position(addresses: &[InterfaceAddress], new: &InterfaceAddress) -> usize {
    let after = |i: Option<usize>| i.map_or(0, |i| i + 1);
    match new.address {
        IpNetwork::V4(_) if new.secondary => {
            after(addresses.iter().rposition(|a| a.address.is_ipv4()))
        }
        IpNetwork::V4(_) => after(addresses.iter().rposition(|a| {
            a.address.is_ipv4() && !a.secondary && u8::from(new.scope) <= u8::from(a.scope)
        })),
        IpNetwork::V6(_) => addresses
            .iter()
            .position(|a| a.address.is_ipv6() && a.address.ip() > new.address.ip())
            .unwrap_or(addresses.len()),
    }
}

/// The address of an RTM_NEWADDR or RTM_DELADDR message, and whether it is
/// usable: an IPv6 address in duplicate address detection (RFC 4862, 5.4)
/// is not, unless optimistic (RFC 4429), nor one that failed it.
fn parse_address(msg: &AddressMessage) -> Option<(InterfaceAddress, bool)> {
    let address = InterfaceAddress::from_message(msg)?;
    let mut flags = AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits()));
    for attribute in &msg.attributes {
        if let AddressAttribute::Flags(f) = attribute {
            flags |= *f;
        }
    }
    let usable = !flags.contains(AddressFlags::Dadfailed)
        && (!flags.contains(AddressFlags::Tentative) || flags.contains(AddressFlags::Optimistic));
    Some((address, usable))
}

impl FromIterator<Interface> for Interfaces {
    fn from_iter<T: IntoIterator<Item = Interface>>(interfaces: T) -> Self {
        Interfaces(Arc::new(
            interfaces.into_iter().map(|i| (i.ifindex, i)).collect(),
        ))
    }
}

impl Interface {
    /// Whether it carries traffic: administratively up, with carrier and
    /// operational.
    pub fn is_up(&self) -> bool {
        self.down_reason().is_none()
    }

    /// Why it does not carry traffic, in the words of `ip link`; `None`
    /// when it is up.
    pub fn down_reason(&self) -> Option<&'static str> {
        if !self.admin_up {
            Some("administratively down")
        } else if !self.carrier {
            Some("down (no carrier)")
        } else if !self.oper_up {
            Some("down (not operational)")
        } else {
            None
        }
    }

    /// The tunnel source of `source-interface`: the first primary IPv4
    /// address of global scope (a loopback's 127.0.0.1 reaches no peer).
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        let global = || {
            self.addresses.iter().filter_map(|a| match a.address.ip() {
                IpAddr::V4(ip) if a.scope == AddressScope::Universe => Some((ip, a.secondary)),
                _ => None,
            })
        };
        global()
            .find(|(_, secondary)| !secondary)
            .or_else(|| global().next())
            .map(|(ip, _)| ip)
    }
}

impl InterfaceAddress {
    /// The address of an RTM_NEWADDR or RTM_DELADDR message: IFA_LOCAL is
    /// the local address when present (IPv4 always; IPv6 with a peer), and
    /// IFA_ADDRESS then the peer's, else IFA_ADDRESS is the local one.
    pub fn from_message(msg: &AddressMessage) -> Option<InterfaceAddress> {
        if !matches!(
            msg.header.family,
            AddressFamily::Inet | AddressFamily::Inet6
        ) {
            return None;
        }
        let (mut address, mut local, mut flags) = (None, None, AddressFlags::empty());
        for attribute in &msg.attributes {
            match attribute {
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        let ip = local.or(address)?;
        let Ok(network) = IpNetwork::new(ip, msg.header.prefix_len) else {
            tracing::debug!(%ip, prefix_len = msg.header.prefix_len, "address with an impossible prefix length ignored");
            return None;
        };
        Some(InterfaceAddress {
            address: network,
            peer: address.filter(|a| *a != ip),
            scope: msg.header.scope,
            secondary: msg.header.flags.contains(AddressHeaderFlags::Secondary)
                || flags.contains(AddressFlags::Secondary),
        })
    }

    /// The address the prefix length applies to (IFA_ADDRESS): the peer's
    /// of a point-to-point address, else the local one.
    pub fn prefix_address(&self) -> IpAddr {
        self.peer.unwrap_or(self.address.ip())
    }

    /// Whether both are the same address to the kernel, which may have
    /// changed its flags or scope: IPv4 tells addresses apart by local
    /// address, prefix and peer, IPv6 by the address alone.
    fn same(&self, other: &InterfaceAddress) -> bool {
        match self.address.ip() {
            IpAddr::V4(_) => self.address == other.address && self.peer == other.peer,
            IpAddr::V6(_) => self.address.ip() == other.address.ip(),
        }
    }
}

/// Where a tunnel takes its source (NBMA) address from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `source-address`: this address, on whichever interface holds it.
    Address(Ipv4Addr),
    /// `source-interface`: the interface's first IPv4 address
    /// ([`Interface::ipv4`]).
    Interface(String),
}

/// Whether a tunnel's source can carry GRE now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    Up {
        address: Ipv4Addr,
        interface: String,
        mtu: u32,
    },
    Down {
        reason: String,
    },
}

/// The state of the tunnel source `source` in `interfaces`.
pub fn source_state(interfaces: &Interfaces, source: &Source) -> SourceState {
    let down = |reason: String| SourceState::Down { reason };
    let up = |address, interface: &Interface| SourceState::Up {
        address,
        interface: interface.name.clone(),
        mtu: interface.mtu,
    };
    match source {
        Source::Interface(name) => {
            let Some(interface) = interfaces.by_name(name) else {
                return down(format!("no interface {name}"));
            };
            if let Some(why) = interface.down_reason() {
                return down(format!("{name} is {why}"));
            }
            match interface.ipv4() {
                Some(address) => up(address, interface),
                None if interface.addresses.iter().any(|a| a.address.is_ipv4()) => {
                    down(format!("{name} has no IPv4 address of global scope"))
                }
                None => down(format!("{name} has no IPv4 address")),
            }
        }
        Source::Address(address) => {
            let mut holders = interfaces.iter().filter(|i| {
                i.addresses
                    .iter()
                    .any(|a| a.address.ip() == IpAddr::V4(*address))
            });
            // An address may be on two interfaces: one that is up will do.
            let Some(first) = holders.next() else {
                return down(format!("no interface has {address}"));
            };
            match std::iter::once(first).chain(holders).find(|i| i.is_up()) {
                Some(interface) => up(*address, interface),
                None => down(format!(
                    "{address} is on {}, which is {}",
                    first.name,
                    first.down_reason().unwrap_or("down")
                )),
            }
        }
    }
}

/// The prefixes behind this node, for NHRP's `LocalPrefixes`: the subnets
/// of the global (universe-scope) IPv4 addresses of every interface except
/// the tunnel `tunnel_interface`, minus the underlay subnet holding `nbma`
/// (the NBMA side is not a destination behind the tunnel). Interfaces that
/// are down count too: their routes may come back with them. Sorted, each
/// once.
pub fn local_prefixes(
    interfaces: &Interfaces,
    tunnel_interface: &str,
    nbma: IpAddr,
) -> Vec<IpNetwork> {
    let mut prefixes = vec![];
    for interface in interfaces.iter().filter(|i| i.name != tunnel_interface) {
        for address in &interface.addresses {
            if address.scope != AddressScope::Universe || !address.address.is_ipv4() {
                continue;
            }
            if let Ok(net) = IpNetwork::new(address.prefix_address(), address.address.prefix())
                && let Ok(net) = IpNetwork::new(net.network(), net.prefix())
                && !net.contains(nbma)
                && !prefixes.contains(&net)
            {
                prefixes.push(net);
            }
        }
    }
    prefixes.sort();
    prefixes
}

#[cfg(test)]
#[path = "interfaces_tests.rs"]
mod tests;
