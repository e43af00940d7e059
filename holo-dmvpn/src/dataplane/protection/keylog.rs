//! A debug aid: the keys of every child SA, appended to the `esp_sa` file
//! of a directory in the format of Wireshark's ESP SA table (its UAT), and
//! those of every IKE SA to `ikev2_decryption_table`, so that a capture of
//! the underlay is decrypted by an independent decoder
//! (`WIRESHARK_CONFIG_DIR=DIR tshark -o esp.enable_encryption_decode:TRUE
//! ...`). Never on unless the daemon settings ask for it (`[debug]
//! ipsec-keylog`): whoever reads the file reads the traffic.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use holo_ike::crypto::{EncrAlgorithm, IntegAlgorithm};
use holo_ike::ike::ChildSa;
use holo_ike::ike::keylog::IkeSaKeyLog;

/// The directory the tables are written to.
#[derive(Clone, Debug)]
pub struct KeyLog {
    dir: PathBuf,
}

impl KeyLog {
    pub fn new(dir: &Path) -> KeyLog {
        KeyLog {
            dir: dir.to_owned(),
        }
    }

    /// Appends both directions of `child` to `esp_sa`.
    pub fn child_sa(&self, child: &ChildSa) {
        let rows = [
            row(
                child.peer,
                child.local,
                child.inbound_spi,
                child,
                &child.inbound_encr_key,
                &child.inbound_integ_key,
            ),
            row(
                child.local,
                child.peer,
                child.outbound_spi,
                child,
                &child.outbound_encr_key,
                &child.outbound_integ_key,
            ),
        ];
        if let Err(error) = self.append("esp_sa", &rows.join("")) {
            tracing::warn!(dir = %self.dir.display(), %error, "IPsec key log not written");
        }
    }

    /// Appends an IKE SA to `ikev2_decryption_table`: SPIs, SK_ei, SK_er,
    /// encryption, SK_ai, SK_ar, integrity.
    pub fn ike_sa(&self, sa: &IkeSaKeyLog) {
        let row = format!(
            "{:016x},{:016x},{},{},\"{}\",{},{},\"{}\"\n",
            sa.spi_i,
            sa.spi_r,
            hex(&sa.sk_ei),
            hex(&sa.sk_er),
            ike_encryption_name(sa.encr),
            hex(&sa.sk_ai),
            hex(&sa.sk_ar),
            ike_integrity_name(sa.integ),
        );
        if let Err(error) = self.append("ikev2_decryption_table", &row) {
            tracing::warn!(dir = %self.dir.display(), %error, "IPsec key log not written");
        }
    }

    fn append(&self, file: &str, text: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.dir.join(file))?;
        out.write_all(text.as_bytes())
    }
}

/// One line of Wireshark's `esp_sa` table: protocol, source, destination,
/// SPI, encryption, its key (with the GCM salt), authentication, its key.
fn row(src: IpAddr, dst: IpAddr, spi: u32, child: &ChildSa, encr: &[u8], integ: &[u8]) -> String {
    let family = match src {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    };
    let integ_key = match child.integ {
        Some(_) => format!("0x{}", hex(integ)),
        None => String::new(),
    };
    format!(
        "\"{family}\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{}\",\"0x{}\",\"{}\",\"{integ_key}\"\n",
        encryption_name(child.encr),
        hex(encr),
        integrity_name(child.integ),
    )
}

/// Wireshark's names of the algorithms (its ESP SA table's choices).
fn encryption_name(encr: EncrAlgorithm) -> &'static str {
    match encr {
        EncrAlgorithm::AesCbc128 | EncrAlgorithm::AesCbc256 => "AES-CBC [RFC3602]",
        EncrAlgorithm::AesGcm16_128 | EncrAlgorithm::AesGcm16_256 => {
            "AES-GCM with 16 octet ICV [RFC4106]"
        }
    }
}

fn integrity_name(integ: Option<IntegAlgorithm>) -> &'static str {
    match integ {
        None => "NULL",
        Some(IntegAlgorithm::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(IntegAlgorithm::HmacSha256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(IntegAlgorithm::HmacSha384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(IntegAlgorithm::HmacSha512_256) => "HMAC-SHA-512-256 [RFC4868]",
    }
}

/// Wireshark's names in its IKEv2 decryption table.
fn ike_encryption_name(encr: EncrAlgorithm) -> &'static str {
    match encr {
        EncrAlgorithm::AesCbc128 => "AES-CBC-128 [RFC3602]",
        EncrAlgorithm::AesCbc256 => "AES-CBC-256 [RFC3602]",
        EncrAlgorithm::AesGcm16_128 => "AES-GCM-128 with 16 octet ICV [RFC5282]",
        EncrAlgorithm::AesGcm16_256 => "AES-GCM-256 with 16 octet ICV [RFC5282]",
    }
}

fn ike_integrity_name(integ: Option<IntegAlgorithm>) -> &'static str {
    match integ {
        None => "NONE [RFC4306]",
        Some(IntegAlgorithm::HmacSha1_96) => "HMAC_SHA1_96 [RFC2404]",
        Some(IntegAlgorithm::HmacSha256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(IntegAlgorithm::HmacSha384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(IntegAlgorithm::HmacSha512_256) => "HMAC_SHA2_512_256 [RFC4868]",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use holo_ike::ike::Mode;
    use std::time::Duration;

    #[test]
    fn both_directions_in_wireshark_esp_sa_format() {
        let dir = std::env::temp_dir().join(format!("dmvpn-keylog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let child = ChildSa {
            peer: "192.0.2.1".parse().unwrap(),
            local: "192.0.2.11".parse().unwrap(),
            encap: None,
            mode: Mode::Transport,
            encr: EncrAlgorithm::AesCbc128,
            integ: Some(IntegAlgorithm::HmacSha1_96),
            esn: false,
            inbound_spi: 0xc1a2b3d4,
            inbound_encr_key: vec![0x11; 16],
            inbound_integ_key: vec![0x22; 20],
            outbound_spi: 0x0badcafe,
            outbound_encr_key: vec![0x33; 16],
            outbound_integ_key: vec![0x44; 20],
            lifetime: Duration::from_secs(3600),
        };
        KeyLog::new(&dir).child_sa(&child);
        let text = std::fs::read_to_string(dir.join("esp_sa")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                format!(
                    "\"IPv4\",\"192.0.2.1\",\"192.0.2.11\",\"0xc1a2b3d4\",\"AES-CBC [RFC3602]\",\"0x{}\",\"HMAC-SHA-1-96 [RFC2404]\",\"0x{}\"",
                    "11".repeat(16),
                    "22".repeat(20)
                ),
                format!(
                    "\"IPv4\",\"192.0.2.11\",\"192.0.2.1\",\"0x0badcafe\",\"AES-CBC [RFC3602]\",\"0x{}\",\"HMAC-SHA-1-96 [RFC2404]\",\"0x{}\"",
                    "33".repeat(16),
                    "44".repeat(20)
                ),
            ]
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join("esp_sa")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
