//! The YANG management spine: the running datastore, per-session
//! candidates, transactions (validate with libyang, prepare/abort/apply in
//! every provider), atomic persistence with a transaction log, rollback and
//! confirmed commit; the provider API protocol crates implement
//! (configuration, state, RPCs, notifications) and the northbound task that
//! serves it to every front end. The gRPC server (`grpc`) is the first
//! front end; gNMI and NETCONF come next, on the same providers and task.
#![forbid(unsafe_code)]

pub mod auth;
mod candidate;
mod change;
mod clock;
mod config;
mod data;
mod error;
pub mod gnmi;
pub mod grpc;
pub mod netconf;
mod provider;
mod storage;
mod task;
mod transaction;
mod yang_library;

pub use candidate::{Candidate, LoadMode};
pub use change::{Change, Operation, diff};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, Format};
pub use error::Error;
pub use provider::{
    BoxFuture, Notifier, Parts, Provider, Refusal, RpcHandler, StateFilter, StateProvider,
    YangNotification,
};
pub use storage::{PendingConfirm, TransactionRecord, write_atomic};
pub use task::{Builder, Edit, Handle, Stopped};
pub use transaction::{DEFAULT_MAX_TRANSACTIONS, Northbound};
