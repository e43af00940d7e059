//! The candidate configuration of a `configure` session, kept in the
//! client: the running configuration read when the session began (the
//! base) and the path edits typed since. `commit` sends only the edits
//! (Commit CHANGE), so the server applies them to whatever running is then.
//!
//! The merged tree (`show candidate`, `validate`) is computed here, without
//! the schema: a value that reads as a boolean or a 32-bit integer becomes a
//! JSON boolean or number, anything else a string (RFC 7951, section 6:
//! 64-bit integers and decimals are strings). The server re-checks
//! everything on commit.

use dmvpn_api::v1::PathEdit;
use dmvpn_api::v1::path_edit::Kind;
use serde_json::{Map, Value};

/// A `configure` session's candidate.
#[derive(Clone, Debug, Default)]
pub struct Candidate {
    /// Running configuration (RFC 7951 JSON) when the session began.
    pub base: Value,
    /// Edits in the order typed.
    pub edits: Vec<PathEdit>,
}

impl Candidate {
    pub fn new(base: Value) -> Candidate {
        Candidate {
            base,
            edits: Vec::new(),
        }
    }

    /// Sets a leaf (or creates a container or list entry). An earlier `set`
    /// or `delete` of the same path is superseded: `show changes` lists
    /// what will be committed, once.
    pub fn set(&mut self, path: &str, value: &str) -> Result<(), String> {
        parse_path(path)?;
        self.edits.retain(|e| e.path != path);
        self.edits.push(PathEdit {
            kind: Kind::Set as i32,
            path: path.to_owned(),
            value: value.to_owned(),
        });
        Ok(())
    }

    /// Deletes a node. Earlier edits of the node or below it are dropped;
    /// when those edits were what created it (it is not in the base), the
    /// delete itself has nothing left to do and is not sent.
    pub fn delete(&mut self, path: &str) -> Result<(), String> {
        parse_path(path)?;
        let below = format!("{path}/");
        let before = self.edits.len();
        self.edits
            .retain(|e| e.path != path && !e.path.starts_with(&below));
        let delete = PathEdit {
            kind: Kind::Delete as i32,
            path: path.to_owned(),
            value: String::new(),
        };
        if self.edits.len() < before {
            let mut base = self.base.clone();
            apply(&mut base, &delete)?;
            if base == self.base {
                return Ok(());
            }
        }
        self.edits.push(PathEdit {
            kind: Kind::Delete as i32,
            path: path.to_owned(),
            value: String::new(),
        });
        Ok(())
    }

    /// The pending edits, one `set PATH VALUE` / `delete PATH` line each.
    pub fn changes(&self) -> String {
        self.edits
            .iter()
            .map(|e| format!("{}\n", edit_line(e)))
            .collect()
    }

    /// The base with every edit applied.
    pub fn merged(&self) -> Result<Value, String> {
        let mut tree = match &self.base {
            Value::Object(_) => self.base.clone(),
            _ => Value::Object(Map::new()),
        };
        for edit in &self.edits {
            apply(&mut tree, edit).map_err(|e| format!("{}: {e}", edit.path))?;
        }
        Ok(tree)
    }
}

/// The data paths of every node of a tree, for completion. Without the
/// schema, a list entry is named by the first of its leaves that is a key
/// somewhere in the modules dmvpnd implements (`name`, `protocol-address`,
/// `ip`, ...), else by its first leaf.
pub fn data_paths(tree: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    if let Value::Object(members) = tree {
        collect_paths(members, "", &mut paths);
    }
    paths
}

fn collect_paths(members: &Map<String, Value>, prefix: &str, paths: &mut Vec<String>) {
    for (name, value) in members {
        let path = format!("{prefix}/{name}");
        match value {
            Value::Object(children) => {
                paths.push(path.clone());
                collect_paths(children, &path, paths);
            }
            Value::Array(entries) => {
                for entry in entries {
                    match entry {
                        Value::Object(children) => {
                            let Some((key, key_value)) = list_key(children) else {
                                continue;
                            };
                            let Some(key_text) = leaf_text(key_value) else {
                                continue;
                            };
                            let entry_path = format!("{path}[{key}='{key_text}']");
                            paths.push(entry_path.clone());
                            collect_paths(children, &entry_path, paths);
                        }
                        leaf => {
                            if let Some(text) = leaf_text(leaf) {
                                paths.push(format!("{path}[.='{text}']"));
                            }
                        }
                    }
                }
            }
            _ => paths.push(path),
        }
    }
}

/// Key leaves of the lists of ietf-interfaces, ietf-ip and dmvpn-nhrp.
const KNOWN_KEYS: &[&str] = &["name", "protocol-address", "ip", "prefix", "type", "reason"];

fn list_key(entry: &Map<String, Value>) -> Option<(&String, &Value)> {
    KNOWN_KEYS
        .iter()
        .find_map(|key| entry.get_key_value(*key))
        .or_else(|| entry.iter().find(|(_, v)| leaf_text(v).is_some()))
}

fn leaf_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An edit as the operator typed it.
pub fn edit_line(edit: &PathEdit) -> String {
    match edit.kind() {
        Kind::Set if edit.value.is_empty() => format!("set {}", edit.path),
        Kind::Set => format!("set {} {}", edit.path, quote(&edit.value)),
        Kind::Delete => format!("delete {}", edit.path),
    }
}

fn quote(value: &str) -> String {
    if value.is_empty() || value.contains(char::is_whitespace) {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

/// One node of a path: `prefix:name[key='value']...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub module: Option<String>,
    pub name: String,
    /// `(key, value)`; the key `.` selects a leaf-list entry.
    pub predicates: Vec<(String, String)>,
}

/// Parses an absolute data path (`/ietf-interfaces:interfaces/interface[name='tun0']/...`).
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("{path}: a path starts with '/'"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '/' || c == '[' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let mut predicates = Vec::new();
        while chars.peek() == Some(&'[') {
            chars.next();
            let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
            let quote = chars
                .next()
                .filter(|&q| q == '\'' || q == '"')
                .ok_or_else(|| format!("{path}: predicate values are quoted"))?;
            let mut value = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == quote {
                    closed = true;
                    break;
                }
                value.push(c);
            }
            if !closed || chars.next() != Some(']') {
                return Err(format!("{path}: unterminated predicate"));
            }
            predicates.push((key.trim().to_owned(), value));
        }
        match chars.next() {
            None | Some('/') => {}
            Some(c) => return Err(format!("{path}: unexpected '{c}'")),
        }
        let (module, name) = match name.split_once(':') {
            Some((module, name)) => (Some(module.to_owned()), name.to_owned()),
            None => (None, name),
        };
        if name.is_empty() {
            return Err(format!("{path}: empty node name"));
        }
        if steps.is_empty() && module.is_none() {
            return Err(format!(
                "{path}: the first node names its module (module:node)"
            ));
        }
        steps.push(Step {
            module,
            name,
            predicates,
        });
    }
    if steps.is_empty() {
        return Err(format!("{path}: empty path"));
    }
    Ok(steps)
}

/// The JSON member names of the steps (RFC 7951, section 4: qualified only
/// where the module changes).
fn member_names(steps: &[Step]) -> Vec<String> {
    let mut current: Option<&str> = None;
    steps
        .iter()
        .map(|step| match step.module.as_deref() {
            Some(module) if Some(module) != current => {
                current = Some(module);
                format!("{module}:{}", step.name)
            }
            _ => step.name.clone(),
        })
        .collect()
}

/// A leaf value typed by its looks (see the module comment).
pub fn typed_value(value: &str) -> Value {
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            let canonical = value == "0" || !(value.starts_with('0') || value.starts_with("-0"));
            match value.parse::<i64>() {
                Ok(n) if canonical && (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&n) => {
                    Value::from(n)
                }
                _ => Value::String(value.to_owned()),
            }
        }
    }
}

fn same_value(json: &Value, text: &str) -> bool {
    match json {
        Value::String(s) => s == text,
        Value::Number(n) => n.to_string() == text,
        Value::Bool(b) => (if *b { "true" } else { "false" }) == text,
        _ => false,
    }
}

fn matches(entry: &Value, predicates: &[(String, String)]) -> bool {
    predicates
        .iter()
        .all(|(key, value)| entry.get(key).is_some_and(|v| same_value(v, value)))
}

fn apply(tree: &mut Value, edit: &PathEdit) -> Result<(), String> {
    let steps = parse_path(&edit.path)?;
    let names = member_names(&steps);
    let Some((last, parents)) = steps.split_last() else {
        return Err("empty path".to_owned());
    };
    let Some((last_name, parent_names)) = names.split_last() else {
        return Err("empty path".to_owned());
    };
    let create = edit.kind() == Kind::Set;
    let mut node = tree;
    for (step, name) in parents.iter().zip(parent_names) {
        match descend(node, step, name, create)? {
            Some(child) => node = child,
            // Deleting below something absent: nothing to do.
            None => return Ok(()),
        }
    }
    let object = node
        .as_object_mut()
        .ok_or_else(|| format!("{last_name} is below a leaf"))?;
    match edit.kind() {
        Kind::Set => {
            if let [(key, entry)] = last.predicates.as_slice()
                && key == "."
            {
                // A leaf-list entry.
                let list = object
                    .entry(last_name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let array = list
                    .as_array_mut()
                    .ok_or_else(|| format!("{last_name} is not a leaf-list"))?;
                if !array.iter().any(|v| same_value(v, entry)) {
                    array.push(typed_value(entry));
                }
            } else if !last.predicates.is_empty() {
                if !edit.value.is_empty() {
                    return Err("a list entry takes no value".to_owned());
                }
                list_entry(object, last, last_name, true)?;
            } else if edit.value.is_empty() {
                // A container (presence or not).
                object
                    .entry(last_name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
            } else {
                object.insert(last_name.clone(), typed_value(&edit.value));
            }
        }
        Kind::Delete => {
            if last.predicates.is_empty() {
                object.remove(last_name);
            } else if let Some(Value::Array(array)) = object.get_mut(last_name) {
                array.retain(|entry| match last.predicates.as_slice() {
                    [(key, value)] if key == "." => !same_value(entry, value),
                    predicates => !matches(entry, predicates),
                });
                if array.is_empty() {
                    object.remove(last_name);
                }
            }
        }
    }
    Ok(())
}

/// The child a step names; `None` when absent and `create` is false.
fn descend<'a>(
    node: &'a mut Value,
    step: &Step,
    name: &str,
    create: bool,
) -> Result<Option<&'a mut Value>, String> {
    let object = node
        .as_object_mut()
        .ok_or_else(|| format!("{name} is below a leaf"))?;
    if step.predicates.is_empty() {
        if !create && !object.contains_key(name) {
            return Ok(None);
        }
        let child = object
            .entry(name.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        return Ok(Some(child));
    }
    list_entry(object, step, name, create)
}

fn list_entry<'a>(
    object: &'a mut Map<String, Value>,
    step: &Step,
    name: &str,
    create: bool,
) -> Result<Option<&'a mut Value>, String> {
    if !create && !object.contains_key(name) {
        return Ok(None);
    }
    let list = object
        .entry(name.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    let array = list
        .as_array_mut()
        .ok_or_else(|| format!("{name} is not a list"))?;
    let position = array.iter().position(|e| matches(e, &step.predicates));
    let index = match position {
        Some(index) => index,
        None if create => {
            let entry: Map<String, Value> = step
                .predicates
                .iter()
                .map(|(key, value)| (key.clone(), typed_value(value)))
                .collect();
            array.push(Value::Object(entry));
            array.len() - 1
        }
        None => return Ok(None),
    };
    Ok(array.get_mut(index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NHRP: &str = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp";

    #[test]
    fn set_creates_list_entries_and_qualifies_module_changes() {
        let mut candidate = Candidate::new(json!({}));
        candidate
            .set(&format!("{NHRP}/holding-time"), "600")
            .expect("valid");
        candidate
            .set(&format!("{NHRP}/authentication"), "s3cret")
            .expect("valid");
        assert_eq!(
            candidate.merged().expect("merges"),
            json!({"ietf-interfaces:interfaces": {"interface": [
                {"name": "tun0", "dmvpn-nhrp:nhrp": {"holding-time": 600, "authentication": "s3cret"}}
            ]}})
        );
    }

    #[test]
    fn set_merges_into_the_base_and_delete_removes() {
        let base = json!({"ietf-interfaces:interfaces": {"interface": [
            {"name": "tun0", "dmvpn-nhrp:nhrp": {"network-id": 1, "holding-time": 7200}},
            {"name": "eth0"}
        ]}});
        let mut candidate = Candidate::new(base);
        candidate
            .set(&format!("{NHRP}/network-id"), "5")
            .expect("valid");
        candidate
            .delete(&format!("{NHRP}/holding-time"))
            .expect("valid");
        candidate
            .delete("/ietf-interfaces:interfaces/interface[name='eth0']")
            .expect("valid");
        candidate
            .set(&format!("{NHRP}/multicast/nbma-address[.='192.0.2.1']"), "")
            .expect("valid");
        assert_eq!(
            candidate.merged().expect("merges"),
            json!({"ietf-interfaces:interfaces": {"interface": [
                {"name": "tun0", "dmvpn-nhrp:nhrp": {"network-id": 5,
                    "multicast": {"nbma-address": ["192.0.2.1"]}}}
            ]}})
        );
        assert_eq!(
            candidate.changes(),
            format!(
                "set {NHRP}/network-id 5\ndelete {NHRP}/holding-time\n\
                 delete /ietf-interfaces:interfaces/interface[name='eth0']\n\
                 set {NHRP}/multicast/nbma-address[.='192.0.2.1']\n"
            )
        );
    }

    #[test]
    fn a_later_edit_of_the_same_node_supersedes_the_earlier() {
        let base = json!({"ietf-interfaces:interfaces": {"interface": [
            {"name": "tun0", "dmvpn-nhrp:nhrp": {"holding-time": 600}}]}});
        let mut candidate = Candidate::new(base);
        candidate
            .set(&format!("{NHRP}/holding-time"), "300")
            .unwrap();
        candidate
            .set(&format!("{NHRP}/holding-time"), "900")
            .unwrap();
        candidate.set(&format!("{NHRP}/shortcut"), "true").unwrap();
        assert_eq!(
            candidate.changes(),
            format!("set {NHRP}/holding-time 900\nset {NHRP}/shortcut true\n")
        );
        // Deleting what only the session created leaves nothing to send.
        candidate.delete(&format!("{NHRP}/shortcut")).unwrap();
        assert_eq!(
            candidate.changes(),
            format!("set {NHRP}/holding-time 900\n")
        );
        // Deleting what running has drops the edits below and is sent.
        candidate.delete(NHRP).unwrap();
        assert_eq!(candidate.changes(), format!("delete {NHRP}\n"));
    }

    #[test]
    fn malformed_paths_are_refused() {
        let mut candidate = Candidate::default();
        assert!(candidate.set("interfaces/interface", "x").is_err());
        assert!(candidate.set("/interfaces", "x").is_err());
        assert!(candidate.set("/a:b[name=tun0]", "x").is_err());
        assert!(candidate.delete("/a:b[name='tun0'").is_err());
        assert!(candidate.edits.is_empty());
    }

    #[test]
    fn data_paths_name_list_entries_by_their_first_member() {
        let tree = json!({"ietf-interfaces:interfaces": {"interface": [
            {"name": "tun0", "dmvpn-nhrp:nhrp": {"network-id": 1,
                "multicast": {"nbma-address": ["192.0.2.1"]}}}
        ]}});
        let mut paths = data_paths(&tree);
        paths.sort();
        assert_eq!(
            paths,
            vec![
                "/ietf-interfaces:interfaces".to_owned(),
                "/ietf-interfaces:interfaces/interface[name='tun0']".to_owned(),
                format!("{NHRP}"),
                format!("{NHRP}/multicast"),
                format!("{NHRP}/multicast/nbma-address[.='192.0.2.1']"),
                format!("{NHRP}/network-id"),
                "/ietf-interfaces:interfaces/interface[name='tun0']/name".to_owned(),
            ]
        );
    }

    #[test]
    fn values_are_typed_by_their_looks() {
        assert_eq!(typed_value("true"), json!(true));
        assert_eq!(typed_value("1400"), json!(1400));
        assert_eq!(typed_value("007"), json!("007"));
        assert_eq!(
            typed_value("18446744073709551615"),
            json!("18446744073709551615")
        );
        assert_eq!(typed_value("192.0.2.1"), json!("192.0.2.1"));
    }
}
