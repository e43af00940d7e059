//! `dmvpn-nhrp` state: a snapshot of an instance as the YANG state of its
//! interface (cache entries, NHS states, counters).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Instant;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use crate::cache::{EntryType, NatPath};
use crate::nhc::NhsStatus;
use crate::snapshot::State;

/// The interface entry `name` of the state tree, with its `dmvpn-nhrp:nhrp`
/// node.
pub fn render_state(name: &str, state: &State, now: Instant) -> Value {
    // One entry per key: a prefix is canonical (host bits zero).
    let mut cache = BTreeMap::new();
    for entry in &state.cache {
        let prefix = IpNetwork::new(entry.prefix.network(), entry.prefix.prefix())
            .unwrap_or(entry.prefix)
            .to_string();
        let mut node = json!({
            "prefix": prefix,
            "type": entry_type(entry.ty),
            "next-hop": entry.next_hop,
            "unique": entry.unique,
            "used": entry.used,
            "authoritative": entry.authoritative,
            "nat": entry.claimed_nbma.is_some(),
        });
        if let Some(nbma) = entry.nbma {
            node["nbma-address"] = json!(nbma);
        }
        if let Some(claimed) = entry.claimed_nbma {
            node["claimed-nbma-address"] = json!(claimed);
            match entry.nat_path {
                NatPath::Pending => node["nat-path"] = json!("pending"),
                NatPath::Verified => node["nat-path"] = json!("verified"),
                NatPath::NotNated => {}
            }
        }
        if let Some(expires) = entry.expires {
            let secs = expires.saturating_duration_since(now).as_secs();
            node["expires-in"] = json!(u32::try_from(secs).unwrap_or(u32::MAX));
        }
        cache.insert(prefix, node);
    }
    let nhs: Vec<_> = state
        .nhs
        .iter()
        .map(|nhs| {
            let status = match nhs.status {
                NhsStatus::Connecting => "connecting",
                NhsStatus::Up => "up",
                NhsStatus::Down => "down",
            };
            json!({
                "protocol-address": nhs.protocol,
                "status": status,
                "registrations-sent": nhs.registrations_sent.to_string(),
                "replies-received": nhs.replies_received.to_string(),
            })
        })
        .collect();
    let types: BTreeSet<_> = state
        .counters
        .sent
        .keys()
        .chain(state.counters.received.keys())
        .collect();
    let messages: Vec<_> = types
        .into_iter()
        .map(|ty| {
            json!({
                "type": ty.replace('_', "-"),
                "sent": state.counters.sent.get(ty).copied().unwrap_or(0).to_string(),
                "received": state.counters.received.get(ty).copied().unwrap_or(0).to_string(),
            })
        })
        .collect();
    let errors: Vec<_> = state
        .counters
        .errors
        .iter()
        .map(|(reason, count)| json!({"reason": reason, "count": count.to_string()}))
        .collect();
    let peers: Vec<_> = state
        .counters
        .peers
        .iter()
        .map(|(nbma, c)| {
            json!({
                "nbma-address": nbma,
                "received": c.received.to_string(),
                "sent": c.sent.to_string(),
            })
        })
        .collect();
    let mut nhrp = json!({});
    if !cache.is_empty() {
        nhrp["cache-entry"] = json!(cache.into_values().collect::<Vec<_>>());
    }
    if !nhs.is_empty() {
        nhrp["nhs-state"] = json!(nhs);
    }
    let nat = &state.counters.nat;
    let nat_counted = nat.probes_sent + nat.proofs + nat.give_ups > 0;
    if !messages.is_empty() || !errors.is_empty() || !peers.is_empty() || nat_counted {
        let mut counters = json!({});
        if nat_counted {
            counters["nat-path"] = json!({
                "probes-sent": nat.probes_sent.to_string(),
                "proofs": nat.proofs.to_string(),
                "give-ups": nat.give_ups.to_string(),
            });
        }
        if !peers.is_empty() {
            counters["peer"] = json!(peers);
        }
        if !messages.is_empty() {
            counters["message"] = json!(messages);
        }
        if !errors.is_empty() {
            counters["error"] = json!(errors);
        }
        nhrp["counters"] = counters;
    }
    json!({"name": name, "dmvpn-nhrp:nhrp": nhrp})
}

fn entry_type(ty: EntryType) -> &'static str {
    match ty {
        EntryType::Static => "static",
        EntryType::Dynamic => "dynamic",
        EntryType::Nhs => "nhs",
        EntryType::Local => "local",
        EntryType::Shortcut => "shortcut",
        EntryType::Negative => "negative",
        EntryType::Incomplete => "incomplete",
    }
}
