//! Shared helpers for the integration tests in `tests/tests/`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The reference captures from other vendors (not redistributed with the
/// project): `$DMVPN_REFERENCE_CAPTURES`, default `../shared/captures` next
/// to the repository. None, after a loud warning, when absent: the checks
/// that need them did not run. CI always has them.
pub fn reference_captures() -> Option<PathBuf> {
    let dir = std::env::var_os("DMVPN_REFERENCE_CAPTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures"));
    if dir.join("cisco").is_dir() && dir.join("frr").is_dir() {
        return Some(dir);
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! WARNING: reference captures not found at {}\n\
         !! The Cisco IOS / FRR interop checks of this test DID NOT RUN.\n\
         !! Set DMVPN_REFERENCE_CAPTURES to the directory holding cisco/ and frr/.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("CI must have the reference captures at {}", dir.display());
    }
    None
}

/// One GRE frame of a capture, as `dmvpn-cli decode` reads it.
#[derive(Debug)]
pub struct GreFrame {
    pub frame: u64,
    pub outer_src: std::net::IpAddr,
    pub outer_dst: std::net::IpAddr,
    pub gre: Vec<u8>,
}

/// Every GRE frame of a capture file; panics on any frame the reader could
/// not take apart (the captures the tests use have none).
pub fn gre_frames(path: &Path) -> Vec<GreFrame> {
    let capture =
        dmvpn_cli::capture::read_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    capture
        .frames
        .into_iter()
        .map(|f| {
            let f = f.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            GreFrame {
                frame: f.frame,
                outer_src: f.outer.src,
                outer_dst: f.outer.dst,
                gre: f.gre,
            }
        })
        .collect()
}
