//! GRE header codec: parsing never panics, and every accepted header
//! re-emits byte for byte.
#![no_main]

use holo_dmvpn::packet::gre::{GrePacket, GreRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The view's accessors must not panic on anything its constructor accepts.
    if let Ok(packet) = GrePacket::new_checked(data) {
        let _ = (packet.protocol(), packet.checksum(), packet.reserved1());
        let _ = (packet.key(), packet.sequence(), packet.payload());
        let _ = packet.check_checksum();
    }
    if let Ok((repr, payload)) = GreRepr::parse(data) {
        assert_eq!(repr.emit(payload), data, "emit(parse(x)) != x for {repr:?}");
    }
});
