//! IPsec end to end: a hub and spokes, each the real dmvpnd in its own
//! network namespace, their tunnels protected by a `dmvpn-ipsec` profile
//! (IKEv2 with a pre-shared key, ESP in transport mode over GRE):
//! - every spoke brings up its SA to the hub before its first
//!   registration, and registers through it;
//! - a Phase 3 shortcut brings up a spoke-to-spoke SA on demand, and the
//!   spokes then talk directly (TTL 64) through ESP;
//! - nothing travels in clear: every daemon drops cleartext GRE from a
//!   peer (counted), and none counted any;
//! - a spoke with the wrong pre-shared key never registers, and the hub
//!   counts its authentication failure;
//! - `clear crypto sa` on a spoke tears its SAs down, and traffic brings
//!   them up again;
//! - spokes that cannot make an SA with each other reach each other
//!   through the hub;
//! - replayed and forged ESP from the SA's own peer is counted and dropped.
//!
//! ```text
//!            s1 172.16.1.1/24   s2 172.16.2.1/24
//!   tunnel   10.0.0.11          10.0.0.12          hub 10.0.0.1
//!   NBMA     192.0.2.11         192.0.2.12         hub 192.0.2.1
//! ```
//!
//! Needs root (CI runs as root); daemons and namespaces are removed at the
//! end, also when a test fails.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::netns::{
    Cloud, Echo, Node, TUNNEL, Topology, hub_config, masquerade, number, ping_ttls,
    private_segment, registered, run, spoke_config, spoke_lan, spoke_nbma, spoke_tunnel, state,
    wait_state,
};
use serde_json::{Value, json};

/// TTL of an echo reply that came straight from the far spoke.
const DIRECT: u8 = 64;
const PSK: &str = "e2e-ipsec-pre-shared-key";

fn root() {
    let uid = run("id", &["-u"]);
    assert_eq!(uid.trim(), "0", "the namespace tests need root");
}

/// Namespaces `dmvpnd-ipsec-<pid>-<scenario>-<role>`.
fn prefix(scenario: &str) -> String {
    format!("dmvpnd-ipsec-{}-{scenario}", std::process::id())
}

fn echo() -> Echo {
    Echo {
        id: (std::process::id() & 0xffff) as u16 ^ 0x5e5e,
        payload: b"dmvpnd e2e ipsec",
        gap: Duration::from_millis(20),
    }
}

/// `config` protected by profile `dmvpn` with pre-shared key `psk` for any
/// peer, and the ESP proposal of Cisco's default transform set next to
/// AES-GCM.
fn protected(mut config: Value, psk: &str) -> Value {
    config["dmvpn-ipsec:ipsec"] = json!({"profile": [{
        "name": "dmvpn",
        "ike": {
            "dpd-interval": 5,
            "pre-shared-key": [{"name": "any", "any": [null], "secret": psk}]
        },
        "esp": {"proposal": [
            {"sequence": 10, "encryption": ["aes-gcm-256"]},
            {"sequence": 20, "encryption": ["aes-cbc-128"], "integrity": ["sha1"]}
        ]}
    }]});
    config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["dmvpn-ipsec:protection"] =
        json!({"profile": "dmvpn"});
    config
}

fn spoke(n: u8, psk: &str) -> Value {
    protected(spoke_config(&spoke_tunnel(n), &spoke_nbma(n)), psk)
}

/// The `protection` state node of the tunnel.
fn protection(state: &Value) -> &Value {
    &state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["dmvpn-ipsec:protection"]
}

/// The established IKE SAs with `peer` (NBMA address).
fn established_with<'a>(state: &'a Value, peer: &str) -> Vec<&'a Value> {
    protection(state)["ike-sa"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|sa| sa["peer-address"] == peer && sa["state"] == "established")
        .collect()
}

/// Packets through the child SAs with `peer`: (in, out).
fn esp_packets(state: &Value, peer: &str) -> (u64, u64) {
    let mut total = (0, 0);
    for sa in established_with(state, peer) {
        for child in sa["child-sa"].as_array().into_iter().flatten() {
            total.0 += number(&child["inbound"]["packets"]);
            total.1 += number(&child["outbound"]["packets"]);
        }
    }
    total
}

fn statistic(state: &Value, name: &str) -> u64 {
    number(&protection(state)["statistics"][name])
}

async fn wait_sa(node: &mut Node, peer: &str, limit: Duration) -> Value {
    let mut client = node.client().await;
    let up = |s: &Value| !established_with(s, peer).is_empty();
    if let Err(state) = wait_state(&mut client, limit, up).await {
        panic!(
            "{}: no IKE SA with {peer}: {:#}\n{}",
            node.ns,
            protection(&state),
            node.site.log()
        );
    }
    state(&mut client).await
}

/// Pings from spoke `from`'s LAN to spoke `to`'s LAN, one at a time,
/// until a reply comes straight from `to` (TTL 64); how long that took.
/// Until the spokes' SA is up the replies come through the hub (TTL 63).
fn wait_direct(cloud: &Cloud, from: u8, to: u8, limit: Duration) -> Duration {
    let ns = &cloud.ns[usize::from(from)];
    let start = Instant::now();
    let mut seen: Vec<u8> = vec![];
    loop {
        let ttls = ping_ttls(ns, &spoke_lan(from), &spoke_lan(to), 1, echo());
        seen.extend(&ttls);
        if ttls.last() == Some(&DIRECT) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "s{from} -> s{to}: no direct reply within {limit:?}, TTLs {seen:?}\ns{from} log:\n{}\ns{to} log:\n{}\nhub log:\n{}",
            cloud.spokes[usize::from(from) - 1].site.log(),
            cloud.spokes[usize::from(to) - 1].site.log(),
            cloud.hub.site.log()
        );
    }
}

/// Registration through IPsec, a spoke-to-spoke SA on demand for the
/// Phase 3 shortcut, nothing in clear, and `clear crypto sa`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spokes_register_and_go_direct_through_esp() {
    root();
    let mut cloud = Cloud::start(
        prefix("p3"),
        "ipsec-p3",
        &protected(hub_config(), PSK),
        3,
        |n| spoke(n, PSK),
    );
    cloud.phase3_routes();
    cloud.wait_registered(Duration::from_secs(20), &[]).await;
    for n in [1, 2, 3] {
        let state = wait_sa(cloud.spoke(n), "192.0.2.1", Duration::from_secs(5)).await;
        let (esp_in, esp_out) = esp_packets(&state, "192.0.2.1");
        assert!(
            esp_in > 0 && esp_out > 0,
            "s{n}: registration did not go through ESP ({esp_in} in, {esp_out} out): {:#}",
            protection(&state)
        );
    }
    let hub_state = wait_sa(&mut cloud.hub, &spoke_nbma(1), Duration::from_secs(5)).await;
    assert_eq!(established_with(&hub_state, &spoke_nbma(2)).len(), 1);
    // The tunnel MTU leaves room for ESP: 1500 less the most the profile's
    // proposals add (AES-CBC-128 + HMAC-SHA1-96 in UDP: 61), IPv4 and GRE
    // with key (28), so no ESP packet is ever fragmented.
    let link = run("ip", &["-n", &cloud.ns[1], "-o", "link", "show", TUNNEL]);
    assert!(link.contains(" mtu 1411 "), "{link}");

    // Phase 3: s1 -> s2 goes via the hub, the hub redirects, s1 resolves
    // s2, and their own SA comes up before traffic takes the direct path;
    // the same between s2 and s3, each pair with its own SA.
    let took = wait_direct(&cloud, 1, 2, Duration::from_secs(20));
    eprintln!("s1 -> s2: first packet to encrypted direct path in {took:?}");
    // A reply's TTL shows only the way it came back: s2 has its shortcut
    // to s1. s1's shortcut to s2 (from s2's resolution reply) shows in s1's
    // own replies.
    wait_direct(&cloud, 2, 1, Duration::from_secs(20));
    let took = wait_direct(&cloud, 3, 2, Duration::from_secs(20));
    eprintln!("s3 -> s2: first packet to encrypted direct path in {took:?}");
    for (a, b) in [(3, 2), (2, 3)] {
        wait_sa(cloud.spoke(a), &spoke_nbma(b), Duration::from_secs(5)).await;
    }
    let s1 = wait_sa(cloud.spoke(1), &spoke_nbma(2), Duration::from_secs(5)).await;
    let ttls = ping_ttls(&cloud.ns[1], &spoke_lan(1), &spoke_lan(2), 10, echo());
    assert!(
        ttls.len() >= 8 && ttls.iter().all(|&t| t == DIRECT),
        "not direct through the SA: {ttls:?}"
    );
    let mut client = cloud.spoke(1).client().await;
    let after = state(&mut client).await;
    let (before_out, after_out) = (
        esp_packets(&s1, &spoke_nbma(2)).1,
        esp_packets(&after, &spoke_nbma(2)).1,
    );
    assert!(
        after_out >= before_out + 8,
        "the direct pings did not go through the s1-s2 SA ({before_out} -> {after_out})\n\
         before: {:#}\nafter: {:#}\ns1 log:\n{}",
        protection(&s1),
        protection(&after),
        cloud.spoke(1).site.log()
    );

    // Nothing in clear anywhere: each daemon drops and counts cleartext
    // GRE from its peers, and none saw any. Nor did any drop ESP for an SA
    // it did not have (yet): ESP that overtakes the IKE_AUTH answer which
    // installs its SA is held until then.
    for node in std::iter::once(&mut cloud.hub).chain(cloud.spokes.iter_mut()) {
        let mut client = node.client().await;
        let s = state(&mut client).await;
        assert_eq!(
            statistic(&s, "cleartext-dropped"),
            0,
            "{} received GRE in clear",
            node.ns
        );
        assert_eq!(
            statistic(&s, "esp-unknown-spi"),
            0,
            "{} dropped ESP of an unknown SPI: {:#}\n{}",
            node.ns,
            protection(&s),
            node.site.log()
        );
    }

    // The operator's view, with the real dmvpn-cli.
    let socket = cloud.spoke(1).socket();
    let ikev2 = common::cli_at(&socket, &["show crypto ikev2 sa"]);
    for expected in ["192.0.2.11/500", "192.0.2.1/500", "192.0.2.12/500", "READY"] {
        assert!(ikev2.contains(expected), "{expected} missing:\n{ikev2}");
    }
    let ipsec = common::cli_at(&socket, &["show crypto ipsec sa"]);
    for expected in [
        "interface: dmvpn0",
        "(192.0.2.11/255.255.255.255/47/0)",
        "#pkts encaps:",
        "in use settings ={Transport, esp}",
    ] {
        assert!(ipsec.contains(expected), "{expected} missing:\n{ipsec}");
    }

    // clear crypto sa (with the CLI): the SAs go (Deletes to the peers),
    // and traffic brings them back.
    let mut client = cloud.spoke(1).client().await;
    let cleared = common::cli_at(&socket, &["clear crypto sa dmvpn0"]);
    assert!(cleared.contains("cleared"), "{cleared}");
    let gone = |s: &Value| established_with(s, &spoke_nbma(2)).is_empty();
    assert!(
        wait_state(&mut client, Duration::from_secs(5), gone)
            .await
            .is_ok(),
        "s1 kept its SA with s2 after clear"
    );
    wait_direct(&cloud, 1, 2, Duration::from_secs(20));
    wait_sa(cloud.spoke(1), &spoke_nbma(2), Duration::from_secs(5)).await;
}

/// A spoke whose pre-shared key differs from the hub's: no SA, so no
/// registration ever leaves it, and the hub counts the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pre_shared_key_gets_no_sa_and_no_registration() {
    root();
    let mut cloud = Cloud::start(
        prefix("psk"),
        "ipsec-psk",
        &protected(hub_config(), PSK),
        1,
        |n| spoke(n, "not-the-hub-key"),
    );
    let mut hub = cloud.hub.client().await;
    let failed = |s: &Value| statistic(s, "ike-authentication-failures") > 0;
    if let Err(state) = wait_state(&mut hub, Duration::from_secs(15), failed).await {
        panic!(
            "the hub counted no authentication failure: {:#}\n{}",
            protection(&state),
            cloud.hub.site.log()
        );
    }
    let s = state(&mut hub).await;
    assert!(
        established_with(&s, &spoke_nbma(1)).is_empty(),
        "an SA with the wrong key: {:#}",
        protection(&s)
    );
    let cache = &s["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["cache-entry"];
    assert!(
        cache
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| e["next-hop"] != spoke_tunnel(1).as_str()),
        "the spoke registered without an SA: {cache:#}"
    );
    let mut spoke = cloud.spoke(1).client().await;
    let s1 = state(&mut spoke).await;
    assert!(established_with(&s1, "192.0.2.1").is_empty());
}

/// The established IKE SAs of the hub with spoke 1, and whether the hub
/// holds spoke 1's registration.
fn hub_view(state: &Value) -> (usize, bool) {
    let registered =
        state["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["cache-entry"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["type"] == "dynamic" && e["next-hop"] == spoke_tunnel(1).as_str());
    (established_with(state, &spoke_nbma(1)).len(), registered)
}

/// A spoke that restarts (SIGKILL, start again) brings up a new IKE SA
/// with INITIAL_CONTACT: the hub drops the old one and keeps exactly one.
/// A spoke that dies for good is found dead by DPD: the hub removes its SA
/// and, at once rather than after the holding time (600 s), its
/// registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_spoke_replaces_its_sa_and_a_dead_one_is_found_by_dpd() {
    root();
    let mut cloud = Cloud::start(
        prefix("dpd"),
        "ipsec-dpd",
        &protected(hub_config(), PSK),
        1,
        |n| spoke(n, PSK),
    );
    cloud.wait_registered(Duration::from_secs(20), &[]).await;
    let first = wait_sa(&mut cloud.hub, &spoke_nbma(1), Duration::from_secs(5)).await;
    let old_spi = established_with(&first, &spoke_nbma(1))[0]["local-spi"].clone();
    let mut hub_events = cloud.hub.client().await;
    let mut events = notifications(&mut hub_events).await;

    cloud.spoke(1).kill();
    cloud.spoke(1).spawn();
    let mut hub = cloud.hub.client().await;
    let replaced = |s: &Value| {
        let sas = established_with(s, &spoke_nbma(1));
        sas.len() == 1 && sas[0]["local-spi"] != old_spi && hub_view(s).1
    };
    if let Err(state) = wait_state(&mut hub, Duration::from_secs(20), replaced).await {
        panic!(
            "after the spoke's restart the hub does not hold exactly one new SA: {:#}\n{}",
            protection(&state),
            cloud.hub.site.log()
        );
    }

    let killed = Instant::now();
    cloud.spoke(1).kill();
    let dead = |s: &Value| hub_view(s) == (0, false);
    if let Err(state) = wait_state(&mut hub, Duration::from_secs(40), dead).await {
        panic!(
            "the hub still holds the dead spoke: {:?} {:#}\n{}",
            hub_view(&state),
            protection(&state),
            cloud.hub.site.log()
        );
    }
    eprintln!(
        "dead spoke: SA and registration gone after {:?} (DPD every 5 s)",
        killed.elapsed()
    );
    // The YANG notifications tell the same story.
    let mut seen = vec![];
    while let Ok(n) = events.try_recv() {
        seen.push(n);
    }
    let with = |kind: &str, words: &str| {
        seen.iter().any(|n| {
            n.contains(&format!("dmvpn-ipsec:{kind}"))
                && n.contains(&spoke_nbma(1))
                && n.contains(words)
                && n.contains("dmvpn0")
        })
    };
    assert!(with("ike-sa-up", "192.0.2.11"), "{seen:#?}");
    assert!(with("ike-sa-down", "dead peer"), "{seen:#?}");
}

/// The notifications of a daemon, collected in the background.
async fn notifications(
    client: &mut common::Client,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let request = dmvpn_api::v1::SubscribeRequest {
        path: String::new(),
        encoding: dmvpn_api::v1::Encoding::Json as i32,
    };
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(n)) = stream.message().await {
            let _ = tx.send(n.data.map(|d| d.data).unwrap_or_default());
        }
    });
    rx
}

/// A protected hub in namespace `hub_ns` and spoke s1 (10.0.0.11, source
/// `nbma`) in `s1_ns`, s1 logging its SA keys to `keylog`; once s1 is
/// registered: both nodes and the hub's client.
async fn hub_and_logging_spoke(
    tag: &str,
    (hub_ns, s1_ns): (&str, &str),
    nbma: &str,
    keylog: &std::path::Path,
) -> (Node, Node, common::Client) {
    let mut hub = Node::start(
        hub_ns,
        &format!("ipsec-{tag}-hub"),
        &protected(hub_config(), PSK),
    );
    let s1 = Node::start_with(
        s1_ns,
        &format!("ipsec-{tag}-s1"),
        &protected(spoke_config("10.0.0.11", nbma), PSK),
        &format!("[debug]\nipsec-keylog = \"{}\"\n", keylog.display()),
    );
    let mut client = hub.client().await;
    let ok = registered(&["10.0.0.11"]);
    if let Err(s) = wait_state(&mut client, Duration::from_secs(20), ok).await {
        panic!(
            "s1 not registered: {:#}\nhub log:\n{}\ns1 log:\n{}",
            protection(&s),
            hub.site.log(),
            s1.site.log()
        );
    }
    (hub, s1, client)
}

/// A spoke behind a masquerading NAT: IKE finds the NAT (NAT-D), floats
/// to UDP 4500, and ESP travels in UDP (RFC 3948) both ways; the spoke
/// registers and the hub reaches it through the NAT.
///
/// ```text
///   s1 10.0.1.11 --- nat 10.0.1.1 | 192.0.2.22 --- br0 --- hub 192.0.2.1
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_behind_nat_uses_esp_in_udp() {
    root();
    let mut topo = Topology::with_underlay(format!("dmvpnd-ipsec-nat-{}", std::process::id()));
    let hub_ns = topo.attach("hub", "192.0.2.1", None);
    let nat = topo.attach("nat", "192.0.2.22", None);
    let s1_ns = topo.add("s1");
    private_segment(&nat, &s1_ns, "10.0.1.1", "10.0.1.11");
    masquerade(&nat, "eth0");
    // s1 writes its SA keys for Wireshark (debug.ipsec-keylog).
    let keylog = std::env::temp_dir().join(format!("dmvpnd-ipsec-keylog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keylog);
    let (hub, mut s1, mut hub_client) =
        hub_and_logging_spoke("nat", (&hub_ns, &s1_ns), "10.0.1.11", &keylog).await;
    let hub_state = state(&mut hub_client).await;
    let sas = established_with(&hub_state, "192.0.2.22");
    assert_eq!(sas.len(), 1, "{:#}", protection(&hub_state));
    assert_eq!(sas[0]["nat"], "remote", "{:#}", sas[0]);
    let child = &sas[0]["child-sa"][0];
    assert!(
        child["encapsulation"]
            .as_str()
            .is_some_and(|e| e.starts_with("esp-in-udp 4500/")),
        "{child:#}"
    );
    let mut s1_client = s1.client().await;
    let s1_state = state(&mut s1_client).await;
    let mine = established_with(&s1_state, "192.0.2.1");
    assert_eq!(mine.len(), 1, "{:#}", protection(&s1_state));
    assert_eq!(mine[0]["nat"], "local", "{:#}", mine[0]);
    assert_eq!(mine[0]["local-port"], 4500);
    // Both directions of s1's child SA are in its Wireshark table: in
    // from the NAT's public address to s1's private one, out the reverse.
    let esp_sa = std::fs::read_to_string(keylog.join("esp_sa")).unwrap();
    let child = &mine[0]["child-sa"][0];
    for (spi, src, dst) in [
        (&child["inbound-spi"], "192.0.2.1", "10.0.1.11"),
        (&child["outbound-spi"], "10.0.1.11", "192.0.2.1"),
    ] {
        let line = format!(
            "\"IPv4\",\"{src}\",\"{dst}\",\"0x{}\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x",
            spi.as_str().unwrap()
        );
        assert!(esp_sa.contains(&line), "{line} not in:\n{esp_sa}");
    }
    std::fs::remove_dir_all(&keylog).unwrap();

    // The hub reaches the spoke's tunnel address through the NAT.
    let ttls = ping_ttls(&hub_ns, "10.0.0.1", "10.0.0.11", 5, echo());
    assert!(ttls.len() >= 4, "hub -> s1 through NAT-T: {ttls:?}");
    let after = state(&mut hub_client).await;
    let (esp_in, esp_out) = esp_packets(&after, "192.0.2.22");
    assert!(
        esp_in >= 4 && esp_out >= 4,
        "ESP-in-UDP {esp_in} in, {esp_out} out"
    );
    assert_eq!(statistic(&after, "cleartext-dropped"), 0);
    drop(hub);
    drop(s1);
    drop(topo);
}

/// A real IKE_SA_INIT request from `local` to `peer` (what our own core
/// sends first), for the flood below.
fn ike_sa_init(local: &str, peer: &str) -> Vec<u8> {
    let mut ike = holo_ike::ike::Ike::new(holo_ike::ike::Config::cisco_defaults());
    let outputs = ike.handle(
        holo_ike::ike::Input::Acquire {
            local: local.parse().unwrap(),
            peer: peer.parse().unwrap(),
        },
        Instant::now(),
    );
    outputs
        .into_iter()
        .find_map(|o| match o {
            holo_ike::ike::Output::Send { bytes, .. } => Some(bytes),
            _ => None,
        })
        .expect("an IKE_SA_INIT request")
}

/// Hostile input at the hub while two spokes talk through it: a flood of
/// IKE_SA_INIT requests (each a new initiator SPI, as a stranger's
/// half-open SAs) and forged ESP on a spoke's SPI. Counted, bounded, and
/// the established SAs and their traffic are unharmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ike_flood_and_forged_esp_leave_established_sas_unharmed() {
    root();
    let mut cloud = Cloud::start(
        prefix("flood"),
        "ipsec-flood",
        &protected(hub_config(), PSK),
        2,
        |n| spoke(n, PSK),
    );
    cloud.phase3_routes();
    cloud.wait_registered(Duration::from_secs(20), &[]).await;
    let before = wait_sa(&mut cloud.hub, &spoke_nbma(1), Duration::from_secs(5)).await;
    let spi_in = established_with(&before, &spoke_nbma(1))[0]["child-sa"][0]["inbound-spi"]
        .as_str()
        .map(|s| u32::from_str_radix(s, 16).unwrap())
        .unwrap();

    // The flood comes from spoke 2's namespace (a real address on the
    // underlay): 20 000 requests as fast as the socket takes them, and
    // forged ESP on the hub's inbound SPI from spoke 1.
    let template = ike_sa_init(&spoke_nbma(2), "192.0.2.1");
    let ns = cloud.ns[2].clone();
    let flood = std::thread::spawn(move || {
        dmvpn_test_support::netns::enter(&ns).unwrap();
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let raw = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(50)),
        )
        .unwrap();
        let hub: std::net::SocketAddr = "192.0.2.1:500".parse().unwrap();
        let mut esp = vec![0u8; 120];
        esp[..4].copy_from_slice(&spi_in.to_be_bytes());
        let mut message = template.clone();
        for i in 0u64..20_000 {
            message[..8].copy_from_slice(&(i + 1).to_be_bytes());
            let _ = socket.send_to(&message, hub);
            if i % 10 == 0 {
                esp[4..8].copy_from_slice(&(i as u32 + 1).to_be_bytes());
                let _ = raw.send_to(&esp, &socket2::SockAddr::from(hub));
            }
        }
    });
    // Traffic between the spokes meanwhile.
    let ttls = ping_ttls(&cloud.ns[1], &spoke_lan(1), &spoke_lan(2), 20, echo());
    flood.join().unwrap();
    assert!(
        ttls.len() >= 18,
        "traffic suffered from the flood: {ttls:?}"
    );

    let mut hub = cloud.hub.client().await;
    let after = state(&mut hub).await;
    let sas = protection(&after)["ike-sa"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Half-open SAs stop at the cookie threshold (50): the rest of the
    // flood only gets cookies, which cost the hub no state.
    assert!(
        sas.len() <= 50 + 2 + 2,
        "half-open SAs unbounded: {} IKE SAs",
        sas.len()
    );
    for n in [1, 2] {
        assert_eq!(
            established_with(&after, &spoke_nbma(n)).len(),
            1,
            "s{n}'s SA did not survive the flood: {:#}",
            protection(&after)
        );
    }
    let stats = &protection(&after)["statistics"];
    eprintln!("flood: {} IKE SAs held, statistics {stats}", sas.len());
    assert!(
        number(&stats["ike-packets-in"]) >= 1_000,
        "the flood was not counted: {stats:#}"
    );
    // The forged ESP came from another address than the SA's peer: dropped
    // as for no SA of ours, never delivered.
    let unknown = statistic(&after, "esp-unknown-spi");
    assert!(unknown >= 100, "forged ESP not counted: {unknown}");
    // And the spokes still go direct.
    wait_direct(&cloud, 1, 2, Duration::from_secs(20));
}

/// The keys a spoke logs (`debug.ipsec-keylog`) let an independent decoder,
/// tshark, decrypt a capture of its underlay: inside the ESP are GRE with
/// NHRP (the registration) and the pings through the tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_decrypts_a_capture_with_the_logged_keys() {
    root();
    let mut topo = Topology::with_underlay(format!("dmvpnd-ipsec-ws-{}", std::process::id()));
    let hub_ns = topo.attach("hub", "192.0.2.1", None);
    let s1_ns = topo.attach("s1", "192.0.2.11", None);
    let dir = std::env::temp_dir().join(format!("dmvpnd-ipsec-ws-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let capture = dir.join("underlay.pcap");
    let mut tcpdump = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &s1_ns,
            "tcpdump",
            "-Z",
            "root",
            "--immediate-mode",
            "-i",
            "eth0",
            "-U",
            "-w",
        ])
        .arg(&capture)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Capturing once it says so ("listening on eth0"); --immediate-mode, or
    // packets still in the capture ring when tcpdump is stopped are lost.
    let mut stderr = std::io::BufReader::new(tcpdump.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "tcpdump did not start");
    }
    let keylog = dir.join("keys");
    let (hub, s1, _) = hub_and_logging_spoke("ws", (&hub_ns, &s1_ns), "192.0.2.11", &keylog).await;
    let ttls = ping_ttls(&s1_ns, "10.0.0.11", "10.0.0.1", 3, echo());
    assert!(ttls.len() >= 2, "{ttls:?}");
    std::thread::sleep(Duration::from_millis(300));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status();
    let _ = tcpdump.wait();

    let tshark = |filter: &str| {
        let out = std::process::Command::new("tshark")
            .env("WIRESHARK_CONFIG_DIR", &keylog)
            .args(["-n", "-r"])
            .arg(&capture)
            .args(["-o", "esp.enable_encryption_decode:TRUE", "-Y", filter])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let esp = tshark("esp");
    let nhrp = tshark("esp && gre && nhrp");
    let icmp = tshark("esp && gre && icmp && ip.dst == 10.0.0.1");
    assert!(
        !esp.is_empty(),
        "no ESP in the capture ({} bytes):\n{}",
        std::fs::metadata(&capture).map(|m| m.len()).unwrap_or(0),
        tshark("")
    );
    assert!(
        nhrp.contains("NHRP") && nhrp.lines().count() >= 2,
        "tshark found no NHRP inside the ESP (keys {}):\n{nhrp}\nESP:\n{esp}",
        std::fs::read_to_string(keylog.join("esp_sa")).unwrap_or_default()
    );
    assert!(icmp.lines().count() >= 2, "no decrypted pings:\n{icmp}");
    // The IKE SA's keys decrypt its IKE_AUTH exchange too: the identity
    // payloads inside the Encrypted payload.
    let auth = tshark("isakmp.exchangetype == 35 && isakmp.id.type");
    assert!(
        auth.lines().count() >= 2,
        "tshark did not decrypt IKE_AUTH (keys {}):\n{}",
        std::fs::read_to_string(keylog.join("ikev2_decryption_table")).unwrap_or_default(),
        tshark("isakmp")
    );
    // Nothing travelled as cleartext GRE.
    assert!(
        tshark("gre && !esp").is_empty(),
        "cleartext GRE on the wire"
    );
    drop(s1);
    drop(hub);
    drop(topo);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A child SA rekeyed (CREATE_CHILD_SA, make-before-break) while traffic
/// flows: the shortest lifetime YANG allows (120 s, Cisco's minimum) makes
/// one side rekey at 85-90 % of it; pings every 100 ms through the SA all
/// come back, and the SPIs changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekey_during_traffic_loses_nothing() {
    root();
    let short = |mut config: Value| {
        config["dmvpn-ipsec:ipsec"]["profile"][0]["esp"]["lifetime"] = json!(120);
        config
    };
    let mut cloud = Cloud::start(
        prefix("rekey"),
        "ipsec-rekey",
        &short(protected(hub_config(), PSK)),
        1,
        |n| short(spoke(n, PSK)),
    );
    cloud.wait_registered(Duration::from_secs(20), &[]).await;
    let before = wait_sa(cloud.spoke(1), "192.0.2.1", Duration::from_secs(5)).await;
    let spi = |s: &Value| {
        established_with(s, "192.0.2.1")
            .first()
            .map(|sa| sa["child-sa"][0]["outbound-spi"].clone())
    };
    let old = spi(&before);
    // 1150 echoes at 100 ms: past the rekey (102-108 s after the SA came
    // up) and the removal of the old SA 3 s later.
    let echo = Echo {
        gap: Duration::from_millis(100),
        ..echo()
    };
    let ns = cloud.ns[1].clone();
    let pings = std::thread::spawn(move || ping_ttls(&ns, "10.0.0.11", "10.0.0.1", 1150, echo));
    let ttls = pings.join().unwrap();
    let mut client = cloud.spoke(1).client().await;
    let after = state(&mut client).await;
    assert_ne!(
        spi(&after),
        old,
        "no rekey in 115 s: {:#}",
        protection(&after)
    );
    assert_eq!(
        established_with(&after, "192.0.2.1").len(),
        1,
        "{:#}",
        protection(&after)
    );
    // Every one: the old SA's inbound half outlives its Delete.
    assert_eq!(ttls.len(), 1150, "echoes answered across the rekey");
}

/// Replayed and forged ESP from the SA's own peer address: a copy of a
/// real ESP packet from spoke 1, sent again from spoke 1's namespace, is a
/// replay; the same packet with one octet of its ciphertext changed and
/// a sequence number never seen fails its ICV. Both dropped and counted
/// on the hub's child SA, which keeps carrying the spoke's traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_forged_esp_from_the_peer_are_counted_and_dropped() {
    root();
    let mut cloud = Cloud::start(
        prefix("replay"),
        "ipsec-replay",
        &protected(hub_config(), PSK),
        1,
        |n| spoke(n, PSK),
    );
    cloud.wait_registered(Duration::from_secs(20), &[]).await;
    wait_sa(&mut cloud.hub, &spoke_nbma(1), Duration::from_secs(5)).await;

    // A raw ESP socket in the hub's namespace gets a copy of what arrives:
    // the next ESP packet from spoke 1 (its pings to the hub's tunnel
    // address), IPv4 header stripped.
    let hub_ns = cloud.hub.ns.clone();
    let capture = std::thread::spawn(move || {
        dmvpn_test_support::netns::enter(&hub_ns).unwrap();
        let raw = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(50)),
        )
        .unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 2048];
        loop {
            // A raw IPv4 socket reads the IPv4 header too: the source is
            // in it.
            let n = std::io::Read::read(&mut &raw, &mut buf).unwrap();
            let packet = &buf[..n];
            let from = std::net::Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
            if from.to_string() == spoke_nbma(1) {
                let header = usize::from(packet[0] & 0x0f) * 4;
                return packet[header..].to_vec();
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let answered = ping_ttls(&cloud.ns[1], "10.0.0.11", "10.0.0.1", 3, echo());
    assert!(!answered.is_empty(), "spoke 1 cannot reach the hub");
    let esp = capture.join().unwrap();

    let mut hub = cloud.hub.client().await;
    let before = state(&mut hub).await;
    let child = |s: &Value| established_with(s, &spoke_nbma(1))[0]["child-sa"][0].clone();
    let counter = |s: &Value, name: &str| number(&child(s)["inbound"][name]);
    // The replay, three times, and the forgery: a fresh sequence number
    // (so the replay window lets it through to the ICV check) and one
    // octet of ciphertext changed.
    let mut forged = esp.clone();
    forged[4..8].copy_from_slice(&0x00ff_ff00u32.to_be_bytes());
    let last = forged.len() - 20;
    forged[last] ^= 0x01;
    let s1_ns = cloud.ns[1].clone();
    std::thread::spawn(move || {
        dmvpn_test_support::netns::enter(&s1_ns).unwrap();
        let raw = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(50)),
        )
        .unwrap();
        let hub: std::net::SocketAddr = "192.0.2.1:0".parse().unwrap();
        for packet in [&esp, &esp, &esp, &forged] {
            raw.send_to(packet, &socket2::SockAddr::from(hub)).unwrap();
        }
    })
    .join()
    .unwrap();

    let counted = |s: &Value| counter(s, "replay-drops") >= 3 && counter(s, "icv-failures") >= 1;
    if let Err(s) = wait_state(&mut hub, Duration::from_secs(5), counted).await {
        panic!(
            "replay and forgery not counted: before {:#}\nafter {:#}",
            child(&before),
            child(&s)
        );
    }
    let after = state(&mut hub).await;
    assert_eq!(
        counter(&after, "replay-drops") - counter(&before, "replay-drops"),
        3,
        "{:#}",
        child(&after)
    );
    assert_eq!(
        counter(&after, "icv-failures") - counter(&before, "icv-failures"),
        1,
        "{:#}",
        child(&after)
    );
    // The same SA still carries the spoke's traffic.
    let ttls = ping_ttls(&cloud.ns[1], "10.0.0.11", "10.0.0.1", 5, echo());
    assert!(ttls.len() >= 4, "{ttls:?}");
    let later = state(&mut hub).await;
    assert_eq!(child(&later)["inbound-spi"], child(&before)["inbound-spi"]);
}

/// A hub and three spokes in Phase 2 (routes via the far spoke's tunnel
/// address, no redirect): each spoke resolves its peers, and every pair
/// brings its own SA up on demand and then talks directly through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_spokes_in_phase_2_bring_up_their_own_sas() {
    root();
    let mut hub = protected(hub_config(), PSK);
    hub["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["redirect"] = json!(false);
    let mut cloud = Cloud::start(prefix("p2"), "ipsec-p2", &hub, 3, |n| {
        let mut config = spoke(n, PSK);
        config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["shortcut"] =
            json!(false);
        config
    });
    cloud.phase2_routes();
    cloud.wait_registered(Duration::from_secs(20), &[]).await;
    for (from, to) in [(1, 2), (1, 3), (2, 3)] {
        let took = wait_direct(&cloud, from, to, Duration::from_secs(20));
        eprintln!("phase 2 s{from} -> s{to}: encrypted direct path after {took:?}");
        for (a, b) in [(from, to), (to, from)] {
            wait_sa(cloud.spoke(a), &spoke_nbma(b), Duration::from_secs(5)).await;
        }
    }
    // The hub holds one SA per spoke, no more: the spokes' traffic to each
    // other never needed it.
    let mut client = cloud.hub.client().await;
    let s = state(&mut client).await;
    for n in 1..=3 {
        assert_eq!(
            established_with(&s, &spoke_nbma(n)).len(),
            1,
            "{:#}",
            protection(&s)
        );
    }
}

/// Spokes that know each other's NBMA address but cannot make an SA (s2
/// holds a key for the hub only, so s1 and s2 fail to authenticate each
/// other): their traffic to each other stays on the hub path, through
/// their SAs with the hub, while the direct attempts fail and are held
/// down, as Cisco keeps the spoke-hub-spoke path until the spoke-to-spoke
/// IPsec session is up. Waiting for that SA would black-hole them.
///
/// Here the redirect makes each spoke resolve the other; the requests
/// reach them through the hub and teach each the other's binding, while
/// the replies, which go direct, never leave (no SA). So s1 holds a
/// binding for s2's tunnel address (192.0.2.12), and its pings to
/// 10.0.0.12 would take the direct path if it were up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_an_sa_is_reached_through_the_hub() {
    root();
    let mut cloud = Cloud::start(
        prefix("nosa"),
        "ipsec-nosa",
        &protected(hub_config(), PSK),
        2,
        |n| {
            let mut config = spoke(n, PSK);
            if n == 2 {
                config["dmvpn-ipsec:ipsec"]["profile"][0]["ike"]["pre-shared-key"] =
                    json!([{"name": "hub", "address": "192.0.2.1", "secret": PSK}]);
            }
            config
        },
    );
    cloud.phase3_routes();
    cloud.wait_registered(Duration::from_secs(20), &[]).await;

    let first = ping_ttls(&cloud.ns[1], &spoke_lan(1), &spoke_lan(2), 5, echo());
    assert!(!first.is_empty(), "s1 -> s2: no reply through the hub");
    let mut s1 = cloud.spoke(1).client().await;
    let knows_s2 = |s: &Value| {
        common::netns::cache_entries(s)
            .iter()
            .any(|e| e["nbma-address"] == "192.0.2.12" && e["next-hop"] == "10.0.0.12")
    };
    if let Err(s) = wait_state(&mut s1, Duration::from_secs(10), knows_s2).await {
        panic!(
            "s1 never learned s2's NBMA address: {s:#}\n{}",
            cloud.spokes[0].site.log()
        );
    }

    // Every packet arrives, through the hub (TTL 63), for longer than two
    // failed attempts and their hold-downs.
    let slow = Echo {
        gap: Duration::from_millis(100),
        ..echo()
    };
    let count = 120;
    let ttls = ping_ttls(
        &cloud.ns[1],
        &spoke_tunnel(1),
        &spoke_tunnel(2),
        count,
        slow,
    );
    let s = state(&mut s1).await;
    assert!(
        ttls.len() == usize::from(count) && ttls.iter().all(|&t| t == DIRECT - 1),
        "s1 -> 10.0.0.12 with no SA between them: {} of {count} answered, TTLs {ttls:?}\n{:#}\ns1 log:\n{}",
        ttls.len(),
        protection(&s),
        cloud.spokes[0].site.log()
    );
    assert!(knows_s2(&s), "s1 forgot s2's binding: {s:#}");
    assert!(
        established_with(&s, &spoke_nbma(2)).is_empty(),
        "s1 has an SA with s2 after all: {:#}",
        protection(&s)
    );
    // The direct path was tried: s2's resolution replies to s1, which go
    // direct, waited for an SA that never came and were dropped.
    let mut s2 = cloud.spoke(2).client().await;
    let s2_state = state(&mut s2).await;
    assert!(
        statistic(&s2_state, "queued-dropped") > 0,
        "s2 never tried the direct path: {:#}",
        protection(&s2_state)
    );
}

/// `config` protected by profile `dmvpn` authenticating with `name`'s
/// certificate from `dir` and trusting `dir/ca.pem` (no pre-shared key).
fn certified(mut config: Value, dir: &std::path::Path, name: &str) -> Value {
    let file = |f: String| dir.join(f).display().to_string();
    config["dmvpn-ipsec:ipsec"] = json!({"profile": [{
        "name": "dmvpn",
        "ike": {"certificate": {
            "certificate": file(format!("{name}.pem")),
            "private-key": file(format!("{name}.key")),
            "ca": file("ca.pem".to_owned()),
        }}
    }]});
    config["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-tunnel:tunnel"]["dmvpn-ipsec:protection"] =
        json!({"profile": "dmvpn"});
    config
}

/// Certificates instead of a pre-shared key: a spoke whose certificate our
/// CA signed registers through its SA (identities are the certificates'
/// subject DNs); one whose certificate another CA signed gets no SA and no
/// registration, and the hub counts the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_from_our_ca_authenticate_others_do_not() {
    root();
    let dir = std::env::temp_dir().join(format!("dmvpnd-ipsec-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // s2's certificate comes from another CA.
    common::pki::make_pki(
        &dir,
        &[
            ("hub", "192.0.2.1", "ca"),
            ("s1", "192.0.2.11", "ca"),
            ("s2", "192.0.2.12", "rogue"),
        ],
    );
    let mut cloud = Cloud::start(
        prefix("cert"),
        "ipsec-cert",
        &certified(hub_config(), &dir, "hub"),
        2,
        |n| certified(spoke(n, PSK), &dir, &format!("s{n}")),
    );
    cloud.wait_registered(Duration::from_secs(20), &[2]).await;
    let hub_state = wait_sa(&mut cloud.hub, &spoke_nbma(1), Duration::from_secs(5)).await;
    let sa = established_with(&hub_state, &spoke_nbma(1))[0].clone();
    assert!(
        sa["remote-identity"]
            .as_str()
            .is_some_and(|id| id.contains("CN=s1")),
        "{sa:#}"
    );
    let mut hub = cloud.hub.client().await;
    let failed = |s: &Value| statistic(s, "ike-authentication-failures") > 0;
    if let Err(state) = wait_state(&mut hub, Duration::from_secs(15), failed).await {
        panic!(
            "the rogue certificate was not refused: {:#}",
            protection(&state)
        );
    }
    let s = state(&mut hub).await;
    assert!(
        established_with(&s, &spoke_nbma(2)).is_empty(),
        "{:#}",
        protection(&s)
    );
    drop(cloud);
    std::fs::remove_dir_all(&dir).unwrap();
}
