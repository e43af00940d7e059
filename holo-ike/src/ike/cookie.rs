//! Cookies (RFC 7296, 2.6): when too many IKE SAs are half-open, the
//! responder answers IKE_SA_INIT without keeping any state, with a COOKIE
//! the initiator must send back first in its retried request. Only an
//! initiator that receives at its address can do that, so a flood from
//! spoofed addresses no longer makes us keep state or compute DH.
//!
//! Cookie = VersionIDofSecret | HMAC-SHA256(secret, Ni | IPi | SPIi). The
//! secret changes every [`ROTATION`]; cookies of the previous one are
//! still accepted, so a retry crossing the change gets through.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ring::hmac;

use super::Ike;
use super::identity::auth_matches;
use crate::packet::{NotifyType, Payload, PayloadBody};

/// How long one secret makes cookies.
pub const ROTATION: Duration = Duration::from_secs(120);
/// COOKIE answers one IKE_SA_INIT of ours follows.
pub const MAX_COOKIE_RETRIES: u8 = 2;
/// RFC 7296, 3.10.1: 1 to 64 octets.
const COOKIE_LEN: std::ops::RangeInclusive<usize> = 1..=64;

#[derive(Clone)]
struct Secret {
    version: u8,
    key: hmac::Key,
}

/// The current secret (and since when), and the one before it.
#[derive(Clone, Default)]
pub struct Secrets {
    current: Option<(Secret, Instant)>,
    previous: Option<Secret>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

fn cookie(secret: &Secret, nonce_i: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(&secret.key);
    ctx.update(nonce_i);
    match ip {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&spi_i.to_be_bytes());
    let mut out = vec![secret.version];
    out.extend_from_slice(ctx.sign().as_ref());
    out
}

/// The COOKIE of an IKE_SA_INIT message: in a request it must come
/// first (RFC 7296, 2.6), a response has it alone.
pub fn first_cookie(payloads: &[Payload]) -> Option<&[u8]> {
    match &payloads.first()?.body {
        PayloadBody::Notify(n) if n.notify_type == NotifyType::COOKIE => Some(&n.data),
        _ => None,
    }
}

/// A cookie we can send back.
pub fn acceptable(cookie: &[u8]) -> bool {
    COOKIE_LEN.contains(&cookie.len())
}

impl Ike {
    /// The secret in use at `now`, made or rotated as needed.
    fn cookie_secret(&mut self, now: Instant) -> Option<Secret> {
        let stale = self
            .cookies
            .current
            .as_ref()
            .is_none_or(|(_, since)| now >= *since + ROTATION);
        if stale {
            let bytes = self.random_bytes(32)?;
            let version = self
                .cookies
                .current
                .as_ref()
                .map_or(0, |(s, _)| s.version.wrapping_add(1));
            let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
            let old = self.cookies.current.replace((Secret { version, key }, now));
            self.cookies.previous = old.map(|(s, _)| s);
        }
        self.cookies.current.as_ref().map(|(s, _)| s.clone())
    }

    /// The cookie the initiator at `ip` must send back.
    pub(super) fn make_cookie(
        &mut self,
        nonce_i: &[u8],
        ip: IpAddr,
        spi_i: u64,
        now: Instant,
    ) -> Option<Vec<u8>> {
        let secret = self.cookie_secret(now)?;
        Some(cookie(&secret, nonce_i, ip, spi_i))
    }

    /// Whether `received` is a cookie we made for this initiator, with the
    /// current or the previous secret.
    pub(super) fn cookie_valid(
        &mut self,
        received: &[u8],
        nonce_i: &[u8],
        ip: IpAddr,
        spi_i: u64,
        now: Instant,
    ) -> bool {
        let current = self.cookie_secret(now);
        let Some(version) = received.first() else {
            return false;
        };
        let secret = current
            .into_iter()
            .chain(self.cookies.previous.clone())
            .find(|s| s.version == *version);
        secret.is_some_and(|s| auth_matches(&cookie(&s, nonce_i, ip, spi_i), received))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::Config;

    #[test]
    fn cookie_is_bound_to_the_initiator_and_survives_one_rotation() {
        let mut ike = Ike::new(Config::cisco_defaults());
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let ni = [7u8; 32];
        let c = ike.make_cookie(&ni, ip, 42, t0).expect("cookie");
        assert!(acceptable(&c));
        assert!(ike.cookie_valid(&c, &ni, ip, 42, t0));
        assert!(!ike.cookie_valid(&c, &ni, other, 42, t0));
        assert!(!ike.cookie_valid(&c, &ni, ip, 43, t0));
        assert!(!ike.cookie_valid(&c, &[8u8; 32], ip, 42, t0));
        // One rotation later: still good; two: gone.
        assert!(ike.cookie_valid(&c, &ni, ip, 42, t0 + ROTATION));
        assert!(!ike.cookie_valid(&c, &ni, ip, 42, t0 + ROTATION * 2));
    }
}
