//! The DMVPN tunnel: the GRE codec (`packet::gre`) and the userspace data
//! plane (`dataplane`); later the kernel data plane and the per-tunnel wiring
//! of NHRP and the data plane in dmvpnd.
#![forbid(unsafe_code)]

pub mod dataplane;
pub mod packet;
pub mod yang;
