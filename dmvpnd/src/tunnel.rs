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
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use holo_dmvpn::dataplane::interfaces::{self, InterfaceMonitor};
use holo_dmvpn::dataplane::{DataPlane, DataPlaneConfig, Snapshot, netns, routes};
use holo_nhrp::InstanceConfig;
use holo_nhrp::driver::Request;
use holo_nhrp::northbound::{Tunnel, TunnelHandle, TunnelParams};
use holo_nhrp::{DataPlaneEvent, Input, Output};
use ipnetwork::IpNetwork;
use northbound::{BoxFuture, Refusal};
use tokio::sync::{mpsc, oneshot};
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

/// The running data planes by interface name: where snapshot queries go.
#[derive(Clone, Debug, Default)]
pub struct Planes {
    queries: Arc<Mutex<BTreeMap<String, mpsc::Sender<oneshot::Sender<Snapshot>>>>>,
}

impl Planes {
    /// Counters and forwarding state of the data plane on `interface`;
    /// `None` when none runs there.
    pub async fn snapshot(&self, interface: &str) -> Option<Snapshot> {
        let queries = self
            .queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(interface)
            .cloned()?;
        let (tx, rx) = oneshot::channel();
        queries.send(tx).await.ok()?;
        rx.await.ok()
    }

    fn insert(&self, interface: &str, queries: mpsc::Sender<oneshot::Sender<Snapshot>>) {
        self.queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(interface.to_owned(), queries);
    }

    fn remove(&self, interface: &str) {
        self.queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(interface);
    }
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
            None | Some("userspace") => Ok(()),
            Some(other) => Err(Refusal::new(
                Some(&format!("{}/data-plane", params.path)),
                format!(
                    "data plane {other:?} is not available yet: only \"userspace\" is implemented"
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
        requests: mpsc::Sender<Request>,
        outputs: mpsc::Receiver<Output>,
    ) -> BoxFuture<'static, Result<Box<dyn TunnelHandle>, String>> {
        let planes = self.planes.clone();
        Box::pin(async move {
            let dp = dataplane_config(&interface, &config, &params)?;
            tracing::info!(%interface, mtu = dp.mtu, key = ?dp.key, underlay_netns = ?dp.underlay_netns, "data plane starting");
            let dataplane = DataPlane::spawn(dp.clone(), requests.clone(), outputs)
                .await
                .map_err(|e| e.to_string())?;
            let prefixes = tokio::spawn(local_prefixes(
                interface.clone(),
                config.nbma,
                requests.clone(),
            ));
            let (queries_tx, queries) = mpsc::channel(8);
            let (reconfigure, configs) = mpsc::channel(1);
            let (stop, stopped) = oneshot::channel();
            let owner = tokio::spawn(own(dataplane, queries, configs, stopped));
            planes.insert(&interface, queries_tx);
            Ok(Box::new(Running {
                interface,
                planes,
                owner,
                stop,
                reconfigure,
                config: dp,
                requests,
                prefixes,
            }) as Box<dyn TunnelHandle>)
        })
    }
}

/// The data-plane settings of a tunnel: the NHRP side (address, NHSs,
/// redirect) and the `dmvpn-tunnel` parameters; without a configured MTU,
/// the underlay interface's less the GRE overhead.
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
    dp.mtu = match params.mtu {
        Some(mtu) => mtu,
        None => match underlay_mtu(dp.source, dp.underlay_netns.as_deref()) {
            Ok((underlay, mtu)) => {
                let mtu = tunnel_mtu(mtu, dp.key.is_some());
                let netns = &dp.underlay_netns;
                tracing::debug!(%interface, %underlay, ?netns, mtu, "tunnel MTU from the underlay");
                mtu
            }
            Err(error) => {
                tracing::warn!(%interface, %error, mtu = dp.mtu, "underlay MTU unknown: default tunnel MTU");
                dp.mtu
            }
        },
    };
    dp.mss_clamp = params.tcp_mss;
    Ok(dp)
}

/// A data plane reconfiguration, answered when applied.
type Reconfigure = (DataPlaneConfig, oneshot::Sender<Result<(), String>>);

struct Running {
    interface: String,
    planes: Planes,
    /// The task owning the data plane; ends when `stop` is sent or dropped.
    owner: JoinHandle<()>,
    stop: oneshot::Sender<()>,
    reconfigure: mpsc::Sender<Reconfigure>,
    /// The settings in force.
    config: DataPlaneConfig,
    requests: mpsc::Sender<Request>,
    prefixes: JoinHandle<()>,
}

impl TunnelHandle for Running {
    fn reconfigure(
        &mut self,
        config: InstanceConfig,
        params: TunnelParams,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let dp = dataplane_config(&self.interface, &config, &params)?;
            if dp == self.config {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            let gone = || "the data plane has stopped".to_owned();
            self.reconfigure
                .send((dp.clone(), tx))
                .await
                .map_err(|_| gone())?;
            rx.await.map_err(|_| gone())??;
            if dp.source != self.config.source {
                // The local prefixes leave out the tunnel source's subnet.
                self.prefixes.abort();
                self.prefixes = tokio::spawn(local_prefixes(
                    self.interface.clone(),
                    config.nbma,
                    self.requests.clone(),
                ));
            }
            self.config = dp;
            Ok(())
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

/// Owns a data plane: answers snapshot queries until `stopped`, then shuts
/// it down (the TUN device and the kernel routes go with it).
async fn own(
    dataplane: DataPlane,
    mut queries: mpsc::Receiver<oneshot::Sender<Snapshot>>,
    mut configs: mpsc::Receiver<Reconfigure>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            query = queries.recv() => match query {
                Some(reply) => {
                    if let Some(snapshot) = dataplane.snapshot().await {
                        let _ = reply.send(snapshot);
                    }
                }
                None => break,
            },
            Some((config, reply)) = configs.recv() => {
                let result = dataplane.reconfigure(config).await;
                let _ = reply.send(result.map_err(|e| e.to_string()));
            },
            _ = &mut stopped => break,
        }
    }
    dataplane.shutdown().await;
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
/// 2784/2890); Cisco's 1476 on a 1500-octet Ethernet without a key.
fn tunnel_mtu(underlay: u32, key: bool) -> u16 {
    let overhead = 20 + 4 + if key { 4 } else { 0 };
    u16::try_from(underlay.saturating_sub(overhead))
        .unwrap_or(u16::MAX)
        .max(576)
}

/// The interface holding `source` and its MTU, in network namespace
/// `netns` when given (a front-door VRF), else the daemon's. The MTU comes
/// over rtnetlink: /sys/class/net shows the namespace sysfs was mounted in,
/// whatever the thread's.
fn underlay_mtu(source: std::net::Ipv4Addr, netns: Option<&str>) -> Result<(String, u32), String> {
    netns::run_in_opt(netns, || {
        Ok(source_interface(source).and_then(|interface| {
            netns::link_mtu(&interface)
                .map(|mtu| (interface, mtu))
                .map_err(|e| e.to_string())
        }))
    })
    .map_err(|e| e.to_string())
    .flatten()
}

/// The interface holding `source`, in the calling thread's network
/// namespace.
fn source_interface(source: std::net::Ipv4Addr) -> Result<String, String> {
    let addresses =
        nix::ifaddrs::getifaddrs().map_err(|e| format!("reading interface addresses: {e}"))?;
    addresses
        .filter(|a| {
            a.address
                .as_ref()
                .and_then(|a| a.as_sockaddr_in())
                .is_some_and(|a| a.ip() == source)
        })
        .map(|a| a.interface_name)
        .next()
        .ok_or_else(|| format!("no interface has the tunnel source {source}"))
}

/// Tells NHRP which prefixes are behind this node (answered in Resolution
/// Replies, Phase 2/3): the subnets of the other interfaces' addresses, at
/// once whenever an address or a link changes (netlink monitor). Should
/// the monitor not start, they are read every `LOCAL_PREFIXES_INTERVAL`.
async fn local_prefixes(interface: String, nbma: IpAddr, requests: mpsc::Sender<Request>) {
    let mut known = None;
    let mut tell = async |prefixes: Vec<IpNetwork>| {
        if known.as_ref() == Some(&prefixes) {
            return true;
        }
        tracing::info!(%interface, ?prefixes, "local prefixes");
        known = Some(prefixes.clone());
        let event = Input::DataPlane(DataPlaneEvent::LocalPrefixes(prefixes));
        requests.send(Request::Input(event)).await.is_ok()
    };
    match InterfaceMonitor::spawn(None).await {
        Ok(monitor) => {
            let mut snapshots = monitor.subscribe();
            loop {
                let current = snapshots.borrow_and_update().clone();
                if !tell(interfaces::local_prefixes(&current, &interface, nbma)).await {
                    return;
                }
                if snapshots.changed().await.is_err() {
                    return;
                }
            }
        }
        Err(error) => {
            tracing::warn!(%interface, %error, "no interface monitor: local prefixes polled");
            loop {
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
        let (interface, mtu) = underlay_mtu(std::net::Ipv4Addr::LOCALHOST, None).unwrap();
        assert_eq!(interface, "lo");
        assert!(mtu >= 1500, "{mtu}");
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
