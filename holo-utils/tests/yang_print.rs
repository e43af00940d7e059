//! `sys::yang::print_data`: the text yang2's `print_string` gives, and
//! libyang's buffer freed (yang2's leaks it: the second half of
//! `print_data_frees_libyang_buffer` shows that, so the test can fail).
//!
//! Heap in use is glibc's (`sys::heap::used_bytes`, all arenas): the tests
//! of this file take `SERIAL` so that, under `cargo test` too, no other
//! test of the process allocates while one measures.
#![cfg(all(feature = "yang", target_os = "linux", target_env = "gnu"))]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use holo_utils::sys::heap;
use holo_utils::sys::yang::{print_data, print_schema};
use yang2::context::{Context, ContextFlags, EmbeddedModuleKey, EmbeddedModules};
use yang2::data::{
    Data, DataFormat, DataParserFlags, DataPrinterFlags, DataTree, DataValidationFlags,
};
use yang2::schema::{SchemaOutputFormat, SchemaPrinterFlags};

static SERIAL: Mutex<()> = Mutex::new(());

const MODULE: &str = r#"module print-test {
  yang-version 1.1;
  namespace "urn:holo-utils:print-test";
  prefix pt;
  container entries {
    list entry {
      key "name";
      leaf name { type string; }
      leaf text { type string; }
      leaf count { type uint32; default 7; }
    }
  }
}"#;

/// Entries of ~500 bytes of text each.
fn json(entries: usize) -> String {
    let text = "x".repeat(480);
    let list: Vec<String> = (0..entries)
        .map(|i| format!(r#"{{"name":"entry-{i}","text":"{text}"}}"#))
        .collect();
    format!(
        r#"{{"print-test:entries":{{"entry":[{}]}}}}"#,
        list.join(",")
    )
}

/// A context with `print-test` loaded from `modules` (which must outlive it:
/// libyang keeps the pointer for imports).
fn context(modules: &EmbeddedModules) -> Context {
    let mut ctx = Context::new(ContextFlags::DISABLE_SEARCHDIRS).unwrap();
    ctx.set_embedded_modules(modules);
    ctx.load_module("print-test", None, &[]).unwrap();
    ctx
}

fn modules() -> EmbeddedModules {
    HashMap::from([(
        EmbeddedModuleKey::new("print-test", None, None, None),
        MODULE,
    )])
}

fn tree<'a>(ctx: &'a Context, entries: usize) -> DataTree<'a> {
    // Validated: the default `count` nodes are added.
    DataTree::parse_string(
        ctx,
        json(entries),
        DataFormat::JSON,
        DataParserFlags::empty(),
        DataValidationFlags::NO_STATE,
    )
    .unwrap()
}

/// Same text as yang2's `print_string` (which leaks: small trees only), for
/// a tree, a node, an empty tree; LYB refused.
#[test]
fn print_data_prints_as_yang2() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let modules = modules();
    let ctx = context(&modules);
    let tree = tree(&ctx, 3);
    for format in [DataFormat::JSON, DataFormat::XML] {
        for flags in [
            DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::WD_EXPLICIT,
            DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::WD_ALL,
            DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
        ] {
            // Not `Copy`.
            let again = DataPrinterFlags::from_bits_retain(flags.bits());
            let ours = print_data(&tree, format, flags).unwrap();
            assert_eq!(ours, tree.print_string(format, again).unwrap());
            assert!(ours.unwrap().contains("entry-2"));
        }
    }

    let node = tree
        .find_path("/print-test:entries/entry[name='entry-1']")
        .unwrap();
    let ours = print_data(&node, DataFormat::JSON, DataPrinterFlags::WD_ALL).unwrap();
    assert_eq!(
        ours,
        node.print_string(DataFormat::JSON, DataPrinterFlags::WD_ALL)
            .unwrap()
    );
    let ours = ours.unwrap();
    assert!(
        ours.contains("entry-1") && !ours.contains("entry-2"),
        "{ours}"
    );
    assert!(ours.contains("\"count\": 7"), "{ours}");

    let empty = DataTree::new(&ctx);
    for format in [DataFormat::JSON, DataFormat::XML] {
        assert_eq!(
            print_data(&empty, format, DataPrinterFlags::WITH_SIBLINGS).unwrap(),
            empty
                .print_string(format, DataPrinterFlags::WITH_SIBLINGS)
                .unwrap()
        );
    }

    let error = print_data(&tree, DataFormat::LYB, DataPrinterFlags::WITH_SIBLINGS).unwrap_err();
    assert_eq!(error.errcode, yang2::ffi::LY_ERR::LY_EINVAL);
}

/// A ~2 MB tree printed 10 times: the heap in use does not grow by the text
/// (it would by 10 texts); the same loop with yang2's `print_string` does.
#[test]
fn print_data_frees_libyang_buffer() {
    const PRINTS: usize = 10;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let modules = modules();
    let ctx = context(&modules);
    let tree = tree(&ctx, 4000);
    const FLAGS: DataPrinterFlags = DataPrinterFlags::WITH_SIBLINGS;

    // Warm-up: the allocator's arenas and libyang's caches as in the loop.
    let len = print_data(&tree, DataFormat::JSON, FLAGS)
        .unwrap()
        .unwrap()
        .len();
    assert!(len > 2_000_000, "{len} bytes");
    let _ = print_data(&tree, DataFormat::JSON, FLAGS).unwrap();

    let before = heap::used_bytes();
    let mut printed = 0;
    for _ in 0..PRINTS {
        printed += print_data(&tree, DataFormat::JSON, FLAGS)
            .unwrap()
            .unwrap()
            .len();
    }
    let grown = heap::used_bytes().saturating_sub(before);
    assert_eq!(printed, PRINTS * len);
    assert!(
        grown < len / 2,
        "print_data: heap in use grew by {grown} bytes over {PRINTS} prints of {len}"
    );

    // yang2's own print: each print leaves its buffer behind.
    let before = heap::used_bytes();
    for _ in 0..PRINTS {
        printed += tree
            .print_string(DataFormat::JSON, FLAGS)
            .unwrap()
            .unwrap()
            .len();
    }
    let grown = heap::used_bytes().saturating_sub(before);
    assert_eq!(printed, 2 * PRINTS * len);
    assert!(
        grown >= PRINTS * len,
        "print_string: heap in use grew by only {grown} bytes over {PRINTS} prints of {len}"
    );
}

/// A module printed 2000 times (a NETCONF client asking for a schema in a
/// loop): `print_schema` gives yang2's text and keeps nothing; yang2's own
/// print keeps each text.
#[test]
fn print_schema_frees_libyang_buffer() {
    const PRINTS: usize = 2000;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let modules = modules();
    let ctx = context(&modules);
    let module = ctx.get_module_latest("print-test").unwrap();
    let print = || {
        print_schema(
            &module,
            &ctx,
            SchemaOutputFormat::YANG,
            SchemaPrinterFlags::empty(),
        )
        .unwrap()
    };
    let text = print();
    assert!(text.contains("module print-test"), "{text}");
    assert_eq!(
        text,
        module
            .print_string(SchemaOutputFormat::YANG, SchemaPrinterFlags::empty())
            .unwrap()
    );
    let len = text.len();

    let before = heap::used_bytes();
    for _ in 0..PRINTS {
        assert_eq!(print().len(), len);
    }
    let grown = heap::used_bytes().saturating_sub(before);
    assert!(
        grown < PRINTS * len / 10,
        "print_schema: heap in use grew by {grown} bytes over {PRINTS} prints of {len}"
    );

    let before = heap::used_bytes();
    for _ in 0..PRINTS {
        let leaked = module.print_string(SchemaOutputFormat::YANG, SchemaPrinterFlags::empty());
        assert_eq!(leaked.unwrap().len(), len);
    }
    let grown = heap::used_bytes().saturating_sub(before);
    assert!(
        grown >= PRINTS * len,
        "print_string: heap in use grew by only {grown} bytes over {PRINTS} prints of {len}"
    );
}
