//! NETCONF (RFC 6241) over SSH (RFC 6242): the SSH transport (`ssh`)
//! authenticates users and hands each `netconf` subsystem channel to the
//! protocol engine as a byte stream.

pub mod ssh;
