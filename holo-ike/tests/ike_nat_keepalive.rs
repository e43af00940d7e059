//! NAT-keepalives (RFC 3948, 2.3): the side whose address NAT detection
//! found translated sends one after `nat_keepalive` without sending the
//! peer anything; the other side never does.

mod ike_sim;

use std::net::SocketAddr;
use std::time::Duration;

use holo_ike::ike::{Config, Input};
use holo_ike::packet::ExchangeType;
use ike_sim::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = config();
    f(&mut c);
    c
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// A behind a NAT (192.168.1.1, seen as 198.51.100.1), up with B.
fn natted(a: Config, b: Config) -> Net {
    let mut net = Net::pair(a, b);
    net.behind_nat(0, "192.168.1.1", "198.51.100.1");
    net.acquire(0, 1);
    matching_pair(&net);
    net
}

#[test]
fn the_natted_side_sends_keepalives_at_the_interval_and_the_other_does_not() {
    let mut net = natted(config(), config());
    let up = net.now;
    net.advance(secs(65));
    let sent = &net.nodes[0].keepalives;
    let at: Vec<Duration> = sent.iter().map(|k| k.0 - up).collect();
    // The default interval, from IKE_AUTH on: strongSwan's 20 s.
    assert_eq!(at, [secs(20), secs(40), secs(60)]);
    for (_, from, to) in sent {
        // From our port 4500 to the peer's 4500 (our NAT maps the source).
        assert_eq!(*from, addr("192.168.1.1:4500"));
        assert_eq!(*to, addr("10.0.0.2:4500"));
    }
    assert_eq!(net.nodes[0].ike.counters().nat_keepalives_sent, 3);
    assert!(net.nodes[1].keepalives.is_empty());
    assert_eq!(net.nodes[1].ike.counters().nat_keepalives_sent, 0);
}

#[test]
fn the_interval_is_configured_and_none_turns_them_off() {
    let mut net = natted(with(|c| c.nat_keepalive = Some(secs(7))), config());
    net.advance(secs(30));
    assert_eq!(net.nodes[0].keepalives.len(), 4);
    let mut net = natted(with(|c| c.nat_keepalive = None), config());
    net.advance(secs(300));
    assert!(net.nodes[0].keepalives.is_empty());
}

#[test]
fn what_was_sent_to_the_peer_puts_the_keepalive_off() {
    // ESP, as the usage reports tell: one packet every second.
    let mut net = Net::pair(config(), config());
    net.behind_nat(0, "192.168.1.1", "198.51.100.1");
    net.traffic = Some(Traffic {
        packet_bytes: 100,
        ..Traffic::default()
    });
    net.acquire(0, 1);
    net.advance(secs(65));
    assert!(net.nodes[0].keepalives.is_empty());
    // The traffic stops: a keepalive 20 s after the last report.
    net.traffic = None;
    let quiet = net.now;
    net.advance(secs(30));
    let at: Vec<Duration> = net.nodes[0]
        .keepalives
        .iter()
        .map(|k| k.0 - quiet)
        .collect();
    assert_eq!(at.len(), 1, "{at:?}");
    assert!(at[0] > secs(18) && at[0] <= secs(20), "{at:?}");
    // IKE messages count too: DPD every 15 s of silence leaves no 20 s
    // without a message to the peer.
    let mut net = natted(with(|c| c.dpd_interval = Some(secs(15))), config());
    net.advance(secs(65));
    assert!(net.nodes[0].keepalives.is_empty());
    let dpd = net
        .wire
        .iter()
        .filter(|d| d.exchange() == ExchangeType::INFORMATIONAL && !d.is_response())
        .count();
    assert!(dpd >= 3, "{dpd} liveness checks");
}

#[test]
fn no_keepalives_without_a_nat_in_front_of_us() {
    // Forced encapsulation fakes a NAT for the peer; there is no mapping
    // to keep.
    let mut net = Net::pair(with(|c| c.force_encap = true), config());
    net.acquire(0, 1);
    net.advance(secs(65));
    for i in [0, 1] {
        assert!(net.nodes[i].keepalives.is_empty(), "node {i}");
    }
    // Behind the NAT but the IKE SA gone: no more keepalives.
    let mut net = natted(config(), config());
    net.input(0, Input::Clear { peer: None });
    net.advance(secs(65));
    assert!(net.nodes[0].keepalives.is_empty());
}
