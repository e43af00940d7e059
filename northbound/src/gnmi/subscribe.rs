//! Subscribe (specification 3.5): one task per RPC, reading the
//! subscribed paths again whenever one is due and sending what the
//! subscription asks for.
//!
//! ```text
//!   client --SubscriptionList, Poll--> [ session task ] --bounded channel--> client
//!                                       | rounds: read running + state of the
//!                                       | due paths, snapshot leaves, diff
//!   Notifier (YANG notifications) ------+ wakes ON_CHANGE subscriptions now
//! ```
//!
//! - ONCE: every value, `sync_response`, end. POLL: the same for each Poll.
//!   `updates_only` leaves out the first snapshot (only `sync_response`).
//! - STREAM SAMPLE: every `sample_interval` (default 10 s) every value, or
//!   with `suppress_redundant` only what changed; `heartbeat_interval`
//!   sends every value again at least that often.
//! - STREAM ON_CHANGE: the paths are read again when a YANG notification is
//!   published (peer, NHS up/down; a burst is one read, at most every
//!   [`ON_CHANGE_MIN_GAP`]) and at least every second, and
//!   compared leaf by leaf with the last read: changed and new leaves are
//!   updates, a vanished list entry is one delete (a vanished leaf of an
//!   entry that stays, a delete of the leaf). Commits are seen by the
//!   reread within a second. The cost: each ON_CHANGE subscription reads
//!   and compares its whole subtree (running and the state providers
//!   render for its path) once a second, O(leaves below the path), even
//!   when nothing changed; subscribe to the lists that matter (cache
//!   entries, peers, NHS state) rather than the root.
//! - STREAM TARGET_DEFINED: SAMPLE (10 s) for a path through a `counters`
//!   or `statistics` node, ON_CHANGE for any other.
//!
//! Subscriptions hold no tree between reads, only their last leaves, so
//! they survive any number of commits. The output channel is bounded: a
//! client that does not read what is sent for [`SEND_WAIT`] is dropped
//! (its stream ends with RESOURCE_EXHAUSTED), never buffered without end.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dmvpn_api::gnmi;
use dmvpn_api::gnmi::subscribe_request::Request as Ask;
use dmvpn_api::gnmi::subscription_list::Mode as ListMode;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Status, Streaming};

use super::path;
use super::service::{echo, encoding, path_status, status};
use super::tree::{self, Encoding, Snapshot, Source};
use crate::provider::YangNotification;
use crate::task::Handle;

/// SAMPLE without a `sample_interval`.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);
/// The shortest sample and heartbeat interval served; shorter ones are
/// refused with INVALID_ARGUMENT (3.5.1.5.2).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How often ON_CHANGE paths are read again when no notification came.
pub const ON_CHANGE_RECHECK: Duration = Duration::from_secs(1);
/// The least time between two reads of an ON_CHANGE path: a burst of
/// notifications (a hundred spokes registering) is one read, not a hundred.
pub const ON_CHANGE_MIN_GAP: Duration = Duration::from_millis(100);
/// Messages queued for a client before sending waits.
const OUTPUT_CAPACITY: usize = 16;
/// How long sending waits for a client that does not read before dropping it.
pub const SEND_WAIT: Duration = Duration::from_secs(10);

type Responses = Pin<Box<dyn Stream<Item = Result<gnmi::SubscribeResponse, Status>> + Send>>;

/// Starts the session of one Subscribe RPC; its responses.
pub(super) fn start(handle: Handle, requests: Streaming<gnmi::SubscribeRequest>) -> Responses {
    let (tx, rx) = mpsc::channel(OUTPUT_CAPACITY);
    let dropped = Arc::new(AtomicBool::new(false));
    let output = Output {
        tx,
        dropped: dropped.clone(),
    };
    tokio::spawn(async move {
        if let Err(Gone) = run(handle, requests, &output).await {
            tracing::debug!("gNMI subscription ended: the client went away");
        }
    });
    // After the session ended, a client dropped for not reading learns why.
    let verdict = std::iter::once_with(move || {
        dropped.load(Ordering::Relaxed).then(|| {
            Err(Status::resource_exhausted(
                "the client did not read: subscription dropped",
            ))
        })
    })
    .flatten();
    Box::pin(ReceiverStream::new(rx).chain(tokio_stream::iter(verdict)))
}

/// The client went away or stopped reading.
#[derive(Debug)]
struct Gone;

#[derive(Debug)]
struct Output {
    tx: mpsc::Sender<Result<gnmi::SubscribeResponse, Status>>,
    dropped: Arc<AtomicBool>,
}

impl Output {
    async fn send(&self, response: gnmi::subscribe_response::Response) -> Result<(), Gone> {
        let response = gnmi::SubscribeResponse {
            response: Some(response),
        };
        match self.tx.send_timeout(Ok(response), SEND_WAIT).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                tracing::warn!(wait = ?SEND_WAIT, "gNMI subscriber does not read: dropped");
                self.dropped.store(true, Ordering::Relaxed);
                Err(Gone)
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(Gone),
        }
    }

    async fn sync(&self) -> Result<(), Gone> {
        self.send(gnmi::subscribe_response::Response::SyncResponse(true))
            .await
    }

    /// Ends the RPC with `status`.
    async fn fail(&self, status: Status) -> Result<(), Gone> {
        match self.tx.send_timeout(Err(status), SEND_WAIT).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Gone),
        }
    }
}

/// When a STREAM subscription sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    Sample { interval: Duration, suppress: bool },
    OnChange,
}

/// One subscribed path and what was last read of it.
#[derive(Debug)]
struct Subscription {
    xpath: String,
    trigger: Trigger,
    heartbeat: Option<Duration>,
    last: Snapshot,
    /// When to read it next.
    due: Instant,
    /// When it was last read.
    read_at: Instant,
    /// When every value is to be sent again (the heartbeat).
    full_due: Option<Instant>,
}

/// The subscriptions of one SubscriptionList.
#[derive(Debug)]
struct Session {
    mode: ListMode,
    encoding: Encoding,
    prefix: Option<gnmi::Path>,
    updates_only: bool,
    subscriptions: Vec<Subscription>,
}

async fn run(
    handle: Handle,
    mut requests: Streaming<gnmi::SubscribeRequest>,
    output: &Output,
) -> Result<(), Gone> {
    let list = match requests.next().await {
        Some(Ok(gnmi::SubscribeRequest {
            request: Some(Ask::Subscribe(list)),
        })) => list,
        Some(Ok(_)) => {
            return output
                .fail(Status::invalid_argument(
                    "the first request must be a SubscriptionList",
                ))
                .await;
        }
        Some(Err(_)) | None => return Ok(()),
    };
    let mut session = match Session::new(list) {
        Ok(session) => session,
        Err(status) => return output.fail(status).await,
    };
    // Before the first read, so that no notification after it is missed.
    let notifications = handle.notifier().subscribe();
    if let Err(status) = session.first(&handle, output).await? {
        return output.fail(status).await;
    }
    let ended = match session.mode {
        ListMode::Once => Ok(()),
        ListMode::Poll => session.poll(&handle, requests, output).await?,
        ListMode::Stream => {
            session
                .stream(&handle, requests, notifications, output)
                .await?
        }
    };
    match ended {
        Ok(()) => Ok(()),
        Err(status) => output.fail(status).await,
    }
}

impl Session {
    fn new(list: gnmi::SubscriptionList) -> Result<Self, Status> {
        let mode = ListMode::try_from(list.mode)
            .map_err(|_| Status::invalid_argument("unknown subscription mode"))?;
        let encoding = encoding(list.encoding)?;
        if list.subscription.is_empty() {
            return Err(Status::invalid_argument(
                "no subscription in the SubscriptionList",
            ));
        }
        let now = Instant::now();
        let mut subscriptions = vec![];
        for subscription in &list.subscription {
            let joined = path::join(list.prefix.as_ref(), subscription.path.as_ref())
                .map_err(path_status)?;
            let resolved = path::resolve(&joined).map_err(path_status)?;
            let trigger = trigger(subscription, &resolved.xpath)?;
            let heartbeat = interval(subscription.heartbeat_interval, "heartbeat_interval")?;
            subscriptions.push(Subscription {
                xpath: resolved.xpath,
                trigger,
                heartbeat,
                last: Snapshot::default(),
                due: now,
                read_at: now,
                full_due: heartbeat.map(|h| now + h),
            });
        }
        Ok(Session {
            mode,
            encoding,
            prefix: echo(list.prefix.as_ref()),
            updates_only: list.updates_only,
            subscriptions,
        })
    }

    /// The initial snapshot (unless `updates_only`) and `sync_response`.
    async fn first(
        &mut self,
        handle: &Handle,
        output: &Output,
    ) -> Result<Result<(), Status>, Gone> {
        let send = !self.updates_only;
        let all: Vec<usize> = (0..self.subscriptions.len()).collect();
        if let Err(status) = self
            .round(handle, &all, output, |_, _| Some(true).filter(|_| send))
            .await?
        {
            return Ok(Err(status));
        }
        let now = Instant::now();
        for subscription in &mut self.subscriptions {
            subscription.due = match subscription.trigger {
                Trigger::Sample { interval, .. } => now + interval,
                Trigger::OnChange => now + ON_CHANGE_RECHECK,
            };
        }
        output.sync().await?;
        Ok(Ok(()))
    }

    /// Reads the subscriptions `due` once and sends, for each, what `what`
    /// says: `Some(true)` every value, `Some(false)` the changes, `None`
    /// nothing (the snapshot is still kept).
    async fn round(
        &mut self,
        handle: &Handle,
        due: &[usize],
        output: &Output,
        what: impl Fn(&Subscription, Instant) -> Option<bool>,
    ) -> Result<Result<(), Status>, Gone> {
        let xpaths: Vec<&str> = due
            .iter()
            .map(|&i| self.subscriptions[i].xpath.as_str())
            .collect();
        let data = match tree::read(handle, Source::All, &xpaths).await {
            Ok(data) => data,
            Err(error) => return Ok(Err(status(error))),
        };
        let now = Instant::now();
        for &i in due {
            let subscription = &mut self.subscriptions[i];
            let new = match Snapshot::take(&data, &subscription.xpath) {
                Ok(new) => new,
                Err(error) => return Ok(Err(status(error))),
            };
            let changes = match what(subscription, now) {
                Some(true) => {
                    let mut changes = new.all();
                    changes.deletes = subscription.last.changes(&new).deletes;
                    if let Some(heartbeat) = subscription.heartbeat {
                        subscription.full_due = Some(now + heartbeat);
                    }
                    changes
                }
                Some(false) => subscription.last.changes(&new),
                None => Default::default(),
            };
            subscription.last = new;
            subscription.read_at = now;
            if !changes.is_empty() {
                let notification = tree::notification(changes, self.encoding, self.prefix.clone());
                output
                    .send(gnmi::subscribe_response::Response::Update(notification))
                    .await?;
            }
        }
        Ok(Ok(()))
    }

    /// POLL: every value and `sync_response` for each Poll, until the
    /// client closes its side.
    async fn poll(
        &mut self,
        handle: &Handle,
        mut requests: Streaming<gnmi::SubscribeRequest>,
        output: &Output,
    ) -> Result<Result<(), Status>, Gone> {
        let all: Vec<usize> = (0..self.subscriptions.len()).collect();
        loop {
            let request = tokio::select! {
                () = output.tx.closed() => return Err(Gone),
                request = requests.next() => request,
            };
            match request {
                Some(Ok(gnmi::SubscribeRequest {
                    request: Some(Ask::Poll(_)),
                })) => {
                    if let Err(status) = self.round(handle, &all, output, |_, _| Some(true)).await?
                    {
                        return Ok(Err(status));
                    }
                    output.sync().await?;
                }
                Some(Ok(_)) => {
                    return Ok(Err(Status::invalid_argument(
                        "a POLL subscription takes only Poll requests",
                    )));
                }
                Some(Err(_)) | None => return Ok(Ok(())),
            }
        }
    }

    /// STREAM: until the client cancels.
    async fn stream(
        &mut self,
        handle: &Handle,
        mut requests: Streaming<gnmi::SubscribeRequest>,
        mut notifications: broadcast::Receiver<YangNotification>,
        output: &Output,
    ) -> Result<Result<(), Status>, Gone> {
        let mut requests_open = true;
        let mut notifier_open = true;
        loop {
            let wake = self
                .subscriptions
                .iter()
                .flat_map(|s| [Some(s.due), s.full_due])
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + ON_CHANGE_RECHECK);
            tokio::select! {
                () = output.tx.closed() => return Err(Gone),
                request = requests.next(), if requests_open => match request {
                    Some(Ok(_)) => {
                        return Ok(Err(Status::invalid_argument(
                            "a STREAM subscription takes no further requests",
                        )));
                    }
                    // The client closed its side: the stream goes on.
                    None => requests_open = false,
                    Some(Err(_)) => return Err(Gone),
                },
                notification = notifications.recv(), if notifier_open => match notification {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        let now = Instant::now();
                        for subscription in &mut self.subscriptions {
                            if subscription.trigger == Trigger::OnChange {
                                let soonest = (subscription.read_at + ON_CHANGE_MIN_GAP).max(now);
                                subscription.due = subscription.due.min(soonest);
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => notifier_open = false,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            let now = Instant::now();
            let due: Vec<usize> = (0..self.subscriptions.len())
                .filter(|&i| {
                    let s = &self.subscriptions[i];
                    s.due <= now || s.full_due.is_some_and(|t| t <= now)
                })
                .collect();
            if due.is_empty() {
                continue;
            }
            let sent = self.round(handle, &due, output, what_to_send).await?;
            if let Err(status) = sent {
                return Ok(Err(status));
            }
            let now = Instant::now();
            for &i in &due {
                let subscription = &mut self.subscriptions[i];
                if subscription.due > now {
                    continue;
                }
                subscription.due = match subscription.trigger {
                    Trigger::Sample { interval, .. } => {
                        let next = subscription.due + interval;
                        match next > now {
                            true => next,
                            false => now + interval,
                        }
                    }
                    Trigger::OnChange => now + ON_CHANGE_RECHECK,
                };
            }
        }
    }
}

/// What a STREAM subscription sends when it is read: every value when its
/// heartbeat is due or it samples without suppress_redundant, else what
/// changed.
fn what_to_send(subscription: &Subscription, now: Instant) -> Option<bool> {
    let heartbeat = subscription.full_due.is_some_and(|t| t <= now);
    let sample = subscription.due <= now;
    Some(match subscription.trigger {
        _ if heartbeat => true,
        Trigger::Sample {
            suppress: false, ..
        } => sample,
        Trigger::Sample { suppress: true, .. } | Trigger::OnChange => false,
    })
}

/// The trigger of a STREAM subscription (a POLL or ONCE one never looks).
fn trigger(subscription: &gnmi::Subscription, xpath: &str) -> Result<Trigger, Status> {
    let sample = || {
        Ok::<_, Status>(Trigger::Sample {
            interval: interval(subscription.sample_interval, "sample_interval")?
                .unwrap_or(DEFAULT_SAMPLE_INTERVAL),
            suppress: subscription.suppress_redundant,
        })
    };
    match gnmi::SubscriptionMode::try_from(subscription.mode) {
        Ok(gnmi::SubscriptionMode::Sample) => sample(),
        Ok(gnmi::SubscriptionMode::OnChange) => Ok(Trigger::OnChange),
        Ok(gnmi::SubscriptionMode::TargetDefined) => match is_counters(xpath) {
            true => sample(),
            false => Ok(Trigger::OnChange),
        },
        Err(_) => Err(Status::invalid_argument(format!(
            "unknown subscription mode {}",
            subscription.mode
        ))),
    }
}

/// Whether the path goes through a `counters` or `statistics` node.
fn is_counters(xpath: &str) -> bool {
    xpath.split('/').any(|step| {
        let name = step.split('[').next().unwrap_or_default();
        let name = name.rsplit(':').next().unwrap_or_default();
        matches!(name, "counters" | "statistics")
    })
}

/// An interval in nanoseconds; 0 is none.
fn interval(nanoseconds: u64, field: &str) -> Result<Option<Duration>, Status> {
    let interval = Duration::from_nanos(nanoseconds);
    match nanoseconds {
        0 => Ok(None),
        _ if interval < MIN_INTERVAL => Err(Status::invalid_argument(format!(
            "{field} {interval:?} is shorter than the {MIN_INTERVAL:?} served"
        ))),
        _ => Ok(Some(interval)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_defined_samples_counters_only() {
        assert!(is_counters(
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/counters/message"
        ));
        assert!(is_counters(
            "/ietf-interfaces:interfaces/interface/dmvpn-tunnel:statistics"
        ));
        assert!(!is_counters(
            "/ietf-interfaces:interfaces/interface[name='counters']/dmvpn-nhrp:nhrp"
        ));
        assert!(!is_counters(
            "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/cache-entry"
        ));
    }

    #[test]
    fn intervals_below_the_minimum_are_refused() {
        assert_eq!(interval(0, "x").unwrap(), None);
        assert_eq!(
            interval(2_000_000_000, "x").unwrap(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            interval(1_000, "x").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
