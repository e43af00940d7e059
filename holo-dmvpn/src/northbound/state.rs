//! State of the tunnel instances: `dmvpn-nhrp` (rendered by holo-nhrp
//! from each instance's snapshot) and `dmvpn-tunnel` (the peer table and
//! statistics, `TunnelState`).

use std::sync::Arc;
use std::time::Instant;

use holo_nhrp::driver::{CacheWanted, Wanted};
use holo_nhrp::yang::dmvpn_nhrp::{NHRP_NAME, nhrp};
use northbound::{BoxFuture, StateFilter, StateProvider};
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
            if !filter.wants(None, &[NHRP_NAME]) {
                return Ok("{}".to_owned());
            }
            let nhrp = Dmvpn {
                shared: self.shared.clone(),
            };
            let now = Instant::now();
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
            let states = nhrp.states_of(wanted).await;
            let interfaces: Vec<_> = (states.iter())
                .map(|(name, state)| {
                    holo_nhrp::northbound::state::render_filtered(name, state, now, filter)
                })
                .collect();
            Ok(match interfaces.is_empty() {
                true => "{}".to_owned(),
                false => {
                    json!({"ietf-interfaces:interfaces": {"interface": interfaces}}).to_string()
                }
            })
        })
    }
}
