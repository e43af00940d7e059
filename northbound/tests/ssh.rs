//! The NETCONF SSH transport against russh's client on loopback, with an
//! uppercasing engine standing in for NETCONF.

// Test helpers panic on failure, as the tests do.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use northbound::auth::{Access, LoginGuard, UserEntry, Users, hash_password};
use northbound::netconf::ssh::{SshCounters, SshServer, SshSettings, Subsystem};
use russh::client::{self, AuthResult};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const PASSWORD: &str = "correct horse";
const WAIT: Duration = Duration::from_secs(20);

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("northbound-ssh-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).unwrap();
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

fn users(keys: &[&PrivateKey]) -> Arc<Users> {
    let alice = UserEntry {
        name: "alice".to_owned(),
        access: Access::ReadWrite,
        password_hash: Some(hash_password(PASSWORD)),
        authorized_keys: keys
            .iter()
            .map(|key| key.public_key().to_openssh().unwrap())
            .collect(),
    };
    Arc::new(Users::new([alice]).unwrap())
}

/// Greets with the actor, then echoes its input uppercased until EOF.
fn uppercase() -> Subsystem {
    Arc::new(|actor, mut stream| {
        Box::pin(async move {
            let hello = format!("hello {} {}\n", actor.user(), actor.front_end);
            if stream.write_all(hello.as_bytes()).await.is_err() {
                return;
            }
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                let upper = buf[..n].to_ascii_uppercase();
                if stream.write_all(&upper).await.is_err() {
                    return;
                }
            }
        })
    })
}

struct Server {
    addr: SocketAddr,
    fingerprint: String,
    counters: Arc<SshCounters>,
    guard: Arc<LoginGuard>,
    _stop: oneshot::Sender<()>,
}

async fn start(settings: SshSettings, users: Arc<Users>, subsystem: Subsystem) -> Server {
    let guard = Arc::new(LoginGuard::default());
    let server = SshServer::bind(settings, users, guard.clone(), subsystem)
        .await
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let started = Server {
        addr: server.local_addr().unwrap(),
        fingerprint: server.host_key_fingerprint().to_owned(),
        counters: server.counters(),
        guard,
        _stop: stop,
    };
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    started
}

fn settings(dir: &Path) -> SshSettings {
    SshSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        host_key: dir.join("ssh/host_key"),
        max_sessions: 4,
        login_timeout: Duration::from_secs(30),
    }
}

/// The client's view: the server's host key fingerprint.
#[derive(Clone, Default)]
struct Client {
    server_key: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let PublicKeyOrCertificate::PublicKey { key, .. } = key {
            *self.server_key.lock().unwrap() = Some(key.fingerprint(HashAlg::Sha256).to_string());
        }
        Ok(true)
    }
}

async fn connect(addr: SocketAddr) -> client::Handle<Client> {
    connect_as(addr, Client::default()).await
}

async fn connect_as(addr: SocketAddr, client: Client) -> client::Handle<Client> {
    let config = Arc::new(client::Config::default());
    tokio::time::timeout(WAIT, client::connect(config, addr, client))
        .await
        .unwrap()
        .unwrap()
}

async fn password(client: &mut client::Handle<Client>, user: &str, password: &str) -> AuthResult {
    tokio::time::timeout(WAIT, client.authenticate_password(user, password))
        .await
        .unwrap()
        .unwrap()
}

/// The channel's next message that is not flow control.
async fn next(channel: &mut Channel<client::Msg>) -> Option<ChannelMsg> {
    loop {
        match tokio::time::timeout(WAIT, channel.wait()).await.unwrap() {
            Some(ChannelMsg::WindowAdjusted { .. }) => {}
            other => return other,
        }
    }
}

/// Opens a channel and asks for `subsystem`; whether it was granted.
async fn subsystem(client: &client::Handle<Client>, name: &str) -> (Channel<client::Msg>, bool) {
    let mut channel = client.channel_open_session().await.unwrap();
    channel.request_subsystem(true, name).await.unwrap();
    let granted = match next(&mut channel).await {
        Some(ChannelMsg::Success) => true,
        Some(ChannelMsg::Failure) => false,
        other => panic!("no answer to the subsystem request: {other:?}"),
    };
    (channel, granted)
}

/// Reads data until `expected` bytes have come.
async fn read_exactly(channel: &mut Channel<client::Msg>, expected: &[u8]) {
    let mut got = Vec::new();
    while got.len() < expected.len() {
        match next(channel).await {
            Some(ChannelMsg::Data { data }) => got.extend_from_slice(&data),
            other => panic!("expected data, got {other:?} after {got:?}"),
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

/// Waits until the server's end of the channel has gone.
async fn closed_by_server(channel: &mut Channel<client::Msg>) {
    loop {
        match next(channel).await {
            Some(ChannelMsg::Close) | None => return,
            Some(ChannelMsg::Eof | ChannelMsg::ExitStatus { .. }) => {}
            other => panic!("expected the channel to close, got {other:?}"),
        }
    }
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_login_carries_bytes_both_ways() {
    let dir = TempDir::new();
    let server = start(settings(&dir.0), users(&[]), uppercase()).await;
    let mut client = connect(server.addr).await;
    assert!(password(&mut client, "alice", PASSWORD).await.success());

    let (mut channel, granted) = subsystem(&client, "netconf").await;
    assert!(granted);
    read_exactly(&mut channel, b"hello alice netconf\n").await;
    channel.data_bytes(&b"<hello/>]]>]]>"[..]).await.unwrap();
    read_exactly(&mut channel, b"<HELLO/>]]>]]>").await;
    // More than one SSH packet and one duplex buffer each way.
    let big: Vec<u8> = (0..200_000).map(|i| b'a' + (i % 26) as u8).collect();
    let writer = channel.make_writer();
    let sending = tokio::spawn(async move {
        let mut writer = writer;
        writer.write_all(&big).await.unwrap();
    });
    let expected: Vec<u8> = (0..200_000).map(|i| b'A' + (i % 26) as u8).collect();
    read_exactly(&mut channel, &expected).await;
    sending.await.unwrap();

    assert_eq!(server.counters.logins.load(Ordering::Relaxed), 1);
    assert_eq!(server.counters.sessions.load(Ordering::Relaxed), 1);
    assert_eq!(server.counters.sessions_active.load(Ordering::Relaxed), 1);
    // The client's EOF ends the engine, which closes the channel.
    channel.eof().await.unwrap();
    closed_by_server(&mut channel).await;
    let counters = server.counters.clone();
    eventually("the session slot is released", || {
        counters.sessions_active.load(Ordering::Relaxed) == 0
    })
    .await;
    assert_eq!(server.guard.failed_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_key_login_works_and_other_keys_do_not() {
    let dir = TempDir::new();
    let (key, other) = (Arc::new(new_key()), Arc::new(new_key()));
    let server = start(settings(&dir.0), users(&[&key]), uppercase()).await;

    let mut client = connect(server.addr).await;
    let refused = client
        .authenticate_publickey("alice", PrivateKeyWithHashAlg::new(other, None))
        .await
        .unwrap();
    assert!(!refused.success());
    let accepted = client
        .authenticate_publickey("alice", PrivateKeyWithHashAlg::new(key.clone(), None))
        .await
        .unwrap();
    assert!(accepted.success());
    let (mut channel, granted) = subsystem(&client, "netconf").await;
    assert!(granted);
    read_exactly(&mut channel, b"hello alice netconf\n").await;
    channel.data_bytes(&b"ping"[..]).await.unwrap();
    read_exactly(&mut channel, b"PING").await;
    // An unknown key offered is a probe, not a failed login.
    assert_eq!(server.guard.failed_count(), 0);

    // alice's key is not bob's.
    let mut client = connect(server.addr).await;
    let as_bob = client
        .authenticate_publickey("bob", PrivateKeyWithHashAlg::new(key, None))
        .await
        .unwrap();
    assert!(!as_bob.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_unknown_users_are_refused_alike() {
    let dir = TempDir::new();
    let server = start(settings(&dir.0), users(&[]), uppercase()).await;
    let mut client = connect(server.addr).await;

    let wrong = password(&mut client, "alice", "battery staple").await;
    let unknown = password(&mut client, "mallory", PASSWORD).await;
    assert!(!wrong.success());
    assert_eq!(wrong, unknown);
    assert_eq!(server.guard.failed_count(), 2);
    assert_eq!(server.counters.logins.load(Ordering::Relaxed), 0);

    // The connection may still log in properly.
    assert!(password(&mut client, "alice", PASSWORD).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_over_the_guard_limit_is_refused_unchecked() {
    let dir = TempDir::new();
    let key = Arc::new(new_key());
    let server = start(settings(&dir.0), users(&[&key]), uppercase()).await;
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    for _ in 0..LoginGuard::FAILURES {
        server.guard.failed(loopback, "alice", "netconf");
    }

    let mut client = connect(server.addr).await;
    assert!(!password(&mut client, "alice", PASSWORD).await.success());
    let with_key = client
        .authenticate_publickey("alice", PrivateKeyWithHashAlg::new(key, None))
        .await
        .unwrap();
    assert!(!with_key.success());
    // Refused before any check: counted as refusals, not as failures.
    assert_eq!(server.guard.failed_count(), u64::from(LoginGuard::FAILURES));
    assert!(server.guard.refused_count() >= 2);
    assert_eq!(server.counters.logins.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_netconf_subsystem_is_served() {
    let dir = TempDir::new();
    let server = start(settings(&dir.0), users(&[]), uppercase()).await;
    let mut client = connect(server.addr).await;
    assert!(password(&mut client, "alice", PASSWORD).await.success());

    let mut channel = client.channel_open_session().await.unwrap();
    channel.request_shell(true).await.unwrap();
    assert!(matches!(
        next(&mut channel).await,
        Some(ChannelMsg::Failure)
    ));
    channel.exec(true, "cat /etc/shadow").await.unwrap();
    assert!(matches!(
        next(&mut channel).await,
        Some(ChannelMsg::Failure)
    ));
    channel
        .request_pty(true, "xterm", 80, 24, 0, 0, &[])
        .await
        .unwrap();
    assert!(matches!(
        next(&mut channel).await,
        Some(ChannelMsg::Failure)
    ));
    channel.request_subsystem(true, "sftp").await.unwrap();
    assert!(matches!(
        next(&mut channel).await,
        Some(ChannelMsg::Failure)
    ));
    // Data before a subsystem goes nowhere; the channel still serves netconf.
    channel.data_bytes(&b"ignored"[..]).await.unwrap();
    channel.request_subsystem(true, "netconf").await.unwrap();
    assert!(matches!(
        next(&mut channel).await,
        Some(ChannelMsg::Success)
    ));
    read_exactly(&mut channel, b"hello alice netconf\n").await;
    // RFC 4254, 6.5: one subsystem per channel.
    channel.request_subsystem(true, "netconf").await.unwrap();
    assert!(matches!(
        next(&mut channel).await,
        Some(ChannelMsg::Failure)
    ));
    channel.data_bytes(&b"still here"[..]).await.unwrap();
    read_exactly(&mut channel, b"STILL HERE").await;
    assert_eq!(server.counters.sessions.load(Ordering::Relaxed), 1);
    assert_eq!(server.counters.sessions_refused.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_maximum_are_refused_until_one_ends() {
    let dir = TempDir::new();
    let mut settings = settings(&dir.0);
    settings.max_sessions = 2;
    let server = start(settings, users(&[]), uppercase()).await;
    let mut first = connect(server.addr).await;
    let mut second = connect(server.addr).await;
    assert!(password(&mut first, "alice", PASSWORD).await.success());
    assert!(password(&mut second, "alice", PASSWORD).await.success());

    let (a, granted_a) = subsystem(&first, "netconf").await;
    let (_b, granted_b) = subsystem(&second, "netconf").await;
    let (_c, granted_c) = subsystem(&first, "netconf").await;
    let (_d, granted_d) = subsystem(&second, "netconf").await;
    assert!(granted_a && granted_b);
    assert!(!granted_c && !granted_d);
    assert_eq!(server.counters.sessions_refused.load(Ordering::Relaxed), 2);
    assert_eq!(server.counters.sessions_active.load(Ordering::Relaxed), 2);

    a.close().await.unwrap();
    let counters = server.counters.clone();
    eventually("the closed session's slot is released", || {
        counters.sessions_active.load(Ordering::Relaxed) == 1
    })
    .await;
    let (mut e, granted_e) = subsystem(&first, "netconf").await;
    assert!(granted_e);
    read_exactly(&mut e, b"hello alice netconf\n").await;
    assert_eq!(server.counters.sessions.load(Ordering::Relaxed), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_ending_closes_the_channel() {
    let dir = TempDir::new();
    let once: Subsystem = Arc::new(|_actor, mut stream| {
        Box::pin(async move {
            let _ = stream.write_all(b"bye").await;
        })
    });
    let server = start(settings(&dir.0), users(&[]), once).await;
    let mut client = connect(server.addr).await;
    assert!(password(&mut client, "alice", PASSWORD).await.success());
    let (mut channel, granted) = subsystem(&client, "netconf").await;
    assert!(granted);
    read_exactly(&mut channel, b"bye").await;
    closed_by_server(&mut channel).await;
    let counters = server.counters.clone();
    eventually("the session slot is released", || {
        counters.sessions_active.load(Ordering::Relaxed) == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_ends_its_sessions() {
    let dir = TempDir::new();
    let (ended, engine_ended) = oneshot::channel::<String>();
    let ended = Arc::new(Mutex::new(Some(ended)));
    let engine: Subsystem = Arc::new(move |actor, mut stream| {
        let ended = ended.clone();
        Box::pin(async move {
            let mut buf = [0u8; 64];
            while let Ok(1..) = stream.read(&mut buf).await {}
            if let Some(ended) = ended.lock().unwrap().take() {
                let _ = ended.send(actor.user().to_owned());
            }
        })
    });
    let server = start(settings(&dir.0), users(&[]), engine).await;
    let mut client = connect(server.addr).await;
    assert!(password(&mut client, "alice", PASSWORD).await.success());
    let (channel, granted) = subsystem(&client, "netconf").await;
    assert!(granted);
    assert_eq!(server.counters.sessions_active.load(Ordering::Relaxed), 1);

    // No EOF, no channel close: the connection just goes.
    client
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await
        .unwrap();
    drop((client, channel));
    let user = tokio::time::timeout(WAIT, engine_ended)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user, "alice");
    let counters = server.counters.clone();
    eventually("the session slot is released", || {
        counters.sessions_active.load(Ordering::Relaxed) == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_key_is_made_once_private_and_reused() {
    let dir = TempDir::new();
    let settings = settings(&dir.0);
    assert!(!settings.host_key.exists());

    let first = start(settings.clone(), users(&[]), uppercase()).await;
    let mode = std::fs::metadata(&settings.host_key)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        first.fingerprint.starts_with("SHA256:"),
        "{}",
        first.fingerprint
    );
    let seen = Client::default();
    let _client = connect_as(first.addr, seen.clone()).await;
    assert_eq!(
        seen.server_key.lock().unwrap().as_deref(),
        Some(first.fingerprint.as_str())
    );
    let text = std::fs::read_to_string(&settings.host_key).unwrap();
    assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    drop(first);

    let second = start(settings.clone(), users(&[]), uppercase()).await;
    assert_eq!(
        second.fingerprint,
        PrivateKey::from_openssh(&text)
            .unwrap()
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    );
    let seen = Client::default();
    let _client = connect_as(second.addr, seen.clone()).await;
    assert_eq!(
        seen.server_key.lock().unwrap().as_deref(),
        Some(second.fingerprint.as_str())
    );
    assert_eq!(std::fs::read_to_string(&settings.host_key).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_connections_are_closed_after_the_login_timeout() {
    let dir = TempDir::new();
    let mut settings = settings(&dir.0);
    settings.login_timeout = Duration::from_millis(1500);
    let server = start(settings, users(&[]), uppercase()).await;

    // Silent after TCP: not even the SSH identification.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut all = Vec::new();
    tokio::time::timeout(WAIT, silent.read_to_end(&mut all))
        .await
        .unwrap()
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert!(all.starts_with(b"SSH-2.0-"));

    // Handshake done, no login.
    let client = connect(server.addr).await;
    tokio::time::timeout(WAIT, async {
        while !client.is_closed() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(server.counters.login_timeouts.load(Ordering::Relaxed), 2);
    assert_eq!(server.counters.connections.load(Ordering::Relaxed), 2);

    // A logged-in connection outlives the timeout.
    let mut client = connect(server.addr).await;
    assert!(password(&mut client, "alice", PASSWORD).await.success());
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(!client.is_closed());
    let (_channel, granted) = subsystem(&client, "netconf").await;
    assert!(granted);
}
