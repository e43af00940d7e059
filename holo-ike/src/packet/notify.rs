//! The Notify payload (RFC 7296, 3.10).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Protocol ID  |   SPI Size    |      Notify Message Type      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                Security Parameter Index (SPI)                 ~
//! ~                       Notification Data                       ~
//! ```
//! Offsets are from the end of the generic payload header; SPI Size is the
//! length of `spi` when encoding.

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::{DecodeError, EncodeError, fits};
use super::registry::registry;
use super::sa::ProtocolId;

pub const PROTOCOL_ID: usize = 0;
pub const SPI_SIZE: usize = 1;
pub const NOTIFY_TYPE: usize = 2;
pub const SPI: usize = 4;

registry! {
    /// Notify Message Type (RFC 7296, 3.10.1; RFC 7383 and RFC 7427 for the
    /// two status types after NON_FIRST_FRAGMENTS_ALSO). Below 16384 errors,
    /// from 16384 status.
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        INITIAL_CONTACT = 16384,
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388,
        NAT_DETECTION_DESTINATION_IP = 16389,
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        SIGNATURE_HASH_ALGORITHMS = 16431,
    }
}

impl NotifyType {
    /// Types below 16384 report errors (RFC 7296, 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notify {
    /// 0 when the notification is about no SA in particular.
    pub protocol_id: ProtocolId,
    pub notify_type: NotifyType,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "holo_utils::hex::serialize"
    )]
    pub spi: Vec<u8>,
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

impl Notify {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol_id = ProtocolId(r.u8("notify protocol id")?);
        let spi_size = r.u8("notify SPI size")?;
        let notify_type = NotifyType(r.u16("notify message type")?);
        Ok(Notify {
            protocol_id,
            notify_type,
            spi: r.bytes(spi_size.into(), "notify SPI")?.to_vec(),
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        fits("notify SPI", self.spi.len(), u8::MAX.into())?;
        buf.push(self.protocol_id.0);
        buf.push(self.spi.len() as u8);
        buf.extend_from_slice(&self.notify_type.0.to_be_bytes());
        buf.extend_from_slice(&self.spi);
        buf.extend_from_slice(&self.data);
        Ok(())
    }
}
