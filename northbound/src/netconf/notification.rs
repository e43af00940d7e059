//! Event notifications (RFC 5277): `<create-subscription>` to the NETCONF
//! stream, and each notification the protocol tasks publish sent as a
//! `<notification>` with its `<eventTime>`, between the session's replies
//! (`:interleave`).

use roxmltree::Node;
use tokio::sync::broadcast;
use yang2::data::DataOperation;

use super::rpc_error::{Layer, RpcError};
use super::session::{Reply, Session};
use super::xml;
use crate::config::Format;
use crate::data;
use crate::provider::YangNotification;

/// A session's subscription.
#[derive(Debug)]
pub(crate) struct Subscription {
    receiver: broadcast::Receiver<YangNotification>,
    /// Notification paths (`/dmvpn-nhrp:nhs-up`) the filter lets through;
    /// empty: all.
    wanted: Vec<String>,
}

impl Subscription {
    /// The next notification for a subscription, as a whole message;
    /// `None` for one filtered out or lost. Never resolves without one.
    pub(crate) async fn next(subscription: &mut Option<Subscription>) -> Option<String> {
        let Some(subscription) = subscription else {
            return std::future::pending().await;
        };
        match subscription.receiver.recv().await {
            Ok(notification) => {
                let wanted = subscription.wanted.is_empty()
                    || subscription.wanted.contains(&notification.path);
                match wanted {
                    true => to_xml(&notification),
                    false => None,
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "a NETCONF subscriber missed notifications");
                None
            }
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// RFC 5277, 2.1.1.
pub(crate) fn create_subscription(
    session: &mut Session,
    node: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    if session.subscription.is_some() {
        return Err(RpcError::new(
            Layer::Protocol,
            "operation-failed",
            "this session already has a subscription",
        ));
    }
    let param = |name| xml::child(node, xml::NOTIFICATION, name);
    if let Some(stream) = param("stream") {
        let stream = xml::content(stream).trim();
        if stream != "NETCONF" {
            return Err(RpcError::invalid_value(format!(
                "no stream {stream}: only NETCONF"
            )));
        }
    }
    if param("startTime").is_some() {
        return Err(RpcError::operation_failed(
            "replay is not supported: subscribe without startTime",
        ));
    }
    if param("stopTime").is_some() {
        return Err(RpcError::invalid_value("stopTime needs startTime (replay)"));
    }
    let wanted = match param("filter") {
        Some(filter) => filter_paths(filter)?,
        None => vec![],
    };
    session.subscription = Some(Subscription {
        receiver: session.netconf.handle.notifier().subscribe(),
        wanted,
    });
    Ok(Reply::Ok)
}

/// A subtree filter of notifications, by their top element: a
/// notification of a module, or the module's namespace alone (an element
/// of another name matches nothing).
fn filter_paths(filter: Node<'_, '_>) -> Result<Vec<String>, RpcError> {
    if filter.attribute("type").is_some_and(|t| t != "subtree") {
        return Err(RpcError::invalid_value(
            "notification filters are subtree filters",
        ));
    }
    let mut wanted = vec![];
    for element in xml::elements(filter) {
        let name = element.tag_name().name();
        let module = element
            .tag_name()
            .namespace()
            .and_then(xml::module_of)
            .ok_or_else(|| {
                RpcError::invalid_value(format!("<{name}> is not in a module's namespace"))
            })?;
        match module.notifications().any(|n| n.name() == name) {
            true => wanted.push(format!("/{}:{name}", module.name())),
            // Nothing matches; keep the subscription (RFC 5277 filters
            // only select).
            false => wanted.push(format!("/{}:{name}/", module.name())),
        }
    }
    if wanted.is_empty() {
        // An empty filter selects nothing.
        wanted.push(String::from("/"));
    }
    Ok(wanted)
}

/// The `<notification>` message of a published notification.
fn to_xml(notification: &YangNotification) -> Option<String> {
    let tree = data::parse_operation(
        &notification.json,
        Format::Json,
        DataOperation::NotificationYang,
    )
    .and_then(|tree| data::print(&tree, Format::Xml, false));
    match tree {
        Ok(content) => Some(format!(
            "<notification xmlns=\"{}\"><eventTime>{}</eventTime>{content}</notification>",
            xml::NOTIFICATION,
            event_time(notification.timestamp)
        )),
        Err(error) => {
            tracing::warn!(%error, path = notification.path, "notification not sent");
            None
        }
    }
}

/// RFC 3339 UTC time of milliseconds since the Unix epoch.
pub(crate) fn event_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms % 1000
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_rfc_3339() {
        assert_eq!(event_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(event_time(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(event_time(1_796_601_599_000), "2026-12-06T23:59:59.000Z");
    }

    #[test]
    fn a_notification_is_wrapped_with_its_time() {
        let notification = YangNotification {
            timestamp: 1000,
            path: "/dmvpn-nhrp:nhs-up".to_owned(),
            json: r#"{"dmvpn-nhrp:nhs-up":{"interface":"tun0","protocol-address":"10.0.0.1"}}"#
                .to_owned(),
        };
        let text = to_xml(&notification).unwrap();
        assert!(
            text.starts_with("<notification xmlns=\"urn:ietf:params:xml:ns:netconf:notification:1.0\"><eventTime>1970-01-01T00:00:01.000Z</eventTime><nhs-up xmlns=\"urn:"),
            "{text}"
        );
        assert!(
            text.contains("<protocol-address>10.0.0.1</protocol-address>"),
            "{text}"
        );
    }
}
