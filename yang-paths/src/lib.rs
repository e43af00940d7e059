//! YANG data paths as Rust constants, generated at build time from a module's
//! text, so that a mistyped path is a compile error instead of a silently
//! missing value.
//!
//! A build script runs [`generate_file`] on a `.yang` file into `OUT_DIR`, and
//! the crate `include!`s the result:
//!
//! ```no_run
//! // build.rs
//! let module = "../yang/modules/dmvpn-nhrp.yang";
//! println!("cargo:rerun-if-changed={module}");
//! let out = std::path::Path::new(&std::env::var_os("OUT_DIR").unwrap()).join("dmvpn_nhrp.rs");
//! yang_paths::generate_file(module.as_ref(), &out).unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! # The generated shape
//!
//! One Rust module per YANG module (`dmvpn-nhrp` -> `dmvpn_nhrp`), holding
//! `MODULE` (the module name) and the items of the module's top nodes. Every
//! schema node gets two constants in its parent's Rust module, named after
//! it in upper snake case (`holding-time` -> `HOLDING_TIME`):
//!
//! - `X`: its data path, as libyang writes it (first node qualified with the
//!   module name, its descendants bare):
//!   - below an `augment`, relative to the augmented node: append it to the
//!     path of that node's entry with a `/`;
//!   - below a list, relative to the list entry: append it to
//!     `entry(key)` with a `/`;
//!   - otherwise absolute: top-level data nodes, RPCs and notifications
//!     (`/dmvpn-nhrp:clear-cache/interface`).
//!
//!   A leaf-list's path has no `[.='value']` predicate.
//! - `X_NAME`: its JSON member name (RFC 7951, 4): `dmvpn-nhrp:nhrp` for the
//!   first node of the module, `holding-time` below it.
//!
//! A node with children (container, list, RPC, notification) also gets a
//! Rust module in snake case (`nhs-state` -> `nhs_state`, a Rust keyword as a
//! raw identifier) with `PATH` (the same as `X`) and its children's items.
//! A list's module also has, when the list has keys, `KEYS` (in order), `KEY`
//! (with one key) and `entry(key, ...)`, the path of one entry with its key
//! predicates quoted as libyang quotes them. An RPC's `input` and `output`
//! are Rust modules only: they are not in data paths nor in JSON. `choice`
//! and `case` are transparent: their nodes belong to the choice's parent.
//! Groupings are expanded where `uses` is. State nodes (`config false`, set
//! or inherited) get constants too, marked in their doc comment.
//!
//! ```text
//! pub mod dmvpn_nhrp {
//!     pub const MODULE: &str = "dmvpn-nhrp";
//!     pub const NHRP: &str = "dmvpn-nhrp:nhrp";
//!     pub const NHRP_NAME: &str = "dmvpn-nhrp:nhrp";
//!     pub mod nhrp {
//!         pub const PATH: &str = "dmvpn-nhrp:nhrp";
//!         pub const HOLDING_TIME: &str = "dmvpn-nhrp:nhrp/holding-time";
//!         pub const HOLDING_TIME_NAME: &str = "holding-time";
//!         pub const NHS: &str = "dmvpn-nhrp:nhrp/nhs";
//!         pub const NHS_NAME: &str = "nhs";
//!         pub mod nhs {
//!             pub const PATH: &str = "dmvpn-nhrp:nhrp/nhs";
//!             pub const KEY: &str = "protocol-address";
//!             pub const KEYS: [&str; 1] = ["protocol-address"];
//!             // "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']"
//!             pub fn entry(protocol_address: &str) -> String { ... }
//!             pub const PRIORITY: &str = "priority";
//!             pub const PRIORITY_NAME: &str = "priority";
//!         }
//!     }
//! }
//! ```
//!
//! A node's module repeats `PATH` but not its name: a leaf called `name` is
//! common, `path` is not. Two YANG names that make the same Rust item (`a-b`
//! and `a_b`; a leaf `path` next to a node's `PATH`; `x-name` next to
//! `X_NAME`) are an error, not a silent overwrite.
//!
//! # What is read
//!
//! A small tokenizer (RFC 7950, 6.1: unquoted and quoted strings, `+`
//! concatenation, `//` and `/* */` comments) and statement parser, and the
//! statements that make schema nodes: `module`, `prefix`, `augment`,
//! `container`, `list` (`key`), `leaf`, `leaf-list`, `anydata`, `anyxml`,
//! `choice`, `case`, `grouping` (at the top of the module) and `uses`,
//! `config`, `rpc`, `input`, `output` and `notification`. Statements that
//! change no path (`description`, `type`, `when`, `must`, `typedef`,
//! `identity`, `revision`, extensions, ...) are skipped. Anything else that
//! could add or move a node (`submodule`, `include`, `deviation`, `action`,
//! nested notifications or groupings, `augment` or `refine ... config` in a
//! `uses`, groupings of other modules, augments of the module's own nodes),
//! and any keyword it does not know (a typo such as `containr`), is an error
//! at its line: guessing would make wrong paths.
#![forbid(unsafe_code)]

mod emit;
mod lexer;
mod schema;
mod statement;

use std::fmt;
use std::path::Path;

/// What went wrong, and on which line of the YANG text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    line: usize,
    message: String,
}

impl Error {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Error {
        Error {
            line,
            message: message.into(),
        }
    }

    /// The line of the YANG text (1-based); 0 when no line is at fault.
    pub fn line(&self) -> usize {
        self.line
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.message),
            line => write!(f, "line {line}: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

/// The Rust source of the constants of the YANG module `yang` (its text);
/// `source` names the file in the header comment.
pub fn generate(yang: &str, source: &str) -> Result<String, Error> {
    let module = statement::parse(yang)?;
    let module = schema::build(&module)?;
    emit::emit(&module, source)
}

/// Reads the YANG module at `yang` and writes its constants to `out`; errors
/// name the file.
pub fn generate_file(yang: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(yang)
        .map_err(|e| format!("yang-paths: reading {}: {e}", yang.display()))?;
    let source = yang.file_name().map_or_else(
        || yang.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let rust = generate(&text, &source).map_err(|e| format!("{}: {e}", yang.display()))?;
    std::fs::write(out, rust).map_err(|e| format!("yang-paths: writing {}: {e}", out.display()))
}

#[cfg(test)]
mod tests;
