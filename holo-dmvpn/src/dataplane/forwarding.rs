//! The forwarding decision of the userspace data plane, sans-IO: which NBMA
//! address(es) an IP packet read from the TUN device goes to, what a GRE
//! packet read from the underlay is, and which data-plane events NHRP must
//! hear about (Phase 2 miss, Phase 3 hairpin, shortcut use).
//!
//! ```text
//!   inner packet -> multicast/broadcast? -> every NBMA in the multicast map
//!                -> LPM(dst) over tunnel routes (+ the tunnel subnet, on-link)
//!                -> tunnel next hop -> binding -> NBMA
//!                   no binding: Miss{next_hop} to NHRP, send via the NHS
//!                -> hub: reverse LPM(src) -> NBMA A != NBMA B: Hairpin{A}
//! ```
//!
//! The route table is a linear scan (tens of routes per tunnel today); a
//! prefix trie replaces it when tables grow.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use holo_nhrp::io::{DataPlaneEvent, Output};
use ipnetwork::IpNetwork;
use serde::Serialize;

use crate::packet::gre::{GreProtocol, GreRepr};

/// At most one Miss per next hop in this interval: NHRP keeps its own
/// pending and negative state, this only keeps a flow from flooding it.
pub const MISS_INTERVAL: Duration = Duration::from_secs(1);
/// At most one Hairpin per (source, destination) in this interval; NHRP
/// rate-limits the Traffic Indications themselves (`redirect_interval`).
pub const HAIRPIN_INTERVAL: Duration = Duration::from_millis(100);
/// At most one Used per shortcut prefix in this interval.
pub const USED_INTERVAL: Duration = Duration::from_secs(5);
/// Rate-limit maps are pruned of stale entries beyond this size.
const RATE_LIMIT_ENTRIES: usize = 4096;

/// Why a packet was dropped (a counter each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Not an IPv4/IPv6 packet, or shorter than its header.
    Malformed,
    /// A GRE datagram longer than the receive buffer (64 KB), cut by the
    /// socket: only an underlay coalescing beyond 64 KB sends those.
    Truncated,
    /// Neither a tunnel route nor the tunnel subnet covers the destination,
    /// and there is no NHS to fall back on.
    NoRoute,
    /// The next hop has no binding and there is no NHS to send via.
    NoBinding,
    /// Multicast or broadcast with an empty multicast map.
    NoMulticastPeers,
    /// A GRE header that does not parse (bad flags, version, checksum).
    BadGre,
    /// A GRE key other than the tunnel's (or one missing or unexpected).
    WrongKey,
    /// A GRE protocol type other than IPv4, IPv6 and NHRP.
    UnknownProtocol,
    /// The NHRP instance's queue was full.
    NhrpQueueFull,
    /// The source sent more NHRP (or Registration Requests) than its
    /// budget allows (`budget`).
    NhrpRateLimited,
    /// The underlay socket refused the packet.
    SendError,
    /// The TUN device refused the packet.
    TunWriteError,
    /// Larger than the tunnel MTU and not to be fragmented (IPv4 with DF,
    /// or IPv6): an ICMP error went back to the sender unless rate-limited.
    TooBig,
    /// A packet from a peer claiming our own tunnel address as source: the
    /// TUN device accepts local sources (for our own ICMP errors), so the
    /// data plane must refuse them from the wire.
    SpoofedSource,
    /// The tunnel source is not up (its address missing, its interface
    /// down): nothing can leave on the underlay.
    NoSource,
    /// IPsec: GRE in clear from a peer of a protected tunnel.
    Cleartext,
    /// IPsec: the peer's queue of packets waiting for its SA was full (the
    /// oldest went), or the SA could not be used.
    SaPending,
    /// IPsec: ESP for no SA of ours (or from another peer than the SA's).
    UnknownSpi,
    /// IPsec: ESP whose integrity check failed (forged or corrupted).
    IcvFailure,
    /// IPsec: ESP replayed or older than the anti-replay window.
    Replayed,
}

/// Whether a decapsulated packet claims `own` as its source.
pub fn claims_source(packet: &[u8], own: IpAddr) -> bool {
    let source = match packet.first().map(|b| b >> 4) {
        Some(4) => packet
            .get(12..16)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(IpAddr::from),
        Some(6) => packet
            .get(8..24)
            .and_then(|s| <[u8; 16]>::try_from(s).ok())
            .map(IpAddr::from),
        _ => None,
    };
    source == Some(own)
}

/// The tunnel's forwarding settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardingConfig {
    /// Our tunnel address and the tunnel subnet (on-link next hops).
    pub tunnel: IpNetwork,
    /// GRE key sent and required on receipt (RFC 2890); `None`: no key.
    pub key: Option<u32>,
    /// The NHSs' tunnel addresses, in order of preference: packets whose
    /// next hop is not resolved yet go to the first one with a binding.
    pub nhs: Vec<IpAddr>,
    /// Hub: report hairpinned packets to NHRP (Phase 3 redirect).
    pub redirect: bool,
}

/// Where an outbound packet goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Unicast(IpAddr),
    /// Multicast or broadcast: one copy per NBMA address.
    Replicate(Vec<IpAddr>),
    Drop(DropReason),
}

/// The decision for one packet and the events NHRP must hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub decision: Decision,
    pub events: Vec<DataPlaneEvent>,
}

/// What a GRE packet received on the underlay carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// GRE protocol 0x2001: for the NHRP instance.
    Nhrp(&'a [u8]),
    /// IPv4 or IPv6: for the TUN device.
    Ip(&'a [u8]),
    Drop(DropReason),
}

/// The inner protocol's GRE type, from the IP version nibble.
pub fn gre_protocol(packet: &[u8]) -> Option<GreProtocol> {
    match packet.first()? >> 4 {
        4 => Some(GreProtocol::IPV4),
        6 => Some(GreProtocol::IPV6),
        _ => None,
    }
}

/// Classifies a GRE packet (header onwards) received on a tunnel with `key`.
pub fn classify_inbound(gre: &[u8], key: Option<u32>) -> Inbound<'_> {
    let Ok((repr, payload)) = GreRepr::parse(gre) else {
        return Inbound::Drop(DropReason::BadGre);
    };
    if repr.key != key {
        return Inbound::Drop(DropReason::WrongKey);
    }
    match repr.protocol {
        GreProtocol::NHRP => Inbound::Nhrp(payload),
        GreProtocol::IPV4 | GreProtocol::IPV6 => Inbound::Ip(payload),
        _ => Inbound::Drop(DropReason::UnknownProtocol),
    }
}

/// Source, destination and header length of an IPv4 or IPv6 packet.
pub fn ip_addresses(packet: &[u8]) -> Option<(IpAddr, IpAddr, usize)> {
    match packet.first()? >> 4 {
        4 => {
            let header_len = usize::from(packet[0] & 0x0f) * 4;
            let src: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            (header_len >= 20 && packet.len() >= header_len).then_some((
                src.into(),
                dst.into(),
                header_len,
            ))
        }
        6 => {
            let src: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some((src.into(), dst.into(), 40))
        }
        _ => None,
    }
}

/// The tunnel's forwarding state: mirrored kernel routes, NHRP shortcut
/// routes, bindings and the multicast map.
#[derive(Debug)]
pub struct Forwarding {
    config: ForwardingConfig,
    /// Kernel routes whose output interface is the tunnel: prefix -> next hop.
    kernel_routes: BTreeMap<IpNetwork, IpAddr>,
    /// NHRP routes (shortcuts, Phase 3): prefix -> next hop.
    nhrp_routes: BTreeMap<IpNetwork, IpAddr>,
    /// NHRP bindings: tunnel (protocol) address -> NBMA address.
    bindings: HashMap<IpAddr, IpAddr>,
    multicast: BTreeSet<IpAddr>,
    last_miss: HashMap<IpAddr, Instant>,
    last_hairpin: HashMap<(IpAddr, IpAddr), Instant>,
    last_used: HashMap<IpNetwork, Instant>,
}

/// A route lookup result: the tunnel next hop and, for an NHRP route, its
/// prefix (to report use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub next_hop: IpAddr,
    pub nhrp_prefix: Option<IpNetwork>,
}

impl Forwarding {
    pub fn new(config: ForwardingConfig) -> Self {
        Forwarding {
            config,
            kernel_routes: BTreeMap::new(),
            nhrp_routes: BTreeMap::new(),
            bindings: HashMap::new(),
            multicast: BTreeSet::new(),
            last_miss: HashMap::new(),
            last_hairpin: HashMap::new(),
            last_used: HashMap::new(),
        }
    }

    pub fn config(&self) -> &ForwardingConfig {
        &self.config
    }

    /// New settings (a commit on the running tunnel): the key, the NHSs
    /// and redirect apply from the next packet; the learnt state stays.
    pub fn set_config(&mut self, config: ForwardingConfig) {
        self.config = config;
    }

    /// Replaces the mirror of the kernel's tunnel routes.
    pub fn set_tunnel_routes(&mut self, routes: &[(IpNetwork, IpAddr)]) {
        self.kernel_routes = routes.iter().copied().collect();
    }

    pub fn kernel_routes(&self) -> &BTreeMap<IpNetwork, IpAddr> {
        &self.kernel_routes
    }

    pub fn nhrp_routes(&self) -> &BTreeMap<IpNetwork, IpAddr> {
        &self.nhrp_routes
    }

    pub fn bindings(&self) -> BTreeMap<IpAddr, IpAddr> {
        self.bindings.iter().map(|(p, n)| (*p, *n)).collect()
    }

    pub fn multicast(&self) -> &BTreeSet<IpAddr> {
        &self.multicast
    }

    /// Applies an NHRP output that changes forwarding state; returns false
    /// for the outputs that are not the data plane's (Send, Notify, ...).
    pub fn apply(&mut self, output: &Output) -> bool {
        match output {
            Output::BindingAdded { protocol, nbma } => {
                self.bindings.insert(*protocol, *nbma);
            }
            Output::BindingRemoved { protocol } => {
                self.bindings.remove(protocol);
            }
            Output::RouteAdded { prefix, next_hop } => {
                self.nhrp_routes.insert(*prefix, *next_hop);
            }
            Output::RouteRemoved { prefix } => {
                self.nhrp_routes.remove(prefix);
            }
            Output::MulticastAdded { nbma } => {
                self.multicast.insert(*nbma);
            }
            Output::MulticastRemoved { nbma } => {
                self.multicast.remove(nbma);
            }
            _ => return false,
        }
        true
    }

    /// The longest match for `dst` among the kernel routes, the NHRP routes
    /// (preferred at equal length: they are the more recent knowledge) and
    /// the tunnel subnet (on-link: the next hop is `dst` itself).
    pub fn route(&self, dst: IpAddr) -> Option<Route> {
        let on_link = self.config.tunnel.contains(dst).then_some((
            self.config.tunnel.prefix(),
            0,
            Route {
                next_hop: dst,
                nhrp_prefix: None,
            },
        ));
        let kernel = self
            .kernel_routes
            .iter()
            .filter(|(p, _)| p.contains(dst))
            .map(|(p, nh)| {
                let route = Route {
                    next_hop: *nh,
                    nhrp_prefix: None,
                };
                (p.prefix(), 1, route)
            });
        let nhrp = self
            .nhrp_routes
            .iter()
            .filter(|(p, _)| p.contains(dst))
            .map(|(p, nh)| {
                let route = Route {
                    next_hop: *nh,
                    nhrp_prefix: Some(*p),
                };
                (p.prefix(), 2, route)
            });
        on_link
            .into_iter()
            .chain(kernel)
            .chain(nhrp)
            .max_by_key(|(len, rank, _)| (*len, *rank))
            .map(|(_, _, route)| route)
    }

    /// The NBMA address `ip` is reached at through a binding, if any.
    pub fn nbma_for(&self, ip: IpAddr) -> Option<IpAddr> {
        let route = self.route(ip)?;
        self.bindings.get(&route.next_hop).copied()
    }

    /// The NBMA address of the first NHS with a binding: where packets go
    /// while their own next hop cannot be used yet.
    pub fn via_nhs(&self) -> Option<IpAddr> {
        self.config
            .nhs
            .iter()
            .find_map(|nhs| self.bindings.get(nhs).copied())
    }

    fn is_multicast(&self, dst: IpAddr) -> bool {
        match (dst, self.config.tunnel) {
            (IpAddr::V4(d), IpNetwork::V4(net)) => {
                d.is_multicast() || d.is_broadcast() || (net.prefix() < 31 && d == net.broadcast())
            }
            (IpAddr::V4(d), _) => d.is_multicast() || d.is_broadcast(),
            (IpAddr::V6(d), _) => d.is_multicast(),
        }
    }

    /// Decides where an IP packet read from the TUN device goes.
    pub fn outbound(&mut self, packet: &[u8], now: Instant) -> Outbound {
        let mut events = vec![];
        let decision = self.decide(packet, now, &mut events);
        Outbound { decision, events }
    }

    fn decide(
        &mut self,
        packet: &[u8],
        now: Instant,
        events: &mut Vec<DataPlaneEvent>,
    ) -> Decision {
        let Some((src, dst, header_len)) = ip_addresses(packet) else {
            return Decision::Drop(DropReason::Malformed);
        };
        if self.is_multicast(dst) {
            if self.multicast.is_empty() {
                return Decision::Drop(DropReason::NoMulticastPeers);
            }
            return Decision::Replicate(self.multicast.iter().copied().collect());
        }
        let Some(route) = self.route(dst) else {
            // The kernel routed it here but we do not mirror that route
            // (yet): the NHS knows more than we do.
            return self
                .via_nhs()
                .map_or(Decision::Drop(DropReason::NoRoute), Decision::Unicast);
        };
        if let Some(prefix) = route.nhrp_prefix
            && rate_limit(&mut self.last_used, prefix, now, USED_INTERVAL)
        {
            events.push(DataPlaneEvent::Used { prefix });
        }
        let Some(nbma) = self.bindings.get(&route.next_hop).copied() else {
            // Phase 2: resolve the next hop; meanwhile the NHS forwards.
            if rate_limit(&mut self.last_miss, route.next_hop, now, MISS_INTERVAL) {
                events.push(DataPlaneEvent::Miss {
                    next_hop: route.next_hop,
                });
            }
            return self
                .via_nhs()
                .map_or(Decision::Drop(DropReason::NoBinding), Decision::Unicast);
        };
        // Phase 3: a packet from peer A leaving towards peer B on the same
        // tunnel is a hairpin; A should talk to B directly.
        if self.config.redirect
            && let Some(from) = self.nbma_for(src)
            && from != nbma
            && rate_limit(&mut self.last_hairpin, (src, dst), now, HAIRPIN_INTERVAL)
        {
            let len = packet.len().min(header_len + 8);
            events.push(DataPlaneEvent::Hairpin {
                from_nbma: from,
                packet: packet[..len].to_vec(),
            });
        }
        Decision::Unicast(nbma)
    }
}

/// Whether an event for `key` may be sent at `now`, recording it if so.
fn rate_limit<K: Eq + Hash>(
    last: &mut HashMap<K, Instant>,
    key: K,
    now: Instant,
    interval: Duration,
) -> bool {
    if last
        .get(&key)
        .is_some_and(|at| now.saturating_duration_since(*at) < interval)
    {
        return false;
    }
    if last.len() >= RATE_LIMIT_ENTRIES {
        last.retain(|_, at| now.saturating_duration_since(*at) < interval);
    }
    last.insert(key, now);
    true
}

#[cfg(test)]
#[path = "forwarding_tests.rs"]
mod tests;
