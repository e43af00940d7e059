//! Wire formats carried by the tunnel.

pub mod gre;
