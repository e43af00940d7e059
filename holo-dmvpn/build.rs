//! Generates the data-path constants of `dmvpn-tunnel.yang` (see `src/yang.rs`)
//! and compiles the eBPF fast path (`bpf/fastpath.c`, see
//! `src/dataplane/fastpath.rs`) with clang.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let module = "../yang/modules/dmvpn-tunnel.yang";
    println!("cargo:rerun-if-changed={module}");
    let out_dir =
        PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_else(|| panic!("cargo sets OUT_DIR")));
    let out = out_dir.join("dmvpn_tunnel.rs");
    yang_paths::generate_file(module.as_ref(), &out).unwrap_or_else(|e| panic!("{e}"));
    fast_path(&out_dir);
}

/// `OUT_DIR/fastpath.o`: the BPF object, or an empty file when clang is
/// missing or fails, which the loader reports as the reason the tunnel
/// runs on the userspace plane (`scripts/setup.sh` installs clang).
fn fast_path(out_dir: &Path) {
    let source = "bpf/fastpath.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=DMVPN_CLANG");
    let object = out_dir.join("fastpath.o");
    let clang = std::env::var("DMVPN_CLANG").unwrap_or_else(|_| "clang".to_string());
    // The UAPI headers' asm/ directory is under the multiarch triple.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = format!("/usr/include/{arch}-linux-gnu");
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .arg(format!("-I{multiarch}"))
        .args(["-c", source, "-o"])
        .arg(&object)
        .status();
    let built = match status {
        Ok(status) if status.success() => true,
        Ok(status) => {
            println!(
                "cargo:warning=clang failed on {source} ({status}): the eBPF fast path is not built"
            );
            false
        }
        Err(error) => {
            println!(
                "cargo:warning={clang} not found ({error}): the eBPF fast path is not built (scripts/setup.sh installs clang)"
            );
            false
        }
    };
    if !built {
        std::fs::write(&object, b"")
            .unwrap_or_else(|e| panic!("writing {}: {e}", object.display()));
    }
}
