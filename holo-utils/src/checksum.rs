//! The internet checksum (RFC 1071), used by NHRP (RFC 2332, 5.2.0.1) and GRE
//! (RFC 2784, 2.5).

/// Ones' complement sum of `data` as big-endian 16-bit words, folded to 16
/// bits. An odd trailing byte is summed as if followed by a zero byte.
pub fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum to write into a header whose checksum field is zero while
/// summing.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !ones_complement_sum(data)
}

/// True when `data`, checksum field included, sums to all ones: the receiver's
/// check of RFC 1071.
pub fn verify(data: &[u8]) -> bool {
    ones_complement_sum(data) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071, 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(&data), 0xddf2);
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(ones_complement_sum(&[0x12, 0x34, 0x56]), 0x6834);
    }

    #[test]
    fn checksum_then_verify() {
        let mut data = vec![0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x12, 0x34, 0xab];
        let c = internet_checksum(&data);
        data.extend_from_slice(&c.to_be_bytes());
        // Appending the checksum on an odd boundary changes word alignment,
        // so check on an even-length buffer instead.
        let mut even = vec![0x45, 0x00, 0x00, 0x00, 0x12, 0x34];
        let c = internet_checksum(&even);
        even[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&even));
        even[5] ^= 1;
        assert!(!verify(&even));
    }

    proptest::proptest! {
        #[test]
        fn filled_in_checksum_always_verifies(mut data in proptest::collection::vec(0u8.., 2..300)) {
            data[0] = 0;
            data[1] = 0;
            let c = internet_checksum(&data);
            data[0..2].copy_from_slice(&c.to_be_bytes());
            proptest::prop_assert!(verify(&data));
        }
    }
}
