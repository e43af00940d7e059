//! The management front ends against the clients operators already use,
//! each the real thing from Debian or PyPI (installed by scripts/setup.sh):
//! ncclient, netconf-console2 and yuma123's yangcli over NETCONF/SSH,
//! pygnmi over gNMI; plus hostile clients. The hub is the real dmvpnd in a
//! network namespace, with NETCONF and gRPC/gNMI on TCP and two users
//! (`admin` read-write, `noc` read-only); its spoke comes and goes to make
//! the notifications and streamed changes happen.
//!
//! The clients live in a virtualenv (`$DMVPN_CLIENTS_VENV`, default
//! `~/.cache/dmvpn/clients`) and run inside the hub's namespace, against
//! its loopback. Scripts: tests/clients/*.py. Needs root (CI runs as
//! root); daemons and namespaces are removed at the end, also on failure.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::netns::{
    Node, Topology, assert_root, hub_config, nhrp, spoke_config, spoke_nbma, spoke_tunnel,
    topology_with,
};
use common::{cli_at, transactions};
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("admin", "admin-s3cret");
const NOC: (&str, &str) = ("noc", "noc-s3cret");
const NETCONF_PORT: &str = "830";
const GRPC_PORT: &str = "50051";
const TUNNEL: &str = "dmvpn0";

/// The virtualenv of the clients; a loud failure when setup has not run.
fn venv() -> PathBuf {
    let dir = match std::env::var_os("DMVPN_CLIENTS_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache")
                });
            cache.join("dmvpn/clients")
        }
    };
    assert!(
        dir.join("bin/python").exists(),
        "!! the management clients (ncclient, netconf-console2, pygnmi) are not installed \
         in {}: run scripts/setup.sh",
        dir.display()
    );
    dir
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// A hub whose NETCONF and gRPC listen on `netconf`/`grpc` addresses of
/// its namespace, and the namespace of one spoke (not started).
struct Managed {
    hub: Node,
    spoke_ns: String,
    // Last: the namespaces go after the daemons.
    _topo: Topology,
}

impl Managed {
    fn start(tag: &str, netconf_listen: &str, holding: u16) -> Managed {
        assert_root();
        let (topo, ns) = topology_with(format!("dmvpnd-mc-{}-{tag}", std::process::id()), 1);
        let hash = |password: &str| northbound::auth::hash_password(password);
        let settings = format!(
            "tcp = \"127.0.0.1:{GRPC_PORT}\"\n\
             [netconf]\nenabled = true\nlisten = \"{netconf_listen}:{NETCONF_PORT}\"\n\
             [[users]]\nname = \"{}\"\naccess = \"read-write\"\npassword-hash = \"{}\"\n\
             [[users]]\nname = \"{}\"\naccess = \"read-only\"\npassword-hash = \"{}\"\n",
            ADMIN.0,
            hash(ADMIN.1),
            NOC.0,
            hash(NOC.1),
        );
        let mut hub = Node::start_with(
            &ns[0],
            &format!("mc-{tag}-hub"),
            &with_holding(hub_config(), holding),
            &settings,
        );
        hub.wait_tunnel();
        let managed = Managed {
            hub,
            spoke_ns: ns[1].clone(),
            _topo: topo,
        };
        managed.wait_listening();
        managed
    }

    /// Waits until the NETCONF port accepts connections.
    fn wait_listening(&self) {
        let start = Instant::now();
        loop {
            let ss = Command::new("ip")
                .args(["netns", "exec", &self.hub.ns, "ss", "-Htln"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&ss.stdout);
            if text.contains(&format!(":{NETCONF_PORT} "))
                && text.contains(&format!(":{GRPC_PORT} "))
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "NETCONF/gRPC not listening:\n{text}\n{}",
                self.hub.site.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spoke(&self, holding: u16) -> Node {
        let config = with_holding(spoke_config(&spoke_tunnel(1), &spoke_nbma(1)), holding);
        Node::start(&self.spoke_ns, "mc-spoke", &config)
    }

    /// A client command in the hub's namespace.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.hub.ns])
            .arg(program)
            .args(args);
        command
    }

    /// Runs a Python script of tests/clients with the virtualenv's Python.
    fn python(&self, name: &str, args: &[&str]) -> Output {
        let mut command = self.command(&venv().join("bin/python"), &[]);
        command.arg(script(name)).args(args);
        command.output().unwrap()
    }

    fn python_spawn(&self, name: &str, args: &[&str]) -> Lines {
        let mut command = self.command(&venv().join("bin/python"), &[]);
        command
            .arg(script(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Lines::spawn(command)
    }

    fn gnmi(&self, user: (&str, &str), args: &[&str]) -> Output {
        let mut all = vec!["127.0.0.1", GRPC_PORT, user.0, user.1];
        all.extend_from_slice(args);
        self.python("gnmi_client.py", &all)
    }

    fn log(&self) -> String {
        self.hub.site.log()
    }
}

fn with_holding(mut config: Value, holding: u16) -> Value {
    nhrp(&mut config)["holding-time"] = json!(holding);
    config
}

fn text(output: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A child whose stdout lines arrive on a channel; killed on drop.
struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn spawn(mut command: Command) -> Lines {
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            child,
            lines,
            seen: vec![],
        }
    }

    /// The first line (from now) for which `wanted` holds, within `limit`;
    /// a panic naming `what` with everything seen otherwise.
    fn wait(&mut self, limit: Duration, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let stderr = self
                        .child
                        .stderr
                        .take()
                        .map(|mut e| {
                            let mut text = String::new();
                            let _ = std::io::Read::read_to_string(&mut e, &mut text);
                            text
                        })
                        .unwrap_or_default();
                    panic!(
                        "no {what} within {limit:?}; lines:\n{}\nstderr:\n{stderr}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ncclient_edits_commits_confirmed_locks_and_reads_schemas() {
    let managed = Managed::start("nc", "127.0.0.1", 600);
    let output = managed.python(
        "ncclient_session.py",
        &[
            "127.0.0.1",
            NETCONF_PORT,
            ADMIN.0,
            ADMIN.1,
            NOC.0,
            NOC.1,
            TUNNEL,
        ],
    );
    let out = text(&output);
    assert!(
        output.status.success() && out.contains("\nok\n"),
        "{out}\nhub log:\n{}",
        managed.log()
    );
    // One datastore: the NETCONF commit is in the log, under its user, and
    // the CLI over the unix socket shows it.
    let mut client = common::netns::connect(&managed.hub.socket()).await;
    let log = transactions(&mut client).await;
    assert!(
        log.iter().any(|t| t.user == ADMIN.0),
        "no transaction of {}: {log:?}",
        ADMIN.0
    );
    let shown = cli_at(&managed.hub.socket(), &["show transactions"]);
    assert!(shown.contains(ADMIN.0), "{shown}");
    let running = cli_at(&managed.hub.socket(), &["show running-config"]);
    assert!(running.contains("\"holding-time\": 300"), "{running}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_netconf_subscription_hears_a_spoke_register() {
    let managed = Managed::start("sub", "127.0.0.1", 600);
    let mut subscriber = managed.python_spawn(
        "ncclient_subscribe.py",
        &["127.0.0.1", NETCONF_PORT, NOC.0, NOC.1, "peer-up", "30"],
    );
    subscriber.wait(Duration::from_secs(20), "subscription", |line| {
        line == "subscribed"
    });
    let _spoke = managed.spoke(600);
    subscriber.wait(Duration::from_secs(30), "peer-up", |line| {
        line.contains("peer-up")
    });
    // The script prints the whole notification, then "ok".
    subscriber.wait(Duration::from_secs(5), "ok", |line| line == "ok");
    let notification = subscriber.seen.join("\n");
    assert!(
        notification.contains(&format!(
            "<protocol-address>{}</protocol-address>",
            spoke_tunnel(1)
        )) && notification.contains(&format!("<nbma-address>{}</nbma-address>", spoke_nbma(1))),
        "{notification}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pygnmi_gets_sets_and_streams_changes_and_samples() {
    // A short holding time: the spoke's entry expires soon after it dies.
    let managed = Managed::start("gnmi", "127.0.0.1", 6);
    let nhrp_path = format!("ietf-interfaces:interfaces/interface[name={TUNNEL}]/dmvpn-nhrp:nhrp");

    let output = managed.gnmi(NOC, &["capabilities"]);
    assert!(output.status.success(), "{}", text(&output));
    let caps: Value = serde_json::from_slice(&output.stdout).unwrap();
    let models = caps["supported_models"].to_string();
    assert!(models.contains("dmvpn-nhrp"), "{caps:#}");
    assert!(
        caps["supported_encodings"]
            .to_string()
            .contains("json_ietf"),
        "{caps:#}"
    );

    // ON_CHANGE on the cache and SAMPLE on the counters, from before the
    // spoke exists.
    let cache_path = format!("{nhrp_path}/cache-entry");
    let mut changes = managed.python_spawn(
        "gnmi_client.py",
        &[
            "127.0.0.1",
            GRPC_PORT,
            NOC.0,
            NOC.1,
            "subscribe",
            "on_change",
            &cache_path,
        ],
    );
    changes.wait(Duration::from_secs(20), "sync_response", |line| {
        line.contains("sync_response")
    });
    let counters_path = format!("{nhrp_path}/counters");
    let mut samples = managed.python_spawn(
        "gnmi_client.py",
        &[
            "127.0.0.1",
            GRPC_PORT,
            NOC.0,
            NOC.1,
            "subscribe",
            "sample",
            &counters_path,
            "1",
        ],
    );

    let mut spoke = managed.spoke(6);
    let tunnel = spoke_tunnel(1);
    changes.wait(Duration::from_secs(20), "an update for the spoke", |line| {
        line.contains("update") && line.contains(&tunnel)
    });

    // Get of the cache: the spoke is there.
    let output = managed.gnmi(NOC, &["get", "state", &cache_path]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&tunnel),
        "{}",
        text(&output)
    );

    // Samples of the counters: two, a second apart or so.
    for n in 1..=2 {
        samples.wait(Duration::from_secs(15), &format!("sample {n}"), |line| {
            line.contains("update") && line.contains("counters")
        });
    }

    // Set: update then delete, seen by the CLI; the read-only user may not.
    let output = managed.gnmi(ADMIN, &["update", &nhrp_path, r#"{"holding-time": 900}"#]);
    assert!(output.status.success(), "{}", text(&output));
    let running = cli_at(&managed.hub.socket(), &["show running-config"]);
    assert!(running.contains("\"holding-time\": 900"), "{running}");
    let output = managed.gnmi(ADMIN, &["delete", &format!("{nhrp_path}/holding-time")]);
    assert!(output.status.success(), "{}", text(&output));
    let running = cli_at(&managed.hub.socket(), &["show running-config"]);
    assert!(!running.contains("\"holding-time\": 900"), "{running}");
    let output = managed.gnmi(NOC, &["update", &nhrp_path, r#"{"holding-time": 901}"#]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("user noc may only read"),
        "{}",
        text(&output)
    );

    // The spoke dies: its entry expires (6 s) and the stream says so.
    spoke.kill();
    changes.wait(
        Duration::from_secs(30),
        "a delete of the spoke's entry",
        |line| line.contains("delete") && line.contains(&tunnel),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn netconf_console2_and_yangcli_list_capabilities_get_state_and_edit_a_leaf() {
    let managed = Managed::start("cli", "127.0.0.1", 600);
    let console = venv().join("bin/netconf-console2");
    let login = [
        "--host",
        "127.0.0.1",
        "--port",
        NETCONF_PORT,
        "-u",
        ADMIN.0,
        "-p",
        ADMIN.1,
    ];
    let run = |args: &[&str]| {
        let mut all = login.to_vec();
        all.extend_from_slice(args);
        let output = managed.command(&console, &all).output().unwrap();
        assert!(
            output.status.success(),
            "netconf-console2 {args:?}: {}",
            text(&output)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let hello = run(&["--hello"]);
    assert!(
        hello.contains("urn:ietf:params:netconf:capability:candidate:1.0")
            && hello.contains("module=dmvpn-nhrp"),
        "{hello}"
    );
    let state = run(&["--get", "-x", "/interfaces/interface/tunnel/statistics"]);
    assert!(state.contains("<packets-in>"), "{state}");
    let edit = managed.hub.site.dir.join("edit.xml");
    std::fs::write(
        &edit,
        format!(
            "<interfaces xmlns=\"urn:ietf:params:xml:ns:yang:ietf-interfaces\"><interface>\
             <name>{TUNNEL}</name><nhrp xmlns=\"urn:dmvpn:yang:dmvpn-nhrp\">\
             <holding-time>1234</holding-time></nhrp></interface></interfaces>"
        ),
    )
    .unwrap();
    let edited = run(&[
        "--db",
        "candidate",
        "--edit-config",
        edit.to_str().unwrap(),
        "--commit",
    ]);
    assert!(edited.matches("<ok").count() == 2, "{edited}");
    let running = run(&[
        "--get-config",
        "-x",
        "/interfaces/interface/nhrp/holding-time",
    ]);
    assert!(
        running.contains("<holding-time>1234</holding-time>"),
        "{running}"
    );

    // yangcli (yuma123): loads our modules with get-schema, reads state,
    // merges a leaf into the candidate and commits.
    let script_file = managed.hub.site.dir.join("yangcli.script");
    std::fs::write(
        &script_file,
        format!(
            "xget /interfaces/interface/tunnel/source-address\n\
             merge /interfaces/interface[name='{TUNNEL}']/nhrp/holding-time value=777\n\
             commit\n"
        ),
    )
    .unwrap();
    let output = managed
        .command(
            Path::new("yangcli"),
            &[
                "--server=127.0.0.1",
                &format!("--ncport={NETCONF_PORT}"),
                &format!("--user={}", ADMIN.0),
                &format!("--password={}", ADMIN.1),
                "--batch-mode",
                &format!("--run-script={}", script_file.display()),
            ],
        )
        .output()
        .unwrap();
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("dmvpn-nhrp@") && out.contains("dmvpn-tunnel@"),
        "{out}"
    );
    assert!(
        !out.contains("Auto-load for module"),
        "a module failed to load:\n{out}"
    );
    assert!(out.contains("source-address 192.0.2.1"), "{out}");
    assert_eq!(out.matches("RPC OK Reply").count(), 2, "{out}");
    let running = cli_at(&managed.hub.socket(), &["show running-config"]);
    assert!(running.contains("\"holding-time\": 777"), "{running}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_clients_are_refused_counted_and_the_daemon_unharmed() {
    // NETCONF on every address: the storm comes from loopback, the check
    // that the daemon still serves from the hub's NBMA address (a source
    // the login guard has not seen fail).
    let managed = Managed::start("hostile", "0.0.0.0", 600);
    let output = managed.python(
        "hostile.py",
        &[
            "127.0.0.1",
            NETCONF_PORT,
            ADMIN.0,
            ADMIN.1,
            NOC.0,
            NOC.1,
            "1000",
        ],
    );
    let out = text(&output);
    assert!(
        output.status.success() && out.contains("\nok\n"),
        "{out}\nhub log:\n{}",
        managed.log()
    );
    // Counted: the failed logins (wrong password, unknown user) in the log
    // and in NETCONF's statistics.
    let log = managed.log();
    assert!(log.matches("login failed").count() >= 2, "{log}");
    let hub_nbma = "192.0.2.1";
    let session = managed.python(
        "ncclient_session.py",
        &[
            hub_nbma,
            NETCONF_PORT,
            ADMIN.0,
            ADMIN.1,
            NOC.0,
            NOC.1,
            TUNNEL,
        ],
    );
    assert!(session.status.success(), "{}", text(&session));
    let stats = managed.python(
        "netconf_get.py",
        &[
            hub_nbma,
            NETCONF_PORT,
            ADMIN.0,
            ADMIN.1,
            "/netconf-state/statistics",
        ],
    );
    let stats_text = text(&stats);
    assert!(stats.status.success(), "{stats_text}");
    let counter = |name: &str| -> u64 {
        let start = stats_text
            .find(&format!("<{name}>"))
            .unwrap_or_else(|| panic!("no {name}: {stats_text}"));
        let rest = &stats_text[start + name.len() + 2..];
        rest[..rest.find('<').unwrap()].trim().parse().unwrap()
    };
    assert!(counter("in-bad-rpcs") >= 1, "{stats_text}");
    assert!(counter("out-rpc-errors") >= 2, "{stats_text}");
}
