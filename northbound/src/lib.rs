//! The YANG management spine: the running datastore, per-session
//! candidates, transactions (validate with libyang, prepare/abort/apply in
//! every provider), atomic persistence with a transaction log, rollback and
//! confirmed commit. The gRPC, gNMI and NETCONF servers come on top.
#![forbid(unsafe_code)]

mod candidate;
mod change;
mod clock;
mod config;
mod error;
pub mod grpc;
mod provider;
mod storage;
mod transaction;

pub use candidate::{Candidate, LoadMode};
pub use change::{Change, Operation, diff};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, Format};
pub use error::Error;
pub use provider::{Provider, Refusal};
pub use storage::{PendingConfirm, TransactionRecord, write_atomic};
pub use transaction::{DEFAULT_MAX_TRANSACTIONS, Northbound};
