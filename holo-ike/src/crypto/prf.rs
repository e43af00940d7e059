//! The pseudorandom function and prf+ (RFC 7296, 2.13).

use ring::hmac;

use super::error::CryptoError;
use crate::packet::sa::prf as transform;

/// The negotiated PRF (transform type 2). All are HMACs (RFC 2104), so
/// they take keys of any length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrfAlgorithm {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl PrfAlgorithm {
    pub fn from_transform_id(id: u16) -> Option<PrfAlgorithm> {
        match id {
            transform::HMAC_SHA1 => Some(PrfAlgorithm::HmacSha1),
            transform::HMAC_SHA2_256 => Some(PrfAlgorithm::HmacSha256),
            transform::HMAC_SHA2_384 => Some(PrfAlgorithm::HmacSha384),
            transform::HMAC_SHA2_512 => Some(PrfAlgorithm::HmacSha512),
            _ => None,
        }
    }

    pub fn transform_id(self) -> u16 {
        match self {
            PrfAlgorithm::HmacSha1 => transform::HMAC_SHA1,
            PrfAlgorithm::HmacSha256 => transform::HMAC_SHA2_256,
            PrfAlgorithm::HmacSha384 => transform::HMAC_SHA2_384,
            PrfAlgorithm::HmacSha512 => transform::HMAC_SHA2_512,
        }
    }

    /// Output length in bytes. RFC 7296, 2.14: also the length of SK_d,
    /// SK_pi and SK_pr (the PRF's preferred key size; RFC 4868, 2.1.2 for
    /// SHA-2).
    pub fn output_len(self) -> usize {
        match self {
            PrfAlgorithm::HmacSha1 => 20,
            PrfAlgorithm::HmacSha256 => 32,
            PrfAlgorithm::HmacSha384 => 48,
            PrfAlgorithm::HmacSha512 => 64,
        }
    }

    pub(crate) fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            PrfAlgorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            PrfAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            PrfAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            PrfAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// prf(key, data[0] | data[1] | ...).
    pub fn prf(self, key: &[u8], data: &[&[u8]]) -> Vec<u8> {
        let key = hmac::Key::new(self.hmac_algorithm(), key);
        let mut ctx = hmac::Context::with_key(&key);
        for part in data {
            ctx.update(part);
        }
        ctx.sign().as_ref().to_vec()
    }

    /// The most prf+ can produce: 255 iterations (RFC 7296, 2.13).
    pub fn prf_plus_max_len(self) -> usize {
        255 * self.output_len()
    }

    /// prf+(key, seed) truncated to `len` bytes (RFC 7296, 2.13):
    /// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Result<Vec<u8>, CryptoError> {
        let max = self.prf_plus_max_len();
        if len > max {
            return Err(CryptoError::PrfPlusTooLong {
                requested: len,
                max,
            });
        }
        let key = hmac::Key::new(self.hmac_algorithm(), key);
        let mut out = Vec::with_capacity(len + self.output_len());
        let mut previous: Option<hmac::Tag> = None;
        let mut counter: u8 = 1;
        while out.len() < len {
            let mut ctx = hmac::Context::with_key(&key);
            if let Some(t) = &previous {
                ctx.update(t.as_ref());
            }
            ctx.update(seed);
            ctx.update(&[counter]);
            let t = ctx.sign();
            out.extend_from_slice(t.as_ref());
            previous = Some(t);
            // At most 255 rounds run (checked above), so this never wraps
            // into a round that would use counter 0.
            counter = counter.wrapping_add(1);
        }
        out.truncate(len);
        Ok(out)
    }
}

impl std::fmt::Display for PrfAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            PrfAlgorithm::HmacSha1 => "PRF_HMAC_SHA1",
            PrfAlgorithm::HmacSha256 => "PRF_HMAC_SHA2_256",
            PrfAlgorithm::HmacSha384 => "PRF_HMAC_SHA2_384",
            PrfAlgorithm::HmacSha512 => "PRF_HMAC_SHA2_512",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    const ALL: [PrfAlgorithm; 4] = [
        PrfAlgorithm::HmacSha1,
        PrfAlgorithm::HmacSha256,
        PrfAlgorithm::HmacSha384,
        PrfAlgorithm::HmacSha512,
    ];

    // RFC 4231, 4.2 (test case 1).
    #[test]
    fn hmac_sha2_rfc4231_case1() {
        let key = [0x0b; 20];
        let data = b"Hi There";
        assert_eq!(
            PrfAlgorithm::HmacSha256.prf(&key, &[data]),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            PrfAlgorithm::HmacSha384.prf(&key, &[data]),
            hex(
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c
                 faea9ea9076ede7f4af152e8b2fa9cb6"
            )
        );
        assert_eq!(
            PrfAlgorithm::HmacSha512.prf(&key, &[data]),
            hex(
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde
                 daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
            )
        );
    }

    // RFC 4231, 4.3 (test case 2: a key shorter than the block), with the
    // data split in parts to exercise the concatenation.
    #[test]
    fn hmac_sha2_rfc4231_case2_in_parts() {
        let key = b"Jefe";
        let parts: [&[u8]; 2] = [b"what do ya want ", b"for nothing?"];
        assert_eq!(
            PrfAlgorithm::HmacSha256.prf(key, &parts),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            PrfAlgorithm::HmacSha512.prf(key, &parts),
            hex(
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
            )
        );
    }

    // RFC 4231, 4.7 (test case 6: a key longer than the block is hashed).
    #[test]
    fn hmac_sha2_rfc4231_case6_long_key() {
        let key = [0xaa; 131];
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            PrfAlgorithm::HmacSha256.prf(&key, &[data]),
            hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
    }

    // RFC 2202, 3 (test cases 1 and 2).
    #[test]
    fn hmac_sha1_rfc2202() {
        assert_eq!(
            PrfAlgorithm::HmacSha1.prf(&[0x0b; 20], &[b"Hi There"]),
            hex("b617318655057264e28bc0b6fb378c8ef146be00")
        );
        assert_eq!(
            PrfAlgorithm::HmacSha1.prf(b"Jefe", &[b"what do ya want for nothing?"]),
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
    }

    /// prf+ as RFC 7296, 2.13 writes it, on plain ring HMAC calls.
    fn prf_plus_by_hand(alg: PrfAlgorithm, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
        let k = hmac::Key::new(alg.hmac_algorithm(), key);
        let mut t1_input = seed.to_vec();
        t1_input.push(1);
        let mut t = hmac::sign(&k, &t1_input).as_ref().to_vec();
        let mut out = t.clone();
        let mut n: u16 = 2;
        while out.len() < len {
            let mut input = t.clone();
            input.extend_from_slice(seed);
            input.push(u8::try_from(n).expect("at most 255 blocks"));
            t = hmac::sign(&k, &input).as_ref().to_vec();
            out.extend_from_slice(&t);
            n += 1;
        }
        out.truncate(len);
        out
    }

    #[test]
    fn prf_plus_matches_the_rfc_construction() {
        let key = b"a key for prf+";
        let seed = hex("0102030405060708090a0b0c0d0e0f10 1112131415161718");
        for alg in ALL {
            for len in [
                0,
                1,
                alg.output_len(),
                alg.output_len() + 1,
                3 * alg.output_len() + 7,
            ] {
                assert_eq!(
                    alg.prf_plus(key, &seed, len).expect("within bounds"),
                    prf_plus_by_hand(alg, key, &seed, len),
                    "{alg} len {len}"
                );
            }
        }
    }

    #[test]
    fn prf_plus_first_block_is_prf_of_seed_and_one() {
        let alg = PrfAlgorithm::HmacSha256;
        let out = alg.prf_plus(b"k", b"seed", 32).expect("within bounds");
        assert_eq!(out, alg.prf(b"k", &[b"seed", &[1]]));
    }

    #[test]
    fn prf_plus_limit_is_255_blocks() {
        for alg in ALL {
            let max = 255 * alg.output_len();
            let out = alg
                .prf_plus(b"k", b"s", max)
                .expect("255 blocks are allowed");
            assert_eq!(out.len(), max);
            // The last block uses counter 255.
            assert_eq!(out, prf_plus_by_hand(alg, b"k", b"s", max));
            assert_eq!(
                alg.prf_plus(b"k", b"s", max + 1),
                Err(CryptoError::PrfPlusTooLong {
                    requested: max + 1,
                    max
                })
            );
        }
    }

    #[test]
    fn transform_ids_round_trip() {
        for alg in ALL {
            assert_eq!(
                PrfAlgorithm::from_transform_id(alg.transform_id()),
                Some(alg)
            );
        }
        assert_eq!(PrfAlgorithm::from_transform_id(4), None); // PRF_AES128_XCBC
    }
}
