//! The daemon settings (`/etc/dmvpnd.toml`): where things are and which
//! servers run. Protocol configuration is never here: it is the YANG
//! running configuration in the state directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub logging: Logging,
    /// Running configuration, transaction log, pending confirmed commit.
    pub state_dir: PathBuf,
    /// Transactions the log keeps for `show transactions` and `rollback`
    /// (the oldest are pruned; at least 1).
    pub max_transactions: usize,
    pub grpc: Grpc,
    pub netconf: Netconf,
    /// Who may log in over TCP (gRPC, gNMI) and NETCONF.
    pub users: Vec<northbound::auth::UserEntry>,
    pub data_plane: DataPlane,
    pub debug: Debug,
}

/// Debugging aids, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Debug {
    /// Write the keys of every IPsec SA to Wireshark's `esp_sa` and
    /// `ikev2_decryption_table` in this directory (whoever reads them reads
    /// the traffic).
    pub ipsec_keylog: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            logging: Logging::default(),
            state_dir: PathBuf::from("/var/lib/dmvpnd"),
            max_transactions: northbound::DEFAULT_MAX_TRANSACTIONS,
            grpc: Grpc::default(),
            netconf: Netconf::default(),
            users: vec![],
            data_plane: DataPlane::Userspace,
            debug: Debug::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Logging {
    pub target: LogTarget,
    /// For `target = "file"`.
    pub file: PathBuf,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// A tracing filter: `info`, `debug`, `holo_nhrp=debug,info`, ...
    pub level: String,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            target: LogTarget::Stdout,
            file: PathBuf::from("/var/log/dmvpnd.log"),
            json: false,
            level: "info".to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Stdout,
    File,
    Journald,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Grpc {
    pub enabled: bool,
    pub socket: PathBuf,
    /// TCP listener, only when set.
    pub tcp: Option<SocketAddr>,
    /// TLS for the TCP listener: both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for Grpc {
    fn default() -> Self {
        Grpc {
            enabled: true,
            socket: PathBuf::from("/run/dmvpnd/grpc.sock"),
            tcp: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// NETCONF over SSH (RFC 6242); off unless enabled.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Netconf {
    pub enabled: bool,
    /// Loopback unless configured otherwise.
    pub listen: SocketAddr,
    /// The SSH host key (OpenSSH format), generated on first start when
    /// absent; default `<state-dir>/ssh_host_ed25519_key`.
    pub host_key: Option<PathBuf>,
    /// Concurrent NETCONF sessions.
    pub max_sessions: usize,
}

impl Default for Netconf {
    fn default() -> Self {
        Netconf {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 830)),
            host_key: None,
            max_sessions: 16,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataPlane {
    Userspace,
}

/// What loading found.
#[derive(Debug)]
pub enum Loaded {
    File(Settings),
    /// No file: the defaults.
    Missing(Settings),
}

/// Reads the settings; a missing file gives the defaults, an invalid one an
/// error that names the key (toml's message carries line and key).
pub fn load(path: &Path) -> Result<Loaded, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded::Missing(Settings::default()));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let settings: Settings =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if settings.grpc.tls_cert.is_some() != settings.grpc.tls_key.is_some() {
        return Err(format!(
            "{}: grpc.tls-cert and grpc.tls-key go together",
            path.display()
        ));
    }
    if let Err(error) = northbound::auth::Users::new(settings.users.clone()) {
        return Err(format!("{}: {error}", path.display()));
    }
    if let Some(address) = settings.grpc.tcp
        && settings.grpc.tls_cert.is_none()
        && !address.ip().is_loopback()
    {
        return Err(format!(
            "{}: grpc.tcp {address} without TLS: passwords would cross the network in clear; \
             listen on a loopback address or set grpc.tls-cert and grpc.tls-key",
            path.display()
        ));
    }
    if (settings.grpc.tcp.is_some() || settings.netconf.enabled) && settings.users.is_empty() {
        return Err(format!(
            "{}: grpc.tcp and netconf need at least one [[users]] entry: nobody could log in",
            path.display()
        ));
    }
    Ok(Loaded::File(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_file() {
        let settings: Settings = toml::from_str(
            r#"
            state-dir = "/tmp/x"
            max-transactions = 20
            data-plane = "userspace"
            [logging]
            target = "file"
            file = "/tmp/x.log"
            json = true
            level = "debug"
            [grpc]
            socket = "/tmp/x.sock"
            tcp = "127.0.0.1:50051"
            [netconf]
            enabled = true
            listen = "[::1]:8830"
            [[users]]
            name = "admin"
            access = "read-write"
            password-hash = "$pbkdf2-sha256$100000$00112233445566778899aabbccddeeff$00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
            [[users]]
            name = "noc"
            access = "read-only"
            authorized-keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG8 noc@example"]
            [debug]
            ipsec-keylog = "/tmp/keys"
            "#,
        )
        .unwrap();
        assert!(settings.netconf.enabled);
        assert_eq!(settings.netconf.listen, "[::1]:8830".parse().unwrap());
        assert_eq!(settings.users.len(), 2);
        assert_eq!(settings.users[1].access, northbound::auth::Access::ReadOnly);
        assert_eq!(settings.users[1].authorized_keys.len(), 1);
        assert_eq!(
            settings.debug.ipsec_keylog,
            Some(PathBuf::from("/tmp/keys"))
        );
        assert_eq!(settings.max_transactions, 20);
        assert_eq!(settings.logging.target, LogTarget::File);
        assert_eq!(settings.grpc.tcp, Some("127.0.0.1:50051".parse().unwrap()));
        assert!(settings.grpc.enabled);
    }

    #[test]
    fn errors_name_the_key() {
        let error = toml::from_str::<Settings>("[grpc]\nsocket = 5\n").unwrap_err();
        assert!(error.to_string().contains("socket"), "{error}");
        let error = toml::from_str::<Settings>("[logging]\ntarget = \"syslog\"\n").unwrap_err();
        assert!(error.to_string().contains("target"), "{error}");
        let error = toml::from_str::<Settings>("stat-dir = \"/x\"\n").unwrap_err();
        assert!(error.to_string().contains("stat-dir"), "{error}");
    }

    fn load_text(text: &str) -> Result<Loaded, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dmvpnd.toml");
        std::fs::write(&file, text).unwrap();
        load(&file)
    }

    #[test]
    fn servers_nobody_could_use_safely_are_refused() {
        let user = "[[users]]\nname = \"a\"\naccess = \"read-write\"\n";
        let error = load_text(&format!("[grpc]\ntcp = \"0.0.0.0:50051\"\n{user}"))
            .err()
            .unwrap();
        assert!(error.contains("without TLS"), "{error}");
        let error = load_text("[grpc]\ntcp = \"127.0.0.1:50051\"\n")
            .err()
            .unwrap();
        assert!(error.contains("[[users]]"), "{error}");
        let error = load_text("[netconf]\nenabled = true\n").err().unwrap();
        assert!(error.contains("[[users]]"), "{error}");
        let error = load_text(&format!("{user}password-hash = \"hunter2\"\n"))
            .err()
            .unwrap();
        assert!(
            error.contains("user a") && error.contains("password-hash"),
            "{error}"
        );
        assert!(matches!(
            load_text(&format!("[grpc]\ntcp = \"127.0.0.1:50051\"\n{user}")),
            Ok(Loaded::File(_))
        ));
    }
}
