//! IKEv2 (RFC 7296) and ESP (RFC 4303) for DMVPN tunnel protection.
//!
//! Today this crate holds the wire codecs ([`packet`]): IKEv2 messages with
//! their payload chain, ESP headers and the UDP encapsulation of RFC 3948;
//! and the cryptographic building blocks ([`crypto`]): PRF and key
//! derivation, Diffie-Hellman, and the Encrypted payload's protection.
//! The ESP transforms ([`esp`]) seal and open the packets of a child SA:
//! AES-GCM and AES-CBC with HMAC, anti-replay, extended sequence numbers.
//! [`ike`] is the sans-IO IKEv2 core: IKE_SA_INIT and IKE_AUTH with PSK
//! authentication, the child SA for GRE, NAT traversal, Delete and dead
//! peer detection.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod esp;
pub mod ike;
#[cfg(feature = "northbound")]
pub mod northbound;
pub mod packet;
pub mod protection;
pub mod yang;
