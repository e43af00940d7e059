//! IP address helpers for wire codecs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IP address held in `bytes`, when it is exactly 4 or 16 bytes long.
pub fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// Appends the address in network byte order.
pub fn put_ip(buf: &mut Vec<u8>, addr: &IpAddr) {
    match addr {
        IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_and_sixteen_bytes_only() {
        assert_eq!(
            ip_from_bytes(&[10, 0, 0, 1]),
            Some(IpAddr::from([10, 0, 0, 1]))
        );
        assert_eq!(
            ip_from_bytes(&[0; 16]),
            Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(ip_from_bytes(&[1, 2, 3]), None);
        let mut buf = vec![];
        put_ip(&mut buf, &IpAddr::from([192, 0, 2, 1]));
        assert_eq!(buf, [192, 0, 2, 1]);
    }
}
