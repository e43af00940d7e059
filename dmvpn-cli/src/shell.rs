//! The interactive shell: a router-like prompt with history and completion
//! of command words on a terminal; plain line reading when stdin is not one
//! (scripts, tests).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use tokio::runtime::Runtime;

use crate::session::{CONFIG_COMMANDS, EXEC_COMMANDS, Outcome, Session};

const HISTORY_FILE: &str = ".dmvpn_cli_history";

/// The exit status when whoever reads our output has gone (`| head`): what
/// a shell reports for a tool ended by SIGPIPE (128 + 13), which Rust
/// programs ignore and so must end by themselves.
pub const EXIT_OUTPUT_CLOSED: i32 = 141;

/// Runs one line and prints its output, or its error as `% message`.
/// Returns the outcome, `None` on error. When the output's reader has
/// gone, the process ends quietly with [`EXIT_OUTPUT_CLOSED`], as
/// `cat | head` does.
pub fn run_line(runtime: &Runtime, session: &mut Session, line: &str) -> Option<Outcome> {
    let mut out = String::new();
    let result = runtime.block_on(session.execute(line, &mut out));
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_OUTPUT_CLOSED);
        }
        eprintln!("% cannot write the output: {error}");
        return None;
    }
    match result {
        Ok(outcome) => Some(outcome),
        Err(message) => {
            eprintln!("% {message}");
            None
        }
    }
}

/// Runs the shell until `exit` or end of input; false if any command
/// failed (what a script run through stdin exits with).
pub fn run(runtime: &Runtime, session: &mut Session) -> bool {
    if std::io::stdin().is_terminal() {
        run_terminal(runtime, session)
    } else {
        run_plain(runtime, session)
    }
}

fn run_plain(runtime: &Runtime, session: &mut Session) -> bool {
    let mut all_ok = true;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else {
            eprintln!("% cannot read standard input");
            return false;
        };
        match run_line(runtime, session, &line) {
            Some(Outcome::Quit) => break,
            Some(Outcome::Continue) => {}
            None => all_ok = false,
        }
    }
    all_ok
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(HISTORY_FILE))
}

fn run_terminal(runtime: &Runtime, session: &mut Session) -> bool {
    let configure = Arc::new(AtomicBool::new(false));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let mut editor: Editor<CommandCompleter, FileHistory> = match Editor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("% cannot start the line editor: {e}");
            return run_plain(runtime, session);
        }
    };
    editor.set_helper(Some(CommandCompleter {
        configure: Arc::clone(&configure),
        paths: Arc::clone(&paths),
    }));
    let history = history_path();
    if let Some(path) = &history {
        // No history yet is normal.
        let _ = editor.load_history(path);
    }
    loop {
        configure.store(session.in_configure_mode(), Ordering::Relaxed);
        if let Ok(mut paths) = paths.lock() {
            *paths = session.completion_paths();
        }
        match editor.readline(session.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if run_line(runtime, session, &line) == Some(Outcome::Quit) {
                    break;
                }
            }
            // Ctrl-C drops the line, as on a router.
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("% {e}");
                break;
            }
        }
    }
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!("% cannot save history to {}: {e}", path.display());
    }
    true
}

/// Completes command words for the current mode, and the paths of the
/// candidate after `set` and `delete`.
#[derive(Debug)]
struct CommandCompleter {
    configure: Arc<AtomicBool>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Completer for CommandCompleter {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let line = line.get(..pos).unwrap_or(line);
        if !self.configure.load(Ordering::Relaxed) {
            return Ok(complete(EXEC_COMMANDS, line));
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let completing_path = match words.as_slice() {
            ["set" | "delete"] => line.ends_with(char::is_whitespace),
            ["set" | "delete", _] => !line.ends_with(char::is_whitespace),
            _ => false,
        };
        if completing_path {
            let partial = words.get(1).copied().unwrap_or_default();
            let paths = self.paths.lock().map(|p| p.clone()).unwrap_or_default();
            return Ok((line.len() - partial.len(), complete_path(&paths, partial)));
        }
        Ok(complete(CONFIG_COMMANDS, line))
    }
}

impl Hinter for CommandCompleter {
    type Hint = String;
}
impl Highlighter for CommandCompleter {}
impl Validator for CommandCompleter {}
impl Helper for CommandCompleter {}

/// The completions of the last (partial) word of `line` among `phrases`,
/// with where that word starts.
pub fn complete(phrases: &[&str], line: &str) -> (usize, Vec<String>) {
    let (done, partial) = match line.rfind(char::is_whitespace) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => ("", line),
    };
    let done: Vec<&str> = done.split_whitespace().collect();
    let mut found = Vec::new();
    for phrase in phrases {
        let pattern: Vec<&str> = phrase.split_whitespace().collect();
        candidates(&pattern, &done, partial, &mut found);
    }
    found.sort();
    found.dedup();
    let found = found.into_iter().map(|w| format!("{w} ")).collect();
    (line.len() - partial.len(), found)
}

/// The completions of a partial path: each matching path up to the end of
/// its next node (a `/` outside predicates).
pub fn complete_path(paths: &[String], partial: &str) -> Vec<String> {
    let mut found: Vec<String> = paths
        .iter()
        .filter(|path| path.starts_with(partial))
        .map(|path| {
            let mut brackets = 0_usize;
            let mut quote: Option<char> = None;
            for (i, c) in path.char_indices().skip(partial.chars().count()) {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(c),
                    (None, '[') => brackets += 1,
                    (None, ']') => brackets = brackets.saturating_sub(1),
                    (None, '/') if brackets == 0 && i > 0 => return path[..i].to_owned(),
                    _ => {}
                }
            }
            path.clone()
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A pattern word: its literal alternatives (none for an argument), and
/// whether it may be left out.
fn alternatives(word: &str) -> (Vec<&str>, bool) {
    let (inner, optional) = match word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
        Some(inner) => (inner, true),
        None => (word, false),
    };
    let literals = inner
        .split('|')
        .filter(|w| !w.chars().any(|c| c.is_ascii_uppercase()))
        .collect();
    (literals, optional)
}

fn is_argument(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase())
}

fn candidates<'a>(pattern: &[&'a str], done: &[&str], partial: &str, found: &mut Vec<&'a str>) {
    let Some((first, rest)) = pattern.split_first() else {
        return;
    };
    let (literals, optional) = alternatives(first);
    match done.split_first() {
        None => found.extend(literals.into_iter().filter(|w| w.starts_with(partial))),
        Some((word, done_rest)) => {
            if literals.contains(word) || is_argument(first) {
                candidates(rest, done_rest, partial, found);
            }
        }
    }
    if optional {
        candidates(rest, done, partial, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_command_words_per_mode() {
        assert_eq!(complete(EXEC_COMMANDS, "sh"), (0, vec!["show ".to_owned()]));
        assert_eq!(
            complete(EXEC_COMMANDS, "show ip nhrp s").1,
            vec!["shortcut ".to_owned()]
        );
        assert_eq!(
            complete(EXEC_COMMANDS, "show ip nhrp nhs ").1,
            vec!["json ".to_owned()]
        );
        assert_eq!(
            complete(EXEC_COMMANDS, "show running-config ").1,
            vec!["json ".to_owned(), "xml ".to_owned()]
        );
        assert!(complete(EXEC_COMMANDS, "se").1.is_empty());
        assert_eq!(complete(CONFIG_COMMANDS, "se").1, vec!["set ".to_owned()]);
        assert_eq!(
            complete(CONFIG_COMMANDS, "commit c").1,
            vec!["confirmed ".to_owned()]
        );
    }

    #[test]
    fn completes_paths_one_node_at_a_time() {
        let paths: Vec<String> = [
            "/ietf-interfaces:interfaces",
            "/ietf-interfaces:interfaces/interface[name='tun0']",
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp",
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/static-map[protocol-address='10.1.0.0/16']",
            "/ietf-interfaces:interfaces/interface[name='tun1']",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            complete_path(&paths, "/ietf"),
            vec!["/ietf-interfaces:interfaces".to_owned()]
        );
        assert_eq!(
            complete_path(&paths, "/ietf-interfaces:interfaces/int"),
            vec![
                "/ietf-interfaces:interfaces/interface[name='tun0']".to_owned(),
                "/ietf-interfaces:interfaces/interface[name='tun1']".to_owned(),
            ]
        );
        assert_eq!(
            complete_path(&paths, "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/s"),
            vec!["/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/static-map[protocol-address='10.1.0.0/16']".to_owned()]
        );
    }
}
