//! Authenticating a peer by certificate: the chain to one of our CAs, the
//! binding of its IDi/IDr to the certificate (RFC 4945, 3.1), and its AUTH
//! signature.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};

use super::credentials::TrustAnchors;
use super::signature::{SignatureFailure, verify_auth};
use super::x509::{self, CertFields, GeneralName};
use crate::ike::identity::Identity;
use crate::packet::{AuthMethod, Authentication, Certificate, CertificateEncoding};

/// A peer whose certificate and AUTH payload checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPeer {
    /// The end-entity certificate's subject, as text.
    pub subject: String,
    /// The subject of the CA the chain ends at, as text.
    pub trust_anchor: String,
}

/// Why a peer's certificate authentication failed: which check, for whom.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("no X.509 certificate in the CERT payloads")]
    NoCertificate,
    #[error("certificate {index} is malformed: {error}")]
    Malformed { index: usize, error: String },
    #[error("certificate of {subject} not trusted: {error}")]
    Chain {
        subject: String,
        error: webpki::Error,
    },
    #[error("certificate of {subject} does not vouch for ID {identity}: {reason}")]
    Identity {
        subject: String,
        identity: Identity,
        reason: &'static str,
    },
    #[error("AUTH ({method}) of {subject}: {reason}")]
    Signature {
        subject: String,
        method: AuthMethod,
        reason: SignatureFailure,
    },
}

/// The X.509 certificates among CERT payloads, in order (the end entity
/// first, RFC 7296, 3.6); other encodings are skipped.
pub fn peer_certificates<'a>(
    payloads: impl IntoIterator<Item = &'a Certificate>,
) -> Vec<CertificateDer<'a>> {
    payloads
        .into_iter()
        .filter(|c| c.encoding == CertificateEncoding::X509_CERTIFICATE_SIGNATURE)
        .map(|c| CertificateDer::from(c.data.as_slice()))
        .collect()
}

/// Authenticates a peer: `certificates` (end entity first, then
/// intermediates) must chain to `anchors` at `now`, vouch for `identity`
/// (the peer's IDi/IDr), and hold the key that made `auth` over
/// `signed_octets` (RFC 7296, 2.15).
pub fn verify_peer(
    certificates: &[CertificateDer<'_>],
    anchors: &TrustAnchors,
    now: SystemTime,
    identity: &Identity,
    auth: &Authentication,
    signed_octets: &[u8],
) -> Result<VerifiedPeer, PeerError> {
    let end_entity = certificates.first().ok_or(PeerError::NoCertificate)?;
    let malformed = |index, error: String| PeerError::Malformed { index, error };
    let fields = x509::parse(end_entity).map_err(|e| malformed(0, e.into()))?;
    let subject = x509::name_to_string(fields.subject);
    let cert = EndEntityCert::try_from(end_entity).map_err(|e| malformed(0, e.to_string()))?;

    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let path = cert
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors.anchors,
            &certificates[1..],
            UnixTime::since_unix_epoch(since_epoch),
            AnyExtendedKeyUsage,
            None,
            None,
        )
        .map_err(|error| PeerError::Chain {
            subject: subject.clone(),
            error,
        })?;
    let trust_anchor = anchor_subject(path.anchor().subject.as_ref());

    vouches_for(&fields, identity).map_err(|reason| PeerError::Identity {
        subject: subject.clone(),
        identity: identity.clone(),
        reason,
    })?;

    let signature_error = |reason| PeerError::Signature {
        subject: subject.clone(),
        method: auth.method,
        reason,
    };
    let key = x509::public_key(fields.spki)
        .map_err(|_| signature_error(SignatureFailure::WrongKeyType("unreadable")))?;
    verify_auth(key, auth.method, &auth.data, signed_octets).map_err(signature_error)?;
    Ok(VerifiedPeer {
        subject,
        trust_anchor,
    })
}

/// RFC 4945, 5.1.3.12 would refuse certificates whose extended key usage
/// names neither id-kp-ipsecIKE nor anyExtendedKeyUsage; in practice IKE
/// certificates carry serverAuth, clientAuth or nothing, and strongSwan
/// does not check, so neither do we (the list must still parse).
struct AnyExtendedKeyUsage;

impl ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

/// RFC 4945, 3.1: an address, FQDN or e-mail ID must be in the
/// subjectAltName (exactly; names case-insensitively); a DN ID must equal
/// the subject (or a directoryName alternative name).
fn vouches_for(fields: &CertFields<'_>, identity: &Identity) -> Result<(), &'static str> {
    let names = &fields.alt_names;
    let found = match identity {
        Identity::Dn(dn) => {
            dn.as_slice() == fields.subject || names.contains(&GeneralName::Directory(dn))
        }
        Identity::Ipv4(a) => names.contains(&GeneralName::Ip(&a.octets())),
        Identity::Ipv6(a) => names.contains(&GeneralName::Ip(&a.octets())),
        Identity::Fqdn(name) => names
            .iter()
            .any(|n| matches!(n, GeneralName::Dns(d) if d.eq_ignore_ascii_case(name.as_bytes()))),
        Identity::Email(name) => names.iter().any(
            |n| matches!(n, GeneralName::Rfc822(e) if e.eq_ignore_ascii_case(name.as_bytes())),
        ),
        Identity::KeyId(_) => {
            return Err("an ID_KEY_ID cannot be bound to a certificate");
        }
    };
    if found {
        Ok(())
    } else if matches!(identity, Identity::Dn(_)) {
        Err("not the subject")
    } else {
        Err("not among the subjectAltNames")
    }
}

/// webpki keeps an anchor's subject without the outer SEQUENCE.
fn anchor_subject(contents: &[u8]) -> String {
    x509::name_to_string(&super::der::encode(super::der::SEQUENCE, contents))
}
