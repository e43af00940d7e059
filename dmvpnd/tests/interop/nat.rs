//! A host-side NAT in front of one of our spokes: namespace `<prefix>-nat`
//! (eth0 on the harness's underlay bridge, eth1 the private segment,
//! iptables MASQUERADE out of eth0) and namespace `<prefix>-spoke` behind
//! it. GRE carries no ports: the NAT maps the address pair, as a home
//! router does for a Cisco spoke. Namespaces go on drop.
#![allow(clippy::unwrap_used)]

use crate::common::netns::{Topology, ip_in, masquerade, private_segment, sysctl};

/// The two namespaces; deleted on drop (through [`Topology`]).
pub struct NatSite {
    _topology: Topology,
    pub spoke: String,
}

impl NatSite {
    /// `outside`: the NAT's address on 192.0.2.0/24 (bridge ul0 of
    /// `host_ns`); `inside`: the spoke's address on 10.0.101.0/24, the
    /// router being 10.0.101.1.
    pub fn new(prefix: &str, host_ns: &str, outside: &str, inside: &str) -> NatSite {
        let mut topology = Topology::new(prefix.to_owned());
        let router = topology.add("nat");
        let spoke = topology.add("spoke");
        ip_in(
            host_ns,
            &format!("link add {prefix}-n type veth peer name eth0 netns {router}"),
        );
        ip_in(host_ns, &format!("link set {prefix}-n master ul0 up"));
        ip_in(&router, &format!("addr add {outside}/24 dev eth0"));
        ip_in(&router, "link set eth0 up");
        private_segment(&router, &spoke, "10.0.101.1", inside);
        sysctl(&router, &["net.ipv4.ip_forward=1"]);
        masquerade(&router, "eth0");
        // GRE mappings kept 10 minutes (Linux: 30 s after a lone exchange),
        // longer than the registration interval: see guest/scenario.sh
        sysctl(
            &router,
            &[
                "net.netfilter.nf_conntrack_gre_timeout=600",
                "net.netfilter.nf_conntrack_gre_timeout_stream=600",
            ],
        );
        NatSite {
            _topology: topology,
            spoke,
        }
    }
}
