//! A snapshot of an instance's state, for the northbound and the CLI
//! (`driver::Handle::state` answers with one), of the parts a query wants:
//! on a hub with 100 000 spokes (issue 15) a query for one peer must not
//! copy the whole cache, nor a query for the counters any of it.

use std::net::IpAddr;

use serde::Serialize;

use crate::cache::Entry;
use crate::counters::Counters;
use crate::instance::Instance;
use crate::nhc::NhsStatus;

#[derive(Clone, Debug, Serialize)]
pub struct State {
    pub cache: Vec<Entry>,
    pub nhs: Vec<NhsView>,
    pub counters: Counters,
}

#[derive(Clone, Debug, Serialize)]
pub struct NhsView {
    pub protocol: std::net::IpAddr,
    pub nbma: std::net::IpAddr,
    pub priority: u8,
    pub status: NhsStatus,
    pub registrations_sent: u64,
    pub replies_received: u64,
}

/// The parts of the state a query wants; the NHS states (one per
/// configured NHS, a few) always come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub cache: CacheWanted,
    /// The message, error and per-peer counters (left at zero otherwise).
    pub counters: bool,
}

/// Which cache entries a query wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheWanted {
    None,
    All,
    /// The entries that send to one NBMA address, found through the
    /// cache's index (one peer of `show dmvpn`).
    Nbma(IpAddr),
    /// The entries that send to the first `peers` NBMA addresses after
    /// `after` (a page of `show dmvpn` on a hub: the next one starts after
    /// the last NBMA address of this one).
    NbmaPage {
        after: Option<IpAddr>,
        peers: usize,
    },
}

impl Wanted {
    pub const EVERYTHING: Wanted = Wanted {
        cache: CacheWanted::All,
        counters: true,
    };
}

impl State {
    /// The state of `instance` now.
    pub fn of(instance: &Instance) -> State {
        State::wanted(instance, Wanted::EVERYTHING)
    }

    /// The parts of the state of `instance` that `wanted` names.
    pub fn wanted(instance: &Instance, wanted: Wanted) -> State {
        let cache = instance.cache();
        State {
            cache: match wanted.cache {
                CacheWanted::None => vec![],
                CacheWanted::All => cache.iter().cloned().collect(),
                CacheWanted::Nbma(nbma) => cache.via_nbma(nbma).cloned().collect(),
                CacheWanted::NbmaPage { after, peers } => {
                    cache.nbma_page(after, peers).into_iter().cloned().collect()
                }
            },
            nhs: instance
                .nhs_states()
                .iter()
                .map(|n| NhsView {
                    protocol: n.config.protocol,
                    nbma: n.config.nbma,
                    priority: n.config.priority,
                    status: n.status,
                    registrations_sent: n.registrations_sent,
                    replies_received: n.replies_received,
                })
                .collect(),
            counters: match wanted.counters {
                true => instance.counters.clone(),
                false => Counters::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::config::{InstanceConfig, StaticMap};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// A hub with three peers mapped statically, two of them behind one
    /// NBMA address.
    fn hub() -> Instance {
        let mut config = InstanceConfig::new(
            "10.0.0.1/24".parse().unwrap_or_else(|e| panic!("{e}")),
            ip("192.0.2.1"),
        );
        config.static_maps = [
            ("10.0.0.11", "192.0.2.11"),
            ("10.0.0.12", "192.0.2.12"),
            ("10.0.0.13", "192.0.2.12"),
        ]
        .into_iter()
        .map(|(protocol, nbma)| StaticMap {
            protocol: ip(protocol),
            nbma: ip(nbma),
        })
        .collect();
        Instance::new(config, Instant::now()).0
    }

    #[test]
    fn a_query_for_one_nbma_address_gets_exactly_its_entries() {
        let hub = hub();
        let all = State::of(&hub);
        for nbma in ["192.0.2.11", "192.0.2.12", "192.0.2.99"] {
            let wanted = Wanted {
                cache: CacheWanted::Nbma(ip(nbma)),
                counters: false,
            };
            let one = State::wanted(&hub, wanted);
            let expected: Vec<_> = (all.cache.iter())
                .filter(|e| e.nbma == Some(ip(nbma)))
                .cloned()
                .collect();
            assert_eq!(one.cache, expected, "{nbma}");
        }
        let twelve = State::wanted(
            &hub,
            Wanted {
                cache: CacheWanted::Nbma(ip("192.0.2.12")),
                counters: false,
            },
        );
        assert_eq!(twelve.cache.len(), 2);
    }

    #[test]
    fn pages_by_nbma_address_cover_every_entry_once_in_order() {
        let hub = hub();
        let all = State::of(&hub);
        let mut expected: Vec<_> = (all.cache.iter())
            .filter(|e| e.nbma.is_some())
            .map(|e| (e.nbma, e.prefix))
            .collect();
        expected.sort();
        let page = |after: Option<IpAddr>, peers: usize| {
            let wanted = Wanted {
                cache: CacheWanted::NbmaPage { after, peers },
                counters: false,
            };
            State::wanted(&hub, wanted).cache
        };
        for peers in [1, 2, 5] {
            let mut got = vec![];
            let mut after = None;
            loop {
                let entries = page(after, peers);
                if entries.is_empty() {
                    break;
                }
                let nbmas: std::collections::BTreeSet<_> = entries.iter().map(|e| e.nbma).collect();
                assert!(nbmas.len() <= peers, "{nbmas:?}");
                after = entries.last().and_then(|e| e.nbma);
                got.extend(entries.iter().map(|e| (e.nbma, e.prefix)));
            }
            assert_eq!(got, expected, "{peers} a page");
        }
        // Both entries behind 192.0.2.12 come in its page.
        assert_eq!(page(Some(ip("192.0.2.11")), 1).len(), 2);
    }

    #[test]
    fn a_query_for_the_counters_copies_no_cache() {
        let hub = hub();
        let counters = State::wanted(
            &hub,
            Wanted {
                cache: CacheWanted::None,
                counters: true,
            },
        );
        assert!(counters.cache.is_empty());
        assert_eq!(counters.counters, hub.counters);
        assert_eq!(State::of(&hub).cache.len(), 3);
    }
}
