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
}

/// A peer as `show dmvpn` lists it: the cache entries sharing one NBMA
/// address and tunnel address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Peer {
    pub interface: String,
    pub entries: usize,
    pub nbma_address: String,
    pub tunnel_address: String,
    pub state: &'static str,
    pub attributes: Vec<&'static str>,
}

/// The NHRP containers of the interfaces in a state tree, with their
/// interface names.
fn nhrp_instances(state: &Value) -> Vec<(String, &Value)> {
    let interfaces = state
        .get("ietf-interfaces:interfaces")
        .or_else(|| state.get("interfaces"))
        .and_then(|i| i.get("interface"))
        .and_then(Value::as_array);
    interfaces
        .into_iter()
        .flatten()
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
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A counter: RFC 7951 encodes 64-bit integers as strings.
fn number(value: Option<&Value>) -> Option<u64> {
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

pub fn traffic(state: &Value) -> Vec<Traffic> {
    nhrp_instances(state)
        .into_iter()
        .map(|(interface, nhrp)| {
            let counters = nhrp.get("counters").unwrap_or(&Value::Null);
            Traffic {
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

/// The peer table of `show dmvpn`: every cache entry with an NBMA address,
/// grouped by interface, NBMA address and tunnel address.
pub fn peers(state: &Value) -> Vec<Peer> {
    let nhs = nhs_states(state);
    let mut peers: Vec<Peer> = Vec::new();
    for entry in cache_entries(state) {
        let attribute = match entry.entry_type.as_str() {
            "static" => "S",
            "dynamic" => "D",
            "nhs" => "N",
            "shortcut" => "SC",
            "incomplete" => "I",
            // Local and negative entries are not peers.
            _ => continue,
        };
        let Some(nbma) = entry.nbma_address.clone() else {
            continue;
        };
        let tunnel = entry.next_hop.clone().unwrap_or_else(|| {
            let host = entry.prefix.split('/').next().unwrap_or(&entry.prefix);
            host.to_owned()
        });
        let state = match attribute {
            "I" => "NHRP",
            "N" => match nhs
                .iter()
                .find(|n| n.interface == entry.interface && n.protocol_address == tunnel)
                .map(|n| n.status.as_str())
            {
                Some("up") | None => "UP",
                Some("down") => "DOWN",
                Some(_) => "NHRP",
            },
            _ => "UP",
        };
        match peers.iter_mut().find(|p| {
            p.interface == entry.interface && p.nbma_address == nbma && p.tunnel_address == tunnel
        }) {
            Some(peer) => {
                peer.entries += 1;
                if !peer.attributes.contains(&attribute) {
                    peer.attributes.push(attribute);
                }
            }
            None => peers.push(Peer {
                interface: entry.interface.clone(),
                entries: 1,
                nbma_address: nbma,
                tunnel_address: tunnel,
                state,
                attributes: vec![attribute],
            }),
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
    }
    out
}

pub fn render_dmvpn(peers: &[Peer]) -> String {
    let mut out = String::from(
        "Legend: Attrb --> S - Static, D - Dynamic, N - NHS, SC - Shortcut, I - Incomplete\n\
         State --> UP, DOWN, NHRP (resolving or registering)\n",
    );
    let mut interfaces: Vec<&str> = peers.iter().map(|p| p.interface.as_str()).collect();
    interfaces.dedup();
    for interface in interfaces {
        let of_interface: Vec<&Peer> = peers.iter().filter(|p| p.interface == interface).collect();
        out.push_str(&format!(
            "\nInterface: {interface}, NHRP Peers: {}\n\n",
            of_interface.len()
        ));
        let rows: Vec<Vec<String>> = of_interface
            .iter()
            .map(|p| {
                vec![
                    p.entries.to_string(),
                    p.nbma_address.clone(),
                    p.tunnel_address.clone(),
                    p.state.to_owned(),
                    // dmvpnd does not keep peer up/down times yet.
                    "-".to_owned(),
                    p.attributes.join(","),
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
    fn peers_group_entries_by_nbma_and_take_nhs_status() {
        let peers = peers(&state());
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].state, "NHRP");
        assert_eq!(peers[0].attributes, vec!["N"]);
        assert_eq!(peers[1].entries, 2);
        assert_eq!(peers[1].tunnel_address, "10.0.0.3");
        assert_eq!(peers[1].attributes, vec!["SC"]);
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
