//! Small shared building blocks for the DMVPN crates: a bounds-checked byte
//! reader that names the field it failed on, the internet checksum, and IP
//! address helpers. Later: timer/task handles, netns and raw-socket helpers.
#![forbid(unsafe_code)]

pub mod bytes;
pub mod checksum;
pub mod hex;
pub mod ip;
