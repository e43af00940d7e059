//! The operations around a commit: `<lock>`/`<unlock>` (RFC 6241, 7.5
//! and 7.6), `<commit>` with `<confirmed/>` and `<persist>` (8.3.4, 8.4),
//! `<cancel-commit>`, `<discard-changes>` and `<validate>` (8.6).
//!
//! The lock of running is the northbound task's: it holds against every
//! front end. The candidate's is the NETCONF server's (no other front end
//! sees the candidate).

use std::time::{Duration, Instant};

use roxmltree::Node;

use super::datastore::{self, Datastore};
use super::rpc_error::{Layer, RpcError};
use super::server::{CONFIRM_TIMEOUT, Confirmed};
use super::session::{Reply, Session};
use super::xml;
use crate::candidate::LoadMode;
use crate::config::Format;
use crate::error::Error;
use crate::task::Edit;

pub(crate) async fn lock(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    match datastore::named(operation, "target", false)? {
        Datastore::Running => {
            // RFC 6241, 7.5: not even to the session that holds it.
            let holder = session.netconf.handle.lock_holder().await.ok().flatten();
            if holder.is_some_and(|h| h.session == session.actor.session) {
                return Err(RpcError::new(
                    Layer::Protocol,
                    "lock-denied",
                    "this session holds the lock already",
                )
                .with_info("session-id", session.actor.session.to_string()));
            }
            let locked = session.netconf.handle.lock(&session.actor).await;
            locked.map_err(|error| match error {
                Error::Locked { session, .. } => {
                    RpcError::new(Layer::Protocol, "lock-denied", error.to_string())
                        .with_info("session-id", session.to_string())
                }
                error => RpcError::from(error),
            })?;
        }
        Datastore::Candidate | Datastore::Inline(_) => {
            let user = session.actor.user().to_owned();
            session
                .netconf
                .shared()
                .candidate
                .lock(session.actor.session, &user)?;
        }
    }
    Ok(Reply::Ok)
}

pub(crate) async fn unlock(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    match datastore::named(operation, "target", false)? {
        Datastore::Running => {
            let unlocked = session.netconf.handle.unlock(&session.actor).await;
            unlocked.map_err(|error| RpcError::operation_failed(error.to_string()))?;
        }
        Datastore::Candidate | Datastore::Inline(_) => {
            session
                .netconf
                .shared()
                .candidate
                .unlock(session.actor.session)?;
        }
    }
    Ok(Reply::Ok)
}

/// `<commit>`: the candidate becomes running. A commit while a confirmed
/// commit waits confirms it (or, with `<confirmed/>`, extends it).
pub(crate) async fn commit(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    let param = |name| xml::child(operation, xml::BASE, name);
    let confirmed = param("confirmed").is_some();
    let timeout = match param("confirm-timeout") {
        Some(timeout) => {
            let secs: u32 = xml::content(timeout)
                .trim()
                .parse()
                .ok()
                .filter(|secs| *secs > 0)
                .ok_or_else(|| {
                    RpcError::invalid_value("confirm-timeout is 1 to 4294967295 seconds")
                })?;
            Duration::from_secs(secs.into())
        }
        None => CONFIRM_TIMEOUT,
    };
    let persist = param("persist").map(|p| xml::content(p).trim().to_owned());
    let persist_id = param("persist-id").map(|p| xml::content(p).trim().to_owned());
    let me = session.actor.session;
    {
        let mut shared = session.netconf.shared();
        shared.candidate.check_writable(me)?;
        follow_up(shared.confirmed(), me, persist_id.as_deref())?;
    }
    let running = session.running().await?;
    let edits = {
        let shared = session.netconf.shared();
        match shared.candidate.edited() {
            Some((config, base)) => {
                if *base != running {
                    return Err(RpcError::operation_failed(
                        "running changed since the candidate was copied from it: \
                         <discard-changes> and edit again",
                    ));
                }
                vec![Edit::Load(
                    config.print(Format::Json)?,
                    Format::Json,
                    LoadMode::Replace,
                )]
            }
            None => vec![],
        }
    };
    let (comment, confirm) = match confirmed {
        true => ("NETCONF confirmed commit", Some(timeout)),
        false => ("NETCONF commit", None),
    };
    let id = session
        .netconf
        .handle
        .commit(&session.actor, edits, comment, confirm)
        .await?;
    let mut shared = session.netconf.shared();
    shared.candidate.discard();
    let waiting = shared.confirmed().map(|c| c.id);
    shared.confirmed = match (confirmed, id.or(waiting.flatten())) {
        (true, Some(id)) => Some(Confirmed {
            actor: session.actor.clone(),
            persist,
            id: Some(id),
            deadline: Instant::now() + timeout,
        }),
        _ => None,
    };
    Ok(Reply::Ok)
}

/// RFC 6241, 8.4.5.1: a confirmed commit without `<persist>` is followed
/// up on its session only; one with `<persist>` by whoever gives its
/// `<persist-id>`.
fn follow_up(
    waiting: Option<&Confirmed>,
    session: u64,
    persist_id: Option<&str>,
) -> Result<(), RpcError> {
    match (waiting, persist_id) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(RpcError::invalid_value(
            "no confirmed commit waits with this persist-id",
        )),
        (Some(waiting), persist_id) => match (&waiting.persist, persist_id) {
            (Some(persist), Some(id)) if persist == id => Ok(()),
            (Some(_), Some(_)) | (None, Some(_)) => Err(RpcError::invalid_value(
                "persist-id does not match the confirmed commit that waits",
            )),
            (_, None) if waiting.actor.session == session => Ok(()),
            (_, None) => Err(RpcError::new(
                Layer::Protocol,
                "in-use",
                format!(
                    "a confirmed commit of session {} waits: only that session \
                     (or one giving its persist-id) may follow it up",
                    waiting.actor.session
                ),
            )),
        },
    }
}

/// RFC 6241, 8.4.4.1.
pub(crate) async fn cancel_commit(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    let persist_id =
        xml::child(operation, xml::BASE, "persist-id").map(|p| xml::content(p).trim().to_owned());
    {
        let mut shared = session.netconf.shared();
        follow_up(
            shared.confirmed(),
            session.actor.session,
            persist_id.as_deref(),
        )?;
    }
    session.netconf.handle.cancel_commit(&session.actor).await?;
    session.netconf.shared().confirmed = None;
    Ok(Reply::Ok)
}

pub(crate) fn discard_changes(session: &mut Session) -> Result<Reply, RpcError> {
    let mut shared = session.netconf.shared();
    shared.candidate.check_writable(session.actor.session)?;
    shared.candidate.discard();
    Ok(Reply::Ok)
}

/// `<validate>` of running, the candidate or an inline configuration: all
/// of libyang's checks, as a commit would make them.
pub(crate) async fn validate(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    let source = datastore::named(operation, "source", true)?;
    let mut config = session.read(source).await?;
    config.validate()?;
    Ok(Reply::Ok)
}
