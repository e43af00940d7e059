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

use crate::candidate::LoadMode;
use crate::config::{Config, Format};
use crate::data::{self, Tree};
use crate::error::Error;
use crate::provider::{Notifier, RpcHandler, StateFilter, StateProvider};
use crate::storage::TransactionRecord;
use crate::transaction::Northbound;

/// How a commit builds its candidate from running.
#[derive(Debug)]
pub(crate) enum Edit {
    Load(String, Format, LoadMode),
    Set(String, Option<String>),
    Delete(String),
}

/// What a front end asks the northbound task; each carries the oneshot
/// for its reply.
#[derive(Debug)]
pub(crate) enum Request {
    Running(oneshot::Sender<Config>),
    Commit {
        edits: Vec<Edit>,
        comment: String,
        confirmed: Option<Duration>,
        reply: oneshot::Sender<Result<Option<u64>, Error>>,
    },
    Confirm(oneshot::Sender<Result<(), Error>>),
    Rollback {
        id: u64,
        comment: String,
        reply: oneshot::Sender<Result<Option<u64>, Error>>,
    },
    Transactions(oneshot::Sender<Vec<TransactionRecord>>),
}

/// The northbound task has stopped: the daemon is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the northbound task has stopped")]
pub(crate) struct Stopped;

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
    pub fn new(northbound: Northbound) -> Self {
        Builder {
            northbound,
            state: vec![],
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
                    data::parse_state(&json, Format::Json).and_then(|state| Ok(tree.merge(&state)?))
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

    /// The handler of the RPC at `path` (`/dmvpn-nhrp:clear-cache`).
    pub(crate) fn rpc_handler(&self, path: &str) -> Option<&Arc<dyn RpcHandler>> {
        self.rpcs.get(path)
    }
}

async fn run(mut nb: Northbound, mut requests: mpsc::Receiver<Request>) -> Northbound {
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
                Some(request) => handle(&mut nb, request),
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

fn handle(nb: &mut Northbound, request: Request) {
    // A dropped reply receiver means the client went away: nothing to do.
    match request {
        Request::Running(reply) => {
            let _ = reply.send(nb.running().clone());
        }
        Request::Commit {
            edits,
            comment,
            confirmed,
            reply,
        } => {
            let result = commit(nb, edits, &comment, confirmed);
            match &result {
                Ok(Some(id)) => tracing::info!(id, %comment, "committed"),
                Ok(None) => {}
                Err(error) => tracing::info!(%error, "commit refused"),
            }
            let _ = reply.send(result);
        }
        Request::Confirm(reply) => {
            let _ = reply.send(nb.confirm());
        }
        Request::Rollback { id, comment, reply } => {
            let _ = reply.send(nb.rollback(id, &comment));
        }
        Request::Transactions(reply) => {
            let _ = reply.send(nb.transactions().to_vec());
        }
    }
}

fn commit(
    nb: &mut Northbound,
    edits: Vec<Edit>,
    comment: &str,
    confirmed: Option<Duration>,
) -> Result<Option<u64>, Error> {
    let mut candidate = nb.candidate();
    for edit in edits {
        match edit {
            Edit::Load(data, format, mode) => candidate.load(&data, format, mode)?,
            Edit::Set(path, value) => candidate.set(&path, value.as_deref())?,
            Edit::Delete(path) => candidate.delete(&path)?,
        }
    }
    nb.commit(&mut candidate, comment, confirmed)
}
