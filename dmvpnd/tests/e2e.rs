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

use std::time::{Duration, Instant};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use common::netns::{
    Echo, Node, TUNNEL, assert_root, cache, connect, dmvpn_routes, has_link, hub_config, ping_ttls,
    registered, routes, run, spoke_config, state, topology, wait_both_registered, wait_state,
};
use holo_dmvpn::dataplane::kernel_routes::RTPROT_DMVPN;
use holo_dmvpn::dataplane::netns::run_in;
use serde_json::Value;

/// ICMP echo from `from` to `to` in namespace `ns`: how many of `count`
/// requests got their reply.
fn ping(ns: &str, from: &str, to: &str, count: u16) -> usize {
    let echo = Echo::new(0, b"dmvpnd e2e", Duration::ZERO);
    ping_ttls(ns, from, to, count, echo).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_two_spoke_daemons_register_forward_and_build_a_shortcut() {
    assert_root();
    let started = Instant::now();

    let (_topo, namespaces) = topology(format!("dmvpnd-e2e-{}", std::process::id()));
    let (hub_ns, s1_ns, s2_ns) = (&namespaces[0], &namespaces[1], &namespaces[2]);

    // Declared after the topology: dropped (stopped) before it goes.
    let mut hub = Node::start(hub_ns, "e2e-hub", &hub_config());
    let mut s1 = Node::start(s1_ns, "e2e-s1", &spoke_config("10.0.0.11", "192.0.2.11"));
    let mut s2 = Node::start(s2_ns, "e2e-s2", &spoke_config("10.0.0.12", "192.0.2.12"));

    // The routes a routing protocol would install: the hub knows each
    // spoke's LAN, the spokes only a summary via the hub (Phase 3).
    routes(&mut hub, [&mut s1, &mut s2]);

    // Both spokes register: the hub's cache holds them as dynamic entries.
    let mut hub_client = connect(&hub.socket()).await;
    let registered = registered(&["10.0.0.11", "10.0.0.12"]);
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), registered).await {
        panic!(
            "spokes did not register: {state:#}\nhub log:\n{}\ns1 log:\n{}",
            hub.site.log(),
            s1.site.log()
        );
    }

    // The hub replicates multicast to every registered spoke (multicast
    // dynamic), and says so in the tunnel's state.
    let multicast = |state: &Value| {
        let tunnel = &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"];
        let map = &tunnel["multicast-nbma-address"];
        map == &serde_json::json!(["192.0.2.11", "192.0.2.12"])
    };
    if let Err(state) = wait_state(&mut hub_client, Duration::from_secs(8), multicast).await {
        panic!("the hub's multicast map is not both spokes: {state:#}");
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
    let shortcut = |state: &Value| {
        cache(state).iter().any(|(prefix, ty, nh)| {
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
    while !dmvpn_routes(s1_ns).contains("172.16.2.0/24 via 10.0.0.12 dev dmvpn0") {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no shortcut route of proto {RTPROT_DMVPN} on s1: {:?}\n{}\ns1 log:\n{}",
            dmvpn_routes(s1_ns),
            run("ip", &["-n", s1_ns, "route", "show"]),
            s1.site.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGTERM: s1 exits cleanly and leaves no route of that protocol.
    let status = s1.terminate().expect("s1 did not exit on SIGTERM");
    assert!(status.success(), "s1 exit status {status}");
    assert_eq!(dmvpn_routes(s1_ns), "", "routes left behind in s1");
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

/// `TcpExt`/`Tcp` counter `name` of namespace `ns` (/proc/net/snmp).
fn tcp_counter(ns: &str, name: &str) -> u64 {
    let snmp = run("ip", &["netns", "exec", ns, "cat", "/proc/net/snmp"]);
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap(), tcp.next().unwrap());
    let i = names.split_whitespace().position(|n| n == name).unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// Byte `i` of the test stream: not periodic in any power of two, so a
/// lost, doubled or misplaced segment shows.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8 ^ (i / 4093) as u8
}

/// A real NIC coalesces the GRE datagrams of one inner TCP flow on receive
/// (GRO), and the raw socket then hands dmvpnd one datagram of up to 64 KB
/// whose inner TCP checksum is only the pseudo-header sum. Written to the
/// TUN device as it is, TCP drops it: before this was handled, a transfer
/// crawled at about 1 Mbit/s. Here the underlay veths do what a NIC does
/// (GRO with threaded NAPI on the bridge ports, so packets arrive in
/// batches) and 32 MiB cross the tunnel, via the hub and then the Phase 3
/// shortcut, intact, in time, with coalesced datagrams counted and no TCP
/// checksum error on the receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_arrives_whole_over_an_underlay_that_coalesces_gre() {
    assert_root();
    let prefix = format!("dmvpnd-gro-{}", std::process::id());
    let (_topo, namespaces) = topology(prefix.clone());
    let (hub_ns, s1_ns, s2_ns) = (&namespaces[0], &namespaces[1], &namespaces[2]);
    let ul = format!("{prefix}-ul");
    for (port, ns) in [("hub", hub_ns), ("s1", s1_ns), ("s2", s2_ns)] {
        // veth does GRO only with NAPI, and only for packets from a peer
        // without TSO; threaded NAPI polls in batches, as a NIC's does.
        run(
            "ip",
            &["netns", "exec", &ul, "ethtool", "-K", port, "gro", "on"],
        );
        let threaded = format!("echo 1 > /sys/class/net/{port}/threaded");
        run("ip", &["netns", "exec", &ul, "sh", "-c", &threaded]);
        run(
            "ip",
            &["netns", "exec", ns, "ethtool", "-K", "eth0", "tso", "off"],
        );
    }

    let mut hub = Node::start(hub_ns, "gro-hub", &hub_config());
    let mut s1 = Node::start(s1_ns, "gro-s1", &spoke_config("10.0.0.11", "192.0.2.11"));
    let mut s2 = Node::start(s2_ns, "gro-s2", &spoke_config("10.0.0.12", "192.0.2.12"));
    routes(&mut hub, [&mut s1, &mut s2]);
    wait_both_registered(&mut hub).await;
    let csum_errors = tcp_counter(s2_ns, "InCsumErrors");

    const SIZE: usize = 32 << 20;
    let server = SocketAddr::from(([172, 16, 2, 1], 5001));
    let listener = run_in(s2_ns, || TcpListener::bind(server)).unwrap();
    let client = run_in(s1_ns, || {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.bind(&SocketAddr::from(([172, 16, 1, 1], 0)).into())?;
        socket.connect_timeout(&server.into(), Duration::from_secs(5))?;
        Ok(TcpStream::from(socket))
    })
    .unwrap();
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        let mut client = client;
        let chunk: Vec<u8> = (0..SIZE).map(pattern).collect();
        client.write_all(&chunk).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut received = Vec::with_capacity(SIZE);
    let mut buf = vec![0; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(error) => panic!(
                "read after {} of {SIZE} bytes in {:?}: {error}\ns2 log:\n{}",
                received.len(),
                started.elapsed(),
                s2.site.log()
            ),
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {SIZE} bytes in 60 s",
            received.len()
        );
    }
    let took = started.elapsed();
    sender.join().unwrap();
    assert_eq!(received.len(), SIZE, "bytes received");
    let first_bad = received
        .iter()
        .enumerate()
        .position(|(i, b)| *b != pattern(i));
    assert_eq!(first_bad, None, "first corrupted byte");

    // The underlay did coalesce (else this test proved nothing), and the
    // receiver's TCP saw no bad checksum.
    let mut s2_client = connect(&s2.socket()).await;
    let state = state(&mut s2_client).await;
    let statistics =
        &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["statistics"];
    let coalesced: u64 = statistics["coalesced-in"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        coalesced > 0,
        "no coalesced GRE datagram arrived: {statistics:#}"
    );
    assert_eq!(
        tcp_counter(s2_ns, "InCsumErrors"),
        csum_errors,
        "TCP checksum errors on s2"
    );
    eprintln!(
        "32 MiB in {took:?} ({:.0} Mbit/s), {coalesced} coalesced GRE datagrams",
        SIZE as f64 * 8.0 / took.as_secs_f64() / 1e6
    );
}
