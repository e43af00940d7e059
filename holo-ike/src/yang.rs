//! The data paths and JSON member names of YANG module `dmvpn-ipsec`, as
//! constants generated at build time from `yang/modules/dmvpn-ipsec.yang`
//! (`build.rs`, crate `yang-paths`): a mistyped path is a compile error.
//!
//! ```
//! use holo_ike::yang::dmvpn_ipsec::{ipsec, protection};
//!
//! assert_eq!(
//!     format!("{}/{}", ipsec::profile::entry("dmvpn"), ipsec::profile::esp::LIFETIME),
//!     "/dmvpn-ipsec:ipsec/profile[name='dmvpn']/esp/lifetime",
//! );
//! assert_eq!(protection::PROFILE, "dmvpn-ipsec:protection/profile");
//! ```

include!(concat!(env!("OUT_DIR"), "/dmvpn_ipsec.rs"));
