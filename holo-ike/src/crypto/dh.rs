//! Diffie-Hellman for the KE payload (RFC 7296, 1.2 and 3.4).
//!
//! Public values are in the KE payload's encoding: MODP big-endian padded
//! to the prime's length (RFC 7296, 3.4); ECP x | y without the point
//! format byte (RFC 5903, 7); Curve25519 the 32-byte u-coordinate
//! (RFC 8031, 3). The shared secret g^ir is MODP padded to the prime
//! length, ECP the x coordinate (RFC 5903, 7), Curve25519 the X25519
//! output.

use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

use super::error::CryptoError;
use super::modp::Modp;
use crate::packet::sa::dh as transform;

/// The groups we implement (transform type 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 2, RFC 2409: weak, but Cisco still offers it.
    Modp1024,
    /// Group 5, RFC 3526.
    Modp1536,
    /// Group 14, RFC 3526.
    Modp2048,
    /// Group 19, RFC 5903.
    Ecp256,
    /// Group 20, RFC 5903.
    Ecp384,
    /// Group 31, RFC 8031.
    Curve25519,
}

impl DhGroup {
    pub const ALL: [DhGroup; 6] = [
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Curve25519,
    ];

    pub fn from_transform_id(id: u16) -> Option<DhGroup> {
        match id {
            transform::MODP_1024 => Some(DhGroup::Modp1024),
            transform::MODP_1536 => Some(DhGroup::Modp1536),
            transform::MODP_2048 => Some(DhGroup::Modp2048),
            transform::ECP_256 => Some(DhGroup::Ecp256),
            transform::ECP_384 => Some(DhGroup::Ecp384),
            transform::CURVE25519 => Some(DhGroup::Curve25519),
            _ => None,
        }
    }

    pub fn transform_id(self) -> u16 {
        match self {
            DhGroup::Modp1024 => transform::MODP_1024,
            DhGroup::Modp1536 => transform::MODP_1536,
            DhGroup::Modp2048 => transform::MODP_2048,
            DhGroup::Ecp256 => transform::ECP_256,
            DhGroup::Ecp384 => transform::ECP_384,
            DhGroup::Curve25519 => transform::CURVE25519,
        }
    }

    /// Length of the Key Exchange Data in a KE payload of this group.
    pub fn public_value_len(self) -> usize {
        match self {
            DhGroup::Modp1024 | DhGroup::Modp1536 | DhGroup::Modp2048 => self.modp_len(),
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Curve25519 => 32,
        }
    }

    /// Length of the shared secret g^ir.
    pub fn shared_secret_len(self) -> usize {
        match self {
            DhGroup::Ecp256 => 32,
            DhGroup::Ecp384 => 48,
            _ => self.public_value_len(),
        }
    }

    fn modp_len(self) -> usize {
        self.modp().map_or(0, Modp::len)
    }

    fn modp(self) -> Option<Modp> {
        match self {
            DhGroup::Modp1024 => Some(Modp::Bits1024),
            DhGroup::Modp1536 => Some(Modp::Bits1536),
            DhGroup::Modp2048 => Some(Modp::Bits2048),
            _ => None,
        }
    }

    fn ring_algorithm(self) -> Option<&'static agreement::Algorithm> {
        match self {
            DhGroup::Ecp256 => Some(&agreement::ECDH_P256),
            DhGroup::Ecp384 => Some(&agreement::ECDH_P384),
            DhGroup::Curve25519 => Some(&agreement::X25519),
            _ => None,
        }
    }
}

impl std::fmt::Display for DhGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            DhGroup::Modp1024 => "MODP_1024",
            DhGroup::Modp1536 => "MODP_1536",
            DhGroup::Modp2048 => "MODP_2048",
            DhGroup::Ecp256 => "ECP_256",
            DhGroup::Ecp384 => "ECP_384",
            DhGroup::Curve25519 => "CURVE25519",
        };
        f.write_str(name)
    }
}

/// Our half of one exchange: a fresh private value and its public value.
/// Computing the shared secret consumes it (ring's ephemeral keys are
/// single-use, and a private value must not outlive its exchange).
pub struct DiffieHellman {
    group: DhGroup,
    public_value: Vec<u8>,
    private: PrivateValue,
}

enum PrivateValue {
    /// The exponent, big-endian of the prime's length.
    Modp(Modp, Vec<u8>),
    Ring(EphemeralPrivateKey),
}

/// g^ir. Debug does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Vec<u8>);

impl SharedSecret {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedSecret({} bytes)", self.0.len())
    }
}

impl std::fmt::Debug for DiffieHellman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffieHellman")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl DiffieHellman {
    /// A fresh private value from `rng` (ring's `SystemRandom` outside
    /// tests) and its public value.
    pub fn generate(group: DhGroup, rng: &dyn SecureRandom) -> Result<DiffieHellman, CryptoError> {
        if let Some(modp) = group.modp() {
            let mut exponent = vec![0; modp.len()];
            rng.fill(&mut exponent).map_err(|_| CryptoError::Random)?;
            // Keep 1 < x < p: below 2^(n-1) < p (the prime's top bit is
            // set), and at least 2. A full-length exponent keeps the
            // exponentiation time independent of the value.
            exponent[0] &= 0x7f;
            if let Some(last) = exponent.last_mut() {
                *last |= 0x02;
            }
            let public_value = modp
                .exp(&modp.generator(), &exponent)
                .map_err(|_| CryptoError::InvalidPublicValue { group })?;
            return Ok(DiffieHellman {
                group,
                public_value,
                private: PrivateValue::Modp(modp, exponent),
            });
        }
        let Some(algorithm) = group.ring_algorithm() else {
            return Err(CryptoError::InvalidPublicValue { group });
        };
        let private =
            EphemeralPrivateKey::generate(algorithm, rng).map_err(|_| CryptoError::Random)?;
        let public = private
            .compute_public_key()
            .map_err(|_| CryptoError::Random)?;
        let public = public.as_ref();
        let public_value = match group {
            // Drop the uncompressed point format byte 0x04 (RFC 5903, 7).
            DhGroup::Ecp256 | DhGroup::Ecp384 => public.get(1..).unwrap_or_default().to_vec(),
            _ => public.to_vec(),
        };
        Ok(DiffieHellman {
            group,
            public_value,
            private: PrivateValue::Ring(private),
        })
    }

    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// Our public value, the KE payload's Key Exchange Data.
    pub fn public_value(&self) -> &[u8] {
        &self.public_value
    }

    /// g^ir from the peer's Key Exchange Data. Invalid peer values (wrong
    /// length, MODP outside 1 < y < p-1, ECP not on the curve, X25519 with
    /// an all-zero result) are errors.
    pub fn shared_secret(self, peer: &[u8]) -> Result<SharedSecret, CryptoError> {
        let group = self.group;
        let expected = group.public_value_len();
        if peer.len() != expected {
            return Err(CryptoError::PublicValueLength {
                group,
                expected,
                actual: peer.len(),
            });
        }
        let invalid = CryptoError::InvalidPublicValue { group };
        match self.private {
            PrivateValue::Modp(modp, exponent) => modp
                .exp(peer, &exponent)
                .map(SharedSecret)
                .map_err(|_| invalid),
            PrivateValue::Ring(private) => {
                let Some(algorithm) = group.ring_algorithm() else {
                    return Err(invalid);
                };
                let encoded = match group {
                    DhGroup::Ecp256 | DhGroup::Ecp384 => [&[0x04], peer].concat(),
                    _ => peer.to_vec(),
                };
                let peer_key = UnparsedPublicKey::new(algorithm, encoded);
                let secret = agreement::agree_ephemeral(private, &peer_key, <[u8]>::to_vec)
                    .map_err(|_| invalid.clone())?;
                // RFC 8031, 2.3: an all-zero X25519 result means a
                // low-order peer value; reject it.
                let zero = vec![0u8; secret.len()];
                if bool::from(secret.ct_eq(&zero)) {
                    return Err(invalid);
                }
                Ok(SharedSecret(secret))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;

    fn agree(group: DhGroup) -> (SharedSecret, SharedSecret, usize) {
        let rng = SystemRandom::new();
        let a = DiffieHellman::generate(group, &rng).expect("generate");
        let b = DiffieHellman::generate(group, &rng).expect("generate");
        let (pa, pb) = (a.public_value().to_vec(), b.public_value().to_vec());
        assert_eq!(pa.len(), group.public_value_len(), "{group}");
        assert_eq!(pb.len(), group.public_value_len(), "{group}");
        assert_ne!(pa, pb, "{group}");
        let sa = a.shared_secret(&pb).expect("a agrees");
        let sb = b.shared_secret(&pa).expect("b agrees");
        (sa, sb, pa.len())
    }

    #[test]
    fn two_parties_agree_in_every_group() {
        for group in DhGroup::ALL {
            let (sa, sb, _) = agree(group);
            assert_eq!(sa, sb, "{group}");
            assert_eq!(sa.as_bytes().len(), group.shared_secret_len(), "{group}");
        }
    }

    #[test]
    fn encoding_lengths() {
        let expected = [
            (DhGroup::Modp1024, 128, 128),
            (DhGroup::Modp1536, 192, 192),
            (DhGroup::Modp2048, 256, 256),
            (DhGroup::Ecp256, 64, 32),
            (DhGroup::Ecp384, 96, 48),
            (DhGroup::Curve25519, 32, 32),
        ];
        for (group, public, shared) in expected {
            assert_eq!(group.public_value_len(), public, "{group}");
            assert_eq!(group.shared_secret_len(), shared, "{group}");
            assert_eq!(
                DhGroup::from_transform_id(group.transform_id()),
                Some(group)
            );
        }
        assert_eq!(DhGroup::from_transform_id(1), None); // MODP_768
    }

    #[test]
    fn wrong_length_is_rejected() {
        let rng = SystemRandom::new();
        for group in DhGroup::ALL {
            let dh = DiffieHellman::generate(group, &rng).expect("generate");
            let len = group.public_value_len();
            // ECP with the 0x04 prefix still attached is one byte too long.
            assert_eq!(
                dh.shared_secret(&vec![4; len + 1]),
                Err(CryptoError::PublicValueLength {
                    group,
                    expected: len,
                    actual: len + 1
                })
            );
        }
    }

    #[test]
    fn modp_peer_values_outside_1_to_p_minus_1_are_rejected() {
        let rng = SystemRandom::new();
        for group in [DhGroup::Modp1024, DhGroup::Modp1536, DhGroup::Modp2048] {
            let modp = group.modp().expect("modp");
            let len = modp.len();
            let p = modp.prime_bytes();
            let mut p_minus_1 = p.clone();
            p_minus_1[len - 1] -= 1; // p ends in 0xff
            let mut one = vec![0; len];
            one[len - 1] = 1;
            for bad in [vec![0; len], one, p_minus_1, p.clone(), vec![0xff; len]] {
                let dh = DiffieHellman::generate(group, &rng).expect("generate");
                assert_eq!(
                    dh.shared_secret(&bad),
                    Err(CryptoError::InvalidPublicValue { group })
                );
            }
            // 2 and p-2 are in range.
            let mut p_minus_2 = p;
            p_minus_2[len - 1] -= 2;
            for good in [modp.generator(), p_minus_2] {
                let dh = DiffieHellman::generate(group, &rng).expect("generate");
                assert!(dh.shared_secret(&good).is_ok(), "{group}");
            }
        }
    }

    #[test]
    fn ecp_point_not_on_curve_is_rejected() {
        let rng = SystemRandom::new();
        for group in [DhGroup::Ecp256, DhGroup::Ecp384] {
            let peer = DiffieHellman::generate(group, &rng).expect("generate");
            let mut value = peer.public_value().to_vec();
            let last = value.len() - 1;
            value[last] ^= 1; // y no longer matches x
            let dh = DiffieHellman::generate(group, &rng).expect("generate");
            assert_eq!(
                dh.shared_secret(&value),
                Err(CryptoError::InvalidPublicValue { group })
            );
        }
    }

    #[test]
    fn x25519_low_order_point_is_rejected() {
        // u = 0 is of low order: the result would be all zeros (RFC 8031,
        // 2.3; RFC 7748, 6.1).
        let rng = SystemRandom::new();
        let dh = DiffieHellman::generate(DhGroup::Curve25519, &rng).expect("generate");
        assert_eq!(
            dh.shared_secret(&[0; 32]),
            Err(CryptoError::InvalidPublicValue {
                group: DhGroup::Curve25519
            })
        );
    }

    #[test]
    fn modp_arithmetic_and_padding() {
        // 2^10 = 0x400: small results keep their leading zero bytes.
        for modp in [Modp::Bits1024, Modp::Bits1536, Modp::Bits2048] {
            let mut exponent = vec![0; modp.len()];
            exponent[modp.len() - 1] = 10;
            let out = modp.exp(&modp.generator(), &exponent).expect("exp");
            let mut expected = vec![0; modp.len()];
            expected[modp.len() - 2] = 0x04;
            assert_eq!(out, expected);
        }
    }

    fn rfc_hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    #[test]
    fn modp_primes_match_the_rfc_text() {
        // As printed in RFC 2409, 6.2 and RFC 3526, 2 and 3.
        let group2 = "
            FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
            29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
            EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
            E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
            EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE65381
            FFFFFFFF FFFFFFFF";
        let group5 = "
            FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
            29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
            EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
            E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
            EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
            C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
            83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
            670C354E 4ABC9804 F1746C08 CA237327 FFFFFFFF FFFFFFFF";
        let group14 = "
            FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
            29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
            EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
            E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
            EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
            C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
            83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
            670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
            E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9
            DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
            15728E5A 8AACAA68 FFFFFFFF FFFFFFFF";
        assert_eq!(Modp::Bits1024.prime_bytes(), rfc_hex(group2));
        assert_eq!(Modp::Bits1536.prime_bytes(), rfc_hex(group5));
        assert_eq!(Modp::Bits2048.prime_bytes(), rfc_hex(group14));
    }

    #[test]
    fn modp_primes_pass_fermat_with_generator_of_order_q() {
        // p is a safe prime p = 2q + 1 with p = 7 mod 8, so 2 is a square
        // and generates the subgroup of order q: 2^((p-1)/2) = 1 mod p.
        // A single wrong hex digit would fail this.
        for modp in [Modp::Bits1024, Modp::Bits1536, Modp::Bits2048] {
            let p = modp.prime_bytes();
            let mut half = vec![0u8; p.len()];
            let mut carry = 0u8;
            for (i, byte) in p.iter().enumerate() {
                half[i] = (byte >> 1) | (carry << 7);
                carry = byte & 1;
            }
            let out = modp.exp(&modp.generator(), &half).expect("exp");
            let mut one = vec![0; p.len()];
            one[p.len() - 1] = 1;
            assert_eq!(out, one, "{modp:?}");
        }
    }
}
