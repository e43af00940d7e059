//! Traffic selectors of the child SA (RFC 7296, 2.9).
//!
//! For DMVPN a child SA protects GRE (IP protocol 47) between the two
//! NBMA addresses: each side is one host address, all ports (GRE has
//! none). The responder narrows what the initiator offers to that; behind
//! a NAT the side's own selector may name its private address, which we
//! accept as long as it is a single host.

use std::net::IpAddr;

use crate::packet::{TrafficSelector, TrafficSelectors};

/// IP protocol number of GRE.
pub const GRE: u8 = 47;

/// One side of what the child SA should protect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: IpAddr,
    /// 0: any protocol.
    pub protocol: u8,
}

impl Endpoint {
    pub fn selector(self) -> TrafficSelector {
        host(self.addr, self.protocol, 0, u16::MAX)
    }

    pub fn payload(self) -> TrafficSelectors {
        TrafficSelectors {
            reserved: [0; 3],
            selectors: vec![self.selector()],
        }
    }
}

fn host(addr: IpAddr, ip_protocol: u8, start_port: u16, end_port: u16) -> TrafficSelector {
    match addr {
        IpAddr::V4(a) => TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            start: a,
            end: a,
        },
        IpAddr::V6(a) => TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            start: a,
            end: a,
        },
    }
}

/// (protocol, ports, first address, last address) of a range selector.
fn parts(ts: &TrafficSelector) -> Option<(u8, (u16, u16), IpAddr, IpAddr)> {
    match *ts {
        TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => Some((
            ip_protocol,
            (start_port, end_port),
            start.into(),
            end.into(),
        )),
        TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => Some((
            ip_protocol,
            (start_port, end_port),
            start.into(),
            end.into(),
        )),
        TrafficSelector::Other { .. } => None,
    }
}

/// The part of `offered` for `want`: the host `want.addr` (or, when
/// `nat_fallback`, the offered single host, a private address behind NAT)
/// with `want.protocol`, if some offered selector covers it.
fn narrow_one(
    offered: &TrafficSelector,
    want: Endpoint,
    nat_fallback: bool,
) -> Option<TrafficSelector> {
    let (protocol, ports, start, end) = parts(offered)?;
    let protocol = match (want.protocol, protocol) {
        (0, p) => p,
        (w, 0) => w,
        (w, p) if w == p => w,
        _ => return None,
    };
    // A portless protocol needs the whole port range (RFC 4301, 4.4.1.1).
    if want.protocol != 0 && ports != (0, u16::MAX) {
        return None;
    }
    let covers = start <= want.addr && want.addr <= end && same_family(start, want.addr);
    if covers {
        Some(host(want.addr, protocol, ports.0, ports.1))
    } else if nat_fallback && start == end {
        Some(host(start, protocol, ports.0, ports.1))
    } else {
        None
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Responder: narrows the offered list to one selector for `want`.
pub fn narrow(
    offered: &TrafficSelectors,
    want: Endpoint,
    nat_fallback: bool,
) -> Option<TrafficSelector> {
    let exact = offered
        .selectors
        .iter()
        .find_map(|ts| narrow_one(ts, want, false));
    exact.or_else(|| {
        nat_fallback
            .then(|| {
                offered
                    .selectors
                    .iter()
                    .find_map(|ts| narrow_one(ts, want, true))
            })
            .flatten()
    })
}

/// Initiator: the responder's answer must be exactly one selector inside
/// the one we sent.
pub fn accepts(answer: &TrafficSelectors, sent: Endpoint, nat_fallback: bool) -> bool {
    match answer.selectors.as_slice() {
        [ts] => {
            narrow_one(ts, sent, nat_fallback).is_some_and(|n| &n == ts)
                && parts(ts).is_some_and(|(p, ..)| sent.protocol == 0 || p == sent.protocol)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn narrows_any_to_gre_host() {
        let want = Endpoint {
            addr: ip("10.0.0.2"),
            protocol: GRE,
        };
        let any = TrafficSelectors {
            reserved: [0; 3],
            selectors: vec![TrafficSelector::Ipv4 {
                ip_protocol: 0,
                start_port: 0,
                end_port: u16::MAX,
                start: "0.0.0.0".parse().expect("a"),
                end: "255.255.255.255".parse().expect("a"),
            }],
        };
        assert_eq!(narrow(&any, want, false), Some(want.selector()));
        assert_eq!(narrow(&want.payload(), want, false), Some(want.selector()));
        // UDP only: not GRE.
        let udp = Endpoint {
            addr: want.addr,
            protocol: 17,
        };
        assert_eq!(narrow(&udp.payload(), want, false), None);
        // Another host: only behind NAT.
        let other = Endpoint {
            addr: ip("192.168.1.5"),
            protocol: GRE,
        };
        assert_eq!(narrow(&other.payload(), want, false), None);
        assert_eq!(narrow(&other.payload(), want, true), Some(other.selector()));
    }

    #[test]
    fn initiator_accepts_only_subsets() {
        let sent = Endpoint {
            addr: ip("10.0.0.1"),
            protocol: GRE,
        };
        assert!(accepts(&sent.payload(), sent, false));
        let mut two = sent.payload();
        two.selectors.push(sent.selector());
        assert!(!accepts(&two, sent, false));
        let any_proto = Endpoint {
            addr: sent.addr,
            protocol: 0,
        };
        assert!(!accepts(&any_proto.payload(), sent, false));
    }

    #[test]
    fn initiator_behind_nat_accepts_its_outside_address() {
        // RFC 7296, 2.23.1: strongSwan answers a transport-mode child SA
        // from behind a NAT with the address it sees (the NAT's) in TSi.
        let sent = Endpoint {
            addr: ip("10.0.101.2"),
            protocol: GRE,
        };
        let seen = Endpoint {
            addr: ip("192.0.2.101"),
            protocol: GRE,
        };
        assert!(accepts(&seen.payload(), sent, true));
        assert!(!accepts(&seen.payload(), sent, false));
        // Still one GRE host: not a range, not another protocol.
        let udp = Endpoint {
            addr: seen.addr,
            protocol: 17,
        };
        assert!(!accepts(&udp.payload(), sent, true));
        let mut range = seen.payload();
        if let TrafficSelector::Ipv4 { end, .. } = &mut range.selectors[0] {
            *end = "192.0.2.200".parse().expect("address");
        }
        assert!(!accepts(&range, sent, true));
    }
}
