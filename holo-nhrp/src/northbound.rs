//! The YANG glue of NHRP (Holo's `northbound/{configuration,state,rpc,
//! notification}` in one file while it is small): the `dmvpn-nhrp` nodes
//! under `/ietf-interfaces:interfaces/interface` become one [`Instance`]
//! per interface, run by [`driver::spawn`].
//!
//! ```text
//!   commit --Change--> NhrpProvider: prepare builds each touched interface's
//!                        InstanceConfig (refuses what the core cannot run),
//!                        apply starts / reconfigures (in place) / stops
//!                        the instance tasks
//!   Get STATE ------> NhrpState: Request::State to every instance -> JSON
//!   Execute --------> clear-cache / purge -> Input::Command
//!   instance Output -> forward_outputs: Notify -> YANG notification;
//!                        ResolveName -> DNS lookup -> Command::NameResolved;
//!                        the rest -> the Tunnel hook's data plane (or
//!                        logged and dropped when no hook is set)
//! ```
//!
//! The data plane is pluggable ([`Tunnel`], set with [`Nhrp::set_tunnel`]):
//! holo-nhrp knows no data plane; the daemon gives it one (holo-dmvpn's
//! userspace data plane). A data plane starts after its instance and stops
//! with it; on a restart the old one is gone before the new one starts, so
//! the device name is free again.
//!
//! A changed configuration is applied in place (Holo's model: the commit
//! hands the new configuration over as an event, the instance task and the
//! data plane apply it after the whole transaction): the core keeps its
//! cache and registrations (`reconfigure.rs`), the data plane its TUN
//! device and routes. Only a new tunnel address or data-plane kind starts
//! the instance and its data plane over.
//!
//! [`Instance`]: crate::Instance

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ipnetwork::IpNetwork;
use northbound::{
    BoxFuture, Change, Notifier, Operation, Provider, Refusal, RpcHandler, StateProvider,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::cache::{EntryType, NatPath};
use crate::config::{InstanceConfig, NhsConfig, StaticMap};
use crate::driver::{self, Request, State};
use crate::io::{Command, Input, Notification, Output};
use crate::nhc::NhsStatus;

const INTERFACE: &str = "/ietf-interfaces:interfaces/interface[name='";

/// The NHRP side of the daemon: the running instances, shared by the
/// configuration provider, the state provider and the RPC handlers.
#[derive(Clone, Debug, Default)]
pub struct Nhrp {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    instances: Mutex<BTreeMap<String, RunningInstance>>,
    notifier: Mutex<Option<Notifier>>,
    tunnel: Mutex<Option<Arc<dyn Tunnel>>>,
}

#[derive(Debug)]
struct RunningInstance {
    config: InstanceConfig,
    params: TunnelParams,
    requests: mpsc::Sender<Request>,
    /// The instance's configuration: a new value is applied in place.
    /// Without a data plane only; with one, `run_tunnel` holds it.
    configure: watch::Sender<InstanceConfig>,
    task: JoinHandle<crate::Instance>,
    /// The data-plane task: starts the data plane, hands it each new
    /// configuration, stops it when this sender is dropped.
    tunnel: Option<(watch::Sender<TunnelConfig>, JoinHandle<()>)>,
}

/// What a data plane is configured with: the NHRP side and the tunnel's.
type TunnelConfig = (InstanceConfig, TunnelParams);

impl RunningInstance {
    /// Stops the instance; the data plane's task, to await its end.
    fn stop(self, name: &str) -> Option<JoinHandle<()>> {
        self.task.abort();
        tracing::info!(interface = %name, "NHRP instance stopped");
        self.tunnel.map(|(stop, task)| {
            drop(stop);
            task
        })
    }

    /// Whether `config` and `params` can be applied to this instance in
    /// place. A new tunnel address is a new NHRP identity (every binding
    /// and registration names it), and a new data-plane kind a new data
    /// plane: both start over.
    fn takes_in_place(&self, config: &InstanceConfig, params: &TunnelParams) -> bool {
        self.config.protocol == config.protocol && self.params.data_plane == params.data_plane
    }

    /// Hands the new configuration to the running instance and its data
    /// plane; each applies it in place. With a data plane, the data plane
    /// first: NHRP's first packets after a new tunnel source must leave
    /// from it (`run_tunnel` hands the instance its configuration after).
    fn reconfigure(&mut self, name: &str, config: InstanceConfig, params: TunnelParams) {
        tracing::info!(interface = %name, "NHRP instance reconfigured in place");
        match &self.tunnel {
            Some((tunnel, _)) => {
                tunnel.send_replace((config.clone(), params.clone()));
            }
            None => {
                self.configure.send_replace(config.clone());
            }
        }
        self.config = config;
        self.params = params;
    }
}

/// The underlay side of an mGRE interface (`dmvpn-tunnel:tunnel`), for the
/// data plane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelParams {
    /// The data path of the `dmvpn-tunnel:tunnel` container, for refusals.
    pub path: String,
    /// `gre-key`.
    pub gre_key: Option<u32>,
    /// `mtu`; absent: the data plane's default.
    pub mtu: Option<u16>,
    /// `data-plane` when set (`userspace`, `kernel`).
    pub data_plane: Option<String>,
    /// `ttl` of the GRE packets on the underlay; absent: the default (255).
    pub ttl: Option<u8>,
    /// `tcp-mss`: clamp the MSS of TCP SYNs through the tunnel.
    pub tcp_mss: Option<u16>,
    /// `underlay-netns`: the network namespace (`ip netns` name) holding
    /// the underlay, a front-door VRF; `None`: the daemon's own.
    pub underlay_netns: Option<String>,
    /// `source-interface`: the tunnel source is this interface's address
    /// (whatever it is now); `None`: `source-address`, the instance's NBMA.
    pub source_interface: Option<String>,
}

/// The data plane of the NHRP instances: given by the daemon, so holo-nhrp
/// stays free of any data plane.
pub trait Tunnel: Send + Sync + std::fmt::Debug {
    /// Checks an interface's tunnel parameters in `prepare`: a refusal
    /// fails the commit.
    fn check(&self, interface: &str, params: &TunnelParams) -> Result<(), Refusal> {
        let _ = (interface, params);
        Ok(())
    }

    /// The first IPv4 address of underlay interface `interface`, for a
    /// tunnel configured with `source-interface`; the interface lives in
    /// network namespace `netns` (`underlay-netns`) when one is given.
    fn interface_address(&self, interface: &str, netns: Option<&str>) -> Result<IpAddr, String> {
        let _ = netns;
        Err(format!(
            "cannot read the address of {interface:?}: no data plane is set"
        ))
    }

    /// Starts the data plane of the NHRP instance on `interface`: `requests`
    /// feeds the instance, `outputs` carries the instance's outputs that
    /// are the data plane's (packets to send, bindings, routes, multicast).
    /// Runs in a task of its own.
    fn start(
        &self,
        interface: String,
        config: InstanceConfig,
        params: TunnelParams,
        requests: mpsc::Sender<Request>,
        outputs: mpsc::Receiver<Output>,
    ) -> BoxFuture<'static, Result<Box<dyn TunnelHandle>, String>>;
}

/// A running data plane.
pub trait TunnelHandle: Send {
    /// Applies a new configuration in place: the tunnel interface, its
    /// addresses and the routes through it stay. An error leaves the data
    /// plane as it was (logged by the caller). `Some(address)`: the tunnel
    /// source in use (unspecified while none is up), which NHRP takes as
    /// its NBMA address instead of the configured one.
    fn reconfigure(
        &mut self,
        config: InstanceConfig,
        params: TunnelParams,
    ) -> BoxFuture<'_, Result<Option<IpAddr>, String>>;

    /// Stops it and waits until it is gone (its device removed).
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

impl Nhrp {
    pub fn new() -> Self {
        Nhrp::default()
    }

    /// The configuration provider, to register with the northbound (inside
    /// a tokio runtime: applying starts tasks).
    pub fn provider(&self) -> NhrpProvider {
        NhrpProvider {
            shared: self.shared.clone(),
            leaves: BTreeMap::new(),
            pending: None,
        }
    }

    pub fn state(&self) -> NhrpState {
        NhrpState {
            shared: self.shared.clone(),
        }
    }

    /// The handlers of `dmvpn-nhrp:clear-cache` and `dmvpn-nhrp:purge`.
    pub fn rpc_handlers(&self) -> Vec<(&'static str, Arc<dyn RpcHandler>)> {
        vec![
            (
                "/dmvpn-nhrp:clear-cache",
                Arc::new(NhrpRpc {
                    shared: self.shared.clone(),
                    purge: false,
                }),
            ),
            (
                "/dmvpn-nhrp:purge",
                Arc::new(NhrpRpc {
                    shared: self.shared.clone(),
                    purge: true,
                }),
            ),
        ]
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

    /// A state snapshot of every running instance, by interface name (for
    /// state that combines NHRP with the data plane, such as the tunnel's
    /// peer table).
    pub async fn states(&self) -> Vec<(String, State)> {
        let senders: Vec<_> = lock(&self.shared.instances)
            .iter()
            .map(|(name, i)| (name.clone(), i.requests.clone()))
            .collect();
        let mut states = vec![];
        for (name, requests) in senders {
            let (tx, rx) = oneshot::channel();
            if requests.send(Request::State(tx)).await.is_err() {
                continue;
            }
            if let Ok(state) = rx.await {
                states.push((name, state));
            }
        }
        states
    }

    fn sender(&self, interface: &str) -> Option<mpsc::Sender<Request>> {
        lock(&self.shared.instances)
            .get(interface)
            .map(|i| i.requests.clone())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The configuration provider: keeps the leaves under every interface (data
/// path -> value) and derives each interface's [`InstanceConfig`] from them.
#[derive(Debug)]
pub struct NhrpProvider {
    shared: Arc<Shared>,
    leaves: BTreeMap<String, Option<String>>,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    leaves: BTreeMap<String, Option<String>>,
    /// The new configuration of each interface the transaction touched;
    /// `None`: no NHRP there.
    configs: BTreeMap<String, Option<(InstanceConfig, TunnelParams)>>,
}

impl Provider for NhrpProvider {
    fn name(&self) -> &str {
        "nhrp"
    }

    fn prepare(&mut self, changes: &[Change]) -> Result<(), Refusal> {
        let mut leaves = self.leaves.clone();
        let mut touched = BTreeSet::new();
        for change in changes {
            let Some(name) = interface_name(&change.path) else {
                continue;
            };
            touched.insert(name.to_owned());
            match change.operation {
                Operation::Create | Operation::Modify => {
                    leaves.insert(change.path.clone(), change.value.clone());
                }
                Operation::Delete => {
                    let below = format!("{}/", change.path);
                    leaves.retain(|path, _| path != &change.path && !path.starts_with(&below));
                }
            }
        }
        let tunnel = lock(&self.shared.tunnel).clone();
        let mut configs = BTreeMap::new();
        for name in touched {
            let netns = underlay_netns(&leaves, &name);
            let address_of = |interface: &str| match &tunnel {
                Some(tunnel) => tunnel.interface_address(interface, netns.as_deref()),
                None => Err(format!(
                    "cannot read the address of {interface:?}: no data plane is set"
                )),
            };
            let config = match instance_config(&leaves, &name, &address_of)? {
                Some(config) => {
                    let params = tunnel_params(&leaves, &name)?;
                    if let Some(tunnel) = &tunnel {
                        tunnel.check(&name, &params)?;
                    }
                    Some((config, params))
                }
                None => None,
            };
            configs.insert(name, config);
        }
        self.pending = Some(Pending { leaves, configs });
        Ok(())
    }

    fn abort(&mut self, _changes: &[Change]) {
        self.pending = None;
    }

    fn apply(&mut self, _changes: &[Change]) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        self.leaves = pending.leaves;
        let mut instances = lock(&self.shared.instances);
        for (name, config) in pending.configs {
            if let (Some(running), Some((config, params))) = (instances.get_mut(&name), &config) {
                if &running.config == config && &running.params == params {
                    continue;
                }
                if running.takes_in_place(config, params) {
                    running.reconfigure(&name, config.clone(), params.clone());
                    continue;
                }
            }
            let previous = instances.remove(&name).and_then(|old| old.stop(&name));
            if let Some((config, params)) = config {
                tracing::info!(interface = %name, "NHRP instance started");
                let instance = start(&self.shared, &name, config, params, previous);
                instances.insert(name.clone(), instance);
            }
        }
    }
}

/// Starts the instance of interface `name` and, with a [`Tunnel`] hook, its
/// data plane once `previous` (the data plane of the instance it replaces)
/// has ended.
fn start(
    shared: &Arc<Shared>,
    name: &str,
    config: InstanceConfig,
    params: TunnelParams,
    previous: Option<JoinHandle<()>>,
) -> RunningInstance {
    let (requests, requests_rx) = mpsc::channel(256);
    let (outputs, outputs_rx) = mpsc::channel(256);
    let (configure, configured) = watch::channel(config.clone());
    let task = driver::spawn_configured(configured, requests_rx, outputs);
    let hook = lock(&shared.tunnel).clone();
    let (to_tunnel, tunnel) = match hook {
        Some(hook) => {
            let (to_tunnel, from_nhrp) = mpsc::channel(256);
            let (reconfigure, configs) = watch::channel((config.clone(), params.clone()));
            let run = TunnelRun {
                name: name.to_owned(),
                requests: requests.clone(),
                configure: configure.clone(),
            };
            let task = tokio::spawn(run_tunnel(hook, run, from_nhrp, configs, previous));
            (Some(to_tunnel), Some((reconfigure, task)))
        }
        None => (None, None),
    };
    tokio::spawn(forward_outputs(
        name.to_owned(),
        outputs_rx,
        shared.clone(),
        requests.clone(),
        to_tunnel,
    ));
    RunningInstance {
        config,
        params,
        requests,
        configure,
        task,
        tunnel,
    }
}

struct TunnelRun {
    name: String,
    requests: mpsc::Sender<Request>,
    /// The NHRP instance's configuration, handed on once the data plane
    /// has taken its part.
    configure: watch::Sender<InstanceConfig>,
}

/// The life of one data plane: after the one it replaces, reconfigured
/// with each new value of `configs`, until their sender is dropped.
async fn run_tunnel(
    hook: Arc<dyn Tunnel>,
    run: TunnelRun,
    outputs: mpsc::Receiver<Output>,
    mut configs: watch::Receiver<TunnelConfig>,
    previous: Option<JoinHandle<()>>,
) {
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let name = run.name.clone();
    let configure = run.configure;
    let (config, params) = configs.borrow_and_update().clone();
    let started = hook.start(run.name, config, params, run.requests, outputs);
    let mut handle = match started.await {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!(interface = %name, %error, "data plane not started");
            // Until the instance stops: its end ends this task.
            while configs.changed().await.is_ok() {
                configure.send_replace(configs.borrow_and_update().0.clone());
            }
            return;
        }
    };
    while configs.changed().await.is_ok() {
        let (mut config, params) = configs.borrow_and_update().clone();
        match handle.reconfigure(config.clone(), params).await {
            Ok(Some(nbma)) => config.nbma = nbma,
            Ok(None) => {}
            Err(error) => {
                tracing::error!(interface = %name, %error, "data plane not reconfigured")
            }
        }
        configure.send_if_modified(|current| {
            let changed = *current != config;
            *current = config;
            changed
        });
    }
    handle.stop().await;
    tracing::info!(interface = %name, "data plane stopped");
}

/// The seam to the data plane: every Output of one instance arrives here.
/// Notifications become YANG notifications, name lookups are answered
/// here; packets to send, bindings, routes and multicast maps go to the
/// data plane (`tunnel`), or are logged and dropped without one.
async fn forward_outputs(
    name: String,
    mut outputs: mpsc::Receiver<Output>,
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    tunnel: Option<mpsc::Sender<Output>>,
) {
    while let Some(output) = outputs.recv().await {
        match output {
            Output::Notify(notification) => {
                let json = notification_json(&name, &notification).to_string();
                let notifier = lock(&shared.notifier).clone();
                if let Some(notifier) = notifier
                    && let Err(error) = notifier.publish(&json)
                {
                    tracing::warn!(%error, "NHRP notification not published");
                }
            }
            Output::ResolveName { fqdn } => {
                // Not awaited here: the instance may be waiting on us.
                tokio::spawn(resolve_name(fqdn, requests.clone()));
            }
            output => match &tunnel {
                Some(tunnel) => {
                    if let Err(error) = tunnel.send(output).await {
                        tracing::debug!(interface = %name, output = ?error.0, "data plane gone: output dropped");
                    }
                }
                None => {
                    tracing::debug!(interface = %name, ?output, "no data plane: output dropped")
                }
            },
        }
    }
}

/// Looks `fqdn` up (the system resolver) and hands the IPv4 and IPv6
/// addresses to the instance; none when the lookup fails.
async fn resolve_name(fqdn: String, requests: mpsc::Sender<Request>) {
    let addresses: Vec<IpAddr> = match tokio::net::lookup_host((fqdn.as_str(), 0)).await {
        Ok(found) => {
            let mut addresses: Vec<IpAddr> = vec![];
            for address in found.map(|a| a.ip()) {
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
            addresses
        }
        Err(error) => {
            tracing::warn!(%fqdn, %error, "name lookup failed");
            vec![]
        }
    };
    tracing::debug!(%fqdn, ?addresses, "name resolved");
    let command = Command::NameResolved { fqdn, addresses };
    let _ = requests.send(Request::Input(Input::Command(command))).await;
}

fn notification_json(interface: &str, notification: &Notification) -> Value {
    match notification {
        Notification::NhsUp { nhs } => {
            json!({"dmvpn-nhrp:nhs-up": {"interface": interface, "protocol-address": nhs}})
        }
        Notification::NhsDown { nhs } => {
            json!({"dmvpn-nhrp:nhs-down": {"interface": interface, "protocol-address": nhs}})
        }
        Notification::PeerUp { protocol, nbma } => json!({"dmvpn-nhrp:peer-up": {
            "interface": interface, "protocol-address": protocol, "nbma-address": nbma}}),
        Notification::PeerDown { protocol } => {
            json!({"dmvpn-nhrp:peer-down": {"interface": interface, "protocol-address": protocol}})
        }
    }
}

/// `tun0` of `/ietf-interfaces:interfaces/interface[name='tun0']/...`.
fn interface_name(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(INTERFACE)?;
    rest.split_once("']").map(|(name, _)| name)
}

/// The `dmvpn-tunnel:tunnel` parameters of interface `name`.
fn tunnel_params(
    leaves: &BTreeMap<String, Option<String>>,
    name: &str,
) -> Result<TunnelParams, Refusal> {
    let path = format!("{INTERFACE}{name}']/dmvpn-tunnel:tunnel");
    Ok(TunnelParams {
        gre_key: parse_leaf(leaves, &format!("{path}/gre-key"), "a GRE key")?,
        mtu: parse_leaf(leaves, &format!("{path}/mtu"), "an MTU")?,
        data_plane: leaves.get(&format!("{path}/data-plane")).cloned().flatten(),
        ttl: parse_leaf(leaves, &format!("{path}/ttl"), "a TTL")?,
        tcp_mss: parse_leaf(leaves, &format!("{path}/tcp-mss"), "an MSS")?,
        underlay_netns: underlay_netns(leaves, name),
        source_interface: leaves
            .get(&format!("{path}/source-interface"))
            .cloned()
            .flatten(),
        path,
    })
}

/// The `underlay-netns` of interface `name`: read before the instance
/// configuration, because a `source-interface` is looked up there.
fn underlay_netns(leaves: &BTreeMap<String, Option<String>>, name: &str) -> Option<String> {
    let path = format!("{INTERFACE}{name}']/dmvpn-tunnel:tunnel/underlay-netns");
    leaves.get(&path).cloned().flatten()
}

/// The instance configuration of interface `name`, `None` without NHRP.
fn instance_config(
    leaves: &BTreeMap<String, Option<String>>,
    name: &str,
    address_of: &dyn Fn(&str) -> Result<IpAddr, String>,
) -> Result<Option<InstanceConfig>, Refusal> {
    let base = format!("{INTERFACE}{name}']");
    let nhrp = format!("{base}/dmvpn-nhrp:nhrp");
    if !leaves.contains_key(&nhrp) {
        return Ok(None);
    }
    let get = |path: &str| leaves.get(path).cloned().flatten();

    let source = format!("{base}/dmvpn-tunnel:tunnel/source-address");
    let source_interface = format!("{base}/dmvpn-tunnel:tunnel/source-interface");
    let nbma: IpAddr = match (
        parse_leaf(leaves, &source, "an IP address")?,
        get(&source_interface),
    ) {
        (Some(address), _) => address,
        // An interface without an address yet (DHCP, PPPoE at boot) is no
        // error: the tunnel stays down until it has one (the data plane
        // follows the interface), as on Cisco.
        (None, Some(interface)) => address_of(&interface).unwrap_or_else(|reason| {
            tracing::info!(%name, %reason, "tunnel source interface has no address yet");
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        }),
        (None, None) => {
            return Err(Refusal::new(
                Some(&nhrp),
                "NHRP needs the tunnel source (source-address or source-interface)",
            ));
        }
    };
    // RFC 2332, 2: the node's protocol address on the NBMA subnetwork is
    // the tunnel interface's address.
    let address = format!("{base}/ietf-ip:ipv4/address[ip='");
    let protocol = leaves
        .range(address.clone()..)
        .take_while(|(path, _)| path.starts_with(&address))
        .find_map(|(path, value)| {
            let ip = path.strip_prefix(&address)?.strip_suffix("']/prefix-length")?;
            IpNetwork::new(ip.parse().ok()?, value.as_deref()?.parse().ok()?).ok()
        })
        .ok_or_else(|| {
            Refusal::new(
                Some(&nhrp),
                "NHRP needs an IPv4 address with a prefix length on the interface (ietf-ip:ipv4/address)",
            )
        })?;

    let mut config = InstanceConfig::new(protocol, nbma);
    let leaf = |name: &str| format!("{nhrp}/{name}");
    if let Some(secs) = parse_leaf(leaves, &leaf("holding-time"), "a holding time")? {
        config.holding_time = secs;
    }
    config.registration_interval = parse_leaf(
        leaves,
        &leaf("registration-interval"),
        "a number of seconds",
    )?
    .map(|secs: u64| std::time::Duration::from_secs(secs));
    config.authentication = get(&leaf("authentication")).map(String::into_bytes);
    if let Some(no_unique) =
        parse_leaf::<bool>(leaves, &leaf("registration-no-unique"), "a boolean")?
    {
        config.registration_unique = !no_unique;
    }
    if let Some(mtu) = parse_leaf(leaves, &leaf("mtu"), "an MTU")? {
        config.mtu = mtu;
    }
    if let Some(max) = parse_leaf(leaves, &leaf("max-registrations"), "a number")? {
        config.max_registrations = max;
    }
    config.redirect = parse_leaf(leaves, &leaf("redirect"), "a boolean")?.unwrap_or(false);
    config.shortcut = parse_leaf(leaves, &leaf("shortcut"), "a boolean")?.unwrap_or(false);
    config.multicast_dynamic =
        parse_leaf(leaves, &leaf("multicast/dynamic"), "a boolean")?.unwrap_or(false);

    for protocol in list_keys(leaves, &leaf("nhs[protocol-address='")) {
        let entry = |field: &str| format!("{nhrp}/nhs[protocol-address='{protocol}']/{field}");
        let address = parse_leaf(leaves, &entry("protocol-address"), "an IP address")?
            .or_else(|| protocol.parse().ok())
            .ok_or_else(|| Refusal::new(Some(&entry("protocol-address")), "not an IP address"))?;
        let nbma = parse_leaf(leaves, &entry("nbma-address"), "an IP address")?;
        let mut nhs = match (nbma, get(&entry("nbma-fqdn"))) {
            (Some(nbma), _) => NhsConfig::new(address, nbma),
            (None, Some(fqdn)) => NhsConfig::by_name(address, &fqdn),
            (None, None) => {
                return Err(Refusal::new(
                    Some(&entry("nbma-address")),
                    "the NHS needs an nbma-address or an nbma-fqdn",
                ));
            }
        };
        nhs.priority = parse_leaf(leaves, &entry("priority"), "a priority")?.unwrap_or(0);
        nhs.cluster = parse_leaf(leaves, &entry("cluster"), "a cluster")?.unwrap_or(0);
        config.nhs.push(nhs);
    }
    for protocol in keys(
        leaves,
        &leaf("static-map[protocol-address='"),
        "']/nbma-address",
    ) {
        let path = format!("{nhrp}/static-map[protocol-address='{protocol}']/nbma-address");
        let to_ip = |value: &str| -> Result<IpAddr, Refusal> {
            value
                .parse()
                .map_err(|_| Refusal::new(Some(&path), "not an IP address"))
        };
        let nbma = parse_leaf(leaves, &path, "an IP address")?
            .ok_or_else(|| Refusal::new(Some(&path), "missing"))?;
        config.static_maps.push(StaticMap {
            protocol: to_ip(&protocol)?,
            nbma,
        });
    }
    let multicast = leaf("multicast/nbma-address[");
    for (path, value) in leaves
        .range(multicast.clone()..)
        .take_while(|(path, _)| path.starts_with(&multicast))
    {
        let value = value.as_deref().unwrap_or_default();
        let nbma = value
            .parse()
            .map_err(|_| Refusal::new(Some(path), format!("{value:?} is not an IP address")))?;
        config.multicast_static.push(nbma);
    }

    for nhs in &config.nhs {
        if nhs.protocol.is_ipv4() != protocol.ip().is_ipv4() {
            let path = format!("{nhrp}/nhs[protocol-address='{}']", nhs.protocol);
            return Err(Refusal::new(
                Some(&path),
                "the NHS protocol address is not of the interface address family",
            ));
        }
    }
    Ok(Some(config))
}

/// The value of the leaf at `path`, if set, parsed.
fn parse_leaf<T: std::str::FromStr>(
    leaves: &BTreeMap<String, Option<String>>,
    path: &str,
    what: &str,
) -> Result<Option<T>, Refusal> {
    let Some(value) = leaves.get(path).cloned().flatten() else {
        return Ok(None);
    };
    value
        .parse()
        .map(Some)
        .map_err(|_| Refusal::new(Some(path), format!("{value:?} is not {what}")))
}

/// The keys of the list entries `PREFIX<key>']...` that have any leaf set
/// (the key leaf itself may be absent from the changes).
fn list_keys(leaves: &BTreeMap<String, Option<String>>, prefix: &str) -> BTreeSet<String> {
    leaves
        .range(prefix.to_owned()..)
        .take_while(|(path, _)| path.starts_with(prefix))
        .filter_map(|(path, _)| Some(path.strip_prefix(prefix)?.split_once("']")?.0.to_owned()))
        .collect()
}

/// The list keys of entries `PREFIX<key>SUFFIX`.
fn keys(leaves: &BTreeMap<String, Option<String>>, prefix: &str, suffix: &str) -> Vec<String> {
    leaves
        .range(prefix.to_owned()..)
        .take_while(|(path, _)| path.starts_with(prefix))
        .filter_map(|(path, _)| path.strip_prefix(prefix)?.strip_suffix(suffix))
        .map(str::to_owned)
        .collect()
}

/// Operational state: a snapshot of every instance, as dmvpn-nhrp nodes.
#[derive(Debug)]
pub struct NhrpState {
    shared: Arc<Shared>,
}

impl StateProvider for NhrpState {
    fn name(&self) -> &str {
        "nhrp"
    }

    fn state(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let nhrp = Nhrp {
                shared: self.shared.clone(),
            };
            let now = Instant::now();
            let interfaces: Vec<_> = (nhrp.states().await.iter())
                .map(|(name, state)| render_state(name, state, now))
                .collect();
            Ok(match interfaces.is_empty() {
                true => "{}".to_owned(),
                false => {
                    json!({"ietf-interfaces:interfaces": {"interface": interfaces}}).to_string()
                }
            })
        })
    }
}

fn render_state(name: &str, state: &State, now: Instant) -> Value {
    // One entry per key: a prefix is canonical (host bits zero).
    let mut cache = BTreeMap::new();
    for entry in &state.cache {
        let prefix = IpNetwork::new(entry.prefix.network(), entry.prefix.prefix())
            .unwrap_or(entry.prefix)
            .to_string();
        let mut node = json!({
            "prefix": prefix,
            "type": entry_type(entry.ty),
            "next-hop": entry.next_hop,
            "unique": entry.unique,
            "used": entry.used,
            "authoritative": entry.authoritative,
            "nat": entry.claimed_nbma.is_some(),
        });
        if let Some(nbma) = entry.nbma {
            node["nbma-address"] = json!(nbma);
        }
        if let Some(claimed) = entry.claimed_nbma {
            node["claimed-nbma-address"] = json!(claimed);
            match entry.nat_path {
                NatPath::Pending => node["nat-path"] = json!("pending"),
                NatPath::Verified => node["nat-path"] = json!("verified"),
                NatPath::NotNated => {}
            }
        }
        if let Some(expires) = entry.expires {
            let secs = expires.saturating_duration_since(now).as_secs();
            node["expires-in"] = json!(u32::try_from(secs).unwrap_or(u32::MAX));
        }
        cache.insert(prefix, node);
    }
    let nhs: Vec<_> = state
        .nhs
        .iter()
        .map(|nhs| {
            let status = match nhs.status {
                NhsStatus::Connecting => "connecting",
                NhsStatus::Up => "up",
                NhsStatus::Down => "down",
            };
            json!({
                "protocol-address": nhs.protocol,
                "status": status,
                "registrations-sent": nhs.registrations_sent.to_string(),
                "replies-received": nhs.replies_received.to_string(),
            })
        })
        .collect();
    let types: BTreeSet<_> = state
        .counters
        .sent
        .keys()
        .chain(state.counters.received.keys())
        .collect();
    let messages: Vec<_> = types
        .into_iter()
        .map(|ty| {
            json!({
                "type": ty.replace('_', "-"),
                "sent": state.counters.sent.get(ty).copied().unwrap_or(0).to_string(),
                "received": state.counters.received.get(ty).copied().unwrap_or(0).to_string(),
            })
        })
        .collect();
    let errors: Vec<_> = state
        .counters
        .errors
        .iter()
        .map(|(reason, count)| json!({"reason": reason, "count": count.to_string()}))
        .collect();
    let peers: Vec<_> = state
        .counters
        .peers
        .iter()
        .map(|(nbma, c)| {
            json!({
                "nbma-address": nbma,
                "received": c.received.to_string(),
                "sent": c.sent.to_string(),
            })
        })
        .collect();
    let mut nhrp = json!({});
    if !cache.is_empty() {
        nhrp["cache-entry"] = json!(cache.into_values().collect::<Vec<_>>());
    }
    if !nhs.is_empty() {
        nhrp["nhs-state"] = json!(nhs);
    }
    let nat = &state.counters.nat;
    let nat_counted = nat.probes_sent + nat.proofs + nat.give_ups > 0;
    if !messages.is_empty() || !errors.is_empty() || !peers.is_empty() || nat_counted {
        let mut counters = json!({});
        if nat_counted {
            counters["nat-path"] = json!({
                "probes-sent": nat.probes_sent.to_string(),
                "proofs": nat.proofs.to_string(),
                "give-ups": nat.give_ups.to_string(),
            });
        }
        if !peers.is_empty() {
            counters["peer"] = json!(peers);
        }
        if !messages.is_empty() {
            counters["message"] = json!(messages);
        }
        if !errors.is_empty() {
            counters["error"] = json!(errors);
        }
        nhrp["counters"] = counters;
    }
    json!({"name": name, "dmvpn-nhrp:nhrp": nhrp})
}

fn entry_type(ty: EntryType) -> &'static str {
    match ty {
        EntryType::Static => "static",
        EntryType::Dynamic => "dynamic",
        EntryType::Nhs => "nhs",
        EntryType::Local => "local",
        EntryType::Shortcut => "shortcut",
        EntryType::Negative => "negative",
        EntryType::Incomplete => "incomplete",
    }
}

/// `dmvpn-nhrp:clear-cache` and `dmvpn-nhrp:purge` as instance commands.
#[derive(Debug)]
struct NhrpRpc {
    shared: Arc<Shared>,
    purge: bool,
}

impl RpcHandler for NhrpRpc {
    fn execute(&self, input: String) -> BoxFuture<'_, Result<Option<String>, Refusal>> {
        Box::pin(async move {
            let (rpc, command) = match self.purge {
                false => ("dmvpn-nhrp:clear-cache", None),
                true => ("dmvpn-nhrp:purge", Some(())),
            };
            let input: Value = serde_json::from_str(&input)
                .map_err(|e| Refusal::new(None, format!("RPC input: {e}")))?;
            let interface = input[rpc]["interface"].as_str().unwrap_or_default();
            let command = match command {
                None => Command::ClearCache,
                Some(()) => {
                    let prefix = input[rpc]["prefix"].as_str().unwrap_or_default();
                    let path = format!("/{rpc}/prefix");
                    Command::Purge {
                        prefix: prefix
                            .parse()
                            .map_err(|_| Refusal::new(Some(&path), "not a prefix"))?,
                    }
                }
            };
            let nhrp = Nhrp {
                shared: self.shared.clone(),
            };
            let path = format!("/{rpc}/interface");
            let no_instance =
                || Refusal::new(Some(&path), format!("no NHRP instance on {interface:?}"));
            let requests = nhrp.sender(interface).ok_or_else(no_instance)?;
            requests
                .send(Request::Input(Input::Command(command)))
                .await
                .map_err(|_| no_instance())?;
            Ok(None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_interfaces(interface: &str) -> Result<IpAddr, String> {
        match interface {
            "eth0" => Ok("192.0.2.7".parse().unwrap()),
            _ => Err(format!("{interface}: no such interface")),
        }
    }

    #[test]
    fn the_source_interface_gives_the_nbma_address() {
        let mut leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-interface", "eth0"),
            ("ietf-ip:ipv4/address[ip='10.0.0.2']/prefix-length", "24"),
            ("dmvpn-nhrp:nhrp", ""),
        ]);
        let config = instance_config(&leaves, "tun0", &no_interfaces)
            .unwrap()
            .unwrap();
        assert_eq!(config.nbma, "192.0.2.7".parse::<IpAddr>().unwrap());
        // Without an address yet: no source, the tunnel waits for one.
        let path = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/source-interface";
        leaves.insert(path.to_owned(), Some("eth9".to_owned()));
        let config = instance_config(&leaves, "tun0", &no_interfaces)
            .unwrap()
            .unwrap();
        assert!(config.nbma.is_unspecified());
    }

    fn leaves(pairs: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
        let base = "/ietf-interfaces:interfaces/interface[name='tun0']";
        pairs
            .iter()
            .map(|(path, value)| {
                let value = Some(value.to_string()).filter(|v| !v.is_empty());
                (format!("{base}/{path}"), value)
            })
            .collect()
    }

    #[test]
    fn spoke_leaves_make_an_instance_config() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("ietf-ip:ipv4/address[ip='10.0.0.2']/prefix-length", "24"),
            ("dmvpn-nhrp:nhrp", ""),
            ("dmvpn-nhrp:nhrp/holding-time", "600"),
            ("dmvpn-nhrp:nhrp/authentication", "DMVPN"),
            ("dmvpn-nhrp:nhrp/shortcut", "true"),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/nbma-address",
                "192.0.2.1",
            ),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/priority",
                "3",
            ),
            (
                "dmvpn-nhrp:nhrp/multicast/nbma-address[.='192.0.2.1']",
                "192.0.2.1",
            ),
        ]);
        let config = instance_config(&leaves, "tun0", &no_interfaces)
            .unwrap()
            .unwrap();
        assert_eq!(config.protocol, "10.0.0.2/24".parse().unwrap());
        assert_eq!(config.nbma, "192.0.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(config.holding_time, 600);
        assert_eq!(config.authentication.as_deref(), Some(&b"DMVPN"[..]));
        assert!(config.shortcut && !config.redirect);
        assert_eq!(config.nhs.len(), 1);
        assert_eq!(config.nhs[0].priority, 3);
        assert_eq!(
            config.multicast_static,
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn an_nhs_by_name_is_resolved_by_the_instance() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("ietf-ip:ipv4/address[ip='10.0.0.2']/prefix-length", "24"),
            ("dmvpn-nhrp:nhrp", ""),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/nbma-fqdn",
                "hub.example.net",
            ),
            (
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.9']/priority",
                "1",
            ),
        ]);
        let refusal = instance_config(&leaves, "tun0", &no_interfaces).unwrap_err();
        assert!(
            refusal
                .path
                .unwrap()
                .ends_with("nhs[protocol-address='10.0.0.9']/nbma-address")
        );
        let mut leaves = leaves;
        leaves.retain(|path, _| !path.contains("10.0.0.9"));
        let config = instance_config(&leaves, "tun0", &no_interfaces)
            .unwrap()
            .unwrap();
        assert_eq!(config.nhs.len(), 1);
        assert_eq!(config.nhs[0].fqdn.as_deref(), Some("hub.example.net"));
        assert_eq!(
            config.nhs[0].protocol,
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn no_address_is_refused_naming_the_nhrp_node() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("dmvpn-nhrp:nhrp", ""),
        ]);
        let refusal = instance_config(&leaves, "tun0", &no_interfaces).unwrap_err();
        assert_eq!(
            refusal.path.as_deref(),
            Some("/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp")
        );
        assert!(refusal.reason.contains("IPv4 address"));
    }

    #[test]
    fn tunnel_leaves_make_the_data_plane_parameters() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("dmvpn-tunnel:tunnel/gre-key", "42"),
            ("dmvpn-tunnel:tunnel/mtu", "1380"),
            ("dmvpn-tunnel:tunnel/data-plane", "kernel"),
            ("dmvpn-tunnel:tunnel/ttl", "64"),
            ("dmvpn-tunnel:tunnel/tcp-mss", "1360"),
            ("dmvpn-tunnel:tunnel/underlay-netns", "inet"),
        ]);
        assert_eq!(tunnel_params(&leaves, "tun0").unwrap().tcp_mss, Some(1360));
        assert_eq!(
            tunnel_params(&leaves, "tun0")
                .unwrap()
                .underlay_netns
                .as_deref(),
            Some("inet")
        );
        assert_eq!(tunnel_params(&leaves, "tun0").unwrap().ttl, Some(64));
        let params = tunnel_params(&leaves, "tun0").unwrap();
        assert_eq!(params.gre_key, Some(42));
        assert_eq!(params.mtu, Some(1380));
        assert_eq!(params.data_plane.as_deref(), Some("kernel"));
        assert_eq!(
            params.path,
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel"
        );
        let bare = tunnel_params(&BTreeMap::new(), "tun0").unwrap();
        assert_eq!(
            (bare.gre_key, bare.mtu, bare.data_plane, bare.underlay_netns),
            (None, None, None, None)
        );
    }

    /// Records the life of its data planes: starts, stops, packets to send.
    #[derive(Debug, Default)]
    struct FakeTunnel {
        events: Arc<Mutex<Vec<String>>>,
        sends: Arc<std::sync::atomic::AtomicUsize>,
    }

    struct FakeHandle {
        events: Arc<Mutex<Vec<String>>>,
        name: String,
        task: JoinHandle<()>,
    }

    impl Tunnel for FakeTunnel {
        fn check(&self, _interface: &str, params: &TunnelParams) -> Result<(), Refusal> {
            match params.data_plane.as_deref() {
                Some("kernel") => Err(Refusal::new(Some(&params.path), "no kernel")),
                _ => Ok(()),
            }
        }

        fn start(
            &self,
            interface: String,
            _config: InstanceConfig,
            params: TunnelParams,
            _requests: mpsc::Sender<Request>,
            mut outputs: mpsc::Receiver<Output>,
        ) -> BoxFuture<'static, Result<Box<dyn TunnelHandle>, String>> {
            let (events, sends) = (self.events.clone(), self.sends.clone());
            Box::pin(async move {
                let name = format!("{interface} key {:?}", params.gre_key);
                lock(&events).push(format!("start {name}"));
                let task = tokio::spawn(async move {
                    while let Some(output) = outputs.recv().await {
                        assert!(!matches!(output, Output::Notify(_)), "{output:?}");
                        if matches!(output, Output::Send { .. }) {
                            sends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
                Ok(Box::new(FakeHandle { events, name, task }) as Box<dyn TunnelHandle>)
            })
        }
    }

    impl TunnelHandle for FakeHandle {
        fn reconfigure(
            &mut self,
            _config: InstanceConfig,
            params: TunnelParams,
        ) -> BoxFuture<'_, Result<Option<IpAddr>, String>> {
            Box::pin(async move {
                let name = format!(
                    "{} key {:?}",
                    self.name.split(' ').next().unwrap_or(""),
                    params.gre_key
                );
                lock(&self.events).push(format!("reconfigure {name}"));
                self.name = name;
                Ok(None)
            })
        }

        fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                self.task.abort();
                // A slow stop: the next data plane must wait for it.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                lock(&self.events).push(format!("stop {}", self.name));
            })
        }
    }

    fn change(operation: Operation, path: &str, value: Option<&str>) -> Change {
        Change {
            operation,
            path: format!("/ietf-interfaces:interfaces/interface[name='tun0']/{path}"),
            schema_path: String::new(),
            value: value.map(str::to_owned),
        }
    }

    async fn wait_for(events: &Mutex<Vec<String>>, n: usize) -> Vec<String> {
        for _ in 0..200 {
            if lock(events).len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        lock(events).clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tunnel_hook_starts_is_reconfigured_in_place_restarts_for_a_new_address_and_stops()
    {
        let nhrp = Nhrp::new();
        let fake = Arc::new(FakeTunnel::default());
        let (events, sends) = (fake.events.clone(), fake.sends.clone());
        nhrp.set_tunnel(fake);
        let mut provider = nhrp.provider();
        let spoke = [
            change(
                Operation::Create,
                "dmvpn-tunnel:tunnel/source-address",
                Some("192.0.2.2"),
            ),
            change(Operation::Create, "dmvpn-tunnel:tunnel/gre-key", Some("42")),
            change(
                Operation::Create,
                "ietf-ip:ipv4/address[ip='10.0.0.2']/prefix-length",
                Some("24"),
            ),
            change(Operation::Create, "dmvpn-nhrp:nhrp", None),
            change(
                Operation::Create,
                "dmvpn-nhrp:nhrp/nhs[protocol-address='10.0.0.1']/nbma-address",
                Some("192.0.2.1"),
            ),
        ];
        provider.prepare(&spoke).unwrap();
        provider.apply(&spoke);
        assert_eq!(wait_for(&events, 1).await, ["start tun0 key Some(42)"]);
        // The registration to the NHS reaches the data plane.
        for _ in 0..200 {
            if sends.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(sends.load(std::sync::atomic::Ordering::Relaxed) > 0);

        // The hook refuses in prepare; nothing changes.
        let kernel = [change(
            Operation::Create,
            "dmvpn-tunnel:tunnel/data-plane",
            Some("kernel"),
        )];
        let refusal = provider.prepare(&kernel).unwrap_err();
        assert!(refusal.path.unwrap().ends_with("dmvpn-tunnel:tunnel"));
        provider.abort(&kernel);

        // A new key is applied to the running data plane.
        let rekey = [change(
            Operation::Modify,
            "dmvpn-tunnel:tunnel/gre-key",
            Some("43"),
        )];
        provider.prepare(&rekey).unwrap();
        provider.apply(&rekey);
        assert_eq!(
            wait_for(&events, 2).await,
            ["start tun0 key Some(42)", "reconfigure tun0 key Some(43)"]
        );

        // A new tunnel address starts over: the old data plane is gone
        // first.
        let readdress = [
            change(
                Operation::Delete,
                "ietf-ip:ipv4/address[ip='10.0.0.2']",
                None,
            ),
            change(
                Operation::Create,
                "ietf-ip:ipv4/address[ip='10.0.0.3']/prefix-length",
                Some("24"),
            ),
        ];
        provider.prepare(&readdress).unwrap();
        provider.apply(&readdress);
        assert_eq!(
            wait_for(&events, 4).await[2..],
            ["stop tun0 key Some(43)", "start tun0 key Some(43)"]
        );

        nhrp.stop_all().await;
        assert_eq!(lock(&events).last().unwrap(), "stop tun0 key Some(43)");
    }

    #[test]
    fn no_nhrp_no_instance() {
        let leaves = leaves(&[("dmvpn-tunnel:tunnel/source-address", "192.0.2.2")]);
        assert_eq!(instance_config(&leaves, "tun0", &no_interfaces), Ok(None));
    }
}
