//! X.509 certificate authentication for IKE_AUTH: the building blocks the
//! exchanges call (no IO beyond loading files, no clock: `now` is passed).
//!
//! - [`LocalCredential`] and [`TrustAnchors`]: our chain and key, and the
//!   CAs we trust, loaded from PEM files ([`CertificateConfig`]).
//! - [`SigningKey::sign`]: our AUTH payload, RFC 7427 Digital Signature
//!   (method 14) or the key type's classic method (9/10, RFC 4754);
//!   [`choose_method`] picks one from the peer's SIGNATURE_HASH_ALGORITHMS.
//! - [`verify_peer`]: the peer's chain (rustls-webpki), the binding of its
//!   ID to the certificate (RFC 4945, 3.1) and its AUTH signature (methods
//!   1, 9, 10 and 14).
//! - [`TrustAnchors::certreq`] and [`choose_credential`]: CERTREQ payloads
//!   (RFC 7296, 3.7).
//!
//! IKE_AUTH with certificates (RFC 7296, 1.2 and 2.15):
//! 1. IKE_SA_INIT, both sides: N(SIGNATURE_HASH_ALGORITHMS) with
//!    [`signature_hash_algorithms`]`(`[`SUPPORTED_HASHES`]`)`; the
//!    responder adds a CERTREQ ([`TrustAnchors::certreq`]). Keep the
//!    peer's hashes ([`parse_signature_hash_algorithms`]) and CERTREQ.
//! 2. Initiator's IKE_AUTH request: IDi, CERT payloads
//!    ([`LocalCredential::cert_payloads`], chosen by
//!    [`choose_credential`] when the responder sent CERTREQ), a CERTREQ
//!    of ours, then AUTH = [`SigningKey::sign`] over [`signed_octets`]
//!    (RealMessage1, Nr, prf(SK_pi, IDi')), with the method from
//!    [`choose_method`].
//! 3. Responder: [`verify_peer`] with [`peer_certificates`] of the CERT
//!    payloads, the IDi as an [`Identity`](super::Identity) (a DN is
//!    `Identity::Dn`), AUTH and the initiator's
//!    signed octets; then check IDi against the configured remote ID; then
//!    answer IDr, CERT, AUTH the same way (RealMessage2, Ni, prf(SK_pr,
//!    IDr')).
//! 4. Initiator: [`verify_peer`] on the response likewise. Any failure is
//!    AUTHENTICATION_FAILED.

mod certreq;
mod credentials;
mod der;
mod keys;
mod signature;
mod verify;
mod x509;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use certreq::{CaKeyHash, ca_key_hash, choose_credential, parse_certreq, requested_cas};
pub use credentials::{LoadError, LocalCredential, TrustAnchors};
pub use keys::{KeyAlgorithm, SignError, SigningKey};
pub use signature::{
    SUPPORTED_HASHES, SignatureFailure, SignatureHash, SignatureScheme, SigningMethod,
    choose_method, parse_signature_hash_algorithms, signature_hash_algorithms,
};
pub use verify::{PeerError, VerifiedPeer, peer_certificates, verify_peer};

use crate::crypto::PrfAlgorithm;
use crate::packet::Identification;

/// Where a profile's certificate material lives ([`Config::certificate`]
/// (super::Config::certificate)). With a certificate, our ID defaults to
/// the certificate's subject DN, the PSK keyring is not consulted, and the
/// peer must authenticate with a certificate too.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertificateConfig {
    /// PEM: our certificate, then intermediates.
    pub certificate: PathBuf,
    /// PEM: its private key.
    pub key: PathBuf,
    /// PEM: the CAs that certify peers.
    pub ca: PathBuf,
    /// More (certificate, key) pairs like the first, for peers whose
    /// CERTREQ names a CA only one of them leads to (RFC 7296, 3.7); the
    /// first pair stays the default.
    pub more_credentials: Vec<(PathBuf, PathBuf)>,
}

impl CertificateConfig {
    /// Our default credential and the CAs.
    pub fn load(&self) -> Result<(LocalCredential, TrustAnchors), LoadError> {
        Ok((
            LocalCredential::load(&self.certificate, &self.key)?,
            TrustAnchors::load(&self.ca)?,
        ))
    }

    /// Every credential, the default first, and the CAs.
    pub fn load_all(&self) -> Result<(Vec<LocalCredential>, TrustAnchors), LoadError> {
        let (first, anchors) = self.load()?;
        let mut credentials = vec![first];
        for (certificate, key) in &self.more_credentials {
            credentials.push(LocalCredential::load(certificate, key)?);
        }
        Ok((credentials, anchors))
    }
}

/// A DER Name as text for log lines ("O=Example, CN=hub").
pub fn dn_to_string(dn: &[u8]) -> String {
    x509::name_to_string(dn)
}

/// RFC 7296, 2.15: what a signature covers. RealMessage | the peer's
/// nonce | prf(SK_p, the ID payload body). SK_p is SK_pi for the
/// initiator's AUTH, SK_pr for the responder's.
pub fn signed_octets(
    prf: PrfAlgorithm,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id: &Identification,
) -> Vec<u8> {
    let mut id_body = Vec::with_capacity(4 + id.data.len());
    id_body.push(id.id_type.0);
    id_body.extend_from_slice(&id.reserved);
    id_body.extend_from_slice(&id.data);
    let maced_id = prf.prf(sk_p, &[&id_body]);
    [real_message, peer_nonce, &maced_id].concat()
}
