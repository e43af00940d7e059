//! The real dmvpnd end to end: a hub and two spokes, each the dmvpnd
//! binary in its own network namespace (`ip netns exec`) with its own state
//! dir, settings and a startup configuration derived from
//! examples/*-startup.json. The underlay is a bridge in a fourth namespace.
//! Proves that both spokes register (hub state over gRPC), that LAN to LAN
//! traffic flows, and that s1 ends up with a Phase 3 shortcut to s2's LAN,
//! also in its kernel routing table (protocol `RTPROT_DMVPN`), gone after
//! SIGTERM.
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when the test fails.
//!
//! ```text
//!   s1 lan0 172.16.1.1/24        hub               s2 lan0 172.16.2.1/24
//!   s1 dmvpn0 10.0.0.11 ---- dmvpn0 10.0.0.1 ---- dmvpn0 10.0.0.12
//!   s1 eth0 192.0.2.11 ---[ul: br0]--- hub eth0 192.0.2.1 --- s2 eth0 192.0.2.12
//! ```

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
use holo_dmvpn::dataplane::kernel_routes::RTPROT_DMVPN;
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

/// `ip route show proto RTPROT_DMVPN` in `ns`: dmvpnd's routes.
fn our_routes(ns: &str) -> String {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "ip",
            "route",
            "show",
            "proto",
            &RTPROT_DMVPN.to_string(),
        ],
    )
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

/// The namespaces of one run, deleted on drop.
struct Topology {
    namespaces: Vec<String>,
}

impl Topology {
    fn add(&mut self, role: &str) -> String {
        let ns = format!("dmvpnd-e2e-{}-{role}", std::process::id());
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
        let site = Site::new(&format!("e2e-{name}"));
        let file = site.dir.join("startup.json");
        std::fs::write(&file, startup.to_string()).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_dmvpnd")])
            .arg("--config")
            .arg(site.dir.join("dmvpnd.toml"))
            .arg("--startup")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Node {
            site,
            ns: ns.to_owned(),
            child: Some(child),
        }
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

async fn wait_state(
    client: &mut Client,
    limit: Duration,
    cond: impl Fn(&[Entry]) -> bool,
) -> Result<(), Value> {
    let start = Instant::now();
    loop {
        let state = state(client).await;
        if cond(&cache(&state)) {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(state);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
/// thread that enters the namespace (no `ping` binary needed): how many of
/// `count` requests got their reply.
fn ping(ns: &str, from: &str, to: &str, count: u16) -> usize {
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
        let id = (std::process::id() & 0xffff) as u16;
        let mut replies = 0;
        for seq in 1..=count {
            let mut echo = vec![8, 0, 0, 0];
            echo.extend_from_slice(&id.to_be_bytes());
            echo.extend_from_slice(&seq.to_be_bytes());
            echo.extend_from_slice(b"dmvpnd e2e");
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
                    replies += 1;
                    break;
                }
            }
        }
        replies
    })
    .join()
    .expect("ping thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_two_spoke_daemons_register_forward_and_build_a_shortcut() {
    let uid = run("id", &["-u"]);
    assert_eq!(uid.trim(), "0", "the namespace test needs root");
    let started = Instant::now();

    let mut topo = Topology { namespaces: vec![] };
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
    let (hub_ns, s1_ns, s2_ns) = (&namespaces[0], &namespaces[1], &namespaces[2]);

    // Declared after the topology: dropped (stopped) before it goes.
    let mut hub = Node::start(
        hub_ns,
        "hub",
        &startup("hub-startup.json", "10.0.0.1", "192.0.2.1"),
    );
    let spoke = |ns: &str, name: &str, tunnel: &str, nbma: &str| {
        let mut config = startup("spoke-startup.json", tunnel, nbma);
        let nhrp = &mut config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"];
        nhrp["nhs"][0]["nbma-address"] = json!("192.0.2.1");
        nhrp["multicast"]["nbma-address"] = json!(["192.0.2.1"]);
        Node::start(ns, name, &config)
    };
    let mut s1 = spoke(s1_ns, "s1", "10.0.0.11", "192.0.2.11");
    let mut s2 = spoke(s2_ns, "s2", "10.0.0.12", "192.0.2.12");

    // The routes a routing protocol would install: the hub knows each
    // spoke's LAN, the spokes only a summary via the hub (Phase 3).
    hub.wait_tunnel();
    ip_in(hub_ns, "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0");
    ip_in(hub_ns, "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0");
    for node in [&mut s1, &mut s2] {
        node.wait_tunnel();
        ip_in(&node.ns, "route add 172.16.0.0/16 via 10.0.0.1 dev dmvpn0");
    }

    // Both spokes register: the hub's cache holds them as dynamic entries.
    let mut hub_client = connect(&hub.socket()).await;
    let registered = |cache: &[Entry]| {
        ["10.0.0.11", "10.0.0.12"]
            .iter()
            .all(|p| cache.iter().any(|(_, ty, nh)| nh == p && ty == "dynamic"))
    };
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), registered).await {
        panic!(
            "spokes did not register: {state:#}\nhub log:\n{}\ns1 log:\n{}",
            hub.site.log(),
            s1.site.log()
        );
    }

    // LAN to LAN: the first packets cross the hub, which redirects s1.
    let replies = ping(s1_ns, "172.16.1.1", "172.16.2.1", 3);
    assert!(
        replies >= 2,
        "{replies}/3 echo replies from 172.16.2.1\ns1 log:\n{}\nhub log:\n{}",
        s1.site.log(),
        hub.site.log()
    );

    // Phase 3: s1 holds a shortcut for s2's LAN, via s2's tunnel address.
    let mut s1_client = connect(&s1.socket()).await;
    let shortcut = |cache: &[Entry]| {
        cache.iter().any(|(prefix, ty, nh)| {
            prefix == "172.16.2.0/24" && ty == "shortcut" && nh == "10.0.0.12"
        })
    };
    if let Err(state) = wait_state(&mut s1_client, Duration::from_secs(5), shortcut).await {
        panic!(
            "no shortcut for 172.16.2.0/24 on s1: {state:#}\ns1 log:\n{}\ns2 log:\n{}",
            s1.site.log(),
            s2.site.log()
        );
    }
    // And traffic still flows, now over the shortcut.
    assert_eq!(ping(s1_ns, "172.16.1.1", "172.16.2.1", 2), 2);

    // The shortcut is a kernel route of dmvpnd's own protocol on s1.
    let start = Instant::now();
    while !our_routes(s1_ns).contains("172.16.2.0/24 via 10.0.0.12 dev dmvpn0") {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no shortcut route of proto {RTPROT_DMVPN} on s1: {:?}\n{}\ns1 log:\n{}",
            our_routes(s1_ns),
            run("ip", &["-n", s1_ns, "route", "show"]),
            s1.site.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGTERM: s1 exits cleanly and leaves no route of that protocol.
    let status = s1.terminate().expect("s1 did not exit on SIGTERM");
    assert!(status.success(), "s1 exit status {status}");
    assert_eq!(our_routes(s1_ns), "", "routes left behind in s1");
    // Deleted by dmvpnd itself, not only by the kernel with the TUN device.
    let log = s1.site.log();
    assert!(
        log.lines()
            .any(|l| l.contains("NHRP routes removed from the kernel") && l.contains("removed=1")),
        "s1 did not remove its route on SIGTERM:\n{log}"
    );

    // SIGTERM: the daemon exits cleanly and its TUN device is gone.
    let status = s2.terminate().expect("s2 did not exit on SIGTERM");
    assert!(status.success(), "s2 exit status {status}");
    assert!(!has_link(s2_ns, TUNNEL), "dmvpn0 left behind in s2");

    eprintln!("e2e took {:?}", started.elapsed());
}
