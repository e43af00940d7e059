//! Child SA negotiation (RFC 7296, 2.9 and 2.17), shared by IKE_AUTH
//! (the first child SA) and CREATE_CHILD_SA (new and rekeyed child SAs):
//! the proposal, the traffic selectors, the mode, the keys, and the
//! installation in the data plane.
//!
//! KEYMAT comes from SK_d and the nonces of the exchange that makes the
//! child SA (IKE_AUTH: those of IKE_SA_INIT), with the PFS shared secret
//! in front when CREATE_CHILD_SA had KE payloads. The keys of the
//! direction initiator -> responder of that exchange come first.

use std::net::IpAddr;
use std::time::Instant;

use super::config::{Mode, Selectors};
use super::error::Error;
use super::init::{NONCE_LEN, error_notify, notify};
use super::io::{ChildSa, Notification, Output};
use super::proposals::{self, EspChoice};
use super::sa::{ChildOffer, ChildState, IkeSa};
use super::traffic_selectors::{self, Endpoint, GRE};
use super::usage::{Limits, Used};
use super::{EspProposal, Ike, rekey};
use crate::crypto::cipher::key_lengths;
use crate::crypto::{ChildSaKeys, CryptoError, DiffieHellman};
use crate::packet::{
    KeyExchange, NotifyType, Opaque, Payload, PayloadBody, SecurityAssociation, TrafficSelectors,
};

/// What our side and the peer's side of the child SA are.
pub fn endpoints(selectors: Selectors, local: IpAddr, peer: IpAddr) -> (Endpoint, Endpoint) {
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

/// The child SA payloads of a request or an answer.
#[derive(Debug, Default)]
pub struct ChildPayloads<'a> {
    pub sa: Option<&'a SecurityAssociation>,
    pub ts_i: Option<&'a TrafficSelectors>,
    pub ts_r: Option<&'a TrafficSelectors>,
    pub transport_mode: bool,
    /// CREATE_CHILD_SA only.
    pub nonce: Option<&'a [u8]>,
    pub ke: Option<&'a KeyExchange>,
}

/// Where the keys of a child SA come from.
#[derive(Clone, Copy)]
pub enum KeySource<'a> {
    /// IKE_AUTH: the nonces of IKE_SA_INIT, no PFS.
    IkeAuth,
    /// CREATE_CHILD_SA: its nonces and, with PFS, its g^ir.
    CreateChildSa {
        nonce_i: &'a [u8],
        nonce_r: &'a [u8],
        shared: Option<&'a [u8]>,
    },
}

// The PFS secret never reaches a log line.
impl std::fmt::Debug for KeySource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::IkeAuth => f.write_str("IkeAuth"),
            KeySource::CreateChildSa { shared, .. } => f
                .debug_struct("CreateChildSa")
                .field("pfs", &shared.is_some())
                .finish_non_exhaustive(),
        }
    }
}

/// RFC 7296, 2.17: KEYMAT for the proposal, from SK_d.
fn child_keys(
    sa: &IkeSa,
    p: &EspProposal,
    source: KeySource<'_>,
) -> Result<ChildSaKeys, CryptoError> {
    let keys = sa.keys.as_ref().ok_or(CryptoError::InvalidCombination)?;
    let (nonce_i, nonce_r, shared) = match source {
        KeySource::IkeAuth => (&sa.nonce_i[..], &sa.nonce_r[..], None),
        KeySource::CreateChildSa {
            nonce_i,
            nonce_r,
            shared,
        } => (nonce_i, nonce_r, shared),
    };
    let lengths = key_lengths(p.encr, p.integ);
    ChildSaKeys::derive(keys.prf, &keys.sk.sk_d, lengths, shared, nonce_i, nonce_r)
}

/// The result of a child SA negotiation, as the data plane gets it.
struct NewChild<'a> {
    proposal: EspProposal,
    mode: Mode,
    inbound_spi: u32,
    outbound_spi: u32,
    keys: &'a ChildSaKeys,
    /// We initiated the exchange that made it (not necessarily the IKE SA).
    we_initiated: bool,
}

fn child_sa(sa: &IkeSa, c: NewChild<'_>) -> ChildSa {
    // KEYMAT: the exchange initiator's outbound keys first (RFC 7296, 2.17).
    let (inbound, outbound) = if c.we_initiated {
        (
            (&c.keys.encr_r, &c.keys.integ_r),
            (&c.keys.encr_i, &c.keys.integ_i),
        )
    } else {
        (
            (&c.keys.encr_i, &c.keys.integ_i),
            (&c.keys.encr_r, &c.keys.integ_r),
        )
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

fn selectors(ts: crate::packet::TrafficSelector) -> TrafficSelectors {
    TrafficSelectors {
        reserved: [0; 3],
        selectors: vec![ts],
    }
}

/// Responder: the child SA made, and the answer's payloads.
#[derive(Debug)]
pub struct Answered {
    pub payloads: Vec<Payload>,
    pub inbound_spi: u32,
    /// CREATE_CHILD_SA: our nonce (empty in IKE_AUTH).
    pub nonce_r: Vec<u8>,
}

impl Ike {
    /// Responder: the child SA of IKE_AUTH or CREATE_CHILD_SA. Installs it
    /// and returns the answer, or the error notify to answer with.
    pub(super) fn respond_child(
        &mut self,
        sa: &mut IkeSa,
        request: &ChildPayloads<'_>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Result<Answered, Payload> {
        let remote = sa.remote;
        let config = sa.config.clone();
        let no_proposal = |ike: &mut Ike, out: &mut Vec<Output>| {
            ike.counters.no_proposal += 1;
            let what = "ESP";
            ike.error(Error::NoProposalChosen { remote, what }, out);
            notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![])
        };
        let ke_group = request.ke.map(|ke| ke.group);
        let choice = match (request.sa, request.nonce) {
            (None, _) => return Err(no_proposal(self, out)),
            // IKE_AUTH: no KE, so no DH (RFC 7296, 1.2).
            (Some(offer), None) => proposals::select_esp(offer, &config.esp_proposals).map(
                |(number, spi, proposal)| EspChoice {
                    number,
                    spi,
                    proposal,
                    dh: None,
                },
            ),
            (Some(offer), Some(_)) => {
                proposals::select_esp_pfs(offer, &config.esp_proposals, config.pfs, ke_group)
            }
        };
        let Some(choice) = choice else {
            return Err(no_proposal(self, out));
        };
        if let Some(group) = choice.dh {
            let wanted = group.transform_id();
            if ke_group != Some(wanted) {
                // RFC 7296, 1.3: the group we want, for the initiator to retry.
                self.counters.invalid_ke += 1;
                let offered = ke_group.unwrap_or(0);
                self.error(
                    Error::InvalidKe {
                        remote,
                        offered,
                        wanted,
                    },
                    out,
                );
                let data = wanted.to_be_bytes().to_vec();
                return Err(notify(NotifyType::INVALID_KE_PAYLOAD, data));
            }
        }
        // Their TSi is the peer's side, their TSr ours.
        let (ours, theirs) = endpoints(config.selectors, sa.local.ip(), sa.remote.ip());
        let nat = sa.nat;
        let narrowed = request.ts_i.zip(request.ts_r).and_then(|(ts_i, ts_r)| {
            let i = traffic_selectors::narrow(ts_i, theirs, nat.remote_behind)?;
            let r = traffic_selectors::narrow(ts_r, ours, nat.local_behind)?;
            Some((i, r))
        });
        let Some((ts_i, ts_r)) = narrowed else {
            self.counters.ts_unacceptable += 1;
            self.error(Error::TsUnacceptable { remote }, out);
            return Err(notify(NotifyType::TS_UNACCEPTABLE, vec![]));
        };
        let transport = request.transport_mode && config.mode == Mode::Transport;
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let failed = || notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![]);
        let (Some(inbound_spi), Some(nonce_r)) = (self.new_esp_spi(), self.random_bytes(NONCE_LEN))
        else {
            return Err(failed());
        };
        let mut extra = vec![];
        let keys = match request.nonce {
            None => child_keys(sa, &choice.proposal, KeySource::IkeAuth),
            Some(nonce_i) => {
                let pfs = match (choice.dh, request.ke) {
                    (Some(group), Some(ke)) => DiffieHellman::generate(group, &self.rng)
                        .and_then(|dh| {
                            extra.push(Payload::new(PayloadBody::KeyExchange(KeyExchange {
                                group: ke.group,
                                reserved: 0,
                                data: dh.public_value().to_vec(),
                            })));
                            dh.shared_secret(&ke.data)
                        })
                        .map(Some),
                    _ => Ok(None),
                };
                pfs.and_then(|shared| {
                    let source = KeySource::CreateChildSa {
                        nonce_i,
                        nonce_r: &nonce_r,
                        shared: shared.as_ref().map(|s| s.as_bytes()),
                    };
                    child_keys(sa, &choice.proposal, source)
                })
            }
        };
        let keys = match keys {
            Ok(keys) => keys,
            Err(error) => {
                self.error(Error::Crypto { remote, error }, out);
                return Err(failed());
            }
        };
        let child = child_sa(
            sa,
            NewChild {
                proposal: choice.proposal,
                mode,
                inbound_spi,
                outbound_spi: choice.spi,
                keys: &keys,
                we_initiated: false,
            },
        );
        self.install_child(sa, (child, choice.proposal), false, now, out);
        let mut payloads = vec![];
        if transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, vec![]));
        }
        payloads.push(Payload::new(PayloadBody::SecurityAssociation(
            proposals::esp_answer_pfs(choice.number, &choice.proposal, inbound_spi, choice.dh),
        )));
        if request.nonce.is_some() {
            payloads.push(Payload::new(PayloadBody::Nonce(Opaque {
                data: nonce_r.clone(),
            })));
            payloads.extend(extra);
        }
        payloads.extend([
            Payload::new(PayloadBody::TrafficSelectorsInitiator(selectors(ts_i))),
            Payload::new(PayloadBody::TrafficSelectorsResponder(selectors(ts_r))),
        ]);
        let nonce_r = if request.nonce.is_some() {
            nonce_r
        } else {
            vec![]
        };
        Ok(Answered {
            payloads,
            inbound_spi,
            nonce_r,
        })
    }

    /// Initiator: checks the child SA the responder accepted, and what it
    /// will be in the data plane.
    pub(super) fn accept_child(
        &mut self,
        sa: &IkeSa,
        offer: &ChildOffer,
        answer: &ChildPayloads<'_>,
        payloads: &[Payload],
        source: KeySource<'_>,
    ) -> Result<(ChildSa, EspProposal), String> {
        if let Some(n) = error_notify(payloads) {
            match n.notify_type {
                NotifyType::NO_PROPOSAL_CHOSEN => self.counters.no_proposal += 1,
                NotifyType::TS_UNACCEPTABLE => self.counters.ts_unacceptable += 1,
                _ => {}
            }
            return Err(n.notify_type.to_string());
        }
        let Some(answer_sa) = answer.sa else {
            return Err("no child SA in the response".into());
        };
        let Some((outbound_spi, proposal)) =
            proposals::chosen_esp(answer_sa).filter(|(_, p)| sa.config.esp_proposals.contains(p))
        else {
            self.counters.no_proposal += 1;
            return Err("ESP proposal not offered".into());
        };
        // RFC 7296, 2.23.1: across a NAT the responder may answer in the
        // addresses it sees, e.g. strongSwan in transport mode puts our NAT's
        // outside address in TSi; either side's single host is fine then.
        let ts_ok = answer.ts_i.zip(answer.ts_r).is_some_and(|(i, r)| {
            traffic_selectors::accepts(i, offer.ts_local, sa.nat.local_behind)
                && traffic_selectors::accepts(r, offer.ts_remote, sa.nat.remote_behind)
        });
        if !ts_ok {
            self.counters.ts_unacceptable += 1;
            return Err("traffic selectors not within ours".into());
        }
        let asked = sa.config.mode == Mode::Transport;
        let mode = if asked && answer.transport_mode {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let keys = child_keys(sa, &proposal, source).map_err(|e| e.to_string())?;
        let child = child_sa(
            sa,
            NewChild {
                proposal,
                mode,
                inbound_spi: offer.inbound_spi,
                outbound_spi,
                keys: &keys,
                we_initiated: true,
            },
        );
        Ok((child, proposal))
    }

    /// Puts a child SA in the data plane: both directions, the new
    /// outbound SA replacing the old one at once. `we_initiated` the
    /// exchange that made it: our soft limits come first
    /// ([`Ike::child_soft_fraction`]).
    pub(super) fn install_child(
        &mut self,
        sa: &mut IkeSa,
        (child, proposal): (ChildSa, EspProposal),
        we_initiated: bool,
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
        // One soft fraction for time, bytes and sequence numbers.
        let soft = self.child_soft_fraction(we_initiated);
        let rekey_at = Some(now + child.lifetime.mul_f64(soft));
        let hard = Limits::hard(&sa.config, child.esn);
        sa.children.push(ChildState {
            sa: child,
            proposal,
            created: now,
            rekey_at,
            retire_at: None,
            soft: hard.scaled(soft),
            hard,
            used: Used::default(),
            initiated: we_initiated,
        });
    }

    /// The soft lifetime of an SA of `lifetime` ([`Ike::soft_fraction`]).
    pub(super) fn soft_lifetime(&self, lifetime: std::time::Duration) -> std::time::Duration {
        lifetime.mul_f64(self.soft_fraction())
    }

    /// Where an SA's soft limits lie: 85 to 90 % of its hard ones, at
    /// random, so that both peers do not rekey at once.
    pub(super) fn soft_fraction(&self) -> f64 {
        rekey::SOFT - rekey::JITTER * self.random_fraction()
    }

    /// A child SA's soft fraction: 85 to 87.5 % on the side that initiated
    /// the exchange that made it, 87.5 to 90 % on the other. Both peers
    /// count about the same bytes (one's inbound is the other's outbound)
    /// and see them only at usage reports, so independent draws would
    /// often have both rekey at once, a collision (RFC 7296, 2.8.1).
    pub(super) fn child_soft_fraction(&self, we_initiated: bool) -> f64 {
        let half = rekey::JITTER / 2.0;
        let r = half * self.random_fraction();
        match we_initiated {
            true => rekey::SOFT - half - r,
            false => rekey::SOFT - r,
        }
    }

    /// A random duration from 0 to `max`.
    pub(super) fn jitter(&self, max: std::time::Duration) -> std::time::Duration {
        max.mul_f64(self.random_fraction())
    }

    /// A random number from 0 to 1.
    fn random_fraction(&self) -> f64 {
        let r = self
            .random_bytes(4)
            .map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap_or_default()));
        f64::from(r) / f64::from(u32::MAX)
    }
}
