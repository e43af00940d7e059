//! dmvpn-cli, the operator's client. Filled by the decode change.
#![forbid(unsafe_code)]

fn main() {}
