//! The sans-IO IKEv2 core (RFC 7296): IKE_SA_INIT and IKE_AUTH with PSK
//! or certificate authentication, the first child SA (ESP for GRE, transport mode by
//! default), NAT detection and traversal, INFORMATIONAL exchanges (Delete,
//! dead peer detection), retransmissions and lifetimes.
//!
//! [`Ike`] owns every IKE SA of one instance and is driven by
//! [`Ike::handle`] (see [`io`] for the inputs and outputs). One file per
//! concept: [`config`], [`identity`] (IDs, PSKs and the AUTH payload),
//! [`proposals`], [`nat`], [`traffic_selectors`], [`sa`] (one IKE SA and
//! its message protection), [`retransmission`], then the exchanges:
//! [`init`] and [`init_responder`] (with [`cookie`]), [`auth`] (with
//! [`cert_auth`] over the X.509 blocks of [`certificates`]),
//! [`create_child`] (with [`child`], the child SA negotiation IKE_AUTH
//! shares), [`informational`], and what drives them: [`receive`]
//! (dispatch of messages), [`peers`] (what the data plane asks for),
//! [`timers`], [`rekey`] (lifetimes, make before break, collisions),
//! [`simultaneous`] (two IKE SAs from crossing initiations),
//! [`usage`] (byte lifetimes and sequence numbers, from the data plane's
//! counts), [`keepalive`] (NAT-keepalives, RFC 3948), and
//! [`fragmentation`] (RFC 7383) under all exchanges after IKE_SA_INIT.
//!
//! Not done yet (later pieces): MOBIKE.

pub mod auth;
pub mod cert_auth;
pub mod certificates;
pub mod child;
pub mod config;
pub mod cookie;
pub mod counters;
pub mod create_child;
pub mod error;
pub mod fragmentation;
pub mod identity;
pub mod informational;
pub mod init;
pub mod init_responder;
pub mod io;
pub mod keepalive;
pub mod keylog;
pub mod nat;
pub mod peers;
pub mod proposals;
pub mod receive;
pub mod rekey;
pub mod retransmission;
pub mod sa;
pub mod simultaneous;
pub mod snapshot;
pub mod timers;
pub mod traffic_selectors;
pub mod usage;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use ring::rand::{SecureRandom, SystemRandom};

pub use config::{Config, EspProposal, IkeProposal, Mode, Retransmit, Selectors};
pub use counters::Counters;
pub use error::{Error, Level};
pub use identity::{Identity, Psk, Secret};
pub use io::{ChildSa, ChildSaUsage, DownReason, Input, Notification, Output};
pub use snapshot::Snapshot;

use retransmission::{Request, RequestKind};
use sa::{IkeSa, State};

/// One IKE instance: all IKE SAs of this node.
pub struct Ike {
    config: Arc<Config>,
    rng: SystemRandom,
    /// Every IKE SA, by our SPI.
    sas: BTreeMap<u64, IkeSa>,
    /// Responder: (initiator's address, SPIi) of the IKE_SA_INIT requests
    /// we answered -> our SPI, to recognize retransmissions.
    init_index: HashMap<(SocketAddr, u64), u64>,
    /// Responder SAs waiting for IKE_AUTH (state AwaitingAuth).
    half_open: usize,
    /// The secrets of our cookies (RFC 7296, 2.6).
    cookies: cookie::Secrets,
    /// Peers the data plane wants (Acquire, no Release since): peer ->
    /// our address towards it.
    wanted: BTreeMap<IpAddr, IpAddr>,
    counters: Counters,
    /// The time of the last input (for the ages in snapshots).
    now: Option<Instant>,
    /// The time of the last Tick or usage report.
    ticked: Option<Instant>,
    /// What the certificate files of `config` hold (None: PSK, or they
    /// did not load).
    credentials: Option<Arc<cert_auth::Credentials>>,
    /// For certificate validity.
    wall_clock: cert_auth::WallClock,
    /// Outputs made outside `handle` (a configuration that failed to
    /// load in `new`), given out by the next `handle`.
    pending: Vec<Output>,
}

impl std::fmt::Debug for Ike {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ike")
            .field("sas", &self.sas.len())
            .field("wanted", &self.wanted)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Ike {
    pub fn new(config: Config) -> Ike {
        let mut ike = Ike {
            config: Arc::new(config),
            rng: SystemRandom::new(),
            sas: BTreeMap::new(),
            init_index: HashMap::new(),
            half_open: 0,
            cookies: cookie::Secrets::default(),
            wanted: BTreeMap::new(),
            counters: Counters::default(),
            now: None,
            ticked: None,
            credentials: None,
            wall_clock: cert_auth::WallClock::start(),
            pending: vec![],
        };
        ike.load_credentials();
        ike
    }

    /// Sets the wall clock (for certificate validity): it reads `wall` at
    /// the time of the last input (before any: at creation) and follows
    /// the `now` of the inputs from there. Without this call it is the
    /// system's, read when the instance was created.
    pub fn set_wall_clock(&mut self, wall: SystemTime) {
        let at = self.now.unwrap_or(self.wall_clock.start_instant());
        self.wall_clock = cert_auth::WallClock::set(at, wall);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Output> {
        let mut out = std::mem::take(&mut self.pending);
        self.now = Some(now);
        match input {
            Input::Packet {
                local,
                remote,
                bytes,
            } => self.receive(local, remote, &bytes, now, &mut out),
            Input::Acquire { local, peer } => self.acquire(local, peer, now, &mut out),
            Input::Clear { peer } => self.clear(peer, now, &mut out),
            Input::Release { peer } => self.release(peer, now, &mut out),
            Input::Configure(config) => {
                self.config = Arc::new(*config);
                self.load_credentials();
                out.append(&mut self.pending);
            }
            Input::Tick => {
                self.ticked = Some(now);
                self.tick(now, &mut out);
            }
            Input::ChildSaUsage(reports) => {
                self.ticked = Some(now);
                self.usage(&reports, now, &mut out);
            }
        }
        out
    }

    /// When the driver must call `handle(Input::Tick, ..)` next (or
    /// report usage, [`usage::USAGE_INTERVAL`]).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let timers = self.sas.values().filter_map(timers::next_event).min();
        timers.into_iter().chain(self.usage_due()).min()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn snapshot(&self) -> Snapshot {
        snapshot::take(self)
    }

    fn random_bytes(&self, len: usize) -> Option<Vec<u8>> {
        let mut v = vec![0; len];
        self.rng.fill(&mut v).ok()?;
        Some(v)
    }

    /// A fresh IKE SPI of ours: random, non-zero, unused.
    fn new_ike_spi(&self) -> Option<u64> {
        (0..8).find_map(|_| {
            let b = self.random_bytes(8)?;
            let spi = u64::from_be_bytes(b.try_into().ok()?);
            (spi != 0 && !self.sas.contains_key(&spi)).then_some(spi)
        })
    }

    /// A fresh inbound ESP SPI: random, above the reserved 1-255
    /// (RFC 4303, 2.1), unused by our child SAs.
    fn new_esp_spi(&self) -> Option<u32> {
        (0..8).find_map(|_| {
            let b = self.random_bytes(4)?;
            let spi = u32::from_be_bytes(b.try_into().ok()?);
            let used = self
                .sas
                .values()
                .flat_map(|sa| &sa.children)
                .any(|c| c.sa.inbound_spi == spi);
            (spi > 255 && !used).then_some(spi)
        })
    }

    /// [`Ike::new_esp_spi`], also unused by `sa` (out of the table while
    /// it is being worked on) and by the requests in flight.
    fn new_esp_spi_for(&self, sa: &IkeSa) -> Option<u32> {
        (0..8).find_map(|_| {
            let spi = self.new_esp_spi()?;
            let offered = |s: &IkeSa| match &s.pending {
                Some(sa::PendingCreate {
                    creating: sa::Creating::Child { offer, .. },
                    ..
                }) => offer.inbound_spi == spi,
                _ => false,
            };
            let used = sa.children.iter().any(|c| c.sa.inbound_spi == spi)
                || offered(sa)
                || self.sas.values().any(offered);
            (!used).then_some(spi)
        })
    }

    fn send(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: Vec<u8>,
        out: &mut Vec<Output>,
    ) {
        self.counters.packets_out += 1;
        out.push(Output::Send {
            local,
            remote,
            bytes,
        });
    }

    fn error(&self, error: Error, out: &mut Vec<Output>) {
        out.push(Output::Notification(Notification::Error(error)));
    }

    /// Sends a request of ours on `sa`, or queues it behind the one in
    /// flight (window size 1, RFC 7296, 2.3).
    fn request(&mut self, sa: &mut IkeSa, kind: RequestKind, now: Instant, out: &mut Vec<Output>) {
        if sa.window.outstanding.is_some() {
            if !sa.window.queue.contains(&kind) {
                sa.window.queue.push_back(kind);
            }
            return;
        }
        let payloads = match kind {
            RequestKind::CreateChild | RequestKind::RekeyChild(_) | RequestKind::RekeyIke => {
                match self.create_child_request(sa, &kind) {
                    Some(payloads) => payloads,
                    // Moot by now: on with the next one.
                    None => return self.next_request(sa, now, out),
                }
            }
            _ => informational::request_payloads(sa, &kind),
        };
        let message_id = sa.window.next_request_id;
        let datagrams =
            match sa.seal_message(kind.exchange(), false, message_id, &payloads, &self.rng) {
                Ok(datagrams) => datagrams,
                Err(e) => return self.error(e, out),
            };
        sa.window.next_request_id += 1;
        let (local, remote) = (sa.local, sa.remote);
        self.send_all((local, remote), &datagrams, out);
        sa.last_sent = now;
        sa.window.outstanding = Some(Request::new(
            message_id,
            kind,
            datagrams,
            (local, remote),
            &sa.config.retransmit,
            now,
        ));
    }

    /// After a response: the next queued request, if any.
    fn next_request(&mut self, sa: &mut IkeSa, now: Instant, out: &mut Vec<Output>) {
        sa.window.outstanding = None;
        if let Some(kind) = sa.window.queue.pop_front() {
            self.request(sa, kind, now, out);
        }
    }

    /// Forgets an IKE SA (already out of the table): its child SAs leave
    /// the data plane, and the driver hears why.
    /// A rekeyed IKE SA goes quietly: the peer is still up in its
    /// successor, which has its child SAs.
    fn drop_sa(&mut self, mut sa: IkeSa, reason: DownReason, out: &mut Vec<Output>) {
        let local_spi = sa.local_spi();
        self.init_index.retain(|_, spi| *spi != local_spi);
        if sa.state == State::AwaitingAuth {
            self.half_open = self.half_open.saturating_sub(1);
        }
        if let Some(now) = self.now {
            self.hand_over_children(&mut sa, now, out);
        }
        remove_children(&mut sa, out);
        if sa.rekeyed_to.is_none() {
            out.push(Output::Notification(Notification::IkeSaDown {
                peer: sa.peer,
                reason,
            }));
        }
    }

    /// Deletes an IKE SA: established ones get a Delete (and stay until
    /// the answer or the retransmissions are over), others go at once.
    fn delete_sa(&mut self, spi: u64, now: Instant, out: &mut Vec<Output>) {
        let Some(mut sa) = self.sas.remove(&spi) else {
            return;
        };
        match sa.state {
            State::Established => {
                self.hand_over_children(&mut sa, now, out);
                remove_children(&mut sa, out);
                sa.state = State::Deleting;
                // What was queued is moot now.
                sa.window.queue.clear();
                self.request(&mut sa, RequestKind::DeleteIke, now, out);
                self.sas.insert(spi, sa);
            }
            State::Deleting => {
                self.sas.insert(spi, sa);
            }
            _ => self.drop_sa(sa, DownReason::Deleted, out),
        }
    }
}

/// Takes the child SAs of `sa` out of the data plane.
fn remove_children(sa: &mut IkeSa, out: &mut Vec<Output>) {
    for child in sa.children.drain(..) {
        remove_child(&child.sa, out);
    }
}

/// Takes one child SA out of the data plane.
fn remove_child(child: &ChildSa, out: &mut Vec<Output>) {
    let (peer, inbound_spi, outbound_spi) = (child.peer, child.inbound_spi, child.outbound_spi);
    out.push(Output::RemoveChildSa {
        peer,
        inbound_spi,
        outbound_spi,
    });
    out.push(Output::Notification(Notification::ChildSaDown {
        peer,
        inbound_spi,
        outbound_spi,
    }));
}

#[cfg(test)]
mod tests;
