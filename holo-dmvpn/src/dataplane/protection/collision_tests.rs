//! Two peers that bring their SA up at the same time from both sides
//! (crossing IKE_SA_INITs, as two spokes answering each other's NHRP
//! resolution do): the real IKE cores, SA tables (`Sas`) and held early
//! ESP (`EarlyEsp`), wired back to back, in the orders the network and
//! the two event loops can give the IKE messages and the ESP packets
//! (one seed each). Whatever the order, both ends must end up with one
//! IKE SA and one child SA pair, the same at both, send on it (so its
//! counters are where management shows them), and lose no ESP packet.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use holo_ike::ike::sa::State;
use holo_ike::ike::{Config, Ike, Input, Output, Psk};

use super::early::EarlyEsp;
use super::sas::{Refused, Sas};

const IPPROTO_GRE: u8 = 47;
const REPLAY_WINDOW: u32 = 64;

fn addr(n: usize) -> IpAddr {
    IpAddr::from([192, 0, 2, 11 + n as u8])
}

struct Node {
    ike: Ike,
    sas: Sas,
    early: EarlyEsp,
    /// ESP packets opened, and refused.
    opened: u64,
    refused: u64,
    /// Times the peer lost its last outbound SA (NHRP takes it down).
    lost: u64,
}

/// What is in flight from one node to the other: IKE on its UDP socket,
/// ESP on its raw socket. Each is FIFO, but the receiver's event loop may
/// read either first (`tokio::select!` picks a ready socket at random).
#[derive(Default)]
struct Link {
    ike: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    esp: VecDeque<Vec<u8>>,
}

struct Net {
    nodes: [Node; 2],
    /// `links[i]`: from node i to the other.
    links: [Link; 2],
    now: Instant,
}

/// A small deterministic generator (xorshift64*): one schedule per seed.
struct Schedule(u64);

impl Schedule {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

impl Net {
    fn new() -> Net {
        let node = || {
            let mut config = Config::cisco_defaults();
            config.psk = Psk::any("collision");
            Node {
                ike: Ike::new(config),
                sas: Sas::default(),
                early: EarlyEsp::default(),
                opened: 0,
                refused: 0,
                lost: 0,
            }
        };
        Net {
            nodes: [node(), node()],
            links: [Link::default(), Link::default()],
            now: Instant::now(),
        }
    }

    /// An input to node `i`'s IKE core, its outputs carried out as
    /// `Protection::run` does.
    fn input(&mut self, i: usize, input: Input) {
        let outputs = self.nodes[i].ike.handle(input, self.now);
        let node = &mut self.nodes[i];
        for output in outputs {
            match output {
                Output::Send {
                    local,
                    remote,
                    bytes,
                } => self.links[i].ike.push_back((local, remote, bytes)),
                Output::InstallChildSa(child) => {
                    node.sas.install(&child, REPLAY_WINDOW).expect("installed");
                }
                Output::RemoveChildSa {
                    peer,
                    inbound_spi,
                    outbound_spi,
                } => node.sas.remove(peer, inbound_spi, outbound_spi, self.now),
                Output::NatKeepalive { .. } | Output::Notification(_) => {}
            }
        }
        node.lost += node.sas.take_lost().len() as u64;
        let ike = &node.ike;
        let (released, dropped) = node.early.settle(&node.sas, |p| ike.child_sa_coming(p));
        node.refused += dropped;
        for (from, mut packet) in released {
            self.open(i, from, &mut packet);
        }
    }

    /// Node `i` opens an ESP packet from `from`, as the data plane does
    /// (`Protection::open`, then `Protection::hold`).
    fn open(&mut self, i: usize, from: IpAddr, packet: &mut [u8]) {
        let node = &mut self.nodes[i];
        let refused = node.sas.open(from, packet).err();
        let ike = &node.ike;
        match refused {
            None => node.opened += 1,
            Some(Refused::UnknownSpi)
                if node.early.hold(from, packet, || ike.child_sa_coming(from)) => {}
            Some(_) => node.refused += 1,
        }
    }

    fn acquire(&mut self, i: usize) {
        let (local, peer) = (addr(i), addr(1 - i));
        self.input(i, Input::Acquire { local, peer });
    }

    /// Node `i` sends one GRE datagram to the other, if its SA is up.
    fn send_esp(&mut self, i: usize) -> bool {
        let peer = addr(1 - i);
        let Some(out) = self.nodes[i].sas.outbound(peer) else {
            return false;
        };
        let mut packet = Vec::new();
        out.sa
            .seal(IPPROTO_GRE, b"gre", &mut packet)
            .expect("sealed");
        self.links[i].esp.push_back(packet);
        true
    }

    /// Delivers the next IKE message (`esp` false) or ESP packet from
    /// node `i`, if any.
    fn deliver(&mut self, i: usize, esp: bool) -> bool {
        let to = 1 - i;
        if esp {
            let Some(mut packet) = self.links[i].esp.pop_front() else {
                return false;
            };
            self.open(to, addr(i), &mut packet);
            return true;
        }
        let Some((local, remote, bytes)) = self.links[i].ike.pop_front() else {
            return false;
        };
        self.input(
            to,
            Input::Packet {
                local: remote,
                remote: local,
                bytes,
            },
        );
        true
    }

    fn quiet(&self) -> bool {
        self.links
            .iter()
            .all(|l| l.ike.is_empty() && l.esp.is_empty())
    }

    /// Everything in flight delivered, in the order `schedule` picks,
    /// with up to `packets` ESP packets sent by each side on the way.
    fn run(&mut self, schedule: &mut Schedule, packets: &mut [u32; 2]) {
        loop {
            let choice = schedule.below(6);
            let (i, what) = (choice % 2, choice / 2);
            let progressed = match what {
                0 => self.deliver(i, false),
                1 => self.deliver(i, true),
                _ if packets[i] > 0 && self.send_esp(i) => {
                    packets[i] -= 1;
                    true
                }
                _ => false,
            };
            let can_send = (0..2).any(|i| packets[i] > 0 && self.nodes[i].sas.is_up(addr(1 - i)));
            if !progressed && self.quiet() && !can_send {
                return;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        for i in 0..2 {
            self.nodes[i].sas.expire(self.now);
            let usage = self.nodes[i].sas.usage();
            self.input(i, Input::ChildSaUsage(usage));
        }
    }

    /// Node `i`'s outbound SPI to the other and the established child SAs
    /// IKE lists with it: (inbound, outbound) SPIs.
    fn view(&mut self, i: usize) -> (Option<u32>, Vec<(u32, u32)>) {
        let peer = addr(1 - i);
        let sending = self.nodes[i].sas.outbound(peer).map(|o| o.sa.spi());
        let listed = self.nodes[i]
            .ike
            .snapshot()
            .ike_sas
            .iter()
            .filter(|sa| sa.peer == peer && sa.state == State::Established)
            .flat_map(|sa| &sa.child_sas)
            .map(|c| (c.inbound_spi, c.outbound_spi))
            .collect();
        (sending, listed)
    }

    /// Management's sum of node `i`'s outbound packets over the child SAs
    /// of its established IKE SAs with the other (the e2e test's count).
    fn counted_out(&mut self, i: usize) -> u64 {
        let (_, listed) = self.view(i);
        let counters = self.nodes[i].sas.child_sas();
        listed
            .iter()
            .filter_map(|(inbound, _)| counters.iter().find(|c| c.inbound_spi == *inbound))
            .map(|c| c.outbound.packets)
            .sum()
    }

    /// The invariants once the collision is over, with `seed` in every
    /// message.
    fn check(&mut self, seed: u64) {
        let views = [self.view(0), self.view(1)];
        for (i, (sending, listed)) in views.iter().enumerate() {
            // One child SA pair left, and we send on it.
            assert_eq!(listed.len(), 1, "seed {seed}: node {i} lists {listed:08x?}");
            assert_eq!(
                *sending,
                Some(listed[0].1),
                "seed {seed}: node {i} sends on {sending:08x?}, IKE lists {listed:08x?}"
            );
        }
        // The same pair at both ends: one's outbound is the other's inbound.
        let (ours, theirs) = (views[0].1[0], views[1].1[0]);
        assert_eq!(ours, (theirs.1, theirs.0), "seed {seed}");
        for (i, node) in self.nodes.iter().enumerate() {
            assert_eq!(node.refused, 0, "seed {seed}: node {i} lost ESP");
            assert_eq!(node.lost, 0, "seed {seed}: node {i} was without SA");
        }
    }
}

/// Both sides Acquire before either hears from the other; then the
/// messages and ESP packets go in the order of `seed`.
fn collide(seed: u64) -> Net {
    let mut net = Net::new();
    net.acquire(0);
    net.acquire(1);
    let mut schedule = Schedule(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut packets = [3, 3];
    net.run(&mut schedule, &mut packets);
    net
}

#[test]
fn crossing_initiations_converge_on_one_pair_and_lose_nothing() {
    for seed in 0..500 {
        let mut net = collide(seed);
        net.check(seed);
        // Traffic after the dust settled is counted where management
        // looks, at both ends, and stays on the pair.
        for i in 0..2 {
            let before = net.counted_out(i);
            for _ in 0..10 {
                assert!(net.send_esp(i));
                assert!(net.deliver(i, true));
            }
            assert_eq!(net.counted_out(i), before + 10, "seed {seed}: node {i}");
        }
        net.check(seed);
        // And a few seconds later (retired SAs gone, Deletes done).
        for _ in 0..4 {
            net.advance(Duration::from_secs(2));
            let mut schedule = Schedule(seed | 1);
            net.run(&mut schedule, &mut [2, 2]);
        }
        net.check(seed);
    }
}
