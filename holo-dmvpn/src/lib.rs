//! The DMVPN tunnel: today the GRE codec (`packet::gre`); later the userspace
//! and kernel data planes and the per-tunnel wiring of NHRP and the data plane.
#![forbid(unsafe_code)]

pub mod packet;
