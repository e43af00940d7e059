//! The `dmvpn-cli decode` command as an operator runs it, on the capture the
//! repository ships.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shipped_capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures/dmvpn-selfmade.pcap")
}

fn dmvpn_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmvpn-cli"))
        .args(args)
        .output()
        .expect("dmvpn-cli runs")
}

/// A temporary copy of a capture, removed when dropped.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn decode_prints_one_json_object_per_gre_frame() {
    let out = dmvpn_cli(&["decode", shipped_capture().to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 15);
    assert_eq!(lines[0]["frame"], 1);
    assert_eq!(lines[0]["outer"]["src"], "192.0.2.11");
    assert_eq!(lines[0]["gre"]["key"], 1000);
    assert_eq!(lines[0]["nhrp"]["type"], "registration_request");
    assert_eq!(lines[4]["payload"]["length"], 36);
    assert_eq!(lines[13]["nhrp"]["type"], "error_indication");
    assert_eq!(lines[14]["outer"]["src"], "2001:db8::13");
}

#[test]
fn roundtrip_check_passes_on_the_shipped_capture() {
    let out = dmvpn_cli(&[
        "decode",
        "--check-roundtrip",
        shipped_capture().to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("roundtrip ok: 15 GRE, 12 NHRP"), "{stderr}");
}

#[test]
fn roundtrip_check_fails_naming_a_corrupted_packet() {
    let mut bytes = std::fs::read(shipped_capture()).expect("shipped capture");
    // pcap header 24 + record header 16 + Ethernet 14 + IPv4 20 + GRE with
    // key 8: frame 1's NHRP packet starts at 82; corrupt its request id.
    bytes[82 + 27] ^= 0xff;
    let copy = TempCopy(std::env::temp_dir().join(format!("corrupt-{}.pcap", std::process::id())));
    std::fs::write(&copy.0, &bytes).expect("write copy");

    let out = dmvpn_cli(&[
        "decode",
        "--check-roundtrip",
        copy.0.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("frame 1"), "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");
    assert!(
        !stderr.contains("frame 2:"),
        "only the corrupted frame is listed: {stderr}"
    );
}

#[test]
fn unreadable_file_is_a_clear_error() {
    let out = dmvpn_cli(&["decode", "/nonexistent/capture.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/capture.pcap"));
}
