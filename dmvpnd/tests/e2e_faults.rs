//! Faults end to end with the real dmvpnd in network namespaces (helpers
//! in common/netns.rs; addressing as in e2e_three.rs):
//! - a spoke with the wrong GRE key never reaches NHRP on the hub: its
//!   packets are counted as `wrong-key` drops by the hub's data plane (per
//!   peer and for the tunnel, dmvpn-tunnel state), it shows as a `down`
//!   peer without tunnel address, it is not registered and not even
//!   counted as an NHRP peer;
//! - a spoke with another network-id registers and works: the network-id
//!   is local to a node and not carried in NHRP packets (as on Cisco IOS);
//! - a rogue that knows the GRE key and the password floods Registration
//!   Requests (thousands of forged tunnel addresses, and attempts to take
//!   over a registered spoke's address): the registered spokes keep their
//!   bindings and refresh them, their traffic keeps flowing, and the hub
//!   caps the rogue at `max-registrations` and counts what it refused.
//!
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::netns::{
    Cloud, Echo, assert_root, cache_entries, dataplane_drops, enter, entries_via, error_count,
    message_count, nhrp, nhs_status, number, peer_received, ping_ttls, spoke_config, spoke_lan,
    spoke_nbma, spoke_tunnel, state, tunnel_peer, wait_state,
};
use dmvpn_test_support::gre;
use holo_dmvpn::packet::gre::GreProtocol;
use holo_nhrp::packet::header::afn;
use holo_nhrp::packet::{
    Address, Authentication, Cie, CieCode, Extension, ExtensionBody, Flags, Message, NbmaAddress,
    Packet, ProtocolType, RequestReply,
};
use serde_json::{Value, json};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The GRE key and NHRP password of common/netns.rs's configurations.
const KEY: u32 = 4242;
const PASSWORD: &[u8] = b"e2e-auth";

/// Namespaces `dmvpnd-ef-<pid>-<scenario>-<role>`.
fn prefix(scenario: &str) -> String {
    format!("dmvpnd-ef-{}-{scenario}", std::process::id())
}

fn echo(gap: Duration) -> Echo {
    Echo::new(0xfa17, b"dmvpnd e2e faults", gap)
}

fn spoke(n: u8) -> Value {
    spoke_config(&spoke_tunnel(n), &spoke_nbma(n))
}

/// s1 is right; s2 has another network-id (7, the hub 1); s3 the wrong GRE
/// key (4343, the others 4242).
///
/// Wrong key: the hub's data plane drops every packet of s3 before NHRP
/// sees it, so s3 is in no cache and not even an NHRP peer of the hub (the
/// per-peer NHRP counters have no line for its NBMA address), the hub never
/// answers it, and s3's NHS never comes up although it keeps registering.
///
/// Network-id: like Cisco's `ip nhrp network-id`, it names the NHRP
/// instance on the node and is not on the wire (holo-nhrp reads it
/// nowhere): s2 registers and its LAN is reachable. Keeping two clouds
/// apart is the GRE key's job (or separate tunnel sources), as shown by s3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_gre_key_is_dropped_before_nhrp_and_network_id_is_local() {
    assert_root();
    let started = Instant::now();
    let mut cloud = Cloud::start(
        prefix("key"),
        "ef-key",
        &common::netns::hub_config(),
        3,
        |n| {
            let mut config = spoke(n);
            match n {
                2 => nhrp(&mut config)["network-id"] = json!(7),
                3 => {
                    config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["gre-key"] =
                        json!(4343)
                }
                _ => {}
            }
            config
        },
    );
    cloud.phase3_routes();
    cloud.wait_registered(Duration::from_secs(15), &[3]).await;

    // s3 keeps trying (first retry after 1 s, then 2, 4 s): wait for three.
    let mut s3 = cloud.spoke(3).client().await;
    let tried = |s: &Value| {
        s["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["nhs-state"][0]
            ["registrations-sent"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n >= 3)
    };
    if let Err(s) = wait_state(&mut s3, Duration::from_secs(20), tried).await {
        panic!("s3 did not keep registering: {s:#}");
    }
    let s = state(&mut s3).await;
    let nhs = &s["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["nhs-state"][0];
    assert_eq!(
        number(&nhs["replies-received"]),
        0,
        "s3 got an answer: {nhs}"
    );
    assert_ne!(nhs_status(&s, "10.0.0.1").as_deref(), Some("up"));

    let mut hub = cloud.hub.client().await;
    // The hub's data plane counted s3's attempts as wrong-key drops.
    let dropped = |s: &Value| dataplane_drops(s, Some("192.0.2.13"), "wrong-key") >= 3;
    if let Err(s) = wait_state(&mut hub, Duration::from_secs(10), dropped).await {
        panic!("the hub did not count s3's packets as wrong-key drops: {s:#}");
    }
    let s = state(&mut hub).await;
    assert!(
        cache_entries(&s)
            .iter()
            .all(|e| e["next-hop"] != "10.0.0.13"),
        "s3 (wrong key) is in the hub's cache: {s:#}"
    );
    assert_eq!(
        peer_received(&s, "192.0.2.13"),
        None,
        "an NHRP packet of s3 (wrong key) reached the hub's NHRP: {s:#}"
    );
    // s1 and s2 are NHRP peers of the hub.
    for n in [1, 2] {
        assert!(peer_received(&s, &spoke_nbma(n)).is_some_and(|r| r > 0));
    }
    // The tunnel's totals hold the drops too, and the peer table shows the
    // sender, down and without a tunnel address: a misconfigured spoke is
    // visible to the operator.
    let wrong_key = dataplane_drops(&s, Some("192.0.2.13"), "wrong-key");
    assert!(dataplane_drops(&s, None, "wrong-key") >= wrong_key);
    let row = tunnel_peer(&s, "192.0.2.13").unwrap();
    assert_eq!(row["state"], "down", "s3's peer row: {row}");
    assert!(row.get("tunnel-address").is_none(), "s3's peer row: {row}");

    // s2, with its own network-id, is a full member: LAN to LAN works.
    let ttls = ping_ttls(
        &cloud.ns[1],
        &spoke_lan(1),
        &spoke_lan(2),
        10,
        echo(Duration::ZERO),
    );
    assert!(ttls.len() >= 8, "s1 -> s2 (network-id 7): {ttls:?}");
    // And s3's LAN is unreachable: the hub cannot send to it.
    let ttls = ping_ttls(
        &cloud.ns[1],
        &spoke_lan(1),
        &spoke_lan(3),
        3,
        echo(Duration::ZERO),
    );
    assert!(ttls.is_empty(), "s1 -> s3 (wrong key) answered: {ttls:?}");
    eprintln!("wrong key / network-id took {:?}", started.elapsed());
}

/// The rogue's NBMA address, on the underlay bridge.
const ROGUE: &str = "192.0.2.66";
/// How long the rogue floods, and how many Registration Requests at most.
const FLOOD_TIME: Duration = Duration::from_secs(6);
const FLOOD_PACKETS: u32 = 6000;
/// The hub's `max-registrations` in the flood test.
const MAX_REGISTRATIONS: usize = 16;

/// Registration Request number `n` of the rogue, in GRE with the cloud's
/// key and password, claiming tunnel address `claimed` with the
/// uniqueness bit.
fn forged_registration(n: u32, claimed: Ipv4Addr) -> Vec<u8> {
    let cie = Cie {
        code: CieCode::SUCCESS,
        prefix_length: 32,
        mtu: 1400,
        holding_time: 600,
        preference: 255,
        ..Cie::default()
    };
    let packet = Packet {
        afn: afn::IPV4,
        protocol: ProtocolType::IPV4,
        hop_count: 255,
        src_nbma: NbmaAddress::new(ROGUE.parse::<IpAddr>().unwrap()),
        src_nbma_subaddress: NbmaAddress::default(),
        src_protocol: Address::from(claimed),
        dst_protocol: Address::from(Ipv4Addr::new(10, 0, 0, 1)),
        message: Message::RegistrationRequest(RequestReply {
            flags: Flags(Flags::REGISTRATION_UNIQUE),
            request_id: n,
            cies: vec![cie],
        }),
        extensions: vec![
            Extension::new(
                true,
                ExtensionBody::Authentication(Authentication::cisco_cleartext(PASSWORD)),
            ),
            Extension::new(true, ExtensionBody::End),
        ],
        trailer: vec![],
    };
    gre::header(Some(KEY), GreProtocol::NHRP).emit(&packet.encode().unwrap())
}

/// The tunnel address the rogue's request `n` claims: every tenth the
/// address of s2 (10.0.0.12, registered unique), every seventh one outside
/// the tunnel subnet (10.0.64.0/18), the others addresses of the tunnel
/// subnet no spoke uses (10.0.0.20-249).
fn claimed(n: u32) -> Ipv4Addr {
    if n.is_multiple_of(10) {
        Ipv4Addr::new(10, 0, 0, 12)
    } else if n.is_multiple_of(7) {
        let [_, _, hi, lo] = (0x4000 + n % 0x3fff).to_be_bytes();
        Ipv4Addr::new(10, 0, hi, lo.max(1))
    } else {
        Ipv4Addr::new(10, 0, 0, 20 + (n % 230) as u8)
    }
}

/// Floods the hub from namespace `ns` (the rogue) in a thread: bursts of
/// 50 requests every 50 ms (about 1000/s) for `FLOOD_TIME`, at most
/// `FLOOD_PACKETS`. The number sent.
fn flood(ns: String) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        enter(&ns).unwrap();
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(47))).unwrap();
        let rogue: IpAddr = ROGUE.parse().unwrap();
        socket
            .bind(&SockAddr::from(SocketAddr::new(rogue, 0)))
            .unwrap();
        let hub = SockAddr::from(SocketAddr::new("192.0.2.1".parse().unwrap(), 0));
        let start = Instant::now();
        let mut sent = 0;
        while sent < FLOOD_PACKETS && start.elapsed() < FLOOD_TIME {
            for _ in 0..50 {
                // A full socket buffer is the flood's own problem.
                if socket
                    .send_to(&forged_registration(sent, claimed(sent)), &hub)
                    .is_ok()
                {
                    sent += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        sent
    })
}

/// NHS replies received by the spoke behind `client`.
async fn replies(client: &mut common::Client) -> u64 {
    let s = state(client).await;
    number(
        &s["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["nhs-state"][0]["replies-received"],
    )
}

/// A rogue floods Registration Requests while s1 pings s2's LAN through
/// the hub (no redirect, so every packet crosses the hub's data plane and
/// NHRP shares it with the flood). Spokes register with a holding time of
/// 15 s, so they refresh every 5 s, during the flood.
/// Expected: at least 90 % of the echoes answered; s1 and s2 keep exactly
/// their bindings (s2's at its own NBMA address: the rogue's takeover
/// attempts are refused as not unique) and their refreshes are answered;
/// the hub holds at most `max-registrations` dynamic entries and counts
/// the registrations it refused (limit, not unique).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_flood_does_not_disturb_registered_spokes() {
    assert_root();
    let started = Instant::now();
    let mut hub = common::netns::hub_config();
    nhrp(&mut hub)["redirect"] = json!(false);
    nhrp(&mut hub)["max-registrations"] = json!(MAX_REGISTRATIONS);
    let mut cloud = Cloud::start(prefix("fl"), "ef-fl", &hub, 2, |n| {
        let mut config = spoke(n);
        nhrp(&mut config)["holding-time"] = json!(15);
        config
    });
    let rogue = cloud.topo.attach("rogue", ROGUE, None);
    cloud.phase3_routes();
    cloud.wait_registered(Duration::from_secs(15), &[]).await;
    let mut s1 = cloud.spoke(1).client().await;
    let mut s2 = cloud.spoke(2).client().await;
    let before = (replies(&mut s1).await, replies(&mut s2).await);

    let flooding = Instant::now();
    let flooder = flood(rogue);
    let ttls = ping_ttls(
        &cloud.ns[1],
        &spoke_lan(1),
        &spoke_lan(2),
        100,
        echo(Duration::from_millis(50)),
    );
    let sent = flooder.join().expect("flood thread");
    let flood_time = flooding.elapsed();
    assert!(sent >= 1000, "the rogue sent only {sent} requests");
    assert!(
        ttls.len() >= 90,
        "{}/100 echoes answered during the flood\nhub log:\n{}",
        ttls.len(),
        cloud.hub.site.log()
    );

    // The spokes refreshed during the flood (every 5 s) and were answered.
    let limit = Duration::from_secs(10);
    for (n, client, before) in [(1, &mut s1, before.0), (2, &mut s2, before.1)] {
        let start = Instant::now();
        while replies(client).await <= before {
            assert!(
                start.elapsed() < limit,
                "s{n}: no registration answered since the flood started"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let s = state(client).await;
        assert_eq!(
            nhs_status(&s, "10.0.0.1").as_deref(),
            Some("up"),
            "s{n}: {s:#}"
        );
    }

    let mut hub = cloud.hub.client().await;
    let s = state(&mut hub).await;
    for n in [1, 2] {
        let entries = entries_via(&s, "dynamic", &spoke_tunnel(n));
        assert_eq!(entries.len(), 1, "hub entries for s{n}: {entries:?}");
        assert_eq!(entries[0]["nbma-address"], spoke_nbma(n), "s{n} taken over");
    }
    let dynamic = cache_entries(&s)
        .iter()
        .filter(|e| e["type"] == "dynamic")
        .count();
    assert!(
        dynamic <= MAX_REGISTRATIONS,
        "{dynamic} dynamic entries, more than max-registrations {MAX_REGISTRATIONS}"
    );
    let received = message_count(&s, "registration-request", "received");
    let from_rogue = peer_received(&s, ROGUE).unwrap_or(0);
    let limited = error_count(&s, "registration-limit");
    let not_unique = error_count(&s, "registration-not-unique");
    assert!(limited > 0, "no registration refused for the limit: {s:#}");
    assert!(not_unique > 0, "no takeover of 10.0.0.12 refused: {s:#}");
    let outside = error_count(&s, "registration-outside-subnet");
    assert!(outside > 0, "no address outside 10.0.0.0/24 refused: {s:#}");
    assert!(
        from_rogue > 0,
        "the rogue's requests did not reach NHRP: {s:#}"
    );
    // The data plane's view of the rogue (peer table row): NHRP packets
    // received, most of them over its source's budget of Registration
    // Requests (50, then 5 a second), and any dropped because NHRP's queue
    // was full.
    let row = tunnel_peer(&s, ROGUE).unwrap_or_default();
    let rogue_in = number(&row["counters"]["nhrp-packets-in"]);
    let queue_full = dataplane_drops(&s, Some(ROGUE), "nhrp-queue-full");
    let over_budget = dataplane_drops(&s, Some(ROGUE), "nhrp-rate-limited");
    assert!(
        rogue_in > 0,
        "the rogue is not in the hub's peer table: {s:#}"
    );
    assert!(
        from_rogue <= 50 + 5 * flood_time.as_secs() + 5
            && over_budget >= rogue_in.saturating_sub(from_rogue),
        "the rogue's {rogue_in} requests were not held to its budget: {from_rogue} reached \
         NHRP, {over_budget} counted over budget"
    );
    eprintln!(
        "flood: {sent} requests in {flood_time:?}; hub data plane got {rogue_in}, dropped \
         {over_budget} over the source's budget and {queue_full} (NHRP queue full); hub NHRP \
         got {from_rogue} from the rogue \
         ({received} registration requests in all), refused {limited} for the limit and \
         {not_unique} as not unique, holds {dynamic} dynamic entries; {}/100 echoes answered; \
         took {:?}",
        ttls.len(),
        started.elapsed()
    );
}

/// A hub restart's burst: 2000 Registration Requests, each from its own
/// NBMA address (198.18.0.0/15, IP_HDRINCL) as 2000 restarting spokes
/// send them, back to back, as fast as one socket sends them. The hub's
/// NHRP instance receives every one (the data plane drops none for a full
/// input queue; with the old 256-slot queue most of such a burst was shed;
/// none is over its source's budget) and the data plane counts no
/// `nhrp-queue-full` drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_burst_reaches_nhrp_whole() {
    assert_root();
    let mut hub_config = common::netns::hub_config();
    nhrp(&mut hub_config)["max-registrations"] = json!(MAX_REGISTRATIONS);
    let mut topo = dmvpn_test_support::topology::Topology::with_underlay(prefix("bu"));
    let hub_ns = topo.attach("hub", "192.0.2.1", None);
    let rogue = topo.attach("rogue", ROGUE, None);
    let mut hub = common::netns::Node::start(&hub_ns, "ef-bu-hub", &hub_config);
    hub.wait_tunnel();
    let mut client = hub.client().await;
    // The spokes' addresses are behind the rogue (replies go there).
    let route = std::process::Command::new("ip")
        .args(["-n", &hub_ns, "route", "add", "198.18.0.0/15", "via", ROGUE])
        .status()
        .unwrap();
    assert!(route.success(), "route to the spokes' addresses");

    const BURST: u32 = 2000;
    let sent = std::thread::spawn(move || {
        enter(&rogue).unwrap();
        // IPPROTO_RAW: our own IPv4 header, the kernel fills in length,
        // identification and checksum.
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255))).unwrap();
        let to = SockAddr::from(SocketAddr::new("192.0.2.1".parse().unwrap(), 0));
        let burst: Vec<Vec<u8>> = (0..BURST)
            .map(|n| {
                let [_, _, hi, lo] = n.to_be_bytes();
                let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 47, 0, 0];
                packet.extend([198, 18, hi, lo, 192, 0, 2, 1]);
                packet.extend(forged_registration(n, claimed(n)));
                packet
            })
            .collect();
        burst
            .iter()
            .filter(|packet| socket.send_to(packet, &to).is_ok())
            .count()
    })
    .join()
    .unwrap();
    assert_eq!(sent, BURST as usize, "the burst did not leave whole");

    let all = |s: &Value| message_count(s, "registration-request", "received") >= u64::from(BURST);
    let result = wait_state(&mut client, Duration::from_secs(10), all).await;
    let s = state(&mut client).await;
    let dropped = dataplane_drops(&s, None, "nhrp-queue-full");
    assert_eq!(dropped, 0, "dropped for a full queue: {dropped}");
    let over_budget = dataplane_drops(&s, None, "nhrp-rate-limited");
    assert_eq!(
        over_budget, 0,
        "dropped over a source's budget: {over_budget}"
    );
    if let Err(s) = result {
        panic!(
            "NHRP received {} of {BURST}: {s:#}",
            message_count(&s, "registration-request", "received")
        );
    }
    // Every source is a row of the peer table (those over the limit as
    // `down`, with their counters): 2000 rows, more than one of the CLI's
    // parts (1000), each shown once, as the JSON view lists them.
    let table = common::cli_at(&hub.socket(), &["show dmvpn"]);
    let json = common::cli_at(&hub.socket(), &["show dmvpn json"]);
    let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
    for n in 0..BURST {
        let [_, _, hi, lo] = n.to_be_bytes();
        let nbma = format!("198.18.{hi}.{lo}");
        let shown = (table.lines())
            .filter(|line| line.split_whitespace().any(|word| word == nbma))
            .count();
        assert_eq!(shown, 1, "{nbma} in show dmvpn");
        let listed = (rows.iter())
            .filter(|row| row["nbma_address"] == nbma.as_str())
            .count();
        assert_eq!(listed, 1, "{nbma} in show dmvpn json");
    }
    assert!(
        table.contains(&format!("NHRP Peers: {}", rows.len())),
        "{}",
        &table[..table.len().min(400)]
    );
    // The summary counts the same rows by state, without listing them.
    let state_of = |state: &str| (rows.iter()).filter(|row| row["state"] == state).count();
    let summary = common::cli_at(&hub.socket(), &["show dmvpn summary"]);
    assert_eq!(
        summary.trim(),
        format!(
            "Interface: {}, NHRP Peers: {} (UP {}, NHRP {}, DOWN {})",
            rows[0]["interface"].as_str().unwrap(),
            rows.len(),
            state_of("up"),
            state_of("nhrp"),
            state_of("down")
        )
    );
}
