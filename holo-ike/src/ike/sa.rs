//! One IKE SA: its state, keys, child SAs and the protection of its
//! messages (the Encrypted payload, RFC 7296, 3.14).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use holo_utils::bytes::Reader;
use ring::rand::SecureRandom;
use serde::Serialize;

use super::cert_auth::Credentials;
use super::certificates::{CaKeyHash, SignatureHash};
use super::config::{Config, EspProposal, IkeProposal};
use super::error::Error;
use super::fragmentation::Reassembly;
use super::identity::Identity;
use super::io::ChildSa;
use super::nat::NatState;
use super::retransmission::Window;
use super::traffic_selectors::Endpoint;
use super::usage::{Limits, Used};
use crate::crypto::{DhGroup, DiffieHellman, IkeSaKeys, PrfAlgorithm, SkCipher};
use crate::packet::payload::{decode_chain, encode_chain};
use crate::packet::{
    Encrypted, ExchangeType, Flags, HeaderView, Message, Payload, PayloadBody, PayloadType, header,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Initiator,
    Responder,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    /// Responder: IKE_SA_INIT answered, IKE_AUTH awaited (half-open).
    AwaitingAuth,
    Established,
    /// Our Delete is on its way; the child SAs are already gone.
    Deleting,
}

/// The negotiated keys of an established (or authenticating) IKE SA.
#[derive(Debug)]
pub struct Keys {
    pub prf: PrfAlgorithm,
    pub sk: IkeSaKeys,
    /// Protects what we send, `rx` what we receive.
    pub tx: SkCipher,
    pub rx: SkCipher,
}

/// What the initiator of a child SA asked for (IKE_AUTH or
/// CREATE_CHILD_SA), to check the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildOffer {
    pub inbound_spi: u32,
    pub ts_local: Endpoint,
    pub ts_remote: Endpoint,
}

#[derive(Clone, Debug)]
pub struct ChildState {
    pub sa: ChildSa,
    pub proposal: EspProposal,
    pub created: Instant,
    /// Soft lifetime: when we rekey it; None while a rekey of ours is on
    /// its way, or once it is replaced.
    pub rekey_at: Option<Instant>,
    /// Replaced by a rekey: it stays in the data plane until then, for the
    /// packets still on their way (make before break), and is deleted.
    pub retire_at: Option<Instant>,
    /// Byte and sequence number limits: rekeyed at `soft`, deleted at
    /// `hard`, against what the data plane reported (`used`).
    pub soft: Limits,
    pub hard: Limits,
    pub used: Used,
    /// We initiated the exchange that made it (our soft limits come
    /// first, [`super::rekey`]).
    pub initiated: bool,
}

impl ChildState {
    /// Still the one in use (not replaced by a rekey).
    pub fn is_current(&self) -> bool {
        self.retire_at.is_none()
    }
}

/// What our CREATE_CHILD_SA request in flight makes (RFC 7296, 1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Creating {
    /// A child SA with our `inbound_spi`, replacing the child SA whose
    /// inbound SPI is `rekeys` (None: a new one).
    Child {
        rekeys: Option<u32>,
        offer: ChildOffer,
    },
    /// A new IKE SA with our SPI `spi` (RFC 7296, 1.3.2).
    Ike { spi: u64 },
}

/// Our CREATE_CHILD_SA exchange in flight: what its answer needs.
#[derive(Debug)]
pub struct PendingCreate {
    pub creating: Creating,
    pub nonce: Vec<u8>,
    /// Our DH half when the exchange has a KE payload (IKE SA rekey, PFS).
    pub dh: Option<DiffieHellman>,
    /// The peer rekeyed the same SA meanwhile (RFC 7296, 2.8.1).
    pub collision: Option<Collision>,
}

/// The peer's rekey of the SA we are rekeying: which of the two new SAs
/// is redundant depends on the nonces of both exchanges.
#[derive(Clone, Debug)]
pub struct Collision {
    /// The lower nonce of the peer's exchange.
    pub lowest_nonce: Vec<u8>,
    /// What the peer's exchange made: our inbound SPI of the child SA, or
    /// our SPI of the IKE SA.
    pub made: Made,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Made {
    Child(u32),
    Ike(u64),
}

#[derive(Debug)]
pub struct IkeSa {
    /// The configuration at creation: later changes do not touch this SA.
    pub config: Arc<Config>,
    pub role: Role,
    pub state: State,
    pub spi_i: u64,
    pub spi_r: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The peer as the data plane knows it (its NBMA address).
    pub peer: IpAddr,
    pub created: Instant,
    pub established: Option<Instant>,
    /// Last authenticated message from the peer (for DPD).
    pub last_heard: Instant,
    /// Last IKE message of this SA or ESP packet of its child SAs sent to
    /// the peer, as far as we know (for NAT-keepalives).
    pub last_sent: Instant,
    pub proposal: Option<IkeProposal>,
    /// Initiator: the DH group of our KE payload.
    pub ke_group: DhGroup,
    /// Initiator: our DH half until the response comes.
    pub dh: Option<DiffieHellman>,
    pub nonce_i: Vec<u8>,
    pub nonce_r: Vec<u8>,
    /// The IKE_SA_INIT request and response as on the wire: what AUTH
    /// signs (RFC 7296, 2.15).
    pub init_request: Vec<u8>,
    pub init_response: Vec<u8>,
    pub keys: Option<Keys>,
    pub nat: NatState,
    pub local_id: Identity,
    pub remote_id: Option<Identity>,
    pub children: Vec<ChildState>,
    pub offer: Option<ChildOffer>,
    pub window: Window,
    /// Initiator: the IKE SA this one replaces (deleted once we are up).
    pub replaces: Option<u64>,
    /// A replacement for this SA is on its way.
    pub replacing: bool,
    /// INVALID_KE_PAYLOAD retries so far.
    pub ke_retries: u8,
    /// Initiator: the responder's COOKIE (RFC 7296, 2.6), sent first in
    /// our IKE_SA_INIT, and how many we followed.
    pub cookie: Option<Vec<u8>>,
    pub cookie_retries: u8,
    /// Soft lifetime of the IKE SA: when we rekey it.
    pub rekey_at: Option<Instant>,
    /// Our CREATE_CHILD_SA in flight.
    pub pending: Option<PendingCreate>,
    /// Rekeyed into this IKE SA (our SPI): no new exchanges here, the
    /// child SAs live there; the old SA waits for its Delete.
    pub rekeyed_to: Option<u64>,
    /// Replaced (rekeyed or re-established): deleted at this time if the
    /// peer has not deleted it before.
    pub retire_at: Option<Instant>,
    /// Child SAs we deleted whose Delete is not answered yet: (our
    /// inbound SPI, our outbound SPI), for a rekey request crossing it.
    pub closing: Vec<(u32, u32)>,
    /// Our certificates and CAs, loaded for `config` (None: PSK, or the
    /// files did not load).
    pub credentials: Option<Arc<Credentials>>,
    /// The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427, 4); None: not sent.
    pub peer_hashes: Option<Vec<SignatureHash>>,
    /// Initiator: the CAs the responder's CERTREQ asked for.
    pub peer_cas: Vec<CaKeyHash>,
    /// Both sides announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383, 2.3);
    /// a rekeyed IKE SA inherits it.
    pub fragmentation: bool,
    /// Fragmented messages being put back together.
    pub reassembly: Reassembly,
    /// Initiator: we refused the responder's AUTH; our Delete says so.
    pub auth_refused: bool,
}

/// Why a received encrypted message is not usable.
#[derive(Debug)]
pub enum OpenError {
    /// Forged, corrupted or not for these keys: drop silently.
    Integrity(Error),
    /// Authentic, but what is inside does not parse: answer INVALID_SYNTAX.
    Syntax(Error),
}

impl IkeSa {
    /// A new IKE SA, not yet negotiated.
    pub fn new(
        config: Arc<Config>,
        role: Role,
        state: State,
        (local, remote): (SocketAddr, SocketAddr),
        local_id: Identity,
        now: Instant,
    ) -> IkeSa {
        IkeSa {
            role,
            state,
            spi_i: 0,
            spi_r: 0,
            local,
            remote,
            peer: remote.ip(),
            created: now,
            established: None,
            last_heard: now,
            last_sent: now,
            proposal: None,
            ke_group: config
                .ike_proposals
                .first()
                .map_or(DhGroup::Curve25519, |p| p.dh),
            dh: None,
            nonce_i: vec![],
            nonce_r: vec![],
            init_request: vec![],
            init_response: vec![],
            keys: None,
            nat: NatState::default(),
            local_id,
            remote_id: None,
            children: vec![],
            offer: None,
            window: Window::default(),
            replaces: None,
            replacing: false,
            ke_retries: 0,
            cookie: None,
            cookie_retries: 0,
            rekey_at: None,
            pending: None,
            rekeyed_to: None,
            retire_at: None,
            closing: vec![],
            credentials: None,
            peer_hashes: None,
            peer_cas: vec![],
            fragmentation: false,
            reassembly: Reassembly::default(),
            auth_refused: false,
            config,
        }
    }

    /// Up, and still the one in use: it may start exchanges.
    pub fn is_current(&self) -> bool {
        self.is_established() && self.rekeyed_to.is_none() && self.retire_at.is_none()
    }

    /// Our SPI: the key of this SA in the instance's table.
    pub fn local_spi(&self) -> u64 {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }

    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Encrypts `payloads` into a message of this SA.
    pub fn seal(
        &self,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
        payloads: &[Payload],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, Error> {
        let remote = self.remote;
        let mut plain = Vec::with_capacity(512);
        let first_payload =
            encode_chain(payloads, &mut plain).map_err(|error| Error::Encode { remote, error })?;
        self.seal_chain(
            exchange_type,
            response,
            message_id,
            first_payload,
            &plain,
            rng,
        )
    }

    /// Encrypts an encoded payload chain whose first payload is of type
    /// `first_payload`.
    pub fn seal_chain(
        &self,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
        first_payload: PayloadType,
        plain: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, Error> {
        self.seal_one((exchange_type, response, message_id), plain, rng, |len| {
            PayloadBody::Encrypted(Encrypted {
                first_payload,
                data: vec![0; len],
            })
        })
    }

    /// A message of this SA (our SPIs, the initiator flag of our role, the
    /// response flag) whose one payload, made by `payload` with a
    /// placeholder of the encrypted length, carries `plain` encrypted: the
    /// ICV covers everything before the IV (RFC 7296, 3.14; RFC 7383, 2.5
    /// for SKF, whose fragment numbers come before it).
    pub(crate) fn seal_one(
        &self,
        (exchange_type, response, message_id): (ExchangeType, bool, u32),
        plain: &[u8],
        rng: &dyn SecureRandom,
        payload: impl FnOnce(usize) -> PayloadBody,
    ) -> Result<Vec<u8>, Error> {
        let remote = self.remote;
        let Some(keys) = &self.keys else {
            return Err(Error::Unexpected {
                remote,
                exchange: exchange_type,
                reason: "no keys yet",
            });
        };
        let body_len = keys.tx.encrypted_len(plain.len());
        let mut flags = 0;
        if self.role == Role::Initiator {
            flags |= Flags::INITIATOR;
        }
        if response {
            flags |= Flags::RESPONSE;
        }
        let message = Message {
            spi_initiator: self.spi_i,
            spi_responder: self.spi_r,
            major_version: header::MAJOR_VERSION,
            minor_version: 0,
            exchange_type,
            flags: Flags(flags),
            message_id,
            payloads: vec![Payload::new(payload(body_len))],
        };
        let mut bytes = message
            .emit()
            .map_err(|error| Error::Encode { remote, error })?;
        let split = bytes.len() - body_len;
        let body = keys
            .tx
            .seal(&bytes[..split], plain, rng)
            .map_err(|error| Error::Crypto { remote, error })?;
        bytes.truncate(split);
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    /// Checks and decrypts the SK payload of `message` (parsed from
    /// `bytes`, which came from `remote`); returns the inner payloads.
    pub fn open(
        &self,
        bytes: &[u8],
        message: &Message,
        remote: SocketAddr,
    ) -> Result<Vec<Payload>, OpenError> {
        let exchange = message.exchange_type;
        let unexpected = |reason| {
            OpenError::Integrity(Error::Unexpected {
                remote,
                exchange,
                reason,
            })
        };
        let Some(keys) = &self.keys else {
            return Err(unexpected("no keys yet"));
        };
        let sk = match message.payloads.last().map(|p| &p.body) {
            Some(PayloadBody::Encrypted(sk)) => sk,
            Some(PayloadBody::EncryptedFragment(_)) => {
                return Err(unexpected("a fragment (see Ike::open_message)"));
            }
            _ => return Err(unexpected("no Encrypted payload")),
        };
        // Parsing checked that Length fits `bytes`; SK is the last payload.
        let length = HeaderView::new(bytes).map_or(0, |h| h.length() as usize);
        let Some(associated) = length
            .checked_sub(sk.data.len())
            .and_then(|end| bytes.get(..end))
        else {
            return Err(unexpected("inconsistent length"));
        };
        let plain = keys
            .rx
            .open(associated, &sk.data)
            .map_err(|error| OpenError::Integrity(Error::Integrity { remote, error }))?;
        let mut r = Reader::new(&plain);
        decode_chain(sk.first_payload, &mut r).map_err(|error| {
            OpenError::Syntax(Error::InvalidSyntax {
                remote,
                exchange,
                reason: error.to_string(),
            })
        })
    }
}
