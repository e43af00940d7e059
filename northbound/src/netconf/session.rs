//! One NETCONF session: the hello exchange, then each `<rpc>` in turn
//! answered with its `<rpc-reply>`, notifications of a subscription sent
//! between them (RFC 5277 interleave), until `<close-session>`, a kill or
//! the end of the stream.
//!
//! ```text
//!   stream --bytes--> Decoder --message--> parse <rpc> --> access check
//!     ^                                                       |
//!     +--<rpc-reply>-- encode <-- reply / rpc-error <-- operation (Handle)
//!     +--<notification>-- subscription (Notifier)
//! ```

use std::sync::Arc;

use roxmltree::{Document, Node, ParsingOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use super::capabilities;
use super::framing::{self, Decoder, Frame, Framing};
use super::notification::Subscription;
use super::rpc_error::{Layer, RpcError};
use super::server::{Counters, Netconf};
use super::xml;
use crate::auth::Actor;

/// Nodes of one request at most (roxmltree's bound on memory).
const MAX_NODES: u32 = 1_000_000;
/// Elements nested in a request at most: the schema is far shallower,
/// and what copies a request walks it recursively.
const MAX_DEPTH: usize = 128;

/// What an operation answers, inside `<rpc-reply>`.
#[derive(Debug)]
pub(crate) enum Reply {
    Ok,
    /// Children of `<rpc-reply>` as they are (`<data>`, YANG RPC output).
    Body(String),
}

/// The operations of the protocol, and our YANG RPCs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Get,
    GetConfig,
    EditConfig,
    CopyConfig,
    DeleteConfig,
    Lock,
    Unlock,
    CloseSession,
    KillSession,
    Commit,
    CancelCommit,
    DiscardChanges,
    Validate,
    CreateSubscription,
    GetSchema,
    /// A YANG RPC, by its path (`/dmvpn-nhrp:clear-cache`).
    Yang(String),
}

impl Operation {
    fn identify(node: Node<'_, '_>) -> Result<Self, RpcError> {
        let name = node.tag_name().name();
        let Some(ns) = node.tag_name().namespace() else {
            return Err(RpcError::unknown_element(Layer::Rpc, name));
        };
        let operation = match (ns, name) {
            (xml::BASE, "get") => Operation::Get,
            (xml::BASE, "get-config") => Operation::GetConfig,
            (xml::BASE, "edit-config") => Operation::EditConfig,
            (xml::BASE, "copy-config") => Operation::CopyConfig,
            (xml::BASE, "delete-config") => Operation::DeleteConfig,
            (xml::BASE, "lock") => Operation::Lock,
            (xml::BASE, "unlock") => Operation::Unlock,
            (xml::BASE, "close-session") => Operation::CloseSession,
            (xml::BASE, "kill-session") => Operation::KillSession,
            (xml::BASE, "commit") => Operation::Commit,
            (xml::BASE, "cancel-commit") => Operation::CancelCommit,
            (xml::BASE, "discard-changes") => Operation::DiscardChanges,
            (xml::BASE, "validate") => Operation::Validate,
            (xml::NOTIFICATION, "create-subscription") => Operation::CreateSubscription,
            (xml::MONITORING, "get-schema") => Operation::GetSchema,
            (xml::BASE | xml::NOTIFICATION | xml::MONITORING, _) => {
                return Err(RpcError::operation_not_supported(format!(
                    "operation <{name}> is not supported"
                )));
            }
            (ns, name) => {
                let module = xml::module_of(ns).ok_or_else(|| {
                    RpcError::new(
                        Layer::Rpc,
                        "unknown-namespace",
                        format!("no module has namespace {ns}"),
                    )
                    .with_info("bad-element", name)
                    .with_info("bad-namespace", ns)
                })?;
                if !module.rpcs().any(|rpc| rpc.name() == name) {
                    return Err(RpcError::operation_not_supported(format!(
                        "{} has no RPC {name}",
                        module.name()
                    )));
                }
                Operation::Yang(format!("/{}:{name}", module.name()))
            }
        };
        Ok(operation)
    }

    /// What a read-only user may do (NACM, RFC 8341, reduced to its
    /// read-only group): read, validate, subscribe, leave.
    fn reads_only(&self) -> bool {
        matches!(
            self,
            Operation::Get
                | Operation::GetConfig
                | Operation::GetSchema
                | Operation::Validate
                | Operation::CreateSubscription
                | Operation::CloseSession
        )
    }

    fn name(&self) -> &str {
        match self {
            Operation::Get => "get",
            Operation::GetConfig => "get-config",
            Operation::EditConfig => "edit-config",
            Operation::CopyConfig => "copy-config",
            Operation::DeleteConfig => "delete-config",
            Operation::Lock => "lock",
            Operation::Unlock => "unlock",
            Operation::CloseSession => "close-session",
            Operation::KillSession => "kill-session",
            Operation::Commit => "commit",
            Operation::CancelCommit => "cancel-commit",
            Operation::DiscardChanges => "discard-changes",
            Operation::Validate => "validate",
            Operation::CreateSubscription => "create-subscription",
            Operation::GetSchema => "get-schema",
            Operation::Yang(path) => path,
        }
    }
}

/// One session's state; the shared state is in [`Netconf`].
#[derive(Debug)]
pub(crate) struct Session {
    pub netconf: Arc<Netconf>,
    pub actor: Actor,
    framing: Framing,
    pub subscription: Option<Subscription>,
    closing: bool,
}

impl Session {
    pub(crate) fn new(netconf: Arc<Netconf>, actor: Actor) -> Self {
        Session {
            netconf,
            actor,
            framing: Framing::EndOfMessage,
            subscription: None,
            closing: false,
        }
    }

    pub(crate) async fn run<S>(mut self, stream: S, mut killed: oneshot::Receiver<()>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let hello = capabilities::server_hello(self.actor.session);
        if !self.deliver(&mut writer, &hello, &mut killed).await {
            return;
        }
        let mut decoder = Decoder::new(self.netconf.limits.max_message);
        let mut hello_done = false;
        let mut buffer = vec![0u8; 64 * 1024];
        let hello_timeout = tokio::time::sleep(self.netconf.limits.hello_timeout);
        tokio::pin!(hello_timeout);
        loop {
            while let Some(frame) = decoder.next_frame() {
                if killed.try_recv().is_ok() {
                    // Killed while requests were queued: none is served.
                    return;
                }
                let reply = match frame {
                    Frame::Message(message) if !hello_done => {
                        match capabilities::client_hello(&message) {
                            Ok(framing) => {
                                hello_done = true;
                                self.framing = framing;
                                decoder.set_framing(framing);
                                continue;
                            }
                            Err(error) => {
                                Counters::count(&self.netconf.counters.bad_hellos);
                                tracing::info!(session = self.actor.session, %error, "NETCONF hello refused");
                                return;
                            }
                        }
                    }
                    Frame::Message(message) => self.message(&message).await,
                    Frame::Oversize if !hello_done => {
                        Counters::count(&self.netconf.counters.bad_hellos);
                        return;
                    }
                    Frame::Oversize => {
                        Counters::count(&self.netconf.counters.malformed);
                        let error = RpcError::new(
                            Layer::Rpc,
                            "too-big",
                            format!(
                                "the message is longer than {} bytes: skipped",
                                self.netconf.limits.max_message
                            ),
                        );
                        self.error_reply(&error)
                    }
                    Frame::Broken(reason) => {
                        Counters::count(&self.netconf.counters.malformed);
                        tracing::info!(
                            session = self.actor.session,
                            reason,
                            "NETCONF framing broken"
                        );
                        let error = RpcError::malformed(format!("chunked framing: {reason}"));
                        let reply = self.error_reply(&error);
                        self.deliver(&mut writer, &reply, &mut killed).await;
                        return;
                    }
                };
                if !self.deliver(&mut writer, &reply, &mut killed).await || self.closing {
                    return;
                }
            }
            tokio::select! {
                read = reader.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => {
                        if decoder.has_partial() {
                            Counters::count(&self.netconf.counters.malformed);
                            tracing::info!(session = self.actor.session, "NETCONF session ended inside a message");
                        }
                        return;
                    }
                    Ok(n) => decoder.feed(&buffer[..n]),
                },
                notification = Subscription::next(&mut self.subscription) => {
                    if let Some(text) = notification {
                        Counters::count(&self.netconf.counters.notifications);
                        if !self.deliver(&mut writer, &text, &mut killed).await {
                            return;
                        }
                    }
                }
                () = &mut hello_timeout, if !hello_done => {
                    Counters::count(&self.netconf.counters.bad_hellos);
                    tracing::info!(session = self.actor.session, "NETCONF session closed: no hello in time");
                    return;
                }
                _ = &mut killed => {
                    tracing::info!(session = self.actor.session, "NETCONF session killed");
                    return;
                }
            }
        }
    }

    /// Sends a message; false when the stream failed or the session was
    /// killed meanwhile (a client that stops reading blocks the write).
    async fn deliver<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut W,
        message: &str,
        killed: &mut oneshot::Receiver<()>,
    ) -> bool {
        tokio::select! {
            sent = self.send(writer, message) => sent.is_ok(),
            _ = killed => false,
        }
    }

    async fn send<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut W,
        message: &str,
    ) -> std::io::Result<()> {
        writer
            .write_all(&framing::encode(self.framing, message))
            .await?;
        writer.flush().await
    }

    /// The reply to one message.
    async fn message(&mut self, bytes: &[u8]) -> String {
        let counters = &self.netconf.counters;
        // Whitespace before a message (a newline after the previous
        // end marker) would put an XML declaration out of place.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.trim_start(),
            Err(error) => {
                Counters::count(&counters.malformed);
                return self.error_reply(&RpcError::malformed(format!("not UTF-8: {error}")));
            }
        };
        let options = ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_NODES,
            ..ParsingOptions::default()
        };
        let doc = match Document::parse_with_options(text, options) {
            Ok(doc) => doc,
            Err(error) => {
                Counters::count(&counters.malformed);
                return self.error_reply(&RpcError::malformed(format!(
                    "not well-formed XML: {error}"
                )));
            }
        };
        if too_deep(&doc) {
            Counters::count(&counters.malformed);
            let error = RpcError::malformed(format!("elements nested deeper than {MAX_DEPTH}"));
            return self.error_reply(&error);
        }
        let rpc = doc.root_element();
        if !rpc.has_tag_name((xml::BASE, "rpc")) {
            Counters::count(&counters.malformed);
            let error = RpcError::unknown_element(Layer::Rpc, rpc.tag_name().name());
            return self.error_reply(&error);
        }
        Counters::count(&counters.rpcs);
        let attributes = reply_attributes(rpc);
        let result = match (rpc.attribute("message-id"), xml::elements(rpc).next()) {
            (None, _) => {
                Err(
                    RpcError::new(Layer::Rpc, "missing-attribute", "<rpc> has no message-id")
                        .with_info("bad-attribute", "message-id")
                        .with_info("bad-element", "rpc"),
                )
            }
            (Some(_), None) => Err(RpcError::missing_element(Layer::Rpc, "operation")),
            (Some(_), Some(operation)) => self.operation(operation).await,
        };
        let body = match result {
            Ok(Reply::Ok) => "<ok/>".to_owned(),
            Ok(Reply::Body(body)) => body,
            Err(error) => {
                Counters::count(&self.netconf.counters.rpc_errors);
                error.to_xml()
            }
        };
        format!(
            "<rpc-reply xmlns=\"{}\"{attributes}>{body}</rpc-reply>",
            xml::BASE
        )
    }

    /// An `<rpc-reply>` to a message that had no usable `<rpc>`.
    fn error_reply(&self, error: &RpcError) -> String {
        Counters::count(&self.netconf.counters.rpc_errors);
        format!(
            "<rpc-reply xmlns=\"{}\">{}</rpc-reply>",
            xml::BASE,
            error.to_xml()
        )
    }

    async fn operation(&mut self, node: Node<'_, '_>) -> Result<Reply, RpcError> {
        let operation = Operation::identify(node)?;
        if !operation.reads_only() && !self.actor.may_write() {
            Counters::count(&self.netconf.counters.access_denied);
            tracing::info!(
                user = self.actor.user(),
                session = self.actor.session,
                operation = operation.name(),
                "NETCONF access denied"
            );
            return Err(RpcError::access_denied(operation.name(), self.actor.user()));
        }
        match operation {
            Operation::Get => super::get::get(self, node).await,
            Operation::GetConfig => super::get::get_config(self, node).await,
            Operation::EditConfig => super::edit::edit_config(self, node).await,
            Operation::CopyConfig => super::copy::copy_config(self, node).await,
            Operation::DeleteConfig => super::copy::delete_config(self, node).await,
            Operation::Lock => super::commit::lock(self, node).await,
            Operation::Unlock => super::commit::unlock(self, node).await,
            Operation::Commit => super::commit::commit(self, node).await,
            Operation::CancelCommit => super::commit::cancel_commit(self, node).await,
            Operation::DiscardChanges => super::commit::discard_changes(self),
            Operation::Validate => super::commit::validate(self, node).await,
            Operation::CreateSubscription => super::notification::create_subscription(self, node),
            Operation::GetSchema => capabilities::get_schema(node).map(Reply::Body),
            Operation::Yang(path) => super::rpc::execute(self, &path, node).await,
            Operation::CloseSession => {
                self.closing = true;
                Ok(Reply::Ok)
            }
            Operation::KillSession => self.kill_session(node).await,
        }
    }

    /// RFC 6241, 7.9.
    async fn kill_session(&self, node: Node<'_, '_>) -> Result<Reply, RpcError> {
        let id = xml::child(node, xml::BASE, "session-id")
            .ok_or_else(|| RpcError::missing_element(Layer::Protocol, "session-id"))?;
        let id: u64 = xml::content(id)
            .trim()
            .parse()
            .map_err(|_| RpcError::invalid_value("session-id is not a number"))?;
        if id == self.actor.session {
            return Err(RpcError::invalid_value(
                "a session cannot kill itself: use <close-session>",
            ));
        }
        match self.netconf.kill(id).await {
            true => {
                tracing::info!(
                    user = self.actor.user(),
                    killed = id,
                    "NETCONF session killed by another"
                );
                Ok(Reply::Ok)
            }
            false => Err(RpcError::invalid_value(format!("no session {id}"))),
        }
    }
}

/// The attributes of `<rpc>` (message-id and any other) with the prefixes
/// they need, for `<rpc-reply>` (RFC 6241, 4.2).
fn reply_attributes(rpc: Node<'_, '_>) -> String {
    let mut out = String::new();
    for ns in rpc.namespaces() {
        if let Some(prefix) = ns.name().filter(|p| *p != "xml") {
            out.push_str(&format!(" xmlns:{prefix}=\"{}\"", xml::attribute(ns.uri())));
        }
    }
    for attribute in rpc.attributes() {
        let name = match attribute.namespace().and_then(|ns| rpc.lookup_prefix(ns)) {
            Some(prefix) => format!("{prefix}:{}", attribute.name()),
            None => attribute.name().to_owned(),
        };
        out.push_str(&format!(
            " {name}=\"{}\"",
            xml::attribute(attribute.value())
        ));
    }
    out
}

/// Whether elements nest deeper than [`MAX_DEPTH`]. Nodes come in
/// document order, each after its parent.
fn too_deep(doc: &Document<'_>) -> bool {
    let mut depths: Vec<u8> = vec![];
    for node in doc.descendants() {
        let depth = match node.parent() {
            Some(parent) => depths.get(parent.id().get_usize()).copied().unwrap_or(0) + 1,
            None => 0,
        };
        if usize::from(depth) > MAX_DEPTH {
            return true;
        }
        let id = node.id().get_usize();
        if depths.len() <= id {
            depths.resize(id + 1, 0);
        }
        depths[id] = depth;
    }
    false
}
