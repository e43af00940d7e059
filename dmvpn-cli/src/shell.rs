//! The interactive shell: a router-like prompt with history, tab
//! completion (commands, schema nodes, key and enum values) and `?` help
//! that answers without Enter, on a terminal; plain line reading when stdin
//! is not one (scripts, tests), where a line ending in `?` asks for help.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Editor, Event, EventContext, EventHandler, Helper,
    KeyCode, KeyEvent, Modifiers, RepeatCount,
};
use tokio::runtime::Runtime;

use crate::grammar;
use crate::help::{self, View};
use crate::session::{Outcome, Session};

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
    let view = Arc::new(Mutex::new(View::default()));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let asked = Arc::new(Mutex::new(None));
    let mut editor: Editor<ShellHelper, FileHistory> = match Editor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("% cannot start the line editor: {e}");
            return run_plain(runtime, session);
        }
    };
    editor.set_helper(Some(ShellHelper {
        view: Arc::clone(&view),
        paths: Arc::clone(&paths),
    }));
    // `?` answers at once, without Enter, as on a router.
    editor.bind_sequence(
        KeyEvent(KeyCode::Char('?'), Modifiers::NONE),
        EventHandler::Conditional(Box::new(HelpKey {
            asked: Arc::clone(&asked),
        })),
    );
    let history = history_path();
    if let Some(path) = &history {
        // No history yet is normal.
        let _ = editor.load_history(path);
    }
    runtime.block_on(session.refresh_known_config());
    // The line a `?` interrupted, offered again: (before, after the cursor).
    let mut resume: Option<(String, String)> = None;
    loop {
        if let Ok(mut view) = view.lock() {
            *view = session.view();
        }
        if let Ok(mut paths) = paths.lock() {
            *paths = session.completion_paths();
        }
        let prompt = session.prompt();
        let read = match resume.take() {
            Some((left, right)) => editor.readline_with_initial(&prompt, (&left, &right)),
            None => editor.readline(&prompt),
        };
        match read {
            Ok(line) => {
                let question = asked.lock().ok().and_then(|mut asked| asked.take());
                if let Some((line, pos)) = question {
                    let left = line.get(..pos).unwrap_or(&line).to_owned();
                    let right = line.get(pos..).unwrap_or_default().to_owned();
                    match help::help(&session.view(), &left) {
                        Ok(text) => print!("{text}"),
                        Err(message) => eprintln!("% {message}"),
                    }
                    resume = Some((left, right));
                    continue;
                }
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

/// `?` typed outside quotes: ends the read with the line kept aside, so
/// that the shell prints the help and offers the line again.
#[derive(Debug)]
struct HelpKey {
    asked: Arc<Mutex<Option<(String, usize)>>>,
}

impl ConditionalEventHandler for HelpKey {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        let line = ctx.line();
        let before = line.get(..ctx.pos()).unwrap_or(line);
        // Inside a quoted value, `?` is a character like any other.
        help::help_request(&format!("{before}?"))?;
        let mut asked = self.asked.lock().ok()?;
        *asked = Some((line.to_owned(), ctx.pos()));
        Some(Cmd::AcceptLine)
    }
}

/// Completes command words, schema nodes, key and enum values for where
/// the session stands, and the candidate's paths after `set /`,
/// `delete /`.
#[derive(Debug)]
struct ShellHelper {
    view: Arc<Mutex<View>>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let line = line.get(..pos).unwrap_or(line);
        let view = self.view.lock().map(|v| v.clone()).unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let completing_path = view.position.is_some()
            && match words.as_slice() {
                ["set" | "delete" | "no", path] => {
                    path.starts_with('/') && !line.ends_with(char::is_whitespace)
                }
                _ => false,
            };
        if completing_path {
            let partial = words.get(1).copied().unwrap_or_default();
            let paths = self.paths.lock().map(|p| p.clone()).unwrap_or_default();
            return Ok((line.len() - partial.len(), complete_path(&paths, partial)));
        }
        Ok(help::complete(&view, line))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// The completions of the last (partial) word of `line` among the
/// keywords of `phrases` (earlier words may be abbreviated), with where
/// that word starts.
pub fn complete(phrases: &[&'static str], line: &str) -> (usize, Vec<String>) {
    let (done, partial) = match line.rfind(char::is_whitespace) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => ("", line),
    };
    let done: Vec<&str> = done.split_whitespace().collect();
    let keywords = grammar::next(phrases, &done)
        .map(|next| next.keywords)
        .unwrap_or_default();
    let found = (keywords.iter())
        .filter(|k| k.starts_with(partial))
        .map(|k| format!("{k} "))
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{CONFIG_COMMANDS, EXEC_COMMANDS};

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
            vec![
                "cli ".to_owned(),
                "json ".to_owned(),
                "set ".to_owned(),
                "xml ".to_owned()
            ]
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
