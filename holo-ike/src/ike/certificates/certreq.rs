//! Certificate Request payloads (RFC 7296, 3.7): the CAs we trust, named
//! by the SHA-1 hash of their SubjectPublicKeyInfo, and which of our
//! chains answers a peer's request.

use ring::digest;

use super::credentials::{LocalCredential, TrustAnchors};
use super::x509;
use crate::packet::{Certificate, CertificateEncoding};

/// A CA named in a CERTREQ: SHA-1 of its whole SubjectPublicKeyInfo.
pub type CaKeyHash = [u8; 20];

/// The CERTREQ hash of a SubjectPublicKeyInfo (DER, tag included).
pub fn ca_key_hash(spki: &[u8]) -> CaKeyHash {
    let digest = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, spki);
    let mut hash = [0; 20];
    hash.copy_from_slice(digest.as_ref());
    hash
}

/// The hashes in a CERTREQ's data; None if it is not a whole number of
/// them.
pub fn parse_certreq(data: &[u8]) -> Option<Vec<CaKeyHash>> {
    if !data.len().is_multiple_of(20) {
        return None;
    }
    Some(
        data.chunks_exact(20)
            .map(|c| {
                let mut hash = [0; 20];
                hash.copy_from_slice(c);
                hash
            })
            .collect(),
    )
}

/// The X.509 CA hashes requested by CERTREQ payloads; malformed ones and
/// other encodings are skipped.
pub fn requested_cas<'a>(payloads: impl IntoIterator<Item = &'a Certificate>) -> Vec<CaKeyHash> {
    payloads
        .into_iter()
        .filter(|c| c.encoding == CertificateEncoding::X509_CERTIFICATE_SIGNATURE)
        .filter_map(|c| parse_certreq(&c.data))
        .flatten()
        .collect()
}

impl TrustAnchors {
    /// The hashes of our CAs, in load order.
    pub fn ca_hashes(&self) -> Vec<CaKeyHash> {
        self.certs
            .iter()
            .filter_map(|c| x509::parse(c).ok())
            .map(|f| ca_key_hash(f.spki))
            .collect()
    }

    /// Our CERTREQ payload body: every CA we trust.
    pub fn certreq(&self) -> Certificate {
        Certificate {
            encoding: CertificateEncoding::X509_CERTIFICATE_SIGNATURE,
            data: self.ca_hashes().concat(),
        }
    }
}

impl LocalCredential {
    /// The CAs a peer may name to get this chain: its intermediates, and
    /// the CA in `anchors` that issued the chain's last certificate (the
    /// root is usually not in the chain).
    pub fn issuer_hashes(&self, anchors: &TrustAnchors) -> Vec<CaKeyHash> {
        let fields: Vec<_> = self
            .chain
            .iter()
            .filter_map(|c| x509::parse(c).ok())
            .collect();
        let mut hashes: Vec<CaKeyHash> =
            fields.iter().skip(1).map(|f| ca_key_hash(f.spki)).collect();
        if let Some(last) = fields.last() {
            for cert in &anchors.certs {
                if let Ok(ca) = x509::parse(cert)
                    && ca.subject == last.issuer
                {
                    hashes.push(ca_key_hash(ca.spki));
                }
            }
        }
        hashes
    }
}

/// The first of `credentials` whose chain leads to a CA in `requested`;
/// None if none does (RFC 7296, 3.7 then lets us send our default one).
pub fn choose_credential<'a>(
    credentials: &'a [LocalCredential],
    anchors: &TrustAnchors,
    requested: &[CaKeyHash],
) -> Option<&'a LocalCredential> {
    credentials.iter().find(|c| {
        c.issuer_hashes(anchors)
            .iter()
            .any(|h| requested.contains(h))
    })
}
