//! One tunnel instance: the NHRP driver and its data plane, started,
//! reconfigured in place and stopped by the provider; the instance's
//! outputs carried to the data plane, the notifier and the resolver.

use std::net::IpAddr;
use std::sync::Arc;

use holo_nhrp::InstanceConfig;
use holo_nhrp::driver;
use holo_nhrp::io::{Command, Input, Output};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Shared, Tunnel, TunnelParams, lock};

#[derive(Debug)]
pub(crate) struct RunningInstance {
    pub(crate) config: InstanceConfig,
    pub(crate) params: TunnelParams,
    /// The instance's inputs and state queries.
    pub(crate) handle: driver::Handle,
    /// The instance's configuration: a new value is applied in place.
    /// Without a data plane only; with one, `run_tunnel` holds it.
    configure: watch::Sender<InstanceConfig>,
    task: JoinHandle<holo_nhrp::Instance>,
    /// The data-plane task: starts the data plane, hands it each new
    /// configuration, stops it when this sender is dropped.
    tunnel: Option<(watch::Sender<TunnelConfig>, JoinHandle<()>)>,
}

/// What a data plane is configured with: the NHRP side and the tunnel's.
type TunnelConfig = (InstanceConfig, TunnelParams);

/// How long a removed instance gets to send its Purge Requests before its
/// data plane goes.
const UNREGISTER_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

impl RunningInstance {
    /// Stops the instance; the data plane's task, to await its end.
    pub(crate) fn stop(self, name: &str) -> Option<JoinHandle<()>> {
        self.task.abort();
        tracing::info!(interface = %name, "NHRP instance stopped");
        self.tunnel.map(|(stop, task)| {
            drop(stop);
            task
        })
    }

    /// Stops the instance after telling its NHSs our binding is gone (the
    /// configuration removed NHRP or the interface, or gave the interface
    /// another address): every NHS removed first, so each gets a Purge
    /// Request (RFC 2332, 5.2.5) and the hubs drop us at once instead of
    /// at the end of our holding time; `UNREGISTER_GRACE` for those to
    /// leave through the data plane. The returned task ends once the data
    /// plane is gone.
    pub(crate) fn unregister_and_stop(self, name: &str) -> JoinHandle<()> {
        let mut last = self.config.clone();
        last.nhs.clear();
        let registered = !self.config.nhs.is_empty();
        if registered {
            self.configure.send_replace(last);
        }
        let name = name.to_owned();
        tokio::spawn(async move {
            if registered {
                tokio::time::sleep(UNREGISTER_GRACE).await;
            }
            if let Some(tunnel) = self.stop(&name) {
                let _ = tunnel.await;
            }
        })
    }

    /// Whether `config` and `params` can be applied to this instance in
    /// place. A new tunnel address is a new NHRP identity (every binding
    /// and registration names it), and a new data-plane kind a new data
    /// plane: both start over.
    pub(crate) fn takes_in_place(&self, config: &InstanceConfig, params: &TunnelParams) -> bool {
        self.config.protocol == config.protocol && self.params.data_plane == params.data_plane
    }

    /// Hands the new configuration to the running instance and its data
    /// plane; each applies it in place. With a data plane, the data plane
    /// first: NHRP's first packets after a new tunnel source must leave
    /// from it (`run_tunnel` hands the instance its configuration after).
    pub(crate) fn reconfigure(&mut self, name: &str, config: InstanceConfig, params: TunnelParams) {
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

/// Starts the instance of interface `name` and, with a [`Tunnel`] hook, its
/// data plane once `previous` (the data plane of the instance it replaces)
/// has ended.
pub(crate) fn start(
    shared: &Arc<Shared>,
    name: &str,
    config: InstanceConfig,
    params: TunnelParams,
    previous: Option<JoinHandle<()>>,
) -> RunningInstance {
    let (outputs, outputs_rx) = mpsc::channel(256);
    let (configure, configured) = watch::channel(config.clone());
    let (handle, task) = driver::spawn_configured(configured, outputs);
    let hook = lock(&shared.tunnel).clone();
    let (to_tunnel, tunnel) = match hook {
        Some(hook) => {
            let (to_tunnel, from_nhrp) = mpsc::channel(256);
            let (reconfigure, configs) = watch::channel((config.clone(), params.clone()));
            let run = TunnelRun {
                name: name.to_owned(),
                nhrp: handle.inputs.clone(),
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
        handle.inputs.clone(),
        to_tunnel,
    ));
    RunningInstance {
        config,
        params,
        handle,
        configure,
        task,
        tunnel,
    }
}

struct TunnelRun {
    name: String,
    nhrp: mpsc::Sender<Input>,
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
    let started = hook.start(run.name, config, params, run.nhrp, outputs);
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
    nhrp: mpsc::Sender<Input>,
    tunnel: Option<mpsc::Sender<Output>>,
) {
    while let Some(output) = outputs.recv().await {
        match output {
            Output::Notify(notification) => {
                let json =
                    holo_nhrp::northbound::notification::json(&name, &notification).to_string();
                let notifier = lock(&shared.notifier).clone();
                if let Some(notifier) = notifier
                    && let Err(error) = notifier.publish(&json)
                {
                    tracing::warn!(%error, "NHRP notification not published");
                }
            }
            Output::ResolveName { fqdn } => {
                // Not awaited here: the instance may be waiting on us.
                tokio::spawn(resolve_name(fqdn, nhrp.clone()));
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
async fn resolve_name(fqdn: String, nhrp: mpsc::Sender<Input>) {
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
    let _ = nhrp.send(Input::Command(command)).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use northbound::{BoxFuture, Change, Operation, Provider, Refusal};

    use super::super::{Dmvpn, TunnelHandle};
    use super::*;

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
            _nhrp: mpsc::Sender<Input>,
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
        let nhrp = Dmvpn::new();
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
}
