//! Issue 3, "Must show": dmvpnd starts from an empty state dir with the
//! example configs, and the operator's client, the real dmvpn-cli binary,
//! shows them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Site;

/// The dmvpn-cli binary next to dmvpnd in the target directory, built first
/// when this test runs alone.
fn dmvpn_cli() -> PathBuf {
    let dmvpnd = PathBuf::from(env!("CARGO_BIN_EXE_dmvpnd"));
    let cli = dmvpnd.with_file_name("dmvpn-cli");
    if !cli.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "dmvpn-cli"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build dmvpn-cli");
    }
    cli
}

fn cli(site: &Site, commands: &[&str]) -> String {
    let mut command = Command::new(dmvpn_cli());
    command.arg("--socket").arg(site.socket());
    for c in commands {
        command.arg("-c").arg(c);
    }
    let out = command.output().expect("dmvpn-cli runs");
    assert!(
        out.status.success(),
        "dmvpn-cli {commands:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_configs_start_and_dmvpn_cli_shows_them() {
    for (name, startup) in [("hub", "hub-startup.json"), ("spoke", "spoke-startup.json")] {
        let site = Site::new(&format!("cli-{name}"));
        assert!(!site.dir.join("state").exists(), "an empty state dir");
        let mut daemon = site.start(Some(startup));
        daemon.connect(&site.socket()).await;

        // The running configuration is the example, node for node.
        let shown = cli(&site, &["show running-config json"]);
        let example = std::fs::read_to_string(common::example(startup)).unwrap();
        assert_eq!(json(&shown), json(&example), "{name}");
        assert!(cli(&site, &["show running-config xml"]).contains("<interfaces"));

        // One transaction, the startup one.
        let log = cli(&site, &["show transactions"]);
        assert!(log.contains("startup"), "{log}");

        // The NHRP views answer from the running instance.
        let traffic = cli(&site, &["show ip nhrp traffic"]);
        assert!(traffic.contains("NHRP traffic"), "{traffic}");
        if name == "spoke" {
            // The spoke's NHS from the example, and its registrations.
            let cache = cli(&site, &["show ip nhrp"]);
            assert!(
                cache.contains("10.0.0.1/32") && cache.contains("nhs"),
                "{cache}"
            );
            let nhs = cli(&site, &["show ip nhrp nhs"]);
            let row: Vec<&str> = nhs
                .lines()
                .find(|l| l.contains("10.0.0.1"))
                .map(|l| l.split_whitespace().collect())
                .unwrap_or_default();
            // Interface, NHS, Status, Requests, Replies: the per-NHS
            // counters come from the core through YANG state.
            assert_eq!(row.get(1), Some(&"10.0.0.1"), "{nhs}");
            let sent: u64 = row.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
            assert!(sent >= 1, "{nhs}");
            assert!(traffic.contains("registration-request"), "{traffic}");
            // Per-peer counters: the registrations went to the hub's NBMA.
            let state = json(&cli(&site, &["show state"]));
            let peers = &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["counters"]
                ["peer"];
            assert_eq!(peers[0]["nbma-address"], "192.0.2.1", "{state}");
        }
    }
}
