//! dmvpn-cli, the operator's client: dmvpnd's gRPC management API
//! (`client`, `session`, `shell`, with the configure-mode `candidate` and the
//! protocol `views`), and reading captures and decoding the GRE and NHRP
//! packets in them (`dmvpn-cli decode`).
//!
//! The shell is a YANG CLI: the fixed commands and their abbreviations
//! (`grammar`), configure mode generated from the embedded modules
//! (`schema`, `configure`, with type details from `yang_source`), `?` and
//! completion (`help`), and configurations as commands (`config_text`).
#![forbid(unsafe_code)]

pub mod candidate;
pub mod capture;
pub mod client;
pub mod config_text;
pub mod configure;
pub mod crypto;
pub mod decode;
pub mod grammar;
pub mod help;
pub mod schema;
pub mod session;
pub mod shell;
pub mod views;
pub mod yang_source;

#[cfg(test)]
mod testing;
