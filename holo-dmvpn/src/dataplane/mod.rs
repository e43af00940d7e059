//! The userspace data plane of one DMVPN tunnel (ARCHITECTURE.md, "The
//! userspace data plane"): a TUN device is the multipoint interface, a raw
//! IP socket carries GRE on the underlay, and one task moves packets
//! between them, the NHRP instance and its own forwarding state.
//!
//! ```text
//!            kernel routes into dmvpn0              underlay (raw IP, proto 47)
//!   TUN --read--> forwarding::outbound --GRE--> sendto(NBMA) ......> peers
//!   TUN <--write-- IPv4/IPv6 <-- classify_inbound <--recv-- GRE <.... peers
//!                                  | 0x2001                 ^ 0x2001
//!                                  v                        |
//!   NHRP instance <--Input--------- [ data-plane task ] <--Output-- NHRP instance
//!   (Miss/Hairpin/Used/TunnelRoutes)   Binding*/Route*/Multicast* -> forwarding
//! ```
//!
//! Costs, today (TUN offloads and sendmmsg; see `offload`):
//! - Out: one read(2) on the TUN device per TCP super-packet of up to
//!   64 KB (TSO4/TSO6, and USO where the kernel has it), split in userspace
//!   into MTU-sized segments by tun-rs (one copy: the split writes each
//!   segment into its own buffer, and recomputes its IP and TCP checksums);
//!   the GRE header is written in place in front of each segment; one
//!   sendmmsg(2) for all the segments of a read (more only when the socket
//!   buffer fills). The kernel still builds an outer IPv4 header and runs
//!   its IP output path once per GRE datagram: no GSO on the raw socket.
//! - In: one recv(2) per GRE datagram (no recvmmsg yet: the next step,
//!   nix has a safe wrapper); each inner packet is copied once into a TUN
//!   write batch (tun-rs copies it once more to parse it); tun-rs verifies
//!   the TCP checksum of each segment and coalesces consecutive segments of
//!   a flow (GRO), then one write(2) per coalesced packet or other packet.
//!   A batch ends when the socket has nothing more queued or at `BATCH`
//!   packets.
//! - In, when the underlay interface coalesces on receive (GRO, what NICs
//!   do): one recv(2) may carry a GRE datagram of up to 64 KB holding many
//!   TCP segments of one flow, their checksum left to complete
//!   (`offload::underlay_gro_header`); it goes to the TUN device as one TCP
//!   super-packet, one write(2), and is counted `coalesced_in`.
//! - Everything that decides is still per wire packet: the MTU check
//!   (`pmtu`) runs on each segment, so a super-packet is never "too big"
//!   as a whole and a segment above the MTU with DF still gets its ICMP
//!   error; MSS clamping, the forwarding decision (misses, hairpins,
//!   multicast replication), the spoofed-source and key checks and the
//!   counters (packets = GRE datagrams, bytes = inner packets) too.
//! - One task, one TUN queue, one thread: the task runs on a thread of its
//!   own (`dp-<interface>`) with a single-threaded runtime, so the packet
//!   loop is never handed between the daemon's runtime workers (each hand
//!   over is a wake-up and a context switch; measured: a third more TCP
//!   throughput). No multiqueue TUN and no split of the two directions,
//!   which would need the forwarding state shared between tasks; on the
//!   two-core test machine the peers, iperf3 and the kernel already compete
//!   for the cores.
//!
//! Inbound checksums of packets that are not coalesced are left to the
//! kernel.
//!
//! Outputs that are not the data plane's (`ResolveName`, `Notify`) are
//! logged; in dmvpnd the NHRP glue (holo-nhrp's `northbound::Tunnel` hook)
//! handles them itself and never hands them over.

pub mod budget;
pub mod counters;
pub mod fastpath;
pub mod forwarding;
pub mod interfaces;
pub mod kernel_routes;
pub mod netns;
pub mod offload;
pub mod pmtu;
pub mod protection;
pub mod routes;
pub mod tun;
pub mod underlay;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use holo_ike::packet::UdpEncapsulated;
use holo_nhrp::config::InstanceConfig;
use holo_nhrp::io::{DataPlaneEvent, Input, Output};
use ipnetwork::IpNetwork;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::packet::gre::{GreProtocol, GreRepr};
pub use counters::{Counters, PeerLines, Traffic};
pub use forwarding::{Decision, DropReason, ForwardingConfig, Inbound};
use forwarding::{Forwarding, classify_inbound, gre_protocol};
use kernel_routes::KernelRoutes;
use offload::{HEADROOM, Segments, ToTun};
use protection::{Protection, ProtectionSnapshot, Sent, udp_offload};
use tun::Tun;
use underlay::{Received, Underlay};

/// Tunnel MTU of a data plane built from an NHRP configuration alone:
/// Cisco's usual `ip mtu 1400`, which leaves room for GRE with key and,
/// later, ESP on a 1500-byte underlay. dmvpnd derives it from the underlay
/// interface's MTU instead when none is configured, and falls back to this.
pub const DEFAULT_MTU: u16 = 1400;

/// TTL of GRE packets on the underlay unless configured (dmvpn-tunnel's
/// default).
pub const DEFAULT_TTL: u8 = 255;

/// At most one warning about NHRP inputs dropped for a full queue in this
/// interval (each drop is counted).
const QUEUE_WARNING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest datagram read from either side.
const BUFFER: usize = 65_535;

/// One tunnel's data-plane settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPlaneConfig {
    /// Name of the TUN device (the tunnel interface), e.g. `dmvpn0`.
    pub interface: String,
    pub mtu: u16,
    /// Our tunnel address and prefix (the tunnel subnet).
    pub address: IpNetwork,
    /// The tunnel source on the underlay (our NBMA address); unspecified
    /// (0.0.0.0) while the source is not up: the TUN device, its address
    /// and routes exist, no GRE socket does, nothing leaves (`NoSource`).
    pub source: Ipv4Addr,
    /// GRE key (RFC 2890) sent and required on receipt.
    pub key: Option<u32>,
    /// The NHSs' tunnel addresses, in order of preference.
    pub nhs: Vec<IpAddr>,
    /// Hub: detect hairpins for Phase 3 redirect.
    pub redirect: bool,
    /// Mirror the kernel's routes through the tunnel with the netlink route
    /// monitor (`routes`) and install NHRP's routes in the kernel
    /// (`kernel_routes`); off, `DataPlane::set_tunnel_routes` feeds them and
    /// NHRP routes stay in the data plane.
    pub mirror_routes: bool,
    /// Clamp the MSS option of TCP SYN segments through the tunnel (both
    /// directions) to this value; `None`: no clamping.
    pub mss_clamp: Option<u16>,
    /// TTL of the GRE packets on the underlay (RFC 2784 leaves it to the
    /// encapsulator; Cisco's `tunnel ttl` defaults to 255).
    pub ttl: u8,
    /// The network namespace (`ip netns` name) the GRE socket is opened
    /// in, a front-door VRF; `None`: the caller's. Only the socket goes
    /// there: the TUN device and the routes stay in the caller's.
    pub underlay_netns: Option<String>,
    /// IPsec protection of every GRE datagram (`tunnel protection ipsec
    /// profile`); `None`: GRE in clear.
    pub protection: Option<holo_ike::protection::Protection>,
    /// `data-plane ebpf`: the eBPF fast path (`fastpath`) forwards what it
    /// can in the kernel, this plane the rest; where it cannot load, this
    /// plane alone, and the snapshot says why.
    pub fast_path: bool,
}

impl DataPlaneConfig {
    /// The data-plane side of an NHRP instance's configuration.
    pub fn from_nhrp(
        interface: &str,
        nhrp: &InstanceConfig,
        key: Option<u32>,
    ) -> Result<Self, Error> {
        let IpAddr::V4(source) = nhrp.nbma else {
            return Err(Error::UnsupportedUnderlay(nhrp.nbma));
        };
        let mut nhs: Vec<_> = nhrp.nhs.iter().collect();
        nhs.sort_by_key(|n| n.priority);
        Ok(DataPlaneConfig {
            interface: interface.to_string(),
            mtu: DEFAULT_MTU,
            address: nhrp.protocol,
            source,
            key,
            nhs: nhs.into_iter().map(|n| n.protocol).collect(),
            redirect: nhrp.redirect,
            mirror_routes: true,
            mss_clamp: None,
            ttl: DEFAULT_TTL,
            underlay_netns: None,
            protection: None,
            fast_path: false,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating TUN device {interface}: {source}")]
    Tun {
        interface: String,
        source: std::io::Error,
    },
    #[error("opening the GRE raw socket on {address}: {source}")]
    Underlay {
        address: Ipv4Addr,
        source: std::io::Error,
    },
    #[error("starting the route monitor on {interface}: {source}")]
    RouteMonitor {
        interface: String,
        source: std::io::Error,
    },
    #[error("underlay address {0}: only an IPv4 underlay is supported yet")]
    UnsupportedUnderlay(IpAddr),
    #[error("{field} cannot change on a running data plane")]
    NotInPlace { field: &'static str },
    #[error("setting the MTU of {interface} to {mtu}: {source}")]
    Mtu {
        interface: String,
        mtu: u16,
        source: std::io::Error,
    },
    #[error("starting the data-plane thread of {interface}: {source}")]
    Thread {
        interface: String,
        source: std::io::Error,
    },
}

/// The forwarding state and counters, for the northbound and tests.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub counters: Counters,
    /// Tunnel address -> NBMA address.
    pub bindings: BTreeMap<IpAddr, IpAddr>,
    /// Mirrored kernel routes through the tunnel.
    pub kernel_routes: BTreeMap<IpNetwork, IpAddr>,
    /// NHRP routes (shortcuts).
    pub nhrp_routes: BTreeMap<IpNetwork, IpAddr>,
    pub multicast: BTreeSet<IpAddr>,
    /// IPsec: IKE SAs, child SAs and counters; `None` without protection.
    pub protection: Option<ProtectionSnapshot>,
    /// The data plane in use: `ebpf` while the fast path forwards,
    /// `userspace` otherwise.
    pub data_plane: &'static str,
    /// Why the fast path asked for does not forward; `None` when it does
    /// or was not asked for.
    pub fast_path_reason: Option<String>,
    pub fast_path: Option<fastpath::FastPathSnapshot>,
}

#[derive(Debug)]
enum Control {
    TunnelRoutes(Vec<(IpNetwork, IpAddr)>),
    Snapshot(oneshot::Sender<Snapshot>),
    /// The counters alone (of one peer, a page of them or all): what the
    /// peer table joins, without copying the forwarding state.
    Counters(PeerLines, oneshot::Sender<Counters>),
    Reconfigure(Box<DataPlaneConfig>, oneshot::Sender<Result<(), Error>>),
    /// `clear crypto sa` (one peer or all): whether the tunnel has IPsec.
    ClearSa(Option<IpAddr>, oneshot::Sender<bool>),
}

/// Where the data plane reports its IPsec events (IKE SA up and down),
/// for YANG notifications.
pub type IpsecEvents = std::sync::Arc<dyn Fn(&holo_ike::ike::Notification) + Send + Sync>;

/// What a data plane reports to, beyond NHRP.
#[derive(Clone, Default)]
pub struct Hooks {
    /// IKE SA up/down, for YANG notifications.
    pub ipsec_events: Option<IpsecEvents>,
    /// Debug: write the keys of every child SA here (Wireshark's tables).
    pub ipsec_keylog: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("ipsec_events", &self.ipsec_events.is_some())
            .field("ipsec_keylog", &self.ipsec_keylog)
            .finish()
    }
}

/// A running data plane: the handle to its task. Dropping it (or calling
/// `shutdown`) ends the task, which closes the TUN device and the socket.
#[derive(Debug)]
pub struct DataPlane {
    control: mpsc::Sender<Control>,
    /// Closed when the data-plane thread ends.
    done: oneshot::Receiver<()>,
}

impl DataPlane {
    /// Starts the data plane on a thread of its own, named after the
    /// interface, with a single-threaded tokio runtime: the packet loop
    /// stays on one core and is never handed between runtime workers (on
    /// the two-core test machine that alone lifted TCP through the tunnel
    /// by a third). There it creates the TUN device in the calling thread's
    /// network namespace (a new thread starts in its creator's) and the
    /// raw socket in the underlay's (`underlay_netns`, else the same), and
    /// returns once both exist, or with the error that stopped them.
    /// `nhrp` feeds the tunnel's NHRP driver; `outputs` is that driver's
    /// output channel, which this task consumes.
    pub async fn spawn(
        config: DataPlaneConfig,
        nhrp: mpsc::Sender<Input>,
        outputs: mpsc::Receiver<Output>,
    ) -> Result<DataPlane, Error> {
        DataPlane::spawn_with(config, nhrp, outputs, Hooks::default()).await
    }

    /// `spawn`, with `hooks` (IPsec events, key log).
    pub async fn spawn_with(
        config: DataPlaneConfig,
        nhrp: mpsc::Sender<Input>,
        outputs: mpsc::Receiver<Output>,
        hooks: Hooks,
    ) -> Result<DataPlane, Error> {
        let interface = config.interface.clone();
        let thread_error = {
            let interface = interface.clone();
            move |source| Error::Thread {
                interface: interface.clone(),
                source,
            }
        };
        let runtime_error = thread_error.clone();
        let (control_tx, control) = mpsc::channel(16);
        let (ready_tx, ready) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("dp-{interface}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(source) => {
                        let _ = ready_tx.send(Err(runtime_error(source)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Task::open(config, nhrp, hooks).await {
                        Ok((task, routes)) => {
                            if ready_tx.send(Ok(())).is_ok() {
                                task.run(control, outputs, routes).await;
                            }
                        }
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                        }
                    }
                });
                // The runtime's own tasks (route monitor, netlink) end with
                // it; then `shutdown` may return.
                drop(runtime);
                drop(done_tx);
            });
        thread.map_err(&thread_error)?;
        match ready.await {
            Ok(Ok(())) => Ok(DataPlane {
                control: control_tx,
                done,
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(thread_error(std::io::Error::other(
                "the data-plane thread ended while starting",
            ))),
        }
    }

    /// Replaces the mirror of the kernel routes through the tunnel and tells
    /// NHRP about them: for a data plane without the route monitor (the
    /// monitor's next update would replace them).
    pub async fn set_tunnel_routes(&self, routes: Vec<(IpNetwork, IpAddr)>) {
        let _ = self.control.send(Control::TunnelRoutes(routes)).await;
    }

    /// Applies a new configuration to the running data plane, in place:
    /// the TUN device, its addresses and every route through it stay, and
    /// so do the bindings and counters (`Task::reconfigure` says what each
    /// setting does). The interface name and the tunnel address cannot
    /// change (`Error::NotInPlace`); on any error nothing changed.
    pub async fn reconfigure(&self, config: DataPlaneConfig) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let gone = || Error::Thread {
            interface: config.interface.clone(),
            source: std::io::Error::other("the data plane has stopped"),
        };
        let message = Control::Reconfigure(Box::new(config.clone()), tx);
        self.control.send(message).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Deletes the IKE SAs (and their child SAs) with `peer`, or all:
    /// `clear crypto sa`. False when the tunnel has no IPsec (or stopped).
    pub async fn clear_sa(&self, peer: Option<IpAddr>) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::ClearSa(peer, tx)).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// The counters: the tunnel's totals and the lines `lines` names;
    /// `None` once the task has ended.
    pub async fn counters(&self, lines: PeerLines) -> Option<Counters> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Counters(lines, tx)).await.ok()?;
        rx.await.ok()
    }

    /// Counters and forwarding state; `None` once the task has ended.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Snapshot(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Ends the task and waits for it.
    pub async fn shutdown(self) {
        drop(self.control);
        let _ = self.done.await;
    }
}

struct Task {
    /// The settings in force: the tunnel MTU (`pmtu`), the MSS clamp, and
    /// what `reconfigure` compares against.
    config: DataPlaneConfig,
    /// NHRP routes in the kernel; deleted before the TUN device goes.
    kernel: Option<KernelRoutes>,
    tun: Tun,
    /// The GRE socket; `None` while the tunnel source is not up.
    underlay: Option<Underlay>,
    /// IPsec (IKE core, SAs, their sockets); `None` without protection or
    /// while the tunnel source is not up.
    protection: Option<Protection>,
    forwarding: Forwarding,
    counters: Counters,
    nhrp: mpsc::Sender<Input>,
    /// The outgoing GRE datagram of NHRP packets, reused.
    gre: Vec<u8>,
    /// Decapsulated packets waiting for the TUN write that ends a burst.
    to_tun: ToTun,
    /// The TUN write of a TCP super-packet the underlay had coalesced,
    /// reused.
    coalesced: Vec<u8>,
    /// Whether the warning about truncated datagrams was logged.
    warned_truncated: bool,
    /// NHRP inputs dropped since the last warning about a full queue, and
    /// when that was (at most one every `QUEUE_WARNING_INTERVAL`).
    queue_full: (u64, Option<Instant>),
    /// What each NBMA address may send to NHRP (`budget`), and the packets
    /// over budget since the last warning, when that was.
    nhrp_budgets: budget::NhrpBudgets,
    over_budget: (u64, Option<Instant>),
    /// GRE datagrams built in place in the segments of the last TUN read,
    /// for one sendmmsg(2).
    pending: Vec<Pending>,
    icmp: pmtu::IcmpLimiter,
    /// Where IKE SA up/down events and SA keys (debug) go.
    hooks: Hooks,
    /// The eBPF fast path, when asked for and loaded.
    fast: Option<fastpath::FastPath>,
    /// Why the fast path asked for could not load.
    fast_unavailable: Option<String>,
}

impl Task {
    /// The TUN device, the raw socket, the route monitor and the kernel
    /// routes of `config`; on the data-plane thread's runtime, which their
    /// descriptors are registered with.
    async fn open(
        config: DataPlaneConfig,
        nhrp: mpsc::Sender<Input>,
        hooks: Hooks,
    ) -> Result<(Task, mpsc::Receiver<routes::TunnelRoutes>), Error> {
        let tun = Tun::create(&config.interface, config.mtu, config.address).map_err(|source| {
            Error::Tun {
                interface: config.interface.clone(),
                source,
            }
        })?;
        let underlay = bind(&config)?;
        let protection = protect(&config, &hooks)?;
        let forwarding = Forwarding::new(ForwardingConfig {
            tunnel: config.address,
            key: config.key,
            nhs: config.nhs.clone(),
            redirect: config.redirect,
        });
        let (routes_tx, routes) = mpsc::channel(16);
        if config.mirror_routes {
            routes::spawn(&config.interface, routes_tx)
                .await
                .map_err(|source| Error::RouteMonitor {
                    interface: config.interface.clone(),
                    source,
                })?;
        }
        let kernel = if config.mirror_routes {
            let kernel = KernelRoutes::open(&config.interface).await;
            Some(kernel.map_err(|source| Error::RouteMonitor {
                interface: config.interface.clone(),
                source,
            })?)
        } else {
            None
        };
        let (fast, fast_unavailable) = open_fast_path(&config, &forwarding);
        let task = Task {
            config: config.clone(),
            kernel,
            tun,
            underlay,
            protection,
            forwarding,
            counters: Counters::default(),
            nhrp,
            gre: Vec::with_capacity(BUFFER + 16),
            to_tun: ToTun::default(),
            coalesced: Vec::new(),
            warned_truncated: false,
            queue_full: (0, None),
            nhrp_budgets: budget::NhrpBudgets::default(),
            over_budget: (0, None),
            pending: Vec::with_capacity(offload::BATCH),
            icmp: pmtu::IcmpLimiter::default(),
            hooks,
            fast,
            fast_unavailable,
        };
        Ok((task, routes))
    }

    async fn run(
        mut self,
        mut control: mpsc::Receiver<Control>,
        mut outputs: mpsc::Receiver<Output>,
        mut routes: mpsc::Receiver<routes::TunnelRoutes>,
    ) {
        let mut monitoring = true;
        let mut from_tun = Segments::default();
        let mut from_underlay = vec![0; BUFFER];
        let mut from_esp = vec![0; BUFFER];
        let mut from_ike = vec![0; BUFFER];
        let mut from_nat_t = vec![0; BUFFER];
        tracing::info!(
            interface = self.tun.name(),
            source = ?self.underlay.as_ref().map(Underlay::source),
            offload = self.tun.offload(),
            "data plane up"
        );
        // The MTU NHRP advertises in its CIEs, unless one is configured.
        let mtu = self.config.mtu;
        self.tell_nhrp(None, Input::DataPlane(DataPlaneEvent::TunnelMtu { mtu }));
        loop {
            tokio::select! {
                read = self.tun.recv(&mut from_tun) => match read {
                    Ok(n) => {
                        // One clock read per TUN read, not per segment.
                        let now = Instant::now();
                        for i in 0..n {
                            if let Some(frame) = from_tun.frame_mut(i) {
                                self.outbound(i, frame, now).await;
                            }
                        }
                        self.send_pending(&from_tun).await;
                    }
                    // A super-packet tun-rs cannot split (bad header,
                    // more segments than a batch holds) or a failed read.
                    Err(error) => {
                        tracing::debug!(%error, "TUN read");
                        self.counters.drop(None, DropReason::Malformed);
                    }
                },
                read = recv(&self.underlay, &mut from_underlay) => {
                    match read {
                        Ok(received) => self.received(received).await,
                        Err(error) => tracing::warn!(%error, "GRE socket read"),
                    }
                    // Whatever else is queued joins the same TUN write
                    // batch (and its TCP coalescing), without waiting.
                    while let Some(underlay) = &self.underlay
                        && !self.to_tun.is_full()
                    {
                        match underlay.try_recv(&mut from_underlay) {
                            Ok(Some(received)) => self.received(received).await,
                            Ok(None) => break,
                            Err(error) => {
                                tracing::warn!(%error, "GRE socket read");
                                break;
                            }
                        }
                    }
                    self.flush_to_tun().await;
                },
                read = recv_esp(&self.protection, &mut from_esp) => {
                    match read {
                        Ok((from, range)) => self.esp_received(from, &mut from_esp[range]).await,
                        Err(error) => tracing::warn!(%error, "ESP socket read"),
                    }
                    // What else is queued joins the same TUN write batch
                    // (and its TCP coalescing), as on the GRE socket.
                    while !self.to_tun.is_full() {
                        match try_recv_esp(&self.protection, &mut from_esp) {
                            Ok(Some((from, range))) => {
                                self.esp_received(from, &mut from_esp[range]).await
                            }
                            Ok(None) => break,
                            Err(error) => {
                                tracing::warn!(%error, "ESP socket read");
                                break;
                            }
                        }
                    }
                    self.flush_to_tun().await;
                },
                read = recv_ike(&self.protection, &mut from_ike) => match read {
                    Ok((remote, len)) => self.ike_received(remote, &from_ike[..len]).await,
                    Err(error) => tracing::warn!(%error, "IKE socket read"),
                },
                read = recv_nat_t(&self.protection, &mut from_nat_t) => {
                    let mut received = match read {
                        Ok(datagram) => self.nat_t_received(datagram, &mut from_nat_t).await,
                        Err(error) => {
                            tracing::warn!(%error, "UDP 4500 socket read");
                            0
                        }
                    };
                    // As on the ESP socket: what else is queued joins the
                    // same TUN write batch, up to a batch's worth of
                    // packets. Counted in packets, not by a full batch: a
                    // coalesced datagram flushes the batch midway, which
                    // would never leave it full, and the loop would starve
                    // the TUN side (our ACKs) while the peer keeps sending.
                    while received < offload::BATCH {
                        match try_recv_nat_t(&self.protection, &mut from_nat_t) {
                            Ok(Some(datagram)) => {
                                received += self.nat_t_received(datagram, &mut from_nat_t).await
                            }
                            Ok(None) => break,
                            Err(error) => {
                                tracing::warn!(%error, "UDP 4500 socket read");
                                break;
                            }
                        }
                    }
                    self.flush_to_tun().await;
                },
                () = ike_timer(&self.protection) => {
                    if let Some(protection) = &mut self.protection {
                        let notifications = protection.tick(Instant::now()).await;
                        self.ipsec_notifications(notifications);
                    }
                },
                output = outputs.recv() => match output {
                    Some(output) => self.nhrp_output(output).await,
                    None => break,
                },
                mirror = routes.recv(), if monitoring => match mirror {
                    Some(mirror) => self.tunnel_routes(mirror.into_iter().collect()),
                    None => monitoring = false,
                },
                request = control.recv() => match request {
                    Some(Control::TunnelRoutes(routes)) => self.tunnel_routes(routes),
                    Some(Control::Counters(lines, reply)) => {
                        let counters = match lines {
                            PeerLines::Page { after, peers } => self.counters_page(after, peers),
                            lines => {
                                let mut counters = self.counters.select(lines);
                                if let Some(fast) = &self.fast {
                                    fast.add_counters(lines, &mut counters);
                                }
                                counters
                            }
                        };
                        let _ = reply.send(counters);
                    }
                    Some(Control::Snapshot(reply)) => {
                        let _ = reply.send(self.snapshot());
                    }
                    Some(Control::Reconfigure(config, reply)) => {
                        let _ = reply.send(self.reconfigure(*config).await);
                    }
                    Some(Control::ClearSa(peer, reply)) => {
                        let cleared = match &mut self.protection {
                            Some(protection) => {
                                let notifications = protection.clear(peer, Instant::now()).await;
                                self.ipsec_notifications(notifications);
                                true
                            }
                            None => false,
                        };
                        let _ = reply.send(cleared);
                    }
                    None => break,
                },
            }
        }
        if let Some(kernel) = self.kernel.take() {
            kernel.shutdown().await;
        }
        tracing::info!(interface = self.tun.name(), "data plane down");
    }

    /// A commit on the running tunnel: each setting takes effect on the
    /// next packet, nothing is torn down. MTU: set on the TUN device (the
    /// kernel keeps its routes). TTL: the socket's. Key, NHSs, redirect:
    /// the forwarding's (peers still on the old key are dropped, as the
    /// operator asked). Source address or underlay namespace: a new GRE
    /// socket, opened before the old one closes, so a failure changes
    /// nothing.
    async fn reconfigure(&mut self, new: DataPlaneConfig) -> Result<(), Error> {
        let old = &self.config;
        if new.interface != old.interface {
            return Err(Error::NotInPlace { field: "interface" });
        }
        if new.address != old.address {
            return Err(Error::NotInPlace {
                field: "tunnel address",
            });
        }
        if new.mirror_routes != old.mirror_routes {
            return Err(Error::NotInPlace {
                field: "mirror_routes",
            });
        }
        let rebind = new.source != old.source || new.underlay_netns != old.underlay_netns;
        let underlay = match rebind {
            true => Some(bind(&new)?),
            false => None,
        };
        // IPsec follows the source: SAs are bound to the old address, so a
        // new source (or a profile added or removed) starts afresh; a
        // changed profile applies to the SAs negotiated from now on.
        let reprotect = rebind || new.protection.is_some() != old.protection.is_some();
        let protection = match reprotect {
            true => Some(protect(&new, &self.hooks)?),
            false => None,
        };
        let new_mtu = (new.mtu != old.mtu).then_some(new.mtu);
        if new.mtu != old.mtu {
            self.tun.set_mtu(new.mtu).map_err(|source| Error::Mtu {
                interface: new.interface.clone(),
                mtu: new.mtu,
                source,
            })?;
        }
        match (underlay, &self.underlay) {
            (Some(underlay), _) => self.underlay = underlay,
            (None, Some(socket)) if new.ttl != old.ttl => {
                if let Err(error) = socket.set_ttl(new.ttl) {
                    tracing::warn!(%error, ttl = new.ttl, "GRE socket TTL not changed");
                }
            }
            (None, _) => {}
        }
        match protection {
            Some(protection) => {
                if let Some(old) = &mut self.protection {
                    // Tell the peers, so their SAs go now, not at DPD.
                    let notifications = old.clear(None, Instant::now()).await;
                    self.ipsec_notifications(notifications);
                }
                self.protection = protection;
            }
            None => {
                if let (Some(running), Some(config)) = (&mut self.protection, &new.protection)
                    && running.config() != config
                {
                    let notifications = running.reconfigure(config.clone(), Instant::now());
                    self.ipsec_notifications(notifications);
                }
            }
        }
        self.forwarding.set_config(ForwardingConfig {
            tunnel: new.address,
            key: new.key,
            nhs: new.nhs.clone(),
            redirect: new.redirect,
        });
        if let Some(fast) = &mut self.fast {
            fast.reconfigure(fast_path_config(&new));
        }
        tracing::info!(
            interface = %new.interface,
            mtu = new.mtu,
            key = ?new.key,
            source = %new.source,
            underlay_netns = ?new.underlay_netns,
            "data plane reconfigured in place"
        );
        self.config = new;
        if let Some(mtu) = new_mtu {
            self.tell_nhrp(None, Input::DataPlane(DataPlaneEvent::TunnelMtu { mtu }));
        }
        Ok(())
    }

    fn tunnel_routes(&mut self, routes: Vec<(IpNetwork, IpAddr)>) {
        tracing::debug!(?routes, "tunnel routes");
        self.forwarding.set_tunnel_routes(&routes);
        if let Some(fast) = &mut self.fast {
            fast.sync_routes(&self.forwarding);
        }
        self.tell_nhrp(None, Input::DataPlane(DataPlaneEvent::TunnelRoutes(routes)));
    }

    /// An IP packet the kernel routed into the tunnel, or one segment of a
    /// super-packet: `frame[HEADROOM..]`, with room for the GRE header in
    /// front. Everything here is per wire packet: the MTU check, MSS
    /// clamping, the forwarding decision and the counters.
    async fn outbound(&mut self, segment: usize, frame: &mut [u8], now: Instant) {
        let tunnel = self.forwarding.config().tunnel.ip();
        let Some(packet) = frame.get_mut(HEADROOM..) else {
            return;
        };
        let oversize = match pmtu::check(packet, self.config.mtu, tunnel, &mut self.icmp, now) {
            pmtu::Verdict::Fits => false,
            pmtu::Verdict::Oversize => true,
            pmtu::Verdict::TooBig(icmp) => {
                self.counters.drop(None, DropReason::TooBig);
                if let Some(icmp) = icmp
                    && let Err(error) = self.tun.send(&icmp).await
                {
                    tracing::debug!(%error, "TUN write (ICMP too big)");
                    self.counters.drop(None, DropReason::TunWriteError);
                }
                return;
            }
        };
        if let Some(mss) = self.config.mss_clamp {
            pmtu::clamp_mss_in_place(packet, mss);
        }
        let out = self.forwarding.outbound(packet, now);
        if oversize && !matches!(out.decision, Decision::Drop(_)) {
            self.counters.tunnel.oversize_out += 1;
        }
        for event in out.events {
            self.tell_nhrp(None, Input::DataPlane(event));
        }
        let protocol = gre_protocol(packet).unwrap_or(GreProtocol::IPV4);
        match out.decision {
            Decision::Unicast(nbma) => {
                let nbma = self.protected_path(nbma, now).await;
                self.queue_frame(segment, nbma, protocol, frame).await
            }
            Decision::Replicate(nbmas) => {
                for nbma in nbmas {
                    self.queue_frame(segment, nbma, protocol, frame).await;
                }
            }
            Decision::Drop(reason) => self.counters.drop(None, reason),
        }
    }

    /// With IPsec, where a data packet for `nbma` goes: there if its SA is
    /// up; otherwise, when `nbma` is not our NHS, through the NHS while IKE
    /// brings the direct SA up (Cisco keeps spoke-to-spoke traffic on the
    /// hub path until the spoke-to-spoke IPsec session is up). Waiting
    /// instead would black-hole a shortcut to a peer that cannot protect
    /// (no IPsec there, a key mismatch): its attempts fail, the waiting
    /// packets are dropped, and so on every hold-down. Only the path to
    /// the NHS itself, or a hub's to its spokes, waits for its SA.
    async fn protected_path(&mut self, nbma: IpAddr, now: Instant) -> IpAddr {
        let Some(protection) = &mut self.protection else {
            return nbma;
        };
        if protection.is_up(nbma) {
            return nbma;
        }
        let Some(nhs) = self.forwarding.via_nhs().filter(|&nhs| nhs != nbma) else {
            return nbma;
        };
        let notifications = protection.request(nbma, now).await;
        self.ipsec_notifications(notifications);
        nhs
    }

    /// A GRE datagram from `from` on the underlay.
    async fn received(&mut self, received: Received<'_>) {
        match received {
            Received::Gre(from, gre) => self.inbound_cleartext(from, gre).await,
            Received::Truncated(from, len) => {
                self.counters.drop(Some(from), DropReason::Truncated);
                if !self.warned_truncated {
                    self.warned_truncated = true;
                    tracing::warn!(
                        %from,
                        len,
                        "GRE datagram longer than 64 KB dropped: the underlay coalesces \
                         beyond 64 KB (GRO with BIG TCP); set its gro_ipv4_max_size to 65536 \
                         (counted as drop reason truncated; warned once)"
                    );
                }
            }
        }
    }

    /// A GRE datagram from the GRE socket: in clear, which a protected
    /// tunnel refuses.
    async fn inbound_cleartext(&mut self, from: IpAddr, gre: &[u8]) {
        if let Some(protection) = &mut self.protection {
            let reason = protection.refuse_cleartext();
            tracing::debug!(%from, "cleartext GRE on a protected tunnel dropped");
            self.counters.drop(Some(from), reason);
            return;
        }
        self.inbound(from, gre).await;
    }

    /// An ESP packet (SPI onwards) from `from`.
    async fn esp_received(&mut self, from: IpAddr, packet: &mut [u8]) {
        let Some(protection) = &mut self.protection else {
            return;
        };
        match protection.open(from, packet) {
            Ok(gre) => self.inbound(from, gre).await,
            Err(reason) => {
                // Its SA may be on its way: kept until IKE installs it.
                if reason == DropReason::UnknownSpi && protection.hold(from, packet) {
                    return;
                }
                tracing::debug!(%from, ?reason, "ESP packet dropped");
                self.counters.drop(Some(from), reason);
            }
        }
    }

    /// The ESP `Protection::hold` kept, now that IKE installed its SA.
    async fn esp_released(&mut self) {
        let released = match &mut self.protection {
            Some(protection) => protection.take_released(),
            None => return,
        };
        for (from, mut packet) in released {
            self.esp_received(from, &mut packet).await;
        }
    }

    /// An IKE message on UDP 500.
    async fn ike_received(&mut self, remote: std::net::SocketAddr, message: &[u8]) {
        let Some(protection) = &mut self.protection else {
            return;
        };
        let port = protection::sockets::IKE_PORT;
        let notifications = protection
            .ike_message(remote, port, message, Instant::now())
            .await;
        self.ipsec_notifications(notifications);
        self.esp_released().await;
    }

    /// A datagram on UDP 4500 (`buf[..datagram.len]`), cut back into the
    /// datagrams the peer sent when the kernel coalesced them (UDP GRO);
    /// each is IKE, a NAT keepalive or ESP (RFC 3948, 2.2, 2.3): IKE may
    /// follow ESP of the same flow in one coalesced datagram. Returns how
    /// many datagrams the peer sent.
    async fn nat_t_received(&mut self, datagram: udp_offload::Datagram, buf: &mut [u8]) -> usize {
        let remote = datagram.from;
        if datagram.truncated {
            // Never ours: GRO stops at 64 KB, and so does one IPv4 datagram.
            tracing::debug!(%remote, "UDP 4500 datagram longer than the buffer dropped");
            self.counters.drop(Some(remote.ip()), DropReason::Truncated);
            return 1;
        }
        let mut count = 0;
        for range in udp_offload::gro_segments(datagram.len, datagram.segment) {
            count += 1;
            let Some(protection) = &mut self.protection else {
                break;
            };
            match UdpEncapsulated::classify(&buf[range.clone()]) {
                Ok(UdpEncapsulated::NatKeepalive) => {}
                Ok(UdpEncapsulated::Ike(ike)) => {
                    let port = protection::sockets::NAT_T_PORT;
                    let now = Instant::now();
                    let notifications = protection.ike_message(remote, port, ike, now).await;
                    self.ipsec_notifications(notifications);
                    self.esp_released().await;
                }
                // ESP, or too short for anything (`open` counts it as
                // malformed); decrypted in place.
                Ok(UdpEncapsulated::Esp(_)) | Err(_) => {
                    self.esp_received(remote.ip(), &mut buf[range]).await
                }
            }
        }
        count
    }

    /// What the IKE core reports, logged; and a peer whose SA died without
    /// a successor is down for NHRP too (its registrations and shortcuts
    /// go, an NHS there is registered with again).
    fn ipsec_notifications(&mut self, notifications: Vec<holo_ike::ike::Notification>) {
        use holo_ike::ike::Notification;
        for notification in notifications {
            match &notification {
                Notification::Error(error) => match error.level() {
                    holo_ike::ike::Level::Warn => tracing::warn!(%error, "IKE"),
                    holo_ike::ike::Level::Info => tracing::info!(%error, "IKE"),
                    holo_ike::ike::Level::Debug => tracing::debug!(%error, "IKE"),
                },
                Notification::AuthFailed { peer } => {
                    tracing::warn!(%peer, "IKE authentication failed")
                }
                other => tracing::info!(notification = ?other, "IKE"),
            }
            if let Some(events) = &self.hooks.ipsec_events
                && matches!(
                    notification,
                    Notification::IkeSaUp { .. } | Notification::IkeSaDown { .. }
                )
            {
                events(&notification);
            }
        }
        let lost = match &mut self.protection {
            Some(protection) => protection.take_lost(),
            None => return,
        };
        for nbma in lost {
            tracing::info!(%nbma, "IPsec SA gone: the peer is down for NHRP");
            self.tell_nhrp(
                Some(nbma),
                Input::DataPlane(DataPlaneEvent::PeerDown { nbma }),
            );
        }
    }

    async fn inbound(&mut self, from: IpAddr, gre: &[u8]) {
        match classify_inbound(gre, self.forwarding.config().key) {
            Inbound::Nhrp(bytes) => {
                self.counters.nhrp_in(from);
                let now = Instant::now();
                if !self.nhrp_budgets.admit(from, bytes, now) {
                    self.counters.drop(Some(from), DropReason::NhrpRateLimited);
                    let (dropped, last) = &mut self.over_budget;
                    *dropped += 1;
                    if last.is_none_or(|at| now.duration_since(at) >= QUEUE_WARNING_INTERVAL) {
                        tracing::warn!(
                            %from,
                            dropped = *dropped,
                            "NHRP packets over their source's budget dropped (drop reason \
                             nhrp-rate-limited; shown by show ip nhrp traffic, per peer \
                             by show dmvpn json)"
                        );
                        *dropped = 0;
                        *last = Some(now);
                    }
                    return;
                }
                let input = Input::Packet {
                    from,
                    bytes: bytes.to_vec(),
                };
                self.tell_nhrp(Some(from), input);
            }
            Inbound::Ip(packet)
                if forwarding::claims_source(packet, self.forwarding.config().tunnel.ip()) =>
            {
                tracing::debug!(%from, "packet with our own tunnel address as source dropped");
                self.counters.drop(Some(from), DropReason::SpoofedSource);
            }
            Inbound::Ip(packet) => {
                self.counters.data_in(from, packet.len());
                if let Some(hdr) = offload::underlay_gro_header(packet, self.config.mtu) {
                    // After what came before it, alone: tun-rs's batch
                    // would write its own header over ours.
                    self.counters.tunnel.coalesced_in += 1;
                    self.flush_to_tun().await;
                    let sent = self
                        .tun
                        .send_coalesced(hdr, packet, &mut self.coalesced)
                        .await;
                    if let Err(error) = sent {
                        tracing::debug!(%error, "TUN write (coalesced TCP)");
                        self.counters.drop(Some(from), DropReason::TunWriteError);
                    }
                    return;
                }
                if self.to_tun.is_full() {
                    self.flush_to_tun().await;
                }
                let queued = self.to_tun.push(packet);
                if let Some(mss) = self.config.mss_clamp {
                    pmtu::clamp_mss_in_place(queued, mss);
                }
            }
            Inbound::Drop(reason) => {
                tracing::debug!(%from, ?reason, "GRE packet dropped");
                self.counters.drop(Some(from), reason);
            }
        }
    }

    async fn nhrp_output(&mut self, output: Output) {
        if let Some(kernel) = &mut self.kernel {
            match &output {
                Output::RouteAdded { prefix, next_hop } => kernel.install(*prefix, *next_hop).await,
                Output::RouteRemoved { prefix } => {
                    kernel.remove(*prefix).await;
                }
                _ => {}
            }
        }
        if self.forwarding.apply(&output) {
            tracing::debug!(?output, "forwarding state");
            // In the fast path's maps before the next packet is read.
            if let Some(fast) = &mut self.fast {
                match &output {
                    Output::BindingAdded { protocol, nbma } => fast.binding_added(*protocol, *nbma),
                    Output::BindingRemoved { protocol } => fast.binding_removed(*protocol),
                    Output::RouteAdded { prefix, .. } | Output::RouteRemoved { prefix } => {
                        fast.sync_prefix(&self.forwarding, *prefix)
                    }
                    _ => {}
                }
            }
            return;
        }
        match output {
            Output::Send { to, bytes, summary } => {
                tracing::debug!(%to, %summary, "NHRP out");
                self.send(to, GreProtocol::NHRP, &bytes).await;
            }
            other => tracing::info!(output = ?other, "NHRP output not handled by the data plane"),
        }
    }

    /// Writes the queued decapsulated packets into the TUN device. A failed
    /// write is counted against the tunnel: the batch mixes peers.
    async fn flush_to_tun(&mut self) {
        let queued = self.to_tun.len();
        if let Err(error) = self.tun.send_batch(&mut self.to_tun).await {
            tracing::debug!(%error, queued, "TUN write");
            self.counters.drop(None, DropReason::TunWriteError);
        }
    }

    /// Writes the GRE header into the headroom of `frame` (the same for
    /// every copy of a replicated packet) and queues the datagram for
    /// `send_pending`: no copy of the packet.
    async fn queue_frame(
        &mut self,
        segment: usize,
        nbma: IpAddr,
        protocol: GreProtocol,
        frame: &mut [u8],
    ) {
        let header = gre_header(self.forwarding.config().key, protocol);
        let start = HEADROOM - header.header_len();
        header.write_header(&mut frame[start..HEADROOM]);
        match nbma {
            IpAddr::V4(nbma) => self.pending.push(Pending {
                segment,
                start,
                nbma,
            }),
            // Not reachable over the IPv4 raw socket: sendto(2) fails and
            // the failure is counted.
            IpAddr::V6(_) => {
                if let Some(underlay) = &self.underlay
                    && let Err(error) = underlay.send_to(&frame[start..], nbma).await
                {
                    tracing::debug!(%nbma, %error, "GRE send");
                }
                self.counters.drop(Some(nbma), DropReason::SendError);
            }
        }
    }

    /// Sends the datagrams queued from the last TUN read, with as few
    /// sendmmsg(2) calls as the socket buffer allows, and counts each.
    async fn send_pending(&mut self, segments: &Segments) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        if let Some(protection) = &mut self.protection {
            // (pending entry, datagram): the GRE header in front of the
            // payload is HEADROOM - start bytes long.
            let datagrams: Vec<(&Pending, &[u8])> = pending
                .iter()
                .filter_map(|p| Some((p, segments.frame(p.segment)?.get(p.start..)?)))
                .collect();
            let to_send: Vec<(IpAddr, &[u8])> = datagrams
                .iter()
                .map(|(p, datagram)| (IpAddr::V4(p.nbma), *datagram))
                .collect();
            let (results, notifications) = protection.send_many(&to_send, Instant::now()).await;
            for ((p, datagram), sent) in datagrams.iter().zip(results) {
                let nbma = IpAddr::V4(p.nbma);
                match sent {
                    Sent::Sent | Sent::Waiting => self
                        .counters
                        .data_out(nbma, datagram.len() - (HEADROOM - p.start)),
                    Sent::Dropped(reason) => self.counters.drop(Some(nbma), reason),
                }
            }
            drop(to_send);
            drop(datagrams);
            self.ipsec_notifications(notifications);
            self.pending = pending;
            self.pending.clear();
            return;
        }
        let Some(underlay) = &self.underlay else {
            for p in &pending {
                self.counters
                    .drop(Some(IpAddr::V4(p.nbma)), DropReason::NoSource);
            }
            self.pending = pending;
            self.pending.clear();
            return;
        };
        let datagrams: Vec<(&[u8], Ipv4Addr)> = pending
            .iter()
            .filter_map(|p| Some((segments.frame(p.segment)?.get(p.start..)?, p.nbma)))
            .collect();
        let counters = &mut self.counters;
        underlay
            .send_many(&datagrams, |i, result| {
                let (datagram, nbma) = datagrams[i];
                let nbma = IpAddr::V4(nbma);
                match result {
                    Ok(()) => {
                        let payload = datagram.len() - (HEADROOM - pending[i].start);
                        counters.data_out(nbma, payload);
                    }
                    Err(error) => {
                        tracing::debug!(%nbma, %error, "GRE send");
                        counters.drop(Some(nbma), DropReason::SendError);
                    }
                }
            })
            .await;
        drop(datagrams);
        self.pending = pending;
        self.pending.clear();
    }

    /// Wraps `payload` in GRE and sends it to `nbma`.
    async fn send(&mut self, nbma: IpAddr, protocol: GreProtocol, payload: &[u8]) {
        let header = gre_header(self.forwarding.config().key, protocol);
        self.gre.clear();
        header.emit_into(payload, &mut self.gre);
        if self.protection.is_some() {
            let gre = std::mem::take(&mut self.gre);
            let nhrp = protocol == GreProtocol::NHRP;
            self.protected_send(nbma, &gre, payload.len(), nhrp, Instant::now())
                .await;
            self.gre = gre;
            return;
        }
        let Some(underlay) = &self.underlay else {
            self.counters.drop(Some(nbma), DropReason::NoSource);
            return;
        };
        match underlay.send_to(&self.gre, nbma).await {
            Ok(()) if protocol == GreProtocol::NHRP => self.counters.nhrp_out(nbma),
            Ok(()) => self.counters.data_out(nbma, payload.len()),
            Err(error) => {
                tracing::debug!(%nbma, %error, "GRE send");
                self.counters.drop(Some(nbma), DropReason::SendError);
            }
        }
    }

    /// Sends GRE datagram `gre` (`payload` bytes of data, or an NHRP
    /// packet) to `nbma` inside ESP, and counts it: a datagram waiting for
    /// its SA is counted when it waits (it goes when the SA is up).
    async fn protected_send(
        &mut self,
        nbma: IpAddr,
        gre: &[u8],
        payload: usize,
        nhrp: bool,
        now: Instant,
    ) {
        let Some(protection) = &mut self.protection else {
            return;
        };
        let (sent, notifications) = protection.send(nbma, gre, now).await;
        self.ipsec_notifications(notifications);
        match sent {
            Sent::Sent | Sent::Waiting if nhrp => self.counters.nhrp_out(nbma),
            Sent::Sent | Sent::Waiting => self.counters.data_out(nbma, payload),
            Sent::Dropped(reason) => self.counters.drop(Some(nbma), reason),
        }
    }

    /// Never waits on NHRP: its task may itself be waiting to hand us
    /// outputs, so a full queue drops the input (counted) instead.
    fn tell_nhrp(&mut self, peer: Option<IpAddr>, input: Input) {
        if self.nhrp.try_send(input).is_err() {
            self.counters.drop(peer, DropReason::NhrpQueueFull);
            let (dropped, last) = &mut self.queue_full;
            *dropped += 1;
            let now = Instant::now();
            if last.is_none_or(|at| now.duration_since(at) >= QUEUE_WARNING_INTERVAL) {
                tracing::warn!(
                    dropped = *dropped,
                    "NHRP input queue full: packets dropped before NHRP (counted as drop \
                     reason nhrp-queue-full; shown by show ip nhrp traffic)"
                );
                *dropped = 0;
                *last = Some(now);
            }
        }
    }

    /// A page of the counters (`PeerLines::Page`): the lines of the first
    /// `peers` NBMA addresses after `after` that either plane counts for,
    /// both planes' counts added; `page_end` set when more may follow.
    fn counters_page(&self, after: Option<IpAddr>, peers: usize) -> Counters {
        let mut keys: Vec<IpAddr> = self.counters.peers_after(after).take(peers).collect();
        if let Some(fast) = &self.fast {
            keys.extend(fast.peers_after(after, peers));
            keys.sort_unstable();
            keys.dedup();
        }
        // Each plane gave its first `peers` (or all it has left): the
        // first `peers` of both are the first of the union. Fewer: both
        // have no more.
        let full = keys.len() >= peers;
        keys.truncate(peers);
        let mut counters = self.counters.of_peers(&keys);
        if let Some(fast) = &self.fast {
            for nbma in &keys {
                fast.add_peer(*nbma, &mut counters);
            }
        }
        counters.page_end = full.then(|| keys.last().copied()).flatten();
        counters
    }

    fn snapshot(&self) -> Snapshot {
        let mut counters = self.counters.clone();
        let fast_path = self.fast.as_ref().map(|fast| {
            fast.add_counters(PeerLines::All, &mut counters);
            fast.snapshot()
        });
        let active = fast_path.as_ref().is_some_and(|f| f.active);
        let fast_path_reason = match (&fast_path, &self.fast_unavailable) {
            (Some(fast), _) => fast.reason.clone(),
            (None, reason) => reason.clone(),
        };
        Snapshot {
            counters,
            data_plane: if active { "ebpf" } else { "userspace" },
            fast_path_reason,
            fast_path,
            bindings: self.forwarding.bindings(),
            kernel_routes: self.forwarding.kernel_routes().clone(),
            nhrp_routes: self.forwarding.nhrp_routes().clone(),
            multicast: self.forwarding.multicast().clone(),
            protection: self.protection.as_ref().map(Protection::snapshot),
        }
    }
}

/// What the fast path needs of `config`, and why it must stand aside.
fn fast_path_config(config: &DataPlaneConfig) -> fastpath::FastPathConfig {
    let bypass = match (&config.protection, &config.underlay_netns) {
        (Some(_), _) => Some(
            "IPsec protection: ESP is the userspace plane's (no kernel ESP path here)".to_string(),
        ),
        (None, Some(netns)) => Some(format!(
            "the underlay is in namespace {netns} (front-door VRF): a redirect cannot cross \
             namespaces"
        )),
        (None, None) => None,
    };
    fastpath::FastPathConfig {
        interface: config.interface.clone(),
        tunnel: config.address,
        source: config.source,
        key: config.key,
        mtu: config.mtu,
        ttl: config.ttl,
        redirect: config.redirect,
        bypass,
    }
}

/// The fast path of `config` when asked for, with the routes known so far;
/// or why it could not load (logged: the tunnel runs on this plane).
fn open_fast_path(
    config: &DataPlaneConfig,
    forwarding: &Forwarding,
) -> (Option<fastpath::FastPath>, Option<String>) {
    if !config.fast_path {
        return (None, None);
    }
    match fastpath::FastPath::open(fast_path_config(config)) {
        Ok(mut fast) => {
            fast.sync_routes(forwarding);
            (Some(fast), None)
        }
        Err(error) => {
            tracing::warn!(
                interface = %config.interface,
                %error,
                "eBPF fast path unavailable: the tunnel runs on the userspace plane"
            );
            (None, Some(error.to_string()))
        }
    }
}

/// The GRE socket of `config`: none while the source is unspecified (not
/// up).
fn bind(config: &DataPlaneConfig) -> Result<Option<Underlay>, Error> {
    if config.source.is_unspecified() {
        return Ok(None);
    }
    Underlay::bind(config.source, config.ttl, config.underlay_netns.as_deref())
        .map(Some)
        .map_err(|source| Error::Underlay {
            address: config.source,
            source,
        })
}

/// The IPsec side of `config`: none without protection or while the source
/// is unspecified (not up).
fn protect(config: &DataPlaneConfig, hooks: &Hooks) -> Result<Option<Protection>, Error> {
    let Some(protection) = &config.protection else {
        return Ok(None);
    };
    if config.source.is_unspecified() {
        return Ok(None);
    }
    Protection::new(
        protection.clone(),
        config.source,
        config.ttl,
        config.underlay_netns.as_deref(),
        hooks
            .ipsec_keylog
            .as_deref()
            .map(protection::keylog::KeyLog::new),
    )
    .map(Some)
    .map_err(|source| Error::Underlay {
        address: config.source,
        source,
    })
}

/// One ESP datagram: its source and where its ESP header onwards is in
/// `buf`; never, without IPsec.
async fn recv_esp(
    protection: &Option<Protection>,
    buf: &mut [u8],
) -> std::io::Result<(IpAddr, std::ops::Range<usize>)> {
    let Some(protection) = protection else {
        return std::future::pending().await;
    };
    loop {
        let base = buf.as_ptr() as usize;
        match protection.sockets.recv_esp(buf).await? {
            Received::Gre(from, esp) => return Ok((from, range_in(base, esp))),
            // An ESP packet above 64 KB cannot be ours.
            Received::Truncated(..) => continue,
        }
    }
}

/// Where `part`, a slice of the buffer starting at address `base`, lies in
/// it: the receive calls return a borrow of the buffer, the caller needs it
/// mutably again to decrypt in place.
fn range_in(base: usize, part: &[u8]) -> std::ops::Range<usize> {
    let start = part.as_ptr() as usize - base;
    start..start + part.len()
}

/// Like `recv_esp`, but only what is already queued: `None` when nothing
/// is (or without IPsec).
fn try_recv_esp(
    protection: &Option<Protection>,
    buf: &mut [u8],
) -> std::io::Result<Option<(IpAddr, std::ops::Range<usize>)>> {
    let Some(protection) = protection else {
        return Ok(None);
    };
    loop {
        let base = buf.as_ptr() as usize;
        match protection.sockets.esp.try_recv(buf)? {
            Some(Received::Gre(from, esp)) => return Ok(Some((from, range_in(base, esp)))),
            Some(Received::Truncated(..)) => continue,
            None => return Ok(None),
        }
    }
}

/// One IKE message on UDP 500: the sender and its length in `buf`; never,
/// without IPsec.
async fn recv_ike(
    protection: &Option<Protection>,
    buf: &mut [u8],
) -> std::io::Result<(std::net::SocketAddr, usize)> {
    let Some(protection) = protection else {
        return std::future::pending().await;
    };
    let (n, from) = protection.sockets.ike.recv_from(buf).await?;
    Ok((from, n))
}

/// One datagram on UDP 4500 (coalesced with UDP GRO); never, without
/// IPsec.
async fn recv_nat_t(
    protection: &Option<Protection>,
    buf: &mut [u8],
) -> std::io::Result<udp_offload::Datagram> {
    match protection {
        Some(protection) => protection.sockets.recv_nat_t(buf).await,
        None => std::future::pending().await,
    }
}

/// Like `recv_nat_t`, but only what is already queued: `None` when nothing
/// is (or without IPsec).
fn try_recv_nat_t(
    protection: &Option<Protection>,
    buf: &mut [u8],
) -> std::io::Result<Option<udp_offload::Datagram>> {
    match protection {
        Some(protection) => protection.sockets.try_recv_nat_t(buf),
        None => Ok(None),
    }
}

/// When the IKE core wants a tick; never, without IPsec or a timer.
async fn ike_timer(protection: &Option<Protection>) {
    match protection.as_ref().and_then(Protection::next_wakeup) {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// One GRE datagram from the socket; never, without one.
async fn recv<'b>(underlay: &Option<Underlay>, buf: &'b mut [u8]) -> std::io::Result<Received<'b>> {
    match underlay {
        Some(underlay) => underlay.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// A GRE datagram ready in segment `segment` of the last TUN read, from
/// `start` on.
#[derive(Debug)]
struct Pending {
    segment: usize,
    start: usize,
    nbma: Ipv4Addr,
}

/// The GRE header we send (`GreRepr::tunnel`).
fn gre_header(key: Option<u32>, protocol: GreProtocol) -> GreRepr {
    GreRepr::tunnel(key, protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header written in place in front of a segment is the codec's,
    /// with and without a key, and fits the headroom.
    #[test]
    fn in_place_gre_header_matches_the_codec() {
        for key in [None, Some(0xdead_beef)] {
            let header = gre_header(key, GreProtocol::IPV6);
            let mut frame = [0xaa; HEADROOM + 3];
            let start = HEADROOM - header.header_len();
            header.write_header(&mut frame[start..HEADROOM]);
            assert_eq!(frame[start..], header.emit(&[0xaa; 3])[..]);
        }
    }
}
