//! `dmvpn-nhrp` notifications (nhs-up, nhs-down, peer-up, peer-down) as
//! YANG JSON.

use serde_json::{Value, json};

use crate::io::Notification;

/// The YANG notification of `notification` on `interface`.
pub fn json(interface: &str, notification: &Notification) -> Value {
    match notification {
        Notification::NhsUp { nhs } => {
            json!({"dmvpn-nhrp:nhs-up": {"interface": interface, "protocol-address": nhs}})
        }
        Notification::NhsDown { nhs } => {
            json!({"dmvpn-nhrp:nhs-down": {"interface": interface, "protocol-address": nhs}})
        }
        Notification::PeerUp { protocol, nbma } => json!({"dmvpn-nhrp:peer-up": {
            "interface": interface, "protocol-address": protocol, "nbma-address": nbma}}),
        Notification::PeerDown { protocol } => {
            json!({"dmvpn-nhrp:peer-down": {"interface": interface, "protocol-address": protocol}})
        }
    }
}
