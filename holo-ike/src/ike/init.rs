//! The IKE_SA_INIT exchange (RFC 7296, 1.2): proposals, Diffie-Hellman,
//! nonces and NAT detection; the keys of the IKE SA come out of it.
//!
//! ```text
//! Initiator                         Responder
//! HDR, SAi1, KEi, Ni, N(NAT-D)x2 -->
//!                               <-- HDR, SAr1, KEr, Nr, N(NAT-D)x2
//!                               <-- HDR, N(INVALID_KE_PAYLOAD) (retry with that group)
//!                               <-- HDR, N(NO_PROPOSAL_CHOSEN)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::error::Error;
use super::identity::Identity;
use super::io::{DownReason, Output};
use super::nat::{self, NatState};
use super::proposals;
use super::retransmission::{Request, RequestKind};
use super::sa::{IkeSa, Keys, Role, State};
use super::{Ike, cert_auth, config::HALF_OPEN_TIMEOUT, cookie, fragmentation};
use crate::crypto::cipher::key_lengths;
use crate::crypto::{CryptoError, DhGroup, DiffieHellman, IkeSaKeys, SkCipher};
use crate::packet::udp_encap::{IKE_PORT, NAT_T_PORT};
use crate::packet::{
    ExchangeType, Flags, KeyExchange, Message, Notify, NotifyType, Opaque, Payload, PayloadBody,
    ProtocolId, header,
};

/// Length of our nonces: at least half the PRF key size and 16 octets
/// (RFC 7296, 2.10); 32 covers every PRF we have.
pub const NONCE_LEN: usize = 32;
/// RFC 7296, 3.9: nonces are 16 to 256 octets.
pub const NONCE_RANGE: std::ops::RangeInclusive<usize> = 16..=256;
/// INVALID_KE_PAYLOAD answers we follow for one IKE SA.
const MAX_KE_RETRIES: u8 = 2;

/// The payloads IKE_SA_INIT needs, found in a message.
#[derive(Debug)]
pub struct InitPayloads<'a> {
    pub sa: Option<&'a crate::packet::SecurityAssociation>,
    pub ke: Option<&'a KeyExchange>,
    pub nonce: Option<&'a [u8]>,
}

pub fn init_payloads(payloads: &[Payload]) -> InitPayloads<'_> {
    let mut found = InitPayloads {
        sa: None,
        ke: None,
        nonce: None,
    };
    for p in payloads {
        match &p.body {
            PayloadBody::SecurityAssociation(sa) => found.sa = found.sa.or(Some(sa)),
            PayloadBody::KeyExchange(ke) => found.ke = found.ke.or(Some(ke)),
            PayloadBody::Nonce(n) => found.nonce = found.nonce.or(Some(&n.data)),
            _ => {}
        }
    }
    found
}

/// The first error notify of a message.
pub fn error_notify(payloads: &[Payload]) -> Option<&Notify> {
    payloads.iter().find_map(|p| match &p.body {
        PayloadBody::Notify(n) if n.notify_type.is_error() => Some(n),
        _ => None,
    })
}

pub fn notify(notify_type: NotifyType, data: Vec<u8>) -> Payload {
    Payload::new(PayloadBody::Notify(Notify {
        protocol_id: ProtocolId(0),
        notify_type,
        spi: vec![],
        data,
    }))
}

/// The first unknown payload with the critical bit (RFC 7296, 2.5).
pub fn unsupported_critical(payloads: &[Payload]) -> Option<u8> {
    payloads.iter().find_map(|p| match &p.body {
        PayloadBody::Unknown(u) if p.critical => Some(u.payload_type.0),
        _ => None,
    })
}

pub fn sk_ciphers(
    proposal: &super::IkeProposal,
    keys: &IkeSaKeys,
    role: Role,
) -> Result<(SkCipher, SkCipher), CryptoError> {
    let i = SkCipher::new(proposal.encr, proposal.integ, &keys.sk_ei, &keys.sk_ai)?;
    let r = SkCipher::new(proposal.encr, proposal.integ, &keys.sk_er, &keys.sk_ar)?;
    Ok(match role {
        Role::Initiator => (i, r),
        Role::Responder => (r, i),
    })
}

impl Ike {
    /// Starts a new IKE SA with `peer` (replacing `replaces`, if any).
    pub(super) fn initiate(
        &mut self,
        local: IpAddr,
        peer: IpAddr,
        replaces: Option<u64>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let config = Arc::clone(&self.config);
        let (Some(first), Some(spi_i), Some(nonce_i)) = (
            config.ike_proposals.first(),
            self.new_ike_spi(),
            self.random_bytes(NONCE_LEN),
        ) else {
            return;
        };
        let ke_group = first.dh;
        let local_id = config
            .local_id
            .clone()
            .unwrap_or(Identity::from_address(local));
        let addrs = (
            SocketAddr::new(local, IKE_PORT),
            SocketAddr::new(peer, IKE_PORT),
        );
        let mut sa = IkeSa::new(
            config,
            Role::Initiator,
            State::InitSent,
            addrs,
            local_id,
            now,
        );
        sa.spi_i = spi_i;
        sa.peer = peer;
        sa.ke_group = ke_group;
        sa.nonce_i = nonce_i;
        sa.replaces = replaces;
        sa.credentials = self.credentials.clone();
        if self.send_init(&mut sa, now, out) {
            self.sas.insert(spi_i, sa);
        } else {
            self.drop_sa(
                sa,
                DownReason::Invalid("cannot build IKE_SA_INIT".into()),
                out,
            );
        }
    }

    /// (Re)sends our IKE_SA_INIT request with a DH value of `sa.ke_group`
    /// (the same one again after a COOKIE, RFC 7296, 2.6), and the cookie
    /// first if we have one.
    fn send_init(&mut self, sa: &mut IkeSa, now: Instant, out: &mut Vec<Output>) -> bool {
        let remote = sa.remote;
        let dh = match sa.dh.take() {
            Some(dh) if dh.group() == sa.ke_group => Ok(dh),
            _ => DiffieHellman::generate(sa.ke_group, &self.rng),
        };
        let dh = match dh {
            Ok(dh) => dh,
            Err(error) => {
                self.error(Error::Crypto { remote, error }, out);
                return false;
            }
        };
        let mut payloads: Vec<Payload> = sa
            .cookie
            .iter()
            .map(|c| notify(NotifyType::COOKIE, c.clone()))
            .collect();
        payloads.extend([
            Payload::new(PayloadBody::SecurityAssociation(proposals::ike_offer(
                &sa.config.ike_proposals,
            ))),
            Payload::new(PayloadBody::KeyExchange(KeyExchange {
                group: sa.ke_group.transform_id(),
                reserved: 0,
                data: dh.public_value().to_vec(),
            })),
            Payload::new(PayloadBody::Nonce(Opaque {
                data: sa.nonce_i.clone(),
            })),
        ]);
        // Always: strongSwan only encapsulates with a peer that sent them.
        payloads.extend(nat::notifies(
            sa.spi_i,
            0,
            sa.local,
            sa.remote,
            sa.config.force_encap,
        ));
        payloads.extend(fragmentation::init_payloads(&sa.config));
        payloads.extend(cert_auth::init_payloads(sa, false));
        let message = Message {
            spi_initiator: sa.spi_i,
            spi_responder: 0,
            major_version: header::MAJOR_VERSION,
            minor_version: 0,
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: Flags(Flags::INITIATOR),
            message_id: 0,
            payloads,
        };
        let bytes = match message.emit() {
            Ok(b) => b,
            Err(error) => {
                self.error(Error::Encode { remote, error }, out);
                return false;
            }
        };
        sa.dh = Some(dh);
        sa.init_request = bytes.clone();
        sa.window.outstanding = Some(Request::new(
            0,
            RequestKind::Init,
            vec![bytes.clone()],
            (sa.local, sa.remote),
            &sa.config.retransmit,
            now,
        ));
        self.send(sa.local, sa.remote, bytes, out);
        true
    }

    /// Initiator: the answer to our IKE_SA_INIT. Returns whether the SA
    /// stays (its fate otherwise given by `drop_sa` here).
    pub(super) fn init_response(
        &mut self,
        (local, remote): (SocketAddr, SocketAddr),
        bytes: &[u8],
        response: &Message,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let spi = response.spi_initiator;
        let Some(mut sa) = self.sas.remove(&spi) else {
            self.counters.unknown_spi += 1;
            let what = "IKE_SA_INIT response";
            return self.error(Error::UnknownSpi { remote, spi, what }, out);
        };
        if sa.role != Role::Initiator || sa.state != State::InitSent || response.message_id != 0 {
            self.counters.invalid_message_id += 1;
            self.sas.insert(spi, sa);
            let reason = "not awaiting IKE_SA_INIT";
            let exchange = ExchangeType::IKE_SA_INIT;
            return self.error(
                Error::Unexpected {
                    remote,
                    exchange,
                    reason,
                },
                out,
            );
        }
        match self.init_response_sa(&mut sa, (local, remote), bytes, response, now, out) {
            Ok(()) => {
                self.sas.insert(spi, sa);
            }
            Err(reason) => self.drop_sa(sa, reason, out),
        }
    }

    fn init_response_sa(
        &mut self,
        sa: &mut IkeSa,
        (local, remote): (SocketAddr, SocketAddr),
        bytes: &[u8],
        response: &Message,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Result<(), DownReason> {
        if let Some(cookie) = cookie::first_cookie(&response.payloads) {
            // RFC 7296, 2.6: the same request again, the cookie first.
            if !cookie::acceptable(cookie) || sa.cookie_retries >= cookie::MAX_COOKIE_RETRIES {
                return Err(DownReason::Refused(NotifyType::COOKIE.to_string()));
            }
            sa.cookie_retries += 1;
            sa.cookie = Some(cookie.to_vec());
            return if self.send_init(sa, now, out) {
                Ok(())
            } else {
                Err(DownReason::Invalid("cannot build IKE_SA_INIT".into()))
            };
        }
        if let Some(n) = error_notify(&response.payloads) {
            let notify = n.notify_type;
            if notify == NotifyType::INVALID_KE_PAYLOAD {
                self.counters.invalid_ke += 1;
                let wanted = <[u8; 2]>::try_from(&n.data[..])
                    .ok()
                    .map(u16::from_be_bytes)
                    .and_then(DhGroup::from_transform_id)
                    .filter(|g| sa.config.ike_proposals.iter().any(|p| p.dh == *g));
                match wanted {
                    Some(group) if group != sa.ke_group && sa.ke_retries < MAX_KE_RETRIES => {
                        sa.ke_retries += 1;
                        sa.ke_group = group;
                        return if self.send_init(sa, now, out) {
                            Ok(())
                        } else {
                            Err(DownReason::Invalid("cannot build IKE_SA_INIT".into()))
                        };
                    }
                    _ => return Err(DownReason::Refused(notify.to_string())),
                }
            }
            if notify == NotifyType::NO_PROPOSAL_CHOSEN {
                self.counters.no_proposal += 1;
            }
            self.error(Error::Refused { remote, notify }, out);
            return Err(DownReason::Refused(notify.to_string()));
        }
        let invalid = |reason: &str| DownReason::Invalid(reason.to_string());
        let found = init_payloads(&response.payloads);
        let (Some(answer), Some(ke), Some(nonce_r)) = (found.sa, found.ke, found.nonce) else {
            self.counters.malformed += 1;
            return Err(invalid("SA, KE or Nonce missing in IKE_SA_INIT response"));
        };
        let chosen = proposals::chosen_ike(answer)
            .filter(|c| sa.config.ike_proposals.contains(c) && c.dh == sa.ke_group);
        let Some(chosen) = chosen.filter(|c| ke.group == c.dh.transform_id()) else {
            self.counters.no_proposal += 1;
            return Err(invalid("the responder chose a proposal we did not offer"));
        };
        if !NONCE_RANGE.contains(&nonce_r.len()) || response.spi_responder == 0 {
            self.counters.malformed += 1;
            return Err(invalid("bad nonce or responder SPI"));
        }
        let Some(dh) = sa.dh.take() else {
            return Err(invalid("no DH value"));
        };
        sa.spi_r = response.spi_responder;
        let crypto = dh.shared_secret(&ke.data).and_then(|shared| {
            let lengths = key_lengths(chosen.encr, chosen.integ);
            let sk = IkeSaKeys::derive(
                chosen.prf,
                lengths,
                &sa.nonce_i,
                nonce_r,
                shared.as_bytes(),
                sa.spi_i,
                sa.spi_r,
            )?;
            let (tx, rx) = sk_ciphers(&chosen, &sk, Role::Initiator)?;
            let prf = chosen.prf;
            Ok(Keys { prf, sk, tx, rx })
        });
        let keys = crypto.map_err(|error| {
            self.error(Error::Crypto { remote, error }, out);
            invalid("key exchange failed")
        })?;
        sa.keys = Some(keys);
        sa.proposal = Some(chosen);
        sa.nonce_r = nonce_r.to_vec();
        sa.init_response = bytes.to_vec();
        sa.last_heard = now;
        sa.nat = NatState::detect(
            &response.payloads,
            sa.spi_i,
            sa.spi_r,
            local,
            remote,
            sa.config.force_encap,
        );
        fragmentation::note_init(sa, &response.payloads);
        cert_auth::note_init(sa, &response.payloads);
        if sa.nat.encapsulate() {
            // RFC 7296, 2.23: float to 4500 from IKE_AUTH on.
            sa.local.set_port(NAT_T_PORT);
            sa.remote.set_port(NAT_T_PORT);
        }
        sa.window.outstanding = None;
        sa.window.next_request_id = 1;
        self.send_auth(sa, now, out)
    }

    /// Responder SAs left half-open for too long.
    pub(super) fn half_open_expired(sa: &IkeSa, now: Instant) -> bool {
        sa.state == State::AwaitingAuth && now >= sa.created + HALF_OPEN_TIMEOUT
    }
}
