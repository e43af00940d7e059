//! gNMI paths (specification 2.2.2) and YANG data paths, both ways.
//!
//! A gNMI path is a list of elements, each a node name with the keys of a
//! list entry. Here it is resolved against the schema, element by element,
//! into the XPath libyang selects with:
//!
//! ```text
//!   origin "ietf-interfaces"  interfaces / interface{name=tun0} / nhrp / holding-time
//!   --> /ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/holding-time
//! ```
//!
//! Names may carry their module (`dmvpn-nhrp:nhrp`, RFC 7951 style) or not:
//! an unqualified name is looked up among the children of its parent in
//! every module (an augment such as `nhrp` is found in dmvpn-nhrp), and the
//! first element may take its module from the path's origin. A key `*` and
//! an element `*` or `...` are wildcards (section 2.2.2.1); after an
//! element wildcard the names are passed to libyang as given.
//!
//! The way back, a data node to a gNMI path, qualifies a name where the
//! module changes, as RFC 7951 does.

use std::collections::HashMap;

use dmvpn_api::gnmi;
use yang2::data::DataNodeRef;
use yang2::iter::IterSchemaFlags;
use yang2::schema::{DataValueType, SchemaNode, SchemaNodeKind};

/// Origins that only say "YANG paths" (not a module name).
const NEUTRAL_ORIGINS: &[&str] = &["", "rfc7951"];

/// A path that does not resolve; the message names the element.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct PathError(pub(crate) String);

fn error(message: impl Into<String>) -> PathError {
    PathError(message.into())
}

/// What the last element of a resolved path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The whole datastore (no element).
    Root,
    Leaf,
    LeafList,
    Container,
    /// A list entry: every key given.
    Entry,
    /// A whole list, or entries selected by some of their keys.
    List,
    /// After a wildcard element: the schema is not followed.
    Unknown,
}

/// One element, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// The RFC 7951 member name: qualified where the module changes.
    pub(crate) member: String,
    /// Key leaves in schema order.
    pub(crate) keys: Keys,
    pub(crate) kind: Target,
}

/// A gNMI path resolved against the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The XPath of the selected nodes; empty for the root.
    pub(crate) xpath: String,
    pub(crate) steps: Vec<Step>,
    pub(crate) target: Target,
    /// Whether some element or key is a wildcard.
    pub(crate) wildcard: bool,
    /// Whether every resolved node is configuration (config true).
    pub(crate) config: bool,
}

/// `prefix` followed by `path`, with the origin of either (they may not
/// differ).
// `element`, deprecated, is only refused.
#[allow(deprecated)]
pub(crate) fn join(
    prefix: Option<&gnmi::Path>,
    path: Option<&gnmi::Path>,
) -> Result<gnmi::Path, PathError> {
    let empty = gnmi::Path::default();
    let (prefix, path) = (prefix.unwrap_or(&empty), path.unwrap_or(&empty));
    if !prefix.element.is_empty() || !path.element.is_empty() {
        return Err(error(
            "Path.element (before gNMI 0.4) is not supported: use Path.elem",
        ));
    }
    let origin = match (prefix.origin.as_str(), path.origin.as_str()) {
        (a, "") => a,
        ("", b) => b,
        (a, b) if a == b => a,
        (a, b) => {
            return Err(error(format!(
                "prefix origin {a} and path origin {b} differ"
            )));
        }
    };
    Ok(gnmi::Path {
        element: vec![],
        origin: origin.to_owned(),
        elem: prefix.elem.iter().chain(&path.elem).cloned().collect(),
        target: prefix.target.clone(),
    })
}

/// Resolves `path` (already joined with its prefix) against the schema.
pub(crate) fn resolve(path: &gnmi::Path) -> Result<Resolved, PathError> {
    let context = dmvpn_yang::context();
    let origin = path.origin.as_str();
    check_text(origin)?;
    let origin_module = match origin {
        o if NEUTRAL_ORIGINS.contains(&o) => None,
        o if context.get_module_implemented(o).is_some() => Some(o),
        o => {
            return Err(error(format!(
                "unknown origin {o}: give a module name, rfc7951 or none"
            )));
        }
    };
    let mut resolved = Resolved {
        xpath: String::new(),
        steps: vec![],
        target: Target::Root,
        wildcard: false,
        config: true,
    };
    let mut parent: Option<SchemaNode<'_>> = None;
    // After `*` or `...` the schema is not followed.
    let mut blind = false;
    let mut descendants = false;
    for (at, elem) in path.elem.iter().enumerate() {
        check_text(&elem.name)?;
        let separator = match std::mem::take(&mut descendants) {
            true => "//",
            false => "/",
        };
        match elem.name.as_str() {
            "..." => {
                (blind, descendants, resolved.wildcard) = (true, true, true);
                resolved.target = Target::Unknown;
                continue;
            }
            "*" => {
                (blind, resolved.wildcard) = (true, true);
                resolved.xpath.push_str(separator);
                resolved.xpath.push('*');
                resolved.xpath.push_str(&blind_keys(elem)?);
                resolved.target = Target::Unknown;
                continue;
            }
            _ => {}
        }
        if blind {
            if !is_name(&elem.name) {
                return Err(error(format!("{:?} is not a node name", elem.name)));
            }
            resolved.xpath.push_str(separator);
            resolved.xpath.push_str(&elem.name);
            resolved.xpath.push_str(&blind_keys(elem)?);
            if elem.key.values().any(|v| v == "*") {
                resolved.wildcard = true;
            }
            continue;
        }
        let (module, name) = match elem.name.split_once(':') {
            Some((module, name)) => (Some(module), name),
            None if at == 0 => (origin_module, elem.name.as_str()),
            None => (None, elem.name.as_str()),
        };
        let node = child(parent.as_ref(), module, name).ok_or_else(|| {
            error(format!(
                "no node {} {}",
                elem.name,
                match resolved.xpath.as_str() {
                    "" => "at the top of any module".to_owned(),
                    xpath => format!("under {xpath}"),
                }
            ))
        })?;
        let qualified = parent
            .as_ref()
            .is_none_or(|p| p.module().name() != node.module().name());
        let member = match qualified {
            true => format!("{}:{}", node.module().name(), node.name()),
            false => node.name().to_owned(),
        };
        let (kind, keys) = step_keys(&node, elem)?;
        if keys.iter().any(|(_, value, _)| value == "*") {
            resolved.wildcard = true;
        }
        resolved.config &= node.is_config();
        resolved.xpath.push_str(separator);
        resolved.xpath.push_str(&member);
        for (key, value, _) in keys.iter().filter(|(_, value, _)| value != "*") {
            resolved.xpath.push_str(&predicate(key, value)?);
        }
        resolved.target = kind;
        resolved.steps.push(Step { member, keys, kind });
        parent = Some(node);
    }
    Ok(resolved)
}

/// The child `name` of `parent` (of a top-level node when `None`), in
/// `module` when given; an unqualified name found in several modules is
/// the parent's module's.
fn child<'a>(
    parent: Option<&SchemaNode<'a>>,
    module: Option<&str>,
    name: &str,
) -> Option<SchemaNode<'a>> {
    let context = dmvpn_yang::context();
    let candidates: Vec<SchemaNode<'_>> = match parent {
        Some(parent) => parent.children2(IterSchemaFlags::empty()).collect(),
        None => context
            .modules(true)
            .filter(|m| m.is_implemented())
            .flat_map(|m| m.top_level_nodes(IterSchemaFlags::empty()))
            .collect(),
    };
    let mut matches: Vec<SchemaNode<'_>> = candidates
        .into_iter()
        .filter(|node| node.name() == name && module.is_none_or(|m| node.module().name() == m))
        .filter(|node| {
            matches!(
                node.kind(),
                SchemaNodeKind::Container
                    | SchemaNodeKind::Leaf
                    | SchemaNodeKind::LeafList
                    | SchemaNodeKind::List
                    | SchemaNodeKind::AnyData
            )
        })
        .collect();
    if matches.len() > 1 {
        let own = parent.map(|p| p.module().name().to_owned());
        matches.retain(|node| own.as_deref() == Some(node.module().name()));
    }
    match matches.len() {
        1 => matches.pop(),
        _ => None,
    }
}

/// Key leaves: name, value as given, value as JSON.
type Keys = Vec<(String, String, serde_json::Value)>;

/// The kind of `node` as `elem` selects it, and its keys in schema order.
fn step_keys(node: &SchemaNode<'_>, elem: &gnmi::PathElem) -> Result<(Target, Keys), PathError> {
    let kind = match node.kind() {
        SchemaNodeKind::Leaf => Target::Leaf,
        SchemaNodeKind::LeafList => Target::LeafList,
        SchemaNodeKind::List => Target::List,
        _ => Target::Container,
    };
    if kind != Target::List {
        if let Some(key) = elem.key.keys().next() {
            return Err(error(format!("{} is not a list: no key {key}", elem.name)));
        }
        return Ok((kind, vec![]));
    }
    let schema_keys: Vec<SchemaNode<'_>> = node.list_keys().collect();
    for key in elem.key.keys() {
        if !schema_keys.iter().any(|k| k.name() == local(key)) {
            return Err(error(format!("{} has no key {key}", elem.name)));
        }
    }
    let given: HashMap<&str, &String> = elem.key.iter().map(|(k, v)| (local(k), v)).collect();
    let mut keys = vec![];
    for key in &schema_keys {
        if let Some(value) = given.get(key.name()) {
            check_text(value)?;
            let json = key_json(key, value);
            keys.push((key.name().to_owned(), (*value).clone(), json));
        }
    }
    let complete = !schema_keys.is_empty()
        && keys.len() == schema_keys.len()
        && keys.iter().all(|(_, value, _)| value != "*");
    Ok((
        if complete {
            Target::Entry
        } else {
            Target::List
        },
        keys,
    ))
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// A key value as RFC 7951 writes it: numbers up to 32 bits and booleans
/// bare, everything else a string.
fn key_json(key: &SchemaNode<'_>, value: &str) -> serde_json::Value {
    let base = key.leaf_type().map(|t| t.base_type());
    let number = matches!(
        base,
        Some(
            DataValueType::Int8
                | DataValueType::Int16
                | DataValueType::Int32
                | DataValueType::Uint8
                | DataValueType::Uint16
                | DataValueType::Uint32
        )
    );
    match (number, base) {
        (true, _) => value
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| value.into()),
        (_, Some(DataValueType::Bool)) => match value {
            "true" => true.into(),
            "false" => false.into(),
            _ => value.into(),
        },
        _ => value.into(),
    }
}

/// The predicates of an element after a wildcard, as given.
fn blind_keys(elem: &gnmi::PathElem) -> Result<String, PathError> {
    let mut keys: Vec<(&String, &String)> = elem.key.iter().collect();
    keys.sort();
    let mut text = String::new();
    for (key, value) in keys {
        check_text(value)?;
        if !is_name(key) {
            return Err(error(format!("{key:?} is not a key name")));
        }
        if value != "*" {
            text.push_str(&predicate(key, value)?);
        }
    }
    Ok(text)
}

/// `[key='value']`, quoted with whichever quote the value lacks.
fn predicate(key: &str, value: &str) -> Result<String, PathError> {
    match (value.contains('\''), value.contains('"')) {
        (false, _) => Ok(format!("[{key}='{value}']")),
        (true, false) => Ok(format!("[{key}=\"{value}\"]")),
        (true, true) => Err(error(format!(
            "key {key}: a value with both quote characters cannot be selected"
        ))),
    }
}

/// Names and values go to libyang as C strings.
fn check_text(text: &str) -> Result<(), PathError> {
    match text.contains('\0') {
        true => Err(error("NUL character in the path")),
        false => Ok(()),
    }
}

fn is_name(name: &str) -> bool {
    let identifier = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match name.split_once(':') {
        Some((prefix, local)) => identifier(prefix) && identifier(local),
        None => identifier(name),
    }
}

/// The gNMI path of a data node, and a text naming it uniquely (the map
/// key of snapshots; an entry's text is a prefix of its descendants').
pub(crate) fn of_node(node: &DataNodeRef<'_, '_>) -> (gnmi::Path, String) {
    let mut nodes: Vec<DataNodeRef<'_, '_>> = node.inclusive_ancestors().collect();
    nodes.reverse();
    let mut elem = Vec::with_capacity(nodes.len());
    let mut text = String::new();
    let mut module: Option<String> = None;
    for node in nodes {
        let schema = node.schema();
        let own = schema.module().name().to_owned();
        let name = match module.as_deref() == Some(own.as_str()) {
            true => schema.name().to_owned(),
            false => format!("{own}:{}", schema.name()),
        };
        text.push('/');
        text.push_str(&escape(&name));
        let mut key = HashMap::new();
        if schema.kind() == SchemaNodeKind::List {
            for leaf in node.list_keys() {
                let value = leaf.value_canonical().unwrap_or_default();
                text.push('[');
                text.push_str(&escape(leaf.schema().name()));
                text.push('=');
                text.push_str(&escape(&value));
                text.push(']');
                key.insert(leaf.schema().name().to_owned(), value);
            }
        }
        elem.push(gnmi::PathElem { name, key });
        module = Some(own);
    }
    let path = gnmi::Path {
        elem,
        ..Default::default()
    };
    (path, text)
}

/// The XPath of a data node, built as [`resolve`] builds them (libyang's
/// own `lyd_path` is bounded to a buffer); `None` for a key value that
/// holds both quote characters, which no XPath literal can.
pub(crate) fn xpath_of(node: &DataNodeRef<'_, '_>) -> Option<String> {
    let (path, _) = of_node(node);
    let mut xpath = String::new();
    for elem in &path.elem {
        xpath.push('/');
        xpath.push_str(&elem.name);
        // Keys in schema order, as libyang expects them.
        let schema = dmvpn_yang::context().find_path(&schema_path(&xpath)).ok();
        let order: Vec<String> = match schema {
            Some(list) => list.list_keys().map(|k| k.name().to_owned()).collect(),
            None => elem.key.keys().cloned().collect(),
        };
        for key in order {
            let value = elem.key.get(&key)?;
            xpath.push_str(&predicate(&key, value).ok()?);
        }
    }
    // A leaf-list instance by its value.
    if node.schema().kind() == SchemaNodeKind::LeafList {
        xpath.push_str(&predicate(".", &node.value_canonical()?).ok()?);
    }
    Some(xpath)
}

/// The schema path of a data path: its predicates left out.
fn schema_path(xpath: &str) -> String {
    let mut path = String::with_capacity(xpath.len());
    let mut quote = None;
    let mut depth = 0_usize;
    for c in xpath.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') if depth > 0 => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, c) if depth == 0 => path.push(c),
            _ => {}
        }
    }
    path
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '/' | '[' | ']' | '=') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `/a/b[k=v]/c`, the way gnmic writes a path: for messages and logs.
pub(crate) fn display(path: &gnmi::Path) -> String {
    let mut text = String::new();
    if !path.origin.is_empty() {
        text.push_str(&path.origin);
        text.push(':');
    }
    for elem in &path.elem {
        text.push('/');
        text.push_str(&elem.name);
        let mut keys: Vec<_> = elem.key.iter().collect();
        keys.sort();
        for (key, value) in keys {
            text.push_str(&format!("[{key}={value}]"));
        }
    }
    match text.is_empty() {
        true => "/".to_owned(),
        false => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(origin: &str, elems: &[(&str, &[(&str, &str)])]) -> gnmi::Path {
        gnmi::Path {
            origin: origin.to_owned(),
            elem: elems
                .iter()
                .map(|(name, keys)| gnmi::PathElem {
                    name: (*name).to_owned(),
                    key: keys
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                })
                .collect(),
            ..Default::default()
        }
    }

    const HOLDING: &str =
        "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/holding-time";

    #[test]
    fn names_are_qualified_from_the_schema_origin_or_the_client() {
        let tun0: &[(&str, &str)] = &[("name", "tun0")];
        for p in [
            path(
                "",
                &[
                    ("interfaces", &[]),
                    ("interface", tun0),
                    ("nhrp", &[]),
                    ("holding-time", &[]),
                ],
            ),
            path(
                "ietf-interfaces",
                &[
                    ("interfaces", &[]),
                    ("interface", tun0),
                    ("dmvpn-nhrp:nhrp", &[]),
                    ("holding-time", &[]),
                ],
            ),
            path(
                "rfc7951",
                &[
                    ("ietf-interfaces:interfaces", &[]),
                    ("interface", tun0),
                    ("dmvpn-nhrp:nhrp", &[]),
                    ("dmvpn-nhrp:holding-time", &[]),
                ],
            ),
        ] {
            let resolved = resolve(&p).unwrap();
            assert_eq!(resolved.xpath, HOLDING, "{p:?}");
            assert_eq!(resolved.target, Target::Leaf);
            assert!(resolved.config && !resolved.wildcard);
        }
    }

    #[test]
    fn keys_entries_lists_and_wildcards() {
        let p = path(
            "",
            &[
                ("interfaces", &[]),
                ("interface", &[("name", "*")]),
                ("nhrp", &[]),
                ("cache-entry", &[]),
            ],
        );
        let resolved = resolve(&p).unwrap();
        assert_eq!(
            resolved.xpath,
            "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/cache-entry"
        );
        assert!(resolved.wildcard && !resolved.config);
        assert_eq!(resolved.target, Target::List);
        let p = path(
            "",
            &[("interfaces", &[]), ("interface", &[("name", "it's")])],
        );
        let resolved = resolve(&p).unwrap();
        assert_eq!(
            resolved.xpath,
            "/ietf-interfaces:interfaces/interface[name=\"it's\"]"
        );
        assert_eq!(resolved.target, Target::Entry);
        let p = path(
            "",
            &[("interfaces", &[]), ("...", &[]), ("holding-time", &[])],
        );
        assert_eq!(
            resolve(&p).unwrap().xpath,
            "/ietf-interfaces:interfaces//holding-time"
        );
    }

    #[test]
    fn data_nodes_give_back_their_xpath() {
        let json = r#"{"ietf-interfaces:interfaces":{"interface":[{"name":"it's/0",
            "dmvpn-nhrp:nhrp":{"static-map":[{"protocol-address":"10.0.0.1","nbma-address":"192.0.2.1"}]}}]}}"#;
        let tree = crate::data::parse_state(json, crate::config::Format::Json).unwrap();
        let xpath = "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/static-map/nbma-address";
        let node = yang2::data::Data::find_xpath(&tree, xpath)
            .unwrap()
            .next()
            .unwrap();
        assert_eq!(
            xpath_of(&node).unwrap(),
            "/ietf-interfaces:interfaces/interface[name=\"it's/0\"]/dmvpn-nhrp:nhrp\
             /static-map[protocol-address='10.0.0.1']/nbma-address"
        );
        let (path, text) = of_node(&node);
        assert_eq!(path.elem[1].key["name"], "it's/0");
        assert!(text.contains("[name=it's\\/0]"), "{text}");
    }

    #[test]
    fn bad_paths_say_which_element() {
        let bad = [
            path("", &[("interfaces", &[]), ("nosuch", &[])]),
            path("", &[("interfaces", &[("name", "x")])]),
            path(
                "",
                &[("interfaces", &[]), ("interface", &[("color", "red")])],
            ),
            path("openconfig", &[("interfaces", &[])]),
            path(
                "",
                &[("interfaces", &[]), ("interface", &[("name", "a'\"b")])],
            ),
            path("", &[("inter\0faces", &[])]),
            path("ietf\0", &[("interfaces", &[])]),
        ];
        for p in &bad {
            assert!(resolve(p).is_err(), "{p:?}");
        }
        let message = resolve(&bad[0]).unwrap_err().0;
        assert!(
            message.contains("nosuch") && message.contains("/ietf-interfaces:interfaces"),
            "{message}"
        );
    }
}
