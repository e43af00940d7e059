//! Small shared building blocks for the DMVPN crates: a bounds-checked byte
//! reader that names the field it failed on, the encode error every codec
//! shares, the internet checksum, and IP address helpers.
// Unsafe code only in `sys` (C library calls without a safe binding).
#![deny(unsafe_code)]

pub mod bytes;
pub mod checksum;
pub mod conformance;
pub mod encode;
pub mod hex;
pub mod ip;
pub mod sys;
