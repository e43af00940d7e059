//! The IKE_AUTH exchange (RFC 7296, 1.2): identities, PSK or certificate
//! authentication (2.15, [`super::cert_auth`]) and the first child SA
//! (2.17 for its keys), with INITIAL_CONTACT (2.4) and USE_TRANSPORT_MODE
//! (1.3.1).
//!
//! ```text
//! Initiator                         Responder
//! HDR, SK {IDi, [IDr,] AUTH, [N(INITIAL_CONTACT),] [N(USE_TRANSPORT_MODE),]
//!          SAi2, TSi, TSr} -->
//!                     <-- HDR, SK {IDr, AUTH, [N(USE_TRANSPORT_MODE),] SAr2, TSi, TSr}
//!                     <-- HDR, SK {N(AUTHENTICATION_FAILED)}
//!                     <-- HDR, SK {IDr, AUTH, N(NO_PROPOSAL_CHOSEN | TS_UNACCEPTABLE)}
//! ```
//! A child SA that fails leaves the IKE SA up (2.21.2); as initiator we
//! then delete it, since for DMVPN an IKE SA without child SA is useless
//! and a later Acquire should start afresh.

use std::net::SocketAddr;
use std::time::Instant;

use super::Ike;
use super::cert_auth::{OwnAuth, Signed, certificate_requests, certreq};
use super::certificates::requested_cas;
use super::child::{ChildPayloads, KeySource, endpoints};
use super::config::Mode;
use super::error::Error;
use super::identity::{Identity, auth_matches, psk_auth};
use super::init::{error_notify, notify};
use super::io::{DownReason, Notification, Output};
use super::proposals;
use super::retransmission::{Request, RequestKind};
use super::sa::{ChildOffer, IkeSa, State};
use crate::packet::{
    AuthMethod, Authentication, ExchangeType, Identification, NotifyType, Payload, PayloadBody,
    TrafficSelectors,
};

/// The payloads of an IKE_AUTH message, found.
#[derive(Default)]
struct AuthPayloads<'a> {
    id_i: Option<&'a Identification>,
    id_r: Option<&'a Identification>,
    auth: Option<&'a Authentication>,
    sa: Option<&'a crate::packet::SecurityAssociation>,
    ts_i: Option<&'a TrafficSelectors>,
    ts_r: Option<&'a TrafficSelectors>,
    initial_contact: bool,
    transport_mode: bool,
}

impl<'a> AuthPayloads<'a> {
    fn child(&self) -> ChildPayloads<'a> {
        ChildPayloads {
            sa: self.sa,
            ts_i: self.ts_i,
            ts_r: self.ts_r,
            transport_mode: self.transport_mode,
            nonce: None,
            ke: None,
        }
    }
}

fn auth_payloads(payloads: &[Payload]) -> AuthPayloads<'_> {
    let mut f = AuthPayloads::default();
    for p in payloads {
        match &p.body {
            PayloadBody::IdentificationInitiator(id) => f.id_i = f.id_i.or(Some(id)),
            PayloadBody::IdentificationResponder(id) => f.id_r = f.id_r.or(Some(id)),
            PayloadBody::Authentication(a) => f.auth = f.auth.or(Some(a)),
            PayloadBody::SecurityAssociation(sa) => f.sa = f.sa.or(Some(sa)),
            PayloadBody::TrafficSelectorsInitiator(ts) => f.ts_i = f.ts_i.or(Some(ts)),
            PayloadBody::TrafficSelectorsResponder(ts) => f.ts_r = f.ts_r.or(Some(ts)),
            PayloadBody::Notify(n) => match n.notify_type {
                NotifyType::INITIAL_CONTACT => f.initial_contact = true,
                NotifyType::USE_TRANSPORT_MODE => f.transport_mode = true,
                _ => {}
            },
            _ => {}
        }
    }
    f
}

impl Ike {
    /// Initiator: sends IKE_AUTH (message ID 1) once the keys are there.
    pub(super) fn send_auth(
        &mut self,
        sa: &mut IkeSa,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Result<(), DownReason> {
        let invalid = |r: &str| DownReason::Invalid(r.to_string());
        let config = sa.config.clone();
        let Some(keys) = &sa.keys else {
            return Err(invalid("no keys"));
        };
        let own = if config.certificate.is_some() {
            let signed = Signed {
                real_message: &sa.init_request,
                nonce: &sa.nonce_r,
                sk_p: &keys.sk.sk_pi,
            };
            match self.sign_auth(sa, &sa.peer_cas, signed) {
                Ok(own) => own,
                Err(reason) => {
                    let (remote, id) = (sa.remote, Some(sa.local_id.clone()));
                    let error = Error::AuthenticationFailed { remote, id, reason };
                    self.auth_failed(sa, error, out);
                    return Err(DownReason::AuthenticationFailed);
                }
            }
        } else {
            let secret = config.psk.lookup(config.remote_id.as_ref(), sa.peer);
            let secret = secret.ok_or_else(|| invalid("no pre-shared key for this peer"))?;
            let id = sa.local_id.to_payload();
            let data = psk_auth(
                keys.prf,
                secret,
                &sa.init_request,
                &sa.nonce_r,
                &keys.sk.sk_pi,
                &id,
            );
            psk_own_auth(sa.local_id.clone(), id, data)
        };
        let inbound_spi = self.new_esp_spi().ok_or_else(|| invalid("no ESP SPI"))?;
        let (ts_local, ts_remote) = endpoints(config.selectors, sa.local.ip(), sa.peer);
        // RFC 7296, 1.2: IDi, [CERT,] [CERTREQ,] [IDr,] AUTH.
        let mut payloads = vec![Payload::new(PayloadBody::IdentificationInitiator(own.id))];
        payloads.extend(own.certs);
        payloads.extend(certreq(sa));
        if let Some(r) = &config.remote_id {
            payloads.push(Payload::new(PayloadBody::IdentificationResponder(
                r.to_payload(),
            )));
        }
        payloads.push(Payload::new(PayloadBody::Authentication(own.auth)));
        sa.local_id = own.identity;
        // RFC 7296, 2.4: only when no other IKE SA with this peer is up.
        let others = self
            .sas
            .values()
            .any(|o| o.peer == sa.peer && o.is_established());
        if !others {
            payloads.push(notify(NotifyType::INITIAL_CONTACT, vec![]));
        }
        if config.mode == Mode::Transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, vec![]));
        }
        payloads.extend([
            Payload::new(PayloadBody::SecurityAssociation(proposals::esp_offer(
                &config.esp_proposals,
                inbound_spi,
            ))),
            Payload::new(PayloadBody::TrafficSelectorsInitiator(ts_local.payload())),
            Payload::new(PayloadBody::TrafficSelectorsResponder(ts_remote.payload())),
        ]);
        let message_id = sa.window.next_request_id;
        let datagrams = sa
            .seal_message(
                ExchangeType::IKE_AUTH,
                false,
                message_id,
                &payloads,
                &self.rng,
            )
            .map_err(|e| {
                self.error(e, out);
                invalid("cannot build IKE_AUTH")
            })?;
        sa.window.next_request_id += 1;
        sa.state = State::AuthSent;
        sa.offer = Some(ChildOffer {
            inbound_spi,
            ts_local,
            ts_remote,
        });
        let addrs = (sa.local, sa.remote);
        self.send_all(addrs, &datagrams, out);
        sa.window.outstanding = Some(Request::new(
            message_id,
            RequestKind::Auth,
            datagrams,
            addrs,
            &config.retransmit,
            now,
        ));
        Ok(())
    }

    fn auth_failed(&mut self, sa: &IkeSa, error: Error, out: &mut Vec<Output>) {
        self.counters.auth_failures += 1;
        out.push(Output::Notification(Notification::AuthFailed {
            peer: sa.peer,
        }));
        self.error(error, out);
    }

    /// Responder: an authenticated-to-be IKE_AUTH request. Returns the
    /// response payloads and whether the IKE SA is up.
    pub(super) fn respond_auth(
        &mut self,
        sa: &mut IkeSa,
        (local, remote): (SocketAddr, SocketAddr),
        payloads: &[Payload],
        now: Instant,
        out: &mut Vec<Output>,
    ) -> (Vec<Payload>, bool) {
        let found = auth_payloads(payloads);
        let (Some(id_i), Some(auth)) = (found.id_i, found.auth) else {
            self.counters.malformed += 1;
            let reason = "IDi or AUTH missing".into();
            let exchange = ExchangeType::IKE_AUTH;
            self.error(
                Error::InvalidSyntax {
                    remote,
                    exchange,
                    reason,
                },
                out,
            );
            return (vec![notify(NotifyType::INVALID_SYNTAX, vec![])], false);
        };
        let config = sa.config.clone();
        let identity = Identity::from_payload(id_i);
        let fail = |reason| Error::AuthenticationFailed {
            remote,
            id: identity.clone(),
            reason,
        };
        let refused = vec![notify(NotifyType::AUTHENTICATION_FAILED, vec![])];
        if config.remote_id.is_some() && config.remote_id != identity {
            self.auth_failed(sa, fail("not the configured remote ID"), out);
            return (refused, false);
        }
        let Some(keys) = &sa.keys else {
            self.auth_failed(sa, fail("no keys"), out);
            return (refused, false);
        };
        let own = if config.certificate.is_some() {
            let signed = Signed {
                real_message: &sa.init_request,
                nonce: &sa.nonce_r,
                sk_p: &keys.sk.sk_pi,
            };
            if let Err(error) = self.verify_cert_auth(sa, payloads, (id_i, auth), signed, now) {
                self.auth_failed(sa, error, out);
                return (refused, false);
            }
            // RFC 7296, 3.7: the chain the initiator's CERTREQ asks for.
            let requested = requested_cas(certificate_requests(payloads));
            let signed = Signed {
                real_message: &sa.init_response,
                nonce: &sa.nonce_i,
                sk_p: &keys.sk.sk_pr,
            };
            match self.sign_auth(sa, &requested, signed) {
                Ok(own) => own,
                Err(reason) => {
                    self.auth_failed(sa, fail(reason), out);
                    return (refused, false);
                }
            }
        } else {
            if auth.method != AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE {
                self.auth_failed(sa, fail("not a pre-shared key AUTH"), out);
                return (refused, false);
            }
            let Some(secret) = config.psk.lookup(identity.as_ref(), remote.ip()) else {
                self.auth_failed(sa, fail("no pre-shared key"), out);
                return (refused, false);
            };
            let expected = psk_auth(
                keys.prf,
                secret,
                &sa.init_request,
                &sa.nonce_r,
                &keys.sk.sk_pi,
                id_i,
            );
            if !auth_matches(&expected, &auth.data) {
                self.auth_failed(sa, fail("AUTH does not match the pre-shared key"), out);
                return (refused, false);
            }
            let id_r = sa.local_id.to_payload();
            let our_auth = psk_auth(
                keys.prf,
                secret,
                &sa.init_response,
                &sa.nonce_i,
                &keys.sk.sk_pr,
                &id_r,
            );
            psk_own_auth(sa.local_id.clone(), id_r, our_auth)
        };
        // Up: from now on the peer is where this request came from.
        self.half_open = self.half_open.saturating_sub(1);
        sa.state = State::Established;
        sa.established = Some(now);
        sa.rekey_at = Some(now + self.soft_lifetime(config.ike_lifetime));
        sa.local = local;
        sa.remote = remote;
        sa.remote_id = identity;
        sa.local_id = own.identity;
        self.counters.ike_sas_established += 1;
        if found.initial_contact {
            self.initial_contact(sa, out);
        }
        self.ike_sa_up(sa, out);
        // RFC 7296, 1.2: IDr, [CERT,] AUTH.
        let mut response = vec![Payload::new(PayloadBody::IdentificationResponder(own.id))];
        response.extend(own.certs);
        response.push(Payload::new(PayloadBody::Authentication(own.auth)));
        if found.sa.is_some() {
            match self.respond_child(sa, &found.child(), now, out) {
                Ok(answered) => response.extend(answered.payloads),
                Err(refusal) => response.push(refusal),
            }
        }
        (response, true)
    }

    fn ike_sa_up(&mut self, sa: &IkeSa, out: &mut Vec<Output>) {
        out.push(Output::Notification(Notification::IkeSaUp {
            peer: sa.peer,
            local_id: sa.local_id.clone(),
            remote_id: sa
                .remote_id
                .clone()
                .unwrap_or(Identity::from_address(sa.peer)),
        }));
    }

    /// RFC 7296, 2.4: the peer says it has no other IKE SA with us (it
    /// restarted): the ones we have with it go, without Delete. Only those
    /// up before this SA began, so that two SAs negotiated at the same time
    /// in both directions do not delete each other.
    fn initial_contact(&mut self, sa: &IkeSa, out: &mut Vec<Output>) {
        let stale: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, o)| {
                o.peer == sa.peer
                    && matches!(o.state, State::Established | State::Deleting)
                    && o.established.is_some_and(|t| t < sa.created)
            })
            .map(|(spi, _)| *spi)
            .collect();
        for spi in stale {
            if let Some(old) = self.sas.remove(&spi) {
                self.drop_sa(old, DownReason::InitialContact, out);
            }
        }
    }

    /// Initiator: the IKE_AUTH response. Err: the SA goes with that reason;
    /// Ok(false): it is up but must be deleted (its child SA failed, or it
    /// is redundant after a simultaneous initiation).
    pub(super) fn auth_response(
        &mut self,
        sa: &mut IkeSa,
        remote: SocketAddr,
        payloads: &[Payload],
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Result<bool, DownReason> {
        let found = auth_payloads(payloads);
        let config = sa.config.clone();
        let (Some(id_r), Some(auth)) = (found.id_r, found.auth) else {
            let notify = error_notify(payloads).map(|n| n.notify_type);
            if notify == Some(NotifyType::AUTHENTICATION_FAILED) {
                let error = Error::Refused {
                    remote,
                    notify: NotifyType::AUTHENTICATION_FAILED,
                };
                self.auth_failed(sa, error, out);
                return Err(DownReason::AuthenticationFailed);
            }
            let reason = notify.map_or("IDr or AUTH missing".into(), |n| n.to_string());
            return Err(DownReason::Refused(reason));
        };
        let identity = Identity::from_payload(id_r);
        let fail = |reason| Error::AuthenticationFailed {
            remote,
            id: identity.clone(),
            reason,
        };
        let secret = config.psk.lookup(identity.as_ref(), sa.peer);
        let verified = match (secret, &sa.keys) {
            _ if config.remote_id.is_some() && config.remote_id != identity => {
                Err(fail("not the configured remote ID"))
            }
            (_, Some(keys)) if config.certificate.is_some() => {
                let signed = Signed {
                    real_message: &sa.init_response,
                    nonce: &sa.nonce_i,
                    sk_p: &keys.sk.sk_pr,
                };
                self.verify_cert_auth(sa, payloads, (id_r, auth), signed, now)
                    .map(|_| ())
            }
            _ if auth.method != AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE => {
                Err(fail("not a pre-shared key AUTH"))
            }
            (Some(secret), Some(keys)) => {
                let expected = psk_auth(
                    keys.prf,
                    secret,
                    &sa.init_response,
                    &sa.nonce_i,
                    &keys.sk.sk_pr,
                    id_r,
                );
                if auth_matches(&expected, &auth.data) {
                    Ok(())
                } else {
                    Err(fail("AUTH does not match the pre-shared key"))
                }
            }
            _ => Err(fail("no pre-shared key")),
        };
        sa.state = State::Established;
        sa.established = Some(now);
        sa.rekey_at = Some(now + self.soft_lifetime(config.ike_lifetime));
        sa.remote_id = identity.clone();
        if let Err(error) = verified {
            // It thinks the SA is up: our Delete, with
            // AUTHENTICATION_FAILED, tells it otherwise.
            sa.auth_refused = true;
            self.auth_failed(sa, error, out);
            return Ok(false);
        }
        self.counters.ike_sas_established += 1;
        self.ike_sa_up(sa, out);
        if let Some(old) = sa.replaces.take()
            && let Some(old) = self.sas.get_mut(&old)
        {
            // Make before break: its child SAs leave the data plane a
            // little after the new one entered it.
            old.retire_at = Some(now + super::rekey::RETIRE_DELAY);
        }
        let accepted = match sa.offer.clone() {
            Some(offer) => {
                let source = KeySource::IkeAuth;
                self.accept_child(sa, &offer, &found.child(), payloads, source)
            }
            None => Err("no child SA offered".into()),
        };
        match accepted {
            Ok((child, proposal)) => {
                self.install_child(sa, (child, proposal), true, now, out);
                // Redundant after a simultaneous initiation: deleted.
                Ok(!self.simultaneous(sa, now, out))
            }
            Err(reason) => {
                out.push(Output::Notification(Notification::ChildSaFailed {
                    peer: sa.peer,
                    reason,
                }));
                Ok(false)
            }
        }
    }
}

/// Our PSK AUTH payload, as an [`OwnAuth`].
fn psk_own_auth(identity: Identity, id: Identification, data: Vec<u8>) -> OwnAuth {
    OwnAuth {
        identity,
        id,
        certs: vec![],
        auth: Authentication {
            method: AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE,
            reserved: [0; 3],
            data,
        },
    }
}
