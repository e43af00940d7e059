//! /32 tunnel addresses, FRR's convention, end to end: every node holds
//! only its own tunnel address (10.0.0.x/32) and the routes into the tunnel
//! are `onlink`, as FRR's nhrpd clouds are built. Nothing is in a connected
//! subnet of the tunnel, so a shortcut route without the on-link flag is
//! refused by the kernel ("Network is unreachable"); with it, s1 installs
//! its Phase 3 shortcut as a kernel route of protocol 205 and its LAN
//! talks to s2's directly (echo replies with TTL 64, the hub's tunnel
//! counters standing still).
//!
//! ```text
//!   s1 lan0 172.16.1.1/24          hub                s2 lan0 172.16.2.1/24
//!   s1 dmvpn0 10.0.0.11/32 --- dmvpn0 10.0.0.1/32 --- dmvpn0 10.0.0.12/32
//!   s1 eth0 192.0.2.11 ---[ul: br0]--- hub eth0 192.0.2.1 --- s2 eth0 192.0.2.12
//!   hub: 172.16.n.0/24 via 10.0.0.1n dev dmvpn0 onlink
//!   spokes: 172.16.0.0/16 via 10.0.0.1 dev dmvpn0 onlink
//! ```
//!
//! Also `KernelRoutes` alone on a /32 device: install, replace and remove
//! of IPv4 and IPv6 routes whose next hop is in no connected subnet.
//!
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::netns::{
    Cloud, Echo, TUNNEL, assert_root, dmvpn_routes, enter, entries_via, execute, hub_config, ip_in,
    ping_ttls, poll, run, spoke_config, spoke_lan, spoke_nbma, spoke_net, spoke_tunnel,
    tunnel_packets, wait_state,
};
use dmvpn_test_support::netns::{Netns, add_dummy};
use holo_dmvpn::dataplane::kernel_routes::KernelRoutes;
use serde_json::{Value, json};

/// TTL of an echo reply that came straight from the far spoke (one that
/// crossed the hub arrives with 63).
const DIRECT: u8 = 64;

/// Namespaces `dmvpnd-onl-<pid>-<scenario>-<role>`.
fn prefix(scenario: &str) -> String {
    format!("dmvpnd-onl-{}-{scenario}", std::process::id())
}

fn echo() -> Echo {
    Echo {
        id: (std::process::id() & 0xffff) as u16 ^ 0x0411,
        payload: b"dmvpnd e2e onlink",
        gap: Duration::from_millis(20),
    }
}

/// `config` with its tunnel address as a /32.
fn host_address(mut config: Value) -> Value {
    let interface = &mut config["ietf-interfaces:interfaces"]["interface"][0];
    interface["ietf-ip:ipv4"]["address"][0]["prefix-length"] = json!(32);
    config
}

/// The routes of an FRR cloud with /32 tunnel addresses: through the
/// tunnel device, next hops `onlink` (no subnet holds them).
fn onlink_routes(cloud: &mut Cloud) {
    cloud.hub.wait_tunnel();
    for n in 1..=cloud.spoke_count() {
        let (net, via) = (spoke_net(n), spoke_tunnel(n));
        ip_in(
            &cloud.hub.ns,
            &format!("route add {net} via {via} dev {TUNNEL} onlink"),
        );
    }
    for spoke in &mut cloud.spokes {
        spoke.wait_tunnel();
        ip_in(
            &spoke.ns,
            &format!("route add 172.16.0.0/16 via 10.0.0.1 dev {TUNNEL} onlink"),
        );
    }
}

/// Pings s1's LAN to s2's LAN until a reply comes straight from s2 (TTL
/// 64); panics with the logs after `limit`.
fn wait_direct(cloud: &Cloud, limit: Duration) {
    let mut seen: Vec<u8> = vec![];
    let start = Instant::now();
    loop {
        let ttls = ping_ttls(&cloud.ns[1], &spoke_lan(1), &spoke_lan(2), 5, echo());
        seen.extend(&ttls);
        if ttls.last() == Some(&DIRECT) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "s1 -> s2: no direct reply within {limit:?}, TTLs {seen:?}\ns1 routes:\n{}\ns1 log:\n{}\nhub log:\n{}",
            run("ip", &["-n", &cloud.ns[1], "route", "show"]),
            cloud.spokes[0].site.log(),
            cloud.hub.site.log()
        );
    }
}

/// Phase 3 on /32 tunnel addresses: the hub redirects s1, s1 installs a
/// shortcut for s2's LAN in the kernel (proto 205, via s2's tunnel
/// address, on-link), traffic goes direct; a purge removes the route
/// again, and so does SIGTERM for the one learnt after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortcut_is_a_kernel_route_with_32_bit_tunnel_addresses() {
    assert_root();
    let started = Instant::now();
    let mut cloud = Cloud::start(
        prefix("p3"),
        "onl-p3",
        &host_address(hub_config()),
        2,
        |n| host_address(spoke_config(&spoke_tunnel(n), &spoke_nbma(n))),
    );
    onlink_routes(&mut cloud);
    let s1_ns = cloud.ns[1].clone();
    assert!(
        run("ip", &["-n", &s1_ns, "addr", "show", TUNNEL]).contains("10.0.0.11/32"),
        "s1's tunnel address is not a /32: {}",
        run("ip", &["-n", &s1_ns, "addr", "show", TUNNEL])
    );
    cloud.wait_registered(Duration::from_secs(15), &[]).await;

    wait_direct(&cloud, Duration::from_secs(15));

    // The shortcut: in NHRP's cache, and in the kernel with the on-link
    // flag (before, the kernel refused it: no route of proto 205 at all).
    let mut s1 = cloud.spoke(1).client().await;
    let shortcut = |s: &Value| {
        (entries_via(s, "shortcut", "10.0.0.12").iter()).any(|e| e["prefix"] == "172.16.2.0/24")
    };
    if let Err(state) = wait_state(&mut s1, Duration::from_secs(10), shortcut).await {
        panic!(
            "no shortcut 172.16.2.0/24 via 10.0.0.12 on s1: {state:#}\n{}",
            cloud.spoke(1).site.log()
        );
    }
    let route = "172.16.2.0/24 via 10.0.0.12 dev dmvpn0";
    assert!(
        poll(Duration::from_secs(5), || dmvpn_routes(&s1_ns)
            .contains(route)),
        "no kernel route {route:?} of proto 205 on s1: {:?}\n{}\ns1 log:\n{}",
        dmvpn_routes(&s1_ns),
        run("ip", &["-n", &s1_ns, "route", "show"]),
        cloud.spoke(1).site.log()
    );
    let shown = dmvpn_routes(&s1_ns);
    assert!(
        shown
            .lines()
            .any(|l| l.contains(route) && l.contains("onlink")),
        "the shortcut route is not on-link: {shown:?}"
    );
    let log = cloud.spoke(1).site.log();
    assert!(
        !log.contains("installing NHRP route"),
        "s1 failed to install a route:\n{log}"
    );

    // Direct: every reply with TTL 64, and the hub's tunnel device sees
    // none of the 40 packets.
    let hub_ns = cloud.ns[0].clone();
    let (rx, _) = tunnel_packets(&hub_ns);
    let ttls = ping_ttls(&s1_ns, &spoke_lan(1), &spoke_lan(2), 20, echo());
    let (rx_after, _) = tunnel_packets(&hub_ns);
    assert!(
        ttls.len() >= 15 && ttls.iter().all(|&t| t == DIRECT),
        "not all direct (TTL 64): {ttls:?}"
    );
    assert!(
        rx_after - rx <= 2,
        "the hub's tunnel received {} packets while the spokes should talk directly",
        rx_after - rx
    );

    // Removal works on the on-link route: a purge deletes it (RTM_DELROUTE
    // without the flag finds it).
    execute(
        &mut s1,
        &json!({"dmvpn-nhrp:purge": {"interface": "dmvpn0", "prefix": "10.0.0.12/32"}}),
    )
    .await;
    assert!(
        poll(Duration::from_secs(5), || !dmvpn_routes(&s1_ns)
            .contains("10.0.0.12")),
        "the purge left a kernel route via s2: {:?}",
        dmvpn_routes(&s1_ns)
    );
    let log = cloud.spoke(1).site.log();
    assert!(
        !log.contains("removing NHRP route"),
        "s1 failed to remove a route:\n{log}"
    );

    // Learnt again, then removed by dmvpnd itself at SIGTERM.
    wait_direct(&cloud, Duration::from_secs(15));
    assert!(
        poll(Duration::from_secs(5), || dmvpn_routes(&s1_ns)
            .contains(route)),
        "no kernel route {route:?} after the purge: {:?}",
        dmvpn_routes(&s1_ns)
    );
    let status = cloud
        .spoke(1)
        .terminate()
        .expect("s1 did not exit on SIGTERM");
    assert!(status.success(), "s1 exit status {status}");
    assert_eq!(dmvpn_routes(&s1_ns), "", "routes left behind in s1");
    let log = cloud.spoke(1).site.log();
    assert!(
        log.lines()
            .any(|l| l.contains("NHRP routes removed from the kernel") && l.contains("removed=1")),
        "s1 did not remove its route itself on SIGTERM:\n{log}"
    );
    eprintln!("onlink phase 3 took {:?}", started.elapsed());
}

/// `KernelRoutes` on a device whose only addresses are a /32 and a /128:
/// routes via next hops in no connected subnet install, replace and go.
#[test]
fn kernel_routes_install_and_remove_on_a_32_bit_tunnel_address() {
    assert_root();
    let guard = Netns::add(format!("dmvpnd-onl-{}-kr", std::process::id()));
    let ns = guard.name().to_owned();
    ip_in(&ns, "link set lo up");
    add_dummy(&ns, TUNNEL, "10.0.0.11/32");
    ip_in(&ns, &format!("addr add fd00::11/128 dev {TUNNEL} nodad"));
    // Without the flag the kernel refuses such a next hop (the bug:
    // "Network is unreachable" on a TUN device, "Nexthop has invalid
    // gateway" on this one).
    let refused = std::process::Command::new("ip")
        .args([
            "-n",
            &ns,
            "route",
            "add",
            "172.16.9.0/24",
            "via",
            "10.0.0.12",
        ])
        .args(["dev", TUNNEL])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "the kernel took a next hop outside every subnet without onlink: {refused:?}"
    );

    let thread_ns = ns.clone();
    let removed = std::thread::spawn(move || {
        enter(&thread_ns).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut routes = KernelRoutes::open(TUNNEL).await.unwrap();
            let v4 = "172.16.2.0/24".parse().unwrap();
            let v6 = "2001:db8:2::/48".parse().unwrap();
            routes.install(v4, "10.0.0.12".parse().unwrap()).await;
            routes.install(v6, "fd00::12".parse().unwrap()).await;
            let installed = [
                run("ip", &["-n", &thread_ns, "route", "show", "proto", "205"]),
                run(
                    "ip",
                    &["-n", &thread_ns, "-6", "route", "show", "proto", "205"],
                ),
            ];
            routes.install(v4, "10.0.0.13".parse().unwrap()).await;
            let replaced = run("ip", &["-n", &thread_ns, "route", "show", "proto", "205"]);
            let removed = [routes.remove(v4).await, routes.remove(v6).await];
            let left = [
                run("ip", &["-n", &thread_ns, "route", "show", "proto", "205"]),
                run(
                    "ip",
                    &["-n", &thread_ns, "-6", "route", "show", "proto", "205"],
                ),
            ];
            routes.shutdown().await;
            (installed, replaced, removed, left)
        })
    });
    let (installed, replaced, removed, left) = removed.join().unwrap();
    assert!(
        installed[0].contains("172.16.2.0/24 via 10.0.0.12 dev dmvpn0")
            && installed[0].contains("onlink"),
        "IPv4: {installed:?}"
    );
    assert!(
        installed[1].contains("2001:db8:2::/48 via fd00::12 dev dmvpn0")
            && installed[1].contains("onlink"),
        "IPv6: {installed:?}"
    );
    assert!(
        replaced.contains("172.16.2.0/24 via 10.0.0.13 dev dmvpn0")
            && replaced.lines().count() == 1,
        "replaced: {replaced:?}"
    );
    assert_eq!(removed, [true, true], "remove() reported a failure");
    assert_eq!(left, [String::new(), String::new()], "routes left behind");
}
