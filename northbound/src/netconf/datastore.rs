//! The configuration datastores an operation names (RFC 6241, 5.1):
//! `<running/>`, `<candidate/>`, or inline `<config>`, and reading them.

use roxmltree::Node;

use super::rpc_error::{Layer, RpcError};
use super::session::Session;
use super::xml;
use crate::config::{Config, Format};
use crate::task::Stopped;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Datastore<'a, 'input> {
    Running,
    Candidate,
    /// A `<config>` element of the request.
    Inline(Node<'a, 'input>),
}

/// The datastore of parameter `param` (`source`, `target`) of `operation`;
/// inline `<config>` only where `inline` allows it.
pub(crate) fn named<'a, 'input>(
    operation: Node<'a, 'input>,
    param: &str,
    inline: bool,
) -> Result<Datastore<'a, 'input>, RpcError> {
    let node = xml::child(operation, xml::BASE, param)
        .ok_or_else(|| RpcError::missing_element(Layer::Protocol, param))?;
    let choice = xml::elements(node)
        .next()
        .ok_or_else(|| RpcError::missing_element(Layer::Protocol, &format!("{param} datastore")))?;
    let name = choice.tag_name().name();
    if choice.tag_name().namespace() != Some(xml::BASE) {
        return Err(RpcError::unknown_element(Layer::Protocol, name));
    }
    match name {
        "running" => Ok(Datastore::Running),
        "candidate" => Ok(Datastore::Candidate),
        "config" if inline => Ok(Datastore::Inline(choice)),
        "startup" | "url" => Err(RpcError::operation_not_supported(format!(
            "datastore <{name}> is not supported: only running and candidate"
        ))),
        _ => Err(RpcError::invalid_value(format!(
            "<{name}> is not a datastore of <{param}>"
        ))),
    }
}

impl Session {
    pub(crate) async fn running(&self) -> Result<Config, RpcError> {
        self.netconf
            .handle
            .running()
            .await
            .map_err(|Stopped| RpcError::operation_failed("the daemon is shutting down"))
    }

    /// The configuration of a datastore (inline: parsed, not validated).
    pub(crate) async fn read(&self, datastore: Datastore<'_, '_>) -> Result<Config, RpcError> {
        match datastore {
            Datastore::Running => self.running().await,
            Datastore::Candidate => {
                let running = self.running().await?;
                Ok(self.netconf.shared().candidate.config(&running))
            }
            Datastore::Inline(config) => inline(config),
        }
    }
}

/// The configuration inside a `<config>` element, parsed (not validated).
pub(crate) fn inline(config: Node<'_, '_>) -> Result<Config, RpcError> {
    let mut text = String::new();
    for element in xml::elements(config) {
        let mut fragment = xml::Fragment::new();
        fragment.subtree(element, true, &[(xml::BASE, "operation")]);
        text.push_str(&fragment.into_string());
    }
    Ok(Config::parse_unvalidated(&text, Format::Xml)?)
}
