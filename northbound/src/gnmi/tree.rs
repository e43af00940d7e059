//! The data gNMI reads: running and provider state as one tree, what a
//! path selects in it as Updates (a subtree per node for Get, a value per
//! leaf for Subscribe), and snapshots of leaves to diff for ON_CHANGE and
//! suppress_redundant.

use std::collections::BTreeMap;
use std::time::SystemTime;

use dmvpn_api::gnmi;
use holo_utils::sys::yang::print_data;
use yang2::data::{Data, DataFormat, DataNodeRef, DataPrinterFlags};
use yang2::schema::{DataValue, DataValueType, SchemaNodeKind};

use super::path;
use crate::data::{self, Tree};
use crate::error::Error;
use crate::provider::StateFilter;
use crate::task::Handle;

/// Which nodes a read returns (gNMI `GetRequest.DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Running.
    Config,
    /// What the state providers render.
    State,
    /// Both, merged.
    All,
}

/// The value encodings we serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// RFC 7951: member names qualified where the module changes.
    JsonIetf,
    /// Plain JSON: the same without module names.
    Json,
}

impl Encoding {
    /// `None` for the encodings we do not serve (BYTES, PROTO, ASCII).
    pub(crate) fn from_gnmi(encoding: i32) -> Option<Self> {
        match gnmi::Encoding::try_from(encoding) {
            Ok(gnmi::Encoding::JsonIetf) => Some(Encoding::JsonIetf),
            Ok(gnmi::Encoding::Json) => Some(Encoding::Json),
            _ => None,
        }
    }

    pub(crate) fn value(self, json: &serde_json::Value) -> gnmi::TypedValue {
        use gnmi::typed_value::Value;
        let value = match self {
            Encoding::JsonIetf => Value::JsonIetfVal(json.to_string().into_bytes()),
            Encoding::Json => Value::JsonVal(without_modules(json).to_string().into_bytes()),
        };
        gnmi::TypedValue { value: Some(value) }
    }
}

/// `json` with every member name unqualified (`dmvpn-nhrp:nhrp` -> `nhrp`).
fn without_modules(json: &serde_json::Value) -> serde_json::Value {
    match json {
        serde_json::Value::Object(members) => members
            .iter()
            .map(|(name, value)| {
                let local = name.split_once(':').map_or(name.as_str(), |(_, l)| l);
                (local.to_owned(), without_modules(value))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        serde_json::Value::Array(items) => items.iter().map(without_modules).collect(),
        other => other.clone(),
    }
}

/// Nanoseconds since the Unix epoch, as gNMI timestamps are.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Reads `source`, the state providers rendering what `xpaths` ask for
/// (empty: everything); write-only leaves are removed.
pub(crate) async fn read(handle: &Handle, source: Source, xpaths: &[&str]) -> Result<Tree, Error> {
    let filter = match xpaths.iter().any(|x| x.is_empty()) {
        true => StateFilter::everything(),
        false => StateFilter::new(&xpaths.join(" | ")),
    };
    let mut tree = match source {
        Source::State => handle.state(&filter).await,
        Source::Config | Source::All => handle.running().await?.tree().duplicate()?,
    };
    if source == Source::All {
        tree.merge(&handle.state(&filter).await)?;
    }
    data::redact(&mut tree)?;
    Ok(tree)
}

/// The nodes `xpath` selects in `tree`, each as one Update whose value is
/// the node's content (an object for a container or list entry, an array
/// for a leaf-list, a value for a leaf); the root is one Update of the
/// whole tree. `None` when nothing is selected.
pub(crate) fn subtrees(
    tree: &Tree,
    xpath: &str,
    encoding: Encoding,
) -> Result<Option<Vec<gnmi::Update>>, Error> {
    if xpath.is_empty() {
        let json = data::print(tree, crate::config::Format::Json, true)?;
        let json = parse(&json)?;
        return Ok(Some(vec![gnmi::Update {
            path: Some(gnmi::Path::default()),
            val: Some(encoding.value(&json)),
            ..Default::default()
        }]));
    }
    data::c_text(xpath)?;
    if tree.reference().is_none() {
        return Ok(None);
    }
    let mut updates: BTreeMap<String, (gnmi::Path, serde_json::Value)> = BTreeMap::new();
    for node in tree.find_xpath(xpath)? {
        let (path, key) = path::of_node(&node);
        let value = content(&node)?;
        match node.schema().kind() {
            SchemaNodeKind::LeafList => {
                let entry = updates
                    .entry(key)
                    .or_insert_with(|| (path, serde_json::Value::Array(vec![])));
                if let serde_json::Value::Array(items) = &mut entry.1 {
                    items.push(value);
                }
            }
            _ => {
                updates.insert(key, (path, value));
            }
        }
    }
    if updates.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        updates
            .into_values()
            .map(|(path, json)| gnmi::Update {
                path: Some(path),
                val: Some(encoding.value(&json)),
                ..Default::default()
            })
            .collect(),
    ))
}

fn parse(json: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(json).map_err(|e| Error::Yang {
        path: None,
        message: format!("libyang printed JSON that does not parse: {e}"),
    })
}

/// The RFC 7951 value of `node`: libyang's JSON of the node, without its
/// member name (and the array around a list entry).
fn content(node: &DataNodeRef<'_, '_>) -> Result<serde_json::Value, Error> {
    if matches!(
        node.schema().kind(),
        SchemaNodeKind::Leaf | SchemaNodeKind::LeafList
    ) {
        return Ok(leaf_json(node));
    }
    let text = print_data(node, DataFormat::JSON, DataPrinterFlags::WD_ALL)?.unwrap_or_default();
    let json = match text.trim() {
        "" => serde_json::Value::Object(Default::default()),
        text => parse(text)?,
    };
    let value = match json {
        serde_json::Value::Object(members) => members.into_iter().next().map(|(_, v)| v),
        _ => None,
    };
    Ok(match value {
        Some(serde_json::Value::Array(mut entries)) if entries.len() == 1 => entries.remove(0),
        Some(value) => value,
        None => serde_json::Value::Object(Default::default()),
    })
}

/// A leaf's (or leaf-list instance's) value as RFC 7951 encodes it
/// (section 6): numbers up to 32 bits bare, 64-bit ones and decimals as
/// strings, `empty` as `[null]`.
pub(crate) fn leaf_json(node: &DataNodeRef<'_, '_>) -> serde_json::Value {
    let empty = node
        .schema()
        .leaf_type()
        .is_some_and(|t| t.base_type() == DataValueType::Empty);
    if empty {
        return serde_json::json!([null]);
    }
    match node.value() {
        Some(DataValue::Uint8(v)) => v.into(),
        Some(DataValue::Uint16(v)) => v.into(),
        Some(DataValue::Uint32(v)) => v.into(),
        Some(DataValue::Int8(v)) => v.into(),
        Some(DataValue::Int16(v)) => v.into(),
        Some(DataValue::Int32(v)) => v.into(),
        Some(DataValue::Uint64(v)) => v.to_string().into(),
        Some(DataValue::Int64(v)) => v.to_string().into(),
        Some(DataValue::Bool(v)) => v.into(),
        Some(DataValue::Empty) => serde_json::json!([null]),
        Some(DataValue::Other(text)) => text.into(),
        None => serde_json::Value::Null,
    }
}

/// Every leaf below the nodes a path selects, by the text naming it: what
/// a subscription compares from one read to the next.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    /// Leaves (leaf-lists as one array).
    leaves: BTreeMap<String, (gnmi::Path, serde_json::Value)>,
    /// List entries: a vanished entry is one delete, not one per leaf.
    entries: BTreeMap<String, gnmi::Path>,
}

/// What changed between two snapshots.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Changes {
    pub(crate) updates: Vec<(gnmi::Path, serde_json::Value)>,
    pub(crate) deletes: Vec<gnmi::Path>,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.deletes.is_empty()
    }
}

impl Snapshot {
    /// The leaves below what `xpath` selects in `tree` (empty: everything).
    pub(crate) fn take(tree: &Tree, xpath: &str) -> Result<Self, Error> {
        let mut snapshot = Snapshot::default();
        if tree.reference().is_none() {
            return Ok(snapshot);
        }
        if xpath.is_empty() {
            for node in tree.traverse() {
                snapshot.add(&node);
            }
            return Ok(snapshot);
        }
        data::c_text(xpath)?;
        for selected in tree.find_xpath(xpath)? {
            for node in selected.traverse() {
                snapshot.add(&node);
            }
        }
        Ok(snapshot)
    }

    fn add(&mut self, node: &DataNodeRef<'_, '_>) {
        match node.schema().kind() {
            SchemaNodeKind::Leaf => {
                let (path, key) = path::of_node(node);
                self.leaves.insert(key, (path, leaf_json(node)));
            }
            SchemaNodeKind::LeafList => {
                let (path, key) = path::of_node(node);
                let entry = self
                    .leaves
                    .entry(key)
                    .or_insert_with(|| (path, serde_json::Value::Array(vec![])));
                if let serde_json::Value::Array(items) = &mut entry.1 {
                    items.push(leaf_json(node));
                }
            }
            SchemaNodeKind::List => {
                let (path, key) = path::of_node(node);
                self.entries.insert(key, path);
            }
            _ => {}
        }
    }

    /// Every leaf, as updates.
    pub(crate) fn all(&self) -> Changes {
        Changes {
            updates: self.leaves.values().cloned().collect(),
            deletes: vec![],
        }
    }

    /// From `self` to `new`: new and changed leaves are updates; a list
    /// entry that is gone is one delete, a leaf gone from an entry that
    /// stays is a delete of the leaf.
    pub(crate) fn changes(&self, new: &Snapshot) -> Changes {
        let updates = new
            .leaves
            .iter()
            .filter(|(key, (_, value))| self.leaves.get(*key).is_none_or(|(_, old)| old != value))
            .map(|(_, update)| update.clone())
            .collect();
        let below = |key: &str, entry: &str| {
            key.len() > entry.len() && key.starts_with(entry) && key[entry.len()..].starts_with('/')
        };
        // Sorted, an entry comes before the entries below it.
        let mut gone: Vec<&String> = vec![];
        for key in self
            .entries
            .keys()
            .filter(|k| !new.entries.contains_key(*k))
        {
            if !gone.iter().any(|entry| below(key, entry)) {
                gone.push(key);
            }
        }
        let mut deletes: Vec<gnmi::Path> =
            gone.iter().map(|key| self.entries[*key].clone()).collect();
        deletes.extend(
            self.leaves
                .iter()
                .filter(|(key, _)| !new.leaves.contains_key(*key))
                .filter(|(key, _)| !gone.iter().any(|entry| below(key, entry)))
                .map(|(_, (path, _))| path.clone()),
        );
        Changes { updates, deletes }
    }
}

/// A Notification of `changes`, leaf by leaf.
pub(crate) fn notification(
    changes: Changes,
    encoding: Encoding,
    prefix: Option<gnmi::Path>,
) -> gnmi::Notification {
    gnmi::Notification {
        timestamp: now_ns(),
        prefix,
        update: changes
            .updates
            .into_iter()
            .map(|(path, json)| gnmi::Update {
                path: Some(path),
                val: Some(encoding.value(&json)),
                ..Default::default()
            })
            .collect(),
        delete: changes.deletes,
        atomic: false,
    }
}
