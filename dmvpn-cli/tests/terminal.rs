//! The shell on a terminal (a pseudo-terminal from util-linux `script`):
//! the line editor's completion and history, which a piped stdin bypasses.

#[allow(dead_code)]
mod fake_server;

use std::io::Write;
use std::process::{Command, Stdio};

use fake_server::{Fake, FakeServer};

#[test]
fn the_terminal_shell_completes_commands_and_keeps_history() {
    // `script` (util-linux, Debian's essential bsdutils) gives the shell a
    // pseudo-terminal; scripts/setup.sh installs it if it is missing.
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "util-linux `script` is needed: run scripts/setup.sh"
    );
    let server = FakeServer::start(Fake {
        config: r#"{"dmvpn-nhrp:x": {}}"#.to_owned(),
        ..Fake::default()
    });
    let home = tempfile::tempdir().expect("temporary home");
    let cli = format!(
        "{} --socket {}",
        env!("CARGO_BIN_EXE_dmvpn-cli"),
        server.socket.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cli, "/dev/null"])
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin piped");
    // Typed a line at a time, as an operator would: a tab completes
    // `show chan` to `show changes`.
    for line in [
        "configure\r",
        "set /dmvpn-nhrp:x/y 1\r",
        "show chan\t\r",
        "end\r",
        "exit\r",
    ] {
        stdin.write_all(line.as_bytes()).expect("typed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(stdin);
    let out = child.wait_with_output().expect("the shell ends");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("dmvpn(config)# "), "{screen}");
    assert!(screen.contains("set /dmvpn-nhrp:x/y 1\r\n"), "{screen}");
    let history =
        std::fs::read_to_string(home.path().join(".dmvpn_cli_history")).expect("history saved");
    assert!(history.contains("show changes"), "{history}");
    assert!(history.contains("set /dmvpn-nhrp:x/y 1"), "{history}");
}

/// Types `keys` into the shell on a pseudo-terminal, a piece at a time as
/// an operator would (a tab or `?` is acted on before the next piece
/// arrives); returns what the terminal showed.
fn terminal_session(server: &FakeServer, keys: &[&str]) -> String {
    let home = tempfile::tempdir().expect("temporary home");
    let cli = format!(
        "{} --socket {}",
        env!("CARGO_BIN_EXE_dmvpn-cli"),
        server.socket.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cli, "/dev/null"])
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin piped");
    for piece in keys {
        stdin.write_all(piece.as_bytes()).expect("typed");
        stdin.flush().expect("flushed");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    drop(stdin);
    let out = child.wait_with_output().expect("the shell ends");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The "must show" of issue 13: a hub configured from nothing with
/// hierarchical commands, abbreviations, `?` (answered without Enter) and
/// tab completion, committed confirmed and confirmed.
#[test]
fn an_operator_configures_a_hub_from_nothing() {
    let server = FakeServer::start(Fake {
        config: String::new(),
        apply_commits: true,
        ..Fake::default()
    });
    let screen = terminal_session(
        &server,
        &[
            "conf t\r",
            // Tab completes nodes; the list key is given positionally.
            "interf",
            "\t",
            "int",
            "\t",
            "tun0\r",
            "ty dmvpn-t",
            "\t",
            "\r",
            "ipv4 address 10.0.0.1 prefix-length 24\r",
            "tunnel source-address 192.0.2.1\r",
            "nh\r",
            // `?` after a partial word, then after a complete one.
            "ho?",
            "\t",
            "?",
            "300\r",
            "net 1\r",
            "red",
            "\t",
            "t",
            "\t",
            "\r",
            "multicast dynamic true\r",
            "exit\r",
            "top\r",
            // A key value completes from the candidate.
            "interfaces interface t",
            "\t",
            "\r",
            "top\r",
            "comm conf 60 hub bootstrap\r",
            "end\r",
            "confirm\r",
            "sh run cli\r",
            "exit\r",
        ],
    );
    // Where configure mode stood, in the prompt.
    assert!(
        screen.contains("dmvpn(config-interface-tun0)# "),
        "{screen}"
    );
    assert!(
        screen.contains("dmvpn(config-interface-tun0-nhrp)# "),
        "{screen}"
    );
    // `ho?`: the one node it abbreviates, with its YANG description.
    assert!(
        screen.contains("holding-time  Holding time advertised in this node's registrations"),
        "{screen}"
    );
    // `holding-time ?`: the type, range, units and default.
    assert!(
        screen.contains("<uint16, range 1..65535, units seconds, default 7200>"),
        "{screen}"
    );
    assert!(
        screen.contains("dmvpn(config)# interfaces interface tun0 "),
        "{screen}"
    );
    assert!(
        screen.contains("rolled back in 60 s unless confirmed"),
        "{screen}"
    );
    assert!(screen.contains("Commit confirmed."), "{screen}");

    let commits = server.commits();
    assert_eq!(commits.len(), 1, "{screen}");
    assert_eq!(commits[0].confirmed_timeout, 60);
    assert_eq!(commits[0].comment, "hub bootstrap");
    assert_eq!(
        server.calls().last(),
        Some(&fake_server::Call::Get(dmvpn_api::v1::GetRequest {
            r#type: dmvpn_api::v1::get_request::DataType::Config as i32,
            encoding: dmvpn_api::v1::Encoding::Json as i32,
            with_defaults: false,
            path: String::new(),
            page_size: 0,
        }))
    );
    assert!(server.calls().contains(&fake_server::Call::Confirm));
    let hub = serde_json::json!({"ietf-interfaces:interfaces": {"interface": [{
        "name": "tun0",
        "type": "dmvpn-tunnel:mgre",
        "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.1", "prefix-length": 24}]},
        "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.1"},
        "dmvpn-nhrp:nhrp": {
            "holding-time": 300,
            "network-id": 1,
            "redirect": true,
            "multicast": {"dynamic": true}
        }
    }]}});
    assert_eq!(server.running(), hub, "{screen}");
    // `show running-config cli` of what was committed.
    let shown = "interfaces\r\n \
                 interface tun0\r\n  \
                 type dmvpn-tunnel:mgre\r\n  \
                 nhrp\r\n   \
                 network-id 1\r\n   \
                 holding-time 300\r\n   \
                 redirect true\r\n   \
                 multicast\r\n    \
                 dynamic true\r\n   \
                 exit\r\n  \
                 exit\r\n  \
                 tunnel\r\n   \
                 source-address 192.0.2.1\r\n  \
                 exit\r\n  \
                 ipv4\r\n   \
                 address 10.0.0.1\r\n    \
                 prefix-length 24\r\n   \
                 exit\r\n  \
                 exit\r\n \
                 exit\r\n\
                 exit\r\n";
    assert!(screen.contains(shown), "{screen}");
}
