//! Conformance tests as data (the Holo model): the NHRP node(s) under test
//! of a topology directory, configured through YANG as an operator commits
//! it, numbered input steps (a received packet, time passing, a data-plane
//! event, a commit of a new YANG configuration, a YANG RPC, another
//! command), each fed to one node, and after each the expected outputs
//! (notifications with their YANG form) and state of that node (with its
//! YANG state) as JSON. A node's neighbours are the input packets: nothing
//! is delivered between nodes.
//!
//! ```text
//!   tests/conformance/<topology>/topology.json          the nodes' YANG configurations
//!   tests/conformance/<topology>/steps/00-output.json   each node after Instance::new
//!   tests/conformance/<topology>/steps/NN-input.json    one input to one node
//!   tests/conformance/<topology>/steps/NN-output.json   its outputs + state after it
//! ```
//!
//! `DMVPN_CONFORMANCE_REGENERATE=1 cargo test -p holo-nhrp --test conformance`
//! rewrites every NN-output.json from the current behaviour; a human reviews
//! the git diff. See tests/conformance/README.md.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use holo_nhrp::Notification;
use holo_nhrp::cache::Entry;
use holo_nhrp::nhc::NhsStatus;
use holo_nhrp::northbound::configuration::{Leaves, instance_config};
use holo_nhrp::northbound::state::render_state;
use holo_nhrp::northbound::{INTERFACE, interface_name, notification, rpc};
use holo_nhrp::packet::Packet;
use holo_nhrp::yang::dmvpn_nhrp;
use holo_nhrp::{Command, DataPlaneEvent, Input, Instance, InstanceConfig, Output};
use holo_utils::conformance::{directories, step_files};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[path = "conformance/json.rs"]
mod json;

use json::{Written, diff};

const REGENERATE: &str = "DMVPN_CONFORMANCE_REGENERATE";

/// One test per topology directory; `every_topology_has_a_test` makes sure
/// none is forgotten here.
macro_rules! topologies {
    ($($test:ident => $dir:literal,)*) => {
        const TOPOLOGIES: &[&str] = &[$($dir),*];
        $(
            #[test]
            fn $test() {
                run_topology($dir);
            }
        )*
    };
}

topologies! {
    nhs_registration => "nhs-registration",
    nhs_nat => "nhs-nat",
    nhc_registration => "nhc-registration",
    resolution_authoritative => "resolution-authoritative",
    resolution_forwarding => "resolution-forwarding",
    redirect_shortcut => "redirect-shortcut",
    authentication => "authentication",
    purge => "purge",
    unknown_extension => "unknown-extension",
    yang_reconfigure => "yang-reconfigure",
}

#[test]
fn every_topology_has_a_test() {
    let dirs = directories(&conformance_dir());
    let mut listed: Vec<String> = TOPOLOGIES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        dirs,
        listed,
        "add the directory to topologies! in {}",
        file!()
    );
}

/// A topology may omit every field but the addresses: the defaults are
/// those of `InstanceConfig::new`.
#[test]
fn config_defaults_are_those_of_instance_config_new() {
    let json = r#"{"protocol": "10.0.0.11/24", "nbma": "192.0.2.11"}"#;
    let config: InstanceConfig = serde_json::from_str(json).unwrap();
    let expected = InstanceConfig::new("10.0.0.11/24".parse().unwrap(), ip("192.0.2.11"));
    assert_eq!(config, expected);

    let json = r#"{"protocol": "10.0.0.11/24", "nbma": "192.0.2.11",
        "authentication": "DMVPN", "redirect_interval": 0.5,
        "registration_interval": 60, "nhs": [{"protocol": "10.0.0.1", "nbma": "192.0.2.1"}]}"#;
    let config: InstanceConfig = serde_json::from_str(json).unwrap();
    assert_eq!(config.authentication.as_deref(), Some(&b"DMVPN"[..]));
    assert_eq!(config.redirect_interval, Duration::from_millis(500));
    assert_eq!(config.registration_interval, Some(Duration::from_secs(60)));
    assert_eq!(config.nhs[0].priority, 0);

    let typo = r#"{"protocol": "10.0.0.11/24", "nbma": "192.0.2.11", "shortcuts": true}"#;
    assert!(serde_json::from_str::<InstanceConfig>(typo).is_err());
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

// The data files.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Topology {
    /// What the topology shows, for the human reader.
    description: String,
    nodes: Vec<NodeConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeConfig {
    name: String,
    /// The node's configuration as YANG JSON (ietf-interfaces, one
    /// interface with dmvpn-tunnel and dmvpn-nhrp), validated by libyang and
    /// mapped to the instance as dmvpnd maps it (`yang_config`).
    yang: Value,
    /// The LANs behind the node: what the data plane tells the instance
    /// (`DataPlaneEvent::LocalPrefixes`), not configuration.
    #[serde(default)]
    local_prefixes: Vec<ipnetwork::IpNetwork>,
}

/// One input: exactly one of packet, tick, data_plane, command, configure
/// and rpc.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// What the step checks and why (RFC section), for the human reader.
    #[serde(default)]
    description: String,
    /// The node the input goes to; may be left out when there is one.
    node: Option<String>,
    packet: Option<ReceivedPacket>,
    tick: Option<Tick>,
    data_plane: Option<DataPlaneEvent>,
    /// An input that is neither configuration nor RPC (a new NBMA address,
    /// a name resolved).
    command: Option<Command>,
    /// A commit: the node's whole new configuration as YANG JSON, applied
    /// to the running instance (`Input::Configure`).
    configure: Option<Value>,
    /// A YANG RPC with its input (`{"dmvpn-nhrp:purge": {...}}`).
    rpc: Option<Value>,
}

/// An NHRP packet arriving in GRE from the underlay address `from`: written
/// as JSON (`nhrp`, encoded with lengths and checksum computed) or as raw
/// bytes (`hex`, for malformed packets).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceivedPacket {
    from: IpAddr,
    nhrp: Option<Packet>,
    hex: Option<String>,
}

/// Advance the clock, then `Input::Tick`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tick {
    advance_ms: u64,
}

/// What a step produced and the node's state after it: the content of an
/// NN-output.json file. Times are seconds relative to the fake clock.
#[derive(Serialize)]
struct StepResult<'a> {
    node: &'a str,
    /// Seconds since the topology started.
    time: Value,
    outputs: Vec<OutputJson<'a>>,
    state: State<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutputJson<'a> {
    Send {
        output: &'static str,
        to: IpAddr,
        summary: &'a str,
        /// The packet decoded again from the bytes sent.
        nhrp: Packet,
    },
    Undecodable {
        output: &'static str,
        to: IpAddr,
        summary: &'a str,
        error: String,
        hex: String,
    },
    /// A notification, with the YANG notification it is published as.
    Notify {
        output: &'static str,
        #[serde(flatten)]
        notification: &'a Notification,
        yang: Value,
    },
    Other(&'a Output),
}

#[derive(Serialize)]
struct State<'a> {
    cache: Vec<CacheEntry<'a>>,
    nhs: Vec<Nhs>,
    counters: &'a holo_nhrp::counters::Counters,
    /// When the node wants its next Tick.
    next_wakeup_in: Option<Value>,
    /// The node's `dmvpn-nhrp:nhrp` state node, as a Get returns it.
    yang: Value,
}

#[derive(Serialize)]
struct CacheEntry<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    expires_in: Option<Value>,
}

#[derive(Serialize)]
struct Nhs {
    protocol: IpAddr,
    nbma: IpAddr,
    priority: u8,
    status: NhsStatus,
    attempts: u32,
    request_id: Option<u32>,
    next_action_in: Value,
    seen_as: Option<IpAddr>,
    registrations_sent: u64,
    replies_received: u64,
}

// Running a topology.

struct Node {
    name: String,
    /// The tunnel interface the configuration names.
    interface: String,
    instance: Instance,
}

struct Runner {
    dir: PathBuf,
    nodes: Vec<Node>,
    start: Instant,
    now: Instant,
    regenerate: bool,
    failures: Vec<String>,
}

fn run_topology(name: &str) {
    let dir = conformance_dir().join(name);
    let topology: Topology = read_json(&dir.join("topology.json"));
    let description = topology.description;
    assert!(!topology.nodes.is_empty(), "{name}: no nodes");
    let start = Instant::now();
    let mut runner = Runner {
        dir: dir.join("steps"),
        nodes: vec![],
        start,
        now: start,
        regenerate: std::env::var(REGENERATE).is_ok_and(|v| v == "1"),
        failures: vec![],
    };
    // Step 00: every node's creation.
    let mut created = vec![];
    for node in topology.nodes {
        let path = dir.join("topology.json");
        let (interface, mut config) = yang_config(&path, &node.yang);
        config.local_prefixes = node.local_prefixes;
        let (instance, outputs) = Instance::new(config, start);
        runner.nodes.push(Node {
            name: node.name,
            interface,
            instance,
        });
        created.push(outputs);
    }
    let results: Vec<StepResult<'_>> = runner
        .nodes
        .iter()
        .zip(&created)
        .map(|(node, outputs)| runner.result(node, outputs))
        .collect();
    let results = Written::of(&results);
    runner.check(0, "Instance::new", results);

    for (number, path) in step_files(&runner.dir) {
        let step: Step = read_json(&path);
        let index = runner.node_index(&path, step.node.as_deref());
        let input = runner.input(&path, &step, index);
        let now = runner.now;
        let outputs = runner.nodes[index].instance.handle(input, now);
        let result = Written::of(&runner.result(&runner.nodes[index], &outputs));
        runner.check(number, &step.description, result);
    }
    if !runner.failures.is_empty() {
        panic!(
            "{name}: {} step(s) differ from the expected output (if the new behaviour is \
             right, rerun with {REGENERATE}=1 and review the git diff)\n{name}: {}\n\n{}",
            runner.failures.len(),
            description,
            runner.failures.join("\n")
        );
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Runner {
    fn node_index(&self, path: &Path, name: Option<&str>) -> usize {
        match name {
            None if self.nodes.len() == 1 => 0,
            None => panic!("{}: say which node the step is for", path.display()),
            Some(name) => self
                .nodes
                .iter()
                .position(|n| n.name == name)
                .unwrap_or_else(|| panic!("{}: no node {name}", path.display())),
        }
    }

    /// The core input of a step; time passes for ticks.
    fn input(&mut self, path: &Path, step: &Step, node: usize) -> Input {
        let given = [
            step.packet.is_some(),
            step.tick.is_some(),
            step.data_plane.is_some(),
            step.command.is_some(),
            step.configure.is_some(),
            step.rpc.is_some(),
        ];
        assert_eq!(
            given.iter().filter(|g| **g).count(),
            1,
            "{}: a step is exactly one of packet, tick, data_plane, command, configure, rpc",
            path.display()
        );
        if let Some(yang) = &step.configure {
            let (interface, config) = yang_config(path, yang);
            assert_eq!(
                interface,
                self.nodes[node].interface,
                "{}: the configuration names another interface",
                path.display()
            );
            return Input::Configure(Box::new(config));
        }
        if let Some(rpc) = &step.rpc {
            let name = rpc
                .as_object()
                .and_then(|o| o.keys().next())
                .unwrap_or_else(|| {
                    panic!("{}: an RPC is {{\"module:rpc\": {{…}}}}", path.display())
                });
            let (interface, command) = rpc::command(&format!("/{name}"), &rpc.to_string())
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert_eq!(
                interface,
                self.nodes[node].interface,
                "{}: the RPC names another interface",
                path.display()
            );
            return Input::Command(command);
        }
        if let Some(packet) = &step.packet {
            let bytes = match (&packet.nhrp, &packet.hex) {
                (Some(nhrp), None) => nhrp
                    .encode()
                    .unwrap_or_else(|e| panic!("{}: cannot encode: {e}", path.display())),
                (None, Some(hex)) => parse_hex(hex),
                _ => panic!("{}: a packet is either nhrp or hex", path.display()),
            };
            return Input::Packet {
                from: packet.from,
                bytes,
            };
        }
        if let Some(tick) = &step.tick {
            self.now += Duration::from_millis(tick.advance_ms);
            return Input::Tick;
        }
        if let Some(event) = &step.data_plane {
            return Input::DataPlane(event.clone());
        }
        Input::Command(step.command.clone().unwrap())
    }

    /// Compares (or, regenerating, writes) the NN-output.json of a step.
    fn check(&mut self, number: u32, description: &str, actual: Written) {
        let path = self.dir.join(format!("{number:02}-output.json"));
        if self.regenerate {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(&actual.text) {
                std::fs::write(&path, actual.text).unwrap();
            }
            return;
        }
        let Ok(expected) = std::fs::read_to_string(&path) else {
            self.failures.push(format!(
                "step {number:02}: {} is missing (run with {REGENERATE}=1)",
                path.display()
            ));
            return;
        };
        let expected: Value =
            serde_json::from_str(&expected).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut differences = vec![];
        diff("", &expected, &actual.value, &mut differences);
        if !differences.is_empty() {
            let mut msg = format!("step {number:02} ({}): {description}\n", path.display());
            for d in differences {
                let _ = writeln!(msg, "    {d}");
            }
            self.failures.push(msg);
        }
    }

    fn result<'a>(&self, node: &'a Node, outputs: &'a [Output]) -> StepResult<'a> {
        let outputs = outputs
            .iter()
            .map(|o| match o {
                Output::Send { to, bytes, summary } => match Packet::decode(bytes) {
                    Ok(nhrp) => OutputJson::Send {
                        output: "send",
                        to: *to,
                        summary,
                        nhrp,
                    },
                    Err(e) => OutputJson::Undecodable {
                        output: "send",
                        to: *to,
                        summary,
                        error: e.to_string(),
                        hex: bytes.iter().map(|b| format!("{b:02x}")).collect(),
                    },
                },
                Output::Notify(notification) => OutputJson::Notify {
                    output: "notify",
                    notification,
                    yang: notification::json(&node.interface, notification),
                },
                other => OutputJson::Other(other),
            })
            .collect();
        let mut cache: Vec<CacheEntry<'_>> = node
            .instance
            .cache()
            .iter()
            .map(|entry| CacheEntry {
                entry,
                expires_in: entry.expires.map(|t| self.seconds(t)),
            })
            .collect();
        cache.sort_by_key(|e| (e.entry.prefix.ip(), e.entry.prefix.prefix()));
        let nhs = node
            .instance
            .nhs_states()
            .iter()
            .map(|n| Nhs {
                protocol: n.config.protocol,
                nbma: n.config.nbma,
                priority: n.config.priority,
                status: n.status,
                attempts: n.attempts,
                request_id: n.request_id,
                next_action_in: self.seconds(n.next_action),
                seen_as: n.seen_as,
                registrations_sent: n.registrations_sent,
                replies_received: n.replies_received,
            })
            .collect();
        StepResult {
            node: &node.name,
            time: self.seconds_between(self.start, self.now),
            outputs,
            state: State {
                cache,
                nhs,
                counters: &node.instance.counters,
                next_wakeup_in: node.instance.next_wakeup().map(|t| self.seconds(t)),
                yang: {
                    let snapshot = holo_nhrp::snapshot::State::of(&node.instance);
                    let rendered = render_state(&node.interface, &snapshot, self.now);
                    rendered[dmvpn_nhrp::NHRP_NAME].clone()
                },
            },
        }
    }

    /// Seconds from now until `t` (negative when past).
    fn seconds(&self, t: Instant) -> Value {
        self.seconds_between(self.now, t)
    }

    /// Whole seconds as an integer, else with millisecond precision.
    fn seconds_between(&self, from: Instant, to: Instant) -> Value {
        let millis = match to.checked_duration_since(from) {
            Some(d) => i64::try_from(d.as_millis()).unwrap(),
            None => -i64::try_from(from.duration_since(to).as_millis()).unwrap(),
        };
        if millis % 1000 == 0 {
            Value::from(millis / 1000)
        } else {
            Value::from(millis as f64 / 1000.0)
        }
    }
}

/// The interface and instance configuration of a YANG configuration
/// (JSON): validated by libyang, turned into the changes a commit from an
/// empty datastore gives (`northbound::diff`), and mapped by the same
/// function as dmvpnd's provider. The tunnel source is its
/// `source-address` (the conformance nodes have no interfaces to read).
fn yang_config(path: &Path, yang: &Value) -> (String, InstanceConfig) {
    let config = northbound::Config::parse(&yang.to_string(), northbound::Format::Json)
        .unwrap_or_else(|e| panic!("{}: invalid YANG configuration: {e}", path.display()));
    let changes = northbound::diff(&northbound::Config::empty(), &config)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let leaves: Leaves = changes
        .into_iter()
        .map(|change| (change.path, change.value))
        .collect();
    let interface = leaves
        .keys()
        .find_map(|p| interface_name(p))
        .unwrap_or_else(|| panic!("{}: no interface", path.display()))
        .to_owned();
    let source = format!("{INTERFACE}{interface}']/dmvpn-tunnel:tunnel/source-address");
    let nbma: IpAddr = leaves
        .get(&source)
        .cloned()
        .flatten()
        .unwrap_or_else(|| panic!("{}: no tunnel source-address", path.display()))
        .parse()
        .unwrap();
    let config = instance_config(&leaves, &interface, nbma)
        .unwrap_or_else(|e| panic!("{}: refused: {e:?}", path.display()))
        .unwrap_or_else(|| panic!("{}: no dmvpn-nhrp:nhrp", path.display()));
    (interface, config)
}

fn parse_hex(text: &str) -> Vec<u8> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let pairs = digits.chunks_exact(2);
    assert!(
        pairs.remainder().is_empty(),
        "odd number of hex digits: {text}"
    );
    pairs
        .map(|pair| {
            let pair: String = pair.iter().collect();
            u8::from_str_radix(&pair, 16).unwrap_or_else(|_| panic!("not hex: {text}"))
        })
        .collect()
}
