//! dmvpnd, the DMVPN routing daemon. The foundation issue gives it only its
//! command line; the northbound and data-plane issues give it a life.
#![forbid(unsafe_code)]

use clap::Parser;

/// The DMVPN daemon (NHRP + multipoint GRE).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Daemon settings (TOML).
    #[arg(long, default_value = "/etc/dmvpnd.toml")]
    config: std::path::PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    eprintln!(
        "dmvpnd {}: no protocol instances can be configured yet (config {} not read); \
         this build only provides the codecs and `dmvpn-cli decode`",
        env!("CARGO_PKG_VERSION"),
        args.config.display()
    );
    std::process::ExitCode::from(2)
}
