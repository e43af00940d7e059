//! A snapshot of an instance's state, for the northbound and the CLI
//! (`driver::Handle::state` answers with one).

use serde::Serialize;

use crate::cache::Entry;
use crate::counters::Counters;
use crate::instance::Instance;
use crate::nhc::NhsStatus;

#[derive(Clone, Debug, Serialize)]
pub struct State {
    pub cache: Vec<Entry>,
    pub nhs: Vec<NhsView>,
    pub counters: Counters,
}

#[derive(Clone, Debug, Serialize)]
pub struct NhsView {
    pub protocol: std::net::IpAddr,
    pub nbma: std::net::IpAddr,
    pub priority: u8,
    pub status: NhsStatus,
    pub registrations_sent: u64,
    pub replies_received: u64,
}

impl State {
    /// The state of `instance` now.
    pub fn of(instance: &Instance) -> State {
        State {
            cache: instance.cache().iter().cloned().collect(),
            nhs: instance
                .nhs_states()
                .iter()
                .map(|n| NhsView {
                    protocol: n.config.protocol,
                    nbma: n.config.nbma,
                    priority: n.config.priority,
                    status: n.status,
                    registrations_sent: n.registrations_sent,
                    replies_received: n.replies_received,
                })
                .collect(),
            counters: instance.counters.clone(),
        }
    }
}
