//! The northbound task: the one owner of the [`Northbound`], shared by
//! every management front end (gRPC today, gNMI and NETCONF next) through
//! a [`Handle`]. Requests come over a channel, each with a oneshot for the
//! reply; between requests the task sleeps until the confirmed-commit
//! deadline and then ticks.
//!
//! ```text
//!   front end --Request--> [ northbound task ]  owns Northbound: running,
//!    (Handle)  <--oneshot--  sleeps until        candidates, log, providers
//!       |                    next_deadline(), then tick()
//!       +--> StateProvider::state / RpcHandler::execute (async, per request)
//!   protocol tasks --Notifier::publish--> broadcast --> subscribers
//! ```
//!
//! The [`Northbound`] is never locked: front ends only send it requests.
//! State and RPCs do not go through the task, so a slow protocol instance
//! never holds up a commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::auth::Actor;
use crate::candidate::LoadMode;
use crate::config::{Config, Format};
use crate::data::{self, Tree};
use crate::error::Error;
use crate::provider::{Notifier, RpcHandler, StateFilter, StateProvider};
use crate::storage::TransactionRecord;
use crate::transaction::Northbound;
use crate::yang_library::YangLibrary;

/// How a commit builds its candidate from running.
#[derive(Debug)]
pub enum Edit {
    /// YANG data (JSON or XML) merged into, or replacing, the candidate.
    Load(String, Format, LoadMode),
    /// A leaf's value, or a container or list entry created (`None`).
    Set(String, Option<String>),
    /// A node and its subtree removed.
    Delete(String),
}

/// What a front end asks the northbound task; each carries the oneshot
/// for its reply. Writes carry their [`Actor`]: the configuration lock
/// and confirmed commits are held per session and user.
#[derive(Debug)]
pub(crate) enum Request {
    Running(oneshot::Sender<Config>),
    Commit {
        edits: Vec<Edit>,
        comment: String,
        confirmed: Option<Duration>,
        actor: Actor,
        reply: oneshot::Sender<Result<Option<u64>, Error>>,
    },
    Confirm {
        actor: Actor,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Rollback {
        id: u64,
        comment: String,
        actor: Actor,
        reply: oneshot::Sender<Result<Option<u64>, Error>>,
    },
    /// Rolls back the confirmed commit that waits, now.
    CancelCommit {
        actor: Actor,
        reply: oneshot::Sender<Result<Option<u64>, Error>>,
    },
    Transactions(oneshot::Sender<Vec<TransactionRecord>>),
    /// Takes the configuration lock (RFC 6241 `<lock>` of running): until
    /// unlocked or the session ends, writes of every other session fail.
    Lock {
        actor: Actor,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Unlock {
        actor: Actor,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// The session ended: its lock, if it held it, is released.
    Release {
        session: u64,
    },
    /// Who holds the lock.
    LockHolder(oneshot::Sender<Option<Actor>>),
}

/// The northbound task has stopped: the daemon is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the northbound task has stopped")]
pub struct Stopped;

/// Assembles the management side: the northbound (with its configuration
/// providers already registered), state providers, RPC handlers.
///
/// ```no_run
/// # async fn run(nb: northbound::Northbound) -> Result<(), Box<dyn std::error::Error>> {
/// use northbound::Builder;
/// use northbound::grpc::UnixEndpoint;
/// let (handle, task) = Builder::new(nb).spawn();
/// let endpoint = UnixEndpoint::bind("/run/dmvpnd/grpc.sock".as_ref())?;
/// endpoint.serve(handle, std::future::pending()).await?;
/// # drop(task);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Builder {
    northbound: Northbound,
    state: Vec<Arc<dyn StateProvider>>,
    rpcs: HashMap<String, Arc<dyn RpcHandler>>,
    notifier: Notifier,
}

impl Builder {
    /// A builder whose state already holds the YANG library (RFC 8525),
    /// which the NETCONF hello announces whatever the daemon registers.
    pub fn new(northbound: Northbound) -> Self {
        Builder {
            northbound,
            state: vec![Arc::new(YangLibrary)],
            rpcs: HashMap::new(),
            notifier: Notifier(broadcast::channel(256).0),
        }
    }

    pub fn state_provider(mut self, provider: Arc<dyn StateProvider>) -> Self {
        self.state.push(provider);
        self
    }

    /// Registers the handler of the RPC at `path` (`/dmvpn-nhrp:clear-cache`).
    pub fn rpc_handler(mut self, path: &str, handler: Arc<dyn RpcHandler>) -> Self {
        self.rpcs.insert(path.to_owned(), handler);
        self
    }

    /// Where protocol tasks publish notifications (clone it before `spawn`).
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// Starts the northbound task (inside a tokio runtime). It ends,
    /// returning the northbound, when every clone of the handle is dropped.
    pub fn spawn(self) -> (Handle, JoinHandle<Northbound>) {
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(run(self.northbound, rx));
        let handle = Handle {
            requests: tx,
            state: self.state.into(),
            rpcs: Arc::new(self.rpcs),
            notifier: self.notifier,
        };
        (handle, task)
    }
}

/// What a front end serves: the northbound task and the providers. Clones
/// share them; the task ends when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Handle {
    requests: mpsc::Sender<Request>,
    state: Arc<[Arc<dyn StateProvider>]>,
    rpcs: Arc<HashMap<String, Arc<dyn RpcHandler>>>,
    notifier: Notifier,
}

impl Handle {
    /// Where protocol tasks publish notifications, and front ends subscribe.
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// Sends a request to the northbound task and waits for its reply.
    pub(crate) async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(request(tx)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Every provider's state merged into one tree, each provider
    /// rendering (at least) what `filter` asks for; a provider that fails
    /// is logged and left out.
    pub(crate) async fn state(&self, filter: &StateFilter) -> Tree {
        let mut tree = yang2::data::DataTree::new(dmvpn_yang::context());
        for provider in self.state.iter() {
            let merged = match provider.state(filter).await {
                Ok(json) => {
                    data::parse_state_text(json, Format::Json).and_then(|state| {
                        // The first tree is taken as it is: merging into an
                        // empty tree copies it whole.
                        match tree.reference() {
                            None => tree = state,
                            Some(_) => tree.merge(&state)?,
                        }
                        Ok(())
                    })
                }
                Err(reason) => Err(Error::Yang {
                    path: None,
                    message: reason,
                }),
            };
            if let Err(error) = merged {
                tracing::warn!(provider = provider.name(), %error, "state left out");
            }
        }
        tree
    }

    /// The state providers, in the order they were registered.
    pub(crate) fn state_providers(&self) -> &[Arc<dyn StateProvider>] {
        &self.state
    }

    /// The running configuration.
    pub async fn running(&self) -> Result<Config, Stopped> {
        self.ask(Request::Running).await
    }

    /// Commits `edits` on top of running as one transaction of `actor`.
    pub async fn commit(
        &self,
        actor: &Actor,
        edits: Vec<Edit>,
        comment: &str,
        confirmed: Option<Duration>,
    ) -> Result<Option<u64>, Error> {
        let request = |reply| Request::Commit {
            edits,
            comment: comment.to_owned(),
            confirmed,
            actor: actor.clone(),
            reply,
        };
        self.ask(request).await.map_err(Error::from)?
    }

    pub async fn confirm(&self, actor: &Actor) -> Result<(), Error> {
        let request = |reply| Request::Confirm {
            actor: actor.clone(),
            reply,
        };
        self.ask(request).await.map_err(Error::from)?
    }

    /// Rolls back `actor`'s confirmed commit that waits, now.
    pub async fn cancel_commit(&self, actor: &Actor) -> Result<Option<u64>, Error> {
        let request = |reply| Request::CancelCommit {
            actor: actor.clone(),
            reply,
        };
        self.ask(request).await.map_err(Error::from)?
    }

    /// Rolls back to transaction `id`, as a new transaction of `actor`.
    pub async fn rollback(
        &self,
        actor: &Actor,
        id: u64,
        comment: &str,
    ) -> Result<Option<u64>, Error> {
        let request = |reply| Request::Rollback {
            id,
            comment: comment.to_owned(),
            actor: actor.clone(),
            reply,
        };
        self.ask(request).await.map_err(Error::from)?
    }

    /// The transaction log, oldest first.
    pub async fn transactions(&self) -> Result<Vec<TransactionRecord>, Stopped> {
        self.ask(Request::Transactions).await
    }

    /// Takes the configuration lock for `actor`'s session.
    pub async fn lock(&self, actor: &Actor) -> Result<(), Error> {
        let request = |reply| Request::Lock {
            actor: actor.clone(),
            reply,
        };
        self.ask(request).await.map_err(Error::from)?
    }

    pub async fn unlock(&self, actor: &Actor) -> Result<(), Error> {
        let request = |reply| Request::Unlock {
            actor: actor.clone(),
            reply,
        };
        self.ask(request).await.map_err(Error::from)?
    }

    /// The session ended: releases its lock if it held it.
    pub async fn release(&self, session: u64) {
        let _ = self.requests.send(Request::Release { session }).await;
    }

    /// Who holds the configuration lock.
    pub async fn lock_holder(&self) -> Result<Option<Actor>, Stopped> {
        self.ask(Request::LockHolder).await
    }

    /// The handler of the RPC at `path` (`/dmvpn-nhrp:clear-cache`).
    pub(crate) fn rpc_handler(&self, path: &str) -> Option<&Arc<dyn RpcHandler>> {
        self.rpcs.get(path)
    }
}

async fn run(mut nb: Northbound, mut requests: mpsc::Receiver<Request>) -> Northbound {
    let mut lock: Option<Actor> = None;
    // After a tick that did nothing (the northbound's clock is behind the
    // system's), wait a little instead of spinning.
    let mut idle_tick = false;
    loop {
        let wait = nb.next_deadline().map(|deadline| {
            let wait = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            match idle_tick {
                true => wait.max(Duration::from_millis(100)),
                false => wait,
            }
        });
        tokio::select! {
            request = requests.recv() => match request {
                Some(request) => handle(&mut nb, &mut lock, request),
                None => break,
            },
            () = sleep(wait) => {
                idle_tick = tick(&mut nb);
                continue;
            }
        }
        idle_tick = false;
    }
    nb
}

async fn sleep(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// Returns whether the tick did nothing.
fn tick(nb: &mut Northbound) -> bool {
    match nb.tick() {
        Ok(Some(id)) => {
            tracing::warn!(id, "confirmed commit not confirmed in time: rolled back");
            false
        }
        Ok(None) => nb.next_deadline().is_some(),
        Err(error) => {
            tracing::error!(%error, "cannot roll back an unconfirmed commit; retrying");
            true
        }
    }
}

fn handle(nb: &mut Northbound, lock: &mut Option<Actor>, request: Request) {
    // A dropped reply receiver means the client went away: nothing to do.
    match request {
        Request::Running(reply) => {
            let _ = reply.send(nb.running().clone());
        }
        Request::Commit {
            edits,
            comment,
            confirmed,
            actor,
            reply,
        } => {
            let result = unlocked(lock, &actor)
                .and_then(|()| commit(nb, edits, &comment, confirmed, actor.user()));
            match &result {
                Ok(Some(id)) => {
                    tracing::info!(id, %comment, user = actor.user(), front_end = actor.front_end, "committed")
                }
                Ok(None) => {}
                Err(error) => tracing::info!(%error, user = actor.user(), "commit refused"),
            }
            let _ = reply.send(result);
        }
        Request::Confirm { actor, reply } => {
            let result = unlocked(lock, &actor).and_then(|()| nb.confirm_by(actor.user()));
            let _ = reply.send(result);
        }
        Request::Rollback {
            id,
            comment,
            actor,
            reply,
        } => {
            let result =
                unlocked(lock, &actor).and_then(|()| nb.rollback_by(id, &comment, actor.user()));
            let _ = reply.send(result);
        }
        Request::CancelCommit { actor, reply } => {
            let result = unlocked(lock, &actor).and_then(|()| nb.cancel_by(actor.user()));
            let _ = reply.send(result);
        }
        Request::Transactions(reply) => {
            let _ = reply.send(nb.transactions().to_vec());
        }
        Request::Lock { actor, reply } => {
            let result = unlocked(lock, &actor).map(|()| {
                tracing::info!(
                    user = actor.user(),
                    session = actor.session,
                    front_end = actor.front_end,
                    "configuration locked"
                );
                *lock = Some(actor);
            });
            let _ = reply.send(result);
        }
        Request::Unlock { actor, reply } => {
            let result = match lock.as_ref() {
                Some(holder) if holder.session == actor.session => {
                    tracing::info!(
                        user = actor.user(),
                        session = actor.session,
                        "configuration unlocked"
                    );
                    *lock = None;
                    Ok(())
                }
                Some(holder) => Err(locked_by(holder)),
                None => Err(Error::NotLocked),
            };
            let _ = reply.send(result);
        }
        Request::Release { session } => {
            if lock
                .as_ref()
                .is_some_and(|holder| holder.session == session)
            {
                tracing::info!(session, "configuration unlocked: its session ended");
                *lock = None;
            }
        }
        Request::LockHolder(reply) => {
            let _ = reply.send(lock.clone());
        }
    }
}

/// Refuses a write while another session holds the lock.
fn unlocked(lock: &Option<Actor>, actor: &Actor) -> Result<(), Error> {
    match lock {
        Some(holder) if holder.session != actor.session => Err(locked_by(holder)),
        _ => Ok(()),
    }
}

fn locked_by(holder: &Actor) -> Error {
    Error::Locked {
        user: holder.user().to_owned(),
        session: holder.session,
        front_end: holder.front_end,
    }
}

fn commit(
    nb: &mut Northbound,
    edits: Vec<Edit>,
    comment: &str,
    confirmed: Option<Duration>,
    user: &str,
) -> Result<Option<u64>, Error> {
    let mut candidate = nb.candidate();
    for edit in edits {
        match edit {
            Edit::Load(data, format, mode) => candidate.load(&data, format, mode)?,
            Edit::Set(path, value) => candidate.set(&path, value.as_deref())?,
            Edit::Delete(path) => candidate.delete(&path)?,
        }
    }
    nb.commit_by(&mut candidate, comment, confirmed, user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Access, Identity};

    const MTU: &str = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/mtu";

    fn actor(user: &str) -> Actor {
        Actor::new(
            Identity {
                user: user.to_owned(),
                access: Access::ReadWrite,
            },
            "test",
        )
    }

    fn tunnel() -> Vec<Edit> {
        let hub = r#"{"ietf-interfaces:interfaces": {"interface": [{
            "name": "tun0", "type": "dmvpn-tunnel:mgre",
            "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.1"},
            "dmvpn-nhrp:nhrp": {"network-id": 1}}]}}"#;
        vec![Edit::Load(hub.to_owned(), Format::Json, LoadMode::Replace)]
    }

    fn mtu(value: &str) -> Vec<Edit> {
        vec![Edit::Set(MTU.to_owned(), Some(value.to_owned()))]
    }

    #[tokio::test]
    async fn a_lock_holds_every_other_session_off_until_released() {
        let dir = std::env::temp_dir().join(format!("nb-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let nb = Northbound::open(&dir).expect("open");
        let (handle, _task) = Builder::new(nb).spawn();
        let (alice, bob, alice_again) = (actor("alice"), actor("bob"), actor("alice"));
        handle
            .commit(&alice, tunnel(), "tun0", None)
            .await
            .expect("commit");

        handle.lock(&alice).await.expect("lock");
        assert_eq!(handle.lock_holder().await.unwrap(), Some(alice.clone()));
        // Another session, even of the same user, is locked out.
        for other in [&bob, &alice_again] {
            let error = handle
                .commit(other, mtu("1300"), "", None)
                .await
                .unwrap_err();
            assert!(
                matches!(&error, Error::Locked { user, .. } if user == "alice"),
                "{error}"
            );
            assert!(matches!(
                handle.lock(other).await,
                Err(Error::Locked { .. })
            ));
            assert!(matches!(
                handle.unlock(other).await,
                Err(Error::Locked { .. })
            ));
            assert!(matches!(
                handle.rollback(other, 1, "").await,
                Err(Error::Locked { .. })
            ));
        }
        // The holder writes.
        let id = handle
            .commit(&alice, mtu("1300"), "", None)
            .await
            .expect("commit");
        assert_eq!(id, Some(2));

        // The session ends: its lock goes with it.
        handle.release(alice.session).await;
        assert_eq!(handle.lock_holder().await.unwrap(), None);
        handle
            .commit(&bob, mtu("1200"), "", None)
            .await
            .expect("commit");
        handle.lock(&bob).await.expect("lock");
        handle.unlock(&bob).await.expect("unlock");
        assert!(matches!(handle.unlock(&bob).await, Err(Error::NotLocked)));
        let log = handle.transactions().await.unwrap();
        let users: Vec<_> = log.iter().map(|record| record.user.as_str()).collect();
        assert_eq!(users, ["alice", "alice", "bob"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
