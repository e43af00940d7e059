//! The SSH transport of NETCONF (RFC 6242): authenticates users and hands
//! each `netconf` subsystem channel to the NETCONF engine as a byte stream.
//!
//! ```text
//!  accept loop ──spawn──> connection task (russh session, login timer)
//!                             │ channel open
//!                             └──spawn──> channel task: waits for `subsystem netconf`
//!                                            │ accepted (a session slot is free)
//!                                            ├──spawn──> engine (Subsystem) on one duplex end
//!                                            └── pump: channel data <──> other duplex end
//! ```
//!
//! Everything between the client and the engine is bounded: the duplex
//! buffer each way and russh's per-channel queue, which, when full, stops
//! the connection reading from TCP.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use russh::keys::ssh_key::authorized_keys::Entry;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{LineEnding, PublicKey};
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{
    Auth, ChannelOpenHandle, Config, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, ChannelMsg, Disconnect, MethodKind, MethodSet};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::BoxFuture;
use crate::auth::{Actor, Identity, LoginGuard, Users};

/// RFC 6242, 3: the subsystem NETCONF runs as.
pub const SUBSYSTEM: &str = "netconf";
const FRONT_END: &str = "netconf";
/// Bytes buffered in each direction between a channel and its engine.
const DUPLEX_BUFFER: usize = 64 * 1024;
/// Session channels one connection may have open (NETCONF needs one).
const MAX_CHANNELS: usize = 8;
/// How long engine output may still drain after the client's EOF.
const DRAIN_AFTER_EOF: Duration = Duration::from_secs(5);
/// Every failed login takes this long (russh pads rejections), so timing
/// does not tell unknown users from wrong passwords.
const AUTH_REJECTION_TIME: Duration = Duration::from_secs(1);

/// The SSH server's settings.
#[derive(Clone, Debug)]
pub struct SshSettings {
    pub listen: SocketAddr,
    /// OpenSSH private key file; an ed25519 key is generated there (mode
    /// 0600, parent directory created) when it does not exist.
    pub host_key: PathBuf,
    /// Concurrent NETCONF sessions; a `netconf` subsystem request beyond
    /// it is refused.
    pub max_sessions: usize,
    /// Connections not authenticated by then are closed.
    pub login_timeout: Duration,
}

/// What runs a NETCONF session on an authenticated channel: the session
/// ends when the future does, and when the stream reaches EOF the client
/// has gone. The engine should keep reading while it writes: input it
/// leaves unread fills the bounded buffers, and a full buffer stops the
/// whole connection, its output included.
pub type Subsystem = Arc<dyn Fn(Actor, DuplexStream) -> BoxFuture<'static, ()> + Send + Sync>;

/// What the server has done since it started.
#[derive(Debug, Default)]
pub struct SshCounters {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// Connections closed because they did not authenticate in time.
    pub login_timeouts: AtomicU64,
    /// Successful authentications (failures are the [`LoginGuard`]'s).
    pub logins: AtomicU64,
    /// NETCONF sessions started.
    pub sessions: AtomicU64,
    /// NETCONF sessions running now.
    pub sessions_active: AtomicU64,
    /// `netconf` subsystem requests refused: `max_sessions` reached.
    pub sessions_refused: AtomicU64,
}

impl SshCounters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("NETCONF SSH: cannot listen on {listen}: {source}")]
    Bind {
        listen: SocketAddr,
        source: io::Error,
    },
    #[error("NETCONF SSH host key {}: {reason}", path.display())]
    HostKey { path: PathBuf, reason: String },
}

/// A bound server, not yet accepting.
pub struct SshServer {
    listener: TcpListener,
    config: Arc<Config>,
    fingerprint: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SshServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshServer")
            .field("listener", &self.listener)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// What every connection of one server shares.
struct Shared {
    users: Arc<Users>,
    guard: Arc<LoginGuard>,
    subsystem: Subsystem,
    sessions: Arc<Semaphore>,
    counters: Arc<SshCounters>,
    login_timeout: Duration,
}

/// Loads the host key, binds the listener and serves until `shutdown`.
pub async fn serve(
    settings: SshSettings,
    users: Arc<Users>,
    guard: Arc<LoginGuard>,
    subsystem: Subsystem,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), SshError> {
    SshServer::bind(settings, users, guard, subsystem)
        .await?
        .run(shutdown)
        .await;
    Ok(())
}

impl SshServer {
    /// Loads (or creates) the host key and binds the listener.
    pub async fn bind(
        settings: SshSettings,
        users: Arc<Users>,
        guard: Arc<LoginGuard>,
        subsystem: Subsystem,
    ) -> Result<Self, SshError> {
        let path = settings.host_key.clone();
        let key = tokio::task::spawn_blocking(move || host_key(&path))
            .await
            .map_err(|e| SshError::HostKey {
                path: settings.host_key.clone(),
                reason: e.to_string(),
            })??;
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        tracing::info!(path = %settings.host_key.display(), %fingerprint, "NETCONF SSH host key");
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| SshError::Bind {
                    listen: settings.listen,
                    source,
                })?;
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::PublicKey);
        methods.push(MethodKind::Password);
        let config = Config {
            methods,
            auth_rejection_time: AUTH_REJECTION_TIME,
            // OpenSSH clients start with a "none" probe for the methods.
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            max_auth_attempts: 6,
            // The login timer covers unauthenticated connections; a
            // NETCONF session may stay idle for hours (notifications).
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(60)),
            keepalive_max: 3,
            nodelay: true,
            ..Config::default()
        };
        let shared = Shared {
            users,
            guard,
            subsystem,
            sessions: Arc::new(Semaphore::new(settings.max_sessions)),
            counters: Arc::default(),
            login_timeout: settings.login_timeout,
        };
        Ok(SshServer {
            listener,
            config: Arc::new(config),
            fingerprint,
            shared: Arc::new(shared),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The host key's `SHA256:...` fingerprint, as `ssh` shows it.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn counters(&self) -> Arc<SshCounters> {
        self.shared.counters.clone()
    }

    /// Accepts connections until `shutdown`; connections and sessions
    /// already running go on until they end.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((socket, peer)) => {
                    SshCounters::add(&self.shared.counters.connections);
                    let (config, shared) = (self.config.clone(), self.shared.clone());
                    tokio::spawn(connection(config, shared, socket, peer));
                }
                Err(error) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    tracing::warn!(%error, "NETCONF SSH accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        tracing::debug!("NETCONF SSH stopped accepting");
    }
}

/// The host key at `path`, made on first start.
fn host_key(path: &Path) -> Result<PrivateKey, SshError> {
    let error = |reason: String| SshError::HostKey {
        path: path.to_owned(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode());
            if mode.is_ok_and(|mode| mode & 0o077 != 0) {
                tracing::warn!(path = %path.display(), "NETCONF SSH host key is readable by others");
            }
            PrivateKey::from_openssh(text).map_err(|e| error(e.to_string()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
                .map_err(|_| error("no random source".to_owned()))?;
            let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| error(e.to_string()))?;
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| error(e.to_string()))?;
            }
            crate::write_atomic(path, text.as_bytes()).map_err(|e| error(e.to_string()))?;
            tracing::info!(path = %path.display(), "NETCONF SSH host key generated");
            Ok(key)
        }
        Err(e) => Err(error(e.to_string())),
    }
}

/// One TCP connection: closed when it has not authenticated within the
/// login timeout (the SSH handshake included).
async fn connection(config: Arc<Config>, shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr) {
    let deadline = Instant::now() + shared.login_timeout;
    let (authenticated, mut logged_in) = watch::channel(false);
    let handler = Connection {
        source: peer.ip(),
        shared: shared.clone(),
        identity: None,
        authenticated,
        channels: HashMap::new(),
    };
    let started =
        tokio::time::timeout_at(deadline, russh::server::run_stream(config, socket, handler));
    let session = match started.await {
        Ok(Ok(session)) => session,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "NETCONF SSH handshake failed");
            return;
        }
        Err(_) => {
            SshCounters::add(&shared.counters.login_timeouts);
            tracing::debug!(%peer, "NETCONF SSH login timeout");
            return;
        }
    };
    let handle = session.handle();
    tokio::pin!(session);
    let login = tokio::time::timeout_at(deadline, async {
        logged_in.wait_for(|&done| done).await.is_ok()
    });
    tokio::select! {
        result = &mut session => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "NETCONF SSH connection failed");
            }
            return;
        }
        login = login => if login.is_err() {
            SshCounters::add(&shared.counters.login_timeouts);
            tracing::debug!(%peer, "NETCONF SSH login timeout");
            let reason = "login timeout".to_owned();
            let _ = handle.disconnect(Disconnect::ByApplication, reason, String::new()).await;
        },
    }
    match session.await {
        Ok(()) => tracing::debug!(%peer, "NETCONF SSH connection closed"),
        Err(error) => tracing::debug!(%peer, %error, "NETCONF SSH connection failed"),
    }
}

/// russh's callbacks for one connection.
struct Connection {
    source: IpAddr,
    shared: Arc<Shared>,
    identity: Option<Identity>,
    authenticated: watch::Sender<bool>,
    /// Per open session channel: where its subsystem decisions go.
    channels: HashMap<ChannelId, mpsc::Sender<Option<SessionStart>>>,
}

/// An accepted `netconf` subsystem: who, and the session slot it holds.
struct SessionStart {
    actor: Actor,
    slot: SessionSlot,
}

/// One of `max_sessions`, held until the engine ends.
struct SessionSlot {
    _permit: OwnedSemaphorePermit,
    counters: Arc<SshCounters>,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.counters
            .sessions_active
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    fn rejected(&self, user: &str) -> Auth {
        self.shared.guard.failed(self.source, user, FRONT_END);
        Auth::reject()
    }

    /// Whether `key` is one of `user`'s authorized keys; entries with
    /// options (`from=`, `command=`...) are not honoured, so they are not
    /// accepted either.
    fn authorized(&self, user: &str, key: &PublicKey) -> Option<Identity> {
        let (identity, lines) = self.shared.users.authorized_keys(user)?;
        let found = lines.iter().any(|line| match line.parse::<Entry>() {
            Ok(entry) if entry.config_opts().is_empty() => {
                entry.public_key().key_data() == key.key_data()
            }
            Ok(_) => {
                tracing::debug!(user, "authorized key with options ignored");
                false
            }
            Err(error) => {
                tracing::debug!(user, %error, "authorized key unreadable");
                false
            }
        });
        found.then_some(identity)
    }
}

impl Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if !self.shared.guard.admit(self.source) {
            return Ok(Auth::reject());
        }
        // PBKDF2 takes tens of milliseconds: off the async workers.
        let users = self.shared.users.clone();
        let (name, password) = (user.to_owned(), password.to_owned());
        let verified = tokio::task::spawn_blocking(move || users.verify_password(&name, &password));
        match verified.await.ok().flatten() {
            Some(identity) => {
                self.identity = Some(identity);
                Ok(Auth::Accept)
            }
            None => Ok(self.rejected(user)),
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // A probe: a client offers its keys in turn, so an unknown key is
        // not a failure (a signature by an unknown key would be).
        if !self.shared.guard.admit(self.source)
            || self.authorized(user, offer.public_key).is_none()
        {
            return Ok(Auth::reject());
        }
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.authorized(user, key.public_key) {
            Some(identity) => {
                self.identity = Some(identity);
                Ok(Auth::Accept)
            }
            None => Ok(self.rejected(user)),
        }
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        SshCounters::add(&self.shared.counters.logins);
        if let Some(identity) = &self.identity {
            tracing::info!(source = %self.source, user = identity.user, "NETCONF SSH login");
        }
        self.authenticated.send_replace(true);
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.retain(|_, decisions| !decisions.is_closed());
        if self.identity.is_none() || self.channels.len() >= MAX_CHANNELS {
            // Dropping `reply` refuses the channel.
            return Ok(());
        }
        let (decisions, pending) = mpsc::channel(1);
        self.channels.insert(channel.id(), decisions);
        let subsystem = self.shared.subsystem.clone();
        tokio::spawn(await_subsystem(channel, pending, subsystem));
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The channel task has gone when a session already runs on the
        // channel (RFC 4254, 6.5: one subsystem per channel).
        let waiting = self.channels.get(&channel).filter(|d| !d.is_closed());
        let (Some(decisions), Some(identity)) = (waiting, &self.identity) else {
            return session.channel_failure(channel);
        };
        let start = if name != SUBSYSTEM {
            tracing::debug!(source = %self.source, name, "SSH subsystem refused");
            None
        } else if let Ok(permit) = self.shared.sessions.clone().try_acquire_owned() {
            let counters = self.shared.counters.clone();
            counters.sessions_active.fetch_add(1, Ordering::Relaxed);
            let slot = SessionSlot {
                _permit: permit,
                counters,
            };
            Some(SessionStart {
                actor: Actor::new(identity.clone(), FRONT_END),
                slot,
            })
        } else {
            SshCounters::add(&self.shared.counters.sessions_refused);
            tracing::warn!(source = %self.source, user = identity.user, "NETCONF session refused: max-sessions reached");
            None
        };
        let accepted = start.is_some();
        // The channel task has seen this request and waits for the answer.
        if decisions.send(start).await.is_ok() && accepted {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }
}

/// A session channel before its subsystem: whatever comes before the
/// `netconf` request is dropped (no queue grows), then the session runs.
async fn await_subsystem(
    mut channel: Channel<Msg>,
    mut decisions: mpsc::Receiver<Option<SessionStart>>,
    subsystem: Subsystem,
) {
    loop {
        match channel.wait().await {
            Some(ChannelMsg::RequestSubsystem { .. }) => match decisions.recv().await {
                Some(Some(start)) => {
                    drop(decisions);
                    return run_session(channel, start, subsystem).await;
                }
                Some(None) => {}
                None => return,
            },
            Some(ChannelMsg::Close) | None => return,
            Some(_) => {}
        }
    }
}

/// Runs the engine on one end of a duplex stream and pumps the other end
/// to and from the channel until either side ends.
async fn run_session(channel: Channel<Msg>, start: SessionStart, subsystem: Subsystem) {
    let SessionStart { actor, slot } = start;
    SshCounters::add(&slot.counters.sessions);
    tracing::debug!(
        user = actor.user(),
        session = actor.session,
        "NETCONF session started"
    );
    let (engine_end, pump_end) = tokio::io::duplex(DUPLEX_BUFFER);
    let engine = subsystem(actor, engine_end);
    tokio::spawn(async move {
        engine.await;
        drop(slot);
    });

    let (mut from_engine, mut to_engine) = tokio::io::split(pump_end);
    let (mut reader, writer) = channel.split();
    let mut to_client = writer.make_writer();
    let outbound = tokio::io::copy(&mut from_engine, &mut to_client);
    // Whether the client closed the channel (rather than only sent EOF).
    let inbound = async {
        let closed = loop {
            match reader.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    if to_engine.write_all(&data).await.is_err() {
                        break false;
                    }
                }
                Some(ChannelMsg::Eof) => break false,
                Some(ChannelMsg::Close) | None => break true,
                Some(_) => {}
            }
        };
        let _ = to_engine.shutdown().await;
        closed
    };
    tokio::pin!(outbound, inbound);
    let client_closed = tokio::select! {
        _ = &mut outbound => false,
        closed = &mut inbound => {
            // After an EOF the engine may still answer (its close-session
            // reply); after a close nobody reads.
            if !closed {
                let _ = tokio::time::timeout(DRAIN_AFTER_EOF, &mut outbound).await;
            }
            closed
        }
    };
    if !client_closed {
        let _ = writer.eof().await;
        let _ = writer.close().await;
    }
    // Returning drops the pump's end: the engine, if still running, sees
    // that the client has gone.
}
