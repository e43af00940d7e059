//! dmvpn-cli, the operator's client: dmvpnd's management API, one-shot
//! (`-c COMMAND`) or as an interactive shell, and offline decoding of
//! captures (`decode`).
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dmvpn_cli::capture::CaptureReader;
use dmvpn_cli::client::{self, DEFAULT_SOCKET, Target};
use dmvpn_cli::decode::{DecodeOptions, decode_capture};
use dmvpn_cli::session::{Outcome, Session};
use dmvpn_cli::shell;

/// Exit status when `--check-roundtrip` finds a packet that is not
/// byte-exact.
const EXIT_ROUNDTRIP_FAILED: u8 = 1;
/// Exit status when the capture cannot be read at all, or the output
/// cannot be written.
const EXIT_ERROR: u8 = 2;
/// Exit status when a management command fails.
const EXIT_COMMAND_FAILED: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "dmvpn-cli", version, about = "The DMVPN operator's client")]
struct Cli {
    /// dmvpnd's gRPC unix socket.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Reach dmvpnd over TCP instead (`http://HOST:PORT`).
    #[arg(long, global = true, value_name = "URI", conflicts_with = "socket")]
    address: Option<String>,
    /// Run this command and exit (repeatable, run in order; stops at the
    /// first failure). Without it: the interactive shell.
    #[arg(short = 'c', value_name = "COMMAND")]
    commands: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every GRE/NHRP packet of a pcap or pcapng capture as one JSON
    /// object per line; the summary goes to stderr.
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// The capture file (pcap or pcapng; Ethernet, Linux cooked or raw IP).
    file: PathBuf,
    /// Re-encode every GRE and NHRP packet and exit with status 1 unless
    /// each is byte-exact; each failing packet is listed on stderr.
    #[arg(long)]
    check_roundtrip: bool,
    /// With --check-roundtrip: list frames that do not decode at all (for
    /// example non-NHRP junk sent with protocol type 0x2001) without failing.
    #[arg(long, requires = "check_roundtrip")]
    allow_undecodable: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Decode(args)) => decode(args),
        None => manage(&cli),
    }
}

/// The management client: `-c` commands, or the shell.
fn manage(cli: &Cli) -> ExitCode {
    let target = match &cli.address {
        Some(uri) => Target::Tcp(uri.clone()),
        None => Target::Unix(cli.socket.clone()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("% cannot start the runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let mut session = match runtime.block_on(client::connect(&target)) {
        Ok(client) => Session::new(client),
        Err(message) => {
            eprintln!("% {message}");
            return ExitCode::from(EXIT_COMMAND_FAILED);
        }
    };
    if cli.commands.is_empty() {
        return if shell::run(&runtime, &mut session) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_COMMAND_FAILED)
        };
    }
    for command in &cli.commands {
        match shell::run_line(&runtime, &mut session, command) {
            Some(Outcome::Continue) => {}
            Some(Outcome::Quit) => break,
            None => return ExitCode::from(EXIT_COMMAND_FAILED),
        }
    }
    if session.pending_edits() > 0 {
        eprintln!(
            "% {} uncommitted change(s) discarded",
            session.pending_edits()
        );
    }
    ExitCode::SUCCESS
}

fn decode(args: &DecodeArgs) -> ExitCode {
    let mut capture = match CaptureReader::open(&args.file)
        .with_context(|| format!("cannot read capture {}", args.file.display()))
    {
        Ok(capture) => capture,
        Err(e) => {
            eprintln!("dmvpn-cli: {e:#}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let options = DecodeOptions {
        check_roundtrip: args.check_roundtrip,
        allow_undecodable: args.allow_undecodable,
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut diag = io::stderr().lock();
    let summary = decode_capture(&mut capture, &options, &mut out, &mut diag)
        .and_then(|summary| out.flush().map(|()| summary));
    match summary {
        Ok(summary) if summary.roundtrip_failed(&options) => ExitCode::from(EXIT_ROUNDTRIP_FAILED),
        Ok(_) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): not our failure,
        // unless a verdict was asked for and could not be reached.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe && !options.check_roundtrip => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Best effort: stderr itself may be what failed.
            let _ = writeln!(diag, "dmvpn-cli: writing output: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
