//! The CREATE_CHILD_SA exchange (RFC 7296, 1.3): a new child SA, the
//! rekey of a child SA (1.3.3, with PFS when configured), and the rekey
//! of the IKE SA (1.3.2, keys from SK_d per 2.18).
//!
//! ```text
//! Initiator                         Responder
//! HDR, SK {[N(REKEY_SA)], [N(USE_TRANSPORT_MODE)], SA, Ni, [KEi], TSi, TSr} -->
//!                <-- HDR, SK {[N(USE_TRANSPORT_MODE)], SA, Nr, [KEr], TSi, TSr}
//! HDR, SK {SA, Ni, KEi} -->                      (rekey of the IKE SA)
//!                <-- HDR, SK {SA, Nr, KEr}
//!                <-- HDR, SK {N(error)}
//! ```
//! What the exchanges lead to (which SA replaces which, collisions,
//! make before break) is in [`super::rekey`].

use std::time::Instant;

use super::Ike;
use super::child::{ChildPayloads, endpoints};
use super::config::Mode;
use super::error::Error;
use super::init::{NONCE_LEN, NONCE_RANGE, notify};
use super::io::Output;
use super::proposals;
use super::retransmission::RequestKind;
use super::sa::{ChildOffer, Collision, Creating, IkeSa, Made, PendingCreate, Role};
use crate::crypto::DiffieHellman;
use crate::packet::{
    ExchangeType, KeyExchange, Notify, NotifyType, Opaque, Payload, PayloadBody, ProtocolId,
};

/// Child SAs (not being replaced) one IKE SA may have: more are refused
/// with NO_ADDITIONAL_SAS. DMVPN needs one; a few absorb races.
pub const MAX_CHILD_SAS: usize = 4;

/// The payloads of a CREATE_CHILD_SA message, found.
#[derive(Debug, Default)]
pub struct CreatePayloads<'a> {
    pub child: ChildPayloads<'a>,
    /// REKEY_SA: (protocol, SPI).
    pub rekey: Option<(ProtocolId, &'a [u8])>,
}

pub fn create_payloads(payloads: &[Payload]) -> CreatePayloads<'_> {
    let mut f = CreatePayloads::default();
    for p in payloads {
        match &p.body {
            PayloadBody::SecurityAssociation(sa) => f.child.sa = f.child.sa.or(Some(sa)),
            PayloadBody::Nonce(n) => f.child.nonce = f.child.nonce.or(Some(&n.data)),
            PayloadBody::KeyExchange(ke) => f.child.ke = f.child.ke.or(Some(ke)),
            PayloadBody::TrafficSelectorsInitiator(ts) => f.child.ts_i = f.child.ts_i.or(Some(ts)),
            PayloadBody::TrafficSelectorsResponder(ts) => f.child.ts_r = f.child.ts_r.or(Some(ts)),
            PayloadBody::Notify(n) => match n.notify_type {
                NotifyType::USE_TRANSPORT_MODE => f.child.transport_mode = true,
                NotifyType::REKEY_SA => f.rekey = f.rekey.or(Some((n.protocol_id, &n.spi))),
                _ => {}
            },
            _ => {}
        }
    }
    f
}

/// An error notify about an SA (RFC 7296, 3.10: the SPI names it).
fn notify_spi(notify_type: NotifyType, protocol_id: ProtocolId, spi: &[u8]) -> Payload {
    Payload::new(PayloadBody::Notify(Notify {
        protocol_id,
        notify_type,
        spi: spi.to_vec(),
        data: vec![],
    }))
}

fn temporary_failure(ike: &mut Ike) -> Vec<Payload> {
    ike.counters.temporary_failures += 1;
    vec![notify(NotifyType::TEMPORARY_FAILURE, vec![])]
}

impl Ike {
    /// Initiator: the payloads of our CREATE_CHILD_SA request, and what
    /// its answer will need in `sa.pending`. None: nothing to ask anymore
    /// (the SA to rekey went meanwhile) or no randomness.
    pub(super) fn create_child_request(
        &mut self,
        sa: &mut IkeSa,
        kind: &RequestKind,
    ) -> Option<Vec<Payload>> {
        let nonce = self.random_bytes(NONCE_LEN)?;
        let config = sa.config.clone();
        let mut payloads = vec![];
        let (creating, dh) = match *kind {
            RequestKind::RekeyIke => {
                let spi = self.new_ike_spi()?;
                let group = sa.proposal.map(|p| p.dh)?;
                let dh = DiffieHellman::generate(group, &self.rng).ok()?;
                payloads.extend([
                    Payload::new(PayloadBody::SecurityAssociation(
                        proposals::ike_rekey_offer(&config.ike_proposals, spi),
                    )),
                    Payload::new(PayloadBody::Nonce(Opaque {
                        data: nonce.clone(),
                    })),
                    Payload::new(PayloadBody::KeyExchange(KeyExchange {
                        group: group.transform_id(),
                        reserved: 0,
                        data: dh.public_value().to_vec(),
                    })),
                ]);
                (Creating::Ike { spi }, Some(dh))
            }
            RequestKind::CreateChild | RequestKind::RekeyChild(_) => {
                let rekeys = match *kind {
                    RequestKind::RekeyChild(old) => {
                        // RFC 7296, 1.3.3: the SPI we receive on names it.
                        sa.children
                            .iter()
                            .any(|c| c.sa.inbound_spi == old && c.is_current())
                            .then_some(())?;
                        payloads.push(notify_spi(
                            NotifyType::REKEY_SA,
                            ProtocolId::ESP,
                            &old.to_be_bytes(),
                        ));
                        Some(old)
                    }
                    _ => None,
                };
                let inbound_spi = self.new_esp_spi_for(sa)?;
                let (ts_local, ts_remote) = endpoints(config.selectors, sa.local.ip(), sa.peer);
                let dh = match config.pfs {
                    Some(group) => Some(DiffieHellman::generate(group, &self.rng).ok()?),
                    None => None,
                };
                if config.mode == Mode::Transport {
                    payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, vec![]));
                }
                payloads.extend([
                    Payload::new(PayloadBody::SecurityAssociation(proposals::esp_offer_pfs(
                        &config.esp_proposals,
                        inbound_spi,
                        config.pfs,
                    ))),
                    Payload::new(PayloadBody::Nonce(Opaque {
                        data: nonce.clone(),
                    })),
                ]);
                if let Some(dh) = &dh {
                    payloads.push(Payload::new(PayloadBody::KeyExchange(KeyExchange {
                        group: dh.group().transform_id(),
                        reserved: 0,
                        data: dh.public_value().to_vec(),
                    })));
                }
                payloads.extend([
                    Payload::new(PayloadBody::TrafficSelectorsInitiator(ts_local.payload())),
                    Payload::new(PayloadBody::TrafficSelectorsResponder(ts_remote.payload())),
                ]);
                let offer = ChildOffer {
                    inbound_spi,
                    ts_local,
                    ts_remote,
                };
                (Creating::Child { rekeys, offer }, dh)
            }
            _ => return None,
        };
        sa.pending = Some(PendingCreate {
            creating,
            nonce,
            dh,
            collision: None,
        });
        Some(payloads)
    }

    /// Responder: a CREATE_CHILD_SA request on an established IKE SA; the
    /// answer's payloads.
    pub(super) fn respond_create_child(
        &mut self,
        sa: &mut IkeSa,
        payloads: &[Payload],
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Vec<Payload> {
        let remote = sa.remote;
        let found = create_payloads(payloads);
        let invalid = |ike: &mut Ike, out: &mut Vec<Output>, reason: String| {
            ike.counters.malformed += 1;
            let exchange = ExchangeType::CREATE_CHILD_SA;
            ike.error(
                Error::InvalidSyntax {
                    remote,
                    exchange,
                    reason,
                },
                out,
            );
            vec![notify(NotifyType::INVALID_SYNTAX, vec![])]
        };
        let (Some(offer), Some(nonce)) = (found.child.sa, found.child.nonce) else {
            return invalid(self, out, "SA or Nonce missing".into());
        };
        if !NONCE_RANGE.contains(&nonce.len()) {
            return invalid(self, out, format!("nonce of {} octets", nonce.len()));
        }
        if sa.rekeyed_to.is_some() {
            // RFC 7296, 2.25.2: this IKE SA is on its way out.
            return temporary_failure(self);
        }
        match offer.proposals.first().map(|p| p.protocol_id) {
            Some(ProtocolId::IKE) => {
                if found.child.ke.is_none() {
                    return invalid(self, out, "KE missing in an IKE SA rekey".into());
                }
                self.respond_rekey_ike(sa, &found.child, now, out)
            }
            Some(ProtocolId::ESP) => self.respond_new_child(sa, &found, now, out),
            _ => {
                self.counters.no_proposal += 1;
                let what = "CREATE_CHILD_SA";
                self.error(Error::NoProposalChosen { remote, what }, out);
                vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![])]
            }
        }
    }

    /// Responder: a new child SA, or the rekey of one (REKEY_SA).
    fn respond_new_child(
        &mut self,
        sa: &mut IkeSa,
        found: &CreatePayloads<'_>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Vec<Payload> {
        if matches!(&sa.pending, Some(p) if matches!(p.creating, Creating::Ike { .. })) {
            // RFC 7296, 2.25: we are rekeying the IKE SA; ask again later.
            return temporary_failure(self);
        }
        let rekeyed = match found.rekey {
            Some((protocol, spi)) => {
                let Ok(bytes) = <[u8; 4]>::try_from(spi) else {
                    return vec![notify_spi(NotifyType::CHILD_SA_NOT_FOUND, protocol, spi)];
                };
                let spi = u32::from_be_bytes(bytes);
                match sa.children.iter().position(|c| c.sa.outbound_spi == spi) {
                    Some(at) if sa.children[at].is_current() => Some(at),
                    // RFC 7296, 2.25.1: being closed (replaced) already.
                    Some(_) => return temporary_failure(self),
                    // RFC 7296, 2.25.1: our Delete of it crosses the request.
                    None if sa.closing.iter().any(|(_, out)| *out == spi) => {
                        return temporary_failure(self);
                    }
                    None => {
                        return vec![notify_spi(NotifyType::CHILD_SA_NOT_FOUND, protocol, &bytes)];
                    }
                }
            }
            None => {
                let current = sa.children.iter().filter(|c| c.is_current()).count();
                if current >= MAX_CHILD_SAS {
                    return vec![notify(NotifyType::NO_ADDITIONAL_SAS, vec![])];
                }
                None
            }
        };
        let nonce_i = found.child.nonce.unwrap_or_default().to_vec();
        let answered = match self.respond_child(sa, &found.child, now, out) {
            Ok(answered) => answered,
            Err(refusal) => return vec![refusal],
        };
        if let Some(at) = rekeyed {
            let lowest = nonce_i.min(answered.nonce_r.clone());
            self.rekeyed_by_peer(sa, at, answered.inbound_spi, lowest, now);
        }
        answered.payloads
    }

    /// Responder: the peer rekeys the IKE SA (RFC 7296, 1.3.2, 2.18).
    fn respond_rekey_ike(
        &mut self,
        sa: &mut IkeSa,
        request: &ChildPayloads<'_>,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Vec<Payload> {
        let remote = sa.remote;
        if matches!(&sa.pending, Some(p) if matches!(p.creating, Creating::Child { .. })) {
            // RFC 7296, 2.25: a child SA exchange of ours is in flight.
            return temporary_failure(self);
        }
        let (Some(offer), Some(ke), Some(nonce_i)) = (request.sa, request.ke, request.nonce) else {
            return vec![notify(NotifyType::INVALID_SYNTAX, vec![])];
        };
        let config = sa.config.clone();
        let Some((number, spi_i, chosen)) =
            proposals::select_ike_rekey(offer, &config.ike_proposals, ke.group)
        else {
            self.counters.no_proposal += 1;
            let what = "IKE";
            self.error(Error::NoProposalChosen { remote, what }, out);
            return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![])];
        };
        let wanted = chosen.dh.transform_id();
        if ke.group != wanted {
            self.counters.invalid_ke += 1;
            let offered = ke.group;
            self.error(
                Error::InvalidKe {
                    remote,
                    offered,
                    wanted,
                },
                out,
            );
            return vec![notify(
                NotifyType::INVALID_KE_PAYLOAD,
                wanted.to_be_bytes().to_vec(),
            )];
        }
        let (Some(spi_r), Some(nonce_r)) = (self.new_ike_spi(), self.random_bytes(NONCE_LEN))
        else {
            return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![])];
        };
        let public = DiffieHellman::generate(chosen.dh, &self.rng).and_then(|dh| {
            let public = dh.public_value().to_vec();
            Ok((public, dh.shared_secret(&ke.data)?))
        });
        let new = public.and_then(|(public, shared)| {
            let nonces = (nonce_i, &nonce_r[..]);
            let (role, spis) = (Role::Responder, (spi_i, spi_r));
            let new =
                self.rekeyed_ike_sa(sa, role, chosen, nonces, shared.as_bytes(), spis, now)?;
            Ok((public, new))
        });
        let (public, new) = match new {
            Ok(n) => n,
            Err(error) => {
                self.error(Error::Crypto { remote, error }, out);
                return vec![notify(NotifyType::NO_PROPOSAL_CHOSEN, vec![])];
            }
        };
        let lowest = nonce_i.to_vec().min(nonce_r.clone());
        self.ike_rekeyed_by_peer(sa, new, lowest, now, out);
        vec![
            Payload::new(PayloadBody::SecurityAssociation(
                proposals::ike_rekey_answer(number, &chosen, spi_r),
            )),
            Payload::new(PayloadBody::Nonce(Opaque { data: nonce_r })),
            Payload::new(PayloadBody::KeyExchange(KeyExchange {
                group: wanted,
                reserved: 0,
                data: public,
            })),
        ]
    }

    /// Responder: records a collision when the peer's exchange rekeys
    /// what ours is rekeying (RFC 7296, 2.8.1).
    pub(super) fn note_collision(sa: &mut IkeSa, rekeyed: Made, lowest_nonce: Vec<u8>, made: Made) {
        let local_spi = sa.local_spi();
        let Some(pending) = &mut sa.pending else {
            return;
        };
        let ours = match pending.creating {
            Creating::Child {
                rekeys: Some(spi), ..
            } => Made::Child(spi),
            Creating::Ike { .. } => Made::Ike(local_spi),
            _ => return,
        };
        if ours == rekeyed {
            pending.collision = Some(Collision { lowest_nonce, made });
        }
    }
}
