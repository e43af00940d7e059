//! `<filter>` of get and get-config (RFC 6241, 6 and 8.9): a subtree
//! filter turned into XPath selections over the schema, or an XPath with
//! its prefixes turned into module names; libyang selects.
//!
//! ```text
//!   <interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces">
//!     <interface><name>tun0</name><nhrp xmlns="urn:...:dmvpn-nhrp"/></interface>
//!   </interfaces>
//!   --> /ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp
//!       | /ietf-interfaces:interfaces/interface[name='tun0']/name
//! ```

use roxmltree::Node;
use yang2::schema::{DataValueType, SchemaModule, SchemaNode, SchemaNodeKind};

use super::rpc_error::{Layer, RpcError};
use super::xml;

/// What a filter selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Selection {
    All,
    Nothing,
    XPath(String),
}

/// The selection of `operation`'s `<filter>`.
pub(crate) fn selection(operation: Node<'_, '_>) -> Result<Selection, RpcError> {
    let Some(filter) = xml::child(operation, xml::BASE, "filter") else {
        return Ok(Selection::All);
    };
    let attribute = |name| {
        filter
            .attribute(name)
            .or_else(|| filter.attribute((xml::BASE, name)))
    };
    match attribute("type").unwrap_or("subtree") {
        "subtree" => Ok(subtree(filter)),
        "xpath" => {
            let select = attribute("select").ok_or_else(|| {
                RpcError::new(
                    Layer::Protocol,
                    "missing-attribute",
                    "an xpath filter needs select",
                )
                .with_info("bad-attribute", "select")
                .with_info("bad-element", "filter")
            })?;
            match select.trim() {
                "" => Ok(Selection::Nothing),
                select => Ok(Selection::XPath(xml::xpath_with_modules(select, filter))),
            }
        }
        other => Err(RpcError::new(
            Layer::Protocol,
            "bad-attribute",
            format!("filter type {other}: subtree or xpath"),
        )
        .with_info("bad-attribute", "type")
        .with_info("bad-element", "filter")),
    }
}

/// RFC 6241, 6.2: an empty filter selects nothing; elements the schema
/// does not know select nothing.
fn subtree(filter: Node<'_, '_>) -> Selection {
    let mut branches = vec![];
    for top in xml::elements(filter) {
        branches.extend(paths(top, None, ""));
    }
    match branches.is_empty() {
        true => Selection::Nothing,
        false => Selection::XPath(branches.join(" | ")),
    }
}

/// The XPath branches of one filter element below `parent` (whose path
/// is `parent_path`).
fn paths(
    element: Node<'_, '_>,
    parent: Option<&SchemaNode<'static>>,
    parent_path: &str,
) -> Vec<String> {
    let Some(schema) = schema_node(element, parent) else {
        return vec![];
    };
    let path = format!("{parent_path}/{}", step(&schema, parent));
    let children: Vec<Node<'_, '_>> = xml::elements(element).collect();
    if children.is_empty() {
        let value = xml::content(element).trim();
        return match value.is_empty() {
            // A selection node.
            true => vec![path],
            // A content match node alone: the leaf if it has the value.
            false => match xml::literal(&json_value(element, &schema, value)) {
                Some(value) => vec![format!("{path}[.={value}]")],
                None => vec![],
            },
        };
    }
    // Content match children become predicates of this node; selection
    // and containment children are branches below it.
    let mut predicates = String::new();
    let mut matched = vec![];
    let mut below = vec![];
    for child in children {
        let value = xml::content(child).trim();
        let is_match = xml::elements(child).next().is_none() && !value.is_empty();
        if !is_match {
            below.push(child);
            continue;
        }
        let Some(leaf) = schema_node(child, Some(&schema)) else {
            return vec![];
        };
        let Some(literal) = xml::literal(&json_value(child, &leaf, value)) else {
            return vec![];
        };
        predicates.push_str(&format!("[{}={literal}]", step(&leaf, Some(&schema))));
        matched.push(leaf);
    }
    let path = format!("{path}{predicates}");
    if below.is_empty() {
        return vec![path];
    }
    let mut branches: Vec<String> = matched
        .iter()
        .map(|leaf| format!("{path}/{}", step(leaf, Some(&schema))))
        .collect();
    for child in below {
        branches.extend(paths(child, Some(&schema), &path));
    }
    branches
}

/// A content match value as libyang's XPath compares it: an identity
/// with the prefix of the request (`dt:mgre`) takes its module's name
/// (`dmvpn-tunnel:mgre`).
fn json_value(element: Node<'_, '_>, leaf: &SchemaNode<'static>, value: &str) -> String {
    let identity = leaf
        .leaf_type()
        .is_some_and(|t| t.base_type() == DataValueType::IdentityRef);
    let module = value
        .split_once(':')
        .filter(|_| identity)
        .and_then(|(prefix, name)| {
            let module = xml::module_of(element.lookup_namespace_uri(Some(prefix))?)?;
            Some(format!("{}:{name}", module.name()))
        });
    module.unwrap_or_else(|| value.to_owned())
}

/// The schema node of a filter (or edit) element below `parent` (top
/// level: `None`); an element without namespace takes its parent's module.
pub(crate) fn schema_node(
    element: Node<'_, '_>,
    parent: Option<&SchemaNode<'static>>,
) -> Option<SchemaNode<'static>> {
    let name = element.tag_name().name();
    let module = match element.tag_name().namespace() {
        Some(ns) => Some(xml::module_of(ns)?),
        None => parent.and_then(|p| dmvpn_yang::context().get_module_latest(p.module().name())),
    };
    match (parent, module) {
        (Some(parent), Some(module)) => child_schema(parent.children(), &module, name),
        (None, Some(module)) => child_schema(module.data(), &module, name),
        (None, None) => dmvpn_yang::context()
            .modules(false)
            .filter(SchemaModule::is_implemented)
            .find_map(|m| child_schema(m.data(), &m, name)),
        (Some(_), None) => None,
    }
}

/// The child named `name` of `module` among `children`, through choices
/// and cases (they have no element of their own).
pub(crate) fn child_schema(
    children: impl Iterator<Item = SchemaNode<'static>>,
    module: &SchemaModule<'_>,
    name: &str,
) -> Option<SchemaNode<'static>> {
    for child in children {
        match child.kind() {
            SchemaNodeKind::Choice | SchemaNodeKind::Case => {
                if let Some(found) = child_schema(child.children(), module, name) {
                    return Some(found);
                }
            }
            _ if child.name() == name && child.module().name() == module.name() => {
                return Some(child);
            }
            _ => {}
        }
    }
    None
}

/// A path step: the node's name, qualified by its module where it differs
/// from the parent's (RFC 7951 and libyang's JSON paths).
pub(crate) fn step(node: &SchemaNode<'_>, parent: Option<&SchemaNode<'_>>) -> String {
    let module = node.module();
    match parent {
        Some(parent) if parent.module().name() == module.name() => node.name().to_owned(),
        _ => format!("{}:{}", module.name(), node.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(filter: &str) -> Selection {
        let text = format!(
            "<get xmlns=\"{}\"><filter type=\"subtree\">{filter}</filter></get>",
            xml::BASE
        );
        let doc = roxmltree::Document::parse(&text).unwrap();
        selection(doc.root_element()).unwrap()
    }

    const IF: &str = "urn:ietf:params:xml:ns:yang:ietf-interfaces";

    #[test]
    fn subtree_filters_become_xpath() {
        assert_eq!(select(""), Selection::Nothing);
        assert_eq!(
            select(&format!("<interfaces xmlns=\"{IF}\"/>")),
            Selection::XPath("/ietf-interfaces:interfaces".to_owned())
        );
        let nhrp_ns = dmvpn_yang::context()
            .get_module_latest("dmvpn-nhrp")
            .unwrap()
            .namespace()
            .to_owned();
        assert_eq!(
            select(&format!(
                "<interfaces xmlns=\"{IF}\"><interface><name>tun0</name>\
                 <nhrp xmlns=\"{nhrp_ns}\"><holding-time/></nhrp></interface></interfaces>"
            )),
            Selection::XPath(
                "/ietf-interfaces:interfaces/interface[name='tun0']/name \
                 | /ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/holding-time"
                    .to_owned()
            )
        );
        assert_eq!(
            select(&format!(
                "<interfaces xmlns=\"{IF}\"><interface><name>tun0</name></interface></interfaces>"
            )),
            Selection::XPath("/ietf-interfaces:interfaces/interface[name='tun0']".to_owned())
        );
        assert_eq!(
            select("<nothing xmlns=\"urn:nowhere\"/>"),
            Selection::Nothing
        );
        let tunnel = dmvpn_yang::context()
            .get_module_latest("dmvpn-tunnel")
            .unwrap()
            .namespace()
            .to_owned();
        assert_eq!(
            select(&format!(
                "<interfaces xmlns=\"{IF}\"><interface><type xmlns:t=\"{tunnel}\">t:mgre</type>\
                 </interface></interfaces>"
            )),
            Selection::XPath(
                "/ietf-interfaces:interfaces/interface[type='dmvpn-tunnel:mgre']".to_owned()
            )
        );
    }

    #[test]
    fn xpath_filters_take_the_request_prefixes() {
        let text = format!(
            "<get xmlns=\"{}\"><filter type=\"xpath\" xmlns:i=\"{IF}\" select=\"/i:interfaces/i:interface[i:name='tun0']\"/></get>",
            xml::BASE
        );
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(
            selection(doc.root_element()).unwrap(),
            Selection::XPath(
                "/ietf-interfaces:interfaces/ietf-interfaces:interface[ietf-interfaces:name='tun0']"
                    .to_owned()
            )
        );
    }
}
