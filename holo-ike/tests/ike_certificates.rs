//! IKE_AUTH with certificates between two in-memory instances (RFC 7296,
//! 2.15; RFC 7427): ECDSA and RSA in both directions, the refusals (CA,
//! expiry, ID, a PSK peer, files that do not load), CERTREQ, and a rekey
//! of a certificate-authenticated IKE SA.

mod ike_sim;

use std::time::Duration;

use holo_ike::ike::certificates::{LoadError, PeerError};
use holo_ike::ike::{Config, Error, Identity, Input, Level, Notification};
use holo_ike::packet::{ExchangeType, Message, PayloadBody};
use ike_sim::pki::{Key, Pki, after_expiry, ca_hashes, cert_config};
use ike_sim::*;

/// Two nodes with certificates of `key` from the same CA: node 0 is
/// `spoke`, node 1 is `hub`.
fn pair(pki: &Pki, key: Key) -> (Config, Config, [Identity; 2]) {
    let ca = pki.ca("Sim Root CA");
    let spoke = pki.issue(&ca, "spoke.example.net", key, &["spoke.example.net"]);
    let hub = pki.issue(
        &ca,
        "hub.example.net",
        key,
        &["hub.example.net", "10.0.0.2"],
    );
    (
        cert_config(&spoke, &ca.file),
        cert_config(&hub, &ca.file),
        [spoke.dn(), hub.dn()],
    )
}

fn up(net: &Net, i: usize) -> Vec<(Identity, Identity)> {
    net.nodes[i]
        .notifications
        .iter()
        .filter_map(|n| match n {
            Notification::IkeSaUp {
                local_id,
                remote_id,
                ..
            } => Some((local_id.clone(), remote_id.clone())),
            _ => None,
        })
        .collect()
}

/// Neither node has an IKE SA or a child SA left, and both counted the
/// authentication failure (the responder had come up before the
/// initiator refused it).
fn assert_refused_on_both_sides(net: &Net) {
    for i in [0, 1] {
        let node = &net.nodes[i];
        assert!(node.installed.is_empty(), "node {i}: {:?}", node.installed);
        assert!(node.ike.snapshot().ike_sas.is_empty(), "node {i}");
        assert_eq!(node.ike.counters().auth_failures, 1, "node {i}");
        assert_eq!(node.ike.counters().ike_sas_established, u64::from(i == 1));
        let failed = |n: &Notification| matches!(n, Notification::AuthFailed { .. });
        assert_eq!(net.count(i, failed), 1, "node {i}");
    }
}

/// The certificate errors node `i` reported.
fn peer_errors(net: &Net, i: usize) -> Vec<PeerError> {
    net.nodes[i]
        .notifications
        .iter()
        .filter_map(|n| match n {
            Notification::Error(Error::PeerCertificate { error, .. }) => Some((**error).clone()),
            _ => None,
        })
        .collect()
}

fn handshake_both_directions(key: Key) {
    let pki = Pki::new();
    let (spoke, hub, [spoke_dn, hub_dn]) = pair(&pki, key);
    for initiator in [0, 1] {
        let mut net = Net::pair(spoke.clone(), hub.clone());
        net.acquire(initiator, 1 - initiator);
        matching_pair(&net);
        // With certificates and no configured ID, each side is its DN.
        assert_eq!(up(&net, 0), [(spoke_dn.clone(), hub_dn.clone())]);
        assert_eq!(up(&net, 1), [(hub_dn.clone(), spoke_dn.clone())]);
        for i in [0, 1] {
            assert_eq!(net.nodes[i].ike.counters().auth_failures, 0);
        }
    }
}

#[test]
fn certificates_ecdsa_p256_handshake_both_directions() {
    handshake_both_directions(Key::P256);
}

/// RSA keys sign only with RFC 7427 Digital Signature (method 14) here:
/// the handshake coming up means both sides signed and verified it.
#[test]
fn certificates_rsa_2048_handshake_both_directions() {
    handshake_both_directions(Key::Rsa2048);
}

#[test]
fn certificates_from_another_ca_fail_on_both_sides() {
    let pki = Pki::new();
    let (spoke, hub, _) = pair(&pki, Key::P256);
    let other = pki.ca("Other CA");
    let distrust = |mut c: Config| {
        if let Some(files) = &mut c.certificate {
            files.ca = other.file.clone();
        }
        c
    };
    // The responder does not trust the initiator's CA: it answers
    // AUTHENTICATION_FAILED.
    let mut net = Net::pair(spoke.clone(), distrust(hub.clone()));
    net.acquire(0, 1);
    assert_refused_on_both_sides_as_responder(&net);
    assert!(matches!(
        peer_errors(&net, 1)[..],
        [PeerError::Chain { .. }]
    ));

    // The initiator does not trust the responder's: its Delete carries
    // AUTHENTICATION_FAILED and the responder's child SA goes.
    let mut net = Net::pair(distrust(spoke), hub);
    net.acquire(0, 1);
    assert_refused_on_both_sides(&net);
    assert!(matches!(
        peer_errors(&net, 0)[..],
        [PeerError::Chain { .. }]
    ));
}

/// Like [`assert_refused_on_both_sides`], when the responder refused
/// (nothing was ever established).
fn assert_refused_on_both_sides_as_responder(net: &Net) {
    for i in [0, 1] {
        let node = &net.nodes[i];
        assert!(node.installed.is_empty(), "node {i}");
        assert!(node.ike.snapshot().ike_sas.is_empty(), "node {i}");
        assert_eq!(node.ike.counters().auth_failures, 1, "node {i}");
        assert_eq!(node.ike.counters().ike_sas_established, 0, "node {i}");
        assert_eq!(node.ike.counters().child_sas_installed, 0, "node {i}");
    }
}

#[test]
fn certificates_expired_are_refused() {
    let pki = Pki::new();
    let (spoke, hub, _) = pair(&pki, Key::P256);
    let mut net = Net::pair(spoke.clone(), hub.clone());
    // The hub's clock is past the certificates' notAfter.
    net.nodes[1].ike.set_wall_clock(after_expiry());
    net.acquire(0, 1);
    assert_refused_on_both_sides_as_responder(&net);
    let errors = peer_errors(&net, 1);
    assert!(
        matches!(&errors[..], [PeerError::Chain { error, .. }] if format!("{error:?}").contains("Expired")),
        "{errors:?}"
    );

    // The wall clock follows the instants: two hours before expiry the
    // certificates are fine, two hours later a new IKE SA is refused.
    let mut net = Net::pair(spoke.clone(), hub);
    let notafter = after_expiry() - Duration::from_secs(366 * 86400);
    net.nodes[1]
        .ike
        .set_wall_clock(notafter - Duration::from_secs(7200));
    net.acquire(0, 1);
    matching_pair(&net);
    net.advance(Duration::from_secs(4 * 3600));
    net.restart(0, spoke);
    net.acquire(0, 1);
    assert!(net.nodes[0].installed.is_empty());
    assert_eq!(net.nodes[1].ike.counters().auth_failures, 1);
}

#[test]
fn certificates_must_vouch_for_the_peer_id() {
    let pki = Pki::new();
    let (mut spoke, mut hub, _) = pair(&pki, Key::P256);

    // An FQDN among the certificate's alternative names is fine, also as
    // the hub's configured remote ID.
    spoke.local_id = Some(Identity::Fqdn("spoke.example.net".into()));
    hub.remote_id = spoke.local_id.clone();
    let net = {
        let mut net = Net::pair(spoke.clone(), hub.clone());
        net.acquire(0, 1);
        net
    };
    matching_pair(&net);
    assert_eq!(up(&net, 1)[0].1, Identity::Fqdn("spoke.example.net".into()));

    // One that is not in the certificate is refused.
    spoke.local_id = Some(Identity::Fqdn("not-spoke.example.net".into()));
    hub.remote_id = None;
    let mut net = Net::pair(spoke.clone(), hub.clone());
    net.acquire(0, 1);
    assert_refused_on_both_sides_as_responder(&net);
    assert!(matches!(
        peer_errors(&net, 1)[..],
        [PeerError::Identity { .. }]
    ));

    // So is a peer whose (certified) ID is not the configured remote ID.
    spoke.local_id = None;
    hub.remote_id = Some(Identity::Fqdn("spoke.example.net".into()));
    let mut net = Net::pair(spoke, hub);
    net.acquire(0, 1);
    assert_refused_on_both_sides_as_responder(&net);
}

#[test]
fn certificates_certreq_picks_the_credential_the_responder_asks_for() {
    let pki = Pki::new();
    let first = pki.ca("First CA");
    let second = pki.ca("Second CA");
    let both = pki.bundle("both.pem", &[&first, &second]);
    // The spoke's default certificate is from the first CA, its other one
    // from the second; the hub trusts only the second.
    let default = pki.issue(&first, "spoke-first", Key::P256, &["spoke.example.net"]);
    let other = pki.issue(&second, "spoke-second", Key::P256, &["spoke.example.net"]);
    let hub_cert = pki.issue(&second, "hub", Key::P256, &["hub.example.net"]);
    let mut spoke = cert_config(&default, &both);
    if let Some(files) = &mut spoke.certificate {
        files.more_credentials = vec![(other.certificate.clone(), other.key.clone())];
    }
    let hub = cert_config(&hub_cert, &second.file);

    let mut net = Net::pair(spoke.clone(), hub.clone());
    net.acquire(0, 1);
    matching_pair(&net);
    assert_eq!(up(&net, 1)[0].1, other.dn());
    assert_eq!(up(&net, 0)[0].0, other.dn());
    // The IKE_SA_INIT response named the hub's CA.
    let response = net
        .wire
        .iter()
        .find(|d| d.exchange() == ExchangeType::IKE_SA_INIT && d.is_response())
        .expect("IKE_SA_INIT response");
    let message = Message::parse(&response.bytes).expect("parses");
    let certreq: Vec<_> = message
        .payloads
        .iter()
        .filter_map(|p| match &p.body {
            PayloadBody::CertificateRequest(c) => Some(c.data.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(certreq, [ca_hashes(&second.file).concat()]);

    // Without the second credential the hub refuses the spoke.
    if let Some(files) = &mut spoke.certificate {
        files.more_credentials.clear();
    }
    let mut net = Net::pair(spoke, hub);
    net.acquire(0, 1);
    assert_refused_on_both_sides_as_responder(&net);
}

#[test]
fn certificates_against_a_psk_peer_fail_authentication() {
    let pki = Pki::new();
    let (spoke, hub, _) = pair(&pki, Key::P256);
    for (a, b) in [(spoke, config()), (config(), hub)] {
        let mut net = Net::pair(a, b);
        net.acquire(0, 1);
        assert_refused_on_both_sides_as_responder(&net);
    }
}

#[test]
fn certificate_files_that_do_not_load_are_reported_and_fail_auth() {
    let pki = Pki::new();
    let (mut spoke, hub, _) = pair(&pki, Key::P256);
    let missing = pki.path("missing.key");
    if let Some(files) = &mut spoke.certificate {
        files.key = missing.clone();
    }
    // As responder: reported at the first input, AUTHENTICATION_FAILED.
    let mut net = Net::pair(hub.clone(), spoke.clone());
    net.acquire(0, 1);
    let reported: Vec<_> = net.nodes[1]
        .notifications
        .iter()
        .filter_map(|n| match n {
            Notification::Error(e @ Error::CertificateFiles(LoadError::Read { file, .. })) => {
                assert_eq!(e.level(), Level::Warn);
                Some(file.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(reported, [missing]);
    assert_refused_on_both_sides_as_responder(&net);

    // As initiator: IKE_AUTH is never sent.
    let mut net = Net::pair(spoke.clone(), hub.clone());
    net.acquire(0, 1);
    assert!(
        net.wire
            .iter()
            .all(|d| d.exchange() != ExchangeType::IKE_AUTH)
    );
    assert_eq!(net.nodes[0].ike.counters().auth_failures, 1);
    assert!(net.nodes[0].installed.is_empty());

    // A configuration that loads fixes it.
    let mut fixed = spoke;
    if let Some(files) = &mut fixed.certificate {
        files.key = pki.path("spoke.example.net.key");
    }
    net.input(0, Input::Configure(Box::new(fixed)));
    net.advance(Duration::from_secs(1));
    net.acquire(0, 1);
    matching_pair(&net);
}

#[test]
fn certificates_ike_sa_rekeys_with_create_child_sa() {
    let pki = Pki::new();
    let (mut spoke, mut hub, [spoke_dn, _]) = pair(&pki, Key::P256);
    for c in [&mut spoke, &mut hub] {
        c.child_lifetime = Duration::from_secs(100);
        c.ike_lifetime = Duration::from_secs(200);
    }
    let mut net = Net::pair(spoke, hub);
    net.traffic = Some(Traffic::default());
    net.acquire(0, 1);
    let (old, _) = matching_pair(&net);
    net.advance(Duration::from_secs(195));
    let (new, _) = matching_pair(&net);
    assert_ne!(new.inbound_spi, old.inbound_spi);
    for i in [0, 1] {
        let c = net.nodes[i].ike.counters();
        assert!(c.child_sas_rekeyed >= 1, "node {i}: {c:?}");
        assert_eq!(c.ike_sas_rekeyed, 1, "node {i}: {c:?}");
        assert_eq!(c.auth_failures, 0);
        let sas = net.nodes[i].ike.snapshot().ike_sas;
        assert_eq!(sas.len(), 1, "node {i}");
    }
    // The new IKE SA kept the identities the certificates proved.
    let hub_sa = &net.nodes[1].ike.snapshot().ike_sas[0];
    assert_eq!(hub_sa.remote_id, Some(spoke_dn));
    assert!(net.traffic.as_ref().expect("traffic").lost.is_empty());
}
