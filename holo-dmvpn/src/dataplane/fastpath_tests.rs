use holo_nhrp::io::Output;

use super::super::forwarding::ForwardingConfig;
use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

fn config() -> FastPathConfig {
    FastPathConfig {
        interface: "dmvpn0".to_string(),
        tunnel: net("10.0.0.11/24"),
        source: "192.0.2.11".parse().unwrap(),
        key: Some(0x0102_0304),
        mtu: 1472,
        ttl: 64,
        redirect: true,
        bypass: None,
    }
}

#[test]
fn the_configuration_has_the_programs_layout() {
    let bytes = encode_config(&config(), 7, 3, true);
    assert_eq!(&bytes[0..4], &7u32.to_ne_bytes());
    assert_eq!(&bytes[4..8], &3u32.to_ne_bytes());
    assert_eq!(&bytes[8..12], &[192, 0, 2, 11]);
    // The key as it is on the wire.
    assert_eq!(&bytes[12..16], &[1, 2, 3, 4]);
    assert_eq!(&bytes[16..20], &[10, 0, 0, 11]);
    assert_eq!(&bytes[20..24], &[10, 0, 0, 255]);
    assert_eq!(&bytes[24..26], &1472u16.to_ne_bytes());
    assert_eq!(bytes[26], 64);
    assert_eq!(bytes[27], CONFIG_ENABLED | CONFIG_KEY | CONFIG_REDIRECT);
    assert_eq!(&bytes[28..44], &[0; 16]);

    let mut other = config();
    other.key = None;
    other.redirect = false;
    other.tunnel = net("10.0.0.11/32");
    let bytes = encode_config(&other, 7, 0, false);
    assert_eq!(bytes[27], 0, "disabled, no key, no redirect");
    assert_eq!(&bytes[20..24], &[0; 4], "no broadcast on a /32");

    let mut v6 = config();
    v6.tunnel = net("2001:db8::11/64");
    let bytes = encode_config(&v6, 7, 3, true);
    assert_eq!(bytes[27] & CONFIG_TUNNEL6, CONFIG_TUNNEL6);
    assert_eq!(bytes[28..44], mapped(ip("2001:db8::11")));
}

#[test]
fn the_program_holds_the_userspace_planes_choice_per_prefix() {
    let mut f = Forwarding::new(ForwardingConfig {
        tunnel: net("10.0.0.11/24"),
        key: None,
        nhs: vec![ip("10.0.0.1")],
        redirect: false,
    });
    f.set_tunnel_routes(&[
        (net("172.16.0.0/16"), ip("10.0.0.1")),
        (net("172.16.2.0/24"), ip("10.0.0.1")),
    ]);
    f.apply(&Output::RouteAdded {
        prefix: net("172.16.2.0/24"),
        next_hop: ip("10.0.0.12"),
    });
    // The tunnel subnet is on-link: the next hop is the destination.
    assert_eq!(
        FastPath::wanted(&f, &net("10.0.0.0/24")),
        Some(Installed {
            next_hop: None,
            flags: ROUTE_ON_LINK
        })
    );
    assert_eq!(
        FastPath::wanted(&f, &net("172.16.0.0/16")),
        Some(Installed {
            next_hop: Some(ip("10.0.0.1")),
            flags: 0
        })
    );
    // NHRP's shortcut wins over the kernel's route of the same prefix, as
    // in `Forwarding::route`, and is marked so its use is reported.
    assert_eq!(
        FastPath::wanted(&f, &net("172.16.2.0/24")),
        Some(Installed {
            next_hop: Some(ip("10.0.0.12")),
            flags: ROUTE_NHRP
        })
    );
    assert_eq!(FastPath::wanted(&f, &net("192.168.0.0/16")), None);
    f.apply(&Output::RouteRemoved {
        prefix: net("172.16.2.0/24"),
    });
    assert_eq!(
        FastPath::wanted(&f, &net("172.16.2.0/24")).map(|r| r.next_hop),
        Some(Some(ip("10.0.0.1")))
    );
}

#[test]
fn addresses_are_mapped_as_the_program_keys_them() {
    let mut v4 = [0u8; 16];
    v4[10] = 0xff;
    v4[11] = 0xff;
    v4[12..].copy_from_slice(&[10, 0, 0, 12]);
    assert_eq!(mapped(ip("10.0.0.12")), v4);
    assert_eq!(mapped(ip("2001:db8::1"))[0..2], [0x20, 0x01]);
}

/// The program as built, through the kernel's verifier (CI runs as root;
/// a build without clang fails here, not silently).
#[test]
fn the_built_program_passes_the_verifier() {
    assert!(
        !OBJECT.is_empty(),
        "built without the eBPF program: is clang installed (scripts/setup.sh)?"
    );
    let mut ebpf = Ebpf::load(OBJECT).unwrap_or_else(|e| panic!("{}", chain(&e)));
    for name in ["egress", "ingress"] {
        let program: &mut SchedClassifier = ebpf.program_mut(name).unwrap().try_into().unwrap();
        program
            .load()
            .unwrap_or_else(|e| panic!("{name}: {}", chain(&e)));
    }
    for map in [
        "config",
        "routes4",
        "bindings",
        "peers",
        "peer_stats",
        "totals",
        "reasons",
        "hairpins",
    ] {
        assert!(ebpf.map(map).is_some(), "no map {map}");
    }
}
