//! Data trees as the front ends carry them: parsing with the NUL libyang
//! needs, state merged from providers, XPath selection, printing.

use yang2::data::{
    Data, DataFormat, DataOperation, DataParserFlags, DataPrinterFlags, DataTree,
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
pub(crate) fn parse_state(text: &str, format: Format) -> Result<Tree, Error> {
    if is_empty_document(text, format) {
        return Ok(DataTree::new(dmvpn_yang::context()));
    }
    let text = c_text(text)?;
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
        Some(_) => tree.print_string(
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
