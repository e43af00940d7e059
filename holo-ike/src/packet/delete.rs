//! The Delete payload (RFC 7296, 3.11).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Protocol ID   |   SPI Size    |          Num of SPIs          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~               Security Parameter Index(es) (SPI)              ~
//! ```
//! Offsets are from the end of the generic payload header.

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::{DecodeError, EncodeError, fits};
use super::sa::ProtocolId;

pub const PROTOCOL_ID: usize = 0;
pub const SPI_SIZE: usize = 1;
pub const NUM_SPIS: usize = 2;
pub const SPIS: usize = 4;

/// At most this many SPIs in one Delete payload.
pub const MAX_SPIS: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delete {
    pub protocol_id: ProtocolId,
    /// 0 for the IKE SA (which has no SPI list), 4 for ESP and AH.
    pub spi_size: u8,
    /// Each `spi_size` bytes long.
    pub spis: Vec<Spi>,
}

/// One SPI, printed in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Spi(#[serde(serialize_with = "holo_utils::hex::serialize")] pub Vec<u8>);

impl Delete {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol_id = ProtocolId(r.u8("delete protocol id")?);
        let spi_size = r.u8("delete SPI size")?;
        let count_at = r.offset();
        let count = usize::from(r.u16("number of SPIs")?);
        if count > MAX_SPIS {
            return Err(DecodeError::TooMany {
                field: "number of SPIs",
                offset: count_at,
                max: MAX_SPIS,
                reason: "SPIs in one Delete payload",
            });
        }
        if spi_size == 0 && count != 0 {
            // Nothing on the wire would back these SPIs.
            return Err(DecodeError::Value {
                field: "number of SPIs",
                offset: count_at,
                value: count as u32,
                reason: "SPI size is 0",
            });
        }
        let spis = (0..count)
            .map(|_| Ok(Spi(r.bytes(spi_size.into(), "deleted SPI")?.to_vec())))
            .collect::<Result<_, DecodeError>>()?;
        Ok(Delete {
            protocol_id,
            spi_size,
            spis,
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        fits("number of SPIs", self.spis.len(), MAX_SPIS)?;
        if self
            .spis
            .iter()
            .any(|s| s.0.len() != usize::from(self.spi_size))
        {
            return Err(EncodeError::Invalid(
                "every deleted SPI must be SPI size long",
            ));
        }
        if self.spi_size == 0 && !self.spis.is_empty() {
            return Err(EncodeError::Invalid("SPI size 0 leaves no room for SPIs"));
        }
        buf.push(self.protocol_id.0);
        buf.push(self.spi_size);
        buf.extend_from_slice(&(self.spis.len() as u16).to_be_bytes());
        for spi in &self.spis {
            buf.extend_from_slice(&spi.0);
        }
        Ok(())
    }
}
