//! `show crypto ikev2 sa` and `show crypto ipsec sa`: Cisco's views of the
//! IPsec state, built from dmvpn-ipsec's `protection` node under each
//! tunnel (RFC 7951 JSON of `/ietf-interfaces:interfaces`).

use serde::Serialize;
use serde_json::Value;

use crate::views::{self, interfaces, number, text};

/// One IKE SA with its child SAs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IkeSa {
    pub interface: String,
    pub local: String,
    pub remote: String,
    pub role: String,
    pub state: String,
    pub algorithms: String,
    pub local_identity: String,
    pub remote_identity: String,
    pub nat: String,
    pub established_time: Option<u64>,
    pub child_sas: Vec<ChildSa>,
}

/// One child SA (both directions) with its counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChildSa {
    pub inbound_spi: String,
    pub outbound_spi: String,
    pub algorithms: String,
    pub mode: String,
    pub encapsulation: String,
    pub packets_in: Option<u64>,
    pub bytes_in: Option<u64>,
    pub packets_out: Option<u64>,
    pub bytes_out: Option<u64>,
    pub replay_drops: Option<u64>,
    pub icv_failures: Option<u64>,
}

/// Every IKE SA of every tunnel in a state tree.
pub fn ike_sas(state: &Value) -> Vec<IkeSa> {
    let mut out = Vec::new();
    for interface in interfaces(state) {
        let Some(name) = text(interface.get("name")) else {
            continue;
        };
        let Some(protection) = interface
            .get("dmvpn-tunnel:tunnel")
            .and_then(|t| t.get("dmvpn-ipsec:protection"))
        else {
            continue;
        };
        for sa in protection
            .get("ike-sa")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |name: &str| text(sa.get(name)).unwrap_or_else(|| "-".to_owned());
            let endpoint =
                |address: &str, port: &str| match (text(sa.get(address)), text(sa.get(port))) {
                    (Some(a), Some(p)) => format!("{a}/{p}"),
                    (Some(a), None) => a,
                    _ => "-".to_owned(),
                };
            out.push(IkeSa {
                interface: name.clone(),
                local: endpoint("local-address", "local-port"),
                remote: endpoint("peer-address", "peer-port"),
                role: field("role"),
                state: field("state"),
                algorithms: field("algorithms"),
                local_identity: field("local-identity"),
                remote_identity: field("remote-identity"),
                nat: field("nat"),
                established_time: number(sa.get("established-time")),
                child_sas: sa
                    .get("child-sa")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(child_sa)
                    .collect(),
            });
        }
    }
    out
}

fn child_sa(child: &Value) -> ChildSa {
    let field = |name: &str| text(child.get(name)).unwrap_or_else(|| "-".to_owned());
    let inbound = child.get("inbound");
    let outbound = child.get("outbound");
    let counter = |dir: Option<&Value>, name: &str| number(dir.and_then(|d| d.get(name)));
    ChildSa {
        inbound_spi: field("inbound-spi"),
        outbound_spi: field("outbound-spi"),
        algorithms: field("algorithms"),
        mode: field("mode"),
        encapsulation: field("encapsulation"),
        packets_in: counter(inbound, "packets"),
        bytes_in: counter(inbound, "bytes"),
        packets_out: counter(outbound, "packets"),
        bytes_out: counter(outbound, "bytes"),
        replay_drops: counter(inbound, "replay-drops"),
        icv_failures: counter(inbound, "icv-failures"),
    }
}

/// Cisco's `show crypto ikev2 sa`: one row per IKE SA, its algorithms and
/// age below it.
pub fn render_ikev2_sa(sas: &[IkeSa]) -> String {
    let mut out = String::from(" IPv4 Crypto IKEv2 SA\n\n");
    if sas.is_empty() {
        out.push_str("No IKE SA.\n");
        return out;
    }
    let rows: Vec<Vec<String>> = sas
        .iter()
        .enumerate()
        .map(|(i, sa)| {
            vec![
                (i + 1).to_string(),
                sa.local.clone(),
                sa.remote.clone(),
                sa.interface.clone(),
                status(&sa.state).to_owned(),
            ]
        })
        .collect();
    let table = views::table(
        &["Tunnel-id", "Local", "Remote", "Interface", "Status"],
        &rows,
    );
    // The header and its underline, then one line per SA.
    let mut lines = table.lines();
    for header in lines.by_ref().take(2) {
        out.push_str(header);
        out.push('\n');
    }
    for (line, sa) in lines.zip(sas) {
        out.push_str(line);
        out.push('\n');
        out.push_str(&format!(
            "      {} ({}), local id {}, remote id {}, NAT: {}\n",
            sa.algorithms, sa.role, sa.local_identity, sa.remote_identity, sa.nat
        ));
        if let Some(age) = sa.established_time {
            out.push_str(&format!("      Active time: {}\n", views::duration(age)));
        }
    }
    out
}

/// Cisco's status words: READY once established, else in negotiation.
fn status(state: &str) -> &'static str {
    match state {
        "established" => "READY",
        "deleting" => "DELETE",
        _ => "IN-NEG",
    }
}

/// Cisco's `show crypto ipsec sa`, per interface and peer: the traffic
/// selectors (GRE between the two addresses), the counters and the SAs.
pub fn render_ipsec_sa(sas: &[IkeSa]) -> String {
    let mut out = String::new();
    let mut interface = "";
    for sa in sas {
        if sa.interface != interface {
            interface = &sa.interface;
            out.push_str(&format!("interface: {interface}\n"));
        }
        let local = sa.local.split('/').next().unwrap_or("-");
        let remote = sa.remote.split('/').next().unwrap_or("-");
        out.push_str(&format!(
            "\n   local  ident (addr/mask/prot/port): ({local}/255.255.255.255/47/0)\n"
        ));
        out.push_str(&format!(
            "   remote ident (addr/mask/prot/port): ({remote}/255.255.255.255/47/0)\n"
        ));
        out.push_str(&format!("   current_peer {}\n", sa.remote));
        for child in &sa.child_sas {
            let n = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
            out.push_str(&format!(
                "    #pkts encaps: {}, #pkts encrypt: {}, #bytes: {}\n",
                n(child.packets_out),
                n(child.packets_out),
                n(child.bytes_out)
            ));
            out.push_str(&format!(
                "    #pkts decaps: {}, #pkts decrypt: {}, #bytes: {}\n",
                n(child.packets_in),
                n(child.packets_in),
                n(child.bytes_in)
            ));
            out.push_str(&format!(
                "    #pkts replay failed: {}, #pkts verify failed: {}\n",
                n(child.replay_drops),
                n(child.icv_failures)
            ));
            out.push_str(&format!(
                "     local crypto endpt.: {local}, remote crypto endpt.: {remote}\n"
            ));
            out.push_str(&format!(
                "     inbound esp sas:\n      spi: 0x{}\n        transform: {}, in use settings ={{{}, {}}}\n",
                child.inbound_spi.to_uppercase(),
                child.algorithms,
                capitalise(&child.mode),
                child.encapsulation
            ));
            out.push_str(&format!(
                "     outbound esp sas:\n      spi: 0x{}\n        transform: {}, in use settings ={{{}, {}}}\n",
                child.outbound_spi.to_uppercase(),
                child.algorithms,
                capitalise(&child.mode),
                child.encapsulation
            ));
        }
    }
    if out.is_empty() {
        out.push_str("No IPsec SA.\n");
    }
    out
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> Value {
        json!({"ietf-interfaces:interfaces": {"interface": [{
            "name": "tun0",
            "dmvpn-tunnel:tunnel": {"dmvpn-ipsec:protection": {"ike-sa": [{
                "local-spi": "0011223344556677", "remote-spi": "8899aabbccddeeff",
                "peer-address": "192.0.2.1", "peer-port": 500,
                "local-address": "192.0.2.11", "local-port": 500,
                "role": "initiator", "state": "established",
                "algorithms": "aes-cbc-256/sha512/prf-sha512/ecp-256",
                "local-identity": "192.0.2.11", "remote-identity": "hub.example",
                "nat": "none", "established-time": 75,
                "child-sa": [{
                    "inbound-spi": "c1a2b3d4", "outbound-spi": "0badcafe",
                    "algorithms": "aes-cbc-128/sha1", "mode": "transport",
                    "encapsulation": "esp",
                    "inbound": {"packets": "7", "bytes": "700", "replay-drops": "1", "icv-failures": "2"},
                    "outbound": {"packets": "9", "bytes": "900"}
                }]
            }]}}
        }]}})
    }

    #[test]
    fn ikev2_sa_lists_each_ike_sa_with_cisco_status() {
        let sas = ike_sas(&state());
        assert_eq!(sas.len(), 1);
        let text = render_ikev2_sa(&sas);
        assert!(text.contains("192.0.2.11/500"), "{text}");
        assert!(text.contains("192.0.2.1/500"), "{text}");
        assert!(text.contains("READY"), "{text}");
        assert!(
            text.contains("aes-cbc-256/sha512/prf-sha512/ecp-256"),
            "{text}"
        );
        assert!(text.contains("remote id hub.example"), "{text}");
        assert!(text.contains("Active time: 00:01:15"), "{text}");
    }

    #[test]
    fn ipsec_sa_shows_gre_selectors_counters_and_spis() {
        let text = render_ipsec_sa(&ike_sas(&state()));
        assert!(text.contains("interface: tun0"), "{text}");
        assert!(text.contains("(192.0.2.11/255.255.255.255/47/0)"), "{text}");
        assert!(text.contains("#pkts encaps: 9"), "{text}");
        assert!(text.contains("#pkts decaps: 7"), "{text}");
        assert!(
            text.contains("#pkts replay failed: 1, #pkts verify failed: 2"),
            "{text}"
        );
        assert!(text.contains("spi: 0xC1A2B3D4"), "{text}");
        assert!(text.contains("spi: 0x0BADCAFE"), "{text}");
        assert!(text.contains("{Transport, esp}"), "{text}");
    }

    #[test]
    fn no_protection_says_so() {
        let empty = json!({});
        assert_eq!(
            render_ikev2_sa(&ike_sas(&empty)),
            " IPv4 Crypto IKEv2 SA\n\nNo IKE SA.\n"
        );
        assert_eq!(render_ipsec_sa(&ike_sas(&empty)), "No IPsec SA.\n");
    }
}
