//! Throughput of the ESP transforms: seal and open, per algorithm suite and
//! payload size, in Gbit/s of payload and ns per packet, on one core.
//!
//! `cargo bench -p holo-ike --bench esp`; plain `std::time`, no harness.

use std::hint::black_box;
use std::time::{Duration, Instant};

use holo_ike::crypto::{EncrAlgorithm, IntegAlgorithm};
use holo_ike::esp::{InboundSa, OutboundSa};

/// Next Header of GRE, what DMVPN carries in transport mode.
const GRE: u8 = 47;
/// Packets opened per batch; sealing the next batch is not timed.
const BATCH: usize = 1024;
/// How long each measurement runs, about.
const RUN: Duration = Duration::from_millis(700);

const SUITES: [(&str, EncrAlgorithm, Option<IntegAlgorithm>); 4] = [
    ("AES-128-GCM", EncrAlgorithm::AesGcm16_128, None),
    ("AES-256-GCM", EncrAlgorithm::AesGcm16_256, None),
    (
        "AES-128-CBC+SHA1-96",
        EncrAlgorithm::AesCbc128,
        Some(IntegAlgorithm::HmacSha1_96),
    ),
    (
        "AES-256-CBC+SHA256-128",
        EncrAlgorithm::AesCbc256,
        Some(IntegAlgorithm::HmacSha256_128),
    ),
];

fn pair(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>) -> (OutboundSa, InboundSa) {
    let encr_key = vec![0x11; encr.key_len()];
    let integ_key = vec![0x22; integ.map_or(0, IntegAlgorithm::key_len)];
    let outbound =
        OutboundSa::new(0x100, encr, integ, &encr_key, &integ_key, false).expect("outbound SA");
    let inbound =
        InboundSa::new(0x100, encr, integ, &encr_key, &integ_key, false, 1024).expect("inbound SA");
    (outbound, inbound)
}

/// Nanoseconds per packet of sealing `payload`.
fn seal(outbound: &mut OutboundSa, payload: &[u8]) -> f64 {
    let mut out = Vec::with_capacity(payload.len() + 128);
    let mut packets = 0u64;
    let start = Instant::now();
    while start.elapsed() < RUN {
        for _ in 0..BATCH {
            out.clear();
            outbound
                .seal(GRE, black_box(payload), &mut out)
                .expect("seal");
            black_box(&out);
        }
        packets += BATCH as u64;
    }
    start.elapsed().as_nanos() as f64 / packets as f64
}

/// Nanoseconds per packet of opening packets sealed beforehand, each
/// once (the anti-replay window is on). The copy into the work buffer
/// is timed too: a receive path reads into a buffer much the same way.
fn open(outbound: &mut OutboundSa, inbound: &mut InboundSa, payload: &[u8]) -> f64 {
    let stride = payload.len() + outbound.overhead(payload.len());
    let mut sealed = Vec::with_capacity(stride * BATCH);
    let mut work = vec![0; stride];
    let mut timed = Duration::ZERO;
    let mut packets = 0u64;
    while timed < RUN {
        sealed.clear();
        for _ in 0..BATCH {
            outbound.seal(GRE, payload, &mut sealed).expect("seal");
        }
        let start = Instant::now();
        for packet in sealed.chunks_exact(stride) {
            work.copy_from_slice(packet);
            let (next_header, opened) = inbound.open(&mut work).expect("open");
            black_box((next_header, opened));
        }
        timed += start.elapsed();
        packets += BATCH as u64;
    }
    timed.as_nanos() as f64 / packets as f64
}

fn gbps(payload_len: usize, ns_per_packet: f64) -> f64 {
    payload_len as f64 * 8.0 / ns_per_packet
}

fn main() {
    println!(
        "{:<24} {:>7} {:>12} {:>10} {:>12} {:>10}",
        "suite", "payload", "seal ns/pkt", "seal Gb/s", "open ns/pkt", "open Gb/s"
    );
    for (name, encr, integ) in SUITES {
        for len in [1400, 64] {
            let payload = vec![0x5a; len];
            let (mut outbound, mut inbound) = pair(encr, integ);
            let sealing = seal(&mut outbound, &payload);
            let opening = open(&mut outbound, &mut inbound, &payload);
            println!(
                "{name:<24} {len:>7} {sealing:>12.1} {:>10.2} {opening:>12.1} {:>10.2}",
                gbps(len, sealing),
                gbps(len, opening),
            );
        }
    }
}
