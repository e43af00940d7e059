//! Addresses as NHRP carries them: a length-prefixed byte string whose
//! meaning comes from the address family (NBMA) or protocol type (protocol
//! addresses). IPv4 and IPv6 are typed; anything else is kept as bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use holo_utils::ip::ip_from_bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One NHRP address field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Address {
    /// Zero length: "no address" (RFC 2332, 5.2.0.1: a length of zero).
    #[default]
    Absent,
    Ip(IpAddr),
    /// Any other length (NSAP, E.164, or simply malformed but carried).
    Other(Vec<u8>),
}

impl Address {
    pub fn from_bytes(bytes: &[u8]) -> Address {
        match ip_from_bytes(bytes) {
            _ if bytes.is_empty() => Address::Absent,
            Some(ip) => Address::Ip(ip),
            None => Address::Other(bytes.to_vec()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Address::Absent => 0,
            Address::Ip(IpAddr::V4(_)) => 4,
            Address::Ip(IpAddr::V6(_)) => 16,
            Address::Other(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::Ip(ip) => Some(*ip),
            _ => None,
        }
    }

    pub fn put(&self, buf: &mut Vec<u8>) {
        match self {
            Address::Absent => {}
            Address::Ip(ip) => holo_utils::ip::put_ip(buf, ip),
            Address::Other(bytes) => buf.extend_from_slice(bytes),
        }
    }
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        Address::Ip(ip)
    }
}

impl From<Ipv4Addr> for Address {
    fn from(ip: Ipv4Addr) -> Self {
        Address::Ip(ip.into())
    }
}

impl From<Ipv6Addr> for Address {
    fn from(ip: Ipv6Addr) -> Self {
        Address::Ip(ip.into())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Absent => f.write_str("-"),
            Address::Ip(ip) => ip.fmt(f),
            Address::Other(bytes) => {
                write!(f, "0x{}", holo_utils::hex::Hex(bytes))
            }
        }
    }
}

/// JSON: `null`, an IP address string, or `"0x…"` hex for other lengths.
impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Address::Absent => s.serialize_none(),
            other => s.collect_str(other),
        }
    }
}

/// Reads what `Serialize` writes: `null`, an IP address string, or `"0x…"`
/// hex (which becomes `Ip` when it has the length of one, as on the wire).
impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(Address::Absent);
        };
        if let Some(hex) = text.strip_prefix("0x") {
            return holo_utils::hex::parse(hex)
                .map(|bytes| Address::from_bytes(&bytes))
                .map_err(serde::de::Error::custom);
        }
        text.parse::<IpAddr>().map(Address::Ip).map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is neither an IP address nor 0x-prefixed hex"
            ))
        })
    }
}

/// An NBMA address or subaddress together with the type bit of its
/// type/length octet (RFC 2332, 5.2.0.1: "ar$shtl": NSAP format = 0,
/// native E.164 format = 1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NbmaAddress {
    pub address: Address,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub e164: bool,
}

impl NbmaAddress {
    pub fn new(address: impl Into<Address>) -> Self {
        NbmaAddress {
            address: address.into(),
            e164: false,
        }
    }
}

/// The type/length octet: bit 0x40 is the E.164 type, the low six bits the
/// length, and bit 0x80 is reserved.
pub(crate) mod type_length {
    pub const RESERVED: u8 = 0x80;
    pub const E164: u8 = 0x40;
    pub const LEN_MASK: u8 = 0x3f;
    pub const MAX_LEN: usize = LEN_MASK as usize;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_by_length() {
        assert_eq!(Address::from_bytes(&[]), Address::Absent);
        assert_eq!(Address::from_bytes(&[10, 0, 0, 1]).to_string(), "10.0.0.1");
        assert_eq!(Address::from_bytes(&[0; 16]).to_string(), "::");
        assert_eq!(Address::from_bytes(&[1, 2, 3]).to_string(), "0x010203");
        assert_eq!(Address::from_bytes(&[1, 2, 3]).len(), 3);
        let json = serde_json::to_string(&NbmaAddress::new(Ipv4Addr::new(192, 0, 2, 1))).unwrap();
        assert_eq!(json, r#"{"address":"192.0.2.1"}"#);
    }
}
