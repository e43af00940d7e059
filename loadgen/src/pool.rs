//! The spokes' addresses: spoke `i` has the `i`-th NBMA address and the
//! `i`-th tunnel address of two consecutive ranges, so that an address
//! received names its spoke without a table.

use std::net::{IpAddr, Ipv4Addr};

use crate::wire::SpokeAddress;

#[derive(Clone, Copy, Debug)]
pub struct Pool {
    pub first_nbma: Ipv4Addr,
    pub first_protocol: Ipv4Addr,
    pub len: u32,
}

fn offset(first: Ipv4Addr, address: Option<IpAddr>, len: u32) -> Option<u32> {
    let IpAddr::V4(address) = address? else {
        return None;
    };
    let i = u32::from(address).checked_sub(u32::from(first))?;
    (i < len).then_some(i)
}

impl Pool {
    /// None when a range would wrap past 255.255.255.255.
    pub fn new(first_nbma: Ipv4Addr, first_protocol: Ipv4Addr, len: u32) -> Option<Self> {
        let last = len.checked_sub(1)?;
        u32::from(first_nbma).checked_add(last)?;
        u32::from(first_protocol).checked_add(last)?;
        Some(Pool {
            first_nbma,
            first_protocol,
            len,
        })
    }

    pub fn spoke(&self, i: u32) -> SpokeAddress {
        SpokeAddress {
            nbma: Ipv4Addr::from(u32::from(self.first_nbma).wrapping_add(i)),
            protocol: Ipv4Addr::from(u32::from(self.first_protocol).wrapping_add(i)),
        }
    }

    pub fn last(&self) -> SpokeAddress {
        self.spoke(self.len.saturating_sub(1))
    }

    /// The spoke with this tunnel address.
    pub fn by_protocol(&self, address: Option<IpAddr>) -> Option<u32> {
        offset(self.first_protocol, address, self.len)
    }

    /// The spoke with this NBMA address.
    pub fn by_nbma(&self, address: Ipv4Addr) -> Option<u32> {
        offset(self.first_nbma, Some(IpAddr::V4(address)), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_spoke() {
        let pool = Pool::new(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            300,
        )
        .unwrap();
        let s = pool.spoke(299);
        assert_eq!(s.nbma, Ipv4Addr::new(198, 18, 1, 44));
        assert_eq!(s.protocol, Ipv4Addr::new(10, 0, 1, 45));
        assert_eq!(pool.last(), s);
        assert_eq!(pool.by_protocol(Some(IpAddr::V4(s.protocol))), Some(299));
        assert_eq!(pool.by_nbma(s.nbma), Some(299));
        assert_eq!(
            pool.by_protocol(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 46)))),
            None
        );
        assert_eq!(
            pool.by_protocol(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))),
            None
        );
        assert_eq!(pool.by_protocol(None), None);
        assert!(Pool::new(Ipv4Addr::new(255, 255, 255, 0), s.protocol, 300).is_none());
        assert!(Pool::new(s.nbma, s.protocol, 0).is_none());
    }
}
