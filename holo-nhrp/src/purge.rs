//! Purge Requests we originate (RFC 2332, 5.2.5): sent, remembered by
//! request id until their Purge Reply (5.2.6) comes back, retransmitted
//! meanwhile, and given up after a few tries.
//!
//! Every purge we send asks for a reply (the N bit is clear). Receiving
//! purges, and answering them, is the NHS's business (`nhs.rs`).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;

use crate::cache::host;
use crate::instance::Instance;
use crate::io::Output;
use crate::packet::{Cie, Message, Packet, RequestReply};

/// Retransmissions of an unanswered Purge Request: sent at 0, 1, 3 and 7 s,
/// given up at 15 s. The schedule of resolution retries (`resolution.rs`):
/// a purge only hastens what the holding time does anyway (the peer's entry
/// expires on its own), so a peer that stays silent that long (gone, or
/// not answering purges) is not worth more packets. Registration, which
/// must succeed in the end, retries for ever instead.
const PURGE_RETRIES: u32 = 3;
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A Purge Request waiting for its reply.
#[derive(Debug)]
pub(crate) struct OutstandingPurge {
    /// The NBMA address it is sent to.
    pub to: IpAddr,
    /// The peer's tunnel address (the packet's destination).
    pub peer: IpAddr,
    /// What the CIE tells the peer to forget.
    pub prefix: IpNetwork,
    pub packet: Packet,
    /// Transmissions so far.
    pub attempts: u32,
    pub next_retry: Instant,
}

impl Instance {
    /// Sends a Purge Request for `cie` to the peer `dst_protocol` at
    /// `to_nbma` and keeps it for retransmission until answered. The table
    /// is bounded like the cache: beyond, the purge goes out once,
    /// untracked.
    pub(crate) fn send_purge(
        &mut self,
        to_nbma: IpAddr,
        dst_protocol: IpAddr,
        cie: Cie,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let id = self.request_id();
        // RFC 2332, 5.2.5: a CIE without a protocol address names the
        // sender's own binding.
        let address = cie.protocol.ip().unwrap_or(self.config.protocol.ip());
        let prefix = IpNetwork::new(address, cie.prefix_length)
            .and_then(|p| IpNetwork::new(p.network(), p.prefix()))
            .unwrap_or_else(|_| host(address));
        let packet = self.new_packet(
            dst_protocol,
            Message::PurgeRequest(self.request(0, id, vec![cie])),
        );
        self.send(to_nbma, &packet, out);
        if self.purges.len() >= self.config.max_registrations {
            self.counters.error("purge-limit");
            return;
        }
        let purge = OutstandingPurge {
            to: to_nbma,
            peer: dst_protocol,
            prefix,
            packet,
            attempts: 1,
            next_retry: now + FIRST_RETRY,
        };
        self.purges.insert(id, purge);
    }

    /// RFC 2332, 5.2.6: the Purge Reply carries the request id of the
    /// request it answers.
    pub(crate) fn on_purge_reply(&mut self, m: &RequestReply) {
        if self.purges.remove(&m.request_id).is_none() {
            self.counters.error("unexpected-reply");
        }
    }

    /// `peer` has just been given a fresh binding for `prefix` (it
    /// registered us, resolved us or was answered by us): a purge of that
    /// binding still in flight must not undo it when retransmitted.
    pub(crate) fn purges_superseded(&mut self, peer: IpAddr, prefix: IpNetwork) {
        self.purges
            .retain(|_, p| p.peer != peer || p.prefix != prefix);
    }

    /// Retransmits due purges with the same request id, doubling the
    /// interval; gives up after `PURGE_RETRIES` retransmissions.
    pub(crate) fn purge_timers(&mut self, now: Instant, out: &mut Vec<Output>) {
        let due: Vec<u32> = self
            .purges
            .iter()
            .filter(|(_, p)| p.next_retry <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(purge) = self.purges.get_mut(&id) else {
                continue;
            };
            if purge.attempts > PURGE_RETRIES {
                let (peer, nbma, prefix, attempts) =
                    (purge.peer, purge.to, purge.prefix, purge.attempts);
                self.purges.remove(&id);
                self.counters.error("purge-timeout");
                tracing::info!(%peer, %nbma, %prefix, attempts, "Purge Request unanswered: given up");
                continue;
            }
            purge.next_retry = now + FIRST_RETRY * (1 << purge.attempts);
            purge.attempts += 1;
            let (to, packet) = (purge.to, purge.packet.clone());
            tracing::debug!(peer = %purge.peer, %to, id, attempt = purge.attempts, "Purge Request retransmitted");
            self.send(to, &packet, out);
        }
    }
}
