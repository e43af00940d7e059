//! Where the API listens: a unix socket (the default), TCP when configured,
//! with TLS when a certificate and key are given (feature `tls`). Also the
//! client side of the unix socket, for dmvpn-cli and the tests.

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dmvpn_api::v1::northbound_client::NorthboundClient;
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::{Channel, Endpoint, Server, Uri};

use std::sync::Arc;

use tonic::service::interceptor::InterceptedService;

use super::auth::TcpAuth;
use super::service::Service;
use crate::task::Handle;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}: {source}", .path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    /// Passwords in clear off the host: refused.
    #[error(
        "gRPC on {0} without TLS: passwords would cross the network in clear; listen on a loopback address or set grpc.tls-cert and grpc.tls-key"
    )]
    Insecure(SocketAddr),
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}

/// PEM files of the server's TLS identity.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A bound unix socket; the file is removed when serving ends.
#[derive(Debug)]
pub struct UnixEndpoint {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixEndpoint {
    /// Binds `path` (mode 0660), replacing a stale socket file left by a
    /// crash; creates the parent directory. Must run inside a tokio runtime.
    pub fn bind(path: &Path) -> Result<Self, ServeError> {
        let error = |source| ServeError::Socket {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                std::fs::remove_file(path).map_err(error)?
            }
            Ok(_) => {
                return Err(error(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a socket",
                )));
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(path).map_err(error)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(error)?;
        Ok(UnixEndpoint {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves the northbound API and gNMI until `shutdown` completes, then
    /// removes the socket file.
    pub async fn serve(
        self,
        handle: Handle,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let UnixEndpoint { listener, path } = self;
        let result = Server::builder()
            .add_service(Service::new(handle.clone()).into_server())
            .add_service(crate::gnmi::Service::new(handle).into_server())
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
            .await;
        if let Err(error) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), %error, "cannot remove the socket");
        }
        Ok(result?)
    }
}

/// Serves the northbound API and gNMI on TCP until `shutdown` completes;
/// with TLS when `tls` is given (needs the `tls` feature, rustls with ring). Every request must carry a
/// configured user's name and password ([`TcpAuth`]). Off loopback, TLS
/// is required: refused with [`ServeError::Insecure`] before listening.
pub async fn serve_tcp(
    address: SocketAddr,
    tls: Option<TlsFiles>,
    auth: Arc<TcpAuth>,
    handle: Handle,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    check_tcp(address, tls.as_ref())?;
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = with_tls(server, &tls)?;
    }
    let service = Service::new(handle.clone()).into_server();
    let gnmi = crate::gnmi::Service::new(handle).into_server();
    let gnmi_auth = auth.clone();
    server
        .add_service(InterceptedService::new(service, move |request| {
            auth.check(request)
        }))
        .add_service(InterceptedService::new(gnmi, move |request| {
            gnmi_auth.check(request)
        }))
        .serve_with_shutdown(address, shutdown)
        .await?;
    Ok(())
}

/// Whether a TCP listener on `address` may start: without TLS only on a
/// loopback address.
pub fn check_tcp(address: SocketAddr, tls: Option<&TlsFiles>) -> Result<(), ServeError> {
    match tls {
        None if !address.ip().is_loopback() => Err(ServeError::Insecure(address)),
        _ => Ok(()),
    }
}

#[cfg(feature = "tls")]
fn with_tls(server: Server, tls: &TlsFiles) -> Result<Server, ServeError> {
    let read = |file: &Path| {
        std::fs::read(file).map_err(|e| ServeError::Tls(format!("{}: {e}", file.display())))
    };
    let identity = tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
    server
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
        .map_err(|e| ServeError::Tls(e.to_string()))
}

#[cfg(not(feature = "tls"))]
fn with_tls(_server: Server, _tls: &TlsFiles) -> Result<Server, ServeError> {
    Err(ServeError::Tls(
        "this build has no TLS support (northbound feature `tls`)".to_owned(),
    ))
}

/// A client of the API over the unix socket at `path`.
pub async fn connect_unix(
    path: &Path,
) -> Result<NorthboundClient<Channel>, tonic::transport::Error> {
    let path = path.to_owned();
    // The URI is required by the API but unused: the connector dials the socket.
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await?;
    Ok(NorthboundClient::new(channel)
        .max_decoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE))
}
