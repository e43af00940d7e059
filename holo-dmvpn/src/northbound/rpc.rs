//! The `dmvpn-nhrp` RPCs (clear-cache, purge) handed to the instance of
//! the interface they name.

use std::sync::Arc;

use holo_nhrp::io::Input;
use holo_nhrp::northbound::rpc;
use northbound::{BoxFuture, Refusal, RpcHandler};

use super::{Dmvpn, Shared};

/// The handler of one dmvpn-nhrp RPC.
#[derive(Debug)]
pub(crate) struct NhrpRpc {
    pub(crate) shared: Arc<Shared>,
    /// [`rpc::CLEAR_CACHE`] or [`rpc::PURGE`].
    pub(crate) rpc: &'static str,
}

impl RpcHandler for NhrpRpc {
    fn execute(&self, input: String) -> BoxFuture<'_, Result<Option<String>, Refusal>> {
        Box::pin(async move {
            let (interface, command) = rpc::command(self.rpc, &input)?;
            let dmvpn = Dmvpn {
                shared: self.shared.clone(),
            };
            let path = format!("{}/interface", self.rpc);
            let no_instance =
                || Refusal::new(Some(&path), format!("no NHRP instance on {interface:?}"));
            let requests = dmvpn.sender(&interface).ok_or_else(no_instance)?;
            requests
                .send(Input::Command(command))
                .await
                .map_err(|_| no_instance())?;
            Ok(None)
        })
    }
}
