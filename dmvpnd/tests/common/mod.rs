//! Runs the real dmvpnd binary in a temp dir; processes and files are
//! cleaned up on drop, also when a test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dmvpn_api::v1 as api;
use dmvpn_api::v1::northbound_client::NorthboundClient;
use tonic::transport::Channel;

pub mod frr;
pub mod netns;
pub mod pki;

pub type Client = NorthboundClient<Channel>;

pub const HOLDING_TIME: &str =
    "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/holding-time";

/// A temp dir with the daemon settings; removed on drop.
#[derive(Debug)]
pub struct Site {
    pub dir: PathBuf,
}

impl Site {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dmvpnd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let settings = format!(
            "state-dir = \"{}\"\n[logging]\ntarget = \"file\"\nfile = \"{}\"\nlevel = \"info\"\n[grpc]\nsocket = \"{}\"\n",
            dir.join("state").display(),
            dir.join("dmvpnd.log").display(),
            dir.join("grpc.sock").display(),
        );
        std::fs::write(dir.join("dmvpnd.toml"), settings).unwrap();
        Site { dir }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("grpc.sock")
    }

    /// Starts dmvpnd; `startup` is relative to the workspace's examples/.
    pub fn start(&self, startup: Option<&str>) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dmvpnd"));
        command
            .arg("--config")
            .arg(self.dir.join("dmvpnd.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(startup) = startup {
            command.arg("--startup").arg(example(startup));
        }
        Daemon {
            child: Some(command.spawn().unwrap()),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dmvpnd.log")).unwrap_or_default()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// A running dmvpnd, SIGKILLed on drop if still running.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    /// Waits (at most 20 s) until the daemon answers on its socket.
    pub async fn connect(&mut self, socket: &Path) -> Client {
        let child = &mut self.child;
        let running = || {
            if let Some(child) = child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("dmvpnd exited: {status}");
            }
        };
        try_connect(socket, Duration::from_secs(20), running)
            .await
            .expect("dmvpnd does not answer")
    }
}

/// A client of the daemon at `socket` once it answers a Capabilities
/// request, tried every 20 ms for at most `limit`; `running` is called
/// before each try and panics when the daemon is gone.
pub async fn try_connect(
    socket: &Path,
    limit: Duration,
    mut running: impl FnMut(),
) -> Option<Client> {
    let start = Instant::now();
    loop {
        running();
        if let Ok(mut client) = northbound::grpc::connect_unix(socket).await
            && client
                .capabilities(api::CapabilitiesRequest {})
                .await
                .is_ok()
        {
            return Some(client);
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn running(client: &mut Client) -> String {
    get(client, api::get_request::DataType::Config, "").await
}

pub async fn get(client: &mut Client, ty: api::get_request::DataType, path: &str) -> String {
    client
        .get(api::GetRequest {
            r#type: ty as i32,
            encoding: api::Encoding::Json as i32,
            with_defaults: false,
            path: path.to_owned(),
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .data
        .unwrap()
        .data
}

/// The transaction log, oldest first.
pub async fn transactions(client: &mut Client) -> Vec<api::Transaction> {
    client
        .list_transactions(api::ListTransactionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .transactions
}

pub fn set(path: &str, value: &str, comment: &str) -> api::CommitRequest {
    api::CommitRequest {
        operation: api::commit_request::Operation::Change as i32,
        config: None,
        edits: vec![api::PathEdit {
            kind: api::path_edit::Kind::Set as i32,
            path: path.to_owned(),
            value: value.to_owned(),
        }],
        comment: comment.to_owned(),
        confirmed_timeout: 0,
    }
}

/// The dmvpn-cli binary next to dmvpnd in the target directory, built first
/// when a test runs alone.
#[allow(dead_code)]
pub fn dmvpn_cli() -> PathBuf {
    let dmvpnd = PathBuf::from(env!("CARGO_BIN_EXE_dmvpnd"));
    let cli = dmvpnd.with_file_name("dmvpn-cli");
    if !cli.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "dmvpn-cli"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build dmvpn-cli");
    }
    cli
}

/// Runs dmvpn-cli with `commands` (`-c` each) against the daemon at
/// `socket`; its output, or a panic with its error.
#[allow(dead_code)]
pub fn cli_at(socket: &Path, commands: &[&str]) -> String {
    let mut command = Command::new(dmvpn_cli());
    command.arg("--socket").arg(socket);
    for c in commands {
        command.arg("-c").arg(c);
    }
    let out = command.output().expect("dmvpn-cli runs");
    assert!(
        out.status.success(),
        "dmvpn-cli {commands:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
