//! IPsec in the userspace data plane (Cisco's `tunnel protection ipsec
//! profile`): every GRE datagram to a peer leaves inside ESP, every GRE
//! datagram from a peer must arrive inside ESP.
//!
//! ```text
//!   TUN / NHRP ── GRE ──► send ──► SA for the peer? ── yes ──► seal ──► ESP (raw, IP 50)
//!                                        │                             or UDP 4500 (NAT-T)
//!                                        no: wait (bounded), Acquire ──► IKE core
//!                                            (none for 5 s after IKE failed)
//!   IKE core ◄── UDP 500/4500 ──► Send / InstallChildSa / RemoveChildSa
//!   ESP in ──► SA by SPI ──► open (ICV, replay) ──► GRE ──► the usual inbound path
//!                  │
//!                  unknown: held while IKE awaits the answer that installs it (`early`)
//! ```
//!
//! ESP in UDP leaves a TUN super-packet's worth at a time (UDP GSO) and
//! arrives so too (UDP GRO): `udp_offload`.
//!
//! The IKE core (`holo_ike::ike`) runs in the data plane's task, so an SA
//! it installs is used by the very next packet and no lock is shared.

#[cfg(test)]
mod collision_tests;
mod early;
pub mod keylog;
mod sas;
pub mod sockets;
pub mod udp_offload;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use holo_ike::esp::{EspError, SaCounters};
use holo_ike::ike::{ChildSa, Ike, Input, Mode, Notification, Output};
use holo_ike::packet::UdpEncapsulated;
use holo_ike::protection::Protection as ProtectionConfig;
use serde::Serialize;

use super::forwarding::DropReason;
use super::underlay::outer_ipv4;
use early::EarlyEsp;
use sas::{Refused, Sas};
use sockets::{NAT_T_PORT, Sockets};

/// GRE datagrams waiting for one peer's SA, at most (the oldest are
/// dropped first).
const WAITING_PER_PEER: usize = 64;
/// GRE datagrams waiting for all peers' SAs together, at most.
const WAITING_TOTAL: usize = 4096;
/// After IKE failed to bring a peer's SA up (no answer, AUTHENTICATION_FAILED,
/// NO_PROPOSAL_CHOSEN...), what was waiting is dropped and packets to that
/// peer are dropped for this long before one asks IKE again: a new attempt
/// per packet would hammer a peer that refuses us (strongSwan's trap policy
/// holds off for xfrm_acq_expires, 30 s, the same way).
const ACQUIRE_HOLD_DOWN: Duration = Duration::from_secs(5);
/// A peer traffic avoids while its SA is missing (see `request`) is asked
/// for at most this often: the IKE core's Acquire is idempotent, but not
/// free, and such traffic comes at line rate.
const REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// IP protocol numbers: GRE, and IPv4 in IPv4 (tunnel mode's Next Header).
const IPPROTO_GRE: u8 = 47;
const IPPROTO_IPIP: u8 = 4;

/// The IPsec side of a tunnel: the IKE core, the SAs it installed, the
/// sockets, and what waits for an SA.
pub struct Protection {
    config: ProtectionConfig,
    ike: Ike,
    pub sockets: Sockets,
    ttl: u8,
    sas: Sas,
    waiting: HashMap<IpAddr, VecDeque<Vec<u8>>>,
    waiting_total: usize,
    /// Peers whose SA could not be brought up: no new Acquire before then.
    held_down: HashMap<IpAddr, Instant>,
    /// Peers asked for by `request` (no packet waits for them), and when.
    requested: HashMap<IpAddr, Instant>,
    /// ESP that came before its SA (`hold`).
    early: EarlyEsp,
    /// Held ESP whose SA is installed now, for the caller to open again
    /// (`take_released`).
    released: Vec<(IpAddr, Vec<u8>)>,
    /// The ESP packet being built, reused.
    sealed: Vec<u8>,
    /// The ESP packets of one `send_many`, back to back, reused.
    batch: Vec<u8>,
    /// Debug: where the keys of every child SA are written.
    keylog: Option<keylog::KeyLog>,
    /// The IKE SAs (SPIs) whose keys were written already.
    logged_ike_sas: std::collections::HashSet<(u64, u64)>,
    pub counters: ProtectionCounters,
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("profile", &self.config.profile)
            .field("source", &self.sockets.source)
            .field("outbound_sas", &self.sas.len().0)
            .field("inbound_sas", &self.sas.len().1)
            .field("waiting", &self.waiting_total)
            .finish()
    }
}

/// Tunnel-wide IPsec counters (YANG `protection/statistics`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtectionCounters {
    pub esp_unknown_spi: u64,
    pub cleartext_dropped: u64,
    pub queued_dropped: u64,
    pub esp_malformed: u64,
}

/// What became of a GRE datagram handed to `send`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Protected and sent (plaintext length counted by the caller).
    Sent,
    /// Waiting for the peer's SA.
    Waiting,
    Dropped(DropReason),
}

/// One child SA as management sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ChildSaState {
    pub peer: IpAddr,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub encap: Option<(u16, u16)>,
    pub inbound: SaCounters,
    pub outbound: SaCounters,
}

/// What management sees of a tunnel's IPsec.
#[derive(Clone, Debug, Serialize)]
pub struct ProtectionSnapshot {
    pub profile: String,
    pub ike: holo_ike::ike::Snapshot,
    pub ike_counters: holo_ike::ike::Counters,
    pub child_sas: Vec<ChildSaState>,
    pub counters: ProtectionCounters,
    pub waiting: usize,
}

impl Protection {
    /// The IKE core of `config` and its sockets on `source` (in `netns`).
    pub fn new(
        config: ProtectionConfig,
        source: Ipv4Addr,
        ttl: u8,
        netns: Option<&str>,
        keylog: Option<keylog::KeyLog>,
    ) -> std::io::Result<Protection> {
        let sockets = Sockets::bind(source, ttl, netns)?;
        Ok(Protection {
            ike: Ike::new(config.ike.clone()),
            config,
            sockets,
            ttl,
            sas: Sas::default(),
            waiting: HashMap::new(),
            waiting_total: 0,
            held_down: HashMap::new(),
            requested: HashMap::new(),
            early: EarlyEsp::default(),
            released: Vec::new(),
            sealed: Vec::with_capacity(65_535 + 128),
            batch: Vec::new(),
            keylog,
            logged_ike_sas: std::collections::HashSet::new(),
            counters: ProtectionCounters::default(),
        })
    }

    pub fn config(&self) -> &ProtectionConfig {
        &self.config
    }

    /// When the IKE core wants a `Tick`, or a retiring inbound SA goes.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let retiring = self.sas.next_expiry();
        self.ike.next_wakeup().into_iter().chain(retiring).min()
    }

    /// A new profile: applies to IKE SAs created from now on; those that
    /// exist keep theirs until they are rekeyed or re-established.
    pub fn reconfigure(&mut self, config: ProtectionConfig, now: Instant) -> Vec<Notification> {
        self.config = config.clone();
        let outputs = self.ike.handle(Input::Configure(Box::new(config.ike)), now);
        self.collect(outputs, now).1
    }

    /// Sends `gre` (a whole GRE datagram) to `peer` inside ESP, or keeps it
    /// until the SA is up (asking IKE for it).
    pub async fn send(
        &mut self,
        peer: IpAddr,
        gre: &[u8],
        now: Instant,
    ) -> (Sent, Vec<Notification>) {
        if self.sas.is_up(peer) {
            return (self.seal_and_send(peer, gre).await, Vec::new());
        }
        if let Some(&until) = self.held_down.get(&peer) {
            if now < until {
                self.counters.queued_dropped += 1;
                return (Sent::Dropped(DropReason::SaPending), Vec::new());
            }
            self.held_down.remove(&peer);
        }
        let queue = self.waiting.entry(peer).or_default();
        let first = queue.is_empty();
        let mut dropped = false;
        if queue.len() >= WAITING_PER_PEER || self.waiting_total >= WAITING_TOTAL {
            // The oldest goes: what is sent last matters most to NHRP
            // (the latest registration) and to TCP.
            if queue.pop_front().is_some() {
                self.waiting_total -= 1;
            }
            self.counters.queued_dropped += 1;
            dropped = true;
        }
        if self.waiting_total < WAITING_TOTAL {
            queue.push_back(gre.to_vec());
            self.waiting_total += 1;
        }
        let mut notifications = Vec::new();
        if first {
            let local = IpAddr::V4(self.sockets.source);
            let outputs = self.ike.handle(Input::Acquire { local, peer }, now);
            notifications = self.run(outputs, now).await;
        }
        let sent = match dropped {
            true => Sent::Dropped(DropReason::SaPending),
            false => Sent::Waiting,
        };
        (sent, notifications)
    }

    /// Whether GRE to `peer` leaves protected right now (its SA is up).
    pub fn is_up(&self, peer: IpAddr) -> bool {
        self.sas.is_up(peer)
    }

    /// Asks IKE for an SA with `peer` without handing it a packet: the
    /// caller sends its traffic another way meanwhile (a spoke keeps using
    /// its NHS until the spoke-to-spoke SA is up, as Cisco does). Nothing
    /// if the SA is up, the peer is held down after a failed attempt, or
    /// it was asked for less than `REQUEST_INTERVAL` ago.
    pub async fn request(&mut self, peer: IpAddr, now: Instant) -> Vec<Notification> {
        if self.sas.is_up(peer) {
            return Vec::new();
        }
        if let Some(&until) = self.held_down.get(&peer) {
            if now < until {
                return Vec::new();
            }
            self.held_down.remove(&peer);
        }
        if let Some(&asked) = self.requested.get(&peer)
            && now < asked + REQUEST_INTERVAL
        {
            return Vec::new();
        }
        self.requested.insert(peer, now);
        let local = IpAddr::V4(self.sockets.source);
        let outputs = self.ike.handle(Input::Acquire { local, peer }, now);
        self.run(outputs, now).await
    }

    /// Sends the GRE datagrams of one TUN read: those to a peer with a
    /// transport-mode SA are sealed back to back into one buffer; plain ESP
    /// leaves with as few sendmmsg(2) as the socket takes, ESP in UDP with
    /// one sendmsg(2) and UDP GSO per run of equal packets to one peer
    /// (`Sockets::send_esp_in_udp`). The others (no SA yet, tunnel mode)
    /// go one by one through `send`. One result per datagram, in order.
    pub async fn send_many(
        &mut self,
        datagrams: &[(IpAddr, &[u8])],
        now: Instant,
    ) -> (Vec<Sent>, Vec<Notification>) {
        let mut results = vec![Sent::Sent; datagrams.len()];
        // (datagram, sealed packet in `batch`, where to).
        let mut raw = Vec::with_capacity(datagrams.len());
        let mut in_udp = Vec::new();
        let mut others = Vec::new();
        self.batch.clear();
        for (i, &(peer, gre)) in datagrams.iter().enumerate() {
            let (out, to) = match (self.sas.outbound(peer), peer) {
                (Some(out), IpAddr::V4(to)) if out.mode == Mode::Transport => (out, to),
                _ => {
                    others.push(i);
                    continue;
                }
            };
            let start = self.batch.len();
            if let Err(error) = out.sa.seal(IPPROTO_GRE, gre, &mut self.batch) {
                tracing::warn!(%peer, %error, "ESP seal");
                self.batch.truncate(start);
                results[i] = Sent::Dropped(DropReason::SendError);
                continue;
            }
            let sealed = start..self.batch.len();
            match out.encap {
                None => raw.push((i, sealed, to)),
                Some((local, remote)) => {
                    in_udp.push((i, sealed, local, SocketAddrV4::new(to, remote)))
                }
            }
        }
        let packets: Vec<(&[u8], Ipv4Addr)> = raw
            .iter()
            .map(|(_, range, to)| (&self.batch[range.clone()], *to))
            .collect();
        self.sockets
            .esp
            .send_many(&packets, |k, result| {
                if let Err(error) = result {
                    tracing::debug!(peer = %packets[k].1, %error, "ESP send");
                    results[raw[k].0] = Sent::Dropped(DropReason::SendError);
                }
            })
            .await;
        let packets: Vec<sockets::EspInUdp<'_>> = in_udp
            .iter()
            .map(|(_, range, local, to)| (&self.batch[range.clone()], *local, *to))
            .collect();
        self.sockets
            .send_esp_in_udp(&packets, |k, result| {
                if let Err(error) = result {
                    tracing::debug!(peer = %packets[k].2, %error, "ESP-in-UDP send");
                    results[in_udp[k].0] = Sent::Dropped(DropReason::SendError);
                }
            })
            .await;
        let mut notifications = Vec::new();
        for i in others {
            let (peer, gre) = datagrams[i];
            let (sent, more) = self.send(peer, gre, now).await;
            results[i] = sent;
            notifications.extend(more);
        }
        (results, notifications)
    }

    async fn seal_and_send(&mut self, peer: IpAddr, gre: &[u8]) -> Sent {
        let Some(out) = self.sas.outbound(peer) else {
            return Sent::Dropped(DropReason::SaPending);
        };
        self.sealed.clear();
        let result = match out.mode {
            Mode::Transport => out.sa.seal(IPPROTO_GRE, gre, &mut self.sealed),
            Mode::Tunnel => {
                let (IpAddr::V4(src), IpAddr::V4(dst)) = (out.local, peer) else {
                    return Sent::Dropped(DropReason::SendError);
                };
                let inner = ipv4_packet(src, dst, IPPROTO_GRE, self.ttl, gre);
                out.sa.seal(IPPROTO_IPIP, &inner, &mut self.sealed)
            }
        };
        if let Err(error) = result {
            tracing::warn!(%peer, %error, "ESP seal");
            return Sent::Dropped(DropReason::SendError);
        }
        let sent = match out.encap {
            None => self.sockets.send_esp(&self.sealed, peer).await,
            Some((local, remote)) => self
                .sockets
                .udp(local)
                .send_to(&self.sealed, SocketAddr::new(peer, remote))
                .await
                .map(|_| ()),
        };
        match sent {
            Ok(()) => Sent::Sent,
            Err(error) => {
                tracing::debug!(%peer, %error, "ESP send");
                Sent::Dropped(DropReason::SendError)
            }
        }
    }

    /// An ESP packet (SPI onwards) from `from`, decrypted in place: the GRE
    /// datagram inside, or why it was dropped. One of an unknown SPI is
    /// not counted yet: the caller offers it to `hold`.
    pub fn open<'p>(&mut self, from: IpAddr, packet: &'p mut [u8]) -> Result<&'p [u8], DropReason> {
        let (next_header, payload) = self.sas.open(from, packet).map_err(|refused| {
            match refused {
                Refused::Malformed => self.counters.esp_malformed += 1,
                // Counted on the SA, or by `hold`.
                Refused::IcvFailure | Refused::Replayed | Refused::UnknownSpi => {}
            }
            DropReason::from(refused)
        })?;
        match next_header {
            IPPROTO_GRE => Ok(payload),
            IPPROTO_IPIP => {
                let (_, header_len) = outer_ipv4(payload).ok_or(DropReason::Malformed)?;
                if payload.get(9) != Some(&IPPROTO_GRE) {
                    return Err(DropReason::UnknownProtocol);
                }
                Ok(&payload[header_len..])
            }
            _ => Err(DropReason::UnknownProtocol),
        }
    }

    /// An ESP packet `open` refused for its SPI: kept if IKE awaits the
    /// answer that installs a child SA with `from` (our IKE_AUTH or
    /// CREATE_CHILD_SA in flight), else counted and dropped. The peer
    /// installed its half when it answered and may send at once (the
    /// packets that waited for the SA on its side, say our NHRP
    /// resolution's reply); that ESP can overtake the answer here, read
    /// from another socket first. Returns whether it was kept; it comes
    /// back from `take_released` once the SA is in.
    pub fn hold(&mut self, from: IpAddr, packet: &[u8]) -> bool {
        let ike = &self.ike;
        let kept = self.early.hold(from, packet, || ike.child_sa_coming(from));
        self.counters.esp_unknown_spi += u64::from(!kept);
        kept
    }

    /// Held ESP (`hold`) whose SA is installed now, to open (each peer's in
    /// the order it came).
    pub fn take_released(&mut self) -> Vec<(IpAddr, Vec<u8>)> {
        std::mem::take(&mut self.released)
    }

    /// After IKE's outputs: held ESP of an SPI installed now is released;
    /// that of a peer IKE no longer brings a child SA up with is dropped
    /// as of an unknown SPI.
    fn settle_held(&mut self) {
        let ike = &self.ike;
        let (released, dropped) = self.early.settle(&self.sas, |p| ike.child_sa_coming(p));
        self.released.extend(released);
        self.counters.esp_unknown_spi += dropped;
    }

    /// Whether `peer` may send us GRE in clear: never, with protection
    /// (counted when dropped).
    pub fn refuse_cleartext(&mut self) -> DropReason {
        self.counters.cleartext_dropped += 1;
        DropReason::Cleartext
    }

    /// An IKE message (non-ESP marker stripped on 4500) from `remote` on
    /// local port `port`.
    pub async fn ike_message(
        &mut self,
        remote: SocketAddr,
        port: u16,
        bytes: &[u8],
        now: Instant,
    ) -> Vec<Notification> {
        let local = SocketAddr::new(IpAddr::V4(self.sockets.source), port);
        let input = Input::Packet {
            local,
            remote,
            bytes: bytes.to_vec(),
        };
        let outputs = self.ike.handle(input, now);
        self.run(outputs, now).await
    }

    /// Time passed. What the SAs carried goes with it (to the IKE core a
    /// usage report is a tick too), for byte lifetimes, sequence number
    /// exhaustion and NAT-keepalives.
    pub async fn tick(&mut self, now: Instant) -> Vec<Notification> {
        self.sas.expire(now);
        let outputs = self.ike.handle(Input::ChildSaUsage(self.sas.usage()), now);
        self.run(outputs, now).await
    }

    /// `clear crypto sa` (one peer or all). It also lifts the hold-down of
    /// failed attempts (the SAs it takes down included), so the next
    /// packet tries again at once, after fixing a key say.
    pub async fn clear(&mut self, peer: Option<IpAddr>, now: Instant) -> Vec<Notification> {
        let outputs = self.ike.handle(Input::Clear { peer }, now);
        let notifications = self.run(outputs, now).await;
        match peer {
            Some(peer) => {
                self.held_down.remove(&peer);
            }
            None => self.held_down.clear(),
        }
        notifications
    }

    /// NHRP no longer needs `peer`: its SAs go (with Deletes).
    pub async fn release(&mut self, peer: IpAddr, now: Instant) -> Vec<Notification> {
        self.requested.remove(&peer);
        let outputs = self.ike.handle(Input::Release { peer }, now);
        self.run(outputs, now).await
    }

    /// Carries out the IKE core's outputs: messages out, SAs in and out,
    /// and what waited for a new SA sent through it.
    async fn run(&mut self, outputs: Vec<Output>, now: Instant) -> Vec<Notification> {
        let (sends, notifications, ready) = self.collect(outputs, now);
        self.settle_held();
        self.log_ike_keys();
        for (local, remote, datagram) in sends {
            let socket = self.sockets.udp(local.port());
            if let Err(error) = socket.send_to(&datagram, remote).await {
                tracing::debug!(%remote, %error, "IKE send");
            }
        }
        for peer in ready {
            let Some(queue) = self.waiting.remove(&peer) else {
                continue;
            };
            self.waiting_total -= queue.len();
            for gre in queue {
                let _ = self.seal_and_send(peer, &gre).await;
            }
        }
        notifications
    }

    /// The synchronous part of `run`: SA changes applied; returns the UDP
    /// datagrams to send (IKE messages, NAT-keepalives), the notifications
    /// and the peers whose SA came up.
    #[allow(clippy::type_complexity)]
    fn collect(
        &mut self,
        outputs: Vec<Output>,
        now: Instant,
    ) -> (
        Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
        Vec<Notification>,
        Vec<IpAddr>,
    ) {
        let mut sends = Vec::new();
        let mut notifications = Vec::new();
        let mut ready = Vec::new();
        for output in outputs {
            match output {
                Output::Send {
                    local,
                    remote,
                    bytes,
                } => sends.push((local, remote, ike_datagram(local, bytes))),
                // RFC 3948, 2.3: the single octet 0xFF, without the marker.
                Output::NatKeepalive { local, remote } => {
                    sends.push((local, remote, UdpEncapsulated::NatKeepalive.emit()))
                }
                Output::InstallChildSa(child) => {
                    let peer = child.peer;
                    match self.install(&child) {
                        Ok(()) => {
                            self.held_down.remove(&peer);
                            self.requested.remove(&peer);
                            ready.push(peer)
                        }
                        Err(error) => {
                            tracing::warn!(%peer, %error, "child SA not installed")
                        }
                    }
                }
                Output::RemoveChildSa {
                    peer,
                    inbound_spi,
                    outbound_spi,
                } => {
                    self.sas.remove(peer, inbound_spi, outbound_spi, now);
                    tracing::info!(
                        %peer,
                        inbound_spi = format_args!("{inbound_spi:08x}"),
                        outbound_spi = format_args!("{outbound_spi:08x}"),
                        "child SA removed"
                    );
                }
                Output::Notification(notification) => notifications.push(notification),
            }
        }
        for notification in &notifications {
            if let Notification::IkeSaDown { peer, .. } = notification {
                self.acquire_failed(*peer, now);
            }
        }
        (sends, notifications, ready)
    }

    /// Debug: writes the keys of IKE SAs not written yet.
    fn log_ike_keys(&mut self) {
        let Some(keylog) = &self.keylog else {
            return;
        };
        for sa in self.ike.key_log() {
            if self.logged_ike_sas.insert((sa.spi_i, sa.spi_r)) {
                keylog.ike_sa(&sa);
            }
        }
        // Only what IKE still holds is remembered.
        if self.logged_ike_sas.len() > 2 * self.ike.key_log().len() + 64 {
            let live: std::collections::HashSet<_> = self
                .ike
                .key_log()
                .iter()
                .map(|k| (k.spi_i, k.spi_r))
                .collect();
            self.logged_ike_sas.retain(|spis| live.contains(spis));
        }
    }

    /// An IKE SA with `peer` went away. If packets were waiting for it and
    /// no SA is up (the attempt failed, or the SA it set up died at once),
    /// nothing will send them: they are dropped, and the next packet asks
    /// IKE again only after the hold-down. Without this the queue would
    /// stay non-empty and no later packet would ever ask IKE again.
    fn acquire_failed(&mut self, peer: IpAddr, now: Instant) {
        if self.sas.is_up(peer) {
            return;
        }
        let requested = self.requested.remove(&peer).is_some();
        let Some(queue) = self.waiting.remove(&peer) else {
            if requested {
                // Its traffic took another path: nothing to drop, but no
                // new attempt before the hold-down either.
                self.held_down.insert(peer, now + ACQUIRE_HOLD_DOWN);
                tracing::info!(%peer, hold_down = ?ACQUIRE_HOLD_DOWN, "no SA with the peer");
            }
            return;
        };
        self.waiting_total -= queue.len();
        self.counters.queued_dropped += queue.len() as u64;
        self.held_down.insert(peer, now + ACQUIRE_HOLD_DOWN);
        tracing::info!(
            %peer,
            dropped = queue.len(),
            hold_down = ?ACQUIRE_HOLD_DOWN,
            "no SA with the peer: waiting packets dropped"
        );
    }

    /// Installs both directions of a child SA (make-before-break: `sas`).
    fn install(&mut self, child: &ChildSa) -> Result<(), EspError> {
        self.sas.install(child, self.config.replay_window)?;
        if let Some(keylog) = &self.keylog {
            keylog.child_sa(child);
        }
        tracing::info!(
            peer = %child.peer,
            inbound_spi = format_args!("{:08x}", child.inbound_spi),
            outbound_spi = format_args!("{:08x}", child.outbound_spi),
            encap = ?child.encap,
            "child SA installed"
        );
        Ok(())
    }

    /// The peers that lost their SA since the last call and have none
    /// again (dead peer, Delete, clear): NHRP takes them down.
    pub fn take_lost(&mut self) -> Vec<IpAddr> {
        self.sas.take_lost()
    }

    pub fn snapshot(&self) -> ProtectionSnapshot {
        let child_sas = self.sas.child_sas();
        ProtectionSnapshot {
            profile: self.config.profile.clone(),
            ike: self.ike.snapshot(),
            ike_counters: self.ike.counters(),
            child_sas,
            counters: self.counters.clone(),
            waiting: self.waiting_total,
        }
    }
}

/// The UDP payload of an IKE message sent from `local`: on port 4500
/// behind the non-ESP marker (RFC 3948, 2.2), which a NAT-keepalive
/// never has.
fn ike_datagram(local: SocketAddr, message: Vec<u8>) -> Vec<u8> {
    match local.port() {
        NAT_T_PORT => UdpEncapsulated::Ike(&message).emit(),
        _ => message,
    }
}

/// An IPv4 packet around `payload` (tunnel mode's inner header).
fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    // Identification 0, DF: the outer packet is what the underlay sees.
    packet.extend_from_slice(&[0, 0, 0x40, 0, ttl, protocol, 0, 0]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let checksum = internet_checksum(&packet);
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// RFC 1071.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_gets_the_non_esp_marker_on_4500_only() {
        let on = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        assert_eq!(ike_datagram(on(500), vec![1, 2]), [1, 2]);
        assert_eq!(ike_datagram(on(NAT_T_PORT), vec![1, 2]), [0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn the_inner_ipv4_header_checksums_to_zero() {
        let packet = ipv4_packet(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 2),
            IPPROTO_GRE,
            64,
            &[1, 2, 3],
        );
        assert_eq!(internet_checksum(&packet[..20]), 0);
        assert_eq!(packet[9], IPPROTO_GRE);
        assert_eq!(&packet[20..], &[1, 2, 3]);
    }
}
