//! The YANG library (RFC 8525): the modules of the schema as state data,
//! `/ietf-yang-library:yang-library`, so that clients discover what the
//! server implements; its content-id is also announced in the NETCONF
//! hello (RFC 8526, 2).
//!
//! ```text
//!   dmvpn_yang::context() --modules--> Library (built once: JSON, content-id)
//!                                        |-- YangLibrary::state  (every front end)
//!                                        +-- content_id()        (NETCONF hello)
//! ```
//!
//! The context never changes after it is built, so neither does the
//! library: one module set and one schema, both named "all", used by every
//! datastore. Features and submodules are read from the modules' parsed
//! statements (libyang prints them as YIN), as yang2 has no accessor for
//! either.

use std::sync::OnceLock;

use holo_utils::sys::yang::print_schema;
use serde_json::{Value, json};
use yang2::schema::{SchemaModule, SchemaOutputFormat, SchemaPrinterFlags};

use crate::provider::{BoxFuture, StateFilter, StateProvider};

const MODULE: &str = dmvpn_yang::YANG_LIBRARY.0;
/// The one module set and schema, shared by every datastore.
const ALL: &str = "all";
/// The datastores the server has (RFC 8342 identities).
const DATASTORES: &[&str] = &[
    "ietf-datastores:running",
    "ietf-datastores:candidate",
    "ietf-datastores:operational",
];
const YIN: &str = "urn:ietf:params:xml:ns:yang:yin:1";

/// The library of the shared context, rendered once.
#[derive(Debug)]
struct Library {
    /// RFC 7951 JSON of `/ietf-yang-library:yang-library`.
    json: String,
    content_id: String,
}

/// One module of the context as RFC 8525 lists it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ModuleEntry {
    name: String,
    revision: Option<String>,
    namespace: String,
    implemented: bool,
    /// Enabled features only.
    features: Vec<String>,
    /// Name and revision (when the include gives one).
    submodules: Vec<(String, Option<String>)>,
}

/// The library, or why it could not be built (logged by the callers).
fn library() -> Result<&'static Library, &'static str> {
    static LIBRARY: OnceLock<Result<Library, String>> = OnceLock::new();
    LIBRARY
        .get_or_init(|| build(dmvpn_yang::context()))
        .as_ref()
        .map_err(String::as_str)
}

/// The content-id of the library (RFC 8525, 3: it changes when the module
/// set does); `None` when the library could not be built.
pub(crate) fn content_id() -> Option<&'static str> {
    library().ok().map(|l| l.content_id.as_str())
}

fn build(context: &yang2::context::Context) -> Result<Library, String> {
    let mut modules = context
        .modules(false)
        .map(|module| entry(&module, context))
        .collect::<Result<Vec<_>, _>>()?;
    modules.sort();
    let content_id = hash(&modules);
    let (implemented, import_only): (Vec<_>, Vec<_>) = modules.iter().partition(|m| m.implemented);
    let library = json!({
        "ietf-yang-library:yang-library": {
            "module-set": [{
                "name": ALL,
                "module": implemented.iter().map(|m| implemented_json(m)).collect::<Vec<_>>(),
                "import-only-module": import_only.iter().map(|m| import_only_json(m)).collect::<Vec<_>>(),
            }],
            "schema": [{"name": ALL, "module-set": [ALL]}],
            "datastore": DATASTORES
                .iter()
                .map(|name| json!({"name": name, "schema": ALL}))
                .collect::<Vec<_>>(),
            "content-id": content_id,
        }
    });
    Ok(Library {
        json: library.to_string(),
        content_id,
    })
}

fn entry(
    module: &SchemaModule<'_>,
    context: &yang2::context::Context,
) -> Result<ModuleEntry, String> {
    let (format, flags) = (SchemaOutputFormat::YIN, SchemaPrinterFlags::SHRINK);
    let yin = print_schema(module, context, format, flags)
        .map_err(|e| format!("module {}: {e}", module.name()))?;
    let doc = roxmltree::Document::parse(&yin).map_err(|e| format!("{}: {e}", module.name()))?;
    let statements = || {
        doc.root_element()
            .children()
            .filter(|n| n.is_element() && n.tag_name().namespace() == Some(YIN))
    };
    let mut features = vec![];
    let mut submodules = vec![];
    for statement in statements() {
        match (statement.tag_name().name(), statement.attribute("name")) {
            ("feature", Some(name)) if module.feature_value(name) == Ok(true) => {
                features.push(name.to_owned());
            }
            ("include", _) => {
                let Some(name) = statement.attribute("module") else {
                    continue;
                };
                let revision = statement
                    .children()
                    .find(|n| n.has_tag_name((YIN, "revision-date")))
                    .and_then(|n| n.attribute("date"))
                    .map(str::to_owned);
                submodules.push((name.to_owned(), revision));
            }
            _ => {}
        }
    }
    Ok(ModuleEntry {
        name: module.name().to_owned(),
        revision: module.revision().map(str::to_owned),
        namespace: module.namespace().to_owned(),
        implemented: module.is_implemented(),
        features,
        submodules,
    })
}

fn implemented_json(module: &ModuleEntry) -> Value {
    let mut entry = json!({"name": module.name, "namespace": module.namespace});
    if let Some(revision) = &module.revision {
        entry["revision"] = json!(revision);
    }
    if !module.features.is_empty() {
        entry["feature"] = json!(module.features);
    }
    if !module.submodules.is_empty() {
        let submodules = module
            .submodules
            .iter()
            .map(|(name, revision)| match revision {
                Some(revision) => json!({"name": name, "revision": revision}),
                None => json!({"name": name}),
            });
        entry["submodule"] = submodules.collect::<Vec<_>>().into();
    }
    entry
}

/// RFC 8525, 4: an import-only module's revision is a key, empty when the
/// module has none.
fn import_only_json(module: &ModuleEntry) -> Value {
    json!({
        "name": module.name,
        "revision": module.revision.as_deref().unwrap_or_default(),
        "namespace": module.namespace,
    })
}

/// A hash of the module set, the same in every run with the same modules:
/// the first 64 bits of a SHA-256 over the sorted entries, in hex.
fn hash(modules: &[ModuleEntry]) -> String {
    let mut text = String::new();
    for m in modules {
        let submodules: Vec<String> = (m.submodules.iter())
            .map(|(name, revision)| format!("{name}@{}", revision.as_deref().unwrap_or_default()))
            .collect();
        text.push_str(&format!(
            "{}@{} {} {} [{}] [{}]\n",
            m.name,
            m.revision.as_deref().unwrap_or_default(),
            m.namespace,
            if m.implemented {
                "implemented"
            } else {
                "import-only"
            },
            m.features.join(" "),
            submodules.join(" "),
        ));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `filter` may select a node of the YANG library.
///
/// The filter follows `/ietf-interfaces:interfaces` paths only; for the
/// others, read the XPath: a union of paths each starting at another
/// module's top-level node, with no step that could climb or match any
/// node (`//`, `*`, `..`, axes, functions), cannot reach the library.
/// Anything else may.
fn may_select(filter: &StateFilter) -> bool {
    if !filter.is_everything() {
        return false;
    }
    let path = filter.path();
    if path.trim().is_empty() || path.contains(MODULE) {
        return true;
    }
    if ["//", "*", "..", "::", "("]
        .iter()
        .any(|s| path.contains(s))
    {
        return true;
    }
    !path.split('|').all(starts_at_another_module)
}

/// `/module:node...` of a module of the context other than the library.
fn starts_at_another_module(branch: &str) -> bool {
    let Some(rest) = branch.trim().strip_prefix('/') else {
        return false;
    };
    let first = rest.split(['/', '[']).next().unwrap_or_default();
    match first.trim().split_once(':') {
        Some((module, name)) => {
            module != MODULE
                && !name.is_empty()
                && dmvpn_yang::context().get_module_latest(module).is_some()
        }
        None => false,
    }
}

/// The YANG library as state, registered by every [`Builder`](crate::Builder).
#[derive(Debug, Default)]
pub(crate) struct YangLibrary;

impl StateProvider for YangLibrary {
    fn name(&self) -> &str {
        MODULE
    }

    fn state<'a>(&'a self, filter: &'a StateFilter) -> BoxFuture<'a, Result<String, String>> {
        let state = match may_select(filter) {
            true => library().map(|l| l.json.clone()).map_err(str::to_owned),
            false => Ok("{}".to_owned()),
        };
        Box::pin(std::future::ready(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use yang2::context::{EmbeddedModuleKey, EmbeddedModules};
    use yang2::data::{Data, DataFormat, DataParserFlags, DataTree, DataValidationFlags};

    async fn json(filter: &str) -> String {
        let filter = StateFilter::new(filter);
        YangLibrary.state(&filter).await.expect("library")
    }

    /// Parsed and validated as operational state against the context.
    ///
    /// The deprecated `modules-state` (RFC 8525, appendix A) is not served,
    /// but its `module-set-id` is mandatory in the module: a stand-in lets
    /// every constraint of the rest be checked (leafrefs, keys, musts).
    fn validated(json: &str) -> DataTree<'static> {
        let mut library: Value = serde_json::from_str(json).expect("JSON");
        library["ietf-yang-library:modules-state"] = json!({"module-set-id": "stand-in"});
        let text = std::ffi::CString::new(library.to_string()).expect("no NUL");
        DataTree::parse_string(
            dmvpn_yang::context(),
            text.as_bytes_with_nul(),
            DataFormat::JSON,
            DataParserFlags::STRICT,
            DataValidationFlags::empty(),
        )
        .expect("valid state data")
    }

    #[tokio::test]
    async fn the_library_validates_and_lists_every_module() {
        let tree = validated(&json("").await);
        let set = "/ietf-yang-library:yang-library/module-set[name='all']";
        let nhrp = dmvpn_yang::MODULES
            .iter()
            .find(|m| m.name == "dmvpn-nhrp")
            .expect("dmvpn-nhrp");
        let value = |path: &str| tree.find_path(path).ok().and_then(|n| n.value_canonical());
        let entry = format!("{set}/module[name='dmvpn-nhrp']");
        assert_eq!(
            value(&format!("{entry}/revision")).as_deref(),
            Some(nhrp.revision)
        );
        assert_eq!(
            value(&format!("{entry}/namespace")).as_deref(),
            Some("urn:dmvpn:yang:dmvpn-nhrp")
        );
        for name in dmvpn_yang::IMPLEMENTED.iter().chain(&["ietf-yang-library"]) {
            assert!(
                tree.find_path(&format!("{set}/module[name='{name}']"))
                    .is_ok(),
                "{name}"
            );
        }
        // Imported, not implemented.
        let inet =
            format!("{set}/import-only-module[name='ietf-inet-types'][revision='2013-07-15']");
        assert!(tree.find_path(&inet).is_ok());
        for datastore in ["running", "candidate", "operational"] {
            let path = format!(
                "/ietf-yang-library:yang-library/datastore[name='ietf-datastores:{datastore}']/schema"
            );
            assert_eq!(value(&path).as_deref(), Some("all"), "{datastore}");
        }
        let id = value("/ietf-yang-library:yang-library/content-id");
        assert_eq!(id.as_deref(), content_id());
    }

    #[tokio::test]
    async fn enabled_features_and_submodules_are_listed() {
        // ietf-interfaces defines features, none of which is enabled.
        let library = json("").await;
        assert!(
            library.contains("\"name\":\"ietf-interfaces\""),
            "{library}"
        );
        assert!(!library.contains("\"feature\""), "{library}");

        const TEST_MODULE: &str = "module test-lib { yang-version 1.1; namespace urn:test-lib; \
            prefix t; include test-lib-sub { revision-date 2020-01-01; } \
            feature on; feature off; }";
        const TEST_SUBMODULE: &str = "submodule test-lib-sub { yang-version 1.1; \
            belongs-to test-lib { prefix t; } revision 2020-01-01; }";
        static EXTRA: OnceLock<EmbeddedModules> = OnceLock::new();
        let mut context = dmvpn_yang::new_context().expect("context");
        context.set_embedded_modules(EXTRA.get_or_init(|| {
            let key = |name| EmbeddedModuleKey::new(name, None, None, None);
            let submodule =
                EmbeddedModuleKey::new("test-lib", None, Some("test-lib-sub"), Some("2020-01-01"));
            HashMap::from([(key("test-lib"), TEST_MODULE), (submodule, TEST_SUBMODULE)])
        }));
        context
            .load_module("test-lib", None, &["on"])
            .expect("test module");
        let module = context.get_module_latest("test-lib").expect("loaded");
        let entry = entry(&module, &context).expect("entry");
        assert_eq!(entry.features, ["on"]);
        let submodule = ("test-lib-sub".to_owned(), Some("2020-01-01".to_owned()));
        assert_eq!(entry.submodules, [submodule]);
        let library = build(&context).expect("library").json;
        assert!(library.contains("\"feature\":[\"on\"]"), "{library}");
    }

    #[test]
    fn the_content_id_is_a_stable_hash_of_the_module_set() {
        let context = dmvpn_yang::new_context().expect("context");
        let again = build(&context).expect("library");
        assert_eq!(Some(again.content_id.as_str()), content_id());
        assert_eq!(again.content_id.len(), 16);
        let other = dmvpn_yang::new_context().expect("context");
        other
            .get_module_latest("ietf-inet-types")
            .expect("module")
            .set_implemented()
            .expect("implemented");
        assert_ne!(build(&other).expect("library").content_id, again.content_id);
    }

    #[tokio::test]
    async fn it_renders_only_when_the_filter_may_reach_it() {
        for reaches in [
            "",
            "/ietf-yang-library:yang-library/content-id",
            "/dmvpn-ipsec:ipsec | /ietf-yang-library:yang-library",
            "//module",
            "/*",
            "/dmvpn-ipsec:ipsec/../ietf-yang-library:yang-library",
            "/no-such:thing",
        ] {
            assert!(json(reaches).await.contains("content-id"), "{reaches}");
        }
        for misses in [
            "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp",
            "/dmvpn-ipsec:ipsec",
            "/dmvpn-ipsec:ipsec/profile[name='a'] | /ietf-interfaces:interfaces",
        ] {
            assert_eq!(json(misses).await, "{}", "{misses}");
        }
    }
}
