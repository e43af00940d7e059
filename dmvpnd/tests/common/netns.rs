//! dmvpnd in network namespaces, for the end to end tests (e2e*.rs,
//! routing_*.rs, interop_frr.rs): each daemon the real dmvpnd binary in
//! its own namespace (`ip netns exec`), its startup configuration derived
//! from examples/, its state read over gRPC. Daemons are stopped on drop,
//! also when a test fails. Needs root.
//!
//! The namespaces themselves, the hub-and-spokes topology and its
//! addressing, and ping come from `dmvpn_test_support`, re-exported here
//! so that a test file imports all it needs from one place.
// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dmvpn_api::v1 as api;
use serde_json::{Value, json};

// Each test binary uses a part of these (as of the rest of `common`).
#[allow(unused_imports)]
pub use dmvpn_test_support::{
    netns::{
        add_lan, assert_root, dmvpn_routes, enter, has_link, ip_in, masquerade, private_segment,
        router_sysctls, run, sysctl,
    },
    ping::{Echo, ping_ttls, ping_ttls_within},
    poll,
    topology::{
        TUNNEL, Topology, spoke_lan, spoke_nbma, spoke_net, spoke_tunnel, topology, topology_with,
    },
};

use super::{Client, Site, try_connect};

/// dmvpnd in a namespace: SIGTERM (then SIGKILL) on drop.
#[derive(Debug)]
pub struct Node {
    pub site: Site,
    pub ns: String,
    child: Option<Child>,
    /// A command the daemon runs under (`setpriv ...`), if any.
    pub wrapper: Vec<String>,
}

impl Node {
    /// Starts dmvpnd in `ns` with a fresh site (temp dir) named `site`.
    pub fn start(ns: &str, site: &str, startup: &Value) -> Node {
        Node::start_with(ns, site, startup, "")
    }

    /// `start`, the daemon run by `wrapper` (e.g. `setpriv ... --`).
    #[allow(dead_code)]
    pub fn start_under(ns: &str, site: &str, startup: &Value, wrapper: &[&str]) -> Node {
        let wrapper = wrapper.iter().map(|w| w.to_string()).collect();
        Node::launch(ns, Site::new(site), startup, wrapper)
    }

    /// `start`, with `settings` (TOML) added to the daemon settings.
    pub fn start_with(ns: &str, site: &str, startup: &Value, settings: &str) -> Node {
        let site = Site::new(site);
        if !settings.is_empty() {
            let file = site.dir.join("dmvpnd.toml");
            let mut text = std::fs::read_to_string(&file).unwrap();
            text.push_str(settings);
            std::fs::write(&file, text).unwrap();
        }
        Node::launch(ns, site, startup, vec![])
    }

    /// Writes the startup configuration (on this run's data plane) into
    /// `site` and starts the daemon there.
    fn launch(ns: &str, site: Site, startup: &Value, wrapper: Vec<String>) -> Node {
        let startup = with_data_plane(startup.clone());
        std::fs::write(site.dir.join("startup.json"), startup.to_string()).unwrap();
        let mut node = Node {
            site,
            ns: ns.to_owned(),
            child: None,
            wrapper,
        };
        node.spawn();
        node
    }

    /// Starts the daemon (again) with this node's settings, state dir and
    /// startup configuration.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "dmvpnd already running");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(&self.wrapper)
            .arg(env!("CARGO_BIN_EXE_dmvpnd"))
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

    /// Panics with the log when the daemon has exited.
    fn assert_running(&mut self) {
        if let Some(child) = &mut self.child
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "dmvpnd in {} exited: {status}\n{}",
                self.ns,
                self.site.log()
            );
        }
    }

    /// Waits for the TUN device (the data plane is up).
    pub fn wait_tunnel(&mut self) {
        let start = Instant::now();
        while !has_link(&self.ns, TUNNEL) {
            self.assert_running();
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
        let socket = self.socket();
        let client = try_connect(&socket, Duration::from_secs(20), || self.assert_running()).await;
        client.unwrap_or_else(|| {
            panic!(
                "no gRPC answer from dmvpnd in {}:\n{}",
                self.ns,
                self.site.log()
            )
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The data plane the end-to-end suites run on: `DMVPN_TEST_DATA_PLANE`
/// (`userspace`, `ebpf`), else the daemon's default. `scripts/test.sh`
/// runs them once per data plane. A tunnel whose configuration names its
/// data plane keeps it.
pub fn data_plane() -> Option<String> {
    std::env::var("DMVPN_TEST_DATA_PLANE")
        .ok()
        .filter(|kind| !kind.is_empty())
}

/// `startup` with `data_plane()` on each tunnel that does not name one.
pub fn with_data_plane(mut startup: Value) -> Value {
    let Some(kind) = data_plane() else {
        return startup;
    };
    if let Some(interfaces) = startup["ietf-interfaces:interfaces"]["interface"].as_array_mut() {
        for interface in interfaces {
            if let Some(tunnel) = interface
                .get_mut("dmvpn-tunnel:tunnel")
                .and_then(Value::as_object_mut)
                && !tunnel.contains_key("data-plane")
            {
                tunnel.insert("data-plane".to_string(), json!(kind));
            }
        }
    }
    startup
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
    let state = serde_json::from_str(&text).unwrap();
    check_data_plane(&state);
    state
}

/// Set by a test that refuses the fast path on purpose (nextest runs each
/// test in a process of its own).
static FALLBACK_EXPECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// This test's daemons fall back to the userspace plane on purpose.
#[allow(dead_code)]
pub fn expect_fallback() {
    FALLBACK_EXPECTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// With `DMVPN_TEST_DATA_PLANE=ebpf`, every tunnel in `state` runs on the
/// fast path, or stands aside for a reason of the design (IPsec, a
/// front-door namespace, a source not up yet): a suite that silently ran
/// on the userspace plane would prove nothing about the fast path.
pub fn check_data_plane(state: &Value) {
    if data_plane().as_deref() != Some("ebpf")
        || FALLBACK_EXPECTED.load(std::sync::atomic::Ordering::Relaxed)
    {
        return;
    }
    for interface in state["ietf-interfaces:interfaces"]["interface"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let tunnel = &interface["dmvpn-tunnel:tunnel"];
        let Some(in_use) = tunnel["data-plane-in-use"].as_str() else {
            continue;
        };
        let reason = tunnel["fast-path-reason"].as_str().unwrap_or_default();
        let by_design = [
            "IPsec",
            "namespace",
            "not up",
            "starting",
            "no interface holds",
        ];
        assert!(
            in_use == "ebpf" || by_design.iter().any(|r| reason.contains(r)),
            "{} runs on the {in_use} plane: {reason}",
            interface["name"]
        );
    }
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

/// A client of the daemon at `socket`, which answers within 10 s.
pub async fn connect(socket: &Path) -> Client {
    try_connect(socket, Duration::from_secs(10), || {})
        .await
        .expect("no gRPC answer")
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

/// The rows of NHRP counter list `list` (`error`, `message`, `peer`) of
/// every interface.
fn counter_rows<'a>(state: &'a Value, list: &'a str) -> impl Iterator<Item = Value> + 'a {
    nhrp_states(state)
        .flat_map(move |n| n["counters"][list].as_array().cloned().unwrap_or_default())
}

/// The NHRP error counter for `reason`, summed over the interfaces.
pub fn error_count(state: &Value, reason: &str) -> u64 {
    counter_rows(state, "error")
        .filter(|e| e["reason"] == reason)
        .map(|e| number(&e["count"]))
        .sum()
}

/// NHRP packets of `ty` (`registration-request`, ...) counted in
/// `direction` (`sent` or `received`).
pub fn message_count(state: &Value, ty: &str, direction: &str) -> u64 {
    counter_rows(state, "message")
        .filter(|m| m["type"] == ty)
        .map(|m| number(&m[direction]))
        .sum()
}

/// NHRP packets received from the peer at `nbma` (decoded and
/// authenticated); `None` when the peer is not counted at all.
pub fn peer_received(state: &Value, nbma: &str) -> Option<u64> {
    counter_rows(state, "peer")
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
