//! NHRP, RFC 2332 plus the Cisco DMVPN extensions: the wire codec
//! (`packet`) and a sans-IO protocol core (`Instance`): registration (NHC and
//! NHS), resolution, purge, Error and Traffic Indication, and the cache.
#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
pub mod counters;
#[cfg(feature = "driver")]
pub mod driver;
pub mod instance;
pub mod io;
pub mod nhc;
pub mod nhs;
#[cfg(feature = "northbound")]
pub mod northbound;
pub mod packet;
mod purge;
mod reconfigure;
pub mod resolution;
pub mod sim;
pub mod snapshot;
pub mod yang;

pub use config::{InstanceConfig, NhsConfig, StaticMap};
pub use instance::Instance;
pub use io::{Command, DataPlaneEvent, Input, Notification, Output};
