//! ESP open: arbitrary bytes never panic an InboundSa, and a sealed packet
//! with any bits flipped is refused, while an untouched one opens to what
//! was sealed.
#![no_main]

use holo_ike::crypto::{EncrAlgorithm, IntegAlgorithm};
use holo_ike::esp::{InboundSa, OutboundSa};
use libfuzzer_sys::fuzz_target;

const SPI: u32 = 0x0000_4321;
const GRE: u8 = 47;

const SUITES: [(EncrAlgorithm, Option<IntegAlgorithm>); 6] = [
    (EncrAlgorithm::AesGcm16_128, None),
    (EncrAlgorithm::AesGcm16_256, None),
    (EncrAlgorithm::AesCbc128, Some(IntegAlgorithm::HmacSha1_96)),
    (
        EncrAlgorithm::AesCbc128,
        Some(IntegAlgorithm::HmacSha256_128),
    ),
    (
        EncrAlgorithm::AesCbc256,
        Some(IntegAlgorithm::HmacSha384_192),
    ),
    (
        EncrAlgorithm::AesCbc256,
        Some(IntegAlgorithm::HmacSha512_256),
    ),
];

fn pair(selector: u8) -> (OutboundSa, InboundSa) {
    let (encr, integ) = SUITES[usize::from(selector >> 1) % SUITES.len()];
    let esn = selector & 1 == 1;
    let encr_key: Vec<u8> = (0..encr.key_len() as u8).collect();
    let integ_key: Vec<u8> = (0..integ.map_or(0, |i| i.key_len()) as u8)
        .map(|b| !b)
        .collect();
    let outbound = OutboundSa::new(SPI, encr, integ, &encr_key, &integ_key, esn)
        .expect("fixed keys are valid");
    let inbound = InboundSa::new(SPI, encr, integ, &encr_key, &integ_key, esn, 64)
        .expect("fixed keys are valid");
    (outbound, inbound)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (mut outbound, mut inbound) = pair(selector);

    // Arbitrary bytes, as they come off the wire, and behind our SPI to
    // get past the SA lookup check.
    let mut packet = rest.to_vec();
    let _ = inbound.open(&mut packet);
    let mut packet = SPI.to_be_bytes().to_vec();
    packet.extend_from_slice(rest);
    let _ = inbound.open(&mut packet);

    // A genuine packet, with bit flips chosen by the input: the first up
    // to 8 pairs of bytes are (position, bit), the rest is the payload.
    let (flips, payload) = rest.split_at(rest.len().min(16));
    let mut sealed = Vec::new();
    outbound.seal(GRE, payload, &mut sealed).expect("seal");
    let mut flipped = sealed.clone();
    for flip in flips.chunks_exact(2) {
        let at = usize::from(flip[0]) % flipped.len();
        flipped[at] ^= 1 << (flip[1] % 8);
    }
    let changed = flipped != sealed;
    let (_, mut receiver) = pair(selector);
    let opened = receiver
        .open(&mut flipped)
        .map(|(next_header, opened)| (next_header, opened.to_vec()));
    if changed {
        assert!(opened.is_err(), "a packet with flipped bits was accepted");
    } else {
        assert_eq!(
            opened,
            Ok((GRE, payload.to_vec())),
            "a genuine packet was refused"
        );
    }
});
