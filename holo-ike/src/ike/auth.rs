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

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::config::{Mode, Selectors};
use super::error::Error;
use super::identity::{Identity, auth_matches, psk_auth};
use super::init::{error_notify, notify};
use super::io::{ChildSa, DownReason, Notification, Output};
use super::proposals;
use super::retransmission::{Request, RequestKind};
use super::sa::{ChildOffer, ChildState, IkeSa, State};
use super::traffic_selectors::{self, Endpoint, GRE};
use super::{EspProposal, Ike};
use crate::crypto::cipher::key_lengths;
use crate::crypto::{ChildSaKeys, CryptoError};
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

/// What our side and the peer's side of the child SA are.
fn endpoints(selectors: Selectors, local: IpAddr, peer: IpAddr) -> (Endpoint, Endpoint) {
    match selectors {
        Selectors::Gre => (
            Endpoint {
                addr: local,
                protocol: GRE,
            },
            Endpoint {
                addr: peer,
                protocol: GRE,
            },
        ),
        Selectors::Hosts { local, remote } => (
            Endpoint {
                addr: local,
                protocol: 0,
            },
            Endpoint {
                addr: remote,
                protocol: 0,
            },
        ),
    }
}

/// The result of a child SA negotiation, as the data plane gets it.
struct NewChild<'a> {
    proposal: EspProposal,
    mode: Mode,
    inbound_spi: u32,
    outbound_spi: u32,
    keys: &'a ChildSaKeys,
}

fn child_sa(sa: &IkeSa, c: NewChild<'_>) -> ChildSa {
    // KEYMAT: the initiator's outbound keys first (RFC 7296, 2.17).
    let (inbound, outbound) = match sa.role {
        super::sa::Role::Initiator => (
            (&c.keys.encr_r, &c.keys.integ_r),
            (&c.keys.encr_i, &c.keys.integ_i),
        ),
        super::sa::Role::Responder => (
            (&c.keys.encr_i, &c.keys.integ_i),
            (&c.keys.encr_r, &c.keys.integ_r),
        ),
    };
    ChildSa {
        peer: sa.remote.ip(),
        local: sa.local.ip(),
        encap: sa
            .nat
            .encapsulate()
            .then(|| (sa.local.port(), sa.remote.port())),
        mode: c.mode,
        encr: c.proposal.encr,
        integ: c.proposal.integ,
        esn: c.proposal.esn,
        inbound_spi: c.inbound_spi,
        inbound_encr_key: inbound.0.clone(),
        inbound_integ_key: inbound.1.clone(),
        outbound_spi: c.outbound_spi,
        outbound_encr_key: outbound.0.clone(),
        outbound_integ_key: outbound.1.clone(),
        lifetime: sa.config.child_lifetime,
    }
}

fn child_keys(sa: &IkeSa, p: &EspProposal) -> Result<ChildSaKeys, CryptoError> {
    let keys = sa.keys.as_ref().ok_or(CryptoError::InvalidCombination)?;
    let lengths = key_lengths(p.encr, p.integ);
    ChildSaKeys::derive(
        keys.prf,
        &keys.sk.sk_d,
        lengths,
        None,
        &sa.nonce_i,
        &sa.nonce_r,
    )
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
        sa.state = State::Established;
        sa.established = Some(now);
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
            response.extend(self.respond_child(sa, &found, now, out));
        }
        (response, true)
    }

    /// Responder: the child SA of IKE_AUTH; the payloads for it.
    fn respond_child(
        &mut self,
        sa: &mut IkeSa,
        found: &AuthPayloads<'_>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Vec<Payload> {
        let remote = sa.remote;
        let config = sa.config.clone();
        let Some((number, outbound_spi, proposal)) = found
            .sa
            .and_then(|offer| proposals::select_esp(offer, &config.esp_proposals))
        else {
            self.counters.no_proposal += 1;
            self.error(
                Error::NoProposalChosen {
                    remote,
                    what: "ESP",
                },
                out,
            );
            return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![])];
        };
        // Their TSi is the peer's side, their TSr ours.
        let (ours, theirs) = endpoints(config.selectors, sa.local.ip(), sa.remote.ip());
        let nat = sa.nat;
        let narrowed = found.ts_i.zip(found.ts_r).and_then(|(ts_i, ts_r)| {
            let i = traffic_selectors::narrow(ts_i, theirs, nat.remote_behind)?;
            let r = traffic_selectors::narrow(ts_r, ours, nat.local_behind)?;
            Some((i, r))
        });
        let Some((ts_i, ts_r)) = narrowed else {
            self.counters.ts_unacceptable += 1;
            self.error(Error::TsUnacceptable { remote }, out);
            return vec![notify(NotifyType::TS_UNACCEPTABLE, vec![])];
        };
        let transport = found.transport_mode && config.mode == Mode::Transport;
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let keys = child_keys(sa, &proposal);
        let (Some(inbound_spi), Ok(keys)) = (self.new_esp_spi(), keys) else {
            return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![])];
        };
        let child = child_sa(
            sa,
            NewChild {
                proposal,
                mode,
                inbound_spi,
                outbound_spi,
                keys: &keys,
            },
        );
        self.install_child(sa, child, proposal, now, out);
        let mut payloads = vec![];
        if transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, vec![]));
        }
        let selectors = |ts| TrafficSelectors {
            reserved: [0; 3],
            selectors: vec![ts],
        };
        payloads.extend([
            Payload::new(PayloadBody::SecurityAssociation(proposals::esp_answer(
                number,
                &proposal,
                inbound_spi,
            ))),
            Payload::new(PayloadBody::TrafficSelectorsInitiator(selectors(ts_i))),
            Payload::new(PayloadBody::TrafficSelectorsResponder(selectors(ts_r))),
        ]);
        payloads
    }

    fn install_child(
        &mut self,
        sa: &mut IkeSa,
        child: ChildSa,
        proposal: EspProposal,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        self.counters.child_sas_installed += 1;
        out.push(Output::InstallChildSa(child.clone()));
        out.push(Output::Notification(Notification::ChildSaUp {
            peer: child.peer,
            inbound_spi: child.inbound_spi,
            outbound_spi: child.outbound_spi,
        }));
        sa.children.push(ChildState {
            sa: child,
            proposal,
            created: now,
        });
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
        sa.remote_id = identity.clone();
        if let Err(reason) = verified {
            // It thinks the SA is up: our Delete tells it otherwise.
            self.auth_failed(sa, fail(reason), out);
            return Ok(false);
        }
        self.counters.ike_sas_established += 1;
        self.ike_sa_up(sa, out);
        if let Some(old) = sa.replaces.take() {
            self.delete_sa(old, now, out);
        }
        match self.accept_child(sa, &found, payloads) {
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

    /// Initiator: checks the child SA the responder accepted.
    fn accept_child(
        &mut self,
        sa: &IkeSa,
        found: &AuthPayloads<'_>,
        payloads: &[Payload],
    ) -> Result<(ChildSa, EspProposal), String> {
        if let Some(n) = error_notify(payloads) {
            match n.notify_type {
                NotifyType::NO_PROPOSAL_CHOSEN => self.counters.no_proposal += 1,
                NotifyType::TS_UNACCEPTABLE => self.counters.ts_unacceptable += 1,
                _ => {}
            }
            return Err(n.notify_type.to_string());
        }
        let (Some(offer), Some(answer)) = (&sa.offer, found.sa) else {
            return Err("no child SA in the response".into());
        };
        let Some((outbound_spi, proposal)) =
            proposals::chosen_esp(answer).filter(|(_, p)| sa.config.esp_proposals.contains(p))
        else {
            self.counters.no_proposal += 1;
            return Err("ESP proposal not offered".into());
        };
        let ts_ok = found.ts_i.zip(found.ts_r).is_some_and(|(i, r)| {
            traffic_selectors::accepts(i, offer.ts_local, false)
                && traffic_selectors::accepts(r, offer.ts_remote, sa.nat.remote_behind)
        });
        if !ts_ok {
            self.counters.ts_unacceptable += 1;
            return Err("traffic selectors not within ours".into());
        }
        let asked = sa.config.mode == Mode::Transport;
        let mode = if asked && found.transport_mode {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let keys = child_keys(sa, &proposal).map_err(|e| e.to_string())?;
        let child = child_sa(
            sa,
            NewChild {
                proposal,
                mode,
                inbound_spi: offer.inbound_spi,
                outbound_spi,
                keys: &keys,
            },
        );
        Ok((child, proposal))
    }
}
