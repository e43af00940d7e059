//! gNMI end to end: the gNMI service on a unix socket in a temp dir, on a
//! daemon-less northbound with a state provider the tests change, and a
//! tonic gNMI client generated from our gnmi.proto.

// Test helpers panic on failure, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{SPOKE, TempDir};
use dmvpn_api::gnmi;
use dmvpn_api::gnmi::g_nmi_client::GNmiClient;
use dmvpn_api::gnmi::subscribe_response::Response as Sent;
use hyper_util::rt::TokioIo;
use northbound::auth::{Access, Identity};
use northbound::{BoxFuture, Builder, Northbound, Notifier, StateFilter, StateProvider};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Uri};

type Client = GNmiClient<Channel>;

/// State the tests change while subscriptions run; counts its reads.
#[derive(Clone, Debug)]
struct LiveState(Arc<Mutex<String>>, Arc<AtomicUsize>);

impl LiveState {
    fn new(json: String) -> Self {
        LiveState(Arc::new(Mutex::new(json)), Arc::default())
    }

    fn set(&self, json: &str) {
        *self.0.lock().unwrap() = json.to_owned();
    }

    fn reads(&self) -> usize {
        self.1.load(Ordering::Relaxed)
    }
}

impl StateProvider for LiveState {
    fn name(&self) -> &str {
        "live"
    }
    fn state<'a>(&'a self, _filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>> {
        let state = self.0.lock().unwrap().clone();
        self.1.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move { Ok(state) })
    }
}

/// Two NHS, two cache entries, a counter.
fn nhrp_state(nhs2: &str, entries: &[(&str, u32)], sent: u64) -> String {
    let entries: Vec<_> = entries
        .iter()
        .map(|(prefix, expires)| {
            serde_json::json!({"prefix": prefix, "type": "dynamic", "nbma-address": "192.0.2.9",
                               "expires-in": expires})
        })
        .collect();
    serde_json::json!({"ietf-interfaces:interfaces": {"interface": [{"name": "tun0",
    "dmvpn-nhrp:nhrp": {
        "nhs-state": [
            {"protocol-address": "10.0.0.1", "status": "up"},
            {"protocol-address": "10.0.0.254", "status": nhs2}
        ],
        "cache-entry": entries,
        "counters": {"message": [{"type": "registration-request", "sent": sent.to_string()}]}
    }}]}})
    .to_string()
}

/// `count` cache entries: a large state.
fn many_entries(count: u32) -> String {
    let prefixes: Vec<String> = (0..count)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let entries: Vec<(&str, u32)> = prefixes.iter().map(|p| (p.as_str(), 600)).collect();
    nhrp_state("up", &entries, 1)
}

fn default_state() -> String {
    nhrp_state(
        "connecting",
        &[("10.0.0.3/32", 600), ("10.0.0.4/32", 500)],
        1,
    )
}

struct Server {
    client: Client,
    state: LiveState,
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

/// A server whose requests carry `identity`, as the TCP listener's auth
/// layer puts it; none: the unix socket's local administrator.
async fn start(name: &str, identity: Option<Identity>) -> Server {
    let dir = TempDir::new(&format!("gnmi-{name}"));
    let nb = Northbound::open(&dir.path().join("state")).unwrap();
    let state = LiveState::new(default_state());
    let builder = Builder::new(nb).state_provider(Arc::new(state.clone()));
    let notifier = builder.notifier();
    let (handle, _task) = builder.spawn();
    let service = InterceptedService::new(
        northbound::gnmi::Service::new(handle).into_server(),
        move |mut request: tonic::Request<()>| {
            if let Some(identity) = &identity {
                request.extensions_mut().insert(identity.clone());
            }
            Ok(request)
        },
    );
    let socket = dir.path().join("gnmi.sock");
    std::fs::create_dir_all(dir.path()).unwrap();
    let listener = UnixListener::bind(&socket).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .unwrap();
    Server {
        client: GNmiClient::new(channel),
        state,
        notifier,
        stop: Some(stop),
        dir,
    }
}

/// `a/b[k=v]/c` as a gNMI path (keys may hold `/`, as prefixes do).
fn path(text: &str) -> gnmi::Path {
    let mut elem = vec![];
    let mut depth = 0;
    let mut start = 0;
    let text = text.trim_start_matches('/');
    let mut parts = vec![];
    for (at, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '/' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let (name, keys) = part.split_once('[').unwrap_or((part, ""));
        let key = keys
            .trim_end_matches(']')
            .split("][")
            .filter(|k| !k.is_empty())
            .map(|k| {
                let (k, v) = k.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        elem.push(gnmi::PathElem {
            name: name.to_owned(),
            key,
        });
    }
    gnmi::Path {
        elem,
        ..Default::default()
    }
}

fn show(path: &gnmi::Path) -> String {
    let mut text = String::new();
    for elem in &path.elem {
        text.push('/');
        text.push_str(&elem.name);
        let mut keys: Vec<_> = elem.key.iter().collect();
        keys.sort();
        for (k, v) in keys {
            text.push_str(&format!("[{k}={v}]"));
        }
    }
    text
}

fn json_ietf(value: serde_json::Value) -> Option<gnmi::TypedValue> {
    Some(gnmi::TypedValue {
        value: Some(gnmi::typed_value::Value::JsonIetfVal(
            value.to_string().into_bytes(),
        )),
    })
}

fn value(update: &gnmi::Update) -> serde_json::Value {
    match update.val.as_ref().and_then(|v| v.value.as_ref()) {
        Some(
            gnmi::typed_value::Value::JsonIetfVal(bytes) | gnmi::typed_value::Value::JsonVal(bytes),
        ) => serde_json::from_slice(bytes).unwrap(),
        other => panic!("not a JSON value: {other:?}"),
    }
}

/// Leaf path (shown) to value, of a notification's updates.
fn leaves(notification: &gnmi::Notification) -> Vec<(String, serde_json::Value)> {
    notification
        .update
        .iter()
        .map(|u| (show(u.path.as_ref().unwrap()), value(u)))
        .collect()
}

const TUN0: &str = "interfaces/interface[name=tun0]";

async fn get(
    client: &mut Client,
    ty: gnmi::get_request::DataType,
    encoding: gnmi::Encoding,
    paths: &[&str],
) -> Result<Vec<gnmi::Notification>, tonic::Status> {
    let response = client
        .get(gnmi::GetRequest {
            path: paths.iter().map(|p| path(p)).collect(),
            r#type: ty as i32,
            encoding: encoding as i32,
            ..Default::default()
        })
        .await?;
    Ok(response.into_inner().notification)
}

/// The one value a Get of `path` returns.
async fn get_one(
    client: &mut Client,
    ty: gnmi::get_request::DataType,
    path: &str,
) -> Result<serde_json::Value, tonic::Status> {
    let notifications = get(client, ty, gnmi::Encoding::JsonIetf, &[path]).await?;
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].update.len(), 1, "{notifications:?}");
    Ok(value(&notifications[0].update[0]))
}

fn update(path_text: &str, json: serde_json::Value) -> gnmi::Update {
    gnmi::Update {
        path: Some(path(path_text)),
        val: json_ietf(json),
        ..Default::default()
    }
}

/// Configures SPOKE (tun0 with holding time 600 and a static map) with
/// an update of `interfaces`.
async fn configure_spoke(client: &mut Client) {
    let spoke: serde_json::Value = serde_json::from_str(SPOKE).unwrap();
    let interfaces = spoke["ietf-interfaces:interfaces"].clone();
    client
        .set(gnmi::SetRequest {
            update: vec![update("interfaces", interfaces)],
            ..Default::default()
        })
        .await
        .unwrap();
}

fn running_on_disk(server: &Server) -> String {
    std::fs::read_to_string(server.dir.path().join("state/running.json")).unwrap()
}

use gnmi::get_request::DataType;

#[tokio::test]
async fn capabilities_list_our_models_and_encodings() {
    let mut server = start("capabilities", None).await;
    let caps = server
        .client
        .capabilities(gnmi::CapabilityRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(caps.g_nmi_version, "0.10.0");
    let nhrp = caps
        .supported_models
        .iter()
        .find(|m| m.name == "dmvpn-nhrp")
        .unwrap();
    assert_eq!(nhrp.version, "2026-11-25");
    assert!(!nhrp.organization.is_empty());
    assert!(
        caps.supported_models
            .iter()
            .any(|m| m.name == "ietf-interfaces")
    );
    assert_eq!(
        caps.supported_encodings,
        [gnmi::Encoding::Json as i32, gnmi::Encoding::JsonIetf as i32]
    );
}

#[tokio::test]
async fn set_update_then_delete_shows_in_running() {
    let mut server = start("set", None).await;
    let client = &mut server.client;
    configure_spoke(client).await;
    let holding = format!("{TUN0}/nhrp/holding-time");
    assert_eq!(
        get_one(client, DataType::Config, &holding).await.unwrap(),
        600
    );

    // A leaf, with a scalar value and a module-qualified path.
    client
        .set(gnmi::SetRequest {
            prefix: Some(path("ietf-interfaces:interfaces/interface[name=tun0]")),
            update: vec![gnmi::Update {
                path: Some(path("dmvpn-nhrp:nhrp/holding-time")),
                val: Some(gnmi::TypedValue {
                    value: Some(gnmi::typed_value::Value::UintVal(300)),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        get_one(client, DataType::Config, &holding).await.unwrap(),
        300
    );
    assert!(running_on_disk(&server).contains("\"holding-time\": 300"));

    // A container's value is its content; JSON leaves the modules out.
    let client = &mut server.client;
    let nhrp = get_one(client, DataType::Config, &format!("{TUN0}/nhrp"))
        .await
        .unwrap();
    assert_eq!(nhrp["holding-time"], 300);
    assert_eq!(nhrp["static-map"][0]["nbma-address"], "192.0.2.1");
    let plain = get(client, DataType::Config, gnmi::Encoding::Json, &[TUN0])
        .await
        .unwrap();
    let entry = value(&plain[0].update[0]);
    assert_eq!(entry["nhrp"]["network-id"], 1, "{entry}");
    let ietf = get_one(client, DataType::Config, TUN0).await.unwrap();
    assert_eq!(ietf["dmvpn-nhrp:nhrp"]["network-id"], 1, "{ietf}");
    assert_eq!(ietf["name"], "tun0");

    // Delete an entry, and a path that does not exist (accepted, 3.4.6).
    let static_map = format!("{TUN0}/nhrp/static-map[protocol-address=10.0.0.1]");
    let response = client
        .set(gnmi::SetRequest {
            delete: vec![
                path(&static_map),
                path(&format!("{TUN0}/nhrp/nhs[protocol-address=10.9.9.9]")),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.response.len(), 2);
    // A leaf-list takes an array (merged), its delete removes every value.
    let addresses = format!("{TUN0}/nhrp/multicast/nbma-address");
    client
        .set(gnmi::SetRequest {
            update: vec![update(&addresses, serde_json::json!(["192.0.2.7"]))],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        get_one(client, DataType::Config, &addresses).await.unwrap(),
        serde_json::json!(["192.0.2.1", "192.0.2.7"])
    );
    client
        .set(gnmi::SetRequest {
            delete: vec![path(&addresses)],
            ..Default::default()
        })
        .await
        .unwrap();
    let status = get_one(client, DataType::Config, &addresses)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        response.response[0].op,
        gnmi::update_result::Operation::Delete as i32
    );
    assert!(response.timestamp > 0);
    let status = get_one(client, DataType::Config, &static_map)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let running = running_on_disk(&server);
    assert!(
        !running.contains("static-map") && running.contains("\"holding-time\": 300"),
        "{running}"
    );
}

#[tokio::test]
async fn replace_sets_the_subtree_to_exactly_the_value() {
    let mut server = start("replace", None).await;
    let client = &mut server.client;
    configure_spoke(client).await;
    let multicast = format!("{TUN0}/nhrp/multicast");
    client
        .set(gnmi::SetRequest {
            replace: vec![update(&multicast, serde_json::json!({"dynamic": true}))],
            ..Default::default()
        })
        .await
        .unwrap();
    let now = get_one(client, DataType::Config, &multicast).await.unwrap();
    assert_eq!(now["dynamic"], true);
    assert!(now.get("nbma-address").is_none(), "{now}");
}

#[tokio::test]
async fn a_set_with_one_bad_operation_changes_nothing() {
    let mut server = start("atomic", None).await;
    let client = &mut server.client;
    configure_spoke(client).await;
    let before = running_on_disk(&server);
    let client = &mut server.client;
    let holding = format!("{TUN0}/nhrp/holding-time");
    for bad in [
        // Out of range for its type.
        update(
            &format!("{TUN0}/nhrp/registration-interval"),
            serde_json::json!(70000),
        ),
        // No such node.
        update(&format!("{TUN0}/nhrp/no-such-leaf"), serde_json::json!(1)),
        // State cannot be written.
        update(
            &format!("{TUN0}/nhrp/cache-entry[prefix=10.0.0.3/32]"),
            serde_json::json!({}),
        ),
    ] {
        let status = client
            .set(gnmi::SetRequest {
                delete: vec![path(&format!("{TUN0}/nhrp/static-map"))],
                update: vec![update(&holding, serde_json::json!(900)), bad.clone()],
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}: {status:?}");
        assert!(!status.message().is_empty());
    }
    assert_eq!(
        get_one(client, DataType::Config, &holding).await.unwrap(),
        600
    );
    assert_eq!(running_on_disk(&server), before);
}

#[tokio::test]
async fn a_read_only_user_reads_and_subscribes_but_cannot_set() {
    let reader = Identity {
        user: "noc".to_owned(),
        access: Access::ReadOnly,
    };
    let mut server = start("readonly", Some(reader)).await;
    let client = &mut server.client;
    client
        .capabilities(gnmi::CapabilityRequest {})
        .await
        .unwrap();
    let status = client
        .set(gnmi::SetRequest {
            update: vec![update(
                &format!("{TUN0}/nhrp/holding-time"),
                serde_json::json!(900),
            )],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("noc"), "{}", status.message());
    let status = get_one(
        client,
        DataType::State,
        &format!("{TUN0}/nhrp/nhs-state[protocol-address=10.0.0.1]/status"),
    )
    .await
    .unwrap();
    assert_eq!(status, "up");
    let committed = std::fs::read_to_string(server.dir.path().join("state/running.json"));
    assert!(committed.is_err(), "nothing was committed: {committed:?}");
    let mut sub = subscribe(
        &mut server.client,
        list(
            ListMode::Once,
            vec![subscription(NHS_STATUS, Mode::OnChange, 0)],
        ),
    )
    .await;
    assert_eq!(sub.update().await.update.len(), 2);
    sub.sync().await;
}

#[tokio::test]
async fn get_state_by_keys_and_across_a_list() {
    let mut server = start("state", None).await;
    let client = &mut server.client;
    // One entry by its key: one update, the entry's content.
    let mut by_origin =
        path("interfaces/interface[name=tun0]/nhrp/nhs-state[protocol-address=10.0.0.1]");
    by_origin.origin = "ietf-interfaces".to_owned();
    let notifications = client
        .get(gnmi::GetRequest {
            path: vec![by_origin],
            r#type: DataType::State as i32,
            encoding: gnmi::Encoding::JsonIetf as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notification;
    let update = &notifications[0].update[0];
    assert_eq!(
        show(update.path.as_ref().unwrap()),
        "/ietf-interfaces:interfaces/interface[name=tun0]/dmvpn-nhrp:nhrp/nhs-state[protocol-address=10.0.0.1]"
    );
    assert_eq!(
        value(update),
        serde_json::json!({"protocol-address": "10.0.0.1", "status": "up"})
    );
    assert!(
        notifications[0].timestamp > 1_700_000_000_000_000_000,
        "nanoseconds"
    );

    // A leaf of every entry: one update each.
    let notifications = get(
        client,
        DataType::Operational,
        gnmi::Encoding::JsonIetf,
        &[&format!("{TUN0}/nhrp/nhs-state/status")],
    )
    .await
    .unwrap();
    assert_eq!(
        leaves(&notifications[0]),
        [
            (
                "/ietf-interfaces:interfaces/interface[name=tun0]/dmvpn-nhrp:nhrp/nhs-state[protocol-address=10.0.0.1]/status".to_owned(),
                serde_json::json!("up")
            ),
            (
                "/ietf-interfaces:interfaces/interface[name=tun0]/dmvpn-nhrp:nhrp/nhs-state[protocol-address=10.0.0.254]/status".to_owned(),
                serde_json::json!("connecting")
            ),
        ]
    );

    // A 64-bit counter is a string (RFC 7951, 6.1); two paths, two notifications.
    let notifications = get(
        client,
        DataType::State,
        gnmi::Encoding::JsonIetf,
        &[
            &format!("{TUN0}/nhrp/counters/message[type=registration-request]/sent"),
            &format!("{TUN0}/nhrp/cache-entry[prefix=10.0.0.4/32]/expires-in"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(notifications.len(), 2);
    assert_eq!(value(&notifications[0].update[0]), "1");
    assert_eq!(value(&notifications[1].update[0]), 500);

    // Config is not state; ALL has both.
    configure_spoke(client).await;
    let status = get_one(
        client,
        DataType::State,
        &format!("{TUN0}/nhrp/holding-time"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let all = get_one(client, DataType::All, &format!("{TUN0}/nhrp"))
        .await
        .unwrap();
    assert_eq!(all["holding-time"], 600);
    assert_eq!(all["nhs-state"].as_array().unwrap().len(), 2);

    // Bad paths are INVALID_ARGUMENT, unsupported encodings UNIMPLEMENTED.
    let status = get(
        client,
        DataType::All,
        gnmi::Encoding::JsonIetf,
        &["interfaces/nope"],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("nope"), "{}", status.message());
    let status = get(client, DataType::All, gnmi::Encoding::Proto, &[TUN0])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

/// A Subscribe RPC: where to send requests, and the responses.
struct Subscription {
    requests: mpsc::Sender<gnmi::SubscribeRequest>,
    responses: tonic::Streaming<gnmi::SubscribeResponse>,
}

impl Subscription {
    async fn next(&mut self) -> Option<Sent> {
        self.within(Duration::from_secs(5)).await.unwrap()
    }

    /// The next response within `wait`; `Err` when none came.
    async fn within(&mut self, wait: Duration) -> Result<Option<Sent>, ()> {
        match tokio::time::timeout(wait, self.responses.message()).await {
            Ok(message) => Ok(message.unwrap().map(|m| m.response.unwrap())),
            Err(_) => Err(()),
        }
    }

    async fn update(&mut self) -> gnmi::Notification {
        match self.next().await {
            Some(Sent::Update(notification)) => notification,
            other => panic!("not an update: {other:?}"),
        }
    }

    async fn sync(&mut self) {
        assert_eq!(self.next().await, Some(Sent::SyncResponse(true)));
    }
}

async fn subscribe(client: &mut Client, list: gnmi::SubscriptionList) -> Subscription {
    let (requests, rx) = mpsc::channel(4);
    requests
        .send(gnmi::SubscribeRequest {
            request: Some(gnmi::subscribe_request::Request::Subscribe(list)),
        })
        .await
        .unwrap();
    let responses = client
        .subscribe(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    Subscription {
        requests,
        responses,
    }
}

fn list(
    mode: gnmi::subscription_list::Mode,
    subscriptions: Vec<gnmi::Subscription>,
) -> gnmi::SubscriptionList {
    gnmi::SubscriptionList {
        subscription: subscriptions,
        mode: mode as i32,
        encoding: gnmi::Encoding::JsonIetf as i32,
        ..Default::default()
    }
}

fn subscription(
    path_text: &str,
    mode: gnmi::SubscriptionMode,
    sample_ms: u64,
) -> gnmi::Subscription {
    gnmi::Subscription {
        path: Some(path(path_text)),
        mode: mode as i32,
        sample_interval: sample_ms * 1_000_000,
        ..Default::default()
    }
}

const NHS_STATUS: &str = "interfaces/interface[name=tun0]/nhrp/nhs-state/status";
const NHS2_STATUS: &str = "/ietf-interfaces:interfaces/interface[name=tun0]/dmvpn-nhrp:nhrp/nhs-state[protocol-address=10.0.0.254]/status";

use gnmi::SubscriptionMode as Mode;
use gnmi::subscription_list::Mode as ListMode;

#[tokio::test]
async fn subscribe_once_sends_every_leaf_then_sync_and_ends() {
    let mut server = start("once", None).await;
    let mut sub = subscribe(
        &mut server.client,
        list(
            ListMode::Once,
            vec![subscription(
                &format!("{TUN0}/nhrp/cache-entry"),
                Mode::TargetDefined,
                0,
            )],
        ),
    )
    .await;
    let notification = sub.update().await;
    let leaves = leaves(&notification);
    assert!(
        leaves.contains(&(
            "/ietf-interfaces:interfaces/interface[name=tun0]/dmvpn-nhrp:nhrp/cache-entry[prefix=10.0.0.4/32]/expires-in".to_owned(),
            serde_json::json!(500)
        )),
        "{leaves:?}"
    );
    // Two entries of four leaves each (the key included).
    assert_eq!(leaves.len(), 8, "{leaves:?}");
    assert!(notification.timestamp > 1_700_000_000_000_000_000);
    sub.sync().await;
    assert_eq!(sub.next().await, None, "ONCE ends after the sync");

    // updates_only: the sync alone.
    let mut only = list(
        ListMode::Once,
        vec![subscription(NHS_STATUS, Mode::TargetDefined, 0)],
    );
    only.updates_only = true;
    let mut sub = subscribe(&mut server.client, only).await;
    sub.sync().await;
    assert_eq!(sub.next().await, None);
}

#[tokio::test]
async fn subscribe_poll_answers_each_poll_with_fresh_values() {
    let mut server = start("poll", None).await;
    let mut sub = subscribe(
        &mut server.client,
        list(
            ListMode::Poll,
            vec![subscription(NHS_STATUS, Mode::TargetDefined, 0)],
        ),
    )
    .await;
    let first = leaves(&sub.update().await);
    assert!(
        first.contains(&(NHS2_STATUS.to_owned(), serde_json::json!("connecting"))),
        "{first:?}"
    );
    sub.sync().await;
    // Nothing until polled.
    assert!(sub.within(Duration::from_millis(300)).await.is_err());
    server.state.set(&nhrp_state("up", &[], 1));
    let poll = gnmi::SubscribeRequest {
        request: Some(gnmi::subscribe_request::Request::Poll(gnmi::Poll {})),
    };
    sub.requests.send(poll).await.unwrap();
    let polled = leaves(&sub.update().await);
    assert!(
        polled.contains(&(NHS2_STATUS.to_owned(), serde_json::json!("up"))),
        "{polled:?}"
    );
    assert_eq!(polled.len(), 2);
    sub.sync().await;
    sub.requests = mpsc::channel(1).0; // drops the sender: the client closes its side
    assert_eq!(sub.next().await, None, "closing the requests ends a POLL");
}

#[tokio::test]
async fn stream_sample_sends_every_interval() {
    let mut server = start("sample", None).await;
    let counter = format!("{TUN0}/nhrp/counters/message[type=registration-request]/sent");
    let mut sub = subscribe(
        &mut server.client,
        list(
            ListMode::Stream,
            vec![subscription(&counter, Mode::Sample, 200)],
        ),
    )
    .await;
    assert_eq!(value(&sub.update().await.update[0]), "1");
    sub.sync().await;
    let start = Instant::now();
    server.state.set(&nhrp_state("connecting", &[], 7));
    // Two samples, every value each time, about 200 ms apart.
    let first = sub.update().await;
    let second = sub.update().await;
    assert_eq!(first.update.len(), 1);
    assert_eq!(value(&second.update[0]), "7");
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    let apart = Duration::from_nanos(u64::try_from(second.timestamp - first.timestamp).unwrap());
    assert!(apart >= Duration::from_millis(150), "{apart:?}");
}

#[tokio::test]
async fn stream_on_change_sends_changed_leaves_and_deletes_vanished_entries() {
    let mut server = start("onchange", None).await;
    let mut sub = subscribe(
        &mut server.client,
        list(
            ListMode::Stream,
            vec![subscription(
                &format!("{TUN0}/nhrp/cache-entry"),
                Mode::OnChange,
                0,
            )],
        ),
    )
    .await;
    assert_eq!(sub.update().await.update.len(), 8);
    sub.sync().await;
    // Nothing changed: nothing sent.
    assert!(sub.within(Duration::from_millis(1500)).await.is_err());

    // A spoke registers (a new entry), another's holding time is renewed:
    // the new entry's leaves and the changed leaf only.
    let entry = "/ietf-interfaces:interfaces/interface[name=tun0]/dmvpn-nhrp:nhrp/cache-entry";
    server.state.set(&nhrp_state(
        "connecting",
        &[
            ("10.0.0.3/32", 600),
            ("10.0.0.4/32", 599),
            ("10.0.0.5/32", 600),
        ],
        1,
    ));
    let published = Instant::now();
    server
        .notifier
        .publish(r#"{"dmvpn-nhrp:peer-up":{"interface":"tun0","protocol-address":"10.0.0.5"}}"#)
        .unwrap();
    let changed = sub.update().await;
    assert!(
        published.elapsed() < Duration::from_millis(900),
        "woken by the notification"
    );
    let mut got = leaves(&changed);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got.contains(&(
        format!("{entry}[prefix=10.0.0.4/32]/expires-in"),
        serde_json::json!(599)
    )));
    assert!(got.contains(&(
        format!("{entry}[prefix=10.0.0.5/32]/prefix"),
        serde_json::json!("10.0.0.5/32")
    )));
    assert!(changed.delete.is_empty());

    // It expires, without a notification: one delete of the entry, within
    // the one-second recheck.
    server.state.set(&nhrp_state(
        "connecting",
        &[("10.0.0.3/32", 600), ("10.0.0.4/32", 599)],
        1,
    ));
    let gone = sub.update().await;
    assert!(gone.update.is_empty(), "{gone:?}");
    let deleted: Vec<String> = gone.delete.iter().map(show).collect();
    assert_eq!(deleted, [format!("{entry}[prefix=10.0.0.5/32]")]);

    // A burst of notifications is a few reads, not one each; nothing
    // changed, nothing is sent.
    let before = server.state.reads();
    for _ in 0..50 {
        let up = r#"{"dmvpn-nhrp:peer-up":{"interface":"tun0","protocol-address":"10.0.0.5"}}"#;
        server.notifier.publish(up).unwrap();
    }
    assert!(sub.within(Duration::from_millis(500)).await.is_err());
    let reads = server.state.reads() - before;
    assert!((1..=8).contains(&reads), "{reads} reads");
}

#[tokio::test]
async fn on_change_follows_configuration_across_commits() {
    let mut server = start("commits", None).await;
    configure_spoke(&mut server.client).await;
    let holding = format!("{TUN0}/nhrp/holding-time");
    let mut sub = subscribe(
        &mut server.client,
        list(
            ListMode::Stream,
            vec![subscription(&holding, Mode::OnChange, 0)],
        ),
    )
    .await;
    assert_eq!(value(&sub.update().await.update[0]), 600);
    sub.sync().await;
    for seconds in [300, 450] {
        server
            .client
            .set(gnmi::SetRequest {
                update: vec![update(&holding, serde_json::json!(seconds))],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(value(&sub.update().await.update[0]), seconds);
    }
}

#[tokio::test]
async fn heartbeat_resends_what_suppress_redundant_holds_back() {
    let mut server = start("heartbeat", None).await;
    let mut sampled = subscription(NHS_STATUS, Mode::Sample, 100);
    sampled.suppress_redundant = true;
    sampled.heartbeat_interval = 1_500_000_000;
    let mut sub = subscribe(&mut server.client, list(ListMode::Stream, vec![sampled])).await;
    assert_eq!(sub.update().await.update.len(), 2);
    sub.sync().await;
    let synced = Instant::now();
    // Sampled ten times a second, unchanged: nothing until the heartbeat.
    assert!(sub.within(Duration::from_millis(1000)).await.is_err());
    let beat = sub.update().await;
    assert_eq!(beat.update.len(), 2, "every value again");
    assert!(
        synced.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        synced.elapsed()
    );
    // A change goes out with the next sample, alone.
    server.state.set(&nhrp_state("up", &[], 1));
    let start = Instant::now();
    let change = sub.update().await;
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        leaves(&change),
        [(NHS2_STATUS.to_owned(), serde_json::json!("up"))]
    );
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_a_reason() {
    let mut server = start("badsub", None).await;
    for (subscriptions, code) in [
        (
            vec![subscription(NHS_STATUS, Mode::Sample, 0)]
                .into_iter()
                .map(|mut s| {
                    s.sample_interval = 1_000;
                    s
                })
                .collect::<Vec<_>>(),
            Code::InvalidArgument,
        ),
        (
            vec![subscription("interfaces/nope", Mode::OnChange, 0)],
            Code::InvalidArgument,
        ),
        (vec![], Code::InvalidArgument),
    ] {
        let mut sub = subscribe(&mut server.client, list(ListMode::Stream, subscriptions)).await;
        let status = tokio::time::timeout(Duration::from_secs(5), sub.responses.message())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
    }
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_not_buffered() {
    let mut server = start("slow", None).await;
    server.state.set(&many_entries(1000));
    let cache = format!("{TUN0}/nhrp/cache-entry");
    let mut sub = subscribe(
        &mut server.client,
        list(
            ListMode::Stream,
            vec![subscription(&cache, Mode::Sample, 100)],
        ),
    )
    .await;
    // Not reading: the transport's windows and the bounded channel fill up,
    // then the server waits SEND_WAIT and gives up.
    tokio::time::sleep(northbound::gnmi::SEND_WAIT + Duration::from_secs(8)).await;
    let mut received = 0;
    let status = loop {
        let message = tokio::time::timeout(Duration::from_secs(5), sub.responses.message())
            .await
            .unwrap();
        match message {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("ended without saying why after {received} messages"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // About 18 s of samples at 10 a second, most never made.
    assert!(received < 100, "{received} messages were buffered");
}
