//! One operator session against dmvpnd: parses a command line, calls the
//! API and renders the answer. The one-shot mode (`-c`) and the interactive
//! shell both drive a `Session` line by line; a `configure` session's
//! candidate (see `candidate`) and where it stands in the schema (see
//! `configure`) live here.
//!
//! A line is read as IOS-XR reads it: keywords may be abbreviated to a
//! unique prefix (`grammar`), a line ending in `?` lists what may follow
//! (`help`). In configure mode the first word is a command or a node of
//! the schema at the current position, whichever it uniquely abbreviates;
//! `show` alone shows the candidate below the current position.

use dmvpn_api::v1::{
    CommitRequest, ConfirmRequest, DataTree, Encoding, ExecuteRequest, GetRequest,
    GetTransactionRequest, ListTransactionsRequest, RollbackRequest, ValidateRequest,
    commit_request::Operation, get_request::DataType,
};
use holo_dmvpn::yang::dmvpn_tunnel::{self, tunnel};
use holo_ike::yang::dmvpn_ipsec;
use holo_nhrp::yang::dmvpn_nhrp::nhrp;
use serde_json::Value;

use crate::candidate::{self, Candidate};
use crate::client::Client;
use crate::config_text::{self, Form};
use crate::configure::{self, Step, Verb, Walk};
use crate::crypto;
use crate::grammar;
use crate::help::{self, FirstWord, View};
use crate::schema::Tree;
use crate::views;

/// The list entries per part when a view reads a list that grows with the
/// network (peers, cache entries): small enough for dmvpnd to render,
/// select and print a part in a few milliseconds, large enough that the
/// per-part costs (a libyang tree, a message) stay small.
const STATE_PAGE: u32 = 1000;

/// The interfaces, whose configuration `clear ip nhrp` reads.
const INTERFACES_PATH: &str = "/ietf-interfaces:interfaces";

/// Every interface entry: the state the protocol views read lies below.
const INTERFACE_PATH: &str = "/ietf-interfaces:interfaces/interface";

/// The state a view reads: `nodes` (paths below the interface entry) of
/// every interface, as one XPath union, so that dmvpnd renders only them.
fn view_path(nodes: &[&str]) -> String {
    let paths: Vec<String> = (nodes.iter())
        .map(|node| format!("{INTERFACE_PATH}/{node}"))
        .collect();
    paths.join(" | ")
}

/// What `show dmvpn` shows: the peers and the tunnel's status.
fn dmvpn_path() -> String {
    view_path(&[
        tunnel::PEER,
        tunnel::OPER_STATUS,
        tunnel::SOURCE_ADDRESS_IN_USE,
        tunnel::DOWN_REASON,
    ])
}

/// What `show crypto ...` shows: the tunnels' IPsec protection.
fn crypto_path() -> String {
    view_path(&[&format!(
        "{}/{}",
        dmvpn_tunnel::TUNNEL,
        dmvpn_ipsec::PROTECTION
    )])
}

/// What `show ip nhrp VIEW` shows (`None`: no such view).
fn nhrp_path(view: &str) -> Option<String> {
    Some(match view {
        "cache" | "shortcut" => view_path(&[nhrp::CACHE_ENTRY]),
        "nhs" => view_path(&[nhrp::NHS_STATE]),
        // The NHRP message and error counters (not the per-peer ones: a
        // row per spoke), and the data plane's drops before NHRP.
        "traffic" => view_path(&[
            nhrp::counters::MESSAGE,
            nhrp::counters::ERROR,
            tunnel::STATISTICS,
        ]),
        _ => return None,
    })
}

pub use crate::grammar::{CONFIG_COMMANDS, EXEC_COMMANDS};

/// What the caller does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// `exit` outside configure mode.
    Quit,
}

#[derive(Debug)]
pub struct Session {
    client: Client,
    candidate: Option<Candidate>,
    /// Where configure mode stands (empty: the top).
    position: Vec<Step>,
    /// The running configuration last read, for completion in exec mode.
    known_config: Value,
}

/// A command's failure, printed as `% message`: the server's message names
/// the YANG path and the reason.
fn status_error(status: tonic::Status) -> String {
    if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        status.message().to_owned()
    }
}

/// Splits a line into words. A word that starts with a quote runs to the
/// closing quote (`commit "new hub"`); inside a word, `[...]` is kept whole
/// with its quotes, so path predicates (`[name='my tun']`) survive.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(first) = chars.next() else {
            return Ok(words);
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            loop {
                match chars.next() {
                    Some(c) if c == first => break,
                    Some(c) => word.push(c),
                    None => return Err("unterminated quote".to_owned()),
                }
            }
        } else {
            let mut brackets = 0_usize;
            let mut c = first;
            loop {
                match c {
                    '[' => brackets += 1,
                    ']' => brackets = brackets.saturating_sub(1),
                    _ => {}
                }
                word.push(c);
                match chars.peek() {
                    Some(next) if !next.is_whitespace() || brackets > 0 => {
                        c = *next;
                        chars.next();
                    }
                    _ => break,
                }
            }
        }
        words.push(word);
    }
}

fn json_tree(data: &str) -> DataTree {
    DataTree {
        encoding: Encoding::Json as i32,
        data: data.to_owned(),
    }
}

fn with_newline(mut text: String) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn parse_json(data: &str) -> Result<Value, String> {
    if data.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(data).map_err(|e| format!("the server sent invalid JSON: {e}"))
}

fn pretty(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

fn number_arg(word: Option<&str>, what: &str) -> Result<u64, String> {
    let word = word.ok_or_else(|| format!("{what} expected"))?;
    word.parse()
        .map_err(|_| format!("{what}: '{word}' is not a number"))
}

impl Session {
    pub fn new(client: Client) -> Session {
        Session {
            client,
            candidate: None,
            position: Vec::new(),
            known_config: Value::Null,
        }
    }

    /// Enters configure mode at the top, with `base` as the candidate's
    /// starting point.
    pub fn begin_configure(&mut self, base: Value) {
        self.candidate = Some(Candidate::new(base));
        self.position.clear();
    }

    /// The candidate of configure mode.
    pub fn candidate(&self) -> Option<&Candidate> {
        self.candidate.as_ref()
    }

    pub fn in_configure_mode(&self) -> bool {
        self.candidate.is_some()
    }

    /// Edits typed but not committed.
    pub fn pending_edits(&self) -> usize {
        self.candidate.as_ref().map_or(0, |c| c.edits.len())
    }

    /// The paths `set` and `delete` complete: every node of the candidate.
    pub fn completion_paths(&self) -> Vec<String> {
        let Some(candidate) = &self.candidate else {
            return Vec::new();
        };
        let tree = candidate
            .merged()
            .unwrap_or_else(|_| candidate.base.clone());
        candidate::data_paths(&tree)
    }

    /// `dmvpn# `, `dmvpn(config)# `, or where configure mode stands:
    /// `dmvpn(config-interface-tun0-nhrp)# `.
    pub fn prompt(&self) -> String {
        if self.in_configure_mode() {
            format!("dmvpn({})# ", configure::mode_name(&self.position))
        } else {
            "dmvpn# ".to_owned()
        }
    }

    /// What `?` and completion need: the mode, the position and the
    /// configuration (the candidate in configure mode).
    pub fn view(&self) -> View {
        match &self.candidate {
            Some(candidate) => View {
                position: Some(self.position.clone()),
                config: candidate
                    .merged()
                    .unwrap_or_else(|_| candidate.base.clone()),
            },
            None => View {
                position: None,
                config: self.known_config.clone(),
            },
        }
    }

    /// Reads the running configuration for completion; a failure only
    /// leaves completion without key values.
    pub async fn refresh_known_config(&mut self) {
        let _ = self.running_json().await;
    }

    /// Runs one command line, appending its output to `out`. A line ending
    /// in `?` lists what may follow instead.
    pub async fn execute(&mut self, line: &str, out: &mut String) -> Result<Outcome, String> {
        if let Some(before) = help::help_request(line) {
            out.push_str(&help::help(&self.view(), before)?);
            return Ok(Outcome::Continue);
        }
        let words = words(line)?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        if words.is_empty() || words[0].starts_with('!') || words[0].starts_with('#') {
            return Ok(Outcome::Continue);
        }
        if self.candidate.is_some() {
            return self.execute_configure_line(&words, line, out).await;
        }
        let expanded = grammar::expand(EXEC_COMMANDS, &words)?;
        let expanded: Vec<&str> = expanded.iter().map(String::as_str).collect();
        self.execute_exec(&expanded, line, out).await
    }

    /// A configure-mode line: schema words, or a command.
    async fn execute_configure_line(
        &mut self,
        words: &[&str],
        line: &str,
        out: &mut String,
    ) -> Result<Outcome, String> {
        let Some((first, rest)) = words.split_first() else {
            return Ok(Outcome::Continue);
        };
        let first_word = help::first_word(&self.position, first);
        if first_word.is_err() && grammar::expand(EXEC_COMMANDS, words).is_ok() {
            return Err(format!(
                "'{}' is not available in configure mode",
                line.trim()
            ));
        }
        let command = match first_word? {
            FirstWord::Node => {
                self.schema_line(Verb::Navigate, words)?;
                return Ok(Outcome::Continue);
            }
            FirstWord::Command(command) => command,
        };
        let verb = match command.as_str() {
            "set" => Some(Verb::Set),
            "no" | "delete" => Some(Verb::Delete),
            _ => None,
        };
        match (verb, rest.first()) {
            (Some(verb), Some(next)) if !next.starts_with('/') => {
                self.schema_line(verb, rest)?;
                return Ok(Outcome::Continue);
            }
            (Some(_), None) => {
                return Err(format!(
                    "{command}: node names or a /path expected; '{command} ?' lists them"
                ));
            }
            _ => {}
        }
        let mut full = vec![command.as_str()];
        full.extend(rest);
        let expanded = grammar::expand(CONFIG_COMMANDS, &full)?;
        let expanded: Vec<&str> = expanded.iter().map(String::as_str).collect();
        if let Some(outcome) = self.execute_configure(&expanded, out).await? {
            return Ok(outcome);
        }
        self.execute_exec(&expanded, line, out).await
    }

    fn schema_line(&mut self, verb: Verb, words: &[&str]) -> Result<(), String> {
        let action = configure::action(&self.position, verb, words)?;
        let Some(candidate) = self.candidate.as_mut() else {
            return Err("not in configure mode".to_owned());
        };
        configure::apply(candidate, &mut self.position, action)
    }

    /// Commands of configure mode; `None` when the line is an exec command.
    async fn execute_configure(
        &mut self,
        words: &[&str],
        out: &mut String,
    ) -> Result<Option<Outcome>, String> {
        let Some(candidate) = self.candidate.as_mut() else {
            return Ok(None);
        };
        match words {
            ["set", path, value @ ..] => candidate.set(path, &value.join(" "))?,
            ["delete" | "no", path] => candidate.delete(path)?,
            ["show", "changes"] => out.push_str(&candidate.changes()),
            ["show"] => {
                let merged = candidate.merged()?;
                out.push_str(&config_text::render_at(
                    &merged,
                    &self.position,
                    Form::Hierarchical,
                ));
            }
            ["show", "candidate"] | ["show", "candidate", "json"] => {
                out.push_str(&pretty(&candidate.merged()?)?);
            }
            ["show", "candidate", "cli"] => {
                out.push_str(&config_text::render(
                    &candidate.merged()?,
                    Form::Hierarchical,
                ));
            }
            ["show", "candidate", "set"] => {
                out.push_str(&config_text::render(&candidate.merged()?, Form::Flat));
            }
            ["discard"] => candidate.edits.clear(),
            ["validate"] => {
                let merged = pretty(&candidate.merged()?)?;
                self.client
                    .validate(ValidateRequest {
                        config: Some(json_tree(&merged)),
                    })
                    .await
                    .map_err(status_error)?;
                out.push_str("Validation complete.\n");
            }
            ["commit", "confirmed", rest @ ..] => {
                let seconds = number_arg(rest.first().copied(), "seconds")?;
                let timeout = u32::try_from(seconds)
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("seconds: {seconds} is out of range"))?;
                let comment = rest.get(1..).unwrap_or_default().join(" ");
                self.commit(comment, timeout, out).await?;
            }
            ["commit", comment @ ..] => {
                let comment = comment.join(" ");
                self.commit(comment, 0, out).await?;
            }
            ["exit"] if !self.position.is_empty() => {
                self.position.pop();
            }
            ["top"] => self.position.clear(),
            ["exit"] | ["end"] | ["quit"] => {
                self.position.clear();
                if !candidate.edits.is_empty() {
                    out.push_str(&format!(
                        "Uncommitted changes discarded ({}).\n",
                        candidate.edits.len()
                    ));
                }
                self.candidate = None;
            }
            ["help"] => {
                for phrase in CONFIG_COMMANDS {
                    out.push_str(&format!("  {phrase}\n"));
                }
                out.push_str("  NODE... [VALUE]  (the schema's nodes here; '?' lists them)\n");
            }
            _ => return Ok(None),
        }
        Ok(Some(Outcome::Continue))
    }

    async fn commit(
        &mut self,
        comment: String,
        timeout: u32,
        out: &mut String,
    ) -> Result<(), String> {
        let edits = self
            .candidate
            .as_ref()
            .map(|c| c.edits.clone())
            .unwrap_or_default();
        let response = self
            .client
            .commit(CommitRequest {
                operation: Operation::Change as i32,
                config: None,
                edits,
                comment,
                confirmed_timeout: timeout,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        // The candidate starts again from the new running (or, if that
        // cannot be read, from what was just committed).
        let committed = self.candidate.as_ref().and_then(|c| c.merged().ok());
        let base = match self.running_json().await {
            Ok(running) => running,
            Err(_) => committed.unwrap_or_default(),
        };
        self.candidate = Some(Candidate::new(base));
        match (response.transaction_id, timeout) {
            (0, _) => out.push_str("No changes.\n"),
            (id, 0) => out.push_str(&format!("Commit complete (transaction {id}).\n")),
            (id, seconds) => out.push_str(&format!(
                "Commit complete (transaction {id}); rolled back in {seconds} s unless confirmed.\n"
            )),
        }
        Ok(())
    }

    async fn running_json(&mut self) -> Result<Value, String> {
        let data = self.get(DataType::Config, Encoding::Json, "").await?;
        let running = parse_json(&data)?;
        self.known_config = running.clone();
        Ok(running)
    }

    async fn get(
        &mut self,
        kind: DataType,
        encoding: Encoding,
        path: &str,
    ) -> Result<String, String> {
        let response = self
            .client
            .get(GetRequest {
                r#type: kind as i32,
                encoding: encoding as i32,
                with_defaults: false,
                path: path.to_owned(),
                page_size: 0,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        Ok(response.data.map(|d| d.data).unwrap_or_default())
    }

    /// GetStream of the state below `path` (JSON), in parts of `page_size`
    /// list entries (0: one part).
    async fn stream_state(
        &mut self,
        path: &str,
        page_size: u32,
    ) -> Result<tonic::Streaming<dmvpn_api::v1::GetResponse>, String> {
        let request = GetRequest {
            r#type: DataType::State as i32,
            encoding: Encoding::Json as i32,
            with_defaults: false,
            path: path.to_owned(),
            page_size,
        };
        let response = self.client.get_stream(request).await;
        Ok(response.map_err(status_error)?.into_inner())
    }

    /// State below `path`, read with GetStream: in pieces, so that no
    /// message size limit caps it.
    async fn get_state(&mut self, path: &str) -> Result<String, String> {
        let mut pieces = self.stream_state(path, 0).await?;
        let mut data = String::new();
        while let Some(piece) = pieces.message().await.map_err(status_error)? {
            data.push_str(&piece.data.map(|d| d.data).unwrap_or_default());
        }
        Ok(data)
    }

    /// State below `path` in parts (GetStream with a page size): each part
    /// parsed as it arrives and given to `each`, so that a hub's 100 000
    /// peers are never one text here nor one tree in dmvpnd. For the views
    /// whose lists grow with the network; `each` gets complete trees
    /// whose list entries are each whole in one of them.
    async fn state_parts(
        &mut self,
        path: &str,
        mut each: impl FnMut(&Value),
    ) -> Result<(), String> {
        let mut pieces = self.stream_state(path, STATE_PAGE).await?;
        let mut part = String::new();
        while let Some(piece) = pieces.message().await.map_err(status_error)? {
            part.push_str(&piece.data.map(|d| d.data).unwrap_or_default());
            if !piece.continued {
                each(&parse_json(&part)?);
                part.clear();
            }
        }
        if !part.is_empty() {
            return Err("the state ended inside a part".to_owned());
        }
        Ok(())
    }

    async fn state(&mut self, path: &str) -> Result<Value, String> {
        let data = self.get_state(path).await?;
        parse_json(&data)
    }

    async fn execute_exec(
        &mut self,
        words: &[&str],
        line: &str,
        out: &mut String,
    ) -> Result<Outcome, String> {
        match words {
            ["show", "running-config"] | ["show", "running-config", "json"] => {
                let data = self.get(DataType::Config, Encoding::Json, "").await?;
                out.push_str(&with_newline(data));
            }
            ["show", "running-config", "xml"] => {
                let data = self.get(DataType::Config, Encoding::Xml, "").await?;
                out.push_str(&with_newline(data));
            }
            ["show", "running-config", "cli"] => {
                let running = self.running_json().await?;
                out.push_str(&config_text::render(&running, Form::Hierarchical));
            }
            ["show", "running-config", "set"] => {
                let running = self.running_json().await?;
                out.push_str(&config_text::render(&running, Form::Flat));
            }
            ["show", "state", path @ ..]
                if path.len() <= 1 && path.first().is_none_or(|p| p.starts_with('/')) =>
            {
                let path = path.first().copied().unwrap_or_default();
                let data = self.get_state(path).await?;
                out.push_str(&with_newline(data));
            }
            ["show", "state", nodes @ ..] => {
                let walk = Walk::run(&[], Tree::State, nodes)?;
                let data = self.get_state(&walk.path()?).await?;
                out.push_str(&with_newline(data));
            }
            ["show", "transactions"] => self.show_transactions(out).await?,
            ["show", "transaction", id] => {
                let id = number_arg(Some(id), "transaction id")?;
                self.show_transaction(id, out).await?;
            }
            ["show", "ip", "nhrp", rest @ ..] => self.show_nhrp(rest, out).await?,
            ["show", "dmvpn"] => {
                let (mut peers, mut tunnels) = (vec![], vec![]);
                self.state_parts(&dmvpn_path(), |part| {
                    peers.extend(views::peers(part));
                    tunnels.extend(views::tunnels(part));
                })
                .await?;
                out.push_str(&views::render_dmvpn(&peers, &tunnels))
            }
            ["show", "dmvpn", "summary"] => {
                let path = view_path(&[tunnel::PEER_SUMMARY, tunnel::OPER_STATUS]);
                let state = self.state(&path).await?;
                out.push_str(&views::render_dmvpn_summary(&views::peer_summaries(&state)));
            }
            ["show", "dmvpn", "json"] => {
                let mut peers = vec![];
                self.state_parts(&view_path(&[tunnel::PEER]), |part| {
                    peers.extend(views::peers(part))
                })
                .await?;
                out.push_str(&pretty(&peers)?)
            }
            ["show", "crypto", "ikev2", "sa"] => out.push_str(&crypto::render_ikev2_sa(
                &crypto::ike_sas(&self.state(&crypto_path()).await?),
            )),
            ["show", "crypto", "ipsec", "sa"] => out.push_str(&crypto::render_ipsec_sa(
                &crypto::ike_sas(&self.state(&crypto_path()).await?),
            )),
            ["show", "crypto", "ikev2" | "ipsec", "sa", "json"] => out.push_str(&pretty(
                &crypto::ike_sas(&self.state(&crypto_path()).await?),
            )?),
            ["clear", "crypto", "sa", rest @ ..] => self.clear_crypto_sa(rest, out).await?,
            ["clear", "ip", "nhrp", interface @ ..] if interface.len() <= 1 => {
                self.clear_nhrp(interface.first().copied(), out).await?;
            }
            ["rollback", id, comment @ ..] => {
                let id = number_arg(Some(id), "transaction id")?;
                let response = self
                    .client
                    .rollback(RollbackRequest {
                        transaction_id: id,
                        comment: comment.join(" "),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                out.push_str(&format!(
                    "Rolled back to transaction {id} (transaction {}).\n",
                    response.transaction_id
                ));
            }
            ["configure"] | ["configure", "terminal"] => {
                let base = self.running_json().await?;
                self.begin_configure(base);
            }
            ["confirm"] => {
                self.client
                    .confirm(ConfirmRequest {})
                    .await
                    .map_err(status_error)?;
                out.push_str("Commit confirmed.\n");
            }
            ["help"] => {
                for phrase in EXEC_COMMANDS {
                    out.push_str(&format!("  {phrase}\n"));
                }
            }
            ["exit"] | ["quit"] | ["end"] => return Ok(Outcome::Quit),
            _ => return Err(format!("unknown command: {}", line.trim())),
        }
        Ok(Outcome::Continue)
    }

    async fn show_transactions(&mut self, out: &mut String) -> Result<(), String> {
        let response = self
            .client
            .list_transactions(ListTransactionsRequest {})
            .await
            .map_err(status_error)?
            .into_inner();
        let rows: Vec<Vec<String>> = response
            .transactions
            .iter()
            .map(|t| {
                vec![
                    t.id.to_string(),
                    views::utc_date(t.date),
                    t.user.clone(),
                    t.comment.clone(),
                ]
            })
            .collect();
        out.push_str(&views::table(
            &["ID", "Date (UTC)", "User", "Comment"],
            &rows,
        ));
        Ok(())
    }

    async fn show_transaction(&mut self, id: u64, out: &mut String) -> Result<(), String> {
        let response = self
            .client
            .get_transaction(GetTransactionRequest {
                transaction_id: id,
                encoding: Encoding::Json as i32,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        if let Some(t) = &response.transaction {
            out.push_str(&format!(
                "Transaction {}, {}",
                t.id,
                views::utc_date(t.date)
            ));
            if !t.user.is_empty() {
                out.push_str(&format!(" by {}", t.user));
            }
            if !t.comment.is_empty() {
                out.push_str(&format!(": {}", t.comment));
            }
            out.push('\n');
        }
        out.push_str("Changes:\n");
        for change in &response.changes {
            out.push_str(&format!("  {change}\n"));
        }
        out.push_str("Configuration:\n");
        out.push_str(&with_newline(
            response.config.map(|c| c.data).unwrap_or_default(),
        ));
        Ok(())
    }

    async fn show_nhrp(&mut self, args: &[&str], out: &mut String) -> Result<(), String> {
        let (view, json) = match args {
            [] => ("cache", false),
            ["json"] => ("cache", true),
            [view] => (*view, false),
            [view, "json"] => (*view, true),
            _ => return Err(format!("unknown command: show ip nhrp {}", args.join(" "))),
        };
        let path = nhrp_path(view)
            .ok_or_else(|| format!("unknown command: show ip nhrp {}", args.join(" ")))?;
        if matches!(view, "cache" | "shortcut") {
            // A row per spoke on a hub: read in parts.
            let mut entries = vec![];
            self.state_parts(&path, |part| {
                entries.extend(
                    (views::cache_entries(part).into_iter())
                        .filter(|e| view == "cache" || e.entry_type == "shortcut"),
                )
            })
            .await?;
            out.push_str(&match json {
                true => pretty(&entries)?,
                false => views::render_cache(&entries),
            });
            return Ok(());
        }
        let state = self.state(&path).await?;
        let text = match (view, json) {
            ("nhs", false) => views::render_nhs(&views::nhs_states(&state)),
            ("nhs", true) => pretty(&views::nhs_states(&state))?,
            ("traffic", false) => views::render_traffic(&views::traffic(&state)),
            ("traffic", true) => pretty(&views::traffic(&state))?,
            _ => return Err(format!("unknown command: show ip nhrp {}", args.join(" "))),
        };
        out.push_str(&text);
        Ok(())
    }

    /// `clear crypto sa [peer ADDRESS] [INTERFACE]`.
    async fn clear_crypto_sa(&mut self, args: &[&str], out: &mut String) -> Result<(), String> {
        let (peer, interface) = match args {
            [] => (None, None),
            ["peer", peer] => (Some(*peer), None),
            ["peer", peer, interface] => (Some(*peer), Some(*interface)),
            [interface] => (None, Some(*interface)),
            _ => return Err("usage: clear crypto sa [peer ADDRESS] [INTERFACE]".to_owned()),
        };
        let mut input = serde_json::json!({});
        if let Some(peer) = peer {
            input["peer"] = serde_json::json!(peer);
        }
        if let Some(interface) = interface {
            input["interface"] = serde_json::json!(interface);
        }
        let input = serde_json::json!({"dmvpn-ipsec:clear-security-associations": input});
        self.client
            .execute(ExecuteRequest {
                data: Some(json_tree(&input.to_string())),
            })
            .await
            .map_err(status_error)?;
        out.push_str("IPsec SAs cleared.\n");
        Ok(())
    }

    async fn clear_nhrp(
        &mut self,
        interface: Option<&str>,
        out: &mut String,
    ) -> Result<(), String> {
        let interfaces = match interface {
            Some(name) => vec![name.to_owned()],
            // Every interface NHRP runs on, from the configuration.
            None => {
                let data = self
                    .get(DataType::Config, Encoding::Json, INTERFACES_PATH)
                    .await?;
                views::nhrp_interfaces(&parse_json(&data)?)
            }
        };
        for name in interfaces {
            let input = serde_json::json!({"dmvpn-nhrp:clear-cache": {"interface": name}});
            self.client
                .execute(ExecuteRequest {
                    data: Some(json_tree(&input.to_string())),
                })
                .await
                .map_err(status_error)?;
            out.push_str(&format!("NHRP cache of {name} cleared.\n"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
