//! The interface monitor (`dataplane::interfaces`) against the kernel: a
//! network namespace of its own, where a WAN interface appears, comes up,
//! gets an address (as from DHCP), changes it, loses its carrier and goes
//! away, each seen in a snapshot within a second. Needs root (CI runs as
//! root); the namespace is removed at the end, also when the test panics.
//!
//! The test thread runs the `ip` commands while the monitor's runtime
//! stands still, as a busy daemon might: the kernel queues the
//! notifications meanwhile, and the monitor must catch up on its own.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use dmvpn_test_support::netns::{Netns, assert_root, ip_in};
use holo_dmvpn::dataplane::interfaces::{
    self, InterfaceMonitor, Interfaces, Source, SourceState, source_state,
};
use ipnetwork::IpNetwork;
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// How long a change may take to show in a snapshot.
const WITHIN: Duration = Duration::from_secs(1);

/// Namespace `dmvpn-if-<pid>-<role>`, with nothing up, not even its
/// loopback.
fn netns(role: &str) -> Netns {
    Netns::add(format!("dmvpn-if-{}-{role}", std::process::id()))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Waits up to `limit` for a snapshot that satisfies `what`; panics with
/// the last one.
fn wait(
    runtime: &Runtime,
    updates: &mut watch::Receiver<Interfaces>,
    limit: Duration,
    description: &str,
    what: impl Fn(&Interfaces) -> bool,
) -> Interfaces {
    runtime.block_on(async {
        let waited = tokio::time::timeout(limit, updates.wait_for(|i| what(i)))
            .await
            .map(|r| r.map(|snapshot| snapshot.clone()));
        match waited {
            Ok(Ok(snapshot)) => snapshot,
            Ok(Err(_)) => panic!("{description}: the monitor ended"),
            Err(_) => panic!(
                "{description}: not seen within {limit:?}; last snapshot: {:#?}",
                *updates.borrow()
            ),
        }
    })
}

fn up(address: &str, interface: &str, mtu: u32) -> SourceState {
    SourceState::Up {
        address: address.parse().unwrap(),
        interface: interface.to_string(),
        mtu,
    }
}

fn down(reason: &str) -> SourceState {
    SourceState::Down {
        reason: reason.to_string(),
    }
}

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

#[test]
fn the_tunnel_source_follows_the_wan_interface() {
    assert_root();
    let guard = netns("wan");
    let ns = guard.name();
    let runtime = runtime();
    let monitor = runtime.block_on(InterfaceMonitor::spawn(Some(ns))).unwrap();
    let mut updates = monitor.subscribe();
    let wan0 = Source::Interface("wan0".to_string());
    let first = Source::Address("198.51.100.7".parse().unwrap());
    let second = Source::Address("203.0.113.7".parse().unwrap());

    // The namespace's own loopback is there from the start; no WAN yet.
    let start = monitor.current();
    assert!(start.by_name("lo").is_some(), "{start:#?}");
    assert_eq!(source_state(&start, &wan0), down("no interface wan0"));
    assert_eq!(
        source_state(&start, &first),
        down("no interface has 198.51.100.7")
    );

    // A veth stands in for the WAN NIC: its carrier follows the peer's
    // state (the dummy module is not on every test machine).
    ip_in(ns, "link add wan0 mtu 1480 type veth peer name wan0p");
    let mut step = |description: &str, state: SourceState, source: &Source| {
        wait(&runtime, &mut updates, WITHIN, description, |s| {
            source_state(s, source) == state
        })
    };
    step("new link", down("wan0 is administratively down"), &wan0);
    ip_in(ns, "link set wan0p up");
    ip_in(ns, "link set wan0 up");
    step("link up", down("wan0 has no IPv4 address"), &wan0);

    // DHCP hands out an address a few seconds after start.
    ip_in(ns, "addr add 198.51.100.7/24 dev wan0");
    step("address", up("198.51.100.7", "wan0", 1480), &wan0);
    let snapshot = step("address", up("198.51.100.7", "wan0", 1480), &first);
    let wan = snapshot.by_name("wan0").unwrap();
    assert!(wan.admin_up && wan.carrier && wan.oper_up, "{wan:#?}");
    // The underlay subnet is not behind the tunnel; the tunnel itself is
    // not there yet.
    let nbma = IpAddr::V4("198.51.100.7".parse().unwrap());
    assert_eq!(interfaces::local_prefixes(&snapshot, "dmvpn0", nbma), []);

    // A new lease in another subnet: the old address goes, the new comes.
    ip_in(ns, "addr del 198.51.100.7/24 dev wan0");
    ip_in(ns, "addr add 203.0.113.7/24 dev wan0");
    step("new address", up("203.0.113.7", "wan0", 1480), &wan0);
    step("new address", up("203.0.113.7", "wan0", 1480), &second);
    step("old address", down("no interface has 198.51.100.7"), &first);

    // A bridge's port notifications (AF_BRIDGE) say "deleted" when a port
    // leaves it; wan0 and its address stay.
    ip_in(ns, "link add br0 type bridge");
    ip_in(ns, "link set wan0 master br0");
    ip_in(ns, "link set wan0 nomaster");
    ip_in(ns, "link del br0");
    ip_in(ns, "link set wan0 mtu 1400");
    step("after the bridge", up("203.0.113.7", "wan0", 1400), &wan0);

    // The far end goes down: no carrier, then back.
    ip_in(ns, "link set wan0p down");
    step("no carrier", down("wan0 is down (no carrier)"), &wan0);
    step(
        "no carrier",
        down("203.0.113.7 is on wan0, which is down (no carrier)"),
        &second,
    );
    ip_in(ns, "link set wan0p up");
    step("carrier", up("203.0.113.7", "wan0", 1400), &wan0);

    // The monitor's snapshot is what a fresh dump says: no drift.
    let fresh = runtime.block_on(interfaces::dump(Some(ns))).unwrap();
    wait(
        &runtime,
        &mut monitor.subscribe(),
        WITHIN,
        &format!("the fresh dump {fresh:#?}"),
        |s| *s == fresh,
    );

    ip_in(ns, "link del wan0");
    step("deleted", down("no interface wan0"), &wan0);
    step("deleted", down("no interface has 203.0.113.7"), &second);
    assert_eq!(monitor.resyncs(), 0, "no notification was lost");
}

#[test]
fn local_prefixes_follow_the_lan_addresses() {
    assert_root();
    let guard = netns("lan");
    let ns = guard.name();
    let runtime = runtime();
    let monitor = runtime.block_on(InterfaceMonitor::spawn(Some(ns))).unwrap();
    let mut updates = monitor.subscribe();
    let nbma: IpAddr = "192.0.2.11".parse().unwrap();
    let mut prefixes = |description: &str, want: &[IpNetwork]| {
        wait(&runtime, &mut updates, WITHIN, description, |s| {
            interfaces::local_prefixes(s, "dmvpn0", nbma) == want
        })
    };
    ip_in(ns, "link add eth0 type veth peer name lan0");
    ip_in(ns, "addr add 192.0.2.11/24 dev eth0");
    ip_in(ns, "addr add 172.16.1.1/24 dev lan0");
    prefixes("LAN address", &[net("172.16.1.0/24")]);
    ip_in(ns, "addr add 172.16.7.1/25 dev lan0");
    prefixes("second LAN", &[net("172.16.1.0/24"), net("172.16.7.0/25")]);
    ip_in(ns, "addr del 172.16.1.1/24 dev lan0");
    prefixes("LAN address removed", &[net("172.16.7.0/25")]);
    ip_in(ns, "link del eth0");
    prefixes("LAN gone", &[]);
}

/// The kernel drops notifications a socket has no room for (ENOBUFS): the
/// monitor dumps again rather than miss them. Thousands of addresses are
/// added while its runtime stands still, far more than a default receive
/// buffer (about 200 KB, under 1 KB a notification) holds.
#[test]
fn lost_notifications_are_made_up_by_a_new_dump() {
    assert_root();
    let guard = netns("flood");
    let ns = guard.name();
    let runtime = runtime();
    let monitor = runtime.block_on(InterfaceMonitor::spawn(Some(ns))).unwrap();
    let mut updates = monitor.subscribe();
    ip_in(ns, "link add flood0 type veth peer name flood1");
    const ADDRESSES: usize = 3000;
    let batch: String = (0..ADDRESSES)
        .map(|i| format!("addr add 10.{}.{}.1/32 dev flood0\n", i / 256, i % 256))
        .collect();
    let path = std::env::temp_dir().join(format!("{ns}.batch"));
    std::fs::write(&path, batch).unwrap();
    let path_str = path.to_string_lossy().into_owned();
    let out = Command::new("ip")
        .args(["-n", ns, "-batch", &path_str])
        .output();
    let _ = std::fs::remove_file(&path);
    let out = out.unwrap();
    assert!(out.status.success(), "ip -batch: {out:?}");
    let count = |s: &Interfaces| s.by_name("flood0").map_or(0, |i| i.addresses.len());
    let snapshot = wait(
        &runtime,
        &mut updates,
        Duration::from_secs(10),
        "every address",
        |s| count(s) == ADDRESSES,
    );
    assert_eq!(count(&snapshot), ADDRESSES);
    assert!(
        monitor.resyncs() >= 1,
        "no overrun: the test did not test the repair (receive buffer larger than expected?)"
    );
}

/// A namespace that does not exist is an error that names it.
#[test]
fn a_missing_namespace_is_named_in_the_error() {
    let runtime = runtime();
    let error = runtime
        .block_on(InterfaceMonitor::spawn(Some("dmvpn-if-no-such-netns")))
        .unwrap_err();
    assert!(
        error.to_string().contains("\"dmvpn-if-no-such-netns\""),
        "{error}"
    );
}
