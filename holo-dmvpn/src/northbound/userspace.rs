//! The data plane of the NHRP instances: holo-dmvpn's userspace data plane
//! (a TUN device named after the tunnel interface and a raw GRE socket
//! bound to the tunnel source), plugged into the NHRP glue as its
//! [`Tunnel`] hook.
//!
//! ```text
//!   commit --prepare--> check: refuses data-plane "kernel" (not built yet)
//!          --apply----> NHRP instance + start: DataPlane::spawn
//!                       + local prefixes (the LANs behind us), followed
//!                         by a netlink monitor of interfaces and addresses
//!                       (a running one: reconfigure, DataPlane::reconfigure)
//!   instance stops / daemon exits --> stop: DataPlane::shutdown (TUN gone)
//!   Get STATE --> Planes::snapshot (the peer table, `peers`)
//! ```
//!
//! Each data plane is owned by a small task that answers snapshot queries
//! until it is told to stop, so the state provider can read the counters
//! of every running tunnel without sharing the data plane itself.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Tunnel, TunnelHandle, TunnelParams};
use crate::dataplane::interfaces::{self, InterfaceMonitor, Interfaces, Source, SourceState};
use crate::dataplane::{Counters, DataPlane, DataPlaneConfig, PeerLines, Snapshot, netns, routes};
use holo_nhrp::InstanceConfig;
use holo_nhrp::{Command, DataPlaneEvent, Input, Output};
use ipnetwork::IpNetwork;
use northbound::{BoxFuture, Refusal};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How often the prefixes behind this node are read again when the
/// interface monitor could not start.
const LOCAL_PREFIXES_INTERVAL: Duration = Duration::from_secs(5);

/// One userspace data plane per NHRP instance, in the daemon's network
/// namespace; only its GRE socket lives in the underlay's when
/// `underlay-netns` is set.
#[derive(Debug, Default)]
pub struct Userspace {
    planes: Planes,
}

impl Userspace {
    /// The running data planes, for the state provider.
    pub fn planes(&self) -> Planes {
        self.planes.clone()
    }
}

/// The running data planes by interface name: where snapshot queries go,
/// and where each tunnel's source stands.
#[derive(Clone, Debug, Default)]
pub struct Planes {
    queries: Arc<Mutex<BTreeMap<String, mpsc::Sender<Query>>>>,
    /// Where the data planes' IPsec events become YANG notifications.
    notifier: Arc<Mutex<Option<northbound::Notifier>>>,
    /// Debug: the directory the data planes write SA keys to.
    keylog: Arc<Mutex<Option<std::path::PathBuf>>>,
    sources: Arc<Mutex<BTreeMap<String, SourceStatus>>>,
}

/// What the owner of a data plane is asked.
#[derive(Debug)]
pub enum Query {
    Snapshot(oneshot::Sender<Snapshot>),
    /// The counters of one peer (and the totals), or of all.
    Counters(PeerLines, oneshot::Sender<Counters>),
    /// `clear crypto sa`: whether the tunnel has IPsec.
    ClearSa(Option<IpAddr>, oneshot::Sender<bool>),
}

/// Whether a tunnel's source is up (dmvpn-tunnel `oper-status`): the
/// address in use, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    Up(Ipv4Addr),
    Down(String),
}

impl SourceStatus {
    /// The source address in use; unspecified while down.
    fn address(&self) -> Ipv4Addr {
        match self {
            SourceStatus::Up(address) => *address,
            SourceStatus::Down(_) => Ipv4Addr::UNSPECIFIED,
        }
    }
}

impl Planes {
    /// Counters and forwarding state of the data plane on `interface`;
    /// `None` when none runs there.
    pub async fn snapshot(&self, interface: &str) -> Option<Snapshot> {
        let queries = lock(&self.queries).get(interface).cloned()?;
        let (tx, rx) = oneshot::channel();
        queries.send(Query::Snapshot(tx)).await.ok()?;
        rx.await.ok()
    }

    /// The data-plane counters of the tunnel on `interface`: its totals
    /// and the lines `lines` names; `None` when no data plane runs there.
    /// Copies no forwarding state.
    pub async fn counters(&self, interface: &str, lines: PeerLines) -> Option<Counters> {
        let queries = lock(&self.queries).get(interface).cloned()?;
        let (tx, rx) = oneshot::channel();
        queries.send(Query::Counters(lines, tx)).await.ok()?;
        rx.await.ok()
    }

    /// Deletes the IPsec SAs of the tunnel on `interface` with `peer` (or
    /// all): `None` when no data plane runs there, `Some(false)` when it
    /// has no IPsec.
    pub async fn clear_sa(&self, interface: &str, peer: Option<IpAddr>) -> Option<bool> {
        let queries = lock(&self.queries).get(interface).cloned()?;
        let (tx, rx) = oneshot::channel();
        queries.send(Query::ClearSa(peer, tx)).await.ok()?;
        rx.await.ok()
    }

    /// Publishes the data planes' IPsec events (IKE SA up/down) from now on.
    pub fn set_notifier(&self, notifier: northbound::Notifier) {
        *lock(&self.notifier) = Some(notifier);
    }

    /// Debug: every data plane started from now on writes the keys of its
    /// child SAs to Wireshark's tables in `dir`.
    pub fn set_ipsec_keylog(&self, dir: std::path::PathBuf) {
        *lock(&self.keylog) = Some(dir);
    }

    fn ipsec_keylog(&self) -> Option<std::path::PathBuf> {
        lock(&self.keylog).clone()
    }

    /// The IPsec event sink of the data plane on `interface`.
    fn ipsec_events(&self, interface: &str) -> crate::dataplane::IpsecEvents {
        let notifier = self.notifier.clone();
        let interface = interface.to_owned();
        Arc::new(move |notification| {
            let Some(json) = super::ipsec::notification_json(&interface, notification) else {
                return;
            };
            if let Some(notifier) = lock(&notifier).as_ref()
                && let Err(error) = notifier.publish(&json.to_string())
            {
                tracing::warn!(%error, "IPsec notification not published");
            }
        })
    }

    /// The interfaces with a data plane.
    pub fn interfaces(&self) -> Vec<String> {
        lock(&self.queries).keys().cloned().collect()
    }

    /// Where the source of the tunnel on `interface` stands.
    pub fn source(&self, interface: &str) -> Option<SourceStatus> {
        lock(&self.sources).get(interface).cloned()
    }

    fn insert(&self, interface: &str, queries: mpsc::Sender<Query>) {
        lock(&self.queries).insert(interface.to_owned(), queries);
    }

    fn set_source(&self, interface: &str, status: SourceStatus) {
        lock(&self.sources).insert(interface.to_owned(), status);
    }

    fn remove(&self, interface: &str) {
        lock(&self.queries).remove(interface);
        lock(&self.sources).remove(interface);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tunnel for Userspace {
    fn check(&self, _interface: &str, params: &TunnelParams) -> Result<(), Refusal> {
        // A missing front-door namespace fails the commit, naming it,
        // rather than a data plane that does not start after it.
        if let Some(name) = &params.underlay_netns {
            let path = std::path::Path::new(netns::NETNS_RUN_DIR).join(name);
            if !path.exists() {
                return Err(Refusal::new(
                    Some(&format!("{}/underlay-netns", params.path)),
                    format!(
                        "no network namespace {name:?} ({}): create it first (ip netns add)",
                        path.display()
                    ),
                ));
            }
        }
        match params.data_plane.as_deref() {
            None | Some("userspace") | Some("ebpf") => Ok(()),
            Some(other) => Err(Refusal::new(
                Some(&format!("{}/data-plane", params.path)),
                format!(
                    "data plane {other:?} is not available yet: \"userspace\" and \"ebpf\" are"
                ),
            )),
        }
    }

    fn interface_address(&self, interface: &str, netns: Option<&str>) -> Result<IpAddr, String> {
        match netns {
            None => interface_ipv4(interface),
            Some(name) => netns::run_in(name, || Ok(interface_ipv4(interface)))
                .map_err(|e| e.to_string())
                .flatten(),
        }
        .map(IpAddr::V4)
    }

    fn start(
        &self,
        interface: String,
        config: InstanceConfig,
        params: TunnelParams,
        nhrp: mpsc::Sender<Input>,
        outputs: mpsc::Receiver<Output>,
    ) -> BoxFuture<'static, Result<Box<dyn TunnelHandle>, String>> {
        let planes = self.planes.clone();
        Box::pin(async move {
            let desired = dataplane_config(&interface, &config, &params)?;
            let source = tunnel_source(&config, &params)?;
            let monitor = InterfaceMonitor::spawn(params.underlay_netns.as_deref())
                .await
                .map_err(|e| format!("following the underlay's interfaces: {e}"))?;
            let mut owner = Owner {
                interface: interface.clone(),
                desired,
                source,
                mtu_configured: params.mtu.is_some(),
                status: SourceStatus::Down(String::new()),
                nhrp: nhrp.clone(),
                planes: planes.clone(),
                sourced: watch::channel(Ipv4Addr::UNSPECIFIED).0,
            };
            let (status, effective) = owner.follow(&monitor.current());
            tracing::info!(%interface, mtu = effective.mtu, key = ?effective.key, underlay_netns = ?effective.underlay_netns, "data plane starting");
            let hooks = crate::dataplane::Hooks {
                ipsec_events: Some(planes.ipsec_events(&interface)),
                ipsec_keylog: planes.ipsec_keylog(),
            };
            let dataplane = DataPlane::spawn_with(effective.clone(), nhrp.clone(), outputs, hooks)
                .await
                .map_err(|e| e.to_string())?;
            owner.status_changed(status, config.nbma).await;
            let prefixes = tokio::spawn(local_prefixes(
                interface.clone(),
                owner.sourced.subscribe(),
                nhrp.clone(),
            ));
            let (queries_tx, queries) = mpsc::channel(8);
            let (reconfigure, configs) = mpsc::channel(1);
            let (stop, stopped) = oneshot::channel();
            let owner =
                tokio::spawn(owner.run(dataplane, effective, monitor, queries, configs, stopped));
            planes.insert(&interface, queries_tx);
            Ok(Box::new(Running {
                interface,
                planes,
                owner,
                stop,
                reconfigure,
                prefixes,
            }) as Box<dyn TunnelHandle>)
        })
    }
}

/// The data-plane settings a commit asks for: the NHRP side (address,
/// NHSs, redirect) and the `dmvpn-tunnel` parameters. The source and,
/// without a configured MTU, the MTU are the owner's to fill in from the
/// underlay as it is (`Owner::effective`).
fn dataplane_config(
    interface: &str,
    config: &InstanceConfig,
    params: &TunnelParams,
) -> Result<DataPlaneConfig, String> {
    let mut dp =
        DataPlaneConfig::from_nhrp(interface, config, params.gre_key).map_err(|e| e.to_string())?;
    if let Some(ttl) = params.ttl {
        dp.ttl = ttl;
    }
    dp.underlay_netns = params.underlay_netns.clone();
    if let Some(mtu) = params.mtu {
        dp.mtu = mtu;
    }
    dp.mss_clamp = params.tcp_mss;
    dp.protection = params.protection.clone();
    dp.fast_path = params.data_plane.as_deref() == Some("ebpf");
    Ok(dp)
}

/// Where the tunnel takes its source from: `source-interface`, else
/// `source-address` (the instance's NBMA address).
fn tunnel_source(config: &InstanceConfig, params: &TunnelParams) -> Result<Source, String> {
    match (&params.source_interface, config.nbma) {
        (Some(name), _) => Ok(Source::Interface(name.clone())),
        (None, IpAddr::V4(address)) => Ok(Source::Address(address)),
        (None, other) => Err(format!(
            "underlay address {other}: only an IPv4 underlay is supported yet"
        )),
    }
}

/// A commit for the running data plane (its settings and source), answered
/// with the tunnel source in use once applied.
type Reconfigure = (
    DataPlaneConfig,
    Source,
    bool,
    oneshot::Sender<Result<IpAddr, String>>,
);

struct Running {
    interface: String,
    planes: Planes,
    /// The task owning the data plane; ends when `stop` is sent or dropped.
    owner: JoinHandle<()>,
    stop: oneshot::Sender<()>,
    reconfigure: mpsc::Sender<Reconfigure>,
    prefixes: JoinHandle<()>,
}

impl TunnelHandle for Running {
    fn reconfigure(
        &mut self,
        config: InstanceConfig,
        params: TunnelParams,
    ) -> BoxFuture<'_, Result<Option<IpAddr>, String>> {
        Box::pin(async move {
            let desired = dataplane_config(&self.interface, &config, &params)?;
            let source = tunnel_source(&config, &params)?;
            let (tx, rx) = oneshot::channel();
            let gone = || "the data plane has stopped".to_owned();
            let message = (desired, source, params.mtu.is_some(), tx);
            self.reconfigure.send(message).await.map_err(|_| gone())?;
            let nbma = rx.await.map_err(|_| gone())??;
            Ok(Some(nbma))
        })
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            self.prefixes.abort();
            self.planes.remove(&self.interface);
            drop(self.stop);
            let _ = self.owner.await;
        })
    }
}

/// The owner of a data plane: answers snapshot queries, applies commits,
/// and follows the tunnel source on the underlay (netlink monitor in the
/// underlay's namespace). A source that is missing or down leaves the
/// tunnel configured but down, its reason in the state; when it comes up,
/// or its address changes (DHCP), the data plane binds to it and NHRP
/// registers from it (`Command::NbmaChanged`), nothing restarted.
struct Owner {
    interface: String,
    /// What the commits asked for; the source and MTU from the underlay
    /// are filled in by `effective`.
    desired: DataPlaneConfig,
    source: Source,
    mtu_configured: bool,
    status: SourceStatus,
    nhrp: mpsc::Sender<Input>,
    planes: Planes,
    /// The source address in use (unspecified: none), for the local
    /// prefixes (they leave out the underlay subnet).
    sourced: watch::Sender<Ipv4Addr>,
}

impl Owner {
    /// Where the source stands in `interfaces`, and the data-plane
    /// settings for the underlay as it is: the source in use (none while
    /// down) and, unless configured, the MTU of the source's interface
    /// less the GRE overhead.
    fn follow(&self, interfaces: &Interfaces) -> (SourceStatus, DataPlaneConfig) {
        let mut dp = self.desired.clone();
        let status = match interfaces::source_state(interfaces, &self.source) {
            SourceState::Up {
                address,
                interface,
                mtu,
            } => {
                if !self.mtu_configured {
                    let ipsec = dp.protection.as_ref().map_or(0, |p| p.overhead());
                    dp.mtu = tunnel_mtu(mtu.saturating_sub(ipsec), dp.key.is_some());
                    tracing::debug!(interface = %self.interface, underlay = %interface, mtu = dp.mtu, "tunnel MTU from the underlay");
                }
                SourceStatus::Up(address)
            }
            SourceState::Down { reason } => SourceStatus::Down(reason),
        };
        dp.source = status.address();
        (status, dp)
    }

    /// Records a new source status: the state, a log line, and NHRP told
    /// when the address in use differs from `nhrp_nbma`, what it has.
    async fn status_changed(&mut self, status: SourceStatus, nhrp_nbma: IpAddr) {
        let interface = &self.interface;
        if status != self.status {
            match &status {
                SourceStatus::Up(address) => {
                    tracing::info!(%interface, %address, "tunnel source up")
                }
                SourceStatus::Down(reason) => {
                    tracing::warn!(%interface, %reason, "tunnel source down: the tunnel waits for it")
                }
            }
        }
        let address = status.address();
        if IpAddr::V4(address) != nhrp_nbma {
            let command = Command::NbmaChanged {
                nbma: IpAddr::V4(address),
            };
            let _ = self.nhrp.send(Input::Command(command)).await;
        }
        self.sourced.send_replace(address);
        self.planes.set_source(interface, status.clone());
        self.status = status;
    }

    fn address(&self) -> IpAddr {
        IpAddr::V4(*self.sourced.borrow())
    }

    async fn run(
        mut self,
        dataplane: DataPlane,
        mut applied: DataPlaneConfig,
        mut monitor: InterfaceMonitor,
        mut queries: mpsc::Receiver<Query>,
        mut configs: mpsc::Receiver<Reconfigure>,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let mut snapshots = monitor.subscribe();
        loop {
            tokio::select! {
                query = queries.recv() => match query {
                    Some(Query::Snapshot(reply)) => {
                        if let Some(snapshot) = dataplane.snapshot().await {
                            let _ = reply.send(snapshot);
                        }
                    }
                    Some(Query::Counters(lines, reply)) => {
                        if let Some(counters) = dataplane.counters(lines).await {
                            let _ = reply.send(counters);
                        }
                    }
                    Some(Query::ClearSa(peer, reply)) => {
                        let _ = reply.send(dataplane.clear_sa(peer).await);
                    }
                    None => break,
                },
                Some((desired, source, mtu_configured, reply)) = configs.recv() => {
                    if desired.underlay_netns != self.desired.underlay_netns {
                        match InterfaceMonitor::spawn(desired.underlay_netns.as_deref()).await {
                            Ok(new) => {
                                monitor = new;
                                snapshots = monitor.subscribe();
                            }
                            Err(error) => {
                                let _ = reply.send(Err(format!("following the underlay's interfaces: {error}")));
                                continue;
                            }
                        }
                    }
                    let previous = (self.desired.clone(), self.source.clone(), self.mtu_configured);
                    (self.desired, self.source, self.mtu_configured) = (desired, source, mtu_configured);
                    let interfaces = monitor.current();
                    let (status, effective) = self.follow(&interfaces);
                    let result = match effective == applied {
                        true => Ok(()),
                        false => dataplane.reconfigure(effective.clone()).await.map_err(|e| e.to_string()),
                    };
                    match result {
                        Ok(()) => {
                            applied = effective;
                            // NHRP takes the address from the reply.
                            let nbma = IpAddr::V4(applied.source);
                            self.status_changed(status, nbma).await;
                            let _ = reply.send(Ok(nbma));
                        }
                        Err(error) => {
                            (self.desired, self.source, self.mtu_configured) = previous;
                            let _ = reply.send(Err(error));
                        }
                    }
                },
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let interfaces = snapshots.borrow_and_update().clone();
                    let (status, effective) = self.follow(&interfaces);
                    if effective != applied {
                        if let Err(error) = dataplane.reconfigure(effective.clone()).await {
                            tracing::warn!(interface = %self.interface, %error, "data plane does not follow the underlay");
                            continue;
                        }
                        applied = effective;
                    }
                    let nhrp = self.address();
                    self.status_changed(status, nhrp).await;
                },
                _ = &mut stopped => break,
            }
        }
        dataplane.shutdown().await;
    }
}

/// The first IPv4 address of `interface` (getifaddrs, in the calling
/// thread's network namespace: the daemon's, or the underlay's inside
/// `netns::run_in`).
fn interface_ipv4(interface: &str) -> Result<std::net::Ipv4Addr, String> {
    let addresses = nix::ifaddrs::getifaddrs()
        .map_err(|e| format!("reading the addresses of {interface:?}: {e}"))?;
    let mut seen = false;
    for address in addresses.filter(|a| a.interface_name == interface) {
        seen = true;
        if let Some(ip) = address.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
            return Ok(ip.ip());
        }
    }
    Err(match seen {
        true => format!("interface {interface:?} has no IPv4 address"),
        false => format!("no interface {interface:?} in this network namespace"),
    })
}

/// The tunnel MTU for an underlay MTU (dmvpn-tunnel `mtu` absent): less the
/// outer IPv4 header (20 octets) and the GRE header (4, 8 with a key, RFC
/// 2784/2890); Cisco's 1476 on a 1500-octet Ethernet without a key. With
/// IPsec the caller takes ESP's overhead off the underlay's MTU first
/// (`Protection::overhead`), as Cisco lowers a protected tunnel's MTU:
/// otherwise every full-size packet leaves in two fragments.
fn tunnel_mtu(underlay: u32, key: bool) -> u16 {
    let overhead = 20 + 4 + if key { 4 } else { 0 };
    u16::try_from(underlay.saturating_sub(overhead))
        .unwrap_or(u16::MAX)
        .max(576)
}

/// Tells NHRP which prefixes are behind this node (answered in Resolution
/// Replies, Phase 2/3): the subnets of the other interfaces' addresses
/// but the tunnel source's, at once whenever an address, a link or the
/// source in use (`sourced`) changes (netlink monitor). Should the monitor
/// not start, they are read every `LOCAL_PREFIXES_INTERVAL`.
async fn local_prefixes(
    interface: String,
    mut sourced: watch::Receiver<Ipv4Addr>,
    nhrp: mpsc::Sender<Input>,
) {
    let mut known = None;
    let mut tell = async |prefixes: Vec<IpNetwork>| {
        if known.as_ref() == Some(&prefixes) {
            return true;
        }
        tracing::info!(%interface, ?prefixes, "local prefixes");
        known = Some(prefixes.clone());
        let event = Input::DataPlane(DataPlaneEvent::LocalPrefixes(prefixes));
        nhrp.send(event).await.is_ok()
    };
    let monitor = match InterfaceMonitor::spawn(None).await {
        Ok(monitor) => monitor,
        Err(error) => {
            tracing::warn!(%interface, %error, "no interface monitor: local prefixes polled");
            loop {
                let nbma = IpAddr::V4(*sourced.borrow_and_update());
                match routes::local_prefixes(&interface, nbma).await {
                    Ok(prefixes) => {
                        if !tell(prefixes).await {
                            return;
                        }
                    }
                    Err(error) => tracing::warn!(%interface, %error, "reading the local prefixes"),
                }
                tokio::time::sleep(LOCAL_PREFIXES_INTERVAL).await;
            }
        }
    };
    let mut snapshots = monitor.subscribe();
    loop {
        let current = snapshots.borrow_and_update().clone();
        let nbma = IpAddr::V4(*sourced.borrow_and_update());
        if !tell(interfaces::local_prefixes(&current, &interface, nbma)).await {
            return;
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            changed = sourced.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tunnel_mtu_leaves_room_for_ipv4_and_gre() {
        assert_eq!(tunnel_mtu(1500, false), 1476);
        assert_eq!(tunnel_mtu(1500, true), 1472);
        assert_eq!(tunnel_mtu(9000, true), 8972);
        assert_eq!(tunnel_mtu(100, true), 576, "never below the IPv4 minimum");
    }

    #[test]
    fn the_source_interface_address_is_read_from_the_host() {
        assert_eq!(
            interface_ipv4("lo"),
            Ok(std::net::Ipv4Addr::LOCALHOST),
            "every namespace has lo with 127.0.0.1"
        );
        let missing = interface_ipv4("no-such-if0").unwrap_err();
        assert!(missing.contains("no interface"), "{missing}");
    }
}
