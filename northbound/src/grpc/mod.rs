//! The gRPC management API (`api/proto/northbound.proto`), shaped after
//! Holo's: configuration and state are YANG data trees in JSON or XML, every
//! change is a transaction.
//!
//! This module is only the gRPC front end: the tonic service translating
//! each RPC of the proto to and from the transport-neutral [`Handle`]
//! (requests to the northbound task, the state and RPC providers,
//! notification subscriptions), and where it listens.
//!
//! ```text
//!   gRPC client --proto--> Service (service.rs) --Handle--> northbound task,
//!                             | proto <-> YANG JSON/XML       providers, Notifier
//!                             | Error -> Status code
//!   UnixEndpoint / serve_tcp (server.rs): unix socket, TCP (+TLS); both
//!     also serve gNMI (crate::gnmi); on TCP every request is authenticated
//!     (auth.rs: username/password metadata -> Identity in its extensions)
//! ```
//!
//! [`Handle`]: crate::Handle

mod auth;
mod server;
mod service;

pub use auth::TcpAuth;
pub use server::{ServeError, TlsFiles, UnixEndpoint, check_tcp, connect_unix, serve_tcp};
pub use service::Service;
