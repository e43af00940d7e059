//! A tiny deterministic network for two or more `Ike` instances: what one
//! sends is delivered to the node owning the destination address, through
//! an optional NAT, with loss, duplication and hold filters; time only
//! moves when the test says so.
//!
//! Each node also models the data plane's view: inbound SAs by SPI, and
//! one outbound SA per peer, replaced by the newest InstallChildSa and
//! removed only by a RemoveChildSa of that same SA. With `traffic` on,
//! every node sends an ESP packet on each outbound SA after every event,
//! through the same FIFO queue, and the receiver checks it has the SPI.
//! With `Traffic::packet_bytes` as well, both ends count the bytes of
//! each SA and a node's timer reports them (`Input::ChildSaUsage`, as the
//! data plane does) instead of a bare `Tick`.
#![allow(dead_code)]

pub mod pki;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use holo_ike::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use holo_ike::ike::{
    ChildSa, ChildSaUsage, Config, EspProposal, Ike, IkeProposal, Input, Notification, Output, Psk,
};
use holo_ike::packet::{ExchangeType, HeaderView};

pub const PSK: &str = "sim-psk-0123456789";

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub fn gcm() -> IkeProposal {
    IkeProposal {
        encr: EncrAlgorithm::AesGcm16_256,
        integ: None,
        prf: PrfAlgorithm::HmacSha256,
        dh: DhGroup::Curve25519,
    }
}

pub fn cbc() -> IkeProposal {
    IkeProposal {
        encr: EncrAlgorithm::AesCbc256,
        integ: Some(IntegAlgorithm::HmacSha256_128),
        prf: PrfAlgorithm::HmacSha256,
        dh: DhGroup::Ecp256,
    }
}

pub fn esp_gcm() -> EspProposal {
    EspProposal {
        encr: EncrAlgorithm::AesGcm16_256,
        integ: None,
        esn: false,
    }
}

pub fn esp_cbc() -> EspProposal {
    EspProposal {
        encr: EncrAlgorithm::AesCbc128,
        integ: Some(IntegAlgorithm::HmacSha1_96),
        esn: false,
    }
}

/// Defaults with one PSK for everyone and no DPD (tests turn it on).
pub fn config() -> Config {
    let mut c = Config::cisco_defaults();
    c.psk = Psk::any(PSK);
    c.dpd_interval = None;
    c
}

/// One datagram on the wire, as sent.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
    /// A data packet on the ESP SA of this SPI (traffic), not IKE.
    pub esp: Option<u32>,
}

impl Datagram {
    pub fn exchange(&self) -> ExchangeType {
        HeaderView::new(&self.bytes).map_or(ExchangeType(0), |h| h.exchange_type())
    }

    pub fn is_response(&self) -> bool {
        HeaderView::new(&self.bytes).is_some_and(|h| h.flags().response())
    }
}

#[derive(Debug)]
pub struct Node {
    pub ike: Ike,
    /// The address the node has (inside its NAT, if any).
    pub addr: IpAddr,
    /// Installed child SAs by inbound SPI.
    pub installed: BTreeMap<u32, ChildSa>,
    pub notifications: Vec<Notification>,
    pub removed: Vec<u32>,
    /// The data plane's outbound SA per peer: its SPI.
    pub outbound: BTreeMap<IpAddr, u32>,
    /// (when, SPI, installed or removed) of every inbound SA.
    pub history: Vec<(Instant, u32, bool)>,
    /// Outbound SAs removed while current (the data plane then has none
    /// for that peer).
    pub outbound_lost: u64,
    /// (when, from, to) of every NAT-keepalive sent.
    pub keepalives: Vec<(Instant, SocketAddr, SocketAddr)>,
    /// With `Traffic::packet_bytes`: (bytes, packets) sealed per outbound
    /// SPI, bytes opened per inbound SPI.
    pub sealed: BTreeMap<u32, (u64, u64)>,
    pub opened: BTreeMap<u32, u64>,
}

/// Source NAT in front of one node: `inside` appears as `public`, port p
/// as p + 10000.
#[derive(Clone, Copy, Debug)]
pub struct Nat {
    pub inside: IpAddr,
    pub public: IpAddr,
}

pub const NAT_PORT_SHIFT: u16 = 10000;

/// What to do with a datagram in transit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Kept aside until `release`.
    Hold,
}

/// ESP packets sent with `traffic` on.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    /// Counted per SA and reported when non-zero.
    pub packet_bytes: u64,
    pub delivered: u64,
    /// (receiving node, SPI) of packets for an SA it does not have.
    pub lost: Vec<(usize, u32)>,
}

pub type Filter = Box<dyn FnMut(&Datagram) -> Fate>;

pub struct Net {
    pub nodes: Vec<Node>,
    pub now: Instant,
    queue: VecDeque<Datagram>,
    pub nat: Option<Nat>,
    pub filter: Filter,
    /// Everything sent, in order (before NAT and filter).
    pub wire: Vec<Datagram>,
    pub held: Vec<Datagram>,
    pub traffic: Option<Traffic>,
}

impl Net {
    /// Node 0 is 10.0.0.1, node 1 is 10.0.0.2, ...
    pub fn new(configs: Vec<Config>) -> Net {
        let nodes = configs
            .into_iter()
            .enumerate()
            .map(|(i, c)| Node {
                ike: Ike::new(c),
                addr: ip(&format!("10.0.0.{}", i + 1)),
                installed: BTreeMap::new(),
                notifications: vec![],
                removed: vec![],
                outbound: BTreeMap::new(),
                history: vec![],
                outbound_lost: 0,
                keepalives: vec![],
                sealed: BTreeMap::new(),
                opened: BTreeMap::new(),
            })
            .collect();
        Net {
            nodes,
            now: Instant::now(),
            queue: VecDeque::new(),
            nat: None,
            filter: Box::new(|_| Fate::Deliver),
            wire: vec![],
            held: vec![],
            traffic: None,
        }
    }

    pub fn pair(a: Config, b: Config) -> Net {
        Net::new(vec![a, b])
    }

    /// Puts node `i` behind a NAT that shows it as `public`.
    pub fn behind_nat(&mut self, i: usize, inside: &str, public: &str) {
        self.nodes[i].addr = ip(inside);
        self.nat = Some(Nat {
            inside: ip(inside),
            public: ip(public),
        });
    }

    pub fn addr(&self, i: usize) -> IpAddr {
        self.nodes[i].addr
    }

    /// Feeds one input to node `i` and carries out what comes out.
    pub fn input(&mut self, i: usize, input: Input) -> Vec<Output> {
        let outputs = self.nodes[i].ike.handle(input, self.now);
        self.apply(i, &outputs);
        outputs
    }

    fn apply(&mut self, i: usize, outputs: &[Output]) {
        for o in outputs {
            let node = &mut self.nodes[i];
            match o {
                Output::Send {
                    local,
                    remote,
                    bytes,
                } => {
                    let d = Datagram {
                        from: *local,
                        to: *remote,
                        bytes: bytes.clone(),
                        esp: None,
                    };
                    self.wire.push(d.clone());
                    self.queue.push_back(d);
                }
                Output::InstallChildSa(c) => {
                    assert!(
                        node.installed.insert(c.inbound_spi, c.clone()).is_none(),
                        "inbound SPI installed twice"
                    );
                    node.outbound.insert(c.peer, c.outbound_spi);
                    node.history.push((self.now, c.inbound_spi, true));
                }
                Output::RemoveChildSa {
                    peer,
                    inbound_spi,
                    outbound_spi,
                } => {
                    assert!(
                        node.installed.remove(inbound_spi).is_some(),
                        "removal of a child SA never installed"
                    );
                    node.removed.push(*inbound_spi);
                    node.history.push((self.now, *inbound_spi, false));
                    if node.outbound.get(peer) == Some(outbound_spi) {
                        node.outbound.remove(peer);
                        node.outbound_lost += 1;
                    }
                }
                Output::NatKeepalive { local, remote } => {
                    node.keepalives.push((self.now, *local, *remote));
                }
                Output::Notification(n) => node.notifications.push(n.clone()),
            }
        }
    }

    fn nat_out(&self, mut a: SocketAddr) -> SocketAddr {
        if let Some(nat) = self.nat
            && a.ip() == nat.inside
        {
            a = SocketAddr::new(nat.public, a.port() + NAT_PORT_SHIFT);
        }
        a
    }

    fn nat_in(&self, mut a: SocketAddr) -> SocketAddr {
        if let Some(nat) = self.nat
            && a.ip() == nat.public
        {
            a = SocketAddr::new(nat.inside, a.port().wrapping_sub(NAT_PORT_SHIFT));
        }
        a
    }

    /// Delivers everything in flight, and what that makes the nodes send.
    pub fn run(&mut self) {
        let mut steps = 0;
        while let Some(d) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 10_000, "the nodes never stop talking");
            let from = self.nat_out(d.from);
            let to = self.nat_in(d.to);
            let Some(i) = self.nodes.iter().position(|n| n.addr == to.ip()) else {
                continue;
            };
            if let Some(spi) = d.esp {
                if let Some(t) = &mut self.traffic {
                    if self.nodes[i].installed.contains_key(&spi) {
                        t.delivered += 1;
                        if t.packet_bytes > 0 {
                            *self.nodes[i].opened.entry(spi).or_default() += t.packet_bytes;
                        }
                    } else {
                        t.lost.push((i, spi));
                    }
                }
                continue;
            }
            let copies = match (self.filter)(&d) {
                Fate::Deliver => 1,
                Fate::Drop => 0,
                Fate::Duplicate => 2,
                Fate::Hold => {
                    self.held.push(d.clone());
                    0
                }
            };
            for _ in 0..copies {
                let input = Input::Packet {
                    local: to,
                    remote: from,
                    bytes: d.bytes.clone(),
                };
                self.input(i, input);
            }
            self.send_traffic();
        }
    }

    /// With traffic on: one ESP packet on each outbound SA of each node.
    fn send_traffic(&mut self) {
        let Some(t) = &self.traffic else {
            return;
        };
        let bytes = t.packet_bytes;
        for i in 0..self.nodes.len() {
            let from = SocketAddr::new(self.nodes[i].addr, 0);
            let packets: Vec<Datagram> = self.nodes[i]
                .outbound
                .iter()
                .map(|(peer, spi)| Datagram {
                    from,
                    to: SocketAddr::new(*peer, 0),
                    bytes: vec![],
                    esp: Some(*spi),
                })
                .collect();
            if bytes > 0 {
                for d in &packets {
                    let spi = d.esp.unwrap_or_default();
                    let sealed = self.nodes[i].sealed.entry(spi).or_default();
                    *sealed = (sealed.0 + bytes, sealed.1 + 1);
                }
            }
            self.queue.extend(packets);
        }
    }

    /// Node `i`'s timer: a usage report when bytes are counted, else a
    /// Tick.
    fn tick(&mut self, i: usize) {
        if self.traffic.as_ref().is_none_or(|t| t.packet_bytes == 0) {
            self.input(i, Input::Tick);
            return;
        }
        let node = &self.nodes[i];
        let usage = node
            .installed
            .values()
            .map(|c| {
                let (outbound_bytes, outbound_sequence) = node
                    .sealed
                    .get(&c.outbound_spi)
                    .copied()
                    .unwrap_or_default();
                ChildSaUsage {
                    inbound_spi: c.inbound_spi,
                    inbound_bytes: node.opened.get(&c.inbound_spi).copied().unwrap_or(0),
                    outbound_bytes,
                    outbound_sequence,
                }
            })
            .collect();
        self.input(i, Input::ChildSaUsage(usage));
    }

    /// Puts the held datagrams back on the wire, in order.
    pub fn release(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.queue.extend(held);
        self.run();
    }

    /// Moves time forward by `d`, ticking each node when it asks to be.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.run();
            let next = self.nodes.iter().filter_map(|n| n.ike.next_wakeup()).min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    for i in 0..self.nodes.len() {
                        if self.nodes[i]
                            .ike
                            .next_wakeup()
                            .is_some_and(|w| w <= self.now)
                        {
                            self.tick(i);
                        }
                    }
                    self.send_traffic();
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// Node `i` wants node `j`.
    pub fn acquire(&mut self, i: usize, j: usize) {
        let peer = self.public_addr(j);
        let local = self.nodes[i].addr;
        self.input(i, Input::Acquire { local, peer });
        self.run();
    }

    /// How others reach node `j`.
    pub fn public_addr(&self, j: usize) -> IpAddr {
        match self.nat {
            Some(nat) if nat.inside == self.nodes[j].addr => nat.public,
            _ => self.nodes[j].addr,
        }
    }

    /// Replaces node `i` by a fresh instance (a restart).
    pub fn restart(&mut self, i: usize, config: Config) {
        let node = &mut self.nodes[i];
        node.ike = Ike::new(config);
        node.installed.clear();
        node.outbound.clear();
        node.notifications.clear();
    }

    pub fn count(&self, i: usize, pred: impl Fn(&Notification) -> bool) -> usize {
        self.nodes[i]
            .notifications
            .iter()
            .filter(|n| pred(n))
            .count()
    }
}

/// The one child SA each of two nodes has, checked to be the two ends of
/// the same pair.
pub fn matching_pair(net: &Net) -> (ChildSa, ChildSa) {
    let [a, b] = [0, 1].map(|i| {
        let installed: Vec<_> = net.nodes[i].installed.values().cloned().collect();
        assert_eq!(installed.len(), 1, "node {i}: {installed:?}");
        installed.into_iter().next().expect("one child SA")
    });
    assert_eq!(a.inbound_spi, b.outbound_spi);
    assert_eq!(a.outbound_spi, b.inbound_spi);
    assert_eq!(a.inbound_encr_key, b.outbound_encr_key);
    assert_eq!(a.inbound_integ_key, b.outbound_integ_key);
    assert_eq!(a.outbound_encr_key, b.inbound_encr_key);
    assert_eq!(a.outbound_integ_key, b.inbound_integ_key);
    assert_ne!(a.inbound_encr_key, a.outbound_encr_key);
    assert_eq!(a.inbound_encr_key.len(), a.encr.key_len());
    assert_eq!((a.encr, a.integ, a.mode), (b.encr, b.integ, b.mode));
    (a, b)
}
