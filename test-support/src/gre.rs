//! The GRE header the tests put on the packets they forge or capture.

use holo_dmvpn::packet::gre::{GreProtocol, GreRepr};

/// The header a DMVPN tunnel sends: the tunnel's key when it has one, no
/// checksum, no sequence number (RFC 2784 with the Key field of RFC 2890).
pub fn header(key: Option<u32>, protocol: GreProtocol) -> GreRepr {
    GreRepr {
        checksum_present: false,
        reserved1: 0,
        key,
        sequence: None,
        protocol,
    }
}
