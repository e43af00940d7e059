//! The indexes of the cache: what a hub asks its cache for every packet and
//! every tick, answered without a scan of the entries (issue 15).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};

use super::{Entry, EntryType};

/// One count per entry type (`Incomplete` is the last variant).
const TYPES: usize = EntryType::Incomplete as usize + 1;

/// What the cache knows about its entries besides the entries themselves.
/// Each field is a function of `entries` alone, kept up to date by
/// `Index::add` and `Index::remove` around every change of an entry.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Index {
    /// Entries of each type, by `EntryType as usize`.
    pub(super) counts: [usize; TYPES],
    /// Holding times, soonest first.
    pub(super) expiries: BTreeSet<(Instant, IpNetwork)>,
    /// `Entry::refresh_at` of the used shortcuts, soonest first.
    pub(super) refreshes: BTreeSet<(Instant, IpNetwork)>,
    pub(super) by_next_hop: BTreeSet<(IpAddr, IpNetwork)>,
    pub(super) by_nbma: BTreeSet<(IpAddr, IpNetwork)>,
    /// The prefixes stored with host bits set (a peer sent them so), next
    /// to the prefix with its host bits cleared: what the longest-prefix
    /// match probes besides the entries themselves. Only those: a hub's
    /// host entries (one per spoke) have none, and the index would cost
    /// ~50 octets a spoke for nothing.
    pub(super) networks: BTreeSet<(IpNetwork, IpNetwork)>,
    /// How many entries have each prefix length, by address family (false
    /// for IPv4): the lengths worth probing.
    pub(super) lengths: BTreeMap<(bool, u8), usize>,
}

/// The least and greatest `IpNetwork`, to range over one key of a
/// `(key, IpNetwork)` set.
const FIRST_NETWORK: IpNetwork =
    IpNetwork::V4(match Ipv4Network::new_checked(Ipv4Addr::UNSPECIFIED, 0) {
        Some(n) => n,
        None => unreachable!(),
    });
pub(super) const LAST_NETWORK: IpNetwork = IpNetwork::V6(
    match Ipv6Network::new_checked(Ipv6Addr::from_bits(u128::MAX), 128) {
        Some(n) => n,
        None => unreachable!(),
    },
);

/// `prefix` with its host bits cleared.
pub(super) fn network(prefix: IpNetwork) -> IpNetwork {
    IpNetwork::new(prefix.network(), prefix.prefix()).unwrap_or(prefix)
}

fn length(prefix: IpNetwork) -> (bool, u8) {
    (prefix.is_ipv6(), prefix.prefix())
}

/// The prefixes stored under `key` in a `(key, prefix)` set, in order.
pub(super) fn prefixes_under<K: Ord + Copy>(
    set: &BTreeSet<(K, IpNetwork)>,
    key: K,
) -> impl DoubleEndedIterator<Item = IpNetwork> + '_ {
    set.range((key, FIRST_NETWORK)..=(key, LAST_NETWORK))
        .map(|(_, p)| *p)
}

impl Index {
    pub(super) fn add(&mut self, e: &Entry) {
        self.counts[e.ty as usize] += 1;
        if let Some(at) = e.expires {
            self.expiries.insert((at, e.prefix));
        }
        if let Some(at) = e.refresh_at() {
            self.refreshes.insert((at, e.prefix));
        }
        self.by_next_hop.insert((e.next_hop, e.prefix));
        if let Some(nbma) = e.nbma {
            self.by_nbma.insert((nbma, e.prefix));
        }
        if network(e.prefix) != e.prefix {
            self.networks.insert((network(e.prefix), e.prefix));
        }
        *self.lengths.entry(length(e.prefix)).or_default() += 1;
    }

    pub(super) fn remove(&mut self, e: &Entry) {
        self.counts[e.ty as usize] -= 1;
        if let Some(at) = e.expires {
            self.expiries.remove(&(at, e.prefix));
        }
        if let Some(at) = e.refresh_at() {
            self.refreshes.remove(&(at, e.prefix));
        }
        self.by_next_hop.remove(&(e.next_hop, e.prefix));
        if let Some(nbma) = e.nbma {
            self.by_nbma.remove(&(nbma, e.prefix));
        }
        if network(e.prefix) != e.prefix {
            self.networks.remove(&(network(e.prefix), e.prefix));
        }
        if let Some(n) = self.lengths.get_mut(&length(e.prefix)) {
            *n -= 1;
            if *n == 0 {
                self.lengths.remove(&length(e.prefix));
            }
        }
    }
}

#[cfg(test)]
impl Index {
    /// The index built afresh from `entries`: what the kept one must equal.
    pub(super) fn of<'a>(entries: impl Iterator<Item = &'a Entry>) -> Index {
        let mut index = Index::default();
        entries.for_each(|e| index.add(e));
        index
    }
}
