//! Loading our certificate chain and key, and the trusted CAs, from PEM
//! files. Errors name the file and what is wrong with it.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, TrustAnchor};

use super::keys::SigningKey;
use super::x509;
use crate::ike::identity::Identity;
use crate::packet::{Certificate, CertificateEncoding};

/// Our certificate chain (end entity first, then the intermediates the
/// peer may lack) and the end entity's private key.
#[derive(Debug)]
pub struct LocalCredential {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: SigningKey,
}

/// The CAs we trust to certify peers.
#[derive(Clone, Debug)]
pub struct TrustAnchors {
    pub(crate) anchors: Vec<TrustAnchor<'static>>,
    /// The CA certificates, as loaded (for CERTREQ hashes and names).
    pub(crate) certs: Vec<CertificateDer<'static>>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {error}", file.display())]
    Read { file: PathBuf, error: String },
    #[error("{}: bad PEM: {error}", file.display())]
    Pem { file: PathBuf, error: String },
    #[error("{}: no CERTIFICATE in the file", file.display())]
    NoCertificate { file: PathBuf },
    #[error("{}: certificate {index} unusable: {error}", file.display())]
    Certificate {
        file: PathBuf,
        index: usize,
        error: String,
    },
    #[error(
        "{}: no private key (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)",
        file.display()
    )]
    NoKey { file: PathBuf },
    #[error("{}: {error}", file.display())]
    Key { file: PathBuf, error: String },
}

impl LocalCredential {
    /// `certificate`: PEM, our certificate first, then intermediates.
    /// `key`: PEM, ECDSA P-256/P-384 (PKCS#8 or SEC1) or RSA (PKCS#8 or
    /// PKCS#1), unencrypted; it must belong to the first certificate.
    pub fn load(certificate: &Path, key: &Path) -> Result<LocalCredential, LoadError> {
        let chain = read_certificates(certificate)?;
        for (index, cert) in chain.iter().enumerate() {
            x509::parse(cert).map_err(|e| LoadError::Certificate {
                file: certificate.into(),
                index,
                error: e.into(),
            })?;
        }
        webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| LoadError::Certificate {
            file: certificate.into(),
            index: 0,
            error: e.to_string(),
        })?;
        let bytes = read(key)?;
        if contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(LoadError::Key {
                file: key.into(),
                error: "encrypted keys are not supported".into(),
            });
        }
        let der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
            pem::Error::NoItemsFound => LoadError::NoKey { file: key.into() },
            e => LoadError::Pem {
                file: key.into(),
                error: e.to_string(),
            },
        })?;
        let fields = x509::parse(&chain[0]).map_err(|e| LoadError::Certificate {
            file: certificate.into(),
            index: 0,
            error: e.into(),
        })?;
        let signing_key =
            SigningKey::from_der(&der, fields.spki).map_err(|error| LoadError::Key {
                file: key.into(),
                error: format!(
                    "{error} (certificate {} in {})",
                    x509::name_to_string(fields.subject),
                    certificate.display()
                ),
            })?;
        Ok(LocalCredential {
            chain,
            key: signing_key,
        })
    }

    /// Our certificate's subject, as text.
    pub fn subject(&self) -> String {
        self.end_entity()
            .map(|f| x509::name_to_string(f.subject))
            .unwrap_or_default()
    }

    /// Our certificate's subject DN as an identity: strongSwan's default
    /// ID with certificates (ID_DER_ASN1_DN).
    pub fn subject_identity(&self) -> Identity {
        Identity::Dn(
            self.end_entity()
                .map(|f| f.subject.to_vec())
                .unwrap_or_default(),
        )
    }

    fn end_entity(&self) -> Option<x509::CertFields<'_>> {
        x509::parse(self.chain.first()?).ok()
    }

    /// The CERT payloads to send: the chain, in order (RFC 7296, 3.6).
    pub fn cert_payloads(&self) -> Vec<Certificate> {
        self.chain
            .iter()
            .map(|c| Certificate {
                encoding: CertificateEncoding::X509_CERTIFICATE_SIGNATURE,
                data: c.to_vec(),
            })
            .collect()
    }
}

impl TrustAnchors {
    /// `ca`: PEM, one or more CA certificates.
    pub fn load(ca: &Path) -> Result<TrustAnchors, LoadError> {
        let certs = read_certificates(ca)?;
        let mut anchors = Vec::with_capacity(certs.len());
        for (index, cert) in certs.iter().enumerate() {
            let bad = |error: String| LoadError::Certificate {
                file: ca.into(),
                index,
                error,
            };
            x509::parse(cert).map_err(|e| bad(e.into()))?;
            let anchor = webpki::anchor_from_trusted_cert(cert).map_err(|e| bad(e.to_string()))?;
            anchors.push(anchor.to_owned());
        }
        Ok(TrustAnchors { anchors, certs })
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The CA subjects, as text.
    pub fn subjects(&self) -> Vec<String> {
        self.certs
            .iter()
            .filter_map(|c| x509::parse(c).ok())
            .map(|f| x509::name_to_string(f.subject))
            .collect()
    }
}

fn read(file: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(file).map_err(|e| LoadError::Read {
        file: file.into(),
        error: e.to_string(),
    })
}

fn read_certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let bytes = read(file)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LoadError::Pem {
            file: file.into(),
            error: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(LoadError::NoCertificate { file: file.into() });
    }
    Ok(certs)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
