//! The DMVPN tunnel: the GRE codec (`packet::gre`), the userspace data
//! plane (`dataplane`), and (feature `northbound`) the tunnel instances as
//! YANG sees them: NHRP and a data plane wired per tunnel interface, their
//! configuration, state and RPCs (`northbound`).
#![forbid(unsafe_code)]

pub mod dataplane;
#[cfg(feature = "northbound")]
pub mod northbound;
pub mod packet;
pub mod yang;
