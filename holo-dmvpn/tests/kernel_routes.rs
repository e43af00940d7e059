//! NHRP routes in the kernel (`dataplane::kernel_routes`) against a real
//! routing table: a network namespace with a dummy (or veth) `dmvpn0`, a stale route
//! of our protocol (a crashed run's) and an operator's static route for the
//! same prefix as the shortcut. Needs root (CI runs as root); the namespace
//! is removed at the end, also when the test panics.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use dmvpn_test_support::netns::{Netns, add_dummy, assert_root, dmvpn_routes, enter, ip_in};
use holo_dmvpn::dataplane::kernel_routes::{KernelRoutes, RTPROT_DMVPN};

#[test]
fn install_replace_remove_flush_and_shutdown() {
    assert_root();
    let guard = Netns::add(format!("dmvpn-kroutes-{}", std::process::id()));
    let ns = guard.name();
    add_dummy(ns, "dmvpn0", "10.0.0.11/24");
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
    let name = ns.to_owned();
    let thread = std::thread::spawn(move || {
        enter(&name).unwrap();
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
    assert_eq!(dmvpn_routes(ns), "", "stale route flushed at open");
    assert!(ip_in(ns, "route show").contains(static_route));
    proceed();
    next();
    let shown = dmvpn_routes(ns);
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
    let shown = dmvpn_routes(ns);
    assert!(
        shown.contains("172.16.2.0/24 via 10.0.0.13 dev dmvpn0") && shown.lines().count() == 1,
        "replaced: {shown}"
    );
    proceed();
    next();
    assert_eq!(dmvpn_routes(ns), "", "removed");
    assert!(ip_in(ns, "route show").contains(static_route));
    proceed();
    next();
    assert!(dmvpn_routes(ns).contains("172.16.3.0/24 via 10.0.0.12 dev dmvpn0"));
    proceed();
    next();
    assert_eq!(dmvpn_routes(ns), "", "nothing left after shutdown");
    assert!(ip_in(ns, "route show").contains(static_route));
    assert!(ip_in(ns, "link show dmvpn0").contains("dmvpn0"));
    proceed();
    thread.join().unwrap();
}
