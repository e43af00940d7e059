//! What a tunnel protected by an IPsec profile runs: the IKE configuration
//! and the data plane's part of ESP (`dmvpn-ipsec` profile, read by
//! `northbound::configuration`).

use crate::ike::Config;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protection {
    /// The profile's name.
    pub profile: String,
    pub ike: Config,
    /// `esp/replay-window`: packets; 0 disables the anti-replay check.
    pub replay_window: u32,
}
