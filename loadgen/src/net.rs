//! The sockets of the emulated spokes, in the generator's namespace: one
//! raw IPPROTO_RAW socket sends with our own IPv4 header (any spoke's
//! NBMA address as source; the namespace has a local route for the whole
//! range, so the hub's answers to every one of them are delivered here),
//! one raw GRE socket receives. The receiver thread decodes, matches
//! answers to spokes, and answers the Resolution Requests the hub forwards
//! to a spoke itself, as the spoke would.
//!
//! ```text
//!   main thread: Fleet ──Send──> send socket ──> hub
//!        ^
//!        │ Event (mpsc)
//!   receiver thread <── GRE socket <── hub's replies, forwarded requests
//!                  └──> send socket: Resolution Replies
//! ```

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::mpsc::Sender;
use std::time::Instant;

use holo_nhrp::packet::{Message, Packet};
use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::fleet::Answer;
use crate::pool::Pool;
use crate::wire::{Received, Tunnel, WireError, parse_datagram};

const IPPROTO_GRE: i32 = 47;
const IPPROTO_RAW: i32 = 255;
/// The receive buffer: replies come in bursts of tens of thousands.
const RECEIVE_BUFFER: usize = 64 << 20;

/// What the receiver thread tells the main loop.
#[derive(Debug)]
pub enum Event {
    Answer(Answer, Instant),
    /// A Resolution Request the hub forwarded to a spoke, answered.
    Forwarded,
    /// Any other NHRP message, by name, or an answer for no spoke of ours.
    Other(&'static str),
    Malformed(String),
    ReceiveError(String),
}

/// The sending socket (IP_HDRINCL, implied by IPPROTO_RAW).
pub fn send_socket() -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))?;
    socket.set_send_buffer_size(RECEIVE_BUFFER)?;
    Ok(socket)
}

pub fn receive_socket() -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_GRE)))?;
    // Above net.core.rmem_max: we run as root (CAP_NET_ADMIN).
    if setsockopt(&socket, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
        socket.set_recv_buffer_size(RECEIVE_BUFFER)?;
    }
    Ok(socket)
}

/// Sends one datagram built by `Tunnel::datagram` to its destination.
pub fn send(socket: &Socket, to: Ipv4Addr, datagram: &[u8]) -> io::Result<()> {
    let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(to, 0)));
    socket.send_to(datagram, &to).map(|_| ())
}

/// What a received packet means for the emulated spokes.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Answer(Answer),
    /// A Resolution Request for spoke `target`, to answer.
    ForwardedTo(u32),
    Other(&'static str),
}

/// Answers are matched to the spoke by the client protocol address and
/// must arrive at that spoke's NBMA address, as must the requests the hub
/// forwards to a spoke.
pub fn classify(received: &Received, pool: &Pool) -> Inbound {
    let packet = &received.packet;
    let at = pool.by_nbma(received.to);
    let client = pool.by_protocol(packet.src_protocol.ip());
    match (&packet.message, client) {
        (Message::RegistrationReply(_) | Message::ResolutionReply(_), Some(spoke))
            if at != Some(spoke) =>
        {
            Inbound::Other("reply at another spoke's NBMA address")
        }
        (Message::RegistrationReply(m), Some(spoke)) => Inbound::Answer(Answer::Registration {
            spoke,
            request_id: m.request_id,
            code: m.cies.first().map_or(0, |c| c.code.0),
        }),
        (Message::ResolutionReply(m), Some(spoke)) => Inbound::Answer(Answer::Resolution {
            spoke,
            request_id: m.request_id,
        }),
        (Message::ResolutionRequest(_), _) => match pool.by_protocol(packet.dst_protocol.ip()) {
            Some(target) if at == Some(target) => Inbound::ForwardedTo(target),
            Some(_) => Inbound::Other("Resolution Request at another spoke's NBMA address"),
            None => Inbound::Other("Resolution Request for no spoke of ours"),
        },
        (Message::RegistrationReply(_) | Message::ResolutionReply(_), None) => {
            Inbound::Other("reply for no spoke of ours")
        }
        (message, _) => Inbound::Other(message.message_type().name()),
    }
}

/// Receives until the channel closes.
pub fn receive(socket: Socket, sender: Socket, tunnel: Tunnel, pool: Pool, events: Sender<Event>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let event = match (&socket).read(&mut buf) {
            Ok(len) => {
                let now = Instant::now();
                match parse_datagram(&buf[..len], tunnel.key) {
                    Ok(received) => match classify(&received, &pool) {
                        Inbound::Answer(answer) => Event::Answer(answer, now),
                        Inbound::ForwardedTo(target) => {
                            answer_resolution(&sender, &tunnel, &pool, target, &received.packet)
                        }
                        Inbound::Other(what) => Event::Other(what),
                    },
                    // Data the hub sends every registered spoke (its
                    // tunnel's multicast, replicated): not NHRP, not wrong.
                    Err(WireError::NotNhrp(0x0800)) => Event::Other("GRE IPv4 data (not NHRP)"),
                    Err(WireError::NotNhrp(0x86dd)) => Event::Other("GRE IPv6 data (not NHRP)"),
                    Err(e) => Event::Malformed(e.to_string()),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Event::ReceiveError(e.to_string()),
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// As the target spoke: answer straight to the requester's NBMA address.
fn answer_resolution(
    sender: &Socket,
    tunnel: &Tunnel,
    pool: &Pool,
    target: u32,
    request: &Packet,
) -> Event {
    let responder = pool.spoke(target);
    let Some(IpAddr::V4(requester)) = request.src_nbma.address.ip() else {
        return Event::Malformed("Resolution Request without an IPv4 NBMA source".into());
    };
    let Some(reply) = tunnel.resolution_reply(responder, request) else {
        return Event::Other("not a Resolution Request");
    };
    match tunnel.datagram(responder.nbma, requester, &reply) {
        Ok(datagram) => match send(sender, requester, &datagram) {
            Ok(()) => Event::Forwarded,
            Err(e) => Event::ReceiveError(format!("sending a Resolution Reply: {e}")),
        },
        Err(e) => Event::Malformed(format!("encoding a Resolution Reply: {e}")),
    }
}

/// Drops counted by the kernel on this namespace's raw GRE sockets
/// (/proc/net/raw, last column): replies lost before we read them.
pub fn socket_drops() -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/raw").ok()?;
    let mut drops = 0;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // local_address is ADDRESS:PROTOCOL in hex.
        if fields.get(1).is_some_and(|a| a.ends_with(":002F")) {
            drops += fields.last()?.parse::<u64>().ok()?;
        }
    }
    Some(drops)
}

#[cfg(test)]
mod tests {
    use holo_nhrp::packet::{Cie, CieCode, RequestReply};

    use super::*;
    use crate::wire::SpokeAddress;

    fn tunnel() -> Tunnel {
        Tunnel {
            hub_nbma: Ipv4Addr::new(192, 0, 2, 1),
            hub_protocol: Ipv4Addr::new(10, 0, 0, 1),
            key: None,
            password: None,
            holding_time: 600,
            mtu: 1400,
            unique: true,
        }
    }

    fn pool() -> Pool {
        Pool::new(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 10).unwrap()
    }

    /// What the hub sends back: the request with the reply type and codes.
    fn reply(spoke: SpokeAddress, request_id: u32, code: CieCode) -> Packet {
        let mut packet = tunnel().registration_request(spoke, request_id);
        packet.message = Message::RegistrationReply(RequestReply {
            request_id,
            cies: vec![Cie {
                code,
                ..Cie::default()
            }],
            ..RequestReply::default()
        });
        packet
    }

    fn at(to: Ipv4Addr, packet: Packet) -> Received {
        Received {
            from: tunnel().hub_nbma,
            to,
            packet,
        }
    }

    #[test]
    fn registration_replies_name_their_spoke_and_code() {
        let pool = pool();
        let s3 = pool.spoke(3);
        let answer = classify(&at(s3.nbma, reply(s3, 9, CieCode(5))), &pool);
        assert_eq!(
            answer,
            Inbound::Answer(Answer::Registration {
                spoke: 3,
                request_id: 9,
                code: 5
            })
        );
        // Delivered to another spoke's address: not an answer.
        let elsewhere = classify(
            &at(pool.spoke(4).nbma, reply(s3, 9, CieCode::SUCCESS)),
            &pool,
        );
        assert!(matches!(elsewhere, Inbound::Other(_)));
        let stranger = SpokeAddress {
            nbma: s3.nbma,
            protocol: Ipv4Addr::new(10, 9, 9, 9),
        };
        let stranger = classify(&at(s3.nbma, reply(stranger, 9, CieCode::SUCCESS)), &pool);
        assert_eq!(stranger, Inbound::Other("reply for no spoke of ours"));
    }

    #[test]
    fn forwarded_resolution_requests_are_for_the_target() {
        let pool = pool();
        let (s1, s2) = (pool.spoke(1), pool.spoke(2));
        let request = tunnel().resolution_request(s1, s2.protocol, 4);
        assert_eq!(
            classify(&at(s2.nbma, request.clone()), &pool),
            Inbound::ForwardedTo(2)
        );
        assert!(matches!(
            classify(&at(s1.nbma, request), &pool),
            Inbound::Other(_)
        ));
    }
}
