//! Messages written by hand: payloads from their JSON form, the edits of a
//! datagram in flight, and authentic requests of an IKE SA (sealed with
//! its keys from `Ike::key_log`).

use holo_ike::crypto::DhGroup;
use holo_ike::ike::proposals;
use holo_ike::ike::traffic_selectors::Endpoint;
use holo_ike::packet::{
    Delete, KeyExchange, Message, Notify, NotifyType, Opaque, Payload, PayloadBody, PayloadType,
    ProtocolId, Spi, UnknownPayload,
};

use super::render::{Names, chain, encode_chain, hex, open, seal};
use super::topology::{Edit, EspProposalSpec, IkeProposalSpec, PayloadSpec, dh};

pub fn notify_type(name: &str) -> NotifyType {
    (0..=u16::MAX)
        .map(NotifyType)
        .find(|t| t.name() == Some(name))
        .unwrap_or_else(|| panic!("unknown notify type {name}"))
}

pub fn payload_type(name: &str) -> PayloadType {
    (0..=u8::MAX)
        .map(PayloadType)
        .find(|t| t.name() == Some(name))
        .unwrap_or_else(|| panic!("unknown payload type {name}"))
}

fn protocol(name: &str) -> ProtocolId {
    (0..=u8::MAX)
        .map(ProtocolId)
        .find(|t| t.name() == Some(name))
        .unwrap_or_else(|| panic!("unknown protocol {name}"))
}

/// The payload(s) of one spec (`ts` makes two: TSi and TSr).
pub fn payloads(spec: &PayloadSpec, names: &Names) -> Vec<Payload> {
    let one = |body| vec![Payload::new(body)];
    match spec {
        PayloadSpec::Notify {
            notify_type: ty,
            protocol: p,
            spi,
            data,
        } => one(PayloadBody::Notify(Notify {
            protocol_id: p.as_deref().map_or(ProtocolId(0), protocol),
            notify_type: notify_type(ty),
            spi: spi.as_deref().map_or(vec![], |s| names.spi_bytes(s)),
            data: data.as_deref().map_or(vec![], hex),
        })),
        PayloadSpec::Nonce(len) => one(PayloadBody::Nonce(Opaque {
            data: vec![0x5a; *len],
        })),
        PayloadSpec::EspOffer {
            spi,
            proposals: p,
            pfs,
        } => {
            let spi = names.spi_bytes(spi);
            let spi = u32::from_be_bytes(spi.try_into().expect("a 4-octet ESP SPI"));
            let ours: Vec<_> = p.iter().map(EspProposalSpec::proposal).collect();
            let offer = proposals::esp_offer_pfs(&ours, spi, pfs.as_deref().map(dh));
            one(PayloadBody::SecurityAssociation(offer))
        }
        PayloadSpec::IkeOffer { spi, proposals: p } => {
            let spi = names.spi_bytes(spi);
            let spi = u64::from_be_bytes(spi.try_into().expect("an 8-octet IKE SPI"));
            let ours: Vec<_> = p.iter().map(IkeProposalSpec::proposal).collect();
            one(PayloadBody::SecurityAssociation(
                proposals::ike_rekey_offer(&ours, spi),
            ))
        }
        PayloadSpec::Ke(group) => {
            let group: DhGroup = dh(group);
            one(PayloadBody::KeyExchange(KeyExchange {
                group: group.transform_id(),
                reserved: 0,
                data: vec![5; group.public_value_len()],
            }))
        }
        PayloadSpec::Ts {
            initiator,
            responder,
            protocol: p,
        } => {
            let end = |addr| Endpoint { addr, protocol: *p };
            vec![
                Payload::new(PayloadBody::TrafficSelectorsInitiator(
                    end(*initiator).payload(),
                )),
                Payload::new(PayloadBody::TrafficSelectorsResponder(
                    end(*responder).payload(),
                )),
            ]
        }
        PayloadSpec::Delete { protocol: p, spis } => {
            let spis: Vec<Spi> = spis.iter().map(|s| Spi(names.spi_bytes(s))).collect();
            one(PayloadBody::Delete(Delete {
                protocol_id: protocol(p),
                spi_size: spis.first().map_or(0, |s| s.0.len() as u8),
                spis,
            }))
        }
        PayloadSpec::Unknown {
            payload_type: ty,
            critical,
            hex: data,
        } => vec![Payload {
            critical: *critical,
            reserved: 0,
            body: PayloadBody::Unknown(UnknownPayload {
                payload_type: PayloadType(*ty),
                data: hex(data),
            }),
        }],
    }
}

/// What the encrypted part of a message is while it is edited.
enum Inner {
    Payloads(Vec<Payload>),
    Raw(PayloadType, Vec<u8>),
}

/// `bytes` with `edits` applied.
pub fn mutate(bytes: &[u8], edits: &[Edit], names: &Names) -> Vec<u8> {
    let mut m = Message::parse(bytes).expect("only a decodable datagram can be edited");
    let keys = names.keys.get(&(m.spi_initiator, m.spi_responder));
    let mut inner = match (m.payloads.last().map(|p| &p.body), keys) {
        (Some(PayloadBody::Encrypted(_)), Some(keys)) => {
            let (first, plain) = open(keys, bytes, &m).expect("opens with its keys");
            m.payloads.pop();
            Some(Inner::Payloads(chain(first, &plain).expect("decodes")))
        }
        (Some(PayloadBody::Encrypted(_)), None) => panic!("no keys for this message"),
        _ => None,
    };
    let mut corrupt = false;
    for edit in edits {
        let list = match &mut inner {
            Some(Inner::Payloads(list)) => list,
            Some(Inner::Raw(..)) => panic!("the chain was replaced: no payloads to edit"),
            None => &mut m.payloads,
        };
        match edit {
            Edit::Remove(name) => {
                let ty = payload_type(name);
                list.retain(|p| p.body.payload_type() != ty);
            }
            Edit::Append(spec) => list.extend(payloads(spec, names)),
            Edit::Prepend(spec) => {
                let mut new = payloads(spec, names);
                new.append(list);
                *list = new;
            }
            Edit::ReplaceChain { first, hex: data } => {
                assert!(inner.is_some(), "only an encrypted chain can be replaced");
                inner = Some(Inner::Raw(PayloadType(*first), hex(data)));
            }
            Edit::Corrupt => corrupt = true,
        }
    }
    let mut out = match inner {
        None => m.emit().expect("the edited message encodes"),
        Some(inner) => {
            let (first, plain) = match inner {
                Inner::Payloads(list) => encode_chain(&list),
                Inner::Raw(first, plain) => (first, plain),
            };
            seal(keys.expect("keys"), &m, first, &plain)
        }
    };
    if corrupt && let Some(last) = out.last_mut() {
        *last ^= 1;
    }
    out
}

/// An authentic message of the IKE SA (SPIi, SPIr), from its `initiator`
/// or its responder, with the chain `plain` (first payload `first`)
/// encrypted.
pub fn authentic(
    names: &Names,
    (spi_i, spi_r): (u64, u64),
    initiator: bool,
    (exchange, response, message_id): (holo_ike::packet::ExchangeType, bool, u32),
    (first, plain): (PayloadType, Vec<u8>),
) -> Vec<u8> {
    let keys = names
        .keys
        .get(&(spi_i, spi_r))
        .expect("the keys of the IKE SA");
    let mut flags = 0;
    if initiator {
        flags |= holo_ike::packet::Flags::INITIATOR;
    }
    if response {
        flags |= holo_ike::packet::Flags::RESPONSE;
    }
    let m = Message {
        spi_initiator: spi_i,
        spi_responder: spi_r,
        major_version: 2,
        minor_version: 0,
        exchange_type: exchange,
        flags: holo_ike::packet::Flags(flags),
        message_id,
        payloads: vec![],
    };
    seal(keys, &m, first, &plain)
}
