//! The NHRP fixed header (RFC 2332, 5.2.0.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            ar$afn             |          ar$pro.type          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          ar$pro.snap                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ar$pro.snap  |   ar$hopcnt   |            ar$pktsz           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           ar$chksum           |            ar$extoff          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | ar$op.version |   ar$op.type  |    ar$shtl    |    ar$sstl    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use serde::{Deserialize, Serialize};

use super::error::DecodeError;

pub const AFN: usize = 0;
pub const PRO_TYPE: usize = 2;
pub const PRO_SNAP: usize = 4;
pub const HOP_COUNT: usize = 9;
pub const PACKET_SIZE: usize = 10;
pub const CHECKSUM: usize = 12;
pub const EXTENSION_OFFSET: usize = 14;
pub const VERSION: usize = 16;
pub const TYPE: usize = 17;
pub const SHTL: usize = 18;
pub const SSTL: usize = 19;
pub const LEN: usize = 20;

/// ar$op.version for RFC 2332.
pub const VERSION_RFC2332: u8 = 1;

/// Address family numbers (ar$afn) of the NBMA network, from IANA's
/// "Address Family Numbers" registry.
pub mod afn {
    pub const IPV4: u16 = 1;
    pub const IPV6: u16 = 2;
}

/// ar$pro.type value that says the protocol is given in SNAP long form.
pub const PRO_TYPE_SNAP: u16 = 0x0080;

/// The internetworking-layer protocol (ar$pro.type and ar$pro.snap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolType {
    /// Short form: an NLPID (0x00-0xff) or an Ethertype (0x0600 and up,
    /// 0x0800 for IPv4, 0x86dd for IPv6); ar$pro.snap is zero.
    Short(u16),
    /// Long form (ar$pro.type = 0x0080): OUI and PID in ar$pro.snap.
    Snap { oui: [u8; 3], pid: u16 },
}

impl ProtocolType {
    pub const IPV4: ProtocolType = ProtocolType::Short(0x0800);
    pub const IPV6: ProtocolType = ProtocolType::Short(0x86dd);

    pub(crate) fn from_wire(ty: u16, snap: [u8; 5]) -> Result<ProtocolType, DecodeError> {
        if ty == PRO_TYPE_SNAP {
            let [o0, o1, o2, p0, p1] = snap;
            Ok(ProtocolType::Snap {
                oui: [o0, o1, o2],
                pid: u16::from_be_bytes([p0, p1]),
            })
        } else if snap == [0; 5] {
            Ok(ProtocolType::Short(ty))
        } else {
            Err(DecodeError::SnapNotZero(ty))
        }
    }

    pub(crate) fn put(&self, buf: &mut Vec<u8>) {
        match *self {
            ProtocolType::Short(ty) => {
                buf.extend_from_slice(&ty.to_be_bytes());
                buf.extend_from_slice(&[0; 5]);
            }
            ProtocolType::Snap { oui, pid } => {
                buf.extend_from_slice(&PRO_TYPE_SNAP.to_be_bytes());
                buf.extend_from_slice(&oui);
                buf.extend_from_slice(&pid.to_be_bytes());
            }
        }
    }
}

/// A zero-copy look at a fixed header, for callers that only need to peek
/// (the data plane dispatching by type, counters) without a full decode.
#[derive(Clone, Copy, Debug)]
pub struct HeaderView<'a> {
    buf: &'a [u8; LEN],
}

impl<'a> HeaderView<'a> {
    /// A view over the first 20 bytes of `buf`; None when they are missing.
    pub fn new(buf: &'a [u8]) -> Option<Self> {
        buf.get(..LEN)?
            .try_into()
            .ok()
            .map(|buf| HeaderView { buf })
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.buf[at], self.buf[at + 1]])
    }

    pub fn afn(&self) -> u16 {
        self.u16_at(AFN)
    }

    pub fn protocol_type(&self) -> u16 {
        self.u16_at(PRO_TYPE)
    }

    pub fn protocol_snap(&self) -> [u8; 5] {
        let mut snap = [0; 5];
        snap.copy_from_slice(&self.buf[PRO_SNAP..PRO_SNAP + 5]);
        snap
    }

    pub fn hop_count(&self) -> u8 {
        self.buf[HOP_COUNT]
    }

    pub fn packet_size(&self) -> u16 {
        self.u16_at(PACKET_SIZE)
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(CHECKSUM)
    }

    pub fn extension_offset(&self) -> u16 {
        self.u16_at(EXTENSION_OFFSET)
    }

    pub fn version(&self) -> u8 {
        self.buf[VERSION]
    }

    pub fn packet_type(&self) -> u8 {
        self.buf[TYPE]
    }

    pub fn shtl(&self) -> u8 {
        self.buf[SHTL]
    }

    pub fn sstl(&self) -> u8 {
        self.buf[SSTL]
    }
}
