//! `dmvpn-ipsec` configuration: the leaves of one profile (data path ->
//! value, as the northbound's changes give them) become a [`Protection`];
//! what the core cannot run is refused naming the leaf.
//!
//! Proposals are taken in the order of their sequence numbers; within one,
//! every combination of its algorithms is offered, the strongest first
//! (the order of [`ENCRYPTIONS`], [`INTEGRITIES`] and [`GROUPS`]), because
//! the northbound's leaves do not keep the order a leaf-list was written
//! in.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use northbound::Refusal;

use crate::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use crate::ike::certificates::CertificateConfig;
use crate::ike::{Config, EspProposal, Identity, IkeProposal, Mode, Secret};
use crate::protection::Protection;
use crate::yang::dmvpn_ipsec::ipsec::profile;

/// The configuration leaves: data path -> value (`None`: a node without
/// value).
pub type Leaves = BTreeMap<String, Option<String>>;

/// Encryption algorithms, strongest first, with their YANG names.
pub const ENCRYPTIONS: [(&str, EncrAlgorithm); 4] = [
    ("aes-gcm-256", EncrAlgorithm::AesGcm16_256),
    ("aes-gcm-128", EncrAlgorithm::AesGcm16_128),
    ("aes-cbc-256", EncrAlgorithm::AesCbc256),
    ("aes-cbc-128", EncrAlgorithm::AesCbc128),
];

/// Integrity algorithms and the PRF on the same hash, strongest first.
pub const INTEGRITIES: [(&str, IntegAlgorithm, PrfAlgorithm); 4] = [
    (
        "sha512",
        IntegAlgorithm::HmacSha512_256,
        PrfAlgorithm::HmacSha512,
    ),
    (
        "sha384",
        IntegAlgorithm::HmacSha384_192,
        PrfAlgorithm::HmacSha384,
    ),
    (
        "sha256",
        IntegAlgorithm::HmacSha256_128,
        PrfAlgorithm::HmacSha256,
    ),
    ("sha1", IntegAlgorithm::HmacSha1_96, PrfAlgorithm::HmacSha1),
];

/// Diffie-Hellman groups, strongest first.
pub const GROUPS: [(&str, DhGroup); 5] = [
    ("curve25519", DhGroup::Curve25519),
    ("ecp-384", DhGroup::Ecp384),
    ("ecp-256", DhGroup::Ecp256),
    ("modp-2048", DhGroup::Modp2048),
    ("modp-1536", DhGroup::Modp1536),
];

/// Whether profile `name` exists.
pub fn has_profile(leaves: &Leaves, name: &str) -> bool {
    leaves.contains_key(&format!("{}/{}", profile::entry(name), profile::NAME))
}

/// The profile a leaf belongs to (its name), for a change under
/// `/dmvpn-ipsec:ipsec/profile`.
pub fn profile_name(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(profile::PATH)?.strip_prefix("[name='")?;
    Some(rest.split_once("']")?.0)
}

/// The configuration of profile `name`; `None` when there is no such
/// profile.
pub fn protection(leaves: &Leaves, name: &str) -> Result<Option<Protection>, Refusal> {
    if !has_profile(leaves, name) {
        return Ok(None);
    }
    let base = profile::entry(name);
    let leaf = |path: &str| format!("{base}/{path}");
    let mut ike = Config::cisco_defaults();

    let proposals = ike_proposals(leaves, &leaf(profile::ike::PROPOSAL))?;
    if !proposals.is_empty() {
        ike.ike_proposals = proposals;
    }
    let proposals = esp_proposals(leaves, &leaf(profile::esp::PROPOSAL))?;
    if !proposals.is_empty() {
        ike.esp_proposals = proposals;
    }
    if let Some(secs) = parse(leaves, &leaf(profile::ike::LIFETIME), "seconds")? {
        ike.ike_lifetime = Duration::from_secs(secs);
    }
    if let Some(secs) = parse::<u64>(leaves, &leaf(profile::ike::DPD_INTERVAL), "seconds")? {
        ike.dpd_interval = (secs > 0).then(|| Duration::from_secs(secs));
    }
    if let Some(group) = leaves.get(&leaf(profile::esp::PFS)).cloned().flatten() {
        ike.pfs = GROUPS
            .iter()
            .find(|(name, _)| *name == group)
            .map(|(_, group)| *group);
    }
    if let Some(secs) = parse(leaves, &leaf(profile::esp::LIFETIME), "seconds")? {
        ike.child_lifetime = Duration::from_secs(secs);
    }
    let kilobytes = leaf(profile::esp::LIFETIME_KILOBYTES);
    if let Some(kb) = parse::<u64>(leaves, &kilobytes, "kilobytes")? {
        ike.child_lifetime_bytes = (kb > 0).then_some(kb * 1024);
    }
    if let Some(mode) = leaves.get(&leaf(profile::esp::MODE)).cloned().flatten() {
        ike.mode = match mode.as_str() {
            "tunnel" => Mode::Tunnel,
            _ => Mode::Transport,
        };
    }
    ike.force_encap = parse(
        leaves,
        &leaf(profile::nat::FORCE_ENCAPSULATION),
        "a boolean",
    )?
    .unwrap_or(false);
    if let Some(secs) = parse::<u64>(leaves, &leaf(profile::nat::KEEPALIVE), "seconds")? {
        ike.nat_keepalive = (secs > 0).then(|| Duration::from_secs(secs));
    }
    ike.local_id = identity(leaves, &leaf(profile::ike::LOCAL_IDENTITY))?;
    ike.remote_id = identity(leaves, &leaf(profile::ike::REMOTE_IDENTITY))?;
    pre_shared_keys(leaves, &leaf(profile::ike::PRE_SHARED_KEY), &mut ike)?;
    ike.certificate = certificate(leaves, &leaf(profile::ike::CERTIFICATE));
    let replay_window =
        parse(leaves, &leaf(profile::esp::REPLAY_WINDOW), "a number")?.unwrap_or(64);
    Ok(Some(Protection {
        profile: name.to_owned(),
        ike,
        replay_window,
    }))
}

/// The IKE proposals under `list` (the proposal list's path), by sequence
/// number.
fn ike_proposals(leaves: &Leaves, list: &str) -> Result<Vec<IkeProposal>, Refusal> {
    use profile::ike::proposal;
    let mut out = Vec::new();
    for (sequence, entry) in sequences(leaves, list)? {
        let field = |name: &str| format!("{entry}/{name}");
        let encryptions = pick(leaves, &field(proposal::ENCRYPTION), &ENCRYPTIONS, |e| e.1);
        let integrities = pick(leaves, &field(proposal::INTEGRITY), &INTEGRITIES, |e| e.1);
        // Without PRFs, each integrity algorithm brings the PRF on its own
        // hash, and AES-GCM PRF-SHA256 (what strongSwan and Cisco pair).
        let prfs = pick(leaves, &field(proposal::PRF), &INTEGRITIES, |e| e.2);
        let groups = pick(leaves, &field(proposal::GROUP), &GROUPS, |e| e.1);
        if groups.is_empty() {
            return Err(Refusal::new(
                Some(&field(proposal::GROUP)),
                format!("IKE proposal {sequence} needs a Diffie-Hellman group"),
            ));
        }
        for &encr in &encryptions {
            let integs: Vec<Option<IntegAlgorithm>> = match encr.is_aead() {
                true => vec![None],
                false if integrities.is_empty() => {
                    return Err(Refusal::new(
                        Some(&field(proposal::INTEGRITY)),
                        format!("IKE proposal {sequence}: AES-CBC needs an integrity algorithm"),
                    ));
                }
                false => integrities.iter().copied().map(Some).collect(),
            };
            for &integ in &integs {
                let own = [integ.map_or(PrfAlgorithm::HmacSha256, prf_of)];
                let prfs = if prfs.is_empty() { &own[..] } else { &prfs[..] };
                for &prf in prfs {
                    for &dh in &groups {
                        out.push(IkeProposal {
                            encr,
                            integ,
                            prf,
                            dh,
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The ESP proposals under `list`, by sequence number.
fn esp_proposals(leaves: &Leaves, list: &str) -> Result<Vec<EspProposal>, Refusal> {
    use profile::esp::proposal;
    let mut out = Vec::new();
    for (sequence, entry) in sequences(leaves, list)? {
        let field = |name: &str| format!("{entry}/{name}");
        let encryptions = pick(leaves, &field(proposal::ENCRYPTION), &ENCRYPTIONS, |e| e.1);
        let integrities = pick(leaves, &field(proposal::INTEGRITY), &INTEGRITIES, |e| e.1);
        let esn = parse(leaves, &field(proposal::ESN), "a boolean")?.unwrap_or(false);
        for &encr in &encryptions {
            if encr.is_aead() {
                out.push(EspProposal {
                    encr,
                    integ: None,
                    esn,
                });
                continue;
            }
            if integrities.is_empty() {
                return Err(Refusal::new(
                    Some(&field(proposal::INTEGRITY)),
                    format!("ESP proposal {sequence}: AES-CBC needs an integrity algorithm"),
                ));
            }
            for &integ in &integrities {
                out.push(EspProposal {
                    encr,
                    integ: Some(integ),
                    esn,
                });
            }
        }
    }
    Ok(out)
}

/// The PRF on the hash of an integrity algorithm.
fn prf_of(integ: IntegAlgorithm) -> PrfAlgorithm {
    INTEGRITIES
        .iter()
        .find(|(_, i, _)| *i == integ)
        .map_or(PrfAlgorithm::HmacSha256, |(_, _, prf)| *prf)
}

/// The entries of a list keyed by `sequence`: (number, entry path), lowest
/// first.
fn sequences(leaves: &Leaves, list: &str) -> Result<Vec<(u16, String)>, Refusal> {
    let prefix = format!("{list}[sequence='");
    let keys: BTreeSet<&str> = leaves
        .range(prefix.clone()..)
        .take_while(|(path, _)| path.starts_with(&prefix))
        .filter_map(|(path, _)| Some(path.strip_prefix(&prefix)?.split_once("']")?.0))
        .collect();
    let mut out = Vec::new();
    for key in keys {
        let sequence = key.parse().map_err(|_| {
            Refusal::new(Some(&format!("{prefix}{key}']")), "not a sequence number")
        })?;
        out.push((sequence, format!("{prefix}{key}']")));
    }
    out.sort_by_key(|(sequence, _)| *sequence);
    Ok(out)
}

/// The values of leaf-list `path` that `table` names, in the table's order
/// (strongest first).
fn pick<E: Copy + Named, T>(
    leaves: &Leaves,
    path: &str,
    table: &[E],
    map: impl Fn(&E) -> T,
) -> Vec<T> {
    let prefix = format!("{path}[");
    let values: BTreeSet<&str> = leaves
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .filter_map(|(_, value)| value.as_deref())
        .collect();
    table
        .iter()
        .filter(|entry| values.contains(entry.name()))
        .map(map)
        .collect()
}

/// A table entry with its YANG enum name first.
trait Named {
    fn name(&self) -> &str;
}

impl<A> Named for (&str, A) {
    fn name(&self) -> &str {
        self.0
    }
}

impl<A, B> Named for (&str, A, B) {
    fn name(&self) -> &str {
        self.0
    }
}

/// The identity in container `path` (grouping `identity`), if any.
fn identity(leaves: &Leaves, path: &str) -> Result<Option<Identity>, Refusal> {
    use profile::ike::local_identity as id;
    let field = |name: &str| {
        let leaf = format!("{path}/{}", name.rsplit('/').next().unwrap_or(name));
        (leaves.get(&leaf).cloned().flatten(), leaf)
    };
    if let (Some(address), leaf) = field(id::ADDRESS) {
        let address: IpAddr = address
            .parse()
            .map_err(|_| Refusal::new(Some(&leaf), "not an IP address"))?;
        return Ok(Some(Identity::from_address(address)));
    }
    if let (Some(fqdn), _) = field(id::FQDN) {
        return Ok(Some(Identity::Fqdn(fqdn)));
    }
    if let (Some(email), _) = field(id::EMAIL) {
        return Ok(Some(Identity::Email(email)));
    }
    if let (Some(key_id), _) = field(id::KEY_ID) {
        return Ok(Some(Identity::KeyId(key_id.into_bytes())));
    }
    Ok(None)
}

/// The files of `ike/certificate` (a presence container; YANG makes its
/// three leaves mandatory): certificate authentication instead of PSK.
fn certificate(leaves: &Leaves, container: &str) -> Option<CertificateConfig> {
    use profile::ike::certificate as cert;
    if !leaves.contains_key(container) {
        return None;
    }
    let file = |name: &str| {
        let leaf = format!("{container}/{}", name.rsplit('/').next().unwrap_or(name));
        PathBuf::from(leaves.get(&leaf).cloned().flatten().unwrap_or_default())
    };
    Some(CertificateConfig {
        certificate: file(cert::CERTIFICATE),
        key: file(cert::PRIVATE_KEY),
        ca: file(cert::CA),
        more_credentials: Vec::new(),
    })
}

/// The keyring: each entry by identity, address or for any peer.
fn pre_shared_keys(leaves: &Leaves, list: &str, ike: &mut Config) -> Result<(), Refusal> {
    use profile::ike::pre_shared_key as psk;
    let prefix = format!("{list}[name='");
    let names: BTreeSet<&str> = leaves
        .range(prefix.clone()..)
        .take_while(|(path, _)| path.starts_with(&prefix))
        .filter_map(|(path, _)| Some(path.strip_prefix(&prefix)?.split_once("']")?.0))
        .collect();
    for name in names {
        let entry = format!("{prefix}{name}']");
        let field = |leaf: &str| format!("{entry}/{leaf}");
        let secret = leaves
            .get(&field(psk::SECRET))
            .cloned()
            .flatten()
            .ok_or_else(|| {
                Refusal::new(Some(&field(psk::SECRET)), "a pre-shared key needs a secret")
            })?;
        let secret = Secret::new(secret.into_bytes());
        if let Some(address) = leaves.get(&field(psk::ADDRESS)).cloned().flatten() {
            let address: IpAddr = address
                .parse()
                .map_err(|_| Refusal::new(Some(&field(psk::ADDRESS)), "not an IP address"))?;
            ike.psk.by_address.insert(address, secret);
        } else if let Some(identity) = leaves.get(&field(psk::IDENTITY)).cloned().flatten() {
            let identity = Identity::from_str(&identity)
                .map_err(|_| Refusal::new(Some(&field(psk::IDENTITY)), "not an identity"))?;
            ike.psk.by_identity.insert(identity, secret);
        } else if leaves.contains_key(&field(psk::ANY)) {
            ike.psk.wildcard = Some(secret);
        } else {
            return Err(Refusal::new(
                Some(&entry),
                "a pre-shared key needs an address, an identity or any",
            ));
        }
    }
    Ok(())
}

/// Leaf `path` parsed as a `T`; `what` names the expected kind in the
/// refusal.
fn parse<T: FromStr>(leaves: &Leaves, path: &str, what: &str) -> Result<Option<T>, Refusal> {
    let Some(value) = leaves.get(path).cloned().flatten() else {
        return Ok(None);
    };
    value
        .parse()
        .map(Some)
        .map_err(|_| Refusal::new(Some(path), format!("not {what}: {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/dmvpn-ipsec:ipsec/profile[name='dmvpn']";

    fn leaves(pairs: &[(&str, &str)]) -> Leaves {
        let mut leaves = Leaves::new();
        leaves.insert(format!("{P}/name"), Some("dmvpn".to_owned()));
        for (path, value) in pairs {
            leaves.insert(format!("{P}/{path}"), Some((*value).to_owned()));
        }
        leaves
    }

    #[test]
    fn no_profile_is_none_and_an_empty_one_takes_the_defaults() {
        assert_eq!(protection(&Leaves::new(), "dmvpn"), Ok(None));
        let p = protection(&leaves(&[]), "dmvpn").unwrap().unwrap();
        assert_eq!(p.profile, "dmvpn");
        assert_eq!(p.ike, Config::cisco_defaults());
        assert_eq!(p.replay_window, 64);
    }

    #[test]
    fn proposals_by_sequence_each_strongest_first() {
        let l = leaves(&[
            (
                "ike/proposal[sequence='20']/encryption[.='aes-gcm-128']",
                "aes-gcm-128",
            ),
            (
                "ike/proposal[sequence='20']/group[.='curve25519']",
                "curve25519",
            ),
            (
                "ike/proposal[sequence='5']/encryption[.='aes-cbc-128']",
                "aes-cbc-128",
            ),
            (
                "ike/proposal[sequence='5']/encryption[.='aes-cbc-256']",
                "aes-cbc-256",
            ),
            ("ike/proposal[sequence='5']/integrity[.='sha1']", "sha1"),
            ("ike/proposal[sequence='5']/integrity[.='sha512']", "sha512"),
            (
                "ike/proposal[sequence='5']/group[.='modp-1536']",
                "modp-1536",
            ),
            ("ike/proposal[sequence='5']/group[.='ecp-256']", "ecp-256"),
            (
                "esp/proposal[sequence='10']/encryption[.='aes-cbc-128']",
                "aes-cbc-128",
            ),
            ("esp/proposal[sequence='10']/integrity[.='sha1']", "sha1"),
            ("esp/proposal[sequence='10']/esn", "true"),
        ]);
        let ike = protection(&l, "dmvpn").unwrap().unwrap().ike;
        let names: Vec<_> = ike
            .ike_proposals
            .iter()
            .map(|p| (p.encr, p.integ, p.prf, p.dh))
            .collect();
        use DhGroup::*;
        use EncrAlgorithm::*;
        use IntegAlgorithm::*;
        use PrfAlgorithm::*;
        // Sequence 5 before 20; AES-256 before AES-128, SHA-512 before
        // SHA-1 (each with its own PRF), ECP-256 before MODP-1536.
        assert_eq!(
            names[0],
            (AesCbc256, Some(HmacSha512_256), HmacSha512, Ecp256)
        );
        assert_eq!(
            names[1],
            (AesCbc256, Some(HmacSha512_256), HmacSha512, Modp1536)
        );
        assert_eq!(names[2], (AesCbc256, Some(HmacSha1_96), HmacSha1, Ecp256));
        assert_eq!(
            names[4],
            (AesCbc128, Some(HmacSha512_256), HmacSha512, Ecp256)
        );
        assert_eq!(names.len(), 2 * 2 * 2 + 1);
        assert_eq!(names[8], (AesGcm16_128, None, HmacSha256, Curve25519));
        assert_eq!(
            ike.esp_proposals,
            [EspProposal {
                encr: AesCbc128,
                integ: Some(HmacSha1_96),
                esn: true
            }]
        );
    }

    #[test]
    fn keys_identities_and_options() {
        let l = leaves(&[
            ("ike/pre-shared-key[name='hub']/address", "192.0.2.1"),
            ("ike/pre-shared-key[name='hub']/secret", "for-the-hub"),
            ("ike/pre-shared-key[name='s1']/identity", "s1.example"),
            ("ike/pre-shared-key[name='s1']/secret", "for-s1"),
            ("ike/pre-shared-key[name='rest']/secret", "for-everyone"),
            ("ike/local-identity/fqdn", "hub.example"),
            ("ike/remote-identity/address", "192.0.2.9"),
            ("ike/lifetime", "28800"),
            ("ike/dpd-interval", "0"),
            ("esp/lifetime", "1800"),
            ("esp/lifetime-kilobytes", "102400"),
            ("esp/mode", "tunnel"),
            ("esp/pfs", "ecp-384"),
            ("esp/replay-window", "1024"),
            ("nat/force-encapsulation", "true"),
            ("nat/keepalive", "30"),
        ]);
        let mut l = l;
        l.insert(format!("{P}/ike/pre-shared-key[name='rest']/any"), None);
        let p = protection(&l, "dmvpn").unwrap().unwrap();
        let ike = &p.ike;
        assert_eq!(ike.local_id, Some(Identity::Fqdn("hub.example".into())));
        assert_eq!(
            ike.remote_id,
            Some(Identity::Ipv4("192.0.2.9".parse().unwrap()))
        );
        assert_eq!(ike.psk.by_address.len(), 1);
        assert_eq!(ike.psk.by_identity.len(), 1);
        assert!(ike.psk.wildcard.is_some());
        assert_eq!(ike.ike_lifetime, Duration::from_secs(28800));
        assert_eq!(ike.dpd_interval, None);
        assert_eq!(ike.child_lifetime, Duration::from_secs(1800));
        assert_eq!(ike.child_lifetime_bytes, Some(100 * 1024 * 1024));
        assert_eq!(ike.nat_keepalive, Some(Duration::from_secs(30)));
        assert_eq!(ike.mode, Mode::Tunnel);
        assert_eq!(ike.pfs, Some(DhGroup::Ecp384));
        assert!(ike.force_encap);
        assert_eq!(p.replay_window, 1024);
        assert_eq!(ike.certificate, None);
    }

    #[test]
    fn zero_disables_the_byte_lifetime_and_the_keepalives() {
        let l = leaves(&[("esp/lifetime-kilobytes", "0"), ("nat/keepalive", "0")]);
        let ike = protection(&l, "dmvpn").unwrap().unwrap().ike;
        assert_eq!(ike.child_lifetime_bytes, None);
        assert_eq!(ike.nat_keepalive, None);
        // The YANG defaults are the core's.
        let l = leaves(&[
            ("esp/lifetime-kilobytes", "4608000"),
            ("nat/keepalive", "20"),
        ]);
        let ike = protection(&l, "dmvpn").unwrap().unwrap().ike;
        assert_eq!(ike, Config::cisco_defaults());
        let bad = leaves(&[("esp/lifetime-kilobytes", "lots")]);
        assert!(protection(&bad, "dmvpn").is_err());
    }

    #[test]
    fn a_certificate_container_means_certificate_authentication() {
        let mut l = leaves(&[
            ("ike/certificate/certificate", "/etc/dmvpnd/hub.pem"),
            ("ike/certificate/private-key", "/etc/dmvpnd/hub.key"),
            ("ike/certificate/ca", "/etc/dmvpnd/ca.pem"),
        ]);
        l.insert(format!("{P}/ike/certificate"), None);
        let ike = protection(&l, "dmvpn").unwrap().unwrap().ike;
        let cert = ike.certificate.unwrap();
        assert_eq!(cert.certificate, PathBuf::from("/etc/dmvpnd/hub.pem"));
        assert_eq!(cert.key, PathBuf::from("/etc/dmvpnd/hub.key"));
        assert_eq!(cert.ca, PathBuf::from("/etc/dmvpnd/ca.pem"));
    }

    #[test]
    fn what_cannot_run_is_refused_naming_the_leaf() {
        let cbc_alone = leaves(&[(
            "esp/proposal[sequence='10']/encryption[.='aes-cbc-128']",
            "aes-cbc-128",
        )]);
        let refusal = protection(&cbc_alone, "dmvpn").unwrap_err();
        assert_eq!(
            refusal.path.as_deref(),
            Some(&*format!("{P}/esp/proposal[sequence='10']/integrity"))
        );
        let no_group = leaves(&[(
            "ike/proposal[sequence='1']/encryption[.='aes-gcm-256']",
            "aes-gcm-256",
        )]);
        assert!(
            protection(&no_group, "dmvpn")
                .unwrap_err()
                .reason
                .contains("Diffie-Hellman")
        );
        let no_secret = leaves(&[("ike/pre-shared-key[name='x']/address", "192.0.2.1")]);
        assert!(
            protection(&no_secret, "dmvpn")
                .unwrap_err()
                .reason
                .contains("secret")
        );
        let bad_address = leaves(&[
            ("ike/pre-shared-key[name='x']/address", "not-an-address"),
            ("ike/pre-shared-key[name='x']/secret", "long-enough"),
        ]);
        assert!(protection(&bad_address, "dmvpn").is_err());
    }

    #[test]
    fn a_change_names_its_profile() {
        assert_eq!(profile_name(&format!("{P}/ike/lifetime")), Some("dmvpn"));
        assert_eq!(profile_name("/dmvpn-ipsec:ipsec"), None);
        assert_eq!(
            profile_name("/ietf-interfaces:interfaces/interface[name='x']"),
            None
        );
    }
}
