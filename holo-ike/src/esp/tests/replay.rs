//! The anti-replay window (RFC 4303, 3.4.3) and extended sequence numbers
//! across 2^32 (RFC 4303, Appendix A2), through whole SAs.

use super::super::replay::ReplayWindow;
use super::super::{EspError, InboundSa, OutboundSa};
use super::{GRE, open, pair, seal};
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};

const GCM: EncrAlgorithm = EncrAlgorithm::AesGcm16_128;

/// `count` packets sealed in order, numbered from 1 (index 0 is seq 1).
fn batch(outbound: &mut OutboundSa, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| seal(outbound, &i.to_be_bytes()))
        .collect()
}

fn deliver(inbound: &mut InboundSa, packets: &[Vec<u8>], seq: u64) -> Result<(), EspError> {
    let packet = &packets[(seq - 1) as usize];
    open(inbound, packet).map(|_| ())
}

#[test]
fn duplicates_are_replays() {
    for esn in [false, true] {
        let (mut outbound, mut inbound) = pair(GCM, None, esn, 64);
        let packet = seal(&mut outbound, b"once");
        assert_eq!(open(&mut inbound, &packet), Ok((GRE, b"once".to_vec())));
        assert_eq!(
            open(&mut inbound, &packet),
            Err(EspError::Replayed { seq: 1 })
        );
        assert_eq!(inbound.counters().replay_drops, 1);
        assert_eq!(inbound.counters().packets, 1);
    }
}

#[test]
fn the_window_slides_and_forgets_what_falls_off() {
    let (mut outbound, mut inbound) = pair(GCM, None, false, 64);
    let packets = batch(&mut outbound, 20_000);
    // Reordered within the window: all accepted once.
    for seq in [1, 3, 2, 5, 4] {
        assert_eq!(deliver(&mut inbound, &packets, seq), Ok(()), "seq {seq}");
    }
    assert_eq!(
        deliver(&mut inbound, &packets, 3),
        Err(EspError::Replayed { seq: 3 })
    );
    // T = 70: the window is 7..=70.
    assert_eq!(deliver(&mut inbound, &packets, 70), Ok(()));
    assert_eq!(
        deliver(&mut inbound, &packets, 6),
        Err(EspError::TooOld { seq: 6 })
    );
    assert_eq!(deliver(&mut inbound, &packets, 7), Ok(()));
    assert_eq!(
        deliver(&mut inbound, &packets, 7),
        Err(EspError::Replayed { seq: 7 })
    );
    assert_eq!(
        deliver(&mut inbound, &packets, 70),
        Err(EspError::Replayed { seq: 70 })
    );
    // A jump far beyond the window clears it: 70 + 64 .. are new.
    assert_eq!(deliver(&mut inbound, &packets, 10_070), Ok(()));
    for seq in [10_007, 10_069, 10_008] {
        assert_eq!(deliver(&mut inbound, &packets, seq), Ok(()), "seq {seq}");
    }
    assert_eq!(
        deliver(&mut inbound, &packets, 10_006),
        Err(EspError::TooOld { seq: 10_006 })
    );
    // Walking T forward one by one past whole words of the bitmap.
    for seq in 10_071..10_400 {
        assert_eq!(deliver(&mut inbound, &packets, seq), Ok(()), "seq {seq}");
        let previous = seq - 1;
        assert_eq!(
            deliver(&mut inbound, &packets, previous),
            Err(EspError::Replayed { seq: previous })
        );
        let fallen_off = seq - 64;
        assert_eq!(
            deliver(&mut inbound, &packets, fallen_off),
            Err(EspError::TooOld { seq: fallen_off })
        );
    }
    assert_eq!(inbound.counters().packets, 5 + 2 + 1 + 3 + 329);
}

#[test]
fn window_sizes_round_up_to_64_and_cap() {
    for (asked, size) in [(1, 64), (64, 64), (100, 128), (4096, 4096), (100_000, 4096)] {
        let (mut outbound, mut inbound) = pair(GCM, None, false, asked);
        let packets = batch(&mut outbound, 5000);
        let top = 4999;
        assert_eq!(deliver(&mut inbound, &packets, top), Ok(()));
        let oldest = top - size + 1;
        assert_eq!(
            deliver(&mut inbound, &packets, oldest),
            Ok(()),
            "window {asked}"
        );
        assert_eq!(
            deliver(&mut inbound, &packets, oldest - 1),
            Err(EspError::TooOld { seq: oldest - 1 }),
            "window {asked}"
        );
    }
}

#[test]
fn without_anti_replay_everything_authentic_passes() {
    let (mut outbound, mut inbound) = pair(GCM, None, false, 0);
    let packets = batch(&mut outbound, 200);
    for seq in [200, 1, 1, 100, 200] {
        assert_eq!(deliver(&mut inbound, &packets, seq), Ok(()), "seq {seq}");
    }
}

/// A forged packet far ahead must not slide the window: the genuine
/// packets it would push out are still accepted.
#[test]
fn forgeries_do_not_move_the_window() {
    let (mut outbound, mut inbound) = pair(GCM, None, false, 64);
    let packets = batch(&mut outbound, 10);
    let mut forged = packets[9].clone();
    forged[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
    assert_eq!(open(&mut inbound, &forged), Err(EspError::IcvMismatch));
    for seq in 1..=10 {
        assert_eq!(deliver(&mut inbound, &packets, seq), Ok(()), "seq {seq}");
    }
}

/// Both ends cross 2^32 with ESN: the receiver infers the high bits,
/// including for late packets from below the boundary.
#[test]
fn esn_crosses_two_to_the_32() {
    let suites = [
        (GCM, None),
        (
            EncrAlgorithm::AesCbc256,
            Some(IntegAlgorithm::HmacSha512_256),
        ),
    ];
    for (encr, integ) in suites {
        let (mut outbound, mut inbound) = pair(encr, integ, true, 64);
        let start = (1 << 32) - 20;
        outbound.set_sequence(start);
        inbound.set_highest_sequence(start);
        let packets = batch(&mut outbound, 40);
        let seq_of = |i: usize| start + 1 + i as u64;
        assert_eq!(outbound.sequence(), start + 40);
        // On the wire only the low bits: the 20th packet says 0.
        assert_eq!(packets[19][4..8], [0, 0, 0, 0]);
        assert_eq!(seq_of(19), 1 << 32);
        // Deliver the second half first, then the late ones.
        for i in (20..40).chain(0..20) {
            assert_eq!(
                open(&mut inbound, &packets[i]).map(|(_, p)| p),
                Ok(i.to_be_bytes().to_vec()),
                "{encr:?} seq {:#x}",
                seq_of(i)
            );
        }
        for i in [0, 19, 20, 39] {
            assert_eq!(
                open(&mut inbound, &packets[i]),
                Err(EspError::Replayed { seq: seq_of(i) })
            );
        }
    }
}

/// Without ESN the same low bits would authenticate with the wrong high
/// bits: a receiver that guessed wrong fails the ICV, never accepts.
#[test]
fn esn_high_bits_are_authenticated() {
    let (mut outbound, mut inbound) = pair(GCM, None, true, 64);
    outbound.set_sequence((5 << 32) + 9);
    let packet = seal(&mut outbound, b"x");
    // The receiver believes it is in the first 2^32.
    inbound.set_highest_sequence(9);
    assert_eq!(open(&mut inbound, &packet), Err(EspError::IcvMismatch));
    inbound.set_highest_sequence((5 << 32) + 8);
    assert_eq!(open(&mut inbound, &packet), Ok((GRE, b"x".to_vec())));
}

/// RFC 4303, A2.2, case by case, on the window alone.
#[test]
fn esn_inference() {
    let w = 64;
    let mut window = ReplayWindow::new(w, true);
    // T = 2^32 + 10: the window spans the boundary (Tl < W - 1).
    window.set_top((1 << 32) + 10);
    assert_eq!(window.check(11), Ok((1 << 32) + 11));
    assert_eq!(window.check(u32::MAX), Ok(u64::from(u32::MAX)));
    assert_eq!(window.check(u32::MAX - 52), Ok(u64::from(u32::MAX) - 52));
    // Below the window's bottom (Tl - W + 1 mod 2^32): counted as ahead.
    assert_eq!(
        window.check(u32::MAX - 53),
        Ok((1 << 32) + u64::from(u32::MAX - 53))
    );
    // T = 2^32 + 1000: within one subspace (Tl >= W - 1).
    window.set_top((1 << 32) + 1000);
    assert_eq!(window.check(937), Ok((1 << 32) + 937));
    assert_eq!(window.check(936), Ok((2 << 32) + 936));
    // Before any packet, no previous subspace exists.
    let fresh = ReplayWindow::new(w, true);
    assert_eq!(fresh.check(u32::MAX), Ok(u64::from(u32::MAX)));
    assert_eq!(fresh.check(0), Err(EspError::TooOld { seq: 0 }));
    // At the last subspace, nothing is ahead of it.
    let mut last = ReplayWindow::new(w, true);
    last.set_top(u64::MAX - 1);
    assert_eq!(last.check(u32::MAX), Ok(u64::MAX));
    assert_eq!(
        last.check(5),
        Err(EspError::TooOld {
            seq: (u64::MAX << 32) | 5
        })
    );
}

#[test]
fn sequence_number_zero_is_never_accepted() {
    let window = ReplayWindow::new(64, false);
    assert_eq!(window.check(0), Err(EspError::TooOld { seq: 0 }));
    let off = ReplayWindow::new(0, false);
    assert_eq!(off.check(0), Err(EspError::TooOld { seq: 0 }));
    assert_eq!(off.check(1), Ok(1));
}
