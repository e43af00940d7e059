//! The provider API: what a protocol crate implements to be managed, the
//! same whatever the management protocol.
//!
//! ```text
//!   front ends: gRPC (grpc/) today, gNMI and NETCONF next; each only
//!   translates its protocol, none is known to the providers
//!       |
//!       v
//!   Handle (task.rs, one clone per front end)
//!       |-- Request --> northbound task --> Northbound --> Provider::prepare /
//!       |                                     abort / apply     (configuration)
//!       |-- state(filter) ---> StateProvider::state, every provider,
//!       |                      rendering what the XPath asks for,
//!       |                      merged into one tree             (state)
//!       |-- rpc_handler(path) --> RpcHandler::execute           (rpc)
//!       +-- notifier().subscribe() <-- Notifier::publish
//!                                      <-- protocol tasks       (notification)
//! ```
//!
//! A daemon registers the configuration providers in the
//! [`Northbound`](crate::Northbound), the others in the
//! [`Builder`](crate::Builder), and hands the [`Handle`](crate::Handle) the
//! builder spawns to every front end it serves.

mod configuration;
mod filter;
mod notification;
mod rpc;
mod state;

use std::future::Future;
use std::pin::Pin;

pub use configuration::{Provider, Refusal};
pub use filter::StateFilter;
pub use notification::{Notifier, YangNotification};
pub use rpc::RpcHandler;
pub use state::{Parts, StateProvider};

/// What the asynchronous provider methods return: a boxed future, so the
/// traits stay object safe (`Arc<dyn StateProvider>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
