//! The YANG of NHRP (`dmvpn-nhrp`), as Holo's protocol crates lay it out:
//! what the nodes mean, with no task, socket or datastore of its own. The
//! per-tunnel wiring that runs instances from it (the configuration
//! provider, state and RPC providers, notifications) is holo-dmvpn's
//! `northbound`, which owns `dmvpn-tunnel` and ties both to a data plane.
//!
//! ```text
//!   leaves (data path -> value) --configuration::instance_config--> InstanceConfig
//!   driver State (snapshot) ------state::render_state-------------> dmvpn-nhrp state JSON
//!   RPC input JSON ---------------rpc::command--------------------> (interface, Command)
//!   Output::Notify ---------------notification::json--------------> YANG notification JSON
//! ```

pub mod configuration;
pub mod notification;
pub mod rpc;
pub mod state;

/// The data path of an interface entry, up to its name.
pub const INTERFACE: &str = "/ietf-interfaces:interfaces/interface[name='";

/// `tun0` of `/ietf-interfaces:interfaces/interface[name='tun0']/...`.
pub fn interface_name(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(INTERFACE)?;
    rest.split_once("']").map(|(name, _)| name)
}
