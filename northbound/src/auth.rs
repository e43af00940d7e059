//! Who is asking: the users every front end authenticates (gRPC over TCP,
//! gNMI, NETCONF over SSH), what each may do, and the guard that slows
//! down password guessing.
//!
//! Access control is NACM (RFC 8341) reduced to its two groups that
//! matter on a router: `read-only` users get state and configuration and
//! subscribe; `read-write` users also edit, lock, commit and run RPCs.
//! The same rules hold on every front end: they are checked by the front
//! end from the [`Actor`] it attaches to each request, and the northbound
//! task records the actor's user with every transaction.
//!
//! Passwords are stored as PBKDF2-HMAC-SHA256 hashes
//! (`$pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`, made by
//! [`hash_password`], `dmvpnd --hash-password`), never in clear.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ring::rand::SecureRandom;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Get, get-config, get-schema, subscribe.
    ReadOnly,
    /// Everything: also edit, lock, commit, rollback and RPCs.
    ReadWrite,
}

impl Access {
    pub fn may_write(self) -> bool {
        self == Access::ReadWrite
    }
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub access: Access,
}

impl Identity {
    /// Whoever reaches the local unix socket (root or the socket's group:
    /// the file mode is the access control there).
    pub fn local() -> Self {
        Identity {
            user: "local".to_owned(),
            access: Access::ReadWrite,
        }
    }
}

/// A user in one session of one front end: what locks, commits and the
/// transaction log name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub identity: Identity,
    /// `grpc`, `gnmi`, `netconf`, `cli`.
    pub front_end: &'static str,
    /// Unique across every front end for the daemon's lifetime.
    pub session: u64,
}

static SESSIONS: AtomicU64 = AtomicU64::new(1);

impl Actor {
    /// A new session of `identity` on `front_end`.
    pub fn new(identity: Identity, front_end: &'static str) -> Self {
        Actor {
            identity,
            front_end,
            session: SESSIONS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The local administrator in a session of its own.
    pub fn local(front_end: &'static str) -> Self {
        Actor::new(Identity::local(), front_end)
    }

    pub fn user(&self) -> &str {
        &self.identity.user
    }

    pub fn may_write(&self) -> bool {
        self.identity.access.may_write()
    }
}

/// One configured user (the daemon settings' `[[users]]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UserEntry {
    pub name: String,
    pub access: Access,
    /// A [`hash_password`] result; no password login when absent.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// OpenSSH public key lines (`ssh-ed25519 AAAA... comment`), for
    /// NETCONF over SSH.
    #[serde(default)]
    pub authorized_keys: Vec<String>,
}

/// A password hash that did not parse.
#[derive(Debug, thiserror::Error)]
#[error("user {user}: password-hash is not a $pbkdf2-sha256$ hash made by --hash-password")]
pub struct BadHash {
    pub user: String,
}

/// The configured users.
#[derive(Debug, Default)]
pub struct Users {
    by_name: HashMap<String, (UserEntry, Option<Hash>)>,
}

#[derive(Debug)]
struct Hash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

const HASH_PREFIX: &str = "$pbkdf2-sha256$";
/// Iterations of new hashes: about 30 ms a verification here, which the
/// [`LoginGuard`] bounds per source.
pub const HASH_ITERATIONS: u32 = 100_000;

impl Users {
    /// Checks every hash; a later entry of the same name replaces an
    /// earlier one.
    pub fn new(entries: impl IntoIterator<Item = UserEntry>) -> Result<Self, BadHash> {
        let mut by_name = HashMap::new();
        for entry in entries {
            let hash = match &entry.password_hash {
                Some(text) => Some(parse_hash(text).ok_or_else(|| BadHash {
                    user: entry.name.clone(),
                })?),
                None => None,
            };
            by_name.insert(entry.name.clone(), (entry, hash));
        }
        Ok(Users { by_name })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The user, when `password` is theirs. An unknown user costs the same
    /// time as a wrong password.
    pub fn verify_password(&self, user: &str, password: &str) -> Option<Identity> {
        match self.by_name.get(user) {
            Some((entry, Some(hash))) => {
                let ok = ring::pbkdf2::verify(
                    ring::pbkdf2::PBKDF2_HMAC_SHA256,
                    hash.iterations,
                    &hash.salt,
                    password.as_bytes(),
                    &hash.hash,
                )
                .is_ok();
                ok.then(|| identity(entry))
            }
            _ => {
                let mut out = [0u8; 32];
                ring::pbkdf2::derive(
                    ring::pbkdf2::PBKDF2_HMAC_SHA256,
                    NonZeroU32::new(HASH_ITERATIONS).expect("nonzero"),
                    b"no such user salt",
                    password.as_bytes(),
                    &mut out,
                );
                None
            }
        }
    }

    /// The user and their authorized public keys (OpenSSH lines); `None`
    /// for an unknown user.
    pub fn authorized_keys(&self, user: &str) -> Option<(Identity, &[String])> {
        let (entry, _) = self.by_name.get(user)?;
        Some((identity(entry), &entry.authorized_keys))
    }
}

fn identity(entry: &UserEntry) -> Identity {
    Identity {
        user: entry.name.clone(),
        access: entry.access,
    }
}

fn parse_hash(text: &str) -> Option<Hash> {
    let rest = text.strip_prefix(HASH_PREFIX)?;
    let mut parts = rest.split('$');
    let iterations = NonZeroU32::new(parts.next()?.parse().ok()?)?;
    let salt = from_hex(parts.next()?)?;
    let hash = from_hex(parts.next()?)?;
    if parts.next().is_some() || salt.len() < 8 || hash.len() != 32 {
        return None;
    }
    Some(Hash {
        iterations,
        salt,
        hash,
    })
}

/// A new hash of `password` with a random salt, for the settings'
/// `password-hash`.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .expect("the system's random source");
    let mut hash = [0u8; 32];
    let iterations = NonZeroU32::new(HASH_ITERATIONS).expect("nonzero");
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut hash,
    );
    format!(
        "{HASH_PREFIX}{iterations}${}${}",
        to_hex(&salt),
        to_hex(&hash)
    )
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Slows down password guessing, shared by every front end: a source
/// address that failed [`LoginGuard::FAILURES`] logins within a minute is
/// refused without a check until the minute is over. Counts both.
#[derive(Debug, Default)]
pub struct LoginGuard {
    sources: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    failed: AtomicU64,
    refused: AtomicU64,
}

impl LoginGuard {
    pub const FAILURES: u32 = 10;
    pub const WINDOW: Duration = Duration::from_secs(60);
    /// Sources remembered at most (the oldest window is forgotten first).
    const SOURCES: usize = 10_000;

    /// Whether a login from `source` may be checked now; counts a refusal.
    pub fn admit(&self, source: IpAddr) -> bool {
        let now = Instant::now();
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let limited = matches!(sources.get(&source),
            Some((since, failures)) if now.duration_since(*since) < Self::WINDOW
                && *failures >= Self::FAILURES);
        if limited {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%source, "login refused: too many failures");
        }
        !limited
    }

    /// Records a failed login from `source`.
    pub fn failed(&self, source: IpAddr, user: &str, front_end: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%source, user, front_end, "login failed");
        let now = Instant::now();
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= Self::SOURCES && !sources.contains_key(&source) {
            sources.retain(|_, (since, _)| now.duration_since(*since) < Self::WINDOW);
            if sources.len() >= Self::SOURCES {
                let oldest = sources.iter().min_by_key(|(_, (since, _))| *since);
                if let Some(oldest) = oldest.map(|(address, _)| *address) {
                    sources.remove(&oldest);
                }
            }
        }
        let entry = sources.entry(source).or_insert((now, 0));
        if now.duration_since(entry.0) >= Self::WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Logins that failed their check.
    pub fn failed_count(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Logins refused unchecked (the source failed too often).
    pub fn refused_count(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, access: Access, password: Option<&str>) -> UserEntry {
        UserEntry {
            name: name.to_owned(),
            access,
            password_hash: password.map(hash_password),
            authorized_keys: vec![],
        }
    }

    #[test]
    fn a_password_matches_its_hash_only() {
        let users = Users::new([
            user("alice", Access::ReadWrite, Some("correct horse")),
            user("bob", Access::ReadOnly, Some("battery")),
            user("carol", Access::ReadOnly, None),
        ])
        .unwrap();
        let alice = users.verify_password("alice", "correct horse").unwrap();
        assert_eq!(alice.user, "alice");
        assert!(alice.access.may_write());
        assert!(
            !users
                .verify_password("bob", "battery")
                .unwrap()
                .access
                .may_write()
        );
        assert_eq!(users.verify_password("alice", "battery"), None);
        assert_eq!(users.verify_password("mallory", "battery"), None);
        assert_eq!(users.verify_password("carol", ""), None);
    }

    #[test]
    fn hashes_are_salted_and_malformed_ones_are_refused() {
        let (a, b) = (hash_password("x"), hash_password("x"));
        assert_ne!(a, b);
        assert!(a.starts_with("$pbkdf2-sha256$100000$"), "{a}");
        for bad in [
            "secret",
            "$pbkdf2-sha256$0$00112233445566778899$00",
            "$pbkdf2-sha256$1000$0011$",
            &a[..a.len() - 2],
        ] {
            let mut entry = user("dave", Access::ReadOnly, None);
            entry.password_hash = Some(bad.to_owned());
            let error = Users::new([entry]).unwrap_err();
            assert_eq!(error.user, "dave");
        }
    }

    #[test]
    fn a_source_that_keeps_failing_is_refused_for_the_window() {
        let guard = LoginGuard::default();
        let (bad, good): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..LoginGuard::FAILURES {
            assert!(guard.admit(bad));
            guard.failed(bad, "root", "netconf");
        }
        assert!(!guard.admit(bad));
        assert!(guard.admit(good));
        assert_eq!(guard.failed_count(), u64::from(LoginGuard::FAILURES));
        assert_eq!(guard.refused_count(), 1);
    }

    #[test]
    fn sessions_are_unique() {
        let (a, b) = (Actor::local("grpc"), Actor::local("netconf"));
        assert_ne!(a.session, b.session);
        assert_eq!(a.user(), "local");
        assert!(a.may_write());
    }
}
