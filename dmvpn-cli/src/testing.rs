//! Building captures in memory, for the unit tests.

use std::time::Duration;

use etherparse::{IpNumber, Ipv4Header};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
pub const V4_SRC: [u8; 4] = [192, 0, 2, 1];
pub const V4_DST: [u8; 4] = [198, 51, 100, 7];

pub fn ipv4_header(protocol: IpNumber, payload_len: usize, ttl: u8) -> Ipv4Header {
    let len = u16::try_from(payload_len).unwrap();
    let mut h = Ipv4Header::new(len, ttl, protocol, V4_SRC, V4_DST).unwrap();
    h.header_checksum = h.calc_header_checksum();
    h
}

/// An IPv4 packet from `V4_SRC` to `V4_DST`.
pub fn ipv4(protocol: IpNumber, payload: &[u8], ttl: u8) -> Vec<u8> {
    let mut p = ipv4_header(protocol, payload.len(), ttl)
        .to_bytes()
        .to_vec();
    p.extend_from_slice(payload);
    p
}

/// An Ethernet II frame from `MAC_A` to `MAC_B`.
pub fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = [MAC_B, MAC_A].concat();
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A pcap file; each frame is (captured bytes, original length).
pub fn pcap(link: DataLink, frames: &[(Vec<u8>, usize)]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: link,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (data, orig_len) in frames {
        let orig_len = u32::try_from(*orig_len).unwrap();
        w.write_packet(&PcapPacket::new(Duration::ZERO, orig_len, data))
            .unwrap();
    }
    w.into_writer()
}

/// Frames captured whole.
pub fn whole(frames: &[Vec<u8>]) -> Vec<(Vec<u8>, usize)> {
    frames.iter().map(|f| (f.clone(), f.len())).collect()
}
