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
