//! The IKE_AUTH exchange (RFC 7296, 1.2): identities, PSK authentication
//! (2.15) and the first child SA (2.17 for its keys), with
//! INITIAL_CONTACT (2.4) and USE_TRANSPORT_MODE (1.3.1).
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
        let secret = config.psk.lookup(config.remote_id.as_ref(), sa.peer);
        let (Some(secret), Some(keys)) = (secret, &sa.keys) else {
            return Err(invalid("no pre-shared key for this peer"));
        };
        let inbound_spi = self.new_esp_spi().ok_or_else(|| invalid("no ESP SPI"))?;
        let id_i = sa.local_id.to_payload();
        let auth = psk_auth(
            keys.prf,
            secret,
            &sa.init_request,
            &sa.nonce_r,
            &keys.sk.sk_pi,
            &id_i,
        );
        let (ts_local, ts_remote) = endpoints(config.selectors, sa.local.ip(), sa.peer);
        let mut payloads = vec![Payload::new(PayloadBody::IdentificationInitiator(id_i))];
        if let Some(r) = &config.remote_id {
            payloads.push(Payload::new(PayloadBody::IdentificationResponder(
                r.to_payload(),
            )));
        }
        payloads.push(Payload::new(PayloadBody::Authentication(Authentication {
            method: AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE,
            reserved: [0; 3],
            data: auth,
        })));
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
        let bytes = sa
            .seal(
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
        sa.window.outstanding = Some(Request::new(
            message_id,
            RequestKind::Auth,
            bytes.clone(),
            addrs,
            &config.retransmit,
            now,
        ));
        self.send(addrs.0, addrs.1, bytes, out);
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
        if auth.method != AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE {
            self.auth_failed(sa, fail("not a pre-shared key AUTH"), out);
            return (refused, false);
        }
        let (Some(secret), Some(keys)) =
            (config.psk.lookup(identity.as_ref(), remote.ip()), &sa.keys)
        else {
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
        // Up: from now on the peer is where this request came from.
        self.half_open = self.half_open.saturating_sub(1);
        sa.state = State::Established;
        sa.established = Some(now);
        sa.rekey_at = Some(now + self.soft_lifetime(config.ike_lifetime));
        sa.local = local;
        sa.remote = remote;
        sa.remote_id = identity;
        self.counters.ike_sas_established += 1;
        if found.initial_contact {
            self.initial_contact(sa, out);
        }
        self.ike_sa_up(sa, out);
        let mut response = vec![
            Payload::new(PayloadBody::IdentificationResponder(id_r)),
            Payload::new(PayloadBody::Authentication(Authentication {
                method: AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE,
                reserved: [0; 3],
                data: our_auth,
            })),
        ];
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
    /// Ok(false): it is up but must be deleted (its child SA failed).
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
                Err("not the configured remote ID")
            }
            _ if auth.method != AuthMethod::SHARED_KEY_MESSAGE_INTEGRITY_CODE => {
                Err("not a pre-shared key AUTH")
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
                    Err("AUTH does not match the pre-shared key")
                }
            }
            _ => Err("no pre-shared key"),
        };
        sa.state = State::Established;
        sa.established = Some(now);
        sa.rekey_at = Some(now + self.soft_lifetime(config.ike_lifetime));
        sa.remote_id = identity.clone();
        if let Err(reason) = verified {
            // It thinks the SA is up: our Delete tells it otherwise.
            self.auth_failed(sa, fail(reason), out);
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
                self.install_child(sa, child, proposal, now, out);
                Ok(true)
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
