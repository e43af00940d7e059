//! Certificate authentication in IKE_AUTH (RFC 7296, 1.2 and 2.15; RFC
//! 7427): what IKE_SA_INIT announces, our ID, CERT and AUTH payloads, and
//! the checks of the peer's. The X.509 work itself is in
//! [`super::certificates`].
//!
//! ```text
//! Initiator                         Responder
//! HDR, SAi1, KEi, Ni, N(SIGNATURE_HASH_ALGORITHMS) -->
//!           <-- HDR, SAr1, KEr, Nr, CERTREQ, N(SIGNATURE_HASH_ALGORITHMS)
//! HDR, SK {IDi, CERT+, CERTREQ, [IDr,] AUTH, SAi2, TSi, TSr} -->
//!                           <-- HDR, SK {IDr, CERT+, AUTH, SAr2, TSi, TSr}
//! ```
//! The certificate files are loaded when the instance is created or
//! configured; each IKE SA keeps what was loaded for its configuration.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::Ike;
use super::certificates::{
    CaKeyHash, CertificateConfig, LoadError, LocalCredential, SUPPORTED_HASHES, SignatureHash,
    TrustAnchors, VerifiedPeer, choose_credential, choose_method, parse_signature_hash_algorithms,
    peer_certificates, requested_cas, signature_hash_algorithms, signed_octets, verify_peer,
};
use super::error::Error;
use super::identity::Identity;
use super::init::notify;
use super::sa::IkeSa;
use crate::packet::{
    AuthMethod, Authentication, Certificate, Identification, NotifyType, Payload, PayloadBody,
};

/// Our certificate material, as loaded from a [`CertificateConfig`].
#[derive(Debug)]
pub struct Credentials {
    /// Our chains and keys, the default first.
    pub local: Vec<LocalCredential>,
    /// The CAs that certify peers.
    pub anchors: TrustAnchors,
}

impl Credentials {
    pub fn load(config: &CertificateConfig) -> Result<Credentials, LoadError> {
        let (local, anchors) = config.load_all()?;
        Ok(Credentials { local, anchors })
    }
}

/// The wall clock certificate validity is checked against. The core is
/// driven by `Instant`s only, so it pairs one `Instant` with the
/// `SystemTime` of that moment and follows the `Instant`s from there.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    instant: Instant,
    system: SystemTime,
}

impl WallClock {
    /// Both clocks, read now.
    pub fn start() -> WallClock {
        WallClock {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    /// At `instant`, the wall clock reads `system`.
    pub fn set(instant: Instant, system: SystemTime) -> WallClock {
        WallClock { instant, system }
    }

    pub fn start_instant(&self) -> Instant {
        self.instant
    }

    pub fn at(&self, now: Instant) -> SystemTime {
        if now >= self.instant {
            self.system + (now - self.instant)
        } else {
            self.system - (self.instant - now)
        }
    }
}

/// Our own AUTH, ready to send.
#[derive(Debug)]
pub struct OwnAuth {
    /// Our ID (with a certificate and no configured ID: its subject DN).
    pub identity: Identity,
    pub id: Identification,
    /// CERT payloads (none with a PSK).
    pub certs: Vec<Payload>,
    pub auth: Authentication,
}

/// IKE_SA_INIT payloads for certificate authentication: which hashes we
/// verify RFC 7427 signatures with and, as responder, the CAs we trust
/// (RFC 7296, 1.2: CERTREQ in the IKE_SA_INIT response).
pub fn init_payloads(sa: &IkeSa, responder: bool) -> Vec<Payload> {
    if sa.config.certificate.is_none() {
        return vec![];
    }
    let mut payloads = vec![];
    if responder && let Some(credentials) = &sa.credentials {
        payloads.push(Payload::new(PayloadBody::CertificateRequest(
            credentials.anchors.certreq(),
        )));
    }
    payloads.push(notify(
        NotifyType::SIGNATURE_HASH_ALGORITHMS,
        signature_hash_algorithms(SUPPORTED_HASHES),
    ));
    payloads
}

/// What the peer's IKE_SA_INIT says for certificate authentication: its
/// hashes (RFC 7427, 4) and, in a response, the CAs it asks for.
pub fn note_init(sa: &mut IkeSa, payloads: &[Payload]) {
    let mut hashes: Option<Vec<SignatureHash>> = None;
    for p in payloads {
        if let PayloadBody::Notify(n) = &p.body
            && n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS
            && let Some(list) = parse_signature_hash_algorithms(&n.data)
        {
            hashes.get_or_insert_default().extend(list);
        }
    }
    sa.peer_hashes = hashes;
    sa.peer_cas = requested_cas(certificate_requests(payloads));
}

/// The CERT payloads of a message.
pub fn certificates(payloads: &[Payload]) -> impl Iterator<Item = &Certificate> {
    payloads.iter().filter_map(|p| match &p.body {
        PayloadBody::Certificate(c) => Some(c),
        _ => None,
    })
}

/// The CERTREQ payloads of a message.
pub fn certificate_requests(payloads: &[Payload]) -> impl Iterator<Item = &Certificate> {
    payloads.iter().filter_map(|p| match &p.body {
        PayloadBody::CertificateRequest(c) => Some(c),
        _ => None,
    })
}

/// The CERTREQ of ours in IKE_AUTH, when we use certificates.
pub fn certreq(sa: &IkeSa) -> Option<Payload> {
    sa.config.certificate.as_ref()?;
    let credentials = sa.credentials.as_ref()?;
    Some(Payload::new(PayloadBody::CertificateRequest(
        credentials.anchors.certreq(),
    )))
}

/// What a signature AUTH covers: the sender's IKE_SA_INIT message, the
/// other side's nonce, and SK_p of the sender.
pub struct Signed<'a> {
    pub real_message: &'a [u8],
    pub nonce: &'a [u8],
    pub sk_p: &'a [u8],
}

// SK_p never reaches a log line.
impl std::fmt::Debug for Signed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("real_message", &self.real_message.len())
            .field("nonce", &self.nonce.len())
            .finish_non_exhaustive()
    }
}

impl Ike {
    /// Loads the certificate files of the configuration, if any; a
    /// failure is reported (and IKE_AUTH fails until a configuration
    /// loads).
    pub(super) fn load_credentials(&mut self) {
        self.credentials = match &self.config.certificate {
            None => None,
            Some(files) => match Credentials::load(files) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    self.pending
                        .push(super::Output::Notification(super::Notification::Error(
                            Error::CertificateFiles(e),
                        )));
                    None
                }
            },
        };
    }

    /// Our ID, CERT payloads and signature AUTH: the credential whose
    /// chain leads to a CA the peer asked for (RFC 7296, 3.7; else our
    /// default), signed as its SIGNATURE_HASH_ALGORITHMS allows.
    pub(super) fn sign_auth(
        &self,
        sa: &IkeSa,
        requested: &[CaKeyHash],
        signed: Signed<'_>,
    ) -> Result<OwnAuth, &'static str> {
        let (Some(credentials), Some(keys)) = (&sa.credentials, &sa.keys) else {
            return Err("our certificate files did not load");
        };
        let credential = choose_credential(&credentials.local, &credentials.anchors, requested)
            .or(credentials.local.first())
            .ok_or("no certificate of ours")?;
        let identity = sa
            .config
            .local_id
            .clone()
            .unwrap_or_else(|| credential.subject_identity());
        let id = identity.to_payload();
        let method = choose_method(credential.key.schemes(), sa.peer_hashes.as_deref())
            .ok_or("no signature method the peer accepts for our key")?;
        let octets = signed_octets(
            keys.prf,
            signed.real_message,
            signed.nonce,
            signed.sk_p,
            &id,
        );
        let auth = credential
            .key
            .sign(method, &octets, &self.rng)
            .map_err(|_| "signing failed")?;
        let certs = credential
            .cert_payloads()
            .into_iter()
            .map(|c| Payload::new(PayloadBody::Certificate(c)))
            .collect();
        Ok(OwnAuth {
            identity,
            id,
            certs,
            auth,
        })
    }

    /// Checks the peer's certificate authentication: its chain to our CAs
    /// at the wall-clock time of `now`, that it vouches for the peer's
    /// ID, and its AUTH signature (RFC 7296, 2.15).
    pub(super) fn verify_cert_auth(
        &self,
        sa: &IkeSa,
        payloads: &[Payload],
        (id, auth): (&Identification, &Authentication),
        signed: Signed<'_>,
        now: Instant,
    ) -> Result<VerifiedPeer, Error> {
        let remote = sa.remote;
        let identity = Identity::from_payload(id);
        let fail = |reason| Error::AuthenticationFailed {
            remote,
            id: identity.clone(),
            reason,
        };
        let (Some(credentials), Some(keys)) = (&sa.credentials, &sa.keys) else {
            return Err(fail("our certificate files did not load"));
        };
        if auth.method == AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE {
            return Err(fail("a pre-shared key AUTH, but we use certificates"));
        }
        let Some(peer_id) = &identity else {
            return Err(fail("ID type not supported"));
        };
        let certs = peer_certificates(certificates(payloads));
        let octets = signed_octets(keys.prf, signed.real_message, signed.nonce, signed.sk_p, id);
        let wall = self.wall_clock.at(now);
        verify_peer(&certs, &credentials.anchors, wall, peer_id, auth, &octets).map_err(|error| {
            Error::PeerCertificate {
                remote,
                id: identity.clone(),
                error: Box::new(error),
            }
        })
    }
}
