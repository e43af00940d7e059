//! Certificates for the simulated nodes, made at test time (rcgen; RSA
//! keys by the openssl command line) into a temporary directory: nothing
//! private is committed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use holo_ike::ike::certificates::{CertificateConfig, LocalCredential, TrustAnchors};
use holo_ike::ike::{Config, Identity};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

/// The test certificates are valid from 2020 to the start of 2040.
pub fn after_expiry() -> SystemTime {
    // 2041-01-01T00:00:00Z.
    UNIX_EPOCH + Duration::from_secs(2_240_611_200)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    P256,
    Rsa2048,
}

pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate alone, PEM.
    pub file: PathBuf,
}

/// Files of one node: its chain and key.
#[derive(Clone, Debug)]
pub struct Credential {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl Credential {
    /// The subject DN, as the node's default ID.
    pub fn dn(&self) -> Identity {
        LocalCredential::load(&self.certificate, &self.key)
            .expect("credential loads")
            .subject_identity()
    }
}

pub struct Pki {
    dir: TempDir,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "holo-ike sim");
    dn.push(DnType::CommonName, cn);
    dn
}

fn validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
}

impl Pki {
    pub fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn write(&self, file: &str, contents: &str) -> PathBuf {
        let path = self.path(file);
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// A root CA, written as `<cn>.pem`.
    pub fn ca(&self, cn: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA");
        let file = self.write(&format!("{cn}.pem"), &issuer.pem());
        Ca { issuer, file }
    }

    /// Several CAs in one file.
    pub fn bundle(&self, file: &str, cas: &[&Ca]) -> PathBuf {
        let pem: String = cas.iter().map(|ca| ca.issuer.pem()).collect();
        self.write(file, &pem)
    }

    fn key(&self, key: Key, file: &str) -> KeyPair {
        let pair = match key {
            Key::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key"),
            Key::Rsa2048 => {
                let out = Command::new("openssl")
                    .args(["genpkey", "-algorithm", "RSA"])
                    .args(["-pkeyopt", "rsa_keygen_bits:2048", "-out", file])
                    .current_dir(self.dir.path())
                    .output()
                    .expect("the openssl command makes the RSA keys of these tests");
                assert!(out.status.success(), "openssl: {out:?}");
                let pem = std::fs::read_to_string(self.path(file)).expect("RSA key");
                KeyPair::from_pem(&pem).expect("RSA key parses")
            }
        };
        self.write(file, &pair.serialize_pem());
        pair
    }

    /// An end-entity certificate for `cn` with these alternative names,
    /// signed by `ca`: `<cn>.pem` (the certificate) and `<cn>.key`.
    pub fn issue(&self, ca: &Ca, cn: &str, key: Key, sans: &[&str]) -> Credential {
        self.issue_with(ca, cn, key, sans, |_| {})
    }

    pub fn issue_with(
        &self,
        ca: &Ca,
        cn: &str,
        key: Key,
        sans: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Credential {
        let pair = self.key(key, &format!("{cn}.key"));
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name = name(cn);
        validity(&mut params);
        adjust(&mut params);
        let cert = params.signed_by(&pair, &ca.issuer).expect("certificate");
        Credential {
            certificate: self.write(&format!("{cn}.pem"), &cert.pem()),
            key: self.path(&format!("{cn}.key")),
        }
    }
}

/// The simulation's config, authenticating with `credential` and trusting
/// the CAs of `ca` (a PEM file).
pub fn cert_config(credential: &Credential, ca: &Path) -> Config {
    let mut c = super::config();
    c.certificate = Some(CertificateConfig {
        certificate: credential.certificate.clone(),
        key: credential.key.clone(),
        ca: ca.to_path_buf(),
        more_credentials: vec![],
    });
    c
}

/// The CERTREQ hashes of the CAs in a PEM file.
pub fn ca_hashes(ca: &Path) -> Vec<[u8; 20]> {
    TrustAnchors::load(ca).expect("CA loads").ca_hashes()
}
