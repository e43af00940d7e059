//! The changes of a transaction, one per data node, computed by libyang's
//! diff of running and the new configuration.

use serde::{Deserialize, Serialize};
use yang2::data::{DataDiffFlags, DataDiffOp, DataNodeRef};
use yang2::schema::SchemaPathFormat;

use crate::config::Config;
use crate::error::Error;

/// What happened to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Modify,
    Delete,
}

/// One changed data node. A created or deleted subtree gives one change per
/// node, parents first (deleted: parents first too, so a provider that
/// tears down on the parent may ignore the children).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub operation: Operation,
    /// Data path with the list keys:
    /// `/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/holding-time`.
    pub path: String,
    /// Schema path, the same without keys: what providers match on.
    pub schema_path: String,
    /// Canonical value of a leaf or leaf-list entry: the new one for create
    /// and modify, the old one for delete; `None` for containers and lists.
    pub value: Option<String>,
}

/// The changes that turn `old` into `new`, defaults included (a leaf that
/// goes back to its default is a modify to the default value).
pub fn diff(old: &Config, new: &Config) -> Result<Vec<Change>, Error> {
    let diff = old.tree().diff(new.tree(), DataDiffFlags::DEFAULTS)?;
    let mut changes = vec![];
    for (op, dnode) in diff.iter() {
        match op {
            DataDiffOp::Replace => changes.push(change(Operation::Modify, &dnode)),
            // The operation of a created or deleted subtree is only on its
            // root; the descendants inherit it.
            DataDiffOp::Create => {
                changes.extend(dnode.traverse().map(|n| change(Operation::Create, &n)));
            }
            DataDiffOp::Delete => {
                changes.extend(dnode.traverse().map(|n| change(Operation::Delete, &n)));
            }
        }
    }
    Ok(changes)
}

fn change(operation: Operation, dnode: &DataNodeRef<'_, '_>) -> Change {
    Change {
        operation,
        path: dnode.path(),
        schema_path: dnode.schema().path(SchemaPathFormat::DATA),
        value: dnode.value_canonical(),
    }
}
