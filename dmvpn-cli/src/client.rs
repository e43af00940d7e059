//! The connection to dmvpnd's management API: a unix socket by default,
//! TCP when an address is given.

use std::path::PathBuf;
use std::time::Duration;

use dmvpn_api::v1::northbound_client::NorthboundClient;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

/// Where dmvpnd's gRPC server listens by default.
pub const DEFAULT_SOCKET: &str = "/run/dmvpnd/grpc.sock";

/// How long connecting may take before the CLI gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client of dmvpnd's `Northbound` service.
pub type Client = NorthboundClient<Channel>;

/// Where to reach dmvpnd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address as a URI (`http://192.0.2.1:50051`).
    Tcp(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(path) => write!(f, "{}", path.display()),
            Target::Tcp(uri) => f.write_str(uri),
        }
    }
}

/// Connects to dmvpnd; the error says where and why.
pub async fn connect(target: &Target) -> Result<Client, String> {
    let channel = match target {
        Target::Tcp(uri) => {
            let endpoint = Endpoint::from_shared(uri.clone())
                .map_err(|e| format!("invalid address {uri}: {e}"))?;
            endpoint.connect_timeout(CONNECT_TIMEOUT).connect().await
        }
        Target::Unix(path) => {
            let path = path.clone();
            // The URI is required by the API but unused: the connector
            // decides where the bytes go.
            Endpoint::from_static("http://[::]:50051")
                .connect_timeout(CONNECT_TIMEOUT)
                .connect_with_connector(tower::service_fn(move |_| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(path).await?;
                        Ok::<_, std::io::Error>(TokioIo::new(stream))
                    }
                }))
                .await
        }
    }
    .map_err(|e| connect_error(target, &e))?;
    // State is read with GetStream, in pieces; the rest in one message
    // each, which may still be large (the configuration of many tunnels).
    Ok(NorthboundClient::new(channel)
        .max_decoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(dmvpn_api::MAX_MESSAGE_SIZE))
}

fn connect_error(target: &Target, error: &tonic::transport::Error) -> String {
    // The transport error's own text is terse ("transport error"); its
    // source says what actually failed (no such file, refused, ...).
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    format!("cannot connect to dmvpnd at {target}: {reason}")
}
