//! An in-memory network of NHRP instances for tests (the quinn-proto model):
//! every node's `Output::Send` is delivered to the node owning the target
//! NBMA address, with optional loss, reordering and NAT, deterministically.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::InstanceConfig;
use crate::instance::Instance;
use crate::io::{Input, Output};

/// A packet on the wire.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub from: IpAddr,
    pub to: IpAddr,
    pub bytes: Vec<u8>,
    pub summary: String,
}

#[derive(Debug)]
pub struct Node {
    pub instance: Instance,
    /// Every output the node produced, in order (Send included).
    pub outputs: Vec<Output>,
}

/// Deterministic pseudo-random numbers (xorshift), so that loss and
/// reordering are the same on every run.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn chance(&mut self, percent: u8) -> bool {
        self.next_u64() % 100 < u64::from(percent)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[derive(Debug)]
pub struct Network {
    pub now: Instant,
    pub nodes: BTreeMap<IpAddr, Node>,
    pub in_flight: VecDeque<Datagram>,
    /// Everything delivered, in order: the wire trace.
    pub trace: Vec<Datagram>,
    /// Percent of datagrams dropped.
    pub loss: u8,
    /// Percent of datagrams delivered after the next one.
    pub reorder: u8,
    /// NAT: a node whose real (claimed) NBMA address is the key appears to
    /// the others with the value as source address.
    pub nat: BTreeMap<IpAddr, IpAddr>,
    /// Nodes (real addresses, keys of `nat`) behind a masquerading NAT: a
    /// packet to their public address only gets in from a remote address
    /// they sent to before (GRE has no ports: Linux conntrack keys on the
    /// address pair). Other NATed nodes are reachable from anywhere.
    pub masquerade: BTreeSet<IpAddr>,
    /// The masquerading NATs' mappings: (real address, remote address).
    pub mappings: BTreeSet<(IpAddr, IpAddr)>,
    /// Datagrams a masquerading NAT dropped for want of a mapping (where a
    /// real one answers ICMP unreachable, which NHRP never sees).
    pub nat_drops: Vec<Datagram>,
    /// Nodes that are down: they neither send nor receive.
    pub down: Vec<IpAddr>,
    /// DNS: what `Output::ResolveName` gets back (nothing for other names).
    pub dns: BTreeMap<String, Vec<IpAddr>>,
    rng: Rng,
}

impl Network {
    pub fn new(seed: u64) -> Self {
        Network {
            now: Instant::now(),
            nodes: BTreeMap::new(),
            in_flight: VecDeque::new(),
            trace: vec![],
            loss: 0,
            reorder: 0,
            nat: BTreeMap::new(),
            masquerade: BTreeSet::new(),
            mappings: BTreeSet::new(),
            nat_drops: vec![],
            down: vec![],
            dns: BTreeMap::new(),
            rng: Rng::new(seed),
        }
    }

    pub fn add(&mut self, config: InstanceConfig) {
        let nbma = config.nbma;
        let (instance, outputs) = Instance::new(config, self.now);
        self.nodes.insert(nbma, Node { instance, outputs });
    }

    /// The node at `old` now has the underlay address `new` (DHCP renewal,
    /// failover to another uplink): packets to `old` no longer reach it.
    /// Tell its instance with `Command::NbmaChanged`.
    pub fn renumber(&mut self, old: IpAddr, new: IpAddr) {
        if let Some(node) = self.nodes.remove(&old) {
            self.nodes.insert(new, node);
        }
    }

    pub fn node(&self, nbma: &str) -> &Node {
        let ip: IpAddr = nbma.parse().expect("an IP address");
        &self.nodes[&ip]
    }

    /// The address a node's packets appear from.
    fn public(&self, nbma: IpAddr) -> IpAddr {
        self.nat.get(&nbma).copied().unwrap_or(nbma)
    }

    /// The node a packet sent to `to` reaches (through NAT, if any).
    fn owner(&self, to: IpAddr) -> Option<IpAddr> {
        if self.nodes.contains_key(&to) && !self.nat.contains_key(&to) {
            return Some(to);
        }
        self.nat
            .iter()
            .find(|(_, public)| **public == to)
            .map(|(private, _)| *private)
    }

    /// Feeds one input to a node and queues what it sends.
    pub fn input(&mut self, nbma: IpAddr, input: Input) {
        if self.down.contains(&nbma) {
            return;
        }
        let now = self.now;
        let Some(node) = self.nodes.get_mut(&nbma) else {
            return;
        };
        let outputs = node.instance.handle(input, now);
        let from = self.public(nbma);
        let mut lookups = vec![];
        for o in &outputs {
            match o {
                Output::Send { to, bytes, summary } => self.in_flight.push_back(Datagram {
                    from,
                    to: *to,
                    bytes: bytes.clone(),
                    summary: summary.clone(),
                }),
                Output::ResolveName { fqdn } => lookups.push(fqdn.clone()),
                _ => {}
            }
        }
        if let Some(node) = self.nodes.get_mut(&nbma) {
            node.outputs.extend(outputs);
        }
        // The resolver answers at once.
        for fqdn in lookups {
            let addresses = self.dns.get(&fqdn).cloned().unwrap_or_default();
            let answer = crate::io::Command::NameResolved { fqdn, addresses };
            self.input(nbma, Input::Command(answer));
        }
    }

    /// Delivers queued datagrams until none is left.
    pub fn deliver(&mut self) {
        let mut budget = 100_000;
        while self.deliver_one() {
            budget -= 1;
            assert!(budget > 0, "packet storm");
        }
    }

    /// Delivers the first queued datagram (tests may rewrite it in
    /// `in_flight` first, e.g. to relay it through another node); false
    /// when none was queued.
    pub fn deliver_one(&mut self) -> bool {
        let Some(d) = self.in_flight.pop_front() else {
            return false;
        };
        // Leaving its sender's masquerading NAT, the packet opens a mapping.
        let sender = self.nat.iter().find(|(_, public)| **public == d.from);
        if let Some((real, _)) = sender.filter(|(real, _)| self.masquerade.contains(*real)) {
            self.mappings.insert((*real, d.to));
        }
        'one: {
            if self.rng.chance(self.loss) {
                break 'one;
            }
            if self.rng.chance(self.reorder) && !self.in_flight.is_empty() {
                let next = self.in_flight.pop_front();
                self.in_flight.push_front(d);
                if let Some(next) = next {
                    self.in_flight.push_front(next);
                }
                break 'one;
            }
            let Some(owner) = self.owner(d.to) else {
                break 'one;
            };
            if self.down.contains(&owner) {
                break 'one;
            }
            if self.masquerade.contains(&owner) && !self.mappings.contains(&(owner, d.from)) {
                self.nat_drops.push(d);
                break 'one;
            }
            self.trace.push(d.clone());
            self.input(
                owner,
                Input::Packet {
                    from: d.from,
                    bytes: d.bytes,
                },
            );
        }
        true
    }

    /// Advances the clock by `step` repeatedly until `total` has passed,
    /// ticking every node whose wakeup is due and delivering everything.
    pub fn run_for(&mut self, total: Duration, step: Duration) {
        let end = self.now + total;
        self.deliver();
        while self.now < end {
            self.now += step;
            let due: Vec<IpAddr> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.instance.next_wakeup().is_some_and(|t| t <= self.now))
                .map(|(ip, _)| *ip)
                .collect();
            for ip in due {
                self.input(ip, Input::Tick);
            }
            self.deliver();
        }
    }
}
