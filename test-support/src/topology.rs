//! The namespaces of one test (or scenario), named `<prefix>-<role>`: a
//! hub and spokes on an underlay bridge, with LANs behind the spokes.
//!
//! ```text
//!   s1 lan0 172.16.1.1/24        hub               s2 lan0 172.16.2.1/24
//!   s1 dmvpn0 10.0.0.11 ---- dmvpn0 10.0.0.1 ---- dmvpn0 10.0.0.12
//!   s1 eth0 192.0.2.11 ---[ul: br0]--- hub eth0 192.0.2.1 --- s2 eth0 192.0.2.12
//! ```
//!
//! Spoke `n` (1, 2, 3, ...): NBMA 192.0.2.(10+n), tunnel 10.0.0.(10+n),
//! LAN 172.16.n.1/24. The tunnel device, which the test's data plane
//! creates, is [`TUNNEL`].

use crate::netns::{Netns, add_lan, ip_in, router_sysctls};

/// The tunnel device of every node.
pub const TUNNEL: &str = "dmvpn0";
/// The hub's NBMA (underlay) address.
pub const HUB_NBMA: &str = "192.0.2.1";
/// The hub's tunnel address.
pub const HUB_TUNNEL: &str = "10.0.0.1";

/// Spoke `n`'s NBMA (underlay) address.
pub fn spoke_nbma(n: u8) -> String {
    format!("192.0.2.{}", 10 + u16::from(n))
}

/// Spoke `n`'s tunnel address.
pub fn spoke_tunnel(n: u8) -> String {
    format!("10.0.0.{}", 10 + u16::from(n))
}

/// The address of spoke `n` on its LAN (a /24).
pub fn spoke_lan(n: u8) -> String {
    format!("172.16.{n}.1")
}

/// Spoke `n`'s LAN prefix.
pub fn spoke_net(n: u8) -> String {
    format!("172.16.{n}.0/24")
}

/// The namespaces of one run (or scenario), each named `<prefix>-<role>`;
/// deleted on drop, the last created first.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
    namespaces: Vec<Netns>,
}

impl Topology {
    pub fn new(prefix: String) -> Self {
        Topology {
            prefix,
            namespaces: vec![],
        }
    }

    /// With the underlay first: namespace `<prefix>-ul` holding bridge
    /// `br0`, which [`Topology::attach`] connects namespaces to.
    pub fn with_underlay(prefix: String) -> Self {
        let mut topo = Topology::new(prefix);
        let ul = topo.add("ul");
        ip_in(&ul, "link add br0 type bridge");
        ip_in(&ul, "link set br0 up");
        topo
    }

    /// A namespace `<prefix>-<role>` with its loopback up.
    pub fn add(&mut self, role: &str) -> String {
        let ns = Netns::add(format!("{}-{role}", self.prefix));
        ip_in(ns.name(), "link set lo up");
        let name = ns.name().to_owned();
        self.namespaces.push(ns);
        name
    }

    /// A namespace `<prefix>-<role>` on the underlay bridge (see
    /// [`Topology::with_underlay`]) with `nbma` on its eth0, and a LAN when
    /// given; forwarding on, ICMP redirects and reverse path filtering off
    /// (the tunnel is multipoint: traffic may leave where it came in).
    pub fn attach(&mut self, role: &str, nbma: &str, lan: Option<&str>) -> String {
        let ul = format!("{}-ul", self.prefix);
        let ns = self.add(role);
        ip_in(
            &ul,
            &format!("link add {role} type veth peer name eth0 netns {ns}"),
        );
        ip_in(&ul, &format!("link set {role} master br0 up"));
        ip_in(&ns, &format!("addr add {nbma}/24 dev eth0"));
        ip_in(&ns, "link set eth0 up");
        if let Some(lan) = lan {
            add_lan(&ns, lan);
        }
        router_sysctls(&ns);
        ns
    }

    /// Like `attach`, but with the underlay in a namespace of its own, a
    /// front-door VRF: `<prefix>-<role>` holds the LAN (and later the
    /// daemon and its tunnel), `<prefix>-<role>-fvrf` the eth0 on the
    /// underlay bridge with `nbma` and `mtu`. Returns both names, the
    /// daemon's first. Both are created with `ip netns add`, so
    /// /run/netns/NAME exists for `underlay-netns`.
    pub fn attach_fvrf(
        &mut self,
        role: &str,
        nbma: &str,
        lan: Option<&str>,
        mtu: u16,
    ) -> (String, String) {
        let ns = self.add(role);
        if let Some(lan) = lan {
            add_lan(&ns, lan);
        }
        router_sysctls(&ns);
        let fvrf = self.attach(&format!("{role}-fvrf"), nbma, None);
        ip_in(&fvrf, &format!("link set eth0 mtu {mtu}"));
        (ns, fvrf)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        while let Some(ns) = self.namespaces.pop() {
            drop(ns);
        }
    }
}

/// Hub and two spokes on an underlay bridge, with LANs behind the spokes:
/// the namespaces hub, s1, s2 (in that order), named `<prefix>-<role>`.
pub fn topology(prefix: String) -> (Topology, Vec<String>) {
    topology_with(prefix, 2)
}

/// Hub and `spokes` spokes on an underlay bridge, with LANs behind the
/// spokes: the namespaces hub, s1, s2, ... (in that order).
pub fn topology_with(prefix: String, spokes: u8) -> (Topology, Vec<String>) {
    let mut topo = Topology::with_underlay(prefix);
    let mut namespaces = vec![topo.attach("hub", HUB_NBMA, None)];
    for n in 1..=spokes {
        let lan = format!("{}/24", spoke_lan(n));
        namespaces.push(topo.attach(&format!("s{n}"), &spoke_nbma(n), Some(&lan)));
    }
    (topo, namespaces)
}
