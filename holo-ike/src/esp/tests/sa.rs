//! Whole SAs: round trips, tampering, malformed packets, key checks,
//! sequence number exhaustion, counters.

use proptest::prelude::*;

use super::super::gcm::GcmKey;
use super::super::{EspError, InboundSa, OutboundSa, SaCounters, spi_of};
use super::{GRE, SPI, keys, open, pair, seal, suites};
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};

const LENGTHS: [usize; 11] = [0, 1, 2, 3, 4, 15, 16, 17, 63, 64, 1400];

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7) as u8).collect()
}

#[test]
fn round_trip_every_suite_with_and_without_esn() {
    for (encr, integ) in suites() {
        for esn in [false, true] {
            let (mut outbound, mut inbound) = pair(encr, integ, esn, 64);
            let mut bytes = 0;
            for len in LENGTHS {
                let sent = payload(len);
                let packet = seal(&mut outbound, &sent);
                assert_eq!(
                    packet.len(),
                    len + outbound.overhead(len),
                    "{encr:?} len {len}"
                );
                assert_eq!(spi_of(&packet), Some(SPI));
                assert_eq!(
                    open(&mut inbound, &packet),
                    Ok((GRE, sent)),
                    "{encr:?}/{integ:?}"
                );
                bytes += len as u64;
            }
            let expected = SaCounters {
                packets: LENGTHS.len() as u64,
                bytes,
                ..SaCounters::default()
            };
            assert_eq!(outbound.counters(), expected);
            assert_eq!(inbound.counters(), expected);
            assert_eq!(outbound.sequence(), LENGTHS.len() as u64);
        }
    }
}

#[test]
fn ciphertext_is_aligned_and_padding_minimal() {
    for (encr, integ) in suites() {
        let (mut outbound, _) = pair(encr, integ, false, 64);
        let (iv_len, icv_len, align) = match integ {
            None => (8, 16, 4),
            Some(integ) => (16, integ.icv_len(), 16),
        };
        for len in 0..40 {
            let packet = seal(&mut outbound, &payload(len));
            let encrypted = packet.len() - 8 - iv_len - icv_len;
            assert_eq!(encrypted % align, 0, "{encr:?} len {len}");
            assert!(
                encrypted - len - 2 < align,
                "{encr:?} len {len}: padded too much"
            );
        }
    }
}

#[test]
fn the_header_carries_the_sequence_number_and_gcm_uses_it_as_iv() {
    let (mut outbound, _) = pair(EncrAlgorithm::AesGcm16_128, None, false, 64);
    for seq in 1..=3u32 {
        let packet = seal(&mut outbound, b"x");
        assert_eq!(packet[4..8], seq.to_be_bytes());
        assert_eq!(packet[8..16], u64::from(seq).to_be_bytes());
    }
}

#[test]
fn cbc_ivs_differ_between_packets_and_between_sas() {
    let suite = (
        EncrAlgorithm::AesCbc128,
        Some(IntegAlgorithm::HmacSha256_128),
    );
    let (mut a, _) = pair(suite.0, suite.1, false, 64);
    let (mut b, _) = pair(suite.0, suite.1, false, 64);
    let a1 = seal(&mut a, b"same");
    let a2 = seal(&mut a, b"same");
    let b1 = seal(&mut b, b"same");
    assert_ne!(a1[8..24], a2[8..24]);
    // Same keys, same sequence number: the random IV key differs.
    assert_ne!(a1[8..24], b1[8..24]);
    assert_ne!(a1[24..40], a2[24..40]);
}

/// Changing any byte after the SPI fails the ICV, and forged packets
/// leave the window alone: the genuine one is still accepted after.
#[test]
fn tampering_any_byte_fails_the_icv() {
    for (encr, integ) in suites() {
        for esn in [false, true] {
            let (mut outbound, mut inbound) = pair(encr, integ, esn, 64);
            let packet = seal(&mut outbound, &payload(40));
            for at in 0..packet.len() {
                let mut forged = packet.clone();
                forged[at] ^= 0x80;
                let expected = if at < 4 {
                    EspError::SpiMismatch {
                        expected: SPI,
                        actual: u32::from_be_bytes(forged[..4].try_into().unwrap()),
                    }
                } else {
                    EspError::IcvMismatch
                };
                assert_eq!(
                    open(&mut inbound, &forged),
                    Err(expected),
                    "{encr:?}/{integ:?} esn {esn} byte {at}"
                );
            }
            let counters = inbound.counters();
            assert_eq!(counters.icv_failures, packet.len() as u64 - 4);
            assert_eq!(counters.other_drops, 4);
            assert_eq!(counters.packets, 0);
            assert_eq!(open(&mut inbound, &packet), Ok((GRE, payload(40))));
        }
    }
}

#[test]
fn short_or_misaligned_packets_are_rejected() {
    for (encr, integ) in suites() {
        let (mut outbound, mut inbound) = pair(encr, integ, false, 64);
        let packet = seal(&mut outbound, &[]);
        // The shortest packet is the one of an empty payload.
        for len in 0..packet.len() {
            assert_eq!(
                open(&mut inbound, &packet[..len]),
                Err(EspError::Truncated),
                "{encr:?} len {len}"
            );
        }
        assert_eq!(inbound.counters().other_drops, packet.len() as u64);
        if integ.is_some() {
            // One byte more than whole blocks, before the ICV.
            let mut odd = seal(&mut outbound, &[]);
            odd.insert(30, 0);
            assert_eq!(open(&mut inbound, &odd), Err(EspError::Truncated));
        }
    }
}

#[test]
fn spi_of_reads_the_header() {
    assert_eq!(spi_of(&[]), None);
    assert_eq!(spi_of(&[1, 2, 3, 4, 5, 6, 7]), None);
    assert_eq!(spi_of(&[1, 2, 3, 4, 5, 6, 7, 8]), Some(0x0102_0304));
}

/// An authentic packet whose padding is wrong: sealed by hand.
fn gcm_packet_with_trailer(plaintext: &[u8]) -> Vec<u8> {
    let (encr_key, _) = keys(EncrAlgorithm::AesGcm16_128, None);
    let key = GcmKey::new(EncrAlgorithm::AesGcm16_128, &encr_key).unwrap();
    let iv = [0, 0, 0, 0, 0, 0, 0, 1];
    let mut packet = SPI.to_be_bytes().to_vec();
    packet.extend_from_slice(&1u32.to_be_bytes());
    packet.extend_from_slice(&iv);
    let mut encrypted = plaintext.to_vec();
    let tag = key.seal(SPI, 1, false, &iv, &mut encrypted).unwrap();
    packet.extend_from_slice(&encrypted);
    packet.extend_from_slice(tag.as_ref());
    packet
}

#[test]
fn padding_is_checked_after_the_icv() {
    let (_, mut inbound) = pair(EncrAlgorithm::AesGcm16_128, None, false, 0);
    // Payload "ab", padding 1, 2, trailer: accepted.
    let good = gcm_packet_with_trailer(&[b'a', b'b', 1, 2, 2, GRE]);
    assert_eq!(open(&mut inbound, &good), Ok((GRE, b"ab".to_vec())));
    for plaintext in [
        // Padding bytes not 1, 2.
        &[b'a', b'b', 1, 3, 2, GRE][..],
        &[b'a', b'b', 0, 0, 2, GRE][..],
        // Pad Length beyond the plaintext.
        &[b'a', b'b', 1, 2, 5, GRE][..],
        &[1, 2, 255, GRE][..],
    ] {
        let packet = gcm_packet_with_trailer(plaintext);
        assert_eq!(
            open(&mut inbound, &packet),
            Err(EspError::BadPadding),
            "{plaintext:?}"
        );
    }
    assert_eq!(inbound.counters().other_drops, 4);
    assert_eq!(inbound.counters().packets, 1);
}

#[test]
fn wrong_keys_and_combinations_are_refused() {
    let gcm = EncrAlgorithm::AesGcm16_128;
    let cbc = EncrAlgorithm::AesCbc256;
    let sha = IntegAlgorithm::HmacSha256_128;
    let cases: [(
        EncrAlgorithm,
        Option<IntegAlgorithm>,
        usize,
        usize,
        EspError,
    ); 6] = [
        // AES-GCM keys include the salt.
        (gcm, None, 16, 0, EspError::KeyLength),
        (gcm, None, 20, 32, EspError::KeyLength),
        (gcm, Some(sha), 20, 32, EspError::InvalidCombination),
        (cbc, None, 32, 0, EspError::InvalidCombination),
        (cbc, Some(sha), 16, 32, EspError::KeyLength),
        (cbc, Some(sha), 32, 20, EspError::KeyLength),
    ];
    for (encr, integ, encr_len, integ_len, error) in cases {
        let (encr_key, integ_key) = (vec![1; encr_len], vec![2; integ_len]);
        let outbound = OutboundSa::new(SPI, encr, integ, &encr_key, &integ_key, false);
        assert_eq!(
            outbound.err(),
            Some(error.clone()),
            "{encr:?} {encr_len} {integ_len}"
        );
        let inbound = InboundSa::new(SPI, encr, integ, &encr_key, &integ_key, false, 64);
        assert_eq!(inbound.err(), Some(error));
    }
}

#[test]
fn sequence_numbers_never_cycle() {
    for (esn, last) in [(false, u64::from(u32::MAX)), (true, u64::MAX)] {
        let (mut outbound, _) = pair(EncrAlgorithm::AesGcm16_256, None, esn, 64);
        outbound.set_sequence(last - 1);
        let mut out = Vec::new();
        outbound.seal(GRE, b"last", &mut out).unwrap();
        assert_eq!(outbound.sequence(), last);
        let len = out.len();
        for _ in 0..2 {
            assert_eq!(
                outbound.seal(GRE, b"one more", &mut out),
                Err(EspError::SequenceExhausted)
            );
        }
        assert_eq!(out.len(), len, "nothing appended");
        assert_eq!(outbound.sequence(), last);
        assert_eq!(outbound.counters().other_drops, 2);
        assert_eq!(outbound.counters().packets, 1);
    }
}

#[test]
fn seal_appends_to_what_out_holds() {
    let (mut outbound, mut inbound) = pair(
        EncrAlgorithm::AesCbc128,
        Some(IntegAlgorithm::HmacSha1_96),
        false,
        64,
    );
    let mut out = b"outer header".to_vec();
    outbound.seal(4, b"inner", &mut out).unwrap();
    assert_eq!(&out[..12], b"outer header");
    assert_eq!(open(&mut inbound, &out[12..]), Ok((4, b"inner".to_vec())));
}

#[test]
fn sas_are_send() {
    fn send<T: Send>() {}
    send::<OutboundSa>();
    send::<InboundSa>();
}

proptest! {
    /// Whatever arrives, open returns; it never panics.
    #[test]
    fn open_never_panics(
        suite in 0..10usize,
        esn: bool,
        window in prop_oneof![Just(0u32), Just(64), Just(4096)],
        body in proptest::collection::vec(any::<u8>(), 0..200),
        with_spi: bool,
    ) {
        let (encr, integ) = suites()[suite];
        let (_, mut inbound) = pair(encr, integ, esn, window);
        let mut packet = if with_spi { SPI.to_be_bytes().to_vec() } else { Vec::new() };
        packet.extend(body);
        let len = packet.len();
        if let Ok((_, payload)) = inbound.open(&mut packet) {
            prop_assert!(payload.len() < len);
        }
    }
}

/// RFC 4303, 2.2.1: with ESN the ICV input is SPI .. ciphertext followed by
/// the high 32 bits of the sequence number, which are not sent.
#[test]
fn cbc_icv_with_esn_covers_the_unsent_high_bits() {
    let (encr, integ) = (EncrAlgorithm::AesCbc128, IntegAlgorithm::HmacSha256_128);
    let (mut outbound, _) = pair(encr, Some(integ), true, 64);
    outbound.set_sequence((7 << 32) + 1);
    let packet = seal(&mut outbound, b"esn");
    let (covered, icv) = packet.split_at(packet.len() - integ.icv_len());
    let (_, integ_key) = keys(encr, Some(integ));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &integ_key);
    let mut input = covered.to_vec();
    input.extend_from_slice(&7u32.to_be_bytes());
    assert_eq!(icv, &ring::hmac::sign(&key, &input).as_ref()[..16]);
    assert_eq!(packet[4..8], 2u32.to_be_bytes());
}
