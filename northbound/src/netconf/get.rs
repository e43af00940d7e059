//! `<get>` and `<get-config>` (RFC 6241, 7.1 and 7.7), with filters and
//! with-defaults (RFC 6243: basic mode explicit, also report-all and trim).

use holo_utils::sys::yang::print_data;
use roxmltree::Node;
use yang2::data::{DataFormat, DataPrinterFlags, DataTree};

use super::capabilities;
use super::datastore::{self, Datastore};
use super::filter::{self, Selection};
use super::rpc_error::RpcError;
use super::session::{Reply, Session};
use super::xml;
use crate::data::{self, Tree};
use crate::error::Error;
use crate::provider::StateFilter;

/// RFC 6243, 3: which default nodes a reply shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Defaults {
    /// Those set explicitly (the basic mode).
    Explicit,
    ReportAll,
    /// None whose value is the default.
    Trim,
}

impl Defaults {
    fn of(operation: Node<'_, '_>) -> Result<Self, RpcError> {
        let Some(mode) = xml::child(operation, xml::WITH_DEFAULTS, "with-defaults") else {
            return Ok(Defaults::Explicit);
        };
        match xml::content(mode).trim() {
            "explicit" => Ok(Defaults::Explicit),
            "report-all" => Ok(Defaults::ReportAll),
            "trim" => Ok(Defaults::Trim),
            other => Err(RpcError::invalid_value(format!(
                "with-defaults {other}: explicit, report-all or trim"
            ))),
        }
    }

    fn flags(self) -> DataPrinterFlags {
        match self {
            Defaults::Explicit => DataPrinterFlags::WD_EXPLICIT,
            Defaults::ReportAll => DataPrinterFlags::WD_ALL,
            Defaults::Trim => DataPrinterFlags::WD_TRIM,
        }
    }
}

pub(crate) async fn get_config(
    session: &mut Session,
    operation: Node<'_, '_>,
) -> Result<Reply, RpcError> {
    let source = datastore::named(operation, "source", false)?;
    let defaults = Defaults::of(operation)?;
    let selection = filter::selection(operation)?;
    let mut config = session.read(source).await?;
    if defaults != Defaults::Explicit && matches!(source, Datastore::Candidate) {
        // An edited candidate has no default nodes until validated.
        let mut validated = config.clone();
        if validated.validate().is_ok() {
            config = validated;
        }
    }
    let tree = config.tree().duplicate().map_err(Error::from)?;
    Ok(Reply::Body(data(tree, &selection, defaults)?))
}

/// Running and state, merged.
pub(crate) async fn get(session: &mut Session, operation: Node<'_, '_>) -> Result<Reply, RpcError> {
    let defaults = Defaults::of(operation)?;
    let selection = filter::selection(operation)?;
    let state_filter = match &selection {
        Selection::XPath(xpath) => StateFilter::new(xpath),
        Selection::All | Selection::Nothing => StateFilter::everything(),
    };
    let running = session.running().await?;
    let mut tree = running.tree().duplicate().map_err(Error::from)?;
    if selection != Selection::Nothing {
        let state = session.netconf.handle.state(&state_filter).await;
        tree.merge(&state).map_err(Error::from)?;
    }
    let monitoring = asks_for_monitoring(operation);
    let mut body = match data(tree, &selection, defaults) {
        // An XPath of /netconf-state alone names no module libyang knows.
        Err(_) if monitoring && matches!(selection, Selection::XPath(_)) => {
            "<data></data>".to_owned()
        }
        body => body?,
    };
    if monitoring {
        let netconf = &session.netconf;
        let state = capabilities::netconf_state(&netconf.counters(), netconf.started);
        body.insert_str(body.len() - "</data>".len(), &state);
    }
    Ok(Reply::Body(body))
}

/// Whether a `<get>` wants RFC 6022 `/netconf-state` (which is not in
/// the schema): with no filter, or one that names it.
fn asks_for_monitoring(operation: Node<'_, '_>) -> bool {
    match xml::child(operation, xml::BASE, "filter") {
        None => true,
        Some(filter) => {
            let select = filter
                .attribute("select")
                .or_else(|| filter.attribute((xml::BASE, "select")));
            match select {
                Some(select) => select.contains("netconf-state"),
                None => xml::elements(filter)
                    .any(|e| e.has_tag_name((xml::MONITORING, "netconf-state"))),
            }
        }
    }
}

/// The `<data>` element of a reply.
fn data(tree: Tree, selection: &Selection, defaults: Defaults) -> Result<String, RpcError> {
    let mut tree = match selection {
        Selection::All => tree,
        Selection::Nothing => DataTree::new(dmvpn_yang::context()),
        Selection::XPath(xpath) => data::select(&tree, xpath)?,
    };
    data::redact(&mut tree)?;
    let text = match tree.reference() {
        Some(_) => print_data(
            &tree,
            DataFormat::XML,
            DataPrinterFlags::WITH_SIBLINGS | defaults.flags(),
        )
        .map_err(Error::from)?
        .unwrap_or_default(),
        None => String::new(),
    };
    Ok(format!("<data>{text}</data>"))
}
