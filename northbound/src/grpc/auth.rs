//! Who calls over TCP: every request of the TCP listener (the northbound
//! API and gNMI alike) carries `username` and `password` metadata (gNMI's
//! convention, what gnmic and pygnmi send), checked against the configured
//! users; the identity goes into the request's extensions for the service
//! ([`crate::auth::Identity`]). The unix socket needs none: its file mode
//! is its access control.
//!
//! A password check costs a PBKDF2 (tens of milliseconds), too much for
//! every call of a client that polls: a successful check is remembered for
//! [`TcpAuth::REMEMBER`] by the user and a SHA-256 of the password, never
//! the password itself.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tonic::{Request, Status};

use crate::auth::{Identity, LoginGuard, Users};

/// Logins checked lately: by user and SHA-256 of the password, the
/// identity and when.
type Verified = HashMap<(String, [u8; 32]), (Identity, Instant)>;

/// Authenticates the requests of the TCP listener.
#[derive(Debug)]
pub struct TcpAuth {
    users: Arc<Users>,
    guard: Arc<LoginGuard>,
    verified: Mutex<Verified>,
}

impl TcpAuth {
    pub const REMEMBER: std::time::Duration = std::time::Duration::from_secs(300);
    /// Remembered logins at most; the table is cleared when full.
    const REMEMBERED: usize = 1024;

    pub fn new(users: Arc<Users>, guard: Arc<LoginGuard>) -> Self {
        TcpAuth {
            users,
            guard,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The interceptor's work: the request with its identity, or
    /// `UNAUTHENTICATED`.
    pub fn check(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let source = request
            .remote_addr()
            .map(|address| address.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let text = |key: &str| {
            request
                .metadata()
                .get(key)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let (Some(user), Some(password)) = (text("username"), text("password")) else {
            return Err(Status::unauthenticated(
                "username and password metadata required",
            ));
        };
        let digest: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, password.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes");
        let key = (user, digest);
        let now = Instant::now();
        let remembered = {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified
                .get(&key)
                .filter(|(_, at)| now.duration_since(*at) < Self::REMEMBER)
                .map(|(identity, _)| identity.clone())
        };
        let identity = match remembered {
            Some(identity) => identity,
            None => {
                if !self.guard.admit(source) {
                    return Err(Status::unauthenticated(
                        "too many failed logins from this address: try again later",
                    ));
                }
                let Some(identity) = self.users.verify_password(&key.0, &password) else {
                    self.guard.failed(source, &key.0, "grpc");
                    return Err(Status::unauthenticated("wrong user name or password"));
                };
                let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if verified.len() >= Self::REMEMBERED {
                    verified.clear();
                }
                verified.insert(key, (identity.clone(), now));
                identity
            }
        };
        request.extensions_mut().insert(identity);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Access, UserEntry, hash_password};

    fn auth() -> TcpAuth {
        let users = Users::new([UserEntry {
            name: "ops".to_owned(),
            access: Access::ReadOnly,
            password_hash: Some(hash_password("s3cret")),
            authorized_keys: vec![],
        }])
        .unwrap();
        TcpAuth::new(Arc::new(users), Arc::new(LoginGuard::default()))
    }

    fn request(user: &str, password: &str) -> Request<()> {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("username", user.parse().unwrap());
        request
            .metadata_mut()
            .insert("password", password.parse().unwrap());
        request
    }

    #[test]
    fn the_identity_of_a_good_password_is_attached() {
        let auth = auth();
        for _ in 0..2 {
            let request = auth.check(request("ops", "s3cret")).unwrap();
            let identity = request.extensions().get::<Identity>().unwrap();
            assert_eq!(identity.user, "ops");
            assert_eq!(identity.access, Access::ReadOnly);
        }
    }

    #[test]
    fn no_credentials_or_wrong_ones_are_unauthenticated_and_counted() {
        let auth = auth();
        let status = auth.check(Request::new(())).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(auth.guard.failed_count(), 0);
        for (user, password) in [("ops", "guess"), ("root", "s3cret")] {
            let status = auth.check(request(user, password)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
        }
        assert_eq!(auth.guard.failed_count(), 2);
        // A remembered login is the user's and password's, not the user's.
        auth.check(request("ops", "s3cret")).unwrap();
        assert!(auth.check(request("ops", "s3cret!")).is_err());
    }
}
