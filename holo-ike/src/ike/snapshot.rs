//! The state for management (`show crypto ikev2 sa`, `show crypto ipsec
//! sa`): every IKE SA with its child SAs. Ages are as of the last input.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use super::config::{IkeProposal, Mode};
use super::counters::Counters;
use super::identity::Identity;
use super::nat::NatState;
use super::sa::{IkeSa, Role, State};
use super::{EspProposal, Ike};

#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub ike_sas: Vec<IkeSaState>,
    pub counters: Counters,
}

#[derive(Clone, Debug, Serialize)]
pub struct IkeSaState {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub peer: IpAddr,
    pub role: Role,
    pub state: State,
    #[serde(serialize_with = "spi64")]
    pub spi_i: u64,
    #[serde(serialize_with = "spi64")]
    pub spi_r: u64,
    pub proposal: Option<IkeProposal>,
    pub local_id: Identity,
    pub remote_id: Option<Identity>,
    pub age: Duration,
    pub nat: NatState,
    pub child_sas: Vec<ChildSaState>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChildSaState {
    #[serde(serialize_with = "spi32")]
    pub inbound_spi: u32,
    #[serde(serialize_with = "spi32")]
    pub outbound_spi: u32,
    pub proposal: EspProposal,
    pub mode: Mode,
    pub encap: Option<(u16, u16)>,
    pub age: Duration,
    pub lifetime: Duration,
    /// The larger direction's bytes, as the data plane last reported.
    pub bytes: u64,
    pub lifetime_bytes: Option<u64>,
}

fn spi64<S: Serializer>(spi: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{spi:016x}"))
}

fn spi32<S: Serializer>(spi: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{spi:08x}"))
}

/// Algorithms by their Rust names (`AesGcm16_256`, `HmacSha256_128`).
pub fn debug<T: std::fmt::Debug, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:?}"))
}

pub fn debug_opt<T: std::fmt::Debug, S: Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => debug(v, s),
        None => s.serialize_none(),
    }
}

fn ike_sa(sa: &IkeSa, now: Instant) -> IkeSaState {
    IkeSaState {
        local: sa.local,
        remote: sa.remote,
        peer: sa.peer,
        role: sa.role,
        state: sa.state,
        spi_i: sa.spi_i,
        spi_r: sa.spi_r,
        proposal: sa.proposal,
        local_id: sa.local_id.clone(),
        remote_id: sa.remote_id.clone(),
        age: now.saturating_duration_since(sa.created),
        nat: sa.nat,
        child_sas: sa
            .children
            .iter()
            .map(|c| ChildSaState {
                inbound_spi: c.sa.inbound_spi,
                outbound_spi: c.sa.outbound_spi,
                proposal: c.proposal,
                mode: c.sa.mode,
                encap: c.sa.encap,
                age: now.saturating_duration_since(c.created),
                lifetime: c.sa.lifetime,
                bytes: c.used.bytes,
                lifetime_bytes: c.hard.bytes,
            })
            .collect(),
    }
}

pub fn take(ike: &Ike) -> Snapshot {
    let Some(now) = ike.now else {
        // No input yet, so no SA either.
        return Snapshot {
            ike_sas: vec![],
            counters: ike.counters,
        };
    };
    Snapshot {
        ike_sas: ike.sas.values().map(|sa| ike_sa(sa, now)).collect(),
        counters: ike.counters,
    }
}
