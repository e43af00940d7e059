//! UDP encapsulation of IKE and ESP for NAT traversal (RFC 3948, 2).
//!
//! On port 4500 a datagram is one of: a NAT-keepalive (the single octet
//! 0xFF, 2.3), an IKE message behind the four-octet non-ESP marker (all
//! zero, 2.2), or an ESP packet, whose SPI is never zero (2.1). On port 500
//! IKE messages have no marker.

use super::error::DecodeError;

/// UDP port of IKE (RFC 7296, 2).
pub const IKE_PORT: u16 = 500;
/// UDP port of NAT traversal: IKE with a marker, and ESP (RFC 3948).
pub const NAT_T_PORT: u16 = 4500;
/// The non-ESP marker in front of an IKE message on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT-keepalive datagram's only octet.
pub const NAT_KEEPALIVE: u8 = 0xff;

/// What a UDP datagram on port 4500 carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpEncapsulated<'a> {
    /// The IKE message after the non-ESP marker.
    Ike(&'a [u8]),
    /// The ESP packet, from its SPI.
    Esp(&'a [u8]),
    NatKeepalive,
}

impl<'a> UdpEncapsulated<'a> {
    /// Tells the three apart by their first octets.
    pub fn classify(payload: &'a [u8]) -> Result<Self, DecodeError> {
        if payload == [NAT_KEEPALIVE] {
            return Ok(UdpEncapsulated::NatKeepalive);
        }
        match payload.split_first_chunk::<4>() {
            Some((marker, ike)) if *marker == NON_ESP_MARKER => Ok(UdpEncapsulated::Ike(ike)),
            Some(_) => Ok(UdpEncapsulated::Esp(payload)),
            None => Err(DecodeError::Length {
                field: "UDP-encapsulated datagram",
                offset: 0,
                length: payload.len(),
                reason: "neither a NAT-keepalive nor long enough for a marker or an SPI",
            }),
        }
    }

    /// The datagram that carries this on port 4500.
    pub fn emit(&self) -> Vec<u8> {
        match self {
            UdpEncapsulated::Ike(ike) => [&NON_ESP_MARKER[..], ike].concat(),
            UdpEncapsulated::Esp(esp) => esp.to_vec(),
            UdpEncapsulated::NatKeepalive => vec![NAT_KEEPALIVE],
        }
    }
}
