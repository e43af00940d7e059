//! The Traffic Selector payloads TSi and TSr (RFC 7296, 3.13) and their
//! selectors (3.13.1).
//!
//! ```text
//! Payload body:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Number of TSs |                 RESERVED                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                       <Traffic Selectors>                     ~
//!
//! Traffic selector:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   TS Type     |IP Protocol ID*|       Selector Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Start Port*         |           End Port*           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                         Starting Address*                     ~
//! ~                         Ending Address*                       ~
//! ```
//! The starred fields are those of the address-range types 7 and 8; other
//! types keep everything after the length as bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::{DecodeError, EncodeError, fits};
use super::identification::is_zero;

pub const NUMBER: usize = 0;
pub const RESERVED: usize = 1;
pub const SELECTORS: usize = 4;

/// Selector offsets.
pub mod selector {
    pub const TYPE: usize = 0;
    pub const IP_PROTOCOL: usize = 1;
    pub const LENGTH: usize = 2;
    pub const START_PORT: usize = 4;
    pub const END_PORT: usize = 6;
    pub const START_ADDRESS: usize = 8;
    pub const HEADER_LEN: usize = 4;
    pub const TS_IPV4_ADDR_RANGE: u8 = 7;
    pub const TS_IPV6_ADDR_RANGE: u8 = 8;
    pub const IPV4_LEN: usize = 16;
    pub const IPV6_LEN: usize = 40;
}

/// At most this many selectors in one payload.
pub const MAX_SELECTORS: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrafficSelectors {
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved: [u8; 3],
    pub selectors: Vec<TrafficSelector>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "ts_type", rename_all = "snake_case")]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE. IP protocol 0 means any; ports 0-65535 any.
    Ipv4 {
        ip_protocol: u8,
        start_port: u16,
        end_port: u16,
        start: Ipv4Addr,
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE.
    Ipv6 {
        ip_protocol: u8,
        start_port: u16,
        end_port: u16,
        start: Ipv6Addr,
        end: Ipv6Addr,
    },
    /// Another TS type: the octet after the type, and the rest as bytes.
    Other {
        number: u8,
        second_octet: u8,
        #[serde(serialize_with = "holo_utils::hex::serialize")]
        data: Vec<u8>,
    },
}

impl TrafficSelectors {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count_at = r.offset();
        let count = usize::from(r.u8("number of TSs")?);
        if count > MAX_SELECTORS {
            return Err(DecodeError::TooMany {
                field: "number of TSs",
                offset: count_at,
                max: MAX_SELECTORS,
                reason: "traffic selectors in one payload",
            });
        }
        let reserved = r.array("traffic selector reserved")?;
        let selectors = (0..count)
            .map(|_| TrafficSelector::decode(r))
            .collect::<Result<_, _>>()?;
        Ok(TrafficSelectors {
            reserved,
            selectors,
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        fits("traffic selectors", self.selectors.len(), MAX_SELECTORS)?;
        buf.push(self.selectors.len() as u8);
        buf.extend_from_slice(&self.reserved);
        for ts in &self.selectors {
            ts.encode(buf)?;
        }
        Ok(())
    }
}

impl TrafficSelector {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let ts_type = r.u8("TS type")?;
        let second_octet = r.u8("IP protocol ID")?;
        let length = usize::from(r.u16("selector length")?);
        let expected = match ts_type {
            selector::TS_IPV4_ADDR_RANGE => Some(selector::IPV4_LEN),
            selector::TS_IPV6_ADDR_RANGE => Some(selector::IPV6_LEN),
            _ => None,
        };
        if expected.is_some_and(|e| e != length) || length < selector::HEADER_LEN {
            return Err(DecodeError::Length {
                field: "selector length",
                offset: start + selector::LENGTH,
                length,
                reason: "not the length of its TS type",
            });
        }
        let mut body = r.sub(length - selector::HEADER_LEN, "traffic selector")?;
        let ip_protocol = second_octet;
        Ok(match ts_type {
            selector::TS_IPV4_ADDR_RANGE => TrafficSelector::Ipv4 {
                ip_protocol,
                start_port: body.u16("start port")?,
                end_port: body.u16("end port")?,
                start: Ipv4Addr::from(body.array::<4>("starting address")?),
                end: Ipv4Addr::from(body.array::<4>("ending address")?),
            },
            selector::TS_IPV6_ADDR_RANGE => TrafficSelector::Ipv6 {
                ip_protocol,
                start_port: body.u16("start port")?,
                end_port: body.u16("end port")?,
                start: Ipv6Addr::from(body.array::<16>("starting address")?),
                end: Ipv6Addr::from(body.array::<16>("ending address")?),
            },
            number => TrafficSelector::Other {
                number,
                second_octet,
                data: body.rest().to_vec(),
            },
        })
    }

    fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut put = |ty: u8, second: u8, body: &[u8]| -> Result<(), EncodeError> {
            let length = selector::HEADER_LEN + body.len();
            fits("traffic selector", length, u16::MAX.into())?;
            buf.push(ty);
            buf.push(second);
            buf.extend_from_slice(&(length as u16).to_be_bytes());
            buf.extend_from_slice(body);
            Ok(())
        };
        let ports = |start: u16, end: u16| {
            let mut b = start.to_be_bytes().to_vec();
            b.extend_from_slice(&end.to_be_bytes());
            b
        };
        match self {
            TrafficSelector::Ipv4 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                let mut body = ports(*start_port, *end_port);
                body.extend_from_slice(&start.octets());
                body.extend_from_slice(&end.octets());
                put(selector::TS_IPV4_ADDR_RANGE, *ip_protocol, &body)
            }
            TrafficSelector::Ipv6 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                let mut body = ports(*start_port, *end_port);
                body.extend_from_slice(&start.octets());
                body.extend_from_slice(&end.octets());
                put(selector::TS_IPV6_ADDR_RANGE, *ip_protocol, &body)
            }
            TrafficSelector::Other {
                number,
                second_octet,
                data,
            } => {
                if matches!(
                    *number,
                    selector::TS_IPV4_ADDR_RANGE | selector::TS_IPV6_ADDR_RANGE
                ) {
                    return Err(EncodeError::Invalid(
                        "address-range selectors are Ipv4 or Ipv6, not Other",
                    ));
                }
                put(*number, *second_octet, data)
            }
        }
    }
}
