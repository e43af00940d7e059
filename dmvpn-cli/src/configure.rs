//! Configure mode as on IOS-XR: commands generated from the YANG schema,
//! typed relative to where the operator stands.
//!
//! - A container's name enters it (`nhrp`), a list's name with its keys
//!   given positionally enters that entry (`interface tun0`, created if
//!   new, as IOS-XR's `interface` does), a presence container is created
//!   when entered. Several may be typed on one line
//!   (`interfaces interface tun0 nhrp`).
//! - A leaf's name with a value sets it and stays where it was
//!   (`holding-time 300`); a leaf-list's adds one value.
//! - `no WORDS` / `delete WORDS` delete the node the words end at (a
//!   leaf-list value when given); `set WORDS` sets or creates without
//!   moving (Junos style). With a `/`-path, `set` and `delete` are the
//!   absolute-path commands of before.
//! - `exit` goes up one level (at the top it leaves configure mode), `top`
//!   to the top, `end` leaves configure mode.
//!
//! A line's first word is a command or a node, whichever it abbreviates
//! uniquely; a command keyword typed in full wins over a node of the same
//! name (which `module:name` still reaches).
//!
//! Every word may be abbreviated to a unique prefix. Values are checked
//! against the leaf's type here (libyang) so that a typo is refused at
//! once; dmvpnd checks everything again on commit.

use serde_json::Value;
use yang2::data::DataTree;
use yang2::schema::SchemaNodeKind;

use crate::candidate::Candidate;
use crate::schema::{self, Node, Tree};
use crate::yang_source;

/// One level of a position: a container, or a list entry with its keys.
#[derive(Clone, Debug)]
pub struct Step {
    pub node: Node,
    pub keys: Vec<String>,
}

/// What the walk expects next.
#[derive(Clone, Debug)]
pub enum Expect {
    /// A child of the last step (or of the top).
    Node,
    /// The `index`th key of the list of the last step.
    Key { list: Node, index: usize },
    /// The value of a leaf or leaf-list.
    Value(Node),
    /// Nothing more: the line ends at a leaf.
    End,
}

/// A walk through the schema, word by word.
#[derive(Clone, Debug)]
pub struct Walk {
    pub tree: Tree,
    pub steps: Vec<Step>,
    /// The leaf or leaf-list the walk ended at, and its value.
    pub leaf: Option<(Node, Option<String>)>,
    pub expect: Expect,
}

/// The node `word` names among `children`: its name, `module:name`, or a
/// unique prefix of either.
pub fn resolve(word: &str, children: &[Node]) -> Result<Node, String> {
    let qualified = word.contains(':');
    let name_of = |node: &Node| {
        if qualified {
            schema::qualified(node)
        } else {
            node.name().to_owned()
        }
    };
    let exact: Vec<&Node> = children.iter().filter(|c| name_of(c) == word).collect();
    let mut matching: Vec<&Node> = if exact.is_empty() {
        children
            .iter()
            .filter(|c| name_of(c).starts_with(word))
            .collect()
    } else {
        exact
    };
    // A deprecated node (`interfaces-state`) is taken only when named in
    // full or when nothing else fits.
    if matching.iter().any(|n| !schema::is_deprecated(n)) {
        matching.retain(|n| !schema::is_deprecated(n) || name_of(n) == word);
    }
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("'{word}' is not a node here; '?' lists them")),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|n| schema::display_name(n, children))
                .collect();
            let names = if names.iter().all(|n| n == &names[0]) {
                many.iter().map(|n| schema::qualified(n)).collect()
            } else {
                names
            };
            Err(format!("ambiguous: '{word}' could be {}", names.join(", ")))
        }
    }
}

impl Walk {
    pub fn new(start: &[Step], tree: Tree) -> Walk {
        Walk {
            tree,
            steps: start.to_vec(),
            leaf: None,
            expect: Expect::Node,
        }
    }

    /// The children a node word is looked up among.
    pub fn children(&self) -> Vec<Node> {
        schema::children(self.steps.last().map(|s| &s.node), self.tree)
    }

    /// Takes one more word.
    pub fn feed(&mut self, word: &str) -> Result<(), String> {
        match self.expect.clone() {
            Expect::Node => {
                let node = resolve(word, &self.children())?;
                match node.kind() {
                    SchemaNodeKind::Container => {
                        self.steps.push(Step {
                            node,
                            keys: Vec::new(),
                        });
                    }
                    SchemaNodeKind::List => {
                        let keyed = !schema::keys(&node).is_empty();
                        self.steps.push(Step {
                            node: node.clone(),
                            keys: Vec::new(),
                        });
                        if keyed {
                            self.expect = Expect::Key {
                                list: node,
                                index: 0,
                            };
                        }
                    }
                    _ => {
                        self.expect = if schema::is_empty_leaf(&node) {
                            Expect::End
                        } else {
                            Expect::Value(node.clone())
                        };
                        self.leaf = Some((node, None));
                    }
                }
            }
            Expect::Key { list, index } => {
                if let Some(step) = self.steps.last_mut() {
                    step.keys.push(word.to_owned());
                }
                self.expect = if index + 1 < schema::keys(&list).len() {
                    Expect::Key {
                        list,
                        index: index + 1,
                    }
                } else {
                    Expect::Node
                };
            }
            Expect::Value(_) => {
                if let Some((_, value)) = &mut self.leaf {
                    *value = Some(word.to_owned());
                }
                self.expect = Expect::End;
            }
            Expect::End => {
                let leaf = self.leaf.as_ref().map(|(n, _)| n.name()).unwrap_or("");
                return Err(format!("unexpected '{word}' after {leaf}"));
            }
        }
        Ok(())
    }

    /// Walks all of `words` from `start`.
    pub fn run(start: &[Step], tree: Tree, words: &[&str]) -> Result<Walk, String> {
        let mut walk = Walk::new(start, tree);
        for word in words {
            walk.feed(word)?;
        }
        Ok(walk)
    }

    /// The data path the walk names (a list without its keys names every
    /// entry; only `show state` accepts that).
    pub fn path(&self) -> Result<String, String> {
        let mut path = data_path(&self.steps)?;
        if let Some((leaf, value)) = &self.leaf {
            path.push('/');
            path.push_str(&member(leaf, self.steps.last().map(|s| &s.node)));
            if let (SchemaNodeKind::LeafList, Some(value)) = (leaf.kind(), value) {
                path.push_str(&format!("[.={}]", quoted(value)?));
            }
        }
        Ok(if path.is_empty() {
            "/".to_owned()
        } else {
            path
        })
    }

    fn missing_keys(&self) -> Option<String> {
        match &self.expect {
            Expect::Key { list, index } => {
                let key = schema::keys(list)
                    .get(*index)
                    .map(|k| k.name().to_owned())
                    .unwrap_or_default();
                Some(format!("{}: the key {key} is expected", list.name()))
            }
            _ => None,
        }
    }
}

/// `name` or `module:name` where the module changes (RFC 7951 and
/// libyang paths).
fn member(node: &Node, parent: Option<&Node>) -> String {
    match parent {
        Some(parent) if parent.module().name() == node.module().name() => node.name().to_owned(),
        _ => schema::qualified(node),
    }
}

fn quoted(value: &str) -> Result<String, String> {
    if value.contains('\0') {
        return Err("a value cannot hold a NUL character".to_owned());
    }
    if !value.contains('\'') {
        Ok(format!("'{value}'"))
    } else if !value.contains('"') {
        Ok(format!("\"{value}\""))
    } else {
        Err(format!("{value}: a value cannot hold both kinds of quote"))
    }
}

/// The data path of a position.
pub fn data_path(steps: &[Step]) -> Result<String, String> {
    let mut path = String::new();
    let mut parent: Option<&Node> = None;
    for step in steps {
        path.push('/');
        path.push_str(&member(&step.node, parent));
        for (key, value) in schema::keys(&step.node).iter().zip(&step.keys) {
            path.push_str(&format!("[{}={}]", key.name(), quoted(value)?));
        }
        parent = Some(&step.node);
    }
    Ok(path)
}

/// The prompt's name of a position: `config-interface-tun0-nhrp`. The
/// top-level container that only wraps a list is left out.
pub fn mode_name(steps: &[Step]) -> String {
    let mut name = "config".to_owned();
    for (i, step) in steps.iter().enumerate() {
        if i == 0 && steps.len() > 1 && step.node.kind() == SchemaNodeKind::Container {
            continue;
        }
        name.push('-');
        name.push_str(step.node.name());
        for key in &step.keys {
            name.push('-');
            name.push_str(key);
        }
    }
    name
}

/// An edit a schema line makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    Set { path: String, value: String },
    Delete { path: String },
}

/// What a line of schema words does.
#[derive(Clone, Debug)]
pub struct Action {
    pub edit: Option<Edit>,
    /// The container or list entry the edit creates: an existing one is
    /// entered without an edit.
    pub creates: Option<Vec<Step>>,
    /// The new position (`None`: unchanged).
    pub enter: Option<Vec<Step>>,
}

/// How the words of a line are meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Typed bare: enter containers and entries, set leaves.
    Navigate,
    /// `set WORDS`: create or set, stay.
    Set,
    /// `no WORDS` / `delete WORDS`.
    Delete,
}

/// What `words` (from `position`) do.
pub fn action(position: &[Step], verb: Verb, words: &[&str]) -> Result<Action, String> {
    let walk = Walk::run(position, Tree::Config, words)?;
    if let Some(missing) = walk.missing_keys() {
        return Err(missing);
    }
    let path = walk.path()?;
    if verb == Verb::Delete {
        if walk.steps.len() == position.len() && walk.leaf.is_none() {
            return Err("delete what? '?' lists the nodes here".to_owned());
        }
        return Ok(Action {
            edit: Some(Edit::Delete { path }),
            creates: None,
            enter: None,
        });
    }
    let Some((leaf, value)) = &walk.leaf else {
        // A container or list entry: created when it means something.
        let created = walk
            .steps
            .last()
            .is_some_and(|s| s.node.kind() == SchemaNodeKind::List || !s.node.is_np_container());
        let edit = (created && walk.steps.len() > position.len()).then(|| Edit::Set {
            path: path.clone(),
            value: String::new(),
        });
        check(&path, None)?;
        return Ok(Action {
            edit,
            creates: Some(walk.steps.clone()),
            enter: (verb == Verb::Navigate).then(|| walk.steps.clone()),
        });
    };
    let edit = match (leaf.kind(), value) {
        (SchemaNodeKind::LeafList, Some(_)) => {
            check(&path, None)?;
            Edit::Set {
                path,
                value: String::new(),
            }
        }
        (_, Some(value)) => {
            let value = qualify_identity(leaf, value);
            check(&path, Some(&value))?;
            Edit::Set { path, value }
        }
        (_, None) if schema::is_empty_leaf(leaf) => {
            check(&path, None)?;
            Edit::Set {
                path,
                value: String::new(),
            }
        }
        (_, None) => {
            let info = yang_source::type_info(leaf);
            return Err(format!(
                "{}: a value is expected ({})",
                leaf.name(),
                info.summary
            ));
        }
    };
    Ok(Action {
        edit: Some(edit),
        creates: None,
        enter: None,
    })
}

/// An identity typed without its module (`mgre`) is the one identity of
/// the type with that name (`dmvpn-tunnel:mgre`).
fn qualify_identity(leaf: &Node, value: &str) -> String {
    if value.contains(':') {
        return value.to_owned();
    }
    let info = yang_source::type_info(leaf);
    let matching: Vec<&String> = (info.values.iter())
        .filter(|v| v.split_once(':').is_some_and(|(_, name)| name == value))
        .collect();
    match matching.as_slice() {
        [one] => (*one).clone(),
        _ => value.to_owned(),
    }
}

/// Refuses a path or value libyang refuses (type, range, pattern, key).
fn check(path: &str, value: Option<&str>) -> Result<(), String> {
    if path.contains('\0') || value.is_some_and(|v| v.contains('\0')) {
        return Err("a value cannot hold a NUL character".to_owned());
    }
    let mut tree = DataTree::new(dmvpn_yang::context());
    tree.new_path(path, value, false)
        .map(|_| ())
        .map_err(|e| format!("{path}: {e}"))
}

/// Applies an action to the candidate and the position.
pub fn apply(
    candidate: &mut Candidate,
    position: &mut Vec<Step>,
    action: Action,
) -> Result<(), String> {
    let exists = action.creates.as_ref().is_some_and(|steps| {
        candidate
            .merged()
            .is_ok_and(|tree| json_at(&tree, steps).is_some())
    });
    match action.edit {
        Some(Edit::Set { .. }) if exists => {}
        Some(Edit::Set { path, value }) => candidate.set(&path, &value)?,
        Some(Edit::Delete { path }) => candidate.delete(&path)?,
        None => {}
    }
    if let Some(steps) = action.enter {
        *position = steps;
    }
    Ok(())
}

/// The values of `tree` (RFC 7951 JSON) at a position's list: the key
/// values of its entries, for completion.
pub fn key_values(tree: &Value, steps: &[Step], list: &Node, index: usize) -> Vec<String> {
    let Some(node) = json_at(tree, steps) else {
        return Vec::new();
    };
    let parent = steps.last().map(|s| &s.node);
    let keys = schema::keys(list);
    let Some(key) = keys.get(index) else {
        return Vec::new();
    };
    let name = member(list, parent);
    let entries = node
        .get(&name)
        .or_else(|| node.get(list.name()))
        .and_then(Value::as_array);
    let mut values: Vec<String> = entries
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get(key.name()))
        .filter_map(crate::config_text::leaf_text)
        .collect();
    values.sort();
    values.dedup();
    values
}

/// The JSON object at a position (the entry of a list step).
pub fn json_at<'a>(tree: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let mut node = tree;
    let mut parent: Option<&Node> = None;
    for step in steps {
        let name = member(&step.node, parent);
        let child = node.get(&name)?;
        node = match step.node.kind() {
            SchemaNodeKind::List => {
                let keys = schema::keys(&step.node);
                child.as_array()?.iter().find(|entry| {
                    keys.iter().zip(&step.keys).all(|(key, value)| {
                        entry
                            .get(key.name())
                            .and_then(crate::config_text::leaf_text)
                            .is_some_and(|v| &v == value)
                    })
                })?
            }
            _ => child,
        };
        parent = Some(&step.node);
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NHRP: &str = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp";

    fn run(position: &mut Vec<Step>, candidate: &mut Candidate, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (verb, words) = match words.split_first() {
            Some((&"no", rest)) => (Verb::Delete, rest),
            Some((&"set", rest)) => (Verb::Set, rest),
            _ => (Verb::Navigate, words.as_slice()),
        };
        let action = action(position, verb, words)?;
        apply(candidate, position, action)
    }

    #[test]
    fn navigation_enters_lists_and_containers_and_sets_leaves() {
        let mut position = Vec::new();
        let mut candidate = Candidate::default();
        run(&mut position, &mut candidate, "interfaces interface tun0").expect("enters");
        assert_eq!(mode_name(&position), "config-interface-tun0");
        run(&mut position, &mut candidate, "ty mgre").expect("type by prefix");
        run(&mut position, &mut candidate, "nh").expect("nhrp");
        assert_eq!(mode_name(&position), "config-interface-tun0-nhrp");
        run(&mut position, &mut candidate, "ho 300").expect("holding-time");
        run(&mut position, &mut candidate, "no shortcut").expect("deletes");
        run(
            &mut position,
            &mut candidate,
            "multicast nbma-address 192.0.2.1",
        )
        .expect("leaf-list");
        let paths: Vec<String> = candidate
            .edits
            .iter()
            .map(|e| format!("{} {}", e.path, e.value))
            .collect();
        assert_eq!(
            paths,
            vec![
                "/ietf-interfaces:interfaces/interface[name='tun0'] ".to_owned(),
                "/ietf-interfaces:interfaces/interface[name='tun0']/type dmvpn-tunnel:mgre"
                    .to_owned(),
                format!("{NHRP} "),
                format!("{NHRP}/holding-time 300"),
                format!("{NHRP}/shortcut "),
                format!("{NHRP}/multicast/nbma-address[.='192.0.2.1'] "),
            ]
        );
        // Setting a leaf stays at the level.
        assert_eq!(mode_name(&position), "config-interface-tun0-nhrp");
    }

    #[test]
    fn bad_words_and_values_are_refused_with_the_reason() {
        let position = Vec::new();
        let error =
            action(&position, Verb::Navigate, &["interfaces", "interface"]).expect_err("key");
        assert_eq!(error, "interface: the key name is expected");
        let error = action(&position, Verb::Navigate, &["bogus"]).expect_err("unknown");
        assert!(error.contains("'bogus' is not a node here"), "{error}");
        let words = [
            "interfaces",
            "interface",
            "tun0",
            "nhrp",
            "holding-time",
            "0",
        ];
        let error = action(&position, Verb::Navigate, &words).expect_err("range");
        assert!(error.contains("holding-time"), "{error}");
        let words = ["interfaces", "interface", "tun0", "nhrp", "holding-time"];
        let error = action(&position, Verb::Navigate, &words).expect_err("value");
        assert!(error.contains("uint16, range 1..65535"), "{error}");
        let words = ["interfaces", "interface", "tun0", "nhrp", "re"];
        let error = action(&position, Verb::Navigate, &words).expect_err("ambiguous");
        assert!(error.starts_with("ambiguous: 're' could be "), "{error}");
        assert!(
            error.contains("redirect") && error.contains("registration-interval"),
            "{error}"
        );
    }

    #[test]
    fn a_module_prefix_is_accepted_and_the_path_qualifies_module_changes() {
        let words = [
            "ietf-interfaces:interfaces",
            "interface",
            "tun 1",
            "dmvpn-nhrp:nhrp",
            "network-id",
            "5",
        ];
        let action = action(&[], Verb::Set, &words).expect("valid");
        assert_eq!(
            action.edit,
            Some(Edit::Set {
                path:
                    "/ietf-interfaces:interfaces/interface[name='tun 1']/dmvpn-nhrp:nhrp/network-id"
                        .to_owned(),
                value: "5".to_owned(),
            })
        );
        assert!(action.enter.is_none());
    }
}
