//! What the emulated spokes put on the wire and read from it: an IPv4
//! header written here (so that one raw socket sends from every spoke's
//! NBMA address), GRE (holo-dmvpn's codec) and NHRP (holo-nhrp's codec).
//! The NHRP packets are those a holo or Cisco spoke sends: the same
//! extensions, flags and CIE.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use holo_dmvpn::packet::gre::{GreError, GreProtocol, GreRepr};
use holo_nhrp::packet::header::afn;
use holo_nhrp::packet::{
    Address, Authentication, Cie, CieCode, DecodeError, EncodeError, Extension, ExtensionBody,
    Flags, Message, NbmaAddress, Packet, ProtocolType, RequestReply,
};
use holo_utils::checksum::internet_checksum;

/// An IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Offsets in the IPv4 header (RFC 791, 3.1).
const TOTAL_LENGTH: usize = 2;
const TTL: usize = 8;
const PROTOCOL: usize = 9;
const CHECKSUM: usize = 10;
const SOURCE: usize = 12;
const DESTINATION: usize = 16;
const IPPROTO_GRE: u8 = 47;
/// Hop count of the NHRP packets a spoke originates (holo and Cisco).
const HOP_COUNT: u8 = 255;

/// What every emulated spoke shares: its tunnel's configuration.
#[derive(Clone, Debug)]
pub struct Tunnel {
    pub hub_nbma: Ipv4Addr,
    pub hub_protocol: Ipv4Addr,
    pub key: Option<u32>,
    /// The Cisco cleartext authentication password.
    pub password: Option<Vec<u8>>,
    /// Seconds, in the CIEs of requests.
    pub holding_time: u16,
    pub mtu: u16,
    /// Registration with the U bit (the default of holo and Cisco).
    pub unique: bool,
}

/// One spoke's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpokeAddress {
    pub nbma: Ipv4Addr,
    pub protocol: Ipv4Addr,
}

impl Tunnel {
    /// A spoke's CIE about itself, as put in requests and answers.
    fn own_cie(&self, spoke: SpokeAddress) -> Cie {
        Cie {
            code: CieCode::SUCCESS,
            prefix_length: 32,
            mtu: self.mtu,
            holding_time: self.holding_time,
            preference: 255,
            nbma: NbmaAddress::new(IpAddr::V4(spoke.nbma)),
            protocol: Address::Ip(IpAddr::V4(spoke.protocol)),
            ..Cie::default()
        }
    }

    /// The extensions Cisco IOS puts in every request.
    fn extensions(&self) -> Vec<Extension> {
        let mut extensions = vec![
            Extension::new(true, ExtensionBody::ResponderAddress { cies: vec![] }),
            Extension::new(true, ExtensionBody::ForwardTransitNhs { cies: vec![] }),
            Extension::new(true, ExtensionBody::ReverseTransitNhs { cies: vec![] }),
        ];
        if let Some(password) = &self.password {
            extensions.push(Extension::new(
                true,
                ExtensionBody::Authentication(Authentication::cisco_cleartext(password)),
            ));
        }
        extensions.push(Extension::new(
            false,
            ExtensionBody::CiscoNatAddress { cies: vec![] },
        ));
        extensions.push(Extension::new(true, ExtensionBody::End));
        extensions
    }

    fn packet(&self, spoke: SpokeAddress, destination: Ipv4Addr, message: Message) -> Packet {
        Packet {
            afn: afn::IPV4,
            protocol: ProtocolType::IPV4,
            hop_count: HOP_COUNT,
            src_nbma: NbmaAddress::new(IpAddr::V4(spoke.nbma)),
            src_nbma_subaddress: NbmaAddress::default(),
            src_protocol: Address::Ip(IpAddr::V4(spoke.protocol)),
            dst_protocol: Address::Ip(IpAddr::V4(destination)),
            message,
            extensions: self.extensions(),
            trailer: vec![],
        }
    }

    /// RFC 2332, 5.2.3: a Registration Request to the hub. As holo and
    /// Cisco send it: the client's addresses are the packet's source
    /// fields, the CIE carries only the prefix and holding time.
    pub fn registration_request(&self, spoke: SpokeAddress, request_id: u32) -> Packet {
        let mut flags = Flags::CISCO_NAT_CAPABLE;
        if self.unique {
            flags |= Flags::REGISTRATION_UNIQUE;
        }
        let cie = Cie {
            nbma: NbmaAddress::default(),
            protocol: Address::Absent,
            ..self.own_cie(spoke)
        };
        let mut packet = self.packet(
            spoke,
            self.hub_protocol,
            Message::RegistrationRequest(RequestReply {
                flags: Flags(flags),
                request_id,
                cies: vec![cie],
            }),
        );
        // Cisco names the NHS's addresses in the NAT extension of requests.
        let nhs = Cie {
            holding_time: 0,
            nbma: NbmaAddress::new(IpAddr::V4(self.hub_nbma)),
            protocol: Address::Ip(IpAddr::V4(self.hub_protocol)),
            ..self.own_cie(spoke)
        };
        for extension in &mut packet.extensions {
            if let ExtensionBody::CiscoNatAddress { cies } = &mut extension.body {
                cies.push(nhs.clone());
            }
        }
        packet
    }

    /// RFC 2332, 5.2.1: a Resolution Request for `target`'s tunnel address,
    /// sent to the hub, which forwards it to the spoke registered there.
    pub fn resolution_request(
        &self,
        spoke: SpokeAddress,
        target: Ipv4Addr,
        request_id: u32,
    ) -> Packet {
        let flags = Flags::RESOLUTION_ROUTER
            | Flags::RESOLUTION_AUTHORITATIVE
            | Flags::RESOLUTION_SOURCE_STABLE
            | Flags::CISCO_NAT_CAPABLE;
        let cie = Cie {
            nbma: NbmaAddress::default(),
            protocol: Address::Absent,
            preference: 0,
            ..self.own_cie(spoke)
        };
        self.packet(
            spoke,
            target,
            Message::ResolutionRequest(RequestReply {
                flags: Flags(flags),
                request_id,
                cies: vec![cie],
            }),
        )
    }

    /// RFC 2332, 5.2.2: the answer of `responder` to a Resolution Request
    /// the hub forwarded to it, sent straight to the requester (Cisco).
    /// None if `request` is not a Resolution Request.
    pub fn resolution_reply(&self, responder: SpokeAddress, request: &Packet) -> Option<Packet> {
        let Message::ResolutionRequest(m) = &request.message else {
            return None;
        };
        let mut flags =
            m.flags.0 | Flags::RESOLUTION_DESTINATION_STABLE | Flags::RESOLUTION_AUTHORITATIVE;
        if self.unique {
            flags |= Flags::RESOLUTION_UNIQUE;
        }
        let mut reply = request.clone();
        reply.hop_count = HOP_COUNT;
        reply.message = Message::ResolutionReply(RequestReply {
            flags: Flags(flags),
            request_id: m.request_id,
            cies: vec![self.own_cie(responder)],
        });
        for extension in &mut reply.extensions {
            if let ExtensionBody::ResponderAddress { cies } = &mut extension.body {
                *cies = vec![self.own_cie(responder)];
            }
        }
        Some(reply)
    }

    /// IPv4 + GRE + `packet`, from `from` to `to`, for a raw socket with
    /// IP_HDRINCL.
    pub fn datagram(
        &self,
        from: Ipv4Addr,
        to: Ipv4Addr,
        packet: &Packet,
    ) -> Result<Vec<u8>, EncodeError> {
        let nhrp = packet.encode()?;
        let gre = GreRepr::tunnel(self.key, GreProtocol::NHRP);
        let mut out = vec![0; IPV4_HEADER_LEN];
        gre.emit_into(&nhrp, &mut out);
        let total = u16::try_from(out.len())
            .map_err(|_| EncodeError::Invalid("datagram longer than 65535 octets"))?;
        out[0] = 0x45;
        out[TOTAL_LENGTH..TOTAL_LENGTH + 2].copy_from_slice(&total.to_be_bytes());
        out[TTL] = 64;
        out[PROTOCOL] = IPPROTO_GRE;
        out[SOURCE..SOURCE + 4].copy_from_slice(&from.octets());
        out[DESTINATION..DESTINATION + 4].copy_from_slice(&to.octets());
        let sum = internet_checksum(&out[..IPV4_HEADER_LEN]);
        out[CHECKSUM..CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}

/// An NHRP packet received, with its outer addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub packet: Packet,
}

/// Why a received datagram is not an NHRP packet for the emulated spokes.
#[derive(Debug)]
pub enum WireError {
    Ipv4(&'static str),
    NotGre(u8),
    Gre(GreError),
    WrongKey(Option<u32>),
    NotNhrp(u16),
    Nhrp(DecodeError),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Ipv4(why) => write!(f, "IPv4 header: {why}"),
            WireError::NotGre(protocol) => write!(f, "IP protocol {protocol}, not GRE"),
            WireError::Gre(e) => write!(f, "GRE: {e}"),
            WireError::WrongKey(key) => write!(f, "GRE key {key:?}"),
            WireError::NotNhrp(protocol) => write!(f, "GRE protocol {protocol:#06x}, not NHRP"),
            WireError::Nhrp(e) => write!(f, "NHRP: {e}"),
        }
    }
}

/// Parses what a raw IPv4 socket receives: the IP header, GRE with our
/// key, NHRP.
pub fn parse_datagram(buf: &[u8], key: Option<u32>) -> Result<Received, WireError> {
    if buf.len() < IPV4_HEADER_LEN {
        return Err(WireError::Ipv4("shorter than 20 octets"));
    }
    if buf[0] >> 4 != 4 {
        return Err(WireError::Ipv4("not version 4"));
    }
    let header_len = usize::from(buf[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([
        buf[TOTAL_LENGTH],
        buf[TOTAL_LENGTH + 1],
    ]));
    if header_len < IPV4_HEADER_LEN || total < header_len || total > buf.len() {
        return Err(WireError::Ipv4("bad header or total length"));
    }
    if buf[PROTOCOL] != IPPROTO_GRE {
        return Err(WireError::NotGre(buf[PROTOCOL]));
    }
    let address = |at: usize| Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
    let (gre, payload) = GreRepr::parse(&buf[header_len..total]).map_err(WireError::Gre)?;
    if gre.protocol != GreProtocol::NHRP {
        return Err(WireError::NotNhrp(gre.protocol.0));
    }
    if gre.key != key {
        return Err(WireError::WrongKey(gre.key));
    }
    let packet = Packet::decode(payload).map_err(WireError::Nhrp)?;
    Ok(Received {
        from: address(SOURCE),
        to: address(DESTINATION),
        packet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel() -> Tunnel {
        Tunnel {
            hub_nbma: Ipv4Addr::new(192, 0, 2, 1),
            hub_protocol: Ipv4Addr::new(10, 0, 0, 1),
            key: Some(42),
            password: Some(b"DMVPN".to_vec()),
            holding_time: 600,
            mtu: 1400,
            unique: true,
        }
    }

    const SPOKE: SpokeAddress = SpokeAddress {
        nbma: Ipv4Addr::new(198, 18, 0, 7),
        protocol: Ipv4Addr::new(10, 0, 0, 8),
    };

    #[test]
    fn registration_request_reads_back_as_sent() {
        let t = tunnel();
        let packet = t.registration_request(SPOKE, 77);
        let bytes = t.datagram(SPOKE.nbma, t.hub_nbma, &packet).unwrap();
        assert_eq!(internet_checksum(&bytes[..IPV4_HEADER_LEN]), 0);
        let received = parse_datagram(&bytes, Some(42)).unwrap();
        assert_eq!(received.from, SPOKE.nbma);
        assert_eq!(received.to, t.hub_nbma);
        assert_eq!(received.packet, packet);
        let Message::RegistrationRequest(m) = &packet.message else {
            panic!("not a registration request: {packet:?}");
        };
        assert_eq!(m.request_id, 77);
        assert!(m.flags.contains(Flags::REGISTRATION_UNIQUE));
        assert_eq!(m.cies[0].holding_time, 600);
        assert_eq!(packet.cleartext_password(), Some(&b"DMVPN"[..]));
        assert_eq!(packet.src_protocol.ip(), Some(IpAddr::V4(SPOKE.protocol)));
        assert_eq!(packet.dst_protocol.ip(), Some(IpAddr::V4(t.hub_protocol)));
    }

    #[test]
    fn the_key_and_protocol_are_checked() {
        let t = tunnel();
        let packet = t.registration_request(SPOKE, 1);
        let bytes = t.datagram(SPOKE.nbma, t.hub_nbma, &packet).unwrap();
        assert!(matches!(
            parse_datagram(&bytes, Some(43)),
            Err(WireError::WrongKey(Some(42)))
        ));
        let mut other = bytes.clone();
        other[PROTOCOL] = 17;
        assert!(matches!(
            parse_datagram(&other, Some(42)),
            Err(WireError::NotGre(17))
        ));
        assert!(parse_datagram(&bytes[..30], Some(42)).is_err());
    }

    #[test]
    fn resolution_reply_answers_the_request_as_the_target() {
        let t = tunnel();
        let target = SpokeAddress {
            nbma: Ipv4Addr::new(198, 18, 0, 9),
            protocol: Ipv4Addr::new(10, 0, 0, 10),
        };
        let request = t.resolution_request(SPOKE, target.protocol, 5);
        let reply = t.resolution_reply(target, &request).unwrap();
        let Message::ResolutionReply(m) = &reply.message else {
            panic!("not a resolution reply: {reply:?}");
        };
        assert_eq!(m.request_id, 5);
        assert_eq!(m.cies[0].nbma.address.ip(), Some(IpAddr::V4(target.nbma)));
        assert_eq!(reply.src_protocol.ip(), Some(IpAddr::V4(SPOKE.protocol)));
        assert!(t.resolution_reply(target, &reply).is_none());
    }
}
