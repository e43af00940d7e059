//! The NHS (hub) side of registration (RFC 2332, 5.2.3/5.2.4) and purge
//! (5.2.5/5.2.6) handling, shared by every node.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;

use crate::cache::{Entry, EntryType, host, max_prefix};
use crate::instance::Instance;
use crate::io::{Notification, Output};
use crate::packet::{
    Cie, CieCode, ExtensionBody, Flags, Message, NbmaAddress, Packet, RequestReply,
};

impl Instance {
    pub(crate) fn on_registration_request(
        &mut self,
        from: IpAddr,
        pkt: &Packet,
        m: &RequestReply,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let (Some(client), Some(claimed)) = (pkt.src_protocol.ip(), pkt.src_nbma.address.ip())
        else {
            self.counters.error("bad-address");
            return;
        };
        // Behind NAT the packet comes from another address than the one the
        // client claims: record both, send to the one we saw.
        let nat = claimed != from;
        let unique = m.flags.contains(Flags::REGISTRATION_UNIQUE);
        let mut reply_cies = Vec::with_capacity(m.cies.len());
        for cie in &m.cies {
            let code = self.register_client(client, from, claimed, unique, cie, now, out);
            reply_cies.push(Cie {
                code,
                ..cie.clone()
            });
        }

        let mut reply = pkt.clone();
        reply.hop_count = crate::instance::HOP_COUNT;
        // Cisco and FRR both answer with our address as destination (Cisco
        // clients send the request to it; FRR clients to themselves).
        reply.dst_protocol = self.config.protocol.ip().into();
        reply.message = Message::RegistrationReply(RequestReply {
            cies: reply_cies,
            ..m.clone()
        });
        let own = self.own_cie(max_prefix(self.config.protocol.ip()));
        for ext in &mut reply.extensions {
            match &mut ext.body {
                ExtensionBody::ResponderAddress { cies } => *cies = vec![own.clone()],
                // Cisco (and FRR): the NAT extension comes back as the
                // client sent it, plus, behind NAT, a CIE with the address
                // we saw it at.
                ExtensionBody::CiscoNatAddress { cies } if nat => cies.push(Cie {
                    holding_time: 0,
                    nbma: NbmaAddress::new(from),
                    protocol: client.into(),
                    ..own.clone()
                }),
                _ => {}
            }
        }
        self.send(from, &reply, out);
    }

    /// One CIE of a registration: the RFC 2332 code to answer with.
    #[allow(clippy::too_many_arguments)]
    fn register_client(
        &mut self,
        client: IpAddr,
        seen: IpAddr,
        claimed: IpAddr,
        unique: bool,
        cie: &Cie,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> CieCode {
        let address = cie.protocol.ip().unwrap_or(client);
        let prefix = IpNetwork::new(address, cie.prefix_length.min(max_prefix(address)))
            .unwrap_or_else(|_| host(address));
        let prefix = if prefix.prefix() == max_prefix(address) {
            prefix
        } else {
            host(address)
        };
        // Our own address and prefixes are ours: a client claiming them would
        // take over our neighbor entry.
        if self.authoritative_prefix(address).is_some() {
            self.counters.error("registration-prohibited");
            return CieCode::ADMINISTRATIVELY_PROHIBITED;
        }
        // RFC 2332, 2: an NHS serves the clients of its logical subnet, the
        // tunnel's. A client claiming an address outside it would pull that
        // traffic into the cloud (resolutions for it would point at the
        // client). A host-length tunnel address (/32, as FRR hubs are often
        // configured) defines no subnet: every address is accepted then.
        let subnet = self.config.protocol;
        if subnet.prefix() < max_prefix(subnet.ip()) && !subnet.contains(address) {
            self.counters.error("registration-outside-subnet");
            tracing::info!(%address, nbma = %seen, %subnet, "registration outside the tunnel subnet refused");
            return CieCode::ADMINISTRATIVELY_PROHIBITED;
        }
        let existing = self.cache.get(&prefix);
        match existing {
            Some(e) if matches!(e.ty, EntryType::Static | EntryType::Local | EntryType::Nhs) => {
                self.counters.error("registration-prohibited");
                return CieCode::ADMINISTRATIVELY_PROHIBITED;
            }
            // RFC 2332, 5.2.3: a unique binding may only be replaced by its
            // owner (same NBMA address).
            Some(e) if e.ty == EntryType::Dynamic && e.unique && e.nbma != Some(seen) => {
                self.counters.error("registration-not-unique");
                tracing::info!(%address, nbma = %seen, "unique address already registered");
                return CieCode::ALREADY_REGISTERED;
            }
            None if self.cache.count(EntryType::Dynamic) >= self.config.max_registrations => {
                self.counters.error("registration-limit");
                return CieCode::INSUFFICIENT_RESOURCES;
            }
            _ => {}
        }
        let is_new = existing.is_none_or(|e| e.ty != EntryType::Dynamic);
        let mut entry = Entry::new(prefix, EntryType::Dynamic, address, now);
        entry.nbma = Some(seen);
        entry.claimed_nbma = (claimed != seen).then_some(claimed);
        entry.unique = unique;
        entry.expires = Some(now + Duration::from_secs(cie.holding_time.into()));
        if let Some(old) = existing {
            entry.created = old.created;
        }
        self.cache.insert(entry, out);
        if is_new {
            out.push(Output::Notify(Notification::PeerUp {
                protocol: address,
                nbma: seen,
            }));
        }
        CieCode::SUCCESS
    }

    /// RFC 2332, 5.2.5: remove the bindings the CIEs name; answer unless the
    /// N bit is set.
    pub(crate) fn on_purge_request(
        &mut self,
        from: IpAddr,
        pkt: &Packet,
        m: &RequestReply,
        out: &mut Vec<Output>,
    ) {
        let sender = pkt.src_protocol.ip();
        // Our NHSs may purge anything they told us; anybody else only what
        // points at itself: its own binding, routes through it, or one
        // prefix it once answered for.
        let from_nhs = self.nhs.iter().any(|n| Some(n.config.protocol) == sender);
        for cie in &m.cies {
            let Some(address) = cie.protocol.ip().or(sender) else {
                continue;
            };
            let prefix = IpNetwork::new(address, cie.prefix_length.min(max_prefix(address)))
                .map(|p| IpNetwork::new(p.network(), p.prefix()).unwrap_or(p))
                .unwrap_or_else(|_| host(address));
            let is_own_binding = Some(address) == sender;
            // The entry for the prefix and, for the sender's own binding,
            // every entry through it, in prefix order, each once.
            let via_sender = is_own_binding.then(|| self.cache.via_next_hop(address));
            let named: BTreeMap<IpNetwork, &Entry> = (self.cache.get(&prefix).into_iter())
                .chain(via_sender.into_iter().flatten())
                .map(|e| (e.prefix, e))
                .collect();
            let matching: Vec<(IpNetwork, IpAddr)> = named
                .into_values()
                .filter(|e| !matches!(e.ty, EntryType::Static | EntryType::Local | EntryType::Nhs))
                .map(|e| (e.prefix, e.next_hop))
                .collect();
            let (doomed, refused): (Vec<_>, Vec<_>) = matching
                .into_iter()
                .partition(|(_, via)| from_nhs || Some(*via) == sender);
            if !refused.is_empty() {
                self.counters.error("purge-not-owner");
                tracing::info!(%from, %address, "purge of another node's binding refused");
            }
            let doomed: Vec<IpNetwork> = doomed.into_iter().map(|(p, _)| p).collect();
            for p in doomed {
                if let Some(e) = self.cache.remove(&p, out)
                    && e.ty == EntryType::Dynamic
                {
                    out.push(Output::Notify(Notification::PeerDown {
                        protocol: e.next_hop,
                    }));
                }
            }
        }
        if m.flags.contains(Flags::PURGE_NO_REPLY) {
            return;
        }
        let mut reply = pkt.clone();
        reply.hop_count = crate::instance::HOP_COUNT;
        reply.message = Message::PurgeReply(m.clone());
        self.send(from, &reply, out);
    }

    /// `clear ip nhrp`: drop learnt entries; tell each shortcut peer to drop
    /// what it learnt about us (RFC 2332, 5.2.5) so both ends agree; and,
    /// as Cisco does on a spoke, register again with every NHS at once.
    pub(crate) fn clear(&mut self, now: Instant, out: &mut Vec<Output>) {
        let learnt: Vec<IpNetwork> = self
            .cache
            .iter()
            .filter(|e| {
                matches!(
                    e.ty,
                    EntryType::Dynamic
                        | EntryType::Shortcut
                        | EntryType::Negative
                        | EntryType::Incomplete
                )
            })
            .map(|e| e.prefix)
            .collect();
        for prefix in learnt {
            self.purge_entry(prefix, now, out);
        }
        self.pending.clear();
        self.register_now(now, out);
    }

    pub(crate) fn purge_entry(&mut self, prefix: IpNetwork, now: Instant, out: &mut Vec<Output>) {
        let Some(entry) = self.cache.remove(&prefix, out) else {
            return;
        };
        if entry.ty == EntryType::Dynamic {
            out.push(Output::Notify(Notification::PeerDown {
                protocol: entry.next_hop,
            }));
        }
        let (Some(nbma), EntryType::Shortcut | EntryType::Dynamic) = (entry.nbma, entry.ty) else {
            return;
        };
        if entry.prefix.prefix() != max_prefix(entry.prefix.ip()) {
            // A route only: the peer's binding goes with its host entry.
            return;
        }
        // The shortcut routes through the peer go with its binding, as they
        // do at the peer when our purge reaches it.
        let routes: Vec<IpNetwork> = self
            .cache
            .via_next_hop(entry.next_hop)
            .filter(|e| e.ty == EntryType::Shortcut)
            .map(|e| e.prefix)
            .collect();
        for route in routes {
            self.cache.remove(&route, out);
        }
        let own = self.config.protocol.ip();
        let cie = Cie {
            holding_time: 0,
            ..self.own_cie(max_prefix(own))
        };
        self.send_purge(nbma, entry.next_hop, cie, now, out);
    }
}
