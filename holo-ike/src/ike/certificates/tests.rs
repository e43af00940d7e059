//! Certificates made at test time (rcgen; RSA keys and key formats by the
//! openssl command line), written as PEM files to a temporary directory.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use ring::rand::SystemRandom;
use rustls_pki_types::CertificateDer;
use tempfile::TempDir;

use super::*;
use crate::ike::identity::{Identity, Secret, psk_auth};
use crate::packet::{AuthMethod, Authentication, Certificate, CertificateEncoding, IdType};

const OCTETS: &[u8] = b"IKE_SA_INIT message | peer nonce | prf(SK_p, ID')";
const HUB_FQDN: &str = "hub.example.net";
const HUB_EMAIL: &str = "hub@example.net";
const HUB_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    P256,
    P384,
    Rsa,
}

type Ca = CertifiedIssuer<'static, KeyPair>;

/// A temporary directory of PEM files: a root CA, an intermediate under
/// it, and end entities under the intermediate.
struct Pki {
    dir: TempDir,
    root: Ca,
    intermediate: Ca,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "holo-ike tests");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn root_ca(cn: &str) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    CertifiedIssuer::self_signed(ca_params(cn), key).expect("root")
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command makes RSA keys and key formats for these tests");
    assert!(status.status.success(), "openssl {args:?}: {status:?}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("readable")
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = root_ca("Test Root CA");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
        let intermediate =
            CertifiedIssuer::signed_by(ca_params("Test Intermediate CA"), key, &root)
                .expect("intermediate");
        let pki = Pki {
            dir,
            root,
            intermediate,
        };
        pki.write("ca.pem", &pki.root.pem());
        pki
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn write(&self, file: &str, contents: &str) -> PathBuf {
        let path = self.path(file);
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// A fresh key, also written as `<file>` (PKCS#8).
    fn key(&self, kind: Kind, file: &str) -> KeyPair {
        let key = match kind {
            Kind::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key"),
            Kind::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key"),
            Kind::Rsa => {
                openssl(
                    self.dir.path(),
                    &[
                        "genpkey",
                        "-algorithm",
                        "RSA",
                        "-pkeyopt",
                        "rsa_keygen_bits:2048",
                    ]
                    .into_iter()
                    .chain(["-out", file])
                    .collect::<Vec<_>>(),
                );
                KeyPair::from_pem(&read(&self.path(file))).expect("RSA key")
            }
        };
        self.write(file, &key.serialize_pem());
        key
    }

    /// The hub's end-entity certificate (all its IDs as alternative names)
    /// and chain file `<prefix>.pem`, key `<prefix>.key`.
    fn hub(&self, kind: Kind, prefix: &str, adjust: impl FnOnce(&mut CertificateParams)) {
        let key = self.key(kind, &format!("{prefix}.key"));
        let mut params =
            CertificateParams::new(vec![HUB_FQDN.into(), HUB_V4.to_string()]).expect("params");
        params.subject_alt_names.extend([
            SanType::IpAddress("2001:db8::1".parse().expect("address")),
            SanType::Rfc822Name(HUB_EMAIL.try_into().expect("email")),
        ]);
        params.distinguished_name = name(HUB_FQDN);
        adjust(&mut params);
        let cert = params.signed_by(&key, &self.intermediate).expect("cert");
        let chain = format!("{}{}", cert.pem(), self.intermediate.pem());
        self.write(&format!("{prefix}.pem"), &chain);
    }

    fn credential(&self, prefix: &str) -> LocalCredential {
        LocalCredential::load(
            &self.path(&format!("{prefix}.pem")),
            &self.path(&format!("{prefix}.key")),
        )
        .expect("credential loads")
    }

    fn anchors(&self) -> TrustAnchors {
        TrustAnchors::load(&self.path("ca.pem")).expect("CA loads")
    }
}

fn fqdn(name: &str) -> Identity {
    Identity::Fqdn(name.into())
}

fn verify(
    credential: &LocalCredential,
    anchors: &TrustAnchors,
    identity: &Identity,
    auth: &Authentication,
    octets: &[u8],
) -> Result<VerifiedPeer, PeerError> {
    let payloads = credential.cert_payloads();
    let certs = peer_certificates(&payloads);
    verify_peer(&certs, anchors, SystemTime::now(), identity, auth, octets)
}

fn sign(credential: &LocalCredential, method: SigningMethod) -> Authentication {
    let rng = SystemRandom::new();
    credential.key.sign(method, OCTETS, &rng).expect("signs")
}

#[test]
fn certificates_sign_and_verify_every_method() {
    let pki = Pki::new();
    let anchors = pki.anchors();
    let cases = [
        (
            Kind::P256,
            KeyAlgorithm::EcdsaP256,
            AuthMethod::ECDSA_SHA256_P256,
        ),
        (
            Kind::P384,
            KeyAlgorithm::EcdsaP384,
            AuthMethod::ECDSA_SHA384_P384,
        ),
    ];
    for (kind, algorithm, classic) in cases {
        pki.hub(kind, "hub", |_| {});
        let credential = pki.credential("hub");
        assert_eq!(credential.key.algorithm(), algorithm);
        assert_eq!(credential.chain.len(), 2);
        let auth = sign(&credential, SigningMethod::Classic);
        assert_eq!(auth.method, classic);
        // RFC 4754, 7: r||s, twice the field size.
        let field = if kind == Kind::P256 { 32 } else { 48 };
        assert_eq!(auth.data.len(), 2 * field);
        let peer = verify(&credential, &anchors, &fqdn(HUB_FQDN), &auth, OCTETS)
            .expect("classic ECDSA verifies");
        assert_eq!(peer.subject, "O=holo-ike tests, CN=hub.example.net");
        assert_eq!(peer.trust_anchor, "O=holo-ike tests, CN=Test Root CA");
    }

    let mut schemes_seen = vec![];
    for kind in [Kind::P256, Kind::P384, Kind::Rsa] {
        pki.hub(kind, "hub", |_| {});
        let credential = pki.credential("hub");
        for &scheme in credential.key.schemes() {
            let auth = sign(&credential, SigningMethod::DigitalSignature(scheme));
            assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE);
            let algorithm = scheme.algorithm_identifier();
            assert_eq!(usize::from(auth.data[0]), algorithm.len());
            assert_eq!(&auth.data[1..=algorithm.len()], algorithm);
            verify(&credential, &anchors, &fqdn(HUB_FQDN), &auth, OCTETS)
                .unwrap_or_else(|e| panic!("{scheme:?} verifies: {e}"));
            schemes_seen.push(scheme);
        }
    }
    assert_eq!(schemes_seen.len(), 8, "every RFC 7427 scheme was exercised");
}

#[test]
fn certificates_rsa_method_1_verifies_pkcs1_sha1() {
    let pki = Pki::new();
    pki.hub(Kind::Rsa, "hub", |_| {});
    let credential = pki.credential("hub");
    std::fs::write(pki.path("octets"), OCTETS).expect("write");
    openssl(
        pki.dir.path(),
        &["dgst", "-sha1", "-sign", "hub.key", "-out", "sig", "octets"],
    );
    let auth = Authentication {
        method: AuthMethod::RSA_DIGITAL_SIGNATURE,
        reserved: [0; 3],
        data: std::fs::read(pki.path("sig")).expect("signature"),
    };
    let anchors = pki.anchors();
    verify(&credential, &anchors, &fqdn(HUB_FQDN), &auth, OCTETS).expect("method 1 verifies");
    let err = verify(
        &credential,
        &anchors,
        &fqdn(HUB_FQDN),
        &auth,
        b"other octets",
    );
    assert!(matches!(
        err,
        Err(PeerError::Signature {
            reason: SignatureFailure::Invalid,
            ..
        })
    ));
    // We do not sign method 1 (ring has no RSA SHA-1 signing).
    let rng = SystemRandom::new();
    assert!(matches!(
        credential.key.sign(SigningMethod::Classic, OCTETS, &rng),
        Err(SignError::WrongKey { .. })
    ));
}

#[test]
fn certificates_wrong_ca_is_a_chain_error() {
    let pki = Pki::new();
    pki.hub(Kind::P256, "hub", |_| {});
    let credential = pki.credential("hub");
    let other = root_ca("Other Root CA");
    pki.write("other.pem", &other.pem());
    let anchors = TrustAnchors::load(&pki.path("other.pem")).expect("loads");
    let auth = sign(&credential, SigningMethod::Classic);
    let err = verify(&credential, &anchors, &fqdn(HUB_FQDN), &auth, OCTETS).unwrap_err();
    assert_eq!(
        err,
        PeerError::Chain {
            subject: "O=holo-ike tests, CN=hub.example.net".into(),
            error: webpki::Error::UnknownIssuer,
        }
    );
    assert!(err.to_string().contains("CN=hub.example.net"), "{err}");
    // Without the intermediate the chain is incomplete, too.
    let right = pki.anchors();
    let payloads = credential.cert_payloads();
    let only_end_entity = peer_certificates(&payloads[..1]);
    let err = verify_peer(
        &only_end_entity,
        &right,
        SystemTime::now(),
        &fqdn(HUB_FQDN),
        &auth,
        OCTETS,
    );
    assert!(matches!(err, Err(PeerError::Chain { .. })), "{err:?}");
    assert_eq!(
        verify_peer(
            &[],
            &right,
            SystemTime::now(),
            &fqdn(HUB_FQDN),
            &auth,
            OCTETS
        ),
        Err(PeerError::NoCertificate)
    );
}

#[test]
fn certificates_expired_is_a_chain_error() {
    let pki = Pki::new();
    pki.hub(Kind::P256, "hub", |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let credential = pki.credential("hub");
    let auth = sign(&credential, SigningMethod::Classic);
    let err = verify(&credential, &pki.anchors(), &fqdn(HUB_FQDN), &auth, OCTETS);
    assert!(
        matches!(
            err,
            Err(PeerError::Chain {
                error: webpki::Error::CertExpired { .. },
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn certificates_identity_must_be_in_the_certificate() {
    let pki = Pki::new();
    pki.hub(Kind::P256, "hub", |_| {});
    let credential = pki.credential("hub");
    let anchors = pki.anchors();
    let auth = sign(&credential, SigningMethod::Classic);
    let vouched = [
        fqdn(HUB_FQDN),
        fqdn("HUB.Example.NET"),
        Identity::Ipv4(HUB_V4),
        Identity::Ipv6("2001:db8::1".parse().expect("address")),
        Identity::Email(HUB_EMAIL.into()),
        credential.subject_identity(),
    ];
    for identity in &vouched {
        verify(&credential, &anchors, identity, &auth, OCTETS)
            .unwrap_or_else(|e| panic!("{identity} is vouched for: {e}"));
    }
    let not_vouched = [
        fqdn("spoke.example.net"),
        fqdn("hub.example.net.evil"),
        Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 2)),
        Identity::Email("spoke@example.net".into()),
        Identity::KeyId(vec![1, 2, 3]),
        Identity::Dn(credential.chain[1].to_vec()),
    ];
    for identity in &not_vouched {
        let err = verify(&credential, &anchors, identity, &auth, OCTETS).unwrap_err();
        match &err {
            PeerError::Identity {
                subject,
                identity: id,
                ..
            } => {
                assert_eq!(subject, "O=holo-ike tests, CN=hub.example.net");
                assert_eq!(id, identity);
            }
            other => panic!("{identity}: identity error expected, got {other:?}"),
        }
    }
}

#[test]
fn certificates_tampered_octets_fail_the_signature() {
    let pki = Pki::new();
    let anchors = pki.anchors();
    for kind in [Kind::P256, Kind::Rsa] {
        pki.hub(kind, "hub", |_| {});
        let credential = pki.credential("hub");
        let scheme = credential.key.schemes()[0];
        let auth = sign(&credential, SigningMethod::DigitalSignature(scheme));
        let mut tampered = OCTETS.to_vec();
        tampered[0] ^= 1;
        let err = verify(&credential, &anchors, &fqdn(HUB_FQDN), &auth, &tampered).unwrap_err();
        assert_eq!(
            err,
            PeerError::Signature {
                subject: "O=holo-ike tests, CN=hub.example.net".into(),
                method: AuthMethod::DIGITAL_SIGNATURE,
                reason: SignatureFailure::Invalid,
            }
        );
        let mut bad_signature = auth.clone();
        let last = bad_signature.data.len() - 1;
        bad_signature.data[last] ^= 1;
        assert!(
            verify(
                &credential,
                &anchors,
                &fqdn(HUB_FQDN),
                &bad_signature,
                OCTETS
            )
            .is_err()
        );
        let mut bad_algorithm = auth.clone();
        bad_algorithm.data[3] ^= 1;
        assert!(matches!(
            verify(
                &credential,
                &anchors,
                &fqdn(HUB_FQDN),
                &bad_algorithm,
                OCTETS
            ),
            Err(PeerError::Signature {
                reason: SignatureFailure::UnknownAlgorithm,
                ..
            })
        ));
    }

    // Methods that do not fit the key, or that we do not do.
    pki.hub(Kind::P256, "hub", |_| {});
    let credential = pki.credential("hub");
    let auth = sign(&credential, SigningMethod::Classic);
    for (method, reason) in [
        (
            AuthMethod::ECDSA_SHA384_P384,
            SignatureFailure::WrongKeyType("ECDSA P-256"),
        ),
        (
            AuthMethod::RSA_DIGITAL_SIGNATURE,
            SignatureFailure::WrongKeyType("ECDSA P-256"),
        ),
        (
            AuthMethod::ECDSA_SHA512_P521,
            SignatureFailure::UnsupportedMethod,
        ),
        (
            AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE,
            SignatureFailure::UnsupportedMethod,
        ),
    ] {
        let auth = Authentication {
            method,
            ..auth.clone()
        };
        let err = verify(&credential, &anchors, &fqdn(HUB_FQDN), &auth, OCTETS);
        assert!(
            matches!(&err, Err(PeerError::Signature { reason: r, .. }) if *r == reason),
            "{method}: {err:?}"
        );
    }
    // RFC 7427 data whose AlgorithmIdentifier length runs past the end.
    let truncated = Authentication {
        method: AuthMethod::DIGITAL_SIGNATURE,
        reserved: [0; 3],
        data: vec![200, 0x30, 0x0a],
    };
    assert!(matches!(
        verify(&credential, &anchors, &fqdn(HUB_FQDN), &truncated, OCTETS),
        Err(PeerError::Signature {
            reason: SignatureFailure::Malformed,
            ..
        })
    ));
    let rng = SystemRandom::new();
    let rsa_scheme = SigningMethod::DigitalSignature(SignatureScheme::RsaPkcs1Sha256);
    assert_eq!(
        credential.key.sign(rsa_scheme, OCTETS, &rng),
        Err(SignError::WrongKey {
            method: rsa_scheme,
            key: KeyAlgorithm::EcdsaP256,
        })
    );
}

#[test]
fn certificates_load_errors_name_the_file() {
    let pki = Pki::new();
    pki.hub(Kind::P256, "hub", |_| {});
    pki.hub(Kind::P256, "other", |_| {});
    pki.hub(Kind::P384, "p384", |_| {});
    pki.hub(Kind::Rsa, "rsa", |_| {});
    let cert = pki.path("hub.pem");

    // Another key of the same type, of another type, another curve.
    for key in ["other.key", "rsa.key", "p384.key"] {
        let err = LocalCredential::load(&cert, &pki.path(key)).unwrap_err();
        let LoadError::Key { file, error } = &err else {
            panic!("{key}: key error expected, got {err:?}");
        };
        assert_eq!(file, &pki.path(key));
        assert!(error.contains("hub.example.net"), "{error}");
        if key == "other.key" {
            assert!(error.contains("does not match"), "{error}");
        }
    }
    let err = LocalCredential::load(&pki.path("rsa.pem"), &pki.path("hub.key")).unwrap_err();
    assert!(err.to_string().contains("RSA key"), "{err}");

    let missing = pki.path("missing.pem");
    let err = LocalCredential::load(&missing, &pki.path("hub.key")).unwrap_err();
    assert!(matches!(&err, LoadError::Read { file, .. } if *file == missing));
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let empty = pki.write("empty.pem", "nothing here\n");
    assert_eq!(
        TrustAnchors::load(&empty).unwrap_err(),
        LoadError::NoCertificate {
            file: empty.clone()
        }
    );
    assert_eq!(
        LocalCredential::load(&cert, &empty).unwrap_err(),
        LoadError::NoKey { file: empty }
    );
    let encrypted = pki.write(
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let err = LocalCredential::load(&cert, &encrypted).unwrap_err();
    assert!(err.to_string().contains("encrypted"), "{err}");
    let garbage = pki.write(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    assert!(matches!(
        TrustAnchors::load(&garbage),
        Err(LoadError::Certificate { index: 0, .. })
    ));
}

#[test]
fn certificates_load_sec1_and_pkcs1_keys() {
    let pki = Pki::new();
    let anchors = pki.anchors();
    for (kind, command) in [
        (Kind::P256, &["ec"][..]),
        (Kind::P384, &["ec"][..]),
        (Kind::Rsa, &["rsa", "-traditional"][..]),
    ] {
        pki.hub(kind, "hub", |_| {});
        let args = [command, &["-in", "hub.key", "-out", "converted.key"]].concat();
        openssl(pki.dir.path(), &args);
        std::fs::rename(pki.path("converted.key"), pki.path("hub.key")).expect("rename");
        let pem = read(&pki.path("hub.key"));
        let label = if kind == Kind::Rsa {
            "-----BEGIN RSA PRIVATE KEY-----"
        } else {
            "-----BEGIN EC PRIVATE KEY-----"
        };
        assert!(pem.starts_with(label), "{kind:?}: {pem}");
        let credential = pki.credential("hub");
        let method =
            choose_method(credential.key.schemes(), Some(SUPPORTED_HASHES)).expect("a method");
        let auth = sign(&credential, method);
        verify(&credential, &anchors, &fqdn(HUB_FQDN), &auth, OCTETS)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    }
}

#[test]
fn certificates_extended_key_usage_is_permissive() {
    let pki = Pki::new();
    pki.hub(Kind::P256, "hub", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let credential = pki.credential("hub");
    let auth = sign(&credential, SigningMethod::Classic);
    verify(&credential, &pki.anchors(), &fqdn(HUB_FQDN), &auth, OCTETS)
        .expect("a clientAuth-only certificate is fine for IKE");
}

/// RFC 7427, Appendix A, as printed there.
#[test]
fn certificates_rfc7427_algorithm_identifiers() {
    let hex = |s: &str| -> Vec<u8> {
        holo_utils::hex::parse(&s.split_whitespace().collect::<String>()).expect("hex")
    };
    let appendix_a = [
        // A.1.2 to A.1.4
        (
            SignatureScheme::RsaPkcs1Sha256,
            "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0b 05 00",
        ),
        (
            SignatureScheme::RsaPkcs1Sha384,
            "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0c 05 00",
        ),
        (
            SignatureScheme::RsaPkcs1Sha512,
            "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0d 05 00",
        ),
        // A.3.1, A.3.2
        (
            SignatureScheme::EcdsaSha256,
            "30 0a 06 08 2a 86 48 ce 3d 04 03 02",
        ),
        (
            SignatureScheme::EcdsaSha384,
            "30 0a 06 08 2a 86 48 ce 3d 04 03 03",
        ),
        // A.4.3
        (
            SignatureScheme::RsaPssSha256,
            "30 41 06 09 2a 86 48 86 f7 0d 01 01 0a 30 34 a0 0f 30 0d 06 09 60 86 48 01 65 03 04 \
             02 01 05 00 a1 1c 30 1a 06 09 2a 86 48 86 f7 0d 01 01 08 30 0d 06 09 60 86 48 01 \
             65 03 04 02 01 05 00 a2 03 02 01 20",
        ),
    ];
    for (scheme, text) in appendix_a {
        assert_eq!(scheme.algorithm_identifier(), hex(text), "{scheme:?}");
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&hex(text)),
            Some(scheme)
        );
    }
    // The PSS forms for SHA-384/512 are the pki-types ones, wrapped.
    for (scheme, contents) in [
        (
            SignatureScheme::RsaPssSha384,
            rustls_pki_types::alg_id::RSA_PSS_SHA384,
        ),
        (
            SignatureScheme::RsaPssSha512,
            rustls_pki_types::alg_id::RSA_PSS_SHA512,
        ),
    ] {
        assert_eq!(
            scheme.algorithm_identifier(),
            der::encode(der::SEQUENCE, contents.as_ref())
        );
    }
    // sha256WithRSAEncryption without its NULL parameters.
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(&hex("30 0b 06 09 2a 86 48 86 f7 0d 01 01 0b")),
        Some(SignatureScheme::RsaPkcs1Sha256)
    );
    // A.1.1 (sha1WithRSAEncryption) is refused.
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(&hex(
            "30 0d 06 09 2a 86 48 86 f7 0d 01 01 05 05 00"
        )),
        None
    );
}

#[test]
fn certificates_hash_negotiation() {
    use SignatureHash::*;
    assert_eq!(
        signature_hash_algorithms(SUPPORTED_HASHES),
        [0, 2, 0, 3, 0, 4]
    );
    assert_eq!(
        parse_signature_hash_algorithms(&[0, 1, 0, 3, 0, 5, 0, 2]),
        Some(vec![Sha384, Sha256])
    );
    assert_eq!(parse_signature_hash_algorithms(&[0, 2, 0]), None);

    let rsa = &[
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPkcs1Sha384,
    ][..];
    let p256 = &[SignatureScheme::EcdsaSha256][..];
    assert_eq!(
        choose_method(rsa, Some(&[Sha512, Sha384])),
        Some(SigningMethod::DigitalSignature(
            SignatureScheme::RsaPkcs1Sha384
        ))
    );
    assert_eq!(choose_method(rsa, None), None);
    assert_eq!(choose_method(rsa, Some(&[Sha512])), None);
    assert_eq!(
        choose_method(p256, Some(&[Sha256])),
        Some(SigningMethod::DigitalSignature(
            SignatureScheme::EcdsaSha256
        ))
    );
    assert_eq!(choose_method(p256, None), Some(SigningMethod::Classic));
    assert_eq!(
        choose_method(p256, Some(&[Sha512])),
        Some(SigningMethod::Classic)
    );
}

#[test]
fn certificates_certreq_hashes_and_choice() {
    let pki = Pki::new();
    pki.hub(Kind::P256, "hub", |_| {});
    let other = root_ca("Other Root CA");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = CertificateParams::new(vec!["spoke.example.net".into()]).expect("params");
    params.distinguished_name = name("spoke.example.net");
    let cert = params.signed_by(&key, &other).expect("cert");
    pki.write("spoke.pem", &cert.pem());
    pki.write("spoke.key", &key.serialize_pem());
    pki.write("both.pem", &format!("{}{}", pki.root.pem(), other.pem()));
    let anchors = TrustAnchors::load(&pki.path("both.pem")).expect("loads");
    assert_eq!(anchors.len(), 2);

    // RFC 7296, 3.7: SHA-1 of each CA's SubjectPublicKeyInfo.
    let sha1 = |spki: &[u8]| -> [u8; 20] {
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, spki);
        d.as_ref().try_into().expect("20 octets")
    };
    let root_hash = sha1(&pki.root.key().subject_public_key_info());
    let other_hash = sha1(&other.key().subject_public_key_info());
    let intermediate_hash = sha1(&pki.intermediate.key().subject_public_key_info());
    assert_eq!(anchors.ca_hashes(), vec![root_hash, other_hash]);
    let certreq = anchors.certreq();
    assert_eq!(
        certreq.encoding,
        CertificateEncoding::X509_CERTIFICATE_SIGNATURE
    );
    assert_eq!(certreq.data, [root_hash, other_hash].concat());
    assert_eq!(requested_cas([&certreq]), vec![root_hash, other_hash]);
    assert_eq!(parse_certreq(&certreq.data[..30]), None);

    let credentials = [pki.credential("hub"), pki.credential("spoke")];
    assert_eq!(
        credentials[0].issuer_hashes(&anchors),
        vec![intermediate_hash, root_hash]
    );
    assert_eq!(credentials[1].issuer_hashes(&anchors), vec![other_hash]);
    let chosen = |requested: &[CaKeyHash]| {
        choose_credential(&credentials, &anchors, requested).map(LocalCredential::subject)
    };
    assert_eq!(
        chosen(&[other_hash]).as_deref(),
        Some("O=holo-ike tests, CN=spoke.example.net")
    );
    assert_eq!(
        chosen(&[other_hash, root_hash]).as_deref(),
        Some("O=holo-ike tests, CN=hub.example.net")
    );
    assert_eq!(
        chosen(&[intermediate_hash]).as_deref(),
        Some("O=holo-ike tests, CN=hub.example.net")
    );
    assert_eq!(chosen(&[[7; 20]]), None);
    assert_eq!(chosen(&[]), None);
}

#[test]
fn certificates_payloads_and_identities() {
    let pki = Pki::new();
    pki.hub(Kind::P256, "hub", |_| {});
    let credential = pki.credential("hub");
    let mut payloads = credential.cert_payloads();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].data, credential.chain[0].to_vec());
    payloads.insert(
        1,
        Certificate {
            encoding: CertificateEncoding::CERTIFICATE_REVOCATION_LIST,
            data: vec![1, 2, 3],
        },
    );
    let certs: Vec<CertificateDer<'_>> = peer_certificates(&payloads);
    assert_eq!(certs, credential.chain);

    let dn = credential.subject_identity();
    let payload = dn.to_payload();
    assert_eq!(payload.id_type, IdType::ID_DER_ASN1_DN);
    assert_eq!(Identity::from_payload(&payload), Some(dn.clone()));
    assert_eq!(dn.to_string(), "dn:O=holo-ike tests, CN=hub.example.net");
    let address = Identity::from_address(IpAddr::V4(HUB_V4));
    assert_eq!(Identity::from_payload(&address.to_payload()), Some(address));
    assert_eq!(format!("{:?}", credential.key), "SigningKey(ECDSA P-256)");
}

#[test]
fn certificates_signed_octets_match_the_psk_construction() {
    let prf = crate::crypto::PrfAlgorithm::HmacSha256;
    let id = Identity::Fqdn(HUB_FQDN.into()).to_payload();
    let octets = signed_octets(prf, b"message", b"nonce", b"sk_p", &id);
    assert!(octets.starts_with(b"messagenonce"));
    assert_eq!(octets.len(), 12 + prf.output_len());
    let secret = Secret::from("secret");
    let key = prf.prf(b"secret", &[b"Key Pad for IKEv2"]);
    assert_eq!(
        psk_auth(prf, &secret, b"message", b"nonce", b"sk_p", &id),
        prf.prf(&key, &[&octets])
    );
}

#[test]
fn certificates_config_loads_both_files() {
    let pki = Pki::new();
    pki.hub(Kind::P384, "hub", |_| {});
    let config = CertificateConfig {
        certificate: pki.path("hub.pem"),
        key: pki.path("hub.key"),
        ca: pki.path("ca.pem"),
        more_credentials: vec![],
    };
    let (credential, anchors) = config.load().expect("loads");
    assert_eq!(credential.subject(), "O=holo-ike tests, CN=hub.example.net");
    assert_eq!(
        anchors.subjects(),
        vec!["O=holo-ike tests, CN=Test Root CA"]
    );
    let missing_ca = CertificateConfig {
        ca: pki.path("nope.pem"),
        ..config
    };
    assert!(matches!(
        missing_ca.load(),
        Err(LoadError::Read { file, .. }) if file == pki.path("nope.pem")
    ));
}
