//! `dmvpn-ipsec` state and RPC of the tunnels: IKE SAs, child SAs and
//! counters from each data plane's IPsec snapshot, and `clear
//! crypto sa` handed to the data planes.

use std::net::IpAddr;

use holo_ike::yang::dmvpn_ipsec::{self, clear_security_associations as clear, protection};
use northbound::{BoxFuture, Refusal, RpcHandler};
use serde_json::{Value, json};

use super::userspace::Planes;
use crate::dataplane::protection::ProtectionSnapshot;

/// `dmvpn-ipsec:clear-security-associations`: on the interface named, or
/// on every tunnel with IPsec.
#[derive(Debug)]
pub struct ClearSa {
    pub planes: Planes,
}

/// The schema path of the RPC, for registration.
pub const CLEAR_SECURITY_ASSOCIATIONS: &str = dmvpn_ipsec::CLEAR_SECURITY_ASSOCIATIONS;

impl RpcHandler for ClearSa {
    fn execute(&self, input: String) -> BoxFuture<'_, Result<Option<String>, Refusal>> {
        Box::pin(async move {
            let input: Value = serde_json::from_str(&input)
                .map_err(|e| Refusal::new(None, format!("RPC input: {e}")))?;
            let body = &input[CLEAR_SECURITY_ASSOCIATIONS.trim_start_matches('/')];
            let peer = match body[clear::input::PEER_NAME].as_str() {
                Some(peer) => Some(
                    peer.parse::<IpAddr>()
                        .map_err(|_| Refusal::new(Some(clear::input::PEER), "not an IP address"))?,
                ),
                None => None,
            };
            let interfaces = match body[clear::input::INTERFACE_NAME].as_str() {
                Some(name) => vec![name.to_owned()],
                None => self.planes.interfaces(),
            };
            let mut protected = 0;
            for interface in &interfaces {
                if self.planes.clear_sa(interface, peer).await == Some(true) {
                    protected += 1;
                }
            }
            if protected == 0 {
                let what = match body[clear::input::INTERFACE_NAME].as_str() {
                    Some(name) => format!("{name:?} has no IPsec protection"),
                    None => "no tunnel has IPsec protection".to_owned(),
                };
                return Err(Refusal::new(Some(clear::input::INTERFACE), what));
            }
            Ok(None)
        })
    }
}

/// The YANG notification of an IKE SA event on `interface`
/// (`dmvpn-ipsec:ike-sa-up`/`ike-sa-down`); `None` for other events.
pub fn notification_json(interface: &str, notification: &Notification) -> Option<Value> {
    use dmvpn_ipsec::{ike_sa_down as down, ike_sa_up as up};
    Some(match notification {
        Notification::IkeSaUp {
            peer, remote_id, ..
        } => json!({
            dmvpn_ipsec::IKE_SA_UP_NAME: {
                up::INTERFACE_NAME: interface,
                up::PEER_NAME: peer.to_string(),
                up::REMOTE_IDENTITY_NAME: remote_id.to_string(),
            }
        }),
        Notification::IkeSaDown { peer, reason } => json!({
            dmvpn_ipsec::IKE_SA_DOWN_NAME: {
                down::INTERFACE_NAME: interface,
                down::PEER_NAME: peer.to_string(),
                down::REASON_NAME: down_reason(reason),
            }
        }),
        _ => return None,
    })
}

/// Why an IKE SA went, in words (`ike-sa-down/reason`).
fn down_reason(reason: &DownReason) -> String {
    match reason {
        DownReason::Deleted => "deleted".to_owned(),
        DownReason::DeletedByPeer => "deleted by the peer".to_owned(),
        DownReason::DeadPeer => "dead peer".to_owned(),
        DownReason::Timeout => "no answer".to_owned(),
        DownReason::InitialContact => "the peer restarted (initial contact)".to_owned(),
        DownReason::AuthenticationFailed => "authentication failed".to_owned(),
        DownReason::Refused(notify) => format!("refused by the peer: {notify}"),
        DownReason::HalfOpenExpired => "half-open too long".to_owned(),
        DownReason::Invalid(what) => format!("invalid answer: {what}"),
        DownReason::Expired => "lifetime expired".to_owned(),
    }
}

/// The `dmvpn-ipsec:protection` state node of a tunnel.
pub fn protection_json(snapshot: &ProtectionSnapshot) -> Value {
    let counters = &snapshot.counters;
    let ike = &snapshot.ike_counters;
    json!({
        protection::IKE_SA_NAME: ike_sas_json(snapshot),
        protection::STATISTICS_NAME: {
            protection::statistics::IKE_PACKETS_IN_NAME: ike.packets_in.to_string(),
            protection::statistics::IKE_PACKETS_OUT_NAME: ike.packets_out.to_string(),
            protection::statistics::IKE_MALFORMED_NAME: ike.malformed.to_string(),
            protection::statistics::IKE_AUTHENTICATION_FAILURES_NAME:
                ike.auth_failures.to_string(),
            protection::statistics::ESP_UNKNOWN_SPI_NAME: counters.esp_unknown_spi.to_string(),
            protection::statistics::CLEARTEXT_DROPPED_NAME: counters.cleartext_dropped.to_string(),
            protection::statistics::QUEUED_DROPPED_NAME: counters.queued_dropped.to_string(),
        },
    })
}

/// The IKE SAs with their child SAs and the data plane's counters of each.
fn ike_sas_json(snapshot: &ProtectionSnapshot) -> Vec<Value> {
    use protection::ike_sa::{self, child_sa};
    snapshot
        .ike
        .ike_sas
        .iter()
        .map(|sa| {
            let (local_spi, remote_spi) = match sa.role {
                Role::Initiator => (sa.spi_i, sa.spi_r),
                Role::Responder => (sa.spi_r, sa.spi_i),
            };
            let children: Vec<Value> = sa
                .child_sas
                .iter()
                .map(|child| {
                    let counters = snapshot
                        .child_sas
                        .iter()
                        .find(|c| c.inbound_spi == child.inbound_spi);
                    let inbound = counters.map(|c| c.inbound).unwrap_or_default();
                    let outbound = counters.map(|c| c.outbound).unwrap_or_default();
                    json!({
                        child_sa::INBOUND_SPI_NAME: format!("{:08x}", child.inbound_spi),
                        child_sa::OUTBOUND_SPI_NAME: format!("{:08x}", child.outbound_spi),
                        child_sa::ALGORITHMS_NAME: esp_algorithms(&child.proposal),
                        child_sa::MODE_NAME: match child.mode {
                            Mode::Transport => "transport",
                            Mode::Tunnel => "tunnel",
                        },
                        child_sa::ENCAPSULATION_NAME: match child.encap {
                            Some((local, remote)) => format!("esp-in-udp {local}/{remote}"),
                            None => "esp".to_owned(),
                        },
                        child_sa::INBOUND_NAME: {
                            child_sa::inbound::PACKETS_NAME: inbound.packets.to_string(),
                            child_sa::inbound::BYTES_NAME: inbound.bytes.to_string(),
                            child_sa::inbound::REPLAY_DROPS_NAME: inbound.replay_drops.to_string(),
                            child_sa::inbound::ICV_FAILURES_NAME: inbound.icv_failures.to_string(),
                        },
                        child_sa::OUTBOUND_NAME: {
                            child_sa::outbound::PACKETS_NAME: outbound.packets.to_string(),
                            child_sa::outbound::BYTES_NAME: outbound.bytes.to_string(),
                        },
                    })
                })
                .collect();
            let mut node = json!({
                ike_sa::LOCAL_SPI_NAME: format!("{local_spi:016x}"),
                ike_sa::REMOTE_SPI_NAME: format!("{remote_spi:016x}"),
                ike_sa::PEER_ADDRESS_NAME: sa.peer.to_string(),
                ike_sa::PEER_PORT_NAME: sa.remote.port(),
                ike_sa::LOCAL_ADDRESS_NAME: sa.local.ip().to_string(),
                ike_sa::LOCAL_PORT_NAME: sa.local.port(),
                ike_sa::ROLE_NAME: match sa.role {
                    Role::Initiator => "initiator",
                    Role::Responder => "responder",
                },
                ike_sa::STATE_NAME: state_name(sa.state),
                ike_sa::LOCAL_IDENTITY_NAME: sa.local_id.to_string(),
                ike_sa::NAT_NAME: nat_name(&sa.nat),
                ike_sa::ESTABLISHED_TIME_NAME: sa.age.as_secs().min(u64::from(u32::MAX)),
                ike_sa::CHILD_SA_NAME: children,
            });
            if let Some(proposal) = &sa.proposal {
                node[ike_sa::ALGORITHMS_NAME] = json!(ike_algorithms(proposal));
            }
            if let Some(remote) = &sa.remote_id {
                node[ike_sa::REMOTE_IDENTITY_NAME] = json!(remote.to_string());
            }
            node
        })
        .collect()
}

use holo_ike::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use holo_ike::ike::sa::{Role, State};
use holo_ike::ike::{DownReason, EspProposal, IkeProposal, Mode, Notification};
use holo_ike::northbound::configuration::{ENCRYPTIONS, GROUPS, INTEGRITIES};

/// The YANG (and CLI) name of an algorithm.
fn encr_name(encr: EncrAlgorithm) -> &'static str {
    ENCRYPTIONS
        .iter()
        .find(|(_, e)| *e == encr)
        .map_or("?", |(name, _)| name)
}

fn integ_name(integ: IntegAlgorithm) -> &'static str {
    INTEGRITIES
        .iter()
        .find(|(_, i, _)| *i == integ)
        .map_or("?", |(name, _, _)| name)
}

fn prf_name(prf: PrfAlgorithm) -> &'static str {
    INTEGRITIES
        .iter()
        .find(|(_, _, p)| *p == prf)
        .map_or("?", |(name, _, _)| name)
}

fn group_name(group: DhGroup) -> &'static str {
    GROUPS
        .iter()
        .find(|(_, g)| *g == group)
        .map_or("modp-1024", |(name, _)| name)
}

/// `aes-cbc-256/sha512/prf-sha512/ecp-256`.
pub fn ike_algorithms(p: &IkeProposal) -> String {
    let integ = p
        .integ
        .map(|i| format!("/{}", integ_name(i)))
        .unwrap_or_default();
    format!(
        "{}{integ}/prf-{}/{}",
        encr_name(p.encr),
        prf_name(p.prf),
        group_name(p.dh)
    )
}

/// `aes-cbc-128/sha1` (`/esn` with extended sequence numbers).
pub fn esp_algorithms(p: &EspProposal) -> String {
    let integ = p
        .integ
        .map(|i| format!("/{}", integ_name(i)))
        .unwrap_or_default();
    let esn = if p.esn { "/esn" } else { "" };
    format!("{}{integ}{esn}", encr_name(p.encr))
}

fn state_name(state: State) -> &'static str {
    match state {
        State::InitSent => "init-sent",
        State::AuthSent => "auth-sent",
        State::AwaitingAuth => "awaiting-auth",
        State::Established => "established",
        State::Deleting => "deleting",
    }
}

fn nat_name(nat: &holo_ike::ike::nat::NatState) -> &'static str {
    match (nat.forced, nat.local_behind, nat.remote_behind) {
        (true, _, _) => "forced",
        (false, true, true) => "both",
        (false, true, false) => "local",
        (false, false, true) => "remote",
        (false, false, false) => "none",
    }
}
