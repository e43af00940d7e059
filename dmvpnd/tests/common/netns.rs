//! Network namespace helpers of the end to end tests (e2e.rs,
//! e2e_scenarios.rs): a hub and two spokes, each the real dmvpnd binary in
//! its own namespace (`ip netns exec`), on an underlay bridge in a fourth
//! namespace. Daemons and namespaces are removed on drop, also when a test
//! fails. Needs root.
// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dmvpn_api::v1 as api;
use holo_utils::checksum::internet_checksum;
use nix::sched::{CloneFlags, setns};
use serde_json::{Value, json};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{Client, Site};

pub const TUNNEL: &str = "dmvpn0";

/// Runs a command; panics with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
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

pub fn ip_in(ns: &str, args: &str) {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all);
}

pub fn has_link(ns: &str, name: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A LAN interface: a dummy, or without the dummy module one end of a veth
/// pair whose other end stays unused.
pub fn add_lan(ns: &str, address: &str) {
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

/// The namespaces of one run (or scenario), deleted on drop; each named
/// `<prefix>-<role>`.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
    namespaces: Vec<String>,
}

impl Topology {
    pub fn new(prefix: String) -> Self {
        Topology {
            prefix,
            namespaces: vec![],
        }
    }

    pub fn add(&mut self, role: &str) -> String {
        let ns = format!("{}-{role}", self.prefix);
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

/// Hub and two spokes on an underlay bridge, with LANs behind the spokes:
/// the namespaces hub, s1, s2 (in that order), named `<prefix>-<role>`.
pub fn topology(prefix: String) -> (Topology, Vec<String>) {
    let mut topo = Topology::new(prefix);
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

/// dmvpnd in a namespace: SIGTERM (then SIGKILL) on drop.
#[derive(Debug)]
pub struct Node {
    pub site: Site,
    pub ns: String,
    child: Option<Child>,
}

impl Node {
    /// Starts dmvpnd in `ns` with a fresh site (temp dir) named `site`.
    pub fn start(ns: &str, site: &str, startup: &Value) -> Node {
        let site = Site::new(site);
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
    pub fn spawn(&mut self) {
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

    pub fn socket(&self) -> PathBuf {
        self.site.socket()
    }

    /// Waits for the TUN device (the data plane is up).
    pub fn wait_tunnel(&mut self) {
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
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
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
/// GRE key and authentication of these tests.
pub fn startup(file: &str, tunnel: &str, nbma: &str) -> Value {
    let text = std::fs::read_to_string(super::example(file)).unwrap();
    let mut config: Value = serde_json::from_str(&text).unwrap();
    let interface = &mut config["ietf-interfaces:interfaces"]["interface"][0];
    interface["name"] = json!(TUNNEL);
    interface["ietf-ip:ipv4"]["address"][0]["ip"] = json!(tunnel);
    interface["dmvpn-tunnel:tunnel"]["source-address"] = json!(nbma);
    interface["dmvpn-tunnel:tunnel"]["gre-key"] = json!(4242);
    interface["dmvpn-nhrp:nhrp"]["authentication"] = json!("e2e-auth");
    config
}

pub fn nhrp(config: &mut Value) -> &mut Value {
    &mut config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]
}

pub fn hub_config() -> Value {
    startup("hub-startup.json", "10.0.0.1", "192.0.2.1")
}

/// A spoke whose NHS (and multicast peer) is the hub at 192.0.2.1.
pub fn spoke_config(tunnel: &str, nbma: &str) -> Value {
    let mut config = startup("spoke-startup.json", tunnel, nbma);
    let nhrp = nhrp(&mut config);
    nhrp["nhs"][0]["nbma-address"] = json!("192.0.2.1");
    nhrp["multicast"]["nbma-address"] = json!(["192.0.2.1"]);
    config
}

/// The routes a routing protocol would install: the hub knows each spoke's
/// LAN, the spokes only a summary via the hub (Phase 3).
pub fn routes(hub: &mut Node, spokes: [&mut Node; 2]) {
    hub.wait_tunnel();
    ip_in(&hub.ns, "route add 172.16.1.0/24 via 10.0.0.11 dev dmvpn0");
    ip_in(&hub.ns, "route add 172.16.2.0/24 via 10.0.0.12 dev dmvpn0");
    for node in spokes {
        node.wait_tunnel();
        ip_in(&node.ns, "route add 172.16.0.0/16 via 10.0.0.1 dev dmvpn0");
    }
}

pub async fn state(client: &mut Client) -> Value {
    let text = super::get(client, api::get_request::DataType::State, "").await;
    serde_json::from_str(&text).unwrap()
}

pub type Entry = (String, String, String);

/// The NHRP cache entries of the state: (prefix, type, next hop).
pub fn cache(state: &Value) -> Vec<Entry> {
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

/// Polls the state until `cond` holds; the last state on timeout.
pub async fn wait_state(
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

/// True when every one of `peers` is a dynamic entry of the cache.
pub fn registered(peers: &[&str]) -> impl Fn(&Value) -> bool {
    move |state: &Value| {
        let cache = cache(state);
        peers
            .iter()
            .all(|p| cache.iter().any(|(_, ty, nh)| nh == p && ty == "dynamic"))
    }
}

pub async fn connect(socket: &Path) -> Client {
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

/// How one test pings: the ICMP identifier, the payload, and the pause
/// after each request.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    pub id: u16,
    pub payload: &'static [u8],
    pub gap: Duration,
}

/// ICMP echo from `from` to `to` in namespace `ns` with a raw socket, in a
/// thread that enters the namespace (no `ping` binary needed): the TTL of
/// each reply received (one entry per answered request).
pub fn ping_ttls(ns: &str, from: &str, to: &str, count: u16, echo: Echo) -> Vec<u8> {
    let (ns, from, to): (String, IpAddr, IpAddr) =
        (ns.to_owned(), from.parse().unwrap(), to.parse().unwrap());
    let Echo { id, payload, gap } = echo;
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
        let mut ttls = vec![];
        for seq in 1..=count {
            let mut echo = vec![8, 0, 0, 0];
            echo.extend_from_slice(&id.to_be_bytes());
            echo.extend_from_slice(&seq.to_be_bytes());
            echo.extend_from_slice(payload);
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
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
        ttls
    })
    .join()
    .expect("ping thread")
}
