//! dmvpnd: the DMVPN daemon. Reads its settings (TOML), opens the YANG
//! running configuration in the state directory, starts the protocol
//! instances the configuration asks for and serves the management API.
//!
//! ```text
//!   dmvpnd.toml --> settings, logging
//!   state dir  --> Northbound (running, log) <-- --startup FILE.json (only if empty)
//!                     | providers: NHRP (instances start/stop with the config),
//!                     |   each with its userspace data plane (TUN + GRE socket)
//!   gRPC + gNMI (unix socket; TCP when configured) --> northbound task
//!   NETCONF over SSH (when enabled)                 --> northbound task
//!   SIGTERM/SIGINT --> servers stop, socket removed
//! ```
#![forbid(unsafe_code)]

mod capabilities;
mod heap;
mod logging;
mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use northbound::grpc::{TlsFiles, UnixEndpoint};
use northbound::{Builder, Config, Format, Northbound};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use holo_dmvpn::northbound::Dmvpn;
use holo_dmvpn::northbound::ipsec;
use holo_dmvpn::northbound::peers::TunnelState;
use holo_dmvpn::northbound::userspace::Userspace;
use settings::{Loaded, Settings};

#[derive(Debug, Parser)]
#[command(version, about = "The DMVPN daemon")]
struct Args {
    /// Daemon settings (TOML).
    #[arg(long, default_value = "/etc/dmvpnd.toml")]
    config: PathBuf,
    /// YANG JSON configuration committed when running is empty.
    #[arg(long)]
    startup: Option<PathBuf>,
    /// Reads a password (one line) from stdin, prints its hash for a
    /// `[[users]]` entry's `password-hash`, and exits.
    #[arg(long)]
    hash_password: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.hash_password {
        return hash_password();
    }
    let (settings, missing) = match settings::load(&args.config) {
        Ok(Loaded::File(settings)) => (settings, false),
        Ok(Loaded::Missing(settings)) => (settings, true),
        Err(error) => {
            eprintln!("dmvpnd: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = logging::init(&settings.logging) {
        eprintln!("dmvpnd: {error}");
        return ExitCode::from(2);
    }
    if missing {
        tracing::info!(file = %args.config.display(), "no settings file: using the defaults");
    }
    heap::spawn();
    match capabilities::missing() {
        Ok(missing) if missing.is_empty() => {}
        Ok(missing) => {
            let missing = missing.join(" and ");
            tracing::error!(%missing, "missing capabilities");
            eprintln!("dmvpnd: needs {missing} (run as root or grant them)");
            return ExitCode::from(1);
        }
        Err(error) => {
            eprintln!("dmvpnd: cannot check capabilities: {error}");
            return ExitCode::from(1);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dmvpnd: tokio runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(settings, args.startup)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "dmvpnd stops");
            eprintln!("dmvpnd: {error}");
            ExitCode::from(1)
        }
    }
}

fn hash_password() -> ExitCode {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(_) => {
            let password = line.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                eprintln!("dmvpnd: an empty password is not a password");
                return ExitCode::from(2);
            }
            println!("{}", northbound::auth::hash_password(password));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("dmvpnd: reading the password: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run(settings: Settings, startup: Option<PathBuf>) -> Result<(), String> {
    let mut nb = Northbound::open(&settings.state_dir).map_err(|e| e.to_string())?;
    nb.set_max_transactions(settings.max_transactions)
        .map_err(|e| format!("pruning the transaction log: {e}"))?;
    tracing::info!(
        state_dir = %settings.state_dir.display(),
        transaction = nb.last_id(),
        "running configuration loaded"
    );
    let dmvpn = Dmvpn::new();
    let planes = match settings.data_plane {
        settings::DataPlane::Userspace => {
            let userspace = Userspace::default();
            let planes = userspace.planes();
            if let Some(dir) = &settings.debug.ipsec_keylog {
                tracing::warn!(
                    dir = %dir.display(),
                    "IPsec SA keys are written in clear (debug.ipsec-keylog)"
                );
                planes.set_ipsec_keylog(dir.clone());
            }
            dmvpn.set_tunnel(Arc::new(userspace));
            planes
        }
    };
    nb.register(Box::new(dmvpn.provider()))
        .map_err(|e| format!("NHRP refuses the running configuration: {e}"))?;
    if let Some(file) = startup {
        commit_startup(&mut nb, &file)?;
    }

    let builder = Builder::new(nb)
        .state_provider(Arc::new(dmvpn.state()))
        .state_provider(Arc::new(TunnelState {
            dmvpn: dmvpn.clone(),
            planes: planes.clone(),
        }))
        .rpc_handler(
            ipsec::CLEAR_SECURITY_ASSOCIATIONS,
            Arc::new(ipsec::ClearSa {
                planes: planes.clone(),
            }),
        );
    let builder = dmvpn
        .rpc_handlers()
        .into_iter()
        .fold(builder, |builder, (path, handler)| {
            builder.rpc_handler(path, handler)
        });
    dmvpn.set_notifier(builder.notifier());
    planes.set_notifier(builder.notifier());
    let (handle, task) = builder.spawn();

    let (stop, stopped) = watch::channel(false);
    let users =
        Arc::new(northbound::auth::Users::new(settings.users.clone()).map_err(|e| e.to_string())?);
    let guard = Arc::new(northbound::auth::LoginGuard::default());
    let mut servers = tokio::task::JoinSet::new();
    if settings.grpc.enabled {
        let endpoint = UnixEndpoint::bind(&settings.grpc.socket).map_err(|e| e.to_string())?;
        tracing::info!(socket = %endpoint.path().display(), "gRPC listening");
        servers.spawn(endpoint.serve(handle.clone(), wait_stop(stopped.clone())));
        if let Some(address) = settings.grpc.tcp {
            let tls = match (&settings.grpc.tls_cert, &settings.grpc.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            };
            tracing::info!(%address, tls = tls.is_some(), "gRPC listening on TCP");
            let auth = northbound::grpc::TcpAuth::new(users.clone(), guard.clone());
            servers.spawn(northbound::grpc::serve_tcp(
                address,
                tls,
                Arc::new(auth),
                handle.clone(),
                wait_stop(stopped.clone()),
            ));
        }
    }
    if settings.netconf.enabled {
        let netconf = northbound::netconf::Netconf::new(handle.clone());
        let ssh = northbound::netconf::ssh::SshSettings {
            listen: settings.netconf.listen,
            host_key: settings
                .netconf
                .host_key
                .clone()
                .unwrap_or_else(|| settings.state_dir.join("ssh_host_ed25519_key")),
            max_sessions: settings.netconf.max_sessions,
            login_timeout: NETCONF_LOGIN_TIMEOUT,
        };
        let server = northbound::netconf::ssh::SshServer::bind(
            ssh,
            users.clone(),
            guard.clone(),
            netconf.subsystem(),
        )
        .await
        .map_err(|e| format!("NETCONF: {e}"))?;
        tracing::info!(
            listen = %settings.netconf.listen,
            host_key = server.host_key_fingerprint(),
            "NETCONF listening (SSH)"
        );
        let stop = wait_stop(stopped.clone());
        servers.spawn(async move {
            server.run(stop).await;
            Ok(())
        });
    }
    drop(handle);

    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
    let mut result = Ok(());
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        Some(ended) = servers.join_next() => {
            result = match ended {
                Ok(Ok(())) => Err("a management server stopped".to_owned()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(error) => Err(error.to_string()),
            };
        }
    }
    let _ = stop.send(true);
    while let Some(ended) = servers.join_next().await {
        if let Ok(Err(error)) = ended {
            tracing::warn!(%error, "management server");
        }
    }
    // The northbound task ends once the servers dropped their handles.
    let _ = task.await;
    // Data planes down: TUN devices and GRE sockets gone before we exit.
    dmvpn.stop_all().await;
    result
}

/// How long an SSH connection may take to log in.
const NETCONF_LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn wait_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// The startup configuration applies to an empty running only: after the
/// first start, running (what the operators committed since) wins.
fn commit_startup(nb: &mut Northbound, file: &Path) -> Result<(), String> {
    if nb.last_id() != 0 || nb.running_json().trim() != "{}" {
        tracing::info!(file = %file.display(), "running is not empty: startup configuration ignored");
        return Ok(());
    }
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("--startup {}: {e}", file.display()))?;
    let config = Config::parse(&text, Format::Json)
        .map_err(|e| format!("--startup {}: {e}", file.display()))?;
    let id = nb
        .commit_config(config, "startup", None)
        .map_err(|e| format!("--startup {}: {e}", file.display()))?;
    tracing::info!(file = %file.display(), transaction = id, "startup configuration committed");
    Ok(())
}
