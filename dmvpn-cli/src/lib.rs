//! dmvpn-cli, the operator's client: reading captures and decoding the
//! GRE and NHRP packets in them (`dmvpn-cli decode`).
#![forbid(unsafe_code)]

pub mod capture;
pub mod decode;

#[cfg(test)]
mod testing;
