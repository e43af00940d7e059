//! `<copy-config>` (RFC 6241, 7.3) and `<delete-config>` (7.4) between
//! running, the candidate and inline configuration.

use roxmltree::Node;

use super::datastore::{self, Datastore};
use super::rpc_error::RpcError;
use super::session::{Reply, Session};
use crate::candidate::LoadMode;
use crate::config::{Config, Format};
use crate::task::Edit;

pub(crate) async fn copy_config(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    let target = datastore::named(operation, "target", false)?;
    let source = datastore::named(operation, "source", true)?;
    if matches!(
        (target, source),
        (Datastore::Running, Datastore::Running) | (Datastore::Candidate, Datastore::Candidate)
    ) {
        return Err(RpcError::invalid_value(
            "source and target are the same datastore",
        ));
    }
    let config = session.read(source).await?;
    match target {
        Datastore::Running => {
            let edits = vec![Edit::Load(
                config.print(Format::Json)?,
                Format::Json,
                LoadMode::Replace,
            )];
            let handle = &session.netconf.handle;
            handle
                .commit(&session.actor, edits, "NETCONF copy-config", None)
                .await?;
        }
        Datastore::Candidate | Datastore::Inline(_) => {
            let running = session.running().await?;
            let mut shared = session.netconf.shared();
            shared.candidate.check_writable(session.actor.session)?;
            shared
                .candidate
                .store(config, &running, session.actor.session);
        }
    }
    Ok(Reply::Ok)
}

/// Empties the candidate; running cannot be deleted (RFC 6241, 7.4).
pub(crate) async fn delete_config(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    match datastore::named(operation, "target", false)? {
        Datastore::Running => Err(RpcError::invalid_value("running cannot be deleted")),
        Datastore::Candidate | Datastore::Inline(_) => {
            let running = session.running().await?;
            let mut shared = session.netconf.shared();
            shared.candidate.check_writable(session.actor.session)?;
            shared
                .candidate
                .store(Config::empty(), &running, session.actor.session);
            Ok(Reply::Ok)
        }
    }
}
