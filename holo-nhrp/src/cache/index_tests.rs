//! The indexes answer as a scan of the entries would, whatever sequence of
//! changes the cache went through.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;
use proptest::prelude::*;

use super::index::Index;
use super::{Cache, Entry, EntryType};

const TYPES: [EntryType; 7] = [
    EntryType::Static,
    EntryType::Dynamic,
    EntryType::Nhs,
    EntryType::Local,
    EntryType::Shortcut,
    EntryType::Negative,
    EntryType::Incomplete,
];

/// A few addresses of each family, close enough that prefixes of them
/// overlap and nest.
fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..3, 0u8..3).prop_map(|(a, b)| IpAddr::from([10, 0, a, b])),
        (0u16..3).prop_map(|a| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, a])),
    ]
}

/// Prefixes of those addresses, host bits kept sometimes (as a peer may
/// send them).
fn prefix() -> impl Strategy<Value = IpNetwork> {
    (address(), 0usize..6).prop_map(|(ip, i)| {
        let len = if ip.is_ipv4() {
            [0, 8, 16, 24, 31, 32][i]
        } else {
            [0, 32, 64, 126, 127, 128][i]
        };
        IpNetwork::new(ip, len).unwrap()
    })
}

#[derive(Clone, Debug)]
enum Change {
    Insert(Entry),
    Remove(IpNetwork),
    SetUsed(IpNetwork, bool),
    Expire(Duration),
}

fn entry(start: Instant) -> impl Strategy<Value = Entry> {
    (
        prefix(),
        0usize..7,
        address(),
        proptest::option::of(address()),
        any::<bool>(),
        0u64..50,
        proptest::option::of(0u64..100),
    )
        .prop_map(move |(prefix, ty, next_hop, nbma, used, created, hold)| {
            let created = start + Duration::from_secs(created);
            let mut e = Entry::new(prefix, TYPES[ty], next_hop, created);
            e.nbma = nbma;
            e.used = used;
            e.expires = hold.map(|h| created + Duration::from_secs(h));
            e
        })
}

fn change(start: Instant) -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => entry(start).prop_map(Change::Insert),
        1 => prefix().prop_map(Change::Remove),
        2 => (prefix(), any::<bool>()).prop_map(|(p, u)| Change::SetUsed(p, u)),
        1 => (0u64..150).prop_map(|s| Change::Expire(Duration::from_secs(s))),
    ]
}

/// What each indexed question answers, asked of the cache and of a scan of
/// its entries.
fn assert_answers_as_a_scan(cache: &Cache, start: Instant) {
    let all: Vec<&Entry> = cache.iter().collect();
    assert_eq!(cache.index, Index::of(cache.iter()));
    for ty in TYPES {
        assert_eq!(cache.count(ty), all.iter().filter(|e| e.ty == ty).count());
    }
    let next_expiry = all.iter().filter_map(|e| e.expires).min();
    assert_eq!(cache.next_expiry(), next_expiry);
    let next_refresh = all.iter().filter_map(|e| e.refresh_at()).min();
    assert_eq!(cache.next_refresh(), next_refresh);
    for secs in [0, 40, 80, 160] {
        let now = start + Duration::from_secs(secs);
        let due: Vec<&Entry> = (all.iter().copied())
            .filter(|e| e.refresh_at().is_some_and(|at| at <= now))
            .collect();
        assert_eq!(cache.refreshes_due(now), due);
    }
    let mut probes: Vec<IpAddr> = all.iter().map(|e| e.prefix.ip()).collect();
    probes.extend(
        [
            "10.0.1.1",
            "10.9.9.9",
            "2001:db8::1",
            "2001:db9::1",
            "192.0.2.1",
        ]
        .map(|a| a.parse::<IpAddr>().unwrap()),
    );
    for ip in probes {
        // The scan the index replaces: the last of the longest in key order.
        let scanned = (all.iter().copied())
            .filter(|e| e.prefix.contains(ip))
            .max_by_key(|e| e.prefix.prefix());
        assert_eq!(cache.lookup(ip), scanned, "lookup {ip}");
    }
    for e in &all {
        let via: Vec<&Entry> = (all.iter().copied())
            .filter(|o| o.next_hop == e.next_hop)
            .collect();
        assert_eq!(cache.via_next_hop(e.next_hop).collect::<Vec<_>>(), via);
        if let Some(nbma) = e.nbma {
            let via: Vec<&Entry> = (all.iter().copied())
                .filter(|o| o.nbma == Some(nbma))
                .collect();
            assert_eq!(cache.via_nbma(nbma).collect::<Vec<_>>(), via);
        }
    }
}

proptest! {
    #[test]
    fn indexes_answer_as_a_scan_through_any_changes(
        changes in proptest::collection::vec(change(Instant::now()), 1..60)
    ) {
        let start = changes
            .iter()
            .find_map(|c| match c {
                Change::Insert(e) => Some(e.created),
                _ => None,
            })
            .unwrap_or_else(Instant::now);
        let mut cache = Cache::default();
        let mut out = vec![];
        for change in changes {
            match change {
                Change::Insert(e) => cache.insert(e, &mut out),
                Change::Remove(p) => {
                    cache.remove(&p, &mut out);
                }
                Change::SetUsed(p, used) => {
                    // Only `used` changes.
                    let mut expected: Vec<Entry> = cache.iter().cloned().collect();
                    expected.iter_mut().filter(|e| e.prefix == p).for_each(|e| e.used = used);
                    cache.set_used(&p, used);
                    prop_assert_eq!(cache.iter().cloned().collect::<Vec<_>>(), expected);
                }
                Change::Expire(after) => {
                    let now = start + after;
                    let due: Vec<Entry> = cache
                        .iter()
                        .filter(|e| e.expires.is_some_and(|t| t <= now))
                        .cloned()
                        .collect();
                    prop_assert_eq!(cache.expire(now, &mut out), due);
                }
            }
            assert_answers_as_a_scan(&cache, start);
        }
    }
}
