//! Operator views of dmvpnd's state (`show ip nhrp`, `show dmvpn`, ...),
//! built from the RFC 7951 JSON of `/ietf-interfaces:interfaces` with the
//! node names of the dmvpn-nhrp module. Parsing is forgiving: a missing or
//! oddly typed leaf shows as `-` rather than failing the whole view.

use serde::Serialize;
use serde_json::Value;

/// One NHRP cache entry (dmvpn-nhrp `cache-entry`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheEntry {
    pub interface: String,
    pub prefix: String,
    #[serde(rename = "type")]
    pub entry_type: String,
    pub next_hop: Option<String>,
    pub nbma_address: Option<String>,
    pub claimed_nbma_address: Option<String>,
    pub flags: Vec<&'static str>,
    pub expires_in: Option<u64>,
}

/// One NHS as its client sees it (dmvpn-nhrp `nhs-state`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NhsState {
    pub interface: String,
    pub protocol_address: String,
    pub status: String,
    pub registrations_sent: Option<u64>,
    pub replies_received: Option<u64>,
}

/// Packet counters of one interface (dmvpn-nhrp `counters`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub interface: String,
    /// `(type, sent, received)`.
    pub messages: Vec<(String, Option<u64>, Option<u64>)>,
    /// `(reason, count)`.
    pub errors: Vec<(String, Option<u64>)>,
    /// NHRP packets the data plane dropped before NHRP saw them, its
    /// input queue full (a burst beyond what it absorbs): dmvpn-tunnel's
    /// drop reason `nhrp-queue-full`.
    pub dropped_queue_full: Option<u64>,
    /// NHRP packets the data plane dropped before NHRP saw them, over
    /// their source's budget (drop reason `nhrp-rate-limited`).
    pub dropped_over_budget: Option<u64>,
}

/// A peer as `show dmvpn` lists it: one row of dmvpn-tunnel's `peer` list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Peer {
    pub interface: String,
    pub entries: Option<u64>,
    pub nbma_address: String,
    pub tunnel_address: Option<String>,
    pub claimed_nbma_address: Option<String>,
    /// `up`, `nhrp` or `down`.
    pub state: String,
    pub up_time: Option<u64>,
    pub expires_in: Option<u64>,
    /// The YANG bits: `dynamic`, `static`, `nhs`, `shortcut`, `nat`.
    pub attributes: Vec<String>,
    pub packets_in: Option<u64>,
    pub packets_out: Option<u64>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    /// `(reason, count)`.
    pub drops: Vec<(String, Option<u64>)>,
}

/// The interface list of a state tree.
pub(crate) fn interfaces(state: &Value) -> impl Iterator<Item = &Value> {
    state
        .get("ietf-interfaces:interfaces")
        .or_else(|| state.get("interfaces"))
        .and_then(|i| i.get("interface"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The NHRP containers of the interfaces in a state tree, with their
/// interface names.
fn nhrp_instances(state: &Value) -> Vec<(String, &Value)> {
    interfaces(state)
        .filter_map(|interface| {
            let nhrp = interface
                .get("dmvpn-nhrp:nhrp")
                .or_else(|| interface.get("nhrp"))?;
            Some((text(interface.get("name"))?, nhrp))
        })
        .collect()
}

/// The interfaces NHRP is configured (or runs) on.
pub fn nhrp_interfaces(tree: &Value) -> Vec<String> {
    nhrp_instances(tree)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// A leaf as text: strings as they are, numbers and booleans printed.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A counter: RFC 7951 encodes 64-bit integers as strings.
pub(crate) fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn flag(entry: &Value, name: &str) -> bool {
    matches!(entry.get(name), Some(Value::Bool(true)))
        || entry.get(name).and_then(Value::as_str) == Some("true")
}

fn list<'a>(node: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    node.get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

pub fn cache_entries(state: &Value) -> Vec<CacheEntry> {
    let mut entries = Vec::new();
    for (interface, nhrp) in nhrp_instances(state) {
        for entry in list(nhrp, "cache-entry") {
            let mut flags = Vec::new();
            for (leaf, name) in [
                ("unique", "unique"),
                ("used", "used"),
                ("authoritative", "authoritative"),
                ("nat", "nat"),
            ] {
                if flag(entry, leaf) {
                    flags.push(name);
                }
            }
            entries.push(CacheEntry {
                interface: interface.clone(),
                prefix: text(entry.get("prefix")).unwrap_or_else(|| "-".to_owned()),
                entry_type: text(entry.get("type")).unwrap_or_else(|| "-".to_owned()),
                next_hop: text(entry.get("next-hop")),
                nbma_address: text(entry.get("nbma-address")),
                claimed_nbma_address: text(entry.get("claimed-nbma-address")),
                flags,
                expires_in: number(entry.get("expires-in")),
            });
        }
    }
    entries
}

pub fn nhs_states(state: &Value) -> Vec<NhsState> {
    let mut states = Vec::new();
    for (interface, nhrp) in nhrp_instances(state) {
        for nhs in list(nhrp, "nhs-state") {
            states.push(NhsState {
                interface: interface.clone(),
                protocol_address: text(nhs.get("protocol-address"))
                    .unwrap_or_else(|| "-".to_owned()),
                status: text(nhs.get("status")).unwrap_or_else(|| "-".to_owned()),
                registrations_sent: number(nhs.get("registrations-sent")),
                replies_received: number(nhs.get("replies-received")),
            });
        }
    }
    states
}

/// A row per tunnel: one with NHRP state, or with the data plane's
/// statistics (an instance that has counted nothing has no NHRP node
/// when only its counters are asked for).
pub fn traffic(state: &Value) -> Vec<Traffic> {
    interfaces(state)
        .filter_map(|interface| {
            let nhrp = interface
                .get("dmvpn-nhrp:nhrp")
                .or_else(|| interface.get("nhrp"));
            let tunnel = interface.get("dmvpn-tunnel:tunnel");
            nhrp.or(tunnel)?;
            Some((text(interface.get("name"))?, nhrp.unwrap_or(&Value::Null)))
        })
        .map(|(interface, nhrp)| {
            let counters = nhrp.get("counters").unwrap_or(&Value::Null);
            let dropped = |reason: &str| {
                interfaces(state)
                    .filter(|i| text(i.get("name")).as_deref() == Some(interface.as_str()))
                    .filter_map(|i| i.get("dmvpn-tunnel:tunnel")?.get("statistics"))
                    .flat_map(|statistics| list(statistics, "drop"))
                    .find(|d| text(d.get("reason")).as_deref() == Some(reason))
                    .and_then(|d| number(d.get("count")))
            };
            let dropped_queue_full = dropped("nhrp-queue-full");
            let dropped_over_budget = dropped("nhrp-rate-limited");
            Traffic {
                dropped_queue_full,
                dropped_over_budget,
                interface,
                messages: list(counters, "message")
                    .map(|m| {
                        (
                            text(m.get("type")).unwrap_or_else(|| "-".to_owned()),
                            number(m.get("sent")),
                            number(m.get("received")),
                        )
                    })
                    .collect(),
                errors: list(counters, "error")
                    .map(|e| {
                        (
                            text(e.get("reason")).unwrap_or_else(|| "-".to_owned()),
                            number(e.get("count")),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Whether a tunnel can carry traffic (dmvpn-tunnel `oper-status`), as
/// `show dmvpn` heads its interface with it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TunnelStatus {
    pub interface: String,
    /// `up` or `down`.
    pub oper_status: String,
    pub source: Option<String>,
    pub down_reason: Option<String>,
}

/// The `oper-status` of every tunnel interface that reports one.
pub fn tunnels(state: &Value) -> Vec<TunnelStatus> {
    let mut tunnels = Vec::new();
    for interface in interfaces(state) {
        let (Some(name), Some(tunnel)) = (
            text(interface.get("name")),
            interface.get("dmvpn-tunnel:tunnel"),
        ) else {
            continue;
        };
        let Some(oper_status) = text(tunnel.get("oper-status")) else {
            continue;
        };
        tunnels.push(TunnelStatus {
            interface: name,
            oper_status,
            source: text(tunnel.get("source-address-in-use")),
            down_reason: text(tunnel.get("down-reason")),
        });
    }
    tunnels
}

/// One tunnel's `peer-summary` (`show dmvpn summary`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerSummary {
    pub interface: String,
    pub peers: Option<u64>,
    pub up: Option<u64>,
    pub nhrp: Option<u64>,
    pub down: Option<u64>,
}

/// The `peer-summary` of every tunnel interface in a state tree.
pub fn peer_summaries(state: &Value) -> Vec<PeerSummary> {
    (interfaces(state))
        .filter_map(|interface| {
            let summary = interface
                .get("dmvpn-tunnel:tunnel")
                .or_else(|| interface.get("tunnel"))?
                .get("peer-summary")?;
            Some(PeerSummary {
                interface: text(interface.get("name"))?,
                peers: number(summary.get("peers")),
                up: number(summary.get("up")),
                nhrp: number(summary.get("nhrp")),
                down: number(summary.get("down")),
            })
        })
        .collect()
}

/// `show dmvpn summary`: a line per tunnel, as the summary line of Cisco's
/// `show dmvpn detail`.
pub fn render_dmvpn_summary(summaries: &[PeerSummary]) -> String {
    let count = |n: Option<u64>| n.unwrap_or(0);
    (summaries.iter())
        .map(|s| {
            format!(
                "Interface: {}, NHRP Peers: {} (UP {}, NHRP {}, DOWN {})\n",
                s.interface,
                count(s.peers),
                count(s.up),
                count(s.nhrp),
                count(s.down)
            )
        })
        .collect()
}

/// The peer table of `show dmvpn`: dmvpn-tunnel's `peer` list of every
/// interface.
pub fn peers(state: &Value) -> Vec<Peer> {
    let mut peers = Vec::new();
    for interface in interfaces(state) {
        let Some(name) = text(interface.get("name")) else {
            continue;
        };
        let Some(tunnel) = interface
            .get("dmvpn-tunnel:tunnel")
            .or_else(|| interface.get("tunnel"))
        else {
            continue;
        };
        for peer in list(tunnel, "peer") {
            let Some(nbma) = text(peer.get("nbma-address")) else {
                continue;
            };
            let counters = peer.get("counters").cloned().unwrap_or(Value::Null);
            let count = |leaf: &str| number(counters.get(leaf));
            peers.push(Peer {
                interface: name.clone(),
                entries: number(peer.get("entries")),
                nbma_address: nbma,
                tunnel_address: text(peer.get("tunnel-address")),
                claimed_nbma_address: text(peer.get("claimed-nbma-address")),
                state: text(peer.get("state")).unwrap_or_else(|| "-".to_owned()),
                up_time: number(peer.get("up-time")),
                expires_in: number(peer.get("expires-in")),
                attributes: text(peer.get("attributes"))
                    .map(|bits| bits.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default(),
                packets_in: count("packets-in"),
                packets_out: count("packets-out"),
                bytes_in: count("bytes-in"),
                bytes_out: count("bytes-out"),
                drops: list(&counters, "drop")
                    .filter_map(|d| Some((text(d.get("reason"))?, number(d.get("count")))))
                    .collect(),
            });
        }
    }
    peers
}

/// Seconds as Cisco prints timers: `hh:mm:ss`, days as `1d02h`.
pub fn duration(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    if days > 0 {
        format!("{days}d{:02}h", rest / 3600)
    } else {
        format!(
            "{:02}:{:02}:{:02}",
            rest / 3600,
            (rest % 3600) / 60,
            rest % 60
        )
    }
}

/// A text table with left-aligned columns separated by two spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (cell, width) in cells.zip(&widths) {
            out.push_str(&format!("{cell:<width$}  "));
        }
        format!("{}\n", out.trim_end())
    };
    let mut out = line(&mut header.iter().copied());
    out.push_str(&line(
        &mut widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    ));
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub fn render_cache(entries: &[CacheEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.interface.clone(),
                e.prefix.clone(),
                or_dash(e.next_hop.as_ref()),
                match (&e.nbma_address, &e.claimed_nbma_address) {
                    (Some(nbma), Some(claimed)) => format!("{nbma} (claimed {claimed})"),
                    (nbma, _) => or_dash(nbma.as_ref()),
                },
                e.entry_type.clone(),
                if e.flags.is_empty() {
                    "-".to_owned()
                } else {
                    e.flags.join(",")
                },
                e.expires_in.map_or_else(|| "never".to_owned(), duration),
            ]
        })
        .collect();
    table(
        &[
            "Interface",
            "Target",
            "Via",
            "NBMA",
            "Type",
            "Flags",
            "Expires",
        ],
        &rows,
    )
}

pub fn render_nhs(states: &[NhsState]) -> String {
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|n| {
            vec![
                n.interface.clone(),
                n.protocol_address.clone(),
                n.status.clone(),
                or_dash(n.registrations_sent),
                or_dash(n.replies_received),
            ]
        })
        .collect();
    table(
        &["Interface", "NHS", "Status", "Requests", "Replies"],
        &rows,
    )
}

pub fn render_traffic(all: &[Traffic]) -> String {
    let mut out = String::new();
    for traffic in all {
        out.push_str(&format!("{}: NHRP traffic\n", traffic.interface));
        let rows: Vec<Vec<String>> = traffic
            .messages
            .iter()
            .map(|(kind, sent, received)| vec![kind.clone(), or_dash(*sent), or_dash(*received)])
            .collect();
        out.push_str(&table(&["Message", "Sent", "Received"], &rows));
        if !traffic.errors.is_empty() {
            let rows: Vec<Vec<String>> = traffic
                .errors
                .iter()
                .map(|(reason, count)| vec![reason.clone(), or_dash(*count)])
                .collect();
            out.push_str(&table(&["Error", "Count"], &rows));
        }
        if let Some(dropped) = traffic.dropped_queue_full {
            out.push_str(&format!(
                "Dropped before NHRP (input queue full): {dropped}\n"
            ));
        }
        if let Some(dropped) = traffic.dropped_over_budget {
            out.push_str(&format!(
                "Dropped before NHRP (over the source's budget): {dropped}\n"
            ));
        }
    }
    out
}

/// Cisco's letters for the attributes (`N` is NATed there too; `H` and
/// `T` are ours: Cisco shows the NHS as a static entry and the shortcut as
/// an installed route, T1).
fn attribute_letter(bit: &str) -> &str {
    match bit {
        "dynamic" => "D",
        "static" => "S",
        "nhs" => "H",
        "shortcut" => "T",
        "nat" => "N",
        other => other,
    }
}

pub fn render_dmvpn(peers: &[Peer], tunnels: &[TunnelStatus]) -> String {
    let mut out = String::from(
        "Legend: Attrb --> S - Static, D - Dynamic, H - NHS, T - Shortcut, N - NATed\n\
         State --> UP, DOWN, NHRP (registering or resolving)\n",
    );
    let mut names: Vec<&str> = (peers.iter().map(|p| p.interface.as_str()))
        .chain(tunnels.iter().map(|t| t.interface.as_str()))
        .collect();
    names.sort();
    names.dedup();
    for interface in names {
        let of_interface: Vec<&Peer> = peers.iter().filter(|p| p.interface == interface).collect();
        out.push_str(&format!(
            "\nInterface: {interface}, NHRP Peers: {}\n",
            of_interface.len()
        ));
        match tunnels.iter().find(|t| t.interface == interface) {
            Some(TunnelStatus {
                source: Some(source),
                ..
            }) => out.push_str(&format!("Tunnel source: {source}, line protocol up\n")),
            Some(tunnel) => out.push_str(&format!(
                "Tunnel source: none, line protocol DOWN ({})\n",
                tunnel.down_reason.as_deref().unwrap_or("no reason given")
            )),
            None => {}
        }
        out.push('\n');
        if of_interface.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = of_interface
            .iter()
            .map(|p| {
                let attributes: Vec<&str> =
                    p.attributes.iter().map(|a| attribute_letter(a)).collect();
                vec![
                    or_dash(p.entries),
                    p.nbma_address.clone(),
                    or_dash(p.tunnel_address.as_ref()),
                    p.state.to_uppercase(),
                    p.up_time.map_or_else(|| "never".to_owned(), duration),
                    match attributes.is_empty() {
                        true => "-".to_owned(),
                        false => attributes.join(","),
                    },
                    or_dash(p.packets_in),
                    or_dash(p.packets_out),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "# Ent",
                "Peer NBMA Addr",
                "Peer Tunnel Add",
                "State",
                "UpDn Tm",
                "Attrb",
                "Pkts In",
                "Pkts Out",
            ],
            &rows,
        ));
    }
    out
}

/// Seconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss` UTC.
pub fn utc_date(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    let rest = seconds % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> Value {
        json!({"ietf-interfaces:interfaces": {"interface": [{
            "name": "tun0",
            "dmvpn-nhrp:nhrp": {
                "cache-entry": [
                    {"prefix": "10.0.0.1/32", "type": "nhs", "next-hop": "10.0.0.1",
                     "nbma-address": "192.0.2.1", "unique": true},
                    {"prefix": "10.0.0.3/32", "type": "shortcut", "next-hop": "10.0.0.3",
                     "nbma-address": "192.0.2.3", "expires-in": 7000},
                    {"prefix": "10.1.3.0/24", "type": "shortcut", "next-hop": "10.0.0.3",
                     "nbma-address": "192.0.2.3", "expires-in": 7000},
                    {"prefix": "10.0.0.2/32", "type": "local"}
                ],
                "nhs-state": [{"protocol-address": "10.0.0.1", "status": "connecting",
                               "registrations-sent": "3", "replies-received": "0"}]
            }
        }]}})
    }

    #[test]
    fn the_peer_table_comes_from_the_tunnel_state() {
        let state = json!({"ietf-interfaces:interfaces": {"interface": [{
            "name": "tun0",
            "dmvpn-tunnel:tunnel": {"peer": [
                {"nbma-address": "192.0.2.1", "tunnel-address": "10.0.0.1", "state": "nhrp",
                 "attributes": "nhs", "entries": 1},
                {"nbma-address": "198.51.100.3", "tunnel-address": "10.0.0.3", "state": "up",
                 "up-time": 3725, "attributes": "dynamic nat", "entries": 2,
                 "claimed-nbma-address": "10.9.9.3",
                 "counters": {"packets-in": "12", "packets-out": "7",
                              "drop": [{"reason": "wrong-key", "count": "3"}]}}
            ]}
        }]}});
        let peers = peers(&state);
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].state, "nhrp");
        assert_eq!(peers[1].attributes, ["dynamic", "nat"]);
        assert_eq!(peers[1].drops, [("wrong-key".to_owned(), Some(3))]);
        let tunnels = [TunnelStatus {
            interface: "dmvpn0".to_owned(),
            oper_status: "down".to_owned(),
            source: None,
            down_reason: Some("eth1 has no IPv4 address".to_owned()),
        }];
        let text = render_dmvpn(&peers, &tunnels);
        assert!(
            text.contains("line protocol DOWN (eth1 has no IPv4 address)"),
            "{text}"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(
            rows.contains(&vec![
                "1",
                "192.0.2.1",
                "10.0.0.1",
                "NHRP",
                "never",
                "H",
                "-",
                "-"
            ]),
            "{text}"
        );
        assert!(
            rows.contains(&vec![
                "2",
                "198.51.100.3",
                "10.0.0.3",
                "UP",
                "01:02:05",
                "D,N",
                "12",
                "7"
            ]),
            "{text}"
        );
    }

    #[test]
    fn counters_encoded_as_strings_are_read() {
        let nhs = nhs_states(&state());
        assert_eq!(nhs[0].registrations_sent, Some(3));
    }

    #[test]
    fn garbage_state_gives_empty_views() {
        for garbage in [
            json!(null),
            json!([]),
            json!({"ietf-interfaces:interfaces": 3}),
        ] {
            assert!(cache_entries(&garbage).is_empty());
            assert!(peers(&garbage).is_empty());
            assert!(traffic(&garbage).is_empty());
        }
    }

    #[test]
    fn timers_and_dates_print_like_a_router() {
        assert_eq!(duration(7199), "01:59:59");
        assert_eq!(duration(93_600), "1d02h");
        assert_eq!(utc_date(0), "1970-01-01 00:00:00");
        assert_eq!(utc_date(1_795_615_650), "2026-11-25 14:07:30");
    }
}
