//! What `dmvpn-ipsec` means to the IKE core: a profile's leaves become an
//! [`ike::Config`](crate::ike::Config) ([`configuration`]). Pure: the
//! daemon's provider (holo-dmvpn) owns the datastore side and the
//! per-tunnel wiring.

pub mod configuration;
