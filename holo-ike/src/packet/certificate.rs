//! The Certificate and Certificate Request payloads (RFC 7296, 3.6 and
//! 3.7): the same layout, an encoding and data.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Cert Encoding |                                               |
//! +-+-+-+-+-+-+-+-+                                               |
//! ~         Certificate Data / Certification Authority            ~
//! ```
//! Offsets are from the end of the generic payload header.

use holo_utils::bytes::Reader;
use serde::Serialize;

use super::error::DecodeError;
use super::registry::registry;

pub const ENCODING: usize = 0;
pub const DATA: usize = 1;

registry! {
    /// Certificate Encoding (RFC 7296, 3.6).
    CertificateEncoding(u8) {
        X509_CERTIFICATE_SIGNATURE = 4,
        CERTIFICATE_REVOCATION_LIST = 7,
        RAW_RSA_KEY = 11,
        HASH_AND_URL_X509_CERTIFICATE = 12,
        HASH_AND_URL_X509_BUNDLE = 13,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certificate {
    pub encoding: CertificateEncoding,
    /// The certificate (CERT), or the concatenated SHA-1 hashes of the
    /// trusted CAs' public keys (CERTREQ).
    #[serde(serialize_with = "holo_utils::hex::serialize")]
    pub data: Vec<u8>,
}

impl Certificate {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Certificate {
            encoding: CertificateEncoding(r.u8("certificate encoding")?),
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.encoding.0);
        buf.extend_from_slice(&self.data);
    }
}
