//! State of the tunnel instances: `dmvpn-nhrp` (rendered by holo-nhrp
//! from each instance's snapshot) and `dmvpn-tunnel` (the peer table and
//! statistics, `TunnelState`).

use std::sync::Arc;
use std::time::Instant;

use northbound::{BoxFuture, StateProvider};
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

    fn state(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let nhrp = Dmvpn {
                shared: self.shared.clone(),
            };
            let now = Instant::now();
            let interfaces: Vec<_> = (nhrp.states().await.iter())
                .map(|(name, state)| holo_nhrp::northbound::state::render_state(name, state, now))
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
