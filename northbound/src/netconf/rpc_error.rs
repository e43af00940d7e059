//! `<rpc-error>` (RFC 6241, 4.3 and Appendix A): every failure of a
//! request, with its error-type, error-tag and, for YANG errors, the
//! namespace-qualified error-path.

use std::fmt::Write;

use super::xml;
use crate::error::Error;

/// The layer the error happened in (RFC 6241, 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layer {
    Rpc,
    Protocol,
    Application,
}

impl Layer {
    fn name(self) -> &'static str {
        match self {
            Layer::Rpc => "rpc",
            Layer::Protocol => "protocol",
            Layer::Application => "application",
        }
    }
}

/// One `<rpc-error>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RpcError {
    pub layer: Layer,
    /// An error-tag of RFC 6241 Appendix A.
    pub tag: &'static str,
    /// A libyang data path (`/ietf-interfaces:interfaces/...`).
    pub path: Option<String>,
    pub message: String,
    /// `<error-info>` children: element name and text.
    pub info: Vec<(&'static str, String)>,
}

impl RpcError {
    pub(crate) fn new(layer: Layer, tag: &'static str, message: impl Into<String>) -> Self {
        RpcError {
            layer,
            tag,
            path: None,
            message: message.into(),
            info: vec![],
        }
    }

    pub(crate) fn with_info(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.info.push((name, value.into()));
        self
    }

    pub(crate) fn with_path(mut self, path: Option<String>) -> Self {
        self.path = path;
        self
    }

    /// RFC 6241 Appendix A: malformed-message.
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        RpcError::new(Layer::Rpc, "malformed-message", message)
    }

    pub(crate) fn invalid_value(message: impl Into<String>) -> Self {
        RpcError::new(Layer::Protocol, "invalid-value", message)
    }

    pub(crate) fn missing_element(layer: Layer, element: &str) -> Self {
        RpcError::new(layer, "missing-element", format!("<{element}> is missing"))
            .with_info("bad-element", element)
    }

    pub(crate) fn unknown_element(layer: Layer, element: &str) -> Self {
        RpcError::new(
            layer,
            "unknown-element",
            format!("<{element}> is not known here"),
        )
        .with_info("bad-element", element)
    }

    pub(crate) fn operation_not_supported(message: impl Into<String>) -> Self {
        RpcError::new(Layer::Protocol, "operation-not-supported", message)
    }

    pub(crate) fn operation_failed(message: impl Into<String>) -> Self {
        RpcError::new(Layer::Application, "operation-failed", message)
    }

    pub(crate) fn access_denied(operation: &str, user: &str) -> Self {
        RpcError::new(
            Layer::Protocol,
            "access-denied",
            format!("user {user} may not {operation}: read-only access"),
        )
    }

    /// The `<rpc-error>` element.
    pub(crate) fn to_xml(&self) -> String {
        let mut out = String::from("<rpc-error>");
        let _ = write!(
            out,
            "<error-type>{}</error-type><error-tag>{}</error-tag>\
             <error-severity>error</error-severity>",
            self.layer.name(),
            self.tag
        );
        if let Some(path) = &self.path {
            let (path, namespaces) = xml::error_path(path);
            out.push_str("<error-path");
            for (prefix, ns) in namespaces {
                let _ = write!(out, " xmlns:{prefix}=\"{}\"", xml::attribute(&ns));
            }
            let _ = write!(out, ">{}</error-path>", xml::text(&path));
        }
        let _ = write!(
            out,
            "<error-message xml:lang=\"en\">{}</error-message>",
            xml::text(&self.message)
        );
        if !self.info.is_empty() {
            out.push_str("<error-info>");
            for (name, value) in &self.info {
                out.push_str(&xml::leaf(name, value));
            }
            out.push_str("</error-info>");
        }
        out.push_str("</rpc-error>");
        out
    }
}

/// Northbound errors as RFC 6241 errors; the message is the error as it
/// prints elsewhere (the CLI, gRPC).
impl From<Error> for RpcError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        let path = error.path().map(str::to_owned);
        match error {
            Error::Yang {
                message: reason, ..
            } => {
                let tag = yang_tag(&reason);
                RpcError::new(Layer::Application, tag, reason).with_path(path)
            }
            Error::Refused { .. } => {
                RpcError::new(Layer::Application, "operation-failed", message).with_path(path)
            }
            Error::Locked { session, .. } => RpcError::new(Layer::Protocol, "in-use", message)
                .with_info("session-id", session.to_string()),
            Error::ConfirmOwner { .. } => RpcError::new(Layer::Protocol, "in-use", message),
            Error::UnknownTransaction(_) => RpcError::invalid_value(message),
            Error::Outdated { .. }
            | Error::NothingToConfirm
            | Error::NotLocked
            | Error::Stopped
            | Error::Io { .. }
            | Error::Corrupt { .. } => RpcError::operation_failed(message),
        }
    }
}

/// The error-tag of a libyang message: schema violations are
/// invalid-value, except the few RFC 6241 names otherwise.
fn yang_tag(message: &str) -> &'static str {
    if message.starts_with("Mandatory node") {
        "data-missing"
    } else if message.contains("not found as a child")
        || message.starts_with("Node \"")
        || message.contains("unknown element")
    {
        "unknown-element"
    } else {
        "invalid-value"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yang_error_names_its_qualified_path() {
        let error = RpcError::from(Error::Yang {
            path: Some("/ietf-interfaces:interfaces/interface[name='tun0']".to_owned()),
            message: "Value \"0\" is out of range.".to_owned(),
        });
        let text = error.to_xml();
        assert!(
            text.contains("<error-tag>invalid-value</error-tag>"),
            "{text}"
        );
        assert!(
            text.contains(
                "<error-path xmlns:if=\"urn:ietf:params:xml:ns:yang:ietf-interfaces\">\
                 /if:interfaces/if:interface[if:name='tun0']</error-path>"
            ),
            "{text}"
        );
        assert!(text.contains("Value \"0\" is out of range."), "{text}");
    }

    #[test]
    fn a_lock_error_names_the_holder_session() {
        let error = RpcError::from(Error::Locked {
            user: "alice".to_owned(),
            session: 7,
            front_end: "netconf",
        });
        assert_eq!(error.tag, "in-use");
        assert!(
            error
                .to_xml()
                .contains("<error-info><session-id>7</session-id></error-info>")
        );
    }
}
