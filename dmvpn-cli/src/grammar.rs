//! The fixed commands of exec and configure mode as phrases
//! (`show ip nhrp [cache|nhs|shortcut|traffic] [json]`), their help texts,
//! and unique-prefix abbreviation: `sh ip nh tr` is `show ip nhrp traffic`,
//! as on IOS. A prefix that fits several words is refused naming them.
//!
//! In a phrase, upper-case words are arguments, `[...]` is optional and
//! `a|b` are alternatives. `XPATH`, `PATH`, `VALUE` and `COMMENT` take the
//! rest of the line. A word that abbreviates a keyword is that keyword even
//! where an argument could stand (`clear crypto sa p` is `... peer`); quote
//! such an argument.

/// Every exec command; drives `help`, `?`, abbreviation and completion.
pub const EXEC_COMMANDS: &[&str] = &[
    "show running-config [json|xml|cli|set]",
    "show state [XPATH]",
    "show transactions",
    "show transaction ID",
    "show ip nhrp [cache|nhs|shortcut|traffic] [json]",
    "show dmvpn [json|summary]",
    "show crypto ikev2 sa [json]",
    "show crypto ipsec sa [json]",
    "clear ip nhrp [INTERFACE]",
    "clear crypto sa [peer ADDRESS] [INTERFACE]",
    "rollback ID [COMMENT]",
    "configure [terminal]",
    "confirm",
    "help",
    "exit",
];

/// The commands of configure mode (besides the schema's nodes).
pub const CONFIG_COMMANDS: &[&str] = &[
    "set PATH [VALUE]",
    "delete PATH",
    "no PATH",
    "show",
    "show candidate [json|cli|set]",
    "show changes",
    "show running-config [json|xml|cli|set]",
    "show state [XPATH]",
    "show transactions",
    "show transaction ID",
    "show ip nhrp [cache|nhs|shortcut|traffic] [json]",
    "show dmvpn [json|summary]",
    "show crypto ikev2 sa [json]",
    "show crypto ipsec sa [json]",
    "discard",
    "validate",
    "commit [COMMENT]",
    "commit confirmed SECONDS [COMMENT]",
    "confirm",
    "help",
    "top",
    "exit",
    "end",
];

/// Words accepted when typed in full but not offered (aliases).
const HIDDEN: &[&str] = &["quit", "end"];

/// Arguments that take the rest of the line.
const REST: &[&str] = &["XPATH", "PATH", "VALUE", "COMMENT"];

/// The help text of a command word or argument.
pub fn word_help(word: &str) -> &'static str {
    match word {
        "show" => "Show configuration, state or history",
        "running-config" => "The running configuration (default: JSON)",
        "json" => "As JSON (RFC 7951)",
        "xml" => "As XML",
        "cli" => "As CLI commands, hierarchical (pastes back into configure)",
        "set" => "Set a value or create a node (a data path, or node names)",
        "state" => "Operational state of a YANG data path, or of node names",
        "transactions" => "The commit history",
        "transaction" => "One commit: its changes and configuration",
        "ip" => "IP information",
        "nhrp" => "NHRP information",
        "cache" => "The NHRP cache",
        "nhs" => "Next Hop Servers and their registration state",
        "shortcut" => "Shortcut entries of the NHRP cache",
        "traffic" => "NHRP message and error counters",
        "summary" => "Peers counted per tunnel, by state, without the rows",
        "dmvpn" => "DMVPN peers and tunnel status",
        "crypto" => "IKEv2 and IPsec information",
        "ikev2" => "IKEv2 security associations",
        "ipsec" => "IPsec (ESP) security associations",
        "sa" => "Security associations",
        "clear" => "Clear the NHRP cache or IPsec SAs",
        "peer" => "Only those of one peer",
        "rollback" => "Return to the configuration of a transaction",
        "configure" => "Enter configure mode",
        "terminal" => "From the terminal",
        "confirm" => "Confirm a commit confirmed",
        "help" => "List the commands",
        "exit" => "Leave this level (at the top: the mode)",
        "delete" | "no" => "Delete a node (a data path, or node names)",
        "candidate" => "The candidate: running with this session's changes",
        "changes" => "This session's uncommitted changes",
        "discard" => "Drop this session's uncommitted changes",
        "validate" => "Have dmvpnd validate the candidate",
        "commit" => "Apply the changes to running",
        "confirmed" => "Rolled back unless confirmed in time",
        "top" => "Go to the top level",
        "end" => "Leave configure mode",
        "XPATH" => "A YANG data path (/module:node/...) or node names",
        "PATH" => "A YANG data path (/module:node/...) or node names",
        "VALUE" => "The leaf's value",
        "ID" => "A transaction id",
        "COMMENT" => "A comment for the transaction log",
        "INTERFACE" => "An interface name",
        "ADDRESS" => "The peer's address",
        "SECONDS" => "Seconds until the automatic rollback",
        _ => "",
    }
}

#[derive(Clone, Debug)]
struct Slot {
    literals: Vec<&'static str>,
    argument: Option<&'static str>,
    /// How many slots leaving this one out skips (`[peer ADDRESS]`: 2);
    /// 0 when it must be given.
    optional: usize,
}

fn slots(phrase: &'static str) -> Vec<Slot> {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let mut slots = Vec::new();
    let mut group_end = 0;
    for (i, word) in words.iter().enumerate() {
        let mut optional = 0;
        let mut inner = *word;
        if let Some(rest) = inner.strip_prefix('[') {
            inner = rest;
            group_end = (i..words.len())
                .find(|&j| words[j].ends_with(']'))
                .unwrap_or(i);
            optional = group_end - i + 1;
        }
        if i <= group_end {
            inner = inner.strip_suffix(']').unwrap_or(inner);
        }
        let (arguments, literals): (Vec<&str>, Vec<&str>) = inner
            .split('|')
            .partition(|w| w.chars().any(|c| c.is_ascii_uppercase()));
        slots.push(Slot {
            literals,
            argument: arguments.first().copied(),
            optional,
        });
    }
    slots
}

/// Where a phrase stands after some words: the next slot, or the rest of
/// the line taken by an argument.
#[derive(Clone, Debug)]
struct State {
    slots: Vec<Slot>,
    position: usize,
    rest: bool,
}

impl State {
    /// The slots the next word may fill (optional ones may be skipped);
    /// and whether the phrase may end here.
    fn open_slots(&self) -> (Vec<usize>, bool) {
        let mut open = Vec::new();
        let mut position = self.position;
        while let Some(slot) = self.slots.get(position) {
            open.push(position);
            if slot.optional == 0 {
                return (open, false);
            }
            position += slot.optional;
        }
        (open, true)
    }
}

/// What may follow some words of a phrase list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Next {
    /// Keywords, sorted.
    pub keywords: Vec<&'static str>,
    /// Argument names (`ID`, `COMMENT`).
    pub arguments: Vec<&'static str>,
    /// The command may end here.
    pub complete: bool,
    /// An argument takes the rest of the line.
    pub rest: bool,
}

/// The phrases' states after `words`, with the words expanded.
fn follow(phrases: &[&'static str], words: &[&str]) -> Result<(Vec<State>, Vec<String>), String> {
    let mut states: Vec<State> = (phrases.iter())
        .map(|p| State {
            slots: slots(p),
            position: 0,
            rest: false,
        })
        .collect();
    let mut expanded = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if i == 0 && HIDDEN.contains(word) {
            expanded.push((*word).to_owned());
            states.clear();
            continue;
        }
        if states.iter().any(|s| s.rest) {
            expanded.push((*word).to_owned());
            continue;
        }
        let next = next_of(&states);
        let keyword = if next.keywords.contains(word) {
            Some(*word)
        } else {
            let matching: Vec<&str> = (next.keywords.iter())
                .filter(|k| k.starts_with(word))
                .copied()
                .collect();
            match matching.as_slice() {
                [] => None,
                [one] => Some(*one),
                many => {
                    // The one keyword the rest of the line fits, if only
                    // one does (`conf t`: configure, not confirm).
                    let fitting: Vec<Vec<&str>> = (many.iter())
                        .map(|keyword| {
                            let mut words = words.to_vec();
                            words[i] = *keyword;
                            words
                        })
                        .filter(|words| {
                            follow(phrases, words).is_ok_and(|(states, _)| !states.is_empty())
                        })
                        .collect();
                    if let [words] = fitting.as_slice() {
                        return follow(phrases, words);
                    }
                    return Err(format!(
                        "ambiguous command: '{word}' could be {}",
                        many.join(", ")
                    ));
                }
            }
        };
        if keyword.is_none() && next.arguments.is_empty() {
            let line = words.join(" ");
            return Err(format!("unknown command: {line}"));
        }
        let mut advanced = Vec::new();
        for state in &states {
            for position in state.open_slots().0 {
                let slot = &state.slots[position];
                let accepted = match keyword {
                    Some(k) => slot.literals.contains(&k),
                    None => slot.argument.is_some(),
                };
                if accepted {
                    advanced.push(State {
                        slots: state.slots.clone(),
                        position: position + 1,
                        rest: keyword.is_none() && slot.argument.is_some_and(|a| REST.contains(&a)),
                    });
                }
            }
        }
        states = advanced;
        expanded.push(keyword.unwrap_or(word).to_owned());
    }
    Ok((states, expanded))
}

fn next_of(states: &[State]) -> Next {
    let mut next = Next::default();
    for state in states {
        if state.rest {
            next.rest = true;
            next.complete = true;
            continue;
        }
        let (open, complete) = state.open_slots();
        next.complete |= complete;
        for position in open {
            let slot = &state.slots[position];
            next.keywords.extend(slot.literals.iter().copied());
            next.arguments.extend(slot.argument);
        }
    }
    next.keywords.sort_unstable();
    next.keywords.dedup();
    next.arguments.sort_unstable();
    next.arguments.dedup();
    next
}

/// The words with every abbreviated keyword written out. Arguments are
/// kept as typed; an unknown word where no argument may stand, and an
/// ambiguous abbreviation, are errors.
pub fn expand(phrases: &[&'static str], words: &[&str]) -> Result<Vec<String>, String> {
    let (states, expanded) = follow(phrases, words)?;
    let hidden = words.first().is_some_and(|w| HIDDEN.contains(w));
    if states.is_empty() && !hidden && !words.is_empty() {
        return Err(format!("unknown command: {}", words.join(" ")));
    }
    Ok(expanded)
}

/// What may follow `words` (complete words, abbreviations allowed).
pub fn next(phrases: &[&'static str], words: &[&str]) -> Result<Next, String> {
    let (states, _) = follow(phrases, words)?;
    Ok(next_of(&states))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(phrases: &[&'static str], line: &str) -> Result<String, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        expand(phrases, &words).map(|w| w.join(" "))
    }

    #[test]
    fn unique_prefixes_expand_to_their_keyword() {
        assert_eq!(
            expanded(EXEC_COMMANDS, "sh ip nh tr").as_deref(),
            Ok("show ip nhrp traffic")
        );
        assert_eq!(
            expanded(EXEC_COMMANDS, "sh dm").as_deref(),
            Ok("show dmvpn")
        );
        assert_eq!(
            expanded(EXEC_COMMANDS, "conf t").as_deref(),
            Ok("configure terminal")
        );
        assert_eq!(
            expanded(EXEC_COMMANDS, "sh cr ik sa j").as_deref(),
            Ok("show crypto ikev2 sa json")
        );
        // Full words and arguments stay as typed.
        assert_eq!(
            expanded(EXEC_COMMANDS, "show transaction 12").as_deref(),
            Ok("show transaction 12")
        );
        assert_eq!(
            expanded(EXEC_COMMANDS, "rollb 3 back to the hub config").as_deref(),
            Ok("rollback 3 back to the hub config")
        );
        assert_eq!(
            expanded(CONFIG_COMMANDS, "comm conf 30 try it").as_deref(),
            Ok("commit confirmed 30 try it")
        );
        assert_eq!(
            expanded(EXEC_COMMANDS, "cl cr sa p 192.0.2.1 tun0").as_deref(),
            Ok("clear crypto sa peer 192.0.2.1 tun0")
        );
    }

    #[test]
    fn ambiguous_and_unknown_words_are_refused() {
        let error = expanded(EXEC_COMMANDS, "c").expect_err("ambiguous");
        assert_eq!(
            error,
            "ambiguous command: 'c' could be clear, configure, confirm"
        );
        let error = expanded(EXEC_COMMANDS, "show t").expect_err("ambiguous");
        assert!(error.contains("transaction, transactions"), "{error}");
        assert_eq!(
            expanded(EXEC_COMMANDS, "show runing-config").expect_err("unknown"),
            "unknown command: show runing-config"
        );
        assert!(expanded(EXEC_COMMANDS, "show dmvpn json extra").is_err());
    }

    #[test]
    fn next_lists_keywords_arguments_and_the_end() {
        let next = next(EXEC_COMMANDS, &["sh", "ip", "nhrp"]).expect("valid");
        assert_eq!(
            next.keywords,
            vec!["cache", "json", "nhs", "shortcut", "traffic"]
        );
        assert!(next.complete);
        let next = super::next(EXEC_COMMANDS, &["show", "transaction"]).expect("valid");
        assert_eq!(next.arguments, vec!["ID"]);
        assert!(!next.complete);
    }
}
