//! Per-instance counters, for `show crypto ikev2 stats` and for tests.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub packets_in: u64,
    pub packets_out: u64,
    /// Undecodable, oversized, or garbage inside a decrypted message.
    pub malformed: u64,
    /// Messages for IKE SAs we do not have (stale, or forged).
    pub unknown_spi: u64,
    /// Encrypted payloads whose ICV did not verify.
    pub integrity_failures: u64,
    /// Requests with a message ID outside the window, responses to
    /// nothing we asked.
    pub invalid_message_id: u64,
    /// Authentication failures, ours and the peer's verdicts.
    pub auth_failures: u64,
    /// IKE or ESP proposals that had nothing in common (either side).
    pub no_proposal: u64,
    pub invalid_ke: u64,
    pub ts_unacceptable: u64,
    /// IKE_SA_INIT requests dropped at `max_half_open`.
    pub half_open_dropped: u64,
    pub half_open_expired: u64,
    /// Our requests sent again after a timeout.
    pub retransmissions: u64,
    /// Retransmitted requests answered from the response cache.
    pub responses_resent: u64,
    pub ike_sas_established: u64,
    pub child_sas_installed: u64,
    pub dead_peers: u64,
    pub deletes_received: u64,
    /// Child SAs and IKE SAs replaced by CREATE_CHILD_SA (either side).
    pub child_sas_rekeyed: u64,
    pub ike_sas_rekeyed: u64,
    /// Rekeys that failed (the peer refused, or the answer was bad).
    pub rekeys_failed: u64,
    /// Both sides rekeyed the same SA at once (RFC 7296, 2.8.1).
    pub rekey_collisions: u64,
    /// Redundant SAs of such collisions that we made and deleted, and
    /// redundant IKE SAs of simultaneous initiations we made and deleted
    /// ([`super::simultaneous`]).
    pub redundant_sas_deleted: u64,
    /// TEMPORARY_FAILURE answers we sent (RFC 7296, 2.25).
    pub temporary_failures: u64,
    /// IKE_SA_INIT requests answered with a COOKIE (RFC 7296, 2.6), and
    /// those whose cookie was wrong or stale.
    pub cookies_sent: u64,
    pub cookies_rejected: u64,
    /// NAT-keepalives sent (RFC 3948, 2.3).
    pub nat_keepalives_sent: u64,
}
