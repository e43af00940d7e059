//! The thin tokio driver around an [`Instance`] (the Holo model): one task
//! owns the instance; sockets, timers and the northbound only send it
//! messages. No locks around protocol state.
//!
//! ```text
//!   data plane / northbound --Input------> [ instance task ] --Output--> data plane
//!   northbound ---------------StateQuery->       |
//!                                          sleeps until next_wakeup()
//! ```

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::InstanceConfig;
use crate::instance::Instance;
use crate::io::{Input, Output};
pub use crate::snapshot::{CacheWanted, NhsView, State, Wanted};

/// A query of the instance's state: answered with a snapshot of the parts
/// it wants.
#[derive(Debug)]
pub struct StateQuery {
    pub wanted: Wanted,
    pub reply: oneshot::Sender<State>,
}

/// What feeds a running instance: its inputs (received packets, data-plane
/// events, commands), which the data plane and the northbound send, and
/// state queries, which only the northbound does. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Handle {
    pub inputs: mpsc::Sender<Input>,
    pub queries: mpsc::Sender<StateQuery>,
}

impl Handle {
    /// A snapshot of the instance's state; `None` once it has ended.
    pub async fn state(&self) -> Option<State> {
        self.state_of(Wanted::EVERYTHING).await
    }

    /// A snapshot of the parts of the instance's state that `wanted`
    /// names; `None` once it has ended.
    pub async fn state_of(&self, wanted: Wanted) -> Option<State> {
        let (reply, rx) = oneshot::channel();
        self.queries.send(StateQuery { wanted, reply }).await.ok()?;
        rx.await.ok()
    }
}

/// Inputs that may wait for the instance task: a hub restart's burst of
/// registrations (100 000 spokes at once, issue 15) is absorbed here
/// instead of shed; the data plane counts what still does not fit
/// (`nhrp-queue-full`). The channel takes memory for its slots in blocks
/// of 32 as they fill and gives them back as they empty, so the bound costs
/// nothing until a burst uses it; full, at ~200 octets a queued packet, it
/// holds about 26 MB. (At 8192, 100 000 spokes registering at once lost
/// 255 015 packets here and took 64 s to converge through their retries;
/// the hub itself spent 6.4 s of CPU on them.)
const INPUTS: usize = 131_072;

/// Starts the instance task. It ends, returning the instance, when every
/// input sender is dropped or the output receiver is closed.
pub fn spawn(
    config: InstanceConfig,
    outputs: mpsc::Sender<Output>,
) -> (Handle, JoinHandle<Instance>) {
    let (keep, config) = watch::channel(config);
    let (handle, inputs, queries) = channels();
    let task = tokio::spawn(async move {
        let instance = run(config, inputs, queries, outputs).await;
        drop(keep);
        instance
    });
    (handle, task)
}

/// Starts the instance task with the configuration of `config`; every
/// later value of `config` is applied to the running instance in place
/// (`Input::Configure`), the newest when several came quickly (each is a
/// whole configuration). Ends as [`spawn`]'s does.
pub fn spawn_configured(
    config: watch::Receiver<InstanceConfig>,
    outputs: mpsc::Sender<Output>,
) -> (Handle, JoinHandle<Instance>) {
    let (handle, inputs, queries) = channels();
    let task = tokio::spawn(run(config, inputs, queries, outputs));
    (handle, task)
}

fn channels() -> (Handle, mpsc::Receiver<Input>, mpsc::Receiver<StateQuery>) {
    let (inputs, inputs_rx) = mpsc::channel(INPUTS);
    let (queries, queries_rx) = mpsc::channel(16);
    (Handle { inputs, queries }, inputs_rx, queries_rx)
}

async fn run(
    mut config: watch::Receiver<InstanceConfig>,
    mut inputs: mpsc::Receiver<Input>,
    mut queries: mpsc::Receiver<StateQuery>,
    outputs: mpsc::Sender<Output>,
) -> Instance {
    let first = config.borrow_and_update().clone();
    let (mut instance, initial) = Instance::new(first, Instant::now().into_std());
    if forward(initial, &outputs).await.is_err() {
        return instance;
    }
    let mut configurable = true;
    let mut queried = true;
    loop {
        let wakeup = instance.next_wakeup().map(Instant::from_std);
        let out = tokio::select! {
            changed = config.changed(), if configurable => match changed {
                Ok(()) => {
                    let new = config.borrow_and_update().clone();
                    instance.handle(Input::Configure(Box::new(new)), Instant::now().into_std())
                }
                // The configuration's owner is gone: the one we have stays.
                Err(_) => {
                    configurable = false;
                    continue;
                }
            },
            input = inputs.recv() => match input {
                Some(input) => instance.handle(input, Instant::now().into_std()),
                None => break,
            },
            query = queries.recv(), if queried => {
                match query {
                    Some(StateQuery { wanted, reply }) => {
                        let _ = reply.send(State::wanted(&instance, wanted));
                    }
                    None => queried = false,
                }
                continue;
            },
            () = sleep(wakeup) => instance.handle(Input::Tick, Instant::now().into_std()),
        };
        if forward(out, &outputs).await.is_err() {
            break;
        }
    }
    instance
}

async fn sleep(until: Option<Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn forward(out: Vec<Output>, tx: &mpsc::Sender<Output>) -> Result<(), ()> {
    for o in out {
        tx.send(o).await.map_err(|_| ())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use crate::cache::EntryType;
    use crate::config::NhsConfig;
    use crate::nhc::NhsStatus;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A hub and a spoke, each in its own task, wired by a tiny "network"
    /// task; with the clock paused, registration completes and the hub's
    /// state shows the spoke.
    #[tokio::test(start_paused = true)]
    async fn two_tasks_register_over_channels() {
        let hub_cfg = InstanceConfig::new("10.0.0.1/24".parse().unwrap(), ip("192.0.2.1"));
        let mut spoke_cfg = InstanceConfig::new("10.0.0.11/24".parse().unwrap(), ip("192.0.2.11"));
        spoke_cfg.nhs = vec![NhsConfig {
            protocol: ip("10.0.0.1"),
            nbma: ip("192.0.2.1"),
            fqdn: None,
            priority: 0,
            cluster: 0,
        }];

        let (hub_out_tx, mut hub_out) = mpsc::channel(64);
        let (spoke_out_tx, mut spoke_out) = mpsc::channel(64);
        let (hub, _hub) = spawn(hub_cfg, hub_out_tx);
        let (spoke, _spoke) = spawn(spoke_cfg, spoke_out_tx);

        // The underlay: deliver each Send to the other side.
        let (h, s) = (hub.inputs.clone(), spoke.inputs.clone());
        tokio::spawn(async move {
            while let Some(o) = spoke_out.recv().await {
                if let Output::Send { bytes, .. } = o {
                    let input = Input::Packet {
                        from: "192.0.2.11".parse().unwrap(),
                        bytes,
                    };
                    let _ = h.send(input).await;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(o) = hub_out.recv().await {
                if let Output::Send { bytes, .. } = o {
                    let input = Input::Packet {
                        from: "192.0.2.1".parse().unwrap(),
                        bytes,
                    };
                    let _ = s.send(input).await;
                }
            }
        });

        tokio::time::sleep(Duration::from_secs(3)).await;
        let state = hub.state().await.unwrap();
        let entry = state
            .cache
            .iter()
            .find(|e| e.next_hop == ip("10.0.0.11"))
            .unwrap();
        assert_eq!(entry.ty, EntryType::Dynamic);
        assert_eq!(
            state.counters.received.get("registration_request"),
            Some(&1)
        );

        assert_eq!(spoke.state().await.unwrap().nhs[0].status, NhsStatus::Up);
    }
}
