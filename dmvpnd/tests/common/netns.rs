//! Network namespace helpers of the end to end tests (e2e.rs,
//! e2e_scenarios.rs, e2e_three.rs, e2e_faults.rs): a hub and two or more
//! spokes, each the real dmvpnd binary in its own namespace (`ip netns
//! exec`), on an underlay bridge in one more namespace. Daemons and
//! namespaces are removed on drop, also when a test fails. Needs root.
//!
//! Addressing of spoke `n` (1, 2, 3, ...): NBMA 192.0.2.(10+n), tunnel
//! 10.0.0.(10+n), LAN 172.16.n.1/24; the hub is 192.0.2.1 / 10.0.0.1.
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
    topology_with(prefix, 2)
}

/// Hub and `spokes` spokes on an underlay bridge, with LANs behind the
/// spokes: the namespaces hub, s1, s2, ... (in that order).
pub fn topology_with(prefix: String, spokes: u8) -> (Topology, Vec<String>) {
    let mut topo = Topology::new(prefix);
    let ul = topo.add("ul");
    ip_in(&ul, "link add br0 type bridge");
    ip_in(&ul, "link set br0 up");
    let mut namespaces = vec![topo.attach("hub", "192.0.2.1", None)];
    for n in 1..=spokes {
        let lan = format!("{}/24", spoke_lan(n));
        namespaces.push(topo.attach(&format!("s{n}"), &spoke_nbma(n), Some(&lan)));
    }
    (topo, namespaces)
}

/// Forwarding on, no ICMP redirects, no reverse path filter: `ns` routes
/// between its LAN and the tunnel, and a hub forwards spoke to spoke back
/// out of the tunnel (an ICMP redirect would teach a spoke a route of its
/// own).
pub fn router_sysctls(ns: &str) {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.conf.default.send_redirects=0",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ],
    );
}

/// Spoke `n`'s NBMA (underlay) address.
pub fn spoke_nbma(n: u8) -> String {
    format!("192.0.2.{}", 10 + u16::from(n))
}

/// Spoke `n`'s tunnel address.
pub fn spoke_tunnel(n: u8) -> String {
    format!("10.0.0.{}", 10 + u16::from(n))
}

/// The address of spoke `n` on its LAN (a /24).
pub fn spoke_lan(n: u8) -> String {
    format!("172.16.{n}.1")
}

/// Spoke `n`'s LAN prefix.
pub fn spoke_net(n: u8) -> String {
    format!("172.16.{n}.0/24")
}

impl Topology {
    /// A namespace `<prefix>-<role>` on the underlay bridge (the topology's
    /// first namespace, `ul`) with `nbma` on its eth0, and a LAN when given;
    /// forwarding on, ICMP redirects and reverse path filtering off (the
    /// tunnel is multipoint: traffic may leave where it came in).
    pub fn attach(&mut self, role: &str, nbma: &str, lan: Option<&str>) -> String {
        let ul = format!("{}-ul", self.prefix);
        let ns = self.add(role);
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
        router_sysctls(&ns);
        ns
    }
}

impl Topology {
    /// Like `attach`, but with the underlay in a namespace of its own, a
    /// front-door VRF: `<prefix>-<role>` holds the LAN (and later the
    /// daemon and its tunnel), `<prefix>-<role>-fvrf` the eth0 on the
    /// underlay bridge with `nbma` and `mtu`. Returns both names, the
    /// daemon's first. Both are created with `ip netns add`, so
    /// /run/netns/NAME exists for `underlay-netns`.
    pub fn attach_fvrf(
        &mut self,
        role: &str,
        nbma: &str,
        lan: Option<&str>,
        mtu: u16,
    ) -> (String, String) {
        let ns = self.add(role);
        if let Some(lan) = lan {
            add_lan(&ns, lan);
        }
        router_sysctls(&ns);
        let fvrf = self.attach(&format!("{role}-fvrf"), nbma, None);
        ip_in(&fvrf, &format!("link set eth0 mtu {mtu}"));
        (ns, fvrf)
    }
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

impl Node {
    /// SIGKILL, as a crash or a power cut: no goodbye, no clean-up by the
    /// daemon (the kernel removes its TUN device with the last descriptor).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A gRPC client of this daemon; panics with its log if it does not
    /// answer.
    pub async fn client(&mut self) -> Client {
        let start = Instant::now();
        loop {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "dmvpnd in {} exited: {status}\n{}",
                    self.ns,
                    self.site.log()
                );
            }
            if let Ok(mut client) = northbound::grpc::connect_unix(&self.socket()).await
                && client
                    .capabilities(api::CapabilitiesRequest {})
                    .await
                    .is_ok()
            {
                return client;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no gRPC answer from dmvpnd in {}:\n{}",
                self.ns,
                self.site.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

/// Waits (8 s at most) until both spokes of `topology` (10.0.0.11 and
/// .12) are registered with `hub`; panics with the hub's state and log
/// otherwise. The hub's client.
pub async fn wait_both_registered(hub: &mut Node) -> Client {
    let mut client = connect(&hub.socket()).await;
    let both = registered(&["10.0.0.11", "10.0.0.12"]);
    if let Err(state) = wait_state(&mut client, Duration::from_secs(8), both).await {
        panic!(
            "spokes did not register: {state:#}\nhub log:\n{}",
            hub.site.log()
        );
    }
    client
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

/// A DMVPN cloud: the hub and spokes s1..sN, each a dmvpnd in its own
/// namespace. Fields drop in order: the daemons stop before their
/// namespaces go.
#[derive(Debug)]
pub struct Cloud {
    pub hub: Node,
    /// `spokes[0]` is s1.
    pub spokes: Vec<Node>,
    pub topo: Topology,
    /// The namespaces: hub, s1, s2, ...
    pub ns: Vec<String>,
}

impl Cloud {
    /// Starts a hub with `hub` and `spokes` spokes, spoke `n` with
    /// `spoke(n)`, in namespaces `<prefix>-<role>`; the sites (temp dirs)
    /// are named `<name>-<role>`.
    pub fn start(
        prefix: String,
        name: &str,
        hub: &Value,
        spokes: u8,
        spoke: impl Fn(u8) -> Value,
    ) -> Cloud {
        let (topo, ns) = topology_with(prefix, spokes);
        let hub = Node::start(&ns[0], &format!("{name}-hub"), hub);
        let spokes = (1..=spokes)
            .map(|n| Node::start(&ns[usize::from(n)], &format!("{name}-s{n}"), &spoke(n)))
            .collect();
        Cloud {
            hub,
            spokes,
            topo,
            ns,
        }
    }

    /// Spoke `n` (1-based, as its name).
    pub fn spoke(&mut self, n: u8) -> &mut Node {
        &mut self.spokes[usize::from(n) - 1]
    }

    /// The routes a routing protocol would install for Phase 3: the hub
    /// knows each spoke's LAN, the spokes only a summary via the hub.
    pub fn phase3_routes(&mut self) {
        self.hub.wait_tunnel();
        for n in 1..=self.spoke_count() {
            let (net, via) = (spoke_net(n), spoke_tunnel(n));
            ip_in(
                &self.hub.ns,
                &format!("route add {net} via {via} dev {TUNNEL}"),
            );
        }
        for spoke in &mut self.spokes {
            spoke.wait_tunnel();
            ip_in(&spoke.ns, "route add 172.16.0.0/16 via 10.0.0.1 dev dmvpn0");
        }
    }

    /// The routes of Phase 2: the hub knows each spoke's LAN and every
    /// spoke reaches every other spoke's LAN via that spoke's tunnel
    /// address, as a routing protocol that keeps the next hop (EIGRP `no
    /// next-hop-self`, iBGP) would install them.
    pub fn phase2_routes(&mut self) {
        self.hub.wait_tunnel();
        let count = self.spoke_count();
        for n in 1..=count {
            let (net, via) = (spoke_net(n), spoke_tunnel(n));
            ip_in(
                &self.hub.ns,
                &format!("route add {net} via {via} dev {TUNNEL}"),
            );
        }
        for (i, spoke) in self.spokes.iter_mut().enumerate() {
            spoke.wait_tunnel();
            for m in (1..=count).filter(|m| usize::from(*m) != i + 1) {
                let (net, via) = (spoke_net(m), spoke_tunnel(m));
                ip_in(
                    &spoke.ns,
                    &format!("route add {net} via {via} dev {TUNNEL}"),
                );
            }
        }
    }

    pub fn spoke_count(&self) -> u8 {
        u8::try_from(self.spokes.len()).unwrap()
    }

    /// Waits until the hub holds every spoke (but those in `except`) as a
    /// dynamic entry and each of them sees its NHS up; panics with the
    /// state and logs otherwise.
    pub async fn wait_registered(&mut self, limit: Duration, except: &[u8]) {
        let peers: Vec<String> = (1..=self.spoke_count())
            .filter(|n| !except.contains(n))
            .map(spoke_tunnel)
            .collect();
        let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
        let mut hub = self.hub.client().await;
        if let Err(state) = wait_state(&mut hub, limit, registered(&peers)).await {
            panic!(
                "spokes {peers:?} not registered: {state:#}\nhub log:\n{}",
                self.hub.site.log()
            );
        }
        for n in (1..=self.spoke_count()).filter(|n| !except.contains(n)) {
            let spoke = self.spoke(n);
            let mut client = spoke.client().await;
            let up = |s: &Value| nhs_status(s, "10.0.0.1").as_deref() == Some("up");
            if let Err(state) = wait_state(&mut client, limit, up).await {
                panic!(
                    "s{n} does not see its NHS up: {state:#}\n{}",
                    spoke.site.log()
                );
            }
        }
    }
}

/// A state counter: the YANG JSON encoding writes uint64 as a string.
pub fn number(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        n => n.as_u64().unwrap_or(0),
    }
}

fn nhrp_states(state: &Value) -> impl Iterator<Item = &Value> {
    state["ietf-interfaces:interfaces"]["interface"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| &i["dmvpn-nhrp:nhrp"])
}

/// The cache entries of the state as the YANG state gives them.
pub fn cache_entries(state: &Value) -> Vec<Value> {
    nhrp_states(state)
        .flat_map(|n| n["cache-entry"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The entries of `ty` whose next hop is `next_hop`.
pub fn entries_via(state: &Value, ty: &str, next_hop: &str) -> Vec<Value> {
    cache_entries(state)
        .into_iter()
        .filter(|e| e["type"] == ty && e["next-hop"] == next_hop)
        .collect()
}

/// The status (`up`, `down`, `connecting`) of the NHS at `protocol`.
pub fn nhs_status(state: &Value, protocol: &str) -> Option<String> {
    nhrp_states(state)
        .flat_map(|n| n["nhs-state"].as_array().cloned().unwrap_or_default())
        .find(|n| n["protocol-address"] == protocol)
        .and_then(|n| n["status"].as_str().map(str::to_owned))
}

/// The NHRP error counter for `reason`, summed over the interfaces.
pub fn error_count(state: &Value, reason: &str) -> u64 {
    nhrp_states(state)
        .flat_map(|n| {
            n["counters"]["error"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|e| e["reason"] == reason)
        .map(|e| number(&e["count"]))
        .sum()
}

/// NHRP packets of `ty` (`registration-request`, ...) counted in
/// `direction` (`sent` or `received`).
pub fn message_count(state: &Value, ty: &str, direction: &str) -> u64 {
    nhrp_states(state)
        .flat_map(|n| {
            n["counters"]["message"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| m["type"] == ty)
        .map(|m| number(&m[direction]))
        .sum()
}

/// NHRP packets received from the peer at `nbma` (decoded and
/// authenticated); `None` when the peer is not counted at all.
pub fn peer_received(state: &Value, nbma: &str) -> Option<u64> {
    nhrp_states(state)
        .flat_map(|n| {
            n["counters"]["peer"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|p| p["nbma-address"] == nbma)
        .map(|p| number(&p["received"]))
}

/// The kernel's packet counters (received, sent) of the tunnel device in
/// `ns`: every data packet dmvpnd hands to the kernel or takes from it
/// crosses them (NHRP does not: it stays in the daemon), so on the hub they
/// stand still once spokes talk directly.
pub fn tunnel_packets(ns: &str) -> (u64, u64) {
    let out = run("ip", &["-n", ns, "-s", "-j", "link", "show", TUNNEL]);
    let link: Value = serde_json::from_str(&out).unwrap();
    let stats = &link[0]["stats64"];
    (
        number(&stats["rx"]["packets"]),
        number(&stats["tx"]["packets"]),
    )
}

/// `ip route show proto 205` in `ns`: the routes dmvpnd installed.
pub fn dmvpn_routes(ns: &str) -> String {
    let proto = holo_dmvpn::dataplane::kernel_routes::RTPROT_DMVPN.to_string();
    run("ip", &["-n", ns, "route", "show", "proto", &proto])
}

/// Polls `cond` every 50 ms for at most `limit`; false on timeout.
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Calls a YANG RPC (`{"dmvpn-nhrp:purge": {...}}`) over gRPC, as dmvpn-cli
/// does.
pub async fn execute(client: &mut Client, input: &Value) {
    client
        .execute(api::ExecuteRequest {
            data: Some(api::DataTree {
                encoding: api::Encoding::Json as i32,
                data: input.to_string(),
            }),
        })
        .await
        .unwrap_or_else(|e| panic!("{input}: {e}"));
}

/// The dmvpn-tunnel peer table row of the peer at `nbma`.
pub fn tunnel_peer(state: &Value, nbma: &str) -> Option<Value> {
    state["ietf-interfaces:interfaces"]["interface"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| {
            i["dmvpn-tunnel:tunnel"]["peer"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|p| p["nbma-address"] == nbma)
}

/// Data-plane drops for `reason` (`wrong-key`, ...): of the whole tunnel,
/// or of the peer at `nbma` when given.
pub fn dataplane_drops(state: &Value, nbma: Option<&str>, reason: &str) -> u64 {
    let drops = |counters: &Value| -> u64 {
        counters["drop"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["reason"] == reason)
            .map(|d| number(&d["count"]))
            .sum()
    };
    match nbma {
        Some(nbma) => tunnel_peer(state, nbma).map_or(0, |p| drops(&p["counters"])),
        None => state["ietf-interfaces:interfaces"]["interface"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| drops(&i["dmvpn-tunnel:tunnel"]["statistics"]))
            .sum(),
    }
}
