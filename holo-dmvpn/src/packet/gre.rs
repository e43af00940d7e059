//! GRE header (RFC 2784, with the Key and Sequence Number fields of RFC 2890).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C| |K|S| Reserved0       | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Reserved1 (Optional)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Key (optional)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Sequence Number (Optional)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`GrePacket`] is a zero-copy view over received bytes; [`GreRepr`] is the
//! high-level value with [`GreRepr::parse`] and [`GreRepr::emit`]. Every
//! header that parses re-emits byte for byte.

use std::fmt;

use holo_utils::bytes::{Reader, Truncated};
use holo_utils::checksum::{internet_checksum, verify};
use serde::Serialize;

/// Offset of the flags (C, K, S), Reserved0 and Ver bits.
pub const FLAGS: usize = 0;
/// Offset of the Protocol Type.
pub const PROTOCOL: usize = 2;
/// Offset of the Checksum, when the C bit is set; Reserved1 follows it.
pub const CHECKSUM: usize = 4;
/// Offset of Reserved1, when the C bit is set.
pub const RESERVED1: usize = 6;
/// Length of the mandatory part of the header.
pub const BASE_LEN: usize = 4;
/// Length of each optional field group: Checksum + Reserved1, Key, Sequence.
pub const OPTION_LEN: usize = 4;

/// Checksum Present (bit 0).
pub const FLAG_C: u16 = 0x8000;
/// Key Present (bit 2, RFC 2890).
pub const FLAG_K: u16 = 0x2000;
/// Sequence Number Present (bit 3, RFC 2890).
pub const FLAG_S: u16 = 0x1000;
/// Reserved0: bit 1 and bits 4-12. RFC 2784, 2.3: a receiver MUST discard a
/// packet with any of bits 1-5 set (bits 2 and 3 are now K and S). Bits 6-12
/// "MUST be ignored on receipt", but we reject them too: the value does not
/// keep them, so accepting them would break `emit(parse(x)) == x`.
pub const RESERVED0_MASK: u16 = 0x4ff8;
/// Ver (bits 13-15). RFC 2784, 2.3.1: MUST be zero; 1 is the enhanced GRE of
/// PPTP (RFC 2637), which has a different layout.
pub const VERSION_MASK: u16 = 0x0007;

/// The Protocol Type field: an Ethertype (RFC 2784, 2.4). Values without a
/// name are carried as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct GreProtocol(pub u16);

impl GreProtocol {
    pub const IPV4: GreProtocol = GreProtocol(0x0800);
    pub const IPV6: GreProtocol = GreProtocol(0x86dd);
    /// NHRP over GRE, as Cisco DMVPN and Linux opennhrp send it.
    pub const NHRP: GreProtocol = GreProtocol(0x2001);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            GreProtocol::IPV4 => "IPv4",
            GreProtocol::IPV6 => "IPv6",
            GreProtocol::NHRP => "NHRP",
            _ => return None,
        })
    }
}

impl fmt::Display for GreProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#06x})", self.name().unwrap_or("unknown"), self.0)
    }
}

/// Why a GRE header was not accepted. Offsets are in the GRE header (0 =
/// first byte of the flags).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GreError {
    #[error("truncated GRE header: {0}")]
    Truncated(#[from] Truncated),
    #[error("version (bits 13-15) at offset 0 is {0}, only 0 (RFC 2784) is supported")]
    UnsupportedVersion(u8),
    #[error("reserved0 at offset 0 has bits {bits:#06x} set")]
    ReservedBitsSet { bits: u16 },
    #[error("checksum at offset 4 is {found:#06x}, computed {computed:#06x}")]
    ChecksumMismatch { found: u16, computed: u16 },
}

impl GreError {
    /// Offset of the offending field in the GRE header.
    pub fn offset(&self) -> usize {
        match self {
            GreError::Truncated(t) => t.offset,
            GreError::UnsupportedVersion(_) | GreError::ReservedBitsSet { .. } => FLAGS,
            GreError::ChecksumMismatch { .. } => CHECKSUM,
        }
    }

    /// Name of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            GreError::Truncated(t) => t.field,
            GreError::UnsupportedVersion(_) => "version",
            GreError::ReservedBitsSet { .. } => "reserved0",
            GreError::ChecksumMismatch { .. } => "checksum",
        }
    }
}

/// A zero-copy view of a GRE packet whose header layout has been checked.
#[derive(Clone, Copy, Debug)]
pub struct GrePacket<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> GrePacket<'a> {
    /// Checks that `buffer` starts with a whole version-0 GRE header with no
    /// reserved bits set. The checksum is not verified here; see
    /// [`GrePacket::check_checksum`].
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, GreError> {
        let mut reader = Reader::new(buffer);
        let flags = reader.u16("flags")?;
        let version = flags & VERSION_MASK;
        if version != 0 {
            return Err(GreError::UnsupportedVersion(version as u8));
        }
        if flags & RESERVED0_MASK != 0 {
            return Err(GreError::ReservedBitsSet {
                bits: flags & RESERVED0_MASK,
            });
        }
        reader.u16("protocol type")?;
        if flags & FLAG_C != 0 {
            reader.u16("checksum")?;
            reader.u16("reserved1")?;
        }
        if flags & FLAG_K != 0 {
            reader.u32("key")?;
        }
        if flags & FLAG_S != 0 {
            reader.u32("sequence number")?;
        }
        Ok(GrePacket {
            buffer,
            header_len: reader.offset(),
        })
    }

    /// `N` bytes at `at`. `new_checked` has checked every offset the
    /// accessors use, so the zero fallback is never taken; it is there so
    /// that no accessor can panic.
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        self.buffer
            .get(at..at.saturating_add(N))
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; N])
    }

    fn flags(&self) -> u16 {
        u16::from_be_bytes(self.bytes(FLAGS))
    }

    pub fn checksum_present(&self) -> bool {
        self.flags() & FLAG_C != 0
    }

    pub fn key_present(&self) -> bool {
        self.flags() & FLAG_K != 0
    }

    pub fn sequence_present(&self) -> bool {
        self.flags() & FLAG_S != 0
    }

    pub fn protocol(&self) -> GreProtocol {
        GreProtocol(u16::from_be_bytes(self.bytes(PROTOCOL)))
    }

    pub fn checksum(&self) -> Option<u16> {
        self.checksum_present()
            .then(|| u16::from_be_bytes(self.bytes(CHECKSUM)))
    }

    pub fn reserved1(&self) -> Option<u16> {
        self.checksum_present()
            .then(|| u16::from_be_bytes(self.bytes(RESERVED1)))
    }

    /// Offset of the Key: after Checksum + Reserved1 when present.
    fn key_offset(&self) -> usize {
        BASE_LEN + usize::from(self.checksum_present()) * OPTION_LEN
    }

    pub fn key(&self) -> Option<u32> {
        self.key_present()
            .then(|| u32::from_be_bytes(self.bytes(self.key_offset())))
    }

    pub fn sequence(&self) -> Option<u32> {
        let at = self.key_offset() + usize::from(self.key_present()) * OPTION_LEN;
        self.sequence_present()
            .then(|| u32::from_be_bytes(self.bytes(at)))
    }

    pub fn header_len(&self) -> usize {
        self.header_len
    }

    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(self.header_len..).unwrap_or_default()
    }

    /// RFC 2784, 2.5: the checksum covers the GRE header and the payload.
    /// Ok when the C bit is clear.
    ///
    /// A sum that checks (RFC 1071) with 0xffff in the field is the "-0"
    /// alias of 0x0000; an RFC 1071 sender never writes it over data that is
    /// not all zeros (RFC 1624, 3), and the C bit makes the header non-zero.
    /// It is rejected, so that the checksum emit computes is always the one
    /// that was received.
    pub fn check_checksum(&self) -> Result<(), GreError> {
        let Some(found) = self.checksum() else {
            return Ok(());
        };
        if verify(self.buffer) && found != 0xffff {
            return Ok(());
        }
        // Only on the error path: copy to sum with the field zeroed.
        let mut zeroed = self.buffer.to_vec();
        if let Some(field) = zeroed.get_mut(CHECKSUM..CHECKSUM + 2) {
            field.fill(0);
        }
        Err(GreError::ChecksumMismatch {
            found,
            computed: internet_checksum(&zeroed),
        })
    }
}

/// A GRE header, high level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GreRepr {
    /// C bit. The checksum itself is computed by `emit` and verified by
    /// `parse`.
    pub checksum_present: bool,
    /// The 16 bits after the checksum, kept as received. Only on the wire
    /// with the checksum: must be 0 when `checksum_present` is false.
    pub reserved1: u16,
    /// K bit and Key (RFC 2890, 2.1).
    pub key: Option<u32>,
    /// S bit and Sequence Number (RFC 2890, 2.2).
    pub sequence: Option<u32>,
    pub protocol: GreProtocol,
}

impl GreRepr {
    /// The header a DMVPN tunnel sends: the tunnel's key when it has one
    /// (RFC 2890), no checksum, no sequence number (Cisco and FRR send
    /// neither).
    pub fn tunnel(key: Option<u32>, protocol: GreProtocol) -> GreRepr {
        GreRepr {
            checksum_present: false,
            reserved1: 0,
            key,
            sequence: None,
            protocol,
        }
    }

    /// Parses the header at the start of `buf`, verifies its checksum when
    /// present, and returns it with the payload that follows it.
    pub fn parse(buf: &[u8]) -> Result<(GreRepr, &[u8]), GreError> {
        let packet = GrePacket::new_checked(buf)?;
        packet.check_checksum()?;
        let repr = GreRepr {
            checksum_present: packet.checksum_present(),
            reserved1: packet.reserved1().unwrap_or(0),
            key: packet.key(),
            sequence: packet.sequence(),
            protocol: packet.protocol(),
        };
        Ok((repr, packet.payload()))
    }

    pub fn header_len(&self) -> usize {
        BASE_LEN
            + OPTION_LEN
                * (usize::from(self.checksum_present)
                    + usize::from(self.key.is_some())
                    + usize::from(self.sequence.is_some()))
    }

    /// The header followed by `payload`.
    pub fn emit(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header_len() + payload.len());
        self.emit_into(payload, &mut out);
        out
    }

    /// Writes the header into `out`, which must be `header_len()` long,
    /// with a zero checksum: for a payload already in place after it (the
    /// data plane's zero-copy path); `emit_into` computes the checksum.
    pub fn write_header(&self, out: &mut [u8]) {
        let mut flags = 0;
        if self.checksum_present {
            flags |= FLAG_C;
        }
        if self.key.is_some() {
            flags |= FLAG_K;
        }
        if self.sequence.is_some() {
            flags |= FLAG_S;
        }
        out[..2].copy_from_slice(&flags.to_be_bytes());
        out[2..4].copy_from_slice(&self.protocol.0.to_be_bytes());
        let mut at = BASE_LEN;
        if self.checksum_present {
            out[at..at + 2].copy_from_slice(&[0, 0]);
            out[at + 2..at + 4].copy_from_slice(&self.reserved1.to_be_bytes());
            at += OPTION_LEN;
        }
        if let Some(key) = self.key {
            out[at..at + 4].copy_from_slice(&key.to_be_bytes());
            at += OPTION_LEN;
        }
        if let Some(sequence) = self.sequence {
            out[at..at + 4].copy_from_slice(&sequence.to_be_bytes());
        }
    }

    /// Appends the header and `payload` to `out` (clear it first to reuse a
    /// buffer). The checksum covers only what this call appends.
    pub fn emit_into(&self, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(self.header_len() + payload.len());
        out.resize(start + self.header_len(), 0);
        self.write_header(&mut out[start..]);
        out.extend_from_slice(payload);
        if self.checksum_present {
            let sum = internet_checksum(out.get(start..).unwrap_or_default());
            if let Some(field) = out.get_mut(start + CHECKSUM..start + CHECKSUM + 2) {
                field.copy_from_slice(&sum.to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn truncated(field: &'static str, offset: usize, needed: usize, available: usize) -> GreError {
        GreError::Truncated(Truncated {
            field,
            offset,
            needed,
            available,
        })
    }

    #[test]
    fn key_and_nhrp_from_capture() {
        // Cisco spoke with `tunnel key 42`: K bit, protocol NHRP, key 42.
        let wire = [0x20, 0x00, 0x20, 0x01, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x01];
        let (repr, payload) = GreRepr::parse(&wire).unwrap();
        assert_eq!(
            repr,
            GreRepr {
                checksum_present: false,
                reserved1: 0,
                key: Some(42),
                sequence: None,
                protocol: GreProtocol::NHRP,
            }
        );
        assert_eq!(payload, &[0x00, 0x01]);
        assert_eq!(repr.header_len(), 8);
        assert_eq!(repr.emit(payload), wire);
    }

    #[test]
    fn plain_headers_from_capture() {
        // /tmp/ref/dmvpn-nhrp-registration.pcap frame 1: GRE at 0x22, then
        // the first bytes of the NHRP registration request.
        let nhrp = [0x00, 0x00, 0x20, 0x01, 0x00, 0x01, 0x08, 0x00];
        let (repr, payload) = GreRepr::parse(&nhrp).unwrap();
        assert_eq!(repr.protocol, GreProtocol::NHRP);
        assert_eq!(
            (repr.key, repr.sequence, repr.checksum_present),
            (None, None, false)
        );
        assert_eq!(payload, &nhrp[4..]);
        assert_eq!(repr.emit(payload), nhrp);

        let ipv4 = [0x00, 0x00, 0x08, 0x00];
        let (repr, payload) = GreRepr::parse(&ipv4).unwrap();
        assert_eq!(repr.protocol, GreProtocol::IPV4);
        assert!(payload.is_empty());
        assert_eq!(repr.emit(payload), ipv4);
    }

    #[test]
    fn view_reads_every_field() {
        let wire = [
            0xb0, 0x00, 0x86, 0xdd, // C K S, IPv6
            0x00, 0x00, 0xbe, 0xef, // checksum (not checked by the view), reserved1
            0x01, 0x02, 0x03, 0x04, // key
            0x05, 0x06, 0x07, 0x08, // sequence number
            0xaa,
        ];
        let packet = GrePacket::new_checked(&wire).unwrap();
        assert!(packet.checksum_present() && packet.key_present() && packet.sequence_present());
        assert_eq!(packet.protocol(), GreProtocol::IPV6);
        assert_eq!(packet.checksum(), Some(0));
        assert_eq!(packet.reserved1(), Some(0xbeef));
        assert_eq!(packet.key(), Some(0x0102_0304));
        assert_eq!(packet.sequence(), Some(0x0506_0708));
        assert_eq!(packet.header_len(), 16);
        assert_eq!(packet.payload(), &[0xaa]);

        // Sequence without key sits right after the base header.
        let packet = GrePacket::new_checked(&[0x10, 0, 0x08, 0, 0, 0, 0, 9]).unwrap();
        assert_eq!(
            (packet.key(), packet.sequence(), packet.checksum()),
            (None, Some(9), None)
        );
    }

    #[test]
    fn checksum_known_answer() {
        // Words 8000 + 0800 + 4500 + 0014 = cd14; checksum = !cd14 = 32eb.
        let repr = GreRepr {
            checksum_present: true,
            reserved1: 0,
            key: None,
            sequence: None,
            protocol: GreProtocol::IPV4,
        };
        let wire = repr.emit(&[0x45, 0x00, 0x00, 0x14]);
        assert_eq!(wire, [0x80, 0, 0x08, 0, 0x32, 0xeb, 0, 0, 0x45, 0, 0, 0x14]);
        assert!(verify(&wire));
        assert_eq!(GreRepr::parse(&wire).unwrap(), (repr, &wire[8..]));
    }

    #[test]
    fn checksum_computed_verified_and_corruption_detected() {
        let repr = GreRepr {
            checksum_present: true,
            reserved1: 0x1234,
            key: Some(7),
            sequence: Some(1),
            protocol: GreProtocol::NHRP,
        };
        // Odd payload length: the last byte is summed as if padded.
        let payload = [1, 2, 3, 4, 5];
        let wire = repr.emit(&payload);
        assert!(verify(&wire));
        assert_eq!(GreRepr::parse(&wire).unwrap(), (repr, &payload[..]));
        let found = u16::from_be_bytes([wire[4], wire[5]]);

        let mut corrupt = wire.clone();
        corrupt[16] ^= 0x01;
        let err = GreRepr::parse(&corrupt).unwrap_err();
        let GreError::ChecksumMismatch { found: f, computed } = err else {
            panic!("expected a checksum mismatch, got {err:?}");
        };
        assert_eq!(f, found);
        assert_ne!(computed, found);
        assert_eq!((err.field(), err.offset()), ("checksum", 4));
    }

    #[test]
    fn negative_zero_checksum_rejected() {
        // 8800 + 77ff = ffff, so the checksum is 0000; ffff also sums to
        // all ones but is not what an RFC 1071 sender writes.
        let canonical = [0x80, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x77, 0xff];
        assert!(GreRepr::parse(&canonical).is_ok());
        let mut alias = canonical;
        alias[4..6].copy_from_slice(&[0xff, 0xff]);
        assert!(verify(&alias));
        assert_eq!(
            GreRepr::parse(&alias).unwrap_err(),
            GreError::ChecksumMismatch {
                found: 0xffff,
                computed: 0x0000
            }
        );
    }

    #[test]
    fn truncated_names_field_and_offset() {
        assert_eq!(
            GreRepr::parse(&[]).unwrap_err(),
            truncated("flags", 0, 2, 0)
        );
        assert_eq!(
            GreRepr::parse(&[0, 0, 0x08]).unwrap_err(),
            truncated("protocol type", 2, 2, 1)
        );
        assert_eq!(
            GreRepr::parse(&[0x80, 0, 0x08, 0, 0, 0]).unwrap_err(),
            truncated("reserved1", 6, 2, 0)
        );
        assert_eq!(
            GreRepr::parse(&[0x20, 0, 0x20, 0x01, 0, 0]).unwrap_err(),
            truncated("key", 4, 4, 2)
        );
        let err = GreRepr::parse(&[0xb0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap_err();
        assert_eq!(err, truncated("sequence number", 12, 4, 1));
        assert_eq!((err.field(), err.offset()), ("sequence number", 12));
    }

    #[test]
    fn unsupported_version() {
        // PPTP enhanced GRE (RFC 2637): K bit, version 1, PPP.
        let err = GreRepr::parse(&[0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(err, GreError::UnsupportedVersion(1));
        assert_eq!((err.field(), err.offset()), ("version", 0));
        assert_eq!(
            GreRepr::parse(&[0x00, 0x07]).unwrap_err(),
            GreError::UnsupportedVersion(7)
        );
    }

    #[test]
    fn reserved0_bits_rejected() {
        // Bit 1 (RFC 1701 routing present), bit 4 (strict source route),
        // bits 5-7 (recursion control), bit 12 (last reserved bit).
        for bits in [0x4000, 0x0800, 0x0700, 0x0008] {
            let flags: u16 = FLAG_K | bits;
            let mut wire = flags.to_be_bytes().to_vec();
            wire.extend_from_slice(&[0x20, 0x01, 0, 0, 0, 1]);
            let err = GreRepr::parse(&wire).unwrap_err();
            assert_eq!(err, GreError::ReservedBitsSet { bits });
            assert_eq!((err.field(), err.offset()), ("reserved0", 0));
        }
    }

    #[test]
    fn emit_into_appends_and_reuses_buffer() {
        let repr = GreRepr {
            checksum_present: true,
            reserved1: 0,
            key: Some(42),
            sequence: None,
            protocol: GreProtocol::IPV4,
        };
        let mut out = vec![0xee; 3];
        repr.emit_into(&[9, 9], &mut out);
        assert_eq!(&out[..3], &[0xee; 3]);
        assert_eq!(&out[3..], repr.emit(&[9, 9]).as_slice());
        out.clear();
        repr.emit_into(&[9, 9], &mut out);
        assert_eq!(out, repr.emit(&[9, 9]));
        assert_eq!(out.len(), repr.header_len() + 2);
    }

    #[test]
    fn protocol_names() {
        assert_eq!(GreProtocol::NHRP.name(), Some("NHRP"));
        assert_eq!(GreProtocol::IPV6.to_string(), "IPv6 (0x86dd)");
        assert_eq!(GreProtocol(0x6558).to_string(), "unknown (0x6558)");
    }

    fn repr() -> impl Strategy<Value = GreRepr> {
        (
            any::<Option<u16>>(),
            any::<Option<u32>>(),
            any::<Option<u32>>(),
            any::<u16>(),
        )
            .prop_map(|(reserved1, key, sequence, protocol)| GreRepr {
                checksum_present: reserved1.is_some(),
                reserved1: reserved1.unwrap_or(0),
                key,
                sequence,
                protocol: GreProtocol(protocol),
            })
    }

    /// First two bytes: mostly valid flag combinations, sometimes anything.
    fn flags() -> impl Strategy<Value = u16> {
        prop_oneof![
            prop::sample::select(vec![0x0000, 0x8000, 0x2000, 0x1000, 0xb000, 0x3000]),
            any::<u16>(),
        ]
    }

    proptest! {
        #[test]
        fn emit_then_parse_is_identity(repr in repr(),
                                       payload in prop::collection::vec(any::<u8>(), 0..64)) {
            let wire = repr.emit(&payload);
            prop_assert_eq!(wire.len(), repr.header_len() + payload.len());
            let (parsed, rest) = GreRepr::parse(&wire).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(rest, payload.as_slice());
        }

        #[test]
        fn arbitrary_bytes_never_panic(flags in flags(),
                                       rest in prop::collection::vec(any::<u8>(), 0..32)) {
            let mut wire = flags.to_be_bytes().to_vec();
            wire.extend_from_slice(&rest);
            for len in 0..=wire.len() {
                if let Ok((repr, payload)) = GreRepr::parse(&wire[..len]) {
                    prop_assert_eq!(repr.emit(payload), &wire[..len]);
                }
            }
        }
    }
}
