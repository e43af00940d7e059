use holo_utils::checksum::verify;

use super::*;

const MTU: u16 = 1400;

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// An IPv4 UDP packet of `len` bytes from 172.16.1.10 to 172.16.2.20.
fn ipv4(len: usize, df: bool) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 63, 17, 0, 0];
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    if df {
        p[6] = 0x40;
    }
    p.extend_from_slice(&v4("172.16.1.10").octets());
    p.extend_from_slice(&v4("172.16.2.20").octets());
    let sum = internet_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend((0..len - 20).map(|i| i as u8));
    p
}

/// An IPv6 UDP packet of `len` bytes from 2001:db8:1::10 to 2001:db8:2::20.
fn ipv6(len: usize) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((len - 40) as u16).to_be_bytes());
    p.extend_from_slice(&[17, 63]);
    p.extend_from_slice(&v6("2001:db8:1::10").octets());
    p.extend_from_slice(&v6("2001:db8:2::20").octets());
    p.extend((0..len - 40).map(|i| i as u8));
    p
}

/// A TCP segment with `flags` and the MSS option `mss` at option offset
/// `pad` (NOPs before it), in IPv4 or IPv6, with a valid checksum.
fn tcp(ipv6: bool, flags: u8, mss: u16, pad: usize) -> Vec<u8> {
    let mut options = vec![1; pad];
    options.extend_from_slice(&[2, 4]);
    options.extend_from_slice(&mss.to_be_bytes());
    while !options.len().is_multiple_of(4) {
        options.push(1);
    }
    let tcp_len = 20 + options.len();
    let mut p = if ipv6 {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        p.extend_from_slice(&[6, 64]);
        p.extend_from_slice(&v6("2001:db8:1::10").octets());
        p.extend_from_slice(&v6("2001:db8:2::20").octets());
        p
    } else {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
        p[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        p.extend_from_slice(&v4("172.16.1.10").octets());
        p.extend_from_slice(&v4("172.16.2.20").octets());
        p
    };
    let at = p.len();
    p.extend_from_slice(&[0x9c, 0x40, 0, 80, 1, 2, 3, 4, 0, 0, 0, 0]);
    p.push(((tcp_len / 4) as u8) << 4);
    p.extend_from_slice(&[flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    p.extend_from_slice(&options);
    let sum = tcp_checksum(&p, at);
    p[at + 16..at + 18].copy_from_slice(&sum.to_be_bytes());
    p
}

/// RFC 1071 receiver check of the TCP segment at `tcp`, independent of
/// `tcp_checksum`: the pseudo-header, the segment and its checksum sum to
/// all ones.
fn tcp_verifies(p: &[u8], tcp: usize) -> bool {
    let len = p.len() - tcp;
    let mut pseudo = vec![];
    if tcp == 20 {
        pseudo.extend_from_slice(&p[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        pseudo.extend_from_slice(&p[8..40]);
        pseudo.extend_from_slice(&(len as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 6]);
    }
    pseudo.extend_from_slice(&p[tcp..]);
    verify(&pseudo)
}

fn mss_of(p: &[u8], tcp: usize, pad: usize) -> u16 {
    let at = tcp + 20 + pad;
    assert_eq!(p[at..at + 2], [2, 4]);
    u16::from_be_bytes([p[at + 2], p[at + 3]])
}

#[test]
fn frag_needed_is_rfc_792_and_1191() {
    let packet = ipv4(1500, true);
    let mut limiter = IcmpLimiter::default();
    let tunnel = IpAddr::V4(v4("10.0.0.11"));
    let Verdict::TooBig(Some(icmp)) = check(&packet, MTU, tunnel, &mut limiter, Instant::now())
    else {
        panic!("no ICMP");
    };
    assert_eq!(icmp.len(), 20 + 8 + 28);
    // IPv4 header: version/IHL, length, TTL, protocol, addresses, checksum.
    assert_eq!(icmp[0], 0x45);
    assert_eq!(u16::from_be_bytes([icmp[2], icmp[3]]), 56);
    assert_eq!(icmp[8], 64);
    assert_eq!(icmp[9], 1);
    assert_eq!(icmp[12..16], v4("10.0.0.11").octets());
    assert_eq!(icmp[16..20], v4("172.16.1.10").octets());
    assert!(verify(&icmp[..20]));
    // ICMP: type 3 code 4, unused zero, next-hop MTU, checksum.
    assert_eq!(icmp[20..24][..2], [3, 4]);
    assert_eq!(icmp[24..26], [0, 0]);
    assert_eq!(u16::from_be_bytes([icmp[26], icmp[27]]), MTU);
    assert!(verify(&icmp[20..]));
    // The quoted original header and 8 octets.
    assert_eq!(icmp[28..], packet[..28]);
}

#[test]
fn no_icmp_when_df_clear_or_size_fits() {
    let mut limiter = IcmpLimiter::default();
    let tunnel = IpAddr::V4(v4("10.0.0.11"));
    let now = Instant::now();
    assert_eq!(
        check(&ipv4(1500, false), MTU, tunnel, &mut limiter, now),
        Verdict::Oversize
    );
    assert_eq!(
        check(&ipv4(1400, true), MTU, tunnel, &mut limiter, now),
        Verdict::Fits
    );
    assert_eq!(
        check(
            &ipv6(1400),
            MTU,
            IpAddr::V6(v6("2001:db8::1")),
            &mut limiter,
            now
        ),
        Verdict::Fits
    );
}

#[test]
fn no_icmp_about_icmp_errors_fragments_broadcast_or_other_family() {
    let tunnel = v4("10.0.0.11");
    // An ICMP error (type 3) is dropped silently; an echo request is not.
    let mut error = ipv4(1500, true);
    error[9] = 1;
    error[20] = 3;
    assert_eq!(frag_needed(&error, tunnel, MTU), None);
    error[20] = 8;
    assert!(frag_needed(&error, tunnel, MTU).is_some());
    // A non-first fragment.
    let mut fragment = ipv4(1500, true);
    fragment[7] = 1;
    assert_eq!(frag_needed(&fragment, tunnel, MTU), None);
    // A broadcast destination.
    let mut broadcast = ipv4(1500, true);
    broadcast[16..20].copy_from_slice(&[255; 4]);
    assert_eq!(frag_needed(&broadcast, tunnel, MTU), None);
    // An IPv4 packet on a tunnel with only an IPv6 address: dropped, no ICMP.
    let mut limiter = IcmpLimiter::default();
    let v6_tunnel = IpAddr::V6(v6("2001:db8::1"));
    assert_eq!(
        check(
            &ipv4(1500, true),
            MTU,
            v6_tunnel,
            &mut limiter,
            Instant::now()
        ),
        Verdict::TooBig(None)
    );
}

#[test]
fn packet_too_big_is_rfc_4443() {
    let tunnel = v6("2001:db8::1");
    let mut limiter = IcmpLimiter::default();
    let packet = ipv6(1500);
    let Verdict::TooBig(Some(icmp)) = check(
        &packet,
        MTU,
        IpAddr::V6(tunnel),
        &mut limiter,
        Instant::now(),
    ) else {
        panic!("no ICMPv6");
    };
    // As much of the packet as fits in the minimum MTU.
    assert_eq!(icmp.len(), 1280);
    assert_eq!(icmp[0] >> 4, 6);
    assert_eq!(usize::from(u16::from_be_bytes([icmp[4], icmp[5]])), 1240);
    assert_eq!(icmp[6], 58);
    assert_eq!(icmp[7], 64);
    assert_eq!(icmp[8..24], tunnel.octets());
    assert_eq!(icmp[24..40], v6("2001:db8:1::10").octets());
    assert_eq!(icmp[40..42], [2, 0]);
    assert_eq!(icmp[44..48], u32::from(MTU).to_be_bytes());
    assert_eq!(icmp[48..], packet[..1232]);
    // The checksum verifies over the pseudo-header.
    let mut pseudo = icmp[8..40].to_vec();
    pseudo.extend_from_slice(&1240u32.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&icmp[40..]);
    assert!(verify(&pseudo));
    // A short packet is quoted whole.
    let small = packet_too_big(&ipv6(200), tunnel, 150).unwrap();
    assert_eq!(small.len(), 40 + 8 + 200);
    // No error about an ICMPv6 error.
    let mut error = ipv6(1500);
    error[6] = 58;
    error[40] = 1;
    assert_eq!(packet_too_big(&error, tunnel, MTU), None);
}

#[test]
fn icmp_is_rate_limited_per_sender() {
    let tunnel = IpAddr::V4(v4("10.0.0.11"));
    let mut limiter = IcmpLimiter::default();
    let t0 = Instant::now();
    let packet = ipv4(1500, true);
    let sent = |limiter: &mut IcmpLimiter, p: &[u8], at| {
        matches!(check(p, MTU, tunnel, limiter, at), Verdict::TooBig(Some(_)))
    };
    for _ in 0..ICMP_PER_SECOND {
        assert!(sent(&mut limiter, &packet, t0));
    }
    // The 11th in the same second is dropped without an error...
    assert_eq!(
        check(
            &packet,
            MTU,
            tunnel,
            &mut limiter,
            t0 + Duration::from_millis(500)
        ),
        Verdict::TooBig(None)
    );
    // ...another sender is not limited...
    let mut other = packet.clone();
    other[15] = 11;
    assert!(sent(&mut limiter, &other, t0));
    // ...and a second later the sender gets errors again.
    assert!(sent(&mut limiter, &packet, t0 + Duration::from_secs(1)));
}

#[test]
fn mss_is_clamped_and_the_checksum_still_verifies() {
    for ipv6 in [false, true] {
        // pad 0: the MSS value is word-aligned (incremental update);
        // pad 1: it is not (full recomputation).
        for pad in [0, 1] {
            let tcp_at = if ipv6 { 40 } else { 20 };
            let mut p = tcp(ipv6, 0x02, 1460, pad);
            assert!(tcp_verifies(&p, tcp_at));
            assert!(clamp_mss_in_place(&mut p, 1360), "ipv6 {ipv6} pad {pad}");
            assert_eq!(mss_of(&p, tcp_at, pad), 1360);
            let stored = u16::from_be_bytes([p[tcp_at + 16], p[tcp_at + 17]]);
            assert_eq!(stored, tcp_checksum(&p, tcp_at), "ipv6 {ipv6} pad {pad}");
            assert!(tcp_verifies(&p, tcp_at), "ipv6 {ipv6} pad {pad}");
            // SYN-ACK too.
            let p = tcp(ipv6, 0x12, 1460, pad);
            let clamped = clamp_mss(&p, 1360).unwrap();
            assert_eq!(mss_of(&clamped, tcp_at, pad), 1360);
            let stored = u16::from_be_bytes([clamped[tcp_at + 16], clamped[tcp_at + 17]]);
            assert_eq!(stored, tcp_checksum(&clamped, tcp_at));
            assert!(tcp_verifies(&clamped, tcp_at));
        }
    }
}

#[test]
fn mss_is_never_raised_and_non_syn_is_untouched() {
    let p = tcp(false, 0x02, 1200, 0);
    let mut q = p.clone();
    assert!(!clamp_mss_in_place(&mut q, 1360));
    assert_eq!(p, q);
    assert_eq!(clamp_mss(&p, 1360), None);
    // An ACK carrying an MSS-looking option is left alone.
    let ack = tcp(false, 0x10, 1460, 0);
    assert_eq!(clamp_mss(&ack, 1360), None);
    // Not TCP.
    assert_eq!(clamp_mss(&ipv4(100, true), 1360), None);
    // Truncated SYN: no panic, no change.
    let syn = tcp(true, 0x02, 1460, 0);
    for len in 0..syn.len() {
        assert_eq!(clamp_mss(&syn[..len], 1360), None);
    }
}
