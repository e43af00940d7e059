//! The tonic `gNMI` service: Capabilities, Get and Set here, Subscribe in
//! `subscribe.rs`, all on the transport-neutral [`Handle`].

use std::pin::Pin;

use dmvpn_api::gnmi;
use dmvpn_api::gnmi::g_nmi_server::{self, GNmiServer};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::path::{self, PathError};
use super::set::{self, Refused};
use super::subscribe;
use super::tree::{self, Encoding, Source};
use crate::auth::{Actor, Identity};
use crate::error::Error;
use crate::task::{Edit, Handle};

/// The gNMI version we implement.
pub const GNMI_VERSION: &str = "0.10.0";

/// The gNMI service; clones share the northbound task and the providers.
#[derive(Clone, Debug)]
pub struct Service {
    handle: Handle,
}

impl Service {
    pub fn new(handle: Handle) -> Self {
        Service { handle }
    }

    /// The tonic server wrapper, for `tonic::transport::Server::add_service`
    /// (next to the management API's: both answer on the same listeners).
    pub fn into_server(self) -> GNmiServer<Service> {
        GNmiServer::new(self)
            .max_decoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE)
    }
}

/// Who sent `request`: the identity the TCP listener authenticated, or the
/// local administrator on the unix socket (its file mode is the access
/// control there). Each RPC is a session of its own.
fn actor<T>(request: &Request<T>) -> Actor {
    let identity = request
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::local);
    Actor::new(identity, "gnmi")
}

pub(crate) fn path_status(error: PathError) -> Status {
    Status::invalid_argument(error.0)
}

/// Northbound errors as gRPC codes; the message is the error as it prints
/// (YANG path first, then the reason).
pub(crate) fn status(error: Error) -> Status {
    let message = error.to_string();
    match error {
        Error::Yang { .. } => Status::invalid_argument(message),
        Error::Refused { .. }
        | Error::NothingToConfirm
        | Error::NotLocked
        | Error::ConfirmOwner { .. } => Status::failed_precondition(message),
        // Another session holds the lock, or committed in between: retry.
        Error::Locked { .. } | Error::Outdated { .. } => Status::aborted(message),
        Error::Stopped => Status::unavailable(message),
        Error::UnknownTransaction(_) => Status::not_found(message),
        Error::Io { .. } | Error::Corrupt { .. } => Status::internal(message),
    }
}

pub(crate) fn encoding(encoding: i32) -> Result<Encoding, Status> {
    Encoding::from_gnmi(encoding).ok_or_else(|| {
        Status::unimplemented(format!(
            "encoding {}: only JSON and JSON_IETF are supported",
            gnmi::Encoding::try_from(encoding)
                .map_or_else(|_| encoding.to_string(), |e| e.as_str_name().to_owned())
        ))
    })
}

/// The prefix a response echoes: the request's target (2.2.2.1).
pub(crate) fn echo(prefix: Option<&gnmi::Path>) -> Option<gnmi::Path> {
    prefix.filter(|p| !p.target.is_empty()).map(|p| gnmi::Path {
        target: p.target.clone(),
        ..Default::default()
    })
}

#[tonic::async_trait]
impl g_nmi_server::GNmi for Service {
    async fn capabilities(
        &self,
        _request: Request<gnmi::CapabilityRequest>,
    ) -> Result<Response<gnmi::CapabilityResponse>, Status> {
        let context = dmvpn_yang::context();
        let supported_models = dmvpn_yang::MODULES
            .iter()
            .map(|module| gnmi::ModelData {
                name: module.name.to_owned(),
                organization: context
                    .get_module(module.name, Some(module.revision))
                    .and_then(|m| m.organization().map(str::to_owned))
                    .unwrap_or_default(),
                version: module.revision.to_owned(),
            })
            .collect();
        Ok(Response::new(gnmi::CapabilityResponse {
            supported_models,
            supported_encodings: vec![gnmi::Encoding::Json as i32, gnmi::Encoding::JsonIetf as i32],
            g_nmi_version: GNMI_VERSION.to_owned(),
        }))
    }

    /// One Notification per path, each with one Update per selected node
    /// (3.3). STATE and OPERATIONAL are both what the state providers
    /// render; a path that selects nothing is NOT_FOUND (3.3.4).
    async fn get(
        &self,
        request: Request<gnmi::GetRequest>,
    ) -> Result<Response<gnmi::GetResponse>, Status> {
        let request = request.into_inner();
        let encoding = encoding(request.encoding)?;
        let source = match request.r#type() {
            gnmi::get_request::DataType::All => Source::All,
            gnmi::get_request::DataType::Config => Source::Config,
            gnmi::get_request::DataType::State | gnmi::get_request::DataType::Operational => {
                Source::State
            }
        };
        let paths = match request.path.is_empty() {
            true => vec![None],
            false => request.path.iter().map(Some).collect(),
        };
        let mut targets = vec![];
        for path in paths {
            let joined = path::join(request.prefix.as_ref(), path).map_err(path_status)?;
            let resolved = path::resolve(&joined).map_err(path_status)?;
            targets.push((joined, resolved));
        }
        let xpaths: Vec<&str> = targets.iter().map(|(_, r)| r.xpath.as_str()).collect();
        let data = tree::read(&self.handle, source, &xpaths)
            .await
            .map_err(status)?;
        let timestamp = tree::now_ns();
        let mut notification = vec![];
        for (joined, resolved) in &targets {
            let updates = tree::subtrees(&data, &resolved.xpath, encoding)
                .map_err(status)?
                .ok_or_else(|| {
                    Status::not_found(format!("{}: no such data", path::display(joined)))
                })?;
            notification.push(gnmi::Notification {
                timestamp,
                prefix: echo(request.prefix.as_ref()),
                update: updates,
                ..Default::default()
            });
        }
        Ok(Response::new(gnmi::GetResponse {
            notification,
            ..Default::default()
        }))
    }

    /// Deletes, then replaces, then updates, as one commit (3.4.3): all of
    /// them or, on any error, none.
    async fn set(
        &self,
        request: Request<gnmi::SetRequest>,
    ) -> Result<Response<gnmi::SetResponse>, Status> {
        let actor = actor(&request);
        if !actor.may_write() {
            tracing::info!(user = actor.user(), "gNMI Set refused: read-only user");
            return Err(Status::permission_denied(format!(
                "user {} may only read",
                actor.user()
            )));
        }
        let request = request.into_inner();
        if !request.union_replace.is_empty() {
            return Err(Status::unimplemented(
                "union_replace is not supported: use replace",
            ));
        }
        let prefix = request.prefix.as_ref();
        let resolve = |path: Option<&gnmi::Path>| {
            let joined = path::join(prefix, path).map_err(path_status)?;
            let resolved = path::resolve(&joined).map_err(path_status)?;
            Ok::<_, Status>((joined, resolved))
        };
        let refused = |operation: &str, path: &gnmi::Path, refused: Refused| match refused {
            Refused::Invalid(reason) => {
                Status::invalid_argument(format!("{operation} {}: {reason}", path::display(path)))
            }
            Refused::Unsupported(reason) => {
                Status::unimplemented(format!("{operation} {}: {reason}", path::display(path)))
            }
        };
        let running = self.handle.running().await.map_err(|e| status(e.into()))?;
        let mut edits: Vec<Edit> = vec![];
        let mut results = vec![];
        let result =
            |path: Option<&gnmi::Path>, op: gnmi::update_result::Operation| gnmi::UpdateResult {
                path: path.cloned(),
                op: op as i32,
                ..Default::default()
            };
        for path in &request.delete {
            let (joined, target) = resolve(Some(path))?;
            edits
                .extend(set::delete(&target, &running).map_err(|r| refused("delete", &joined, r))?);
            results.push(result(Some(path), gnmi::update_result::Operation::Delete));
        }
        for replace in &request.replace {
            let (joined, target) = resolve(replace.path.as_ref())?;
            if target.target != path::Target::Root {
                edits.extend(
                    set::delete(&target, &running).map_err(|r| refused("replace", &joined, r))?,
                );
            }
            edits.extend(
                set::update(&target, replace.val.as_ref(), true)
                    .map_err(|r| refused("replace", &joined, r))?,
            );
            results.push(result(
                replace.path.as_ref(),
                gnmi::update_result::Operation::Replace,
            ));
        }
        for update in &request.update {
            let (joined, target) = resolve(update.path.as_ref())?;
            edits.extend(
                set::update(&target, update.val.as_ref(), false)
                    .map_err(|r| refused("update", &joined, r))?,
            );
            results.push(result(
                update.path.as_ref(),
                gnmi::update_result::Operation::Update,
            ));
        }
        let comment = format!(
            "gNMI Set: {} delete, {} replace, {} update",
            request.delete.len(),
            request.replace.len(),
            request.update.len()
        );
        self.handle
            .commit(&actor, edits, &comment, None)
            .await
            .map_err(status)?;
        Ok(Response::new(gnmi::SetResponse {
            prefix: echo(prefix),
            response: results,
            timestamp: tree::now_ns(),
            ..Default::default()
        }))
    }

    type SubscribeStream =
        Pin<Box<dyn Stream<Item = Result<gnmi::SubscribeResponse, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<gnmi::SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let actor = actor(&request);
        tracing::debug!(user = actor.user(), "gNMI Subscribe");
        let stream = subscribe::start(self.handle.clone(), request.into_inner());
        Ok(Response::new(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_elsewhere_is_aborted_and_bad_data_invalid() {
        let locked = Error::Locked {
            user: "alice".to_owned(),
            session: 7,
            front_end: "netconf",
        };
        let status = status(locked);
        assert_eq!(status.code(), tonic::Code::Aborted);
        assert!(status.message().contains("alice"), "{}", status.message());
        let yang = Error::Yang {
            path: Some("/x".to_owned()),
            message: "bad".to_owned(),
        };
        assert_eq!(status_code(yang), tonic::Code::InvalidArgument);
        assert_eq!(status_code(Error::Stopped), tonic::Code::Unavailable);
    }

    fn status_code(error: Error) -> tonic::Code {
        status(error).code()
    }

    #[test]
    fn only_json_encodings_are_served() {
        assert!(encoding(gnmi::Encoding::JsonIetf as i32).is_ok());
        assert!(encoding(gnmi::Encoding::Json as i32).is_ok());
        let status = encoding(gnmi::Encoding::Proto as i32).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.message().contains("PROTO"), "{}", status.message());
    }
}
