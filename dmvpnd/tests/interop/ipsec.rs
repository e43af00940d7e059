//! The IPsec side of the interop scenarios `frr-hub-ipsec` and
//! `frr-spokes-ipsec`: our tunnel protection profile, what our state says
//! about IKE and child SAs, and what strongSwan's charon and the guest's
//! kernel (xfrm) say about theirs. Used by interop_ipsec.rs only.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::Guest;
use crate::common::netns::number;

/// The pre-shared key of every charon in the guest (guest/ipsec.sh).
pub const PSK: &str = "dmvpn-interop-psk";

/// Cisco IOS's IKEv2 smart default (AES-CBC-256, SHA-512, DH group 19) and
/// its default transform set `esp-aes esp-sha-hmac`, as the guest's
/// charons' only proposals (settings of up.sh).
pub const CISCO_DEFAULTS: [(&str, &str); 2] = [
    ("DMVPN_INTEROP_IKE_PROPOSALS", "aes256-sha512-ecp256"),
    ("DMVPN_INTEROP_ESP_PROPOSALS", "aes128-sha1"),
];

/// `config` (interop::config) protected by profile `dmvpn`: IKEv2 with
/// pre-shared key `psk` for any peer, our default proposals (the Cisco and
/// strongSwan defaults, dmvpn-ipsec.yang), ESP transport mode, dead peer
/// detection after `dpd` seconds of silence.
pub fn protected(mut config: Value, psk: &str, dpd: u32) -> Value {
    config["dmvpn-ipsec:ipsec"] = json!({"profile": [{
        "name": "dmvpn",
        "ike": {
            "dpd-interval": dpd,
            "pre-shared-key": [{"name": "any", "any": [null], "secret": psk}]
        }
    }]});
    config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["dmvpn-ipsec:protection"] =
        json!({"profile": "dmvpn"});
    config
}

/// `config` protected by profile `dmvpn` authenticating with `name`'s
/// certificate in `pki` (common::pki::make_pki) and trusting its CA, our
/// default proposals, dead peer detection after `dpd` seconds of silence.
pub fn certified(mut config: Value, pki: &Path, name: &str, dpd: u32) -> Value {
    let file = |f: String| pki.join(f).display().to_string();
    config["dmvpn-ipsec:ipsec"] = json!({"profile": [{
        "name": "dmvpn",
        "ike": {
            "dpd-interval": dpd,
            "certificate": {
                "certificate": file(format!("{name}.pem")),
                "private-key": file(format!("{name}.key")),
                "ca": file("ca.pem".to_owned()),
            }
        }
    }]});
    config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["dmvpn-ipsec:protection"] =
        json!({"profile": "dmvpn"});
    config
}

/// The path of the pre-shared key of [`protected`] (a commit changes it).
pub const PSK_PATH: &str =
    "/dmvpn-ipsec:ipsec/profile[name='dmvpn']/ike/pre-shared-key[name='any']/secret";

/// The `protection` state node of our tunnel.
pub fn protection(state: &Value) -> &Value {
    &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["dmvpn-ipsec:protection"]
}

/// Our IKE SAs with `peer` (NBMA address), any state.
pub fn ike_sas<'a>(state: &'a Value, peer: &str) -> Vec<&'a Value> {
    protection(state)["ike-sa"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|sa| sa["peer-address"] == peer)
        .collect()
}

/// Our established IKE SA with `peer` that has a child SA.
pub fn established_with<'a>(state: &'a Value, peer: &str) -> Option<&'a Value> {
    ike_sas(state, peer).into_iter().find(|sa| {
        sa["state"] == "established" && sa["child-sa"].as_array().is_some_and(|c| !c.is_empty())
    })
}

/// The child SAs of `sa`.
pub fn children(sa: &Value) -> Vec<&Value> {
    sa["child-sa"].as_array().into_iter().flatten().collect()
}

/// Packets through a child SA: (in, out).
pub fn child_packets(child: &Value) -> (u64, u64) {
    (
        number(&child["inbound"]["packets"]),
        number(&child["outbound"]["packets"]),
    )
}

/// A counter of `protection/statistics`.
pub fn statistic(state: &Value, name: &str) -> u64 {
    number(&protection(state)["statistics"][name])
}

/// An SPI of our state (8 hexadecimal digits).
pub fn spi(child: &Value, leaf: &str) -> u32 {
    u32::from_str_radix(child[leaf].as_str().unwrap_or_default(), 16)
        .unwrap_or_else(|_| panic!("no {leaf} in {child}"))
}

/// One ESP SA of a guest router's kernel (`ip -s xfrm state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XfrmSa {
    pub src: String,
    pub dst: String,
    pub spi: u32,
    pub packets: u64,
}

/// The ESP SAs of `text` (`ip -s xfrm state`): a block per SA that starts
/// with `src A dst B`, has `proto esp spi 0x...`, and after
/// `lifetime current:` a line `N(bytes), M(packets)`.
pub fn parse_xfrm_states(text: &str) -> Vec<XfrmSa> {
    let mut sas = Vec::new();
    let mut current: Option<XfrmSa> = None;
    let mut counters_next = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["src", src, "dst", dst, ..] => {
                sas.extend(current.take());
                current = Some(XfrmSa {
                    src: (*src).to_owned(),
                    dst: (*dst).to_owned(),
                    spi: 0,
                    packets: 0,
                });
            }
            ["proto", "esp", "spi", spi, ..] => {
                let hex = spi.split('(').next().unwrap_or_default();
                if let Some(sa) = &mut current {
                    sa.spi = u32::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0);
                }
            }
            ["lifetime", "current:"] => counters_next = true,
            [_, packets] if counters_next => {
                counters_next = false;
                if let Some(sa) = &mut current {
                    sa.packets = packets.trim_end_matches("(packets)").parse().unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    sas.extend(current);
    sas.retain(|sa| sa.spi != 0);
    sas
}

/// What strongSwan in the guest says.
impl Guest {
    /// `swanctl --list-sas` of `node`'s charon.
    pub fn charon_sas(&self, node: &str) -> String {
        self.exec(&format!("bash /mnt/share/guest/ipsec.sh sas {node}"))
    }

    /// The ESP SAs in `node`'s kernel, with their packet counters.
    pub fn xfrm_states(&self, node: &str) -> Vec<XfrmSa> {
        parse_xfrm_states(&self.exec(&format!("ip -n {node} -s xfrm state")))
    }

    /// Lines of `node`'s charon log that match the extended regular
    /// expression `pattern`.
    pub fn charon_log(&self, node: &str, pattern: &str) -> Vec<String> {
        let (_, text) = self.try_exec(&format!(
            "grep -E '{pattern}' /mnt/share/out/charon-{node}.log"
        ));
        text.lines().map(str::to_owned).collect()
    }

    /// Kills `node`'s charon with SIGKILL and flushes the node's kernel SAs
    /// and policies: the peer vanishes without a Delete, as in a power cut.
    pub fn kill_charon(&self, node: &str) {
        self.exec(&format!(
            "kill -9 $(cat /run/ipsec-{node}/charon.pid) && ip -n {node} xfrm state flush && \
             ip -n {node} xfrm policy flush"
        ));
    }

    /// Starts `node`'s charon again (with an initiating connection towards
    /// `peer`, if given).
    pub fn start_charon(&self, node: &str, peer: Option<&str>) {
        self.exec(&format!(
            "bash /mnt/share/guest/ipsec.sh start {node} {}",
            peer.unwrap_or_default()
        ));
    }
}

/// The capture of the guest's underlay bridge (GRE, ESP, IKE, NAT-T).
pub fn underlay_pcap() -> PathBuf {
    let work =
        std::env::var("DMVPN_INTEROP_DIR").unwrap_or_else(|_| "/var/tmp/dmvpn-interop".to_owned());
    PathBuf::from(work).join("share/out/underlay.pcap")
}

/// How many packets of the underlay capture match the pcap `filter`.
/// tcpdump writes it packet by packet (-U): a packet being written while
/// this reads is the only thing that can be missing.
pub fn captured(filter: &str) -> usize {
    let out = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(underlay_pcap())
        .arg(filter)
        .output()
        .unwrap_or_else(|e| panic!("tcpdump: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reading from file"),
        "tcpdump could not read {}: {stderr}",
        underlay_pcap().display()
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfrm_states_parse_with_their_counters() {
        let text = "src 192.0.2.1 dst 192.0.2.100
\tproto esp spi 0x73a05431(1939887153) reqid 1(0x00000001) mode transport
\treplay-window 0 seq 0x00000000 flag  (0x00000000)
\tlifetime current:
\t  240(bytes), 2(packets)
\t  add 2026-12-06 07:19:41 use 2026-12-06 07:19:41
src 192.0.2.100 dst 192.0.2.1
\tproto esp spi 0xc91963e5(3373884389) reqid 1(0x00000001) mode transport
\tlifetime current:
\t  312(bytes), 4(packets)
";
        assert_eq!(
            parse_xfrm_states(text),
            vec![
                XfrmSa {
                    src: "192.0.2.1".into(),
                    dst: "192.0.2.100".into(),
                    spi: 0x73a0_5431,
                    packets: 2
                },
                XfrmSa {
                    src: "192.0.2.100".into(),
                    dst: "192.0.2.1".into(),
                    spi: 0xc919_63e5,
                    packets: 4
                },
            ]
        );
    }
}
