//! Network namespaces of `ip netns` and the commands that fill them: links,
//! addresses, sysctls, NAT. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN).

use std::fs::File;
use std::process::{Command, Stdio};

use holo_dmvpn::dataplane::kernel_routes::RTPROT_DMVPN;
use nix::sched::{CloneFlags, setns};

/// Panics unless the tests run as root: they create namespaces, links and
/// raw sockets.
pub fn assert_root() {
    let uid = run("id", &["-u"]);
    assert_eq!(
        uid.trim(),
        "0",
        "the network-namespace tests need root (CAP_NET_ADMIN, CAP_NET_RAW, \
         CAP_SYS_ADMIN for setns): run them as root"
    );
}

/// Runs a command; its standard output, or a panic with all of its output
/// when it fails.
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

/// `ip -n NS ARGS` (ARGS split at white space): its standard output.
pub fn ip_in(ns: &str, args: &str) -> String {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all)
}

/// `sysctl -qw SETTINGS` inside `ns`.
pub fn sysctl(ns: &str, settings: &[&str]) {
    let mut args = vec!["netns", "exec", ns, "sysctl", "-qw"];
    args.extend(settings);
    run("ip", &args);
}

/// Whether `ns` has a link `name`.
pub fn has_link(ns: &str, name: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Moves the calling thread into network namespace `ns` (setns(2) changes
/// the calling thread only); sockets it opens afterwards are there.
pub fn enter(ns: &str) -> Result<(), String> {
    let path = format!("/var/run/netns/{ns}");
    File::open(&path)
        .map_err(|e| e.to_string())
        .and_then(|f| setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string()))
        .map_err(|e| format!("entering {path}: {e}"))
}

/// A network namespace of `ip netns add`, deleted on drop (also when the
/// test panics), which takes its interfaces with it.
#[derive(Debug)]
pub struct Netns(String);

impl Netns {
    /// Creates namespace `name`, after deleting a leftover of a crashed run
    /// of the same name. Nothing in it is up, not even its loopback.
    pub fn add(name: String) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        Netns(name)
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// An interface `name` with `address`, up: a dummy, or where the kernel has
/// no dummy module one end of a veth pair (`<name>p`, up) whose other end
/// stays unused.
pub fn add_dummy(ns: &str, name: &str, address: &str) {
    let dummy = Command::new("ip")
        .args(["-n", ns, "link", "add", name, "type", "dummy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !dummy {
        ip_in(ns, &format!("link add {name} type veth peer name {name}p"));
        ip_in(ns, &format!("link set {name}p up"));
    }
    ip_in(ns, &format!("addr add {address} dev {name}"));
    ip_in(ns, &format!("link set {name} up"));
}

/// A LAN interface `lan0` with `address` (see [`add_dummy`]).
pub fn add_lan(ns: &str, address: &str) {
    add_dummy(ns, "lan0", address);
}

/// Forwarding on, no ICMP redirects, no reverse path filter: `ns` routes
/// between its LAN and the tunnel, and a hub forwards spoke to spoke back
/// out of the tunnel (an ICMP redirect would teach a spoke a route of its
/// own).
pub fn router_sysctls(ns: &str) {
    sysctl(
        ns,
        &[
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.conf.default.send_redirects=0",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ],
    );
}

/// Namespace `inside` behind the router `router` on a private /24: a veth
/// pair, the router's end `eth1` with `gateway`, the inside end `eth0` with
/// `address` and the default route via `gateway`.
pub fn private_segment(router: &str, inside: &str, gateway: &str, address: &str) {
    ip_in(
        router,
        &format!("link add eth1 type veth peer name eth0 netns {inside}"),
    );
    ip_in(router, &format!("addr add {gateway}/24 dev eth1"));
    ip_in(router, "link set eth1 up");
    ip_in(inside, &format!("addr add {address}/24 dev eth0"));
    ip_in(inside, "link set eth0 up");
    ip_in(inside, &format!("route add default via {gateway}"));
}

/// `ns` masquerades what it forwards out of `interface`, as a home router
/// does. GRE has no ports, so conntrack keys on the address pair: a packet
/// from outside only gets in if the inside sent to its source first.
pub fn masquerade(ns: &str, interface: &str) {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            interface,
            "-j",
            "MASQUERADE",
        ],
    );
}

/// `ip route show proto 205` in `ns`: the routes of the DMVPN data plane
/// (`RTPROT_DMVPN`).
pub fn dmvpn_routes(ns: &str) -> String {
    ip_in(ns, &format!("route show proto {RTPROT_DMVPN}"))
}
