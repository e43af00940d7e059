//! What the integration tests of holo-dmvpn, dmvpnd and dmvpn-tests share,
//! kept once here: network namespaces and the `ip` commands that fill them
//! ([`netns`]), the hub-and-spokes topology on an underlay bridge and its
//! addressing plan ([`topology`]), ICMP echo sent from inside a namespace
//! ([`ping`]) and the GRE header the tunnels send ([`gre`]).
//!
//! Test code: a failure panics with what went wrong, which is the test's
//! failure report. The namespace helpers need root.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

pub mod gre;
pub mod netns;
pub mod ping;
pub mod topology;

/// Polls `cond` every 50 ms for at most `limit`; whether it held.
pub fn poll(limit: Duration, cond: impl FnMut() -> bool) -> bool {
    poll_every(Duration::from_millis(50), limit, cond)
}

/// Polls `cond` every `interval` for at most `limit`; whether it held.
pub fn poll_every(interval: Duration, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(interval);
    }
}
