//! The `<hello>` exchange (RFC 6241, 8.1) and what the server announces:
//! the base protocols, the optional capabilities it implements, every
//! module of the schema, and `<get-schema>` (RFC 6022) to fetch them.

use holo_utils::sys::yang::print_schema;
use yang2::schema::{SchemaOutputFormat, SchemaPrinterFlags};

use std::time::SystemTime;

use super::framing::Framing;
use super::notification::event_time;
use super::rpc_error::{Layer, RpcError};
use super::server::CounterValues;
use super::xml;

pub(crate) const BASE_1_0: &str = "urn:ietf:params:netconf:base:1.0";
pub(crate) const BASE_1_1: &str = "urn:ietf:params:netconf:base:1.1";
const YANG_LIBRARY_1_1: &str = "urn:ietf:params:netconf:capability:yang-library:1.1";

/// The protocol capabilities: RFC 6241 base and optional ones, RFC 5277
/// notifications, RFC 6243 with-defaults (basic mode explicit: what was
/// set is what is stored and shown).
const PROTOCOL: &[&str] = &[
    BASE_1_0,
    BASE_1_1,
    "urn:ietf:params:netconf:capability:writable-running:1.0",
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:netconf:capability:validate:1.1",
    "urn:ietf:params:netconf:capability:xpath:1.0",
    "urn:ietf:params:netconf:capability:notification:1.0",
    "urn:ietf:params:netconf:capability:interleave:1.0",
    "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&also-supported=report-all,trim",
    "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring?module=ietf-netconf-monitoring&revision=2010-10-04",
];

/// Every capability the server announces: the protocol ones, the YANG
/// library's, then one per module of the schema (RFC 6020, 5.6.4 form,
/// for base:1.0 clients), including the modules libyang itself provides
/// (`ietf-inet-types`, ...), which ours import.
pub(crate) fn capabilities() -> Vec<String> {
    let mut all: Vec<String> = PROTOCOL.iter().map(|c| (*c).to_owned()).collect();
    all.extend(yang_library());
    for module in dmvpn_yang::context().modules(false) {
        let mut capability = format!("{}?module={}", module.namespace(), module.name());
        if let Some(revision) = module.revision() {
            capability.push_str(&format!("&revision={revision}"));
        }
        all.push(capability);
    }
    all
}

/// RFC 8526, 2 (RFC 7950, 5.6.4): where the modules are listed, the YANG
/// library, and its content-id. `None` (logged) if it could not be built.
fn yang_library() -> Option<String> {
    let (_, revision) = dmvpn_yang::YANG_LIBRARY;
    let Some(content_id) = crate::yang_library::content_id() else {
        tracing::error!("no YANG library: its capability is not announced");
        return None;
    };
    Some(format!(
        "{YANG_LIBRARY_1_1}?revision={revision}&content-id={content_id}"
    ))
}

/// The server's `<hello>`.
pub(crate) fn server_hello(session: u64) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<hello xmlns=\"{}\"><capabilities>",
        xml::BASE
    );
    for capability in capabilities() {
        out.push_str(&xml::leaf("capability", &capability));
    }
    out.push_str(&format!(
        "</capabilities><session-id>{session}</session-id></hello>"
    ));
    out
}

/// Why a client's hello ends the session (RFC 6241, 8.1).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadHello {
    #[error("the first message is not a well-formed <hello>: {0}")]
    NotHello(String),
    #[error("the client hello carries a session-id")]
    SessionId,
    #[error("no base protocol in common (base:1.0 or base:1.1)")]
    NoBase,
}

/// The framing after a client's `<hello>`: chunked when it announces
/// base:1.1 (RFC 6242, 4.1), end-of-message for base:1.0 only.
pub(crate) fn client_hello(message: &[u8]) -> Result<Framing, BadHello> {
    let text = std::str::from_utf8(message).map_err(|e| BadHello::NotHello(e.to_string()))?;
    let doc = roxmltree::Document::parse(text.trim_start())
        .map_err(|e| BadHello::NotHello(e.to_string()))?;
    let hello = doc.root_element();
    if !hello.has_tag_name((xml::BASE, "hello")) {
        return Err(BadHello::NotHello(format!("<{}>", hello.tag_name().name())));
    }
    if xml::child(hello, xml::BASE, "session-id").is_some() {
        return Err(BadHello::SessionId);
    }
    let capabilities: Vec<&str> = xml::child(hello, xml::BASE, "capabilities")
        .map(|c| {
            xml::elements(c)
                .filter(|n| n.has_tag_name((xml::BASE, "capability")))
                .map(|n| xml::content(n).trim())
                .collect()
        })
        .unwrap_or_default();
    if capabilities.contains(&BASE_1_1) {
        Ok(Framing::Chunked)
    } else if capabilities.contains(&BASE_1_0) {
        Ok(Framing::EndOfMessage)
    } else {
        Err(BadHello::NoBase)
    }
}

/// `<get-schema>` (RFC 6022, 3.1): a module's YANG text, as embedded
/// (ours and the IETF ones we import) or as libyang prints it (the
/// modules built into libyang).
pub(crate) fn get_schema(operation: roxmltree::Node<'_, '_>) -> Result<String, RpcError> {
    let param = |name| xml::child(operation, xml::MONITORING, name).map(xml::content);
    let identifier = param("identifier")
        .map(str::trim)
        .ok_or_else(|| RpcError::missing_element(Layer::Protocol, "identifier"))?;
    let version = param("version").map(str::trim).filter(|v| !v.is_empty());
    if let Some(format) = xml::child(operation, xml::MONITORING, "format") {
        // The format is an identity: `yang` or `ncm:yang`.
        let format = xml::content(format).trim();
        if format.rsplit(':').next() != Some("yang") {
            return Err(RpcError::invalid_value(format!(
                "schema format {format}: only yang is served"
            )));
        }
    }
    let text = match dmvpn_yang::module_text(identifier, version) {
        Some(text) => text.to_owned(),
        None => {
            let context = dmvpn_yang::context();
            let module = match version {
                Some(revision) => context.get_module(identifier, Some(revision)),
                None => context.get_module_latest(identifier),
            };
            module
                .and_then(|m| {
                    let (format, flags) = (SchemaOutputFormat::YANG, SchemaPrinterFlags::empty());
                    print_schema(&m, context, format, flags).ok()
                })
                .ok_or_else(|| {
                    RpcError::invalid_value(format!(
                        "no schema {identifier}{}",
                        version.map(|v| format!("@{v}")).unwrap_or_default()
                    ))
                })?
        }
    };
    Ok(format!(
        "<data xmlns=\"{}\">{}</data>",
        xml::MONITORING,
        xml::text(&text)
    ))
}

/// RFC 6022 `/netconf-state` data for `<get>`: the schemas
/// `<get-schema>` serves, and the server's statistics since `started`.
pub(crate) fn netconf_state(counters: &CounterValues, started: SystemTime) -> String {
    let mut out = format!("<netconf-state xmlns=\"{}\"><schemas>", xml::MONITORING);
    for module in dmvpn_yang::context().modules(false) {
        out.push_str("<schema>");
        out.push_str(&xml::leaf("identifier", module.name()));
        out.push_str(&xml::leaf("version", module.revision().unwrap_or_default()));
        out.push_str("<format>yang</format>");
        out.push_str(&xml::leaf("namespace", module.namespace()));
        out.push_str("<location>NETCONF</location></schema>");
    }
    out.push_str("</schemas><statistics>");
    let start = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let start = u64::try_from(start.as_millis()).unwrap_or(u64::MAX);
    out.push_str(&xml::leaf("netconf-start-time", &event_time(start)));
    for (name, value) in [
        ("in-bad-hellos", counters.bad_hellos),
        ("in-sessions", counters.sessions),
        ("dropped-sessions", counters.refused_sessions),
        ("in-rpcs", counters.rpcs),
        ("in-bad-rpcs", counters.malformed),
        ("out-rpc-errors", counters.rpc_errors),
        ("out-notifications", counters.notifications),
    ] {
        out.push_str(&xml::leaf(name, &value.to_string()));
    }
    out.push_str("</statistics></netconf-state>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(capabilities: &[&str], extra: &str) -> Vec<u8> {
        let caps: String = capabilities
            .iter()
            .map(|c| format!("<capability>{c}</capability>"))
            .collect();
        format!(
            "<hello xmlns=\"{}\"><capabilities>{caps}</capabilities>{extra}</hello>",
            xml::BASE
        )
        .into_bytes()
    }

    #[test]
    fn the_client_hello_picks_the_framing() {
        assert_eq!(
            client_hello(&hello(&[BASE_1_0, BASE_1_1], "")),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            client_hello(&hello(&[BASE_1_0], "")),
            Ok(Framing::EndOfMessage)
        );
        assert_eq!(client_hello(&hello(&["urn:x"], "")), Err(BadHello::NoBase));
        assert_eq!(
            client_hello(&hello(&[BASE_1_0], "<session-id>4</session-id>")),
            Err(BadHello::SessionId)
        );
        assert!(matches!(
            client_hello(b"<rpc/>"),
            Err(BadHello::NotHello(_))
        ));
    }

    #[test]
    fn every_module_is_announced() {
        let capabilities = capabilities();
        for module in dmvpn_yang::MODULES {
            assert!(
                capabilities.iter().any(|c| c.contains(&format!(
                    "?module={}&revision={}",
                    module.name, module.revision
                ))),
                "{}",
                module.name
            );
        }
        assert!(
            capabilities
                .iter()
                .any(|c| c.contains("module=ietf-inet-types"))
        );
    }

    #[test]
    fn the_yang_library_is_announced_with_its_content_id() {
        let content_id = crate::yang_library::content_id().expect("library");
        let wanted = format!(
            "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id={content_id}"
        );
        let capabilities = capabilities();
        assert!(capabilities.contains(&wanted), "{capabilities:?}");
        // And the module itself, for base:1.0 clients.
        assert!(
            capabilities
                .iter()
                .any(|c| c.ends_with("?module=ietf-yang-library&revision=2019-01-04"))
        );
    }
}
