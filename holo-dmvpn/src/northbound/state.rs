//! State of the tunnel instances: `dmvpn-nhrp` (rendered by holo-nhrp
//! from each instance's snapshot) and `dmvpn-tunnel` (the peer table and
//! statistics, `TunnelState`).

use std::sync::Arc;
use std::time::Instant;

use holo_nhrp::driver::{CacheWanted, Wanted};
use holo_nhrp::yang::dmvpn_nhrp::{NHRP_NAME, nhrp};
use northbound::{BoxFuture, Parts, StateFilter, StateProvider};
use serde_json::json;

use super::{Dmvpn, Shared};

/// Operational state: a snapshot of every instance, as dmvpn-nhrp nodes.
#[derive(Debug)]
pub struct NhrpState {
    shared: Arc<Shared>,
}

impl NhrpState {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        NhrpState { shared }
    }
}

impl StateProvider for NhrpState {
    fn name(&self) -> &str {
        "nhrp"
    }

    fn state<'a>(&'a self, filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let now = Instant::now();
            let interfaces: Vec<_> = (self.states(filter).await.iter())
                .map(|(name, state)| {
                    holo_nhrp::northbound::state::render_filtered(name, state, now, filter)
                })
                .collect();
            Ok(document(interfaces))
        })
    }

    /// Every instance's state without its cache entries first (one part),
    /// then each instance's cache entries `page` at a time.
    fn state_parts<'a>(
        &'a self,
        filter: &'a StateFilter,
        page: usize,
    ) -> BoxFuture<'a, Result<Parts<'a>, String>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut firsts = vec![];
            let mut rest = vec![];
            for (name, state) in self.states(filter).await {
                let mut parts =
                    holo_nhrp::northbound::state::render_parts(name, state, now, filter, page);
                firsts.extend(parts.next());
                rest.push(parts);
            }
            let first = (!firsts.is_empty()).then(|| Ok(document(firsts)));
            let pages = (rest.into_iter().flatten()).map(|interface| Ok(document(vec![interface])));
            let parts = first.into_iter().chain(pages);
            Ok(Box::pin(futures_util::stream::iter(parts)) as Parts<'a>)
        })
    }
}

/// The interface entries as one tree; `{}` for none.
fn document(interfaces: Vec<serde_json::Value>) -> String {
    match interfaces.is_empty() {
        true => "{}".to_owned(),
        false => json!({"ietf-interfaces:interfaces": {"interface": interfaces}}).to_string(),
    }
}

impl NhrpState {
    /// The instances' states, each with the parts `filter` asks for.
    async fn states(&self, filter: &StateFilter) -> Vec<(String, holo_nhrp::driver::State)> {
        if !filter.wants(None, &[NHRP_NAME]) {
            return vec![];
        }
        let nhrp = Dmvpn {
            shared: self.shared.clone(),
        };
        // Only the parts asked for: `show ip nhrp traffic` copies no
        // cache entry (a hub holds one per spoke).
        let wanted = |name: &str| {
            let wants = |node: &str| filter.wants(Some(name), &[NHRP_NAME, node]);
            filter.wants(Some(name), &[NHRP_NAME]).then(|| Wanted {
                cache: match wants(nhrp::CACHE_ENTRY_NAME) {
                    true => CacheWanted::All,
                    false => CacheWanted::None,
                },
                counters: wants(nhrp::COUNTERS_NAME),
            })
        };
        nhrp.states_of(wanted).await
    }
}
