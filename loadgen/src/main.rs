//! dmvpn-loadgen: a bench tool, not a test (issue 15). Emulates N spokes,
//! each from its own NBMA address, registering with one hub at a given
//! rate, retrying and refreshing as real spokes do, and optionally
//! resolving each other; prints the registered count every second and a
//! summary. Run it as root in a network namespace whose local routes
//! cover the NBMA range (scripts/bench-hub.sh sets everything up):
//!
//! ```text
//! ip route add local 198.18.0.0/15 dev lo
//! dmvpn-loadgen --spokes 1000 --rate 5000 --hub 192.0.2.1 --hub-tunnel 10.0.0.1
//! ```
#![forbid(unsafe_code)]

mod fleet;
mod net;
mod pool;
mod report;
mod schedule;
mod wire;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::fleet::{Fleet, Send};
use crate::net::Event;
use crate::pool::Pool;
use crate::report::{Curve, Received};
use crate::wire::Tunnel;

/// Packets sent per turn of the loop before the answers are read again.
const BATCH: usize = 256;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Emulates N DMVPN spokes registering with one hub (a bench tool)"
)]
struct Args {
    /// Spokes to emulate.
    #[arg(long, default_value_t = 1000)]
    spokes: u32,
    /// Spokes starting (first registration) per second; 0 = all at once,
    /// as after a hub restart. Resolution Requests go at the same rate.
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// The hub's NBMA address.
    #[arg(long, default_value = "192.0.2.1")]
    hub: Ipv4Addr,
    /// The hub's tunnel address (the NHS).
    #[arg(long, default_value = "10.0.0.1")]
    hub_tunnel: Ipv4Addr,
    /// NBMA address of the first spoke; the others follow.
    #[arg(long, default_value = "198.18.0.1")]
    first_nbma: Ipv4Addr,
    /// Tunnel address of the first spoke; the others follow.
    #[arg(long, default_value = "10.0.0.2")]
    first_tunnel: Ipv4Addr,
    /// GRE key of the tunnel (none when not given).
    #[arg(long)]
    key: Option<u32>,
    /// NHRP authentication (Cisco cleartext) password.
    #[arg(long)]
    password: Option<String>,
    /// Holding time in the registrations, seconds.
    #[arg(long, default_value_t = 600)]
    holding_time: u16,
    /// Refresh interval, seconds; default a third of the holding time
    /// (holo and Cisco); 0 = never refresh.
    #[arg(long)]
    refresh: Option<u64>,
    /// Registrations without the unique (U) flag.
    #[arg(long)]
    no_unique: bool,
    /// Resolution Requests between random pairs of spokes, once all are
    /// registered.
    #[arg(long, default_value_t = 0)]
    resolve: u32,
    /// Seconds to wait for every spoke to register before giving up;
    /// default 60 s plus the time the start rate needs.
    #[arg(long)]
    timeout: Option<u64>,
    /// Seconds to keep running (refreshing) after convergence, e.g. while
    /// the hub is restarted; ends early once every spoke registered again
    /// after a restart.
    #[arg(long, default_value_t = 0)]
    run: u64,
    /// A file whose appearance means the hub restarted; it holds the
    /// restart's Unix time in seconds (`date +%s.%N`). From then on the
    /// spokes answered again are counted.
    #[arg(long)]
    hub_restart_file: Option<PathBuf>,
    /// Seed of the random resolution pairs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The instant of a Unix time (in the past), if the file holds one.
fn restart_instant(path: &PathBuf, now: Instant) -> Option<Instant> {
    let text = std::fs::read_to_string(path).ok()?;
    let at: f64 = text.trim().parse().ok()?;
    let ago = (unix_now() - at).max(0.0);
    Some(now.checked_sub(Duration::from_secs_f64(ago)).unwrap_or(now))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("dmvpn-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

/// True when every spoke registered (and, after a hub restart, registered
/// again).
fn run(args: &Args) -> Result<bool, String> {
    let pool = Pool::new(args.first_nbma, args.first_tunnel, args.spokes)
        .ok_or("--spokes must be at least 1 and the address ranges must not wrap")?;
    let tunnel = Tunnel {
        hub_nbma: args.hub,
        hub_protocol: args.hub_tunnel,
        key: args.key,
        password: args.password.as_ref().map(|p| p.as_bytes().to_vec()),
        holding_time: args.holding_time,
        mtu: 1400,
        unique: !args.no_unique,
    };
    let refresh = match args.refresh {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
        None => Some(Duration::from_secs(u64::from(args.holding_time / 3).max(1))),
    };
    let timeout = Duration::from_secs(args.timeout.unwrap_or_else(|| {
        let ramp = if args.rate > 0.0 {
            (f64::from(args.spokes) / args.rate).ceil() as u64
        } else {
            0
        };
        60 + ramp
    }));

    let sender = net::send_socket().map_err(|e| format!("raw send socket: {e}"))?;
    let receiver = net::receive_socket().map_err(|e| format!("raw GRE socket: {e}"))?;
    let responder = sender
        .try_clone()
        .map_err(|e| format!("raw send socket: {e}"))?;
    let (events, inbox) = mpsc::channel();
    {
        let (tunnel, pool) = (tunnel.clone(), pool);
        std::thread::spawn(move || net::receive(receiver, responder, tunnel, pool, events));
    }

    let first = pool.spoke(0);
    let last = pool.last();
    println!(
        "dmvpn-loadgen: {} spokes, NBMA {}-{}, tunnel {}-{}, hub {} ({}), start rate {}, holding time {} s, refresh {}",
        args.spokes,
        first.nbma,
        last.nbma,
        first.protocol,
        last.protocol,
        args.hub,
        args.hub_tunnel,
        if args.rate > 0.0 {
            format!("{}/s", args.rate)
        } else {
            "unlimited".into()
        },
        args.holding_time,
        refresh.map_or("never".into(), |r| format!("every {} s", r.as_secs())),
    );
    let start = Instant::now();
    println!("start: unix {:.3}", unix_now());
    let mut fleet = Fleet::new(
        args.spokes,
        args.rate,
        refresh,
        args.resolve,
        args.seed,
        start,
    );
    let mut received = Received::default();
    let mut curve = Curve::new(start);
    println!("{}", curve.header());
    let mut next_line = start + Duration::from_secs(1);
    let mut sends = Vec::with_capacity(BATCH);
    let mut announced = false;
    // Converged and done resolving.
    let mut settled_at: Option<Instant> = None;

    let ok = loop {
        let now = Instant::now();
        // Answers first: they stop retries.
        for event in inbox.try_iter().take(4 * BATCH) {
            handle(event, &mut fleet, &mut received);
        }
        sends.clear();
        let full = fleet.poll(now, BATCH, &mut sends) == BATCH;
        for send in &sends {
            transmit(&sender, &tunnel, &pool, *send, &mut received);
        }
        if now >= next_line {
            println!("{}", curve.line(&fleet, now));
            next_line += Duration::from_secs(1);
            if let Some(path) = &args.hub_restart_file
                && fleet.hub_restart.is_none()
                && let Some(at) = restart_instant(path, now)
            {
                fleet.hub_restarted(at);
                println!(
                    "hub restarted {:.1} s into the run",
                    at.saturating_duration_since(start).as_secs_f64()
                );
            }
        }
        if let Some(converged) = fleet.converged {
            if !announced {
                announced = true;
                println!(
                    "converged: all {} spokes registered {:.3} s after the first request",
                    args.spokes,
                    converged
                        .saturating_duration_since(fleet.first_sent.unwrap_or(start))
                        .as_secs_f64()
                );
            }
            if !fleet.resolving() {
                let settled = *settled_at.get_or_insert(now);
                let restarted_all =
                    fleet.hub_restart.is_some() && fleet.reregistered == fleet.len();
                if restarted_all || now >= settled + Duration::from_secs(args.run) {
                    break fleet.hub_restart.is_none() || restarted_all;
                }
            }
        } else if now.saturating_duration_since(start) >= timeout {
            println!(
                "timeout: {} s without every spoke registered",
                timeout.as_secs()
            );
            break false;
        }
        if full {
            continue;
        }
        let wake = fleet.next_wake(now).map_or(next_line, |w| w.min(next_line));
        match inbox.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(event) => handle(event, &mut fleet, &mut received),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err("the receiver thread ended".into()),
        }
    };
    println!("{}", curve.line(&fleet, Instant::now()));
    print!(
        "{}",
        report::summary(&mut fleet, args.rate, &received, net::socket_drops())
    );
    Ok(ok)
}

fn handle(event: Event, fleet: &mut Fleet, received: &mut Received) {
    match event {
        Event::Answer(answer, at) => fleet.on_answer(answer, at),
        Event::Forwarded => received.forwarded += 1,
        Event::Other(what) => *received.other.entry(what).or_default() += 1,
        Event::Malformed(e) => {
            received.malformed += 1;
            received.first_malformed.get_or_insert(e);
        }
        Event::ReceiveError(e) => {
            received.receive_errors += 1;
            received.first_receive_error.get_or_insert(e);
        }
    }
}

/// Builds and sends one request. A failed send is counted; the spoke
/// retries on its schedule as if the packet had been lost.
fn transmit(
    socket: &socket2::Socket,
    tunnel: &Tunnel,
    pool: &Pool,
    send: Send,
    received: &mut Received,
) {
    let (from, packet) = match send {
        Send::Registration { spoke, request_id } => {
            let s = pool.spoke(spoke);
            (s.nbma, tunnel.registration_request(s, request_id))
        }
        Send::Resolution {
            spoke,
            target,
            request_id,
        } => {
            let s = pool.spoke(spoke);
            let target = pool.spoke(target).protocol;
            (s.nbma, tunnel.resolution_request(s, target, request_id))
        }
    };
    let result = tunnel
        .datagram(from, tunnel.hub_nbma, &packet)
        .map_err(|e| e.to_string())
        .and_then(|d| net::send(socket, tunnel.hub_nbma, &d).map_err(|e| e.to_string()));
    if let Err(e) = result {
        received.send_errors += 1;
        received.first_send_error.get_or_insert(e);
    }
}
