//! A received datagram: decode, find the IKE SA, check the message ID
//! window, decrypt, and hand it to its exchange.
//!
//! Every step that fails counts the message and drops it; only an
//! authentic request with garbage inside gets an answer (INVALID_SYNTAX,
//! RFC 7296, 2.21.3), so what a stranger can make us send stays bounded
//! by what it sends.

use std::net::SocketAddr;
use std::time::Instant;

use super::Ike;
use super::error::Error;
use super::fragmentation::fragment_number;
use super::informational::Outcome;
use super::init::{notify, unsupported_critical};
use super::io::{DownReason, Output};
use super::retransmission::RequestKind;
use super::sa::{IkeSa, OpenError, Role, State};
use crate::packet::{ExchangeType, Message, NotifyType, Payload};

/// The largest IKE message we take: a UDP datagram's payload.
pub const MAX_MESSAGE: usize = 65_535 - 8;

/// What happens to an IKE SA after a message.
pub(super) enum Fate {
    Keep,
    /// Forget it now (its child SAs leave the data plane).
    Drop(DownReason),
    /// Keep it, but delete it with a Delete request.
    Delete,
}

impl Ike {
    pub(super) fn receive(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        self.counters.packets_in += 1;
        if bytes.len() > MAX_MESSAGE {
            self.counters.malformed += 1;
            let len = bytes.len();
            return self.error(Error::Oversized { remote, len }, out);
        }
        let message = match Message::parse(bytes) {
            Ok(m) => m,
            Err(error) => {
                self.counters.malformed += 1;
                return self.error(Error::Decode { remote, error }, out);
            }
        };
        let addrs = (local, remote);
        if message.exchange_type == ExchangeType::IKE_SA_INIT {
            return if message.flags.response() {
                self.init_response(addrs, bytes, &message, now, out)
            } else {
                self.respond_init(addrs, bytes, &message, now, out)
            };
        }
        // The I flag says who sent it: the original initiator writes to
        // us as responder, so our SPI is SPIr.
        let we_respond = message.flags.initiator();
        let spi = if we_respond {
            message.spi_responder
        } else {
            message.spi_initiator
        };
        let Some(mut sa) = self.sas.remove(&spi) else {
            self.counters.unknown_spi += 1;
            let what = if message.flags.response() {
                "response"
            } else {
                "request"
            };
            return self.error(Error::UnknownSpi { remote, spi, what }, out);
        };
        let ours = (sa.role == Role::Responder) == we_respond
            && message.spi_initiator == sa.spi_i
            && message.spi_responder == sa.spi_r;
        let fate = if !ours {
            self.counters.unknown_spi += 1;
            let what = "message with mismatched SPIs";
            self.error(Error::UnknownSpi { remote, spi, what }, out);
            Fate::Keep
        } else if message.flags.response() {
            self.receive_response(&mut sa, remote, bytes, &message, now, out)
        } else {
            self.receive_request(&mut sa, addrs, bytes, &message, now, out)
        };
        match fate {
            Fate::Keep => {
                self.sas.insert(spi, sa);
            }
            Fate::Drop(reason) => self.drop_sa(sa, reason, out),
            Fate::Delete => {
                self.sas.insert(spi, sa);
                self.delete_sa(spi, now, out);
            }
        }
    }

    fn receive_response(
        &mut self,
        sa: &mut IkeSa,
        remote: SocketAddr,
        bytes: &[u8],
        message: &Message,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Fate {
        let expected = sa.window.outstanding.as_ref().map(|r| r.message_id);
        if expected != Some(message.message_id) {
            // A late duplicate, or nothing we asked.
            self.counters.invalid_message_id += 1;
            let got = message.message_id;
            let expected = expected.unwrap_or(sa.window.next_request_id);
            self.error(
                Error::InvalidMessageId {
                    remote,
                    got,
                    expected,
                },
                out,
            );
            return Fate::Keep;
        }
        let payloads = match self.open_message(sa, bytes, message, remote, out) {
            Ok(Some(p)) => p,
            // A fragment: the rest is still on its way.
            Ok(None) => return Fate::Keep,
            Err(OpenError::Integrity(e)) => {
                self.counters.integrity_failures += 1;
                self.error(e, out);
                return Fate::Keep;
            }
            Err(OpenError::Syntax(e)) => {
                self.counters.malformed += 1;
                let reason = DownReason::Invalid(e.to_string());
                self.error(e, out);
                return Fate::Drop(reason);
            }
        };
        sa.last_heard = now;
        let Some(request) = sa.window.outstanding.take() else {
            return Fate::Keep;
        };
        match request.kind {
            RequestKind::Auth => match self.auth_response(sa, remote, &payloads, now, out) {
                Ok(true) => {
                    self.next_request(sa, now, out);
                    Fate::Keep
                }
                Ok(false) => Fate::Delete,
                Err(reason) => Fate::Drop(reason),
            },
            RequestKind::CreateChild | RequestKind::RekeyChild(_) | RequestKind::RekeyIke => {
                self.create_child_response(sa, &payloads, now, out)
            }
            kind => match self.informational_response(sa, kind, now, out) {
                Some(reason) => Fate::Drop(reason),
                None => Fate::Keep,
            },
        }
    }

    fn receive_request(
        &mut self,
        sa: &mut IkeSa,
        (local, remote): (SocketAddr, SocketAddr),
        bytes: &[u8],
        message: &Message,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Fate {
        let id = message.message_id;
        let expected = sa.window.expected_request_id;
        if let Some((last, response)) = &sa.window.last_response
            && *last == id
            && id.wrapping_add(1) == expected
        {
            // RFC 7296, 2.1: a retransmission gets the same answer, and is
            // not processed again. RFC 7383, 2.6.1: of a fragmented one,
            // only fragment 1 does.
            if fragment_number(message).is_some_and(|n| n != 1) {
                return Fate::Keep;
            }
            let response = response.clone();
            self.counters.responses_resent += 1;
            self.send_all((local, remote), &response, out);
            sa.last_sent = now;
            return Fate::Keep;
        }
        if id != expected {
            self.counters.invalid_message_id += 1;
            self.error(
                Error::InvalidMessageId {
                    remote,
                    got: id,
                    expected,
                },
                out,
            );
            return Fate::Keep;
        }
        let exchange = message.exchange_type;
        let payloads = match self.open_message(sa, bytes, message, remote, out) {
            Ok(Some(p)) => p,
            // A fragment: the rest is still on its way.
            Ok(None) => return Fate::Keep,
            Err(OpenError::Integrity(e)) => {
                self.counters.integrity_failures += 1;
                self.error(e, out);
                return Fate::Keep;
            }
            Err(OpenError::Syntax(e)) => {
                self.counters.malformed += 1;
                self.error(e, out);
                let answer = [notify(NotifyType::INVALID_SYNTAX, vec![])];
                self.respond(sa, (local, remote), exchange, id, &answer, out);
                // An IKE SA whose IKE_AUTH fails cannot come up.
                return if sa.state == State::AwaitingAuth {
                    Fate::Drop(DownReason::Invalid("INVALID_SYNTAX in IKE_AUTH".into()))
                } else {
                    Fate::Keep
                };
            }
        };
        sa.last_heard = now;
        if let Some(ty) = unsupported_critical(&payloads) {
            self.counters.malformed += 1;
            let answer = [notify(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![ty])];
            self.respond(sa, (local, remote), exchange, id, &answer, out);
            return Fate::Keep;
        }
        match (exchange, sa.state) {
            (ExchangeType::IKE_AUTH, State::AwaitingAuth) => {
                let (answer, up) = self.respond_auth(sa, (local, remote), &payloads, now, out);
                self.respond(sa, (local, remote), exchange, id, &answer, out);
                if up {
                    // Only after our answer: the peer must hold `sa`'s
                    // child SA before the Delete of a redundant one
                    // reaches it, or its data plane is left without any.
                    // We respond to `sa`: only another SA can go here.
                    self.simultaneous(sa, now, out);
                    Fate::Keep
                } else {
                    Fate::Drop(DownReason::AuthenticationFailed)
                }
            }
            (ExchangeType::INFORMATIONAL, State::Established | State::Deleting) => {
                if sa.nat.encapsulate() {
                    // RFC 7296, 2.23: follow the NAT's mapping.
                    sa.remote = remote;
                }
                let (answer, outcome) = self.respond_informational(sa, &payloads, out);
                self.respond(sa, (local, remote), exchange, id, &answer, out);
                match outcome {
                    Outcome::Keep => Fate::Keep,
                    Outcome::Deleted => Fate::Drop(DownReason::DeletedByPeer),
                }
            }
            (ExchangeType::CREATE_CHILD_SA, State::Established) => {
                let answer = self.respond_create_child(sa, &payloads, now, out);
                self.respond(sa, (local, remote), exchange, id, &answer, out);
                Fate::Keep
            }
            (ExchangeType::CREATE_CHILD_SA, State::Deleting) => {
                // RFC 7296, 2.25.2: we are closing this IKE SA.
                self.counters.temporary_failures += 1;
                let answer = [notify(NotifyType::TEMPORARY_FAILURE, vec![])];
                self.respond(sa, (local, remote), exchange, id, &answer, out);
                Fate::Keep
            }
            _ => {
                let reason = "not in this state";
                self.error(
                    Error::Unexpected {
                        remote,
                        exchange,
                        reason,
                    },
                    out,
                );
                Fate::Keep
            }
        }
    }

    /// Sends our answer to request `id` and caches it for retransmissions.
    fn respond(
        &mut self,
        sa: &mut IkeSa,
        (local, remote): (SocketAddr, SocketAddr),
        exchange: ExchangeType,
        id: u32,
        payloads: &[Payload],
        out: &mut Vec<Output>,
    ) {
        sa.window.expected_request_id = id.wrapping_add(1);
        match sa.seal_message(exchange, true, id, payloads, &self.rng) {
            Ok(datagrams) => {
                self.send_all((local, remote), &datagrams, out);
                // Set by `handle` before anything is received.
                sa.last_sent = self.now.unwrap_or(sa.last_sent);
                sa.window.last_response = Some((id, datagrams));
            }
            Err(e) => self.error(e, out),
        }
    }
}
