//! Generates the data-path constants of `dmvpn-ipsec.yang` (see `src/yang.rs`).

fn main() {
    let module = "../yang/modules/dmvpn-ipsec.yang";
    println!("cargo:rerun-if-changed={module}");
    let out_dir = std::env::var_os("OUT_DIR").unwrap_or_else(|| panic!("cargo sets OUT_DIR"));
    let out = std::path::Path::new(&out_dir).join("dmvpn_ipsec.rs");
    yang_paths::generate_file(module.as_ref(), &out).unwrap_or_else(|e| panic!("{e}"));
}
