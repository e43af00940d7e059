//! gNMI (specification 0.10) on the tonic server, next to the management
//! API: Capabilities, Get, Set and Subscribe on the same datastore,
//! transactions, providers and access rules as every other front end.
//!
//! ```text
//!   gNMI client --gnmi.proto--> Service (service.rs) --Handle--> northbound task
//!                                 | Path <-> XPath (path.rs)       (Set: one commit),
//!                                 | values, snapshots (tree.rs)    state providers,
//!                                 | Set -> edits (set.rs)          Notifier
//!                                 | Subscribe sessions (subscribe.rs)
//! ```
//!
//! - Paths: elements may name their module (`dmvpn-nhrp:nhrp`) or not
//!   (looked up in the schema); the origin may be a module name, `rfc7951`
//!   or empty; keys as `interface[name=tun0]`.
//! - Values: JSON_IETF (RFC 7951) or JSON (the same without module names);
//!   Get returns each selected node's content (an object for a container
//!   or list entry), Subscribe one value per leaf. Values in effect are
//!   returned, defaults included. Write-only leaves (pre-shared keys) are
//!   never returned.
//! - Get types: CONFIG is running, STATE and OPERATIONAL what the state
//!   providers render, ALL both.
//! - Access: a read-only user may use Capabilities, Get and Subscribe; Set
//!   is PERMISSION_DENIED. A Set while another session holds the
//!   configuration lock is ABORTED.

mod path;
mod service;
mod set;
mod subscribe;
mod tree;

pub use service::{GNMI_VERSION, Service};
pub use subscribe::{
    DEFAULT_SAMPLE_INTERVAL, MIN_INTERVAL, ON_CHANGE_MIN_GAP, ON_CHANGE_RECHECK, SEND_WAIT,
};
