//! RPCs: how a protocol crate serves the YANG RPCs of its modules (clear,
//! purge).

use std::fmt::Debug;

use super::BoxFuture;
use super::configuration::Refusal;

/// Serves one YANG RPC, registered under its path (`/dmvpn-nhrp:clear-cache`).
pub trait RpcHandler: Debug + Send + Sync {
    /// `input` is the RPC node with its input, validated by libyang, as
    /// RFC 7951 JSON. Returns the output as JSON (`None`: no output). A
    /// refusal (no such instance, ...) is a FAILED_PRECONDITION.
    fn execute(&self, input: String) -> BoxFuture<'_, Result<Option<String>, Refusal>>;
}
