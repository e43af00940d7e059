//! The northbound task: the one owner of the [`Northbound`]. Requests come
//! over a channel, each with a oneshot for the reply; between requests the
//! task sleeps until the confirmed-commit deadline and then ticks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::service::Service;
use super::state::{Notifier, RpcHandler, StateProvider};
use crate::candidate::LoadMode;
use crate::config::{Config, Format};
use crate::error::Error;
use crate::storage::TransactionRecord;
use crate::transaction::Northbound;

/// How a commit builds its candidate from running.
#[derive(Debug)]
pub(crate) enum Edit {
    Load(String, Format, LoadMode),
    Set(String, Option<String>),
    Delete(String),
}

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

/// Assembles the server side: the northbound (with its configuration
/// providers already registered), state providers, RPC handlers.
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
    /// returning the northbound, when every clone of the service is dropped.
    pub fn spawn(self) -> (Service, JoinHandle<Northbound>) {
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(run(self.northbound, rx));
        let service = Service::new(tx, self.state, self.rpcs, self.notifier);
        (service, task)
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
