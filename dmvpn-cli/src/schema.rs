//! The YANG schema as the CLI walks it: the modules dmvpnd implements,
//! embedded (`dmvpn_yang::context()`), seen as a tree of commands.
//!
//! Choices and cases are transparent (their nodes are children of the
//! choice's parent, as in a data path), actions and notifications are not
//! commands. A node is named by its bare name; `module:name` is needed only
//! when two siblings share a name, and is always accepted.

use yang2::schema::{SchemaNode, SchemaNodeKind};

/// The schema nodes a walk sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    /// Configuration only (configure mode, running config).
    Config,
    /// Configuration and state (`show state`).
    State,
}

pub type Node = SchemaNode<'static>;

/// The schema's children of `parent` (`None`: the top level).
pub fn children(parent: Option<&Node>, tree: Tree) -> Vec<Node> {
    let mut found = Vec::new();
    match parent {
        None => {
            let context = dmvpn_yang::context();
            for name in dmvpn_yang::IMPLEMENTED {
                if let Some(module) = context.get_module_latest(name) {
                    for node in module.data() {
                        flatten(node, tree, &mut found);
                    }
                }
            }
        }
        Some(parent) => {
            if matches!(
                parent.kind(),
                SchemaNodeKind::Container | SchemaNodeKind::List
            ) {
                for node in parent.children() {
                    flatten(node, tree, &mut found);
                }
            }
        }
    }
    found
}

fn flatten(node: Node, tree: Tree, found: &mut Vec<Node>) {
    match node.kind() {
        SchemaNodeKind::Choice | SchemaNodeKind::Case => {
            for child in node.children() {
                flatten(child, tree, found);
            }
        }
        SchemaNodeKind::Container
        | SchemaNodeKind::List
        | SchemaNodeKind::Leaf
        | SchemaNodeKind::LeafList
            if tree == Tree::State || node.is_config() =>
        {
            found.push(node);
        }
        _ => {}
    }
}

/// `module:name`.
pub fn qualified(node: &Node) -> String {
    format!("{}:{}", node.module().name(), node.name())
}

/// The name a node is shown with among its siblings: bare unless another
/// sibling has the same name.
pub fn display_name(node: &Node, siblings: &[Node]) -> String {
    let clashes = (siblings.iter())
        .filter(|s| s.name() == node.name())
        .count();
    if clashes > 1 {
        qualified(node)
    } else {
        node.name().to_owned()
    }
}

/// The key leaves of a list, in key order.
pub fn keys(list: &Node) -> Vec<Node> {
    list.list_keys().collect()
}

/// Deprecated or obsolete: not offered by `?` and completion.
pub fn is_deprecated(node: &Node) -> bool {
    node.is_status_deprecated() || node.is_status_obsolete()
}

/// Whether the node takes no value (a leaf of type `empty`).
pub fn is_empty_leaf(node: &Node) -> bool {
    node.leaf_type()
        .is_some_and(|t| t.base_type() == yang2::schema::DataValueType::Empty)
}

/// A node's description in one line, for `?`: its first sentence.
pub fn short_description(node: &Node) -> String {
    let text = node
        .description()
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(nodes: &[Node]) -> Vec<String> {
        nodes.iter().map(qualified).collect()
    }

    #[test]
    fn the_top_level_holds_each_modules_containers() {
        let top = children(None, Tree::Config);
        let top = names(&top);
        assert!(
            top.contains(&"ietf-interfaces:interfaces".to_owned()),
            "{top:?}"
        );
        assert!(top.contains(&"dmvpn-ipsec:ipsec".to_owned()), "{top:?}");
    }

    #[test]
    fn augments_are_children_and_choices_are_transparent() {
        let top = children(None, Tree::Config);
        let interfaces = top
            .iter()
            .find(|n| n.name() == "interfaces")
            .expect("interfaces");
        let interface = children(Some(interfaces), Tree::Config)
            .into_iter()
            .find(|n| n.name() == "interface")
            .expect("interface");
        assert_eq!(
            keys(&interface)
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>(),
            ["name"]
        );
        let below = children(Some(&interface), Tree::Config);
        let nhrp = below.iter().find(|n| n.name() == "nhrp").expect("nhrp");
        assert_eq!(nhrp.module().name(), "dmvpn-nhrp");
        let nhs = children(Some(nhrp), Tree::Config)
            .into_iter()
            .find(|n| n.name() == "nhs")
            .expect("nhs");
        let nhs_children = names(&children(Some(&nhs), Tree::Config));
        // Both cases of the `nbma` choice.
        assert!(nhs_children.contains(&"dmvpn-nhrp:nbma-address".to_owned()));
        assert!(nhs_children.contains(&"dmvpn-nhrp:nbma-fqdn".to_owned()));
        // State only in the state tree.
        let config = names(&children(Some(nhrp), Tree::Config));
        let state = names(&children(Some(nhrp), Tree::State));
        assert!(!config.contains(&"dmvpn-nhrp:cache-entry".to_owned()));
        assert!(state.contains(&"dmvpn-nhrp:cache-entry".to_owned()));
    }
}
