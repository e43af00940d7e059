//! Our YANG RPCs (`clear-cache`, `purge`, ...) as `<rpc>` operations in
//! their module's namespace (RFC 7950, 7.14.4): the input is checked by
//! libyang and handed to the registered handler as RFC 7951 JSON; the
//! output comes back as children of `<rpc-reply>`.

use std::fmt::Write;

use holo_utils::sys::yang::print_data;
use roxmltree::Node;
use serde_json::Value;
use yang2::data::{DataFormat, DataOperation, DataPrinterFlags};

use super::rpc_error::RpcError;
use super::session::{Reply, Session};
use super::xml;
use crate::config::Format;
use crate::data;
use crate::error::Error;

pub(crate) async fn execute(
    session: &mut Session,
    path: &str,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    let mut fragment = xml::Fragment::new();
    fragment.subtree(operation, true, &[]);
    let input = {
        let tree =
            data::parse_operation(&fragment.into_string(), Format::Xml, DataOperation::RpcYang)?;
        print_data(&tree, DataFormat::JSON, DataPrinterFlags::WITH_SIBLINGS)
            .map_err(Error::from)?
            .unwrap_or_default()
    };
    let handler = session
        .netconf
        .handle
        .rpc_handler(path)
        .cloned()
        .ok_or_else(|| {
            RpcError::operation_not_supported(format!("{path}: no handler for this RPC"))
        })?;
    let output = handler
        .execute(input)
        .await
        .map_err(|refusal| RpcError::operation_failed(refusal.reason).with_path(refusal.path))?;
    let body = match output {
        Some(json) => output_xml(&json)?,
        None => String::new(),
    };
    Ok(match body.is_empty() {
        true => Reply::Ok,
        false => Reply::Body(body),
    })
}

/// RPC output JSON (`{"module:rpc": {...}}`) as the XML elements of
/// `<rpc-reply>`, each in its module's namespace.
fn output_xml(json: &str) -> Result<String, RpcError> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| RpcError::operation_failed(format!("RPC output is not JSON: {e}")))?;
    let mut out = String::new();
    if let Value::Object(top) = value {
        for (name, output) in top {
            let module = name.split_once(':').map(|(m, _)| m.to_owned());
            if let Value::Object(children) = output {
                for (key, value) in children {
                    // Top level: always in the module's namespace.
                    let key = match (key.contains(':'), &module) {
                        (false, Some(module)) => format!("{module}:{key}"),
                        _ => key,
                    };
                    element(&mut out, &key, &value, None);
                }
            }
        }
    }
    Ok(out)
}

fn element(out: &mut String, key: &str, value: &Value, parent_module: Option<&str>) {
    let (module, name) = match key.split_once(':') {
        Some((module, name)) => (Some(module), name),
        None => (parent_module, key),
    };
    if let Value::Array(items) = value {
        for item in items {
            element(out, key, item, parent_module);
        }
        return;
    }
    let namespace = match module {
        Some(module) if parent_module != Some(module) => dmvpn_yang::context()
            .get_module_latest(module)
            .map(|m| format!(" xmlns=\"{}\"", xml::attribute(m.namespace()))),
        _ => None,
    };
    let namespace = namespace.unwrap_or_default();
    match value {
        Value::Null => {
            let _ = write!(out, "<{name}{namespace}/>");
        }
        Value::Object(children) => {
            let _ = write!(out, "<{name}{namespace}>");
            for (key, value) in children {
                element(out, key, value, module);
            }
            let _ = write!(out, "</{name}>");
        }
        Value::String(text) => {
            let _ = write!(out, "<{name}{namespace}>{}</{name}>", xml::text(text));
        }
        other => {
            let _ = write!(out, "<{name}{namespace}>{other}</{name}>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_json_becomes_namespaced_elements() {
        let nhrp = dmvpn_yang::context()
            .get_module_latest("dmvpn-nhrp")
            .unwrap();
        let xml = output_xml(r#"{"dmvpn-nhrp:purge":{"purged":3,"entry":[{"a":"x<"},{"a":"y"}]}}"#)
            .unwrap();
        let ns = nhrp.namespace();
        assert_eq!(
            xml,
            format!(
                "<entry xmlns=\"{ns}\"><a>x&lt;</a></entry><entry xmlns=\"{ns}\"><a>y</a></entry>\
                 <purged xmlns=\"{ns}\">3</purged>"
            )
        );
    }
}
