//! The GRE header the tests put on the packets they forge or capture.

use holo_dmvpn::packet::gre::{GreProtocol, GreRepr};

/// The header a DMVPN tunnel sends (`GreRepr::tunnel`).
pub fn header(key: Option<u32>, protocol: GreProtocol) -> GreRepr {
    GreRepr::tunnel(key, protocol)
}
