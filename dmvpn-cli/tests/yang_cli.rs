//! The schema-driven CLI as a script or `-c` runs it (no terminal):
//! abbreviations, `?`, `show state` by node names, and the running
//! configuration as commands pasted back into configure mode.

#[allow(dead_code)] // Not every helper of the fake is used here.
mod fake_server;

use dmvpn_api::v1::get_request::DataType;
use fake_server::{Call, Fake, FakeServer};

/// A hub: the interface with its address, the tunnel, NHRP with
/// multicast to two underlay addresses, and an IPsec profile.
const HUB: &str = r#"{
  "ietf-interfaces:interfaces": {"interface": [
    {
      "name": "tun0",
      "description": "DMVPN hub, site A",
      "type": "dmvpn-tunnel:mgre",
      "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.1", "prefix-length": 24}]},
      "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.1", "gre-key": 42},
      "dmvpn-nhrp:nhrp": {
        "network-id": 1,
        "holding-time": 300,
        "redirect": true,
        "authentication": "s3cret",
        "multicast": {"dynamic": true, "nbma-address": ["192.0.2.9", "192.0.2.10"]}
      }
    }
  ]}
}"#;

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

fn hub_server() -> FakeServer {
    FakeServer::start(Fake {
        config: HUB.to_owned(),
        state: r#"{"ietf-interfaces:interfaces": {"interface": [{"name": "tun0"}]}}"#.to_owned(),
        apply_commits: true,
        ..Fake::default()
    })
}

#[test]
fn running_config_as_commands_pastes_back_to_the_same_config() {
    let hub = hub_server();
    for form in ["cli", "set"] {
        let out = hub.one_shot(&[&format!("show running-config {form}")]);
        assert_success(&out);
        let commands = stdout(&out);
        assert!(
            commands.contains("description \"DMVPN hub, site A\""),
            "{commands}"
        );
        // Into a daemon with nothing configured, through the shell.
        let empty = FakeServer::start(Fake {
            apply_commits: true,
            ..Fake::default()
        });
        let out = empty.shell(&format!("configure\n{commands}commit pasted\n"));
        assert_success(&out);
        assert_eq!(empty.running(), hub.running(), "{form}:\n{commands}");
        assert_eq!(empty.commits().len(), 1);
    }
}

#[test]
fn abbreviations_run_the_same_commands() {
    let server = hub_server();
    for (short, full) in [
        ("sh dm", "show dmvpn"),
        ("sh ip nh tr", "show ip nhrp traffic"),
        ("sh run cl", "show running-config cli"),
        ("sh transactions", "show transactions"),
    ] {
        let short_out = server.one_shot(&[short]);
        assert_success(&short_out);
        let full_out = server.one_shot(&[full]);
        assert_eq!(stdout(&short_out), stdout(&full_out), "{short}");
    }
}

#[test]
fn an_ambiguous_abbreviation_names_the_candidates_and_sends_nothing() {
    let server = hub_server();
    let out = server.one_shot(&["sh t"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "% ambiguous command: 't' could be transaction, transactions\n"
    );
    assert!(server.calls().is_empty());
    let out = server.one_shot(&["configure", "interfaces interface tun0 nhrp re 5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("% ambiguous: 're' could be "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn question_mark_lists_what_may_follow() {
    let server = hub_server();
    let out = server.one_shot(&["show ?"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("  dmvpn ") && text.contains("DMVPN peers and tunnel status"),
        "{text}"
    );
    assert!(text.contains("  running-config "), "{text}");
    let out = server.one_shot(&[
        "configure",
        "interfaces interface tun0 nhrp",
        "registration-interval ?",
        "?",
        "multicast ?",
    ]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("<uint16, range 1..65535, units seconds>  Interval between two Registration Requests to an NHS."),
        "{text}"
    );
    // At the nhrp level: its leaves with their descriptions, and `exit`.
    assert!(text.contains("  network-id "), "{text}");
    assert!(text.contains("  exit "), "{text}");
    // `multicast ?`: its children, and that the line may end (enter it).
    assert!(text.contains("  dynamic "), "{text}");
    assert!(text.ends_with("  <cr>\n"), "{text}");
    // Nothing was read but the base of configure mode.
    assert_eq!(server.calls().len(), 1);
}

#[test]
fn show_state_takes_node_names() {
    let server = hub_server();
    let out = server.one_shot(&[
        "sh st interf int tun0 nh",
        "show state interfaces interface",
    ]);
    assert_success(&out);
    let paths: Vec<String> = (server.calls().into_iter())
        .filter_map(|call| match call {
            Call::GetStream(get) if get.r#type() == DataType::State => Some(get.path),
            _ => None,
        })
        .collect();
    assert_eq!(
        paths,
        [
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp",
            "/ietf-interfaces:interfaces/interface",
        ]
    );
}

#[test]
fn set_and_no_take_node_names_and_stay_where_they_are() {
    let server = hub_server();
    let out = server.shell(
        "configure\n\
         interfaces interface tun0\n\
         no nhrp redirect\n\
         set nhrp holding-time 600\n\
         no nhrp multicast nbma-address 192.0.2.9\n\
         show changes\n\
         commit\n",
    );
    assert_success(&out);
    let nhrp = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp";
    assert_eq!(
        stdout(&out),
        format!(
            "delete {nhrp}/redirect\n\
             set {nhrp}/holding-time 600\n\
             delete {nhrp}/multicast/nbma-address[.='192.0.2.9']\n\
             Commit complete (transaction 7).\n"
        )
    );
    let running = server.running();
    let nhrp = &running["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"];
    assert_eq!(nhrp["holding-time"], 600);
    assert!(nhrp.get("redirect").is_none());
    assert_eq!(
        nhrp["multicast"]["nbma-address"],
        serde_json::json!(["192.0.2.10"])
    );
}
