//! IKE fragmentation (RFC 7383) between two in-memory instances: IKE_AUTH
//! with RSA certificates in fragments both ways, lost, reordered and
//! forged fragments, a flood of them, and peers without support.

mod ike_sim;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use holo_ike::ike::Config;
use holo_ike::packet::{ExchangeType, Message, NotifyType, PayloadBody};
use ike_sim::pki::{Key, Pki, cert_config};
use ike_sim::*;

/// A small fragment size, so that every IKE_AUTH message is cut.
const FRAGMENT_SIZE: usize = 576;
/// The largest IKE message in a 576-octet IPv4 datagram on port 500.
const MAX_MESSAGE: usize = FRAGMENT_SIZE - 20 - 8;

fn rsa_pair(pki: &Pki) -> (Config, Config) {
    let ca = pki.ca("Sim Root CA");
    let spoke = pki.issue(&ca, "spoke", Key::Rsa2048, &["spoke.example.net"]);
    let hub = pki.issue(&ca, "hub", Key::Rsa2048, &["hub.example.net"]);
    let mut a = cert_config(&spoke, &ca.file);
    let mut b = cert_config(&hub, &ca.file);
    a.fragment_size = FRAGMENT_SIZE;
    b.fragment_size = FRAGMENT_SIZE;
    (a, b)
}

/// (Fragment Number, Total Fragments) of a datagram that is a fragment.
fn fragment(d: &Datagram) -> Option<(u16, u16)> {
    let message = Message::parse(&d.bytes).ok()?;
    match &message.payloads.last()?.body {
        PayloadBody::EncryptedFragment(f) => Some((f.fragment_number, f.total_fragments)),
        _ => None,
    }
}

fn ike_auth(net: &Net, response: bool) -> Vec<&Datagram> {
    net.wire
        .iter()
        .filter(|d| d.exchange() == ExchangeType::IKE_AUTH && d.is_response() == response)
        .collect()
}

/// Every IKE_AUTH message of the first transmission went in fragments
/// that fit, numbered 1..n.
fn assert_fragmented(net: &Net, response: bool) -> u16 {
    let datagrams = ike_auth(net, response);
    let numbers: Vec<_> = datagrams.iter().map(|d| fragment(d)).collect();
    let Some(Some((_, total))) = numbers.first().copied() else {
        panic!("not fragmented: {numbers:?}");
    };
    assert!(total >= 2, "an RSA IKE_AUTH in {total} fragments");
    let first: Vec<_> = numbers.iter().take(usize::from(total)).collect();
    let expected: Vec<_> = (1..=total).map(|n| Some((n, total))).collect();
    assert_eq!(first, expected.iter().collect::<Vec<_>>());
    assert!(datagrams.iter().all(|d| d.bytes.len() <= MAX_MESSAGE));
    total
}

#[test]
fn fragmented_ike_auth_with_certificates_both_directions() {
    let pki = Pki::new();
    let (a, b) = rsa_pair(&pki);
    for initiator in [0, 1] {
        let mut net = Net::pair(a.clone(), b.clone());
        net.acquire(initiator, 1 - initiator);
        matching_pair(&net);
        assert_fragmented(&net, false);
        assert_fragmented(&net, true);
        // Both announced support in IKE_SA_INIT.
        for d in net
            .wire
            .iter()
            .filter(|d| d.exchange() == ExchangeType::IKE_SA_INIT)
        {
            let message = Message::parse(&d.bytes).expect("parses");
            assert!(message.payloads.iter().any(|p| matches!(&p.body,
                PayloadBody::Notify(n) if n.notify_type == NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)));
        }
    }
}

#[test]
fn a_lost_fragment_is_recovered_by_retransmission() {
    let pki = Pki::new();
    let (a, b) = rsa_pair(&pki);
    for response in [false, true] {
        let mut net = Net::pair(a.clone(), b.clone());
        // Fragment 2 of the first IKE_AUTH request (or response) is lost.
        let lost = Rc::new(Cell::new(false));
        let seen = lost.clone();
        net.filter = Box::new(move |d| {
            let hit = d.exchange() == ExchangeType::IKE_AUTH
                && d.is_response() == response
                && fragment(d).is_some_and(|(n, _)| n == 2);
            if hit && !seen.get() {
                seen.set(true);
                Fate::Drop
            } else {
                Fate::Deliver
            }
        });
        net.acquire(0, 1);
        assert!(lost.get());
        assert!(net.nodes[0].installed.is_empty(), "not up yet");
        net.advance(Duration::from_secs(1));
        matching_pair(&net);
        let total = assert_fragmented(&net, response);
        // The retransmission resent every fragment of the request; the
        // responder answered it from its cache, once per fragment 1.
        assert_eq!(net.nodes[0].ike.counters().retransmissions, 1);
        assert_eq!(
            ike_auth(&net, false).len(),
            2 * usize::from(fragment(ike_auth(&net, false)[0]).expect("fragment").1)
        );
        if response {
            assert_eq!(net.nodes[1].ike.counters().responses_resent, 1);
            assert_eq!(ike_auth(&net, true).len(), 2 * usize::from(total));
        }
    }
}

/// Holds the IKE_AUTH request's fragments and lets them go in the order
/// `arrange` gives them.
fn rearranged(arrange: impl FnOnce(Vec<Datagram>) -> Vec<Datagram>) -> Net {
    let pki = Pki::new();
    let (a, b) = rsa_pair(&pki);
    let mut net = Net::pair(a, b);
    let holding = Rc::new(Cell::new(true));
    let hold = holding.clone();
    net.filter = Box::new(move |d| {
        if hold.get() && d.exchange() == ExchangeType::IKE_AUTH && !d.is_response() {
            Fate::Hold
        } else {
            Fate::Deliver
        }
    });
    net.acquire(0, 1);
    holding.set(false);
    let held = std::mem::take(&mut net.held);
    assert!(held.len() >= 3);
    net.held = arrange(held);
    net.release();
    net
}

#[test]
fn reordered_fragments_are_reassembled() {
    let net = rearranged(|mut held| {
        held.reverse();
        held
    });
    matching_pair(&net);
    assert_eq!(net.nodes[1].ike.counters().integrity_failures, 0);
}

#[test]
fn a_forged_fragment_is_dropped_without_disturbing_reassembly() {
    let net = rearranged(|held| {
        // A copy of fragment 2 with a wrong ICV goes first.
        let mut forged = held[1].clone();
        let last = forged.bytes.len() - 1;
        forged.bytes[last] ^= 0x01;
        let mut arranged = vec![held[0].clone(), forged];
        arranged.extend(held.into_iter().skip(1));
        arranged
    });
    matching_pair(&net);
    assert_eq!(net.nodes[1].ike.counters().integrity_failures, 1);
}

#[test]
fn a_fragment_flood_is_dropped_and_bounded() {
    let net = rearranged(|held| {
        let mut arranged = vec![held[0].clone()];
        // Forged fragments of every number (ICVs that cannot verify), and
        // numbers no message may have.
        for i in 0..300u16 {
            let mut forged = held[1].clone();
            let body = holo_ike::packet::header::LEN + 4;
            forged.bytes[body..body + 4]
                .copy_from_slice(&[(i % 60 + 1).to_be_bytes(), 60u16.to_be_bytes()].concat());
            arranged.push(forged);
        }
        for total in [0u16, 1000] {
            let mut bogus = held[1].clone();
            let body = holo_ike::packet::header::LEN + 4;
            bogus.bytes[body + 2..body + 4].copy_from_slice(&total.to_be_bytes());
            arranged.push(bogus);
        }
        arranged.extend(held.into_iter().skip(1));
        arranged
    });
    matching_pair(&net);
    let c = net.nodes[1].ike.counters();
    assert_eq!(c.integrity_failures, 300);
    assert_eq!(c.malformed, 2);
}

#[test]
fn peers_without_fragmentation_get_whole_messages() {
    let pki = Pki::new();
    let (a, mut b) = rsa_pair(&pki);
    b.fragmentation = false;
    for initiator in [0, 1] {
        let mut net = Net::pair(a.clone(), b.clone());
        net.acquire(initiator, 1 - initiator);
        matching_pair(&net);
        let auth = ike_auth(&net, false);
        assert_eq!(auth.len() + ike_auth(&net, true).len(), 2);
        assert!(auth.iter().all(|d| fragment(d).is_none()));
        // Larger than a fragment would be: it was not cut.
        assert!(auth[0].bytes.len() > MAX_MESSAGE);
        // Only the side that supports it announced it.
        let announced = net
            .wire
            .iter()
            .filter(|d| d.exchange() == ExchangeType::IKE_SA_INIT)
            .filter(|d| {
                Message::parse(&d.bytes)
                    .expect("parses")
                    .payloads
                    .iter()
                    .any(|p| {
                        matches!(&p.body, PayloadBody::Notify(n)
                        if n.notify_type == NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                    })
            })
            .count();
        assert_eq!(announced, usize::from(initiator == 0));
    }
}
