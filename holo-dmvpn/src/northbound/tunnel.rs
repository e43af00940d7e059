//! The seam between a tunnel instance and its data plane: the data-plane
//! kinds (userspace now; the eBPF fast path and the kernel later)
//! implement [`Tunnel`], the instance wiring never knows which one runs.

use std::net::IpAddr;

use holo_nhrp::InstanceConfig;
use holo_nhrp::io::{Input, Output};
use northbound::{BoxFuture, Refusal};
use tokio::sync::mpsc;

use super::TunnelParams;

/// A data-plane kind: checks and starts the data plane of a tunnel.
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

    /// Starts the data plane of the NHRP instance on `interface`: `nhrp`
    /// feeds the instance, `outputs` carries the instance's outputs that
    /// are the data plane's (packets to send, bindings, routes, multicast).
    /// Runs in a task of its own.
    fn start(
        &self,
        interface: String,
        config: InstanceConfig,
        params: TunnelParams,
        nhrp: mpsc::Sender<Input>,
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
