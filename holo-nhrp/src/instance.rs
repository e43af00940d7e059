//! One NHRP instance (one tunnel interface): all protocol state, driven by
//! `handle(input, now)`. No IO and no clock: the driver feeds inputs and
//! carries outputs out; tests do the same in memory.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;

use crate::cache::{Cache, Entry, EntryType, host};
use crate::config::InstanceConfig;
use crate::counters::Counters;
use crate::io::{Command, DataPlaneEvent, Input, Notification, Output};
use crate::nhc::{NhsState, NhsStatus};
use crate::packet::{
    Address, Authentication, Cie, CieCode, ErrorCode, ErrorIndication, Extension, ExtensionBody,
    Flags, Message, MessageType, NbmaAddress, Packet, ProtocolType, RequestReply, header,
};
use crate::purge::OutstandingPurge;
use crate::resolution::{Pending, Probe};

/// Error Indications we send to one destination in one second, at most.
const ERRORS_PER_SECOND: u32 = 5;

/// Hop count of packets we originate (Cisco IOS sends 255).
pub const HOP_COUNT: u8 = 255;

#[derive(Debug)]
pub struct Instance {
    pub(crate) config: InstanceConfig,
    pub(crate) cache: Cache,
    pub(crate) nhs: Vec<NhsState>,
    pub(crate) pending: BTreeMap<IpAddr, Pending>,
    pub(crate) next_request_id: u32,
    /// Last Traffic Indication per (source, destination) pair.
    pub(crate) redirects: HashMap<(IpAddr, IpAddr), Instant>,
    /// The kernel's routes through this tunnel (prefix -> tunnel next hop).
    pub(crate) tunnel_routes: Vec<(IpNetwork, IpAddr)>,
    pub counters: Counters,
    /// For each local prefix we answered for: the requesters (tunnel
    /// address -> NBMA) to purge if it goes away (RFC 2332, 5.2.5).
    pub(crate) answered: BTreeMap<IpNetwork, BTreeMap<IpAddr, IpAddr>>,
    /// Failed resolutions in a row per target (negative-cache backoff).
    pub(crate) failures: HashMap<IpAddr, u32>,
    /// The time of the input being handled.
    pub(crate) now: Instant,
    /// Error Indications sent per destination in the current second.
    pub(crate) error_budget: HashMap<IpAddr, (Instant, u32)>,
    /// Dynamic peers in the multicast map: tunnel address -> NBMA.
    pub(crate) multicast_peers: BTreeMap<IpAddr, IpAddr>,
    /// Direct probes of peers behind NAT, by the NBMA address probed.
    pub(crate) probes: BTreeMap<IpAddr, Probe>,
    /// Probe series given up in a row per NBMA address (negative backoff).
    pub(crate) nat_failures: HashMap<IpAddr, u32>,
    /// Purge Requests we sent and await a reply to, by request id.
    pub(crate) purges: BTreeMap<u32, OutstandingPurge>,
    /// While the tunnel source is down: the NBMA address the NHSs last
    /// knew us at (`nbma_changed`).
    pub(crate) registered_from: Option<IpAddr>,
    /// The tunnel interface's MTU, as the data plane last reported it.
    pub(crate) tunnel_mtu: Option<u16>,
}

impl Instance {
    pub fn new(config: InstanceConfig, now: Instant) -> (Instance, Vec<Output>) {
        let mut out = vec![];
        let mut cache = Cache::default();
        for map in &config.static_maps {
            let mut e = Entry::new(host(map.protocol), EntryType::Static, map.protocol, now);
            e.nbma = Some(map.nbma);
            cache.insert(e, &mut out);
        }
        for nhs in config.nhs.iter().filter(|n| !n.nbma.is_unspecified()) {
            let mut e = Entry::new(host(nhs.protocol), EntryType::Nhs, nhs.protocol, now);
            e.nbma = Some(nhs.nbma);
            cache.insert(e, &mut out);
        }
        let nhs = config
            .nhs
            .iter()
            .map(|c| NhsState::new(c.clone(), now))
            .collect();
        let instance = Instance {
            config,
            cache,
            nhs,
            pending: BTreeMap::new(),
            next_request_id: 1,
            redirects: HashMap::new(),
            tunnel_routes: vec![],
            counters: Counters::default(),
            now,
            error_budget: HashMap::new(),
            failures: HashMap::new(),
            answered: BTreeMap::new(),
            multicast_peers: BTreeMap::new(),
            probes: BTreeMap::new(),
            nat_failures: HashMap::new(),
            purges: BTreeMap::new(),
            registered_from: None,
            tunnel_mtu: None,
        };
        out.extend(
            instance
                .fixed_multicast()
                .into_iter()
                .map(|nbma| Output::MulticastAdded { nbma }),
        );
        (instance, out)
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// When the driver must call `handle(Input::Tick, ..)` next.
    pub fn next_wakeup(&self) -> Option<Instant> {
        // Without a tunnel source, registrations wait for one.
        let sourced = !self.config.nbma.is_unspecified();
        let nhs = self.nhs.iter().filter(|_| sourced).map(|n| n.next_action);
        let pending = self.pending.values().map(|p| p.next_retry);
        let probes = self.probes.values().map(|p| p.next_retry);
        let purges = self.purges.values().map(|p| p.next_retry);
        nhs.chain(pending)
            .chain(probes)
            .chain(purges)
            .chain(self.cache.next_expiry())
            .chain(self.cache.next_refresh())
            .min()
    }

    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Output> {
        self.now = now;
        let mut out = vec![];
        match input {
            Input::Packet { from, bytes } => self.receive(from, &bytes, now, &mut out),
            Input::Tick => self.tick(now, &mut out),
            Input::DataPlane(DataPlaneEvent::Miss { next_hop }) => {
                self.resolve(next_hop, now, &mut out)
            }
            Input::DataPlane(DataPlaneEvent::Hairpin { from_nbma, packet }) => {
                self.redirect(from_nbma, &packet, now, &mut out)
            }
            Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)) => self.tunnel_routes = routes,
            Input::DataPlane(DataPlaneEvent::LocalPrefixes(prefixes)) => {
                self.local_prefixes_changed(prefixes, now, &mut out)
            }
            Input::DataPlane(DataPlaneEvent::PeerDown { nbma }) => {
                self.peer_down(nbma, now, &mut out)
            }
            Input::DataPlane(DataPlaneEvent::TunnelMtu { mtu }) => self.tunnel_mtu = Some(mtu),
            Input::DataPlane(DataPlaneEvent::Used { prefix }) => {
                self.cache.set_used(&prefix, true);
            }
            Input::Command(Command::ClearCache) => self.clear(now, &mut out),
            Input::Command(Command::Purge { prefix }) => self.purge_entry(prefix, now, &mut out),
            Input::Command(Command::NbmaChanged { nbma }) => self.nbma_changed(nbma, now, &mut out),
            Input::Command(Command::NameResolved { fqdn, addresses }) => {
                self.nhs_resolved(&fqdn, &addresses, now, &mut out)
            }
            Input::Configure(config) => self.reconfigure(*config, now, &mut out),
        }
        self.update_multicast(&mut out);
        out
    }

    /// Keeps dynamically registered peers in the multicast map (Cisco `ip
    /// nhrp map multicast dynamic`), following the binding changes of this
    /// step.
    fn update_multicast(&mut self, out: &mut Vec<Output>) {
        if !self.config.multicast_dynamic {
            return;
        }
        let mut changes = vec![];
        for o in out.iter() {
            match o {
                Output::BindingAdded { protocol, nbma }
                    if self
                        .cache
                        .host(*protocol)
                        .is_some_and(|e| e.ty == EntryType::Dynamic) =>
                {
                    if let Some(old) = self.multicast_peers.insert(*protocol, *nbma) {
                        changes.push(Output::MulticastRemoved { nbma: old });
                    }
                    changes.push(Output::MulticastAdded { nbma: *nbma });
                }
                Output::BindingRemoved { protocol } => {
                    if let Some(old) = self.multicast_peers.remove(protocol) {
                        changes.push(Output::MulticastRemoved { nbma: old });
                    }
                }
                _ => {}
            }
        }
        out.extend(changes);
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        for gone in self.cache.expire(now, out) {
            if gone.ty == EntryType::Local {
                self.answered.remove(&gone.prefix);
            }
            if gone.ty == EntryType::Dynamic {
                out.push(Output::Notify(Notification::PeerDown {
                    protocol: gone.next_hop,
                }));
            }
        }
        self.registration_timers(now, out);
        self.resolution_timers(now, out);
        self.purge_timers(now, out);
        self.redirects
            .retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
        self.error_budget
            .retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(1));
    }

    /// The path to `nbma` is gone (its IPsec SA died): the registrations
    /// and shortcuts learnt from it are removed, as if they had expired,
    /// rather than black-holing traffic until their holding time ends; an
    /// NHS there that was up is registered with again at once.
    fn peer_down(&mut self, nbma: IpAddr, now: Instant, out: &mut Vec<Output>) {
        let stale: Vec<_> = self
            .cache
            .via_nbma(nbma)
            .filter(|e| matches!(e.ty, EntryType::Dynamic | EntryType::Shortcut))
            .map(|e| e.prefix)
            .collect();
        for prefix in stale {
            if let Some(gone) = self.cache.remove(&prefix, out)
                && gone.ty == EntryType::Dynamic
            {
                out.push(Output::Notify(Notification::PeerDown {
                    protocol: gone.next_hop,
                }));
            }
        }
        for nhs in &mut self.nhs {
            if nhs.config.nbma == nbma && nhs.status == NhsStatus::Up {
                tracing::info!(nhs = %nhs.config.protocol, %nbma, "NHS path down: registering again");
                nhs.status = NhsStatus::Down;
                nhs.next_action = now;
                nhs.attempts = 0;
                nhs.request_id = None;
                out.push(Output::Notify(Notification::NhsDown {
                    nhs: nhs.config.protocol,
                }));
            }
        }
        self.registration_timers(now, out);
    }

    fn receive(&mut self, from: IpAddr, bytes: &[u8], now: Instant, out: &mut Vec<Output>) {
        let pkt = match Packet::decode(bytes) {
            Ok(pkt) => pkt,
            Err(e) => {
                self.counters.error("malformed");
                tracing::debug!(%from, error = %e, "dropping malformed NHRP packet");
                // RFC 2332, 5.2.7: a packet that arrived intact (checksum
                // good) but breaks the format is a Protocol Error, with the
                // offset of the field in error.
                if e.is_protocol_error() {
                    let offset = u16::try_from(e.offset()).unwrap_or(u16::MAX);
                    let code = ErrorCode::PROTOCOL_ERROR;
                    self.send_error_to(from, None, bytes, code, offset, out);
                }
                return;
            }
        };
        tracing::debug!(%from, summary = %summary(&pkt), "NHRP in");
        let ty = pkt.message_type();
        self.counters.rx(ty);

        // RFC 2332, 5.3.4: authentication is checked before anything else.
        if let Some(password) = &self.config.authentication
            && pkt.cleartext_password() != Some(password.as_slice())
        {
            self.counters.error("authentication");
            tracing::info!(%from, packet = %ty, "NHRP authentication failed");
            if ty != MessageType::ErrorIndication {
                self.send_error(from, &pkt, bytes, ErrorCode::AUTHENTICATION_FAILURE, 0, out);
            }
            return;
        }
        // RFC 2332, 5.3 and 5.2.7: an unknown extension with the C bit set is
        // answered with Error Indication "Unrecognized Extension" by the
        // responder; a transit NHS ignores it and passes the packet on.
        if let Some(offset) =
            unknown_compulsory_extension(&pkt, bytes).filter(|_| !self.is_transit(from, &pkt))
        {
            self.counters.error("unrecognized-extension");
            if ty != MessageType::ErrorIndication {
                self.send_error(
                    from,
                    &pkt,
                    bytes,
                    ErrorCode::UNRECOGNIZED_EXTENSION,
                    offset,
                    out,
                );
            }
            return;
        }
        self.counters.peer_rx(from);
        if let Some(src) = pkt.src_protocol.ip() {
            self.direct_packet(from, src, out);
        }
        match &pkt.message {
            Message::RegistrationRequest(m) => {
                self.on_registration_request(from, &pkt, m, now, out)
            }
            Message::RegistrationReply(m) => self.on_registration_reply(&pkt, m, now, out),
            Message::ResolutionRequest(m) => {
                self.on_resolution_request(from, &pkt, bytes, m, now, out)
            }
            Message::ResolutionReply(m) => self.on_resolution_reply(from, &pkt, m, now, out),
            Message::PurgeRequest(m) => self.on_purge_request(from, &pkt, m, out),
            Message::PurgeReply(m) => self.on_purge_reply(m),
            Message::ErrorIndication(ei) => self.on_error_indication(from, ei, now, out),
            Message::TrafficIndication(ti) => self.on_traffic_indication(&pkt, ti, now, out),
        }
    }

    // Building and sending.

    pub(crate) fn request_id(&mut self) -> u32 {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1).max(1);
        id
    }

    /// The MTU of our CIEs (RFC 2332, 5.2.0.1: "the maximum transmission
    /// unit for the relevant client station"): the configured one, else
    /// the tunnel interface's, else the default until the data plane has
    /// told us.
    pub fn advertised_mtu(&self) -> u16 {
        match (self.config.mtu_configured, self.tunnel_mtu) {
            (false, Some(tunnel)) => tunnel,
            _ => self.config.mtu,
        }
    }

    /// Our own CIE, as put in Responder Address and transit records.
    pub(crate) fn own_cie(&self, prefix_length: u8) -> Cie {
        Cie {
            code: CieCode::SUCCESS,
            prefix_length,
            mtu: self.advertised_mtu(),
            holding_time: self.config.holding_time,
            preference: 255,
            nbma: NbmaAddress::new(self.config.nbma),
            protocol: Address::Ip(self.config.protocol.ip()),
            ..Cie::default()
        }
    }

    /// A packet from us with the extensions Cisco IOS puts in every request.
    pub(crate) fn new_packet(&self, dst: IpAddr, message: Message) -> Packet {
        let own = self.config.protocol.ip();
        let mut extensions = vec![
            Extension::new(true, ExtensionBody::ResponderAddress { cies: vec![] }),
            Extension::new(true, ExtensionBody::ForwardTransitNhs { cies: vec![] }),
            Extension::new(true, ExtensionBody::ReverseTransitNhs { cies: vec![] }),
        ];
        if message.message_type() == MessageType::TrafficIndication {
            extensions.remove(0);
        }
        if let Some(password) = &self.config.authentication {
            extensions.push(Extension::new(
                true,
                ExtensionBody::Authentication(Authentication::cisco_cleartext(password)),
            ));
        }
        extensions.push(Extension::new(
            false,
            ExtensionBody::CiscoNatAddress { cies: vec![] },
        ));
        extensions.push(Extension::new(true, ExtensionBody::End));
        Packet {
            afn: if self.config.nbma.is_ipv4() {
                header::afn::IPV4
            } else {
                header::afn::IPV6
            },
            protocol: if own.is_ipv4() {
                ProtocolType::IPV4
            } else {
                ProtocolType::IPV6
            },
            hop_count: HOP_COUNT,
            src_nbma: NbmaAddress::new(self.config.nbma),
            src_nbma_subaddress: NbmaAddress::default(),
            src_protocol: Address::Ip(own),
            dst_protocol: Address::Ip(dst),
            message,
            extensions,
            trailer: vec![],
        }
    }

    pub(crate) fn request(&self, flags: u16, request_id: u32, cies: Vec<Cie>) -> RequestReply {
        RequestReply {
            flags: Flags(flags),
            request_id,
            cies,
        }
    }

    pub(crate) fn send(&mut self, to: IpAddr, pkt: &Packet, out: &mut Vec<Output>) {
        match pkt.encode() {
            Ok(bytes) => {
                self.counters.tx(pkt.message_type());
                self.counters.peer_tx(to);
                out.push(Output::Send {
                    to,
                    bytes,
                    summary: summary(pkt),
                });
            }
            Err(e) => {
                self.counters.error("encode");
                tracing::warn!(%to, error = %e, "cannot encode NHRP packet");
            }
        }
    }

    /// RFC 2332, 5.2.7: Error Indication back to the sender of `bytes`.
    pub(crate) fn send_error(
        &mut self,
        to: IpAddr,
        pkt: &Packet,
        bytes: &[u8],
        code: ErrorCode,
        error_offset: u16,
        out: &mut Vec<Output>,
    ) {
        let dst = pkt.src_protocol.ip();
        self.send_error_to(to, dst, bytes, code, error_offset, out);
    }

    /// An Error Indication about `bytes` to the underlay address `to`, for
    /// the protocol address `dst` when the packet could be read that far.
    pub(crate) fn send_error_to(
        &mut self,
        to: IpAddr,
        dst: Option<IpAddr>,
        bytes: &[u8],
        code: ErrorCode,
        error_offset: u16,
        out: &mut Vec<Output>,
    ) {
        // Error Indications go to whoever sent a bad packet, forged sources
        // included: a few per second per destination, so that we cannot be
        // used to reflect a flood.
        if !self.error_budget_allows(to) {
            self.counters.error("error-indication-limited");
            return;
        }
        let own = self.config.protocol.ip();
        let unspecified = if own.is_ipv4() {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        };
        let dst = dst.unwrap_or(unspecified);
        let size =
            crate::packet::HeaderView::new(bytes).map_or(bytes.len(), |v| v.packet_size().into());
        let ei = ErrorIndication {
            code,
            error_offset,
            packet: bytes.get(..size).unwrap_or(bytes).to_vec(),
            ..ErrorIndication::default()
        };
        let mut reply = self.new_packet(dst, Message::ErrorIndication(ei));
        reply.extensions.retain(|e| {
            matches!(
                e.body,
                ExtensionBody::Authentication(_) | ExtensionBody::End
            )
        });
        self.send(to, &reply, out);
    }

    /// At most ERRORS_PER_SECOND Error Indications per destination and
    /// second, with the number of destinations tracked bounded too.
    fn error_budget_allows(&mut self, to: IpAddr) -> bool {
        let now = self.now;
        if !self.error_budget.contains_key(&to)
            && self.error_budget.len() >= self.config.max_registrations
        {
            return false;
        }
        let (start, count) = self.error_budget.entry(to).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count <= ERRORS_PER_SECOND
    }

    /// Behind NAT (an NHS told us it saw us at another address), the CIE
    /// that tells resolution peers our public address (Cisco NAT
    /// extension); empty otherwise.
    pub(crate) fn own_nat_cies(&self) -> Vec<Cie> {
        let own = self.config.protocol.ip();
        self.nhs
            .iter()
            .find_map(|n| n.seen_as)
            .map(|public| Cie {
                holding_time: 0,
                nbma: NbmaAddress::new(public),
                ..self.own_cie(crate::cache::max_prefix(own))
            })
            .into_iter()
            .collect()
    }

    pub(crate) fn is_own(&self, ip: IpAddr) -> bool {
        ip == self.config.protocol.ip()
    }

    /// The local prefix holding `ip` (the most specific), if any.
    pub(crate) fn local_prefix(&self, ip: IpAddr) -> Option<IpNetwork> {
        self.config
            .local_prefixes
            .iter()
            .filter(|p| p.contains(ip))
            .max_by_key(|p| p.prefix())
            .copied()
    }

    /// The prefix length we answer with when `ip` is ours: our tunnel
    /// address as a host, or the local prefix that holds it.
    pub(crate) fn authoritative_prefix(&self, ip: IpAddr) -> Option<u8> {
        if self.is_own(ip) {
            return Some(crate::cache::max_prefix(ip));
        }
        self.config
            .local_prefixes
            .iter()
            .filter(|p| p.contains(ip))
            .map(|p| p.prefix())
            .max()
    }
}

/// The NBMA address the Cisco NAT extension of `pkt` gives for `protocol`:
/// where that node's packets really come from when it is behind NAT.
pub(crate) fn nat_address(pkt: &Packet, protocol: IpAddr) -> Option<IpAddr> {
    pkt.extensions.iter().find_map(|e| match &e.body {
        ExtensionBody::CiscoNatAddress { cies } => cies
            .iter()
            .find(|c| c.protocol.ip() == Some(protocol))
            .and_then(|c| c.nbma.address.ip()),
        _ => None,
    })
}

/// The offset of the first unknown extension with the C bit set.
fn unknown_compulsory_extension(pkt: &Packet, bytes: &[u8]) -> Option<u16> {
    let view = crate::packet::HeaderView::new(bytes)?;
    let mut offset = usize::from(view.extension_offset());
    for ext in &pkt.extensions {
        if ext.compulsory && !ext.body.is_known() {
            return u16::try_from(offset).ok();
        }
        offset += ext.to_bytes().map_or(4, |b| b.len());
    }
    None
}

/// One line for logs and conformance tests.
pub fn summary(pkt: &Packet) -> String {
    let mut s = format!(
        "{} {} -> {}",
        pkt.message_type(),
        pkt.src_protocol,
        pkt.dst_protocol
    );
    if let Some(m) = pkt.message.request_reply() {
        s.push_str(&format!(" id {}", m.request_id));
        for c in &m.cies {
            s.push_str(&format!(
                " [{} {}/{} nbma {} hold {}]",
                c.code.0, c.protocol, c.prefix_length, c.nbma.address, c.holding_time
            ));
        }
    }
    if let Message::ErrorIndication(ei) = &pkt.message {
        s.push_str(&format!(" code {} offset {}", ei.code.0, ei.error_offset));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spoke() -> InstanceConfig {
        let mut config = InstanceConfig::new(
            "10.0.0.11/32".parse().unwrap(),
            "192.0.2.11".parse().unwrap(),
        );
        config.nhs = vec![crate::config::NhsConfig::new(
            "10.0.0.1".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
        )];
        config
    }

    /// The MTU of the CIE of the Registration Request `config` sends after
    /// the data plane reported `tunnel` (if it did).
    fn registered_mtu(config: InstanceConfig, tunnel: Option<u16>) -> u16 {
        let now = Instant::now();
        let (mut instance, _) = Instance::new(config, now);
        if let Some(mtu) = tunnel {
            instance.handle(Input::DataPlane(DataPlaneEvent::TunnelMtu { mtu }), now);
        }
        let later = now + Duration::from_secs(1);
        let sent = instance.handle(Input::Tick, later);
        let request = sent
            .iter()
            .find_map(|o| match o {
                Output::Send { bytes, .. } => Packet::decode(bytes).ok(),
                _ => None,
            })
            .filter(|p| p.message_type() == MessageType::RegistrationRequest)
            .unwrap_or_else(|| panic!("no Registration Request in {sent:?}"));
        let cies = &request.message.request_reply().unwrap().cies;
        assert_eq!(cies.len(), 1);
        assert_eq!(cies[0].mtu, instance.advertised_mtu());
        cies[0].mtu
    }

    #[test]
    fn cies_carry_the_tunnel_mtu_unless_one_is_configured() {
        // A 1500-octet underlay, GRE with a key: 1500 - 20 - 8.
        assert_eq!(registered_mtu(spoke(), Some(1472)), 1472);
        // Before the data plane has said: the default.
        assert_eq!(registered_mtu(spoke(), None), InstanceConfig::DEFAULT_MTU);
        // Configured: that, whatever the tunnel's; 0 (unspecified) too.
        for configured in [1380, 0] {
            let mut config = spoke();
            (config.mtu, config.mtu_configured) = (configured, true);
            assert_eq!(registered_mtu(config, Some(1472)), configured);
        }
    }

    #[test]
    fn the_last_tunnel_mtu_reported_is_advertised() {
        let now = Instant::now();
        let (mut instance, _) = Instance::new(spoke(), now);
        for mtu in [1472, 1400, 9000] {
            instance.handle(Input::DataPlane(DataPlaneEvent::TunnelMtu { mtu }), now);
            assert_eq!(instance.own_cie(32).mtu, mtu);
        }
    }
}
