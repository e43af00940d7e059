//! Client Information Entries (RFC 2332, 5.2.0.1 "CIE").
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      | Prefix Length |         unused                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Maximum Transmission Unit    |        Holding Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Cli Addr T/L | Cli SAddr T/L | Cli Proto Len |  Preference   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Client NBMA Address (variable length)              |
//! |           Client NBMA Subaddress (variable length)            |
//! |          Client Protocol Address (variable length)            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use holo_utils::bytes::Reader;
use serde::{Deserialize, Serialize, Serializer};

use super::address::{Address, NbmaAddress};
use super::error::{DecodeError, EncodeError};
use super::{get_nbma, get_type_length, put_type_length};

/// Length of the fixed part of a CIE.
pub const FIXED_LEN: usize = 12;

/// CIE code (RFC 2332, 5.2.2 / 5.2.4 / 5.2.6): the outcome for this entry in
/// a reply. Unknown values are carried as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct CieCode(pub u8);

impl CieCode {
    pub const SUCCESS: CieCode = CieCode(0);
    pub const ADMINISTRATIVELY_PROHIBITED: CieCode = CieCode(4);
    pub const INSUFFICIENT_RESOURCES: CieCode = CieCode(5);
    pub const NO_BINDING: CieCode = CieCode(12);
    pub const NOT_UNIQUE: CieCode = CieCode(13);
    pub const ALREADY_REGISTERED: CieCode = CieCode(14);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            CieCode::SUCCESS => "success",
            CieCode::ADMINISTRATIVELY_PROHIBITED => "administratively prohibited",
            CieCode::INSUFFICIENT_RESOURCES => "insufficient resources",
            CieCode::NO_BINDING => "no interworking layer address to NBMA address binding exists",
            CieCode::NOT_UNIQUE => "binding exists but is not unique",
            CieCode::ALREADY_REGISTERED => {
                "unique internetworking layer address already registered"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for CieCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unknown ({})", self.0),
        }
    }
}

impl Serialize for CieCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

/// JSON input may omit any field (zero, absent address).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cie {
    pub code: CieCode,
    pub prefix_length: u8,
    /// The "unused" field, kept so a re-encode is byte-exact.
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved: u16,
    pub mtu: u16,
    /// Seconds.
    pub holding_time: u16,
    pub preference: u8,
    pub nbma: NbmaAddress,
    #[serde(skip_serializing_if = "is_absent")]
    pub nbma_subaddress: NbmaAddress,
    pub protocol: Address,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

fn is_absent(a: &NbmaAddress) -> bool {
    a.address.is_empty() && !a.e164
}

impl Cie {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Cie, DecodeError> {
        let code = CieCode(r.u8("CIE code")?);
        let prefix_length = r.u8("CIE prefix length")?;
        let reserved = r.u16("CIE unused")?;
        let mtu = r.u16("CIE MTU")?;
        let holding_time = r.u16("CIE holding time")?;
        let addr_tl = get_type_length(r, "CIE client NBMA address type/length")?;
        let saddr_tl = get_type_length(r, "CIE client NBMA subaddress type/length")?;
        let proto_len = r.u8("CIE client protocol length")?;
        let preference = r.u8("CIE preference")?;
        let nbma = get_nbma(r, addr_tl, "CIE client NBMA address")?;
        let nbma_subaddress = get_nbma(r, saddr_tl, "CIE client NBMA subaddress")?;
        let protocol =
            Address::from_bytes(r.bytes(proto_len.into(), "CIE client protocol address")?);
        Ok(Cie {
            code,
            prefix_length,
            reserved,
            mtu,
            holding_time,
            preference,
            nbma,
            nbma_subaddress,
            protocol,
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        buf.push(self.code.0);
        buf.push(self.prefix_length);
        buf.extend_from_slice(&self.reserved.to_be_bytes());
        buf.extend_from_slice(&self.mtu.to_be_bytes());
        buf.extend_from_slice(&self.holding_time.to_be_bytes());
        put_type_length(buf, &self.nbma, "CIE client NBMA address")?;
        put_type_length(buf, &self.nbma_subaddress, "CIE client NBMA subaddress")?;
        super::error::fits("CIE client protocol address", self.protocol.len(), 255)?;
        buf.push(self.protocol.len() as u8);
        buf.push(self.preference);
        self.nbma.address.put(buf);
        self.nbma_subaddress.address.put(buf);
        self.protocol.put(buf);
        Ok(())
    }

    /// Decodes CIEs until the reader is empty.
    pub(crate) fn decode_all(r: &mut Reader<'_>) -> Result<Vec<Cie>, DecodeError> {
        let mut cies = Vec::new();
        while !r.is_empty() {
            cies.push(Cie::decode(r)?);
        }
        Ok(cies)
    }
}
