//! Generation from small inline modules, checked through the constants of
//! the generated source; and the errors for what is not understood.

use std::collections::BTreeMap;

use super::generate;

/// The `pub const X: &str = "..."` items of generated source, by Rust path
/// within the generated module (`nhrp::nhs::PRIORITY`).
fn constants(rust: &str) -> BTreeMap<String, String> {
    let mut modules: Vec<(String, usize)> = vec![];
    let mut constants = BTreeMap::new();
    for line in rust.lines() {
        let indent = line.len() - line.trim_start().len();
        let line = line.trim();
        if let Some(module) = line.strip_prefix("pub mod ") {
            modules.push((module.trim_end_matches(" {").to_owned(), indent));
        } else if line == "}" && modules.last().is_some_and(|(_, at)| *at == indent) {
            modules.pop();
        } else if let Some(item) = line.strip_prefix("pub const ") {
            let Some((name, value)) = item.split_once(": &str = ") else {
                continue;
            };
            let value = value.trim_end_matches(';').trim_matches('"');
            let mut path: Vec<&str> = modules.iter().skip(1).map(|(m, _)| m.as_str()).collect();
            path.push(name);
            constants.insert(path.join("::"), value.to_owned());
        }
    }
    assert!(modules.is_empty(), "unbalanced modules in\n{rust}");
    constants
}

/// The constants of the module whose body is `body`.
fn generated(body: &str) -> BTreeMap<String, String> {
    constants(&generate_text(body))
}

fn generate_text(body: &str) -> String {
    let text = format!("module m {{\n prefix m;\n import other {{ prefix o; }}\n{body}\n}}");
    generate(&text, "m.yang").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn error(body: &str) -> String {
    let text = format!("module m {{\n prefix m;\n{body}\n}}");
    match generate(&text, "m.yang") {
        Ok(rust) => panic!("no error for\n{text}\ngenerated:\n{rust}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts the constants at the Rust paths `expected` (and no others
/// starting with `prefix`).
fn assert_constants(constants: &BTreeMap<String, String>, prefix: &str, expected: &[(&str, &str)]) {
    let found: Vec<(&str, &str)> = constants
        .iter()
        .filter(|(path, _)| path.starts_with(prefix))
        .map(|(path, value)| (path.as_str(), value.as_str()))
        .collect();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(found, expected);
}

#[test]
fn nested_containers_under_an_augment() {
    let constants = generated(
        r#"augment "/o:interfaces/o:interface" {
             container outer {
               leaf holding-time { type uint16; }
               container inner { leaf-list address { type string; } }
             }
           }"#,
    );
    assert_constants(
        &constants,
        "",
        &[
            ("MODULE", "m"),
            ("OUTER", "m:outer"),
            ("OUTER_NAME", "m:outer"),
            ("outer::PATH", "m:outer"),
            ("outer::HOLDING_TIME", "m:outer/holding-time"),
            ("outer::HOLDING_TIME_NAME", "holding-time"),
            ("outer::INNER", "m:outer/inner"),
            ("outer::INNER_NAME", "inner"),
            ("outer::inner::PATH", "m:outer/inner"),
            ("outer::inner::ADDRESS", "m:outer/inner/address"),
            ("outer::inner::ADDRESS_NAME", "address"),
        ],
    );
}

#[test]
fn top_level_data_nodes_are_absolute() {
    let constants = generated("container c { leaf l { type string; } }");
    assert_eq!(constants["C"], "/m:c");
    assert_eq!(constants["C_NAME"], "m:c");
    assert_eq!(constants["c::L"], "/m:c/l");
    assert_eq!(constants["c::L_NAME"], "l");
}

#[test]
fn choice_and_case_are_transparent() {
    let constants = generated(
        r#"container c {
             choice where {
               case by-address { leaf address { type string; } leaf port { type uint16; } }
               leaf fqdn { type string; }
               case nested {
                 choice deeper { container panel { leaf inside { type string; } } }
               }
             }
           }"#,
    );
    assert_constants(
        &constants,
        "c::",
        &[
            ("c::PATH", "/m:c"),
            ("c::ADDRESS", "/m:c/address"),
            ("c::ADDRESS_NAME", "address"),
            ("c::PORT", "/m:c/port"),
            ("c::PORT_NAME", "port"),
            ("c::FQDN", "/m:c/fqdn"),
            ("c::FQDN_NAME", "fqdn"),
            ("c::PANEL", "/m:c/panel"),
            ("c::PANEL_NAME", "panel"),
            ("c::panel::PATH", "/m:c/panel"),
            ("c::panel::INSIDE", "/m:c/panel/inside"),
            ("c::panel::INSIDE_NAME", "inside"),
        ],
    );
}

#[test]
fn groupings_expand_where_used() {
    let rust = generate_text(
        r#"grouping counters {
             leaf packets { type uint64; }
             uses more;
           }
           grouping more {
             list drop { key reason; leaf reason { type string; } }
           }
           container stats { config false; uses counters; }
           container peer { container counters { uses m:counters; } }"#,
    );
    let constants = constants(&rust);
    assert_constants(
        &constants,
        "stats::",
        &[
            ("stats::PATH", "/m:stats"),
            ("stats::PACKETS", "/m:stats/packets"),
            ("stats::PACKETS_NAME", "packets"),
            ("stats::DROP", "/m:stats/drop"),
            ("stats::DROP_NAME", "drop"),
            ("stats::drop::PATH", "/m:stats/drop"),
            ("stats::drop::KEY", "reason"),
            ("stats::drop::REASON", "reason"),
            ("stats::drop::REASON_NAME", "reason"),
        ],
    );
    assert_eq!(
        constants["peer::counters::PACKETS"],
        "/m:peer/counters/packets"
    );
    assert_eq!(
        constants["peer::counters::drop::PATH"],
        "/m:peer/counters/drop"
    );
    // Groupings are no nodes of their own.
    assert!(!constants.contains_key("COUNTERS"));
    // Nodes from a grouping used in state are state.
    assert!(rust.contains("/// leaf `packets`, state data (`config false`).\n"));
}

#[test]
fn list_children_are_relative_to_the_entry() {
    let rust = generate_text(
        r#"augment "/o:interfaces/o:interface" {
             container nhrp {
               list nhs {
                 key "protocol-address";
                 leaf protocol-address { type string; }
                 leaf priority { type uint8; }
                 container timers { leaf hold { type uint16; } }
                 list path-mtu { key "low high"; leaf low { type uint16; } leaf high { type uint16; } }
               }
             }
           }"#,
    );
    let constants = constants(&rust);
    assert_constants(
        &constants,
        "nhrp::nhs::",
        &[
            ("nhrp::nhs::PATH", "m:nhrp/nhs"),
            ("nhrp::nhs::KEY", "protocol-address"),
            ("nhrp::nhs::PROTOCOL_ADDRESS", "protocol-address"),
            ("nhrp::nhs::PROTOCOL_ADDRESS_NAME", "protocol-address"),
            ("nhrp::nhs::PRIORITY", "priority"),
            ("nhrp::nhs::PRIORITY_NAME", "priority"),
            ("nhrp::nhs::TIMERS", "timers"),
            ("nhrp::nhs::TIMERS_NAME", "timers"),
            ("nhrp::nhs::timers::PATH", "timers"),
            ("nhrp::nhs::timers::HOLD", "timers/hold"),
            ("nhrp::nhs::timers::HOLD_NAME", "hold"),
            ("nhrp::nhs::PATH_MTU", "path-mtu"),
            ("nhrp::nhs::PATH_MTU_NAME", "path-mtu"),
            ("nhrp::nhs::path_mtu::PATH", "path-mtu"),
            ("nhrp::nhs::path_mtu::LOW", "low"),
            ("nhrp::nhs::path_mtu::LOW_NAME", "low"),
            ("nhrp::nhs::path_mtu::HIGH", "high"),
            ("nhrp::nhs::path_mtu::HIGH_NAME", "high"),
        ],
    );
    assert!(rust.contains("pub const KEYS: [&str; 1] = [\"protocol-address\"];"));
    assert!(rust.contains(
        "            pub fn entry(protocol_address: &str) -> String {
                format!(
                    \"{PATH}[protocol-address={}]\",
                    super::super::key_literal(protocol_address),
                )
            }"
    ));
    // Two keys: no KEY, both in KEYS and in entry().
    assert!(rust.contains("pub const KEYS: [&str; 2] = [\"low\", \"high\"];"));
    assert!(rust.contains("pub fn entry(low: &str, high: &str) -> String {"));
    assert!(rust.contains("\"{PATH}[low={}][high={}]\","));
    assert!(rust.contains("super::super::super::key_literal(high),"));
}

#[test]
fn key_literals_are_quoted_as_libyang_does() {
    let rust = generate_text("list l { key k; leaf k { type string; } }");
    assert!(rust.contains(
        "    fn key_literal(value: &str) -> String {
        if value.contains('\\'') {
            format!(\"\\\"{value}\\\"\")
        } else {
            format!(\"'{value}'\")
        }
    }"
    ));
    // Without keyed lists, no helper to warn as dead code.
    assert!(!generate_text("list l { config false; leaf k { type string; } }").contains("fn "));
}

#[test]
fn string_concatenation_in_arguments() {
    let constants = generated(
        r#"augment "/o:interfaces" + '/o:interface' {
             list "static" + "-map" {
               key 'protocol' + "-address";
               leaf protocol-address { type string; }
             }
           }"#,
    );
    assert_eq!(constants["STATIC_MAP"], "m:static-map");
    assert_eq!(constants["static_map::KEY"], "protocol-address");
}

#[test]
fn comments_are_skipped() {
    let constants = generated(
        "// leaf commented-out { type string; }
         container c { /* leaf gone { } } { */
           leaf kept { type string; } // leaf gone-too;
           description \"// not a comment, /* nor this */\";
         }",
    );
    assert_constants(
        &constants,
        "",
        &[
            ("MODULE", "m"),
            ("C", "/m:c"),
            ("C_NAME", "m:c"),
            ("c::PATH", "/m:c"),
            ("c::KEPT", "/m:c/kept"),
            ("c::KEPT_NAME", "kept"),
        ],
    );
}

#[test]
fn state_nodes_are_marked() {
    let rust = generate_text(
        "container c {
           leaf configured { type string; }
           list entry { config false; key p; leaf p { type string; } }
         }",
    );
    assert!(rust.contains("/// leaf `configured`.\n"));
    assert!(rust.contains("/// list `entry`, key `p`, state data (`config false`).\n"));
    assert!(rust.contains("/// leaf `p`, state data (`config false`).\n"));
}

#[test]
fn rpcs_and_notifications() {
    let rust = generate_text(
        "rpc clear-cache {
           input { leaf interface { type string; } }
           output { leaf interface { type string; } leaf count { type uint32; } }
         }
         notification nhs-up { leaf interface { type string; } }",
    );
    let constants = constants(&rust);
    assert_constants(
        &constants,
        "clear_cache::",
        &[
            ("clear_cache::PATH", "/m:clear-cache"),
            ("clear_cache::input::PATH", "/m:clear-cache"),
            ("clear_cache::input::INTERFACE", "/m:clear-cache/interface"),
            ("clear_cache::input::INTERFACE_NAME", "interface"),
            ("clear_cache::output::PATH", "/m:clear-cache"),
            ("clear_cache::output::INTERFACE", "/m:clear-cache/interface"),
            ("clear_cache::output::INTERFACE_NAME", "interface"),
            ("clear_cache::output::COUNT", "/m:clear-cache/count"),
            ("clear_cache::output::COUNT_NAME", "count"),
        ],
    );
    assert_eq!(constants["CLEAR_CACHE_NAME"], "m:clear-cache");
    assert_eq!(constants["NHS_UP"], "/m:nhs-up");
    assert_eq!(constants["NHS_UP_NAME"], "m:nhs-up");
    assert_eq!(constants["nhs_up::INTERFACE"], "/m:nhs-up/interface");
}

#[test]
fn rust_names_from_yang_identifiers() {
    let rust = generate_text(
        "container type {
           leaf camelCase { type string; }
           leaf dotted.name { type string; }
           container module-inception { container module-inception { leaf x { type string; } } }
         }",
    );
    let constants = constants(&rust);
    assert_eq!(constants["TYPE"], "/m:type");
    assert!(rust.contains("pub mod r#type {"));
    assert_eq!(constants["r#type::CAMEL_CASE"], "/m:type/camelCase");
    assert_eq!(constants["r#type::DOTTED_NAME_NAME"], "dotted.name");
    assert!(rust.contains(
        "            #[allow(clippy::module_inception)]\n            pub mod module_inception {"
    ));
}

#[test]
fn the_project_modules_generate() {
    let nhrp = generate(
        include_str!("../../yang/modules/dmvpn-nhrp.yang"),
        "dmvpn-nhrp.yang",
    )
    .unwrap();
    let nhrp = constants(&nhrp);
    assert_eq!(nhrp["nhrp::HOLDING_TIME"], "dmvpn-nhrp:nhrp/holding-time");
    assert_eq!(nhrp["nhrp::nhs::NBMA_FQDN"], "nbma-fqdn");
    assert_eq!(nhrp["nhrp::cache_entry::EXPIRES_IN_NAME"], "expires-in");
    assert_eq!(
        nhrp["nhrp::counters::nat_path::PROBES_SENT"],
        "dmvpn-nhrp:nhrp/counters/nat-path/probes-sent"
    );
    assert_eq!(nhrp["purge::input::PREFIX"], "/dmvpn-nhrp:purge/prefix");

    let tunnel = generate(
        include_str!("../../yang/modules/dmvpn-tunnel.yang"),
        "dmvpn-tunnel.yang",
    )
    .unwrap();
    let tunnel = constants(&tunnel);
    assert_eq!(tunnel["tunnel::GRE_KEY"], "dmvpn-tunnel:tunnel/gre-key");
    assert_eq!(
        tunnel["tunnel::SOURCE_INTERFACE"],
        "dmvpn-tunnel:tunnel/source-interface"
    );
    assert_eq!(tunnel["tunnel::statistics::drop::COUNT"], "count");
    assert_eq!(
        tunnel["tunnel::peer::counters::PACKETS_IN"],
        "counters/packets-in"
    );
}

/// What the generator does not understand is an error at its line, never a
/// guess.
#[test]
fn what_is_not_understood_fails_loudly() {
    for (body, expected) in [
        // A typo in a keyword.
        ("containr c { }", "line 3: containr is not supported"),
        (
            "deviation /o:x { deviate not-supported; }",
            "line 3: deviation is not supported",
        ),
        ("include m-sub;", "line 3: include is not supported"),
        (
            "container c { action reset; }",
            "line 3: action or notification in a data node is not supported",
        ),
        (
            "container c { grouping g { leaf x { type string; } } }",
            "line 3: grouping inside a definition is not supported (only at the top of the module)",
        ),
        (
            "container c { uses missing; }",
            "line 3: no grouping missing in this module",
        ),
        (
            "container c { uses o:theirs; }",
            "line 3: o:theirs: definitions of other modules are not supported",
        ),
        (
            "grouping g { uses g; }\ncontainer c { uses g; }",
            "line 3: grouping g uses itself",
        ),
        (
            "grouping g { leaf x { type string; } }\ncontainer c { uses g { augment x { leaf y; } } }",
            "line 4: augment in uses is not supported",
        ),
        (
            "grouping g { leaf x { type string; } }\ncontainer c { uses g { refine x { config false; } } }",
            "line 4: refine of config is not supported",
        ),
        (
            "augment /m:c { leaf x { type string; } }",
            "line 3: augment of this module's own node \"/m:c\" is not supported",
        ),
        (
            "container c { case k; }",
            "line 3: case outside a choice is not supported",
        ),
        (
            "container c { config maybe; }",
            "line 3: config \"maybe\": expected true or false",
        ),
        (
            "list l { key \"k\"; leaf q { type string; } }",
            "line 3: key \"k\" of list l is not one of its leaves",
        ),
        (
            "container c { leaf a-b { type string; } leaf a_b { type string; } }",
            "line 3: the Rust name A_B is also made at line 3: rename one of the nodes",
        ),
        (
            "container c { leaf path { type string; } }",
            "line 3: the Rust name PATH is also made at line 3: rename one of the nodes",
        ),
        (
            "container c {\n leaf x { type string; }\n leaf x-name { type string; } }",
            "line 5: the Rust name X_NAME is also made at line 4: rename one of the nodes",
        ),
        (
            "container self { }",
            "line 3: \"self\" cannot be a Rust module or parameter name",
        ),
        (
            "leaf \"bad name\";",
            "line 3: \"bad name\" is not a YANG identifier",
        ),
        (
            "container c {\n leaf x;",
            "line 5: missing } of module (line 1)",
        ),
    ] {
        assert_eq!(error(body), expected, "{body}");
    }
    assert_eq!(
        generate("submodule s { belongs-to m; }", "s.yang")
            .unwrap_err()
            .to_string(),
        "line 1: expected a module, found submodule"
    );
}
