//! `<edit-config>` (RFC 6241, 7.2).
//!
//! An edit walks the `<config>` XML against the schema. Each node with an
//! operation becomes an edit of a working copy of the target: subtrees
//! are copied (with their ancestors and keys) as XML documents that
//! libyang parses and merges, deletions name the node's data path. The
//! working copy answers "does it exist" for `create` and `delete` as the
//! edit goes on; the candidate takes it whole, running takes the edits as
//! one transaction through the northbound task (all or nothing, whatever
//! the error-option).

use roxmltree::Node;
use yang2::data::Data;
use yang2::schema::{SchemaNode, SchemaNodeKind};

use super::datastore::{self, Datastore};
use super::filter;
use super::rpc_error::{Layer, RpcError};
use super::session::{Reply, Session};
use super::xml::{self, Fragment};
use crate::candidate::LoadMode;
use crate::config::{Config, Format};
use crate::data;
use crate::task::Edit;

/// The `nc:operation` attribute, left out of what libyang parses.
const OPERATION: (&str, &str) = (xml::BASE, "operation");

/// RFC 6241, 7.2: the operation attribute and default-operation values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Merge,
    Replace,
    Create,
    Delete,
    Remove,
    /// default-operation none: nodes without an operation only lead to
    /// those with one.
    None,
}

impl Operation {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.trim() {
            "merge" => Operation::Merge,
            "replace" => Operation::Replace,
            "create" => Operation::Create,
            "delete" => Operation::Delete,
            "remove" => Operation::Remove,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TestOption {
    TestThenSet,
    Set,
    TestOnly,
}

/// One element of the `<config>` on the way down to the node edited.
#[derive(Clone, Debug)]
struct Level<'a, 'input> {
    element: Node<'a, 'input>,
    schema: SchemaNode<'static>,
    /// Its data path (`/ietf-interfaces:interfaces/interface[name='tun0']`).
    path: String,
}

/// A working copy of the target and the edits made to it.
#[derive(Debug)]
struct Editor {
    config: Config,
    edits: Vec<Edit>,
    /// The edits cannot say it (a top-level node deleted): the working
    /// copy replaces the target whole.
    whole: bool,
}

impl Editor {
    fn new(config: Config) -> Self {
        Editor {
            config,
            edits: vec![],
            whole: false,
        }
    }

    /// Whether the node at `path` is there (a default node is not).
    fn exists(&self, path: &str) -> bool {
        if data::c_text(path).is_err() || self.config.tree().reference().is_none() {
            return false;
        }
        self.config
            .tree()
            .find_path(path)
            .is_ok_and(|node| !node.is_default())
    }

    fn merge(&mut self, document: String) -> Result<(), RpcError> {
        let loaded = Config::parse_unvalidated(&document, Format::Xml)?;
        self.config.merge(&loaded)?;
        self.edits
            .push(Edit::Load(document, Format::Xml, LoadMode::Merge));
        Ok(())
    }

    fn delete(&mut self, level: &Level<'_, '_>, top_level: bool) -> Result<(), RpcError> {
        match top_level {
            // libyang's tree handle would be left pointing at a freed
            // node: rebuild the tree without it instead.
            true => {
                self.config = without_top_level(&self.config, level)?;
                self.whole = true;
            }
            false => {
                self.config.delete(&level.path)?;
                self.edits.push(Edit::Delete(level.path.clone()));
            }
        }
        Ok(())
    }

    fn replace_all(&mut self, config: Config) {
        self.config = config;
        self.whole = true;
    }

    fn into_edits(self) -> Result<Vec<Edit>, RpcError> {
        Ok(match self.whole {
            true => vec![Edit::Load(
                self.config.print(Format::Json)?,
                Format::Json,
                LoadMode::Replace,
            )],
            false => self.edits,
        })
    }

    /// Applies one element of `<config>` (and what is below it) with the
    /// operation it inherits.
    fn walk(
        &mut self,
        element: Node<'_, '_>,
        chain: &[Level<'_, '_>],
        inherited: Operation,
    ) -> Result<(), RpcError> {
        let name = element.tag_name().name();
        let parent = chain.last();
        let schema = filter::schema_node(element, parent.map(|l| &l.schema))
            .ok_or_else(|| unknown(element))?;
        if !schema.is_config() {
            return Err(
                RpcError::invalid_value(format!("<{name}> is state, not configuration"))
                    .with_info("bad-element", name),
            );
        }
        let operation = match element.attribute(OPERATION) {
            Some(text) => Operation::parse(text).ok_or_else(|| {
                RpcError::new(
                    Layer::Protocol,
                    "bad-attribute",
                    format!("operation {text}"),
                )
                .with_info("bad-attribute", "operation")
                .with_info("bad-element", name)
            })?,
            None => inherited,
        };
        let path = format!(
            "{}/{}{}",
            parent.map(|l| l.path.as_str()).unwrap_or_default(),
            filter::step(&schema, parent.map(|l| &l.schema)),
            predicates(element, &schema)?
        );
        let level = Level {
            element,
            schema: schema.clone(),
            path,
        };
        let inner = matches!(
            schema.kind(),
            SchemaNodeKind::Container | SchemaNodeKind::List
        );
        let leaf = matches!(
            schema.kind(),
            SchemaNodeKind::Leaf | SchemaNodeKind::LeafList
        );
        if !inner && !leaf {
            return Err(unknown(element));
        }
        if schema.is_list_key() {
            // Keys name their list entry; they are copied with it.
            return Ok(());
        }
        match operation {
            Operation::Merge if leaf || !has_operations(element) => {
                self.merge(document(chain, element, true)?)?;
            }
            Operation::Merge => {
                self.merge(document(chain, element, false)?)?;
                self.walk_children(&level, chain, Operation::Merge)?;
            }
            Operation::None if inner => self.walk_children(&level, chain, Operation::None)?,
            Operation::None => {}
            Operation::Replace => {
                if self.exists(&level.path) {
                    self.delete(&level, chain.is_empty())?;
                }
                self.merge(document(chain, element, true)?)?;
            }
            Operation::Create => {
                if self.exists(&level.path) {
                    return Err(RpcError::new(
                        Layer::Application,
                        "data-exists",
                        format!("<{name}> exists already: create refused"),
                    )
                    .with_path(Some(level.path)));
                }
                self.merge(document(chain, element, true)?)?;
            }
            Operation::Delete => {
                if !self.exists(&level.path) {
                    return Err(RpcError::new(
                        Layer::Application,
                        "data-missing",
                        format!("<{name}> does not exist: delete refused"),
                    )
                    .with_path(Some(level.path)));
                }
                self.delete(&level, chain.is_empty())?;
            }
            Operation::Remove => {
                if self.exists(&level.path) {
                    self.delete(&level, chain.is_empty())?;
                }
            }
        }
        Ok(())
    }

    fn walk_children(
        &mut self,
        level: &Level<'_, '_>,
        chain: &[Level<'_, '_>],
        operation: Operation,
    ) -> Result<(), RpcError> {
        let mut below = chain.to_vec();
        below.push(level.clone());
        for child in xml::elements(level.element) {
            self.walk(child, &below, operation)?;
        }
        Ok(())
    }
}

fn unknown(element: Node<'_, '_>) -> RpcError {
    let name = element.tag_name().name();
    match element.tag_name().namespace() {
        Some(ns) if xml::module_of(ns).is_none() => RpcError::new(
            Layer::Application,
            "unknown-namespace",
            format!("no module has namespace {ns}"),
        )
        .with_info("bad-element", name)
        .with_info("bad-namespace", ns),
        _ => RpcError::unknown_element(Layer::Application, name),
    }
}

/// Whether an operation attribute is set below `element`.
fn has_operations(element: Node<'_, '_>) -> bool {
    element
        .descendants()
        .skip(1)
        .any(|n| n.is_element() && n.attribute(OPERATION).is_some())
}

/// The key predicates of a list entry, the value predicate of a leaf-list
/// entry.
fn predicates(element: Node<'_, '_>, schema: &SchemaNode<'static>) -> Result<String, RpcError> {
    let quoted = |value: &str| {
        xml::literal(value)
            .ok_or_else(|| RpcError::invalid_value("a key with both quote characters"))
    };
    match schema.kind() {
        SchemaNodeKind::List => {
            let mut out = String::new();
            for key in schema.list_keys() {
                let value = key_element(element, &key)
                    .map(xml::content)
                    .ok_or_else(|| RpcError::missing_element(Layer::Application, key.name()))?;
                out.push_str(&format!("[{}={}]", key.name(), quoted(value)?));
            }
            Ok(out)
        }
        SchemaNodeKind::LeafList => Ok(format!("[.={}]", quoted(xml::content(element))?)),
        _ => Ok(String::new()),
    }
}

fn key_element<'a, 'input>(
    element: Node<'a, 'input>,
    key: &SchemaNode<'_>,
) -> Option<Node<'a, 'input>> {
    xml::elements(element).find(|child| {
        child.tag_name().name() == key.name()
            && child
                .tag_name()
                .namespace()
                .is_none_or(|ns| ns == key.module().namespace())
    })
}

/// `element` as an XML document libyang can parse: inside its ancestors
/// and their keys, whole or (`whole` false) with its keys only.
fn document(
    chain: &[Level<'_, '_>],
    element: Node<'_, '_>,
    whole: bool,
) -> Result<String, RpcError> {
    let skip = [OPERATION];
    let mut fragment = Fragment::new();
    let keys = |fragment: &mut Fragment, element: Node<'_, '_>, schema: &SchemaNode<'static>| {
        for key in schema.list_keys() {
            if let Some(key) = key_element(element, &key) {
                fragment.subtree(key, false, &skip);
            }
        }
    };
    for (i, level) in chain.iter().enumerate() {
        fragment.open(level.element, i == 0, &skip);
        keys(&mut fragment, level.element, &level.schema);
    }
    match whole {
        true => fragment.subtree(element, chain.is_empty(), &skip),
        false => {
            let parent = chain.last().map(|l| &l.schema);
            let schema = filter::schema_node(element, parent).ok_or_else(|| unknown(element))?;
            fragment.open(element, chain.is_empty(), &skip);
            keys(&mut fragment, element, &schema);
            fragment.close(element);
        }
    }
    for level in chain.iter().rev() {
        fragment.close(level.element);
    }
    Ok(fragment.into_string())
}

/// The configuration without a top-level node, rebuilt from its JSON.
fn without_top_level(config: &Config, level: &Level<'_, '_>) -> Result<Config, RpcError> {
    let json = config.print(Format::Json)?;
    let mut value: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| RpcError::operation_failed(format!("configuration JSON: {e}")))?;
    let member = format!("{}:{}", level.schema.module().name(), level.schema.name());
    if let Some(top) = value.as_object_mut() {
        match level.schema.kind() {
            SchemaNodeKind::List | SchemaNodeKind::LeafList => {
                if let Some(serde_json::Value::Array(entries)) = top.get_mut(&member) {
                    let keys: Vec<(String, String)> = level
                        .schema
                        .list_keys()
                        .filter_map(|key| {
                            let element = key_element(level.element, &key)?;
                            Some((key.name().to_owned(), xml::content(element).to_owned()))
                        })
                        .collect();
                    let value = xml::content(level.element).to_owned();
                    entries.retain(|entry| {
                        let text = |v: &serde_json::Value| match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let same = match &level.schema.kind() {
                            SchemaNodeKind::LeafList => text(entry) == value,
                            _ => keys
                                .iter()
                                .all(|(k, v)| entry.get(k).map(text).as_deref() == Some(v)),
                        };
                        !same
                    });
                }
            }
            _ => {
                top.remove(&member);
            }
        }
    }
    Ok(Config::parse_unvalidated(&value.to_string(), Format::Json)?)
}

pub(crate) async fn edit_config(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    let target = datastore::named(operation, "target", false)?;
    let param = |name| xml::child(operation, xml::BASE, name).map(|n| xml::content(n).trim());
    let default = match param("default-operation") {
        None | Some("merge") => Operation::Merge,
        Some("replace") => Operation::Replace,
        Some("none") => Operation::None,
        Some(other) => {
            return Err(RpcError::invalid_value(format!(
                "default-operation {other}: merge, replace or none"
            )));
        }
    };
    let test = match param("test-option") {
        None | Some("test-then-set") => TestOption::TestThenSet,
        Some("set") => TestOption::Set,
        Some("test-only") => TestOption::TestOnly,
        Some(other) => {
            return Err(RpcError::invalid_value(format!("test-option {other}")));
        }
    };
    match param("error-option") {
        // Every edit is all or nothing: stop-on-error and
        // rollback-on-error are the same, continue-on-error is refused.
        None | Some("stop-on-error" | "rollback-on-error") => {}
        Some(other) => {
            return Err(RpcError::operation_not_supported(format!(
                "error-option {other}: edits are all or nothing (rollback-on-error)"
            )));
        }
    }
    let config = xml::child(operation, xml::BASE, "config").ok_or_else(|| {
        match xml::child(operation, xml::BASE, "url") {
            Some(_) => RpcError::operation_not_supported("<url> is not supported"),
            None => RpcError::missing_element(Layer::Protocol, "config"),
        }
    })?;
    let apply = |working: Config| -> Result<Editor, RpcError> {
        let mut editor = Editor::new(working);
        match default {
            // RFC 6241, 7.2: the <config> replaces the whole target.
            Operation::Replace => editor.replace_all(datastore::inline(config)?),
            _ => {
                for element in xml::elements(config) {
                    editor.walk(element, &[], default)?;
                }
            }
        }
        Ok(editor)
    };
    let running = session.running().await?;
    let me = session.actor.session;
    match target {
        Datastore::Candidate | Datastore::Inline(_) => {
            let mut shared = session.netconf.shared();
            shared.candidate.check_writable(me)?;
            let editor = apply(shared.candidate.config(&running))?;
            match test {
                TestOption::TestOnly => editor.config.clone().validate()?,
                TestOption::TestThenSet | TestOption::Set => {
                    shared.candidate.store(editor.config, &running, me)
                }
            }
        }
        Datastore::Running => {
            let editor = apply(running)?;
            match test {
                TestOption::TestOnly => editor.config.clone().validate()?,
                TestOption::TestThenSet | TestOption::Set => {
                    let edits = editor.into_edits()?;
                    let handle = &session.netconf.handle;
                    handle
                        .commit(&session.actor, edits, "NETCONF edit-config", None)
                        .await?;
                }
            }
        }
    }
    Ok(Reply::Ok)
}
