//! The NHRP cache: protocol prefix -> next hop and NBMA address, with the
//! entry types operators know from `show ip nhrp`.

mod index;
#[cfg(test)]
mod index_tests;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use ipnetwork::IpNetwork;
use serde::Serialize;

use crate::io::Output;
use index::{Index, network, prefixes_under};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// Configured (`ip nhrp map`).
    Static,
    /// Learnt from a Registration Request (NHS side).
    Dynamic,
    /// One of our NHSs.
    Nhs,
    /// One of our own addresses or prefixes.
    Local,
    /// Learnt from a Resolution Reply (Phase 2/3).
    Shortcut,
    /// A failed resolution, kept so we do not retry at once (RFC 2332,
    /// 5.2.2: negative caching of NAKs).
    Negative,
    /// A resolution is in flight.
    Incomplete,
}

/// Whether the data plane may send straight to a shortcut's peer (issue 6).
///
/// A peer behind a masquerading NAT is only reachable at the address its
/// NAT shows while that NAT holds a mapping towards us, which exists only
/// once the peer has sent to us. Using the shortcut before that black-holes
/// the traffic (the NAT answers ICMP unreachable, which NHRP never sees), so
/// such a shortcut waits for proof and the traffic stays on the NHS path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NatPath {
    /// The peer is where it claims to be (no NAT seen): used at once.
    #[default]
    NotNated,
    /// The peer is behind NAT and nothing has come straight from the
    /// address its NAT shows yet: installs nothing, traffic stays on the
    /// NHS path while a direct probe runs.
    Pending,
    /// The peer is behind NAT and an NHRP packet came straight from the
    /// address its NAT shows (its answer to our probe, its own Resolution
    /// Reply, or any packet it sent us): installed.
    Verified,
}

impl NatPath {
    fn is_not_nated(&self) -> bool {
        *self == NatPath::NotNated
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub prefix: IpNetwork,
    pub ty: EntryType,
    /// The tunnel address traffic for `prefix` goes to.
    pub next_hop: IpAddr,
    /// The NBMA address of `next_hop`, when known: the address packets are
    /// sent to (the address seen on the wire when the peer is behind NAT).
    pub nbma: Option<IpAddr>,
    /// The NBMA address the peer claimed, when it differs from `nbma` (NAT).
    pub claimed_nbma: Option<IpAddr>,
    /// For a shortcut towards a peer behind NAT: whether its direct path
    /// was shown to work (only then is it installed). Left out of the
    /// serialized form when not behind NAT, the common case.
    #[serde(skip_serializing_if = "NatPath::is_not_nated")]
    pub nat_path: NatPath,
    pub unique: bool,
    pub used: bool,
    pub authoritative: bool,
    #[serde(skip)]
    pub created: Instant,
    #[serde(skip)]
    pub expires: Option<Instant>,
}

impl Entry {
    pub fn new(prefix: IpNetwork, ty: EntryType, next_hop: IpAddr, now: Instant) -> Self {
        Entry {
            prefix,
            ty,
            next_hop,
            nbma: None,
            claimed_nbma: None,
            nat_path: NatPath::NotNated,
            unique: false,
            used: false,
            authoritative: false,
            created: now,
            expires: None,
        }
    }

    /// Whether the data plane has a usable binding from this entry: not for
    /// placeholders, nor for a NATed shortcut whose path is not proven yet.
    fn installs_binding(&self) -> bool {
        self.nbma.is_some()
            && !matches!(self.ty, EntryType::Negative | EntryType::Incomplete)
            && self.nat_path != NatPath::Pending
    }

    fn is_host(&self) -> bool {
        self.prefix.prefix() == max_prefix(self.prefix.ip())
    }

    /// When a shortcut that the data plane reported as used must be
    /// resolved again: with a third of its lifetime left. Idle shortcuts
    /// and other entries are not refreshed.
    pub fn refresh_at(&self) -> Option<Instant> {
        if self.ty != EntryType::Shortcut || !self.used {
            return None;
        }
        let expires = self.expires?;
        Some(expires - expires.saturating_duration_since(self.created) / 3)
    }
}

pub fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

pub fn host(ip: IpAddr) -> IpNetwork {
    IpNetwork::new(ip, max_prefix(ip)).unwrap_or_else(|_| IpNetwork::from(ip))
}

/// The cache. Every change goes through `insert`, `remove` and `set_used`,
/// which report what the data plane must do as outputs (the change feed)
/// and keep the indexes in step with the entries.
///
/// A hub holds an entry per registered spoke (issue 15: 100 000 of them),
/// and looks at its cache for every packet and every tick: each question
/// asked that often is answered from an index, in O(log n), never by a
/// scan of the entries.
#[derive(Debug, Default)]
pub struct Cache {
    entries: BTreeMap<IpNetwork, Entry>,
    index: Index,
}

impl Cache {
    pub fn get(&self, prefix: &IpNetwork) -> Option<&Entry> {
        self.entries.get(prefix)
    }

    pub fn host(&self, ip: IpAddr) -> Option<&Entry> {
        self.entries.get(&host(ip))
    }

    /// The most specific entry covering `ip` (of several prefixes that
    /// differ only in host bits, the greatest). Probes each prefix length
    /// the cache holds, longest first.
    pub fn lookup(&self, ip: IpAddr) -> Option<&Entry> {
        let family = ip.is_ipv6();
        let lengths = self.index.lengths.range((family, 0)..=(family, u8::MAX));
        lengths.rev().find_map(|(&(_, len), _)| {
            let covering = IpNetwork::new(ip, len).ok().map(network)?;
            // A prefix with host bits sorts after the one without.
            let prefix = prefixes_under(&self.index.networks, covering)
                .next_back()
                .unwrap_or(covering);
            self.entries.get(&prefix)
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn count(&self, ty: EntryType) -> usize {
        self.index.counts[ty as usize]
    }

    /// The entries whose next hop is `next_hop`, in prefix order.
    pub fn via_next_hop(&self, next_hop: IpAddr) -> impl Iterator<Item = &Entry> {
        prefixes_under(&self.index.by_next_hop, next_hop).filter_map(|p| self.entries.get(&p))
    }

    /// The entries that send to `nbma`, in prefix order.
    pub fn via_nbma(&self, nbma: IpAddr) -> impl Iterator<Item = &Entry> {
        prefixes_under(&self.index.by_nbma, nbma).filter_map(|p| self.entries.get(&p))
    }

    /// The entries that send to the first `peers` NBMA addresses after
    /// `after` (`None`: from the first), in NBMA address order: a page of
    /// the peer table (issue 15), found through the NBMA index.
    pub fn nbma_page(&self, after: Option<IpAddr>, peers: usize) -> Vec<&Entry> {
        use std::ops::Bound;
        let start = match after {
            Some(nbma) => Bound::Excluded((nbma, index::LAST_NETWORK)),
            None => Bound::Unbounded,
        };
        let mut entries = vec![];
        let mut last = None;
        let mut seen = 0;
        for (nbma, prefix) in self.index.by_nbma.range((start, Bound::Unbounded)) {
            if last != Some(*nbma) {
                if seen == peers {
                    break;
                }
                seen += 1;
                last = Some(*nbma);
            }
            entries.extend(self.entries.get(prefix));
        }
        entries
    }

    /// Inserts or replaces an entry, emitting the data-plane changes.
    pub fn insert(&mut self, entry: Entry, out: &mut Vec<Output>) {
        let old = self.entries.insert(entry.prefix, entry.clone());
        // The old entry's keys go first: the new one may share some.
        if let Some(o) = &old {
            self.index.remove(o);
        }
        self.index.add(&entry);
        let had_binding = old.as_ref().filter(|o| o.installs_binding());
        let new_binding = entry.installs_binding().then_some(&entry);
        match (had_binding, new_binding) {
            (Some(o), Some(n)) if o.nbma == n.nbma && o.next_hop == n.next_hop => {}
            (old_b, Some(n)) => {
                if let Some(o) = old_b {
                    withdraw(o, out);
                }
                install(n, out);
            }
            (Some(o), None) => withdraw(o, out),
            (None, None) => {}
        }
    }

    pub fn remove(&mut self, prefix: &IpNetwork, out: &mut Vec<Output>) -> Option<Entry> {
        let old = self.entries.remove(prefix)?;
        self.index.remove(&old);
        if old.installs_binding() {
            withdraw(&old, out);
        }
        Some(old)
    }

    /// Records whether the data plane used the entry for `prefix` since
    /// the last refresh (see `Entry::refresh_at`). The data plane has
    /// nothing to change.
    pub fn set_used(&mut self, prefix: &IpNetwork, used: bool) {
        if let Some(e) = self.entries.get_mut(prefix) {
            self.index.remove(e);
            e.used = used;
            self.index.add(e);
        }
    }

    /// Removes every entry whose holding time has run out, in prefix
    /// order.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Output>) -> Vec<Entry> {
        let mut due: Vec<IpNetwork> = (self.index.expiries.iter())
            .take_while(|(at, _)| *at <= now)
            .map(|(_, p)| *p)
            .collect();
        due.sort_unstable();
        due.iter().filter_map(|p| self.remove(p, out)).collect()
    }

    pub fn next_expiry(&self) -> Option<Instant> {
        self.index.expiries.first().map(|(at, _)| *at)
    }

    /// The used shortcuts due for a refresh at `now`, in prefix order.
    pub fn refreshes_due(&self, now: Instant) -> Vec<&Entry> {
        let mut due: Vec<&Entry> = (self.index.refreshes.iter())
            .take_while(|(at, _)| *at <= now)
            .filter_map(|(_, p)| self.entries.get(p))
            .collect();
        due.sort_unstable_by_key(|e| e.prefix);
        due
    }

    /// The soonest `Entry::refresh_at` of all entries.
    pub fn next_refresh(&self) -> Option<Instant> {
        self.index.refreshes.first().map(|(at, _)| *at)
    }
}

fn install(e: &Entry, out: &mut Vec<Output>) {
    if let Some(nbma) = e.nbma {
        if e.is_host() {
            out.push(Output::BindingAdded {
                protocol: e.next_hop,
                nbma,
            });
        } else {
            out.push(Output::RouteAdded {
                prefix: e.prefix,
                next_hop: e.next_hop,
            });
        }
    }
}

fn withdraw(e: &Entry, out: &mut Vec<Output>) {
    if e.is_host() {
        out.push(Output::BindingRemoved {
            protocol: e.next_hop,
        });
    } else {
        out.push(Output::RouteRemoved { prefix: e.prefix });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn change_feed_follows_inserts_replacements_and_expiry() {
        let now = Instant::now();
        let mut cache = Cache::default();
        let mut out = vec![];
        let mut e = Entry::new(
            host(ip("10.0.0.2")),
            EntryType::Dynamic,
            ip("10.0.0.2"),
            now,
        );
        e.nbma = Some(ip("192.0.2.2"));
        e.expires = Some(now + std::time::Duration::from_secs(10));
        cache.insert(e.clone(), &mut out);
        assert_eq!(
            out,
            [Output::BindingAdded {
                protocol: ip("10.0.0.2"),
                nbma: ip("192.0.2.2")
            }]
        );

        // A refresh with the same binding changes nothing in the data plane.
        out.clear();
        cache.insert(e.clone(), &mut out);
        assert!(out.is_empty());

        // A new NBMA address replaces the binding.
        e.nbma = Some(ip("192.0.2.3"));
        cache.insert(e, &mut out);
        assert_eq!(out.len(), 2);

        // A shortcut prefix is a route, not a binding.
        out.clear();
        let mut s = Entry::new(
            "172.16.2.0/24".parse().unwrap(),
            EntryType::Shortcut,
            ip("10.0.0.2"),
            now,
        );
        s.nbma = Some(ip("192.0.2.3"));
        cache.insert(s, &mut out);
        assert_eq!(
            out,
            [Output::RouteAdded {
                prefix: "172.16.2.0/24".parse().unwrap(),
                next_hop: ip("10.0.0.2")
            }]
        );
        assert_eq!(
            cache.lookup(ip("172.16.2.9")).unwrap().ty,
            EntryType::Shortcut
        );

        out.clear();
        let gone = cache.expire(now + std::time::Duration::from_secs(10), &mut out);
        assert_eq!(gone.len(), 1);
        assert_eq!(
            out,
            [Output::BindingRemoved {
                protocol: ip("10.0.0.2")
            }]
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_nated_shortcut_installs_only_once_verified() {
        let now = Instant::now();
        let mut cache = Cache::default();
        let mut out = vec![];
        let mut e = Entry::new(
            host(ip("10.0.0.11")),
            EntryType::Shortcut,
            ip("10.0.0.11"),
            now,
        );
        e.nbma = Some(ip("198.51.100.11"));
        e.claimed_nbma = Some(ip("192.0.2.11"));
        e.nat_path = NatPath::Pending;
        cache.insert(e.clone(), &mut out);
        assert!(out.is_empty(), "pending: nothing for the data plane");

        e.nat_path = NatPath::Verified;
        cache.insert(e.clone(), &mut out);
        assert_eq!(
            out,
            [Output::BindingAdded {
                protocol: ip("10.0.0.11"),
                nbma: ip("198.51.100.11")
            }]
        );

        // Back to pending (a re-check failed elsewhere): withdrawn.
        out.clear();
        e.nat_path = NatPath::Pending;
        cache.insert(e, &mut out);
        assert_eq!(
            out,
            [Output::BindingRemoved {
                protocol: ip("10.0.0.11")
            }]
        );
        out.clear();
        cache.remove(&host(ip("10.0.0.11")), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn negative_and_incomplete_entries_install_nothing() {
        let now = Instant::now();
        let mut cache = Cache::default();
        let mut out = vec![];
        cache.insert(
            Entry::new(
                host(ip("10.0.0.9")),
                EntryType::Incomplete,
                ip("10.0.0.9"),
                now,
            ),
            &mut out,
        );
        assert!(out.is_empty());
        cache.remove(&host(ip("10.0.0.9")), &mut out);
        assert!(out.is_empty());
    }
}
