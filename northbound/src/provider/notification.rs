//! Notifications: how protocol tasks publish YANG notifications (peer
//! up/down, NHS up/down) to every front end's subscribers.

use holo_utils::sys::yang::print_data;
use tokio::sync::broadcast;
use yang2::data::{DataOperation, DataPrinterFlags};
use yang2::schema::SchemaPathFormat;

use crate::clock::unix_ms;
use crate::config::Format;
use crate::data;
use crate::error::Error;

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

/// Publishes notifications to every subscriber (the gRPC Subscribe streams
/// today); clones share the channel. Publishing with no subscriber is not
/// an error.
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
        // Nobody listens (a hub has no subscriber for most of its life, and
        // 100 000 spokes registering publish 100 000 peer-up): checked,
        // not printed, which saves the print (`print_data` frees libyang's
        // buffer, where yang2's `print_string` leaked ~1 KB a notification).
        if self.0.receiver_count() == 0 {
            return Ok(());
        }
        let path = node.schema().path(SchemaPathFormat::DATA);
        let json = print_data(
            &tree,
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

#[cfg(test)]
mod tests {
    use super::*;

    const PEER_UP: &str =
        r#"{"dmvpn-nhrp:peer-up":{"interface":"tun0","protocol-address":"10.0.0.5"}}"#;

    #[test]
    fn without_a_subscriber_a_notification_is_still_checked() {
        let notifier = Notifier(broadcast::channel(4).0);
        assert!(notifier.publish(PEER_UP).is_ok());
        assert!(notifier.publish(r#"{"dmvpn-nhrp:no-such":{}}"#).is_err());
        let mut subscriber = notifier.subscribe();
        assert!(notifier.publish(PEER_UP).is_ok());
        let got = subscriber.try_recv().map(|n| n.path);
        assert_eq!(got.as_deref(), Ok("/dmvpn-nhrp:peer-up"));
        assert!(
            subscriber.try_recv().is_err(),
            "only what was published since"
        );
    }
}
