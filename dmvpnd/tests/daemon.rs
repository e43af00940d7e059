//! dmvpnd as operators run it: example configs, gRPC, state, RPCs,
//! settings errors, graceful shutdown.

// Test helpers panic on failure, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{HOLDING_TIME, Site, example, get, running, set, transactions};
use dmvpn_api::v1 as api;
use northbound::{Config, Format};

fn canonical(file: &str) -> String {
    let text = std::fs::read_to_string(example(file)).unwrap();
    Config::parse(&text, Format::Json)
        .unwrap()
        .print(Format::Json)
        .unwrap()
}

#[test]
fn example_startup_configs_are_valid() {
    for file in ["hub-startup.json", "spoke-startup.json"] {
        let text = std::fs::read_to_string(example(file)).unwrap();
        Config::parse(&text, Format::Json).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn starts_from_an_empty_state_dir_with_the_spoke_example() {
    let site = Site::new("spoke");
    let mut daemon = site.start(Some("spoke-startup.json"));
    let mut client = daemon.connect(&site.socket()).await;
    assert_eq!(running(&mut client).await, canonical("spoke-startup.json"));
    let log = transactions(&mut client).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].comment, "startup");

    // The NHRP instance runs: its NHS shows in the state (no data plane
    // yet, so the NHS never answers).
    let state = get(&mut client, api::get_request::DataType::State, "").await;
    assert!(
        state.contains("\"nhs-state\"") && state.contains("10.0.0.1"),
        "{state}"
    );
    assert!(state.contains("registration-request"), "{state}");

    // RPCs reach the instance; an interface without NHRP is refused.
    let execute = |json: &str| api::ExecuteRequest {
        data: Some(api::DataTree {
            encoding: api::Encoding::Json as i32,
            data: json.to_owned(),
        }),
    };
    client
        .execute(execute(
            r#"{"dmvpn-nhrp:clear-cache":{"interface":"tun0"}}"#,
        ))
        .await
        .unwrap();
    client
        .execute(execute(
            r#"{"dmvpn-nhrp:purge":{"interface":"tun0","prefix":"10.0.0.99/32"}}"#,
        ))
        .await
        .unwrap();
    let status = client
        .execute(execute(
            r#"{"dmvpn-nhrp:clear-cache":{"interface":"tun7"}}"#,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");

    // A configuration the core cannot run (NHRP without an address) is
    // refused naming the NHRP node; running is unchanged.
    let before = running(&mut client).await;
    let status = client
        .commit(api::CommitRequest {
            operation: api::commit_request::Operation::Change as i32,
            edits: vec![api::PathEdit {
                kind: api::path_edit::Kind::Delete as i32,
                path: "/ietf-interfaces:interfaces/interface[name='tun0']/ietf-ip:ipv4".to_owned(),
                value: String::new(),
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("dmvpn-nhrp:nhrp"),
        "{}",
        status.message()
    );
    assert_eq!(running(&mut client).await, before);

    // A change restarts the instance with the new holding time.
    client.commit(set(HOLDING_TIME, "900", "n")).await.unwrap();
    assert!(
        get(&mut client, api::get_request::DataType::State, "")
            .await
            .contains("nhs-state")
    );

    // Deleting NHRP stops the instance (no state left); a rollback starts it again.
    let id = client
        .commit(api::CommitRequest {
            operation: api::commit_request::Operation::Change as i32,
            edits: vec![api::PathEdit {
                kind: api::path_edit::Kind::Delete as i32,
                path: "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp"
                    .to_owned(),
                value: String::new(),
            }],
            comment: "no nhrp".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    // No NHRP instance, no state of one: the interfaces are gone from the
    // state, only the YANG library (RFC 8525) remains.
    let state: serde_json::Value =
        serde_json::from_str(&get(&mut client, api::get_request::DataType::State, "").await)
            .unwrap();
    let members: Vec<&String> = state.as_object().unwrap().keys().collect();
    assert_eq!(members, ["ietf-yang-library:yang-library"], "{state:#}");
    client
        .rollback(api::RollbackRequest {
            transaction_id: id - 1,
            comment: String::new(),
        })
        .await
        .unwrap();
    assert!(
        get(&mut client, api::get_request::DataType::State, "")
            .await
            .contains("nhs-state")
    );

    // Restarted, running wins over --startup.
    let after = running(&mut client).await;
    drop(client);
    assert!(daemon.terminate().success());
    assert!(!site.socket().exists(), "SIGTERM removes the socket");
    let mut daemon = site.start(Some("hub-startup.json"));
    let mut client = daemon.connect(&site.socket()).await;
    assert_eq!(running(&mut client).await, after);
    assert!(
        site.log().contains("startup configuration ignored"),
        "{}",
        site.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hub_example_starts() {
    let site = Site::new("hub");
    let mut daemon = site.start(Some("hub-startup.json"));
    let mut client = daemon.connect(&site.socket()).await;
    assert_eq!(running(&mut client).await, canonical("hub-startup.json"));
}

#[test]
fn invalid_settings_exit_2_naming_the_key() {
    let site = Site::new("bad-settings");
    let file = site.dir.join("bad.toml");
    std::fs::write(&file, "[grpc]\nsocket = 5\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dmvpnd"))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("socket"), "{stderr}");
}

#[test]
fn invalid_startup_config_exits_1_naming_the_path() {
    let site = Site::new("bad-startup");
    let file = site.dir.join("startup.json");
    std::fs::write(
        &file,
        r#"{"ietf-interfaces:interfaces":{"interface":[{"name":"tun0","type":"dmvpn-tunnel:mgre",
        "dmvpn-tunnel:tunnel":{"source-address":"192.0.2.1"},"dmvpn-nhrp:nhrp":{"network-id":1,"holding-time":0}}]}}"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dmvpnd"))
        .arg("--config")
        .arg(site.dir.join("dmvpnd.toml"))
        .arg("--startup")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holding-time"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_listener_with_tls_when_a_certificate_and_key_are_given() {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

    let site = Site::new("tls");
    let (cert, key) = (site.dir.join("cert.pem"), site.dir.join("key.pem"));
    let openssl = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        // Self-signed, yet an end entity (webpki refuses a CA as server).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(openssl.status.success(), "{openssl:?}");
    // A free port: bound by the OS, then released for the daemon.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = site.dir.join("dmvpnd.toml");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str(&format!(
        "tcp = \"127.0.0.1:{port}\"\ntls-cert = \"{}\"\ntls-key = \"{}\"\n",
        cert.display(),
        key.display()
    ));
    let hash = northbound::auth::hash_password("s3cret");
    text.push_str(&format!(
        "[[users]]\nname = \"noc\"\naccess = \"read-only\"\npassword-hash = \"{hash}\"\n"
    ));
    std::fs::write(&settings, text).unwrap();

    let mut daemon = site.start(None);
    daemon.connect(&site.socket()).await;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&cert).unwrap()))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = dmvpn_api::v1::northbound_client::NorthboundClient::new(channel);
    // Nobody without a name and password; a read-only user reads only.
    let anonymous = client
        .capabilities(api::CapabilitiesRequest {})
        .await
        .unwrap_err();
    assert_eq!(
        anonymous.code(),
        tonic::Code::Unauthenticated,
        "{anonymous}"
    );
    fn login<T>(password: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("username", "noc".parse().unwrap());
        request
            .metadata_mut()
            .insert("password", password.parse().unwrap());
        request
    }
    let wrong = client
        .capabilities(login("guess", api::CapabilitiesRequest {}))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated, "{wrong}");
    let caps = client
        .capabilities(login("s3cret", api::CapabilitiesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!caps.supported_modules.is_empty());
    let write = client
        .rollback(login(
            "s3cret",
            api::RollbackRequest {
                transaction_id: 1,
                comment: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(write.code(), tonic::Code::PermissionDenied, "{write}");

    // Without TLS, the TCP listener does not answer gRPC.
    let plain = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut client = dmvpn_api::v1::northbound_client::NorthboundClient::new(channel);
        assert!(
            client
                .capabilities(api::CapabilitiesRequest {})
                .await
                .is_err()
        );
    }
}

#[test]
fn a_password_hash_is_made_from_stdin_and_verifies() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dmvpnd"))
        .arg("--hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let hash = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let users = northbound::auth::Users::new([northbound::auth::UserEntry {
        name: "admin".to_owned(),
        access: northbound::auth::Access::ReadWrite,
        password_hash: Some(hash),
        authorized_keys: vec![],
    }])
    .unwrap();
    assert!(users.verify_password("admin", "correct horse").is_some());
    assert!(users.verify_password("admin", "correct horse\n").is_none());
}

#[test]
fn grpc_off_loopback_without_tls_is_refused_at_start() {
    let site = Site::new("insecure");
    let settings = site.dir.join("dmvpnd.toml");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("tcp = \"0.0.0.0:50051\"\n[[users]]\nname = \"a\"\naccess = \"read-write\"\n");
    std::fs::write(&settings, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dmvpnd"))
        .arg("--config")
        .arg(&settings)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without TLS"), "{stderr}");
}

#[test]
fn missing_capabilities_are_named() {
    let site = Site::new("caps");
    // Drop CAP_NET_RAW from every set, keep the rest (tests run as root).
    let output = Command::new("setpriv")
        .args(["--inh-caps=-net_raw", "--bounding-set=-net_raw", "--"])
        .arg(env!("CARGO_BIN_EXE_dmvpnd"))
        .arg("--config")
        .arg(site.dir.join("dmvpnd.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CAP_NET_RAW") && !stderr.contains("CAP_NET_ADMIN"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_kernel_data_plane_is_refused_naming_the_leaf() {
    let site = Site::new("kernel-dp");
    let mut daemon = site.start(Some("spoke-startup.json"));
    let mut client = daemon.connect(&site.socket()).await;
    let before = running(&mut client).await;
    let path = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/data-plane";
    let status = client
        .commit(set(path, "kernel", "kernel data plane"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains(path) && status.message().contains("userspace"),
        "{}",
        status.message()
    );
    assert_eq!(running(&mut client).await, before);
    // "userspace" is accepted.
    client
        .commit(set(path, "userspace", "userspace data plane"))
        .await
        .unwrap();
}
