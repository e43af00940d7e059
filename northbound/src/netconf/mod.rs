//! NETCONF (RFC 6241) over SSH (RFC 6242).
//!
//! The protocol engine is transport-neutral: [`Netconf::run_session`]
//! serves one authenticated session over any byte stream; the SSH server
//! (`ssh`) hands it each `netconf` subsystem channel.
//!
//! ```text
//!   ssh.rs --(Actor, channel)--> Netconf::run_session --> Session (session.rs)
//!                                   | framing.rs   hello, ]]>]]> / chunks
//!                                   | get.rs, filter.rs      get, get-config
//!                                   | edit.rs, copy.rs       edit/copy/delete-config
//!                                   | commit.rs              lock, commit, validate
//!                                   | rpc.rs                 our YANG RPCs
//!                                   | notification.rs        create-subscription
//!                                   v
//!                     Handle (northbound task) + candidate.rs (shared candidate)
//! ```
//!
//! Where RFC 6241 leaves room:
//! - One candidate for all sessions (8.3). It is running until edited;
//!   a commit of a candidate copied from an older running is refused
//!   (it would silently undo the commits since).
//! - Edits of the candidate are checked against the schema as they are
//!   made; the whole-datastore rules (mandatory, must, leafref) at
//!   `<validate>`, `<commit>` and test-only.
//! - Every edit is all or nothing: stop-on-error and rollback-on-error
//!   behave alike, continue-on-error is refused.
//! - default-operation replace replaces the whole target with `<config>`.
//! - A confirmed commit without `<persist>` is followed up on its session
//!   only and rolled back when that session ends (8.4.1); with
//!   `<persist>`, by the same user in any session giving its
//!   `<persist-id>`.

mod candidate;
mod capabilities;
mod commit;
mod copy;
mod datastore;
mod edit;
mod filter;
mod framing;
mod get;
mod notification;
mod rpc;
mod rpc_error;
mod server;
mod session;
pub mod ssh;
mod xml;

pub use server::{CounterValues, Limits, Netconf};
