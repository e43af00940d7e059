//! Data trees as the front ends carry them: parsing with the NUL libyang
//! needs, state merged from providers, XPath selection, printing.

use std::collections::HashSet;

use holo_utils::sys::yang::print_data;
use yang2::data::{
    Data, DataFormat, DataNodeRef, DataOperation, DataParserFlags, DataPrinterFlags, DataTree,
    DataValidationFlags,
};

use crate::config::Format;
use crate::error::Error;

pub(crate) type Tree = DataTree<'static>;

pub(crate) fn yang_format(format: Format) -> DataFormat {
    match format {
        Format::Json => DataFormat::JSON,
        Format::Xml => DataFormat::XML,
    }
}

/// libyang reads a NUL-terminated C string, and yang2 passes the buffer as
/// is (and panics on an inner NUL in paths): terminate here, refuse inner NULs.
pub(crate) fn c_text(text: &str) -> Result<std::ffi::CString, Error> {
    std::ffi::CString::new(text).map_err(|_| Error::Yang {
        path: None,
        message: "NUL character in the request".to_owned(),
    })
}

fn is_empty_document(text: &str, format: Format) -> bool {
    text.trim().is_empty() || (format == Format::Json && text.trim() == "{}")
}

/// Parses state data (config and state nodes, not validated: a provider
/// gives its subtree with the keys of the parents only).
#[cfg(test)]
pub(crate) fn parse_state(text: &str, format: Format) -> Result<Tree, Error> {
    parse_state_text(text.to_owned(), format)
}

/// As [`parse_state`], taking the text: a provider's rendering of a large
/// hub (tens of MB) is not copied to be NUL-terminated.
pub(crate) fn parse_state_text(text: String, format: Format) -> Result<Tree, Error> {
    if is_empty_document(&text, format) {
        return Ok(DataTree::new(dmvpn_yang::context()));
    }
    let text = std::ffi::CString::new(text).map_err(|_| Error::Yang {
        path: None,
        message: "NUL character in the request".to_owned(),
    })?;
    Ok(DataTree::parse_string(
        dmvpn_yang::context(),
        text.as_bytes_with_nul(),
        yang_format(format),
        DataParserFlags::STRICT | DataParserFlags::NO_VALIDATION,
        DataValidationFlags::empty(),
    )?)
}

/// Parses an RPC (with its input) or a notification.
pub(crate) fn parse_operation(
    text: &str,
    format: Format,
    operation: DataOperation,
) -> Result<Tree, Error> {
    if is_empty_document(text, format) {
        return Err(Error::Yang {
            path: None,
            message: "no data".to_owned(),
        });
    }
    let text = c_text(text)?;
    Ok(DataTree::parse_op_string(
        dmvpn_yang::context(),
        text.as_bytes_with_nul(),
        yang_format(format),
        operation,
    )?)
}

/// The nodes `xpath` selects, with their parents (and list keys).
pub(crate) fn select(tree: &Tree, xpath: &str) -> Result<Tree, Error> {
    c_text(xpath)?;
    let mut selected = DataTree::new(dmvpn_yang::context());
    if tree.reference().is_none() {
        return Ok(selected);
    }
    for node in tree.find_xpath(xpath)? {
        selected.merge(&node.duplicate(true)?)?;
    }
    Ok(selected)
}

/// Leaves in `tree` only the nodes `xpath` selects, with their parents
/// (and list keys): what [`select`] returns, without copying what stays.
/// A state tree of 100 000 peers (issue 15) is pruned where it lies
/// instead of duplicated node by node. Falls back to [`select`] when a
/// top-level node would go (the tree's handle points at the first one).
pub(crate) fn select_in_place(tree: &mut Tree, xpath: &str) -> Result<(), Error> {
    c_text(xpath)?;
    let Some(first) = tree.reference() else {
        return Ok(());
    };
    let id = |node: &DataNodeRef<'_, '_>| node.as_raw() as usize;
    let mut selected = HashSet::new();
    // The ancestors of the selected nodes, and the keys of those that are
    // list entries.
    let mut kept = HashSet::new();
    for node in tree.find_xpath(xpath)? {
        selected.insert(id(&node));
        for ancestor in node.ancestors() {
            if !kept.insert(id(&ancestor)) {
                break;
            }
            kept.extend(ancestor.list_keys().map(|key| id(&key)));
        }
    }
    let tops: Vec<_> = first.inclusive_siblings().collect();
    if tops
        .iter()
        .any(|top| !selected.contains(&id(top)) && !kept.contains(&id(top)))
    {
        *tree = select(tree, xpath)?;
        return Ok(());
    }
    // Depth first: a selected node keeps its subtree, a kept one is walked
    // into, any other goes with its subtree.
    let mut doomed = vec![];
    let mut stack = tops;
    while let Some(node) = stack.pop() {
        if selected.contains(&id(&node)) {
            continue;
        }
        if kept.contains(&id(&node)) {
            stack.extend(node.children());
        } else {
            doomed.push(node);
        }
    }
    // Disjoint subtrees, none of them top-level.
    for mut node in doomed {
        node.remove();
    }
    Ok(())
}

/// Removes the write-only leaves (`dmvpn_yang::SECRETS`) from `tree`, which
/// is about to leave the daemon.
pub(crate) fn redact(tree: &mut Tree) -> Result<(), Error> {
    if tree.reference().is_none() {
        return Ok(());
    }
    for xpath in dmvpn_yang::SECRETS {
        let paths: Vec<String> = tree.find_xpath(xpath)?.map(|node| node.path()).collect();
        for path in paths {
            tree.remove(&path)?;
        }
    }
    Ok(())
}

/// Prints as `Config::print` does (so that Get of running is running.json
/// byte for byte), optionally with the default nodes.
pub(crate) fn print(tree: &Tree, format: Format, with_defaults: bool) -> Result<String, Error> {
    let defaults = match with_defaults {
        true => DataPrinterFlags::WD_ALL,
        false => DataPrinterFlags::WD_EXPLICIT,
    };
    let text = match tree.reference() {
        Some(_) => print_data(
            tree,
            yang_format(format),
            DataPrinterFlags::WITH_SIBLINGS | defaults,
        )?,
        None => None,
    };
    Ok(match (text, format) {
        (Some(text), _) if !text.trim().is_empty() => text,
        (_, Format::Json) => "{}\n".to_owned(),
        (_, Format::Xml) => String::new(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two interfaces, with NHRP state and a peer table.
    const STATE: &str = r#"{"ietf-interfaces:interfaces":{"interface":[
      {"name":"tun0","dmvpn-nhrp:nhrp":{
        "cache-entry":[{"prefix":"10.0.0.2/32","type":"dynamic","next-hop":"10.0.0.2"},
                       {"prefix":"10.0.0.3/32","type":"dynamic","next-hop":"10.0.0.3"}],
        "counters":{"message":[{"type":"registration-request","sent":"0","received":"5"}]}},
       "dmvpn-tunnel:tunnel":{"oper-status":"up","peer":[
         {"nbma-address":"192.0.2.2","tunnel-address":"10.0.0.2","entries":1},
         {"nbma-address":"192.0.2.3","tunnel-address":"10.0.0.3","entries":1}]}},
      {"name":"tun1","dmvpn-nhrp:nhrp":{
        "cache-entry":[{"prefix":"10.1.0.2/32","type":"dynamic","next-hop":"10.1.0.2"}]}}
    ]}}"#;

    #[test]
    fn pruning_in_place_selects_what_a_copy_does() {
        let tun0 = "/ietf-interfaces:interfaces/interface[name='tun0']";
        let every = "/ietf-interfaces:interfaces/interface";
        for xpath in [
            "/ietf-interfaces:interfaces".to_owned(),
            format!("{tun0}/dmvpn-nhrp:nhrp/counters"),
            format!("{tun0}/dmvpn-tunnel:tunnel/peer[nbma-address='192.0.2.3']"),
            format!("{tun0}/dmvpn-tunnel:tunnel/peer[nbma-address='192.0.2.9']"),
            format!(
                "{every}/dmvpn-tunnel:tunnel/peer | {every}/dmvpn-tunnel:tunnel/oper-status \
                 | {every}/dmvpn-nhrp:nhrp/cache-entry/next-hop"
            ),
            format!("{every}/dmvpn-nhrp:nhrp | {tun0}/dmvpn-nhrp:nhrp/counters"),
            format!("{every}/name"),
            "/ietf-interfaces:interfaces/interface[name='tun9']".to_owned(),
        ] {
            let tree = parse_state(STATE, Format::Json).unwrap();
            let copied = print(&select(&tree, &xpath).unwrap(), Format::Json, false).unwrap();
            let mut pruned = tree;
            select_in_place(&mut pruned, &xpath).unwrap();
            let pruned = print(&pruned, Format::Json, false).unwrap();
            assert_eq!(pruned, copied, "{xpath}");
        }
        let mut tree = parse_state(STATE, Format::Json).unwrap();
        assert!(select_in_place(&mut tree, "/ietf-interfaces:interfaces/interface[").is_err());
    }
}
