//! What a step produced, as data without randomness: messages decoded (the
//! encrypted payloads too, with the keys of `Ike::key_log`), SPIs replaced
//! by stable names, no keys, nonces, DH values or cookies.
//!
//! IKE SPIs are `ike-N-i` / `ike-N-r` (the Nth IKE SA, SPIi and SPIr);
//! an ESP SPI is `child-N-<node>`, the inbound SPI `<node>` chose for the
//! Nth child SA pair. Names are given in the order the SPIs first appear.

use std::collections::HashMap;
use std::net::IpAddr;

use holo_ike::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm, SkCipher};
use holo_ike::ike::keylog::IkeSaKeyLog;
use holo_ike::ike::{Identity, Notification, Output, Snapshot};
use holo_ike::packet::sa::TransformType;
use holo_ike::packet::{
    HeaderView, Message, NotifyType, Payload, PayloadBody, PayloadType, Proposal, TrafficSelector,
    TrafficSelectors,
};

use super::json::{J, obj, seconds};

/// The names given so far, what is known about SPIs, and the keys of
/// every IKE SA seen.
#[derive(Default)]
pub struct Names {
    ike: HashMap<u64, String>,
    ike_sas: u32,
    /// (SPIi, SPIr) of the IKE SAs.
    ike_pairs: Vec<(u64, u64)>,
    child: HashMap<u32, String>,
    children: u32,
    /// An inbound SPI -> (the node that chose it, the SPI of the other
    /// direction).
    child_pairs: HashMap<u32, (String, u32)>,
    pub keys: HashMap<(u64, u64), IkeSaKeyLog>,
    /// Every address of every node (inside and public) -> its name.
    pub addresses: Vec<(IpAddr, String)>,
}

fn index_of(name: &str) -> Option<u32> {
    name.split('-').nth(1)?.parse().ok()
}

impl Names {
    pub fn node_at(&self, addr: IpAddr) -> Option<String> {
        self.addresses
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, n)| n.clone())
    }

    pub fn learn_ike(&mut self, spi_i: u64, spi_r: u64) {
        if spi_i != 0 && spi_r != 0 && !self.ike_pairs.contains(&(spi_i, spi_r)) {
            self.ike_pairs.push((spi_i, spi_r));
        }
    }

    /// `node` has the child SA `inbound`/`outbound` with `peer`.
    pub fn learn_child(&mut self, node: &str, inbound: u32, outbound: u32, peer: Option<String>) {
        self.child_pairs
            .insert(inbound, (node.to_string(), outbound));
        if let Some(peer) = peer {
            self.child_pairs.entry(outbound).or_insert((peer, inbound));
        }
    }

    /// The name of an IKE SPI; `initiator`: SPIi if nothing else tells.
    pub fn ike(&mut self, spi: u64, initiator: bool) -> String {
        if spi == 0 {
            return "0".into();
        }
        if let Some(name) = self.ike.get(&spi) {
            return name.clone();
        }
        let partner = self.ike_pairs.iter().find_map(|&(i, r)| {
            if i == spi {
                Some((r, true))
            } else if r == spi {
                Some((i, false))
            } else {
                None
            }
        });
        let (index, is_i) = match partner {
            Some((p, is_i)) => (self.ike.get(&p).and_then(|n| index_of(n)), is_i),
            None => (None, initiator),
        };
        let index = index.unwrap_or_else(|| {
            self.ike_sas += 1;
            self.ike_sas
        });
        let name = format!("ike-{index}-{}", if is_i { "i" } else { "r" });
        self.ike.insert(spi, name.clone());
        name
    }

    /// The name of an ESP SPI; `owner`: who chose it if nothing else tells.
    pub fn child(&mut self, spi: u32, owner: Option<&str>) -> String {
        if let Some(name) = self.child.get(&spi) {
            return name.clone();
        }
        let known = self.child_pairs.get(&spi).cloned();
        let owner = known
            .as_ref()
            .map(|(o, _)| o.clone())
            .or(owner.map(str::to_string));
        let index = known
            .and_then(|(_, p)| self.child.get(&p).and_then(|n| index_of(n)))
            .unwrap_or_else(|| {
                self.children += 1;
                self.children
            });
        let name = match owner {
            Some(o) => format!("child-{index}-{o}"),
            None => format!("child-{index}"),
        };
        self.child.insert(spi, name.clone());
        name
    }

    /// An SPI from its name, or from hex.
    pub fn spi_bytes(&self, text: &str) -> Vec<u8> {
        if let Some((spi, _)) = self.ike.iter().find(|(_, n)| *n == text) {
            return spi.to_be_bytes().to_vec();
        }
        if let Some((spi, _)) = self.child.iter().find(|(_, n)| *n == text) {
            return spi.to_be_bytes().to_vec();
        }
        hex(text)
    }

    /// The (SPIi, SPIr) of the IKE SA named `ike-N`.
    pub fn ike_sa(&self, name: &str) -> (u64, u64) {
        let find = |suffix: &str| {
            let wanted = format!("{name}-{suffix}");
            self.ike
                .iter()
                .find(|(_, n)| **n == wanted)
                .map(|(spi, _)| *spi)
                .unwrap_or_else(|| panic!("no IKE SA {name} seen"))
        };
        (find("i"), find("r"))
    }

    /// Every SPI we know, in hex, replaced by its name.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (spi, name) in &self.ike {
            text = text.replace(&format!("{spi:016x}"), name);
        }
        for (spi, name) in &self.child {
            text = text.replace(&format!("{spi:08x}"), name);
        }
        text
    }

    /// The SPI fields of a serialized notification named, strings scrubbed.
    fn scrub_json(&mut self, v: J, node: &str) -> J {
        match v {
            J::Obj(fields) => J::Obj(
                fields
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), &v) {
                            ("inbound_spi", J::Num(n)) => {
                                let spi = n.as_u64().unwrap() as u32;
                                J::Str(self.child(spi, Some(node)))
                            }
                            ("outbound_spi", J::Num(n)) => {
                                J::Str(self.child(n.as_u64().unwrap() as u32, None))
                            }
                            _ => self.scrub_json(v, node),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            J::Arr(items) => J::Arr(
                items
                    .into_iter()
                    .map(|v| self.scrub_json(v, node))
                    .collect(),
            ),
            J::Str(s) => J::Str(self.scrub(&s)),
            other => other,
        }
    }

    /// One output of `node`; `number` is the datagram number of a Send.
    pub fn output(&mut self, node: &str, number: Option<u32>, output: &Output) -> J {
        match output {
            Output::Send {
                local,
                remote,
                bytes,
            } => {
                let mut j = obj([
                    ("send", number.into()),
                    ("from", local.to_string().into()),
                    ("to", remote.to_string().into()),
                ]);
                let receiver = self.node_at(remote.ip());
                if let J::Obj(fields) = self.message(bytes, Some(node), receiver.as_deref()) {
                    for (k, v) in fields {
                        j.push(&k, v);
                    }
                }
                j
            }
            Output::NatKeepalive { local, remote } => obj([(
                "nat_keepalive",
                obj([
                    ("from", local.to_string().into()),
                    ("to", remote.to_string().into()),
                ]),
            )]),
            Output::InstallChildSa(c) => {
                let peer = self.node_at(c.peer);
                let inbound = self.child(c.inbound_spi, Some(node));
                let outbound = self.child(c.outbound_spi, peer.as_deref());
                obj([(
                    "install_child_sa",
                    obj([
                        ("peer", c.peer.to_string().into()),
                        ("local", c.local.to_string().into()),
                        ("inbound", inbound.into()),
                        ("outbound", outbound.into()),
                        ("mode", J::of(&c.mode)),
                        ("encap", J::of(&c.encap)),
                        ("encr", format!("{:?}", c.encr).into()),
                        ("integ", c.integ.map(|i| format!("{i:?}")).into()),
                        ("esn", c.esn.into()),
                        ("lifetime", seconds(c.lifetime.as_millis() as i128)),
                    ]),
                )])
            }
            Output::RemoveChildSa {
                peer,
                inbound_spi,
                outbound_spi,
            } => {
                let peer_node = self.node_at(*peer);
                let inbound = self.child(*inbound_spi, Some(node));
                let outbound = self.child(*outbound_spi, peer_node.as_deref());
                obj([(
                    "remove_child_sa",
                    obj([
                        ("peer", peer.to_string().into()),
                        ("inbound", inbound.into()),
                        ("outbound", outbound.into()),
                    ]),
                )])
            }
            Output::Notification(n) => self.notification(node, n),
        }
    }

    fn notification(&mut self, node: &str, n: &Notification) -> J {
        let j = match n {
            // An error serializes as its log line, which an internally
            // tagged enum cannot hold.
            Notification::Error(e) => obj([
                ("notification", "error".into()),
                ("level", J::of(&e.level())),
                ("error", e.to_string().into()),
            ]),
            n => J::of(n),
        };
        self.scrub_json(j, node)
    }

    /// A message: header, payloads, and the encrypted payloads when we
    /// have the keys.
    pub fn message(&mut self, bytes: &[u8], sender: Option<&str>, receiver: Option<&str>) -> J {
        let m = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                return obj([
                    ("undecodable", e.to_string().into()),
                    ("length", (bytes.len() as u64).into()),
                ]);
            }
        };
        self.learn_ike(m.spi_initiator, m.spi_responder);
        let response = m.flags.response();
        let mut j = obj([
            ("exchange", m.exchange_type.to_string().into()),
            ("response", response.into()),
            ("initiator", m.flags.initiator().into()),
            ("message_id", m.message_id.into()),
            ("spi_i", self.ike(m.spi_initiator, true).into()),
            ("spi_r", self.ike(m.spi_responder, false).into()),
        ]);
        let ctx = Ctx {
            response,
            sender: sender.map(str::to_string),
            receiver: receiver.map(str::to_string),
        };
        let payloads = m.payloads.iter().map(|p| self.payload(p, &ctx)).collect();
        j.push("payloads", J::Arr(payloads));
        if let Some(PayloadBody::Encrypted(_)) = m.payloads.last().map(|p| &p.body) {
            let inner = match self.keys.get(&(m.spi_initiator, m.spi_responder)) {
                None => J::Str("no keys".into()),
                Some(keys) => match open(keys, bytes, &m) {
                    Ok((first, plain)) => match chain(first, &plain) {
                        Ok(inner) => J::Arr(inner.iter().map(|p| self.payload(p, &ctx)).collect()),
                        Err(e) => J::Str(format!("undecodable: {e}")),
                    },
                    Err(e) => J::Str(format!("does not open: {e}")),
                },
            };
            j.push("encrypted", inner);
        }
        j
    }

    fn payload(&mut self, p: &Payload, ctx: &Ctx) -> J {
        let critical = if p.critical { " (critical)" } else { "" };
        let text = match &p.body {
            PayloadBody::SecurityAssociation(sa) => {
                let proposals = sa
                    .proposals
                    .iter()
                    .map(|pr| self.proposal(pr, ctx).into())
                    .collect();
                return obj([("SA", J::Arr(proposals))]);
            }
            PayloadBody::KeyExchange(ke) => format!("KE {}", group_name(ke.group)),
            PayloadBody::IdentificationInitiator(id) => format!("IDi {}", identity(id)),
            PayloadBody::IdentificationResponder(id) => format!("IDr {}", identity(id)),
            PayloadBody::Certificate(c) => format!("CERT {}", c.encoding),
            PayloadBody::CertificateRequest(c) => {
                format!("CERTREQ {} {} CA(s)", c.encoding, c.data.len() / 20)
            }
            PayloadBody::Authentication(a) => format!("AUTH {}", a.method),
            PayloadBody::Nonce(n) => format!("NONCE {} octets", n.data.len()),
            PayloadBody::Notify(n) => {
                let mut text = format!("N {}", n.notify_type);
                if !n.spi.is_empty() {
                    // REKEY_SA names the sender's SA; an error notify echoes
                    // an SPI of the receiver.
                    let owner = if n.notify_type.is_error() {
                        ctx.receiver.as_deref()
                    } else {
                        ctx.sender.as_deref()
                    };
                    text += &format!(" {} {}", n.protocol_id, self.spi(&n.spi, owner, true));
                }
                text += &notify_data(n.notify_type, &n.data);
                text
            }
            PayloadBody::Delete(d) => {
                let spis: Vec<String> = d
                    .spis
                    .iter()
                    .map(|s| self.spi(&s.0, ctx.sender.as_deref(), true))
                    .collect();
                format!("D {} {}", d.protocol_id, spis.join(" "))
                    .trim_end()
                    .to_string()
            }
            PayloadBody::VendorId(_) => "V".into(),
            PayloadBody::TrafficSelectorsInitiator(ts) => format!("TSi {}", selectors(ts)),
            PayloadBody::TrafficSelectorsResponder(ts) => format!("TSr {}", selectors(ts)),
            PayloadBody::Encrypted(_) => "SK".into(),
            PayloadBody::EncryptedFragment(f) => {
                format!("SKF {}/{}", f.fragment_number, f.total_fragments)
            }
            PayloadBody::Unknown(u) => format!("{} {} octets", u.payload_type, u.data.len()),
        };
        J::Str(format!("{text}{critical}"))
    }

    fn spi(&mut self, spi: &[u8], owner: Option<&str>, initiator: bool) -> String {
        match spi.len() {
            4 => self.child(u32::from_be_bytes(spi.try_into().unwrap()), owner),
            8 => self.ike(u64::from_be_bytes(spi.try_into().unwrap()), initiator),
            _ => spi.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    fn proposal(&mut self, p: &Proposal, ctx: &Ctx) -> String {
        let mut parts = vec![format!("#{}", p.number), p.protocol_id.to_string()];
        if !p.spi.is_empty() {
            parts.push(self.spi(&p.spi, ctx.sender.as_deref(), !ctx.response));
        }
        for t in &p.transforms {
            let id = t.transform_id;
            let name = match t.transform_type {
                TransformType::ENCR => {
                    EncrAlgorithm::from_transform(id, t.key_length()).map(|a| format!("{a:?}"))
                }
                TransformType::PRF => PrfAlgorithm::from_transform_id(id).map(|a| format!("{a:?}")),
                TransformType::INTEG => {
                    IntegAlgorithm::from_transform_id(id).map(|a| format!("{a:?}"))
                }
                TransformType::DH => DhGroup::from_transform_id(id).map(|a| format!("{a:?}")),
                TransformType::ESN => match id {
                    0 => Some("NoEsn".into()),
                    1 => Some("Esn".into()),
                    _ => None,
                },
                _ => None,
            };
            parts.push(name.unwrap_or_else(|| format!("{}:{id}", t.transform_type)));
        }
        parts.join(" ")
    }

    /// A node's state: its IKE SAs (by name), what its data plane has, and
    /// the counters that are not zero.
    pub fn state(
        &mut self,
        node: &str,
        snapshot: &Snapshot,
        inbound: &[u32],
        outbound: &[(IpAddr, u32)],
    ) -> J {
        for sa in &snapshot.ike_sas {
            self.learn_ike(sa.spi_i, sa.spi_r);
            for c in &sa.child_sas {
                let peer = self.node_at(sa.peer);
                self.learn_child(node, c.inbound_spi, c.outbound_spi, peer);
            }
        }
        let mut sas: Vec<(String, J)> = snapshot
            .ike_sas
            .iter()
            .map(|sa| {
                let spi_i = self.ike(sa.spi_i, true);
                let peer = self.node_at(sa.peer);
                let children = sa
                    .child_sas
                    .iter()
                    .map(|c| {
                        let p = &c.proposal;
                        let proposal = match p.integ {
                            Some(i) => format!("{:?} {i:?}", p.encr),
                            None => format!("{:?}", p.encr),
                        };
                        obj([
                            ("inbound", self.child(c.inbound_spi, Some(node)).into()),
                            (
                                "outbound",
                                self.child(c.outbound_spi, peer.as_deref()).into(),
                            ),
                            ("proposal", proposal.into()),
                            ("esn", p.esn.into()),
                            ("mode", J::of(&c.mode)),
                            ("encap", J::of(&c.encap)),
                            ("age", seconds(c.age.as_millis() as i128)),
                            ("lifetime", seconds(c.lifetime.as_millis() as i128)),
                        ])
                    })
                    .collect();
                let proposal = sa.proposal.map(|p| match p.integ {
                    Some(i) => format!("{:?} {i:?} {:?} {:?}", p.encr, p.prf, p.dh),
                    None => format!("{:?} {:?} {:?}", p.encr, p.prf, p.dh),
                });
                let j = obj([
                    ("spi_i", spi_i.clone().into()),
                    ("spi_r", self.ike(sa.spi_r, false).into()),
                    ("role", J::of(&sa.role)),
                    ("state", J::of(&sa.state)),
                    ("local", sa.local.to_string().into()),
                    ("remote", sa.remote.to_string().into()),
                    ("proposal", proposal.into()),
                    ("local_id", sa.local_id.to_string().into()),
                    (
                        "remote_id",
                        sa.remote_id.as_ref().map(Identity::to_string).into(),
                    ),
                    ("age", seconds(sa.age.as_millis() as i128)),
                    ("nat", J::of(&sa.nat)),
                    ("child_sas", J::Arr(children)),
                ]);
                (spi_i, j)
            })
            .collect();
        sas.sort_by(|a, b| a.0.cmp(&b.0));
        let mut inbound: Vec<String> = inbound.iter().map(|s| self.child(*s, Some(node))).collect();
        inbound.sort();
        let outbound = outbound
            .iter()
            .map(|(peer, spi)| {
                let owner = self.node_at(*peer);
                (peer.to_string(), self.child(*spi, owner.as_deref()).into())
            })
            .collect();
        let counters = match serde_json::to_value(snapshot.counters).unwrap() {
            serde_json::Value::Object(fields) => J::Obj(
                fields
                    .into_iter()
                    .filter(|(_, v)| v.as_u64() != Some(0))
                    .map(|(k, v)| (k, J::from(v)))
                    .collect(),
            ),
            other => J::from(other),
        };
        obj([
            ("ike_sas", J::Arr(sas.into_iter().map(|(_, j)| j).collect())),
            (
                "data_plane",
                obj([
                    (
                        "inbound",
                        J::Arr(inbound.into_iter().map(J::from).collect()),
                    ),
                    ("outbound", J::Obj(outbound)),
                ]),
            ),
            ("counters", counters),
        ])
    }
}

struct Ctx {
    response: bool,
    sender: Option<String>,
    receiver: Option<String>,
}

fn group_name(group: u16) -> String {
    DhGroup::from_transform_id(group).map_or(group.to_string(), |g| format!("{g:?}"))
}

fn identity(id: &holo_ike::packet::Identification) -> String {
    Identity::from_payload(id).map_or(format!("{}", id.id_type), |i| i.to_string())
}

/// The data of the notifies where it is neither random nor derived from
/// random values.
fn notify_data(ty: NotifyType, data: &[u8]) -> String {
    match ty {
        NotifyType::INVALID_KE_PAYLOAD if data.len() == 2 => {
            format!(" {}", group_name(u16::from_be_bytes([data[0], data[1]])))
        }
        NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD if data.len() == 1 => {
            format!(" {}", PayloadType(data[0]))
        }
        NotifyType::SIGNATURE_HASH_ALGORITHMS => {
            let ids: Vec<String> = data
                .chunks(2)
                .map(|c| {
                    c.iter()
                        .fold(0u16, |a, b| a << 8 | u16::from(*b))
                        .to_string()
                })
                .collect();
            format!(" {}", ids.join(" "))
        }
        _ => String::new(),
    }
}

fn selectors(ts: &TrafficSelectors) -> String {
    let one = |s: &TrafficSelector| match s {
        TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => range(
            *ip_protocol,
            *start_port,
            *end_port,
            (*start).into(),
            (*end).into(),
        ),
        TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => range(
            *ip_protocol,
            *start_port,
            *end_port,
            (*start).into(),
            (*end).into(),
        ),
        other => format!("{other:?}"),
    };
    ts.selectors.iter().map(one).collect::<Vec<_>>().join(", ")
}

fn range(protocol: u8, start_port: u16, end_port: u16, start: IpAddr, end: IpAddr) -> String {
    let mut text = if start == end {
        format!("{start}")
    } else {
        format!("{start}-{end}")
    };
    if protocol != 0 {
        text += &format!(" proto {protocol}");
    }
    if (start_port, end_port) != (0, u16::MAX) {
        text += &format!(" ports {start_port}-{end_port}");
    }
    text
}

pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<char> = text
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits: {text}"
    );
    digits
        .chunks(2)
        .map(|p| {
            let p: String = p.iter().collect();
            u8::from_str_radix(&p, 16).unwrap_or_else(|_| panic!("not hex: {text}"))
        })
        .collect()
}

/// The SK cipher of one direction: what the original initiator sends
/// (`initiator`) or what the responder sends.
pub fn cipher(keys: &IkeSaKeyLog, initiator: bool) -> SkCipher {
    let (e, a) = if initiator {
        (&keys.sk_ei, &keys.sk_ai)
    } else {
        (&keys.sk_er, &keys.sk_ar)
    };
    SkCipher::new(keys.encr, keys.integ, e, a).unwrap()
}

/// Checks and decrypts the Encrypted payload (the last one) of `m`,
/// parsed from `bytes`: the type of the first inner payload and the chain.
pub fn open(
    keys: &IkeSaKeyLog,
    bytes: &[u8],
    m: &Message,
) -> Result<(PayloadType, Vec<u8>), String> {
    let Some(PayloadBody::Encrypted(sk)) = m.payloads.last().map(|p| &p.body) else {
        return Err("no Encrypted payload".into());
    };
    let length = HeaderView::new(bytes).map_or(0, |h| h.length() as usize);
    let associated = &bytes[..length - sk.data.len()];
    let plain = cipher(keys, m.flags.initiator())
        .open(associated, &sk.data)
        .map_err(|e| e.to_string())?;
    Ok((sk.first_payload, plain))
}

/// The payloads of an encoded chain: parsed as the body of a message (an
/// Encrypted payload holds a chain as a message does).
pub fn chain(first: PayloadType, plain: &[u8]) -> Result<Vec<Payload>, String> {
    let mut bytes = vec![0; 16];
    bytes.push(first.0);
    bytes.extend_from_slice(&[0x20, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&(28 + plain.len() as u32).to_be_bytes());
    bytes.extend_from_slice(plain);
    Message::parse(&bytes)
        .map(|m| m.payloads)
        .map_err(|e| e.to_string())
}

/// A chain encoded: its first payload type and its bytes.
pub fn encode_chain(payloads: &[Payload]) -> (PayloadType, Vec<u8>) {
    let m = Message {
        spi_initiator: 0,
        spi_responder: 0,
        major_version: 2,
        minor_version: 0,
        exchange_type: holo_ike::packet::ExchangeType(0),
        flags: holo_ike::packet::Flags(0),
        message_id: 0,
        payloads: payloads.to_vec(),
    };
    let bytes = m.emit().unwrap();
    (PayloadType(bytes[16]), bytes[28..].to_vec())
}

/// `m` (its payloads before the Encrypted one) with `plain` encrypted as
/// its last payload, sealed with the keys of its direction.
pub fn seal(keys: &IkeSaKeyLog, m: &Message, first: PayloadType, plain: &[u8]) -> Vec<u8> {
    let cipher = cipher(keys, m.flags.initiator());
    let len = cipher.encrypted_len(plain.len());
    let mut m = m.clone();
    m.payloads.push(Payload::new(PayloadBody::Encrypted(
        holo_ike::packet::Encrypted {
            first_payload: first,
            data: vec![0; len],
        },
    )));
    let mut bytes = m.emit().unwrap();
    let split = bytes.len() - len;
    let rng = ring::rand::SystemRandom::new();
    let body = cipher.seal(&bytes[..split], plain, &rng).unwrap();
    bytes.truncate(split);
    bytes.extend_from_slice(&body);
    bytes
}
