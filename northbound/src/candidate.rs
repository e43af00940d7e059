//! A client session's candidate configuration: a copy of running taken when
//! the session started editing, plus its edits.

use crate::config::{Config, Format};
use crate::error::Error;

/// How loaded data combines with the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadMode {
    /// Loaded nodes are added to the candidate or replace its values
    /// (RFC 6241 "merge").
    Merge,
    /// The loaded data becomes the whole candidate (RFC 6241 "replace" at
    /// the top).
    Replace,
}

/// Edits are checked against the schema as they are made (unknown nodes,
/// value types); whole-datastore rules (mandatory nodes, must/when, leafref)
/// are checked at validate and commit time.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub(crate) config: Config,
    /// The transaction of running this candidate was copied from.
    pub(crate) base: u64,
}

impl Candidate {
    pub(crate) fn new(config: Config, base: u64) -> Self {
        Candidate { config, base }
    }

    /// Sets a leaf, or creates a container or list entry (`value` `None`).
    pub fn set(&mut self, path: &str, value: Option<&str>) -> Result<(), Error> {
        self.config.set(path, value)
    }

    /// Deletes a node and its subtree.
    pub fn delete(&mut self, path: &str) -> Result<(), Error> {
        self.config.delete(path)
    }

    /// Loads JSON or XML configuration data.
    pub fn load(&mut self, data: &str, format: Format, mode: LoadMode) -> Result<(), Error> {
        let loaded = Config::parse_unvalidated(data, format)?;
        match mode {
            LoadMode::Merge => self.config.merge(&loaded),
            LoadMode::Replace => {
                self.config = loaded;
                Ok(())
            }
        }
    }

    /// Checks the whole candidate as a commit would, without committing.
    pub fn validate(&self) -> Result<(), Error> {
        self.config.clone().validate()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn base(&self) -> u64 {
        self.base
    }
}
