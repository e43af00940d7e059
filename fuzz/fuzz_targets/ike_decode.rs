//! IKEv2 and ESP codecs: parsing never panics, and every accepted message
//! re-emits byte for byte (an IKE message up to its Length field).
#![no_main]

use holo_ike::packet::{EspPacket, EspRepr, HeaderView, Message, UdpEncapsulated};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        let Some(view) = HeaderView::new(data) else {
            panic!("parse accepted {} bytes, shorter than the IKE header", data.len());
        };
        let length = view.length() as usize;
        let emitted = match message.emit() {
            Ok(emitted) => emitted,
            Err(err) => panic!("parsed message does not emit: {err}\n{message:#?}"),
        };
        assert_eq!(
            Some(emitted.as_slice()),
            data.get(..length),
            "emit(parse(x)) != x[..Length]"
        );
    }
    // The same bytes as ESP, and as a UDP 4500 datagram.
    if let Ok(packet) = EspPacket::new_checked(data) {
        let _ = (packet.spi(), packet.sequence(), packet.payload());
    }
    if let Ok((esp, payload)) = EspRepr::parse(data) {
        assert_eq!(esp.emit(payload), data, "ESP emit(parse(x)) != x");
    }
    if let Ok(encapsulated) = UdpEncapsulated::classify(data) {
        assert_eq!(encapsulated.emit(), data, "UDP encapsulation not byte-exact");
        if let UdpEncapsulated::Ike(ike) = encapsulated {
            let _ = Message::parse(ike);
        }
    }
});
