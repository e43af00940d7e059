//! Configuration: how a protocol crate takes part in configuration
//! transactions.
//!
//! A commit runs in three phases, as in Holo's northbound:
//!
//! ```text
//!   validate (libyang) -> prepare (every provider) -> persist -> apply (every provider)
//!                              | one refuses
//!                              +-> abort (every provider that prepared) -> error
//! ```
//!
//! Running, in memory and on disk, changes only when every provider accepted.

use crate::change::Change;

/// Why a provider refuses a configuration: the YANG path it is about (when
/// there is one) and the reason, shown to the operator as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub path: Option<String>,
    pub reason: String,
}

impl Refusal {
    pub fn new(path: Option<&str>, reason: impl Into<String>) -> Self {
        Refusal {
            path: path.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

/// A participant in configuration transactions: a protocol crate's
/// northbound glue (NHRP instances, tunnels, ...).
///
/// Every provider receives every change of a transaction and picks those
/// under its own YANG nodes by [`Change::schema_path`] (the path without list
/// keys), one `match` arm per path as Holo's per-path callbacks. Following
/// Holo, a provider records the new configuration and queues events in
/// `prepare`/`apply`; the work (starting an instance, re-registering) happens
/// once, when the queued events are processed after the transaction.
///
/// - `prepare` checks what libyang cannot (a resource, a combination the
///   code does not support) and reserves what `apply` needs; it must not
///   change what the provider runs. An `Err` aborts the transaction.
/// - `abort` releases what `prepare` reserved. It is called on every
///   provider whose `prepare` succeeded when a later one refused (or the
///   commit could not be persisted); a provider that refuses cleans up
///   before returning its error.
/// - `apply` makes the configuration effective; it cannot fail, because
///   the commit is already durable when it runs.
///
/// ```
/// use northbound::{Change, Operation, Provider, Refusal};
///
/// const HOLDING_TIME: &str =
///     "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/holding-time";
///
/// #[derive(Debug, Default)]
/// struct Nhrp {
///     holding_time: u16,
///     pending: Option<u16>,
/// }
///
/// impl Provider for Nhrp {
///     fn name(&self) -> &str {
///         "nhrp"
///     }
///
///     fn prepare(&mut self, changes: &[Change]) -> Result<(), Refusal> {
///         for change in changes {
///             match (change.schema_path.as_str(), change.operation) {
///                 (HOLDING_TIME, Operation::Create | Operation::Modify) => {
///                     let value = change.value.as_deref().unwrap_or_default();
///                     let secs = value.parse().map_err(|_| {
///                         Refusal::new(Some(&change.path), "not a holding time")
///                     })?;
///                     self.pending = Some(secs);
///                 }
///                 _ => {}
///             }
///         }
///         Ok(())
///     }
///
///     fn abort(&mut self, _changes: &[Change]) {
///         self.pending = None;
///     }
///
///     fn apply(&mut self, _changes: &[Change]) {
///         if let Some(secs) = self.pending.take() {
///             // Queue "holding time changed" for the instance task here.
///             self.holding_time = secs;
///         }
///     }
/// }
///
/// let mut nb = northbound::Northbound::open(
///     &std::env::temp_dir().join(format!("nb-doc-{}", std::process::id())),
/// )?;
/// nb.register(Box::new(Nhrp::default()))?;
/// let mut candidate = nb.candidate();
/// let tun0 = "/ietf-interfaces:interfaces/interface[name='tun0']";
/// candidate.set(&format!("{tun0}/type"), Some("dmvpn-tunnel:mgre"))?;
/// candidate.set(&format!("{tun0}/dmvpn-tunnel:tunnel/source-address"), Some("192.0.2.1"))?;
/// candidate.set(&format!("{tun0}/dmvpn-nhrp:nhrp/network-id"), Some("1"))?;
/// candidate.set(&format!("{tun0}/dmvpn-nhrp:nhrp/holding-time"), Some("600"))?;
/// let id = nb.commit(&mut candidate, "holding time 600", None)?;
/// assert_eq!(id, Some(1));
/// # std::fs::remove_dir_all(nb.state_dir()).ok();
/// # Ok::<(), northbound::Error>(())
/// ```
pub trait Provider: std::fmt::Debug + Send {
    /// Names the provider in errors and logs.
    fn name(&self) -> &str;

    /// Checks the changes and reserves what `apply` needs.
    fn prepare(&mut self, changes: &[Change]) -> Result<(), Refusal>;

    /// Releases what `prepare` reserved; the transaction is abandoned.
    fn abort(&mut self, changes: &[Change]);

    /// Makes the changes effective.
    fn apply(&mut self, changes: &[Change]);
}
