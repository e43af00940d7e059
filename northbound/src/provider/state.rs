//! State: how a protocol crate answers for its operational state.

use std::fmt::Debug;

use super::{BoxFuture, StateFilter};

/// Operational state of one protocol crate (Holo's state callbacks, one per
/// provider rather than per list: the instances answer with a snapshot).
pub trait StateProvider: Debug + Send + Sync {
    /// Names the provider in logs.
    fn name(&self) -> &str;

    /// The provider's state as an RFC 7951 JSON data tree: its state nodes
    /// with the list keys of their parents (`{"ietf-interfaces:interfaces":
    /// {"interface": [{"name": "tun0", "dmvpn-nhrp:nhrp": {...}}]}}`);
    /// `{}` when it has none. An `Err` is logged and the provider left out.
    ///
    /// `filter` is what the request asks for: render at least that (more
    /// is selected away, less is missing), and nothing when the filter
    /// wants none of the provider's nodes, without asking the instances.
    fn state<'a>(&'a self, filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>>;
}
