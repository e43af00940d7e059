//! Every GRE and NHRP packet of the reference captures (Cisco IOS and FRR,
//! in `$DMVPN_REFERENCE_CAPTURES`, default `../shared/captures`) decodes to
//! the field values Wireshark shows for it and re-encodes byte for byte.
//!
//! The expected values in `reference/expected.rs` were produced from
//! tshark's decode by `tests/tools/expected_from_tshark.py`, so they come
//! from an independent decoder. This file renders our decode in the same
//! line format.

mod reference {
    pub mod expected;
}

use std::collections::BTreeMap;
use std::fmt::Write;

use dmvpn_tests::{gre_frames, reference_captures};
use holo_dmvpn::packet::gre::GreRepr;
use holo_nhrp::packet::{Address, Cie, ExtensionBody, HeaderView, Message, Packet};

fn addr(a: &Address) -> String {
    match a {
        Address::Absent => "-".into(),
        other => other.to_string(),
    }
}

fn cie_line(out: &mut String, indent: &str, c: &Cie) {
    let _ = writeln!(
        out,
        "{indent}cie code={} prefix={} mtu={} hold={} nbma={} proto={} pref={}",
        c.code.0,
        c.prefix_length,
        c.mtu,
        c.holding_time,
        addr(&c.nbma.address),
        addr(&c.protocol),
        c.preference
    );
}

/// Our decode, in the format of tests/tools/expected_from_tshark.py.
fn render(gre: &GreRepr, payload: &[u8]) -> Result<String, String> {
    let mut out = String::new();
    let flags = u16::from_be_bytes(gre.emit(&[])[..2].try_into().unwrap_or_default());
    let _ = write!(
        out,
        "gre flags={flags:#06x} protocol={:#06x}",
        gre.protocol.0
    );
    if let Some(key) = gre.key {
        let _ = write!(out, " key={key}");
    }
    out.push('\n');
    if gre.protocol.0 != 0x2001 {
        return Ok(out.trim_end().to_string());
    }
    let pkt = Packet::decode(payload).map_err(|e| e.to_string())?;
    let view = HeaderView::new(payload).ok_or("no header")?;
    let _ = writeln!(
        out,
        "header afn={} protocol={:#06x} hop={} size={} checksum={:#06x} extoff={} version={} \
         type={} shtl={} sstl={}",
        pkt.afn,
        view.protocol_type(),
        pkt.hop_count,
        view.packet_size(),
        view.checksum(),
        view.extension_offset(),
        view.version(),
        pkt.message_type() as u8,
        view.shtl(),
        view.sstl()
    );
    let _ = write!(
        out,
        "mandatory src_nbma={} src_proto={} dst_proto={}",
        addr(&pkt.src_nbma.address),
        addr(&pkt.src_protocol),
        addr(&pkt.dst_protocol)
    );
    if let Some(m) = pkt.message.request_reply() {
        let _ = write!(out, " flags={:#06x} request_id={}", m.flags.0, m.request_id);
    }
    out.push('\n');
    for c in pkt
        .message
        .request_reply()
        .map(|m| m.cies.as_slice())
        .unwrap_or_default()
    {
        cie_line(&mut out, "", c);
    }
    if let Message::TrafficIndication(ti) = &pkt.message {
        let ip = ti
            .packet
            .get(..20)
            .ok_or("indication shorter than an IPv4 header")?;
        let _ = writeln!(
            out,
            "indication ip_len={} src={} dst={}",
            u16::from_be_bytes([ip[2], ip[3]]),
            Address::from_bytes(&ip[12..16]),
            Address::from_bytes(&ip[16..20])
        );
    }
    for ext in &pkt.extensions {
        let encoded_len = ext.to_bytes().map_err(|e| e.to_string())?.len() - 4;
        let _ = writeln!(
            out,
            "ext {} type={} len={}",
            if ext.compulsory { "C" } else { "-" },
            ext.body.type_number(),
            encoded_len
        );
        match &ext.body {
            ExtensionBody::ResponderAddress { cies }
            | ExtensionBody::ForwardTransitNhs { cies }
            | ExtensionBody::ReverseTransitNhs { cies }
            | ExtensionBody::CiscoNatAddress { cies } => {
                cies.iter().for_each(|c| cie_line(&mut out, "  ", c));
            }
            ExtensionBody::Authentication(a) => {
                let data = holo_utils::hex::Hex(&a.data);
                let _ = writeln!(out, "  auth type={} data={data}", a.auth_type);
            }
            _ => {}
        }
    }
    Ok(out.trim_end().to_string())
}

#[test]
fn reference_captures_decode_to_wiresharks_values_and_reencode_byte_exact() {
    let Some(dir) = reference_captures() else {
        return;
    };
    let mut expected: BTreeMap<(&str, u64), &str> = BTreeMap::new();
    for (file, frame, text) in reference::expected::EXPECTED {
        expected.insert((file, *frame), text);
    }

    let mut seen = 0;
    let mut nhrp = 0;
    let mut failures = Vec::new();
    let files: std::collections::BTreeSet<&str> = expected.keys().map(|(f, _)| *f).collect();
    for file in &files {
        for frame in gre_frames(&dir.join(file)) {
            let want = expected.get(&(*file, frame.frame)).copied();
            let Some(want) = want else {
                failures.push(format!(
                    "{file} frame {}: GRE frame tshark did not show",
                    frame.frame
                ));
                continue;
            };
            seen += 1;
            let (gre, payload) = GreRepr::parse(&frame.gre).expect("GRE decodes");
            assert_eq!(
                gre.emit(payload),
                frame.gre,
                "{file} frame {}: GRE re-encode",
                frame.frame
            );
            if want.contains("version=117") {
                // The rig's userspace "hello" probe: text sent with GRE
                // protocol NHRP. It must be a clean decode error.
                let err = Packet::decode(payload).expect_err("junk must not decode");
                assert_eq!(err.field(), "packet size", "{file} frame {}", frame.frame);
                continue;
            }
            match render(&gre, payload) {
                Ok(got) if got == want => {}
                Ok(got) => failures.push(format!(
                    "{file} frame {}:\n--- tshark\n{want}\n--- ours\n{got}",
                    frame.frame
                )),
                Err(e) => failures.push(format!("{file} frame {}: {e}", frame.frame)),
            }
            if gre.protocol.0 == 0x2001 {
                nhrp += 1;
                let pkt = Packet::decode(payload).expect("decodes");
                let size = usize::from(HeaderView::new(payload).expect("header").packet_size());
                assert_eq!(
                    pkt.encode().expect("encodes"),
                    payload[..size],
                    "{file} frame {}",
                    frame.frame
                );
                assert_eq!(
                    size,
                    payload.len(),
                    "{file} frame {}: bytes after the NHRP packet",
                    frame.frame
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(seen, expected.len(), "every packet tshark shows was read");
    assert_eq!(nhrp, 27, "NHRP packets in the Cisco and FRR captures");
}
