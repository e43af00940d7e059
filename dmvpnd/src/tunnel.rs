//! The data plane of the NHRP instances: holo-dmvpn's userspace data plane
//! (a TUN device named after the tunnel interface and a raw GRE socket
//! bound to the tunnel source), plugged into the NHRP glue as its
//! [`Tunnel`] hook.
//!
//! ```text
//!   commit --prepare--> check: refuses data-plane "kernel" (not built yet)
//!          --apply----> NHRP instance + start: DataPlane::spawn
//!                       + local prefixes (the LANs behind us) every 5 s
//!   instance stops / daemon exits --> stop: DataPlane::shutdown (TUN gone)
//! ```

use std::net::IpAddr;
use std::time::Duration;

use holo_dmvpn::dataplane::{DataPlane, DataPlaneConfig, routes};
use holo_nhrp::InstanceConfig;
use holo_nhrp::driver::Request;
use holo_nhrp::northbound::{Tunnel, TunnelHandle, TunnelParams};
use holo_nhrp::{DataPlaneEvent, Input, Output};
use northbound::Refusal;
use northbound::grpc::BoxFuture;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often the prefixes behind this node are read again.
const LOCAL_PREFIXES_INTERVAL: Duration = Duration::from_secs(5);

/// One userspace data plane per NHRP instance, in the daemon's network
/// namespace.
#[derive(Debug, Default)]
pub struct Userspace;

impl Tunnel for Userspace {
    fn check(&self, _interface: &str, params: &TunnelParams) -> Result<(), Refusal> {
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

    fn start(
        &self,
        interface: String,
        config: InstanceConfig,
        params: TunnelParams,
        requests: mpsc::Sender<Request>,
        outputs: mpsc::Receiver<Output>,
    ) -> BoxFuture<'static, Result<Box<dyn TunnelHandle>, String>> {
        Box::pin(async move {
            let mut dp = DataPlaneConfig::from_nhrp(&interface, &config, params.gre_key)
                .map_err(|e| e.to_string())?;
            if let Some(ttl) = params.ttl {
                dp.ttl = ttl;
            }
            if let Some(mtu) = params.mtu {
                dp.mtu = mtu;
            }
            tracing::info!(%interface, mtu = dp.mtu, key = ?dp.key, "data plane starting");
            let dataplane = DataPlane::spawn(dp, requests.clone(), outputs)
                .await
                .map_err(|e| e.to_string())?;
            let prefixes = tokio::spawn(local_prefixes(interface, config.nbma, requests));
            Ok(Box::new(Running {
                dataplane,
                prefixes,
            }) as Box<dyn TunnelHandle>)
        })
    }
}

struct Running {
    dataplane: DataPlane,
    prefixes: JoinHandle<()>,
}

impl TunnelHandle for Running {
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            self.prefixes.abort();
            self.dataplane.shutdown().await;
        })
    }
}

/// Tells NHRP which prefixes are behind this node (answered in Resolution
/// Replies, Phase 2/3): the subnets of the other interfaces' addresses,
/// whenever they change.
async fn local_prefixes(interface: String, nbma: IpAddr, requests: mpsc::Sender<Request>) {
    let mut known = None;
    loop {
        match routes::local_prefixes(&interface, nbma).await {
            Ok(prefixes) if known.as_ref() != Some(&prefixes) => {
                tracing::info!(%interface, ?prefixes, "local prefixes");
                known = Some(prefixes.clone());
                let event = Input::DataPlane(DataPlaneEvent::LocalPrefixes(prefixes));
                if requests.send(Request::Input(event)).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%interface, %error, "reading the local prefixes"),
        }
        tokio::time::sleep(LOCAL_PREFIXES_INTERVAL).await;
    }
}
