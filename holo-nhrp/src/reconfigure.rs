//! A new configuration applied to a running instance (the northbound's
//! commit, `Input::Configure`): only what the changed values govern moves;
//! the cache, registrations and shortcuts stay. As on Cisco IOS, `ip nhrp
//! holdtime` changes nothing that runs: the new value goes out with the
//! next registration or reply.
//!
//! | change | effect |
//! |---|---|
//! | holding time, authentication, no-unique, mtu (configured, or the tunnel's), max-registrations, redirect, shortcut | from the next packet on |
//! | registration interval | the next refresh comes no later than the new interval |
//! | NHS added | registered with at once (binding, multicast) |
//! | NHS removed, or its NBMA address / name changed | our binding there purged, its state and binding dropped (a changed one is then added anew) |
//! | NHS priority, cluster | in place |
//! | static map | its binding added, replaced or removed |
//! | multicast map, multicast dynamic | the replication set follows |
//! | tunnel source (NBMA) | purge at every NHS, register the new one (`Command::NbmaChanged`) |
//! | tunnel address | not here: the northbound starts a new instance |

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use crate::cache::{Entry, EntryType, host, max_prefix};
use crate::config::{InstanceConfig, NhsConfig};
use crate::instance::Instance;
use crate::io::Output;
use crate::nhc::{NhsState, NhsStatus};
use crate::packet::Cie;

impl Instance {
    pub(crate) fn reconfigure(
        &mut self,
        mut new: InstanceConfig,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        if new.protocol != self.config.protocol {
            // The northbound never sends this: a new tunnel address is a
            // new instance. Kept as it was rather than half-applied.
            tracing::warn!(
                old = %self.config.protocol,
                new = %new.protocol,
                "a new tunnel address needs a new NHRP instance: ignored"
            );
            new.protocol = self.config.protocol;
        }
        // Learnt from the routing table by the driver, not configured.
        new.local_prefixes = std::mem::take(&mut self.config.local_prefixes);
        let multicast_before = self.fixed_multicast();
        let dynamic_before = self.config.multicast_dynamic;
        let interval_before = self.config.registration_interval();
        let nbma = new.nbma;
        // The NBMA address moves with `nbma_changed` below, which purges
        // the old one first.
        new.nbma = self.config.nbma;

        self.remove_nhss(&new.nhs, now, out);
        self.update_static_maps(&new, now, out);
        let added: Vec<NhsConfig> = new
            .nhs
            .iter()
            .filter(|n| !self.nhs.iter().any(|s| same_nhs(&s.config, n)))
            .cloned()
            .collect();
        for state in &mut self.nhs {
            if let Some(config) = new.nhs.iter().find(|n| same_nhs(&state.config, n)) {
                state.config.priority = config.priority;
                state.config.cluster = config.cluster;
            }
        }
        self.config = new;

        if nbma != self.config.nbma {
            self.nbma_changed(nbma, now, out);
        }
        for config in added {
            tracing::info!(nhs = %config.protocol, "NHS added");
            if !config.nbma.is_unspecified() {
                let mut entry =
                    Entry::new(host(config.protocol), EntryType::Nhs, config.protocol, now);
                entry.nbma = Some(config.nbma);
                self.cache.insert(entry, out);
            }
            self.nhs.push(NhsState::new(config, now));
        }
        // The configured order is the order of preference ties.
        let order = |protocol: IpAddr| self.config.nhs.iter().position(|n| n.protocol == protocol);
        let mut ranked: Vec<_> = std::mem::take(&mut self.nhs)
            .into_iter()
            .map(|s| (order(s.config.protocol), s))
            .collect();
        ranked.sort_by_key(|(position, _)| *position);
        self.nhs = ranked.into_iter().map(|(_, s)| s).collect();

        let interval = self.config.registration_interval();
        if interval < interval_before {
            for nhs in self.nhs.iter_mut().filter(|n| n.request_id.is_none()) {
                nhs.next_action = nhs.next_action.min(now + interval);
            }
        }
        self.registration_timers(now, out);
        self.update_fixed_multicast(&multicast_before, out);
        if dynamic_before != self.config.multicast_dynamic {
            self.update_dynamic_multicast(out);
        }
    }

    /// The NHSs the new list no longer has (or has with another NBMA
    /// address or name): our binding there is purged (RFC 2332, 5.2.5),
    /// their binding and state dropped.
    fn remove_nhss(&mut self, keep: &[NhsConfig], now: Instant, out: &mut Vec<Output>) {
        let (kept, removed): (Vec<NhsState>, Vec<NhsState>) = std::mem::take(&mut self.nhs)
            .into_iter()
            .partition(|s| keep.iter().any(|n| same_nhs(&s.config, n)));
        self.nhs = kept;
        let own = self.config.protocol.ip();
        for nhs in removed {
            tracing::info!(nhs = %nhs.config.protocol, "NHS removed");
            if nhs.status != NhsStatus::Connecting && !nhs.config.nbma.is_unspecified() {
                let cie = Cie {
                    holding_time: 0,
                    ..self.own_cie(max_prefix(own))
                };
                self.send_purge(nhs.config.nbma, nhs.config.protocol, cie, now, out);
            }
            let prefix = host(nhs.config.protocol);
            if self
                .cache
                .get(&prefix)
                .is_some_and(|e| e.ty == EntryType::Nhs)
            {
                self.cache.remove(&prefix, out);
            }
        }
    }

    /// Static maps (`ip nhrp map`) added, changed or removed.
    fn update_static_maps(&mut self, new: &InstanceConfig, now: Instant, out: &mut Vec<Output>) {
        for old in &self.config.static_maps {
            if new.static_maps.iter().any(|m| m.protocol == old.protocol) {
                continue;
            }
            let prefix = host(old.protocol);
            if self
                .cache
                .get(&prefix)
                .is_some_and(|e| e.ty == EntryType::Static)
            {
                self.cache.remove(&prefix, out);
            }
        }
        for map in &new.static_maps {
            if self.config.static_maps.contains(map) {
                continue;
            }
            let mut entry = Entry::new(host(map.protocol), EntryType::Static, map.protocol, now);
            entry.nbma = Some(map.nbma);
            self.cache.insert(entry, out);
        }
    }

    /// The configured part of the multicast map: the NHSs (as resolved)
    /// and the static entries.
    pub(crate) fn fixed_multicast(&self) -> BTreeSet<IpAddr> {
        self.nhs
            .iter()
            .map(|n| n.config.nbma)
            .filter(|a| !a.is_unspecified())
            .chain(self.config.multicast_static.iter().copied())
            .collect()
    }

    fn update_fixed_multicast(&mut self, before: &BTreeSet<IpAddr>, out: &mut Vec<Output>) {
        let after = self.fixed_multicast();
        let dynamic: BTreeSet<IpAddr> = self.multicast_peers.values().copied().collect();
        for &nbma in before.difference(&after) {
            // Still replicated to as a registered peer.
            if !dynamic.contains(&nbma) {
                out.push(Output::MulticastRemoved { nbma });
            }
        }
        for &nbma in after.difference(before) {
            out.push(Output::MulticastAdded { nbma });
        }
    }

    /// `multicast dynamic` switched: the registered peers join or leave
    /// the multicast map.
    fn update_dynamic_multicast(&mut self, out: &mut Vec<Output>) {
        let fixed = self.fixed_multicast();
        if self.config.multicast_dynamic {
            let peers: Vec<(IpAddr, IpAddr)> = self
                .cache
                .iter()
                .filter(|e| e.ty == EntryType::Dynamic && e.prefix == host(e.next_hop))
                .filter_map(|e| Some((e.next_hop, e.nbma?)))
                .collect();
            for (protocol, nbma) in peers {
                self.multicast_peers.insert(protocol, nbma);
                if !fixed.contains(&nbma) {
                    out.push(Output::MulticastAdded { nbma });
                }
            }
        } else {
            for nbma in std::mem::take(&mut self.multicast_peers).into_values() {
                if !fixed.contains(&nbma) {
                    out.push(Output::MulticastRemoved { nbma });
                }
            }
        }
    }
}

/// The same NHS in the old and the new list: the same protocol address
/// reached the same way (an NHS by name keeps the address it resolved).
fn same_nhs(running: &NhsConfig, configured: &NhsConfig) -> bool {
    running.protocol == configured.protocol
        && running.fqdn == configured.fqdn
        && (running.fqdn.is_some() || running.nbma == configured.nbma)
}
