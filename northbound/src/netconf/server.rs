//! What every NETCONF session shares: the northbound [`Handle`], the
//! candidate datastore and its lock, the table of sessions (for
//! `<kill-session>`), the confirmed commit a session is waiting to
//! confirm, and the counters.
//!
//! The shared state sits behind a mutex that is never held across an
//! await: each operation takes what it needs, asks the northbound task,
//! and stores the result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use super::candidate::SharedCandidate;
use super::session::Session;
use crate::auth::Actor;
use crate::task::Handle;

/// Bounds of the NETCONF server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest message a client may send, in bytes; a larger one is
    /// answered with a `too-big` rpc-error and skipped.
    pub max_message: usize,
    /// Sessions at most at the same time; more are closed at once.
    pub max_sessions: usize,
    /// A session whose client sends no `<hello>` in this time is closed.
    pub hello_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 16 * 1024 * 1024,
            max_sessions: 64,
            hello_timeout: Duration::from_secs(60),
        }
    }
}

/// Counts since the server started (for the daemon's state).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sessions: AtomicU64,
    pub refused_sessions: AtomicU64,
    pub bad_hellos: AtomicU64,
    pub rpcs: AtomicU64,
    pub rpc_errors: AtomicU64,
    pub access_denied: AtomicU64,
    pub malformed: AtomicU64,
    pub notifications: AtomicU64,
}

impl Counters {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterValues {
    /// Sessions started (hello exchanged or not).
    pub sessions: u64,
    /// Sessions refused: too many at once.
    pub refused_sessions: u64,
    /// Sessions closed for a bad `<hello>` or none in time.
    pub bad_hellos: u64,
    /// `<rpc>` requests received.
    pub rpcs: u64,
    /// Replies that carried an `<rpc-error>`.
    pub rpc_errors: u64,
    /// Requests refused to a read-only user.
    pub access_denied: u64,
    /// Messages that were not well-formed XML, too big, or badly framed.
    pub malformed: u64,
    /// Notifications sent to subscribers.
    pub notifications: u64,
}

/// A session in the table: who, and how to end it.
#[derive(Debug)]
pub(crate) struct SessionEntry {
    pub actor: Actor,
    pub kill: Option<oneshot::Sender<()>>,
}

/// A confirmed commit a NETCONF session issued and has not confirmed
/// (RFC 6241, 8.4).
#[derive(Clone, Debug)]
pub(crate) struct Confirmed {
    pub actor: Actor,
    /// `<persist>`: any session may confirm with this `<persist-id>`, and
    /// the commit outlives its session.
    pub persist: Option<String>,
    /// The transaction the confirmed commit made.
    pub id: Option<u64>,
    pub deadline: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub candidate: SharedCandidate,
    pub sessions: HashMap<u64, SessionEntry>,
    pub confirmed: Option<Confirmed>,
}

impl Shared {
    /// The confirmed commit that waits, forgotten once its time ran out
    /// (the northbound task has rolled it back then).
    pub(crate) fn confirmed(&mut self) -> Option<&Confirmed> {
        if self
            .confirmed
            .as_ref()
            .is_some_and(|c| c.deadline <= Instant::now())
        {
            self.confirmed = None;
        }
        self.confirmed.as_ref()
    }
}

/// The NETCONF server's shared state; [`Netconf::run_session`] serves one
/// authenticated session over any byte stream (the SSH `netconf`
/// subsystem channel, or an in-memory duplex in tests).
#[derive(Debug)]
pub struct Netconf {
    pub(crate) handle: Handle,
    pub(crate) limits: Limits,
    pub(crate) counters: Counters,
    /// When the server started (RFC 6022 netconf-start-time).
    pub(crate) started: SystemTime,
    shared: Mutex<Shared>,
}

impl Netconf {
    pub fn new(handle: Handle) -> Arc<Self> {
        Self::with_limits(handle, Limits::default())
    }

    pub fn with_limits(handle: Handle, limits: Limits) -> Arc<Self> {
        Arc::new(Netconf {
            handle,
            limits,
            counters: Counters::default(),
            started: SystemTime::now(),
            shared: Mutex::new(Shared::default()),
        })
    }

    /// Serves one NETCONF session of `actor` (already authenticated) on
    /// `stream` until the client closes it, it is killed, or the stream
    /// ends. Its locks are released and an unconfirmed confirmed commit
    /// without `<persist>` is rolled back when it ends (RFC 6241, 8.4.1).
    pub async fn run_session<S>(self: &Arc<Self>, actor: Actor, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(kill) = self.open_session(&actor) else {
            Counters::count(&self.counters.refused_sessions);
            tracing::warn!(
                user = actor.user(),
                "NETCONF session refused: too many sessions"
            );
            return;
        };
        Counters::count(&self.counters.sessions);
        tracing::info!(
            user = actor.user(),
            session = actor.session,
            "NETCONF session started"
        );
        Session::new(self.clone(), actor.clone())
            .run(stream, kill)
            .await;
        self.end_session(&actor).await;
        tracing::info!(
            user = actor.user(),
            session = actor.session,
            "NETCONF session ended"
        );
    }

    /// The counters so far.
    pub fn counters(&self) -> CounterValues {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CounterValues {
            sessions: get(&c.sessions),
            refused_sessions: get(&c.refused_sessions),
            bad_hellos: get(&c.bad_hellos),
            rpcs: get(&c.rpcs),
            rpc_errors: get(&c.rpc_errors),
            access_denied: get(&c.access_denied),
            malformed: get(&c.malformed),
            notifications: get(&c.notifications),
        }
    }

    /// Sessions open now.
    pub fn session_count(&self) -> usize {
        self.shared().sessions.len()
    }

    pub(crate) fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open_session(&self, actor: &Actor) -> Option<oneshot::Receiver<()>> {
        let mut shared = self.shared();
        if shared.sessions.len() >= self.limits.max_sessions {
            return None;
        }
        let (kill, killed) = oneshot::channel();
        let entry = SessionEntry {
            actor: actor.clone(),
            kill: Some(kill),
        };
        shared.sessions.insert(actor.session, entry);
        Some(killed)
    }

    /// Ends session `session` (`<kill-session>`): it stops at its next
    /// message, its locks are released now.
    pub(crate) async fn kill(&self, session: u64) -> bool {
        let killed = {
            let mut shared = self.shared();
            match shared.sessions.get_mut(&session) {
                Some(entry) => {
                    tracing::info!(session, user = entry.actor.user(), "NETCONF session killed");
                    if let Some(kill) = entry.kill.take() {
                        let _ = kill.send(());
                    }
                    shared.candidate.release(session);
                    true
                }
                None => false,
            }
        };
        if killed {
            self.handle.release(session).await;
        }
        killed
    }

    /// Releases what the session held.
    async fn end_session(&self, actor: &Actor) {
        let cancel = {
            let mut shared = self.shared();
            shared.sessions.remove(&actor.session);
            shared.candidate.release(actor.session);
            match shared.confirmed() {
                Some(c) if c.actor.session == actor.session && c.persist.is_none() => {
                    shared.confirmed.take()
                }
                _ => None,
            }
        };
        self.handle.release(actor.session).await;
        if let Some(confirmed) = cancel {
            // Only if nothing was committed since (a later commit of the
            // same user confirmed it).
            let last = self
                .handle
                .transactions()
                .await
                .ok()
                .and_then(|t| t.last().map(|r| r.id));
            if confirmed.id.is_some() && last == confirmed.id {
                match self.handle.cancel_commit(&confirmed.actor).await {
                    Ok(id) => tracing::warn!(
                        ?id,
                        session = actor.session,
                        "confirmed commit rolled back: its NETCONF session ended"
                    ),
                    Err(error) => tracing::info!(%error, "confirmed commit not rolled back"),
                }
            }
        }
    }
}

/// How long a confirmed commit waits by default (RFC 6241, 8.4.5.1).
pub(crate) const CONFIRM_TIMEOUT: Duration = Duration::from_secs(600);

impl Netconf {
    /// The SSH server's `netconf` subsystem: each channel a session.
    pub fn subsystem(self: &Arc<Self>) -> super::ssh::Subsystem {
        let netconf = self.clone();
        Arc::new(move |actor, stream| {
            let netconf = netconf.clone();
            Box::pin(async move { netconf.run_session(actor, stream).await })
        })
    }
}
