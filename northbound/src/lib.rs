//! Will hold the YANG datastores (running, per-session candidate, operational
//! state from providers), transactions and the gRPC/gNMI/NETCONF servers.
#![forbid(unsafe_code)]
