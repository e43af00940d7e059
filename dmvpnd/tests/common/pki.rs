//! Certificates for the IPsec tests: a throwaway PKI made with the
//! openssl command (a Debian package scripts/setup.sh installs).

use std::path::Path;

/// A test PKI made with the openssl command in `dir`: CAs `ca` and
/// `rogue` (`ca.pem`, `rogue.pem`), and for each (name, address, signer)
/// `<name>.pem` and `<name>.key` (ECDSA P-256, PKCS#8), subject
/// `O=dmvpn e2e, CN=<name>`, the address as subjectAltName, signed by CA
/// `signer`.
pub fn make_pki(dir: &Path, nodes: &[(&str, &str, &str)]) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for ca in ["ca", "rogue"] {
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{ca}.key"),
        ]);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{ca}.key"),
            "-subj",
            &format!("/O=dmvpn e2e/CN={ca}"),
            "-days",
            "2",
            "-out",
            &format!("{ca}.pem"),
        ]);
    }
    for &(name, address, ca) in nodes {
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.sec1"),
        ]);
        openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &format!("{name}.sec1"),
            "-out",
            &format!("{name}.key"),
        ]);
        openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/O=dmvpn e2e/CN={name}"),
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("subjectAltName=IP:{address}\n"),
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
}
