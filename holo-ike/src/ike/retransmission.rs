//! Our outstanding request and its retransmissions (RFC 7296, 2.1), and
//! the responder's cache of its last response (2.1, 2.2).
//!
//! The window is one message each way: we send our next request only
//! after the response to the previous one; what we want to say meanwhile
//! waits in a queue.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::config::Retransmit;
use crate::packet::ExchangeType;

/// What a request of ours is for, to know what to do with its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Init,
    Auth,
    /// An empty INFORMATIONAL: a liveness check (dead peer detection).
    Dpd,
    DeleteIke,
    /// Delete of child SAs; our inbound SPIs.
    DeleteChild(Vec<u32>),
    /// CREATE_CHILD_SA for a new child SA.
    CreateChild,
    /// CREATE_CHILD_SA rekeying the child SA with this inbound SPI of ours.
    RekeyChild(u32),
    /// CREATE_CHILD_SA rekeying the IKE SA.
    RekeyIke,
}

impl RequestKind {
    pub fn exchange(&self) -> ExchangeType {
        match self {
            RequestKind::Init => ExchangeType::IKE_SA_INIT,
            RequestKind::Auth => ExchangeType::IKE_AUTH,
            RequestKind::CreateChild | RequestKind::RekeyChild(_) | RequestKind::RekeyIke => {
                ExchangeType::CREATE_CHILD_SA
            }
            _ => ExchangeType::INFORMATIONAL,
        }
    }
}

#[derive(Debug)]
pub struct Request {
    pub message_id: u32,
    pub kind: RequestKind,
    /// The message as sent: one datagram, or its fragments (RFC 7383,
    /// 2.6: a retransmission resends them all).
    pub datagrams: Vec<Vec<u8>>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Transmissions so far.
    pub sent: u32,
    /// When to send again or give up.
    pub deadline: Instant,
}

/// What a timeout leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    Resend,
    GiveUp,
}

impl Request {
    pub fn new(
        message_id: u32,
        kind: RequestKind,
        datagrams: Vec<Vec<u8>>,
        (local, remote): (SocketAddr, SocketAddr),
        policy: &Retransmit,
        now: Instant,
    ) -> Request {
        Request {
            message_id,
            kind,
            datagrams,
            local,
            remote,
            sent: 1,
            deadline: now + policy.initial,
        }
    }

    /// Called at `deadline`: 0.5 s, 1 s, 2 s... after each transmission,
    /// and after the last wait the peer is given up.
    pub fn timeout(&mut self, policy: &Retransmit, now: Instant) -> Timeout {
        if self.sent >= policy.tries.max(1) {
            return Timeout::GiveUp;
        }
        let factor = 1u32 << self.sent.min(16);
        self.sent += 1;
        self.deadline = now + policy.initial * factor;
        Timeout::Resend
    }
}

/// Message IDs and the window of one IKE SA.
#[derive(Debug, Default)]
pub struct Window {
    /// The ID of our next request.
    pub next_request_id: u32,
    pub outstanding: Option<Request>,
    pub queue: VecDeque<RequestKind>,
    /// The ID of the peer's next request.
    pub expected_request_id: u32,
    /// Our last response (message ID, its datagrams): a retransmitted
    /// request gets it again without being processed.
    pub last_response: Option<(u32, Vec<Vec<u8>>)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_then_gives_up() {
        let policy = Retransmit::default();
        let t0 = Instant::now();
        let a: SocketAddr = "192.0.2.1:500".parse().expect("addr");
        let mut r = Request::new(0, RequestKind::Dpd, vec![], (a, a), &policy, t0);
        let mut now = t0;
        let mut waits = vec![];
        loop {
            let wait = r.deadline - now;
            now = r.deadline;
            waits.push(wait);
            if r.timeout(&policy, now) == Timeout::GiveUp {
                break;
            }
        }
        let ms = |v| Duration::from_millis(v);
        assert_eq!(waits, [ms(500), ms(1000), ms(2000), ms(4000), ms(8000)]);
        assert_eq!(r.sent, 5);
    }
}
