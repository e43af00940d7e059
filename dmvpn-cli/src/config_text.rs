//! A configuration (RFC 7951 JSON) as configure-mode commands, in two
//! forms that both paste back into configure mode and give the same
//! configuration:
//!
//! - `cli`, hierarchical as IOS-XR shows it: a container or list entry
//!   opens a level (`interface tun0`), its leaves are indented below it,
//!   and an `exit` line closes it (so that a paste returns where it began);
//! - `set`, flat as Junos's `display set`: one `set` line per leaf,
//!   leaf-list value, list entry and presence container, each from the top.
//!
//! Names are bare unless two siblings share one (then `module:name`).
//! Values with spaces or quotes are quoted.

use serde_json::Value;
use yang2::schema::SchemaNodeKind;

use crate::configure::{self, Step};
use crate::schema::{self, Node, Tree};

/// The text of a leaf value, as typed.
pub fn leaf_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A word as the CLI reads it back (`session::words`).
pub fn cli_word(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.contains(char::is_whitespace)
        && !text.contains(['"', '\''])
        && !text.starts_with(['!', '#'])
        && !text.ends_with('?');
    if plain {
        text.to_owned()
    } else if text.contains('"') {
        format!("'{text}'")
    } else {
        format!("\"{text}\"")
    }
}

/// Which form to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Hierarchical,
    Flat,
}

/// The whole configuration as commands.
pub fn render(tree: &Value, form: Form) -> String {
    let mut out = String::new();
    let top = schema::children(None, Tree::Config);
    if let Value::Object(members) = tree {
        render_members(members, &top, None, &mut Vec::new(), form, &mut out);
    }
    out
}

/// The members in schema order (whatever the JSON's order), unknown
/// ones last as comments.
/// The configuration below a configure-mode position (its entry's keys
/// left out), as commands typed there.
pub fn render_at(tree: &Value, steps: &[Step], form: Form) -> String {
    let Some(last) = steps.last() else {
        return render(tree, form);
    };
    let mut out = String::new();
    let Some(Value::Object(members)) = configure::json_at(tree, steps) else {
        return out;
    };
    let keys = schema::keys(&last.node);
    let members: serde_json::Map<String, Value> = (members.iter())
        .filter(|(member, _)| !keys.iter().any(|k| k.name() == member.as_str()))
        .map(|(m, v)| (m.clone(), v.clone()))
        .collect();
    let children = schema::children(Some(&last.node), Tree::Config);
    let module = last.node.module().name().to_owned();
    render_members(
        &members,
        &children,
        Some(&module),
        &mut Vec::new(),
        form,
        &mut out,
    );
    out
}

fn render_members(
    members: &serde_json::Map<String, Value>,
    children: &[Node],
    module: Option<&str>,
    prefix: &mut Vec<String>,
    form: Form,
    out: &mut String,
) {
    let mut known = Vec::new();
    for child in children {
        let qualified = schema::qualified(child);
        let bare = module == Some(child.module().name());
        let found = members
            .get_key_value(&qualified)
            .or_else(|| bare.then(|| members.get_key_value(child.name())).flatten());
        if let Some((member, value)) = found {
            known.push(member.as_str());
            render_node(child, value, children, prefix, form, out);
        }
    }
    for member in members.keys().filter(|m| !known.contains(&m.as_str())) {
        line(out, prefix, form, &format!("! unknown node {member}"));
    }
}

fn line(out: &mut String, prefix: &[String], form: Form, text: &str) {
    match form {
        _ if text.starts_with('!') => out.push_str(text),
        Form::Hierarchical => {
            out.push_str(&" ".repeat(prefix.len()));
            out.push_str(text);
        }
        Form::Flat => {
            out.push_str("set ");
            for word in prefix {
                out.push_str(word);
                out.push(' ');
            }
            out.push_str(text);
        }
    }
    out.push('\n');
}

fn render_node(
    node: &Node,
    value: &Value,
    siblings: &[Node],
    prefix: &mut Vec<String>,
    form: Form,
    out: &mut String,
) {
    let name = schema::display_name(node, siblings);
    let module = node.module().name().to_owned();
    match node.kind() {
        SchemaNodeKind::Container => {
            let Value::Object(members) = value else {
                return;
            };
            let header = name;
            if form == Form::Hierarchical || !node.is_np_container() || members.is_empty() {
                line(out, prefix, form, &header);
            }
            let children = schema::children(Some(node), Tree::Config);
            prefix.push(header);
            render_members(members, &children, Some(&module), prefix, form, out);
            prefix.pop();
            if form == Form::Hierarchical {
                line(out, prefix, form, "exit");
            }
        }
        SchemaNodeKind::List => {
            let Value::Array(entries) = value else {
                return;
            };
            let keys = schema::keys(node);
            let children = schema::children(Some(node), Tree::Config);
            for entry in entries {
                let Value::Object(members) = entry else {
                    continue;
                };
                let mut header = name.clone();
                for key in &keys {
                    let text = members
                        .get(key.name())
                        .and_then(leaf_text)
                        .unwrap_or_default();
                    header.push(' ');
                    header.push_str(&cli_word(&text));
                }
                line(out, prefix, form, &header);
                let rest: serde_json::Map<String, Value> = (members.iter())
                    .filter(|(member, _)| !keys.iter().any(|k| k.name() == member.as_str()))
                    .map(|(m, v)| (m.clone(), v.clone()))
                    .collect();
                prefix.push(header);
                render_members(&rest, &children, Some(&module), prefix, form, out);
                prefix.pop();
                if form == Form::Hierarchical {
                    line(out, prefix, form, "exit");
                }
            }
        }
        SchemaNodeKind::LeafList => {
            for item in value.as_array().into_iter().flatten() {
                if let Some(text) = leaf_text(item) {
                    line(out, prefix, form, &format!("{name} {}", cli_word(&text)));
                }
            }
        }
        _ => match leaf_text(value) {
            Some(text) => line(out, prefix, form, &format!("{name} {}", cli_word(&text))),
            // `[null]`: a leaf of type empty.
            None => line(out, prefix, form, &name),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hub() -> Value {
        json!({"ietf-interfaces:interfaces": {"interface": [{
            "name": "tun0",
            "type": "dmvpn-tunnel:mgre",
            "description": "hub tunnel",
            "dmvpn-nhrp:nhrp": {
                "network-id": 1,
                "holding-time": 300,
                "multicast": {"nbma-address": ["192.0.2.1", "192.0.2.2"]}
            }
        }]}})
    }

    #[test]
    fn the_hierarchical_form_indents_and_closes_each_level() {
        assert_eq!(
            render(&hub(), Form::Hierarchical),
            "interfaces\n\
             \x20interface tun0\n\
             \x20 description \"hub tunnel\"\n\
             \x20 type dmvpn-tunnel:mgre\n\
             \x20 nhrp\n\
             \x20  network-id 1\n\
             \x20  holding-time 300\n\
             \x20  multicast\n\
             \x20   nbma-address 192.0.2.1\n\
             \x20   nbma-address 192.0.2.2\n\
             \x20  exit\n\
             \x20 exit\n\
             \x20exit\n\
             exit\n"
        );
    }

    #[test]
    fn the_flat_form_has_one_set_per_leaf() {
        assert_eq!(
            render(&hub(), Form::Flat),
            "set interfaces interface tun0\n\
             set interfaces interface tun0 description \"hub tunnel\"\n\
             set interfaces interface tun0 type dmvpn-tunnel:mgre\n\
             set interfaces interface tun0 nhrp\n\
             set interfaces interface tun0 nhrp network-id 1\n\
             set interfaces interface tun0 nhrp holding-time 300\n\
             set interfaces interface tun0 nhrp multicast nbma-address 192.0.2.1\n\
             set interfaces interface tun0 nhrp multicast nbma-address 192.0.2.2\n"
        );
    }
}
