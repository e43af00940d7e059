//! What a state request asks for, in terms a provider can act on: which
//! interfaces, and which nodes below each (`dmvpn-nhrp:nhrp/counters`,
//! `dmvpn-tunnel:tunnel/peer[nbma-address='192.0.2.1']`), so that a
//! provider renders only that instead of its whole state.
//!
//! The filter only ever widens: a path or a part of a path it does not
//! follow (a wildcard, `//`, a predicate other than `key='value'`, a tree
//! other than `/ietf-interfaces:interfaces`) asks for everything below the
//! last step it does follow. The northbound still selects the exact XPath
//! from what the providers rendered, so a wider rendering costs time, never
//! correctness.
//!
//! ```text
//!   /ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/counters
//!    | /ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/statistics
//!   --> [ tun0:  dmvpn-nhrp:nhrp / counters,
//!         every: dmvpn-tunnel:tunnel / statistics ]
//! ```
//!
//! Node names are RFC 7951 member names (qualified where the module
//! changes: `dmvpn-tunnel:tunnel`, `peer`, `dmvpn-ipsec:protection`), the
//! `*_NAME` constants of the crates' generated YANG paths.

use std::net::IpAddr;

const INTERFACES: &str = "ietf-interfaces:interfaces";
const INTERFACES_MODULE: &str = "ietf-interfaces";
const INTERFACE: &str = "interface";
const INTERFACE_KEY: &str = "name";

/// The state a request asks for (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateFilter {
    path: String,
    /// One per branch of the XPath union; `None`: everything.
    selections: Option<Vec<Selection>>,
}

/// One branch of the path, from the interface entry down.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Selection {
    /// The interface's name; `None`: every interface.
    interface: Option<String>,
    /// The nodes below the interface entry, outermost first.
    steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Step {
    name: String,
    /// The `key='value'` predicates of a list entry.
    keys: Vec<(String, String)>,
}

impl StateFilter {
    /// Asks for everything.
    pub fn everything() -> Self {
        StateFilter {
            path: String::new(),
            selections: None,
        }
    }

    /// The filter of `xpath` (empty: everything). Never fails: what it does
    /// not follow asks for more, never for less.
    pub fn new(xpath: &str) -> Self {
        StateFilter {
            path: xpath.to_owned(),
            selections: parse(xpath),
        }
    }

    /// The XPath the request gave (empty: everything).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether every node may be selected.
    pub fn is_everything(&self) -> bool {
        self.selections.is_none()
    }

    /// Whether selecting the path from parts of a tree, one at a time
    /// (GetStream's pages), selects what it selects from the whole tree:
    /// every step a node name, every predicate `name='value'` (a test on
    /// the node's own children, so a list entry is whole in one part). A
    /// position (`peer[1]`), a function, `..`, `//` or `*` need the whole
    /// tree. The empty path (everything) is.
    pub fn selects_by_parts(&self) -> bool {
        let branches = match self.path.trim() {
            "" => return true,
            path => match split_outside(path, '|') {
                Some(branches) => branches,
                None => return false,
            },
        };
        branches.iter().all(|branch| {
            let Some(rest) = branch.trim().strip_prefix('/') else {
                return false;
            };
            split_outside(rest, '/')
                .is_some_and(|steps| steps.iter().all(|step| plain_step(step.trim())))
        })
    }

    /// Whether anything at, above or below `nodes` (member names below the
    /// interface entry; empty: the entry itself) of interface `interface`
    /// (`None`: of some interface) may be selected.
    pub fn wants(&self, interface: Option<&str>, nodes: &[&str]) -> bool {
        let Some(selections) = &self.selections else {
            return true;
        };
        selections
            .iter()
            .any(|s| s.matches_interface(interface) && s.overlaps(nodes).is_some())
    }

    /// Whether the entry of the list at `nodes` whose key `key` is `value`
    /// may be selected; addresses compare as addresses (`2001:DB8::1` is
    /// `2001:db8::1`).
    pub fn wants_entry(&self, interface: &str, nodes: &[&str], key: &str, value: &str) -> bool {
        let Some(selections) = &self.selections else {
            return true;
        };
        selections.iter().any(|s| {
            if !s.matches_interface(Some(interface)) {
                return false;
            }
            match s.overlaps(nodes) {
                None => false,
                Some(None) => true,
                Some(Some(step)) => step
                    .keys
                    .iter()
                    .filter(|(k, _)| k == key)
                    .all(|(_, v)| same_value(v, value)),
            }
        })
    }

    /// The one entry of the list at `nodes` of interface `interface` the
    /// request asks for, by the value of its key `key`
    /// (`peer[nbma-address='192.0.2.1']`): `Some` when every branch that
    /// wants entries of that list names the same value, so that a provider
    /// may look that entry up instead of rendering the list; `None` when
    /// some branch wants more (or none wants the list).
    pub fn single_key(&self, interface: &str, nodes: &[&str], key: &str) -> Option<&str> {
        let selections = self.selections.as_ref()?;
        let mut value: Option<&str> = None;
        for s in selections {
            if !s.matches_interface(Some(interface)) {
                continue;
            }
            let step = match s.overlaps(nodes) {
                None => continue,
                Some(step) => step?,
            };
            let mut values = step.keys.iter().filter(|(k, _)| k == key);
            let (_, wanted) = values.next()?;
            // `[k='a'][k='b']` selects nothing; leave that to the
            // northbound's selection.
            if values.next().is_some() {
                return None;
            }
            match value {
                Some(known) if !same_value(known, wanted) => return None,
                Some(_) => {}
                None => value = Some(wanted),
            }
        }
        value
    }
}

impl Selection {
    fn matches_interface(&self, interface: Option<&str>) -> bool {
        match (&self.interface, interface) {
            (Some(wanted), Some(name)) => wanted == name,
            _ => true,
        }
    }

    /// `None` when the selection and `nodes` part ways; otherwise the
    /// selection's step at the last of `nodes`, if it goes that deep.
    fn overlaps(&self, nodes: &[&str]) -> Option<Option<&Step>> {
        let common = self.steps.iter().zip(nodes);
        for (step, node) in common {
            if step.name != *node {
                return None;
            }
        }
        Some(match nodes.len() {
            0 => None,
            n => self.steps.get(n - 1),
        })
    }
}

/// Keys compare as text, addresses and prefixes as addresses.
fn same_value(a: &str, b: &str) -> bool {
    let address = |s: &str| {
        let (ip, length) = s.split_once('/').unwrap_or((s, ""));
        Some((ip.parse::<IpAddr>().ok()?, length.parse::<u8>().ok()))
    };
    match (address(a), address(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// The selections of `xpath`; `None`: everything.
fn parse(xpath: &str) -> Option<Vec<Selection>> {
    if xpath.trim().is_empty() {
        return None;
    }
    split_outside(xpath, '|')?
        .into_iter()
        .map(|branch| selection(branch.trim()))
        .collect()
}

/// One branch: `/ietf-interfaces:interfaces[/interface[name='x'][/...]]`.
fn selection(branch: &str) -> Option<Selection> {
    let rest = branch.strip_prefix('/')?;
    let mut steps = split_outside(rest, '/')?
        .into_iter()
        .map(step)
        .collect::<Option<Vec<_>>>()?
        .into_iter();
    if steps.next()?.name != INTERFACES {
        return None;
    }
    let mut selection = Selection {
        interface: None,
        steps: vec![],
    };
    let Some(interface) = steps.next() else {
        return Some(selection);
    };
    if local_name(&interface.name, INTERFACES_MODULE)? != INTERFACE {
        return None;
    }
    selection.interface = interface
        .keys
        .into_iter()
        .find(|(key, _)| key == INTERFACE_KEY)
        .map(|(_, value)| value);
    // Below the entry, names as RFC 7951 writes them: qualified where the
    // module changes.
    let mut module = INTERFACES_MODULE.to_owned();
    for mut step in steps {
        match step.name.split_once(':') {
            Some((prefix, name)) if prefix == module => step.name = name.to_owned(),
            Some((prefix, _)) => module = prefix.to_owned(),
            None => {}
        }
        // A node of ietf-interfaces itself (`name`, `oper-status`): no
        // provider renders them apart from its own, so ask for the entry.
        if module == INTERFACES_MODULE {
            break;
        }
        selection.steps.push(step);
    }
    Some(selection)
}

/// `name` without its prefix when that is `module`; `None` for another
/// module's node.
fn local_name<'a>(name: &'a str, module: &str) -> Option<&'a str> {
    match name.split_once(':') {
        Some((prefix, local)) => (prefix == module).then_some(local),
        None => Some(name),
    }
}

/// A step: a (prefixed) node name and its predicates. `None` for anything
/// else (`*`, `.`, `..`, axes, functions).
fn step(text: &str) -> Option<Step> {
    let (name, mut predicates) = match text.find('[') {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let name = name.trim();
    if !is_node_name(name) {
        return None;
    }
    let mut keys = vec![];
    while !predicates.is_empty() {
        let body = predicates.strip_prefix('[')?;
        let end = closing_bracket(body)?;
        if let Some(key) = key_value(&body[..end]) {
            keys.push(key);
        }
        // Any other predicate narrows what we render anyway: ignore it.
        predicates = body[end + 1..].trim_start();
    }
    Some(Step {
        name: name.to_owned(),
        keys,
    })
}

/// A node name whose predicates are all `name='value'`.
fn plain_step(text: &str) -> bool {
    let (name, mut predicates) = match text.find('[') {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    if !is_node_name(name.trim()) {
        return false;
    }
    while !predicates.is_empty() {
        let Some(body) = predicates.strip_prefix('[') else {
            return false;
        };
        let Some(end) = closing_bracket(body) else {
            return false;
        };
        if key_value(&body[..end]).is_none() {
            return false;
        }
        predicates = body[end + 1..].trim_start();
    }
    true
}

fn is_node_name(name: &str) -> bool {
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

/// `key='value'` or `key="value"`.
fn key_value(predicate: &str) -> Option<(String, String)> {
    let (key, value) = predicate.split_once('=')?;
    let key = key.trim();
    let value = value.trim();
    if !is_node_name(key) || value.len() < 2 {
        return None;
    }
    let quote = value.chars().next()?;
    let inner = value.strip_prefix(quote)?.strip_suffix(quote)?;
    if !matches!(quote, '\'' | '"') || inner.contains(quote) {
        return None;
    }
    let key = key.rsplit(':').next()?.to_owned();
    Some((key, inner.to_owned()))
}

/// Where the `]` closing a predicate is in `body` (after its `[`).
fn closing_bracket(body: &str) -> Option<usize> {
    let mut quote = None;
    let mut depth = 0_usize;
    for (at, c) in body.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') if depth == 0 => return Some(at),
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Splits at `separator` outside quotes and brackets; `None` when a quote
/// or a bracket is left open, or a part is empty (`//`, `a||b`).
fn split_outside(text: &str, separator: char) -> Option<Vec<&str>> {
    let mut parts = vec![];
    let mut quote = None;
    let mut depth = 0_usize;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.checked_sub(1)?,
            (None, c) if c == separator && depth == 0 => {
                parts.push(&text[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    let complete = quote.is_none() && depth == 0 && parts.iter().all(|p| !p.trim().is_empty());
    complete.then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_and_value_tests_select_by_parts() {
        for path in [
            "",
            "/ietf-interfaces:interfaces",
            "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/peer \
             | /ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/oper-status",
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel\
             /peer[nbma-address=\"192.0.2.1\"][state='up']/counters",
            "/ietf-yang-library:yang-library",
        ] {
            assert!(StateFilter::new(path).selects_by_parts(), "{path}");
        }
        for path in [
            "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/peer[1]",
            "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/peer[last()]",
            "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/peer[../oper-status='up']",
            "/ietf-interfaces:interfaces/interface[count(dmvpn-tunnel:tunnel/peer) > 1]",
            "/ietf-interfaces:interfaces//peer",
            "/ietf-interfaces:interfaces/*",
            "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/peer | count(/a)",
            "ietf-interfaces:interfaces",
            "/ietf-interfaces:interfaces/interface[name='tun0'",
        ] {
            assert!(!StateFilter::new(path).selects_by_parts(), "{path}");
        }
    }

    const TUN0: &str = "/ietf-interfaces:interfaces/interface[name='tun0']";
    const NHRP: &str = "dmvpn-nhrp:nhrp";
    const TUNNEL: &str = "dmvpn-tunnel:tunnel";

    #[test]
    fn traffic_asks_for_counters_and_statistics_not_the_cache_or_the_peers() {
        let filter = StateFilter::new(
            "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/counters \
             | /ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/statistics",
        );
        assert!(!filter.is_everything());
        assert!(filter.wants(None, &[NHRP]));
        assert!(filter.wants(Some("tun0"), &[NHRP, "counters"]));
        assert!(filter.wants(Some("tun0"), &[NHRP, "counters", "message"]));
        assert!(!filter.wants(Some("tun0"), &[NHRP, "cache-entry"]));
        assert!(!filter.wants(Some("tun0"), &[NHRP, "nhs-state"]));
        assert!(filter.wants(Some("tun0"), &[TUNNEL, "statistics"]));
        assert!(!filter.wants(Some("tun0"), &[TUNNEL, "peer"]));
        assert!(!filter.wants(Some("tun0"), &[TUNNEL, "dmvpn-ipsec:protection"]));
    }

    #[test]
    fn one_peer_by_key_of_one_interface() {
        let filter = StateFilter::new(&format!(
            "{TUN0}/dmvpn-tunnel:tunnel/peer[nbma-address='2001:DB8::1']/counters"
        ));
        assert!(filter.wants(Some("tun0"), &[TUNNEL, "peer"]));
        assert!(!filter.wants(Some("tun1"), &[TUNNEL]));
        assert!(!filter.wants(None, &[NHRP]));
        assert!(filter.wants_entry("tun0", &[TUNNEL, "peer"], "nbma-address", "2001:db8::1"));
        assert!(!filter.wants_entry("tun0", &[TUNNEL, "peer"], "nbma-address", "2001:db8::2"));
        assert!(!filter.wants_entry("tun1", &[TUNNEL, "peer"], "nbma-address", "2001:db8::1"));
        let filter = StateFilter::new(&format!(
            "{TUN0}/dmvpn-nhrp:nhrp/cache-entry[prefix='2001:DB8::/64']"
        ));
        let cache = [NHRP, "cache-entry"];
        assert!(filter.wants_entry("tun0", &cache, "prefix", "2001:db8::/64"));
        assert!(!filter.wants_entry("tun0", &cache, "prefix", "2001:db8::/65"));
    }

    #[test]
    fn a_single_key_only_when_every_branch_names_the_same_entry() {
        let peer = [TUNNEL, "peer"];
        let key = "nbma-address";
        let one = format!("{TUN0}/dmvpn-tunnel:tunnel/peer[nbma-address='2001:DB8::1']");
        let filter = StateFilter::new(&one);
        assert_eq!(filter.single_key("tun0", &peer, key), Some("2001:DB8::1"));
        assert_eq!(filter.single_key("tun1", &peer, key), None, "not asked");
        // The same entry twice, and a branch that wants no peers.
        let filter = StateFilter::new(&format!(
            "{one}/counters | {TUN0}/dmvpn-tunnel:tunnel/peer[nbma-address='2001:db8::1']\
             | {TUN0}/dmvpn-nhrp:nhrp"
        ));
        assert_eq!(filter.single_key("tun0", &peer, key), Some("2001:DB8::1"));
        for wider in [
            format!("{one} | {TUN0}/dmvpn-tunnel:tunnel/peer[nbma-address='192.0.2.2']"),
            format!("{one} | {TUN0}/dmvpn-tunnel:tunnel"),
            format!("{one} | /ietf-interfaces:interfaces/interface/dmvpn-tunnel:tunnel/peer"),
            format!("{TUN0}/dmvpn-tunnel:tunnel/peer[tunnel-address='10.0.0.1']"),
            format!("{TUN0}/dmvpn-tunnel:tunnel/peer[nbma-address='a'][nbma-address='b']"),
            "//peer".to_owned(),
            String::new(),
        ] {
            let filter = StateFilter::new(&wider);
            assert_eq!(filter.single_key("tun0", &peer, key), None, "{wider}");
        }
    }

    #[test]
    fn the_same_module_may_be_named_again() {
        let filter = StateFilter::new(&format!(
            "{TUN0}/dmvpn-tunnel:tunnel/dmvpn-tunnel:statistics | \
             {TUN0}/dmvpn-tunnel:tunnel/dmvpn-ipsec:protection"
        ));
        assert!(filter.wants(Some("tun0"), &[TUNNEL, "statistics"]));
        assert!(filter.wants(Some("tun0"), &[TUNNEL, "dmvpn-ipsec:protection"]));
        assert!(!filter.wants(Some("tun0"), &[TUNNEL, "peer"]));
    }

    #[test]
    fn an_interface_or_all_of_them() {
        let filter = StateFilter::new(TUN0);
        assert!(filter.wants(Some("tun0"), &[NHRP, "cache-entry"]));
        assert!(!filter.wants(Some("tun1"), &[]));
        let filter = StateFilter::new("/ietf-interfaces:interfaces");
        assert!(filter.wants(Some("tun1"), &[TUNNEL, "peer"]));
        assert!(filter.wants_entry("tun1", &[TUNNEL, "peer"], "nbma-address", "192.0.2.1"));
        // A node of ietf-interfaces itself: the entry.
        let filter = StateFilter::new(&format!("{TUN0}/name"));
        assert!(filter.wants(Some("tun0"), &[NHRP, "cache-entry"]));
    }

    #[test]
    fn what_it_does_not_follow_asks_for_everything() {
        for xpath in [
            "",
            "//peer",
            "/ietf-interfaces:interfaces/*/dmvpn-nhrp:nhrp",
            "/ietf-routing:routing",
            "/ietf-interfaces:interfaces/interface[name='tun0'",
            "/ietf-interfaces:interfaces/interface/../interface",
            "/ietf-interfaces:interfaces | //x",
        ] {
            assert!(StateFilter::new(xpath).is_everything(), "{xpath}");
        }
        // Predicates it does not follow widen the step only.
        let filter = StateFilter::new(
            "/ietf-interfaces:interfaces/interface[name='tun0' or name='tun1']\
             /dmvpn-tunnel:tunnel/peer[entries > 1]",
        );
        assert!(filter.wants(Some("tun1"), &[TUNNEL, "peer"]));
        assert!(!filter.wants(Some("tun1"), &[NHRP]));
        assert!(filter.wants_entry("tun1", &[TUNNEL, "peer"], "nbma-address", "192.0.2.9"));
    }

    #[test]
    fn keys_may_hold_separators() {
        let filter = StateFilter::new(
            "/ietf-interfaces:interfaces/interface[name=\"a|b/c]\"]/dmvpn-nhrp:nhrp",
        );
        assert!(filter.wants(Some("a|b/c]"), &[NHRP]));
        assert!(!filter.wants(Some("a"), &[NHRP]));
    }
}
