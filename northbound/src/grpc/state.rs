//! What protocol crates plug into the API besides configuration: state,
//! RPCs and notifications.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use tokio::sync::broadcast;
use yang2::data::{Data, DataOperation, DataPrinterFlags};
use yang2::schema::SchemaPathFormat;

use super::data;
use crate::clock::unix_ms;
use crate::config::Format;
use crate::error::Error;
use crate::provider::Refusal;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Operational state of one protocol crate (Holo's state callbacks, one per
/// provider rather than per list: the instances answer with a snapshot).
pub trait StateProvider: Debug + Send + Sync {
    /// Names the provider in logs.
    fn name(&self) -> &str;

    /// The provider's state as an RFC 7951 JSON data tree: its state nodes
    /// with the list keys of their parents (`{"ietf-interfaces:interfaces":
    /// {"interface": [{"name": "tun0", "dmvpn-nhrp:nhrp": {...}}]}}`);
    /// `{}` when it has none. An `Err` is logged and the provider left out.
    fn state(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// Serves one YANG RPC, registered under its path (`/dmvpn-nhrp:clear-cache`).
pub trait RpcHandler: Debug + Send + Sync {
    /// `input` is the RPC node with its input, validated by libyang, as
    /// RFC 7951 JSON. Returns the output as JSON (`None`: no output). A
    /// refusal (no such instance, ...) is a FAILED_PRECONDITION.
    fn execute(&self, input: String) -> BoxFuture<'_, Result<Option<String>, Refusal>>;
}

/// One YANG notification as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YangNotification {
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// Path of the notification node, `/dmvpn-nhrp:nhs-up`: what Subscribe
    /// filters on.
    pub path: String,
    /// The notification as RFC 7951 JSON.
    pub json: String,
}

/// Publishes notifications to every Subscribe stream; clones share the
/// channel. Publishing with no subscriber is not an error.
#[derive(Clone, Debug)]
pub struct Notifier(pub(crate) broadcast::Sender<YangNotification>);

impl Notifier {
    /// Checks `json` against the modules (a notification of the schema, with
    /// valid values) and sends it.
    pub fn publish(&self, json: &str) -> Result<(), Error> {
        let tree = data::parse_operation(json, Format::Json, DataOperation::NotificationYang)?;
        let Some(node) = tree.reference() else {
            return Err(Error::Yang {
                path: None,
                message: "empty notification".to_owned(),
            });
        };
        let path = node.schema().path(SchemaPathFormat::DATA);
        let json = tree
            .print_string(
                data::yang_format(Format::Json),
                DataPrinterFlags::WITH_SIBLINGS,
            )?
            .unwrap_or_default();
        let notification = YangNotification {
            timestamp: unix_ms(std::time::SystemTime::now()),
            path,
            json,
        };
        // An error only means nobody listens.
        let _ = self.0.send(notification);
        Ok(())
    }

    /// The notifications published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<YangNotification> {
        self.0.subscribe()
    }
}
