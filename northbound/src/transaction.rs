//! The running datastore and its transactions: commit, confirmed commit,
//! rollback, and the provider phases around them.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::candidate::Candidate;
use crate::change::{self, Change};
use crate::clock::{self, Clock, SystemClock};
use crate::config::{Config, Format};
use crate::error::Error;
use crate::provider::Provider;
use crate::storage::{PendingConfirm, StateDir, TransactionRecord};

/// The running configuration, its transaction log and the providers that
/// carry it out. One per daemon; client sessions edit [`Candidate`]s.
#[derive(Debug)]
pub struct Northbound {
    storage: StateDir,
    running: Config,
    /// running as running.json holds it.
    running_text: String,
    log: Vec<TransactionRecord>,
    pending: Option<PendingConfirm>,
    providers: Vec<Box<dyn Provider>>,
    clock: Box<dyn Clock>,
    /// How many transactions the log keeps (the oldest go first).
    max_transactions: usize,
}

/// Transactions kept unless [`Northbound::set_max_transactions`] says
/// otherwise (Junos keeps 50 rollbacks, Cisco's archive 14 by default; a
/// record is a few kilobytes).
pub const DEFAULT_MAX_TRANSACTIONS: usize = 100;

impl Northbound {
    /// Opens (or creates) a state directory and loads running from it.
    pub fn open(state_dir: &Path) -> Result<Self, Error> {
        Self::open_with_clock(state_dir, Box::new(SystemClock))
    }

    pub fn open_with_clock(state_dir: &Path, clock: Box<dyn Clock>) -> Result<Self, Error> {
        let storage = StateDir::create(state_dir)?;
        let loaded = storage.load()?;
        let mut running_text = loaded.running.unwrap_or_else(|| "{}\n".to_owned());

        // The record is the commit point: a crash after it and before
        // running.json was replaced leaves running one commit behind.
        if let Some(last) = loaded.log.last()
            && last.config != running_text
        {
            running_text = last.config.clone();
            storage.write_running(&running_text)?;
        }

        let running = Config::parse(&running_text, Format::Json).map_err(|e| Error::Corrupt {
            file: storage.running_file(),
            reason: e.to_string(),
        })?;
        Ok(Northbound {
            storage,
            running,
            running_text,
            log: loaded.log,
            pending: loaded.pending,
            providers: vec![],
            clock,
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
        })
    }

    /// Keeps at most `max` transactions (at least 1: the last record is
    /// the commit point crash recovery reads), pruning the oldest now and
    /// after every commit. Their ids are never reused.
    pub fn set_max_transactions(&mut self, max: usize) -> Result<(), Error> {
        self.max_transactions = max.max(1);
        self.prune()
    }

    /// Removes the oldest records beyond the limit, file first: a crash in
    /// between leaves a record file that the next start simply loads.
    fn prune(&mut self) -> Result<(), Error> {
        while self.log.len() > self.max_transactions {
            let oldest = self.log[0].id;
            self.storage.remove_record(oldest)?;
            self.log.remove(0);
            tracing::debug!(id = oldest, "transaction pruned from the log");
        }
        Ok(())
    }

    pub fn state_dir(&self) -> &Path {
        self.storage.path()
    }

    pub fn running(&self) -> &Config {
        &self.running
    }

    /// Running exactly as persisted (RFC 7951 JSON, defaults left out).
    pub fn running_json(&self) -> &str {
        &self.running_text
    }

    /// The id of the last commit, 0 before the first.
    pub fn last_id(&self) -> u64 {
        self.log.last().map_or(0, |record| record.id)
    }

    pub fn transactions(&self) -> &[TransactionRecord] {
        &self.log
    }

    pub fn transaction(&self, id: u64) -> Option<&TransactionRecord> {
        self.log.iter().find(|record| record.id == id)
    }

    /// A new candidate: a copy of running.
    pub fn candidate(&self) -> Candidate {
        Candidate::new(self.running.clone(), self.last_id())
    }

    /// Adds a provider and hands it the current running configuration (all
    /// of it as creations); it is not added if it refuses.
    pub fn register(&mut self, mut provider: Box<dyn Provider>) -> Result<(), Error> {
        let changes = change::diff(&Config::empty(), &self.running)?;
        if !changes.is_empty() {
            provider
                .prepare(&changes)
                .map_err(|refusal| Error::Refused {
                    provider: provider.name().to_owned(),
                    path: refusal.path,
                    reason: refusal.reason,
                })?;
            provider.apply(&changes);
        }
        self.providers.push(provider);
        Ok(())
    }

    /// The changes a commit of `candidate` would make, after validation.
    pub fn changes(&self, candidate: &Candidate) -> Result<Vec<Change>, Error> {
        let mut config = candidate.config.clone();
        config.validate()?;
        change::diff(&self.running, &config)
    }

    /// Commits a candidate: validate, prepare, persist, apply. With
    /// `confirmed`, the commit rolls back by itself unless [`confirm`] (or
    /// another commit) comes within the timeout ([`tick`] checks).
    /// Returns the transaction id, or `None` when nothing changed.
    ///
    /// [`confirm`]: Self::confirm
    /// [`tick`]: Self::tick
    pub fn commit(
        &mut self,
        candidate: &mut Candidate,
        comment: &str,
        confirmed: Option<Duration>,
    ) -> Result<Option<u64>, Error> {
        self.commit_by(candidate, comment, confirmed, "")
    }

    /// [`commit`](Self::commit), recorded as `user`'s. While a confirmed
    /// commit of another user waits, refused: only its user may confirm
    /// it, by this or by [`confirm_by`](Self::confirm_by).
    pub fn commit_by(
        &mut self,
        candidate: &mut Candidate,
        comment: &str,
        confirmed: Option<Duration>,
        user: &str,
    ) -> Result<Option<u64>, Error> {
        if candidate.base != self.last_id() {
            return Err(Error::Outdated {
                base: candidate.base,
                running: self.last_id(),
            });
        }
        let id = self.commit_config_by(candidate.config.clone(), comment, confirmed, user)?;
        candidate.base = self.last_id();
        Ok(id)
    }

    /// Commits a whole configuration in place of running ("replace").
    pub fn commit_config(
        &mut self,
        config: Config,
        comment: &str,
        confirmed: Option<Duration>,
    ) -> Result<Option<u64>, Error> {
        self.commit_config_by(config, comment, confirmed, "")
    }

    /// [`commit_config`](Self::commit_config), recorded as `user`'s.
    pub fn commit_config_by(
        &mut self,
        mut config: Config,
        comment: &str,
        confirmed: Option<Duration>,
        user: &str,
    ) -> Result<Option<u64>, Error> {
        self.check_confirm_owner(user)?;
        config.validate()?;
        let changes = change::diff(&self.running, &config)?;
        let pending = match confirmed {
            Some(timeout) => Some(PendingConfirm {
                id: self.last_id() + 1,
                deadline_ms: clock::unix_ms(self.clock.now() + timeout),
                // A confirmed commit on top of an unconfirmed one restores
                // what was there before the first (RFC 6241, 8.4.5.1).
                restore: match &self.pending {
                    Some(pending) => pending.restore.clone(),
                    None => self.running_text.clone(),
                },
                user: user.to_owned(),
            }),
            None => None,
        };
        if changes.is_empty() {
            // Nothing to commit; a plain commit still confirms a waiting
            // one, and a confirmed one extends its time (RFC 6241, 8.4.5.1).
            match (pending, &self.pending) {
                (None, _) => self.set_pending(None)?,
                (Some(mut extended), Some(waiting)) => {
                    extended.id = waiting.id;
                    self.set_pending(Some(extended))?;
                }
                (Some(_), None) => {}
            }
            return Ok(None);
        }
        self.run_transaction(config, changes, comment, user, pending)
            .map(Some)
    }

    /// Restores the configuration of transaction `id`, as a new commit.
    pub fn rollback(&mut self, id: u64, comment: &str) -> Result<Option<u64>, Error> {
        self.rollback_by(id, comment, "")
    }

    /// [`rollback`](Self::rollback), recorded as `user`'s.
    pub fn rollback_by(
        &mut self,
        id: u64,
        comment: &str,
        user: &str,
    ) -> Result<Option<u64>, Error> {
        let record = self.transaction(id).ok_or(Error::UnknownTransaction(id))?;
        let config = Config::parse(&record.config, Format::Json)?;
        let comment = match comment {
            "" => format!("rollback to {id}"),
            comment => comment.to_owned(),
        };
        self.commit_config_by(config, &comment, None, user)
    }

    /// Confirms the confirmed commit that waits.
    pub fn confirm(&mut self) -> Result<(), Error> {
        self.confirm_by("")
    }

    /// Confirms the confirmed commit that waits, if `user` made it.
    pub fn confirm_by(&mut self, user: &str) -> Result<(), Error> {
        if self.pending.is_none() {
            return Err(Error::NothingToConfirm);
        }
        self.check_confirm_owner(user)?;
        self.set_pending(None)
    }

    /// Rolls back the confirmed commit that waits, now (RFC 6241
    /// `<cancel-commit>`), if `user` made it; returns the rollback's
    /// transaction id.
    pub fn cancel_by(&mut self, user: &str) -> Result<Option<u64>, Error> {
        let Some(pending) = &self.pending else {
            return Err(Error::NothingToConfirm);
        };
        self.check_confirm_owner(user)?;
        let comment = format!("rollback: confirmed commit {} cancelled", pending.id);
        let mut config = Config::parse(&pending.restore, Format::Json)?;
        config.validate()?;
        let changes = change::diff(&self.running, &config)?;
        if changes.is_empty() {
            self.set_pending(None)?;
            return Ok(None);
        }
        self.run_transaction(config, changes, &comment, user, None)
            .map(Some)
    }

    /// The user of the confirmed commit that waits, if one does.
    pub fn pending_user(&self) -> Option<&str> {
        self.pending.as_ref().map(|pending| pending.user.as_str())
    }

    fn check_confirm_owner(&self, user: &str) -> Result<(), Error> {
        match &self.pending {
            Some(pending) if pending.user != user => Err(Error::ConfirmOwner {
                user: pending.user.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// When [`tick`](Self::tick) must run next, if a confirmed commit waits.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        self.pending
            .as_ref()
            .map(|pending| SystemTime::UNIX_EPOCH + Duration::from_millis(pending.deadline_ms))
    }

    /// Rolls back a confirmed commit whose time ran out; returns the id of
    /// the rollback commit. If a provider refuses the rollback, the commit
    /// stays waiting and the next tick tries again.
    pub fn tick(&mut self) -> Result<Option<u64>, Error> {
        let Some(pending) = &self.pending else {
            return Ok(None);
        };
        if clock::unix_ms(self.clock.now()) < pending.deadline_ms {
            return Ok(None);
        }
        let comment = format!(
            "rollback: confirmed commit {} was not confirmed in time",
            pending.id
        );
        let mut config = Config::parse(&pending.restore, Format::Json)?;
        config.validate()?;
        let changes = change::diff(&self.running, &config)?;
        if changes.is_empty() {
            self.set_pending(None)?;
            return Ok(None);
        }
        self.run_transaction(config, changes, &comment, "", None)
            .map(Some)
    }

    /// Prepare in every provider, persist, apply. `pending` is the
    /// confirmed commit waiting after this one.
    fn run_transaction(
        &mut self,
        config: Config,
        changes: Vec<Change>,
        comment: &str,
        user: &str,
        pending: Option<PendingConfirm>,
    ) -> Result<u64, Error> {
        for (i, provider) in self.providers.iter_mut().enumerate() {
            if let Err(refusal) = provider.prepare(&changes) {
                let error = Error::Refused {
                    provider: provider.name().to_owned(),
                    path: refusal.path,
                    reason: refusal.reason,
                };
                for prepared in &mut self.providers[..i] {
                    prepared.abort(&changes);
                }
                return Err(error);
            }
        }

        let record = TransactionRecord {
            id: self.last_id() + 1,
            time: clock::unix_ms(self.clock.now()) / 1000,
            comment: comment.to_owned(),
            user: user.to_owned(),
            changes,
            config: config.print(Format::Json)?,
        };
        if let Err(error) = self.persist(&record, pending.as_ref()) {
            for provider in &mut self.providers {
                provider.abort(&record.changes);
            }
            return Err(error);
        }

        for provider in &mut self.providers {
            provider.apply(&record.changes);
        }
        self.running = config;
        self.running_text = record.config.clone();
        self.pending = pending;
        let id = record.id;
        self.log.push(record);
        if let Err(error) = self.prune() {
            // The commit stands; the log is only longer than wanted.
            tracing::warn!(%error, "pruning the transaction log");
        }
        Ok(id)
    }

    /// Pending confirmation first (a crash after it restores what is
    /// already running: harmless), then the record (the commit point), then
    /// running.json. On failure, undoes what it wrote.
    fn persist(
        &self,
        record: &TransactionRecord,
        pending: Option<&PendingConfirm>,
    ) -> Result<(), Error> {
        self.storage.write_pending(pending)?;
        let result = self.storage.write_record(record).and_then(|()| {
            self.storage.write_running(&record.config).inspect_err(|_| {
                // Best effort: a record left behind would be rolled forward
                // on the next start although no provider applied it.
                if let Err(error) = self.storage.remove_record(record.id) {
                    tracing::error!(%error, "cannot remove the record of a failed commit");
                }
            })
        });
        if result.is_err()
            && let Err(error) = self.storage.write_pending(self.pending.as_ref())
        {
            tracing::error!(%error, "cannot restore the confirmed-commit file");
        }
        result
    }

    fn set_pending(&mut self, pending: Option<PendingConfirm>) -> Result<(), Error> {
        self.storage.write_pending(pending.as_ref())?;
        self.pending = pending;
        Ok(())
    }
}
