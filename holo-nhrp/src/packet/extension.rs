//! NHRP extensions (RFC 2332, 5.3) and the Cisco ones DMVPN uses.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|u|        Type               |        Length                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Value...                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use holo_utils::bytes::Reader;
use serde::{Deserialize, Serialize};

use super::cie::Cie;
use super::error::{DecodeError, EncodeError, fits};

pub const COMPULSORY: u16 = 0x8000;
pub const RESERVED: u16 = 0x4000;
pub const TYPE_MASK: u16 = 0x3fff;

/// Extension type numbers.
pub mod ty {
    /// RFC 2332, 5.3.0.
    pub const END: u16 = 0;
    /// RFC 2332, 5.3.1.
    pub const RESPONDER_ADDRESS: u16 = 3;
    /// RFC 2332, 5.3.2.
    pub const FORWARD_TRANSIT_NHS: u16 = 4;
    /// RFC 2332, 5.3.3.
    pub const REVERSE_TRANSIT_NHS: u16 = 5;
    /// RFC 2332, 5.3.4.
    pub const AUTHENTICATION: u16 = 7;
    /// RFC 2332, 5.3.5.
    pub const VENDOR_PRIVATE: u16 = 8;
    /// Cisco: the NBMA address the responder saw (NAT), as CIEs.
    pub const CISCO_NAT_ADDRESS: u16 = 9;
}

/// Cisco's IEEE OUI (00-00-0C), the vendor id of its Vendor-Private
/// extension that carries the NHRP group name (per-tunnel QoS).
pub const CISCO_VENDOR_ID: u32 = 0x00000c;

/// Authentication type of Cisco's cleartext password (`ip nhrp
/// authentication`): the first four octets of the extension, where RFC 2332
/// has Reserved and SPI.
pub const AUTH_CISCO_CLEARTEXT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// The C bit: a receiver that does not understand the extension must
    /// answer with Error Indication "Unrecognized Extension" (RFC 2332, 5.3).
    pub compulsory: bool,
    #[serde(flatten)]
    pub body: ExtensionBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExtensionBody {
    End,
    /// Zero CIEs in a request, the responder's CIE in a reply.
    ResponderAddress {
        cies: Vec<Cie>,
    },
    ForwardTransitNhs {
        cies: Vec<Cie>,
    },
    ReverseTransitNhs {
        cies: Vec<Cie>,
    },
    Authentication(Authentication),
    VendorPrivate(VendorPrivate),
    CiscoNatAddress {
        cies: Vec<Cie>,
    },
    /// Any other type, kept as it came so a forwarder can pass it on and a
    /// re-encode is byte-exact.
    Unknown {
        #[serde(rename = "number")]
        ty: u16,
        #[serde(
            serialize_with = "holo_utils::hex::serialize",
            deserialize_with = "holo_utils::hex::deserialize"
        )]
        data: Vec<u8>,
    },
}

/// RFC 2332, 5.3.4, as used by Cisco and FRR: four octets (RFC: Reserved +
/// SPI; Cisco: authentication type, 1 = cleartext) then the data (Cisco: the
/// password, without terminator).
///
/// Serialized (JSON of `dmvpn-cli decode`, logs) without the cleartext
/// password, only its length: decode output gets shared, passwords must not.
#[derive(Clone, PartialEq, Eq)]
pub struct Authentication {
    pub auth_type: u32,
    pub data: Vec<u8>,
}

impl Serialize for Authentication {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Authentication", 2)?;
        st.serialize_field("auth_type", &self.auth_type)?;
        if self.cleartext_password().is_some() {
            st.serialize_field(
                "password",
                &format_args!("<{} bytes hidden>", self.data.len()),
            )?;
        } else {
            let data = holo_utils::hex::Hex(&self.data).to_string();
            st.serialize_field("data", &data)?;
        }
        st.end()
    }
}

/// Test inputs write the password in clear (`"password": "DMVPN"`, type 1
/// by default) or any data as hex (`"data": "…"`). The hidden form the
/// output shows is refused rather than taken as a password.
impl<'de> Deserialize<'de> for Authentication {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Json {
            #[serde(default = "cleartext")]
            auth_type: u32,
            password: Option<String>,
            data: Option<String>,
        }
        fn cleartext() -> u32 {
            AUTH_CISCO_CLEARTEXT
        }
        use serde::de::Error;
        let json = Json::deserialize(d)?;
        let data = match (json.password, json.data) {
            (Some(p), None) if p.starts_with('<') && p.ends_with(" bytes hidden>") => {
                return Err(D::Error::custom(
                    "the password is hidden in output JSON: write it in clear",
                ));
            }
            (Some(password), None) => password.into_bytes(),
            (None, Some(hex)) => holo_utils::hex::parse(&hex).map_err(D::Error::custom)?,
            _ => return Err(D::Error::custom("give either \"password\" or \"data\"")),
        };
        Ok(Authentication {
            auth_type: json.auth_type,
            data,
        })
    }
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authentication")
            .field("auth_type", &self.auth_type)
            .field("data", &format_args!("<{} bytes hidden>", self.data.len()))
            .finish()
    }
}

impl Authentication {
    pub fn cisco_cleartext(password: &[u8]) -> Self {
        Authentication {
            auth_type: AUTH_CISCO_CLEARTEXT,
            data: password.to_vec(),
        }
    }

    /// The password, when this is Cisco's cleartext form.
    pub fn cleartext_password(&self) -> Option<&[u8]> {
        (self.auth_type == AUTH_CISCO_CLEARTEXT).then_some(self.data.as_slice())
    }
}

/// RFC 2332, 5.3.5: a 24-bit vendor id (IEEE OUI) then vendor data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorPrivate {
    pub vendor_id: u32,
    #[serde(
        serialize_with = "holo_utils::hex::serialize",
        deserialize_with = "holo_utils::hex::deserialize"
    )]
    pub data: Vec<u8>,
}

impl VendorPrivate {
    pub fn cisco_nhrp_group(name: &str) -> Self {
        VendorPrivate {
            vendor_id: CISCO_VENDOR_ID,
            data: name.as_bytes().to_vec(),
        }
    }

    /// The NHRP group name, when this is Cisco's extension and the data is
    /// text.
    pub fn nhrp_group(&self) -> Option<&str> {
        if self.vendor_id != CISCO_VENDOR_ID {
            return None;
        }
        std::str::from_utf8(&self.data).ok()
    }
}

impl ExtensionBody {
    pub fn type_number(&self) -> u16 {
        match self {
            ExtensionBody::End => ty::END,
            ExtensionBody::ResponderAddress { .. } => ty::RESPONDER_ADDRESS,
            ExtensionBody::ForwardTransitNhs { .. } => ty::FORWARD_TRANSIT_NHS,
            ExtensionBody::ReverseTransitNhs { .. } => ty::REVERSE_TRANSIT_NHS,
            ExtensionBody::Authentication(_) => ty::AUTHENTICATION,
            ExtensionBody::VendorPrivate(_) => ty::VENDOR_PRIVATE,
            ExtensionBody::CiscoNatAddress { .. } => ty::CISCO_NAT_ADDRESS,
            ExtensionBody::Unknown { ty, .. } => *ty,
        }
    }

    pub fn name(&self) -> &'static str {
        type_name(self.type_number())
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, ExtensionBody::Unknown { .. })
    }
}

fn type_name(ty: u16) -> &'static str {
    match ty {
        ty::END => "End",
        ty::RESPONDER_ADDRESS => "Responder Address",
        ty::FORWARD_TRANSIT_NHS => "Forward Transit NHS Record",
        ty::REVERSE_TRANSIT_NHS => "Reverse Transit NHS Record",
        ty::AUTHENTICATION => "Authentication",
        ty::VENDOR_PRIVATE => "Vendor-Private",
        ty::CISCO_NAT_ADDRESS => "Cisco NAT Address",
        _ => "unknown",
    }
}

impl Extension {
    pub fn new(compulsory: bool, body: ExtensionBody) -> Self {
        Extension { compulsory, body }
    }

    /// Decodes one extension; the reader is left after it.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Extension, DecodeError> {
        let offset = r.offset();
        let raw_type = r.u16("extension type")?;
        if raw_type & RESERVED != 0 {
            return Err(DecodeError::ReservedBit {
                field: "extension type",
                offset,
                value: raw_type,
            });
        }
        let compulsory = raw_type & COMPULSORY != 0;
        let ty = raw_type & TYPE_MASK;
        let length = r.u16("extension length")?;
        let mut value = r.sub(length.into(), "extension value")?;
        let invalid = |reason| DecodeError::ExtensionLength {
            name: type_name(ty),
            offset: offset + 2,
            length,
            reason,
        };
        let body = match ty {
            ty::END if length != 0 => return Err(invalid("End carries no value")),
            ty::END => ExtensionBody::End,
            ty::RESPONDER_ADDRESS => ExtensionBody::ResponderAddress {
                cies: Cie::decode_all(&mut value)?,
            },
            ty::FORWARD_TRANSIT_NHS => ExtensionBody::ForwardTransitNhs {
                cies: Cie::decode_all(&mut value)?,
            },
            ty::REVERSE_TRANSIT_NHS => ExtensionBody::ReverseTransitNhs {
                cies: Cie::decode_all(&mut value)?,
            },
            ty::CISCO_NAT_ADDRESS => ExtensionBody::CiscoNatAddress {
                cies: Cie::decode_all(&mut value)?,
            },
            ty::AUTHENTICATION => {
                if value.remaining() < 4 {
                    return Err(invalid("shorter than the 4-octet authentication type"));
                }
                let auth_type = value.u32("authentication type")?;
                ExtensionBody::Authentication(Authentication {
                    auth_type,
                    data: value.rest().to_vec(),
                })
            }
            ty::VENDOR_PRIVATE => {
                if value.remaining() < 3 {
                    return Err(invalid("shorter than the 3-octet vendor id"));
                }
                let [a, b, c] = value.array("vendor id")?;
                ExtensionBody::VendorPrivate(VendorPrivate {
                    vendor_id: u32::from_be_bytes([0, a, b, c]),
                    data: value.rest().to_vec(),
                })
            }
            _ => ExtensionBody::Unknown {
                ty,
                data: value.rest().to_vec(),
            },
        };
        Ok(Extension { compulsory, body })
    }

    /// The extension as it goes on the wire: type, length, value.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::new();
        self.encode(&mut buf)?;
        Ok(buf)
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let ty = self.body.type_number();
        fits("extension type", ty.into(), TYPE_MASK.into())?;
        let raw_type = ty | if self.compulsory { COMPULSORY } else { 0 };
        buf.extend_from_slice(&raw_type.to_be_bytes());
        let length_at = buf.len();
        buf.extend_from_slice(&[0, 0]);
        match &self.body {
            ExtensionBody::End => {}
            ExtensionBody::ResponderAddress { cies }
            | ExtensionBody::ForwardTransitNhs { cies }
            | ExtensionBody::ReverseTransitNhs { cies }
            | ExtensionBody::CiscoNatAddress { cies } => {
                for cie in cies {
                    cie.encode(buf)?;
                }
            }
            ExtensionBody::Authentication(auth) => {
                buf.extend_from_slice(&auth.auth_type.to_be_bytes());
                buf.extend_from_slice(&auth.data);
            }
            ExtensionBody::VendorPrivate(vp) => {
                fits("vendor id", vp.vendor_id as usize, 0xff_ffff)?;
                buf.extend_from_slice(&vp.vendor_id.to_be_bytes()[1..]);
                buf.extend_from_slice(&vp.data);
            }
            ExtensionBody::Unknown { data, .. } => buf.extend_from_slice(data),
        }
        let length = buf.len() - length_at - 2;
        fits("extension value", length, u16::MAX.into())?;
        buf[length_at..length_at + 2].copy_from_slice(&(length as u16).to_be_bytes());
        Ok(())
    }
}
