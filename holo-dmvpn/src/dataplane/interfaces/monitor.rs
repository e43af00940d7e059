//! The netlink side of `interfaces`: one rtnetlink socket per monitor,
//! opened in the namespace it watches (a socket stays bound to the
//! namespace it was created in) and driven by the caller's tokio runtime.
//!
//! The socket joins the link and address groups before it dumps, so no
//! change falls between the dump and the notifications; those queued during
//! the dump are applied after it (each states the whole object, so applying
//! a stale one before its successor does no lasting harm). A burst of
//! notifications is applied as a whole before the snapshot is published.
//! When the kernel dropped some (ENOBUFS: the socket's receive buffer was
//! full) the monitor dumps again instead of drifting; when the socket
//! fails it opens a new one.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{Handle, MulticastGroup};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Interfaces;
use crate::dataplane::netns;

/// What the monitor listens to: links, IPv4 and IPv6 addresses.
const GROUPS: &[MulticastGroup] = &[
    MulticastGroup::Link,
    MulticastGroup::Ipv4Ifaddr,
    MulticastGroup::Ipv6Ifaddr,
];

/// How long the monitor waits before opening a new socket after one failed.
const REOPEN: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no tokio runtime to drive the netlink socket of {netns}")]
    NoRuntime { netns: String },
    #[error("opening a netlink socket in {netns}: {source}")]
    Socket { netns: String, source: io::Error },
    #[error("dumping the {what} of {netns} over netlink: {source}")]
    Dump {
        netns: String,
        what: &'static str,
        source: rtnetlink::Error,
    },
    #[error("the netlink socket of {netns} closed")]
    Closed { netns: String },
}

/// A running interface monitor: the latest snapshot of a namespace's
/// interfaces, replaced after each change. Its task ends when this and
/// every receiver from `subscribe` are dropped.
#[derive(Debug)]
pub struct InterfaceMonitor {
    updates: watch::Receiver<Interfaces>,
    resyncs: Arc<AtomicU64>,
}

impl InterfaceMonitor {
    /// Starts following the interfaces of network namespace `netns` (an
    /// `ip netns` name; `None`: the caller's) on the caller's tokio
    /// runtime, and returns once the first snapshot is taken, or with what
    /// stopped it (a missing namespace, netlink refusing the dump).
    pub async fn spawn(netns: Option<&str>) -> Result<InterfaceMonitor, Error> {
        let resyncs = Arc::new(AtomicU64::new(0));
        let mut session = Session::open(netns, GROUPS)?;
        let interfaces = session.synchronize(&resyncs).await?;
        let (updates_tx, updates) = watch::channel(interfaces.clone());
        let task = Task {
            netns: netns.map(str::to_owned),
            updates: updates_tx,
            resyncs: resyncs.clone(),
        };
        tokio::spawn(task.run(session, interfaces));
        Ok(InterfaceMonitor { updates, resyncs })
    }

    /// The latest snapshot.
    pub fn current(&self) -> Interfaces {
        self.updates.borrow().clone()
    }

    /// A receiver of the snapshots to come: `changed` resolves at the
    /// first one after the current.
    pub fn subscribe(&self) -> watch::Receiver<Interfaces> {
        let mut updates = self.updates.clone();
        updates.mark_unchanged();
        updates
    }

    /// How often the monitor dumped again because the kernel dropped
    /// notifications (ENOBUFS) or reported an error.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Ordering::Relaxed)
    }
}

/// The interfaces of network namespace `netns` (`None`: the caller's), read
/// once.
pub async fn dump(netns: Option<&str>) -> Result<Interfaces, Error> {
    let session = Session::open(netns, &[])?;
    read(&session.handle, &session.netns).await
}

/// Every link, then every address, over `handle` (a session's: not the
/// session itself, whose notification stream may not be shared between
/// threads).
async fn read(handle: &Handle, netns: &str) -> Result<Interfaces, Error> {
    let error = |what| {
        move |source| Error::Dump {
            netns: netns.to_string(),
            what,
            source,
        }
    };
    let mut interfaces = Interfaces::default();
    let mut links = handle.link().get().execute();
    while let Some(link) = links.try_next().await.map_err(error("links"))? {
        interfaces.apply(&RouteNetlinkMessage::NewLink(link));
    }
    let mut addresses = handle.address().get().execute();
    while let Some(address) = addresses.try_next().await.map_err(error("addresses"))? {
        interfaces.apply(&RouteNetlinkMessage::NewAddress(address));
    }
    Ok(interfaces)
}

/// How a namespace is named in errors.
fn describe(netns: Option<&str>) -> String {
    match netns {
        Some(name) => format!("network namespace {name:?}"),
        None => "the caller's network namespace".to_string(),
    }
}

/// One netlink socket and what it delivers.
struct Session {
    netns: String,
    handle: Handle,
    notifications: BoxStream<'static, NetlinkMessage<RouteNetlinkMessage>>,
    connection: JoinHandle<()>,
}

/// What the notifications queued so far amount to.
#[derive(Debug, PartialEq, Eq)]
enum Drained {
    Complete,
    /// The kernel dropped some, or reported an error: dump again.
    Lost,
}

impl Session {
    /// Opens a socket in `netns` that joins `groups`. Blocking for as long
    /// as `netns::run_in` takes to start a thread there.
    fn open(netns: Option<&str>, groups: &[MulticastGroup]) -> Result<Session, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime {
            netns: describe(netns),
        })?;
        let opened = netns::run_in_opt(netns, || {
            // The socket registers with the caller's runtime from this
            // thread, which may be in another namespace.
            let _runtime = runtime.enter();
            rtnetlink::new_multicast_connection(groups)
        });
        let (connection, handle, notifications) = opened.map_err(|source| Error::Socket {
            netns: describe(netns),
            source,
        })?;
        Ok(Session {
            netns: describe(netns),
            handle,
            notifications: notifications.map(|(message, _)| message).boxed(),
            connection: runtime.spawn(connection),
        })
    }

    /// A dump brought up to date with the notifications queued meanwhile;
    /// dumped again while the kernel dropped some.
    async fn synchronize(&mut self, resyncs: &AtomicU64) -> Result<Interfaces, Error> {
        loop {
            let mut interfaces = read(&self.handle, &self.netns).await?;
            match self.drain(&mut interfaces)? {
                Drained::Complete => return Ok(interfaces),
                Drained::Lost => self.resync(resyncs),
            }
        }
    }

    fn resync(&self, resyncs: &AtomicU64) {
        resyncs.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(netns = %self.netns, "interface monitor: netlink notifications lost, dumping again");
    }

    /// Applies the notifications already queued, without waiting.
    fn drain(&mut self, interfaces: &mut Interfaces) -> Result<Drained, Error> {
        let mut drained = Drained::Complete;
        while let Some(message) = self.notifications.next().now_or_never() {
            let Some(message) = message else {
                return Err(Error::Closed {
                    netns: self.netns.clone(),
                });
            };
            if apply(interfaces, message) == Drained::Lost {
                drained = Drained::Lost;
            }
        }
        Ok(drained)
    }

    /// Follows the notifications into `interfaces` and publishes each new
    /// version, until every receiver is gone (`Ok`) or the socket fails.
    async fn follow(
        &mut self,
        interfaces: &mut Interfaces,
        updates: &watch::Sender<Interfaces>,
        resyncs: &AtomicU64,
    ) -> Result<(), Error> {
        loop {
            let message = tokio::select! {
                message = self.notifications.next() => message,
                () = updates.closed() => return Ok(()),
            };
            let Some(message) = message else {
                return Err(Error::Closed {
                    netns: self.netns.clone(),
                });
            };
            let mut drained = apply(interfaces, message);
            // The rest of a burst (a new link brings several messages):
            // let the connection task forward what the socket holds.
            tokio::task::yield_now().await;
            if self.drain(interfaces)? == Drained::Lost {
                drained = Drained::Lost;
            }
            if drained == Drained::Lost {
                self.resync(resyncs);
                *interfaces = self.synchronize(resyncs).await?;
            }
            publish(updates, interfaces);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Applies one notification; `Lost` for an overrun or an error.
fn apply(interfaces: &mut Interfaces, message: NetlinkMessage<RouteNetlinkMessage>) -> Drained {
    match message.payload {
        NetlinkPayload::InnerMessage(message) => {
            interfaces.apply(&message);
            Drained::Complete
        }
        NetlinkPayload::Overrun(_) => Drained::Lost,
        NetlinkPayload::Error(error) if error.code.is_some() => {
            tracing::warn!(%error, "interface monitor: netlink error");
            Drained::Lost
        }
        _ => Drained::Complete,
    }
}

/// Hands `interfaces` to the receivers if it differs from what they have.
fn publish(updates: &watch::Sender<Interfaces>, interfaces: &Interfaces) {
    updates.send_if_modified(|current| {
        let changed = current != interfaces;
        if changed {
            *current = interfaces.clone();
        }
        changed
    });
}

/// The monitor's task: follows one socket after the other until nobody
/// listens.
#[derive(Debug)]
struct Task {
    netns: Option<String>,
    updates: watch::Sender<Interfaces>,
    resyncs: Arc<AtomicU64>,
}

impl Task {
    async fn run(self, mut session: Session, mut interfaces: Interfaces) {
        loop {
            match session
                .follow(&mut interfaces, &self.updates, &self.resyncs)
                .await
            {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "interface monitor: opening a new netlink socket")
                }
            }
            drop(session);
            session = loop {
                tokio::select! {
                    () = self.updates.closed() => return,
                    () = tokio::time::sleep(REOPEN) => {}
                }
                match self.reopen().await {
                    Ok((session, fresh)) => {
                        interfaces = fresh;
                        publish(&self.updates, &interfaces);
                        break session;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "interface monitor: netlink socket not reopened")
                    }
                }
            };
        }
    }

    async fn reopen(&self) -> Result<(Session, Interfaces), Error> {
        let mut session = Session::open(self.netns.as_deref(), GROUPS)?;
        let interfaces = session.synchronize(&self.resyncs).await?;
        Ok((session, interfaces))
    }
}
