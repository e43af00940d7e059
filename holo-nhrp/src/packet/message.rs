//! The message-specific part of the mandatory part (RFC 2332, 5.2.1-5.2.7,
//! and the Cisco Traffic Indication).
//!
//! Requests and replies (types 1-6) share one layout after the fixed header:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Src Proto Len | Dst Proto Len |           Flags               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Request ID                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Source NBMA Address, Subaddress, Protocol Address,           |
//! |  Destination Protocol Address (variable), then CIEs           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Error Indication (5.2.7) has "unused, Error Code, Error Offset" where the
//! others have "Flags, Request ID", and carries the offending packet instead
//! of CIEs. Cisco's Traffic Indication (type 8) has the same shape: unused,
//! traffic code, unused, then the data packet that caused it. The 16-bit
//! placement of the traffic code follows the Error Indication layout; Cisco
//! IOS and FRR 8.4 both send those six octets as zero.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use super::cie::Cie;

/// ar$op.type (RFC 2332, 5.2.0.1; 8 is Cisco's Traffic Indication).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    ResolutionRequest = 1,
    ResolutionReply = 2,
    RegistrationRequest = 3,
    RegistrationReply = 4,
    PurgeRequest = 5,
    PurgeReply = 6,
    ErrorIndication = 7,
    TrafficIndication = 8,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            1 => MessageType::ResolutionRequest,
            2 => MessageType::ResolutionReply,
            3 => MessageType::RegistrationRequest,
            4 => MessageType::RegistrationReply,
            5 => MessageType::PurgeRequest,
            6 => MessageType::PurgeReply,
            7 => MessageType::ErrorIndication,
            8 => MessageType::TrafficIndication,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MessageType::ResolutionRequest => "Resolution Request",
            MessageType::ResolutionReply => "Resolution Reply",
            MessageType::RegistrationRequest => "Registration Request",
            MessageType::RegistrationReply => "Registration Reply",
            MessageType::PurgeRequest => "Purge Request",
            MessageType::PurgeReply => "Purge Reply",
            MessageType::ErrorIndication => "Error Indication",
            MessageType::TrafficIndication => "Traffic Indication",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The 16-bit flags field of requests and replies. Bit meanings depend on
/// the message type; unknown bits are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct Flags(pub u16);

impl Flags {
    /// Resolution (RFC 2332, 5.2.1): Q, the requester is a router.
    pub const RESOLUTION_ROUTER: u16 = 0x8000;
    /// Resolution: A, the reply is authoritative.
    pub const RESOLUTION_AUTHORITATIVE: u16 = 0x4000;
    /// Resolution: D, the destination's association is stable.
    pub const RESOLUTION_DESTINATION_STABLE: u16 = 0x2000;
    /// Resolution: U, uniqueness.
    pub const RESOLUTION_UNIQUE: u16 = 0x1000;
    /// Resolution: S, the source's binding is stable.
    pub const RESOLUTION_SOURCE_STABLE: u16 = 0x0800;
    /// Registration (RFC 2332, 5.2.3): U, the binding is unique.
    pub const REGISTRATION_UNIQUE: u16 = 0x8000;
    /// Purge (RFC 2332, 5.2.5): N, no reply expected.
    pub const PURGE_NO_REPLY: u16 = 0x8000;
    /// Cisco: the sender understands the NAT extension.
    pub const CISCO_NAT_CAPABLE: u16 = 0x0002;

    pub fn contains(self, bit: u16) -> bool {
        self.0 & bit == bit
    }

    /// Names of the set bits for a message type, for logs and JSON.
    pub fn names(self, ty: MessageType) -> Vec<&'static str> {
        let table: &[(u16, &'static str)] = match ty {
            MessageType::ResolutionRequest | MessageType::ResolutionReply => &[
                (Self::RESOLUTION_ROUTER, "Q"),
                (Self::RESOLUTION_AUTHORITATIVE, "A"),
                (Self::RESOLUTION_DESTINATION_STABLE, "D"),
                (Self::RESOLUTION_UNIQUE, "U"),
                (Self::RESOLUTION_SOURCE_STABLE, "S"),
                (Self::CISCO_NAT_CAPABLE, "nat"),
            ],
            MessageType::RegistrationRequest | MessageType::RegistrationReply => &[
                (Self::REGISTRATION_UNIQUE, "U"),
                (Self::CISCO_NAT_CAPABLE, "nat"),
            ],
            MessageType::PurgeRequest | MessageType::PurgeReply => &[
                (Self::PURGE_NO_REPLY, "N"),
                (Self::CISCO_NAT_CAPABLE, "nat"),
            ],
            MessageType::ErrorIndication | MessageType::TrafficIndication => &[],
        };
        table
            .iter()
            .filter(|(bit, _)| self.contains(*bit))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

/// Requests and replies of types 1-6.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestReply {
    pub flags: Flags,
    pub request_id: u32,
    pub cies: Vec<Cie>,
}

/// Error Indication codes (RFC 2332, 5.2.7). Unknown values are carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    pub const UNRECOGNIZED_EXTENSION: ErrorCode = ErrorCode(1);
    pub const LOOP_DETECTED: ErrorCode = ErrorCode(3);
    pub const PROTOCOL_ADDRESS_UNREACHABLE: ErrorCode = ErrorCode(6);
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(7);
    pub const SDU_SIZE_EXCEEDED: ErrorCode = ErrorCode(8);
    pub const INVALID_EXTENSION: ErrorCode = ErrorCode(9);
    pub const INVALID_RESOLUTION_REPLY: ErrorCode = ErrorCode(10);
    pub const AUTHENTICATION_FAILURE: ErrorCode = ErrorCode(11);
    pub const HOP_COUNT_EXCEEDED: ErrorCode = ErrorCode(15);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::UNRECOGNIZED_EXTENSION => "unrecognized extension",
            ErrorCode::LOOP_DETECTED => "NHRP loop detected",
            ErrorCode::PROTOCOL_ADDRESS_UNREACHABLE => "protocol address unreachable",
            ErrorCode::PROTOCOL_ERROR => "protocol error",
            ErrorCode::SDU_SIZE_EXCEEDED => "NHRP SDU size exceeded",
            ErrorCode::INVALID_EXTENSION => "invalid extension",
            ErrorCode::INVALID_RESOLUTION_REPLY => "invalid NHRP resolution reply received",
            ErrorCode::AUTHENTICATION_FAILURE => "authentication failure",
            ErrorCode::HOP_COUNT_EXCEEDED => "hop count exceeded",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unknown ({})", self.0),
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

/// RFC 2332, 5.2.7.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorIndication {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserved: u16,
    pub code: ErrorCode,
    /// Offset in the offending packet of the field in error.
    pub error_offset: u16,
    /// The NHRP packet in error, from its fixed header on.
    #[serde(
        serialize_with = "holo_utils::hex::serialize",
        deserialize_with = "holo_utils::hex::deserialize"
    )]
    pub packet: Vec<u8>,
}

/// Cisco Traffic Indication (redirect): tells the sender of a data packet
/// that a better path exists for its destination.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficIndication {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserved: u16,
    /// 0: NHRP traffic redirect.
    pub traffic_code: u16,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserved2: u16,
    /// The data packet that caused the indication, from its IP header on
    /// (often truncated by the sender).
    #[serde(
        serialize_with = "holo_utils::hex::serialize",
        deserialize_with = "holo_utils::hex::deserialize"
    )]
    pub packet: Vec<u8>,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

/// The message-specific part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    ResolutionRequest(RequestReply),
    ResolutionReply(RequestReply),
    RegistrationRequest(RequestReply),
    RegistrationReply(RequestReply),
    PurgeRequest(RequestReply),
    PurgeReply(RequestReply),
    ErrorIndication(ErrorIndication),
    TrafficIndication(TrafficIndication),
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::ResolutionRequest(_) => MessageType::ResolutionRequest,
            Message::ResolutionReply(_) => MessageType::ResolutionReply,
            Message::RegistrationRequest(_) => MessageType::RegistrationRequest,
            Message::RegistrationReply(_) => MessageType::RegistrationReply,
            Message::PurgeRequest(_) => MessageType::PurgeRequest,
            Message::PurgeReply(_) => MessageType::PurgeReply,
            Message::ErrorIndication(_) => MessageType::ErrorIndication,
            Message::TrafficIndication(_) => MessageType::TrafficIndication,
        }
    }

    /// The request/reply part, for types 1-6.
    pub fn request_reply(&self) -> Option<&RequestReply> {
        match self {
            Message::ResolutionRequest(m)
            | Message::ResolutionReply(m)
            | Message::RegistrationRequest(m)
            | Message::RegistrationReply(m)
            | Message::PurgeRequest(m)
            | Message::PurgeReply(m) => Some(m),
            Message::ErrorIndication(_) | Message::TrafficIndication(_) => None,
        }
    }
}
