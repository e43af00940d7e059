//! The data paths and JSON member names of YANG module `dmvpn-tunnel`, as
//! constants generated at build time from `yang/modules/dmvpn-tunnel.yang`
//! (`build.rs`, crate `yang-paths`, whose docs describe the shape): a
//! mistyped path is a compile error, not a silently missing value.
//!
//! Paths below the augment are relative to the interface entry, paths below
//! a list relative to the list entry (`entry()`); `*_NAME` are the JSON
//! member names (qualified for the top node):
//!
//! ```
//! use holo_dmvpn::yang::dmvpn_tunnel::{self, tunnel};
//!
//! let interface = "/ietf-interfaces:interfaces/interface[name='tun0']";
//! assert_eq!(
//!     format!("{interface}/{}", tunnel::GRE_KEY),
//!     "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/gre-key",
//! );
//! assert_eq!(dmvpn_tunnel::TUNNEL_NAME, "dmvpn-tunnel:tunnel");
//! assert_eq!(tunnel::peer::EXPIRES_IN_NAME, "expires-in");
//! ```

include!(concat!(env!("OUT_DIR"), "/dmvpn_tunnel.rs"));

#[cfg(test)]
mod tests {
    use super::dmvpn_tunnel::{self, tunnel};

    const INTERFACE: &str = "/ietf-interfaces:interfaces/interface[name='tun0']";

    #[test]
    fn configuration_paths() {
        // Leaves of a choice's cases are the container's own.
        assert_eq!(
            format!("{INTERFACE}/{}", tunnel::SOURCE_INTERFACE),
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/source-interface"
        );
        assert_eq!(tunnel::UNDERLAY_NETNS, "dmvpn-tunnel:tunnel/underlay-netns");
    }

    #[test]
    fn state_paths_below_nested_lists() {
        // peer -> counters (grouping traffic-counters) -> drop.
        let path = format!(
            "{INTERFACE}/{}/{}/{}",
            tunnel::peer::entry("192.0.2.1"),
            tunnel::peer::counters::drop::entry("wrong-key"),
            tunnel::peer::counters::drop::COUNT
        );
        assert_eq!(
            path,
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel\
             /peer[nbma-address='192.0.2.1']/counters/drop[reason='wrong-key']/count"
        );
        assert_eq!(
            tunnel::statistics::PACKETS_IN,
            "dmvpn-tunnel:tunnel/statistics/packets-in"
        );
    }

    #[test]
    fn state_json_member_names() {
        assert_eq!(dmvpn_tunnel::TUNNEL_NAME, "dmvpn-tunnel:tunnel");
        assert_eq!(
            tunnel::MULTICAST_NBMA_ADDRESS_NAME,
            "multicast-nbma-address"
        );
        assert_eq!(tunnel::peer::COUNTERS_NAME, "counters");
        assert_eq!(
            tunnel::peer::counters::NHRP_PACKETS_IN_NAME,
            "nhrp-packets-in"
        );
    }
}
