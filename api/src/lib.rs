//! The gRPC management API of dmvpnd (`proto/northbound.proto`): generated
//! messages, the `Northbound` service trait for the server and its client;
//! and gNMI (`proto/gnmi.proto`), served next to it.
#![forbid(unsafe_code)]
#![allow(missing_debug_implementations, clippy::all)]

/// Package `dmvpn.northbound.v1`.
pub mod v1 {
    tonic::include_proto!("dmvpn.northbound.v1");
}

/// Package `gnmi`: gNMI 0.10 (`proto/gnmi.proto`), the `gNMI` service
/// (`/gnmi.gNMI/Capabilities`, `Get`, `Set`, `Subscribe`) for the server
/// and its client.
pub mod gnmi {
    tonic::include_proto!("gnmi");
}

/// The largest message either side of the API accepts (tonic's default is
/// 4 MiB, less than the state of a hub with a few thousand spokes). Large
/// trees are better read with `GetStream`, in pieces of `GET_STREAM_PIECE`.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// The most text one `GetStream` message carries, in bytes.
pub const GET_STREAM_PIECE: usize = 1024 * 1024;
