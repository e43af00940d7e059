//! The FRR interop harness (interop/frr/ at the top of the repository) as
//! the tests see it: build it, boot one scenario in the guest, run commands
//! in the guest, read FRR's NHRP tables, and always power the guest off
//! again (a drop guard, so also when an assertion fails).
//!
//! The guest is one machine-wide resource (one tap0, one host netns): the
//! tests of interop_frr.rs and interop_ipsec.rs take [`Guest`] one at a
//! time. Within one test process a mutex does it; CI runs the binaries
//! with `--test-threads 1`.
// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::netns::{TUNNEL, assert_root, ip_in};

pub mod ipsec;
pub mod nat;

/// Where the scripts are.
fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/frr")
}

/// The host namespace up.sh creates: bridge ul0 (192.0.2.100/24) with the
/// guest's underlay behind its port tap0.
pub fn host_ns() -> String {
    std::env::var("DMVPN_INTEROP_NETNS").unwrap_or_else(|_| "frrhost".to_owned())
}

/// The address of ul0 in [`host_ns`].
pub const HOST_NBMA: &str = "192.0.2.100";

/// Runs a harness script; its output, or a panic with the output.
fn script(name: &str, args: &[&str]) -> String {
    script_with(name, args, &[])
}

/// [`script`] with more environment variables (settings of up.sh).
fn script_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .arg(harness().join(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "interop/frr/{name} {args:?} failed:\n{text}"
    );
    text
}

static ONE_GUEST: Mutex<()> = Mutex::new(());

/// A booted scenario; powered off (down.sh) on drop.
pub struct Guest {
    scenario: String,
    started: Instant,
    _turn: MutexGuard<'static, ()>,
}

impl Guest {
    /// Builds the harness if needed (a no-op when built), boots `scenario`
    /// and waits until FRR runs. A failure here fails the test: under CI a
    /// harness that cannot be built or booted is a failure, never a skip.
    pub fn boot(scenario: &str) -> Guest {
        Guest::boot_with(scenario, &[])
    }

    /// [`Guest::boot`] with settings for up.sh, e.g.
    /// `DMVPN_INTEROP_IKE_PROPOSALS` (README.md lists them).
    pub fn boot_with(scenario: &str, settings: &[(&str, &str)]) -> Guest {
        let guest = Guest::start_with(scenario, settings);
        guest.wait_ready();
        guest
    }

    /// [`Guest::boot`] without the wait: the host netns exists when this
    /// returns, so a daemon of ours can start while the guest boots.
    pub fn start(scenario: &str) -> Guest {
        Guest::start_with(scenario, &[])
    }

    /// [`Guest::start`] with settings for up.sh.
    pub fn start_with(scenario: &str, settings: &[(&str, &str)]) -> Guest {
        let turn = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
        assert_root();
        let started = Instant::now();
        script("build.sh", &[]);
        eprintln!(
            "interop: harness built ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        // the guard exists before up.sh, so a boot that fails half-way is torn down
        let guest = Guest {
            scenario: scenario.to_owned(),
            started: Instant::now(),
            _turn: turn,
        };
        script_with("up.sh", &[scenario], settings);
        guest
    }

    /// Until the guest's scenario is up (FRR running, cache has its own
    /// entries); at most 300 s.
    pub fn wait_ready(&self) {
        script("wait-ready.sh", &["300"]);
        eprintln!(
            "interop: {} ready {:.1} s after up.sh",
            self.scenario,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Runs a bash command line in the guest: (success, output).
    pub fn try_exec(&self, command: &str) -> (bool, String) {
        let out = Command::new("bash")
            .arg(harness().join("gexec.sh"))
            .arg(command)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs a bash command line in the guest; its output (panics on failure).
    pub fn exec(&self, command: &str) -> String {
        let (ok, text) = self.try_exec(command);
        assert!(ok, "in the guest: {command}\n{text}");
        text
    }

    /// A vtysh command of the FRR router `node`.
    pub fn vtysh(&self, node: &str, command: &str) -> String {
        self.exec(&format!(
            "ip netns exec {node} vtysh -N {node} -c '{command}'"
        ))
    }

    /// `show ip nhrp cache` of `node`, one entry per line.
    pub fn frr_cache(&self, node: &str) -> Vec<FrrEntry> {
        parse_frr_cache(&self.vtysh(node, "show ip nhrp cache"))
    }

    /// `show ip nhrp shortcut` of `node`: (prefix, via).
    pub fn frr_shortcuts(&self, node: &str) -> Vec<(String, String)> {
        self.vtysh(node, "show ip nhrp shortcut")
            .lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                (words.len() >= 3 && words[1].contains('/'))
                    .then(|| (words[1].to_owned(), words[2].to_owned()))
            })
            .collect()
    }

    /// Polls `node`'s cache until `cond` holds for one entry; the table on
    /// timeout.
    pub fn wait_frr_cache(
        &self,
        node: &str,
        limit: Duration,
        cond: impl Fn(&FrrEntry) -> bool,
    ) -> Result<FrrEntry, Vec<FrrEntry>> {
        let start = Instant::now();
        loop {
            let cache = self.frr_cache(node);
            if let Some(e) = cache.iter().find(|e| cond(e)) {
                return Ok(e.clone());
            }
            if start.elapsed() > limit {
                return Err(cache);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// ping in the guest from `node` (source `from`): the TTL of each reply.
    pub fn ping(&self, node: &str, from: &str, to: &str, count: u32) -> Vec<u8> {
        let (_, text) = self.try_exec(&format!(
            "ip netns exec {node} ping -n -c {count} -i 0.2 -W 1 -I {from} {to}"
        ));
        text.lines()
            .filter_map(|l| l.split("ttl=").nth(1))
            .filter_map(|t| t.split_whitespace().next()?.parse().ok())
            .collect()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // what FRR saw, next to the assertion that failed
            let (_, text) = self.try_exec(
                "for f in /mnt/share/out/frr/*-nhrpd.log; do echo \"== $f\"; tail -n 40 $f; done",
            );
            // and strongSwan's, without its hex dumps and key material
            let (_, charon) = self.try_exec(
                "for f in /mnt/share/out/charon-*.log; do [ -e $f ] || continue; echo \"== $f\"; \
                 grep -E '\\[(IKE|CFG|CHD|ENC|KNL)\\]' $f | grep -vE ' [0-9]+: |=> |secret' | tail -n 40; done",
            );
            eprintln!(
                "interop: {} failed; FRR logs (tails):\n{text}\n{charon}",
                self.scenario
            );
        }
        let out = Command::new("bash").arg(harness().join("down.sh")).output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!("interop: down.sh: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// One line of FRR's `show ip nhrp cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrEntry {
    pub kind: String,
    pub protocol: String,
    pub nbma: String,
    pub claimed: String,
}

/// Columns: Iface Type Protocol NBMA Claimed-NBMA Flags Identity.
pub fn parse_frr_cache(text: &str) -> Vec<FrrEntry> {
    text.lines()
        .filter_map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            (w.len() >= 5 && w[0] != "Iface").then(|| FrrEntry {
                kind: w[1].to_owned(),
                protocol: w[2].to_owned(),
                nbma: w[3].to_owned(),
                claimed: w[4].to_owned(),
            })
        })
        .collect()
}

/// A startup configuration for our dmvpnd in these scenarios: one mGRE
/// interface `dmvpn0` with the settings the guest's FRR uses (GRE key 42,
/// network-id 1, holding time 600 s; FRR 8.4 has no NHRP authentication,
/// so none here either). `nhs` = Some((tunnel, NBMA)) makes it a spoke
/// with shortcuts, None a hub with redirect.
pub fn config(tunnel: &str, nbma: &str, nhs: Option<(&str, &str)>) -> Value {
    let mut nhrp = json!({
        "network-id": 1,
        "holding-time": 600,
    });
    match nhs {
        Some((protocol, hub)) => {
            nhrp["shortcut"] = json!(true);
            nhrp["nhs"] = json!([{"protocol-address": protocol, "nbma-address": hub}]);
            nhrp["multicast"] = json!({"nbma-address": [hub]});
        }
        None => {
            nhrp["redirect"] = json!(true);
            nhrp["multicast"] = json!({"dynamic": true});
        }
    }
    json!({"ietf-interfaces:interfaces": {"interface": [{
        "name": TUNNEL,
        "type": "dmvpn-tunnel:mgre",
        "ietf-ip:ipv4": {"address": [{"ip": tunnel, "prefix-length": 24}]},
        "dmvpn-tunnel:tunnel": {"source-address": nbma, "gre-key": 42},
        "dmvpn-nhrp:nhrp": nhrp,
    }]}})
}

/// Our NHRP cache entries, as JSON objects of the state.
pub fn our_cache(state: &Value) -> Vec<Value> {
    state["ietf-interfaces:interfaces"]["interface"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| {
            i["dmvpn-nhrp:nhrp"]["cache-entry"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// The data-plane counters of our tunnel (`dmvpn-tunnel:tunnel/statistics`).
pub fn tunnel_packets(state: &Value) -> (u64, u64) {
    let s =
        &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["statistics"];
    let counter = |name: &str| {
        // RFC 7951: a uint64 is a JSON string
        let v = &s[name];
        v.as_u64()
            .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
            .unwrap_or_else(|| panic!("no {name} in the tunnel statistics: {state:#}"))
    };
    (counter("packets-in"), counter("packets-out"))
}

/// Route `prefix` through our tunnel to `via`.
pub fn route(ns: &str, prefix: &str, via: &str) {
    ip_in(
        ns,
        &format!("route add {prefix} via {via} dev {TUNNEL} onlink"),
    );
}
