//! The IKE header (RFC 7296, 3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use serde::{Serialize, Serializer};

use super::registry::registry;

pub const SPI_INITIATOR: usize = 0;
pub const SPI_RESPONDER: usize = 8;
pub const NEXT_PAYLOAD: usize = 16;
pub const VERSION: usize = 17;
pub const EXCHANGE_TYPE: usize = 18;
pub const FLAGS: usize = 19;
pub const MESSAGE_ID: usize = 20;
pub const LENGTH: usize = 24;
pub const LEN: usize = 28;

/// MjVer of IKEv2 (RFC 7296, 3.1); MnVer is 0.
pub const MAJOR_VERSION: u8 = 2;

registry! {
    /// Exchange Type (RFC 7296, 3.1).
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
    }
}

/// The Flags octet, kept whole: bits other than I, V and R are reserved and
/// survive a round trip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// R: this message is a response.
    pub const RESPONSE: u8 = 0x20;
    /// V: the sender can speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// I: sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    pub const RESERVED: u8 = !(Flags::RESPONSE | Flags::VERSION | Flags::INITIATOR);

    pub fn response(self) -> bool {
        self.0 & Flags::RESPONSE != 0
    }

    pub fn higher_version(self) -> bool {
        self.0 & Flags::VERSION != 0
    }

    pub fn initiator(self) -> bool {
        self.0 & Flags::INITIATOR != 0
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named {
            initiator: bool,
            response: bool,
            higher_version: bool,
            #[serde(skip_serializing_if = "is_zero")]
            reserved: u8,
        }
        fn is_zero(v: &u8) -> bool {
            *v == 0
        }
        Named {
            initiator: self.initiator(),
            response: self.response(),
            higher_version: self.higher_version(),
            reserved: self.0 & Flags::RESERVED,
        }
        .serialize(s)
    }
}

/// A zero-copy look at an IKE header, for callers that dispatch on the SPIs
/// or the exchange type without a full decode.
#[derive(Clone, Copy, Debug)]
pub struct HeaderView<'a> {
    buf: &'a [u8; LEN],
}

impl<'a> HeaderView<'a> {
    /// A view over the first 28 bytes of `buf`; None when they are missing.
    pub fn new(buf: &'a [u8]) -> Option<Self> {
        buf.get(..LEN)?
            .try_into()
            .ok()
            .map(|buf| HeaderView { buf })
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.buf[at..at + 4]);
        u32::from_be_bytes(b)
    }

    fn u64_at(&self, at: usize) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.buf[at..at + 8]);
        u64::from_be_bytes(b)
    }

    pub fn spi_initiator(&self) -> u64 {
        self.u64_at(SPI_INITIATOR)
    }

    pub fn spi_responder(&self) -> u64 {
        self.u64_at(SPI_RESPONDER)
    }

    pub fn next_payload(&self) -> u8 {
        self.buf[NEXT_PAYLOAD]
    }

    pub fn major_version(&self) -> u8 {
        self.buf[VERSION] >> 4
    }

    pub fn minor_version(&self) -> u8 {
        self.buf[VERSION] & 0x0f
    }

    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.buf[EXCHANGE_TYPE])
    }

    pub fn flags(&self) -> Flags {
        Flags(self.buf[FLAGS])
    }

    pub fn message_id(&self) -> u32 {
        self.u32_at(MESSAGE_ID)
    }

    /// Length of the whole message, header included.
    pub fn length(&self) -> u32 {
        self.u32_at(LENGTH)
    }
}
