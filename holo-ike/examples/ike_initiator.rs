//! A minimal IKEv2 initiator around the sans-IO core: std UDP sockets on
//! ports 500 and 4500, no ESP (the child SA's parameters are printed).
//! For interop runs against a real responder (strongSwan rig):
//!
//! ```text
//! ike_initiator --local 198.51.100.1 --peer 198.51.100.2 --psk rig-psk-0123456789 \
//!     --id rust@a.test --remote-id b.test [--tunnel-ts 192.0.2.1 192.0.2.2] \
//!     [--tunnel] [--force-encap] [--cbc] [--hold SECS]
//! ```
//! Without `--tunnel-ts` the child SA protects GRE between the two
//! addresses (DMVPN). It brings the SAs up, keeps them `--hold` seconds
//! (answering liveness checks), deletes them and exits: 0 when the child
//! SA came up.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use holo_ike::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm};
use holo_ike::ike::{Config, Ike, Input, Mode, Notification, Output, Psk, Selectors};
use holo_ike::packet::udp_encap::{IKE_PORT, NAT_T_PORT, UdpEncapsulated};

struct Args {
    local: IpAddr,
    peer: IpAddr,
    config: Config,
    hold: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut local, mut peer, mut hold) = (None, None, Duration::from_secs(5));
    let mut config = Config::cisco_defaults();
    let ip = |v: Option<String>| -> Result<IpAddr, String> {
        v.ok_or("missing value")?
            .parse()
            .map_err(|e| format!("{e}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--local" => local = Some(ip(args.next())?),
            "--peer" => peer = Some(ip(args.next())?),
            "--psk" => config.psk = Psk::any(args.next().ok_or("--psk needs a value")?),
            "--id" => config.local_id = Some(args.next().ok_or("--id needs a value")?.parse()?),
            "--remote-id" => {
                config.remote_id = Some(args.next().ok_or("--remote-id needs a value")?.parse()?)
            }
            "--tunnel-ts" => {
                config.selectors = Selectors::Hosts {
                    local: ip(args.next())?,
                    remote: ip(args.next())?,
                };
                config.mode = Mode::Tunnel;
            }
            "--tunnel" => config.mode = Mode::Tunnel,
            "--force-encap" => config.force_encap = true,
            // AES-CBC + HMAC only, as strongSwan's aes256-sha256-ecp256.
            "--cbc" => {
                config.ike_proposals.retain(|p| {
                    p.encr == EncrAlgorithm::AesCbc256
                        && p.integ == Some(IntegAlgorithm::HmacSha256_128)
                        && p.dh == DhGroup::Ecp256
                });
                config
                    .esp_proposals
                    .retain(|p| p.encr == EncrAlgorithm::AesCbc256);
            }
            "--hold" => {
                let s: u64 = args
                    .next()
                    .ok_or("--hold needs seconds")?
                    .parse()
                    .map_err(|e| format!("{e}"))?;
                hold = Duration::from_secs(s);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        local: local.ok_or("--local is required")?,
        peer: peer.ok_or("--peer is required")?,
        config,
        hold,
    })
}

struct Driver {
    ike: Ike,
    ike_socket: UdpSocket,
    nat_t_socket: UdpSocket,
    child_up: bool,
    failed: bool,
}

impl Driver {
    fn apply(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send {
                    local,
                    remote,
                    bytes,
                } => {
                    let sent = if local.port() == NAT_T_PORT {
                        let datagram = UdpEncapsulated::Ike(&bytes).emit();
                        self.nat_t_socket.send_to(&datagram, remote)
                    } else {
                        self.ike_socket.send_to(&bytes, remote)
                    };
                    println!("-> {remote} {} bytes", bytes.len());
                    if let Err(e) = sent {
                        eprintln!("send to {remote}: {e}");
                    }
                }
                Output::NatKeepalive { remote, .. } => {
                    let datagram = UdpEncapsulated::NatKeepalive.emit();
                    if let Err(e) = self.nat_t_socket.send_to(&datagram, remote) {
                        eprintln!("keepalive to {remote}: {e}");
                    }
                }
                Output::InstallChildSa(c) => {
                    println!("child SA up: {c:?}");
                    self.child_up = true;
                }
                Output::RemoveChildSa {
                    inbound_spi,
                    outbound_spi,
                    ..
                } => println!("child SA removed: in {inbound_spi:08x} out {outbound_spi:08x}"),
                Output::Notification(n) => {
                    println!("{n:?}");
                    if matches!(
                        n,
                        Notification::IkeSaDown { .. }
                            | Notification::AuthFailed { .. }
                            | Notification::ChildSaFailed { .. }
                    ) && !self.child_up
                    {
                        self.failed = true;
                    }
                }
            }
        }
    }

    /// Receives what is there, ticks when due; returns after ~10 ms.
    fn poll(&mut self) {
        let mut buf = [0u8; 65536];
        let mut received = vec![];
        for socket in [&self.ike_socket, &self.nat_t_socket] {
            let (Ok((len, remote)), Ok(local)) = (socket.recv_from(&mut buf), socket.local_addr())
            else {
                continue;
            };
            let bytes = if local.port() == NAT_T_PORT {
                match UdpEncapsulated::classify(&buf[..len]) {
                    Ok(UdpEncapsulated::Ike(ike)) => ike.to_vec(),
                    _ => continue, // ESP and keepalives: no data plane here
                }
            } else {
                buf[..len].to_vec()
            };
            received.push((local, remote, bytes));
        }
        for (local, remote, bytes) in received {
            println!("<- {remote} {} bytes", bytes.len());
            let input = Input::Packet {
                local,
                remote,
                bytes,
            };
            let out = self.ike.handle(input, Instant::now());
            self.apply(out);
        }
        let now = Instant::now();
        if self.ike.next_wakeup().is_some_and(|t| t <= now) {
            let out = self.ike.handle(Input::Tick, now);
            self.apply(out);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let bind = |port| -> std::io::Result<UdpSocket> {
        let s = UdpSocket::bind(SocketAddr::new(args.local, port))?;
        s.set_nonblocking(true)?;
        Ok(s)
    };
    let (ike_socket, nat_t_socket) = match (bind(IKE_PORT), bind(NAT_T_PORT)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("bind {}: {e}", args.local);
            return ExitCode::from(2);
        }
    };
    let mut d = Driver {
        ike: Ike::new(args.config),
        ike_socket,
        nat_t_socket,
        child_up: false,
        failed: false,
    };
    let out = d.ike.handle(
        Input::Acquire {
            local: args.local,
            peer: args.peer,
        },
        Instant::now(),
    );
    d.apply(out);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.child_up && !d.failed && Instant::now() < deadline {
        d.poll();
    }
    let up = d.child_up;
    if up {
        let until = Instant::now() + args.hold;
        while Instant::now() < until {
            d.poll();
        }
        if let Ok(json) = serde_json::to_string_pretty(&d.ike.snapshot()) {
            println!("{json}");
        }
    }
    let out = d.ike.handle(Input::Clear { peer: None }, Instant::now());
    d.apply(out);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until && !d.ike.snapshot().ike_sas.is_empty() {
        d.poll();
    }
    println!("counters: {:?}", d.ike.counters());
    if up {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
