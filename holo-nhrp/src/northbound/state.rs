//! `dmvpn-nhrp` state: a snapshot of an instance as the YANG state of its
//! interface (cache entries, NHS states, counters).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Instant;

use ipnetwork::IpNetwork;
use northbound::StateFilter;
use serde_json::{Value, json};

use crate::cache::{EntryType, NatPath};
use crate::nhc::NhsStatus;
use crate::snapshot::State;
use crate::yang::dmvpn_nhrp::nhrp::{cache_entry, counters, nhs_state};
use crate::yang::dmvpn_nhrp::{self, nhrp};

/// The interface entry `name` of the state tree, with its `dmvpn-nhrp:nhrp`
/// node.
pub fn render_state(name: &str, state: &State, now: Instant) -> Value {
    render_filtered(name, state, now, &StateFilter::everything())
}

/// As `render_state`, only the parts `filter` asks for (the cache, the NHS
/// states, the counters; one cache entry by its prefix).
pub fn render_filtered(name: &str, state: &State, now: Instant, filter: &StateFilter) -> Value {
    let cache: Vec<Value> = (cache_keys(name, state, filter).into_iter())
        .map(|(prefix, at)| cache_node(&state.cache[at], prefix, now))
        .collect();
    render_rest(name, state, cache, filter)
}

/// As [`render_filtered`], in parts (GetStream's pages, issue 15): the
/// interface entry without its cache entries first, then the cache
/// entries `page` at a time in prefix order, each part an interface entry
/// (`{"name": ..., "dmvpn-nhrp:nhrp": {"cache-entry": [...]}}`) rendered
/// when it is taken. Merged, the parts are `render_filtered`'s.
pub fn render_parts(
    name: String,
    state: State,
    now: Instant,
    filter: &StateFilter,
    page: usize,
) -> impl Iterator<Item = Value> + Send + use<> {
    let keys = cache_keys(&name, &state, filter);
    let first = render_rest(&name, &state, vec![], filter);
    let page = page.max(1);
    let mut keys = keys.into_iter();
    let pages = std::iter::from_fn(move || {
        let cache: Vec<Value> = (keys.by_ref().take(page))
            .map(|(prefix, at)| cache_node(&state.cache[at], prefix, now))
            .collect();
        (!cache.is_empty())
            .then(|| json!({"name": name, dmvpn_nhrp::NHRP_NAME: {nhrp::CACHE_ENTRY_NAME: cache}}))
    });
    std::iter::once(first).chain(pages)
}

/// The cache entries `filter` asks for, by the key they have in YANG (the
/// prefix, canonical: host bits zero) in its order, with their index in
/// `state.cache`; of two entries with one key, the later.
fn cache_keys(name: &str, state: &State, filter: &StateFilter) -> BTreeMap<String, usize> {
    let cache_path = [dmvpn_nhrp::NHRP_NAME, nhrp::CACHE_ENTRY_NAME];
    let mut keys = BTreeMap::new();
    if !filter.wants(Some(name), &cache_path) {
        return keys;
    }
    for (at, entry) in state.cache.iter().enumerate() {
        let prefix = IpNetwork::new(entry.prefix.network(), entry.prefix.prefix())
            .unwrap_or(entry.prefix)
            .to_string();
        if filter.wants_entry(name, &cache_path, cache_entry::PREFIX_NAME, &prefix) {
            keys.insert(prefix, at);
        }
    }
    keys
}

/// One `cache-entry` node.
fn cache_node(entry: &crate::cache::Entry, prefix: String, now: Instant) -> Value {
    let mut node = json!({
        cache_entry::PREFIX_NAME: prefix,
        cache_entry::TYPE_NAME: entry_type(entry.ty),
        cache_entry::NEXT_HOP_NAME: entry.next_hop,
        cache_entry::UNIQUE_NAME: entry.unique,
        cache_entry::USED_NAME: entry.used,
        cache_entry::AUTHORITATIVE_NAME: entry.authoritative,
        cache_entry::NAT_NAME: entry.claimed_nbma.is_some(),
    });
    if let Some(nbma) = entry.nbma {
        node[cache_entry::NBMA_ADDRESS_NAME] = json!(nbma);
    }
    if let Some(claimed) = entry.claimed_nbma {
        node[cache_entry::CLAIMED_NBMA_ADDRESS_NAME] = json!(claimed);
        match entry.nat_path {
            NatPath::Pending => node[cache_entry::NAT_PATH_NAME] = json!("pending"),
            NatPath::Verified => node[cache_entry::NAT_PATH_NAME] = json!("verified"),
            NatPath::NotNated => {}
        }
    }
    if let Some(expires) = entry.expires {
        let secs = expires.saturating_duration_since(now).as_secs();
        node[cache_entry::EXPIRES_IN_NAME] = json!(u32::try_from(secs).unwrap_or(u32::MAX));
    }
    node
}

/// The interface entry with `cache` as its cache entries and the rest of
/// the state `filter` asks for (NHS states, counters).
fn render_rest(name: &str, state: &State, cache: Vec<Value>, filter: &StateFilter) -> Value {
    let wants = |node: &str| filter.wants(Some(name), &[dmvpn_nhrp::NHRP_NAME, node]);
    let nhs_states = match wants(nhrp::NHS_STATE_NAME) {
        true => state.nhs.as_slice(),
        false => &[],
    };
    let nhs: Vec<_> = nhs_states
        .iter()
        .map(|nhs| {
            let status = match nhs.status {
                NhsStatus::Connecting => "connecting",
                NhsStatus::Up => "up",
                NhsStatus::Down => "down",
            };
            json!({
                nhs_state::PROTOCOL_ADDRESS_NAME: nhs.protocol,
                nhs_state::STATUS_NAME: status,
                nhs_state::REGISTRATIONS_SENT_NAME: nhs.registrations_sent.to_string(),
                nhs_state::REPLIES_RECEIVED_NAME: nhs.replies_received.to_string(),
            })
        })
        .collect();
    let counted = wants(nhrp::COUNTERS_NAME);
    // Below the counters, each part only when asked: the per-peer list has
    // a row per spoke (100 000 on a large hub), the rest a few.
    let wants_counter = |node: &str| {
        counted
            && filter.wants(
                Some(name),
                &[dmvpn_nhrp::NHRP_NAME, nhrp::COUNTERS_NAME, node],
            )
    };
    let types: BTreeSet<_> = match wants_counter(counters::MESSAGE_NAME) {
        true => (state.counters.sent.keys())
            .chain(state.counters.received.keys())
            .collect(),
        false => BTreeSet::new(),
    };
    let messages: Vec<_> = types
        .into_iter()
        .map(|ty| {
            json!({
                counters::message::TYPE_NAME: ty.replace('_', "-"),
                counters::message::SENT_NAME: state.counters.sent.get(ty).copied().unwrap_or(0).to_string(),
                counters::message::RECEIVED_NAME: state.counters.received.get(ty).copied().unwrap_or(0).to_string(),
            })
        })
        .collect();
    let errors: Vec<_> = (state.counters.errors.iter())
        .filter(|_| wants_counter(counters::ERROR_NAME))
        .map(|(reason, count)| json!({counters::error::REASON_NAME: reason, counters::error::COUNT_NAME: count.to_string()}))
        .collect();
    let peers: Vec<_> = (state.counters.peers.iter())
        .filter(|_| wants_counter(counters::PEER_NAME))
        .map(|(nbma, c)| {
            json!({
                counters::peer::NBMA_ADDRESS_NAME: nbma,
                counters::peer::RECEIVED_NAME: c.received.to_string(),
                counters::peer::SENT_NAME: c.sent.to_string(),
            })
        })
        .collect();
    let mut nhrp_node = json!({});
    if !cache.is_empty() {
        nhrp_node[nhrp::CACHE_ENTRY_NAME] = json!(cache);
    }
    if !nhs.is_empty() {
        nhrp_node[nhrp::NHS_STATE_NAME] = json!(nhs);
    }
    let nat = &state.counters.nat;
    let nat_counted =
        wants_counter(counters::NAT_PATH_NAME) && nat.probes_sent + nat.proofs + nat.give_ups > 0;
    if !messages.is_empty() || !errors.is_empty() || !peers.is_empty() || nat_counted {
        let mut counters = json!({});
        if nat_counted {
            counters[counters::NAT_PATH_NAME] = json!({
                counters::nat_path::PROBES_SENT_NAME: nat.probes_sent.to_string(),
                counters::nat_path::PROOFS_NAME: nat.proofs.to_string(),
                counters::nat_path::GIVE_UPS_NAME: nat.give_ups.to_string(),
            });
        }
        if !peers.is_empty() {
            counters[counters::PEER_NAME] = json!(peers);
        }
        if !messages.is_empty() {
            counters[counters::MESSAGE_NAME] = json!(messages);
        }
        if !errors.is_empty() {
            counters[counters::ERROR_NAME] = json!(errors);
        }
        nhrp_node[nhrp::COUNTERS_NAME] = counters;
    } else if counted && !filter.is_everything() {
        // Asked for the counters, an instance that counted nothing yet
        // still answers (empty), so that a selection of the counters lists
        // every instance, as a selection of the whole tree does.
        nhrp_node[nhrp::COUNTERS_NAME] = json!({});
    }
    json!({"name": name, dmvpn_nhrp::NHRP_NAME: nhrp_node})
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
