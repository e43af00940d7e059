//! The data paths and JSON member names of YANG module `dmvpn-nhrp`, as
//! constants generated at build time from `yang/modules/dmvpn-nhrp.yang`
//! (`build.rs`, crate `yang-paths`, whose docs describe the shape): a
//! mistyped path is a compile error, not a silently missing value.
//!
//! Paths below the augment are relative to the interface entry, paths below
//! a list relative to the list entry (`entry()`); `*_NAME` are the JSON
//! member names (qualified for the top node):
//!
//! ```
//! use holo_nhrp::yang::dmvpn_nhrp::{self, nhrp};
//!
//! let interface = "/ietf-interfaces:interfaces/interface[name='tun0']";
//! assert_eq!(
//!     format!("{interface}/{}", nhrp::HOLDING_TIME),
//!     "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/holding-time",
//! );
//! assert_eq!(
//!     format!("{interface}/{}/{}", nhrp::nhs::entry("10.0.0.1"), nhrp::nhs::PRIORITY),
//!     "/ietf-interfaces:interfaces/interface[name='tun0']\
//!      /dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/priority",
//! );
//! assert_eq!(dmvpn_nhrp::NHRP_NAME, "dmvpn-nhrp:nhrp");
//! assert_eq!(nhrp::cache_entry::EXPIRES_IN_NAME, "expires-in");
//! ```

include!(concat!(env!("OUT_DIR"), "/dmvpn_nhrp.rs"));

#[cfg(test)]
mod tests {
    use super::dmvpn_nhrp::{self, clear_cache, nhrp, purge};

    const INTERFACE: &str = "/ietf-interfaces:interfaces/interface[name='tun0']";

    #[test]
    fn configuration_paths() {
        assert_eq!(
            format!("{INTERFACE}/{}", nhrp::multicast::DYNAMIC),
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/multicast/dynamic"
        );
        assert_eq!(
            format!(
                "{INTERFACE}/{}/{}",
                nhrp::static_map::entry("10.0.0.2"),
                nhrp::static_map::NBMA_ADDRESS
            ),
            "/ietf-interfaces:interfaces/interface[name='tun0']\
             /dmvpn-nhrp:nhrp/static-map[protocol-address='10.0.0.2']/nbma-address"
        );
        // The prefix of every nhs entry's path, as the key scan needs it.
        assert_eq!(
            format!("{}[{}='", nhrp::nhs::PATH, nhrp::nhs::KEY),
            "dmvpn-nhrp:nhrp/nhs[protocol-address='"
        );
    }

    #[test]
    fn a_key_with_a_quote_is_double_quoted() {
        assert_eq!(
            nhrp::counters::error::entry("it's"),
            "dmvpn-nhrp:nhrp/counters/error[reason=\"it's\"]"
        );
    }

    #[test]
    fn state_json_member_names() {
        let state: serde_json::Value = serde_json::from_str(
            r#"{"dmvpn-nhrp:nhrp": {
                  "cache-entry": [{"prefix": "10.0.0.2/32", "expires-in": 10}],
                  "counters": {"nat-path": {"probes-sent": "3"}}
                }}"#,
        )
        .unwrap();
        let nhrp_state = &state[dmvpn_nhrp::NHRP_NAME];
        let entry = &nhrp_state[nhrp::CACHE_ENTRY_NAME][0];
        assert_eq!(entry[nhrp::cache_entry::EXPIRES_IN_NAME], 10);
        let nat_path = &nhrp_state[nhrp::COUNTERS_NAME][nhrp::counters::NAT_PATH_NAME];
        assert_eq!(nat_path[nhrp::counters::nat_path::PROBES_SENT_NAME], "3");
    }

    #[test]
    fn rpc_and_notification_paths() {
        assert_eq!(
            clear_cache::input::INTERFACE,
            "/dmvpn-nhrp:clear-cache/interface"
        );
        assert_eq!(purge::input::PREFIX, "/dmvpn-nhrp:purge/prefix");
        assert_eq!(dmvpn_nhrp::PURGE_NAME, "dmvpn-nhrp:purge");
        assert_eq!(dmvpn_nhrp::PEER_UP_NAME, "dmvpn-nhrp:peer-up");
        assert_eq!(dmvpn_nhrp::peer_up::NBMA_ADDRESS_NAME, "nbma-address");
    }
}
