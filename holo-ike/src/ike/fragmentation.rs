//! IKE fragmentation (RFC 7383): large encrypted messages (IKE_AUTH with
//! certificates, mostly) go as Encrypted Fragment payloads, each
//! fragment encrypted and authenticated on its own, so that no IP
//! fragment is needed on the path.
//!
//! ```text
//! IKE_SA_INIT, both sides: N(IKEV2_FRAGMENTATION_SUPPORTED)
//! then, a message too large:  HDR, SKF{1/n, Next Payload = first inner} ...
//!                             HDR, SKF{n/n, Next Payload = 0}
//! ```
//! Receiving: each fragment is checked (ICV) before it is kept; the
//! message is processed once all are there. Memory is bounded: at most
//! [`MAX_FRAGMENTS`] fragments per message and [`MAX_REASSEMBLY_BYTES`]
//! per IKE SA, one message per direction.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use holo_utils::bytes::Reader;
use ring::rand::SecureRandom;

use super::Ike;
use super::config::Config;
use super::error::Error;
use super::init::notify;
use super::io::Output;
use super::sa::{IkeSa, OpenError};
use crate::packet::payload::{decode_chain, encode_chain};
use crate::packet::udp_encap::{NAT_T_PORT, NON_ESP_MARKER};
use crate::packet::{
    EncryptedFragment, ExchangeType, HeaderView, Message, NotifyType, Payload, PayloadBody,
    PayloadType, header,
};

/// Fragments of one message we hold at most (a 64 KiB message in
/// 1280-octet datagrams is about 55).
pub const MAX_FRAGMENTS: u16 = 64;
/// Octets of decrypted fragments one IKE SA holds at most.
pub const MAX_REASSEMBLY_BYTES: usize = 64 * 1024;
/// IPv4 and IPv6 headers (without options), UDP header.
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
/// The IKE header, the SKF generic header, Fragment Number and Total
/// Fragments.
const FRAGMENT_OVERHEAD: usize = header::LEN + 4 + 4;
/// Below this, a configured fragment size is taken as this: a fragment
/// must still carry some data after its headers, IV and ICV.
const MIN_MESSAGE: usize = 256;

/// IKE_SA_INIT: our N(IKEV2_FRAGMENTATION_SUPPORTED) (RFC 7383, 2.3).
pub fn init_payloads(config: &Config) -> Vec<Payload> {
    if config.fragmentation {
        vec![notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, vec![])]
    } else {
        vec![]
    }
}

/// IKE_SA_INIT of the peer: fragmentation is on when both announce it.
pub fn note_init(sa: &mut IkeSa, payloads: &[Payload]) {
    let announced = payloads.iter().any(|p| {
        matches!(&p.body, PayloadBody::Notify(n)
            if n.notify_type == NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
    });
    sa.fragmentation = sa.config.fragmentation && announced;
}

/// The largest IKE message we send whole to `remote` (RFC 7383, 2.5.1):
/// the fragment size less the IP and UDP headers and, on port 4500, the
/// non-ESP marker.
pub fn max_message_len(config: &Config, remote: SocketAddr) -> usize {
    let ip = match remote.ip() {
        IpAddr::V4(_) => IPV4_HEADER,
        IpAddr::V6(_) => IPV6_HEADER,
    };
    let marker = if remote.port() == NAT_T_PORT {
        NON_ESP_MARKER.len()
    } else {
        0
    };
    config
        .fragment_size
        .saturating_sub(ip + UDP_HEADER + marker)
        .max(MIN_MESSAGE)
}

/// A message being put back together.
#[derive(Debug)]
struct Partial {
    message_id: u32,
    total: u16,
    /// Fragment 1's Next Payload: the first payload inside.
    first_payload: PayloadType,
    /// Decrypted fragments by number.
    fragments: BTreeMap<u16, Vec<u8>>,
}

impl Partial {
    fn bytes(&self) -> usize {
        self.fragments.values().map(Vec::len).sum()
    }
}

/// The fragmented messages of one IKE SA in reassembly: the peer's
/// request and the response to ours.
#[derive(Debug, Default)]
pub struct Reassembly {
    request: Option<Partial>,
    response: Option<Partial>,
}

/// What became of an authentic fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Kept; more are missing.
    Kept,
    /// We have it already (a retransmission).
    Duplicate,
    /// Not kept, and why.
    Ignored(&'static str),
    /// The last one: the first inner payload's type and the whole chain.
    Complete(PayloadType, Vec<u8>),
}

impl Reassembly {
    /// Octets held.
    pub fn bytes(&self) -> usize {
        [&self.request, &self.response]
            .into_iter()
            .flatten()
            .map(Partial::bytes)
            .sum()
    }

    /// An authentic fragment of message `message_id` (a response or a
    /// request) whose decrypted content is `data`.
    pub fn add(
        &mut self,
        response: bool,
        message_id: u32,
        fragment: &EncryptedFragment,
        data: Vec<u8>,
    ) -> Added {
        let (number, total) = (fragment.fragment_number, fragment.total_fragments);
        if !numbers_valid(number, total) {
            return Added::Ignored("bad fragment numbers");
        }
        let held_elsewhere = if response {
            self.request.as_ref().map_or(0, Partial::bytes)
        } else {
            self.response.as_ref().map_or(0, Partial::bytes)
        };
        let slot = if response {
            &mut self.response
        } else {
            &mut self.request
        };
        // RFC 7383, 2.6: another message ID makes the incomplete one
        // stale; more fragments than before means the sender started over
        // with smaller ones, fewer means this one is a leftover.
        match slot {
            Some(p) if p.message_id != message_id || total > p.total => *slot = None,
            Some(p) if total < p.total => return Added::Ignored("fewer fragments than before"),
            _ => {}
        }
        if slot
            .as_ref()
            .is_some_and(|p| p.fragments.contains_key(&number))
        {
            return Added::Duplicate;
        }
        let held = held_elsewhere + slot.as_ref().map_or(0, Partial::bytes);
        if held + data.len() > MAX_REASSEMBLY_BYTES {
            return Added::Ignored("reassembly memory limit");
        }
        let partial = slot.get_or_insert_with(|| Partial {
            message_id,
            total,
            first_payload: PayloadType::NO_NEXT_PAYLOAD,
            fragments: BTreeMap::new(),
        });
        if number == 1 {
            partial.first_payload = fragment.first_payload;
        }
        partial.fragments.insert(number, data);
        if partial.fragments.len() < usize::from(total) {
            return Added::Kept;
        }
        let Some(done) = slot.take() else {
            return Added::Kept;
        };
        Added::Complete(
            done.first_payload,
            done.fragments.into_values().flatten().collect(),
        )
    }
}

/// RFC 7383, 2.5: numbers from 1 to Total Fragments; we take at most
/// [`MAX_FRAGMENTS`].
fn numbers_valid(number: u16, total: u16) -> bool {
    number >= 1 && number <= total && total <= MAX_FRAGMENTS
}

/// The Fragment Number of a message that is a fragment.
pub fn fragment_number(message: &Message) -> Option<u16> {
    match message.payloads.last().map(|p| &p.body) {
        Some(PayloadBody::EncryptedFragment(f)) => Some(f.fragment_number),
        _ => None,
    }
}

impl IkeSa {
    /// Encrypts `payloads` into one message or, when it would be too
    /// large and both sides support it, into fragments (RFC 7383, 2.5).
    pub fn seal_message(
        &self,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
        payloads: &[Payload],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let remote = self.remote;
        let mut plain = Vec::with_capacity(512);
        let first_payload =
            encode_chain(payloads, &mut plain).map_err(|error| Error::Encode { remote, error })?;
        let whole = self.seal_chain(
            exchange_type,
            response,
            message_id,
            first_payload,
            &plain,
            rng,
        )?;
        let max = max_message_len(&self.config, remote);
        let Some(keys) = self
            .keys
            .as_ref()
            .filter(|_| self.fragmentation && whole.len() > max)
        else {
            return Ok(vec![whole]);
        };
        // The largest chunk whose fragment fits.
        let mut chunk = max.saturating_sub(FRAGMENT_OVERHEAD);
        while chunk > 1 && FRAGMENT_OVERHEAD + keys.tx.encrypted_len(chunk) > max {
            chunk -= 1;
        }
        let chunks: Vec<&[u8]> = plain.chunks(chunk.max(1)).collect();
        let total = u16::try_from(chunks.len()).map_err(|_| Error::Unexpected {
            remote,
            exchange: exchange_type,
            reason: "message too large for 65535 fragments",
        })?;
        let header = (exchange_type, response, message_id);
        chunks
            .iter()
            .zip(1..)
            .map(|(data, number)| {
                // RFC 7383, 2.5: only fragment 1 names the first payload.
                let first = if number == 1 {
                    first_payload
                } else {
                    PayloadType::NO_NEXT_PAYLOAD
                };
                self.seal_fragment(header, (number, total), first, data, rng)
            })
            .collect()
    }

    fn seal_fragment(
        &self,
        header: (ExchangeType, bool, u32),
        (fragment_number, total_fragments): (u16, u16),
        first_payload: PayloadType,
        plain: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, Error> {
        self.seal_one(header, plain, rng, |len| {
            PayloadBody::EncryptedFragment(EncryptedFragment {
                first_payload,
                fragment_number,
                total_fragments,
                data: vec![0; len],
            })
        })
    }

    /// Checks and decrypts one fragment of `message` (parsed from
    /// `bytes`).
    fn open_fragment(
        &self,
        bytes: &[u8],
        message: &Message,
        fragment: &EncryptedFragment,
        remote: SocketAddr,
    ) -> Result<Vec<u8>, OpenError> {
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
        let length = HeaderView::new(bytes).map_or(0, |h| h.length() as usize);
        let Some(associated) = length
            .checked_sub(fragment.data.len())
            .and_then(|end| bytes.get(..end))
        else {
            return Err(unexpected("inconsistent length"));
        };
        keys.rx
            .open(associated, &fragment.data)
            .map_err(|error| OpenError::Integrity(Error::Integrity { remote, error }))
    }
}

impl Ike {
    /// The payloads of an encrypted message, or of a fragmented one once
    /// its last fragment is here (None until then).
    pub(super) fn open_message(
        &mut self,
        sa: &mut IkeSa,
        bytes: &[u8],
        message: &Message,
        remote: SocketAddr,
        out: &mut Vec<Output>,
    ) -> Result<Option<Vec<Payload>>, OpenError> {
        let Some(PayloadBody::EncryptedFragment(fragment)) =
            message.payloads.last().map(|p| &p.body)
        else {
            return sa.open(bytes, message, remote).map(Some);
        };
        let exchange = message.exchange_type;
        let drop = |reason| Error::Unexpected {
            remote,
            exchange,
            reason,
        };
        if !sa.fragmentation {
            self.counters.malformed += 1;
            self.error(
                drop("a fragment, but fragmentation was not negotiated"),
                out,
            );
            return Ok(None);
        }
        if !numbers_valid(fragment.fragment_number, fragment.total_fragments) {
            self.counters.malformed += 1;
            self.error(drop("bad fragment numbers"), out);
            return Ok(None);
        }
        let data = sa.open_fragment(bytes, message, fragment, remote)?;
        let response = message.flags.response();
        match sa
            .reassembly
            .add(response, message.message_id, fragment, data)
        {
            Added::Kept | Added::Duplicate => Ok(None),
            Added::Ignored(reason) => {
                self.counters.malformed += 1;
                self.error(drop(reason), out);
                Ok(None)
            }
            Added::Complete(first_payload, plain) => {
                let mut r = Reader::new(&plain);
                decode_chain(first_payload, &mut r)
                    .map(Some)
                    .map_err(|error| {
                        OpenError::Syntax(Error::InvalidSyntax {
                            remote,
                            exchange,
                            reason: error.to_string(),
                        })
                    })
            }
        }
    }

    /// Sends the datagrams of one message.
    pub(super) fn send_all(
        &mut self,
        (local, remote): (SocketAddr, SocketAddr),
        datagrams: &[Vec<u8>],
        out: &mut Vec<Output>,
    ) {
        for bytes in datagrams {
            self.send(local, remote, bytes.clone(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(number: u16, total: u16) -> EncryptedFragment {
        EncryptedFragment {
            first_payload: if number == 1 {
                PayloadType::IDI
            } else {
                PayloadType::NO_NEXT_PAYLOAD
            },
            fragment_number: number,
            total_fragments: total,
            data: vec![],
        }
    }

    #[test]
    fn reassembly_in_any_order_with_duplicates() {
        let mut r = Reassembly::default();
        assert_eq!(
            r.add(false, 1, &fragment(3, 3), b"cc".to_vec()),
            Added::Kept
        );
        assert_eq!(
            r.add(false, 1, &fragment(1, 3), b"aa".to_vec()),
            Added::Kept
        );
        assert_eq!(
            r.add(false, 1, &fragment(1, 3), b"xx".to_vec()),
            Added::Duplicate
        );
        assert_eq!(r.bytes(), 4);
        assert_eq!(
            r.add(false, 1, &fragment(2, 3), b"bb".to_vec()),
            Added::Complete(PayloadType::IDI, b"aabbcc".to_vec())
        );
        assert_eq!(r.bytes(), 0);
    }

    #[test]
    fn reassembly_new_message_id_or_more_fragments_start_over() {
        let mut r = Reassembly::default();
        assert_eq!(
            r.add(true, 1, &fragment(1, 2), b"old".to_vec()),
            Added::Kept
        );
        // Message 2 makes message 1 stale.
        assert_eq!(
            r.add(true, 2, &fragment(2, 2), b"new".to_vec()),
            Added::Kept
        );
        assert_eq!(r.bytes(), 3);
        assert_eq!(
            r.add(true, 2, &fragment(1, 1), b"x".to_vec()),
            Added::Ignored("fewer fragments than before")
        );
        // Smaller fragments: start over.
        assert_eq!(r.add(true, 2, &fragment(1, 3), b"a".to_vec()), Added::Kept);
        assert_eq!(r.add(true, 2, &fragment(2, 3), b"b".to_vec()), Added::Kept);
        assert_eq!(
            r.add(true, 2, &fragment(3, 3), b"c".to_vec()),
            Added::Complete(PayloadType::IDI, b"abc".to_vec())
        );
        // Requests and responses are apart.
        assert_eq!(r.add(false, 2, &fragment(1, 2), b"q".to_vec()), Added::Kept);
        assert_eq!(r.add(true, 3, &fragment(1, 2), b"r".to_vec()), Added::Kept);
        assert_eq!(r.bytes(), 2);
    }

    #[test]
    fn reassembly_is_bounded() {
        let mut r = Reassembly::default();
        for (number, total) in [(0, 3), (4, 3), (1, MAX_FRAGMENTS + 1)] {
            assert_eq!(
                r.add(false, 1, &fragment(number, total), vec![0; 10]),
                Added::Ignored("bad fragment numbers")
            );
        }
        // A flood of large authentic fragments stops at the byte limit.
        let big = MAX_REASSEMBLY_BYTES / 8;
        let mut kept = 0;
        for number in 1..=MAX_FRAGMENTS {
            match r.add(false, 1, &fragment(number, MAX_FRAGMENTS), vec![0; big]) {
                Added::Kept => kept += 1,
                Added::Ignored(reason) => assert_eq!(reason, "reassembly memory limit"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(kept, 8);
        assert!(r.bytes() <= MAX_REASSEMBLY_BYTES);
        // The response direction shares the budget.
        assert_eq!(
            r.add(true, 5, &fragment(1, 2), vec![0; 1]),
            Added::Ignored("reassembly memory limit")
        );
    }
}
