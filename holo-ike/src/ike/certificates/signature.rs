//! Signature AUTH methods: RFC 7427 Digital Signature (method 14) with its
//! AlgorithmIdentifiers and hash negotiation, and the classic methods 1
//! (RSA, PKCS#1 v1.5 with SHA-1) and 9/10/11 (ECDSA, RFC 4754).

use ring::signature::{self as ring_sig, UnparsedPublicKey, VerificationAlgorithm};

use super::der;
use super::x509::PublicKey;
use crate::packet::AuthMethod;

/// RFC 7427, 4 (IANA "IKEv2 Hash Algorithms"): what a
/// SIGNATURE_HASH_ALGORITHMS notify lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureHash {
    Sha256,
    Sha384,
    Sha512,
}

impl SignatureHash {
    pub fn id(self) -> u16 {
        match self {
            SignatureHash::Sha256 => 2,
            SignatureHash::Sha384 => 3,
            SignatureHash::Sha512 => 4,
        }
    }

    pub fn from_id(id: u16) -> Option<SignatureHash> {
        match id {
            2 => Some(SignatureHash::Sha256),
            3 => Some(SignatureHash::Sha384),
            4 => Some(SignatureHash::Sha512),
            _ => None,
        }
    }
}

/// The hashes we verify RFC 7427 signatures with: what our
/// SIGNATURE_HASH_ALGORITHMS notify announces.
pub const SUPPORTED_HASHES: &[SignatureHash] = &[
    SignatureHash::Sha256,
    SignatureHash::Sha384,
    SignatureHash::Sha512,
];

/// The SIGNATURE_HASH_ALGORITHMS notification data: 2-octet ids.
pub fn signature_hash_algorithms(hashes: &[SignatureHash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.id().to_be_bytes()).collect()
}

/// The hashes a peer's SIGNATURE_HASH_ALGORITHMS lists that we know; None
/// for an odd length (malformed).
pub fn parse_signature_hash_algorithms(data: &[u8]) -> Option<Vec<SignatureHash>> {
    if !data.len().is_multiple_of(2) {
        return None;
    }
    Some(
        data.chunks_exact(2)
            .filter_map(|c| SignatureHash::from_id(u16::from_be_bytes([c[0], c[1]])))
            .collect(),
    )
}

/// An RFC 7427 signature scheme: an AlgorithmIdentifier we send and accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    EcdsaSha256,
    EcdsaSha384,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash.
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
}

/// RFC 7427, A.3.1 and A.3.2: ecdsa-with-SHA256/384, no parameters.
const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
/// RFC 7427, A.1.2 to A.1.4: sha{256,384,512}WithRSAEncryption, NULL
/// parameters.
const RSA_PKCS1_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
const RSA_PKCS1_SHA384: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
];
const RSA_PKCS1_SHA512: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];
/// RFC 7427, A.4.3: id-RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32.
/// The SHA-384 and SHA-512 forms differ in the hash OIDs (last octet 02,
/// 03) and the salt (48, 64).
const RSA_PSS_SHA256: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];
const RSA_PSS_SHA384: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x30,
];
const RSA_PSS_SHA512: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x40,
];

const ALL_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::EcdsaSha256,
    SignatureScheme::EcdsaSha384,
    SignatureScheme::RsaPkcs1Sha256,
    SignatureScheme::RsaPkcs1Sha384,
    SignatureScheme::RsaPkcs1Sha512,
    SignatureScheme::RsaPssSha256,
    SignatureScheme::RsaPssSha384,
    SignatureScheme::RsaPssSha512,
];

impl SignatureScheme {
    /// The DER AlgorithmIdentifier (RFC 7427, Appendix A).
    pub fn algorithm_identifier(self) -> &'static [u8] {
        match self {
            SignatureScheme::EcdsaSha256 => ECDSA_SHA256,
            SignatureScheme::EcdsaSha384 => ECDSA_SHA384,
            SignatureScheme::RsaPkcs1Sha256 => RSA_PKCS1_SHA256,
            SignatureScheme::RsaPkcs1Sha384 => RSA_PKCS1_SHA384,
            SignatureScheme::RsaPkcs1Sha512 => RSA_PKCS1_SHA512,
            SignatureScheme::RsaPssSha256 => RSA_PSS_SHA256,
            SignatureScheme::RsaPssSha384 => RSA_PSS_SHA384,
            SignatureScheme::RsaPssSha512 => RSA_PSS_SHA512,
        }
    }

    /// The scheme of a received AlgorithmIdentifier. RSA PKCS#1 ones are
    /// also accepted without the NULL parameters, which some senders omit.
    pub fn from_algorithm_identifier(bytes: &[u8]) -> Option<SignatureScheme> {
        if let Some(s) = ALL_SCHEMES
            .iter()
            .find(|s| s.algorithm_identifier() == bytes)
        {
            return Some(*s);
        }
        [
            SignatureScheme::RsaPkcs1Sha256,
            SignatureScheme::RsaPkcs1Sha384,
            SignatureScheme::RsaPkcs1Sha512,
        ]
        .into_iter()
        .find(|s| {
            let with_null = s.algorithm_identifier();
            // 30 0d <OID, 11 octets> 05 00 -> 30 0b <OID>.
            bytes.len() == 13
                && bytes[..2] == [der::SEQUENCE, 0x0b]
                && bytes[2..] == with_null[2..13]
        })
    }

    pub fn hash(self) -> SignatureHash {
        match self {
            SignatureScheme::EcdsaSha256
            | SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPssSha256 => SignatureHash::Sha256,
            SignatureScheme::EcdsaSha384
            | SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPssSha384 => SignatureHash::Sha384,
            SignatureScheme::RsaPkcs1Sha512 | SignatureScheme::RsaPssSha512 => {
                SignatureHash::Sha512
            }
        }
    }
}

/// How we sign our AUTH payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningMethod {
    /// RFC 7427, auth method 14; only if the peer sent
    /// SIGNATURE_HASH_ALGORITHMS listing the scheme's hash (RFC 7427, 4).
    DigitalSignature(SignatureScheme),
    /// The method of the key's type: 9 (P-256) or 10 (P-384). RSA's method
    /// 1 is verify-only here.
    Classic,
}

/// Picks how to sign with schemes `ours` (our preference order) given the
/// hashes the peer announced (None: no SIGNATURE_HASH_ALGORITHMS notify).
/// None: no way we can sign that this peer is sure to verify.
pub fn choose_method(
    ours: &[SignatureScheme],
    peer_hashes: Option<&[SignatureHash]>,
) -> Option<SigningMethod> {
    let digital = peer_hashes.and_then(|hashes| {
        ours.iter()
            .find(|s| hashes.contains(&s.hash()))
            .map(|s| SigningMethod::DigitalSignature(*s))
    });
    let ecdsa = ours.iter().any(|s| {
        matches!(
            s,
            SignatureScheme::EcdsaSha256 | SignatureScheme::EcdsaSha384
        )
    });
    digital.or(ecdsa.then_some(SigningMethod::Classic))
}

/// Why a signature AUTH payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFailure {
    #[error("auth method not supported")]
    UnsupportedMethod,
    #[error("malformed RFC 7427 AUTH data")]
    Malformed,
    #[error("unsupported RFC 7427 signature algorithm")]
    UnknownAlgorithm,
    #[error("the auth method does not fit the certificate's {0} key")]
    WrongKeyType(&'static str),
    #[error("signature does not verify")]
    Invalid,
}

/// Verifies AUTH `method`/`data` over `signed_octets` with `key`.
pub(crate) fn verify_auth(
    key: PublicKey<'_>,
    method: AuthMethod,
    data: &[u8],
    signed_octets: &[u8],
) -> Result<(), SignatureFailure> {
    use SignatureFailure::*;
    let key_name = key.name();
    let (alg, key_bytes, signature): (&'static dyn VerificationAlgorithm, &[u8], &[u8]) =
        match (method, key) {
            (AuthMethod::RSA_DIGITAL_SIGNATURE, PublicKey::Rsa(k)) => (
                &ring_sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                k,
                data,
            ),
            (AuthMethod::ECDSA_SHA256_P256, PublicKey::EcdsaP256(k)) => {
                (&ring_sig::ECDSA_P256_SHA256_FIXED, k, data)
            }
            (AuthMethod::ECDSA_SHA384_P384, PublicKey::EcdsaP384(k)) => {
                (&ring_sig::ECDSA_P384_SHA384_FIXED, k, data)
            }
            (
                AuthMethod::RSA_DIGITAL_SIGNATURE
                | AuthMethod::ECDSA_SHA256_P256
                | AuthMethod::ECDSA_SHA384_P384,
                _,
            ) => return Err(WrongKeyType(key_name)),
            (AuthMethod::DIGITAL_SIGNATURE, key) => {
                let (&len, rest) = data.split_first().ok_or(Malformed)?;
                let (algorithm, signature) =
                    rest.split_at_checked(usize::from(len)).ok_or(Malformed)?;
                let scheme = SignatureScheme::from_algorithm_identifier(algorithm)
                    .ok_or(UnknownAlgorithm)?;
                let (alg, key) = digital_signature_algorithm(scheme, key)?;
                (alg, key, signature)
            }
            // ECDSA_SHA512_P521 (ring has no P-521), DSS, anything else.
            _ => return Err(UnsupportedMethod),
        };
    UnparsedPublicKey::new(alg, key_bytes)
        .verify(signed_octets, signature)
        .map_err(|_| Invalid)
}

fn digital_signature_algorithm(
    scheme: SignatureScheme,
    key: PublicKey<'_>,
) -> Result<(&'static dyn VerificationAlgorithm, &[u8]), SignatureFailure> {
    use SignatureScheme::*;
    Ok(match (scheme, key) {
        (EcdsaSha256, PublicKey::EcdsaP256(k)) => (&ring_sig::ECDSA_P256_SHA256_ASN1, k),
        (EcdsaSha384, PublicKey::EcdsaP256(k)) => (&ring_sig::ECDSA_P256_SHA384_ASN1, k),
        (EcdsaSha256, PublicKey::EcdsaP384(k)) => (&ring_sig::ECDSA_P384_SHA256_ASN1, k),
        (EcdsaSha384, PublicKey::EcdsaP384(k)) => (&ring_sig::ECDSA_P384_SHA384_ASN1, k),
        (RsaPkcs1Sha256, PublicKey::Rsa(k)) => (&ring_sig::RSA_PKCS1_2048_8192_SHA256, k),
        (RsaPkcs1Sha384, PublicKey::Rsa(k)) => (&ring_sig::RSA_PKCS1_2048_8192_SHA384, k),
        (RsaPkcs1Sha512, PublicKey::Rsa(k)) => (&ring_sig::RSA_PKCS1_2048_8192_SHA512, k),
        (RsaPssSha256, PublicKey::Rsa(k)) => (&ring_sig::RSA_PSS_2048_8192_SHA256, k),
        (RsaPssSha384, PublicKey::Rsa(k)) => (&ring_sig::RSA_PSS_2048_8192_SHA384, k),
        (RsaPssSha512, PublicKey::Rsa(k)) => (&ring_sig::RSA_PSS_2048_8192_SHA512, k),
        _ => return Err(SignatureFailure::WrongKeyType(key.name())),
    })
}
