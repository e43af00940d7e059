//! The state directory: running configuration, transaction log and the
//! confirmed commit waiting for confirmation, each file written atomically.
//!
//! ```text
//! STATE_DIR/running.json               the running configuration (RFC 7951 JSON)
//! STATE_DIR/transactions/NNNNNNNNNN.json  one record per commit
//! STATE_DIR/confirm.json               only while a confirmed commit waits
//! ```
//!
//! A commit writes its transaction record first, then running: the record is
//! the commit point. A crash between the two leaves a record newer than
//! running, which `load` rolls forward. A crash inside a write leaves a
//! `.NAME.tmp` file, never a torn NAME; temp files are removed on load.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::change::Change;
use crate::error::Error;

const RUNNING: &str = "running.json";
const TRANSACTIONS: &str = "transactions";
const CONFIRM: &str = "confirm.json";

/// One commit of the transaction log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// 1, 2, ... in commit order.
    pub id: u64,
    /// Commit time, seconds since the Unix epoch.
    pub time: u64,
    pub comment: String,
    /// Who committed (`local` on the unix socket; empty in logs written
    /// before users existed, and for the daemon's own rollbacks).
    #[serde(default)]
    pub user: String,
    /// What the commit changed.
    pub changes: Vec<Change>,
    /// The whole running configuration after the commit, as running.json
    /// holds it: what a rollback to this id restores.
    pub config: String,
}

/// A confirmed commit that rolls back unless confirmed before `deadline`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConfirm {
    /// The transaction that waits for confirmation.
    pub id: u64,
    /// Seconds since the Unix epoch, with milliseconds.
    pub deadline_ms: u64,
    /// The configuration restored when it is not confirmed.
    pub restore: String,
    /// Who committed it: only they may confirm it.
    #[serde(default)]
    pub user: String,
}

/// What `load` found in a state directory.
#[derive(Debug, Default)]
pub struct Loaded {
    pub running: Option<String>,
    pub log: Vec<TransactionRecord>,
    pub pending: Option<PendingConfirm>,
}

#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Creates the directory (and its transactions/) if needed.
    pub fn create(dir: &Path) -> Result<Self, Error> {
        let log = dir.join(TRANSACTIONS);
        fs::create_dir_all(&log).map_err(|e| Error::io(&log, e))?;
        // Owner only, as the files in it (secrets).
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
        Ok(StateDir {
            dir: dir.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn running_file(&self) -> PathBuf {
        self.dir.join(RUNNING)
    }

    /// Reads everything, removing the temp files of interrupted writes.
    pub fn load(&self) -> Result<Loaded, Error> {
        remove_temp_files(&self.dir)?;
        let log_dir = self.dir.join(TRANSACTIONS);
        remove_temp_files(&log_dir)?;

        let running = read_optional(&self.running_file())?;
        let pending = match read_optional(&self.dir.join(CONFIRM))? {
            Some(text) => Some(from_json(&self.dir.join(CONFIRM), &text)?),
            None => None,
        };

        let mut log = vec![];
        for entry in fs::read_dir(&log_dir).map_err(|e| Error::io(&log_dir, e))? {
            let entry = entry.map_err(|e| Error::io(&log_dir, e))?;
            let file = entry.path();
            let Some(id) = record_id(&file) else {
                continue;
            };
            let text = fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
            let record: TransactionRecord = from_json(&file, &text)?;
            if record.id != id {
                return Err(Error::Corrupt {
                    file,
                    reason: format!("holds transaction {}", record.id),
                });
            }
            log.push(record);
        }
        log.sort_by_key(|record| record.id);
        Ok(Loaded {
            running,
            log,
            pending,
        })
    }

    pub fn write_running(&self, config: &str) -> Result<(), Error> {
        write_atomic(&self.running_file(), config.as_bytes())
    }

    pub fn write_record(&self, record: &TransactionRecord) -> Result<(), Error> {
        write_atomic(&self.record_file(record.id), &to_json(record)?)
    }

    /// Undoes `write_record` when the rest of the commit failed.
    pub fn remove_record(&self, id: u64) -> Result<(), Error> {
        remove_durably(&self.record_file(id))
    }

    pub fn write_pending(&self, pending: Option<&PendingConfirm>) -> Result<(), Error> {
        let file = self.dir.join(CONFIRM);
        match pending {
            Some(pending) => write_atomic(&file, &to_json(pending)?),
            None if file.exists() => remove_durably(&file),
            None => Ok(()),
        }
    }

    fn record_file(&self, id: u64) -> PathBuf {
        self.dir.join(TRANSACTIONS).join(format!("{id:010}.json"))
    }
}

/// Writes `bytes` to `file` so that a crash at any point leaves either the
/// old content or the new one: temp file in the same directory, fsync,
/// rename over the target, fsync the directory (which makes the rename
/// durable).
pub fn write_atomic(file: &Path, bytes: &[u8]) -> Result<(), Error> {
    let (dir, name) = split(file)?;
    let temp = dir.join(format!(".{name}.tmp"));
    // Owner only: the configuration holds secrets (pre-shared keys).
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| Error::io(&temp, e))?;
    out.write_all(bytes).map_err(|e| Error::io(&temp, e))?;
    out.sync_all().map_err(|e| Error::io(&temp, e))?;
    drop(out);
    fs::rename(&temp, file).map_err(|e| Error::io(file, e))?;
    sync_dir(dir)
}

fn remove_durably(file: &Path) -> Result<(), Error> {
    let (dir, _) = split(file)?;
    fs::remove_file(file).map_err(|e| Error::io(file, e))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

fn split(file: &Path) -> Result<(&Path, String), Error> {
    match (file.parent(), file.file_name()) {
        (Some(dir), Some(name)) => Ok((dir, name.to_string_lossy().into_owned())),
        _ => Err(Error::Corrupt {
            file: file.to_owned(),
            reason: "not a file path".to_owned(),
        }),
    }
}

/// A temp file is the leftover of a write interrupted before its rename:
/// the target still holds the previous content, so the temp file is junk.
fn remove_temp_files(dir: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let file = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp")) {
            fs::remove_file(&file).map_err(|e| Error::io(&file, e))?;
        }
    }
    Ok(())
}

fn record_id(file: &Path) -> Option<u64> {
    let name = file.file_name()?.to_str()?;
    let id = name.strip_suffix(".json")?;
    (id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}

fn read_optional(file: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(file, e)),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Corrupt {
        file: PathBuf::new(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn from_json<T: for<'de> Deserialize<'de>>(file: &Path, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        file: file.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration holds secrets: its directory and files are the
    /// owner's alone.
    #[test]
    fn state_files_are_owner_only() {
        let dir = std::env::temp_dir().join(format!("nb-storage-mode-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let state = StateDir::create(&dir).unwrap();
        state.write_running("{}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&state.running_file()), 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
