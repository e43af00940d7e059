//! What may follow a partial line: `?` lists it with help (the YANG
//! description for schema nodes, the type, range, units and default for a
//! leaf's value), tab completes it (keywords, nodes, key values of the
//! configuration, enum, boolean and identity values).

use serde_json::Value;

use crate::config_text::cli_word;
use crate::configure::{self, Expect, Step, Verb, Walk};
use crate::grammar::{self, CONFIG_COMMANDS, EXEC_COMMANDS};
use crate::schema::{self, Node, Tree};
use crate::yang_source;

/// Where the operator stands: exec mode, or a configure-mode position;
/// with the configuration completion reads key values from.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub position: Option<Vec<Step>>,
    pub config: Value,
}

/// A word that may follow, with its help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub word: String,
    pub help: String,
}

/// What may follow some words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Follows {
    /// Words to complete (keywords, nodes, values).
    pub choices: Vec<Choice>,
    /// Arguments, shown as `<name>` by `?`, never completed.
    pub arguments: Vec<Choice>,
    /// The line may end here (`<cr>`).
    pub complete: bool,
}

fn choice(word: impl Into<String>, help: impl Into<String>) -> Choice {
    Choice {
        word: word.into(),
        help: help.into(),
    }
}

fn from_grammar(phrases: &[&'static str], words: &[&str]) -> Result<Follows, String> {
    let next = grammar::next(phrases, words)?;
    Ok(Follows {
        choices: (next.keywords.iter())
            .map(|k| choice(*k, grammar::word_help(k)))
            .collect(),
        arguments: (next.arguments.iter())
            .map(|a| choice(*a, grammar::word_help(a)))
            .collect(),
        complete: next.complete,
    })
}

fn node_choices(children: &[Node]) -> Vec<Choice> {
    children
        .iter()
        .filter(|c| !schema::is_deprecated(c))
        .map(|c| {
            choice(
                schema::display_name(c, children),
                schema::short_description(c),
            )
        })
        .collect()
}

/// The first word of a configure-mode line: a command or a schema node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstWord {
    Command(String),
    Node,
}

fn config_keywords() -> Vec<&'static str> {
    let mut keywords: Vec<&str> = (CONFIG_COMMANDS.iter())
        .filter_map(|p| p.split_whitespace().next())
        .collect();
    keywords.sort_unstable();
    keywords.dedup();
    keywords
}

/// Decides what the first word of a configure-mode line is: a command
/// keyword, or a node of the schema at `position`, either by a unique
/// prefix among both.
pub fn first_word(position: &[Step], word: &str) -> Result<FirstWord, String> {
    let keywords = config_keywords();
    if keywords.contains(&word) || word == "quit" {
        return Ok(FirstWord::Command(word.to_owned()));
    }
    let children = schema::children(position.last().map(|s| &s.node), Tree::Config);
    let exact_node = children
        .iter()
        .any(|c| c.name() == word || schema::qualified(c) == word);
    if exact_node {
        return Ok(FirstWord::Node);
    }
    let commands: Vec<&str> = (keywords.iter())
        .filter(|k| k.starts_with(word))
        .copied()
        .collect();
    let nodes: Vec<String> = (children.iter())
        .filter(|c| c.name().starts_with(word) || schema::qualified(c).starts_with(word))
        .map(|c| schema::display_name(c, &children))
        .collect();
    match (commands.as_slice(), nodes.len()) {
        ([command], 0) => Ok(FirstWord::Command((*command).to_owned())),
        ([], 1) => Ok(FirstWord::Node),
        ([], 0) => Err(format!(
            "unknown command: '{word}'; '?' lists the commands here"
        )),
        _ => {
            let mut all: Vec<String> = commands.iter().map(|c| (*c).to_owned()).collect();
            all.extend(nodes);
            all.sort();
            Err(format!(
                "ambiguous command: '{word}' could be {}",
                all.join(", ")
            ))
        }
    }
}

/// What may follow `words` (each complete).
pub fn follows(view: &View, words: &[&str]) -> Result<Follows, String> {
    let Some(position) = &view.position else {
        return exec_follows(view, words);
    };
    let Some((first, rest)) = words.split_first() else {
        let mut follows = from_grammar(CONFIG_COMMANDS, &[])?;
        let children = schema::children(position.last().map(|s| &s.node), Tree::Config);
        follows.choices.extend(node_choices(&children));
        follows.arguments.clear();
        return Ok(follows);
    };
    match first_word(position, first)? {
        FirstWord::Node => schema_follows(view, position, Verb::Navigate, words),
        FirstWord::Command(command) => {
            let verb = match command.as_str() {
                "set" => Some(Verb::Set),
                "no" | "delete" => Some(Verb::Delete),
                _ => None,
            };
            match (verb, rest.first()) {
                (Some(verb), None) => {
                    let mut follows = schema_follows(view, position, verb, &[])?;
                    follows.complete = false;
                    follows
                        .arguments
                        .push(choice("PATH", "An absolute data path (/module:node/...)"));
                    Ok(follows)
                }
                (Some(verb), Some(path)) if !path.starts_with('/') => {
                    schema_follows(view, position, verb, rest)
                }
                _ => {
                    let mut expanded_first = vec![command.as_str()];
                    expanded_first.extend(rest);
                    if let Some(follows) = state_follows(view, &expanded_first)? {
                        return Ok(follows);
                    }
                    from_grammar(CONFIG_COMMANDS, &expanded_first)
                }
            }
        }
    }
}

fn exec_follows(view: &View, words: &[&str]) -> Result<Follows, String> {
    if let Some(follows) = state_follows(view, words)? {
        return Ok(follows);
    }
    from_grammar(EXEC_COMMANDS, words)
}

/// `show state WORDS`: the state tree, from the top.
fn state_follows(view: &View, words: &[&str]) -> Result<Option<Follows>, String> {
    if words.len() < 2 {
        return Ok(None);
    }
    let phrases = if view.position.is_some() {
        CONFIG_COMMANDS
    } else {
        EXEC_COMMANDS
    };
    let expanded = grammar::expand(phrases, &words[..2])?;
    if expanded != ["show", "state"] {
        return Ok(None);
    }
    match words.get(2) {
        Some(path) if path.starts_with('/') => Ok(Some(Follows {
            complete: true,
            ..Follows::default()
        })),
        _ => {
            let walk = Walk::run(&[], Tree::State, &words[2..])?;
            let mut follows = walk_follows(view, &walk, Tree::State, true)?;
            if words.len() == 2 {
                follows
                    .arguments
                    .push(choice("XPATH", grammar::word_help("XPATH")));
            }
            Ok(Some(follows))
        }
    }
}

fn schema_follows(
    view: &View,
    position: &[Step],
    verb: Verb,
    words: &[&str],
) -> Result<Follows, String> {
    let walk = Walk::run(position, Tree::Config, words)?;
    let moved = walk.steps.len() > position.len() || walk.leaf.is_some();
    let mut follows = walk_follows(view, &walk, Tree::Config, moved)?;
    if verb == Verb::Delete && matches!(walk.expect, Expect::Value(_)) {
        follows.complete = true;
    }
    Ok(follows)
}

fn walk_follows(view: &View, walk: &Walk, tree: Tree, complete: bool) -> Result<Follows, String> {
    let mut follows = Follows::default();
    match &walk.expect {
        Expect::Node => {
            follows.choices = node_choices(&walk.children());
            follows.complete = complete;
        }
        Expect::Key { list, index } => {
            let key = schema::keys(list).get(*index).cloned();
            if let Some(key) = key {
                let info = yang_source::type_info(&key);
                follows.arguments.push(choice(
                    format!("<{}>", key.name()),
                    format!("{}: {}", info.summary, schema::short_description(&key)),
                ));
            }
            let parents = &walk.steps[..walk.steps.len().saturating_sub(1)];
            for value in configure::key_values(&view.config, parents, list, *index) {
                follows.choices.push(choice(
                    cli_word(&value),
                    format!("existing {}", list.name()),
                ));
            }
            follows.complete = tree == Tree::State && *index == 0;
        }
        Expect::Value(leaf) => {
            let info = yang_source::type_info(leaf);
            let mut about = vec![info.summary.clone()];
            if let Some(units) = &info.units {
                about.push(format!("units {units}"));
            }
            if let Some(default) = &info.default {
                about.push(format!("default {default}"));
            }
            follows.arguments.push(choice(
                format!("<{}>", about.join(", ")),
                schema::short_description(leaf),
            ));
            follows.choices = info.values.iter().map(|v| choice(v.clone(), "")).collect();
            follows.complete = tree == Tree::State;
        }
        Expect::End => follows.complete = true,
    }
    Ok(follows)
}

/// Splits a line before the cursor into its complete words and the
/// partial last word (empty after a space).
fn split(line: &str) -> Result<(Vec<String>, String), String> {
    let ends_word = line.is_empty() || line.ends_with(char::is_whitespace);
    let mut words = crate::session::words(line)?;
    let partial = if ends_word {
        String::new()
    } else {
        words.pop().unwrap_or_default()
    };
    Ok((words, partial))
}

/// What `?` prints after `line` (the text before the `?`).
pub fn help(view: &View, line: &str) -> Result<String, String> {
    let (words, partial) = split(line)?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let follows = follows(view, &words)?;
    let mut rows: Vec<(String, String)> = (follows.choices.iter())
        .filter(|c| c.word.starts_with(&partial))
        .map(|c| (c.word.clone(), c.help.clone()))
        .collect();
    rows.dedup();
    let show_arguments = partial.is_empty() || rows.is_empty();
    if show_arguments {
        for argument in &follows.arguments {
            let name = if argument.word.starts_with('<') {
                argument.word.clone()
            } else {
                format!("<{}>", argument.word)
            };
            rows.push((name, argument.help.clone()));
        }
    }
    if follows.complete && partial.is_empty() {
        rows.push(("<cr>".to_owned(), String::new()));
    }
    if rows.is_empty() {
        return Err(format!("nothing may follow '{}'", line.trim()));
    }
    let width = rows
        .iter()
        .map(|(w, _)| w.len())
        .max()
        .unwrap_or(0)
        .clamp(12, 40);
    let mut out = String::new();
    for (word, text) in rows {
        let text = text.trim();
        if text.is_empty() {
            out.push_str(&format!("  {word}\n"));
        } else {
            out.push_str(&format!("  {word:width$}  {text}\n"));
        }
    }
    Ok(out)
}

/// Tab completion: where the partial word starts and its completions
/// (each with a trailing space).
pub fn complete(view: &View, line: &str) -> (usize, Vec<String>) {
    let Ok((words, partial)) = split(line) else {
        return (line.len(), Vec::new());
    };
    // A quoted partial word is not completed.
    if !line.ends_with(&partial) {
        return (line.len(), Vec::new());
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let Ok(follows) = follows(view, &words) else {
        return (line.len(), Vec::new());
    };
    let mut found: Vec<String> = (follows.choices.iter())
        .filter(|c| c.word.starts_with(&partial))
        .map(|c| format!("{} ", c.word))
        .collect();
    found.sort();
    found.dedup();
    (line.len() - partial.len(), found)
}

/// A line that asks for help: it ends with `?` outside quotes. The text
/// before the `?`.
pub fn help_request(line: &str) -> Option<&str> {
    let trimmed = line.trim_end();
    let before = trimmed.strip_suffix('?')?;
    let quotes = before.chars().filter(|c| *c == '"').count();
    let single = before.chars().filter(|c| *c == '\'').count();
    (quotes % 2 == 0 && single % 2 == 0).then_some(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configure_view() -> View {
        View {
            position: Some(Vec::new()),
            config: json!({"ietf-interfaces:interfaces": {"interface": [
                {"name": "tun0", "type": "dmvpn-tunnel:mgre"},
                {"name": "eth0"}
            ]}}),
        }
    }

    #[test]
    fn question_mark_lists_exec_words_with_help() {
        let view = View::default();
        let text = help(&view, "show ").expect("help");
        assert!(text.contains("  dmvpn "), "{text}");
        assert!(text.contains("DMVPN peers and tunnel status"), "{text}");
        let text = help(&view, "sh ip nhrp tr").expect("help");
        assert!(text.starts_with("  traffic "), "{text}");
        let text = help(&view, "show transaction ").expect("help");
        assert!(text.contains("<ID>"), "{text}");
        assert!(!text.contains("<cr>"), "{text}");
    }

    #[test]
    fn question_mark_on_a_leaf_gives_type_range_and_default() {
        let view = configure_view();
        let text = help(&view, "interfaces interface tun0 nhrp holding-time ").expect("help");
        assert!(text.contains("uint16, range 1..65535"), "{text}");
        assert!(text.contains("units seconds"), "{text}");
        assert!(text.contains("default 7200"), "{text}");
        assert!(text.contains("Holding time advertised"), "{text}");
        let text = help(&view, "interfaces interface tun0 nhrp ho").expect("help");
        assert!(text.starts_with("  holding-time "), "{text}");
        let text = help(&view, "interfaces interface tun0 nhrp ").expect("help");
        assert!(text.contains("  network-id "), "{text}");
        assert!(text.contains("<cr>"), "{text}");
    }

    #[test]
    fn tab_completes_nodes_keys_and_values() {
        let view = configure_view();
        assert_eq!(
            complete(&view, "interf"),
            (0, vec!["interfaces ".to_owned()])
        );
        assert_eq!(
            complete(&view, "interfaces interface "),
            (21, vec!["eth0 ".to_owned(), "tun0 ".to_owned()])
        );
        assert_eq!(
            complete(&view, "interfaces interface tun0 nhrp red").1,
            vec!["redirect ".to_owned()]
        );
        assert_eq!(
            complete(&view, "interfaces interface tun0 nhrp redirect ").1,
            vec!["false ".to_owned(), "true ".to_owned()]
        );
        assert_eq!(
            complete(&view, "interfaces interface tun0 type dmvpn").1,
            vec!["dmvpn-tunnel:mgre ".to_owned()]
        );
        assert_eq!(
            complete(&view, "interfaces interface tun0 tunnel data-plane ").1,
            vec![
                "ebpf ".to_owned(),
                "kernel ".to_owned(),
                "userspace ".to_owned()
            ]
        );
        // Commands and nodes together at the start of a line.
        assert_eq!(
            complete(&view, "co").1,
            vec!["commit ".to_owned(), "confirm ".to_owned()]
        );
        assert_eq!(
            complete(&View::default(), "sh ip nh t").1,
            vec!["traffic ".to_owned()]
        );
    }

    #[test]
    fn the_first_word_is_a_command_or_a_node_by_unique_prefix() {
        assert_eq!(
            first_word(&[], "comm"),
            Ok(FirstWord::Command("commit".to_owned()))
        );
        assert_eq!(first_word(&[], "interf"), Ok(FirstWord::Node));
        assert_eq!(first_word(&[], "ipsec"), Ok(FirstWord::Node));
        let error = first_word(&[], "i").expect_err("ambiguous");
        assert_eq!(error, "ambiguous command: 'i' could be interfaces, ipsec");
        assert!(first_word(&[], "zz").is_err());
    }

    #[test]
    fn show_state_walks_the_state_tree() {
        let view = View::default();
        let text = help(&view, "show state interfaces interface tun0 nhrp ").expect("help");
        assert!(text.contains("cache-entry"), "{text}");
        assert!(text.contains("<cr>"), "{text}");
    }

    #[test]
    fn a_trailing_question_mark_outside_quotes_asks_for_help() {
        assert_eq!(help_request("show ?"), Some("show "));
        assert_eq!(help_request("ho?"), Some("ho"));
        assert_eq!(help_request("description \"what?\""), None);
        assert_eq!(help_request("description \"what?"), None);
        assert_eq!(help_request("show dmvpn"), None);
    }
}
