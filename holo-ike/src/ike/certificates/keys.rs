//! Our private key: parsing (PKCS#8, SEC1, PKCS#1), the check that it
//! belongs to our certificate, and signing the AUTH payload.

use std::fmt;

use ring::rand::SecureRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;

use super::der::{self, Der};
use super::signature::{SignatureScheme, SigningMethod};
use super::x509::{self, PublicKey};
use crate::packet::{AuthMethod, Authentication};

/// What kind of key a [`SigningKey`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Rsa { bits: usize },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::EcdsaP256 => write!(f, "ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => write!(f, "ECDSA P-384"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA-{bits}"),
        }
    }
}

/// A private key that signs AUTH payloads. Debug never shows the key.
pub struct SigningKey(Inner);

enum Inner {
    /// ECDSA keys sign in the fixed r||s form (RFC 4754); RFC 7427 wants
    /// the DER form, made from it.
    EcdsaP256(EcdsaKeyPair),
    EcdsaP384(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.algorithm())
    }
}

/// Why we could not sign.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("{method:?} needs another kind of key than our {key}")]
    WrongKey {
        method: SigningMethod,
        key: KeyAlgorithm,
    },
    #[error("signing failed")]
    Crypto,
}

impl SigningKey {
    /// Parses `key` and checks it is the private half of `cert_spki` (our
    /// certificate's SubjectPublicKeyInfo). The error says what is wrong.
    pub(crate) fn from_der(
        key: &PrivateKeyDer<'_>,
        cert_spki: &[u8],
    ) -> Result<SigningKey, String> {
        let cert_key = x509::public_key(cert_spki)
            .map_err(|e| format!("certificate public key unreadable: {e}"))?;
        match key {
            PrivateKeyDer::Pkcs8(k) => from_pkcs8(k.secret_pkcs8_der(), cert_key),
            PrivateKeyDer::Sec1(k) => from_sec1(k.secret_sec1_der(), None, cert_key),
            PrivateKeyDer::Pkcs1(k) => {
                let pair = RsaKeyPair::from_der(k.secret_pkcs1_der())
                    .map_err(|e| format!("RSA key rejected: {e}"))?;
                rsa(pair, cert_key)
            }
            _ => Err("unsupported private key format".into()),
        }
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match &self.0 {
            Inner::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
            Inner::EcdsaP384(_) => KeyAlgorithm::EcdsaP384,
            Inner::Rsa(k) => KeyAlgorithm::Rsa {
                bits: k.public().modulus_len() * 8,
            },
        }
    }

    /// The RFC 7427 schemes this key signs with, ours first. ring signs
    /// P-256 only with SHA-256 and P-384 only with SHA-384.
    pub fn schemes(&self) -> &'static [SignatureScheme] {
        use SignatureScheme::*;
        match &self.0 {
            Inner::EcdsaP256(_) => &[EcdsaSha256],
            Inner::EcdsaP384(_) => &[EcdsaSha384],
            // PKCS#1 v1.5 first: what strongSwan and Cisco send by default.
            Inner::Rsa(_) => &[
                RsaPkcs1Sha256,
                RsaPkcs1Sha384,
                RsaPkcs1Sha512,
                RsaPssSha256,
                RsaPssSha384,
                RsaPssSha512,
            ],
        }
    }

    /// Signs the octets of RFC 7296, 2.15 into an AUTH payload body.
    pub fn sign(
        &self,
        method: SigningMethod,
        signed_octets: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Authentication, SignError> {
        let wrong_key = || SignError::WrongKey {
            method,
            key: self.algorithm(),
        };
        let (method_id, data) = match (method, &self.0) {
            // RFC 4754, 7: r and s, each as long as the curve order.
            (SigningMethod::Classic, Inner::EcdsaP256(k)) => {
                (AuthMethod::ECDSA_SHA256_P256, ecdsa(k, signed_octets, rng)?)
            }
            (SigningMethod::Classic, Inner::EcdsaP384(k)) => {
                (AuthMethod::ECDSA_SHA384_P384, ecdsa(k, signed_octets, rng)?)
            }
            // Method 1 means PKCS#1 v1.5 with SHA-1, which ring does not sign.
            (SigningMethod::Classic, Inner::Rsa(_)) => return Err(wrong_key()),
            (SigningMethod::DigitalSignature(scheme), key) => {
                if !self.schemes().contains(&scheme) {
                    return Err(wrong_key());
                }
                let signature = match key {
                    Inner::EcdsaP256(k) | Inner::EcdsaP384(k) => {
                        fixed_to_der(&ecdsa(k, signed_octets, rng)?)
                    }
                    Inner::Rsa(k) => rsa_sign(k, scheme, signed_octets, rng)?,
                };
                // RFC 7427, 3: length of the AlgorithmIdentifier, the
                // AlgorithmIdentifier, then the signature.
                let algorithm = scheme.algorithm_identifier();
                let mut data = Vec::with_capacity(1 + algorithm.len() + signature.len());
                data.push(algorithm.len() as u8);
                data.extend_from_slice(algorithm);
                data.extend_from_slice(&signature);
                (AuthMethod::DIGITAL_SIGNATURE, data)
            }
        };
        Ok(Authentication {
            method: method_id,
            reserved: [0; 3],
            data,
        })
    }
}

fn ecdsa(key: &EcdsaKeyPair, message: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, SignError> {
    key.sign(rng, message)
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| SignError::Crypto)
}

fn rsa_sign(
    key: &RsaKeyPair,
    scheme: SignatureScheme,
    message: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, SignError> {
    use SignatureScheme::*;
    let padding: &'static dyn signature::RsaEncoding = match scheme {
        RsaPkcs1Sha256 => &signature::RSA_PKCS1_SHA256,
        RsaPkcs1Sha384 => &signature::RSA_PKCS1_SHA384,
        RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
        RsaPssSha256 => &signature::RSA_PSS_SHA256,
        RsaPssSha384 => &signature::RSA_PSS_SHA384,
        RsaPssSha512 => &signature::RSA_PSS_SHA512,
        EcdsaSha256 | EcdsaSha384 => return Err(SignError::Crypto),
    };
    let mut out = vec![0; key.public().modulus_len()];
    key.sign(padding, rng, message, &mut out)
        .map_err(|_| SignError::Crypto)?;
    Ok(out)
}

/// r||s to ECDSA-Sig-Value (RFC 3279, 2.2.3), the form RFC 7427 carries.
pub(crate) fn fixed_to_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let mut value = der::encode_unsigned(r);
    value.extend_from_slice(&der::encode_unsigned(s));
    der::encode(der::SEQUENCE, &value)
}

fn rsa(pair: RsaKeyPair, cert_key: PublicKey<'_>) -> Result<SigningKey, String> {
    match cert_key {
        PublicKey::Rsa(public) if public == pair.public().as_ref() => {
            Ok(SigningKey(Inner::Rsa(pair)))
        }
        PublicKey::Rsa(_) => Err(MISMATCH.into()),
        other => Err(format!(
            "RSA key, but the certificate has an {} key",
            other.name()
        )),
    }
}

const MISMATCH: &str = "the private key does not match the certificate's public key";

/// PKCS#8 (RFC 5208): RSA goes to ring whole; for ECDSA we take the
/// inner ECPrivateKey, whose curve the AlgorithmIdentifier names.
fn from_pkcs8(pkcs8: &[u8], cert_key: PublicKey<'_>) -> Result<SigningKey, String> {
    let bad = |e: &str| format!("malformed PKCS#8 key: {e}");
    let info = der::single(pkcs8, der::SEQUENCE).map_err(bad)?;
    let mut info = Der::new(info.value);
    info.expect(der::INTEGER).map_err(bad)?;
    let algorithm = info.expect(der::SEQUENCE).map_err(bad)?;
    let private_key = info.expect(der::OCTET_STRING).map_err(bad)?;
    let mut algorithm = Der::new(algorithm.value);
    let oid = algorithm.expect(der::OID).map_err(bad)?.value;
    if oid == x509::OID_RSA_ENCRYPTION {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| format!("RSA key rejected: {e}"))?;
        return rsa(pair, cert_key);
    }
    if oid != x509::OID_EC_PUBLIC_KEY {
        return Err(format!(
            "unsupported key algorithm {} (ECDSA P-256/P-384 and RSA are)",
            der::oid_to_string(oid)
        ));
    }
    let curve = algorithm.optional(der::OID).map_err(bad)?.map(|t| t.value);
    from_sec1(private_key.value, curve, cert_key)
}

/// ECPrivateKey (RFC 5915, 3). ring checks that the private key yields
/// the certificate's public key (the key's own copy, if any, is ignored).
fn from_sec1(
    sec1: &[u8],
    curve: Option<&[u8]>,
    cert_key: PublicKey<'_>,
) -> Result<SigningKey, String> {
    let bad = |e: &str| format!("malformed EC private key: {e}");
    let key = der::single(sec1, der::SEQUENCE).map_err(bad)?;
    let mut key = Der::new(key.value);
    key.expect(der::INTEGER).map_err(bad)?;
    let private = key.expect(der::OCTET_STRING).map_err(bad)?.value;
    let own_curve = match key.optional(der::explicit(0)).map_err(bad)? {
        Some(params) => Some(der::single(params.value, der::OID).map_err(bad)?.value),
        None => None,
    };
    let curve = own_curve.or(curve);
    let (alg, size, public): (&'static signature::EcdsaSigningAlgorithm, usize, _) = match cert_key
    {
        PublicKey::EcdsaP256(p) => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, 32, p),
        PublicKey::EcdsaP384(p) => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, 48, p),
        other => {
            return Err(format!(
                "EC key, but the certificate has an {} key",
                other.name()
            ));
        }
    };
    let cert_curve = match cert_key {
        PublicKey::EcdsaP256(_) => x509::OID_P256,
        _ => x509::OID_P384,
    };
    if let Some(curve) = curve.filter(|c| *c != cert_curve) {
        return Err(format!(
            "key on curve {}, certificate on curve {}",
            der::oid_to_string(curve),
            der::oid_to_string(cert_curve)
        ));
    }
    // RFC 5915 fixes the length; pad a shortened one.
    if private.len() > size {
        return Err(bad("private key too long"));
    }
    let mut scalar = vec![0; size - private.len()];
    scalar.extend_from_slice(private);
    let rng = ring::rand::SystemRandom::new();
    let pair =
        EcdsaKeyPair::from_private_key_and_public_key(alg, &scalar, public, &rng).map_err(|e| {
            match e.to_string().as_str() {
                "InconsistentComponents" => MISMATCH.to_string(),
                other => format!("EC key rejected: {other}"),
            }
        })?;
    Ok(SigningKey(if size == 32 {
        Inner::EcdsaP256(pair)
    } else {
        Inner::EcdsaP384(pair)
    }))
}
