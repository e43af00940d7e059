//! The thin tokio driver around an [`Instance`] (the Holo model): one task
//! owns the instance; sockets, timers and the northbound only send it
//! messages. No locks around protocol state.
//!
//! ```text
//!   data plane / northbound --Request--> [ instance task ] --Output--> data plane
//!                                          sleeps until next_wakeup()
//! ```

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::InstanceConfig;
use crate::instance::Instance;
use crate::io::{Input, Output};
pub use crate::snapshot::{NhsView, State};

#[derive(Debug)]
pub enum Request {
    Input(Input),
    /// A snapshot of the state, for the northbound and the CLI.
    State(oneshot::Sender<State>),
}

/// Starts the instance task. It ends, returning the instance, when every
/// request sender is dropped or the output receiver is closed.
pub fn spawn(
    config: InstanceConfig,
    requests: mpsc::Receiver<Request>,
    outputs: mpsc::Sender<Output>,
) -> JoinHandle<Instance> {
    let (keep, config) = watch::channel(config);
    tokio::spawn(async move {
        let instance = run(config, requests, outputs).await;
        drop(keep);
        instance
    })
}

/// Starts the instance task with the configuration of `config`; every
/// later value of `config` is applied to the running instance in place
/// (`Input::Configure`), the newest when several came quickly (each is a
/// whole configuration). Ends as [`spawn`]'s does.
pub fn spawn_configured(
    config: watch::Receiver<InstanceConfig>,
    requests: mpsc::Receiver<Request>,
    outputs: mpsc::Sender<Output>,
) -> JoinHandle<Instance> {
    tokio::spawn(run(config, requests, outputs))
}

async fn run(
    mut config: watch::Receiver<InstanceConfig>,
    mut requests: mpsc::Receiver<Request>,
    outputs: mpsc::Sender<Output>,
) -> Instance {
    let first = config.borrow_and_update().clone();
    let (mut instance, initial) = Instance::new(first, Instant::now().into_std());
    if forward(initial, &outputs).await.is_err() {
        return instance;
    }
    let mut configurable = true;
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
            request = requests.recv() => match request {
                Some(Request::Input(input)) => instance.handle(input, Instant::now().into_std()),
                Some(Request::State(reply)) => {
                    let _ = reply.send(State::of(&instance));
                    continue;
                }
                None => break,
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

        let (hub_tx, hub_rx) = mpsc::channel(64);
        let (spoke_tx, spoke_rx) = mpsc::channel(64);
        let (hub_out_tx, mut hub_out) = mpsc::channel(64);
        let (spoke_out_tx, mut spoke_out) = mpsc::channel(64);
        let _hub = spawn(hub_cfg, hub_rx, hub_out_tx);
        let _spoke = spawn(spoke_cfg, spoke_rx, spoke_out_tx);

        // The underlay: deliver each Send to the other side.
        let (h, s) = (hub_tx.clone(), spoke_tx.clone());
        tokio::spawn(async move {
            while let Some(o) = spoke_out.recv().await {
                if let Output::Send { bytes, .. } = o {
                    let input = Input::Packet {
                        from: "192.0.2.11".parse().unwrap(),
                        bytes,
                    };
                    let _ = h.send(Request::Input(input)).await;
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
                    let _ = s.send(Request::Input(input)).await;
                }
            }
        });

        tokio::time::sleep(Duration::from_secs(3)).await;
        let (tx, rx) = oneshot::channel();
        hub_tx.send(Request::State(tx)).await.unwrap();
        let state = rx.await.unwrap();
        let spoke = state
            .cache
            .iter()
            .find(|e| e.next_hop == ip("10.0.0.11"))
            .unwrap();
        assert_eq!(spoke.ty, EntryType::Dynamic);
        assert_eq!(
            state.counters.received.get("registration_request"),
            Some(&1)
        );

        let (tx, rx) = oneshot::channel();
        spoke_tx.send(Request::State(tx)).await.unwrap();
        assert_eq!(rx.await.unwrap().nhs[0].status, NhsStatus::Up);
    }
}
