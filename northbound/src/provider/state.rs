//! State: how a protocol crate answers for its operational state.

use std::fmt::Debug;

use super::BoxFuture;

/// Operational state of one protocol crate (Holo's state callbacks, one per
/// provider rather than per list: the instances answer with a snapshot).
pub trait StateProvider: Debug + Send + Sync {
    /// Names the provider in logs.
    fn name(&self) -> &str;

    /// The provider's state as an RFC 7951 JSON data tree: its state nodes
    /// with the list keys of their parents (`{"ietf-interfaces:interfaces":
    /// {"interface": [{"name": "tun0", "dmvpn-nhrp:nhrp": {...}}]}}`);
    /// `{}` when it has none. An `Err` is logged and the provider left out.
    fn state(&self) -> BoxFuture<'_, Result<String, String>>;
}
