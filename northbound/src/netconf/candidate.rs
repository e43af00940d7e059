//! The candidate datastore (RFC 6241, 8.3): one for all NETCONF sessions,
//! with its own lock. Until a session edits it, it is running; the first
//! edit copies running, and a commit or `<discard-changes>` makes it
//! running again.

use std::collections::BTreeSet;

use super::rpc_error::{Layer, RpcError};
use crate::config::Config;

/// The candidate as edited since the last commit or discard.
#[derive(Debug)]
struct Edited {
    config: Config,
    /// Running when the candidate was copied from it: a commit over a
    /// running that changed since would revert those changes.
    base: Config,
    /// The sessions that changed it.
    by: BTreeSet<u64>,
}

/// The holder of the candidate lock.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Holder {
    session: u64,
    user: String,
}

#[derive(Debug, Default)]
pub(crate) struct SharedCandidate {
    edited: Option<Edited>,
    lock: Option<Holder>,
}

impl SharedCandidate {
    /// The candidate, given running as it is now.
    pub(crate) fn config(&self, running: &Config) -> Config {
        match &self.edited {
            Some(edited) => edited.config.clone(),
            None => running.clone(),
        }
    }

    /// The edited candidate and the running it was copied from, if it
    /// was edited.
    pub(crate) fn edited(&self) -> Option<(&Config, &Config)> {
        self.edited.as_ref().map(|e| (&e.config, &e.base))
    }

    /// RFC 6241, 7.5: a session may change the candidate unless another
    /// holds its lock.
    pub(crate) fn check_writable(&self, session: u64) -> Result<(), RpcError> {
        match &self.lock {
            Some(holder) if holder.session != session => Err(RpcError::new(
                Layer::Protocol,
                "in-use",
                format!(
                    "the candidate is locked by {} (session {})",
                    holder.user, holder.session
                ),
            )
            .with_info("session-id", holder.session.to_string())),
            _ => Ok(()),
        }
    }

    /// Stores a changed candidate; `running` is what it was taken from
    /// when it had not been edited yet.
    pub(crate) fn store(&mut self, config: Config, running: &Config, session: u64) {
        match &mut self.edited {
            Some(edited) => {
                edited.config = config;
                edited.by.insert(session);
            }
            None => {
                self.edited = Some(Edited {
                    config,
                    base: running.clone(),
                    by: BTreeSet::from([session]),
                })
            }
        }
    }

    /// Back to running (after a commit or `<discard-changes>`).
    pub(crate) fn discard(&mut self) {
        self.edited = None;
    }

    /// RFC 6241, 7.5: refused while another session holds it, or while the
    /// candidate has changes of another session not committed or
    /// discarded.
    pub(crate) fn lock(&mut self, session: u64, user: &str) -> Result<(), RpcError> {
        let denied = |message: String, holder: u64| {
            RpcError::new(Layer::Protocol, "lock-denied", message)
                .with_info("session-id", holder.to_string())
        };
        if let Some(holder) = &self.lock {
            return Err(denied(
                format!(
                    "the candidate is locked by {} (session {})",
                    holder.user, holder.session
                ),
                holder.session,
            ));
        }
        let other = self
            .edited
            .as_ref()
            .and_then(|e| e.by.iter().find(|s| **s != session));
        if let Some(other) = other {
            return Err(denied(
                "the candidate has changes of another session: commit or discard them first"
                    .to_owned(),
                *other,
            ));
        }
        self.lock = Some(Holder {
            session,
            user: user.to_owned(),
        });
        Ok(())
    }

    pub(crate) fn unlock(&mut self, session: u64) -> Result<(), RpcError> {
        match &self.lock {
            Some(holder) if holder.session == session => {
                self.lock = None;
                Ok(())
            }
            Some(holder) => Err(RpcError::operation_failed(format!(
                "the candidate is locked by session {}, not this one",
                holder.session
            ))),
            None => Err(RpcError::operation_failed("the candidate is not locked")),
        }
    }

    /// The session ended: its lock is released and, if it held the lock,
    /// its changes are discarded (RFC 6241, 8.3.5.2: nobody else could
    /// have changed the candidate meanwhile).
    pub(crate) fn release(&mut self, session: u64) {
        if self.lock.as_ref().is_some_and(|h| h.session == session) {
            self.lock = None;
            if self
                .edited
                .as_ref()
                .is_some_and(|e| e.by.contains(&session))
            {
                self.edited = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_with_changes_of_another_session_cannot_be_locked() {
        let running = Config::empty();
        let mut candidate = SharedCandidate::default();
        candidate.store(Config::empty(), &running, 1);
        assert_eq!(candidate.lock(2, "bob").unwrap_err().tag, "lock-denied");
        candidate.lock(1, "alice").unwrap();
        assert_eq!(candidate.check_writable(2).unwrap_err().tag, "in-use");
        assert!(candidate.check_writable(1).is_ok());
        assert!(candidate.unlock(2).is_err());
        candidate.release(1);
        assert!(candidate.edited().is_none());
        candidate.lock(2, "bob").unwrap();
    }
}
