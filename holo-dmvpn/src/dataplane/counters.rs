//! Data-plane counters per tunnel and per peer NBMA address.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::forwarding::DropReason;

/// Packets and bytes in each direction. Data (IPv4/IPv6 in GRE) and NHRP
/// (GRE 0x2001) are counted apart, so a flow's path shows in the data
/// counters alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub nhrp_packets_in: u64,
    pub nhrp_packets_out: u64,
    /// IPv4 packets without DF above the tunnel MTU, sent anyway: the
    /// underlay fragments their GRE datagrams (tunnel totals only).
    pub oversize_out: u64,
    /// GRE datagrams the underlay's receive offload (GRO) had coalesced:
    /// several TCP segments of one flow each (tunnel totals only).
    pub coalesced_in: u64,
    pub drops: BTreeMap<DropReason, u64>,
}

/// A snapshot: the tunnel's totals and one line per peer NBMA address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub tunnel: Traffic,
    pub peers: BTreeMap<IpAddr, Traffic>,
    /// A page's reply (`PeerLines::Page`): its last NBMA address when
    /// more may follow (the next page starts after it); `None` when the
    /// page holds every line left, and for the other queries.
    #[serde(skip)]
    pub page_end: Option<IpAddr>,
}

/// Whose lines a counters query copies besides the tunnel's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerLines {
    All,
    /// One peer's (a query for one peer copies no other).
    One(IpAddr),
    /// A page of a large hub's peer table: the lines of the first `peers`
    /// NBMA addresses after `after` (`None`: from the first) the data
    /// plane counts for, in address order. The reply's `page_end` says
    /// where the next page starts.
    Page {
        after: Option<IpAddr>,
        peers: usize,
    },
}

impl Counters {
    /// The tunnel's totals and the lines `lines` names (a page: the
    /// userspace plane's alone, see `DataPlane`'s task for both planes').
    pub fn select(&self, lines: PeerLines) -> Counters {
        match lines {
            PeerLines::All => self.clone(),
            PeerLines::One(peer) => self.of_peer(peer),
            PeerLines::Page { after, peers } => {
                let keys: Vec<IpAddr> = self.peers_after(after).take(peers).collect();
                self.of_peers(&keys)
            }
        }
    }

    /// The NBMA addresses of the lines after `after`, in order.
    pub fn peers_after(&self, after: Option<IpAddr>) -> impl Iterator<Item = IpAddr> + '_ {
        use std::ops::Bound;
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        self.peers
            .range((start, Bound::Unbounded))
            .map(|(nbma, _)| *nbma)
    }

    /// The tunnel's totals and the lines of `peers` (those it has).
    pub fn of_peers(&self, peers: &[IpAddr]) -> Counters {
        Counters {
            tunnel: self.tunnel.clone(),
            peers: (peers.iter())
                .filter_map(|nbma| Some((*nbma, self.peers.get(nbma)?.clone())))
                .collect(),
            page_end: None,
        }
    }

    /// The tunnel's totals and the line of `peer` alone (when it has one):
    /// a query for one peer copies no other.
    pub fn of_peer(&self, peer: IpAddr) -> Counters {
        self.of_peers(&[peer])
    }

    fn both(&mut self, peer: IpAddr, f: impl Fn(&mut Traffic)) {
        f(&mut self.tunnel);
        f(self.peers.entry(peer).or_default());
    }

    pub fn data_in(&mut self, peer: IpAddr, bytes: usize) {
        self.both(peer, |t| {
            t.packets_in += 1;
            t.bytes_in += bytes as u64;
        });
    }

    pub fn data_out(&mut self, peer: IpAddr, bytes: usize) {
        self.both(peer, |t| {
            t.packets_out += 1;
            t.bytes_out += bytes as u64;
        });
    }

    pub fn nhrp_in(&mut self, peer: IpAddr) {
        self.both(peer, |t| t.nhrp_packets_in += 1);
    }

    pub fn nhrp_out(&mut self, peer: IpAddr) {
        self.both(peer, |t| t.nhrp_packets_out += 1);
    }

    /// A drop, charged to `peer` too when the packet is known to come from
    /// or go to one.
    pub fn drop(&mut self, peer: Option<IpAddr>, reason: DropReason) {
        *self.tunnel.drops.entry(reason).or_default() += 1;
        if let Some(peer) = peer {
            *self
                .peers
                .entry(peer)
                .or_default()
                .drops
                .entry(reason)
                .or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_and_tunnel_totals_move_together() {
        let a: IpAddr = "192.0.2.11".parse().unwrap();
        let b: IpAddr = "192.0.2.12".parse().unwrap();
        let mut c = Counters::default();
        c.data_in(a, 100);
        c.data_out(b, 60);
        c.nhrp_in(a);
        c.drop(Some(a), DropReason::WrongKey);
        c.drop(None, DropReason::Malformed);
        assert_eq!(c.tunnel.packets_in, 1);
        assert_eq!(c.tunnel.bytes_out, 60);
        assert_eq!(c.peers[&a].bytes_in, 100);
        assert_eq!(c.peers[&a].nhrp_packets_in, 1);
        assert_eq!(c.peers[&a].drops[&DropReason::WrongKey], 1);
        assert_eq!(c.peers[&b].packets_out, 1);
        assert_eq!(c.tunnel.drops.len(), 2);
    }

    #[test]
    fn one_peer_keeps_the_totals_and_its_own_line_only() {
        let a: IpAddr = "192.0.2.11".parse().unwrap();
        let b: IpAddr = "192.0.2.12".parse().unwrap();
        let mut c = Counters::default();
        c.data_in(a, 100);
        c.data_out(b, 60);
        let one = c.of_peer(a);
        assert_eq!(one.tunnel, c.tunnel);
        assert_eq!(one.peers.len(), 1);
        assert_eq!(one.peers[&a], c.peers[&a]);
        let unknown = c.of_peer("192.0.2.99".parse().unwrap());
        assert!(unknown.peers.is_empty());
        assert_eq!(unknown.tunnel, c.tunnel);
    }
}
