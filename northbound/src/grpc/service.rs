//! The tonic service: each RPC of the proto, translated into a request to
//! the northbound task, a state or RPC provider call, or a subscription,
//! all through the transport-neutral [`Handle`].

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use dmvpn_api::v1 as api;
use dmvpn_api::v1::northbound_server::{self, NorthboundServer};
use holo_utils::sys::yang::print_data;
use tokio::sync::oneshot;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use yang2::data::{DataOperation, DataPrinterFlags};
use yang2::schema::SchemaPathFormat;

use crate::auth::{Actor, Identity};
use crate::candidate::LoadMode;
use crate::change::Operation;
use crate::clock::unix_ms;
use crate::config::{Config, Format};
use crate::data;
use crate::error::Error;
use crate::provider::{Notifier, StateFilter, YangNotification};
use crate::storage::TransactionRecord;
use crate::task::{self, Edit, Handle, Stopped};

/// The gRPC service; clones share the northbound task and the providers.
#[derive(Clone, Debug)]
pub struct Service {
    handle: Handle,
}

impl Service {
    pub fn new(handle: Handle) -> Self {
        Service { handle }
    }

    /// Where protocol tasks publish notifications.
    pub fn notifier(&self) -> Notifier {
        self.handle.notifier()
    }

    /// The tonic server wrapper, for `tonic::transport::Server::add_service`.
    pub fn into_server(self) -> NorthboundServer<Service> {
        NorthboundServer::new(self)
            .max_decoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE)
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> task::Request,
    ) -> Result<T, Status> {
        self.handle.ask(request).await.map_err(unavailable)
    }

    async fn running(&self) -> Result<Config, Status> {
        self.ask(task::Request::Running).await
    }

    /// What Get answers: the tree of the request's type below its path,
    /// printed. State providers render only what the path asks for.
    async fn get_text(&self, request: api::GetRequest) -> Result<(Format, String), Status> {
        let fmt = format(request.encoding());
        let filter = || StateFilter::new(&request.path);
        let tree = match request.r#type() {
            api::get_request::DataType::Config => self
                .running()
                .await?
                .tree()
                .duplicate()
                .map_err(Error::from)
                .map_err(status)?,
            api::get_request::DataType::State => self.handle.state(&filter()).await,
            api::get_request::DataType::All => {
                let mut tree = self
                    .running()
                    .await?
                    .tree()
                    .duplicate()
                    .map_err(Error::from)
                    .map_err(status)?;
                tree.merge(&self.handle.state(&filter()).await)
                    .map_err(Error::from)
                    .map_err(status)?;
                tree
            }
        };
        let mut tree = tree;
        if !request.path.is_empty() {
            data::select_in_place(&mut tree, &request.path).map_err(status)?;
        }
        data::redact(&mut tree).map_err(status)?;
        let text = data::print(&tree, fmt, request.with_defaults).map_err(status)?;
        Ok((fmt, text))
    }
}

/// The GetStream messages of one part: its text in pieces, each but the
/// last `continued`.
fn responses(
    fmt: Format,
    text: String,
    timestamp: u64,
) -> impl Iterator<Item = api::GetResponse> + Send {
    let mut pieces = Pieces::new(text, dmvpn_api::GET_STREAM_PIECE).peekable();
    std::iter::from_fn(move || {
        let piece = pieces.next()?;
        Some(api::GetResponse {
            timestamp,
            data: Some(tree_message(fmt, piece)),
            continued: pieces.peek().is_some(),
        })
    })
}

impl Service {
    /// GetStream with a page size: the configuration (for CONFIG and ALL)
    /// as the first part, then each state provider's parts as it renders
    /// them, each selected, redacted and printed on its own (a path that
    /// `selects_by_parts`), and sent before the next is taken. Parts that
    /// select nothing are not sent; an answer with none is one empty tree.
    /// `Err` when the client went away (nothing left to tell) or a part
    /// could not be selected or printed (told as the stream's error).
    async fn send_parts(
        &self,
        request: api::GetRequest,
        page: usize,
        timestamp: u64,
        tx: &tokio::sync::mpsc::Sender<Result<api::GetResponse, Status>>,
    ) -> Result<(), Status> {
        use api::get_request::DataType;
        let fmt = format(request.encoding());
        let mut sender = PartSender {
            tx,
            fmt,
            timestamp,
            sent: false,
        };
        if matches!(request.r#type(), DataType::Config | DataType::All) {
            let running = self.running().await?;
            let tree = (running.tree().duplicate())
                .map_err(Error::from)
                .map_err(status)?;
            let text = part_text(tree, &request.path, fmt, request.with_defaults)?;
            sender.send(text).await?;
        }
        if matches!(request.r#type(), DataType::State | DataType::All) {
            let filter = StateFilter::new(&request.path);
            for provider in self.handle.state_providers() {
                let mut parts = match provider.state_parts(&filter, page).await {
                    Ok(parts) => parts,
                    Err(error) => {
                        tracing::warn!(provider = provider.name(), %error, "state left out");
                        continue;
                    }
                };
                // A part goes through libyang (parse, select, print) in a
                // blocking thread while the provider renders the next: on
                // a hub, each takes about half of a large answer's time.
                type Rendered = Result<Result<Option<String>, Status>, String>;
                let mut pending: Option<tokio::task::JoinHandle<Rendered>> = None;
                loop {
                    let next = match parts.next().await {
                        Some(Ok(json)) => {
                            let (path, defaults) = (request.path.clone(), request.with_defaults);
                            Some(tokio::task::spawn_blocking(move || {
                                let tree = data::parse_state_text(json, Format::Json)
                                    .map_err(|e| e.to_string())?;
                                Ok(part_text(tree, &path, fmt, defaults))
                            }))
                        }
                        Some(Err(error)) => {
                            tracing::warn!(provider = provider.name(), %error, "state left out");
                            None
                        }
                        None => None,
                    };
                    let done = next.is_none();
                    if let Some(previous) = std::mem::replace(&mut pending, next) {
                        let rendered = (previous.await)
                            .map_err(|e| Status::internal(format!("rendering state: {e}")))?;
                        match rendered {
                            Ok(text) => sender.send(text?).await?,
                            Err(error) => {
                                tracing::warn!(provider = provider.name(), %error, "state left out");
                                break;
                            }
                        }
                    }
                    if done {
                        break;
                    }
                }
            }
        }
        if !sender.sent {
            let empty =
                data::print(&data::Tree::new(dmvpn_yang::context()), fmt, false).map_err(status)?;
            sender.send(Some(empty)).await?;
        }
        Ok(())
    }
}

/// A part as GetStream sends it: `tree` selected (`path`; empty: all),
/// redacted and printed; `None` when it selects nothing.
fn part_text(
    mut tree: data::Tree,
    path: &str,
    fmt: Format,
    with_defaults: bool,
) -> Result<Option<String>, Status> {
    if !path.is_empty() {
        data::select_in_place(&mut tree, path).map_err(status)?;
    }
    if tree.reference().is_none() {
        return Ok(None);
    }
    data::redact(&mut tree).map_err(status)?;
    data::print(&tree, fmt, with_defaults)
        .map(Some)
        .map_err(status)
}

/// Sends the parts of a GetStream, each in pieces.
struct PartSender<'a> {
    tx: &'a tokio::sync::mpsc::Sender<Result<api::GetResponse, Status>>,
    fmt: Format,
    timestamp: u64,
    /// Whether a part went out.
    sent: bool,
}

impl PartSender<'_> {
    /// Sends `text` (`None`: nothing); `Err` when the client went away.
    async fn send(&mut self, text: Option<String>) -> Result<(), Status> {
        let Some(text) = text else {
            return Ok(());
        };
        self.sent = true;
        for response in responses(self.fmt, text, self.timestamp) {
            (self.tx.send(Ok(response)).await)
                .map_err(|_| Status::cancelled("the client went away"))?;
        }
        Ok(())
    }
}

/// A text in consecutive pieces of at most `size` bytes (at least one
/// character each), cut between characters; an empty text is one empty
/// piece, so that a stream always says its encoding.
#[derive(Debug)]
struct Pieces {
    text: String,
    size: usize,
    at: usize,
    done: bool,
}

impl Pieces {
    fn new(text: String, size: usize) -> Self {
        Pieces {
            text,
            size: size.max(4),
            at: 0,
            done: false,
        }
    }
}

impl Iterator for Pieces {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let mut end = (self.at + self.size).min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let piece = self.text[self.at..end].to_owned();
        self.at = end;
        self.done = end == self.text.len();
        Some(piece)
    }
}

/// Who sent `request`: the identity the TCP listener authenticated, or
/// the local administrator on the unix socket (its file mode is the access
/// control there). Each request is a session of its own: gRPC has no lock.
pub(crate) fn actor<T>(request: &Request<T>) -> Actor {
    let identity = request
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::local);
    Actor::new(identity, "grpc")
}

/// The actor of a request that writes: a read-only user is refused.
fn writer<T>(request: &Request<T>) -> Result<Actor, Status> {
    let actor = actor(request);
    if !actor.may_write() {
        tracing::info!(user = actor.user(), "gRPC write refused: read-only user");
        return Err(Status::permission_denied(format!(
            "user {} may only read",
            actor.user()
        )));
    }
    Ok(actor)
}

fn unavailable(stopped: Stopped) -> Status {
    Status::unavailable(stopped.to_string())
}

/// Errors as gRPC codes; the message is the northbound error as it prints
/// (YANG path first, then the reason).
pub(crate) fn status(error: Error) -> Status {
    let message = error.to_string();
    match error {
        Error::Yang { .. } => Status::invalid_argument(message),
        Error::Refused { .. }
        | Error::Outdated { .. }
        | Error::NothingToConfirm
        | Error::NotLocked
        | Error::ConfirmOwner { .. } => Status::failed_precondition(message),
        Error::Locked { .. } => Status::aborted(message),
        Error::Stopped => Status::unavailable(message),
        Error::UnknownTransaction(_) => Status::not_found(message),
        Error::Io { .. } | Error::Corrupt { .. } => Status::internal(message),
    }
}

fn format(encoding: api::Encoding) -> Format {
    match encoding {
        api::Encoding::Json => Format::Json,
        api::Encoding::Xml => Format::Xml,
    }
}

fn encoding(format: Format) -> api::Encoding {
    match format {
        Format::Json => api::Encoding::Json,
        Format::Xml => api::Encoding::Xml,
    }
}

fn tree_message(format: Format, data: String) -> api::DataTree {
    api::DataTree {
        encoding: encoding(format) as i32,
        data,
    }
}

/// Paths and values go to libyang as C strings.
fn checked(text: String) -> Result<String, Status> {
    data::c_text(&text).map_err(status)?;
    Ok(text)
}

fn now_secs() -> u64 {
    unix_ms(SystemTime::now()) / 1000
}

fn transaction(record: &TransactionRecord) -> api::Transaction {
    api::Transaction {
        id: record.id,
        date: record.time,
        comment: record.comment.clone(),
        user: record.user.clone(),
    }
}

/// "+ path = value" (created), "~ path = value" (modified), "- path".
fn change_line(change: &crate::change::Change) -> String {
    let sign = match change.operation {
        Operation::Create => '+',
        Operation::Modify => '~',
        Operation::Delete => '-',
    };
    match (&change.value, change.operation) {
        (Some(value), Operation::Create | Operation::Modify) => {
            format!("{sign} {} = {value}", change.path)
        }
        _ => format!("{sign} {}", change.path),
    }
}

#[tonic::async_trait]
impl northbound_server::Northbound for Service {
    async fn capabilities(
        &self,
        _request: Request<api::CapabilitiesRequest>,
    ) -> Result<Response<api::CapabilitiesResponse>, Status> {
        let context = dmvpn_yang::context();
        let supported_modules = dmvpn_yang::MODULES
            .iter()
            .map(|module| api::ModuleData {
                name: module.name.to_owned(),
                organization: context
                    .get_module(module.name, Some(module.revision))
                    .and_then(|m| m.organization().map(str::to_owned))
                    .unwrap_or_default(),
                revision: module.revision.to_owned(),
            })
            .collect();
        Ok(Response::new(api::CapabilitiesResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            supported_modules,
            supported_encodings: vec![api::Encoding::Json as i32, api::Encoding::Xml as i32],
        }))
    }

    async fn get_schema(
        &self,
        request: Request<api::GetSchemaRequest>,
    ) -> Result<Response<api::GetSchemaResponse>, Status> {
        let request = request.into_inner();
        let revision = Some(request.module_revision.as_str()).filter(|r| !r.is_empty());
        match dmvpn_yang::module_text(&request.module_name, revision) {
            Some(text) => Ok(Response::new(api::GetSchemaResponse {
                data: text.to_owned(),
            })),
            None => Err(Status::not_found(format!(
                "no module {}{}",
                request.module_name,
                revision.map(|r| format!("@{r}")).unwrap_or_default()
            ))),
        }
    }

    async fn get(
        &self,
        request: Request<api::GetRequest>,
    ) -> Result<Response<api::GetResponse>, Status> {
        let (fmt, text) = self.get_text(request.into_inner()).await?;
        Ok(Response::new(api::GetResponse {
            timestamp: now_secs(),
            data: Some(tree_message(fmt, text)),
            continued: false,
        }))
    }

    type GetStreamStream = Pin<Box<dyn Stream<Item = Result<api::GetResponse, Status>> + Send>>;

    async fn get_stream(
        &self,
        request: Request<api::GetRequest>,
    ) -> Result<Response<Self::GetStreamStream>, Status> {
        let request = request.into_inner();
        let timestamp = now_secs();
        let page = request.page_size as usize;
        if page == 0 || !StateFilter::new(&request.path).selects_by_parts() {
            let (fmt, text) = self.get_text(request).await?;
            let pieces = responses(fmt, text, timestamp).map(Ok);
            return Ok(Response::new(Box::pin(tokio_stream::iter(pieces))));
        }
        checked(request.path.clone())?;
        // Parts leave one at a time: the producer waits while the client
        // has not taken the previous ones (and stops when it is gone).
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(status) = service.send_parts(request, page, timestamp, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn validate(
        &self,
        request: Request<api::ValidateRequest>,
    ) -> Result<Response<api::ValidateResponse>, Status> {
        let config = request
            .into_inner()
            .config
            .ok_or_else(|| Status::invalid_argument("no configuration to validate"))?;
        Config::parse(&config.data, format(config.encoding())).map_err(status)?;
        Ok(Response::new(api::ValidateResponse {}))
    }

    async fn commit(
        &self,
        request: Request<api::CommitRequest>,
    ) -> Result<Response<api::CommitResponse>, Status> {
        use api::commit_request::Operation as Op;
        let actor = writer(&request)?;
        let request = request.into_inner();
        let edits = match request.operation() {
            Op::Merge | Op::Replace => {
                let mode = match request.operation() {
                    Op::Merge => LoadMode::Merge,
                    _ => LoadMode::Replace,
                };
                let config = request
                    .config
                    .ok_or_else(|| Status::invalid_argument("no configuration to commit"))?;
                let fmt = format(config.encoding());
                vec![Edit::Load(config.data, fmt, mode)]
            }
            Op::Change => {
                let mut edits = vec![];
                for edit in request.edits {
                    let kind = edit.kind();
                    let path = checked(edit.path)?;
                    edits.push(match kind {
                        api::path_edit::Kind::Set => {
                            let value = Some(checked(edit.value)?).filter(|v| !v.is_empty());
                            Edit::Set(path, value)
                        }
                        api::path_edit::Kind::Delete => Edit::Delete(path),
                    });
                }
                edits
            }
        };
        let confirmed = match request.confirmed_timeout {
            0 => None,
            secs => Some(Duration::from_secs(secs.into())),
        };
        let id = self
            .handle
            .commit(&actor, edits, &request.comment, confirmed)
            .await
            .map_err(status)?;
        Ok(Response::new(api::CommitResponse {
            transaction_id: id.unwrap_or(0),
        }))
    }

    async fn confirm(
        &self,
        request: Request<api::ConfirmRequest>,
    ) -> Result<Response<api::ConfirmResponse>, Status> {
        let actor = writer(&request)?;
        self.handle.confirm(&actor).await.map_err(status)?;
        Ok(Response::new(api::ConfirmResponse {}))
    }

    async fn rollback(
        &self,
        request: Request<api::RollbackRequest>,
    ) -> Result<Response<api::RollbackResponse>, Status> {
        let actor = writer(&request)?;
        let request = request.into_inner();
        let id = self
            .ask(|reply| task::Request::Rollback {
                id: request.transaction_id,
                comment: request.comment,
                actor,
                reply,
            })
            .await?
            .map_err(status)?;
        Ok(Response::new(api::RollbackResponse {
            transaction_id: id.unwrap_or(0),
        }))
    }

    async fn execute(
        &self,
        request: Request<api::ExecuteRequest>,
    ) -> Result<Response<api::ExecuteResponse>, Status> {
        writer(&request)?;
        let input = request
            .into_inner()
            .data
            .ok_or_else(|| Status::invalid_argument("no RPC input"))?;
        let (path, json) = {
            let tree = data::parse_operation(
                &input.data,
                format(input.encoding()),
                DataOperation::RpcYang,
            )
            .map_err(status)?;
            let Some(rpc) = tree.reference() else {
                return Err(Status::invalid_argument("no RPC in the input"));
            };
            let path = rpc.schema().path(SchemaPathFormat::DATA);
            let json = print_data(
                &tree,
                yang2::data::DataFormat::JSON,
                DataPrinterFlags::WITH_SIBLINGS,
            )
            .map_err(Error::from)
            .map_err(status)?
            .unwrap_or_default();
            (path, json)
        };
        let handler = self
            .handle
            .rpc_handler(&path)
            .ok_or_else(|| Status::not_found(format!("{path}: no handler for this RPC")))?;
        let output = handler.execute(json).await.map_err(|refusal| {
            Status::failed_precondition(match refusal.path {
                Some(path) => format!("{path}: {}", refusal.reason),
                None => refusal.reason,
            })
        })?;
        Ok(Response::new(api::ExecuteResponse {
            data: Some(tree_message(Format::Json, output.unwrap_or_default())),
        }))
    }

    async fn list_transactions(
        &self,
        _request: Request<api::ListTransactionsRequest>,
    ) -> Result<Response<api::ListTransactionsResponse>, Status> {
        let records = self.ask(task::Request::Transactions).await?;
        Ok(Response::new(api::ListTransactionsResponse {
            transactions: records.iter().map(transaction).collect(),
        }))
    }

    async fn get_transaction(
        &self,
        request: Request<api::GetTransactionRequest>,
    ) -> Result<Response<api::GetTransactionResponse>, Status> {
        let request = request.into_inner();
        let fmt = format(request.encoding());
        let records = self.ask(task::Request::Transactions).await?;
        let record = records
            .iter()
            .find(|r| r.id == request.transaction_id)
            .ok_or_else(|| status(Error::UnknownTransaction(request.transaction_id)))?;
        let config = Config::parse(&record.config, Format::Json)
            .and_then(|config| {
                let mut tree = config.tree().duplicate()?;
                data::redact(&mut tree)?;
                data::print(&tree, fmt, false)
            })
            .map_err(status)?;
        Ok(Response::new(api::GetTransactionResponse {
            transaction: Some(transaction(record)),
            config: Some(tree_message(fmt, config)),
            changes: record.changes.iter().map(change_line).collect(),
        }))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<api::Notification, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<api::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        let fmt = format(request.encoding());
        let prefix = request.path;
        let notifications = self.handle.notifier().subscribe();
        let stream = BroadcastStream::new(notifications).filter_map(move |item| match item {
            Ok(notification) if notification.path.starts_with(&prefix) => {
                Some(notification_message(notification, fmt))
            }
            Ok(_) => None,
            Err(lagged) => {
                tracing::warn!(%lagged, "a subscriber missed notifications");
                None
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

fn notification_message(
    notification: YangNotification,
    fmt: Format,
) -> Result<api::Notification, Status> {
    let data = match fmt {
        Format::Json => notification.json,
        Format::Xml => {
            let tree = data::parse_operation(
                &notification.json,
                Format::Json,
                DataOperation::NotificationYang,
            )
            .map_err(status)?;
            data::print(&tree, Format::Xml, false).map_err(status)?
        }
    };
    Ok(api::Notification {
        timestamp: notification.timestamp,
        data: Some(tree_message(fmt, data)),
    })
}

#[cfg(test)]
mod tests {
    use super::Pieces;

    #[test]
    fn pieces_are_cut_between_characters_and_join_to_the_text() {
        let text = "aé€😀".repeat(100);
        for size in [4, 5, 7, 1000] {
            let pieces: Vec<String> = Pieces::new(text.clone(), size).collect();
            assert!(pieces.iter().all(|p| p.len() <= size && !p.is_empty()));
            assert_eq!(pieces.concat(), text);
        }
        assert_eq!(Pieces::new(String::new(), 8).collect::<Vec<_>>(), [""]);
        assert_eq!(Pieces::new("abcdefgh".into(), 4).count(), 2);
    }
}
