//! Tests of the ESP transforms: published vectors ([`vectors`]), whole
//! SAs ([`sa`]) and the anti-replay window with ESN ([`replay`]).

mod replay;
mod sa;
mod vectors;

use super::{InboundSa, OutboundSa};
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};

/// Next Header of GRE, what DMVPN carries in transport mode.
const GRE: u8 = 47;
const SPI: u32 = 0x1234_5678;

/// Every supported algorithm pair.
fn suites() -> Vec<(EncrAlgorithm, Option<IntegAlgorithm>)> {
    let mut suites = vec![
        (EncrAlgorithm::AesGcm16_128, None),
        (EncrAlgorithm::AesGcm16_256, None),
    ];
    for encr in [EncrAlgorithm::AesCbc128, EncrAlgorithm::AesCbc256] {
        for integ in [
            IntegAlgorithm::HmacSha1_96,
            IntegAlgorithm::HmacSha256_128,
            IntegAlgorithm::HmacSha384_192,
            IntegAlgorithm::HmacSha512_256,
        ] {
            suites.push((encr, Some(integ)));
        }
    }
    suites
}

/// Keys of the right lengths, different for encryption and integrity.
fn keys(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>) -> (Vec<u8>, Vec<u8>) {
    let encr_key = (0..encr.key_len()).map(|i| i as u8).collect();
    let integ_key = (0..integ.map_or(0, IntegAlgorithm::key_len))
        .map(|i| 0xa0 ^ i as u8)
        .collect();
    (encr_key, integ_key)
}

/// Both ends of one SA.
fn pair(
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
    esn: bool,
    window: u32,
) -> (OutboundSa, InboundSa) {
    let (encr_key, integ_key) = keys(encr, integ);
    let outbound = OutboundSa::new(SPI, encr, integ, &encr_key, &integ_key, esn).unwrap();
    let inbound = InboundSa::new(SPI, encr, integ, &encr_key, &integ_key, esn, window).unwrap();
    (outbound, inbound)
}

fn seal(outbound: &mut OutboundSa, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    outbound.seal(GRE, payload, &mut packet).unwrap();
    packet
}

/// Opens a copy, so the sealed packet can be delivered again.
fn open(inbound: &mut InboundSa, packet: &[u8]) -> Result<(u8, Vec<u8>), super::EspError> {
    let mut copy = packet.to_vec();
    inbound
        .open(&mut copy)
        .map(|(next_header, payload)| (next_header, payload.to_vec()))
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| (b as char).to_digit(16).unwrap() as u8)
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}
