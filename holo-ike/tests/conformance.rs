//! Conformance tests of the IKE core as data: a scenario directory holds a
//! topology (two or more nodes of the simulated network of `ike_sim`, each
//! with its configuration) and numbered steps, each one action (the data
//! plane acquires a peer, datagrams in flight are delivered, dropped or
//! edited, time passes, a message is injected...), and after each the
//! expected outputs of every node it touched and the state of all, as
//! JSON without anything random: messages decoded (encrypted payloads
//! too) with symbolic SPIs.
//!
//! ```text
//!   tests/conformance/<scenario>/topology.json          the nodes
//!   tests/conformance/<scenario>/steps/00-output.json   the nodes at the start
//!   tests/conformance/<scenario>/steps/NN-input.json    one action
//!   tests/conformance/<scenario>/steps/NN-output.json   what it made happen
//! ```
//!
//! `DMVPN_CONFORMANCE_REGENERATE=1 cargo test -p holo-ike --test conformance`
//! rewrites every NN-output.json from the current behaviour; a human
//! reviews the git diff. See tests/conformance/README.md.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod ike_sim;

#[path = "conformance/inject.rs"]
mod inject;
#[path = "conformance/json.rs"]
mod json;
#[path = "conformance/render.rs"]
mod render;
#[path = "conformance/topology.rs"]
mod topology;

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use holo_ike::ike::certificates::CertificateConfig;
use holo_ike::ike::{Config, Input, Output};
use holo_ike::packet::{ExchangeType, HeaderView, PayloadType};
use holo_utils::conformance::{directories, step_files};
use ike_sim::pki::{Key, Pki};
use ike_sim::{Fate, NAT_PORT_SHIFT, Net};
use serde_json::Value;

use json::{J, diff, obj, seconds};
use render::Names;
use topology::{Step, Topology};

const REGENERATE: &str = "DMVPN_CONFORMANCE_REGENERATE";

/// Runs of a scenario whose outcome depends on random nonces, at most.
const RANDOM_RUNS: usize = 24;

/// One test per scenario directory; `every_scenario_has_a_test` makes
/// sure none is forgotten here.
macro_rules! scenarios {
    ($($test:ident => $dir:literal,)*) => {
        const SCENARIOS: &[&str] = &[$($dir),*];
        $(
            #[test]
            fn $test() {
                run_scenario($dir);
            }
        )*
    };
}

scenarios! {
    psk_handshake_gcm => "psk-handshake-gcm",
    handshake_cbc_cisco_defaults => "handshake-cbc-cisco-defaults",
    invalid_ke_payload => "invalid-ke-payload",
    no_proposal_chosen => "no-proposal-chosen",
    authentication_failed => "authentication-failed",
    ts_unacceptable => "ts-unacceptable",
    cookies => "cookies",
    retransmission => "retransmission",
    dpd_dead_peer => "dpd-dead-peer",
    delete_clear => "delete-clear",
    initial_contact => "initial-contact",
    child_sa_rekey => "child-sa-rekey",
    ike_sa_rekey => "ike-sa-rekey",
    child_rekey_collision => "child-rekey-collision",
    temporary_failure => "temporary-failure",
    create_child_sa_refusals => "create-child-sa-refusals",
    nat_traversal => "nat-traversal",
    fragmentation_certificates => "fragmentation-certificates",
    malformed => "malformed",
}

#[test]
fn every_scenario_has_a_test() {
    let dirs = directories(&conformance_dir());
    let mut listed: Vec<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        dirs,
        listed,
        "add the directory to scenarios! in {}",
        file!()
    );
}

/// The comparison finds what differs, with its path.
#[test]
fn a_changed_expectation_is_a_difference() {
    let expected: Value = serde_json::json!({"events": [{"send": 1, "payloads": ["SA", "KE"]}]});
    let actual: Value = serde_json::json!({"events": [{"send": 1, "payloads": ["SA"]}]});
    let mut out = vec![];
    diff("", &expected, &actual, &mut out);
    assert_eq!(out, ["events[0].payloads[1]: expected \"KE\", missing"]);
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What one step gave: its number, description and result.
struct StepResult {
    number: u32,
    description: String,
    result: J,
}

fn run_scenario(name: &str) {
    let dir = conformance_dir().join(name);
    let topology: Topology = read_json(&dir.join("topology.json"));
    let steps: Vec<(u32, Step)> = step_files(&dir.join("steps"))
        .into_iter()
        .map(|(n, path)| {
            let step: Step = read_json(&path);
            assert_eq!(step.actions(), 1, "{}: one action per step", path.display());
            (n, step)
        })
        .collect();
    let regenerate = std::env::var(REGENERATE).is_ok_and(|v| v == "1");
    let runs = if topology.random_outcome.is_some() {
        RANDOM_RUNS
    } else {
        1
    };
    let mut failures = vec![];
    let mut results = vec![];
    for _ in 0..runs {
        results = Scenario::run(&topology, &steps);
        failures = compare(&dir.join("steps"), &results);
        if failures.is_empty() {
            break;
        }
    }
    if regenerate {
        for r in &results {
            let path = dir
                .join("steps")
                .join(format!("{:02}-output.json", r.number));
            let text = r.result.text();
            if std::fs::read_to_string(&path).ok().as_deref() != Some(&text) {
                std::fs::write(&path, text).unwrap();
            }
        }
        return;
    }
    if !failures.is_empty() {
        let tries = if runs > 1 {
            format!(" (in each of {runs} runs; the last one shown)")
        } else {
            String::new()
        };
        panic!(
            "{name}: {} step(s) differ from the expected output{tries} (if the new behaviour \
             is right, rerun with {REGENERATE}=1 and review the git diff)\n{name}: {}\n\n{}",
            failures.len(),
            topology.description,
            failures.join("\n")
        );
    }
}

/// Every difference between the results and the NN-output.json files.
fn compare(dir: &Path, results: &[StepResult]) -> Vec<String> {
    let mut failures = vec![];
    for r in results {
        let path = dir.join(format!("{:02}-output.json", r.number));
        let Ok(text) = std::fs::read_to_string(&path) else {
            failures.push(format!(
                "step {:02}: {} is missing (run with {REGENERATE}=1)",
                r.number,
                path.display()
            ));
            continue;
        };
        let expected: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut differences = vec![];
        diff("", &expected, &r.result.value(), &mut differences);
        if !differences.is_empty() {
            let mut msg = format!(
                "step {:02} ({}): {}\n",
                r.number,
                path.display(),
                r.description
            );
            for d in differences {
                let _ = writeln!(msg, "    {d}");
            }
            failures.push(msg);
        }
    }
    failures
}

/// A datagram on its way: sent by a node (or injected), not yet delivered.
struct InFlight {
    number: u32,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// What happened in a step, in order, before it is rendered.
enum Entry {
    /// A node took an input and gave these outputs (with the numbers of
    /// the datagrams it sent).
    Input {
        node: usize,
        on: String,
        outputs: Vec<(Option<u32>, Output)>,
    },
    Dropped(u32),
    Lost(u32, String),
    Mutated(u32, Vec<u8>, Option<String>),
}

struct Scenario {
    net: Net,
    names: Vec<String>,
    /// Each node's configuration (the topology's, then as configured).
    configs: Vec<Config>,
    start: Instant,
    in_flight: VecDeque<InFlight>,
    sent: u32,
    down: BTreeSet<usize>,
    reg: Names,
    entries: Vec<Entry>,
    /// The certificates of the nodes live as long as the scenario.
    _pki: Option<Pki>,
}

impl Scenario {
    fn run(topology: &Topology, steps: &[(u32, Step)]) -> Vec<StepResult> {
        let mut s = Scenario::new(topology);
        let mut results = vec![StepResult {
            number: 0,
            description: "the start".into(),
            result: s.result(),
        }];
        for (number, step) in steps {
            s.step(step);
            results.push(StepResult {
                number: *number,
                description: step.description.clone(),
                result: s.result(),
            });
        }
        results
    }

    fn new(topology: &Topology) -> Scenario {
        let pki = topology
            .nodes
            .iter()
            .any(|n| n.config.certificate.is_some())
            .then(Pki::new);
        let ca = pki.as_ref().map(|p| p.ca("ca"));
        let configs: Vec<Config> = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut base = ike_sim::config();
                if let (Some(key), Some(pki), Some(ca)) = (&n.config.certificate, &pki, &ca) {
                    let key = match key.as_str() {
                        "p256" => Key::P256,
                        "rsa2048" => Key::Rsa2048,
                        other => panic!("certificate key {other}: p256 or rsa2048"),
                    };
                    let addr = n
                        .address
                        .unwrap_or_else(|| format!("10.0.0.{}", i + 1).parse().unwrap());
                    let credential = pki.issue(ca, &n.name, key, &[&addr.to_string()]);
                    base.certificate = Some(CertificateConfig {
                        certificate: credential.certificate,
                        key: credential.key,
                        ca: ca.file.clone(),
                        more_credentials: vec![],
                    });
                }
                n.config.apply(base)
            })
            .collect();
        let mut net = Net::new(configs.clone());
        // The runner delivers datagrams itself: the simulation's queue is
        // emptied after every input.
        net.filter = Box::new(|_| Fate::Drop);
        let names: Vec<String> = topology.nodes.iter().map(|n| n.name.clone()).collect();
        for (i, n) in topology.nodes.iter().enumerate() {
            if let Some(addr) = n.address {
                net.nodes[i].addr = addr;
            }
        }
        let mut reg = Names::default();
        if let Some(nat) = &topology.nat {
            let i = index(&names, &nat.node);
            net.behind_nat(i, &nat.inside.to_string(), &nat.public.to_string());
            reg.addresses.push((nat.public, nat.node.clone()));
        }
        for (i, n) in names.iter().enumerate() {
            reg.addresses.push((net.nodes[i].addr, n.clone()));
        }
        Scenario {
            start: net.now,
            net,
            names,
            configs,
            in_flight: VecDeque::new(),
            sent: 0,
            down: BTreeSet::new(),
            reg,
            entries: vec![],
            _pki: pki,
        }
    }

    fn node(&self, name: &str) -> usize {
        index(&self.names, name)
    }

    /// Feeds one input to node `i`, keeps what it sent in flight, and
    /// learns the keys of its IKE SAs.
    fn feed(&mut self, i: usize, input: Input, on: String, record_empty: bool) {
        let outputs = self.net.input(i, input);
        // Our copy of what was sent is `in_flight`.
        self.net.run();
        for keys in self.net.nodes[i].ike.key_log() {
            self.reg.keys.insert((keys.spi_i, keys.spi_r), keys);
        }
        let mut numbered = vec![];
        for o in outputs {
            let number = match &o {
                Output::Send {
                    local,
                    remote,
                    bytes,
                } => {
                    self.sent += 1;
                    self.in_flight.push_back(InFlight {
                        number: self.sent,
                        from: *local,
                        to: *remote,
                        bytes: bytes.clone(),
                    });
                    Some(self.sent)
                }
                Output::InstallChildSa(c) => {
                    let peer = self.reg.node_at(c.peer);
                    let name = self.names[i].clone();
                    self.reg
                        .learn_child(&name, c.inbound_spi, c.outbound_spi, peer);
                    None
                }
                _ => None,
            };
            numbered.push((number, o));
        }
        if record_empty || !numbered.is_empty() {
            self.entries.push(Entry::Input {
                node: i,
                on,
                outputs: numbered,
            });
        }
    }

    fn nat_out(&self, a: SocketAddr) -> SocketAddr {
        match self.net.nat {
            Some(nat) if a.ip() == nat.inside => {
                SocketAddr::new(nat.public, a.port() + NAT_PORT_SHIFT)
            }
            _ => a,
        }
    }

    fn nat_in(&self, a: SocketAddr) -> SocketAddr {
        match self.net.nat {
            Some(nat) if a.ip() == nat.public => {
                SocketAddr::new(nat.inside, a.port().wrapping_sub(NAT_PORT_SHIFT))
            }
            _ => a,
        }
    }

    /// The next datagram in flight reaches its node, `copies` times.
    fn deliver_next(&mut self, copies: usize) {
        let Some(d) = self.in_flight.pop_front() else {
            panic!("nothing in flight to deliver");
        };
        let from = self.nat_out(d.from);
        let to = self.nat_in(d.to);
        let at = |addr: IpAddr| self.net.nodes.iter().position(|n| n.addr == addr);
        let Some(receiver) = at(to.ip()) else {
            return self
                .entries
                .push(Entry::Lost(d.number, format!("no node at {to}")));
        };
        let ends = [at(d.from.ip()), Some(receiver)];
        if let Some(down) = ends.into_iter().flatten().find(|i| self.down.contains(i)) {
            let reason = format!("the link of {} is down", self.names[down]);
            return self.entries.push(Entry::Lost(d.number, reason));
        }
        for _ in 0..copies {
            let input = Input::Packet {
                local: to,
                remote: from,
                bytes: d.bytes.clone(),
            };
            self.feed(receiver, input, format!("#{} from {from}", d.number), true);
        }
    }

    fn step(&mut self, step: &Step) {
        self.entries.clear();
        if let Some(p) = &step.acquire {
            let (i, j) = (self.node(&p.node), self.node(&p.peer));
            let (local, peer) = (self.net.nodes[i].addr, self.net.public_addr(j));
            self.feed(
                i,
                Input::Acquire { local, peer },
                format!("acquire {peer}"),
                true,
            );
        } else if let Some(p) = &step.release {
            let (i, j) = (self.node(&p.node), self.node(&p.peer));
            let peer = self.net.public_addr(j);
            self.feed(i, Input::Release { peer }, format!("release {peer}"), true);
        } else if let Some(c) = &step.clear {
            let i = self.node(&c.node);
            let peer = c
                .peer
                .as_deref()
                .map(|p| self.net.public_addr(self.node(p)));
            let on = peer.map_or("clear".into(), |p| format!("clear {p}"));
            self.feed(i, Input::Clear { peer }, on, true);
        } else if let Some(c) = &step.configure {
            let i = self.node(&c.node);
            self.configs[i] = c.config.apply(self.configs[i].clone());
            let config = Box::new(self.configs[i].clone());
            self.feed(i, Input::Configure(config), "configure".into(), true);
        } else if let Some(r) = &step.restart {
            let i = self.node(&r.node);
            self.net.restart(i, self.configs[i].clone());
            self.entries.push(Entry::Input {
                node: i,
                on: "restart".into(),
                outputs: vec![],
            });
        } else if let Some(t) = &step.tick {
            self.net.now += Duration::from_millis(t.advance_ms);
            for i in 0..self.names.len() {
                self.feed(i, Input::Tick, "tick".into(), false);
            }
        } else if let Some(n) = &step.deliver {
            match count(n) {
                Some(n) => (0..n).for_each(|_| self.deliver_next(1)),
                None => {
                    let mut left = 1000;
                    while !self.in_flight.is_empty() {
                        left -= 1;
                        assert!(left > 0, "the nodes never stop talking");
                        self.deliver_next(1);
                    }
                }
            }
        } else if let Some(n) = &step.drop {
            let n = count(n).unwrap_or(self.in_flight.len());
            for _ in 0..n {
                let d = self.in_flight.pop_front().expect("something in flight");
                self.entries.push(Entry::Dropped(d.number));
            }
        } else if let Some(n) = &step.duplicate {
            let n = count(n).unwrap_or(self.in_flight.len());
            (0..n).for_each(|_| self.deliver_next(2));
        } else if let Some(l) = &step.link {
            let i = self.node(&l.node);
            if l.up {
                self.down.remove(&i);
            } else {
                self.down.insert(i);
            }
        } else if let Some(m) = &step.mutate {
            let d = self.in_flight.front().expect("something in flight to edit");
            let bytes = inject::mutate(&d.bytes, &m.edits, &self.reg);
            let sender = self.reg.node_at(d.from.ip());
            let number = d.number;
            self.in_flight[0].bytes = bytes.clone();
            self.entries.push(Entry::Mutated(number, bytes, sender));
        } else if let Some(inj) = &step.inject {
            self.inject(inj);
        }
    }

    /// A message written by hand, delivered at once.
    fn inject(&mut self, inj: &topology::Inject) {
        let to_node = self.node(&inj.to);
        let (from, to, bytes) = if let Some(hex) = &inj.hex {
            let from = match inj.from.parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => SocketAddr::new(self.net.nodes[self.node(&inj.from)].addr, 500),
            };
            let to = SocketAddr::new(self.net.public_addr(to_node), 500);
            (from, to, render::hex(hex))
        } else {
            let sa = inj.sa.as_deref().expect("hex, or sa and encrypted");
            let (spi_i, spi_r) = self.reg.ike_sa(sa);
            let sender = self.node(&inj.from);
            let snapshot = self.net.nodes[sender].ike.snapshot();
            let state = snapshot
                .ike_sas
                .iter()
                .find(|s| (s.spi_i, s.spi_r) == (spi_i, spi_r))
                .unwrap_or_else(|| panic!("{} has no IKE SA {sa}", inj.from));
            let initiator = state.role == holo_ike::ike::sa::Role::Initiator;
            let exchange = inj.exchange.as_deref().expect("exchange");
            let exchange = (0..=u8::MAX)
                .map(ExchangeType)
                .find(|e| e.name() == Some(exchange))
                .unwrap_or_else(|| panic!("unknown exchange {exchange}"));
            let chain = match &inj.chain {
                Some(c) => (PayloadType(c.first), render::hex(&c.hex)),
                None => {
                    let inner: Vec<_> = inj
                        .encrypted
                        .iter()
                        .flat_map(|p| inject::payloads(p, &self.reg))
                        .collect();
                    render::encode_chain(&inner)
                }
            };
            let id = inj.message_id.expect("message_id");
            let header = (exchange, inj.response, id);
            let bytes = inject::authentic(&self.reg, (spi_i, spi_r), initiator, header, chain);
            (state.local, state.remote, bytes)
        };
        self.sent += 1;
        self.in_flight.push_front(InFlight {
            number: self.sent,
            from,
            to,
            bytes,
        });
        self.deliver_next(1);
        if let Some(Entry::Input { on, .. }) = self.entries.last_mut() {
            *on = format!("{on} (injected)");
        }
    }

    /// The result of the step just run: what happened, what is still in
    /// flight, and every node's state.
    fn result(&mut self) -> J {
        // SPI pairs first, so that names are given in pairs.
        for e in &self.entries {
            if let Entry::Input { outputs, .. } = e {
                for (_, o) in outputs {
                    if let Output::Send { bytes, .. } = o
                        && let Some(h) = HeaderView::new(bytes)
                    {
                        self.reg.learn_ike(h.spi_initiator(), h.spi_responder());
                    }
                }
            }
        }
        for i in 0..self.names.len() {
            for sa in self.net.nodes[i].ike.snapshot().ike_sas {
                self.reg.learn_ike(sa.spi_i, sa.spi_r);
                let peer = self.reg.node_at(sa.peer);
                for c in sa.child_sas {
                    let name = &self.names[i];
                    self.reg
                        .learn_child(name, c.inbound_spi, c.outbound_spi, peer.clone());
                }
            }
        }
        let mut events = vec![];
        for e in std::mem::take(&mut self.entries) {
            events.push(match e {
                Entry::Input { node, on, outputs } => {
                    let name = self.names[node].clone();
                    let outputs = outputs
                        .iter()
                        .map(|(n, o)| self.reg.output(&name, *n, o))
                        .collect();
                    obj([
                        ("node", name.clone().into()),
                        ("on", on.into()),
                        ("outputs", J::Arr(outputs)),
                    ])
                }
                Entry::Dropped(n) => obj([("dropped", n.into())]),
                Entry::Lost(n, reason) => obj([("lost", n.into()), ("why", reason.into())]),
                Entry::Mutated(n, bytes, sender) => {
                    let mut j = obj([("mutated", n.into())]);
                    if let J::Obj(fields) = self.reg.message(&bytes, sender.as_deref(), None) {
                        for (k, v) in fields {
                            j.push(&k, v);
                        }
                    }
                    j
                }
            });
        }
        let in_flight = self
            .in_flight
            .iter()
            .map(|d| {
                let what = HeaderView::new(&d.bytes).map_or("?".to_string(), |h| {
                    let kind = if h.flags().response() {
                        "response"
                    } else {
                        "request"
                    };
                    format!("{} {kind} {}", h.exchange_type(), h.message_id())
                });
                J::Str(format!("#{} {} -> {} {what}", d.number, d.from, d.to))
            })
            .collect();
        let mut state = J::Obj(vec![]);
        for i in 0..self.names.len() {
            let node = &self.net.nodes[i];
            let snapshot = node.ike.snapshot();
            let inbound: Vec<u32> = node.installed.keys().copied().collect();
            let outbound: Vec<(IpAddr, u32)> =
                node.outbound.iter().map(|(p, s)| (*p, *s)).collect();
            let name = self.names[i].clone();
            let j = self.reg.state(&name, &snapshot, &inbound, &outbound);
            state.push(&name, j);
        }
        let time = self.net.now.duration_since(self.start).as_millis() as i128;
        obj([
            ("time", seconds(time)),
            ("events", J::Arr(events)),
            ("in_flight", J::Arr(in_flight)),
            ("state", state),
        ])
    }
}

fn index(names: &[String], name: &str) -> usize {
    names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

/// A number of datagrams, or None for "all".
fn count(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) => Some(n.as_u64().expect("a count") as usize),
        Value::String(s) if s == "all" => None,
        other => panic!("a count or \"all\", not {other}"),
    }
}
