//! INFORMATIONAL exchanges (RFC 7296, 1.4): Delete of the IKE SA or of
//! child SAs, liveness checks (an empty request, 2.4), error notifies.
//!
//! A child SA Delete names the sender's inbound SPIs; the answer names
//! ours of the same pairs (1.4.1). Pairs already gone (we deleted them
//! ourselves at the same time) are simply not named again.

use std::time::Instant;

use super::Ike;
use super::init::notify;
use super::io::{DownReason, Notification, Output};
use super::retransmission::RequestKind;
use super::sa::IkeSa;
use crate::packet::{Delete, NotifyType, Payload, PayloadBody, ProtocolId, Spi};

/// The payloads of a request of ours.
pub fn request_payloads(sa: &IkeSa, kind: &RequestKind) -> Vec<Payload> {
    match kind {
        RequestKind::DeleteIke => {
            let delete = Payload::new(PayloadBody::Delete(Delete {
                protocol_id: ProtocolId::IKE,
                spi_size: 0,
                spis: vec![],
            }));
            if sa.auth_refused {
                // RFC 7296, 2.21.2: an initiator that refuses the
                // responder's AUTH says so in an INFORMATIONAL.
                vec![notify(NotifyType::AUTHENTICATION_FAILED, vec![]), delete]
            } else {
                vec![delete]
            }
        }
        RequestKind::DeleteChild(spis) => vec![esp_delete(spis)],
        // CREATE_CHILD_SA requests are built by `create_child_request`.
        RequestKind::Dpd
        | RequestKind::Init
        | RequestKind::Auth
        | RequestKind::CreateChild
        | RequestKind::RekeyChild(_)
        | RequestKind::RekeyIke => vec![],
    }
}

fn esp_delete(spis: &[u32]) -> Payload {
    Payload::new(PayloadBody::Delete(Delete {
        protocol_id: ProtocolId::ESP,
        spi_size: 4,
        spis: spis.iter().map(|s| Spi(s.to_be_bytes().to_vec())).collect(),
    }))
}

/// What a peer's INFORMATIONAL request does to the IKE SA.
#[derive(Debug)]
pub enum Outcome {
    Keep,
    /// The peer deleted the IKE SA: answer, then forget it.
    Deleted,
}

impl Ike {
    /// Responder side of INFORMATIONAL: the answer's payloads.
    pub(super) fn respond_informational(
        &mut self,
        sa: &mut IkeSa,
        payloads: &[Payload],
        out: &mut Vec<Output>,
    ) -> (Vec<Payload>, Outcome) {
        let mut ours = vec![];
        let refused = payloads.iter().any(|p| {
            matches!(&p.body, PayloadBody::Notify(n)
                if n.notify_type == NotifyType::AUTHENTICATION_FAILED)
        });
        if refused && sa.role == super::sa::Role::Responder {
            // The initiator did not accept our AUTH (RFC 7296, 2.21.2).
            self.counters.auth_failures += 1;
            out.push(Output::Notification(Notification::AuthFailed {
                peer: sa.peer,
            }));
        }
        for p in payloads {
            match &p.body {
                PayloadBody::Delete(d) if d.protocol_id == ProtocolId::IKE => {
                    self.counters.deletes_received += 1;
                    // RFC 7296, 1.4.1: the answer is empty; the children go too.
                    return (vec![], Outcome::Deleted);
                }
                PayloadBody::Delete(d) if d.protocol_id == ProtocolId::ESP => {
                    self.counters.deletes_received += 1;
                    for spi in &d.spis {
                        let Ok(spi) = <[u8; 4]>::try_from(&spi.0[..]).map(u32::from_be_bytes)
                        else {
                            continue;
                        };
                        let Some(at) = sa.children.iter().position(|c| c.sa.outbound_spi == spi)
                        else {
                            continue;
                        };
                        let child = sa.children.remove(at).sa;
                        ours.push(child.inbound_spi);
                        out.push(Output::RemoveChildSa {
                            peer: child.peer,
                            inbound_spi: child.inbound_spi,
                            outbound_spi: child.outbound_spi,
                        });
                        out.push(Output::Notification(Notification::ChildSaDown {
                            peer: child.peer,
                            inbound_spi: child.inbound_spi,
                            outbound_spi: child.outbound_spi,
                        }));
                    }
                }
                // Notifies in requests (errors included) are only logged;
                // unknown non-critical payloads are ignored (RFC 7296, 2.5).
                _ => {}
            }
        }
        let answer = if ours.is_empty() {
            vec![]
        } else {
            vec![esp_delete(&ours)]
        };
        (answer, Outcome::Keep)
    }

    /// The answer to one of our INFORMATIONAL requests.
    pub(super) fn informational_response(
        &mut self,
        sa: &mut IkeSa,
        kind: RequestKind,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Option<DownReason> {
        match kind {
            RequestKind::DeleteIke => Some(DownReason::Deleted),
            RequestKind::DeleteChild(spis) => {
                sa.closing.retain(|(inbound, _)| !spis.contains(inbound));
                self.next_request(sa, now, out);
                None
            }
            _ => {
                self.next_request(sa, now, out);
                None
            }
        }
    }
}
