//! ICMP echo from inside a namespace, with a raw socket in a thread that
//! enters it: the machine and CI need not have `ping` installed, and the
//! TTL of each reply tells whether it crossed a router (the hub) or came
//! straight.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use holo_utils::checksum::internet_checksum;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::netns::enter;

/// How one test pings: the ICMP identifier, the payload, and the pause
/// after each request.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    pub id: u16,
    pub payload: &'static [u8],
    pub gap: Duration,
}

impl Echo {
    /// Identifier `pid ^ salt`: test binaries run side by side, each with
    /// its own identifier (a test file its own `salt`), and tell their
    /// replies apart.
    pub fn new(salt: u16, payload: &'static [u8], gap: Duration) -> Echo {
        Echo {
            id: (std::process::id() & 0xffff) as u16 ^ salt,
            payload,
            gap,
        }
    }
}

/// ICMP echo from `from` to `to` in namespace `ns`, `count` requests, each
/// given 500 ms for its reply: the TTL of each reply received (an
/// unanswered request adds nothing).
pub fn ping_ttls(ns: &str, from: &str, to: &str, count: u16, echo: Echo) -> Vec<u8> {
    ping_ttls_within(ns, from, to, count, echo, Duration::from_millis(500))
}

/// [`ping_ttls`], each request given `wait` for its reply.
pub fn ping_ttls_within(
    ns: &str,
    from: &str,
    to: &str,
    count: u16,
    echo: Echo,
    wait: Duration,
) -> Vec<u8> {
    let (ns, from, to): (String, IpAddr, IpAddr) =
        (ns.to_owned(), from.parse().unwrap(), to.parse().unwrap());
    let Echo { id, payload, gap } = echo;
    std::thread::spawn(move || {
        enter(&ns).unwrap();
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
        socket
            .bind(&SockAddr::from(SocketAddr::new(from, 0)))
            .unwrap();
        socket
            .set_read_timeout(Some(wait.min(Duration::from_millis(100))))
            .unwrap();
        let mut ttls = vec![];
        for seq in 1..=count {
            let mut echo = vec![8, 0, 0, 0];
            echo.extend_from_slice(&id.to_be_bytes());
            echo.extend_from_slice(&seq.to_be_bytes());
            echo.extend_from_slice(payload);
            let sum = internet_checksum(&echo);
            echo[2..4].copy_from_slice(&sum.to_be_bytes());
            socket
                .send_to(&echo, &SockAddr::from(SocketAddr::new(to, 0)))
                .unwrap();
            let deadline = Instant::now() + wait;
            let mut buf = [0u8; 1500];
            while Instant::now() < deadline {
                let Ok(n) = (&socket).read(&mut buf) else {
                    continue;
                };
                let p = &buf[..n];
                let hl = usize::from(p[0] & 0x0f) * 4;
                let source = IpAddr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap());
                let reply = p.get(hl..hl + 8).unwrap_or_default();
                if source == to
                    && reply.len() == 8
                    && reply[0] == 0
                    && reply[4..6] == id.to_be_bytes()
                    && reply[6..8] == seq.to_be_bytes()
                {
                    ttls.push(p[8]);
                    break;
                }
            }
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
        ttls
    })
    .join()
    .expect("ping thread")
}
