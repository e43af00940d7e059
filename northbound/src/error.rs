//! Northbound errors: each names the YANG path (when there is one) and the
//! reason, as the operator needs them to fix the configuration.

use std::fmt;
use std::path::PathBuf;

/// Why a northbound operation failed. Whatever the error, running is
/// unchanged (in memory and on disk).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// libyang refused the data: syntax, schema, range, must/when, leafref.
    #[error("{}", YangDisplay(.path, .message))]
    Yang {
        /// The data path libyang reports, when it has one.
        path: Option<String>,
        /// libyang's message.
        message: String,
    },
    /// A provider refused the configuration in its prepare phase.
    #[error("{provider} refused the configuration: {}", YangDisplay(.path, .reason))]
    Refused {
        provider: String,
        path: Option<String>,
        reason: String,
    },
    /// The candidate was taken from an older running configuration than the
    /// current one: committing it would silently revert the commits since.
    #[error(
        "candidate is based on transaction {base}, running is at {running}: discard it and edit again"
    )]
    Outdated { base: u64, running: u64 },
    #[error("no transaction {0} in the log")]
    UnknownTransaction(u64),
    #[error("no confirmed commit is waiting for confirmation")]
    NothingToConfirm,
    /// Another session holds the configuration lock.
    #[error("the configuration is locked by {user} (session {session} over {front_end})")]
    Locked {
        user: String,
        session: u64,
        front_end: &'static str,
    },
    /// A confirmed commit of another user waits: only they may confirm it
    /// or commit over it until it is confirmed or rolled back.
    #[error(
        "a confirmed commit of {user} waits for confirmation: only {user} may confirm it or commit"
    )]
    ConfirmOwner { user: String },
    /// Unlock without holding the lock.
    #[error("the configuration is not locked")]
    NotLocked,
    /// The daemon is shutting down.
    #[error("the northbound task has stopped")]
    Stopped,
    #[error("{}: {source}", .file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file of the state directory is not what this crate writes.
    #[error("{}: {reason}", .file.display())]
    Corrupt { file: PathBuf, reason: String },
}

impl Error {
    pub(crate) fn io(file: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            file: file.into(),
            source,
        }
    }

    /// The YANG path the error is about, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Yang { path, .. } | Error::Refused { path, .. } => path.as_deref(),
            _ => None,
        }
    }
}

impl From<yang2::Error> for Error {
    fn from(error: yang2::Error) -> Self {
        let message = match error.msg {
            Some(msg) => msg,
            None => format!("libyang error {}", error.errcode),
        };
        Error::Yang {
            path: error.path,
            message,
        }
    }
}

struct YangDisplay<'a>(&'a Option<String>, &'a String);

impl fmt::Display for YangDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "{path}: {}", self.1),
            None => write!(f, "{}", self.1),
        }
    }
}

impl From<crate::task::Stopped> for Error {
    fn from(_: crate::task::Stopped) -> Self {
        Error::Stopped
    }
}
