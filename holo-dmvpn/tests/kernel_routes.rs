//! NHRP routes in the kernel (`dataplane::kernel_routes`) against a real
//! routing table: a network namespace with a dummy (or veth) `dmvpn0`, a stale route
//! of our protocol (a crashed run's) and an operator's static route for the
//! same prefix as the shortcut. Needs root (CI runs as root); the namespace
//! is removed at the end, also when the test panics.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::process::Command;

use holo_dmvpn::dataplane::kernel_routes::{KernelRoutes, RTPROT_DMVPN};
use nix::sched::{CloneFlags, setns};

/// Runs `ip -n NS ARGS`; panics with its output when it fails.
fn ip_in(ns: &str, args: &str) -> String {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    let out = Command::new("ip").args(&all).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ip {all:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn ours(ns: &str) -> String {
    ip_in(ns, &format!("route show proto {RTPROT_DMVPN}"))
}

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

#[test]
fn install_replace_remove_flush_and_shutdown() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the namespace test needs root"
    );
    let guard = Namespace(format!("dmvpn-kroutes-{}", std::process::id()));
    let ns = &guard.0;
    let _ = Command::new("ip").args(["netns", "del", ns]).output();
    let out = Command::new("ip")
        .args(["netns", "add", ns])
        .output()
        .unwrap();
    assert!(out.status.success(), "ip netns add {ns}");
    // A dummy, or without the dummy module one end of a veth pair.
    let dummy = Command::new("ip")
        .args(["-n", ns, "link", "add", "dmvpn0", "type", "dummy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !dummy {
        ip_in(ns, "link add dmvpn0 type veth peer name dmvpn0p");
        ip_in(ns, "link set dmvpn0p up");
    }
    ip_in(ns, "addr add 10.0.0.11/24 dev dmvpn0");
    ip_in(ns, "link set dmvpn0 up");
    // A crashed run's route, and the operator's own for the shortcut prefix.
    ip_in(
        ns,
        &format!("route add 172.16.9.0/24 via 10.0.0.99 dev dmvpn0 proto {RTPROT_DMVPN}"),
    );
    ip_in(ns, "route add 172.16.2.0/24 via 10.0.0.1 dev dmvpn0");
    let static_route = "172.16.2.0/24 via 10.0.0.1 dev dmvpn0";

    // The netlink socket is opened in the namespace, by a thread inside it.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let name = ns.clone();
    let thread = std::thread::spawn(move || {
        setns(
            File::open(format!("/var/run/netns/{name}")).unwrap(),
            CloneFlags::CLONE_NEWNET,
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let step = || {
                done_tx.send(()).unwrap();
                rx.recv().unwrap();
            };
            let mut routes = KernelRoutes::open("dmvpn0").await.unwrap();
            step();
            routes
                .install(
                    "172.16.2.0/24".parse().unwrap(),
                    "10.0.0.12".parse().unwrap(),
                )
                .await;
            step();
            routes
                .install(
                    "172.16.2.0/24".parse().unwrap(),
                    "10.0.0.13".parse().unwrap(),
                )
                .await;
            step();
            assert!(routes.remove("172.16.2.0/24".parse().unwrap()).await);
            assert!(!routes.remove("172.16.2.0/24".parse().unwrap()).await);
            step();
            routes
                .install(
                    "172.16.3.0/24".parse().unwrap(),
                    "10.0.0.12".parse().unwrap(),
                )
                .await;
            step();
            routes.shutdown().await;
            step();
        });
    });
    let next = || {
        done_rx.recv().unwrap();
    };
    let proceed = || tx.send(()).unwrap();

    next();
    assert_eq!(ours(ns), "", "stale route flushed at open");
    assert!(ip_in(ns, "route show").contains(static_route));
    proceed();
    next();
    let shown = ours(ns);
    assert!(
        shown.contains("172.16.2.0/24 via 10.0.0.12 dev dmvpn0"),
        "{shown}"
    );
    assert!(
        ip_in(ns, "route show").contains(static_route),
        "not replaced"
    );
    proceed();
    next();
    let shown = ours(ns);
    assert!(
        shown.contains("172.16.2.0/24 via 10.0.0.13 dev dmvpn0") && shown.lines().count() == 1,
        "replaced: {shown}"
    );
    proceed();
    next();
    assert_eq!(ours(ns), "", "removed");
    assert!(ip_in(ns, "route show").contains(static_route));
    proceed();
    next();
    assert!(ours(ns).contains("172.16.3.0/24 via 10.0.0.12 dev dmvpn0"));
    proceed();
    next();
    assert_eq!(ours(ns), "", "nothing left after shutdown");
    assert!(ip_in(ns, "route show").contains(static_route));
    assert!(ip_in(ns, "link show dmvpn0").contains("dmvpn0"));
    proceed();
    thread.join().unwrap();
}
