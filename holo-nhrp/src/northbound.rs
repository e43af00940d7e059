//! The YANG glue of NHRP (Holo's `northbound/{configuration,state,rpc,
//! notification}` in one file while it is small): the `dmvpn-nhrp` nodes
//! under `/ietf-interfaces:interfaces/interface` become one [`Instance`]
//! per interface, run by [`driver::spawn`].
//!
//! ```text
//!   commit --Change--> NhrpProvider: prepare builds each touched interface's
//!                        InstanceConfig (refuses what the core cannot run),
//!                        apply starts / restarts / stops the instance tasks
//!   Get STATE ------> NhrpState: Request::State to every instance -> JSON
//!   Execute --------> clear-cache / purge -> Input::Command
//!   instance Output -> forward_outputs: Notify -> YANG notification;
//!                        the rest waits for the data plane (logged, dropped)
//! ```
//!
//! A changed configuration restarts the instance with the new one (simple
//! and honest: its cache and registrations start over; no in-place
//! reconfiguration in the core yet).
//!
//! [`Instance`]: crate::Instance

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ipnetwork::IpNetwork;
use northbound::grpc::{BoxFuture, Notifier, RpcHandler, StateProvider};
use northbound::{Change, Operation, Provider, Refusal};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::cache::EntryType;
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
}

#[derive(Debug)]
struct RunningInstance {
    config: InstanceConfig,
    requests: mpsc::Sender<Request>,
    task: JoinHandle<crate::Instance>,
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

    /// Stops every instance (daemon shutdown).
    pub fn stop_all(&self) {
        for (name, instance) in std::mem::take(&mut *lock(&self.shared.instances)) {
            tracing::info!(interface = %name, "NHRP instance stopped");
            instance.task.abort();
        }
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
    configs: BTreeMap<String, Option<InstanceConfig>>,
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
        let mut configs = BTreeMap::new();
        for name in touched {
            let config = instance_config(&leaves, &name)?;
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
            let unchanged = matches!(
                (instances.get(&name), &config),
                (Some(running), Some(config)) if &running.config == config
            );
            if unchanged {
                continue;
            }
            if let Some(old) = instances.remove(&name) {
                old.task.abort();
                tracing::info!(interface = %name, "NHRP instance stopped");
            }
            if let Some(config) = config {
                tracing::info!(interface = %name, "NHRP instance started");
                instances.insert(name.clone(), start(&self.shared, &name, config));
            }
        }
    }
}

fn start(shared: &Arc<Shared>, name: &str, config: InstanceConfig) -> RunningInstance {
    let (requests, requests_rx) = mpsc::channel(256);
    let (outputs, outputs_rx) = mpsc::channel(256);
    let task = driver::spawn(config.clone(), requests_rx, outputs);
    tokio::spawn(forward_outputs(name.to_owned(), outputs_rx, shared.clone()));
    RunningInstance {
        config,
        requests,
        task,
    }
}

/// The seam to the data plane: every Output of one instance arrives here.
/// Notifications become YANG notifications; packets to send, bindings,
/// routes and multicast maps wait for the data plane (holo-dmvpn) and are
/// only logged for now.
async fn forward_outputs(name: String, mut outputs: mpsc::Receiver<Output>, shared: Arc<Shared>) {
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
            Output::Send { to, summary, .. } => {
                tracing::debug!(interface = %name, %to, %summary, "no data plane yet: not sent");
            }
            other => {
                tracing::debug!(interface = %name, ?other, "no data plane yet: output dropped")
            }
        }
    }
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

/// The instance configuration of interface `name`, `None` without NHRP.
fn instance_config(
    leaves: &BTreeMap<String, Option<String>>,
    name: &str,
) -> Result<Option<InstanceConfig>, Refusal> {
    let base = format!("{INTERFACE}{name}']");
    let nhrp = format!("{base}/dmvpn-nhrp:nhrp");
    if !leaves.contains_key(&nhrp) {
        return Ok(None);
    }
    let get = |path: &str| leaves.get(path).cloned().flatten();

    let source = format!("{base}/dmvpn-tunnel:tunnel/source-address");
    let nbma: IpAddr = parse_leaf(leaves, &source, "an IP address")?
        .ok_or_else(|| Refusal::new(Some(&nhrp), "NHRP needs the tunnel source address"))?;
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

    for protocol in keys(leaves, &leaf("nhs[protocol-address='"), "']/nbma-address") {
        let entry = |field: &str| format!("{nhrp}/nhs[protocol-address='{protocol}']/{field}");
        let address = parse_leaf(leaves, &entry("protocol-address"), "an IP address")?
            .or_else(|| protocol.parse().ok())
            .ok_or_else(|| Refusal::new(Some(&entry("protocol-address")), "not an IP address"))?;
        let nbma = parse_leaf(leaves, &entry("nbma-address"), "an IP address")?
            .ok_or_else(|| Refusal::new(Some(&entry("nbma-address")), "missing"))?;
        let mut nhs = NhsConfig::new(address, nbma);
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
            let senders: Vec<_> = lock(&self.shared.instances)
                .iter()
                .map(|(name, i)| (name.clone(), i.requests.clone()))
                .collect();
            let mut interfaces = vec![];
            for (name, requests) in senders {
                let (tx, rx) = oneshot::channel();
                if requests.send(Request::State(tx)).await.is_err() {
                    continue;
                }
                if let Ok(state) = rx.await {
                    interfaces.push(render_state(&name, &state, Instant::now()));
                }
            }
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
            json!({"protocol-address": nhs.protocol, "status": status})
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
    let mut nhrp = json!({});
    if !cache.is_empty() {
        nhrp["cache-entry"] = json!(cache.into_values().collect::<Vec<_>>());
    }
    if !nhs.is_empty() {
        nhrp["nhs-state"] = json!(nhs);
    }
    if !messages.is_empty() || !errors.is_empty() {
        let mut counters = json!({});
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
        let config = instance_config(&leaves, "tun0").unwrap().unwrap();
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
    fn no_address_is_refused_naming_the_nhrp_node() {
        let leaves = leaves(&[
            ("dmvpn-tunnel:tunnel/source-address", "192.0.2.2"),
            ("dmvpn-nhrp:nhrp", ""),
        ]);
        let refusal = instance_config(&leaves, "tun0").unwrap_err();
        assert_eq!(
            refusal.path.as_deref(),
            Some("/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp")
        );
        assert!(refusal.reason.contains("IPv4 address"));
    }

    #[test]
    fn no_nhrp_no_instance() {
        let leaves = leaves(&[("dmvpn-tunnel:tunnel/source-address", "192.0.2.2")]);
        assert_eq!(instance_config(&leaves, "tun0"), Ok(None));
    }
}
