//! Why a message was dropped or refused, with what a log line needs. The
//! core hands them out as [`Notification::Error`](super::Notification);
//! [`Error::level`] tells the driver how loud to be.

use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use super::certificates::{LoadError, PeerError};
use super::identity::Identity;
use crate::crypto::CryptoError;
use crate::packet::{DecodeError, EncodeError, ExchangeType, NotifyType};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("from {remote}: malformed message: {error}")]
    Decode {
        remote: SocketAddr,
        error: DecodeError,
    },
    #[error("from {remote}: {len}-byte datagram is larger than any IKE message we accept")]
    Oversized { remote: SocketAddr, len: usize },
    #[error("from {remote}: {what} for unknown IKE SA {spi:016x}")]
    UnknownSpi {
        remote: SocketAddr,
        spi: u64,
        what: &'static str,
    },
    #[error("from {remote}: {exchange} unexpected: {reason}")]
    Unexpected {
        remote: SocketAddr,
        exchange: ExchangeType,
        reason: &'static str,
    },
    #[error("from {remote}: message ID {got}, expected {expected}")]
    InvalidMessageId {
        remote: SocketAddr,
        got: u32,
        expected: u32,
    },
    #[error("from {remote}: encrypted payload rejected: {error}")]
    Integrity {
        remote: SocketAddr,
        error: CryptoError,
    },
    #[error("from {remote}: invalid syntax in {exchange}: {reason}")]
    InvalidSyntax {
        remote: SocketAddr,
        exchange: ExchangeType,
        reason: String,
    },
    #[error("from {remote}: no acceptable {what} proposal")]
    NoProposalChosen {
        remote: SocketAddr,
        what: &'static str,
    },
    #[error("from {remote}: KE for DH group {offered}, group {wanted} was chosen")]
    InvalidKe {
        remote: SocketAddr,
        offered: u16,
        wanted: u16,
    },
    #[error("from {remote}: authentication of {} failed: {reason}", display_id(.id))]
    AuthenticationFailed {
        remote: SocketAddr,
        id: Option<Identity>,
        reason: &'static str,
    },
    /// The certificate, key or CA files of the configuration did not load:
    /// IKE_AUTH fails until they do.
    #[error("certificate authentication unusable: {0}")]
    CertificateFiles(LoadError),
    #[error("from {remote}: certificate authentication of {} failed: {error}", display_id(.id))]
    PeerCertificate {
        remote: SocketAddr,
        id: Option<Identity>,
        error: Box<PeerError>,
    },
    #[error("from {remote}: traffic selectors unacceptable")]
    TsUnacceptable { remote: SocketAddr },
    #[error("from {remote}: the peer answered {notify}")]
    Refused {
        remote: SocketAddr,
        notify: NotifyType,
    },
    #[error("from {remote}: half-open IKE SA limit reached, IKE_SA_INIT dropped")]
    HalfOpenLimit { remote: SocketAddr },
    #[error("with {remote}: {error}")]
    Crypto {
        remote: SocketAddr,
        error: CryptoError,
    },
    #[error("to {remote}: cannot encode: {error}")]
    Encode {
        remote: SocketAddr,
        error: EncodeError,
    },
}

fn display_id(id: &Option<Identity>) -> String {
    id.as_ref()
        .map_or("an unknown ID".into(), ToString::to_string)
}

/// How loud a log line should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Noise anyone on the Internet can send (garbage, stale SPIs).
    Debug,
    /// A negotiation that did not work out.
    Info,
    /// Someone needs to look: authentication failed, limits hit, bugs.
    Warn,
}

impl Error {
    pub fn level(&self) -> Level {
        match self {
            Error::Decode { .. }
            | Error::Oversized { .. }
            | Error::UnknownSpi { .. }
            | Error::Unexpected { .. }
            | Error::InvalidMessageId { .. }
            | Error::Integrity { .. } => Level::Debug,
            Error::InvalidSyntax { .. }
            | Error::NoProposalChosen { .. }
            | Error::InvalidKe { .. }
            | Error::TsUnacceptable { .. }
            | Error::Refused { .. }
            | Error::Crypto { .. } => Level::Info,
            Error::AuthenticationFailed { .. }
            | Error::CertificateFiles(_)
            | Error::PeerCertificate { .. }
            | Error::HalfOpenLimit { .. }
            | Error::Encode { .. } => Level::Warn,
        }
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
