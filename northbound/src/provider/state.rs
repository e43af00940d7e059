//! State: how a protocol crate answers for its operational state.

use std::fmt::Debug;

use std::pin::Pin;

use tokio_stream::Stream;

use super::{BoxFuture, StateFilter};

/// A provider's state in parts ([`StateProvider::state_parts`]): each item
/// one complete RFC 7951 JSON document, rendered when it is taken.
pub type Parts<'a> = Pin<Box<dyn Stream<Item = Result<String, String>> + Send + 'a>>;

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

    /// The same state in parts (GetStream with a page size): documents in
    /// the shape of [`state`](Self::state)'s, each with the list keys of
    /// its nodes' parents, which merged (list entries by their keys) are
    /// what `state` renders. A list that grows with the network (a peer
    /// or cache entry per spoke) comes `page` entries a part, the rest of
    /// the state in the first part; a list entry is never split. The
    /// northbound takes the next part only when the previous one has left,
    /// so a part is rendered when it is taken, from a snapshot the future
    /// made: neither side holds the whole text.
    ///
    /// By default, one part: `state`. An `Err` part is logged and the
    /// provider's remaining parts left out.
    fn state_parts<'a>(
        &'a self,
        filter: &'a StateFilter,
        page: usize,
    ) -> BoxFuture<'a, Result<Parts<'a>, String>> {
        let _ = page;
        Box::pin(async move {
            let state = self.state(filter).await?;
            Ok(Box::pin(tokio_stream::once(Ok(state))) as Parts<'a>)
        })
    }
}
