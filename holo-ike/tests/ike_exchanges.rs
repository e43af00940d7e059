//! IKE_SA_INIT and IKE_AUTH between two in-memory instances: algorithms,
//! failures, NAT traversal, and what our first message looks like on the
//! wire.

mod ike_sim;

use std::net::{IpAddr, SocketAddr};

use holo_ike::crypto::DhGroup;
use holo_ike::ike::{DownReason, Identity, Mode, Notification, Psk};
use holo_ike::packet::sa::TransformType;
use holo_ike::packet::{
    ExchangeType, Message, NotifyType, PayloadBody, ProtocolId, udp_encap::NAT_T_PORT,
};
use ike_sim::*;

fn handshake(a: holo_ike::ike::Config, b: holo_ike::ike::Config) -> Net {
    let mut net = Net::pair(a, b);
    net.acquire(0, 1);
    net
}

#[test]
fn handshake_aes_gcm() {
    let mut a = config();
    a.ike_proposals = vec![gcm()];
    a.esp_proposals = vec![esp_gcm()];
    let net = handshake(a, config());
    let (ca, cb) = matching_pair(&net);
    assert_eq!(ca.encr, esp_gcm().encr);
    assert!(ca.integ.is_none() && ca.inbound_integ_key.is_empty());
    assert_eq!(ca.mode, Mode::Transport);
    assert_eq!((ca.encap, cb.encap), (None, None));
    assert_eq!((ca.peer, cb.peer), (net.addr(1), net.addr(0)));
    for i in [0, 1] {
        let s = net.nodes[i].ike.snapshot();
        assert_eq!(s.ike_sas.len(), 1);
        assert_eq!(s.ike_sas[0].proposal, Some(gcm()));
        assert_eq!(s.counters.ike_sas_established, 1);
        assert_eq!(s.counters.child_sas_installed, 1);
        let up = |n: &Notification| matches!(n, Notification::IkeSaUp { .. });
        assert_eq!(net.count(i, up), 1);
    }
    // Each side saw the other's address as its ID (Cisco's default).
    let ids: Vec<_> = net.nodes[0].ike.snapshot().ike_sas[0]
        .remote_id
        .iter()
        .cloned()
        .collect();
    assert_eq!(ids, [Identity::from_address(net.addr(1))]);
    // Four messages: IKE_SA_INIT and IKE_AUTH, both on port 500.
    assert_eq!(net.wire.len(), 4);
    assert!(net.wire.iter().all(|d| d.to.port() == 500));
}

#[test]
fn handshake_aes_cbc_hmac() {
    let mut a = config();
    a.ike_proposals = vec![cbc()];
    a.esp_proposals = vec![esp_cbc()];
    let net = handshake(a, config());
    let (ca, _) = matching_pair(&net);
    assert_eq!(ca.encr, esp_cbc().encr);
    assert_eq!(ca.integ, esp_cbc().integ);
    assert_eq!(ca.inbound_integ_key.len(), 20);
    let s = net.nodes[1].ike.snapshot();
    assert_eq!(s.ike_sas[0].proposal, Some(cbc()));
}

#[test]
fn handshake_with_each_dh_group() {
    for group in DhGroup::ALL {
        let mut a = config();
        let mut p = cbc();
        p.dh = group;
        a.ike_proposals = vec![p];
        let mut b = config();
        b.ike_proposals = vec![p];
        let net = handshake(a, b);
        matching_pair(&net);
        let s = net.nodes[0].ike.snapshot();
        assert_eq!(s.ike_sas[0].proposal.map(|p| p.dh), Some(group), "{group}");
    }
}

#[test]
fn tunnel_mode_when_configured() {
    let mut a = config();
    a.mode = Mode::Tunnel;
    let net = handshake(a, config());
    let (ca, cb) = matching_pair(&net);
    assert_eq!((ca.mode, cb.mode), (Mode::Tunnel, Mode::Tunnel));
}

#[test]
fn wrong_psk_is_authentication_failed() {
    let mut b = config();
    b.psk = Psk::any("another secret");
    let net = handshake(config(), b);
    for i in [0, 1] {
        let node = &net.nodes[i];
        assert!(node.installed.is_empty(), "node {i}");
        assert_eq!(node.ike.counters().auth_failures, 1, "node {i}");
        assert_eq!(node.ike.counters().child_sas_installed, 0);
        let failed = |n: &Notification| matches!(n, Notification::AuthFailed { .. });
        assert_eq!(net.count(i, failed), 1, "node {i}");
        assert!(node.ike.snapshot().ike_sas.is_empty(), "node {i}");
    }
    let down = |n: &Notification| {
        matches!(
            n,
            Notification::IkeSaDown {
                reason: DownReason::AuthenticationFailed,
                ..
            }
        )
    };
    assert_eq!(net.count(0, down), 1);
}

#[test]
fn remote_id_mismatch_is_authentication_failed() {
    let mut a = config();
    a.remote_id = Some(Identity::Fqdn("hub.example".into()));
    let net = handshake(a, config());
    assert!(net.nodes[0].installed.is_empty());
    assert_eq!(net.nodes[0].ike.counters().auth_failures, 1);
    // B is up until A's Delete arrives, which it is by now.
    assert!(net.nodes[1].installed.is_empty());
    assert!(net.nodes[1].ike.snapshot().ike_sas.is_empty());
}

#[test]
fn no_common_ike_proposal() {
    let mut a = config();
    a.ike_proposals = vec![cbc()];
    let mut b = config();
    b.ike_proposals = vec![gcm()];
    let net = handshake(a, b);
    assert_eq!(net.nodes[1].ike.counters().no_proposal, 1);
    assert_eq!(net.nodes[0].ike.counters().no_proposal, 1);
    assert!(net.nodes[1].ike.snapshot().ike_sas.is_empty());
    let refused = |n: &Notification| {
        matches!(n, Notification::IkeSaDown { reason: DownReason::Refused(r), .. }
            if r == "NO_PROPOSAL_CHOSEN")
    };
    assert_eq!(net.count(0, refused), 1);
    // The answer is the unauthenticated notify alone.
    let answer = Message::parse(&net.wire[1].bytes).expect("answer parses");
    assert!(matches!(&answer.payloads[..], [p] if matches!(&p.body,
        PayloadBody::Notify(n) if n.notify_type == NotifyType::NO_PROPOSAL_CHOSEN)));
}

#[test]
fn no_common_esp_proposal_keeps_no_sa() {
    let mut a = config();
    a.esp_proposals = vec![esp_cbc()];
    let mut b = config();
    b.esp_proposals = vec![esp_gcm()];
    let net = handshake(a, b);
    assert_eq!(net.nodes[1].ike.counters().no_proposal, 1);
    let failed = |n: &Notification| {
        matches!(n, Notification::ChildSaFailed { reason, .. }
        if reason == "NO_PROPOSAL_CHOSEN")
    };
    assert_eq!(net.count(0, failed), 1);
    // The useless IKE SA is deleted by the initiator.
    for i in [0, 1] {
        assert!(net.nodes[i].ike.snapshot().ike_sas.is_empty(), "node {i}");
    }
}

#[test]
fn invalid_ke_payload_then_retry_with_the_wanted_group() {
    let mut a = config();
    let mut ecp = gcm();
    ecp.dh = DhGroup::Ecp384;
    a.ike_proposals = vec![gcm(), ecp];
    let mut b = config();
    b.ike_proposals = vec![ecp];
    let net = handshake(a, b);
    matching_pair(&net);
    assert_eq!(net.nodes[1].ike.counters().invalid_ke, 1);
    assert_eq!(net.nodes[0].ike.counters().invalid_ke, 1);
    let inits: Vec<_> = net
        .wire
        .iter()
        .filter(|d| d.exchange() == ExchangeType::IKE_SA_INIT && !d.is_response())
        .collect();
    assert_eq!(inits.len(), 2);
    let ke_group = |bytes: &[u8]| {
        let m = Message::parse(bytes).expect("parses");
        m.payloads.iter().find_map(|p| match &p.body {
            PayloadBody::KeyExchange(ke) => Some(ke.group),
            _ => None,
        })
    };
    assert_eq!(ke_group(&inits[0].bytes), Some(31));
    assert_eq!(ke_group(&inits[1].bytes), Some(20));
    // The refusal named group 20.
    let refusal = Message::parse(&net.wire[1].bytes).expect("parses");
    assert!(refusal.payloads.iter().any(|p| matches!(&p.body,
        PayloadBody::Notify(n) if n.notify_type == NotifyType::INVALID_KE_PAYLOAD
            && n.data == [0, 20])));
}

#[test]
fn nat_detected_floats_to_4500_and_encapsulates() {
    let mut net = Net::pair(config(), config());
    net.behind_nat(0, "192.168.1.1", "198.51.100.1");
    net.acquire(0, 1);
    let (ca, cb) = matching_pair(&net);
    assert_eq!(ca.encap, Some((NAT_T_PORT, NAT_T_PORT)));
    // B sees A's NAT mapping of port 4500.
    assert_eq!(cb.encap, Some((NAT_T_PORT, NAT_T_PORT + NAT_PORT_SHIFT)));
    assert_eq!(cb.peer, ip("198.51.100.1"));
    let ports: Vec<u16> = net.wire.iter().map(|d| d.to.port()).collect();
    assert_eq!(
        ports,
        [500, 500 + NAT_PORT_SHIFT, 4500, 4500 + NAT_PORT_SHIFT]
    );
    let sa = |i: usize| net.nodes[i].ike.snapshot().ike_sas.remove(0);
    assert!(sa(0).nat.local_behind && !sa(0).nat.remote_behind);
    assert!(sa(1).nat.remote_behind && !sa(1).nat.local_behind);
    assert_eq!(
        sa(1).remote,
        "198.51.100.1:14500".parse::<SocketAddr>().expect("a")
    );
}

#[test]
fn force_encap_without_nat() {
    let mut a = config();
    a.force_encap = true;
    let net = handshake(a, config());
    let (ca, cb) = matching_pair(&net);
    assert_eq!(ca.encap, Some((NAT_T_PORT, NAT_T_PORT)));
    assert_eq!(cb.encap, Some((NAT_T_PORT, NAT_T_PORT)));
    assert!(net.nodes[1].ike.snapshot().ike_sas[0].nat.remote_behind);
    assert!(net.nodes[0].ike.snapshot().ike_sas[0].nat.forced);
    assert_eq!(net.wire[2].to.port(), NAT_T_PORT);
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

#[test]
fn our_ike_sa_init_request_decodes_with_proposals_and_nat_d() {
    let config = config();
    let mut net = Net::pair(config.clone(), config.clone());
    net.filter = Box::new(|_| Fate::Drop);
    net.acquire(0, 1);
    let request = &net.wire[0];
    let m = Message::parse(&request.bytes).expect("our request parses");
    assert_eq!(m.exchange_type, ExchangeType::IKE_SA_INIT);
    assert!(m.flags.initiator() && !m.flags.response());
    assert_eq!((m.message_id, m.spi_responder), (0, 0));
    assert_ne!(m.spi_initiator, 0);
    let sa = m
        .payloads
        .iter()
        .find_map(|p| match &p.body {
            PayloadBody::SecurityAssociation(sa) => Some(sa),
            _ => None,
        })
        .expect("SA payload");
    assert_eq!(sa.proposals.len(), config.ike_proposals.len());
    for (n, (p, ours)) in sa.proposals.iter().zip(&config.ike_proposals).enumerate() {
        assert_eq!(usize::from(p.number), n + 1);
        assert_eq!(p.protocol_id, ProtocolId::IKE);
        let ids = |ty| -> Vec<u16> {
            p.transforms
                .iter()
                .filter(|t| t.transform_type == ty)
                .map(|t| t.transform_id)
                .collect()
        };
        assert_eq!(ids(TransformType::ENCR), [ours.encr.transform().0]);
        assert_eq!(ids(TransformType::PRF), [ours.prf.transform_id()]);
        assert_eq!(ids(TransformType::DH), [ours.dh.transform_id()]);
        let integ: Vec<u16> = ours.integ.iter().map(|i| i.transform_id()).collect();
        assert_eq!(ids(TransformType::INTEG), integ);
        assert_eq!(p.transforms[0].key_length(), Some(ours.encr.transform().1));
    }
    let ke = m.payloads.iter().find_map(|p| match &p.body {
        PayloadBody::KeyExchange(ke) => Some(ke),
        _ => None,
    });
    let ke = ke.expect("KE payload");
    assert_eq!(ke.group, config.ike_proposals[0].dh.transform_id());
    assert_eq!(ke.data.len(), config.ike_proposals[0].dh.public_value_len());
    let nat_d = |ty| {
        m.payloads.iter().find_map(|p| match &p.body {
            PayloadBody::Notify(n) if n.notify_type == ty => Some(n.data.clone()),
            _ => None,
        })
    };
    let hash = |a: SocketAddr| {
        let IpAddr::V4(ip) = a.ip() else {
            panic!("IPv4 in this test")
        };
        sha1(&[
            &m.spi_initiator.to_be_bytes(),
            &[0; 8],
            &ip.octets(),
            &a.port().to_be_bytes(),
        ])
    };
    assert_eq!(
        nat_d(NotifyType::NAT_DETECTION_SOURCE_IP),
        Some(hash(request.from))
    );
    assert_eq!(
        nat_d(NotifyType::NAT_DETECTION_DESTINATION_IP),
        Some(hash(request.to))
    );
    assert!(m.payloads.iter().any(|p| matches!(&p.body,
        PayloadBody::Nonce(n) if n.data.len() == 32)));
}

/// The error notifies of IKE_SA_INIT and IKE_AUTH, as data: the two
/// configurations, and what the initiator ends with because of the
/// responder's notify. (CREATE_CHILD_SA's are in the core's unit tests.)
#[test]
fn refusals_in_the_handshake_name_the_rfc_notify() {
    use holo_ike::ike::{Config, Selectors};
    type Setup = fn(&mut Config, &mut Config);
    let cases: [(&str, Setup, &str); 4] = [
        (
            "IKE proposals",
            |a, b| {
                a.ike_proposals = vec![cbc()];
                b.ike_proposals = vec![gcm()];
            },
            "down:NO_PROPOSAL_CHOSEN",
        ),
        (
            "ESP proposals",
            |a, b| {
                a.esp_proposals = vec![esp_cbc()];
                b.esp_proposals = vec![esp_gcm()];
            },
            "child:NO_PROPOSAL_CHOSEN",
        ),
        (
            "pre-shared key",
            |_, b| b.psk = Psk::any("another"),
            "down:AUTHENTICATION_FAILED",
        ),
        (
            "traffic selectors",
            |a, _| {
                a.selectors = Selectors::Hosts {
                    local: ip("192.0.2.1"),
                    remote: ip("192.0.2.2"),
                }
            },
            "child:TS_UNACCEPTABLE",
        ),
    ];
    for (name, setup, expected) in cases {
        let (mut a, mut b) = (config(), config());
        setup(&mut a, &mut b);
        let net = handshake(a, b);
        let got: Vec<String> = net.nodes[0]
            .notifications
            .iter()
            .filter_map(|n| match n {
                Notification::IkeSaDown {
                    reason: DownReason::Refused(r),
                    ..
                } => Some(format!("down:{r}")),
                Notification::IkeSaDown {
                    reason: DownReason::AuthenticationFailed,
                    ..
                } => Some("down:AUTHENTICATION_FAILED".into()),
                Notification::ChildSaFailed { reason, .. } => Some(format!("child:{reason}")),
                _ => None,
            })
            .collect();
        assert_eq!(got, [expected], "{name}");
        assert!(net.nodes[0].installed.is_empty(), "{name}");
    }
}

#[test]
fn ike_sa_init_without_nonce_is_invalid_syntax() {
    let mut net = Net::pair(config(), config());
    net.filter = Box::new(|_| Fate::Drop);
    net.acquire(0, 1);
    let mut m = Message::parse(&net.wire[0].bytes).expect("parses");
    m.payloads
        .retain(|p| !matches!(p.body, PayloadBody::Nonce(_)));
    let (local, remote) = (net.wire[0].to, net.wire[0].from);
    let out = net.nodes[1].ike.handle(
        holo_ike::ike::Input::Packet {
            local,
            remote,
            bytes: m.emit().expect("emits"),
        },
        net.now,
    );
    let answer = out
        .iter()
        .find_map(|o| match o {
            holo_ike::ike::Output::Send { bytes, .. } => Message::parse(bytes).ok(),
            _ => None,
        })
        .expect("an answer");
    assert!(matches!(&answer.payloads[..], [p] if matches!(&p.body,
        PayloadBody::Notify(n) if n.notify_type == NotifyType::INVALID_SYNTAX)));
    assert!(net.nodes[1].ike.snapshot().ike_sas.is_empty());
}
