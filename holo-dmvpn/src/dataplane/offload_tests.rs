//! The segmentation and coalescing the data plane relies on, on packets
//! built here: checksums, lengths, IDs, sequence numbers and flags.

use holo_utils::checksum::{ones_complement_sum, verify};
use tun_rs::{
    VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_LEN, VirtioNetHdr, gso_split,
};

use super::*;

const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;
const NEEDS_CSUM: u8 = 1;

const SRC4: [u8; 4] = [172, 16, 1, 1];
const DST4: [u8; 4] = [172, 16, 2, 1];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A TCP header (20 bytes, checksum zero).
fn tcp_header(seq: u32, flags: u8) -> Vec<u8> {
    let mut tcp = vec![0; 20];
    tcp[0..2].copy_from_slice(&40_000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&5201u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&77u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65_000u16.to_be_bytes());
    tcp
}

/// The IP header length and the pseudo-header of the TCP segment of
/// `packet`.
fn pseudo_header(packet: &[u8]) -> (usize, Vec<u8>) {
    match packet[0] >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            let mut p = packet[12..20].to_vec();
            p.extend_from_slice(&[0, 6]);
            p.extend_from_slice(&((packet.len() - ihl) as u16).to_be_bytes());
            (ihl, p)
        }
        _ => {
            let mut p = packet[8..40].to_vec();
            p.extend_from_slice(&((packet.len() - 40) as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 6]);
            (40, p)
        }
    }
}

/// Sum of the pseudo-header and the TCP segment of `packet`.
fn tcp_sum(packet: &[u8]) -> u16 {
    let (ip_len, mut pseudo) = pseudo_header(packet);
    pseudo.extend_from_slice(&packet[ip_len..]);
    ones_complement_sum(&pseudo)
}

fn tcp_checksum_ok(packet: &[u8]) -> bool {
    tcp_sum(packet) == 0xffff
}

/// Writes a valid TCP checksum into `packet`.
fn fix_tcp_checksum(packet: &mut [u8]) {
    let tcp = if packet[0] >> 4 == 4 { 20 } else { 40 };
    packet[tcp + 16..tcp + 18].fill(0);
    let sum = !tcp_sum(packet);
    packet[tcp + 16..tcp + 18].copy_from_slice(&sum.to_be_bytes());
}

/// An IPv4 TCP packet with DF and valid checksums.
fn ipv4_tcp(id: u16, seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
    p[2..4].copy_from_slice(&((40 + data.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&SRC4);
    p.extend_from_slice(&DST4);
    let sum = holo_utils::checksum::internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&tcp_header(seq, flags));
    p.extend_from_slice(data);
    fix_tcp_checksum(&mut p);
    p
}

fn ipv6_tcp(seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((20 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[6, 64]);
    p.extend_from_slice(&SRC6);
    p.extend_from_slice(&DST6);
    p.extend_from_slice(&tcp_header(seq, flags));
    p.extend_from_slice(data);
    fix_tcp_checksum(&mut p);
    p
}

/// Splits `super_packet` as the data plane does a TUN read with a GSO
/// header: into `HEADROOM`-offset buffers.
fn split(super_packet: &[u8], gso_type: u8, gso_size: u16) -> Vec<Vec<u8>> {
    let ip_len = if gso_type == VIRTIO_NET_HDR_GSO_TCPV4 {
        20
    } else {
        40
    };
    let hdr = VirtioNetHdr {
        flags: NEEDS_CSUM,
        gso_type,
        hdr_len: (ip_len + 20) as u16,
        gso_size,
        csum_start: ip_len as u16,
        csum_offset: 16,
    };
    let mut input = super_packet.to_vec();
    let mut segments = Segments::default();
    let n = gso_split(
        &mut input,
        hdr,
        &mut segments.bufs,
        &mut segments.sizes,
        HEADROOM,
        gso_type == VIRTIO_NET_HDR_GSO_TCPV6,
    )
    .expect("split");
    segments.count = n;
    (0..n)
        .map(|i| segments.frame_mut(i).unwrap()[HEADROOM..].to_vec())
        .collect()
}

fn seq(packet: &[u8], tcp: usize) -> u32 {
    u32::from_be_bytes(packet[tcp + 4..tcp + 8].try_into().unwrap())
}

#[test]
fn ipv4_super_packet_splits_into_valid_segments() {
    let data = payload(3500);
    // The kernel hands a super-packet over with the whole length in the
    // IPv4 header and the TCP checksum to be completed (any value here).
    let sp = ipv4_tcp(100, 1_000_000, ACK | PSH | FIN, &data);
    let segments = split(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1000);

    assert_eq!(segments.len(), 4);
    let mut joined = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let expected = if i < 3 { 1040 } else { 540 };
        assert_eq!(s.len(), expected, "segment {i} size");
        assert_eq!(u16::from_be_bytes([s[2], s[3]]) as usize, expected);
        assert_eq!(u16::from_be_bytes([s[4], s[5]]), 100 + i as u16, "IP ID");
        assert_eq!(s[6] & 0x40, 0x40, "DF kept");
        assert!(verify(&s[..20]), "IPv4 header checksum of segment {i}");
        assert!(tcp_checksum_ok(s), "TCP checksum of segment {i}");
        assert_eq!(seq(s, 20), 1_000_000 + 1000 * i as u32);
        let last = i == 3;
        assert_eq!(s[33] & ACK, ACK);
        assert_eq!(s[33] & PSH != 0, last, "PSH only on the last segment");
        assert_eq!(s[33] & FIN != 0, last, "FIN only on the last segment");
        joined.extend_from_slice(&s[40..]);
    }
    assert_eq!(joined, data);
}

#[test]
fn ipv6_super_packet_splits_into_valid_segments() {
    let data = payload(2500);
    let sp = ipv6_tcp(u32::MAX - 500, ACK | PSH, &data);
    let segments = split(&sp, VIRTIO_NET_HDR_GSO_TCPV6, 1200);

    assert_eq!(segments.len(), 3);
    let mut joined = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let data_len = if i < 2 { 1200 } else { 100 };
        assert_eq!(s.len(), 60 + data_len);
        assert_eq!(u16::from_be_bytes([s[4], s[5]]) as usize, 20 + data_len);
        assert!(tcp_checksum_ok(s), "TCP checksum of segment {i}");
        // Sequence numbers wrap.
        assert_eq!(seq(s, 40), (u32::MAX - 500).wrapping_add(1200 * i as u32));
        assert_eq!(s[53] & PSH != 0, i == 2);
        joined.extend_from_slice(&s[60..]);
    }
    assert_eq!(joined, data);
}

/// A `ToTun` batch as the inbound path fills it.
fn batch(packets: &[Vec<u8>]) -> ToTun {
    let mut to_tun = ToTun::default();
    for p in packets {
        to_tun.push(p);
    }
    to_tun
}

fn coalesce(to_tun: &mut ToTun) {
    to_tun
        .gro
        .apply_gro(&mut to_tun.bufs, TO_TUN_OFFSET, false)
        .expect("GRO");
}

#[test]
fn consecutive_segments_are_coalesced_into_one_write() {
    let data = payload(3000);
    let packets: Vec<_> = (0..3)
        .map(|i| {
            let flags = if i == 2 { ACK | PSH } else { ACK };
            let chunk = &data[i * 1000..(i + 1) * 1000];
            ipv4_tcp(7 + i as u16, 5000 + 1000 * i as u32, flags, chunk)
        })
        .collect();
    let mut to_tun = batch(&packets);
    coalesce(&mut to_tun);

    let head = &to_tun.bufs[0];
    let hdr = VirtioNetHdr::decode(&head[..VIRTIO_NET_HDR_LEN]).unwrap();
    assert_eq!(hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    assert_eq!(hdr.gso_size, 1000);
    assert_eq!(hdr.flags & NEEDS_CSUM, NEEDS_CSUM);
    assert_eq!((hdr.csum_start, hdr.csum_offset), (20, 16));
    let p = &head[VIRTIO_NET_HDR_LEN..];
    assert_eq!(p.len(), 3040);
    assert_eq!(u16::from_be_bytes([p[2], p[3]]), 3040);
    assert!(
        verify(&p[..20]),
        "IPv4 header checksum of the coalesced packet"
    );
    assert_eq!(seq(p, 20), 5000);
    assert_eq!(p[33] & PSH, PSH, "the last segment's PSH is kept");
    assert_eq!(&p[40..], &data[..]);
}

#[test]
fn segments_with_a_bad_checksum_or_a_gap_are_not_coalesced() {
    let data = payload(3000);
    let mut packets: Vec<_> = (0..3)
        .map(|i| {
            let chunk = &data[i * 1000..(i + 1) * 1000];
            ipv4_tcp(i as u16, 1000 * i as u32, ACK, chunk)
        })
        .collect();
    // Corrupted on the way: the kernel must see it on its own and drop it.
    packets[1][100] ^= 0xff;
    let mut to_tun = batch(&packets);
    coalesce(&mut to_tun);
    assert_eq!(to_tun.bufs[0].len(), VIRTIO_NET_HDR_LEN + 1040);
    assert_eq!(&to_tun.bufs[1][VIRTIO_NET_HDR_LEN..], &packets[1][..]);

    // A gap in the sequence numbers (a lost segment).
    let gap = vec![
        ipv4_tcp(1, 0, ACK, &data[..1000]),
        ipv4_tcp(2, 2000, ACK, &data[2000..]),
    ];
    let mut to_tun = batch(&gap);
    coalesce(&mut to_tun);
    assert_eq!(to_tun.bufs[0].len(), VIRTIO_NET_HDR_LEN + 1040);
    let hdr = VirtioNetHdr::decode(&to_tun.bufs[1]).unwrap();
    assert_eq!(hdr.gso_type, 0, "written on its own");
}

/// What leaves as GRE segments arrives as one write again.
#[test]
fn split_then_coalesce_round_trips() {
    let data = payload(10_000);
    let sp = ipv4_tcp(1, 42, ACK | PSH, &data);
    let segments = split(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1360);
    assert_eq!(segments.len(), 8);
    let mut to_tun = batch(&segments);
    coalesce(&mut to_tun);
    let p = &to_tun.bufs[0][VIRTIO_NET_HDR_LEN..];
    assert_eq!(&p[40..], &data[..]);
    assert_eq!(p[33], ACK | PSH);
}

#[test]
fn batches_reuse_their_buffers() {
    let mut to_tun = ToTun::default();
    assert!(to_tun.is_empty());
    let clamped = to_tun.push(&[0x45, 1, 2]);
    clamped[1] = 9;
    assert_eq!(to_tun.len(), 1);
    assert_eq!(&to_tun.bufs[0][VIRTIO_NET_HDR_LEN..], &[0x45, 9, 2]);
    to_tun.clear();
    assert!(to_tun.is_empty());
    to_tun.push(&[0x60]);
    assert_eq!(to_tun.bufs[0].len(), VIRTIO_NET_HDR_LEN + 1);
    while !to_tun.is_full() {
        to_tun.push(&[0x45]);
    }
    assert_eq!(to_tun.len(), BATCH);
}

/// `packet` as the underlay's GRO hands it over: the TCP checksum field
/// holds only the folded pseudo-header sum (computed here from the
/// addresses and lengths, apart from the code under test).
fn as_coalesced(mut packet: Vec<u8>) -> Vec<u8> {
    let (tcp, pseudo) = pseudo_header(&packet);
    let sum = ones_complement_sum(&pseudo);
    packet[tcp + 16..tcp + 18].copy_from_slice(&sum.to_be_bytes());
    packet
}

#[test]
fn a_tcp_packet_the_underlay_coalesced_goes_up_as_gso_with_the_checksum_to_complete() {
    // Three 1420-byte segments merged by GRO on a 1472-byte tunnel.
    let merged = as_coalesced(ipv4_tcp(9, 1000, ACK | PSH, &payload(3 * 1420)));
    assert!(!tcp_checksum_ok(&merged));
    let hdr = underlay_gro_header(&merged, 1472).expect("recognised as coalesced");
    assert_eq!(hdr.flags, NEEDS_CSUM);
    assert_eq!(hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    assert_eq!(hdr.gso_size, 1472 - 40);
    assert_eq!((hdr.hdr_len, hdr.csum_start, hdr.csum_offset), (40, 20, 16));
    // Without TUN offloads the checksum is completed in userspace.
    let mut completed = merged.clone();
    complete_tcp_checksum(&mut completed, 20);
    assert!(tcp_checksum_ok(&completed));
    assert_eq!(completed, ipv4_tcp(9, 1000, ACK | PSH, &payload(3 * 1420)));

    let merged6 = as_coalesced(ipv6_tcp(5, ACK, &payload(5000)));
    let hdr = underlay_gro_header(&merged6, 1472).expect("IPv6 recognised as coalesced");
    assert_eq!(hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
    assert_eq!(hdr.gso_size, 1472 - 60);
    assert_eq!((hdr.hdr_len, hdr.csum_start, hdr.csum_offset), (60, 40, 16));
    let mut completed = merged6.clone();
    complete_tcp_checksum(&mut completed, 40);
    assert!(tcp_checksum_ok(&completed));

    // Two small segments merged: one segment's worth, no GSO, but the
    // checksum still left to the kernel.
    let small = as_coalesced(ipv4_tcp(9, 1000, ACK, &payload(201)));
    let hdr = underlay_gro_header(&small, 1472).unwrap();
    assert_eq!((hdr.flags, hdr.gso_type, hdr.gso_size), (NEEDS_CSUM, 0, 0));
    // CWR: the segments carry ECN.
    let cwr = as_coalesced(ipv4_tcp(9, 1000, ACK | 0x80, &payload(4000)));
    assert_eq!(
        underlay_gro_header(&cwr, 1472).unwrap().gso_type,
        VIRTIO_NET_HDR_GSO_TCPV4 | 0x80
    );
}

#[test]
fn packets_with_a_complete_checksum_and_others_are_not_taken_for_coalesced() {
    let data = payload(1420);
    assert!(underlay_gro_header(&ipv4_tcp(1, 1, ACK, &data), 1472).is_none());
    assert!(underlay_gro_header(&ipv6_tcp(1, ACK, &data), 1472).is_none());
    // A fragment, a length that is not the packet's, UDP, an IPv6
    // extension header, truncations and garbage: never, and no panic.
    let mut fragment = as_coalesced(ipv4_tcp(1, 1, ACK, &data));
    fragment[6] = 0x20; // MF
    assert!(underlay_gro_header(&fragment, 1472).is_none());
    let merged = as_coalesced(ipv4_tcp(1, 1, ACK, &data));
    assert!(underlay_gro_header(&merged[..merged.len() - 1], 1472).is_none());
    let mut udp = merged.clone();
    udp[9] = 17;
    assert!(underlay_gro_header(&udp, 1472).is_none());
    let mut ext = as_coalesced(ipv6_tcp(1, ACK, &data));
    ext[6] = 0; // hop-by-hop options
    assert!(underlay_gro_header(&ext, 1472).is_none());
    let mut short_tcp = merged[..40].to_vec();
    short_tcp[2..4].copy_from_slice(&40u16.to_be_bytes());
    short_tcp[32] = 0xf0; // data offset 60 bytes, beyond the packet
    assert!(underlay_gro_header(&short_tcp, 1472).is_none());
    for len in 0..64 {
        let _ = underlay_gro_header(&merged[..len], 1472);
        let _ = underlay_gro_header(&vec![0x45; len], 1472);
        let _ = underlay_gro_header(&vec![0x60; len], 1472);
    }
}
