//! The few X.509 fields IKE needs beyond path validation (RFC 5280, 4.1):
//! the subject and issuer names, the public key and the subject
//! alternative names. webpki validates the chain; this only reads.

use std::fmt::Write;

use super::der::{self, Der, DerError};

/// id-ce-subjectAltName (2.5.29.17).
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// rsaEncryption (1.2.840.113549.1.1.1).
pub(crate) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey (1.2.840.10045.2.1).
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1 (1.2.840.10045.3.1.7).
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (1.3.132.0.34).
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 (1.3.132.0.35).
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// The fields of one certificate, borrowed from its DER.
#[derive(Clone, Debug)]
pub(crate) struct CertFields<'a> {
    /// The subject Name, whole (tag included): what ID_DER_ASN1_DN carries.
    pub subject: &'a [u8],
    pub issuer: &'a [u8],
    /// SubjectPublicKeyInfo, whole: what CERTREQ hashes (RFC 7296, 3.7).
    pub spki: &'a [u8],
    pub alt_names: Vec<GeneralName<'a>>,
}

/// The GeneralName forms IKE identities map to (RFC 4945, 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GeneralName<'a> {
    Rfc822(&'a [u8]),
    Dns(&'a [u8]),
    /// A whole Name (tag included).
    Directory(&'a [u8]),
    Ip(&'a [u8]),
    Other,
}

pub(crate) fn parse(cert: &[u8]) -> Result<CertFields<'_>, DerError> {
    let cert = der::single(cert, der::SEQUENCE)?;
    let mut outer = Der::new(cert.value);
    let tbs = outer.expect(der::SEQUENCE)?;
    let mut tbs = Der::new(tbs.value);
    tbs.optional(der::explicit(0))?; // version
    tbs.expect(der::INTEGER)?; // serialNumber
    tbs.expect(der::SEQUENCE)?; // signature
    let issuer = tbs.expect(der::SEQUENCE)?.raw;
    tbs.expect(der::SEQUENCE)?; // validity
    let subject = tbs.expect(der::SEQUENCE)?.raw;
    let spki = tbs.expect(der::SEQUENCE)?.raw;
    tbs.optional(der::implicit(1))?; // issuerUniqueID
    tbs.optional(der::implicit(2))?; // subjectUniqueID
    let mut alt_names = vec![];
    if let Some(extensions) = tbs.optional(der::explicit(3))? {
        let list = der::single(extensions.value, der::SEQUENCE)?;
        let mut list = Der::new(list.value);
        while !list.is_empty() {
            let extension = list.expect(der::SEQUENCE)?;
            let mut extension = Der::new(extension.value);
            let oid = extension.expect(der::OID)?;
            extension.optional(der::BOOLEAN)?; // critical
            let value = extension.expect(der::OCTET_STRING)?;
            if oid.value == OID_SUBJECT_ALT_NAME {
                alt_names = general_names(value.value)?;
            }
        }
    }
    Ok(CertFields {
        subject,
        issuer,
        spki,
        alt_names,
    })
}

fn general_names(value: &[u8]) -> Result<Vec<GeneralName<'_>>, DerError> {
    let names = der::single(value, der::SEQUENCE)?;
    let mut names = Der::new(names.value);
    let mut out = vec![];
    while !names.is_empty() {
        let name = names.next()?;
        out.push(match name.tag {
            t if t == der::implicit(1) => GeneralName::Rfc822(name.value),
            t if t == der::implicit(2) => GeneralName::Dns(name.value),
            t if t == der::explicit(4) => GeneralName::Directory(name.value),
            t if t == der::implicit(7) => GeneralName::Ip(name.value),
            _ => GeneralName::Other,
        });
    }
    Ok(out)
}

/// A certificate's public key, as the signature checks need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey<'a> {
    /// RSAPublicKey (RFC 8017, A.1.1), DER.
    Rsa(&'a [u8]),
    /// Uncompressed points (SEC 1, 2.3.3).
    EcdsaP256(&'a [u8]),
    EcdsaP384(&'a [u8]),
    EcdsaP521(&'a [u8]),
    /// Another algorithm (its OID, dotted).
    Other(&'a [u8]),
}

impl PublicKey<'_> {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "RSA",
            PublicKey::EcdsaP256(_) => "ECDSA P-256",
            PublicKey::EcdsaP384(_) => "ECDSA P-384",
            PublicKey::EcdsaP521(_) => "ECDSA P-521",
            PublicKey::Other(_) => "unsupported",
        }
    }
}

/// Reads a whole SubjectPublicKeyInfo (RFC 5280, 4.1.2.7).
pub(crate) fn public_key(spki: &[u8]) -> Result<PublicKey<'_>, DerError> {
    let spki = der::single(spki, der::SEQUENCE)?;
    let mut spki = Der::new(spki.value);
    let algorithm = spki.expect(der::SEQUENCE)?;
    let key = der::bit_string_bytes(spki.expect(der::BIT_STRING)?.value)?;
    let mut algorithm = Der::new(algorithm.value);
    let oid = algorithm.expect(der::OID)?.value;
    if oid == OID_RSA_ENCRYPTION {
        return Ok(PublicKey::Rsa(key));
    }
    if oid != OID_EC_PUBLIC_KEY {
        return Ok(PublicKey::Other(oid));
    }
    let curve = algorithm.expect(der::OID)?.value;
    Ok(match curve {
        OID_P256 => PublicKey::EcdsaP256(key),
        OID_P384 => PublicKey::EcdsaP384(key),
        OID_P521 => PublicKey::EcdsaP521(key),
        _ => PublicKey::Other(curve),
    })
}

/// A Name as text for log lines, in encoding order like strongSwan
/// ("C=CH, O=Example, CN=hub"); values that are not strings as hex.
pub(crate) fn name_to_string(name: &[u8]) -> String {
    name_to_string_checked(name).unwrap_or_else(|_| format!("#{}", holo_utils::hex::Hex(name)))
}

fn name_to_string_checked(name: &[u8]) -> Result<String, DerError> {
    let name = der::single(name, der::SEQUENCE)?;
    let mut rdns = Der::new(name.value);
    let mut out = String::new();
    while !rdns.is_empty() {
        let rdn = rdns.expect(der::SET)?;
        let mut attributes = Der::new(rdn.value);
        while !attributes.is_empty() {
            let attribute = attributes.expect(der::SEQUENCE)?;
            let mut attribute = Der::new(attribute.value);
            let oid = attribute.expect(der::OID)?.value;
            let value = attribute.next()?;
            if !out.is_empty() {
                out.push_str(", ");
            }
            match attribute_name(oid) {
                Some(short) => out.push_str(short),
                None => out.push_str(&der::oid_to_string(oid)),
            }
            out.push('=');
            match value.tag {
                // UTF8String, PrintableString, TeletexString, IA5String.
                0x0c | 0x13 | 0x14 | 0x16 => out.push_str(&String::from_utf8_lossy(value.value)),
                _ => {
                    let _ = write!(out, "#{}", holo_utils::hex::Hex(value.raw));
                }
            }
        }
    }
    Ok(out)
}

fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "E",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        _ => return None,
    })
}
