//! The gRPC management API (`api/proto/northbound.proto`), shaped after
//! Holo's: configuration and state are YANG data trees in JSON or XML, every
//! change is a transaction.
//!
//! ```text
//!   gRPC handlers --Request--> [ northbound task ]  owns Northbound: running,
//!        |        <--oneshot--    sleeps until      candidates, log, providers
//!        |                        next_deadline(), then tick()
//!        +--> StateProvider::state / RpcHandler::execute (async, per request)
//!   protocol tasks --Notifier::publish--> broadcast --> Subscribe streams
//! ```
//!
//! The [`Northbound`](crate::Northbound) is owned by one task, never locked:
//! handlers only send it requests. State and RPCs do not go through it, so
//! a slow protocol instance never holds up a commit.
//!
//! A daemon builds the server like this:
//!
//! ```no_run
//! # async fn run(nb: northbound::Northbound) -> Result<(), Box<dyn std::error::Error>> {
//! use northbound::grpc::{Builder, UnixEndpoint};
//! let (service, task) = Builder::new(nb).spawn();
//! let endpoint = UnixEndpoint::bind("/run/dmvpnd/grpc.sock".as_ref())?;
//! endpoint.serve(service, std::future::pending()).await?;
//! # drop(task);
//! # Ok(()) }
//! ```

mod data;
mod server;
mod service;
mod state;
mod task;

pub use server::{ServeError, TlsFiles, UnixEndpoint, connect_unix, serve_tcp};
pub use service::Service;
pub use state::{BoxFuture, Notifier, RpcHandler, StateProvider, YangNotification};
pub use task::Builder;
