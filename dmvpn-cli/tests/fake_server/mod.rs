//! A stand-in for dmvpnd's gRPC server: keeps a JSON configuration string,
//! answers state from a canned tree, records every request and returns the
//! errors a test asks for. Served on a unix socket in a temporary directory.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use dmvpn_api::v1::northbound_server::{Northbound, NorthboundServer};
use dmvpn_api::v1::{
    CapabilitiesRequest, CapabilitiesResponse, CommitRequest, CommitResponse, ConfirmRequest,
    ConfirmResponse, DataTree, Encoding, ExecuteRequest, ExecuteResponse, GetRequest, GetResponse,
    GetSchemaRequest, GetSchemaResponse, GetTransactionRequest, GetTransactionResponse,
    ListTransactionsRequest, ListTransactionsResponse, Notification, RollbackRequest,
    RollbackResponse, SubscribeRequest, Transaction, ValidateRequest, ValidateResponse,
    get_request::DataType, path_edit::Kind,
};
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::{Code, Request, Response, Status};

/// A request the fake received.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Get(GetRequest),
    GetStream(GetRequest),
    Validate(ValidateRequest),
    Commit(CommitRequest),
    Confirm,
    Rollback(RollbackRequest),
    Execute(ExecuteRequest),
    ListTransactions,
    GetTransaction(GetTransactionRequest),
}

/// What the fake answers with.
#[derive(Clone, Debug, Default)]
pub struct Fake {
    /// Running configuration, as JSON and XML.
    pub config: String,
    pub config_xml: String,
    /// Operational state (JSON).
    pub state: String,
    pub transactions: Vec<Transaction>,
    /// The size of GetStream's pieces (default: dmvpnd's).
    pub piece: Option<usize>,
    /// When not empty, what a GetStream with a page size answers (each a
    /// complete tree, in pieces), as dmvpnd parts a hub's lists; `state`
    /// answers the others.
    pub parts: Vec<String>,
    /// RPC name (`commit`, `get`, ...) to the error it fails with.
    pub errors: HashMap<&'static str, (Code, String)>,
    /// Commits change the configuration Get answers with (JSON only), as
    /// the CLI's candidate merges them.
    pub apply_commits: bool,
}

#[derive(Debug)]
struct Service {
    fake: Fake,
    calls: Arc<Mutex<Vec<Call>>>,
    /// The configuration (JSON) as commits left it.
    running: Arc<Mutex<String>>,
}

impl Service {
    fn record(&self, rpc: &str, call: Call) -> Result<(), Status> {
        self.calls.lock().expect("not poisoned").push(call);
        match self.fake.errors.get(rpc) {
            Some((code, message)) => Err(Status::new(*code, message.clone())),
            None => Ok(()),
        }
    }
}

fn json(data: &str) -> Option<DataTree> {
    Some(DataTree {
        encoding: Encoding::Json as i32,
        data: data.to_owned(),
    })
}

#[tonic::async_trait]
impl Northbound for Service {
    async fn capabilities(
        &self,
        _: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        Ok(Response::new(CapabilitiesResponse::default()))
    }

    async fn get_schema(
        &self,
        _: Request<GetSchemaRequest>,
    ) -> Result<Response<GetSchemaResponse>, Status> {
        Err(Status::unimplemented("no schemas in the fake"))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let request = request.into_inner();
        self.record("get", Call::Get(request.clone()))?;
        let data = match (request.r#type(), request.encoding()) {
            (DataType::State, _) => json(&self.fake.state),
            (_, Encoding::Xml) => Some(DataTree {
                encoding: Encoding::Xml as i32,
                data: self.fake.config_xml.clone(),
            }),
            (_, Encoding::Json) => json(&self.running.lock().expect("not poisoned")),
        };
        Ok(Response::new(GetResponse {
            timestamp: 1,
            data,
            continued: false,
        }))
    }

    type GetStreamStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<GetResponse, Status>> + Send>>;

    /// State in pieces of `Fake::piece` bytes (the whole tree, whatever
    /// the path), as dmvpnd's GetStream cuts it.
    async fn get_stream(
        &self,
        request: Request<GetRequest>,
    ) -> Result<Response<Self::GetStreamStream>, Status> {
        let request = request.into_inner();
        self.record("get_stream", Call::GetStream(request.clone()))?;
        if request.r#type() != DataType::State {
            return Err(Status::unimplemented("the fake streams state only"));
        }
        let size = self.fake.piece.unwrap_or(dmvpn_api::GET_STREAM_PIECE);
        let parts = match (request.page_size, self.fake.parts.is_empty()) {
            (1.., false) => self.fake.parts.clone(),
            _ => vec![self.fake.state.clone()],
        };
        let mut responses = vec![];
        for part in parts {
            let pieces: Vec<_> = match part.is_empty() {
                true => vec![String::new()],
                false => (part.as_bytes().chunks(size))
                    .map(|piece| String::from_utf8(piece.to_vec()).expect("ASCII state"))
                    .collect(),
            };
            let last = pieces.len() - 1;
            responses.extend(pieces.into_iter().enumerate().map(|(i, piece)| {
                Ok(GetResponse {
                    timestamp: 1,
                    data: json(&piece),
                    continued: i < last,
                })
            }));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(responses))))
    }

    async fn validate(
        &self,
        request: Request<ValidateRequest>,
    ) -> Result<Response<ValidateResponse>, Status> {
        self.record("validate", Call::Validate(request.into_inner()))?;
        Ok(Response::new(ValidateResponse {}))
    }

    async fn commit(
        &self,
        request: Request<CommitRequest>,
    ) -> Result<Response<CommitResponse>, Status> {
        let request = request.into_inner();
        self.record("commit", Call::Commit(request.clone()))?;
        if self.fake.apply_commits {
            let mut running = self.running.lock().expect("not poisoned");
            let base = match running.trim() {
                "" => serde_json::json!({}),
                text => serde_json::from_str(text).expect("the fake's config is JSON"),
            };
            let mut candidate = dmvpn_cli::candidate::Candidate::new(base);
            for edit in request.edits {
                match edit.kind() {
                    Kind::Set => candidate.set(&edit.path, &edit.value),
                    Kind::Delete => candidate.delete(&edit.path),
                }
                .map_err(Status::invalid_argument)?;
            }
            let merged = candidate.merged().map_err(Status::invalid_argument)?;
            *running = serde_json::to_string_pretty(&merged).expect("JSON");
        }
        Ok(Response::new(CommitResponse { transaction_id: 7 }))
    }

    async fn confirm(
        &self,
        _: Request<ConfirmRequest>,
    ) -> Result<Response<ConfirmResponse>, Status> {
        self.record("confirm", Call::Confirm)?;
        Ok(Response::new(ConfirmResponse {}))
    }

    async fn rollback(
        &self,
        request: Request<RollbackRequest>,
    ) -> Result<Response<RollbackResponse>, Status> {
        self.record("rollback", Call::Rollback(request.into_inner()))?;
        Ok(Response::new(RollbackResponse { transaction_id: 8 }))
    }

    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        self.record("execute", Call::Execute(request.into_inner()))?;
        Ok(Response::new(ExecuteResponse { data: None }))
    }

    async fn list_transactions(
        &self,
        _: Request<ListTransactionsRequest>,
    ) -> Result<Response<ListTransactionsResponse>, Status> {
        self.record("list_transactions", Call::ListTransactions)?;
        Ok(Response::new(ListTransactionsResponse {
            transactions: self.fake.transactions.clone(),
        }))
    }

    async fn get_transaction(
        &self,
        request: Request<GetTransactionRequest>,
    ) -> Result<Response<GetTransactionResponse>, Status> {
        let request = request.into_inner();
        self.record("get_transaction", Call::GetTransaction(request))?;
        let transaction = self
            .fake
            .transactions
            .iter()
            .find(|t| t.id == request.transaction_id)
            .cloned()
            .ok_or_else(|| Status::not_found("no such transaction"))?;
        Ok(Response::new(GetTransactionResponse {
            transaction: Some(transaction),
            config: json(&self.fake.config),
            changes: vec!["+ /ietf-interfaces:interfaces/interface[name='tun0'] = ".to_owned()],
        }))
    }

    type SubscribeStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<Notification, Status>> + Send>>;

    async fn subscribe(
        &self,
        _: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("no notifications in the fake"))
    }
}

/// Serves `fake` in a thread of its own, on a runtime of its own, until the
/// test process ends: `run` serves the router it is given on the listener.
/// The calls the fake records.
fn serve<F>(
    fake: Fake,
    running: Arc<Mutex<String>>,
    run: impl FnOnce(Router) -> F + Send + 'static,
) -> Arc<Mutex<Vec<Call>>>
where
    F: Future<Output = Result<(), tonic::transport::Error>>,
{
    let calls = Arc::new(Mutex::new(Vec::new()));
    let service = Service {
        fake,
        calls: Arc::clone(&calls),
        running,
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let router = Server::builder().add_service(NorthboundServer::new(service));
        runtime.block_on(run(router)).expect("fake server runs");
    });
    calls
}

/// A running fake; the server thread ends with the test process.
#[derive(Debug)]
pub struct FakeServer {
    _dir: tempfile::TempDir,
    pub socket: PathBuf,
    /// `http://127.0.0.1:PORT` when served over TCP.
    pub address: Option<String>,
    calls: Arc<Mutex<Vec<Call>>>,
    running: Arc<Mutex<String>>,
}

impl FakeServer {
    pub fn start(fake: Fake) -> FakeServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("grpc.sock");
        // Bound before the CLI starts, so it never races the server.
        let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind socket");
        listener.set_nonblocking(true).expect("non-blocking");
        let running = Arc::new(Mutex::new(fake.config.clone()));
        let calls = serve(fake, Arc::clone(&running), |server| async move {
            let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            server.serve_with_incoming(incoming).await
        });
        FakeServer {
            _dir: dir,
            socket,
            address: None,
            calls,
            running,
        }
    }

    /// The fake on a TCP port of the loopback address instead.
    pub fn start_tcp(fake: Fake) -> FakeServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = format!("http://{}", listener.local_addr().expect("bound"));
        let running = Arc::new(Mutex::new(fake.config.clone()));
        let calls = serve(fake, Arc::clone(&running), |server| async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            server.serve_with_incoming(incoming).await
        });
        FakeServer {
            socket: dir.path().join("unused.sock"),
            _dir: dir,
            address: Some(address),
            calls,
            running,
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dmvpn-cli"));
        match &self.address {
            Some(address) => command.arg("--address").arg(address),
            None => command.arg("--socket").arg(&self.socket),
        };
        command
    }

    /// Runs `dmvpn-cli --socket SOCKET -c COMMAND...`.
    pub fn one_shot(&self, commands: &[&str]) -> Output {
        self.command_with(commands)
            .output()
            .expect("dmvpn-cli runs")
    }

    /// `dmvpn-cli --socket SOCKET -c COMMAND...`, to spawn.
    pub fn command_with(&self, commands: &[&str]) -> Command {
        let mut command = self.command();
        for c in commands {
            command.arg("-c").arg(c);
        }
        command
    }

    /// Runs the shell with `script` on its (non-terminal) stdin.
    pub fn shell(&self, script: &str) -> Output {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dmvpn-cli runs");
        child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(script.as_bytes())
            .expect("script written");
        child.wait_with_output().expect("dmvpn-cli ends")
    }

    /// The configuration (JSON) as the commits left it.
    #[allow(dead_code)] // Not every test binary reads it.
    pub fn running(&self) -> serde_json::Value {
        let running = self.running.lock().expect("not poisoned").clone();
        serde_json::from_str(&running).expect("JSON")
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("not poisoned").clone()
    }

    pub fn commits(&self) -> Vec<CommitRequest> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::Commit(commit) => Some(commit),
                _ => None,
            })
            .collect()
    }
}
