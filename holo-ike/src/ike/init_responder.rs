//! The responder's side of IKE_SA_INIT (RFC 7296, 1.2): checks, the
//! cookie when too many SAs are half-open (2.6, [`super::cookie`]), the
//! proposal and the DH group, then keys and a half-open IKE SA.
//!
//! Every refusal is an unauthenticated notify alone (SPIr 0) and keeps no
//! state: INVALID_SYNTAX, NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD (with the
//! group we want), UNSUPPORTED_CRITICAL_PAYLOAD, COOKIE.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::error::Error;
use super::identity::Identity;
use super::init::{
    NONCE_LEN, NONCE_RANGE, init_payloads, notify, sk_ciphers, unsupported_critical,
};
use super::io::Output;
use super::nat::{self, NatState};
use super::proposals;
use super::retransmission::Window;
use super::sa::{IkeSa, Keys, Role, State};
use super::{Ike, cert_auth, cookie, fragmentation};
use crate::crypto::cipher::key_lengths;
use crate::crypto::{DiffieHellman, IkeSaKeys};
use crate::packet::{
    ExchangeType, Flags, KeyExchange, Message, NotifyType, Opaque, Payload, PayloadBody, header,
};

impl Ike {
    /// An unauthenticated error answer to an IKE_SA_INIT request (SPIr 0).
    fn refuse_init(
        &mut self,
        request: &Message,
        (local, remote): (SocketAddr, SocketAddr),
        notify_type: NotifyType,
        data: Vec<u8>,
        out: &mut Vec<Output>,
    ) {
        let message = Message {
            spi_initiator: request.spi_initiator,
            spi_responder: 0,
            major_version: header::MAJOR_VERSION,
            minor_version: 0,
            exchange_type: ExchangeType::IKE_SA_INIT,
            flags: Flags(Flags::RESPONSE),
            message_id: 0,
            payloads: vec![notify(notify_type, data)],
        };
        match message.emit() {
            Ok(bytes) => self.send(local, remote, bytes, out),
            Err(error) => self.error(Error::Encode { remote, error }, out),
        }
    }

    /// Responder: an IKE_SA_INIT request.
    pub(super) fn respond_init(
        &mut self,
        (local, remote): (SocketAddr, SocketAddr),
        bytes: &[u8],
        request: &Message,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let exchange = ExchangeType::IKE_SA_INIT;
        let unexpected = |reason| Error::Unexpected {
            remote,
            exchange,
            reason,
        };
        if request.spi_responder != 0 || request.message_id != 0 || !request.flags.initiator() {
            self.counters.malformed += 1;
            return self.error(unexpected("SPIr, message ID or I flag wrong"), out);
        }
        // A retransmission: the same answer again (RFC 7296, 2.1).
        if let Some(spi) = self.init_index.get(&(remote, request.spi_initiator)) {
            let cached = self.sas.get(spi).and_then(|sa| {
                let (id, response) = sa.window.last_response.as_ref()?;
                (sa.init_request == bytes && *id == 0).then(|| response.clone())
            });
            if let Some(response) = cached {
                self.counters.responses_resent += 1;
                self.send_all((local, remote), &response, out);
            }
            return;
        }
        if self.half_open >= self.config.max_half_open {
            self.counters.half_open_dropped += 1;
            return self.error(Error::HalfOpenLimit { remote }, out);
        }
        let addrs = (local, remote);
        if let Some(ty) = unsupported_critical(&request.payloads) {
            self.counters.malformed += 1;
            let n = NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD;
            return self.refuse_init(request, addrs, n, vec![ty], out);
        }
        let found = init_payloads(&request.payloads);
        let (Some(offer), Some(ke), Some(nonce_i)) = (found.sa, found.ke, found.nonce) else {
            self.counters.malformed += 1;
            let reason = "SA, KE or Nonce missing".into();
            self.error(
                Error::InvalidSyntax {
                    remote,
                    exchange,
                    reason,
                },
                out,
            );
            return self.refuse_init(request, addrs, NotifyType::INVALID_SYNTAX, vec![], out);
        };
        if !NONCE_RANGE.contains(&nonce_i.len()) {
            self.counters.malformed += 1;
            let reason = format!("nonce of {} octets", nonce_i.len());
            self.error(
                Error::InvalidSyntax {
                    remote,
                    exchange,
                    reason,
                },
                out,
            );
            return self.refuse_init(request, addrs, NotifyType::INVALID_SYNTAX, vec![], out);
        }
        let spi_i = request.spi_initiator;
        if self.half_open >= self.config.cookie_threshold {
            let cookie = cookie::first_cookie(&request.payloads);
            let valid =
                cookie.is_some_and(|c| self.cookie_valid(c, nonce_i, remote.ip(), spi_i, now));
            if !valid {
                // RFC 7296, 2.6: no state, no DH: only the cookie.
                self.counters.cookies_rejected += u64::from(cookie.is_some());
                let Some(cookie) = self.make_cookie(nonce_i, remote.ip(), spi_i, now) else {
                    return;
                };
                self.counters.cookies_sent += 1;
                return self.refuse_init(request, addrs, NotifyType::COOKIE, cookie, out);
            }
        }
        let config = Arc::clone(&self.config);
        let Some((number, chosen)) = proposals::select_ike(offer, &config.ike_proposals, ke.group)
        else {
            self.counters.no_proposal += 1;
            self.error(
                Error::NoProposalChosen {
                    remote,
                    what: "IKE",
                },
                out,
            );
            let n = NotifyType::NO_PROPOSAL_CHOSEN;
            return self.refuse_init(request, addrs, n, vec![], out);
        };
        let wanted = chosen.dh.transform_id();
        if ke.group != wanted {
            // RFC 7296, 1.2: tell the initiator which group we want.
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
            let n = NotifyType::INVALID_KE_PAYLOAD;
            return self.refuse_init(request, addrs, n, wanted.to_be_bytes().to_vec(), out);
        }
        let (Some(spi_r), Some(nonce_r)) = (self.new_ike_spi(), self.random_bytes(NONCE_LEN))
        else {
            return;
        };
        let crypto = DiffieHellman::generate(chosen.dh, &self.rng).and_then(|dh| {
            let public = dh.public_value().to_vec();
            let shared = dh.shared_secret(&ke.data)?;
            let lengths = key_lengths(chosen.encr, chosen.integ);
            let sk = IkeSaKeys::derive(
                chosen.prf,
                lengths,
                nonce_i,
                &nonce_r,
                shared.as_bytes(),
                spi_i,
                spi_r,
            )?;
            let (tx, rx) = sk_ciphers(&chosen, &sk, Role::Responder)?;
            let prf = chosen.prf;
            Ok((public, Keys { prf, sk, tx, rx }))
        });
        let (public, keys) = match crypto {
            Ok(c) => c,
            Err(error) => {
                self.counters.malformed += 1;
                self.error(Error::Crypto { remote, error }, out);
                let n = NotifyType::INVALID_SYNTAX;
                return self.refuse_init(request, addrs, n, vec![], out);
            }
        };
        let nat = NatState::detect(
            &request.payloads,
            spi_i,
            0,
            local,
            remote,
            config.force_encap,
        );
        let mut payloads = vec![
            Payload::new(PayloadBody::SecurityAssociation(proposals::ike_answer(
                number, &chosen,
            ))),
            Payload::new(PayloadBody::KeyExchange(KeyExchange {
                group: wanted,
                reserved: 0,
                data: public,
            })),
            Payload::new(PayloadBody::Nonce(Opaque {
                data: nonce_r.clone(),
            })),
        ];
        if nat.supported {
            let force = config.force_encap;
            payloads.extend(nat::notifies(spi_i, spi_r, local, remote, force));
        }
        let local_id = config
            .local_id
            .clone()
            .unwrap_or(Identity::from_address(local.ip()));
        let mut sa = IkeSa::new(
            config,
            Role::Responder,
            State::AwaitingAuth,
            (local, remote),
            local_id,
            now,
        );
        sa.credentials = self.credentials.clone();
        fragmentation::note_init(&mut sa, &request.payloads);
        cert_auth::note_init(&mut sa, &request.payloads);
        if sa.fragmentation {
            payloads.extend(fragmentation::init_payloads(&sa.config));
        }
        payloads.extend(cert_auth::init_payloads(&sa, true));
        let response = Message {
            spi_initiator: spi_i,
            spi_responder: spi_r,
            major_version: header::MAJOR_VERSION,
            minor_version: 0,
            exchange_type: exchange,
            flags: Flags(Flags::RESPONSE),
            message_id: 0,
            payloads,
        };
        let response = match response.emit() {
            Ok(b) => b,
            Err(error) => return self.error(Error::Encode { remote, error }, out),
        };
        sa.spi_i = spi_i;
        sa.spi_r = spi_r;
        sa.proposal = Some(chosen);
        sa.ke_group = chosen.dh;
        sa.nonce_i = nonce_i.to_vec();
        sa.nonce_r = nonce_r;
        sa.init_request = bytes.to_vec();
        sa.init_response = response.clone();
        sa.keys = Some(keys);
        sa.nat = nat;
        sa.window = Window {
            next_request_id: 0,
            outstanding: None,
            queue: Default::default(),
            expected_request_id: 1,
            last_response: Some((0, vec![response.clone()])),
        };
        self.half_open += 1;
        self.sas.insert(spi_r, sa);
        self.init_index.insert((remote, spi_i), spi_r);
        self.send(local, remote, response, out);
    }
}
