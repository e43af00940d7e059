//! Shared fixtures of the northbound tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use northbound::{Change, Provider, Refusal};

pub const TUN0: &str = "/ietf-interfaces:interfaces/interface[name='tun0']";

/// A spoke: one NHS, a static map, most leaves set.
pub const SPOKE: &str = r#"{
  "ietf-interfaces:interfaces": {
    "interface": [
      {
        "name": "tun0",
        "type": "dmvpn-tunnel:mgre",
        "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.2", "prefix-length": 24}]},
        "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.2", "gre-key": 42, "mtu": 1400, "data-plane": "kernel"},
        "dmvpn-nhrp:nhrp": {
          "network-id": 1,
          "holding-time": 600,
          "registration-interval": 200,
          "authentication": "DMVPN",
          "registration-no-unique": true,
          "shortcut": true,
          "nhs": [{"protocol-address": "10.0.0.1", "nbma-address": "192.0.2.1", "priority": 1, "cluster": 2}],
          "static-map": [{"protocol-address": "10.0.0.1", "nbma-address": "192.0.2.1"}],
          "multicast": {"nbma-address": ["192.0.2.1"]}
        }
      }
    ]
  }
}"#;

/// A hub: no NHS, dynamic multicast, redirect.
pub const HUB: &str = r#"{
  "ietf-interfaces:interfaces": {
    "interface": [
      {
        "name": "tun0",
        "type": "dmvpn-tunnel:mgre",
        "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.1"},
        "dmvpn-nhrp:nhrp": {"network-id": 1, "redirect": true, "multicast": {"dynamic": true}}
      }
    ]
  }
}"#;

/// A state directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("northbound-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the providers were asked, in order: "NAME prepare", "NAME apply"...
pub type Calls = Arc<Mutex<Vec<String>>>;

pub fn calls(calls: &Calls) -> Vec<String> {
    calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A provider that records its calls and the changes it applied, and
/// refuses in prepare when told to.
#[derive(Debug)]
pub struct Recorder {
    pub name: String,
    pub refuse: bool,
    pub calls: Calls,
    pub applied: Arc<Mutex<Vec<Change>>>,
}

impl Recorder {
    pub fn new(name: &str, refuse: bool, calls: &Calls) -> Self {
        Recorder {
            name: name.to_owned(),
            refuse,
            calls: calls.clone(),
            applied: Arc::default(),
        }
    }

    fn record(&self, phase: &str) {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.push(format!("{} {phase}", self.name));
    }
}

impl Provider for Recorder {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, changes: &[Change]) -> Result<(), Refusal> {
        self.record("prepare");
        if self.refuse {
            // It refuses what it owns: the interfaces (a commit also
            // creates other modules' empty containers, such as
            // /dmvpn-ipsec:ipsec, as defaults).
            let path = changes
                .iter()
                .map(|c| c.path.as_str())
                .find(|path| path.starts_with("/ietf-interfaces:"));
            return Err(Refusal::new(path, "no such resource"));
        }
        Ok(())
    }

    fn abort(&mut self, _changes: &[Change]) {
        self.record("abort");
    }

    fn apply(&mut self, changes: &[Change]) {
        self.record("apply");
        let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        applied.extend_from_slice(changes);
    }
}
