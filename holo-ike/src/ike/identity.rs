//! Identities (RFC 7296, 3.5) and pre-shared keys with the PSK
//! authentication of RFC 7296, 2.15.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Serialize, Serializer};
use subtle::ConstantTimeEq;

use crate::crypto::PrfAlgorithm;
use crate::packet::{IdType, Identification};

/// An IKE identity. Text form: an IP address, `fqdn:host.example`,
/// `email:user@example` (or anything with an `@`), `keyid:hex`, else an
/// FQDN. A distinguished name shows as `dn:O=.., CN=..` but is not parsed
/// from text: it comes from a certificate or a received ID payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Fqdn(String),
    Email(String),
    KeyId(Vec<u8>),
    /// ID_DER_ASN1_DN: the DER of an X.501 Name (a certificate's subject).
    Dn(Vec<u8>),
}

impl Identity {
    pub fn from_address(addr: IpAddr) -> Identity {
        match addr {
            IpAddr::V4(a) => Identity::Ipv4(a),
            IpAddr::V6(a) => Identity::Ipv6(a),
        }
    }

    /// The IDi/IDr payload body.
    pub fn to_payload(&self) -> Identification {
        let (id_type, data) = match self {
            Identity::Ipv4(a) => (IdType::ID_IPV4_ADDR, a.octets().to_vec()),
            Identity::Ipv6(a) => (IdType::ID_IPV6_ADDR, a.octets().to_vec()),
            Identity::Fqdn(s) => (IdType::ID_FQDN, s.as_bytes().to_vec()),
            Identity::Email(s) => (IdType::ID_RFC822_ADDR, s.as_bytes().to_vec()),
            Identity::KeyId(k) => (IdType::ID_KEY_ID, k.clone()),
            Identity::Dn(dn) => (IdType::ID_DER_ASN1_DN, dn.clone()),
        };
        Identification {
            id_type,
            reserved: [0; 3],
            data,
        }
    }

    /// None for ID types we cannot compare (ID_DER_ASN1_GN, ranges...) or
    /// malformed data.
    pub fn from_payload(id: &Identification) -> Option<Identity> {
        let text = || String::from_utf8(id.data.clone()).ok();
        Some(match id.id_type {
            IdType::ID_IPV4_ADDR => {
                Identity::Ipv4(Ipv4Addr::from(<[u8; 4]>::try_from(&id.data[..]).ok()?))
            }
            IdType::ID_IPV6_ADDR => {
                Identity::Ipv6(Ipv6Addr::from(<[u8; 16]>::try_from(&id.data[..]).ok()?))
            }
            IdType::ID_FQDN => Identity::Fqdn(text()?),
            IdType::ID_RFC822_ADDR => Identity::Email(text()?),
            IdType::ID_KEY_ID => Identity::KeyId(id.data.clone()),
            IdType::ID_DER_ASN1_DN => Identity::Dn(id.data.clone()),
            _ => return None,
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) => write!(f, "{s}"),
            Identity::Email(s) => write!(f, "{s}"),
            Identity::KeyId(k) => write!(f, "keyid:{}", holo_utils::hex::Hex(k)),
            Identity::Dn(dn) => write!(f, "dn:{}", super::certificates::dn_to_string(dn)),
        }
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Identity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(Identity::from_address(a));
        }
        let nonempty = |v: &str| {
            if v.is_empty() {
                Err(format!("empty identity in {s:?}"))
            } else {
                Ok(v.to_string())
            }
        };
        if let Some(v) = s.strip_prefix("fqdn:") {
            Ok(Identity::Fqdn(nonempty(v)?))
        } else if let Some(v) = s.strip_prefix("email:") {
            Ok(Identity::Email(nonempty(v)?))
        } else if let Some(v) = s.strip_prefix("keyid:") {
            Ok(Identity::KeyId(holo_utils::hex::parse(v)?))
        } else if s.contains('@') {
            Ok(Identity::Email(s.to_string()))
        } else {
            Ok(Identity::Fqdn(nonempty(s)?))
        }
    }
}

/// A pre-shared key. Debug never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// The keyring. Lookup: by the peer's identity, then by its address, then
/// the wildcard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Psk {
    pub by_address: HashMap<IpAddr, Secret>,
    pub by_identity: HashMap<Identity, Secret>,
    pub wildcard: Option<Secret>,
}

impl Psk {
    /// One key for every peer.
    pub fn any(secret: impl Into<Vec<u8>>) -> Psk {
        Psk {
            wildcard: Some(Secret::new(secret)),
            ..Psk::default()
        }
    }

    pub fn lookup(&self, identity: Option<&Identity>, address: IpAddr) -> Option<&Secret> {
        identity
            .and_then(|id| self.by_identity.get(id))
            .or_else(|| self.by_address.get(&address))
            .or(self.wildcard.as_ref())
    }
}

/// RFC 7296, 2.15: the padding string of the PSK key derivation.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>),
/// SignedOctets = RealMessage | Nonce of the other side | prf(SK_p, the ID
/// payload body).
pub fn psk_auth(
    prf: PrfAlgorithm,
    secret: &Secret,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id: &Identification,
) -> Vec<u8> {
    let mut id_body = Vec::with_capacity(4 + id.data.len());
    id_body.push(id.id_type.0);
    id_body.extend_from_slice(&id.reserved);
    id_body.extend_from_slice(&id.data);
    let maced_id = prf.prf(sk_p, &[&id_body]);
    let key = prf.prf(secret.as_bytes(), &[KEY_PAD]);
    prf.prf(&key, &[real_message, peer_nonce, &maced_id])
}

/// Constant-time comparison of a received AUTH value.
pub fn auth_matches(expected: &[u8], received: &[u8]) -> bool {
    expected.len() == received.len() && bool::from(expected.ct_eq(received))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_text_and_payload_round_trip() {
        for text in [
            "10.0.0.1",
            "2001:db8::1",
            "b.test",
            "rust@a.test",
            "keyid:0a0b",
        ] {
            let id: Identity = text.parse().expect("parses");
            assert_eq!(id.to_string(), text);
            assert_eq!(Identity::from_payload(&id.to_payload()), Some(id));
        }
        assert_eq!(
            "fqdn:x@y".parse::<Identity>(),
            Ok(Identity::Fqdn("x@y".into()))
        );
        assert!("".parse::<Identity>().is_err());
    }

    #[test]
    fn secret_debug_hides_bytes() {
        let psk = Psk::any("hunter2");
        assert!(!format!("{psk:?}").contains("hunter2"));
        assert!(format!("{psk:?}").contains("<secret>"));
    }

    #[test]
    fn psk_lookup_order() {
        let a: IpAddr = "192.0.2.1".parse().expect("addr");
        let id = Identity::Fqdn("peer".into());
        let mut psk = Psk::any("wild");
        assert_eq!(psk.lookup(Some(&id), a), Some(&Secret::from("wild")));
        psk.by_address.insert(a, "addr".into());
        assert_eq!(psk.lookup(Some(&id), a), Some(&Secret::from("addr")));
        psk.by_identity.insert(id.clone(), "ident".into());
        assert_eq!(psk.lookup(Some(&id), a), Some(&Secret::from("ident")));
        assert_eq!(psk.lookup(None, a), Some(&Secret::from("addr")));
    }

    #[test]
    fn psk_auth_follows_rfc7296_2_15() {
        let prf = PrfAlgorithm::HmacSha256;
        let id = Identity::Fqdn("a".into()).to_payload();
        let secret = Secret::from("s");
        let auth = psk_auth(prf, &secret, b"msg", b"nonce", b"skp", &id);
        let maced = prf.prf(b"skp", &[&[2, 0, 0, 0, b'a']]);
        let key = prf.prf(b"s", &[b"Key Pad for IKEv2"]);
        assert_eq!(auth, prf.prf(&key, &[b"msgnonce", &maced]));
        assert!(auth_matches(&auth, &auth.clone()));
        assert!(!auth_matches(&auth, &auth[1..]));
    }
}
