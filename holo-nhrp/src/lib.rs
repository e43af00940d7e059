//! NHRP, RFC 2332 plus the Cisco DMVPN extensions. Today: the wire codec
//! (`packet`). Later issues add the cache and the sans-IO NHC/NHS core.
#![forbid(unsafe_code)]

pub mod packet;
