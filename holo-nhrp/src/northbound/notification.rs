//! `dmvpn-nhrp` notifications (nhs-up, nhs-down, peer-up, peer-down) as
//! YANG JSON.

use serde_json::{Value, json};

use crate::io::Notification;
use crate::yang::dmvpn_nhrp::{self, nhs_down, nhs_up, peer_down, peer_up};

/// The YANG notification of `notification` on `interface`.
pub fn json(interface: &str, notification: &Notification) -> Value {
    match notification {
        Notification::NhsUp { nhs } => json!({dmvpn_nhrp::NHS_UP_NAME: {
            nhs_up::INTERFACE_NAME: interface,
            nhs_up::PROTOCOL_ADDRESS_NAME: nhs,
        }}),
        Notification::NhsDown { nhs } => json!({dmvpn_nhrp::NHS_DOWN_NAME: {
            nhs_down::INTERFACE_NAME: interface,
            nhs_down::PROTOCOL_ADDRESS_NAME: nhs,
        }}),
        Notification::PeerUp { protocol, nbma } => json!({dmvpn_nhrp::PEER_UP_NAME: {
            peer_up::INTERFACE_NAME: interface,
            peer_up::PROTOCOL_ADDRESS_NAME: protocol,
            peer_up::NBMA_ADDRESS_NAME: nbma,
        }}),
        Notification::PeerDown { protocol } => json!({dmvpn_nhrp::PEER_DOWN_NAME: {
            peer_down::INTERFACE_NAME: interface,
            peer_down::PROTOCOL_ADDRESS_NAME: protocol,
        }}),
    }
}
