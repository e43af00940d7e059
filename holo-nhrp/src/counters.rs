//! Per-message-type counters and drop reasons, exposed as YANG state by the
//! northbound and by `show ip nhrp traffic`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::packet::MessageType;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Received, by message type name.
    pub received: BTreeMap<&'static str, u64>,
    pub sent: BTreeMap<&'static str, u64>,
    /// Packets dropped or answered with an error, by reason.
    pub errors: BTreeMap<&'static str, u64>,
    /// Per peer NBMA address: authenticated packets received, and packets
    /// sent. Bounded by `Counters::MAX_PEERS`.
    pub peers: BTreeMap<IpAddr, PeerCounters>,
    /// Shortcuts towards peers behind NAT (issue 6): direct probes sent,
    /// direct paths proven, and probe series given up (the shortcut is then
    /// negative-cached and traffic stays on the NHS path). Left out of the
    /// serialized form while all zero.
    #[serde(skip_serializing_if = "NatCounters::is_zero")]
    pub nat: NatCounters,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NatCounters {
    pub probes_sent: u64,
    pub proofs: u64,
    pub give_ups: u64,
}

impl NatCounters {
    fn is_zero(&self) -> bool {
        *self == NatCounters::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeerCounters {
    pub received: u64,
    pub sent: u64,
}

impl Counters {
    /// Peers tracked at most; beyond, new peers are not counted (a flood
    /// of forged sources must not grow memory).
    pub const MAX_PEERS: usize = 10_000;

    fn peer(&mut self, nbma: IpAddr) -> Option<&mut PeerCounters> {
        if self.peers.len() >= Self::MAX_PEERS && !self.peers.contains_key(&nbma) {
            return None;
        }
        Some(self.peers.entry(nbma).or_default())
    }

    pub fn peer_rx(&mut self, nbma: IpAddr) {
        if let Some(p) = self.peer(nbma) {
            p.received += 1;
        }
    }

    pub fn peer_tx(&mut self, nbma: IpAddr) {
        if let Some(p) = self.peer(nbma) {
            p.sent += 1;
        }
    }

    pub fn rx(&mut self, ty: MessageType) {
        *self.received.entry(key(ty)).or_default() += 1;
    }

    pub fn tx(&mut self, ty: MessageType) {
        *self.sent.entry(key(ty)).or_default() += 1;
    }

    pub fn error(&mut self, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
    }

    pub fn sent(&self, ty: MessageType) -> u64 {
        self.sent.get(key(ty)).copied().unwrap_or_default()
    }

    pub fn received(&self, ty: MessageType) -> u64 {
        self.received.get(key(ty)).copied().unwrap_or_default()
    }

    pub fn errors(&self, reason: &str) -> u64 {
        self.errors.get(reason).copied().unwrap_or_default()
    }
}

fn key(ty: MessageType) -> &'static str {
    match ty {
        MessageType::ResolutionRequest => "resolution_request",
        MessageType::ResolutionReply => "resolution_reply",
        MessageType::RegistrationRequest => "registration_request",
        MessageType::RegistrationReply => "registration_reply",
        MessageType::PurgeRequest => "purge_request",
        MessageType::PurgeReply => "purge_reply",
        MessageType::ErrorIndication => "error_indication",
        MessageType::TrafficIndication => "traffic_indication",
    }
}
