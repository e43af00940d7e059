//! NAT-keepalives (RFC 3948, 2.3): a NAT keeps our mapping only while
//! packets use it, and once it is gone the peer can no longer reach us
//! (its rekeys, its DPD, its ESP).
//!
//! An IKE SA whose NAT detection found our own address translated sends
//! the peer a NAT-keepalive, [`Output::NatKeepalive`], after
//! `nat_keepalive` without sending it anything: no IKE message of the SA,
//! no ESP on its child SAs as far as the data plane's usage reports tell
//! ([`super::usage`]; without them, ESP does not count and a keepalive
//! goes every interval unless IKE spoke). Only the side behind the NAT
//! sends them: a peer's NAT is the peer's to keep open, and
//! `force_encap` without a real NAT has no mapping to keep.

use std::time::Instant;

use super::Ike;
use super::io::Output;
use super::sa::IkeSa;

/// When `sa` sends its next NAT-keepalive, if it sends any.
pub fn keepalive_at(sa: &IkeSa) -> Option<Instant> {
    let interval = sa.config.nat_keepalive.filter(|d| !d.is_zero())?;
    (sa.nat.local_behind && sa.is_current()).then(|| sa.last_sent + interval)
}

impl Ike {
    /// A NAT-keepalive on `sa`, if one is due.
    pub(super) fn keepalive(&mut self, sa: &mut IkeSa, now: Instant, out: &mut Vec<Output>) {
        if keepalive_at(sa).is_some_and(|t| now >= t) {
            self.counters.nat_keepalives_sent += 1;
            sa.last_sent = now;
            out.push(Output::NatKeepalive {
                local: sa.local,
                remote: sa.remote,
            });
        }
    }
}
