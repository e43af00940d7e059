//! The gRPC API end to end: a server on a unix socket in a temp dir, a
//! tonic client over the socket.

// Test helpers panic on failure, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Calls, HUB, Recorder, SPOKE, TUN0, TempDir, calls};
use dmvpn_api::v1 as api;
use dmvpn_api::v1::northbound_client::NorthboundClient;
use northbound::grpc;
use northbound::{
    BoxFuture, Builder, Northbound, Notifier, Parts, Provider, Refusal, RpcHandler, StateFilter,
    StateProvider,
};
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

type Client = NorthboundClient<Channel>;

struct Server {
    client: Client,
    notifier: Notifier,
    stop: Option<oneshot::Sender<()>>,
    // Last: the directory outlives the server.
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug)]
struct FixedState(&'static str);

impl StateProvider for FixedState {
    fn name(&self) -> &str {
        "fixed"
    }
    fn state<'a>(&'a self, _filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { Ok(self.0.to_owned()) })
    }
}

/// Renders its whole state whatever it is asked, and records what it was
/// asked: the path, and whether that wants the counters and the cache.
#[derive(Debug)]
struct RecordingState {
    state: String,
    asked: Arc<std::sync::Mutex<Vec<(String, bool, bool)>>>,
}

impl StateProvider for RecordingState {
    fn name(&self) -> &str {
        "recording"
    }
    fn state<'a>(&'a self, filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>> {
        let nhrp = |node| filter.wants(Some("tun0"), &["dmvpn-nhrp:nhrp", node]);
        let asked = (
            filter.path().to_owned(),
            nhrp("counters"),
            nhrp("cache-entry"),
        );
        self.asked.lock().unwrap().push(asked);
        Box::pin(async move { Ok(self.state.clone()) })
    }
}

#[derive(Debug)]
struct Echo;

impl RpcHandler for Echo {
    fn execute(&self, input: String) -> BoxFuture<'_, Result<Option<String>, Refusal>> {
        Box::pin(async move {
            match input.contains("tun9") {
                true => Err(Refusal::new(None, "no NHRP on tun9")),
                false => Ok(None),
            }
        })
    }
}

const NHRP_STATE: &str = r#"{"ietf-interfaces:interfaces":{"interface":[{"name":"tun0",
  "dmvpn-nhrp:nhrp":{"nhs-state":[{"protocol-address":"10.0.0.1","status":"up"}]}}]}}"#;

async fn start(name: &str, providers: Vec<Box<dyn Provider>>) -> Server {
    start_with_state(name, providers, Arc::new(FixedState(NHRP_STATE))).await
}

async fn start_with_state(
    name: &str,
    providers: Vec<Box<dyn Provider>>,
    state: Arc<dyn StateProvider>,
) -> Server {
    let dir = TempDir::new(&format!("grpc-{name}"));
    let mut nb = Northbound::open(&dir.path().join("state")).unwrap();
    for provider in providers {
        nb.register(provider).unwrap();
    }
    let builder = Builder::new(nb)
        .state_provider(state)
        .rpc_handler("/dmvpn-nhrp:clear-cache", Arc::new(Echo));
    let notifier = builder.notifier();
    let (handle, _task) = builder.spawn();
    let socket = dir.path().join("grpc.sock");
    let endpoint = grpc::UnixEndpoint::bind(&socket).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(endpoint.serve(handle, async {
        let _ = stopped.await;
    }));
    let client = grpc::connect_unix(&socket).await.unwrap();
    Server {
        client,
        notifier,
        stop: Some(stop),
        dir,
    }
}

fn tree(encoding: api::Encoding, data: &str) -> Option<api::DataTree> {
    Some(api::DataTree {
        encoding: encoding as i32,
        data: data.to_owned(),
    })
}

fn commit_request(
    op: api::commit_request::Operation,
    json: &str,
    comment: &str,
) -> api::CommitRequest {
    api::CommitRequest {
        operation: op as i32,
        config: tree(api::Encoding::Json, json),
        edits: vec![],
        comment: comment.to_owned(),
        confirmed_timeout: 0,
    }
}

fn set(path: &str, value: &str) -> api::PathEdit {
    api::PathEdit {
        kind: api::path_edit::Kind::Set as i32,
        path: path.to_owned(),
        value: value.to_owned(),
    }
}

fn change_request(edits: Vec<api::PathEdit>, comment: &str, confirmed: u32) -> api::CommitRequest {
    api::CommitRequest {
        operation: api::commit_request::Operation::Change as i32,
        config: None,
        edits,
        comment: comment.to_owned(),
        confirmed_timeout: confirmed,
    }
}

async fn get(
    client: &mut Client,
    ty: api::get_request::DataType,
    enc: api::Encoding,
    path: &str,
) -> String {
    let response = client
        .get(api::GetRequest {
            r#type: ty as i32,
            encoding: enc as i32,
            with_defaults: false,
            path: path.to_owned(),
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    response.data.unwrap().data
}

async fn running(client: &mut Client) -> String {
    get(
        client,
        api::get_request::DataType::Config,
        api::Encoding::Json,
        "",
    )
    .await
}

fn canonical(json: &str) -> String {
    northbound::Config::parse(json, northbound::Format::Json)
        .unwrap()
        .print(northbound::Format::Json)
        .unwrap()
}

#[tokio::test]
async fn config_round_trip_json_and_xml() {
    let mut server = start("round-trip", vec![]).await;
    let client = &mut server.client;
    let id = client
        .commit(commit_request(
            api::commit_request::Operation::Replace,
            SPOKE,
            "spoke",
        ))
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    assert_eq!(id, 1);
    let json = running(client).await;
    assert_eq!(json, canonical(SPOKE));
    // Running as Get shows it is running.json byte for byte.
    let on_disk = std::fs::read_to_string(server.dir.path().join("state/running.json")).unwrap();
    assert_eq!(json, on_disk);

    // XML out, XML back in (replace): nothing changes.
    let xml = get(
        client,
        api::get_request::DataType::Config,
        api::Encoding::Xml,
        "",
    )
    .await;
    assert!(xml.contains("<holding-time>600</holding-time>"), "{xml}");
    let mut request = commit_request(api::commit_request::Operation::Replace, "", "xml");
    request.config = tree(api::Encoding::Xml, &xml);
    let id = client
        .commit(request)
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    assert_eq!(id, 0, "the same configuration in XML changes nothing");
    assert_eq!(running(client).await, json);

    // Validate accepts both encodings.
    client
        .validate(api::ValidateRequest {
            config: tree(api::Encoding::Xml, &xml),
        })
        .await
        .unwrap();

    // A subtree by XPath, and defaults on request.
    let path = format!("{TUN0}/dmvpn-nhrp:nhrp/holding-time");
    let sub = get(
        client,
        api::get_request::DataType::Config,
        api::Encoding::Json,
        &path,
    )
    .await;
    assert!(
        sub.contains("\"holding-time\": 600") && !sub.contains("gre-key"),
        "{sub}"
    );
    let all = client
        .get(api::GetRequest {
            r#type: api::get_request::DataType::Config as i32,
            encoding: api::Encoding::Json as i32,
            with_defaults: true,
            path: String::new(),
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .data
        .unwrap()
        .data;
    assert!(all.contains("\"max-registrations\": 10000"), "{all}");

    // Merge keeps what is there and adds.
    let merge = r#"{"ietf-interfaces:interfaces":{"interface":[{"name":"tun0","dmvpn-nhrp:nhrp":{"redirect":true}}]}}"#;
    client
        .commit(commit_request(
            api::commit_request::Operation::Merge,
            merge,
            "merge",
        ))
        .await
        .unwrap();
    let merged = running(client).await;
    assert!(merged.contains("\"redirect\": true") && merged.contains("\"holding-time\": 600"));
}

#[tokio::test]
async fn invalid_config_is_refused_naming_the_path_and_running_is_unchanged() {
    let mut server = start("invalid", vec![]).await;
    let client = &mut server.client;
    client
        .commit(commit_request(
            api::commit_request::Operation::Replace,
            SPOKE,
            "spoke",
        ))
        .await
        .unwrap();
    let before = running(client).await;

    let holding = format!("{TUN0}/dmvpn-nhrp:nhrp/holding-time");
    let cases: Vec<(api::CommitRequest, &str)> = vec![
        // Out of range (1..65535).
        (
            change_request(vec![set(&holding, "0")], "range", 0),
            "holding-time",
        ),
        // Unknown node.
        (
            change_request(
                vec![set(&format!("{TUN0}/dmvpn-nhrp:nhrp/no-such-leaf"), "1")],
                "unknown",
                0,
            ),
            "no-such-leaf",
        ),
        (
            commit_request(
                api::commit_request::Operation::Merge,
                r#"{"ietf-interfaces:interfaces":{"interface":[{"name":"tun0","dmvpn-nhrp:nhrp":{"bogus":1}}]}}"#,
                "unknown json",
            ),
            "bogus",
        ),
        // Malformed JSON.
        (
            commit_request(
                api::commit_request::Operation::Replace,
                r#"{"ietf-interfaces:interfaces": {"#,
                "malformed",
            ),
            "",
        ),
        // must: registration-interval below holding-time.
        (
            change_request(
                vec![set(
                    &format!("{TUN0}/dmvpn-nhrp:nhrp/registration-interval"),
                    "700",
                )],
                "must",
                0,
            ),
            "registration-interval",
        ),
        // A NUL inside a path must not reach libyang.
        (
            change_request(vec![set("/ietf-interfaces:interfaces\0", "1")], "nul", 0),
            "NUL",
        ),
    ];
    for (request, names) in cases {
        let comment = request.comment.clone();
        let status = client.commit(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{comment}: {status:?}"
        );
        assert!(
            status.message().contains(names),
            "{comment}: {}",
            status.message()
        );
        assert_eq!(running(client).await, before, "{comment}");
    }
    // The range error names the full path and the reason, as Error prints.
    let status = client
        .commit(change_request(vec![set(&holding, "0")], "range", 0))
        .await
        .unwrap_err();
    assert!(
        status.message().contains("/dmvpn-nhrp:nhrp/holding-time")
            && status.message().contains("0"),
        "{}",
        status.message()
    );
    let status = client
        .validate(api::ValidateRequest {
            config: tree(api::Encoding::Json, r#"{"ietf-interfaces:interfaces": ["#),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let log = client
        .list_transactions(api::ListTransactionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(log.transactions.len(), 1, "no refused commit is logged");
}

#[tokio::test]
async fn a_refusing_provider_aborts_the_whole_commit() {
    let log: Calls = Calls::default();
    let accepting = Recorder::new("tunnel", false, &log);
    let applied = accepting.applied.clone();
    let refusing = Recorder::new("nhrp", true, &log);
    let mut server = start("refusal", vec![Box::new(accepting), Box::new(refusing)]).await;
    let client = &mut server.client;
    let before = running(client).await;
    let status = client
        .commit(commit_request(
            api::commit_request::Operation::Replace,
            HUB,
            "hub",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("nhrp refused the configuration"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("/ietf-interfaces:interfaces"),
        "{}",
        status.message()
    );
    assert_eq!(
        calls(&log),
        ["tunnel prepare", "nhrp prepare", "tunnel abort"]
    );
    assert!(applied.lock().unwrap().is_empty());
    assert_eq!(running(client).await, before);
}

#[tokio::test]
async fn confirmed_commit_rolls_back_unless_confirmed() {
    let mut server = start("confirm", vec![]).await;
    let client = &mut server.client;
    client
        .commit(commit_request(
            api::commit_request::Operation::Replace,
            SPOKE,
            "spoke",
        ))
        .await
        .unwrap();
    let before = running(client).await;
    let holding = format!("{TUN0}/dmvpn-nhrp:nhrp/holding-time");

    // Confirmed in time: stays.
    client
        .commit(change_request(vec![set(&holding, "900")], "900", 1))
        .await
        .unwrap();
    client.confirm(api::ConfirmRequest {}).await.unwrap();
    let confirmed = running(client).await;
    assert!(confirmed.contains("\"holding-time\": 900"));
    let status = client.confirm(api::ConfirmRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // Not confirmed: rolls back by itself within ~1 s.
    client
        .commit(change_request(vec![set(&holding, "1200")], "1200", 1))
        .await
        .unwrap();
    assert!(running(client).await.contains("\"holding-time\": 1200"));
    let start = Instant::now();
    while running(client).await != confirmed {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no rollback after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "rolled back too early"
    );
    let log = client
        .list_transactions(api::ListTransactionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .transactions;
    assert!(
        log.last().unwrap().comment.contains("not confirmed"),
        "{log:?}"
    );
    assert_ne!(before, confirmed);
}

#[tokio::test]
async fn rollback_by_id_and_the_transaction_log() {
    let mut server = start("rollback", vec![]).await;
    let client = &mut server.client;
    client
        .commit(commit_request(
            api::commit_request::Operation::Replace,
            SPOKE,
            "spoke",
        ))
        .await
        .unwrap();
    let first = running(client).await;
    let holding = format!("{TUN0}/dmvpn-nhrp:nhrp/holding-time");
    let id = client
        .commit(change_request(vec![set(&holding, "3000")], "longer", 0))
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    assert_eq!(id, 2);
    client
        .commit(change_request(
            vec![api::PathEdit {
                kind: api::path_edit::Kind::Delete as i32,
                path: format!("{TUN0}/dmvpn-nhrp:nhrp/static-map[protocol-address='10.0.0.1']"),
                value: String::new(),
            }],
            "no static map",
            0,
        ))
        .await
        .unwrap();

    let id = client
        .rollback(api::RollbackRequest {
            transaction_id: 1,
            comment: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    assert_eq!(id, 4);
    assert_eq!(running(client).await, first, "restored byte for byte");
    let status = client
        .rollback(api::RollbackRequest {
            transaction_id: 99,
            comment: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let log = client
        .list_transactions(api::ListTransactionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .transactions;
    let comments: Vec<_> = log.iter().map(|t| (t.id, t.comment.as_str())).collect();
    assert_eq!(
        comments,
        [
            (1, "spoke"),
            (2, "longer"),
            (3, "no static map"),
            (4, "rollback to 1")
        ]
    );

    let tx = client
        .get_transaction(api::GetTransactionRequest {
            transaction_id: 2,
            encoding: api::Encoding::Json as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tx.config.unwrap().data.contains("\"holding-time\": 3000"));
    assert_eq!(tx.changes, [format!("~ {holding} = 3000")]);
    let tx = client
        .get_transaction(api::GetTransactionRequest {
            transaction_id: 3,
            encoding: api::Encoding::Xml as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        tx.config
            .unwrap()
            .data
            .contains("<holding-time>3000</holding-time>")
    );
    assert!(
        tx.changes.iter().all(|c| c.starts_with("- ")),
        "{:?}",
        tx.changes
    );
    let status = client
        .get_transaction(api::GetTransactionRequest {
            transaction_id: 42,
            encoding: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn capabilities_schema_state_and_rpcs() {
    let mut server = start("capabilities", vec![]).await;
    let client = &mut server.client;
    let caps = client
        .capabilities(api::CapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let nhrp = caps
        .supported_modules
        .iter()
        .find(|m| m.name == "dmvpn-nhrp")
        .unwrap();
    assert_eq!(nhrp.revision, dmvpn_yang::MODULES[3].revision);
    assert_eq!(caps.supported_encodings.len(), 2);
    let schema = client
        .get_schema(api::GetSchemaRequest {
            module_name: "dmvpn-nhrp".to_owned(),
            module_revision: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(schema.data.starts_with("module dmvpn-nhrp"));
    let status = client
        .get_schema(api::GetSchemaRequest {
            module_name: "no-such-module".to_owned(),
            module_revision: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // State from the provider; ALL merges it with running.
    client
        .commit(commit_request(
            api::commit_request::Operation::Replace,
            SPOKE,
            "spoke",
        ))
        .await
        .unwrap();
    let state = get(
        client,
        api::get_request::DataType::State,
        api::Encoding::Json,
        "",
    )
    .await;
    assert!(
        state.contains("\"status\": \"up\"") && !state.contains("holding-time"),
        "{state}"
    );
    let all = get(
        client,
        api::get_request::DataType::All,
        api::Encoding::Xml,
        "",
    )
    .await;
    assert!(
        all.contains("<status>up</status>") && all.contains("<holding-time>600"),
        "{all}"
    );
    let path = format!("{TUN0}/dmvpn-nhrp:nhrp/nhs-state");
    let sub = get(
        client,
        api::get_request::DataType::All,
        api::Encoding::Json,
        &path,
    )
    .await;
    assert!(
        sub.contains("nhs-state") && !sub.contains("holding-time"),
        "{sub}"
    );

    // RPCs: a handler, its refusal, an unknown one, invalid input.
    let execute = |json: &str| api::ExecuteRequest {
        data: tree(api::Encoding::Json, json),
    };
    client
        .execute(execute(
            r#"{"dmvpn-nhrp:clear-cache":{"interface":"tun0"}}"#,
        ))
        .await
        .unwrap();
    let status = client
        .execute(execute(
            r#"{"dmvpn-nhrp:clear-cache":{"interface":"tun9"}}"#,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = client
        .execute(execute(
            r#"{"dmvpn-nhrp:purge":{"interface":"tun0","prefix":"10.0.0.2/32"}}"#,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .execute(execute(
            r#"{"dmvpn-nhrp:purge":{"interface":"tun0","prefix":"not a prefix"}}"#,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn subscribe_receives_published_notifications_by_path() {
    let mut server = start("subscribe", vec![]).await;
    let mut stream = server
        .client
        .subscribe(api::SubscribeRequest {
            path: "/dmvpn-nhrp:nhs-".to_owned(),
            encoding: api::Encoding::Json as i32,
        })
        .await
        .unwrap()
        .into_inner();
    // The subscription is live once the response headers arrived.
    let peer = r#"{"dmvpn-nhrp:peer-down":{"interface":"tun0","protocol-address":"10.0.0.3"}}"#;
    let nhs = r#"{"dmvpn-nhrp:nhs-up":{"interface":"tun0","protocol-address":"10.0.0.1"}}"#;
    server.notifier.publish(peer).unwrap();
    server.notifier.publish(nhs).unwrap();
    assert!(
        server
            .notifier
            .publish(r#"{"dmvpn-nhrp:no-such":{}}"#)
            .is_err()
    );
    let got = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let data = got.data.unwrap().data;
    assert!(
        data.contains("nhs-up") && data.contains("10.0.0.1"),
        "filtered: {data}"
    );
    assert!(got.timestamp > 0);
}

/// A pre-shared key is write-only: committed, used, rolled back with the
/// rest, but never returned by Get (config or all, any encoding, any path)
/// nor by GetTransaction.
#[tokio::test]
async fn secrets_are_never_returned() {
    const PROTECTED: &str = r#"{
      "dmvpn-ipsec:ipsec": {"profile": [{"name": "dmvpn", "ike": {
        "pre-shared-key": [{"name": "all", "any": [null], "secret": "very-secret-psk"}]}}]}
    }"#;
    let mut server = start("secrets", vec![]).await;
    let client = &mut server.client;
    let id = client
        .commit(commit_request(
            api::commit_request::Operation::Replace,
            PROTECTED,
            "psk",
        ))
        .await
        .unwrap()
        .into_inner()
        .transaction_id;
    let key = "/dmvpn-ipsec:ipsec/profile[name='dmvpn']/ike/pre-shared-key[name='all']";
    for ty in [
        api::get_request::DataType::Config,
        api::get_request::DataType::All,
    ] {
        for enc in [api::Encoding::Json, api::Encoding::Xml] {
            for path in ["", key, &format!("{key}/secret")] {
                let text = get(client, ty, enc, path).await;
                assert!(
                    !text.contains("very-secret-psk"),
                    "{ty:?} {enc:?} {path}: {text}"
                );
            }
        }
    }
    // The entry itself is visible, so an operator sees a key is set.
    let text = get(
        client,
        api::get_request::DataType::Config,
        api::Encoding::Json,
        key,
    )
    .await;
    assert!(text.contains("\"any\""), "{text}");
    for enc in [api::Encoding::Json, api::Encoding::Xml] {
        let record = client
            .get_transaction(api::GetTransactionRequest {
                transaction_id: id,
                encoding: enc as i32,
            })
            .await
            .unwrap()
            .into_inner();
        let config = record.config.unwrap().data;
        assert!(!config.contains("very-secret-psk"), "{config}");
        assert!(config.contains("pre-shared-key"), "{config}");
    }
}

/// Two interfaces, each with NHRP cache and counters.
const TWO_INTERFACES: &str = r#"{"ietf-interfaces:interfaces":{"interface":[
  {"name":"tun0","dmvpn-nhrp:nhrp":{
    "cache-entry":[{"prefix":"10.0.0.2/32","type":"dynamic","next-hop":"10.0.0.2"}],
    "counters":{"message":[{"type":"registration-request","sent":"0","received":"5"}]}}},
  {"name":"tun1","dmvpn-nhrp:nhrp":{
    "cache-entry":[{"prefix":"10.1.0.2/32","type":"dynamic","next-hop":"10.1.0.2"}],
    "counters":{"message":[{"type":"registration-request","sent":"0","received":"7"}]}}}
]}}"#;

#[tokio::test]
async fn a_get_below_one_interface_is_that_subtree_and_the_provider_is_given_the_path() {
    let asked = Arc::new(std::sync::Mutex::new(vec![]));
    let provider = RecordingState {
        state: TWO_INTERFACES.to_owned(),
        asked: asked.clone(),
    };
    let mut server = start_with_state("filter", vec![], Arc::new(provider)).await;
    let path = format!("{TUN0}/dmvpn-nhrp:nhrp/counters");
    for kind in [
        api::get_request::DataType::State,
        api::get_request::DataType::All,
    ] {
        let got = get(&mut server.client, kind, api::Encoding::Json, &path).await;
        let got: serde_json::Value = serde_json::from_str(&got).unwrap();
        let expected = serde_json::json!({"ietf-interfaces:interfaces": {"interface": [
            {"name": "tun0", "dmvpn-nhrp:nhrp": {"counters": {"message": [
                {"type": "registration-request", "sent": "0", "received": "5"}]}}}
        ]}});
        assert_eq!(got, expected, "{kind:?}");
    }
    let asked = asked.lock().unwrap().clone();
    // The counters of tun0 wanted, its cache not.
    assert_eq!(asked, [(path.clone(), true, false), (path, true, false)]);
}

/// A hub's worth of NHRP cache: `entries` entries on tun0.
#[derive(Debug)]
struct LargeState {
    entries: u32,
}

impl StateProvider for LargeState {
    fn name(&self) -> &str {
        "large"
    }
    fn state<'a>(&'a self, _filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let entries: Vec<_> = (0..self.entries)
                .map(|i| {
                    let [_, a, b, c] = i.to_be_bytes();
                    serde_json::json!({
                        "prefix": format!("10.{a}.{b}.{c}/32"),
                        "type": "dynamic",
                        "next-hop": format!("10.{a}.{b}.{c}"),
                        "nbma-address": format!("198.18.{b}.{c}"),
                        "expires-in": 7200,
                    })
                })
                .collect();
            let state = serde_json::json!({"ietf-interfaces:interfaces": {"interface": [
                {"name": "tun0", "dmvpn-nhrp:nhrp": {"cache-entry": entries,
                  "nhs-state": [{"protocol-address": "10.0.0.1", "status": "up"}]}}
            ]}});
            Ok(state.to_string())
        })
    }

    /// The NHS state first, then the cache `page` entries a part.
    fn state_parts<'a>(
        &'a self,
        filter: &'a StateFilter,
        page: usize,
    ) -> BoxFuture<'a, Result<Parts<'a>, String>> {
        Box::pin(async move {
            let mut tree: serde_json::Value =
                serde_json::from_str(&self.state(filter).await?).map_err(|e| e.to_string())?;
            let nhrp = &mut tree["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"];
            let entries = nhrp.as_object_mut().unwrap().remove("cache-entry").unwrap();
            let mut parts = vec![Ok(tree.to_string())];
            for chunk in entries.as_array().unwrap().chunks(page) {
                let part = serde_json::json!({"ietf-interfaces:interfaces": {"interface": [
                    {"name": "tun0", "dmvpn-nhrp:nhrp": {"cache-entry": chunk}}
                ]}});
                parts.push(Ok(part.to_string()));
            }
            Ok(Box::pin(tokio_stream::iter(parts)) as Parts<'a>)
        })
    }
}

/// A GetStream's parts: the messages' data joined while `continued`.
async fn get_parts(client: &mut Client, request: api::GetRequest) -> Vec<String> {
    let mut stream = client.get_stream(request).await.unwrap().into_inner();
    let (mut parts, mut part) = (vec![], String::new());
    while let Some(message) = stream.message().await.unwrap() {
        let data = message.data.unwrap();
        assert!(data.data.len() <= dmvpn_api::GET_STREAM_PIECE);
        part.push_str(&data.data);
        if !message.continued {
            parts.push(std::mem::take(&mut part));
        }
    }
    assert!(part.is_empty(), "the last message continues nothing");
    parts
}

/// Merges an RFC 7951 tree into another: objects member by member, list
/// entries by their key (`name` for interfaces; the entries of the other
/// lists here never repeat across parts, they are appended).
fn merge(into: &mut serde_json::Value, part: serde_json::Value) {
    use serde_json::Value;
    match (into, part) {
        (Value::Object(into), Value::Object(part)) => {
            for (name, value) in part {
                match into.get_mut(&name) {
                    Some(known) => merge(known, value),
                    None => {
                        into.insert(name, value);
                    }
                }
            }
        }
        (Value::Array(into), Value::Array(part)) => {
            for entry in part {
                let same = |known: &&mut Value| {
                    entry.get("name").is_some() && known.get("name") == entry.get("name")
                };
                match into.iter_mut().find(same) {
                    Some(known) => merge(known, entry),
                    None => into.push(entry),
                }
            }
        }
        (into, part) => *into = part,
    }
}

#[tokio::test]
async fn state_in_parts_merges_into_what_get_returns() {
    let provider = LargeState { entries: 2_500 };
    let mut server = start_with_state("parts", vec![], Arc::new(provider)).await;
    let interface = "/ietf-interfaces:interfaces/interface";
    for (path, parts_expected) in [
        // The YANG library (the northbound's own provider) in a part, the
        // NHS state in another, the cache in three.
        (String::new(), 5),
        (
            format!(
                "{interface}/dmvpn-nhrp:nhrp/cache-entry | {interface}[name='tun0']/dmvpn-nhrp:nhrp/nhs-state"
            ),
            4,
        ),
        // Selected within each part: the one entry is in the second.
        (
            format!("{interface}/dmvpn-nhrp:nhrp/cache-entry[prefix='10.0.4.0/32']"),
            1,
        ),
        // A position needs the whole list: one part.
        (format!("{interface}/dmvpn-nhrp:nhrp/cache-entry[1]"), 1),
    ] {
        let request = api::GetRequest {
            r#type: api::get_request::DataType::State as i32,
            encoding: api::Encoding::Json as i32,
            with_defaults: false,
            path: path.clone(),
            page_size: 1000,
        };
        let parts = get_parts(&mut server.client, request.clone()).await;
        assert_eq!(parts.len(), parts_expected, "{path}");
        let mut merged = serde_json::json!({});
        for part in &parts {
            merge(&mut merged, serde_json::from_str(part).unwrap());
        }
        let whole = server.client.get(request).await.unwrap().into_inner();
        let whole: serde_json::Value = serde_json::from_str(&whole.data.unwrap().data).unwrap();
        assert_eq!(merged, whole, "{path}");
        let entries =
            &whole["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["cache-entry"];
        let expected = match parts_expected {
            1 => 1,
            _ => 2_500,
        };
        assert_eq!(entries.as_array().unwrap().len(), expected, "{path}");
    }
    // XML: each part a document of its own; a path that selects nothing
    // is one empty part.
    let request = |encoding: api::Encoding, path: &str| api::GetRequest {
        r#type: api::get_request::DataType::State as i32,
        encoding: encoding as i32,
        with_defaults: false,
        path: path.to_owned(),
        page_size: 1000,
    };
    let xml = get_parts(
        &mut server.client,
        request(api::Encoding::Xml, "/ietf-interfaces:interfaces"),
    )
    .await;
    assert_eq!(xml.len(), 4);
    let entries: usize = (xml.iter())
        .map(|part| part.matches("<cache-entry>").count())
        .sum();
    assert_eq!(entries, 2_500);
    let nothing = format!("{interface}[name='tun9']");
    let empty = get_parts(&mut server.client, request(api::Encoding::Json, &nothing)).await;
    assert_eq!(empty, ["{}\n"]);
}

#[tokio::test]
async fn state_larger_than_4_mb_is_retrieved_whole() {
    let provider = LargeState { entries: 30_000 };
    let mut server = start_with_state("large", vec![], Arc::new(provider)).await;
    let request = api::GetRequest {
        r#type: api::get_request::DataType::State as i32,
        encoding: api::Encoding::Json as i32,
        with_defaults: false,
        path: "/ietf-interfaces:interfaces".to_owned(),
        page_size: 0,
    };
    // In pieces, as dmvpn-cli reads state.
    let mut stream = server
        .client
        .get_stream(request.clone())
        .await
        .unwrap()
        .into_inner();
    let mut pieces = vec![];
    while let Some(piece) = stream.message().await.unwrap() {
        assert_eq!(piece.data.as_ref().unwrap().encoding(), api::Encoding::Json);
        pieces.push(piece.data.unwrap().data);
    }
    let streamed = pieces.concat();
    assert!(streamed.len() > 4 * 1024 * 1024, "{}", streamed.len());
    assert!(
        pieces
            .iter()
            .all(|p| p.len() <= dmvpn_api::GET_STREAM_PIECE)
    );
    assert_eq!(
        pieces.len(),
        streamed.len().div_ceil(dmvpn_api::GET_STREAM_PIECE)
    );
    let tree: serde_json::Value = serde_json::from_str(&streamed).unwrap();
    let entries =
        &tree["ietf-interfaces:interfaces"]["interface"][0]["dmvpn-nhrp:nhrp"]["cache-entry"];
    assert_eq!(entries.as_array().unwrap().len(), 30_000);
    // In one message, the client and the server both allowing it.
    let whole = server.client.get(request).await.unwrap().into_inner();
    assert_eq!(whole.data.unwrap().data, streamed);
}
