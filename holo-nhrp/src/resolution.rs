//! Resolution (RFC 2332, 5.2.1/5.2.2), Phase 3 redirect (Cisco Traffic
//! Indication) and Error Indication handling.
//!
//! Peers behind NAT (issue 6). A shortcut is towards a NATed peer when the
//! NBMA address we would send to (the one the Cisco NAT extension names, or
//! the source of a packet that came straight from it) differs from the one
//! the peer claims. Such a shortcut is only installed once the direct path
//! is shown to work, by an NHRP packet that came straight from that address:
//! the Resolution Reply itself (our responders and Cisco answer directly,
//! so this costs nothing), the answer to a direct probe (a Resolution
//! Request for the peer's own address sent to that address, 4 probes over
//! 7 s), or any packet the peer sends us. Until then nothing is installed
//! and traffic stays on the NHS path; after a failed probe series the
//! shortcut becomes a negative entry (10 s doubling up to 5 min). A proven
//! shortcut whose refresh answer comes through an NHS is probed again and
//! withdrawn if the probes go unanswered; between refreshes a NAT that
//! forgets its mapping is not noticed (its ICMP unreachable never reaches
//! NHRP). Shortcuts towards peers not behind NAT are used at once, as
//! before. As responder, a NATed requester whose request did not come
//! straight from it is answered back through the NHS that forwarded the
//! request (RFC 2332's reverse path), since its NAT holds no mapping for us.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;

use crate::cache::{Entry, EntryType, NatPath, host, max_prefix};
use crate::instance::{HOP_COUNT, Instance, nat_address};
use crate::io::Output;
use crate::packet::{
    Address, Cie, CieCode, ErrorCode, ErrorIndication, ExtensionBody, Flags, Message, MessageType,
    Packet, RequestReply, TrafficIndication,
};

/// Retries of an unanswered Resolution Request: 1, 2, 4 s, then give up.
const RESOLUTION_RETRIES: u32 = 3;
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// How long a failed resolution is remembered (negative cache).
const NEGATIVE_HOLD: Duration = Duration::from_secs(10);
const MAX_NEGATIVE_HOLD: Duration = Duration::from_secs(300);
/// Direct probes of a peer behind NAT in one series: sent at 0, 1, 3 and
/// 7 s, given up at 15 s. Few on purpose: a Linux masquerading NAT keeps an
/// "unreplied" conntrack entry for every probe it rejects (30 s), and while
/// it lives the peer's own GRE towards us clashes with it and is dropped;
/// the growing negative hold between series lets it expire.
const NAT_PROBES: u32 = 4;
/// Octets of the offending packet a Traffic Indication carries: its IP
/// header and the first 8 octets of payload, as Cisco IOS sends (28 for a
/// plain IPv4 header).
fn indication_bytes(packet: &[u8]) -> usize {
    let header = match packet.first().map(|b| b >> 4) {
        Some(4) => usize::from(packet[0] & 0x0f) * 4,
        _ => 40,
    };
    header + 8
}

/// A direct probe of a peer behind NAT (issue 6): a Resolution Request for
/// the peer's own tunnel address, sent straight to the NBMA address its NAT
/// shows instead of through the NHS. It only reaches the peer if the NAT
/// holds a mapping towards us, and the peer answers it straight back: the
/// answer proves the direct path both ways.
#[derive(Debug)]
pub struct Probe {
    /// The peer's tunnel address.
    pub peer: IpAddr,
    pub request_id: u32,
    /// Probes sent in this series.
    pub attempts: u32,
    pub next_retry: Instant,
}

#[derive(Debug)]
pub struct Pending {
    pub request_id: u32,
    pub attempts: u32,
    pub next_retry: Instant,
}

impl Instance {
    /// Start resolving `target` unless it is known or already in flight.
    pub(crate) fn resolve(&mut self, target: IpAddr, now: Instant, out: &mut Vec<Output>) {
        if self.pending.contains_key(&target) || self.is_own(target) {
            return;
        }
        if let Some(e) = self.cache.lookup(target) {
            // Traffic wants a shortcut towards a peer behind NAT that is
            // not proven yet (one learnt from its request): probe its path,
            // unless a series runs already or the last one was given up
            // (then the entry is negative).
            let unproven = (e.ty == EntryType::Shortcut && e.nat_path == NatPath::Pending)
                .then_some(e.nbma.map(|nbma| (e.next_hop, nbma)))
                .flatten();
            if e.ty != EntryType::Incomplete {
                if let Some((peer, nbma)) = unproven {
                    self.start_probe(peer, nbma, now, out);
                }
                return;
            }
        }
        // Traffic Indications come from the network: a flood of them for
        // distinct destinations must not grow the pending set without end.
        // The cache limit that bounds registrations bounds it too.
        if self.pending.len() >= self.config.max_registrations {
            self.counters.error("resolution-limit");
            return;
        }
        let mut entry = Entry::new(host(target), EntryType::Incomplete, target, now);
        entry.expires = Some(now + FIRST_RETRY * (1 << RESOLUTION_RETRIES));
        self.cache.insert(entry, out);
        self.start_resolution(target, now, out);
    }

    /// A new request id for `target`, and the first Resolution Request.
    fn start_resolution(&mut self, target: IpAddr, now: Instant, out: &mut Vec<Output>) {
        let request_id = self.request_id();
        let pending = Pending {
            request_id,
            attempts: 0,
            next_retry: now,
        };
        self.pending.insert(target, pending);
        self.send_resolution_request(target, now, out);
    }

    fn send_resolution_request(&mut self, target: IpAddr, now: Instant, out: &mut Vec<Output>) {
        let Some(nhs) = self.best_nhs().map(|n| n.config.nbma) else {
            self.counters.error("no-nhs");
            return;
        };
        let Some(pending) = self.pending.get_mut(&target) else {
            return;
        };
        pending.next_retry = now + FIRST_RETRY * (1 << pending.attempts);
        pending.attempts += 1;
        let id = pending.request_id;
        let pkt = self.resolution_request(target, id);
        self.send(nhs, &pkt, out);
    }

    /// A Resolution Request for `target` as Cisco IOS sends it.
    fn resolution_request(&self, target: IpAddr, id: u32) -> Packet {
        let flags = Flags::RESOLUTION_ROUTER
            | Flags::RESOLUTION_AUTHORITATIVE
            | Flags::RESOLUTION_SOURCE_STABLE
            | Flags::CISCO_NAT_CAPABLE;
        let own = self.config.protocol.ip();
        let cie = Cie {
            nbma: Default::default(),
            protocol: Address::Absent,
            preference: 0,
            ..self.own_cie(max_prefix(own))
        };
        let mut pkt = self.new_packet(
            target,
            Message::ResolutionRequest(self.request(flags, id, vec![cie])),
        );
        // Behind NAT, tell the responder where to answer (Cisco, FRR).
        let nat = self.own_nat_cies();
        for ext in &mut pkt.extensions {
            if let ExtensionBody::CiscoNatAddress { cies } = &mut ext.body {
                cies.clone_from(&nat);
            }
        }
        pkt
    }

    pub(crate) fn resolution_timers(&mut self, now: Instant, out: &mut Vec<Output>) {
        let due: Vec<IpAddr> = self
            .pending
            .iter()
            .filter(|(_, p)| p.next_retry <= now)
            .map(|(t, _)| *t)
            .collect();
        for target in due {
            let attempts = self.pending.get(&target).map_or(0, |p| p.attempts);
            if attempts > RESOLUTION_RETRIES {
                self.counters.error("resolution-timeout");
                self.resolution_failed(target, now, out);
            } else {
                self.send_resolution_request(target, now, out);
            }
        }

        // Shortcuts in use are resolved again before they expire; idle ones
        // simply run out (Cisco refreshes used entries the same way).
        let refresh: Vec<(IpNetwork, IpAddr)> = (self.cache.refreshes_due(now).into_iter())
            .map(|e| (e.prefix, refresh_target(e)))
            .collect();
        for (prefix, target) in refresh {
            self.cache.set_used(&prefix, false);
            if self.pending.contains_key(&target) {
                continue;
            }
            self.start_resolution(target, now, out);
        }
        self.probe_timers(now, out);
    }

    /// Negative cache entry for `target` (RFC 2332, 5.2.2).
    /// The entry lives 10 s after a first failure, doubling with each
    /// failure in a row up to 5 minutes (the retry backoff); the count of
    /// targets tracked is bounded like the cache.
    fn resolution_failed(&mut self, target: IpAddr, now: Instant, out: &mut Vec<Output>) {
        self.pending.remove(&target);
        let failures = if self.failures.contains_key(&target)
            || self.failures.len() < self.config.max_registrations
        {
            let n = self.failures.entry(target).or_default();
            *n = n.saturating_add(1);
            *n
        } else {
            1
        };
        let hold = NEGATIVE_HOLD
            .saturating_mul(1 << (failures - 1).min(5))
            .min(MAX_NEGATIVE_HOLD);
        let mut entry = Entry::new(host(target), EntryType::Negative, target, now);
        entry.expires = Some(now + hold);
        self.cache.insert(entry, out);
    }

    pub(crate) fn on_resolution_request(
        &mut self,
        from: IpAddr,
        pkt: &Packet,
        bytes: &[u8],
        m: &RequestReply,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let (Some(target), Some(requester)) = (pkt.dst_protocol.ip(), pkt.src_protocol.ip()) else {
            self.counters.error("bad-address");
            return;
        };
        let requester_nbma = pkt.src_nbma.address.ip();

        if let Some(prefix_length) = self.authoritative_prefix(target) {
            // We own the target: answer the requester directly (Cisco) and
            // learn its binding so the return traffic goes direct too.
            // A requester behind NAT names its public address in the NAT
            // extension; otherwise a request that came straight from the
            // requester shows it, a forwarded one only has the claim.
            let nbma = nat_address(pkt, requester).or(if pkt.hop_count == HOP_COUNT {
                Some(from)
            } else {
                requester_nbma
            });
            let Some(nbma) = nbma else { return };
            // A requester behind NAT that did not send this request straight
            // to us is reachable directly only if its NAT maps us (issue 6):
            // until that is shown, the reply goes back the way the request
            // came (RFC 2332's reverse path), through the NHS that holds the
            // requester's registration, and the binding learnt from it is
            // not installed. Otherwise the reply would be black-holed by a
            // masquerading NAT.
            let claimed = requester_nbma.filter(|c| *c != nbma);
            let nat_path = self.nat_path(requester, nbma, claimed, from == nbma);
            let reply_to = if nat_path == NatPath::Pending {
                from
            } else {
                nbma
            };
            self.remember_answer(target, requester, nbma, now, out);
            // The requester learns us (and the prefix) afresh from this
            // answer: a purge of them still in flight must not undo it.
            let own = self.config.protocol.ip();
            self.purges_superseded(requester, host(own));
            if let Ok(answered) = IpNetwork::new(target, prefix_length)
                .and_then(|p| IpNetwork::new(p.network(), p.prefix()))
            {
                self.purges_superseded(requester, answered);
            }
            let mut learnt = Entry::new(host(requester), EntryType::Shortcut, requester, now);
            learnt.nbma = Some(nbma);
            learnt.claimed_nbma = claimed;
            learnt.nat_path = nat_path;
            let hold = m
                .cies
                .first()
                .map_or(self.config.holding_time, |c| c.holding_time);
            learnt.expires = Some(now + Duration::from_secs(hold.into()));
            // Requesters are not authenticated beyond the password: learning
            // them is bounded by the same limit as registrations, or a flood
            // of forged requesters would grow the cache without end. Known
            // ones are refreshed; the request is answered either way.
            // RFC 2332, 6.2.1: only a stable (S bit) binding with a holding
            // time may be kept.
            let stable = m.flags.contains(Flags::RESOLUTION_SOURCE_STABLE) && hold > 0;
            let room = || self.cache.count(EntryType::Shortcut) < self.config.max_registrations;
            match self.cache.host(requester) {
                _ if !stable => {}
                Some(e) if e.ty == EntryType::Shortcut => self.cache.insert(learnt, out),
                None if room() => self.cache.insert(learnt, out),
                Some(_) => {}
                None => self.counters.error("learn-limit"),
            }
            let own = self.own_cie(prefix_length);
            let mut reply = pkt.clone();
            reply.hop_count = crate::instance::HOP_COUNT;
            let cie = Cie {
                protocol: Address::Ip(self.config.protocol.ip()),
                ..own.clone()
            };
            // Cisco: the request's flags plus A and D, and U since our own
            // binding is unique (as we register it).
            let mut flags =
                m.flags.0 | Flags::RESOLUTION_DESTINATION_STABLE | Flags::RESOLUTION_AUTHORITATIVE;
            if self.config.registration_unique {
                flags |= Flags::RESOLUTION_UNIQUE;
            }
            reply.message = Message::ResolutionReply(RequestReply {
                flags: Flags(flags),
                request_id: m.request_id,
                cies: vec![cie],
            });
            let nat = self.own_nat_cies();
            for ext in &mut reply.extensions {
                match &mut ext.body {
                    ExtensionBody::ResponderAddress { cies } => {
                        *cies = vec![self.own_cie(max_prefix(self.config.protocol.ip()))];
                    }
                    ExtensionBody::CiscoNatAddress { cies } => cies.clone_from(&nat),
                    _ => {}
                }
            }
            self.send(reply_to, &reply, out);
            return;
        }

        // Not ours: forward towards the target (RFC 2332, 5.2.1), through a
        // registered client that holds it, else our own NHS.
        if pkt.hop_count <= 1 {
            self.counters.error("hop-count-exceeded");
            self.send_error(from, pkt, bytes, ErrorCode::HOP_COUNT_EXCEEDED, 9, out);
            return;
        }
        let own = self.config.protocol.ip();
        let looped = pkt.extensions.iter().any(|e| match &e.body {
            ExtensionBody::ForwardTransitNhs { cies } => {
                cies.iter().any(|c| c.protocol.ip() == Some(own))
            }
            _ => false,
        });
        if looped {
            self.counters.error("loop-detected");
            self.send_error(from, pkt, bytes, ErrorCode::LOOP_DETECTED, 0, out);
            return;
        }
        let Some(next) = self.forward_to(target, from) else {
            // RFC 2332, 5.2.2: nobody to ask: a NAK with code 12.
            self.counters.error("no-binding");
            let mut reply = pkt.clone();
            reply.hop_count = crate::instance::HOP_COUNT;
            let cies = m
                .cies
                .iter()
                .map(|c| Cie {
                    code: CieCode::NO_BINDING,
                    ..c.clone()
                })
                .collect();
            reply.message = Message::ResolutionReply(RequestReply { cies, ..m.clone() });
            // RFC 2332, 5.3.1: the responder names itself, NAK or not.
            let own = self.own_cie(max_prefix(own));
            for ext in &mut reply.extensions {
                if let ExtensionBody::ResponderAddress { cies } = &mut ext.body {
                    *cies = vec![own.clone()];
                }
            }
            self.send(from, &reply, out);
            return;
        };
        let mut fwd = pkt.clone();
        fwd.hop_count -= 1;
        let record = self.own_cie(max_prefix(own));
        for ext in &mut fwd.extensions {
            if let ExtensionBody::ForwardTransitNhs { cies } = &mut ext.body {
                cies.push(record.clone());
            }
        }
        self.send(next, &fwd, out);
    }

    /// Records that `requester` was told about the local prefix holding
    /// `target`, as a Local cache entry (`show ip nhrp`) and in the list of
    /// requesters to purge when the prefix goes away. Bounded like the cache.
    fn remember_answer(
        &mut self,
        target: IpAddr,
        requester: IpAddr,
        nbma: IpAddr,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let Some(prefix) = self.local_prefix(target) else {
            return;
        };
        let remembered: usize = self.answered.values().map(|r| r.len()).sum();
        let known = self
            .answered
            .get(&prefix)
            .is_some_and(|r| r.contains_key(&requester));
        if !known && remembered >= self.config.max_registrations {
            self.counters.error("learn-limit");
            return;
        }
        self.answered
            .entry(prefix)
            .or_default()
            .insert(requester, nbma);
        let mut local = Entry::new(prefix, EntryType::Local, self.config.protocol.ip(), now);
        local.authoritative = true;
        // Requesters forget what we told them after our holding time; so
        // may we.
        local.expires = Some(now + Duration::from_secs(self.config.holding_time.into()));
        if let Some(old) = self.cache.get(&prefix) {
            local.created = old.created;
        }
        // No NBMA address: a local entry installs nothing in the data plane.
        self.cache.insert(local, out);
    }

    /// New set of local prefixes: purge the requesters of withdrawn ones.
    pub(crate) fn local_prefixes_changed(
        &mut self,
        prefixes: Vec<IpNetwork>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let withdrawn: Vec<IpNetwork> = self
            .answered
            .keys()
            .filter(|p| !prefixes.contains(p))
            .copied()
            .collect();
        self.config.local_prefixes = prefixes;
        for prefix in withdrawn {
            let requesters = self.answered.remove(&prefix).unwrap_or_default();
            self.cache.remove(&prefix, out);
            for (requester, nbma) in requesters {
                let cie = Cie {
                    prefix_length: prefix.prefix(),
                    holding_time: 0,
                    protocol: Address::Ip(prefix.network()),
                    ..self.own_cie(prefix.prefix())
                };
                self.send_purge(nbma, requester, cie, now, out);
            }
        }
    }

    /// Where a Resolution Request for `target` that came from `from` goes
    /// next: the client holding the target, else our NHS; never back.
    pub(crate) fn forward_to(&self, target: IpAddr, from: IpAddr) -> Option<IpAddr> {
        self.next_hop_for(target)
            .or_else(|| self.best_nhs().map(|n| n.config.nbma))
            .filter(|n| *n != from)
    }

    /// Whether we only pass this packet on (a transit NHS, RFC 2332, 5.2.7)
    /// rather than answer it.
    pub(crate) fn is_transit(&self, from: IpAddr, pkt: &Packet) -> bool {
        let (Some(dst), Some(src)) = (pkt.dst_protocol.ip(), pkt.src_protocol.ip()) else {
            return false;
        };
        match pkt.message_type() {
            MessageType::ResolutionRequest => {
                pkt.hop_count > 1
                    && self.authoritative_prefix(dst).is_none()
                    && self.forward_to(dst, from).is_some()
            }
            MessageType::ResolutionReply => !self.is_own(src),
            _ => false,
        }
    }

    /// The NBMA address of the registered client through which `target` is
    /// reached: its own binding or a tunnel route via it.
    fn next_hop_for(&self, target: IpAddr) -> Option<IpAddr> {
        let usable = |ty| matches!(ty, EntryType::Dynamic | EntryType::Static);
        if let Some(e) = self.cache.lookup(target).filter(|e| usable(e.ty)) {
            return e.nbma;
        }
        let (_, via) = self
            .tunnel_routes
            .iter()
            .filter(|(prefix, _)| prefix.contains(target))
            .max_by_key(|(prefix, _)| prefix.prefix())?;
        self.cache
            .host(*via)
            .filter(|e| usable(e.ty))
            .and_then(|e| e.nbma)
    }

    pub(crate) fn on_resolution_reply(
        &mut self,
        from: IpAddr,
        pkt: &Packet,
        m: &RequestReply,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let (Some(target), Some(requester)) = (pkt.dst_protocol.ip(), pkt.src_protocol.ip()) else {
            self.counters.error("bad-address");
            return;
        };
        if !self.is_own(requester) {
            // A transit NHS: pass the reply back towards the requester.
            let Some(nbma) = self.cache.host(requester).and_then(|e| e.nbma) else {
                self.counters.error("no-binding");
                return;
            };
            let mut fwd = pkt.clone();
            fwd.hop_count = fwd.hop_count.saturating_sub(1);
            let record = self.own_cie(max_prefix(self.config.protocol.ip()));
            for ext in &mut fwd.extensions {
                if let ExtensionBody::ReverseTransitNhs { cies } = &mut ext.body {
                    cies.push(record.clone());
                }
            }
            self.send(nbma, &fwd, out);
            return;
        }
        // The answer to a direct probe of a peer behind NAT: it came back
        // straight from the address probed, so the path works.
        if self
            .probes
            .get(&from)
            .is_some_and(|p| p.request_id == m.request_id && p.peer == target)
        {
            self.nat_proven(from, target, "probe answered", out);
            return;
        }
        let Some(pending) = self.pending.get(&target) else {
            self.counters.error("unexpected-reply");
            return;
        };
        if pending.request_id != m.request_id {
            self.counters.error("unexpected-reply");
            return;
        }
        self.pending.remove(&target);
        self.failures.remove(&target);
        // The placeholder of a first resolution goes; a refreshed entry stays
        // until the reply replaces it, so the data plane sees no gap.
        if self
            .cache
            .host(target)
            .is_some_and(|e| e.ty == EntryType::Incomplete)
        {
            self.cache.remove(&host(target), out);
        }
        let Some(cie) = m.cies.first().filter(|c| c.code == CieCode::SUCCESS) else {
            self.counters.error("resolution-nak");
            self.resolution_failed(target, now, out);
            return;
        };
        let (Some(peer), Some(claimed)) = (cie.protocol.ip(), cie.nbma.address.ip()) else {
            self.counters.error("bad-address");
            return;
        };
        // The responder learnt us afresh from our request: a purge of that
        // binding still in flight must not undo it.
        self.purges_superseded(peer, host(requester));
        // A reply that came straight from the responder tells us where it
        // really is (NAT); otherwise trust what it claims.
        let nbma =
            nat_address(pkt, peer).unwrap_or(if from == claimed || pkt.hop_count == HOP_COUNT {
                from
            } else {
                claimed
            });
        let expires = Some(now + Duration::from_secs(cie.holding_time.into()));
        let mut binding = Entry::new(host(peer), EntryType::Shortcut, peer, now);
        binding.nbma = Some(nbma);
        binding.claimed_nbma = (nbma != claimed).then_some(claimed);
        // Issue 6: a peer behind NAT is only sent to directly once its
        // path is shown to work. A reply that came straight from the address
        // its NAT shows is that proof (the NAT just let the peer's packet out
        // towards us, so it holds the mapping our packets come back through);
        // one relayed by an NHS is not.
        let direct = from == nbma;
        binding.nat_path = self.nat_path(peer, nbma, binding.claimed_nbma, direct);
        binding.authoritative = m.flags.contains(Flags::RESOLUTION_AUTHORITATIVE);
        binding.expires = expires;
        if self
            .cache
            .host(peer)
            .is_none_or(|e| e.ty == EntryType::Shortcut)
        {
            self.cache.insert(binding.clone(), out);
        }
        // The reply's prefix length lets us route a whole prefix via the
        // peer (hub summarization, Phase 3).
        let prefix = IpNetwork::new(target, cie.prefix_length.min(max_prefix(target)))
            .ok()
            .and_then(|p| IpNetwork::new(p.network(), p.prefix()).ok());
        let nated = binding.claimed_nbma.is_some();
        if let Some(prefix) = prefix.filter(|p| *p != host(peer)) {
            let route = Entry { prefix, ..binding };
            self.cache.insert(route, out);
        }
        if nated && direct {
            self.nat_proven(
                nbma,
                peer,
                "resolution reply came straight from the peer",
                out,
            );
        } else if nated {
            // Unproven, or proven before and refreshed through the NHS: (re)
            // check the path; a proven shortcut stays installed meanwhile.
            self.start_probe(peer, nbma, now, out);
        }
    }

    /// The path state of a new shortcut towards `peer` at `nbma`: proven if
    /// the answer came straight from there, or if the entry it replaces was
    /// proven at the same address (a refresh must not open a gap).
    fn nat_path(
        &self,
        peer: IpAddr,
        nbma: IpAddr,
        claimed: Option<IpAddr>,
        direct: bool,
    ) -> NatPath {
        if claimed.is_none() {
            return NatPath::NotNated;
        }
        let proven_before = self.cache.host(peer).is_some_and(|e| {
            e.ty == EntryType::Shortcut && e.nbma == Some(nbma) && e.nat_path == NatPath::Verified
        });
        if direct || proven_before {
            NatPath::Verified
        } else {
            NatPath::Pending
        }
    }

    /// Shortcut entries towards `peer` at `nbma` that are behind NAT.
    fn nated_shortcuts(&self, nbma: IpAddr, peer: IpAddr) -> impl Iterator<Item = &Entry> {
        self.cache.via_nbma(nbma).filter(move |e| {
            e.ty == EntryType::Shortcut && e.next_hop == peer && e.nat_path != NatPath::NotNated
        })
    }

    /// Starts a series of direct probes of `peer` at `nbma`, unless one
    /// runs already.
    fn start_probe(&mut self, peer: IpAddr, nbma: IpAddr, now: Instant, out: &mut Vec<Output>) {
        if self.probes.contains_key(&nbma) {
            return;
        }
        // Bounded like resolutions: replies come from the network.
        if self.probes.len() >= self.config.max_registrations {
            self.counters.error("probe-limit");
            return;
        }
        let request_id = self.request_id();
        let probe = Probe {
            peer,
            request_id,
            attempts: 0,
            next_retry: now,
        };
        self.probes.insert(nbma, probe);
        self.send_probe(nbma, now, out);
    }

    fn send_probe(&mut self, nbma: IpAddr, now: Instant, out: &mut Vec<Output>) {
        let Some(probe) = self.probes.get_mut(&nbma) else {
            return;
        };
        probe.next_retry = now + FIRST_RETRY * (1 << probe.attempts);
        probe.attempts += 1;
        let (peer, id, attempt) = (probe.peer, probe.request_id, probe.attempts);
        let pkt = self.resolution_request(peer, id);
        self.counters.nat.probes_sent += 1;
        tracing::debug!(%peer, %nbma, attempt, "probing the direct path to a peer behind NAT");
        self.send(nbma, &pkt, out);
    }

    /// Retries due probes; gives up a series after `NAT_PROBES` probes, and
    /// drops one whose shortcut went away meanwhile (expired, purged).
    fn probe_timers(&mut self, now: Instant, out: &mut Vec<Output>) {
        let due: Vec<(IpAddr, IpAddr, u32)> = self
            .probes
            .iter()
            .filter(|(_, p)| p.next_retry <= now)
            .map(|(nbma, p)| (*nbma, p.peer, p.attempts))
            .collect();
        for (nbma, peer, attempts) in due {
            if self.nated_shortcuts(nbma, peer).next().is_none() {
                self.probes.remove(&nbma);
            } else if attempts >= NAT_PROBES {
                self.nat_give_up(nbma, now, out);
            } else {
                self.send_probe(nbma, now, out);
            }
        }
    }

    /// The direct path to `peer` at `nbma` works: install its shortcuts.
    pub(crate) fn nat_proven(
        &mut self,
        nbma: IpAddr,
        peer: IpAddr,
        how: &'static str,
        out: &mut Vec<Output>,
    ) {
        self.probes.remove(&nbma);
        self.nat_failures.remove(&nbma);
        let proven: Vec<Entry> = self
            .nated_shortcuts(nbma, peer)
            .filter(|e| e.nat_path == NatPath::Pending)
            .cloned()
            .collect();
        for mut e in proven {
            e.nat_path = NatPath::Verified;
            self.cache.insert(e, out);
        }
        self.counters.nat.proofs += 1;
        tracing::info!(%peer, %nbma, how, "direct path to a peer behind NAT works: shortcut used");
    }

    /// Any NHRP packet that came straight from the address a pending peer's
    /// NAT shows, sent by that peer, proves its path like a probe answer.
    pub(crate) fn direct_packet(&mut self, from: IpAddr, src: IpAddr, out: &mut Vec<Output>) {
        let awaited = self.probes.get(&from).is_some_and(|p| p.peer == src)
            || self.cache.host(src).is_some_and(|e| {
                e.ty == EntryType::Shortcut
                    && e.nbma == Some(from)
                    && e.nat_path == NatPath::Pending
            });
        if awaited {
            self.nat_proven(from, src, "packet came straight from the peer", out);
        }
    }

    /// No probe came back: the shortcut's entries become negative ones
    /// (traffic stays on the NHS path, a proven shortcut is withdrawn), held
    /// 10 s after a first failed series, doubling up to 5 minutes, so that
    /// traffic that still wants the shortcut retries it that often at most.
    fn nat_give_up(&mut self, nbma: IpAddr, now: Instant, out: &mut Vec<Output>) {
        let Some(probe) = self.probes.remove(&nbma) else {
            return;
        };
        let failures = if self.nat_failures.contains_key(&nbma)
            || self.nat_failures.len() < self.config.max_registrations
        {
            let n = self.nat_failures.entry(nbma).or_default();
            *n = n.saturating_add(1);
            *n
        } else {
            1
        };
        let hold = NEGATIVE_HOLD
            .saturating_mul(1 << (failures - 1).min(5))
            .min(MAX_NEGATIVE_HOLD);
        let prefixes: Vec<IpNetwork> = self
            .nated_shortcuts(nbma, probe.peer)
            .map(|e| e.prefix)
            .collect();
        for prefix in prefixes {
            let mut negative = Entry::new(prefix, EntryType::Negative, probe.peer, now);
            negative.expires = Some(now + hold);
            self.cache.insert(negative, out);
        }
        self.counters.nat.give_ups += 1;
        tracing::warn!(
            peer = %probe.peer,
            %nbma,
            probes = probe.attempts,
            hold_secs = hold.as_secs(),
            "direct path to a peer behind NAT not shown to work: traffic stays on the NHS path"
        );
    }

    pub(crate) fn on_error_indication(
        &mut self,
        from: IpAddr,
        ei: &ErrorIndication,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        tracing::info!(%from, code = %ei.code, "NHRP Error Indication received");
        let Ok(original) = Packet::decode(&ei.packet) else {
            return;
        };
        let Some(m) = original.message.request_reply() else {
            return;
        };
        match original.message_type() {
            MessageType::ResolutionRequest => {
                let target = original.dst_protocol.ip();
                if let Some(target) = target.filter(|t| {
                    self.pending
                        .get(t)
                        .is_some_and(|p| p.request_id == m.request_id)
                }) {
                    self.cache.remove(&host(target), out);
                    self.resolution_failed(target, now, out);
                }
            }
            MessageType::RegistrationRequest => {
                if let Some(nhs) = self
                    .nhs
                    .iter_mut()
                    .find(|n| n.request_id == Some(m.request_id))
                {
                    nhs.request_id = None;
                    nhs.attempts += 1;
                }
            }
            _ => {}
        }
    }

    /// Spoke: a Traffic Indication says a better path exists for the
    /// destination of the packet it carries (Phase 3): resolve it.
    pub(crate) fn on_traffic_indication(
        &mut self,
        _pkt: &Packet,
        ti: &TrafficIndication,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        if !self.config.shortcut {
            self.counters.error("shortcut-disabled");
            return;
        }
        let Some((_, dst)) = ip_source_destination(&ti.packet) else {
            self.counters.error("bad-indication");
            return;
        };
        self.resolve(dst, now, out);
    }

    /// Hub: a packet from `from_nbma` hairpinned out of the tunnel again.
    pub(crate) fn redirect(
        &mut self,
        from_nbma: IpAddr,
        packet: &[u8],
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        if !self.config.redirect {
            return;
        }
        let Some((src, dst)) = ip_source_destination(packet) else {
            self.counters.error("bad-hairpin");
            return;
        };
        let interval = self.config.redirect_interval;
        if self
            .redirects
            .get(&(src, dst))
            .is_some_and(|at| now.duration_since(*at) < interval)
        {
            return;
        }
        self.redirects.insert((src, dst), now);
        let ti = TrafficIndication {
            packet: packet
                .get(..indication_bytes(packet))
                .unwrap_or(packet)
                .to_vec(),
            ..TrafficIndication::default()
        };
        let pkt = self.new_packet(src, Message::TrafficIndication(ti));
        self.send(from_nbma, &pkt, out);
    }
}

/// The address to resolve to refresh an entry: the peer for a binding, the
/// prefix itself for a route (its responder is authoritative for all of it).
fn refresh_target(e: &Entry) -> IpAddr {
    if e.prefix.prefix() == max_prefix(e.prefix.ip()) {
        e.next_hop
    } else {
        e.prefix.network()
    }
}

/// Source and destination of an IPv4 or IPv6 packet.
fn ip_source_destination(packet: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match packet.first()? >> 4 {
        4 => {
            let src: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some((src.into(), dst.into()))
        }
        6 => {
            let src: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some((src.into(), dst.into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use crate::cache::EntryType;
    use crate::config::{InstanceConfig, NhsConfig};
    use crate::io::{DataPlaneEvent, Input, Output};
    use crate::sim::Network;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A redirecting hub 10.0.0.1 at 192.0.2.1 and spokes 10.0.0.1n at
    /// 192.0.2.1n with LAN 172.16.n.0/24, registered; the hub routes each
    /// LAN via its spoke.
    fn registered_cloud() -> Network {
        let mut net = Network::new(1);
        let mut hub = InstanceConfig::new("10.0.0.1/24".parse().unwrap(), ip("192.0.2.1"));
        hub.redirect = true;
        net.add(hub);
        for n in 1..=2u8 {
            let mut spoke = InstanceConfig::new(
                format!("10.0.0.1{n}/24").parse().unwrap(),
                ip(&format!("192.0.2.1{n}")),
            );
            spoke.nhs = vec![NhsConfig::new(ip("10.0.0.1"), ip("192.0.2.1"))];
            spoke.shortcut = true;
            spoke.local_prefixes = vec![format!("172.16.{n}.0/24").parse().unwrap()];
            net.add(spoke);
        }
        net.run_for(Duration::from_secs(5), Duration::from_millis(100));
        let routes = vec![
            ("172.16.1.0/24".parse().unwrap(), ip("10.0.0.11")),
            ("172.16.2.0/24".parse().unwrap(), ip("10.0.0.12")),
        ];
        net.input(
            ip("192.0.2.1"),
            Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)),
        );
        net
    }

    /// The head of an IPv4 packet `src` -> `dst`, as the hub's data plane
    /// reports a hairpin.
    fn hairpin(net: &mut Network, from_nbma: &str, src: &str, dst: &str) {
        let mut packet = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0];
        packet.extend_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
        packet.extend_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
        packet.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        let from_nbma = ip(from_nbma);
        let event = DataPlaneEvent::Hairpin { from_nbma, packet };
        net.input(ip("192.0.2.1"), Input::DataPlane(event));
    }

    fn indications(net: &Network) -> usize {
        let ti = |d: &&crate::sim::Datagram| d.summary.starts_with("Traffic Indication");
        net.trace.iter().filter(ti).count()
    }

    /// Phase 3's time to the direct path is the time its packets take
    /// (about 1 ms on a loaded 2-core machine, scripts/bench.sh): the hub's
    /// Traffic Indications, the spokes' Resolution Requests, their
    /// forwarding and the direct replies each go out on the input that
    /// causes them, with no timer, tick or batching between. The first
    /// packet of a flow and its answer hairpin at the hub; once the packets
    /// they cause are delivered, with the clock standing still, both
    /// spokes route the other's LAN directly. One Traffic Indication per
    /// source and destination: the flow's next packets send none.
    #[test]
    fn phase3_reaches_the_direct_path_both_ways_without_waiting() {
        let mut net = registered_cloud();
        let before = net.now;
        hairpin(&mut net, "192.0.2.11", "172.16.1.1", "172.16.2.1");
        hairpin(&mut net, "192.0.2.12", "172.16.2.1", "172.16.1.1");
        net.deliver();
        assert_eq!(net.now, before);
        for (spoke, lan, peer) in [
            ("192.0.2.11", "172.16.2.0/24", "10.0.0.12"),
            ("192.0.2.12", "172.16.1.0/24", "10.0.0.11"),
        ] {
            let node = net.node(spoke);
            let route = node.instance.cache().get(&lan.parse().unwrap()).unwrap();
            assert_eq!(route.ty, EntryType::Shortcut, "{spoke}");
            assert!(
                node.outputs.iter().any(|o| matches!(o,
                    Output::RouteAdded { prefix, next_hop }
                        if *prefix == lan.parse().unwrap() && *next_hop == ip(peer))),
                "{spoke}: {:?}",
                node.outputs
            );
        }
        assert_eq!(indications(&net), 2);
        // The flow keeps hairpinning until the spokes' data planes switch:
        // no more indications within the redirect interval.
        hairpin(&mut net, "192.0.2.11", "172.16.1.1", "172.16.2.1");
        hairpin(&mut net, "192.0.2.12", "172.16.2.1", "172.16.1.1");
        net.deliver();
        assert_eq!(indications(&net), 2);
    }
}
