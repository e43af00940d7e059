//! dmvpn-cli as an operator runs it against dmvpnd, here a fake server that
//! records what the client sends.

mod fake_server;

use dmvpn_api::v1::path_edit::Kind;
use dmvpn_api::v1::{ExecuteRequest, PathEdit, RollbackRequest, Transaction, commit_request};
use fake_server::{Call, Fake, FakeServer};
use tonic::Code;

const CONFIG: &str = r#"{
  "ietf-interfaces:interfaces": {
    "interface": [
      {
        "name": "tun0",
        "type": "dmvpn-tunnel:mgre",
        "dmvpn-nhrp:nhrp": {
          "network-id": 1
        }
      }
    ]
  }
}"#;

const NHRP: &str = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp";

/// State as dmvpnd answers it, with the node names of dmvpn-nhrp.yang
/// (64-bit counters as strings, RFC 7951).
const STATE: &str = r#"{
  "ietf-interfaces:interfaces": {
    "interface": [
      {
        "name": "tun0",
        "dmvpn-nhrp:nhrp": {
          "cache-entry": [
            {"prefix": "10.0.0.1/32", "type": "nhs", "next-hop": "10.0.0.1",
             "nbma-address": "192.0.2.1", "unique": true, "authoritative": true},
            {"prefix": "10.0.0.3/32", "type": "dynamic", "next-hop": "10.0.0.3",
             "nbma-address": "198.51.100.3", "claimed-nbma-address": "10.9.9.3",
             "nat": true, "used": true, "expires-in": 7135},
            {"prefix": "10.1.4.0/24", "type": "shortcut", "next-hop": "10.0.0.4",
             "nbma-address": "192.0.2.4", "expires-in": 59}
          ],
          "nhs-state": [
            {"protocol-address": "10.0.0.1", "status": "up",
             "registrations-sent": "12", "replies-received": "11"}
          ],
          "counters": {
            "message": [
              {"type": "registration-request", "sent": "12", "received": "0"},
              {"type": "resolution-reply", "sent": "1", "received": "3"}
            ],
            "error": [{"reason": "bad checksum", "count": "2"}]
          }
        },
        "dmvpn-tunnel:tunnel": {
          "statistics": {"packets-in": "40", "packets-out": "31",
                         "drop": [{"reason": "nhrp-queue-full", "count": "7"},
                                  {"reason": "nhrp-rate-limited", "count": "5"}]},
          "peer": [
            {"nbma-address": "192.0.2.1", "tunnel-address": "10.0.0.1", "state": "up",
             "up-time": 7200, "attributes": "nhs", "entries": 1,
             "counters": {"packets-in": "20", "packets-out": "11"}},
            {"nbma-address": "192.0.2.4", "tunnel-address": "10.0.0.4", "state": "up",
             "up-time": 61, "expires-in": 59, "attributes": "shortcut", "entries": 1,
             "counters": {"packets-in": "20", "packets-out": "20"}},
            {"nbma-address": "198.51.100.3", "tunnel-address": "10.0.0.3", "state": "up",
             "up-time": 65, "expires-in": 7135, "attributes": "dynamic nat", "entries": 1,
             "claimed-nbma-address": "10.9.9.3"},
            {"nbma-address": "203.0.113.9", "state": "down", "entries": 0,
             "counters": {"drop": [{"reason": "wrong-key", "count": "5"}]}}
          ],
          "peer-summary": {"peers": 4, "up": 3, "nhrp": 0, "down": 1}
        }
      }
    ]
  }
}"#;

fn fake() -> Fake {
    Fake {
        config: CONFIG.to_owned(),
        config_xml: "<interfaces xmlns=\"urn:ietf:params:xml:ns:yang:ietf-interfaces\"/>"
            .to_owned(),
        state: STATE.to_owned(),
        transactions: vec![
            Transaction {
                id: 1,
                date: 1_795_615_650,
                comment: "hub bootstrap".to_owned(),
                user: "alice".to_owned(),
            },
            Transaction {
                id: 2,
                date: 1_795_615_710,
                comment: String::new(),
                user: String::new(),
            },
        ],
        ..Fake::default()
    }
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

fn set(path: &str, value: &str) -> PathEdit {
    PathEdit {
        kind: Kind::Set as i32,
        path: path.to_owned(),
        value: value.to_owned(),
    }
}

#[test]
fn show_running_config_json_prints_the_servers_config() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show running-config json"]);
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{CONFIG}\n"));
    let Some(Call::Get(get)) = server.calls().into_iter().next() else {
        panic!("a Get was sent");
    };
    assert_eq!(get.r#type(), dmvpn_api::v1::get_request::DataType::Config);
    assert_eq!(get.encoding(), dmvpn_api::v1::Encoding::Json);
}

#[test]
fn address_reaches_the_server_over_tcp() {
    let server = FakeServer::start_tcp(fake());
    let out = server.one_shot(&["show running-config"]);
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{CONFIG}\n"));
}

#[test]
fn show_running_config_xml_asks_for_xml() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show running-config xml"]);
    assert_success(&out);
    assert!(stdout(&out).starts_with("<interfaces"), "{}", stdout(&out));
}

#[test]
fn configure_set_commit_sends_exactly_the_edits_and_comment() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&[
        "configure",
        &format!("set {NHRP}/holding-time 600"),
        &format!("delete {NHRP}/authentication"),
        "commit shorter holding time",
    ]);
    assert_success(&out);
    assert!(stdout(&out).contains("Commit complete (transaction 7)"));
    let commits = server.commits();
    assert_eq!(commits.len(), 1);
    let commit = &commits[0];
    assert_eq!(commit.operation(), commit_request::Operation::Change);
    assert_eq!(commit.comment, "shorter holding time");
    assert_eq!(commit.confirmed_timeout, 0);
    assert_eq!(
        commit.edits,
        vec![
            set(&format!("{NHRP}/holding-time"), "600"),
            PathEdit {
                kind: Kind::Delete as i32,
                path: format!("{NHRP}/authentication"),
                value: String::new(),
            },
        ]
    );
}

#[test]
fn commit_confirmed_sends_the_timeout() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&[
        "configure",
        &format!("set {NHRP}/redirect true"),
        "commit confirmed 30 try redirect",
        "confirm",
    ]);
    assert_success(&out);
    let commits = server.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].confirmed_timeout, 30);
    assert_eq!(commits[0].comment, "try redirect");
    assert_eq!(server.calls().last(), Some(&Call::Confirm));
}

#[test]
fn a_server_error_is_printed_with_its_path_and_exits_1() {
    let message = format!("{NHRP}/holding-time: value 0 is out of range 1..65535");
    let mut fake = fake();
    fake.errors
        .insert("commit", (Code::InvalidArgument, message.clone()));
    let server = FakeServer::start(fake);
    let out = server.one_shot(&[
        "configure",
        &format!("set {NHRP}/holding-time 0"),
        "commit",
        "show transactions",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("% {message}\n"));
    // One-shot mode stops at the first failure.
    assert!(!server.calls().contains(&Call::ListTransactions));
}

#[test]
fn an_unknown_command_fails_without_calling_the_server() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show runing-config"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("% unknown command"),
        "{}",
        stderr(&out)
    );
    assert!(server.calls().is_empty());
}

#[test]
fn no_server_is_an_error_naming_the_socket() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let socket = dir.path().join("absent.sock");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dmvpn-cli"))
        .arg("--socket")
        .arg(&socket)
        .args(["-c", "show running-config"])
        .output()
        .expect("dmvpn-cli runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "% cannot connect to dmvpnd at {}",
            socket.display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rollback_sends_the_transaction_id() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["rollback 3"]);
    assert_success(&out);
    assert_eq!(
        server.calls(),
        vec![Call::Rollback(RollbackRequest {
            transaction_id: 3,
            comment: String::new(),
        })]
    );
    assert!(stdout(&out).contains("transaction 8"));
}

#[test]
fn show_transactions_renders_a_table() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show transactions"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "ID  Date (UTC)           User   Comment\n\
         --  -------------------  -----  -------------\n\
         1   2026-11-25 14:07:30  alice  hub bootstrap\n\
         2   2026-11-25 14:08:30\n"
    );
}

#[test]
fn show_transaction_prints_changes_and_config() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show transaction 1"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.starts_with("Transaction 1, 2026-11-25 14:07:30 by alice: hub bootstrap\n"));
    assert!(text.contains("  + /ietf-interfaces:interfaces/interface[name='tun0']"));
    assert!(text.contains(CONFIG));
}

#[test]
fn show_ip_nhrp_renders_the_cache_from_state() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show ip nhrp"]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for column in ["Target", "Via", "NBMA", "Type", "Flags", "Expires"] {
        assert!(lines[0].contains(column), "{}", lines[0]);
    }
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(lines[2]),
        [
            "tun0",
            "10.0.0.1/32",
            "10.0.0.1",
            "192.0.2.1",
            "nhs",
            "unique,authoritative",
            "never"
        ]
    );
    assert_eq!(
        words(lines[3]),
        [
            "tun0",
            "10.0.0.3/32",
            "10.0.0.3",
            "198.51.100.3",
            "(claimed",
            "10.9.9.3)",
            "dynamic",
            "used,nat",
            "01:58:55"
        ]
    );
    let Some(Call::GetStream(get)) = server.calls().into_iter().next() else {
        panic!("a GetStream was sent");
    };
    assert_eq!(
        get.path,
        "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/cache-entry"
    );
    assert_eq!(get.r#type(), dmvpn_api::v1::get_request::DataType::State);
}

/// The paths of the state requests the CLI sent.
fn state_paths(server: &FakeServer) -> Vec<String> {
    (server.calls().into_iter())
        .filter_map(|call| match call {
            Call::GetStream(get) | Call::Get(get)
                if get.r#type() == dmvpn_api::v1::get_request::DataType::State =>
            {
                Some(get.path)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn each_show_command_asks_for_what_it_shows_only() {
    let server = FakeServer::start(fake());
    let interface = "/ietf-interfaces:interfaces/interface";
    for (command, expected) in [
        (
            "show ip nhrp traffic",
            format!(
                "{interface}/dmvpn-nhrp:nhrp/counters/message \
                 | {interface}/dmvpn-nhrp:nhrp/counters/error \
                 | {interface}/dmvpn-tunnel:tunnel/statistics"
            ),
        ),
        (
            "show ip nhrp nhs",
            format!("{interface}/dmvpn-nhrp:nhrp/nhs-state"),
        ),
        (
            "show ip nhrp shortcut",
            format!("{interface}/dmvpn-nhrp:nhrp/cache-entry"),
        ),
        (
            "show dmvpn",
            format!(
                "{interface}/dmvpn-tunnel:tunnel/peer | {interface}/dmvpn-tunnel:tunnel/oper-status \
                 | {interface}/dmvpn-tunnel:tunnel/source-address-in-use \
                 | {interface}/dmvpn-tunnel:tunnel/down-reason"
            ),
        ),
        (
            "show crypto ipsec sa",
            format!("{interface}/dmvpn-tunnel:tunnel/dmvpn-ipsec:protection"),
        ),
        (
            "show dmvpn summary",
            format!(
                "{interface}/dmvpn-tunnel:tunnel/peer-summary \
                 | {interface}/dmvpn-tunnel:tunnel/oper-status"
            ),
        ),
    ] {
        let before = state_paths(&server).len();
        assert_success(&server.one_shot(&[command]));
        assert_eq!(state_paths(&server)[before..], [expected], "{command}");
    }
    // The traffic view never asks for the cache, the peer table or the
    // per-peer counters (a row per spoke each).
    let traffic = &state_paths(&server)[0];
    assert!(!traffic.contains("cache-entry") && !traffic.contains("peer"));
}

#[test]
fn state_larger_than_a_grpc_message_is_read_whole() {
    // 40 000 peers, ~6 MB: more than tonic's 4 MiB message limit, read in
    // GetStream's 1 MiB pieces.
    let peers: Vec<String> = (0..40_000)
        .map(|i| {
            format!(
                r#"{{"nbma-address": "198.18.{}.{}", "tunnel-address": "10.0.{}.{}", "state": "up",
                  "up-time": 7200, "attributes": "dynamic", "entries": 1,
                  "counters": {{"packets-in": "20", "packets-out": "11"}}}}"#,
                i / 256,
                i % 256,
                i / 256,
                i % 256
            )
        })
        .collect();
    let state = format!(
        r#"{{"ietf-interfaces:interfaces": {{"interface": [{{"name": "tun0",
          "dmvpn-tunnel:tunnel": {{"oper-status": "up", "source-address-in-use": "192.0.2.1",
          "peer": [{}]}}}}]}}}}"#,
        peers.join(",\n")
    );
    assert!(state.len() > 5_000_000, "{}", state.len());
    let server = FakeServer::start(Fake { state, ..fake() });
    let out = server.one_shot(&["show dmvpn"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("Interface: tun0, NHRP Peers: 40000"),
        "{}",
        &text[..400]
    );
    assert!(text.contains("198.18.156.63"), "the last peer is shown");
    assert_eq!(text.lines().count(), 40_000 + 8);
}

/// A part of `tun`'s peer list: the peers 198.18.0.`first`.. (`count`).
fn peer_part(tun: &str, first: u32, count: u32) -> String {
    let peers: Vec<String> = (first..first + count)
        .map(|i| {
            format!(
                r#"{{"nbma-address": "198.18.0.{i}", "tunnel-address": "10.0.0.{i}",
                  "state": "up", "up-time": 60, "attributes": "dynamic", "entries": 1}}"#
            )
        })
        .collect();
    format!(
        r#"{{"ietf-interfaces:interfaces": {{"interface": [{{"name": "{tun}",
          "dmvpn-tunnel:tunnel": {{"peer": [{}]}}}}]}}}}"#,
        peers.join(",")
    )
}

#[test]
fn show_dmvpn_and_the_cache_read_in_parts_show_every_row_once() {
    // As dmvpnd answers a page size: the tunnel nodes first, then the
    // peers a page at a time (one part cut in two pieces of 100 bytes).
    let first = r#"{"ietf-interfaces:interfaces": {"interface": [
        {"name": "tun0", "dmvpn-tunnel:tunnel": {"oper-status": "up",
           "source-address-in-use": "192.0.2.1"}},
        {"name": "tun1", "dmvpn-tunnel:tunnel": {"oper-status": "down",
           "down-reason": "no source address"}}]}}"#;
    let cache = r#"{"ietf-interfaces:interfaces": {"interface": [{"name": "tun0",
        "dmvpn-nhrp:nhrp": {"cache-entry": [
          {"prefix": "10.0.0.9/32", "type": "dynamic", "next-hop": "10.0.0.9",
           "nbma-address": "198.18.0.9"},
          {"prefix": "10.1.4.0/24", "type": "shortcut", "next-hop": "10.0.0.4",
           "nbma-address": "198.18.0.4"}]}}]}}"#;
    let server = FakeServer::start(Fake {
        parts: vec![
            first.to_owned(),
            peer_part("tun0", 1, 3),
            peer_part("tun0", 4, 2),
            peer_part("tun1", 10, 1),
            cache.to_owned(),
        ],
        piece: Some(100),
        ..fake()
    });
    let out = server.one_shot(&["show dmvpn", "show ip nhrp shortcut json"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Interface: tun0, NHRP Peers: 5"), "{text}");
    assert!(
        text.contains("Tunnel source: 192.0.2.1, line protocol up"),
        "{text}"
    );
    assert!(text.contains("Interface: tun1, NHRP Peers: 1"), "{text}");
    assert!(
        text.contains("line protocol DOWN (no source address)"),
        "{text}"
    );
    for i in [1, 2, 3, 4, 5, 10] {
        let row = format!(" 198.18.0.{i} ");
        assert_eq!(text.matches(&row).count(), 1, "{row} once: {text}");
    }
    // The peer parts carry no cache entry and the cache part no peer:
    // the shortcut view sees the one shortcut.
    assert_eq!(
        text.matches("\"prefix\": \"10.1.4.0/24\"").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("10.0.0.9/32"), "{text}");
    let paged: Vec<u32> = (server.calls().into_iter())
        .filter_map(|call| match call {
            Call::GetStream(get) => Some(get.page_size),
            _ => None,
        })
        .collect();
    assert_eq!(paged, [1000, 1000], "both views ask for parts");
}

#[test]
fn show_dmvpn_summary_counts_without_the_rows() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show dmvpn summary"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "Interface: tun0, NHRP Peers: 4 (UP 3, NHRP 0, DOWN 1)\n"
    );
}

#[test]
fn show_ip_nhrp_shortcut_json_keeps_only_shortcuts() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show ip nhrp shortcut json"]);
    assert_success(&out);
    let entries: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let entries = entries.as_array().expect("a list");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["prefix"], "10.1.4.0/24");
    assert_eq!(entries[0]["expires_in"], 59);
}

#[test]
fn show_ip_nhrp_nhs_and_traffic_render_counters() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show ip nhrp nhs", "show ip nhrp traffic"]);
    assert_success(&out);
    let text = stdout(&out);
    let words: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        words.contains(&vec!["tun0", "10.0.0.1", "up", "12", "11"]),
        "{text}"
    );
    assert!(
        words.contains(&vec!["registration-request", "12", "0"]),
        "{text}"
    );
    assert!(words.contains(&vec!["bad", "checksum", "2"]), "{text}");
    assert!(
        text.contains("Dropped before NHRP (input queue full): 7"),
        "{text}"
    );
    assert!(
        text.contains("Dropped before NHRP (over the source's budget): 5"),
        "{text}"
    );
}

#[test]
fn show_dmvpn_lists_peers_with_attributes() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["show dmvpn"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Interface: tun0, NHRP Peers: 4"), "{text}");
    let words: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in [
        [
            "1",
            "192.0.2.1",
            "10.0.0.1",
            "UP",
            "02:00:00",
            "H",
            "20",
            "11",
        ],
        [
            "1",
            "192.0.2.4",
            "10.0.0.4",
            "UP",
            "00:01:01",
            "T",
            "20",
            "20",
        ],
        [
            "1",
            "198.51.100.3",
            "10.0.0.3",
            "UP",
            "00:01:05",
            "D,N",
            "-",
            "-",
        ],
        ["0", "203.0.113.9", "-", "DOWN", "never", "-", "-", "-"],
    ] {
        assert!(words.contains(&row.to_vec()), "{row:?} in\n{text}");
    }
    let out = server.one_shot(&["show dmvpn json"]);
    assert_success(&out);
    let peers: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(peers[3]["drops"][0][0], "wrong-key");
    assert_eq!(peers[3]["drops"][0][1], 5);
}

#[test]
fn clear_ip_nhrp_executes_clear_cache_per_interface() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&["clear ip nhrp tun0", "clear ip nhrp"]);
    assert_success(&out);
    let executed: Vec<serde_json::Value> = server
        .calls()
        .into_iter()
        .filter_map(|call| match call {
            Call::Execute(ExecuteRequest { data: Some(data) }) => {
                Some(serde_json::from_str(&data.data).expect("JSON input"))
            }
            _ => None,
        })
        .collect();
    let input = serde_json::json!({"dmvpn-nhrp:clear-cache": {"interface": "tun0"}});
    // Once by name, once for every NHRP interface of the configuration.
    assert_eq!(executed, vec![input.clone(), input]);
}

#[test]
fn validate_and_show_candidate_use_the_merged_tree() {
    let server = FakeServer::start(fake());
    let out = server.one_shot(&[
        "configure",
        &format!("set {NHRP}/holding-time 600"),
        "show candidate",
        "show changes",
        "validate",
        "discard",
        "show changes",
    ]);
    assert_success(&out);
    let expected = serde_json::json!({"ietf-interfaces:interfaces": {"interface": [{
        "name": "tun0", "type": "dmvpn-tunnel:mgre",
        "dmvpn-nhrp:nhrp": {"network-id": 1, "holding-time": 600}
    }]}});
    let validated = server
        .calls()
        .into_iter()
        .find_map(|call| match call {
            Call::Validate(v) => v.config,
            _ => None,
        })
        .expect("a Validate was sent");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&validated.data).expect("JSON"),
        expected
    );
    let text = stdout(&out);
    assert!(text.contains("\"holding-time\": 600"), "{text}");
    assert!(
        text.ends_with(&format!(
            "set {NHRP}/holding-time 600\nValidation complete.\n"
        )),
        "{text}"
    );
    assert!(server.commits().is_empty());
}

#[test]
fn the_shell_runs_a_script_from_stdin() {
    let server = FakeServer::start(fake());
    let script = format!(
        "show running-config\n\
         configure\n\
         set {NHRP}/holding-time 900\n\
         show changes\n\
         commit \"from the shell\"\n\
         end\n\
         show transactions\n\
         exit\n\
         show running-config\n"
    );
    let out = server.shell(&script);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.starts_with(CONFIG), "{text}");
    assert!(
        text.contains(&format!("set {NHRP}/holding-time 900\n")),
        "{text}"
    );
    assert!(text.contains("hub bootstrap"), "{text}");
    let commits = server.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].comment, "from the shell");
    assert_eq!(
        commits[0].edits,
        vec![set(&format!("{NHRP}/holding-time"), "900")]
    );
    // Nothing after `exit` runs.
    let gets = server
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Get(_)))
        .count();
    // running-config, configure's base, and the base after the commit.
    assert_eq!(gets, 3);
}

#[test]
fn the_shell_reports_errors_and_goes_on() {
    let mut fake = fake();
    fake.errors.insert(
        "rollback",
        (Code::NotFound, "transaction 99 does not exist".to_owned()),
    );
    let server = FakeServer::start(fake);
    let out = server.shell("rollback 99\nshow transactions\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "% transaction 99 does not exist\n");
    assert!(stdout(&out).contains("hub bootstrap"));
}

/// `dmvpn-cli -c 'show running-config' | head` with the reader gone before
/// the first line: a quiet end with the status a shell shows for SIGPIPE,
/// never a panic.
#[test]
fn a_closed_output_ends_the_command_quietly() {
    let server = FakeServer::start(fake());
    let mut child = server
        .command_with(&["show running-config json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
}
