//! XML as NETCONF carries it: escaping what we write, copying parts of a
//! request for libyang, and translating between XML namespaces (with
//! prefixes) and the module names libyang's paths use.

use std::collections::BTreeMap;
use std::fmt::Write;

use roxmltree::Node;

/// The NETCONF base namespace (RFC 6241, 3.1).
pub(crate) const BASE: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
/// RFC 5277 notifications.
pub(crate) const NOTIFICATION: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";
/// RFC 6022 monitoring (`<get-schema>`).
pub(crate) const MONITORING: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
/// RFC 6243 with-defaults.
pub(crate) const WITH_DEFAULTS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults";

/// Text content, escaped.
pub(crate) fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value, escaped for double quotes.
pub(crate) fn attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>`, the text escaped.
pub(crate) fn leaf(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", text(value))
}

/// The module of an XML namespace, among the context's.
pub(crate) fn module_of(namespace: &str) -> Option<yang2::schema::SchemaModule<'static>> {
    let context = dmvpn_yang::context();
    context
        .get_module_implemented_ns(namespace)
        .or_else(|| context.get_module_latest_ns(namespace))
}

/// The element children of `node`.
pub(crate) fn elements<'a, 'input>(
    node: Node<'a, 'input>,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

/// The child element of `node` in namespace `ns` named `name`.
pub(crate) fn child<'a, 'input>(
    node: Node<'a, 'input>,
    ns: &str,
    name: &str,
) -> Option<Node<'a, 'input>> {
    elements(node).find(|n| n.tag_name().name() == name && n.tag_name().namespace() == Some(ns))
}

/// The text of an element, entities resolved; empty when it has none.
pub(crate) fn content<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().unwrap_or_default()
}

/// Copies elements of a request as a document of its own, for libyang:
/// every namespace in scope is declared on the outermost element
/// (identityref values use their prefixes), and the attributes `skip`
/// names are left out (the `nc:operation` of edit-config). Edits open the
/// ancestors of a node (with their keys) before copying it.
#[derive(Debug, Default)]
pub(crate) struct Fragment {
    out: String,
}

impl Fragment {
    pub(crate) fn new() -> Self {
        Fragment::default()
    }

    /// Opens `node`'s element: with every namespace in scope declared
    /// when `outermost`, else those its parent does not declare.
    pub(crate) fn open(&mut self, node: Node<'_, '_>, outermost: bool, skip: &[(&str, &str)]) {
        let name = qualified(node);
        let _ = write!(self.out, "<{name}");
        self.declare(node, outermost);
        self.attributes(node, skip);
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, node: Node<'_, '_>) {
        let _ = write!(self.out, "</{}>", qualified(node));
    }

    /// `node` and its whole subtree.
    pub(crate) fn subtree(&mut self, node: Node<'_, '_>, outermost: bool, skip: &[(&str, &str)]) {
        self.open(node, outermost, skip);
        for child in node.children() {
            if child.is_element() {
                self.subtree(child, false, skip);
            } else if child.is_text() {
                self.out.push_str(&text(child.text().unwrap_or_default()));
            }
        }
        self.close(node);
    }

    pub(crate) fn into_string(self) -> String {
        self.out
    }

    /// Declares the namespaces of `node` its copied parent does not
    /// (`all`: every namespace in scope).
    fn declare(&mut self, node: Node<'_, '_>, all: bool) {
        let parent = node.parent_element().filter(|_| !all);
        let inherited: Vec<(Option<&str>, &str)> = parent
            .map(|p| p.namespaces().map(|ns| (ns.name(), ns.uri())).collect())
            .unwrap_or_default();
        let mut declared = BTreeMap::new();
        for ns in node.namespaces() {
            declared.entry(ns.name()).or_insert(ns.uri());
        }
        for (prefix, uri) in declared {
            if prefix == Some("xml") || inherited.contains(&(prefix, uri)) {
                continue;
            }
            match prefix {
                Some(prefix) => {
                    let _ = write!(self.out, " xmlns:{prefix}=\"{}\"", attribute(uri));
                }
                None => {
                    let _ = write!(self.out, " xmlns=\"{}\"", attribute(uri));
                }
            }
        }
        let parent_default = parent.and_then(|p| p.default_namespace());
        if node.default_namespace().is_none() && parent_default.is_some() {
            self.out.push_str(" xmlns=\"\"");
        }
    }

    fn attributes(&mut self, node: Node<'_, '_>, skip: &[(&str, &str)]) {
        for attr in node.attributes() {
            let ns = attr.namespace().unwrap_or_default();
            if skip
                .iter()
                .any(|(s_ns, s_name)| *s_ns == ns && *s_name == attr.name())
            {
                continue;
            }
            let name = match attr.namespace().and_then(|ns| node.lookup_prefix(ns)) {
                Some(prefix) => format!("{prefix}:{}", attr.name()),
                None => attr.name().to_owned(),
            };
            let _ = write!(self.out, " {name}=\"{}\"", attribute(attr.value()));
        }
    }
}

/// The element's name as written (with its prefix, if it had one).
fn qualified(node: Node<'_, '_>) -> String {
    let name = node.tag_name().name();
    let input = node.document().input_text();
    // The prefix as written: the source text right after '<'.
    let start = node.range().start + 1;
    match input.get(start..) {
        Some(rest) if rest.starts_with(name) => name.to_owned(),
        Some(rest) => match rest.split_once(':') {
            Some((prefix, tail)) if tail.starts_with(name) && is_name(prefix) => {
                format!("{prefix}:{name}")
            }
            _ => name.to_owned(),
        },
        None => name.to_owned(),
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A libyang data path (`/ietf-interfaces:interfaces/interface[name='tun0']`)
/// as RFC 6241 wants an error-path: every node qualified by a prefix bound
/// by the returned namespace declarations
/// (`/if:interfaces/if:interface[if:name='tun0']`).
pub(crate) fn error_path(path: &str) -> (String, Vec<(String, String)>) {
    let context = dmvpn_yang::context();
    let mut out = String::new();
    let mut declared: Vec<(String, String)> = vec![];
    let mut module: Option<String> = None;
    let prefix_of = |module: &str, declared: &mut Vec<(String, String)>| -> String {
        match context.get_module_latest(module) {
            Some(m) => {
                let prefix = m.prefix().to_owned();
                if !declared.iter().any(|(p, _)| *p == prefix) {
                    declared.push((prefix.clone(), m.namespace().to_owned()));
                }
                prefix
            }
            None => module.to_owned(),
        }
    };
    for step in split_steps(path) {
        let (name, predicates) = match step.find('[') {
            Some(at) => step.split_at(at),
            None => (step, ""),
        };
        let name = match name.split_once(':') {
            Some((m, name)) => {
                module = Some(m.to_owned());
                name
            }
            None => name,
        };
        let prefix = module.as_deref().map(|m| prefix_of(m, &mut declared));
        let qualify = |name: &str| match &prefix {
            Some(prefix) => format!("{prefix}:{name}"),
            None => name.to_owned(),
        };
        out.push('/');
        out.push_str(&qualify(name));
        // Key predicates: `[key='value']`, `[.='value']`, `[1]`.
        let mut rest = predicates;
        while let Some(open) = rest.find('[') {
            let (predicate, after) = split_predicate(&rest[open + 1..]);
            let key = predicate.split('=').next().unwrap_or_default().trim();
            let qualified_key = match key.chars().next() {
                Some(c) if c.is_alphabetic() || c == '_' => {
                    let key = key.rsplit(':').next().unwrap_or(key);
                    let value = &predicate[predicate.find('=').unwrap_or(0)..];
                    format!("{}{value}", qualify(key))
                }
                _ => predicate.to_owned(),
            };
            let _ = write!(out, "[{qualified_key}]");
            rest = after;
        }
    }
    (out, declared)
}

/// The steps of a path, split at `/` outside predicates and quotes.
fn split_steps(path: &str) -> Vec<&str> {
    let mut steps = vec![];
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in path.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '/') if depth == 0 => {
                if i > start {
                    steps.push(&path[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < path.len() {
        steps.push(&path[start..]);
    }
    steps
}

/// The predicate's inside up to its `]`, and what follows it.
fn split_predicate(text: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return (&text[..i], &text[i + 1..]),
            _ => {}
        }
    }
    (text, "")
}

/// An XPath of a request with its prefixes bound by XML namespace
/// declarations in scope of `node` (RFC 6241, 8.9) rewritten as the module
/// names libyang's XPath uses. An undeclared prefix that is a module's own
/// prefix is taken as that module; anything else is left as written.
pub(crate) fn xpath_with_modules(xpath: &str, node: Node<'_, '_>) -> String {
    let context = dmvpn_yang::context();
    let module = |prefix: &str| -> Option<String> {
        if let Some(ns) = node.lookup_namespace_uri(Some(prefix)) {
            return module_of(ns).map(|m| m.name().to_owned());
        }
        if context.get_module_latest(prefix).is_some() {
            return None;
        }
        context
            .modules(false)
            .find(|m| m.prefix() == prefix && m.is_implemented())
            .map(|m| m.name().to_owned())
    };
    let mut out = String::with_capacity(xpath.len());
    let mut quote: Option<char> = None;
    let chars: Vec<char> = xpath.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
                i += 1;
                continue;
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
                i += 1;
                continue;
            }
            None => {}
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '-' | '_' | '.'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let qualifies = chars.get(i) == Some(&':') && chars.get(i + 1) != Some(&':');
            match qualifies.then(|| module(&word)).flatten() {
                Some(module) => out.push_str(&module),
                None => out.push_str(&word),
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Quotes an XPath literal with whichever quote it does not contain.
pub(crate) fn literal(value: &str) -> Option<String> {
    match (value.contains('\''), value.contains('"')) {
        (false, _) => Some(format!("'{value}'")),
        (true, false) => Some(format!("\"{value}\"")),
        (true, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(text("a<b>&c\""), "a&lt;b&gt;&amp;c\"");
        assert_eq!(attribute("1\"<&\n"), "1&quot;&lt;&amp;&#10;");
    }

    #[test]
    fn error_paths_are_namespace_qualified() {
        let (path, declared) = error_path(
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/holding-time",
        );
        assert_eq!(
            path,
            "/if:interfaces/if:interface[if:name='tun0']/nhrp:nhrp/nhrp:holding-time"
        );
        assert_eq!(declared.len(), 2);
        assert_eq!(declared[0].0, "if");
        assert_eq!(declared[0].1, "urn:ietf:params:xml:ns:yang:ietf-interfaces");
        let (path, _) = error_path(
            "/ietf-interfaces:interfaces/interface[name='a/b]']/dmvpn-nhrp:nhrp/multicast/nbma-address[.='192.0.2.1']",
        );
        assert_eq!(
            path,
            "/if:interfaces/if:interface[if:name='a/b]']/nhrp:nhrp/nhrp:multicast/nhrp:nbma-address[.='192.0.2.1']"
        );
    }

    #[test]
    fn xpath_prefixes_become_module_names() {
        let doc = roxmltree::Document::parse(
            r#"<filter xmlns:i="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>"#,
        )
        .unwrap();
        let node = doc.root_element();
        assert_eq!(
            xpath_with_modules(
                "/i:interfaces/i:interface[i:name='x:y']/child::nhrp:nhrp",
                node
            ),
            "/ietf-interfaces:interfaces/ietf-interfaces:interface[ietf-interfaces:name='x:y']/child::dmvpn-nhrp:nhrp"
        );
        assert_eq!(
            xpath_with_modules("/ietf-interfaces:interfaces", node),
            "/ietf-interfaces:interfaces"
        );
    }

    #[test]
    fn a_fragment_keeps_namespaces_and_drops_skipped_attributes() {
        let doc = roxmltree::Document::parse(
            r#"<config xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><a xmlns="urn:a" xmlns:t="urn:t" nc:operation="merge" x="1&amp;"><t:b>v &lt;</t:b></a></config>"#,
        )
        .unwrap();
        let a = doc.root_element().first_element_child().unwrap();
        let mut fragment = Fragment::new();
        fragment.subtree(a, true, &[(BASE, "operation")]);
        assert_eq!(
            fragment.into_string(),
            r#"<a xmlns="urn:a" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" xmlns:t="urn:t" x="1&amp;"><t:b>v &lt;</t:b></a>"#
        );
    }
}
