//! dmvpn-cli, the operator's client: dmvpnd's gRPC management API
//! (`client`, `session`, `shell`, with the configure-mode `candidate` and the
//! protocol `views`), and reading captures and decoding the GRE and NHRP
//! packets in them (`dmvpn-cli decode`).
#![forbid(unsafe_code)]

pub mod candidate;
pub mod capture;
pub mod client;
pub mod crypto;
pub mod decode;
pub mod session;
pub mod shell;
pub mod views;

#[cfg(test)]
mod testing;
