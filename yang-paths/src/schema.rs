//! From statements to the schema tree: the data nodes of a module, with
//! `choice`/`case` made transparent, `uses` expanded and `config false`
//! inherited.

use std::collections::BTreeMap;

use crate::Error;
use crate::statement::Statement;

/// A module's schema nodes.
#[derive(Debug)]
pub(crate) struct Module {
    pub(crate) name: String,
    /// The nodes at the top: of the module's data tree, of its augments, its
    /// RPCs and notifications.
    pub(crate) top: Vec<Top>,
}

/// A node at the top of the module and what its path starts from.
#[derive(Debug)]
pub(crate) struct Top {
    pub(crate) node: Node,
    /// The augmented node (`augment` argument), `None` for a root node.
    pub(crate) augments: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    /// `config false`, set or inherited.
    pub(crate) state: bool,
    /// The keys of a list, in order.
    pub(crate) keys: Vec<String>,
    pub(crate) children: Vec<Node>,
    pub(crate) line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Container,
    List,
    Leaf,
    LeafList,
    Anydata,
    Rpc,
    Input,
    Output,
    Notification,
}

impl Kind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::List => "list",
            Kind::Leaf => "leaf",
            Kind::LeafList => "leaf-list",
            Kind::Anydata => "anydata",
            Kind::Rpc => "rpc",
            Kind::Input => "input",
            Kind::Output => "output",
            Kind::Notification => "notification",
        }
    }

    /// Whether the node has children (and a Rust module for them).
    pub(crate) fn is_interior(self) -> bool {
        !matches!(self, Kind::Leaf | Kind::LeafList | Kind::Anydata)
    }
}

/// Statements that define no schema node and do not change one's path or
/// name: skipped with their substatements.
const IGNORED: &[&str] = &[
    "argument",
    "base",
    "belongs-to",
    "bit",
    "contact",
    "default",
    "description",
    "enum",
    "error-app-tag",
    "error-message",
    "extension",
    "feature",
    "fraction-digits",
    "identity",
    "if-feature",
    "import",
    "length",
    "mandatory",
    "max-elements",
    "min-elements",
    "modifier",
    "must",
    "namespace",
    "ordered-by",
    "organization",
    "path",
    "pattern",
    "position",
    "presence",
    "range",
    "reference",
    "require-instance",
    "revision",
    "revision-date",
    "status",
    "type",
    "typedef",
    "unique",
    "units",
    "value",
    "when",
    "yang-version",
    "yin-element",
];

/// Builds the schema of the `module` statement.
pub(crate) fn build(module: &Statement) -> Result<Module, Error> {
    if module.keyword != "module" {
        return Err(Error::new(
            module.line,
            format!("expected a module, found {}", module.keyword),
        ));
    }
    let name = module.arg()?.to_owned();
    let prefix = module
        .child("prefix")
        .ok_or_else(|| Error::new(module.line, "the module has no prefix"))?
        .arg()?
        .to_owned();
    let mut groupings = BTreeMap::new();
    for grouping in module.children.iter().filter(|s| s.keyword == "grouping") {
        let name = grouping.arg()?;
        if groupings.insert(name, grouping).is_some() {
            return Err(Error::new(
                grouping.line,
                format!("grouping {name} defined twice"),
            ));
        }
    }
    let builder = Builder {
        prefix: &prefix,
        groupings,
    };

    let mut top = vec![];
    for statement in &module.children {
        match statement.keyword.as_str() {
            "module" | "prefix" | "grouping" => {}
            "augment" => {
                let target = statement.arg()?;
                builder.check_foreign(statement, target)?;
                let mut nodes = vec![];
                builder.data_nodes(&statement.children, false, &mut vec![], &mut nodes)?;
                top.extend(nodes.into_iter().map(|node| Top {
                    node,
                    augments: Some(target.to_owned()),
                }));
            }
            "rpc" => top.push(Top {
                node: builder.rpc(statement)?,
                augments: None,
            }),
            "notification" => {
                let mut node = builder.node(statement, Kind::Notification, false)?;
                builder.data_nodes(&statement.children, false, &mut vec![], &mut node.children)?;
                top.push(Top {
                    node,
                    augments: None,
                });
            }
            _ => {
                let mut nodes = vec![];
                builder.data_node(statement, false, &mut vec![], &mut nodes)?;
                top.extend(nodes.into_iter().map(|node| Top {
                    node,
                    augments: None,
                }));
            }
        }
    }
    Ok(Module { name, top })
}

struct Builder<'a> {
    prefix: &'a str,
    groupings: BTreeMap<&'a str, &'a Statement>,
}

impl<'a> Builder<'a> {
    /// Only nodes of other modules may be augmented: children of this
    /// module's own nodes would need their path under that node.
    fn check_foreign(&self, statement: &Statement, target: &str) -> Result<(), Error> {
        let last = target.rsplit('/').next().unwrap_or_default();
        match last.split_once(':') {
            Some((prefix, _)) if prefix != self.prefix => Ok(()),
            _ => Err(Error::new(
                statement.line,
                format!("augment of this module's own node {target:?} is not supported"),
            )),
        }
    }

    fn node(&self, statement: &Statement, kind: Kind, state: bool) -> Result<Node, Error> {
        let state = state || self.config_false(statement)?;
        Ok(Node {
            kind,
            name: statement.arg()?.to_owned(),
            state,
            keys: vec![],
            children: vec![],
            line: statement.line,
        })
    }

    fn config_false(&self, statement: &Statement) -> Result<bool, Error> {
        match statement.child("config") {
            None => Ok(false),
            Some(config) => match config.arg()? {
                "false" => Ok(true),
                "true" => Ok(false),
                other => Err(Error::new(
                    config.line,
                    format!("config {other:?}: expected true or false"),
                )),
            },
        }
    }

    /// An `rpc` and its `input` and `output`.
    fn rpc(&self, statement: &Statement) -> Result<Node, Error> {
        let mut rpc = self.node(statement, Kind::Rpc, false)?;
        for child in &statement.children {
            let kind = match child.keyword.as_str() {
                "input" => Kind::Input,
                "output" => Kind::Output,
                "grouping" => return Err(nested_grouping(child)),
                keyword if ignored(keyword) => continue,
                keyword => return Err(unsupported(child, keyword)),
            };
            let mut node = Node {
                kind,
                name: child.keyword.clone(),
                state: false,
                keys: vec![],
                children: vec![],
                line: child.line,
            };
            self.data_nodes(&child.children, false, &mut vec![], &mut node.children)?;
            rpc.children.push(node);
        }
        Ok(rpc)
    }

    /// The schema nodes that `statements` define, appended to `nodes`.
    /// `using` is the chain of groupings being expanded, to catch a
    /// grouping that uses itself.
    fn data_nodes(
        &self,
        statements: &'a [Statement],
        state: bool,
        using: &mut Vec<&'a str>,
        nodes: &mut Vec<Node>,
    ) -> Result<(), Error> {
        for statement in statements {
            self.data_node(statement, state, using, nodes)?;
        }
        Ok(())
    }

    fn data_node(
        &self,
        statement: &'a Statement,
        state: bool,
        using: &mut Vec<&'a str>,
        nodes: &mut Vec<Node>,
    ) -> Result<(), Error> {
        let kind = match statement.keyword.as_str() {
            "container" => Kind::Container,
            "list" => Kind::List,
            "leaf" => Kind::Leaf,
            "leaf-list" => Kind::LeafList,
            "anydata" | "anyxml" => Kind::Anydata,
            "choice" => return self.choice(statement, state, using, nodes),
            "uses" => return self.uses(statement, state, using, nodes),
            "grouping" => return Err(nested_grouping(statement)),
            "case" => return Err(unsupported(statement, "case outside a choice")),
            "action" | "notification" => {
                return Err(unsupported(
                    statement,
                    "action or notification in a data node",
                ));
            }
            "config" | "key" => return Ok(()),
            keyword if ignored(keyword) => return Ok(()),
            keyword => return Err(unsupported(statement, keyword)),
        };
        let mut node = self.node(statement, kind, state)?;
        if kind == Kind::List
            && let Some(key) = statement.child("key")
        {
            node.keys = key
                .arg()?
                .split_whitespace()
                .map(|name| self.local_name(name, key.line))
                .collect::<Result<_, _>>()?;
        }
        if kind.is_interior() {
            self.data_nodes(&statement.children, node.state, using, &mut node.children)?;
        }
        nodes.push(node);
        Ok(())
    }

    /// RFC 7950, 7.9: neither `choice` nor `case` is a data node; what they
    /// hold belongs to the choice's parent.
    fn choice(
        &self,
        choice: &'a Statement,
        state: bool,
        using: &mut Vec<&'a str>,
        nodes: &mut Vec<Node>,
    ) -> Result<(), Error> {
        let state = state || self.config_false(choice)?;
        for statement in &choice.children {
            if statement.keyword == "case" {
                self.data_nodes(&statement.children, state, using, nodes)?;
            } else {
                // RFC 7950, 7.9.2: a data node right in a choice is the
                // shorthand for a case of its own.
                self.data_node(statement, state, using, nodes)?;
            }
        }
        Ok(())
    }

    /// RFC 7950, 7.13: the grouping's nodes, where `uses` is.
    fn uses(
        &self,
        uses: &'a Statement,
        state: bool,
        using: &mut Vec<&'a str>,
        nodes: &mut Vec<Node>,
    ) -> Result<(), Error> {
        let name = self.local_name(uses.arg()?, uses.line)?;
        let (name, grouping) = self
            .groupings
            .get_key_value(name.as_str())
            .ok_or_else(|| Error::new(uses.line, format!("no grouping {name} in this module")))?;
        if using.contains(name) {
            return Err(Error::new(
                uses.line,
                format!("grouping {name} uses itself"),
            ));
        }
        for child in &uses.children {
            match child.keyword.as_str() {
                "augment" => return Err(unsupported(child, "augment in uses")),
                "refine" if child.child("config").is_some() => {
                    return Err(unsupported(child, "refine of config"));
                }
                _ => {}
            }
        }
        using.push(*name);
        self.data_nodes(&grouping.children, state, using, nodes)?;
        using.pop();
        Ok(())
    }

    /// `name` without this module's prefix; another module's is an error.
    fn local_name(&self, name: &str, line: usize) -> Result<String, Error> {
        match name.split_once(':') {
            None => Ok(name.to_owned()),
            Some((prefix, local)) if prefix == self.prefix => Ok(local.to_owned()),
            Some(_) => Err(Error::new(
                line,
                format!("{name}: definitions of other modules are not supported"),
            )),
        }
    }
}

/// Skipped: a known statement that changes no path, or an extension
/// (`prefix:keyword`).
fn ignored(keyword: &str) -> bool {
    IGNORED.contains(&keyword) || keyword.contains(':')
}

fn unsupported(statement: &Statement, what: &str) -> Error {
    Error::new(statement.line, format!("{what} is not supported"))
}

fn nested_grouping(statement: &Statement) -> Error {
    Error::new(
        statement.line,
        "grouping inside a definition is not supported (only at the top of the module)",
    )
}
