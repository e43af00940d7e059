//! The cloud of the in-memory tests (network.rs, nat.rs, purge.rs,
//! reconfigure.rs, hostile.rs), as `holo_nhrp::sim::Network` runs it:
//!
//! - hub `n` (1, 2): tunnel 10.0.0.n/24, NBMA 192.0.2.n;
//! - spoke `n` (1, 2, ...): tunnel 10.0.0.(10+n)/24, NBMA 192.0.2.(10+n),
//!   LAN 172.16.n.0/24, hub 1 its NHS, shortcuts on;
//! - every node with the cleartext password `DMVPN`.
//!
//! Settings a test file adds on top (a redirecting hub, no LAN) it states
//! where it calls these.
// Each test binary uses a part of this module.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use holo_nhrp::sim::Network;
use holo_nhrp::{DataPlaneEvent, Input, InstanceConfig, NhsConfig};

/// Hub 1's NBMA address.
pub const HUB: &str = "192.0.2.1";
/// The NHRP authentication password of every node.
pub const PASSWORD: &[u8] = b"DMVPN";
/// The time step of `Network::run_for` in these tests.
pub const STEP: Duration = Duration::from_millis(100);

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An NHS at tunnel address `protocol`, NBMA `nbma`.
pub fn nhs(protocol: &str, nbma: &str) -> NhsConfig {
    NhsConfig::new(ip(protocol), ip(nbma))
}

/// Hub `n`: no redirect, no dynamic multicast.
pub fn hub(n: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        format!("10.0.0.{n}/24").parse().unwrap(),
        ip(&format!("192.0.2.{n}")),
    );
    c.authentication = Some(PASSWORD.to_vec());
    c
}

/// Spoke `n`, registering with hub 1.
pub fn spoke(n: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        format!("10.0.0.{}/24", 10 + n).parse().unwrap(),
        ip(&format!("192.0.2.{}", 10 + n)),
    );
    c.nhs = vec![nhs("10.0.0.1", HUB)];
    c.shortcut = true;
    c.authentication = Some(PASSWORD.to_vec());
    c.local_prefixes = vec![format!("172.16.{n}.0/24").parse().unwrap()];
    c
}

/// The data plane of `nbma` has no binding for `next_hop`.
pub fn miss(net: &mut Network, nbma: &str, next_hop: &str) {
    net.input(
        ip(nbma),
        Input::DataPlane(DataPlaneEvent::Miss {
            next_hop: ip(next_hop),
        }),
    );
}

/// The IPv4 header and first 8 octets of an ICMP echo request from `src`
/// to `dst`: what a hub's data plane hands NHRP of a packet that came in
/// and went out of the tunnel (`DataPlaneEvent::Hairpin`).
pub fn ipv4_header(src: &str, dst: &str) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0];
    h.extend_from_slice(&src.parse::<Ipv4Addr>().unwrap().octets());
    h.extend_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
    h.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    h
}
