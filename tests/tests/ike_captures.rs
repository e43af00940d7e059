//! Every IKEv2 message and ESP packet of the reference captures (in
//! `$DMVPN_REFERENCE_CAPTURES`, default `../shared/captures`) decodes, and
//! every IKE message re-encodes byte for byte; the Cisco IKEv2 and ESP
//! captures decode to the values tcpdump shows for them.

use std::path::{Path, PathBuf};

use dmvpn_cli::capture::{CaptureReader, Frame, IpsecCarrier, IpsecFrame};
use dmvpn_tests::reference_captures;
use holo_ike::packet::sa::dh;
use holo_ike::packet::udp_encap::NAT_T_PORT;
use holo_ike::packet::{
    EspRepr, ExchangeType, HeaderView, Message, NotifyType, PayloadBody, PayloadType,
    UdpEncapsulated,
};

/// What one IPsec frame holds.
#[derive(Debug)]
enum Decoded {
    Ike(Message),
    Esp(EspRepr),
    NatKeepalive,
}

fn ipsec_frames(path: &Path) -> Vec<IpsecFrame> {
    let mut reader =
        CaptureReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .frames()
        .filter_map(|f| match f {
            Ok(Frame::Ipsec(f)) => Some(f),
            Ok(Frame::Gre(_)) => None,
            Err(e) => panic!("{}: {e}", path.display()),
        })
        .collect()
}

/// Decodes a frame, checking that an IKE message re-encodes exactly.
fn decode(path: &Path, frame: &IpsecFrame) -> Decoded {
    let at = format!("{} frame {}", path.display(), frame.frame);
    let (ike, esp) = match frame.carrier {
        IpsecCarrier::Esp => (None, Some(frame.data.as_slice())),
        IpsecCarrier::Udp { src_port, dst_port }
            if src_port == NAT_T_PORT || dst_port == NAT_T_PORT =>
        {
            match UdpEncapsulated::classify(&frame.data) {
                Ok(UdpEncapsulated::Ike(ike)) => (Some(ike), None),
                Ok(UdpEncapsulated::Esp(esp)) => (None, Some(esp)),
                Ok(UdpEncapsulated::NatKeepalive) => return Decoded::NatKeepalive,
                Err(e) => panic!("{at}: {e}"),
            }
        }
        IpsecCarrier::Udp { .. } => (Some(frame.data.as_slice()), None),
    };
    if let Some(ike) = ike {
        let message = Message::parse(ike).unwrap_or_else(|e| panic!("{at}: {e}"));
        let emitted = message.emit().unwrap_or_else(|e| panic!("{at}: {e}"));
        let length = HeaderView::new(ike).map(|v| v.length() as usize);
        assert_eq!(Some(emitted.len()), length, "{at}");
        assert_eq!(emitted, ike, "{at}: IKE message not byte-exact");
        return Decoded::Ike(message);
    }
    let esp = esp.unwrap_or_default();
    let (header, payload) = EspRepr::parse(esp).unwrap_or_else(|e| panic!("{at}: {e}"));
    assert_eq!(header.emit(payload), esp, "{at}");
    Decoded::Esp(header)
}

fn captures_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(".pcap"))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_ike_message_and_esp_packet_of_every_capture_decodes() {
    let Some(dir) = reference_captures() else {
        return;
    };
    let (mut ike, mut esp) = (0, 0);
    for path in captures_under(&dir) {
        for frame in ipsec_frames(&path) {
            match decode(&path, &frame) {
                Decoded::Ike(_) => ike += 1,
                Decoded::Esp(_) => esp += 1,
                Decoded::NatKeepalive => {}
            }
        }
    }
    // At least the two Cisco captures below.
    assert!(
        ike >= 4 && esp >= 2,
        "{ike} IKE messages, {esp} ESP packets"
    );
}

#[test]
fn cisco_ikev2_sa_init_and_auth() {
    let Some(dir) = reference_captures() else {
        return;
    };
    let path = dir.join("cisco/wireshark-capture-ipsec-ikev2.pcap");
    let messages: Vec<Message> = ipsec_frames(&path)
        .iter()
        .map(|f| match decode(&path, f) {
            Decoded::Ike(m) => m,
            other => panic!("frame {}: not IKE: {other:?}", f.frame),
        })
        .collect();
    let summary: Vec<_> = messages
        .iter()
        .map(|m| {
            (
                m.exchange_type,
                m.message_id,
                m.flags.initiator(),
                m.flags.response(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (ExchangeType::IKE_SA_INIT, 0, true, false),
            (ExchangeType::IKE_SA_INIT, 0, false, true),
            (ExchangeType::IKE_AUTH, 1, true, false),
            (ExchangeType::IKE_AUTH, 1, false, true),
        ]
    );
    assert!(
        messages
            .iter()
            .all(|m| m.spi_initiator == 0x864330ac30e6564d)
    );
    assert_eq!(messages[0].spi_responder, 0);
    assert!(
        messages[1..]
            .iter()
            .all(|m| m.spi_responder == 0x8329cc09a2c7d7e0)
    );

    // IKE_SA_INIT: SA, KE, Ni, three Cisco vendor IDs, the two NAT
    // detection notifies, one more vendor ID.
    for init in &messages[..2] {
        let types: Vec<_> = init
            .payloads
            .iter()
            .map(|p| p.body.payload_type())
            .collect();
        use PayloadType as P;
        assert_eq!(
            types,
            [P::SA, P::KE, P::NONCE, P::V, P::V, P::V, P::N, P::N, P::V]
        );
        let PayloadBody::SecurityAssociation(sa) = &init.payloads[0].body else {
            panic!("no SA")
        };
        let transforms = &sa.proposals[0].transforms;
        assert_eq!(transforms.len(), 4);
        assert_eq!(transforms[0].key_length(), Some(128));
        assert_eq!(transforms[3].transform_id, dh::MODP_1024);
        let PayloadBody::KeyExchange(ke) = &init.payloads[1].body else {
            panic!("no KE")
        };
        assert_eq!((ke.group, ke.data.len()), (dh::MODP_1024, 128));
        let PayloadBody::Nonce(nonce) = &init.payloads[2].body else {
            panic!("no nonce")
        };
        assert_eq!(nonce.data.len(), 64);
        let PayloadBody::VendorId(vid) = &init.payloads[3].body else {
            panic!("no vendor ID")
        };
        assert_eq!(vid.data, b"CISCO-DELETE-REASON");
        let notifies: Vec<_> = init.payloads[6..8]
            .iter()
            .map(|p| match &p.body {
                PayloadBody::Notify(n) => (n.notify_type, n.data.len()),
                other => panic!("not a notify: {other:?}"),
            })
            .collect();
        assert_eq!(
            notifies,
            [
                (NotifyType::NAT_DETECTION_SOURCE_IP, 20),
                (NotifyType::NAT_DETECTION_DESTINATION_IP, 20),
            ]
        );
    }

    // IKE_AUTH: one Encrypted payload, whose first inner payload is a
    // vendor ID (Cisco puts its vendor IDs first).
    for (auth, data_len) in messages[2..].iter().zip([220, 204]) {
        assert_eq!(auth.payloads.len(), 1);
        let PayloadBody::Encrypted(sk) = &auth.payloads[0].body else {
            panic!("no SK")
        };
        assert_eq!(sk.first_payload, PayloadType::V);
        assert_eq!(sk.data.len(), data_len);
    }
}

#[test]
fn cisco_esp_spi_and_sequence() {
    let Some(dir) = reference_captures() else {
        return;
    };
    let path = dir.join("cisco/dmvpn-ipsec-esp-encrypted-traffic.pcap");
    let headers: Vec<_> = ipsec_frames(&path)
        .iter()
        .map(|f| match decode(&path, f) {
            Decoded::Esp(h) => (h.spi, h.sequence),
            other => panic!("frame {}: not ESP: {other:?}", f.frame),
        })
        .collect();
    assert_eq!(headers, [(0x1150fd74, 6), (0x87c9b200, 8)]);
}
