//! Cryptographic building blocks of IKEv2: the PRF and prf+ (RFC 7296,
//! 2.13), key derivation for IKE and child SAs (2.14, 2.17, 2.18),
//! Diffie-Hellman (MODP groups 2, 5, 14; ECP 19, 20; Curve25519 31) and the
//! protection of the Encrypted payload (3.14; RFC 5282 for AES-GCM).
//!
//! Pure functions and small types: no IO and no state beyond one exchange's
//! private value. ring provides everything it has (HMAC, AES-GCM, ECDH,
//! X25519, randomness); RustCrypto provides AES-CBC and the constant-time
//! big integers for MODP.

pub mod cipher;
pub mod dh;
pub mod error;
pub mod keys;
mod modp;
pub mod prf;

pub use cipher::{EncrAlgorithm, IntegAlgorithm, SkCipher};
pub use dh::{DhGroup, DiffieHellman, SharedSecret};
pub use error::CryptoError;
pub use keys::{ChildSaKeys, IkeSaKeys, KeyLengths};
pub use prf::PrfAlgorithm;
