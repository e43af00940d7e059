//! A configuration: a validated-or-not YANG data tree of the shared context,
//! with JSON and XML import and export.

use std::fmt;

use holo_utils::sys::yang::print_data;
use yang2::data::{
    Data, DataFormat, DataParserFlags, DataPrinterFlags, DataTree, DataValidationFlags,
};

use yang2::iter::NodeIterable;

use crate::error::Error;

/// Encodings of configuration data (RFC 7951 JSON, RFC 7950 XML).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    fn yang(self) -> DataFormat {
        match self {
            Format::Json => DataFormat::JSON,
            Format::Xml => DataFormat::XML,
        }
    }
}

/// A configuration data tree (config true nodes only).
pub struct Config {
    tree: DataTree<'static>,
}

impl Config {
    /// The empty configuration.
    pub fn empty() -> Self {
        Config {
            tree: DataTree::new(dmvpn_yang::context()),
        }
    }

    /// Parses and fully validates a whole configuration. Unknown nodes and
    /// state (config false) nodes are errors.
    pub fn parse(data: &str, format: Format) -> Result<Self, Error> {
        let mut config = Self::parse_unvalidated(data, format)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses without the checks that need the whole datastore (mandatory
    /// nodes, must/when, leafref), for a candidate that is still being
    /// edited. Syntax, unknown nodes and value types are still checked.
    pub fn parse_unvalidated(data: &str, format: Format) -> Result<Self, Error> {
        if data.trim().is_empty() || (format == Format::Json && data.trim() == "{}") {
            // libyang needs at least one node in a JSON document.
            return Ok(Self::empty());
        }
        // libyang reads a NUL-terminated C string, and yang2 passes the
        // buffer as is: terminate it here.
        let data = std::ffi::CString::new(data).map_err(|_| Error::Yang {
            path: None,
            message: "NUL character in the configuration data".to_owned(),
        })?;
        let tree = DataTree::parse_string(
            dmvpn_yang::context(),
            data.as_bytes_with_nul(),
            format.yang(),
            DataParserFlags::STRICT | DataParserFlags::NO_STATE | DataParserFlags::NO_VALIDATION,
            DataValidationFlags::NO_STATE,
        )?;
        Ok(Config { tree })
    }

    /// Full validation (schema, mandatory, must/when, leafref, ranges); adds
    /// the default nodes.
    pub fn validate(&mut self) -> Result<(), Error> {
        if self.tree.reference().is_some() {
            self.tree.validate(DataValidationFlags::NO_STATE)?;
        }
        Ok(())
    }

    /// The explicitly set nodes, defaults left out, in the given format;
    /// `parse(print(c))` gives `c` back.
    pub fn print(&self, format: Format) -> Result<String, Error> {
        let flags = DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::WD_EXPLICIT;
        let text = match self.tree.reference() {
            Some(_) => print_data(&self.tree, format.yang(), flags)?,
            None => None,
        };
        Ok(match (text, format) {
            (Some(text), _) if !text.trim().is_empty() => text,
            (_, Format::Json) => "{}\n".to_owned(),
            (_, Format::Xml) => String::new(),
        })
    }

    /// Sets a leaf (or creates a container or list entry when `value` is
    /// `None`), creating the parents on the way. `path` is a JSON data path:
    /// `/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp/network-id`.
    pub fn set(&mut self, path: &str, value: Option<&str>) -> Result<(), Error> {
        self.tree.new_path(path, value, false)?;
        Ok(())
    }

    /// Deletes a node and everything below it.
    pub fn delete(&mut self, path: &str) -> Result<(), Error> {
        let node = self.tree.find_path(path)?;
        if node.parent().is_some() {
            self.tree.remove(path)?;
            return Ok(());
        }
        // yang2 frees a top-level node without moving the tree's root to
        // its sibling, which would leave the tree pointing at freed memory
        // when the node is the first: rebuild the tree without it instead.
        let member = format!("{}:{}", node.schema().module().name(), node.schema().name());
        let error = |message: &str| Error::Yang {
            path: Some(path.to_owned()),
            message: message.to_owned(),
        };
        let text = self.print(Format::Json)?;
        let mut json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| error(&e.to_string()))?;
        let members = json
            .as_object_mut()
            .ok_or_else(|| error("the configuration is not a JSON object"))?;
        if members
            .get(&member)
            .is_some_and(serde_json::Value::is_array)
        {
            return Err(error(
                "a top-level list entry cannot be deleted alone: delete the list",
            ));
        }
        members.remove(&member);
        *self = Config::parse_unvalidated(&json.to_string(), Format::Json)?;
        Ok(())
    }

    /// Merges `other` into this configuration (RFC 6241 "merge").
    pub fn merge(&mut self, other: &Config) -> Result<(), Error> {
        self.tree.merge(&other.tree)?;
        Ok(())
    }

    /// The value of the leaf at `path`, if it exists.
    pub fn value(&self, path: &str) -> Option<String> {
        self.tree.find_path(path).ok()?.value_canonical()
    }

    pub(crate) fn tree(&self) -> &DataTree<'static> {
        &self.tree
    }
}

impl Clone for Config {
    fn clone(&self) -> Self {
        match self.tree.duplicate() {
            Ok(tree) => Config { tree },
            // Duplicating only fails when libyang is out of memory.
            Err(error) => panic!("libyang cannot duplicate a data tree: {error}"),
        }
    }
}

impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        matches!((self.print(Format::Json), other.print(Format::Json)), (Ok(a), Ok(b)) if a == b)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.print(Format::Json) {
            Ok(json) => f.write_str(&json),
            Err(error) => write!(f, "<unprintable config: {error}>"),
        }
    }
}
