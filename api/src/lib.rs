//! The gRPC management API of dmvpnd (`proto/northbound.proto`): generated
//! messages, the `Northbound` service trait for the server and its client.
#![forbid(unsafe_code)]
#![allow(missing_debug_implementations, clippy::all)]

/// Package `dmvpn.northbound.v1`.
pub mod v1 {
    tonic::include_proto!("dmvpn.northbound.v1");
}
