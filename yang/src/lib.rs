//! The project's YANG modules (NHRP, DMVPN tunnel, IPsec) and the IETF modules they
//! import, embedded in the binary so that nothing is searched on the file
//! system at run time.
//!
//! [`context`] returns the one libyang context every datastore and API of the
//! process shares, with every module of [`IMPLEMENTED`] loaded and
//! implemented. `ietf-inet-types` and `ietf-yang-types` (2013-07-15) are
//! built into libyang itself, and so are the YANG library (RFC 8525,
//! [`YANG_LIBRARY`]) and `ietf-datastores` (RFC 8342), which the context
//! implements so that clients can discover the modules.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::OnceLock;

use yang2::context::{Context, ContextFlags, EmbeddedModuleKey, EmbeddedModules};

/// One embedded module: name, revision, text.
#[derive(Debug)]
pub struct Module {
    pub name: &'static str,
    pub revision: &'static str,
    pub text: &'static str,
}

/// Every module this crate embeds, the imported IETF ones first.
pub const MODULES: &[Module] = &[
    Module {
        name: "ietf-interfaces",
        revision: "2018-02-20",
        text: include_str!("../modules/ietf-interfaces.yang"),
    },
    Module {
        name: "ietf-ip",
        revision: "2018-02-22",
        text: include_str!("../modules/ietf-ip.yang"),
    },
    Module {
        name: "iana-if-type",
        revision: "2019-02-08",
        text: include_str!("../modules/iana-if-type.yang"),
    },
    Module {
        name: "dmvpn-tunnel",
        revision: "2026-11-25",
        text: include_str!("../modules/dmvpn-tunnel.yang"),
    },
    Module {
        name: "dmvpn-nhrp",
        revision: "2026-11-25",
        text: include_str!("../modules/dmvpn-nhrp.yang"),
    },
    Module {
        name: "dmvpn-ipsec",
        revision: "2026-12-06",
        text: include_str!("../modules/dmvpn-ipsec.yang"),
    },
];

/// The modules the daemon implements (their data nodes are valid in a
/// datastore), in load order.
///
/// `iana-if-type` gives the underlay interfaces a type
/// (`iana-if-type:ethernetCsmacd`, ...), so that they can be listed in
/// ietf-interfaces and referenced as a tunnel's `source-interface`.
pub const IMPLEMENTED: &[&str] = &[
    "ietf-interfaces",
    "ietf-ip",
    "iana-if-type",
    "dmvpn-tunnel",
    "dmvpn-nhrp",
    "dmvpn-ipsec",
];

/// The YANG library module libyang implements (RFC 8525): name, revision.
pub const YANG_LIBRARY: (&str, &str) = ("ietf-yang-library", "2019-01-04");

/// Write-only leaves (XPath of their schema nodes): a commit sets them, no
/// get of any datastore returns them (the pre-shared keys of IPsec).
pub const SECRETS: &[&str] = &["/dmvpn-ipsec:ipsec/profile/ike/pre-shared-key/secret"];

/// The text of an embedded module, for GetSchema.
pub fn module_text(name: &str, revision: Option<&str>) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|m| m.name == name && revision.is_none_or(|r| r == m.revision))
        .map(|m| m.text)
}

/// A new context with every implemented module loaded; the file system is
/// never searched. Most callers want the shared [`context`].
pub fn new_context() -> Result<Context, yang2::Error> {
    static EMBEDDED: OnceLock<EmbeddedModules> = OnceLock::new();
    let embedded = EMBEDDED.get_or_init(|| {
        MODULES
            .iter()
            .map(|m| {
                let key = EmbeddedModuleKey::new(m.name, Some(m.revision), None, None);
                (key, m.text)
            })
            .collect::<HashMap<_, _>>()
    });

    // Without NO_YANGLIBRARY, libyang implements ietf-yang-library and
    // ietf-datastores from its own copies.
    let flags = ContextFlags::DISABLE_SEARCHDIRS;
    let mut ctx = Context::new(flags)?;
    ctx.set_embedded_modules(embedded);
    for name in IMPLEMENTED {
        // ietf-ip's IPv4/IPv6 forwarding and address nodes need no feature;
        // its optional features (non-contiguous netmasks, privacy
        // autoconfiguration) have no implementation, so stay disabled.
        ctx.load_module(name, None, &[])?;
    }
    Ok(ctx)
}

/// The process-wide context (created on first use).
///
/// # Panics
/// When the embedded modules do not load, which the tests of this crate
/// rule out for every build.
pub fn context() -> &'static Context {
    static CONTEXT: OnceLock<Context> = OnceLock::new();
    CONTEXT.get_or_init(|| match new_context() {
        Ok(ctx) => ctx,
        Err(error) => panic!("embedded YANG modules do not load: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yang2::data::{Data, DataFormat, DataParserFlags, DataTree, DataValidationFlags};

    #[test]
    fn every_module_loads_and_is_implemented() {
        let ctx = new_context().expect("modules load");
        for name in IMPLEMENTED {
            let module = ctx.get_module_latest(name).expect("module present");
            assert!(module.is_implemented(), "{name} not implemented");
        }
    }

    #[test]
    fn the_yang_library_and_datastores_are_implemented() {
        let ctx = new_context().expect("modules load");
        let (name, revision) = YANG_LIBRARY;
        let library = ctx.get_module(name, Some(revision)).expect("yang library");
        assert!(library.is_implemented());
        let datastores = ctx
            .get_module_latest("ietf-datastores")
            .expect("ietf-datastores");
        assert!(datastores.is_implemented());
        assert!(ctx.find_path("/ietf-yang-library:yang-library").is_ok());
    }

    #[test]
    fn module_text_is_looked_up_by_name_and_revision() {
        assert!(module_text("dmvpn-nhrp", None).is_some());
        assert!(module_text("dmvpn-nhrp", Some("2026-11-25")).is_some());
        assert!(module_text("dmvpn-nhrp", Some("1999-01-01")).is_none());
        assert!(module_text("nope", None).is_none());
    }

    const HUB: &str = r#"{
      "ietf-interfaces:interfaces": {
        "interface": [{
          "name": "tun0",
          "type": "dmvpn-tunnel:mgre",
          "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.1", "prefix-length": 24}]},
          "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.1", "gre-key": 42},
          "dmvpn-nhrp:nhrp": {
            "network-id": 1,
            "registration-interval": 60,
            "nhs": [{"protocol-address": "10.0.0.254", "nbma-address": "192.0.2.254"}],
            "multicast": {"dynamic": true, "nbma-address": ["192.0.2.9"]}
          }
        }]
      }
    }"#;

    /// libyang reads NUL-terminated strings and yang2 passes the buffer as
    /// is.
    fn c(text: &str) -> Vec<u8> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        bytes
    }

    fn parse(json: &str) -> Result<DataTree<'static>, yang2::Error> {
        DataTree::parse_string(
            context(),
            c(json),
            DataFormat::JSON,
            DataParserFlags::STRICT | DataParserFlags::NO_STATE,
            DataValidationFlags::NO_STATE,
        )
    }

    #[test]
    fn a_hub_config_validates_with_defaults() {
        let tree = parse(HUB).expect("valid");
        let nhrp = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-nhrp:nhrp";
        let holding = tree
            .find_path(&format!("{nhrp}/holding-time"))
            .expect("default");
        assert_eq!(holding.value_canonical().as_deref(), Some("7200"));
        let ttl = "/ietf-interfaces:interfaces/interface[name='tun0']/dmvpn-tunnel:tunnel/ttl";
        assert_eq!(
            tree.find_path(ttl)
                .expect("default")
                .value_canonical()
                .as_deref(),
            Some("255")
        );
    }

    #[test]
    fn nhrp_on_a_non_tunnel_interface_is_rejected() {
        // A second interface type, from a test module, to exercise the
        // `when` of both augmentations.
        const TEST_MODULE: &str = "module test-if { yang-version 1.1; namespace urn:test-if; \
            prefix t; import ietf-interfaces { prefix if; } \
            identity ethernet { base if:interface-type; } }";
        static EXTRA: OnceLock<EmbeddedModules> = OnceLock::new();
        let mut ctx = new_context().expect("modules load");
        ctx.set_embedded_modules(EXTRA.get_or_init(|| {
            HashMap::from([(
                EmbeddedModuleKey::new("test-if", None, None, None),
                TEST_MODULE,
            )])
        }));
        ctx.load_module("test-if", None, &[]).expect("test module");
        let parse = |json: &str| {
            DataTree::parse_string(
                &ctx,
                c(json),
                DataFormat::JSON,
                DataParserFlags::STRICT | DataParserFlags::NO_STATE,
                DataValidationFlags::NO_STATE,
            )
            .map(|_| ())
        };
        assert_eq!(parse(HUB), Ok(()));
        let err = parse(&HUB.replace("dmvpn-tunnel:mgre", "test-if:ethernet")).expect_err("when");
        assert!(
            err.msg
                .as_deref()
                .unwrap_or_default()
                .contains("When condition"),
            "{err:?}"
        );
    }

    #[test]
    fn an_underlay_netns_is_a_name_but_not_dot_or_dot_dot() {
        let with = |name: &str| {
            let source = "\"source-address\": \"192.0.2.1\"";
            HUB.replace(source, &format!("{source}, \"underlay-netns\": \"{name}\""))
        };
        assert!(with("x").contains("underlay-netns"), "the fixture changed");
        let long = "n".repeat(255);
        for good in ["a", "fvrf", "red.1", ".a", "..a", "...", "_", "-x", &long] {
            assert!(parse(&with(good)).is_ok(), "{good:?} refused");
        }
        let too_long = "n".repeat(256);
        for bad in [".", "..", "", "a/b", "a b", &too_long] {
            assert!(parse(&with(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn must_and_ranges_are_enforced() {
        let err = parse(&HUB.replace(
            "\"registration-interval\": 60",
            "\"registration-interval\": 7200",
        ))
        .expect_err("must");
        assert!(
            format!("{err:?}").contains("registration-interval"),
            "{err:?}"
        );
        assert!(parse(&HUB.replace("\"network-id\": 1", "\"network-id\": 0")).is_err());
        let long = HUB.replace(
            "\"network-id\": 1",
            "\"network-id\": 1, \"authentication\": \"123456789\"",
        );
        assert!(parse(&long).is_err());
        let short = HUB.replace(
            "\"network-id\": 1",
            "\"network-id\": 1, \"authentication\": \"cisco\"",
        );
        assert!(parse(&short).is_ok());
    }

    #[test]
    fn a_protected_tunnel_validates_and_its_profile_must_exist() {
        let protected = HUB
            .replace(
                "\"gre-key\": 42}",
                "\"gre-key\": 42, \"dmvpn-ipsec:protection\": {\"profile\": \"dmvpn\"}}",
            )
            .replacen(
                "{\n      \"ietf-interfaces:interfaces\"",
                r#"{
      "dmvpn-ipsec:ipsec": {"profile": [{
        "name": "dmvpn",
        "ike": {
          "proposal": [{"sequence": 10, "encryption": ["aes-cbc-256"], "integrity": ["sha512"],
                        "group": ["ecp-256", "modp-2048"]}],
          "pre-shared-key": [{"name": "all", "any": [null], "secret": "dmvpn-secret"}]
        },
        "esp": {"proposal": [{"sequence": 10, "encryption": ["aes-cbc-128"], "integrity": ["sha1"]}]}
      }]},
      "ietf-interfaces:interfaces""#,
                1,
            );
        let tree = parse(&protected).expect("valid");
        let lifetime = tree
            .find_path("/dmvpn-ipsec:ipsec/profile[name='dmvpn']/esp/lifetime")
            .expect("default");
        assert_eq!(lifetime.value_canonical().as_deref(), Some("3600"));
        let dangling = protected.replace("\"profile\": \"dmvpn\"}", "\"profile\": \"nope\"}");
        let err = parse(&dangling).expect_err("leafref");
        assert!(format!("{err:?}").contains("nope"), "{err:?}");
        let short_key = protected.replace("dmvpn-secret", "short");
        assert!(parse(&short_key).is_err());
    }

    #[test]
    fn rpc_and_notification_parse() {
        let rpc = r#"{"dmvpn-nhrp:purge": {"interface": "tun0", "prefix": "10.0.0.7/32"}}"#;
        DataTree::parse_op_string(
            context(),
            c(rpc),
            DataFormat::JSON,
            yang2::data::DataOperation::RpcYang,
        )
        .expect("rpc");
        let notif =
            r#"{"dmvpn-nhrp:nhs-up": {"interface": "tun0", "protocol-address": "10.0.0.254"}}"#;
        DataTree::parse_op_string(
            context(),
            c(notif),
            DataFormat::JSON,
            yang2::data::DataOperation::NotificationYang,
        )
        .expect("notification");
    }
}
