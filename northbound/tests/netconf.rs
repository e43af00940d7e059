//! The NETCONF engine end to end: sessions over in-memory duplex streams
//! on a daemon-less northbound (state directory in a temp dir), a client
//! that frames as RFC 6242 says, and a gRPC client on the same northbound
//! where a test needs another front end.

// Test helpers panic on failure, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{SPOKE, TempDir};
use dmvpn_api::v1 as api;
use northbound::auth::{Access, Actor, Identity};
use northbound::netconf::{Limits, Netconf};
use northbound::{
    BoxFuture, Builder, Config, Format, Northbound, Notifier, Refusal, RpcHandler, StateFilter,
    StateProvider, grpc,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BASE: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
const IF_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-interfaces";
const NHRP_NS: &str = "urn:dmvpn:yang:dmvpn-nhrp";
const MAX_MESSAGE: usize = 64 * 1024;
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

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

const NHRP_STATE: &str = r#"{"ietf-interfaces:interfaces":{"interface":[{"name":"tun0",
  "dmvpn-nhrp:nhrp":{"nhs-state":[{"protocol-address":"10.0.0.1","status":"up"}]}}]}}"#;

/// Records its inputs; refuses tun9.
#[derive(Debug, Default)]
struct ClearCache(Mutex<Vec<String>>);

impl RpcHandler for ClearCache {
    fn execute(&self, input: String) -> BoxFuture<'_, Result<Option<String>, Refusal>> {
        Box::pin(async move {
            let refused = input.contains("tun9");
            self.0.lock().unwrap().push(input);
            match refused {
                true => Err(Refusal::new(None, "no NHRP on tun9")),
                false => Ok(None),
            }
        })
    }
}

struct Fixture {
    netconf: Arc<Netconf>,
    notifier: Notifier,
    clear_cache: Arc<ClearCache>,
    handle: northbound::Handle,
    task: JoinHandle<Northbound>,
    dir: TempDir,
}

fn fixture(name: &str) -> Fixture {
    let dir = TempDir::new(&format!("netconf-{name}"));
    let nb = Northbound::open(&dir.path().join("state")).unwrap();
    let clear_cache = Arc::new(ClearCache::default());
    let builder = Builder::new(nb)
        .state_provider(Arc::new(FixedState(NHRP_STATE)))
        .rpc_handler("/dmvpn-nhrp:clear-cache", clear_cache.clone());
    let notifier = builder.notifier();
    let (handle, task) = builder.spawn();
    let limits = Limits {
        max_message: MAX_MESSAGE,
        max_sessions: 8,
        hello_timeout: HELLO_TIMEOUT,
    };
    Fixture {
        netconf: Netconf::with_limits(handle.clone(), limits),
        notifier,
        clear_cache,
        handle,
        task,
        dir,
    }
}

impl Fixture {
    /// Stops the northbound task (every session must have ended) and
    /// returns the northbound, to look at its transaction log.
    async fn finish(self) -> (Northbound, TempDir) {
        drop(self.netconf);
        drop(self.handle);
        let nb = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("every session ended")
            .unwrap();
        (nb, self.dir)
    }
}

fn actor(user: &str, access: Access) -> Actor {
    let identity = Identity {
        user: user.to_owned(),
        access,
    };
    Actor::new(identity, "netconf")
}

fn alice() -> Actor {
    actor("alice", Access::ReadWrite)
}

/// A NETCONF client over one end of a duplex stream.
struct Client {
    io: DuplexStream,
    chunked: bool,
    input: Vec<u8>,
    hello: String,
    session_id: u64,
    next_id: u32,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    async fn open(fixture: &Fixture, actor: Actor) -> Client {
        Self::open_with(fixture, actor, true).await
    }

    /// Opens a session; the client announces base:1.1 when `chunked`.
    async fn open_with(fixture: &Fixture, actor: Actor, chunked: bool) -> Client {
        Self::open_via(fixture, actor, chunked, false).await
    }

    /// Opens a session through [`Netconf::run_session`] or (`subsystem`)
    /// the adapter the SSH server calls.
    async fn open_via(fixture: &Fixture, actor: Actor, chunked: bool, subsystem: bool) -> Client {
        let (io, server) = tokio::io::duplex(1 << 20);
        match subsystem {
            true => {
                tokio::spawn((fixture.netconf.subsystem())(actor, server));
            }
            false => {
                let netconf = fixture.netconf.clone();
                tokio::spawn(async move { netconf.run_session(actor, server).await });
            }
        }
        let mut client = Client {
            io,
            chunked: false,
            input: vec![],
            hello: String::new(),
            session_id: 0,
            next_id: 100,
        };
        client.hello = client.recv().await;
        client.session_id = between(&client.hello, "<session-id>", "</session-id>")
            .parse()
            .unwrap();
        let mut capabilities =
            "<capability>urn:ietf:params:netconf:base:1.0</capability>".to_owned();
        if chunked {
            capabilities.push_str("<capability>urn:ietf:params:netconf:base:1.1</capability>");
        }
        let hello =
            format!("<hello xmlns=\"{BASE}\"><capabilities>{capabilities}</capabilities></hello>");
        client.send(&hello).await;
        client.chunked = chunked;
        client
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
    }

    async fn send(&mut self, message: &str) {
        let framed = match self.chunked {
            true => format!("\n#{}\n{message}\n##\n", message.len()),
            false => format!("{message}]]>]]>"),
        };
        self.send_raw(framed.as_bytes()).await;
    }

    /// The next whole message; panics after TIMEOUT or at end of stream.
    async fn recv(&mut self) -> String {
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Some(message) = self.take() {
                    return message;
                }
                // On the heap: a large array in a future overflows the
                // test thread's stack in debug builds.
                let mut buffer = vec![0u8; 65536];
                let n = self.io.read(&mut buffer).await.unwrap();
                assert!(n > 0, "the server closed the session");
                self.input.extend_from_slice(&buffer[..n]);
            }
        })
        .await
        .expect("a message in time")
    }

    /// Whether the server ends the session (without sending more).
    async fn ended(&mut self) -> bool {
        let mut buffer = [0u8; 1024];
        matches!(
            tokio::time::timeout(TIMEOUT, self.io.read(&mut buffer)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    fn take(&mut self) -> Option<String> {
        let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
        if !self.chunked {
            let end = self.input.windows(6).position(|w| w == b"]]>]]>")?;
            let message = text(&self.input[..end]);
            self.input.drain(..end + 6);
            return Some(message);
        }
        // \n#<size>\n<data> ... \n##\n
        let mut at = 0;
        let mut message = vec![];
        loop {
            let rest = &self.input[at..];
            if rest.len() < 4 {
                return None;
            }
            assert_eq!(&rest[..2], b"\n#", "chunk header");
            if rest[2] == b'#' {
                assert_eq!(rest[3], b'\n');
                self.input.drain(..at + 4);
                return Some(text(&message));
            }
            let digits = rest[2..].iter().position(|b| *b == b'\n')?;
            let size: usize = std::str::from_utf8(&rest[2..2 + digits])
                .unwrap()
                .parse()
                .unwrap();
            let start = 3 + digits;
            if rest.len() < start + size {
                return None;
            }
            message.extend_from_slice(&rest[start..start + size]);
            at += start + size;
        }
    }

    /// Sends `<rpc>` with `operation` and returns the reply.
    async fn rpc(&mut self, operation: &str) -> String {
        self.next_id += 1;
        let rpc = format!(
            "<rpc message-id=\"{}\" xmlns=\"{BASE}\" xmlns:nc=\"{BASE}\">{operation}</rpc>",
            self.next_id
        );
        self.send(&rpc).await;
        let reply = self.recv().await;
        assert!(
            reply.contains(&format!("message-id=\"{}\"", self.next_id)),
            "{reply}"
        );
        reply
    }

    async fn ok(&mut self, operation: &str) {
        let reply = self.rpc(operation).await;
        assert!(reply.contains("<ok/>"), "{operation}: {reply}");
    }

    /// Sends and expects an rpc-error with `tag`; returns the reply.
    async fn error(&mut self, operation: &str, tag: &str) -> String {
        let reply = self.rpc(operation).await;
        assert!(
            reply.contains(&format!("<error-tag>{tag}</error-tag>")),
            "{operation}: wanted {tag}: {reply}"
        );
        reply
    }

    async fn get_config(&mut self, source: &str, filter: &str) -> String {
        let reply = self
            .rpc(&format!(
                "<get-config><source><{source}/></source>{filter}</get-config>"
            ))
            .await;
        assert!(reply.contains("<data"), "{reply}");
        reply
    }
}

/// Running's holding time of tun0.
async fn holding(client: &mut Client) -> String {
    let reply = client.get_config("running", HOLDING_TIME_FILTER).await;
    between(&reply, "<holding-time>", "</holding-time>").to_owned()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    let to = from + text[from..].find(end).unwrap();
    &text[from..to]
}

fn edit(target: &str, config: &str) -> String {
    format!("<edit-config><target><{target}/></target><config>{config}</config></edit-config>")
}

/// `inner` inside tun0's nhrp container.
fn nhrp(inner: &str) -> String {
    format!(
        "<interfaces xmlns=\"{IF_NS}\"><interface><name>tun0</name>\
         <nhrp xmlns=\"{NHRP_NS}\">{inner}</nhrp></interface></interfaces>"
    )
}

fn spoke_xml() -> String {
    Config::parse(SPOKE, Format::Json)
        .unwrap()
        .print(Format::Xml)
        .unwrap()
}

/// A session with the spoke configuration committed.
async fn spoke(fixture: &Fixture) -> Client {
    let mut client = Client::open(fixture, alice()).await;
    client.ok(&edit("running", &spoke_xml())).await;
    client
}

const HOLDING_TIME_FILTER: &str = "<filter type=\"subtree\"><interfaces xmlns=\"urn:ietf:params:xml:ns:yang:ietf-interfaces\"><interface><name>tun0</name><nhrp xmlns=\"urn:dmvpn:yang:dmvpn-nhrp\"><holding-time/></nhrp></interface></interfaces></filter>";

#[tokio::test]
async fn hello_announces_capabilities_and_base_1_1_switches_to_chunks() {
    let fixture = fixture("hello");
    let user = alice();
    let session = user.session;
    let mut client = Client::open(&fixture, user).await;
    assert_eq!(client.session_id, session);
    for capability in [
        "urn:ietf:params:netconf:base:1.0",
        "urn:ietf:params:netconf:base:1.1",
        "urn:ietf:params:netconf:capability:candidate:1.0",
        "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
        "urn:ietf:params:netconf:capability:validate:1.1",
        "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
        "urn:ietf:params:netconf:capability:writable-running:1.0",
        "urn:ietf:params:netconf:capability:xpath:1.0",
        "urn:ietf:params:netconf:capability:notification:1.0",
        "urn:ietf:params:netconf:capability:interleave:1.0",
        "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&amp;also-supported=report-all,trim",
        "ietf-netconf-monitoring?module=ietf-netconf-monitoring&amp;revision=2010-10-04",
    ] {
        assert!(
            client.hello.contains(capability),
            "{capability}: {}",
            client.hello
        );
    }
    for module in dmvpn_yang::MODULES {
        let capability = format!("?module={}&amp;revision={}", module.name, module.revision);
        assert!(client.hello.contains(&capability), "{capability}");
    }
    // The client decodes chunks only: the reply is chunked.
    let reply = client.get_config("running", "").await;
    assert!(reply.starts_with("<rpc-reply"), "{reply}");

    // A base:1.0 client keeps end-of-message framing; this one comes
    // through the SSH server's subsystem adapter.
    let mut old = Client::open_via(&fixture, alice(), false, true).await;
    old.get_config("candidate", "").await;
    // A newline after the last end marker, an XML declaration.
    old.send_raw(
        format!(
            "\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rpc message-id=\"7\" xmlns=\"{BASE}\"><get/></rpc>]]>]]>"
        )
        .as_bytes(),
    )
    .await;
    let reply = old.recv().await;
    assert!(
        reply.contains("message-id=\"7\"") && reply.contains("<data>"),
        "{reply}"
    );
    old.ok("<close-session/>").await;
    assert!(old.ended().await);
    assert_eq!(fixture.netconf.counters().sessions, 2);
}

#[tokio::test]
async fn a_hello_without_a_common_base_ends_the_session() {
    let fixture = fixture("bad-hello");
    let (mut io, server) = tokio::io::duplex(1 << 16);
    let netconf = fixture.netconf.clone();
    let session = tokio::spawn(async move { netconf.run_session(alice(), server).await });
    let hello = format!(
        "<hello xmlns=\"{BASE}\"><capabilities><capability>urn:x</capability></capabilities></hello>]]>]]>"
    );
    io.write_all(hello.as_bytes()).await.unwrap();
    tokio::time::timeout(TIMEOUT, session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fixture.netconf.counters().bad_hellos, 1);
}

#[tokio::test]
async fn a_client_that_sends_no_hello_is_closed() {
    let fixture = fixture("no-hello");
    let (mut io, server) = tokio::io::duplex(1 << 16);
    let netconf = fixture.netconf.clone();
    let session = tokio::spawn(async move { netconf.run_session(alice(), server).await });
    let mut hello = vec![0u8; 1 << 16];
    assert!(io.read(&mut hello).await.unwrap() > 0);
    let started = std::time::Instant::now();
    tokio::time::timeout(TIMEOUT, session)
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= HELLO_TIMEOUT - Duration::from_millis(100));
    assert_eq!(fixture.netconf.counters().bad_hellos, 1);
    assert_eq!(fixture.netconf.session_count(), 0);
}

#[tokio::test]
async fn get_config_with_subtree_and_xpath_filters() {
    let fixture = fixture("get-config");
    let mut client = spoke(&fixture).await;

    let all = client.get_config("running", "").await;
    assert!(all.contains("<holding-time>600</holding-time>"), "{all}");
    assert!(
        all.contains("<nbma-address>192.0.2.1</nbma-address>"),
        "{all}"
    );
    // Explicit mode: the defaults are not shown.
    assert!(!all.contains("<ttl>"), "{all}");

    for source in ["running", "candidate"] {
        let filtered = client.get_config(source, HOLDING_TIME_FILTER).await;
        assert!(
            filtered.contains("<holding-time>600</holding-time>"),
            "{filtered}"
        );
        assert!(!filtered.contains("nbma-address"), "{filtered}");
        assert!(!filtered.contains("network-id"), "{filtered}");
    }

    let xpath = format!(
        "<filter type=\"xpath\" xmlns:if=\"{IF_NS}\" xmlns:n=\"{NHRP_NS}\" \
         select=\"/if:interfaces/if:interface[if:name='tun0']/n:nhrp/n:nhs\"/>"
    );
    let nhs = client.get_config("running", &xpath).await;
    assert!(
        nhs.contains("<nhs>") && nhs.contains("<cluster>2</cluster>"),
        "{nhs}"
    );
    assert!(!nhs.contains("holding-time"), "{nhs}");

    // A content match on an identity, with the request's prefix.
    let by_type = client
        .get_config(
            "running",
            &format!(
                "<filter><interfaces xmlns=\"{IF_NS}\"><interface>\
                 <type xmlns:t=\"urn:dmvpn:yang:dmvpn-tunnel\">t:mgre</type><name/>\
                 </interface></interfaces></filter>"
            ),
        )
        .await;
    assert!(by_type.contains("<name>tun0</name>"), "{by_type}");
    assert!(!by_type.contains("holding-time"), "{by_type}");
    // A filter on a node nobody configured, an empty filter: no data.
    let nothing = client
        .get_config("running", &format!("<filter><interfaces xmlns=\"{IF_NS}\"><interface><name>tun9</name></interface></interfaces></filter>"))
        .await;
    assert!(
        nothing.contains("<data></data>") || nothing.contains("<data/>"),
        "{nothing}"
    );
    let empty = client
        .get_config("running", "<filter type=\"subtree\"/>")
        .await;
    assert!(empty.contains("<data></data>"), "{empty}");

    // with-defaults report-all shows them; trim leaves out values equal
    // to the default.
    let wd = "<with-defaults xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults\">report-all</with-defaults>";
    let all = client.get_config("running", wd).await;
    assert!(all.contains("<ttl>255</ttl>"), "{all}");

    // <get> merges state.
    let state = client.rpc("<get/>").await;
    assert!(state.contains("<status>up</status>"), "{state}");
    assert!(
        state.contains("<holding-time>600</holding-time>"),
        "{state}"
    );
    let state = client
        .rpc(
            "<get><filter type=\"xpath\" select=\"/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/nhs-state\"/></get>",
        )
        .await;
    assert!(
        state.contains("<status>up</status>") && !state.contains("holding-time"),
        "{state}"
    );
    // Unknown datastores and filter types.
    client
        .error(
            "<get-config><source><startup/></source></get-config>",
            "operation-not-supported",
        )
        .await;
    client
        .error(
            "<get-config><source><running/></source><filter type=\"regex\"/></get-config>",
            "bad-attribute",
        )
        .await;
}

#[tokio::test]
async fn edit_config_operations_on_the_candidate() {
    let fixture = fixture("edit");
    let mut client = spoke(&fixture).await;

    // merge changes a leaf in the candidate only.
    client
        .ok(&edit(
            "candidate",
            &nhrp("<holding-time>900</holding-time>"),
        ))
        .await;
    let candidate = client.get_config("candidate", HOLDING_TIME_FILTER).await;
    assert!(
        candidate.contains("<holding-time>900</holding-time>"),
        "{candidate}"
    );
    let running = client.get_config("running", HOLDING_TIME_FILTER).await;
    assert!(
        running.contains("<holding-time>600</holding-time>"),
        "{running}"
    );

    // create of an existing node, delete of a missing one.
    let exists = client
        .error(
            &edit(
                "candidate",
                &nhrp("<holding-time nc:operation=\"create\">1000</holding-time>"),
            ),
            "data-exists",
        )
        .await;
    assert!(
        exists.contains("nhrp:holding-time</error-path>"),
        "{exists}"
    );
    let missing = client
        .error(
            &edit(
                "candidate",
                &nhrp("<static-map nc:operation=\"delete\"><protocol-address>10.9.9.9</protocol-address></static-map>"),
            ),
            "data-missing",
        )
        .await;
    assert!(
        missing.contains("[nhrp:protocol-address='10.9.9.9']"),
        "{missing}"
    );
    // remove of a missing one is fine; create of a new one works.
    client
        .ok(&edit(
            "candidate",
            &nhrp("<static-map nc:operation=\"remove\"><protocol-address>10.9.9.9</protocol-address></static-map>"),
        ))
        .await;
    client
        .ok(&edit(
            "candidate",
            &nhrp("<static-map nc:operation=\"create\"><protocol-address>10.0.0.7</protocol-address><nbma-address>192.0.2.7</nbma-address></static-map>"),
        ))
        .await;
    // delete of an existing list entry and of a leaf-list entry.
    client
        .ok(&edit(
            "candidate",
            &nhrp("<static-map nc:operation=\"delete\"><protocol-address>10.0.0.1</protocol-address></static-map>\
                   <multicast><nbma-address nc:operation=\"delete\">192.0.2.1</nbma-address></multicast>"),
        ))
        .await;
    let static_maps = format!(
        "<filter type=\"xpath\" xmlns:if=\"{IF_NS}\" xmlns:n=\"{NHRP_NS}\" \
         select=\"/if:interfaces/if:interface/n:nhrp/n:static-map\"/>"
    );
    let maps = client.get_config("candidate", &static_maps).await;
    assert!(
        maps.contains("<protocol-address>10.0.0.7</protocol-address>"),
        "{maps}"
    );
    assert!(
        !maps.contains("<protocol-address>10.0.0.1</protocol-address>"),
        "{maps}"
    );
    let maps = client.get_config("running", &static_maps).await;
    assert!(
        maps.contains("<protocol-address>10.0.0.1</protocol-address>"),
        "{maps}"
    );
    let candidate = client.get_config("candidate", "").await;
    assert!(!candidate.contains("<multicast>"), "{candidate}");
    // The NHS (same protocol address) is untouched.
    assert!(candidate.contains("<cluster>2</cluster>"), "{candidate}");

    // replace of the nhrp container: only what it carries is left.
    client
        .ok(&edit(
            "candidate",
            &nhrp("<network-id nc:operation=\"replace\">5</network-id>")
                .replace("<nhrp xmlns", "<nhrp nc:operation=\"replace\" xmlns"),
        ))
        .await;
    let candidate = client.get_config("candidate", "").await;
    assert!(
        candidate.contains("<network-id>5</network-id>"),
        "{candidate}"
    );
    assert!(!candidate.contains("holding-time"), "{candidate}");
    assert!(
        candidate.contains("<source-address>192.0.2.2</source-address>"),
        "{candidate}"
    );

    // default-operation none with a delete below: only the delete.
    client
        .ok(&format!(
            "<edit-config><target><candidate/></target><default-operation>none</default-operation>\
             <config>{}</config></edit-config>",
            nhrp("<network-id nc:operation=\"delete\">5</network-id>")
        ))
        .await;
    let candidate = client.get_config("candidate", "").await;
    assert!(!candidate.contains("network-id"), "{candidate}");

    // test-only checks the whole candidate and changes nothing.
    let invalid = client
        .error(
            &format!(
                "<edit-config><target><candidate/></target><test-option>test-only</test-option>\
                 <config>{}</config></edit-config>",
                nhrp("<holding-time>100</holding-time><registration-interval>200</registration-interval><network-id>1</network-id>")
            ),
            "invalid-value",
        )
        .await;
    assert!(invalid.contains("registration-interval"), "{invalid}");

    // discard-changes: the candidate is running again.
    client.ok("<discard-changes/>").await;
    let candidate = client.get_config("candidate", "").await;
    let running = client.get_config("running", "").await;
    assert_eq!(
        between(&candidate, "<data>", "</data>"),
        between(&running, "<data>", "</data>")
    );

    // Unknown elements and namespaces are errors naming them.
    client
        .error(
            &edit("candidate", &nhrp("<no-such-leaf>1</no-such-leaf>")),
            "unknown-element",
        )
        .await;
    client
        .error(
            &edit("candidate", "<x xmlns=\"urn:nowhere\"/>"),
            "unknown-namespace",
        )
        .await;
    client
        .error(
            &edit(
                "candidate",
                &nhrp("<holding-time nc:operation=\"frobnicate\">1</holding-time>"),
            ),
            "bad-attribute",
        )
        .await;
}

#[tokio::test]
async fn an_out_of_range_value_is_an_rpc_error_with_its_path() {
    let fixture = fixture("range");
    let mut client = spoke(&fixture).await;
    let reply = client
        .error(
            &edit("running", &nhrp("<holding-time>0</holding-time>")),
            "invalid-value",
        )
        .await;
    assert!(
        reply.contains("<error-type>application</error-type>"),
        "{reply}"
    );
    assert!(
        reply.contains(
            "/if:interfaces/if:interface[if:name='tun0']/nhrp:nhrp/nhrp:holding-time</error-path>"
        ),
        "{reply}"
    );
    assert!(
        reply.contains(&format!("xmlns:nhrp=\"{NHRP_NS}\"")),
        "{reply}"
    );
    let running = client.get_config("running", HOLDING_TIME_FILTER).await;
    assert!(
        running.contains("<holding-time>600</holding-time>"),
        "{running}"
    );
    // Attributes of <rpc> are returned on <rpc-reply>.
    client
        .send(&format!(
            "<rpc message-id=\"x&amp;1\" xmlns=\"{BASE}\" xmlns:ex=\"urn:example\" ex:user-id=\"fred\"><get-config><source><running/></source></get-config></rpc>"
        ))
        .await;
    let reply = client.recv().await;
    assert!(reply.contains("message-id=\"x&amp;1\""), "{reply}");
    assert!(
        reply.contains("ex:user-id=\"fred\"") && reply.contains("xmlns:ex=\"urn:example\""),
        "{reply}"
    );
    // No message-id: missing-attribute.
    client
        .send(&format!("<rpc xmlns=\"{BASE}\"><get/></rpc>"))
        .await;
    let reply = client.recv().await;
    assert!(
        reply.contains("<error-tag>missing-attribute</error-tag>"),
        "{reply}"
    );
}

#[tokio::test]
async fn commit_confirmed_then_confirm_or_cancel() {
    let fixture = fixture("commit");
    let mut client = spoke(&fixture).await;

    client
        .ok(&edit(
            "candidate",
            &nhrp("<holding-time>900</holding-time>"),
        ))
        .await;
    client
        .ok("<commit><confirmed/><confirm-timeout>60</confirm-timeout></commit>")
        .await;
    assert_eq!(holding(&mut client).await, "900");
    // Another session may not follow it up.
    let mut other = Client::open(&fixture, alice()).await;
    other.error("<commit/>", "in-use").await;
    other.error("<cancel-commit/>", "in-use").await;
    // The confirming commit.
    client.ok("<commit/>").await;
    client.error("<cancel-commit/>", "operation-failed").await;
    assert_eq!(holding(&mut client).await, "900");

    // Confirmed, then cancelled: running is back.
    client
        .ok(&edit(
            "candidate",
            &nhrp("<holding-time>1200</holding-time>"),
        ))
        .await;
    client.ok("<commit><confirmed/></commit>").await;
    assert_eq!(holding(&mut client).await, "1200");
    client.ok("<cancel-commit/>").await;
    assert_eq!(holding(&mut client).await, "900");

    // With persist, another session confirms with the persist-id.
    client
        .ok(&edit(
            "candidate",
            &nhrp("<holding-time>1500</holding-time>"),
        ))
        .await;
    client
        .ok("<commit><confirmed/><persist>p1</persist></commit>")
        .await;
    other
        .error(
            "<commit><persist-id>p2</persist-id></commit>",
            "invalid-value",
        )
        .await;
    other
        .ok("<commit><persist-id>p1</persist-id></commit>")
        .await;
    assert_eq!(holding(&mut client).await, "1500");

    // A confirmed commit without persist is rolled back when its session
    // ends.
    client
        .ok(&edit(
            "candidate",
            &nhrp("<holding-time>1800</holding-time>"),
        ))
        .await;
    client.ok("<commit><confirmed/></commit>").await;
    assert_eq!(holding(&mut other).await, "1800");
    client.ok("<close-session/>").await;
    assert!(client.ended().await);
    let mut rolled_back = false;
    for _ in 0..50 {
        if holding(&mut other).await == "1500" {
            rolled_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rolled_back);
    other.ok("<close-session/>").await;
    assert!(other.ended().await);

    // Every commit is alice's in the transaction log.
    let (nb, _dir) = fixture.finish().await;
    let records = nb.transactions();
    assert!(records.len() >= 6, "{records:?}");
    assert!(records.iter().all(|r| r.user == "alice"), "{records:?}");
    assert!(
        records
            .iter()
            .any(|r| r.comment == "NETCONF confirmed commit")
    );
    assert!(records.iter().any(|r| r.comment == "NETCONF edit-config"));
}

#[tokio::test]
async fn validate_running_candidate_and_inline_config() {
    let fixture = fixture("validate");
    let mut client = spoke(&fixture).await;
    client
        .ok("<validate><source><running/></source></validate>")
        .await;
    client
        .ok("<validate><source><candidate/></source></validate>")
        .await;
    client
        .ok(&format!(
            "<validate><source><config>{}</config></source></validate>",
            spoke_xml()
        ))
        .await;
    // registration-interval must be shorter than holding-time.
    let bad = spoke_xml().replace(
        "<holding-time>600</holding-time>",
        "<holding-time>100</holding-time>",
    );
    let reply = client
        .error(
            &format!("<validate><source><config>{bad}</config></source></validate>"),
            "invalid-value",
        )
        .await;
    assert!(
        reply.contains("registration-interval must be shorter"),
        "{reply}"
    );
    client
        .ok(&edit(
            "candidate",
            &nhrp("<holding-time>100</holding-time>"),
        ))
        .await;
    client
        .error(
            "<validate><source><candidate/></source></validate>",
            "invalid-value",
        )
        .await;
    // An invalid candidate does not commit.
    client.error("<commit/>", "invalid-value").await;
}

#[tokio::test]
async fn locks_hold_against_other_sessions_and_front_ends_until_killed() {
    let fixture = fixture("lock");
    let mut a = spoke(&fixture).await;
    let mut b = Client::open(&fixture, actor("bob", Access::ReadWrite)).await;

    a.ok("<lock><target><running/></target></lock>").await;
    a.error("<lock><target><running/></target></lock>", "lock-denied")
        .await;
    let denied = b
        .error("<lock><target><running/></target></lock>", "lock-denied")
        .await;
    assert!(
        denied.contains(&format!("<session-id>{}</session-id>", a.session_id)),
        "{denied}"
    );
    b.error(
        &edit("running", &nhrp("<holding-time>900</holding-time>")),
        "in-use",
    )
    .await;
    b.error(
        "<unlock><target><running/></target></unlock>",
        "operation-failed",
    )
    .await;

    // The lock holds against gRPC writers too.
    let socket = fixture.dir.path().join("grpc.sock");
    let endpoint = grpc::UnixEndpoint::bind(&socket).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(endpoint.serve(fixture.handle.clone(), async {
        let _ = stopped.await;
    }));
    let mut grpc = grpc::connect_unix(&socket).await.unwrap();
    let commit = api::CommitRequest {
        operation: api::commit_request::Operation::Merge as i32,
        config: Some(api::DataTree {
            encoding: api::Encoding::Json as i32,
            data: SPOKE.replace("600", "900"),
        }),
        edits: vec![],
        comment: "from gRPC".to_owned(),
        confirmed_timeout: 0,
    };
    let status = grpc.commit(commit.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Aborted, "{status:?}");
    assert!(status.message().contains("locked by alice"), "{status:?}");

    // The candidate lock: refused to b while a holds it, and b may not
    // change the candidate.
    a.ok("<lock><target><candidate/></target></lock>").await;
    a.error("<lock><target><candidate/></target></lock>", "lock-denied")
        .await;
    b.error("<lock><target><candidate/></target></lock>", "lock-denied")
        .await;
    b.error(
        &edit("candidate", &nhrp("<holding-time>900</holding-time>")),
        "in-use",
    )
    .await;
    b.error("<discard-changes/>", "in-use").await;

    // b kills a: a's session ends, its locks are released.
    b.ok(&format!(
        "<kill-session><session-id>{}</session-id></kill-session>",
        a.session_id
    ))
    .await;
    assert!(a.ended().await);
    b.ok("<lock><target><running/></target></lock>").await;
    b.ok("<lock><target><candidate/></target></lock>").await;
    b.ok(&edit(
        "candidate",
        &nhrp("<holding-time>900</holding-time>"),
    ))
    .await;
    b.ok("<commit/>").await;
    b.ok("<unlock><target><running/></target></unlock>").await;
    b.ok("<unlock><target><candidate/></target></unlock>").await;
    grpc.commit(commit).await.unwrap();
    b.error(
        "<kill-session><session-id>999999</session-id></kill-session>",
        "invalid-value",
    )
    .await;
    let _ = stop.send(());
}

#[tokio::test]
async fn a_candidate_changed_by_another_session_cannot_be_locked() {
    let fixture = fixture("candidate-lock");
    let mut a = spoke(&fixture).await;
    let mut b = Client::open(&fixture, alice()).await;
    a.ok(&edit(
        "candidate",
        &nhrp("<holding-time>900</holding-time>"),
    ))
    .await;
    b.error("<lock><target><candidate/></target></lock>", "lock-denied")
        .await;
    a.ok("<lock><target><candidate/></target></lock>").await;
    // The lock holder's session ends: its changes are discarded.
    a.ok("<close-session/>").await;
    assert!(a.ended().await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let candidate = b.get_config("candidate", HOLDING_TIME_FILTER).await;
    assert!(
        candidate.contains("<holding-time>600</holding-time>"),
        "{candidate}"
    );
    b.ok("<lock><target><candidate/></target></lock>").await;
}

#[tokio::test]
async fn read_only_users_read_but_do_not_write_lock_or_run_rpcs() {
    let fixture = fixture("read-only");
    let _admin = spoke(&fixture).await;
    let mut bob = Client::open(&fixture, actor("bob", Access::ReadOnly)).await;
    let running = bob.get_config("running", "").await;
    assert!(
        running.contains("<holding-time>600</holding-time>"),
        "{running}"
    );
    bob.rpc("<get/>").await;
    bob.ok("<validate><source><candidate/></source></validate>")
        .await;
    for denied in [
        edit("candidate", &nhrp("<holding-time>900</holding-time>")),
        edit("running", &nhrp("<holding-time>900</holding-time>")),
        "<lock><target><running/></target></lock>".to_owned(),
        "<commit/>".to_owned(),
        format!("<clear-cache xmlns=\"{NHRP_NS}\"><interface>tun0</interface></clear-cache>"),
    ] {
        let reply = bob.error(&denied, "access-denied").await;
        assert!(reply.contains("bob"), "{reply}");
    }
    assert_eq!(fixture.netconf.counters().access_denied, 5);
    assert!(fixture.clear_cache.0.lock().unwrap().is_empty());
    bob.ok("<create-subscription xmlns=\"urn:ietf:params:xml:ns:netconf:notification:1.0\"/>")
        .await;
}

#[tokio::test]
async fn malformed_and_oversize_messages_are_answered_and_the_session_goes_on() {
    let fixture = fixture("malformed");
    for chunked in [true, false] {
        let mut client = Client::open_with(&fixture, alice(), chunked).await;
        client
            .send("<rpc message-id=\"1\" xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><get>")
            .await;
        let reply = client.recv().await;
        assert!(
            reply.contains("<error-tag>malformed-message</error-tag>"),
            "{reply}"
        );
        assert!(reply.contains("<error-type>rpc</error-type>"), "{reply}");

        let big = format!(
            "<rpc message-id=\"2\" xmlns=\"{BASE}\"><get><!-- {} --></get></rpc>",
            "x".repeat(MAX_MESSAGE + 10)
        );
        // In several pieces, as a transport delivers it.
        match chunked {
            true => {
                let (first, second) = big.split_at(big.len() / 2);
                let framed = format!(
                    "\n#{}\n{first}\n#{}\n{second}\n##\n",
                    first.len(),
                    second.len()
                );
                client.send_raw(framed.as_bytes()).await;
            }
            false => {
                client.send_raw(big.as_bytes()).await;
                client.send_raw(b"]]>]]>").await;
            }
        }
        let reply = client.recv().await;
        assert!(reply.contains("<error-tag>too-big</error-tag>"), "{reply}");
        // Not UTF-8; a DTD (entity expansion); a NUL character reference.
        let mut junk =
            b"<rpc message-id=\"4\" xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><get/>"
                .to_vec();
        junk.extend_from_slice(&[0xff, 0xfe, b'<', b'/', b'r', b'p', b'c', b'>']);
        let framed = match chunked {
            true => [
                format!("\n#{}\n", junk.len()).into_bytes(),
                junk,
                b"\n##\n".to_vec(),
            ]
            .concat(),
            false => [junk, b"]]>]]>".to_vec()].concat(),
        };
        client.send_raw(&framed).await;
        let reply = client.recv().await;
        assert!(
            reply.contains("<error-tag>malformed-message</error-tag>"),
            "{reply}"
        );
        for bad in [
            "<!DOCTYPE rpc [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><rpc message-id=\"5\">&b;</rpc>",
            "<rpc message-id=\"6\" xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><get>&#0;</get></rpc>",
        ] {
            client.send(bad).await;
            let reply = client.recv().await;
            assert!(
                reply.contains("<error-tag>malformed-message</error-tag>"),
                "{reply}"
            );
        }
        // Nested deeper than any schema.
        let deep = format!(
            "<rpc message-id=\"3\" xmlns=\"{BASE}\"><get>{}{}</get></rpc>",
            "<a>".repeat(5000),
            "</a>".repeat(5000)
        );
        client.send(&deep).await;
        let reply = client.recv().await;
        assert!(
            reply.contains("<error-tag>malformed-message</error-tag>"),
            "{reply}"
        );
        assert!(reply.contains("nested deeper"), "{reply}");
        // Not an <rpc> at all.
        client.send("<hello/>").await;
        let reply = client.recv().await;
        assert!(
            reply.contains("<error-tag>unknown-element</error-tag>"),
            "{reply}"
        );
        // The session goes on.
        client.get_config("running", "").await;
    }
    let counters = fixture.netconf.counters();
    assert_eq!(counters.malformed, 14, "{counters:?}");
    assert_eq!(counters.rpc_errors, 14, "{counters:?}");
}

#[tokio::test]
async fn a_message_without_end_marker_ends_only_its_session() {
    let fixture = fixture("no-end");
    let mut other = Client::open(&fixture, alice()).await;
    let mut client = Client::open(&fixture, alice()).await;
    client
        .send_raw(
            b"\n#500\n<rpc message-id=\"1\" xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><get",
        )
        .await;
    drop(client);
    for _ in 0..100 {
        if fixture.netconf.session_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fixture.netconf.session_count(), 1);
    assert_eq!(fixture.netconf.counters().malformed, 1);
    other.get_config("running", "").await;

    // Broken chunk framing cannot be resynchronised: the session ends
    // after saying why.
    other.send_raw(b"\n#x\n").await;
    let reply = other.recv().await;
    assert!(reply.contains("malformed-message"), "{reply}");
    assert!(other.ended().await);
}

#[tokio::test]
async fn get_schema_serves_every_announced_module() {
    let fixture = fixture("schema");
    let mut client = Client::open(&fixture, actor("bob", Access::ReadOnly)).await;
    let monitoring = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
    let reply = client
        .rpc(&format!(
            "<get-schema xmlns=\"{monitoring}\"><identifier>dmvpn-nhrp</identifier><format>yang</format></get-schema>"
        ))
        .await;
    assert!(
        reply.contains(&format!(
            "<data xmlns=\"{monitoring}\">module dmvpn-nhrp {{"
        )),
        "{reply}"
    );
    assert!(reply.contains("rpc clear-cache"), "{reply}");
    let nhrp = dmvpn_yang::MODULES
        .iter()
        .find(|m| m.name == "dmvpn-nhrp")
        .unwrap();
    let reply = client
        .rpc(&format!(
            "<get-schema xmlns=\"{monitoring}\"><identifier>dmvpn-nhrp</identifier><version>{}</version></get-schema>",
            nhrp.revision
        ))
        .await;
    assert!(reply.contains("module dmvpn-nhrp"), "{reply}");
    // Built into libyang, imported by ours.
    let reply = client
        .rpc(&format!("<get-schema xmlns=\"{monitoring}\"><identifier>ietf-inet-types</identifier></get-schema>"))
        .await;
    assert!(reply.contains("module ietf-inet-types"), "{reply}");
    client
        .error(
            &format!(
                "<get-schema xmlns=\"{monitoring}\"><identifier>no-such</identifier></get-schema>"
            ),
            "invalid-value",
        )
        .await;
    client
        .error(
            &format!("<get-schema xmlns=\"{monitoring}\"><identifier>dmvpn-nhrp</identifier><format>yin</format></get-schema>"),
            "invalid-value",
        )
        .await;
}

#[tokio::test]
async fn create_subscription_receives_published_notifications_between_replies() {
    let fixture = fixture("notifications");
    let mut client = Client::open(&fixture, actor("bob", Access::ReadOnly)).await;
    let events = "urn:ietf:params:xml:ns:netconf:notification:1.0";
    client
        .ok(&format!(
            "<create-subscription xmlns=\"{events}\"><filter type=\"subtree\"><nhs-up xmlns=\"{NHRP_NS}\"/></filter></create-subscription>"
        ))
        .await;
    client
        .error(
            &format!("<create-subscription xmlns=\"{events}\"/>"),
            "operation-failed",
        )
        .await;
    let peer = r#"{"dmvpn-nhrp:peer-down":{"interface":"tun0","protocol-address":"10.0.0.3"}}"#;
    let nhs = r#"{"dmvpn-nhrp:nhs-up":{"interface":"tun0","protocol-address":"10.0.0.1"}}"#;
    fixture.notifier.publish(peer).unwrap();
    fixture.notifier.publish(nhs).unwrap();
    let notification = client.recv().await;
    assert!(
        notification.starts_with(&format!("<notification xmlns=\"{events}\"><eventTime>")),
        "{notification}"
    );
    assert!(
        notification.contains(&format!("<nhs-up xmlns=\"{NHRP_NS}\">")),
        "{notification}"
    );
    assert!(
        notification.contains("<protocol-address>10.0.0.1</protocol-address>"),
        "{notification}"
    );
    // RPCs still work while subscribed (interleave).
    client.get_config("running", "").await;
    fixture.notifier.publish(nhs).unwrap();
    assert!(client.recv().await.contains("nhs-up"));
    assert_eq!(fixture.netconf.counters().notifications, 2);
}

#[tokio::test]
async fn yang_rpcs_reach_their_handler() {
    let fixture = fixture("rpcs");
    let mut client = Client::open(&fixture, alice()).await;
    client
        .ok(&format!(
            "<clear-cache xmlns=\"{NHRP_NS}\"><interface>tun0</interface></clear-cache>"
        ))
        .await;
    let inputs = fixture.clear_cache.0.lock().unwrap().clone();
    assert_eq!(inputs.len(), 1);
    assert!(
        inputs[0].contains("\"dmvpn-nhrp:clear-cache\"") && inputs[0].contains("tun0"),
        "{inputs:?}"
    );
    let reply = client
        .error(
            &format!("<clear-cache xmlns=\"{NHRP_NS}\"><interface>tun9</interface></clear-cache>"),
            "operation-failed",
        )
        .await;
    assert!(reply.contains("no NHRP on tun9"), "{reply}");
    // Invalid input is refused by libyang; an RPC without handler, an
    // unknown one.
    client
        .error(
            &format!("<purge xmlns=\"{NHRP_NS}\"><interface>tun0</interface><prefix>not a prefix</prefix></purge>"),
            "invalid-value",
        )
        .await;
    client
        .error(
            &format!("<purge xmlns=\"{NHRP_NS}\"><interface>tun0</interface><prefix>10.0.0.2/32</prefix></purge>"),
            "operation-not-supported",
        )
        .await;
    client
        .error(
            &format!("<frobnicate xmlns=\"{NHRP_NS}\"/>"),
            "operation-not-supported",
        )
        .await;
}

#[tokio::test]
async fn copy_config_and_delete_config() {
    let fixture = fixture("copy");
    let mut client = spoke(&fixture).await;
    client
        .ok("<delete-config><target><candidate/></target></delete-config>")
        .await;
    let candidate = client.get_config("candidate", "").await;
    assert!(!candidate.contains("interfaces"), "{candidate}");
    client
        .error(
            "<delete-config><target><running/></target></delete-config>",
            "invalid-value",
        )
        .await;
    client
        .ok("<copy-config><target><candidate/></target><source><running/></source></copy-config>")
        .await;
    let candidate = client.get_config("candidate", HOLDING_TIME_FILTER).await;
    assert!(
        candidate.contains("<holding-time>600</holding-time>"),
        "{candidate}"
    );
    // Inline configuration to running: the whole of it.
    let hub = spoke_xml().replace(
        "<holding-time>600</holding-time>",
        "<holding-time>700</holding-time>",
    );
    client
        .ok(&format!(
            "<copy-config><target><running/></target><source><config>{hub}</config></source></copy-config>"
        ))
        .await;
    let running = client.get_config("running", HOLDING_TIME_FILTER).await;
    assert!(
        running.contains("<holding-time>700</holding-time>"),
        "{running}"
    );
    client
        .error(
            "<copy-config><target><running/></target><source><running/></source></copy-config>",
            "invalid-value",
        )
        .await;
    // default-operation replace: the config is all that is left; deleting
    // the top-level container empties running.
    client
        .ok(&format!(
            "<edit-config><target><running/></target><config><interfaces xmlns=\"{IF_NS}\" nc:operation=\"delete\"/></config></edit-config>"
        ))
        .await;
    let running = client.get_config("running", "").await;
    assert!(!running.contains("tun0"), "{running}");
}

#[tokio::test]
async fn a_candidate_older_than_running_does_not_commit() {
    let fixture = fixture("outdated");
    let mut a = spoke(&fixture).await;
    let mut b = Client::open(&fixture, alice()).await;
    a.ok(&edit(
        "candidate",
        &nhrp("<holding-time>900</holding-time>"),
    ))
    .await;
    b.ok(&edit("running", &nhrp("<holding-time>1200</holding-time>")))
        .await;
    // Committing a's candidate would silently undo b's change.
    let reply = a.error("<commit/>", "operation-failed").await;
    assert!(reply.contains("running changed"), "{reply}");
    assert_eq!(holding(&mut a).await, "1200");
    a.ok("<discard-changes/>").await;
    a.ok(&edit(
        "candidate",
        &nhrp("<holding-time>900</holding-time>"),
    ))
    .await;
    a.ok("<commit/>").await;
    assert_eq!(holding(&mut b).await, "900");
}

#[tokio::test]
async fn secrets_are_never_returned() {
    const PROTECTED: &str = r#"{
      "dmvpn-ipsec:ipsec": {"profile": [{"name": "dmvpn", "ike": {
        "pre-shared-key": [{"name": "all", "any": [null], "secret": "very-secret-psk"}]}}]}
    }"#;
    let fixture = fixture("secrets");
    let mut client = Client::open(&fixture, alice()).await;
    let xml = Config::parse(PROTECTED, Format::Json)
        .unwrap()
        .print(Format::Xml)
        .unwrap();
    assert!(xml.contains("very-secret-psk"));
    client.ok(&edit("candidate", &xml)).await;
    let candidate = client.get_config("candidate", "").await;
    assert!(candidate.contains("<pre-shared-key>"), "{candidate}");
    client.ok("<commit/>").await;
    for request in [
        "<get-config><source><running/></source></get-config>",
        "<get-config><source><candidate/></source></get-config>",
        "<get/>",
        "<get><filter type=\"xpath\" select=\"//secret\"/></get>",
    ] {
        let reply = client.rpc(request).await;
        assert!(reply.contains("<data"), "{reply}");
        assert!(!reply.contains("very-secret-psk"), "{request}: {reply}");
    }
}

#[tokio::test]
async fn get_reports_netconf_state_schemas_and_statistics() {
    let fixture = fixture("monitoring");
    let mut client = spoke(&fixture).await;
    let monitoring = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
    let all = client.rpc("<get/>").await;
    assert!(
        all.contains(&format!("<netconf-state xmlns=\"{monitoring}\"><schemas>")),
        "{all}"
    );
    assert!(all.contains("<identifier>dmvpn-nhrp</identifier>"), "{all}");
    assert!(all.contains("<in-sessions>1</in-sessions>"), "{all}");
    // edit-config and this get.
    assert!(all.contains("<in-rpcs>2</in-rpcs>"), "{all}");
    assert!(all.contains("<holding-time>600</holding-time>"), "{all}");

    let schemas = client
        .rpc(&format!(
            "<get><filter type=\"subtree\"><netconf-state xmlns=\"{monitoring}\"><schemas/></netconf-state></filter></get>"
        ))
        .await;
    assert!(
        schemas.contains("<location>NETCONF</location>"),
        "{schemas}"
    );
    assert!(!schemas.contains("<interfaces"), "{schemas}");
    let schemas = client
        .rpc(&format!(
            "<get><filter type=\"xpath\" xmlns:ncm=\"{monitoring}\" select=\"/ncm:netconf-state/ncm:schemas\"/></get>"
        ))
        .await;
    assert!(
        schemas.contains("<identifier>dmvpn-tunnel</identifier>"),
        "{schemas}"
    );
    assert!(!schemas.contains("<rpc-error>"), "{schemas}");
    let interfaces = client
        .rpc(&format!("<get>{HOLDING_TIME_FILTER}</get>"))
        .await;
    assert!(interfaces.contains("<holding-time>600"), "{interfaces}");
    assert!(!interfaces.contains("netconf-state"), "{interfaces}");
}

#[tokio::test]
async fn the_yang_library_is_announced_and_served_by_get() {
    const YANG_LIBRARY: &str = "urn:ietf:params:netconf:capability:yang-library:1.1";
    const YL_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-yang-library";
    let fixture = fixture("yang-library");
    let mut client = spoke(&fixture).await;
    let capability = format!("<capability>{YANG_LIBRARY}?revision=2019-01-04&amp;content-id=");
    assert!(client.hello.contains(&capability), "{}", client.hello);
    let content_id = between(&client.hello, &capability, "</capability>").to_owned();
    assert!(!content_id.is_empty());

    let library = client
        .rpc(&format!(
            "<get><filter type=\"subtree\"><yang-library xmlns=\"{YL_NS}\"/></filter></get>"
        ))
        .await;
    assert!(
        library.contains(&format!("<content-id>{content_id}</content-id>")),
        "{library}"
    );
    let nhrp = dmvpn_yang::MODULES
        .iter()
        .find(|m| m.name == "dmvpn-nhrp")
        .unwrap();
    // The reply is indented: compare without the whitespace.
    let compact: String = library.split_whitespace().collect();
    assert!(
        compact.contains(&format!(
            "<module><name>dmvpn-nhrp</name><revision>{}</revision><namespace>{NHRP_NS}</namespace></module>",
            nhrp.revision
        )),
        "{library}"
    );
    assert!(!library.contains("<interfaces"), "{library}");

    let datastores = client
        .rpc(&format!(
            "<get><filter type=\"xpath\" xmlns:yl=\"{YL_NS}\" select=\"/yl:yang-library/yl:datastore\"/></get>"
        ))
        .await;
    assert!(
        datastores.contains("<schema>all</schema>") && datastores.contains(":operational</name>"),
        "{datastores}"
    );
    assert!(!datastores.contains("<module-set>"), "{datastores}");

    // A filter of other nodes returns none of the library.
    let interfaces = client
        .rpc(&format!("<get>{HOLDING_TIME_FILTER}</get>"))
        .await;
    assert!(!interfaces.contains("yang-library"), "{interfaces}");
}
