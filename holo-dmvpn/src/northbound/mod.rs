//! The DMVPN tunnel instances as YANG sees them (`dmvpn-tunnel`, and the
//! `dmvpn-nhrp` nodes whose meaning holo-nhrp's `northbound` gives): one
//! NHRP instance and one data plane per tunnel interface, run from the
//! configuration, their state, RPCs and notifications. Laid out as Holo's
//! protocol crates are: `configuration` (the provider, `dmvpn-tunnel`
//! parameters), `state`, `rpc` (notifications are published by
//! `instance` as its outputs come); `instance` wires one
//! tunnel (NHRP driver + data plane); `tunnel` is the seam to the data
//! plane kinds, `userspace` the one that exists.
//!
//! ```text
//!   commit --Change--> DmvpnProvider: prepare builds each touched interface's
//!                        InstanceConfig + TunnelParams (refuses what cannot
//!                        run), apply starts / reconfigures (in place) /
//!                        stops the instances
//!   Get STATE ------> NhrpState (dmvpn-nhrp), TunnelState (dmvpn-tunnel)
//!   Execute --------> clear-cache / purge -> Input::Command
//!   instance Output -> Notify -> YANG notification; ResolveName -> DNS;
//!                      the rest -> the data plane (Tunnel hook)
//! ```

pub mod configuration;
mod instance;
pub mod ipsec;
pub mod peers;
pub mod rpc;
pub mod state;
pub mod tunnel;
pub mod userspace;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use holo_nhrp::driver::{State, Wanted};
use holo_nhrp::io::Input;
use northbound::{Notifier, RpcHandler};
use tokio::sync::mpsc;

pub use configuration::{DmvpnProvider, TunnelParams};
use instance::RunningInstance;
pub use state::NhrpState;
pub use tunnel::{Tunnel, TunnelHandle};

/// The tunnel instances of the daemon: the running instances, shared by the
/// configuration provider, the state provider and the RPC handlers.
#[derive(Clone, Debug, Default)]
pub struct Dmvpn {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) instances: Mutex<BTreeMap<String, RunningInstance>>,
    pub(crate) notifier: Mutex<Option<Notifier>>,
    pub(crate) tunnel: Mutex<Option<Arc<dyn Tunnel>>>,
}

impl Dmvpn {
    pub fn new() -> Self {
        Dmvpn::default()
    }

    /// The configuration provider, to register with the northbound (inside
    /// a tokio runtime: applying starts tasks).
    pub fn provider(&self) -> DmvpnProvider {
        DmvpnProvider::new(self.shared.clone())
    }

    pub fn state(&self) -> NhrpState {
        NhrpState::new(self.shared.clone())
    }

    /// The handlers of `dmvpn-nhrp:clear-cache` and `dmvpn-nhrp:purge`.
    pub fn rpc_handlers(&self) -> Vec<(&'static str, Arc<dyn RpcHandler>)> {
        [
            holo_nhrp::northbound::rpc::CLEAR_CACHE,
            holo_nhrp::northbound::rpc::PURGE,
        ]
        .into_iter()
        .map(|rpc| {
            let handler = rpc::NhrpRpc {
                shared: self.shared.clone(),
                rpc,
            };
            (rpc, Arc::new(handler) as Arc<dyn RpcHandler>)
        })
        .collect()
    }

    /// Where the instances' notifications go from now on.
    pub fn set_notifier(&self, notifier: Notifier) {
        *lock(&self.shared.notifier) = Some(notifier);
    }

    /// The data plane of the instances started from now on: set it before
    /// registering the provider.
    pub fn set_tunnel(&self, tunnel: Arc<dyn Tunnel>) {
        *lock(&self.shared.tunnel) = Some(tunnel);
    }

    /// Stops every instance and its data plane (daemon shutdown).
    pub async fn stop_all(&self) {
        let instances = std::mem::take(&mut *lock(&self.shared.instances));
        let tunnels: Vec<_> = instances
            .into_iter()
            .filter_map(|(name, instance)| instance.stop(&name))
            .collect();
        for task in tunnels {
            let _ = task.await;
        }
    }

    /// The interfaces with a running instance.
    pub fn interfaces(&self) -> Vec<String> {
        lock(&self.shared.instances).keys().cloned().collect()
    }

    /// The state snapshots of the running instances, each of the parts
    /// `wanted` names for its interface (`None`: not asked), by interface
    /// name.
    pub async fn states_of(&self, wanted: impl Fn(&str) -> Option<Wanted>) -> Vec<(String, State)> {
        let handles: Vec<_> = lock(&self.shared.instances)
            .iter()
            .filter_map(|(name, i)| Some((name.clone(), i.handle.clone(), wanted(name)?)))
            .collect();
        let mut states = vec![];
        for (name, handle, wanted) in handles {
            if let Some(state) = handle.state_of(wanted).await {
                states.push((name, state));
            }
        }
        states
    }

    /// The parts `wanted` names of the state of the instance on
    /// `interface`, if one runs.
    pub async fn state_of(&self, interface: &str, wanted: Wanted) -> Option<State> {
        let handle = lock(&self.shared.instances)
            .get(interface)
            .map(|i| i.handle.clone())?;
        handle.state_of(wanted).await
    }

    fn sender(&self, interface: &str) -> Option<mpsc::Sender<Input>> {
        lock(&self.shared.instances)
            .get(interface)
            .map(|i| i.handle.inputs.clone())
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
