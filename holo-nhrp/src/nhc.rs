//! The NHC (spoke) side of registration (RFC 2332, 5.2.3/5.2.4): register
//! with every configured NHS, refresh, retry with backoff, track NHS state.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cache::{Entry, EntryType, host, max_prefix};
use crate::config::NhsConfig;
use crate::instance::Instance;
use crate::io::{Notification, Output};
use crate::packet::{
    Cie, CieCode, ExtensionBody, Flags, Message, NbmaAddress, Packet, RequestReply,
};

/// First retry after 1 s, doubling up to 64 s (Cisco's registration
/// retransmission schedule).
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(64);
/// Unanswered registrations after which an NHS is declared down.
const DOWN_AFTER: u32 = 3;
/// Registration refresh towards an NHS that sees us behind NAT, when no
/// interval is configured: the refresh is what keeps the NAT's GRE mapping
/// (Linux conntrack: 180 s once answered, 30 s before) and with it the
/// path from the hub to us. The default refresh, a third of the holding
/// time (40 min), outlives every NAT's mapping. 30 s is of the order of
/// IKE's NAT keepalive (20 s).
pub const NAT_REFRESH: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NhsStatus {
    /// Never answered yet.
    Connecting,
    Up,
    Down,
}

#[derive(Debug)]
pub struct NhsState {
    pub config: NhsConfig,
    pub status: NhsStatus,
    /// Request id of the registration in flight.
    pub request_id: Option<u32>,
    /// Unanswered registrations in a row.
    pub attempts: u32,
    pub next_action: Instant,
    /// The NBMA address the NHS saw us at (Cisco NAT extension).
    pub seen_as: Option<IpAddr>,
    /// Registration Requests sent to this NHS, and replies received.
    pub registrations_sent: u64,
    pub replies_received: u64,
}

impl NhsState {
    pub fn new(config: NhsConfig, now: Instant) -> Self {
        NhsState {
            config,
            status: NhsStatus::Connecting,
            request_id: None,
            attempts: 0,
            next_action: now,
            seen_as: None,
            registrations_sent: 0,
            replies_received: 0,
        }
    }
}

impl Instance {
    pub fn nhs_states(&self) -> &[NhsState] {
        &self.nhs
    }

    /// The NHS to send resolution requests to: the best priority among
    /// those up, else the best configured.
    pub(crate) fn best_nhs(&self) -> Option<&NhsState> {
        let best = |up: bool| {
            self.nhs
                .iter()
                .filter(|n| !up || n.status == NhsStatus::Up)
                .min_by_key(|n| n.config.priority)
        };
        best(true).or_else(|| best(false))
    }

    pub(crate) fn registration_timers(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.config.nbma.is_unspecified() {
            // No tunnel source: `nbma_changed` registers once there is.
            return;
        }
        for i in 0..self.nhs.len() {
            if self.nhs[i].next_action > now {
                continue;
            }
            if self.nhs[i].request_id.is_some() {
                // The last registration went unanswered.
                let nhs = &mut self.nhs[i];
                nhs.attempts += 1;
                if nhs.attempts >= DOWN_AFTER && nhs.status != NhsStatus::Down {
                    nhs.status = NhsStatus::Down;
                    tracing::warn!(nhs = %nhs.config.protocol, "NHS down: no registration reply");
                    out.push(Output::Notify(Notification::NhsDown {
                        nhs: nhs.config.protocol,
                    }));
                }
            }
            self.register(i, now, out);
        }
    }

    fn register(&mut self, i: usize, now: Instant, out: &mut Vec<Output>) {
        let nhs = self.nhs[i].config.clone();
        // An NHS given by name is looked up again at every registration, so
        // a hub that moves is followed.
        if let Some(fqdn) = &nhs.fqdn {
            out.push(Output::ResolveName { fqdn: fqdn.clone() });
        }
        if nhs.nbma.is_unspecified() {
            // Not resolved yet: the answer triggers the registration.
            let state = &mut self.nhs[i];
            state.next_action = now
                + FIRST_RETRY
                    .saturating_mul(1 << state.attempts.min(6))
                    .min(MAX_RETRY);
            state.attempts += 1;
            return;
        }
        let id = self.request_id();
        let mut flags = Flags::CISCO_NAT_CAPABLE;
        if self.config.registration_unique {
            flags |= Flags::REGISTRATION_UNIQUE;
        }
        let own = self.config.protocol.ip();
        let cie = Cie {
            prefix_length: max_prefix(own),
            holding_time: self.config.holding_time,
            ..self.own_cie(max_prefix(own))
        };
        // Cisco: the CIE carries no client addresses; they are the packet's
        // source fields.
        let cie = Cie {
            nbma: NbmaAddress::default(),
            protocol: Default::default(),
            ..cie
        };
        let mut pkt = self.new_packet(
            nhs.protocol,
            Message::RegistrationRequest(self.request(flags, id, vec![cie])),
        );
        // Cisco puts the NHS's addresses in the NAT extension of requests.
        let nat_cie = Cie {
            holding_time: 0,
            nbma: NbmaAddress::new(nhs.nbma),
            protocol: nhs.protocol.into(),
            ..self.own_cie(max_prefix(nhs.protocol))
        };
        for ext in &mut pkt.extensions {
            if let ExtensionBody::CiscoNatAddress { cies } = &mut ext.body {
                cies.push(nat_cie.clone());
            }
        }
        let state = &mut self.nhs[i];
        state.request_id = Some(id);
        state.registrations_sent += 1;
        let backoff = FIRST_RETRY
            .saturating_mul(1 << state.attempts.min(6))
            .min(MAX_RETRY);
        state.next_action = now + backoff;
        self.send(nhs.nbma, &pkt, out);
    }

    pub(crate) fn on_registration_reply(
        &mut self,
        pkt: &Packet,
        m: &RequestReply,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let interval = self.config.registration_interval();
        let configured = self.config.registration_interval.is_some();
        let own = self.config.protocol.ip();
        let own_nbma = self.config.nbma;
        let Some(nhs) = self
            .nhs
            .iter_mut()
            .find(|n| n.request_id == Some(m.request_id))
        else {
            self.counters.error("unexpected-reply");
            return;
        };
        nhs.request_id = None;
        nhs.replies_received += 1;
        let code = m.cies.first().map_or(CieCode::SUCCESS, |c| c.code);
        if code != CieCode::SUCCESS {
            // RFC 2332, 5.2.4: a NAK; retry on the backoff schedule.
            tracing::warn!(nhs = %nhs.config.protocol, %code, "registration refused");
            self.counters.error("registration-refused");
            nhs.attempts += 1;
            nhs.next_action = now
                + FIRST_RETRY
                    .saturating_mul(1 << nhs.attempts.min(6))
                    .min(MAX_RETRY);
            return;
        }
        nhs.attempts = 0;
        // The NHS echoes our NAT extension (its own CIE first) and adds
        // one for us when it saw us at another address.
        let seen_as = crate::instance::nat_address(pkt, own);
        let behind_nat = seen_as.is_some_and(|a| a != own_nbma);
        let refresh = match behind_nat && !configured {
            true => interval.min(NAT_REFRESH),
            false => interval,
        };
        if behind_nat && seen_as != nhs.seen_as {
            tracing::info!(
                nhs = %nhs.config.protocol,
                seen_as = ?seen_as,
                ?refresh,
                "behind NAT: the NHS sees us at another address"
            );
        }
        nhs.seen_as = seen_as;
        nhs.next_action = now + refresh;
        if nhs.status != NhsStatus::Up {
            nhs.status = NhsStatus::Up;
            tracing::info!(nhs = %nhs.config.protocol, "NHS up");
            out.push(Output::Notify(Notification::NhsUp {
                nhs: nhs.config.protocol,
            }));
        }
        // The NHS holds our binding as just registered: a purge of an older
        // one (NBMA address change) must not remove it when retransmitted.
        let registered_at = nhs.config.protocol;
        self.purges_superseded(registered_at, host(own));
    }

    /// The driver resolved an NHS's name. A new address replaces the NHS's
    /// binding and multicast entry and is registered with at once.
    pub(crate) fn nhs_resolved(
        &mut self,
        fqdn: &str,
        addresses: &[IpAddr],
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let family = self.config.nbma.is_ipv4();
        let Some(new) = addresses
            .iter()
            .find(|a| a.is_ipv4() == family)
            .or(addresses.first())
        else {
            self.counters.error("nhs-name-unresolved");
            tracing::warn!(%fqdn, "NHS name did not resolve");
            return;
        };
        for i in 0..self.nhs.len() {
            let config = &self.nhs[i].config;
            if config.fqdn.as_deref() != Some(fqdn) || config.nbma == *new {
                continue;
            }
            let old = config.nbma;
            let protocol = config.protocol;
            tracing::info!(%fqdn, %old, %new, "NHS address changed");
            let mut entry = Entry::new(host(protocol), EntryType::Nhs, protocol, now);
            entry.nbma = Some(*new);
            self.cache.insert(entry, out);
            if !old.is_unspecified() {
                out.push(Output::MulticastRemoved { nbma: old });
            }
            out.push(Output::MulticastAdded { nbma: *new });
            let state = &mut self.nhs[i];
            state.config.nbma = *new;
            state.request_id = None;
            state.attempts = 0;
            state.next_action = now;
            self.register(i, now, out);
        }
    }

    /// Our NBMA address changed: purge the old binding at every NHS, then
    /// register the new one at once.
    /// Unspecified (0.0.0.0) is "no source": the tunnel's source address
    /// or interface is not up. Nothing can be sent then: registrations wait
    /// for a source (and the old binding, unreachable, expires at the NHS);
    /// from no source to one, there is nothing to purge.
    pub(crate) fn nbma_changed(&mut self, nbma: IpAddr, now: Instant, out: &mut Vec<Output>) {
        let old = self.config.nbma;
        if old == nbma {
            return;
        }
        tracing::info!(%old, new = %nbma, "tunnel source changed");
        if nbma.is_unspecified() {
            // The binding the NHSs hold, to purge should we come back at
            // another address (DHCP gave a new one while the link was out).
            self.registered_from = Some(old);
            self.config.nbma = nbma;
            return;
        }
        let old = match old.is_unspecified() {
            // Back at another address: the old binding is purged from the
            // new one (the packet's source NBMA), the CIE naming the old.
            true => match self.registered_from.take() {
                Some(registered) if registered != nbma => {
                    self.config.nbma = nbma;
                    registered
                }
                _ => {
                    self.config.nbma = nbma;
                    self.register_now(now, out);
                    return;
                }
            },
            false => old,
        };
        let own = self.config.protocol.ip();
        for i in 0..self.nhs.len() {
            let nhs = self.nhs[i].config.clone();
            let cie = Cie {
                holding_time: 0,
                nbma: NbmaAddress::new(old),
                ..self.own_cie(max_prefix(own))
            };
            self.send_purge(nhs.nbma, nhs.protocol, cie, now, out);
        }
        self.config.nbma = nbma;
        self.register_now(now, out);
    }

    /// Registers with every NHS at once, as the first time: fresh request
    /// ids, backoff reset.
    pub(crate) fn register_now(&mut self, now: Instant, out: &mut Vec<Output>) {
        for nhs in &mut self.nhs {
            nhs.next_action = now;
            nhs.attempts = 0;
            nhs.request_id = None;
        }
        self.registration_timers(now, out);
    }
}
