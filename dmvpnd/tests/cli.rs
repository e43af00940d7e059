//! Issue 3, "Must show": dmvpnd starts from an empty state dir with the
//! example configs, and the operator's client, the real dmvpn-cli binary,
//! shows them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Site;

fn cli(site: &Site, commands: &[&str]) -> String {
    common::cli_at(&site.socket(), commands)
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
