//! What one Registration Request costs a hub that already holds N
//! registered spokes (issue 15): the time of `handle` plus the
//! `next_wakeup` the driver asks for after every input, for a newcomer and
//! for a refresh. Run with `cargo bench -p holo-nhrp --bench
//! hub_registrations`; `BENCH_SIZES=1000,10000` picks the hub sizes.
//!
//! A plain `harness = false` binary timing with `std::time`: the numbers
//! asked for differ by orders of magnitude, criterion's statistics would
//! add nothing but a dependency.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use holo_nhrp::cache::EntryType;
use holo_nhrp::packet::{NbmaAddress, Packet};
use holo_nhrp::{Input, Instance, InstanceConfig, NhsConfig, Output};

const PASSWORD: &[u8] = b"DMVPN";
const HUB_NBMA: &str = "192.0.2.1";
/// Registrations timed at each hub size.
const TIMED: u32 = 2000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The Registration Request a spoke sends, as a template: the spoke's
/// addresses are rewritten per client.
fn registration_template() -> Packet {
    let mut spoke = InstanceConfig::new("10.0.0.11/8".parse().unwrap(), ip("192.0.2.11"));
    spoke.nhs = vec![NhsConfig::new(ip("10.0.0.1"), ip(HUB_NBMA))];
    spoke.authentication = Some(PASSWORD.to_vec());
    let now = Instant::now();
    let (mut spoke, _) = Instance::new(spoke, now);
    let out = spoke.handle(Input::Tick, now);
    let bytes = out
        .iter()
        .find_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();
    Packet::decode(&bytes).unwrap()
}

/// Client `i`'s Registration Request, encoded, and the NBMA address it
/// comes from: tunnel address 10.0.0.0/8 + i, NBMA 100.64.0.0/10 + i.
fn registration(template: &Packet, i: u32) -> (IpAddr, Vec<u8>) {
    let [_, a, b, c] = (i + 2).to_be_bytes();
    let nbma = IpAddr::from(Ipv4Addr::new(100, 64 | (a & 63), b, c));
    let mut pkt = template.clone();
    pkt.src_nbma = NbmaAddress::new(nbma);
    pkt.src_protocol = IpAddr::from(Ipv4Addr::new(10, a, b, c)).into();
    (nbma, pkt.encode().unwrap())
}

/// Feeds the packets as the driver does (`handle`, then `next_wakeup`);
/// the mean time per packet.
fn feed(hub: &mut Instance, packets: Vec<(IpAddr, Vec<u8>)>, now: Instant) -> Duration {
    let n = packets.len() as u32;
    let start = Instant::now();
    for (from, bytes) in packets {
        black_box(hub.handle(Input::Packet { from, bytes }, now));
        black_box(hub.next_wakeup());
    }
    start.elapsed() / n.max(1)
}

fn main() {
    let sizes: Vec<u32> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let template = registration_template();
    println!("hub size | fill (total) | new registration | refresh");
    for n in sizes {
        let now = Instant::now();
        let mut config = InstanceConfig::new("10.0.0.1/8".parse().unwrap(), ip(HUB_NBMA));
        config.authentication = Some(PASSWORD.to_vec());
        config.max_registrations = usize::MAX;
        let (mut hub, _) = Instance::new(config, now);

        let fill_start = Instant::now();
        feed(
            &mut hub,
            (0..n).map(|i| registration(&template, i)).collect(),
            now,
        );
        let fill = fill_start.elapsed();
        assert_eq!(hub.cache().count(EntryType::Dynamic), n as usize);

        let newcomers = (n..n + TIMED).map(|i| registration(&template, i)).collect();
        let new = feed(&mut hub, newcomers, now);
        let step = (n / TIMED).max(1);
        let refreshes = (0..TIMED)
            .map(|i| registration(&template, (i * step) % n))
            .collect();
        let refresh = feed(&mut hub, refreshes, now);
        assert_eq!(hub.cache().count(EntryType::Dynamic), (n + TIMED) as usize);
        println!(
            "{n:>8} | {:>9.3} s | {:>11} ns/op | {:>8} ns/op",
            fill.as_secs_f64(),
            new.as_nanos(),
            refresh.as_nanos()
        );
    }
}
