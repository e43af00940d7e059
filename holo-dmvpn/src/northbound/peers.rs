//! The tunnel's peer table and data-plane counters as `dmvpn-tunnel`
//! state: what operators know from Cisco's `show dmvpn`, one row per peer
//! NBMA address, joined from the NHRP instance (who the peer is, since
//! when, until when) and the data plane (packets and bytes exchanged,
//! drops).
//!
//! ```text
//!   Get STATE --> TunnelState: Nhrp::state_of()    (cache, NHS status; of one
//!                                                   NBMA address when the
//!                                                   path names one peer)
//!                              Planes::counters()  (counters per NBMA)
//!                              Planes::snapshot()  (statistics, IPsec)
//!                 --> peer_table() --> /interfaces/interface/tunnel/{peer,statistics}
//!   (only the parts the request's path asks for; the NHRP instance only
//!   when it asks for peers)
//! ```
//!
//! The join lives in the daemon because it is the one place that knows
//! both: holo-nhrp knows no data plane and holo-dmvpn no NHRP cache.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use crate::dataplane::{Counters, PeerLines, Traffic};
use futures_util::StreamExt;
use holo_nhrp::cache::{EntryType, NatPath};
use holo_nhrp::driver::{CacheWanted, State, Wanted};
use holo_nhrp::nhc::NhsStatus;
use northbound::{BoxFuture, Parts, StateFilter, StateProvider};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use super::userspace::{Planes, SourceStatus};
use crate::yang::dmvpn_tunnel::tunnel::peer::{self, counters};
use crate::yang::dmvpn_tunnel::{self, tunnel};
use holo_ike::yang::dmvpn_ipsec::PROTECTION_NAME;

/// The state provider of `dmvpn-tunnel`'s `peer` list and `statistics`.
#[derive(Debug)]
pub struct TunnelState {
    pub dmvpn: super::Dmvpn,
    pub planes: Planes,
}

impl StateProvider for TunnelState {
    fn name(&self) -> &str {
        "tunnel"
    }

    fn state<'a>(&'a self, filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { document(&self.interfaces(filter).await) })
    }

    /// The tunnel nodes first (one part, with the peer of a request for
    /// one by its key), then each interface's peer rows `page` at a time
    /// in NBMA address order, each page joined when it is taken from the
    /// NHRP cache's and the data plane's pages after the last address of
    /// the one before: a 100 000-peer table is never whole in memory.
    fn state_parts<'a>(
        &'a self,
        filter: &'a StateFilter,
        page: usize,
    ) -> BoxFuture<'a, Result<Parts<'a>, String>> {
        Box::pin(async move {
            let mut paged = VecDeque::new();
            let interfaces = self.interfaces_deferring(filter, Some(&mut paged)).await;
            let first = (!interfaces.is_empty()).then(|| document(&interfaces));
            let page = page.max(1);
            let pages = futures_util::stream::unfold(
                (paged, None::<IpAddr>),
                move |(mut paged, mut after)| async move {
                    loop {
                        let name: String = paged.front()?.clone();
                        // `None`: the instance went away meanwhile.
                        let (rows, end) =
                            (self.peer_page(filter, &name, after, page).await).unwrap_or_default();
                        after = end;
                        if end.is_none() {
                            paged.pop_front();
                        }
                        if rows.is_empty() {
                            continue;
                        }
                        let part = document(&[InterfaceNode {
                            name,
                            tunnel: json!({}),
                            peers: Some(rows),
                        }]);
                        return Some((part, (paged, after)));
                    }
                },
            );
            let parts = futures_util::stream::iter(first).chain(pages);
            Ok(Box::pin(parts) as Parts<'a>)
        })
    }
}

/// `{"ietf-interfaces:interfaces":{"interface":[...]}}`, written once in
/// place (no second copy of a large table's text); `{}` for no interface.
fn document(interfaces: &[InterfaceNode]) -> Result<String, String> {
    if interfaces.is_empty() {
        return Ok("{}".to_owned());
    }
    let mut text = br#"{"ietf-interfaces:interfaces":{"interface":"#.to_vec();
    serde_json::to_writer(&mut text, interfaces).map_err(|e| e.to_string())?;
    text.extend_from_slice(b"}}");
    String::from_utf8(text).map_err(|e| e.to_string())
}

impl TunnelState {
    /// The interface entries `filter` asks for, each with its tunnel node
    /// and (when asked) its peer rows.
    async fn interfaces(&self, filter: &StateFilter) -> Vec<InterfaceNode> {
        self.interfaces_deferring(filter, None).await
    }

    /// As `interfaces`; with `deferred`, the peer rows of an interface
    /// whose whole table is asked for are left out and its name added
    /// there, for `peer_page` to render a page at a time.
    async fn interfaces_deferring(
        &self,
        filter: &StateFilter,
        mut deferred: Option<&mut VecDeque<String>>,
    ) -> Vec<InterfaceNode> {
        let tunnel_name = dmvpn_tunnel::TUNNEL_NAME;
        if !filter.wants(None, &[tunnel_name]) {
            return vec![];
        }
        let mut interfaces = vec![];
        for name in self.dmvpn.interfaces() {
            if !filter.wants(Some(&name), &[tunnel_name]) {
                continue;
            }
            let wants = |node: &str| filter.wants(Some(&name), &[tunnel_name, node]);
            let peers_wanted = wants(tunnel::PEER_NAME);
            // The peer table joins the NHRP cache with the data plane's
            // counters: only a request for it asks the instance.
            let mut asked = peers_asked(filter, &name);
            let defer = matches!(asked, Some((_, None))) && deferred.is_some();
            if let Some(names) = deferred.as_mut().filter(|_| defer) {
                asked = None;
                names.push_back(name.clone());
            }
            let state = match asked {
                None => None,
                Some((wanted, _)) => match self.dmvpn.state_of(&name, wanted).await {
                    Some(state) => Some(state),
                    None => continue,
                },
            };
            let snapshot = match wants(tunnel::STATISTICS_NAME)
                || wants(PROTECTION_NAME)
                || wants(tunnel::MULTICAST_NBMA_ADDRESS_NAME)
                || wants(tunnel::DATA_PLANE_IN_USE_NAME)
                || wants(tunnel::FAST_PATH_REASON_NAME)
                || wants(tunnel::FAST_PATH_NAME)
            {
                true => self.planes.snapshot(&name).await,
                false => None,
            };
            let counters = match (&state, &snapshot) {
                (None, _) => None,
                (Some(_), Some(snapshot)) => Some(snapshot.counters.clone()),
                (Some(_), None) => {
                    let one_peer = asked.and_then(|(_, one_peer)| one_peer);
                    let lines = match one_peer {
                        Some(peer) => PeerLines::One(peer),
                        None => PeerLines::All,
                    };
                    self.planes.counters(&name, lines).await
                }
            };
            let mut tunnel_node = json!({});
            let peers = (peers_wanted && !defer).then(|| {
                let table = match &state {
                    Some(state) => peer_table(state, counters, Instant::now()),
                    None => vec![],
                };
                wanted_rows(filter, &name, table)
            });
            drop(state);
            match self.planes.source(&name) {
                Some(SourceStatus::Up(address)) => {
                    tunnel_node[tunnel::OPER_STATUS_NAME] = json!("up");
                    tunnel_node[tunnel::SOURCE_ADDRESS_IN_USE_NAME] = json!(address);
                }
                Some(SourceStatus::Down(reason)) => {
                    tunnel_node[tunnel::OPER_STATUS_NAME] = json!("down");
                    tunnel_node[tunnel::DOWN_REASON_NAME] = json!(reason);
                }
                None => {}
            }
            if wants(tunnel::PEER_SUMMARY_NAME)
                && let Some(summary) = self.peer_summary(&name).await
            {
                tunnel_node[tunnel::PEER_SUMMARY_NAME] = summary;
            }
            if let Some(snapshot) = &snapshot {
                fast_path_json(snapshot, &mut tunnel_node);
                if wants(tunnel::STATISTICS_NAME) {
                    let mut statistics = traffic_json(&snapshot.counters.tunnel);
                    statistics[tunnel::statistics::OVERSIZE_OUT_NAME] =
                        json!(snapshot.counters.tunnel.oversize_out.to_string());
                    statistics[tunnel::statistics::COALESCED_IN_NAME] =
                        json!(snapshot.counters.tunnel.coalesced_in.to_string());
                    tunnel_node[tunnel::STATISTICS_NAME] = statistics;
                }
                if let Some(protection) = &snapshot.protection
                    && wants(PROTECTION_NAME)
                {
                    tunnel_node[PROTECTION_NAME] = super::ipsec::protection_json(protection);
                }
                if !snapshot.multicast.is_empty() && wants(tunnel::MULTICAST_NBMA_ADDRESS_NAME) {
                    tunnel_node[tunnel::MULTICAST_NBMA_ADDRESS_NAME] = json!(snapshot.multicast);
                }
            }
            interfaces.push(InterfaceNode {
                name,
                tunnel: tunnel_node,
                peers,
            });
        }
        interfaces
    }
}

/// The peer-table pages `peer-summary` counts through: larger than a
/// part's (no text is rendered from them), small enough that a page's
/// copies stay a few megabytes.
const SUMMARY_PAGE: usize = 10_000;

impl TunnelState {
    /// `peer-summary` of interface `name`: its peer table counted a page
    /// at a time (the rows `show dmvpn` lists, without rendering one).
    async fn peer_summary(&self, name: &str) -> Option<Value> {
        use tunnel::peer_summary as summary;
        let mut counts = [0_u32; 3];
        let mut after = None;
        let everything = StateFilter::everything();
        loop {
            let (rows, end) = self
                .peer_page(&everything, name, after, SUMMARY_PAGE)
                .await?;
            for row in rows {
                let state = row.state.unwrap_or(PeerState::Down);
                counts[state as usize] += 1;
            }
            after = end;
            if end.is_none() {
                break;
            }
        }
        let [up, nhrp, down] = counts;
        Some(json!({
            summary::PEERS_NAME: up + nhrp + down,
            summary::UP_NAME: up,
            summary::NHRP_NAME: nhrp,
            summary::DOWN_NAME: down,
        }))
    }

    /// The rows of interface `name`'s peer table with NBMA addresses after
    /// `after`, `page` of them or a few less, and the last address the
    /// page covers when more may follow (`None`: the table's end). The
    /// NHRP cache and the data plane each give their first `page`
    /// addresses after `after`; the page ends at the lower of their last
    /// ones (of a source that gave a full page), so that it holds every
    /// row of its range from both. `None` when the instance is gone.
    async fn peer_page(
        &self,
        filter: &StateFilter,
        name: &str,
        after: Option<IpAddr>,
        page: usize,
    ) -> Option<(Vec<Peer>, Option<IpAddr>)> {
        let wanted = Wanted {
            cache: CacheWanted::NbmaPage { after, peers: page },
            counters: false,
        };
        let mut state = self.dmvpn.state_of(name, wanted).await?;
        let lines = PeerLines::Page { after, peers: page };
        let mut counters = self.planes.counters(name, lines).await;
        let nbmas: BTreeSet<IpAddr> = state.cache.iter().filter_map(|e| e.nbma).collect();
        let cache_end = (nbmas.len() >= page)
            .then(|| nbmas.last().copied())
            .flatten();
        let end = match (cache_end, counters.as_ref().and_then(|c| c.page_end)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let within = |nbma: IpAddr| after.is_none_or(|a| nbma > a) && end.is_none_or(|e| nbma <= e);
        state.cache.retain(|e| e.nbma.is_some_and(within));
        state.nhs.retain(|nhs| within(nhs.nbma));
        if let Some(counters) = &mut counters {
            counters.peers.retain(|nbma, _| within(*nbma));
        }
        let rows = wanted_rows(filter, name, peer_table(&state, counters, Instant::now()));
        Some((rows, end))
    }
}

/// The rows of interface `name`'s table whose key `filter` may select.
fn wanted_rows(filter: &StateFilter, name: &str, table: Vec<Peer>) -> Vec<Peer> {
    let peer_path = [dmvpn_tunnel::TUNNEL_NAME, tunnel::PEER_NAME];
    (table.into_iter())
        .filter(|peer| {
            peer.nbma.is_none_or(|nbma| {
                let nbma = nbma.to_string();
                filter.wants_entry(name, &peer_path, peer::NBMA_ADDRESS_NAME, &nbma)
            })
        })
        .collect()
}

/// What the peer table of interface `name` needs for `filter`: the parts
/// of the NHRP instance's state, and whose per-peer counters (`Some`: one
/// peer's only, `None`: all); `None` when the request wants no peer row.
/// One peer by its key (`peer[nbma-address='...']`) is looked up in the
/// cache's NBMA index, nothing else copied; a key that is no address names
/// no peer (the selection compares addresses).
fn peers_asked(filter: &StateFilter, name: &str) -> Option<(Wanted, Option<IpAddr>)> {
    let peer_path = [dmvpn_tunnel::TUNNEL_NAME, tunnel::PEER_NAME];
    if !filter.wants(Some(name), &peer_path) {
        return None;
    }
    let one_peer = match filter.single_key(name, &peer_path, peer::NBMA_ADDRESS_NAME) {
        Some(key) => Some(key.parse::<IpAddr>().ok()?),
        None => None,
    };
    let cache = match one_peer {
        Some(nbma) => CacheWanted::Nbma(nbma),
        None => CacheWanted::All,
    };
    let wanted = Wanted {
        cache,
        counters: false,
    };
    Some((wanted, one_peer))
}

/// One interface entry of the rendered state. The peer list is written
/// peer by peer: a large hub's (100 000 rows) is never one JSON value in
/// memory.
struct InterfaceNode {
    name: String,
    /// The tunnel node, without its peers.
    tunnel: Value,
    peers: Option<Vec<Peer>>,
}

impl Serialize for InterfaceNode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("name", &self.name)?;
        let tunnel = TunnelNode {
            rest: &self.tunnel,
            peers: self.peers.as_deref(),
        };
        map.serialize_entry(dmvpn_tunnel::TUNNEL_NAME, &tunnel)?;
        map.end()
    }
}

struct TunnelNode<'a> {
    rest: &'a Value,
    peers: Option<&'a [Peer]>,
}

impl Serialize for TunnelNode<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(rest) = self.rest.as_object() {
            for (name, value) in rest {
                map.serialize_entry(name, value)?;
            }
        }
        if let Some(peers) = self.peers {
            let rows = PeerRows(peers);
            map.serialize_entry(tunnel::PEER_NAME, &rows)?;
        }
        map.end()
    }
}

struct PeerRows<'a>(&'a [Peer]);

impl Serialize for PeerRows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Peer::to_json))
    }
}

/// The data plane in use and what the fast path decided (the northbound
/// selects what was asked for).
fn fast_path_json(snapshot: &crate::dataplane::Snapshot, tunnel_node: &mut Value) {
    use tunnel::fast_path as fp;
    tunnel_node[tunnel::DATA_PLANE_IN_USE_NAME] = json!(snapshot.data_plane);
    if let Some(reason) = &snapshot.fast_path_reason {
        tunnel_node[tunnel::FAST_PATH_REASON_NAME] = json!(reason);
    }
    let Some(fast) = &snapshot.fast_path else {
        return;
    };
    let count = |name: &str| fast.reasons.get(name).copied().unwrap_or(0);
    let to_userspace: Vec<Value> = fast
        .reasons
        .iter()
        .filter_map(|(name, n)| {
            let reason = name.strip_prefix("slow-")?;
            (*n > 0).then(|| {
                json!({
                    fp::to_userspace::REASON_NAME: reason,
                    fp::to_userspace::PACKETS_NAME: n.to_string(),
                })
            })
        })
        .collect();
    let mut node = json!({
        fp::FORWARDED_OUT_NAME: count("fast-out").to_string(),
        fp::FORWARDED_IN_NAME: count("fast-in").to_string(),
        fp::DROPPED_NAME: (count("drop-spoofed") + count("drop-error")).to_string(),
    });
    if !to_userspace.is_empty() {
        node[fp::TO_USERSPACE_NAME] = json!(to_userspace);
    }
    tunnel_node[tunnel::FAST_PATH_NAME] = node;
}

/// The state of a peer (dmvpn-tunnel `peer/state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerState {
    Up,
    Nhrp,
    Down,
}

/// One row of the peer table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    pub nbma: Option<IpAddr>,
    pub tunnel: Option<IpAddr>,
    pub claimed_nbma: Option<IpAddr>,
    pub state: Option<PeerState>,
    /// Since the oldest of its bindings was learnt.
    pub up_secs: Option<u64>,
    /// Until the last of its bindings expires.
    pub expires_secs: Option<u64>,
    /// `dynamic`, `static`, `nhs`, `shortcut`, `nat`.
    pub attributes: Attributes,
    pub entries: u32,
    pub traffic: Option<Traffic>,
}

/// The YANG bits of `attributes`, in the module's order.
const ATTRIBUTES: [&str; 5] = ["dynamic", "static", "nhs", "shortcut", "nat"];

/// A set of `ATTRIBUTES`, one bit each: a row of a 100 000-peer table
/// carries no allocation for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attributes(u8);

impl Attributes {
    /// Adds `name` (one of `ATTRIBUTES`; another name is no attribute).
    pub fn insert(&mut self, name: &str) {
        if let Some(bit) = ATTRIBUTES.iter().position(|a| *a == name) {
            self.0 |= 1 << bit;
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        (ATTRIBUTES.iter().position(|a| *a == name)).is_some_and(|bit| self.0 & (1 << bit) != 0)
    }

    /// The names in the module's order.
    pub fn names(&self) -> Vec<&'static str> {
        (ATTRIBUTES.into_iter().enumerate())
            .filter(|(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, name)| name)
            .collect()
    }
}

impl Peer {
    fn to_json(&self) -> Value {
        let mut node = json!({});
        if let Some(nbma) = self.nbma {
            node[peer::NBMA_ADDRESS_NAME] = json!(nbma);
        }
        if let Some(tunnel) = self.tunnel {
            node[peer::TUNNEL_ADDRESS_NAME] = json!(tunnel);
        }
        if let Some(claimed) = self.claimed_nbma {
            node[peer::CLAIMED_NBMA_ADDRESS_NAME] = json!(claimed);
        }
        if let Some(state) = self.state {
            node[peer::STATE_NAME] = json!(match state {
                PeerState::Up => "up",
                PeerState::Nhrp => "nhrp",
                PeerState::Down => "down",
            });
        }
        if let Some(up) = self.up_secs {
            node[peer::UP_TIME_NAME] = json!(u32::try_from(up).unwrap_or(u32::MAX));
        }
        if let Some(expires) = self.expires_secs {
            node[peer::EXPIRES_IN_NAME] = json!(u32::try_from(expires).unwrap_or(u32::MAX));
        }
        let bits = self.attributes.names();
        if !bits.is_empty() {
            node[peer::ATTRIBUTES_NAME] = json!(bits.join(" "));
        }
        node[peer::ENTRIES_NAME] = json!(self.entries);
        if let Some(traffic) = &self.traffic {
            node[peer::COUNTERS_NAME] = traffic_json(traffic);
        }
        node
    }
}

/// `traffic-counters` of dmvpn-tunnel (64-bit counters as strings, RFC 7951).
fn traffic_json(t: &Traffic) -> Value {
    let drops: Vec<Value> = t
        .drops
        .iter()
        .map(|(reason, count)| {
            let reason = serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', "-")))
                .unwrap_or_else(|| format!("{reason:?}"));
            json!({counters::drop::REASON_NAME: reason, counters::drop::COUNT_NAME: count.to_string()})
        })
        .collect();
    let mut node = json!({
        counters::PACKETS_IN_NAME: t.packets_in.to_string(),
        counters::BYTES_IN_NAME: t.bytes_in.to_string(),
        counters::PACKETS_OUT_NAME: t.packets_out.to_string(),
        counters::BYTES_OUT_NAME: t.bytes_out.to_string(),
        counters::NHRP_PACKETS_IN_NAME: t.nhrp_packets_in.to_string(),
        counters::NHRP_PACKETS_OUT_NAME: t.nhrp_packets_out.to_string(),
    });
    if !drops.is_empty() {
        node[counters::DROP_NAME] = json!(drops);
    }
    node
}

/// The peer table of one tunnel: every NBMA address the NHRP cache binds a
/// tunnel address to (static, registered, NHS, shortcut), every configured
/// NHS with its registration status, and every NBMA address the data plane
/// exchanged packets with (an unknown one shows as `down` without a tunnel
/// address: a misconfigured or hostile sender is visible, not hidden).
pub fn peer_table(state: &State, counters: Option<Counters>, now: Instant) -> Vec<Peer> {
    let mut peers: BTreeMap<IpAddr, Peer> = BTreeMap::new();
    // Per NBMA address: when its last binding expires (`None`: never).
    let mut latest: BTreeMap<IpAddr, Option<u64>> = BTreeMap::new();
    for entry in &state.cache {
        let attribute = match entry.ty {
            EntryType::Static => "static",
            EntryType::Dynamic => "dynamic",
            EntryType::Nhs => "nhs",
            EntryType::Shortcut => "shortcut",
            // Our own answers, failures and pending resolutions are no peer.
            EntryType::Local | EntryType::Negative | EntryType::Incomplete => continue,
        };
        let Some(nbma) = entry.nbma else { continue };
        let peer = peers.entry(nbma).or_default();
        peer.nbma = Some(nbma);
        // The host entry names the peer; a prefix entry only points at it.
        let host = entry.prefix.ip() == entry.next_hop;
        if peer.tunnel.is_none() || host {
            peer.tunnel = Some(entry.next_hop);
        }
        if entry.claimed_nbma.is_some() {
            peer.claimed_nbma = entry.claimed_nbma;
            peer.attributes.insert("nat");
        }
        peer.attributes.insert(attribute);
        peer.entries += 1;
        // A NATed binding whose direct path is not proven installs
        // nothing yet: the peer is still being resolved.
        let state = match entry.nat_path {
            NatPath::Pending => PeerState::Nhrp,
            NatPath::NotNated | NatPath::Verified => PeerState::Up,
        };
        peer.state = Some(peer.state.map_or(state, |known| known.min(state)));
        let up = now.saturating_duration_since(entry.created).as_secs();
        peer.up_secs = Some(peer.up_secs.map_or(up, |known| known.max(up)));
        let expires = entry
            .expires
            .map(|at| at.saturating_duration_since(now).as_secs());
        latest
            .entry(nbma)
            .and_modify(|known| {
                // An entry that never expires keeps the peer for good.
                *known = known.zip(expires).map(|(a, b)| a.max(b));
            })
            .or_insert(expires);
    }
    for (nbma, expires) in latest {
        if let Some(peer) = peers.get_mut(&nbma) {
            peer.expires_secs = expires;
        }
    }
    for nhs in &state.nhs {
        if nhs.nbma.is_unspecified() {
            // Known by name only, not resolved yet: no address to key on.
            continue;
        }
        let peer = peers.entry(nhs.nbma).or_default();
        peer.nbma = Some(nhs.nbma);
        peer.tunnel = Some(nhs.protocol);
        peer.attributes.insert("nhs");
        peer.state = Some(match nhs.status {
            NhsStatus::Up => PeerState::Up,
            NhsStatus::Connecting => PeerState::Nhrp,
            NhsStatus::Down => PeerState::Down,
        });
        if nhs.status != NhsStatus::Up {
            peer.up_secs = None;
        }
    }
    if let Some(counters) = counters {
        // Moved, not copied: a large hub's counters are ~13 MB.
        for (nbma, traffic) in counters.peers {
            let peer = peers.entry(nbma).or_default();
            peer.nbma = Some(nbma);
            peer.state.get_or_insert(PeerState::Down);
            peer.traffic = Some(traffic);
        }
    }
    peers.into_values().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use crate::dataplane::DropReason;
    use holo_nhrp::cache::Entry;
    use holo_nhrp::counters::Counters as NhrpCounters;
    use holo_nhrp::driver::NhsView;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn entry(prefix: &str, ty: EntryType, next_hop: &str, nbma: &str, age: u64) -> Entry {
        let now = Instant::now();
        let mut e = Entry::new(
            prefix.parse().unwrap(),
            ty,
            ip(next_hop),
            now - Duration::from_secs(age),
        );
        e.nbma = Some(ip(nbma));
        e.expires = Some(now + Duration::from_secs(100));
        e
    }

    #[test]
    fn one_row_per_nbma_address_with_nhs_status_and_counters() {
        let now = Instant::now();
        let mut nat = entry(
            "10.0.0.12/32",
            EntryType::Dynamic,
            "10.0.0.12",
            "198.51.100.9",
            30,
        );
        nat.claimed_nbma = Some(ip("10.1.0.12"));
        nat.nat_path = NatPath::Pending;
        let state = State {
            cache: vec![
                entry(
                    "10.0.0.11/32",
                    EntryType::Dynamic,
                    "10.0.0.11",
                    "192.0.2.11",
                    60,
                ),
                entry(
                    "172.16.1.0/24",
                    EntryType::Shortcut,
                    "10.0.0.11",
                    "192.0.2.11",
                    5,
                ),
                nat,
                entry("10.0.0.1/32", EntryType::Nhs, "10.0.0.1", "192.0.2.1", 90),
                entry(
                    "172.16.9.0/24",
                    EntryType::Negative,
                    "10.0.0.9",
                    "192.0.2.9",
                    1,
                ),
            ],
            nhs: vec![NhsView {
                protocol: ip("10.0.0.1"),
                nbma: ip("192.0.2.1"),
                priority: 0,
                status: NhsStatus::Down,
                registrations_sent: 7,
                replies_received: 1,
            }],
            counters: NhrpCounters::default(),
        };
        let mut counters = Counters::default();
        counters.data_in(ip("192.0.2.11"), 100);
        counters.drop(Some(ip("203.0.113.66")), DropReason::WrongKey);
        let table = peer_table(&state, Some(counters), now);
        let nbmas: Vec<_> = table.iter().map(|p| p.nbma.unwrap().to_string()).collect();
        assert_eq!(
            nbmas,
            ["192.0.2.1", "192.0.2.11", "198.51.100.9", "203.0.113.66"]
        );

        let hub = &table[0];
        assert_eq!(hub.state, Some(PeerState::Down), "the NHS status wins");
        assert_eq!(hub.up_secs, None);
        assert!(hub.attributes.contains("nhs"));

        let s1 = &table[1];
        assert_eq!(s1.tunnel, Some(ip("10.0.0.11")));
        assert_eq!(s1.entries, 2);
        assert_eq!(s1.state, Some(PeerState::Up));
        assert!((59..62).contains(&s1.up_secs.unwrap()), "{:?}", s1.up_secs);
        assert_eq!(
            s1.attributes.names(),
            ["dynamic", "shortcut"],
            "the negative entry is no peer"
        );
        assert_eq!(s1.traffic.as_ref().unwrap().bytes_in, 100);

        let natted = &table[2];
        assert_eq!(natted.claimed_nbma, Some(ip("10.1.0.12")));
        assert!(natted.attributes.contains("nat"));
        assert_eq!(
            natted.state,
            Some(PeerState::Nhrp),
            "direct path not proven yet"
        );
        assert_eq!(natted.traffic, None);

        let stranger = &table[3];
        assert_eq!(stranger.tunnel, None);
        assert_eq!(stranger.state, Some(PeerState::Down));
        let json = stranger.to_json();
        assert_eq!(json["counters"]["drop"][0]["reason"], "wrong-key");
        assert_eq!(json["counters"]["drop"][0]["count"], "1");
        assert_eq!(table[1].to_json()["attributes"], "dynamic shortcut");
    }

    #[test]
    fn one_peer_by_key_asks_for_that_peer_only() {
        let tun0 = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel";
        let every = "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel";
        let all = Wanted {
            cache: CacheWanted::All,
            counters: false,
        };
        let one = |nbma: &str| {
            let wanted = Wanted {
                cache: CacheWanted::Nbma(ip(nbma)),
                counters: false,
            };
            Some((wanted, Some(ip(nbma))))
        };
        let asked = |xpath: &str, name: &str| peers_asked(&StateFilter::new(xpath), name);
        let by_key = format!("{tun0}/peer[nbma-address='2001:DB8::1']");
        assert_eq!(asked(&by_key, "tun0"), one("2001:db8::1"));
        assert_eq!(
            asked(&format!("{by_key}/counters"), "tun0"),
            one("2001:db8::1")
        );
        assert_eq!(asked(&by_key, "tun1"), None, "another interface");
        // `show dmvpn`: every peer.
        let show_dmvpn = format!("{every}/peer | {every}/oper-status");
        assert_eq!(asked(&show_dmvpn, "tun0"), Some((all, None)));
        assert_eq!(asked("", "tun0"), Some((all, None)));
        // Two peers, or one and the list: the list.
        let two = format!("{by_key} | {tun0}/peer[nbma-address='192.0.2.2']");
        assert_eq!(asked(&two, "tun0"), Some((all, None)));
        // No peer: the statistics, or a key that is no address.
        assert_eq!(asked(&format!("{every}/statistics"), "tun0"), None);
        let garbage = format!("{tun0}/peer[nbma-address='not an address']");
        assert_eq!(asked(&garbage, "tun0"), None);
    }

    #[test]
    fn an_nhs_known_by_name_only_is_not_listed_until_resolved() {
        let state = State {
            cache: vec![],
            nhs: vec![NhsView {
                protocol: ip("10.0.0.1"),
                nbma: ip("0.0.0.0"),
                priority: 0,
                status: NhsStatus::Connecting,
                registrations_sent: 0,
                replies_received: 0,
            }],
            counters: NhrpCounters::default(),
        };
        assert!(peer_table(&state, None, Instant::now()).is_empty());
    }
}
