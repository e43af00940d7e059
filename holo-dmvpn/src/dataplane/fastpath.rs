//! The eBPF fast path of a tunnel (`data-plane ebpf`): `bpf/fastpath.c`,
//! compiled by clang at build time, attached with tcx links at the TUN
//! device's egress and the underlay interface's ingress, and the maps it
//! reads, kept here in step with the userspace plane's forwarding state.
//!
//! ```text
//!   kernel route into dmvpn0 --> [egress]  LPM(dst) -> binding -> GRE -> underlay (redirect_neigh)
//!                                   | anything else: TC_ACT_OK
//!                                   v
//!                              TUN device --> userspace plane (misses, multicast, SYNs, ...)
//!   underlay --> [ingress] GRE, our key, known peer -> decapsulated -> TUN device (as received)
//!                   | anything else: TC_ACT_OK -> IP stack -> the raw GRE socket
//! ```
//!
//! The userspace plane stays whole: it keeps its TUN device and socket and
//! decides every packet the program hands on (the program's header says
//! which). This module only mirrors what the userspace plane already knows
//! into maps, in the data-plane task, as each change is applied: a binding
//! removed is gone from the map before the task reads another packet.
//!
//! Decisions:
//! - tcx links (kernel 6.6+), never netlink tc filters: a link belongs to
//!   its file descriptor, so a daemon killed with SIGKILL leaves no program
//!   attached and no map behind; a start never meets a stale one.
//! - The program's maps are bounded (262 144 routes, bindings and peers);
//!   an entry that does not fit is left to the userspace plane (counted,
//!   logged once).
//! - Counters: the program counts per CPU; a peer's entry is made when its
//!   first binding arrives and, when its last binding goes, folded into
//!   `folded` before it is deleted, so no packet counted is lost.
//! - IPv4 inside the tunnel; IPv6 packets go on to the userspace plane
//!   (no test of IPv6 over the tunnel exists yet to hold the program to).
//! - Not used (the userspace plane carries the tunnel, and says why): with
//!   IPsec protection (no kernel ESP here), with the underlay in another
//!   namespace (a redirect cannot cross namespaces), while the tunnel
//!   source is not up, and for an IPv6 underlay.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use aya::Ebpf;
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap};
use aya::programs::tc::{SchedClassifierLinkId, TcAttachOptions};
use aya::programs::{LinkOrder, SchedClassifier, TcAttachType};
use ipnetwork::IpNetwork;
use serde::Serialize;

use super::counters::{Counters, PeerLines, Traffic};
use super::forwarding::Forwarding;

/// The compiled program (empty when clang was missing at build time).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fastpath.o"));

const CONFIG_ENABLED: u8 = 1;
const CONFIG_KEY: u8 = 2;
const CONFIG_REDIRECT: u8 = 4;
const CONFIG_TUNNEL6: u8 = 8;
const ROUTE_ON_LINK: u32 = 1;
const ROUTE_NHRP: u32 = 2;

/// What the program counts per reason (`enum reason` in fastpath.c, same
/// order).
pub const REASONS: [&str; 16] = [
    "fast-out",
    "fast-in",
    "slow-multicast",
    "slow-syn",
    "slow-no-route",
    "slow-miss",
    "slow-peer",
    "slow-hairpin",
    "slow-used",
    "slow-too-big",
    "slow-encap",
    "slow-gso-forward",
    "slow-other",
    "drop-spoofed",
    "drop-error",
    "fast-in-coalesced",
];

/// The tunnel settings the program needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastPathConfig {
    /// The TUN device.
    pub interface: String,
    pub tunnel: IpNetwork,
    /// Our NBMA address; unspecified while the source is not up.
    pub source: Ipv4Addr,
    pub key: Option<u32>,
    pub mtu: u16,
    pub ttl: u8,
    pub redirect: bool,
    /// Why the fast path must stand aside while this configuration holds
    /// (IPsec, a front-door namespace); `None`: it may run.
    pub bypass: Option<String>,
}

/// The fast path's state, for YANG and `show`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FastPathSnapshot {
    /// Whether the program forwards now.
    pub active: bool,
    /// Why not, when it does not.
    pub reason: Option<String>,
    /// The underlay interface the ingress program is attached to.
    pub underlay: Option<String>,
    /// Packets per reason (`REASONS`).
    pub reasons: BTreeMap<&'static str, u64>,
    pub bindings: usize,
    pub routes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("this dmvpnd was built without the eBPF program (clang was missing at build time)")]
    NotBuilt,
    #[error("loading the eBPF program: {0}")]
    Load(String),
    #[error("the eBPF program's map {0} is missing or of another type")]
    Map(&'static str),
    #[error("attaching the eBPF program to {interface} ({direction}): {error}")]
    Attach {
        interface: String,
        direction: &'static str,
        error: String,
    },
}

/// A route as installed in the program's LPM map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Installed {
    next_hop: Option<IpAddr>,
    flags: u32,
}

/// The loaded program, its links and maps.
pub struct FastPath {
    /// Owns the programs and their tcx links: dropping it detaches both.
    ebpf: Ebpf,
    egress: Option<SchedClassifierLinkId>,
    ingress: Option<(String, SchedClassifierLinkId)>,
    config_map: Array<MapData, [u8; 44]>,
    routes4: LpmTrie<MapData, [u8; 4], [u8; 32]>,
    bindings: BpfHashMap<MapData, [u8; 16], [u8; 8]>,
    peers: BpfHashMap<MapData, u32, u32>,
    peer_stats: PerCpuHashMap<MapData, u32, [u64; 4]>,
    totals: PerCpuArray<MapData, [u64; 4]>,
    reasons: PerCpuArray<MapData, u64>,
    config: FastPathConfig,
    tun_ifindex: u32,
    /// Why the program does not forward now; `None`: it does.
    inactive: Option<String>,
    installed: BTreeMap<IpNetwork, Installed>,
    bound: HashMap<IpAddr, Ipv4Addr>,
    /// Bindings per NBMA address: its peer entries live while this is > 0.
    peer_refs: HashMap<Ipv4Addr, u32>,
    /// Counts of peers whose entries were removed.
    folded: BTreeMap<Ipv4Addr, [u64; 4]>,
    warned_full: bool,
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath")
            .field("config", &self.config)
            .field("ingress", &self.ingress.as_ref().map(|(i, _)| i))
            .field("inactive", &self.inactive)
            .field("routes", &self.installed.len())
            .field("bindings", &self.bound.len())
            .finish()
    }
}

/// `struct config` of fastpath.c: indexes in host byte order, addresses
/// and the key in network byte order.
fn encode_config(
    c: &FastPathConfig,
    tun_ifindex: u32,
    underlay_ifindex: u32,
    enabled: bool,
) -> [u8; 44] {
    let mut bytes = [0u8; 44];
    bytes[0..4].copy_from_slice(&tun_ifindex.to_ne_bytes());
    bytes[4..8].copy_from_slice(&underlay_ifindex.to_ne_bytes());
    bytes[8..12].copy_from_slice(&c.source.octets());
    bytes[12..16].copy_from_slice(&c.key.unwrap_or(0).to_be_bytes());
    let mut flags = 0;
    match c.tunnel {
        IpNetwork::V4(net) => {
            bytes[16..20].copy_from_slice(&net.ip().octets());
            if net.prefix() < 31 {
                bytes[20..24].copy_from_slice(&net.broadcast().octets());
            }
        }
        IpNetwork::V6(net) => {
            bytes[28..44].copy_from_slice(&net.ip().octets());
            flags |= CONFIG_TUNNEL6;
        }
    }
    bytes[24..26].copy_from_slice(&c.mtu.to_ne_bytes());
    bytes[26] = c.ttl;
    if enabled {
        flags |= CONFIG_ENABLED;
    }
    if c.key.is_some() {
        flags |= CONFIG_KEY;
    }
    if c.redirect {
        flags |= CONFIG_REDIRECT;
    }
    bytes[27] = flags;
    bytes
}

fn mapped(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// An error and its causes, on one line (aya's errors nest the reason).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn ifindex(name: &str) -> Result<u32, String> {
    nix::net::if_::if_nametoindex(name).map_err(|e| format!("{name}: {e}"))
}

/// The interface holding `source`, in the calling thread's namespace.
fn interface_of(source: Ipv4Addr) -> Option<String> {
    let addresses = nix::ifaddrs::getifaddrs().ok()?;
    for entry in addresses {
        let Some(address) = entry.address else {
            continue;
        };
        if let Some(sin) = address.as_sockaddr_in()
            && sin.ip() == source
        {
            return Some(entry.interface_name);
        }
    }
    None
}

impl FastPath {
    /// Loads the program, attaches it at the TUN device's egress (and at
    /// the underlay's ingress once the source is up) and fills its
    /// configuration. The TUN device must exist.
    pub fn open(config: FastPathConfig) -> Result<FastPath, Unavailable> {
        if OBJECT.is_empty() {
            return Err(Unavailable::NotBuilt);
        }
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| Unavailable::Load(chain(&e)))?;
        for name in ["egress", "ingress"] {
            let program: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or_else(|| Unavailable::Load(format!("no program {name}")))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| Unavailable::Load(chain(&e)))?;
            program
                .load()
                .map_err(|e| Unavailable::Load(format!("{name}: {}", chain(&e))))?;
        }
        macro_rules! take {
            ($name:literal) => {
                ebpf.take_map($name)
                    .ok_or(Unavailable::Map($name))?
                    .try_into()
                    .map_err(|_| Unavailable::Map($name))?
            };
        }
        let config_map = take!("config");
        let routes4 = take!("routes4");
        let bindings = take!("bindings");
        let peers = take!("peers");
        let peer_stats = take!("peer_stats");
        let totals = take!("totals");
        let reasons = take!("reasons");
        let tun_ifindex = ifindex(&config.interface).map_err(|error| Unavailable::Attach {
            interface: config.interface.clone(),
            direction: "egress",
            error,
        })?;
        let mut fast = FastPath {
            ebpf,
            egress: None,
            ingress: None,
            config_map,
            routes4,
            bindings,
            peers,
            peer_stats,
            totals,
            reasons,
            config: config.clone(),
            tun_ifindex,
            inactive: Some("starting".to_string()),
            installed: BTreeMap::new(),
            bound: HashMap::new(),
            peer_refs: HashMap::new(),
            folded: BTreeMap::new(),
            warned_full: false,
        };
        let interface = config.interface.clone();
        fast.egress = Some(fast.attach("egress", &interface, TcAttachType::Egress)?);
        fast.reconfigure(config);
        Ok(fast)
    }

    fn attach(
        &mut self,
        name: &'static str,
        interface: &str,
        direction: TcAttachType,
    ) -> Result<SchedClassifierLinkId, Unavailable> {
        let error = |error: String| Unavailable::Attach {
            interface: interface.to_string(),
            direction: name,
            error,
        };
        let program: &mut SchedClassifier = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| error("no program".to_string()))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| error(e.to_string()))?;
        program
            .attach_with_options(
                interface,
                direction,
                TcAttachOptions::TcxOrder(LinkOrder::default()),
            )
            .map_err(|e| error(format!("{} (tcx links need Linux 6.6 or later)", chain(&e))))
    }

    fn detach_ingress(&mut self) {
        if let Some((interface, link)) = self.ingress.take() {
            let program: Result<&mut SchedClassifier, _> = match self.ebpf.program_mut("ingress") {
                Some(program) => program.try_into(),
                None => return,
            };
            if let Ok(program) = program
                && let Err(error) = program.detach(link)
            {
                tracing::warn!(%interface, %error, "fast path: detaching the ingress program");
            }
        }
    }

    /// New settings (a commit, the source going up or down): the program
    /// reads them from the next packet. Moves the ingress program when the
    /// source moved to another interface.
    pub fn reconfigure(&mut self, config: FastPathConfig) {
        let mut inactive = config.bypass.clone();
        if inactive.is_none() && config.source.is_unspecified() {
            inactive = Some("the tunnel source is not up".to_string());
        }
        let underlay = match inactive {
            None => match interface_of(config.source) {
                Some(name) => Some(name),
                None => {
                    inactive = Some(format!("no interface holds {}", config.source));
                    None
                }
            },
            Some(_) => None,
        };
        let underlay_ifindex = match &underlay {
            Some(name) => match ifindex(name) {
                Ok(index) => index,
                Err(error) => {
                    inactive = Some(error);
                    0
                }
            },
            None => 0,
        };
        let attached = self.ingress.as_ref().map(|(i, _)| i.clone());
        if attached != underlay || inactive.is_some() {
            self.detach_ingress();
        }
        if inactive.is_none()
            && self.ingress.is_none()
            && let Some(name) = &underlay
        {
            match self.attach("ingress", name, TcAttachType::Ingress) {
                Ok(link) => self.ingress = Some((name.clone(), link)),
                Err(error) => inactive = Some(error.to_string()),
            }
        }
        self.config = config;
        self.write_config(underlay_ifindex, inactive.is_none());
        if inactive != self.inactive {
            match &inactive {
                None => tracing::info!(
                    interface = %self.config.interface,
                    underlay = ?self.ingress.as_ref().map(|(i, _)| i),
                    "eBPF fast path forwarding"
                ),
                Some(reason) => tracing::info!(
                    interface = %self.config.interface,
                    %reason,
                    "eBPF fast path standing aside: the userspace plane carries the tunnel"
                ),
            }
        }
        self.inactive = inactive;
    }

    fn write_config(&mut self, underlay_ifindex: u32, enabled: bool) {
        let bytes = encode_config(&self.config, self.tun_ifindex, underlay_ifindex, enabled);
        if let Err(error) = self.config_map.set(0, bytes, 0) {
            tracing::warn!(%error, "fast path: writing its configuration");
        }
    }

    /// Whether the program forwards now.
    pub fn active(&self) -> bool {
        self.inactive.is_none()
    }

    fn full(&mut self, what: &str, error: impl std::fmt::Display) {
        if !self.warned_full {
            self.warned_full = true;
            tracing::warn!(
                %error,
                "fast path: the {what} map refused an entry; the userspace plane forwards what \
                 is not in it (logged once)"
            );
        }
    }

    /// NHRP bound `protocol` to `nbma` (a new binding or a changed one).
    pub fn binding_added(&mut self, protocol: IpAddr, nbma: IpAddr) {
        let IpAddr::V4(nbma) = nbma else {
            // An IPv6 underlay is the userspace plane's.
            self.binding_removed(protocol);
            return;
        };
        if self.bound.get(&protocol) == Some(&nbma) {
            return;
        }
        self.binding_removed(protocol);
        if !self.peer_up(nbma) {
            return;
        }
        let mut value = [0u8; 8];
        value[0..4].copy_from_slice(&nbma.octets());
        if let Err(error) = self.bindings.insert(mapped(protocol), value, 0) {
            self.full("bindings", error);
            self.peer_down(nbma);
            return;
        }
        self.bound.insert(protocol, nbma);
    }

    pub fn binding_removed(&mut self, protocol: IpAddr) {
        if let Some(nbma) = self.bound.remove(&protocol) {
            let _ = self.bindings.remove(&mapped(protocol));
            self.peer_down(nbma);
        }
    }

    fn peer_key(nbma: Ipv4Addr) -> u32 {
        u32::from_ne_bytes(nbma.octets())
    }

    /// One more binding to `nbma`: its peer entries exist after this.
    fn peer_up(&mut self, nbma: Ipv4Addr) -> bool {
        if let Some(refs) = self.peer_refs.get_mut(&nbma) {
            *refs += 1;
            return true;
        }
        let key = Self::peer_key(nbma);
        let zeros = match aya::maps::PerCpuValues::try_from(vec![
            [0u64; 4];
            aya::util::nr_cpus()
                .map_err(|(_, e)| e)
                .unwrap_or(1)
        ]) {
            Ok(zeros) => zeros,
            Err(error) => {
                self.full("peer_stats", error);
                return false;
            }
        };
        if let Err(error) = self.peer_stats.insert(key, zeros, 0) {
            self.full("peer_stats", error);
            return false;
        }
        if let Err(error) = self.peers.insert(key, 1, 0) {
            let _ = self.peer_stats.remove(&key);
            self.full("peers", error);
            return false;
        }
        self.peer_refs.insert(nbma, 1);
        true
    }

    /// One binding less to `nbma`; the last one folds its counters.
    fn peer_down(&mut self, nbma: Ipv4Addr) {
        let Some(refs) = self.peer_refs.get_mut(&nbma) else {
            return;
        };
        *refs -= 1;
        if *refs > 0 {
            return;
        }
        self.peer_refs.remove(&nbma);
        let key = Self::peer_key(nbma);
        let _ = self.peers.remove(&key);
        let counts = self.peer_counts(key);
        let folded = self.folded.entry(nbma).or_default();
        for (total, n) in folded.iter_mut().zip(counts) {
            *total += n;
        }
        let _ = self.peer_stats.remove(&key);
    }

    fn peer_counts(&self, key: u32) -> [u64; 4] {
        let mut sum = [0u64; 4];
        if let Ok(values) = self.peer_stats.get(&key, 0) {
            for cpu in values.iter() {
                for (total, n) in sum.iter_mut().zip(cpu) {
                    *total += n;
                }
            }
        }
        sum
    }

    /// The route the program should hold for `prefix`, from the userspace
    /// plane's tables (the same preference as `Forwarding::route`: NHRP
    /// over kernel over on-link at equal length).
    fn wanted(forwarding: &Forwarding, prefix: &IpNetwork) -> Option<Installed> {
        if let Some(next_hop) = forwarding.nhrp_routes().get(prefix) {
            return Some(Installed {
                next_hop: Some(*next_hop),
                flags: ROUTE_NHRP,
            });
        }
        if let Some(next_hop) = forwarding.kernel_routes().get(prefix) {
            return Some(Installed {
                next_hop: Some(*next_hop),
                flags: 0,
            });
        }
        let tunnel = forwarding.config().tunnel;
        let subnet = IpNetwork::new(tunnel.network(), tunnel.prefix()).ok()?;
        (subnet == *prefix).then_some(Installed {
            next_hop: None,
            flags: ROUTE_ON_LINK,
        })
    }

    /// Brings `prefix` in line with the userspace plane's tables.
    pub fn sync_prefix(&mut self, forwarding: &Forwarding, prefix: IpNetwork) {
        let IpNetwork::V4(net) = prefix else {
            return; // IPv6 inside the tunnel is the userspace plane's
        };
        let wanted = Self::wanted(forwarding, &prefix);
        if self.installed.get(&prefix).copied() == wanted {
            return;
        }
        match wanted {
            Some(route) => {
                let mut value = [0u8; 32];
                if let Some(next_hop) = route.next_hop {
                    value[0..16].copy_from_slice(&mapped(next_hop));
                }
                value[16..20].copy_from_slice(&route.flags.to_ne_bytes());
                let key = Key::new(u32::from(net.prefix()), net.network().octets());
                let result = self.routes4.insert(&key, value, 0);
                match result {
                    Ok(()) => {
                        self.installed.insert(prefix, route);
                    }
                    Err(error) => {
                        // Stale is worse than missing: the old entry goes.
                        self.remove_route(prefix);
                        self.full("routes", error);
                    }
                }
            }
            None => self.remove_route(prefix),
        }
    }

    fn remove_route(&mut self, prefix: IpNetwork) {
        if self.installed.remove(&prefix).is_none() {
            return;
        }
        if let IpNetwork::V4(net) = prefix {
            let key = Key::new(u32::from(net.prefix()), net.network().octets());
            let _ = self.routes4.remove(&key);
        }
    }

    /// Brings every route in line (the kernel's table changed, or the
    /// tunnel subnet).
    pub fn sync_routes(&mut self, forwarding: &Forwarding) {
        let tunnel = forwarding.config().tunnel;
        let mut prefixes: Vec<IpNetwork> = self.installed.keys().copied().collect();
        prefixes.extend(forwarding.kernel_routes().keys().copied());
        prefixes.extend(forwarding.nhrp_routes().keys().copied());
        prefixes.extend(IpNetwork::new(tunnel.network(), tunnel.prefix()).ok());
        prefixes.sort();
        prefixes.dedup();
        for prefix in prefixes {
            self.sync_prefix(forwarding, prefix);
        }
    }

    /// Adds what the program forwarded to `counters`: the tunnel totals,
    /// and the lines of every peer, or of one alone (a one-peer query
    /// reads one map entry, whatever the number of peers); a page's lines
    /// are added by [`add_peer`](Self::add_peer) for its addresses.
    pub fn add_counters(&self, lines: PeerLines, counters: &mut Counters) {
        let mut totals = [0u64; 4];
        if let Ok(values) = self.totals.get(&0, 0) {
            for cpu in values.iter() {
                for (total, n) in totals.iter_mut().zip(cpu) {
                    *total += n;
                }
            }
        }
        bump(&mut counters.tunnel, totals);
        counters.tunnel.coalesced_in += self.reason(REASONS.len() - 1);
        match lines {
            PeerLines::One(nbma) => self.add_peer(nbma, counters),
            PeerLines::All => {
                for nbma in self.peers_after(None, usize::MAX) {
                    self.add_peer(nbma, counters);
                }
            }
            PeerLines::Page { .. } => {}
        }
    }

    /// The NBMA addresses the program counts for (bound now or before),
    /// the first `peers` after `after` in address order.
    pub fn peers_after(&self, after: Option<IpAddr>, peers: usize) -> Vec<IpAddr> {
        let after = |n: &Ipv4Addr| after.is_none_or(|after| IpAddr::V4(*n) > after);
        let mut all: Vec<IpAddr> = (self.folded.keys().filter(|n| after(n)))
            .chain((self.peer_refs.keys()).filter(|n| !self.folded.contains_key(n) && after(n)))
            .map(|n| IpAddr::V4(*n))
            .collect();
        // The maps are hashed: a page costs a pass over them.
        if all.len() > peers {
            all.select_nth_unstable(peers);
            all.truncate(peers);
        }
        all.sort_unstable();
        all
    }

    /// Adds `nbma`'s line (when the program counted anything for it).
    pub fn add_peer(&self, nbma: IpAddr, counters: &mut Counters) {
        let IpAddr::V4(nbma) = nbma else {
            return;
        };
        let mut counts = self.folded.get(&nbma).copied().unwrap_or_default();
        if self.peer_refs.contains_key(&nbma) {
            for (total, n) in counts
                .iter_mut()
                .zip(self.peer_counts(Self::peer_key(nbma)))
            {
                *total += n;
            }
        }
        if counts != [0; 4] {
            bump(counters.peers.entry(IpAddr::V4(nbma)).or_default(), counts);
        }
    }

    /// Packets of reason `i` (`REASONS`), summed over the CPUs.
    fn reason(&self, i: usize) -> u64 {
        u32::try_from(i)
            .ok()
            .and_then(|i| self.reasons.get(&i, 0).ok())
            .map(|values| values.iter().sum())
            .unwrap_or(0)
    }

    /// Packets per reason, summed over the CPUs.
    pub fn reasons(&self) -> BTreeMap<&'static str, u64> {
        (REASONS.iter().enumerate())
            .map(|(i, name)| (*name, self.reason(i)))
            .collect()
    }

    pub fn snapshot(&self) -> FastPathSnapshot {
        FastPathSnapshot {
            active: self.active(),
            reason: self.inactive.clone(),
            underlay: self.ingress.as_ref().map(|(i, _)| i.clone()),
            reasons: self.reasons(),
            bindings: self.bound.len(),
            routes: self.installed.len(),
        }
    }
}

impl Drop for FastPath {
    fn drop(&mut self) {
        // The links go with `ebpf`; said here so the log shows it.
        tracing::info!(interface = %self.config.interface, "eBPF fast path removed");
    }
}

/// Adds a line's packets and bytes (in, out) to `t`.
fn bump(t: &mut Traffic, counts: [u64; 4]) {
    t.packets_in += counts[0];
    t.bytes_in += counts[1];
    t.packets_out += counts[2];
    t.bytes_out += counts[3];
}

#[cfg(test)]
#[path = "fastpath_tests.rs"]
mod tests;
