//! More DMVPN scenarios end to end with the real dmvpnd, each in its own
//! set of network namespaces (as in e2e.rs; the helpers are copies so that
//! e2e.rs stays untouched):
//! - Phase 1: shortcuts off on the spokes, redirect off on the hub: LAN to
//!   LAN traffic keeps crossing the hub (TTL 63) and s1 has no shortcut;
//! - hub restart: SIGTERM the hub, start it again with the same state dir,
//!   and both spokes are registered again within 15 s (holding time 30 s,
//!   so the spokes refresh every 10 s);
//! - a spoke with a wrong NHRP password is not registered and the hub
//!   counts an authentication error.
//!
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, Site};
use dmvpn_api::v1 as api;
use holo_utils::checksum::internet_checksum;
use nix::sched::{CloneFlags, setns};
use serde_json::{Value, json};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const TUNNEL: &str = "dmvpn0";

/// Runs a command; panics with its output when it fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn ip_in(ns: &str, args: &str) {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all);
}

fn has_link(ns: &str, name: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A LAN interface: a dummy, or without the dummy module one end of a veth
/// pair whose other end stays unused.
fn add_lan(ns: &str, address: &str) {
    let dummy = Command::new("ip")
        .args(["-n", ns, "link", "add", "lan0", "type", "dummy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !dummy {
        ip_in(ns, "link add lan0 type veth peer name lan0p");
        ip_in(ns, "link set lan0p up");
    }
    ip_in(ns, &format!("addr add {address} dev lan0"));
    ip_in(ns, "link set lan0 up");
}

/// The namespaces of one scenario, deleted on drop.
struct Topology {
    scenario: &'static str,
    namespaces: Vec<String>,
}

impl Topology {
    fn add(&mut self, role: &str) -> String {
        let ns = format!("dmvpnd-e2s-{}-{}-{role}", std::process::id(), self.scenario);
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        self.namespaces.push(ns.clone());
        run("ip", &["netns", "add", &ns]);
        ip_in(&ns, "link set lo up");
        ns
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// dmvpnd in a namespace: SIGTERM (then SIGKILL) on drop.
struct Node {
    site: Site,
    ns: String,
    child: Option<Child>,
}

impl Node {
    fn start(ns: &str, name: &str, startup: &Value) -> Node {
        let site = Site::new(&format!("e2s-{name}"));
        std::fs::write(site.dir.join("startup.json"), startup.to_string()).unwrap();
        let mut node = Node {
            site,
            ns: ns.to_owned(),
            child: None,
        };
        node.spawn();
        node
    }

    /// Starts the daemon (again) with this node's settings, state dir and
    /// startup configuration.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "dmvpnd already running");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_dmvpnd")])
            .arg("--config")
            .arg(self.site.dir.join("dmvpnd.toml"))
            .arg("--startup")
            .arg(self.site.dir.join("startup.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn socket(&self) -> PathBuf {
        self.site.socket()
    }

    /// Waits for the TUN device (the data plane is up).
    fn wait_tunnel(&mut self) {
        let start = Instant::now();
        while !has_link(&self.ns, TUNNEL) {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "dmvpnd in {} exited: {status}\n{}",
                    self.ns,
                    self.site.log()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no {TUNNEL} in {}:\n{}",
                self.ns,
                self.site.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM; the exit status (SIGKILL after 3 s, then `None`).
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// examples/<file> with the tunnel renamed to dmvpn0 and the addresses,
/// GRE key and authentication of this test.
fn startup(file: &str, tunnel: &str, nbma: &str) -> Value {
    let text = std::fs::read_to_string(common::example(file)).unwrap();
    let mut config: Value = serde_json::from_str(&text).unwrap();
    let interface = &mut config["ietf-interfaces:interfaces"]["interface"][0];
    interface["name"] = json!(TUNNEL);
    interface["ietf-ip:ipv4"]["address"][0]["ip"] = json!(tunnel);
    interface["dmvpn-tunnel:tunnel"]["source-address"] = json!(nbma);
    interface["dmvpn-tunnel:tunnel"]["gre-key"] = json!(4242);
    interface["dmvpn-nhrp:nhrp"]["authentication"] = json!("e2e-auth");
    config
}

fn nhrp(config: &mut Value) -> &mut Value {
    &mut config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]
}

fn hub_config() -> Value {
    startup("hub-startup.json", "10.0.0.1", "192.0.2.1")
}

fn spoke_config(tunnel: &str, nbma: &str) -> Value {
    let mut config = startup("spoke-startup.json", tunnel, nbma);
    let nhrp = nhrp(&mut config);
    nhrp["nhs"][0]["nbma-address"] = json!("192.0.2.1");
    nhrp["multicast"]["nbma-address"] = json!(["192.0.2.1"]);
    config
}

/// Hub and two spokes on an underlay bridge, with LANs behind the spokes:
/// the namespaces hub, s1, s2 (in that order).
fn topology(scenario: &'static str) -> (Topology, Vec<String>) {
    let mut topo = Topology {
        scenario,
        namespaces: vec![],
    };
    let ul = topo.add("ul");
    ip_in(&ul, "link add br0 type bridge");
    ip_in(&ul, "link set br0 up");
    let mut namespaces = vec![];
    for (role, nbma, lan) in [
        ("hub", "192.0.2.1", None),
        ("s1", "192.0.2.11", Some("172.16.1.1/24")),
        ("s2", "192.0.2.12", Some("172.16.2.1/24")),
    ] {
        let ns = topo.add(role);
        ip_in(
            &ul,
            &format!("link add {role} type veth peer name eth0 netns {ns}"),
        );
        ip_in(&ul, &format!("link set {role} master br0 up"));
        ip_in(&ns, &format!("addr add {nbma}/24 dev eth0"));
        ip_in(&ns, "link set eth0 up");
        if let Some(lan) = lan {
            add_lan(&ns, lan);
        }
        run(
            "ip",
            &[
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.default.send_redirects=0",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ],
        );
        namespaces.push(ns);
    }
    (topo, namespaces)
}

/// The routes a routing protocol would install: the hub knows each spoke's
/// LAN, the spokes only a summary via the hub.
fn routes(hub: &mut Node, spokes: [&mut Node; 2]) {
    hub.wait_tunnel();
    ip_in(&hub.ns, "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0");
    ip_in(&hub.ns, "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0");
    for node in spokes {
        node.wait_tunnel();
        ip_in(&node.ns, "route add 172.16.0.0/16 via 10.0.0.1 dev dmvpn0");
    }
}

fn root() {
    let uid = run("id", &["-u"]);
    assert_eq!(uid.trim(), "0", "the namespace tests need root");
}

async fn state(client: &mut Client) -> Value {
    let text = common::get(client, api::get_request::DataType::State, "").await;
    serde_json::from_str(&text).unwrap()
}

type Entry = (String, String, String);

/// The NHRP cache entries of the state: (prefix, type, next hop).
fn cache(state: &Value) -> Vec<Entry> {
    let mut entries = vec![];
    for interface in state["ietf-interfaces:interfaces"]["interface"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for e in interface["dmvpn-nhrp:nhrp"]["cache-entry"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            entries.push((s("prefix"), s("type"), s("next-hop")));
        }
    }
    entries
}

/// The NHRP error counter for `reason`, summed over the interfaces.
fn errors(state: &Value, reason: &str) -> u64 {
    let mut total = 0;
    for interface in state["ietf-interfaces:interfaces"]["interface"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for e in interface["dmvpn-nhrp:nhrp"]["counters"]["error"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if e["reason"].as_str() == Some(reason) {
                total += match &e["count"] {
                    Value::String(s) => s.parse().unwrap_or(0),
                    n => n.as_u64().unwrap_or(0),
                };
            }
        }
    }
    total
}

/// Polls the state until `cond` holds; the last state on timeout.
async fn wait_state(
    client: &mut Client,
    limit: Duration,
    cond: impl Fn(&Value) -> bool,
) -> Result<(), Value> {
    let start = Instant::now();
    loop {
        let state = state(client).await;
        if cond(&state) {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(state);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn registered(peers: &[&str]) -> impl Fn(&Value) -> bool {
    move |state: &Value| {
        let cache = cache(state);
        peers
            .iter()
            .all(|p| cache.iter().any(|(_, ty, nh)| nh == p && ty == "dynamic"))
    }
}

async fn connect(socket: &Path) -> Client {
    let start = Instant::now();
    loop {
        if let Ok(mut client) = northbound::grpc::connect_unix(socket).await
            && client
                .capabilities(api::CapabilitiesRequest {})
                .await
                .is_ok()
        {
            return client;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no gRPC answer");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ICMP echo from `from` to `to` in namespace `ns` with a raw socket, in a
/// thread that enters the namespace (no `ping` binary needed): the TTL of
/// each reply received (one entry per answered request).
fn ping_ttls(ns: &str, from: &str, to: &str, count: u16) -> Vec<u8> {
    let (ns, from, to): (String, IpAddr, IpAddr) =
        (ns.to_owned(), from.parse().unwrap(), to.parse().unwrap());
    std::thread::spawn(move || {
        let file = File::open(format!("/var/run/netns/{ns}")).unwrap();
        setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
        socket
            .bind(&SockAddr::from(SocketAddr::new(from, 0)))
            .unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let id = (std::process::id() & 0xffff) as u16 ^ 0x5a5a;
        let mut ttls = vec![];
        for seq in 1..=count {
            let mut echo = vec![8, 0, 0, 0];
            echo.extend_from_slice(&id.to_be_bytes());
            echo.extend_from_slice(&seq.to_be_bytes());
            echo.extend_from_slice(b"dmvpnd e2e scenarios");
            let sum = internet_checksum(&echo);
            echo[2..4].copy_from_slice(&sum.to_be_bytes());
            socket
                .send_to(&echo, &SockAddr::from(SocketAddr::new(to, 0)))
                .unwrap();
            let deadline = Instant::now() + Duration::from_millis(500);
            let mut buf = [0u8; 1500];
            while Instant::now() < deadline {
                let Ok(n) = (&socket).read(&mut buf) else {
                    continue;
                };
                let p = &buf[..n];
                let hl = usize::from(p[0] & 0x0f) * 4;
                let source = IpAddr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap());
                let reply = p.get(hl..hl + 8).unwrap_or_default();
                if source == to
                    && reply.len() == 8
                    && reply[0] == 0
                    && reply[4..6] == id.to_be_bytes()
                    && reply[6..8] == seq.to_be_bytes()
                {
                    ttls.push(p[8]);
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        ttls
    })
    .join()
    .expect("ping thread")
}

/// Phase 1: no redirect on the hub, no shortcuts on the spokes. Spoke to
/// spoke traffic always crosses the hub (TTL 63) and s1 learns no shortcut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phase1_without_shortcuts_traffic_keeps_crossing_the_hub() {
    root();
    let started = Instant::now();
    let (_topo, ns) = topology("p1");
    let mut hub_config = hub_config();
    nhrp(&mut hub_config)["redirect"] = json!(false);
    let mut hub = Node::start(&ns[0], "p1-hub", &hub_config);
    let spoke = |ns: &str, name: &str, tunnel: &str, nbma: &str| {
        let mut config = spoke_config(tunnel, nbma);
        nhrp(&mut config)["shortcut"] = json!(false);
        Node::start(ns, name, &config)
    };
    let mut s1 = spoke(&ns[1], "p1-s1", "10.0.0.11", "192.0.2.11");
    let mut s2 = spoke(&ns[2], "p1-s2", "10.0.0.12", "192.0.2.12");
    routes(&mut hub, [&mut s1, &mut s2]);

    let mut hub_client = connect(&hub.socket()).await;
    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), both).await {
        panic!(
            "spokes did not register: {state:#}\nhub log:\n{}",
            hub.site.log()
        );
    }

    // Long enough for a Phase 3 redirect and resolution to have happened,
    // were they enabled (they take well under a second in e2e.rs).
    let ttls = ping_ttls(&ns[1], "172.16.1.1", "172.16.2.1", 20);
    assert!(
        ttls.len() >= 18,
        "{}/20 echo replies\ns1 log:\n{}\nhub log:\n{}",
        ttls.len(),
        s1.site.log(),
        hub.site.log()
    );
    assert!(
        ttls.iter().all(|&ttl| ttl == 63),
        "a reply did not cross the hub (TTL 63 expected): {ttls:?}"
    );

    let mut s1_client = connect(&s1.socket()).await;
    let s1_state = state(&mut s1_client).await;
    let shortcuts: Vec<Entry> = cache(&s1_state)
        .into_iter()
        .filter(|(_, ty, _)| ty == "shortcut")
        .collect();
    assert!(shortcuts.is_empty(), "s1 has shortcuts: {shortcuts:?}");
    eprintln!("phase 1 took {:?}", started.elapsed());
}

/// Hub restart: with a holding time of 30 s the spokes refresh every 10 s,
/// so both are registered again within 15 s after the hub is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spokes_register_again_after_a_hub_restart() {
    root();
    let started = Instant::now();
    let (_topo, ns) = topology("hr");
    let holding = |mut config: Value| {
        nhrp(&mut config)["holding-time"] = json!(30);
        config
    };
    let mut hub = Node::start(&ns[0], "hr-hub", &holding(hub_config()));
    let mut s1 = Node::start(
        &ns[1],
        "hr-s1",
        &holding(spoke_config("10.0.0.11", "192.0.2.11")),
    );
    let mut s2 = Node::start(
        &ns[2],
        "hr-s2",
        &holding(spoke_config("10.0.0.12", "192.0.2.12")),
    );
    routes(&mut hub, [&mut s1, &mut s2]);

    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    let mut hub_client = connect(&hub.socket()).await;
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), &both).await {
        panic!(
            "spokes did not register: {state:#}\nhub log:\n{}",
            hub.site.log()
        );
    }
    drop(hub_client);

    let status = hub.terminate().expect("the hub did not exit on SIGTERM");
    assert!(status.success(), "hub exit status {status}");
    assert!(!has_link(&ns[0], TUNNEL), "dmvpn0 left behind on the hub");

    // Same settings, same state dir, same startup configuration.
    hub.spawn();
    let restarted = Instant::now();
    hub.wait_tunnel();
    ip_in(&ns[0], "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0");
    ip_in(&ns[0], "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0");
    let mut hub_client = connect(&hub.socket()).await;
    let limit = Duration::from_secs(15).saturating_sub(restarted.elapsed());
    if let Err(state) = wait_state(&mut hub_client, limit, &both).await {
        panic!(
            "spokes not registered again 15 s after the hub restart: {state:#}\nhub log:\n{}\ns1 log:\n{}",
            hub.site.log(),
            s1.site.log()
        );
    }
    eprintln!(
        "re-registered {:?} after the restart; hub restart took {:?}",
        restarted.elapsed(),
        started.elapsed()
    );
}

/// A spoke with the wrong NHRP password: the hub does not register it and
/// counts an authentication error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_with_a_wrong_password_is_rejected_and_counted() {
    root();
    let started = Instant::now();
    let (_topo, ns) = topology("au");
    let mut hub = Node::start(&ns[0], "au-hub", &hub_config());
    let mut bad = spoke_config("10.0.0.11", "192.0.2.11");
    nhrp(&mut bad)["authentication"] = json!("wrong-pw");
    let mut s1 = Node::start(&ns[1], "au-s1", &bad);
    let mut s2 = Node::start(&ns[2], "au-s2", &spoke_config("10.0.0.12", "192.0.2.12"));
    routes(&mut hub, [&mut s1, &mut s2]);

    let mut hub_client = connect(&hub.socket()).await;
    // The good spoke registers, and the hub counts the bad one's attempts.
    let good_and_counted =
        |state: &Value| registered(&["10.0.0.12"])(state) && errors(state, "authentication") > 0;
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), good_and_counted).await
    {
        panic!(
            "no authentication error counted (or s2 not registered): {state:#}\nhub log:\n{}",
            hub.site.log()
        );
    }
    let hub_state = state(&mut hub_client).await;
    let bad_entries: Vec<Entry> = cache(&hub_state)
        .into_iter()
        .filter(|(_, _, nh)| nh == "10.0.0.11")
        .collect();
    assert!(
        bad_entries.is_empty(),
        "the spoke with the wrong password is in the hub's cache: {bad_entries:?}"
    );
    eprintln!(
        "{} authentication errors; took {:?}",
        errors(&hub_state, "authentication"),
        started.elapsed()
    );
}
