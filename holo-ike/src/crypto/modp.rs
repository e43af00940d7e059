//! The MODP groups (RFC 2409, 6.2; RFC 3526, 2 and 3) on constant-time
//! big integers: the exponentiation time depends on the sizes only, never
//! on the private exponent's value.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U1024, U1536, U2048, Uint};

/// RFC 2409, 6.2 (Second Oakley Group; also RFC 7296, B.2):
/// 2^1024 - 2^960 - 1 + 2^64 * { [2^894 pi] + 129093 }.
pub(crate) const PRIME_1024_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381",
    "FFFFFFFFFFFFFFFF",
);

/// RFC 3526, 2: 2^1536 - 2^1472 - 1 + 2^64 * { [2^1406 pi] + 741804 }.
pub(crate) const PRIME_1536_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);

/// RFC 3526, 3: 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }.
pub(crate) const PRIME_2048_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

// Parsed at compile time: a typo in the hex fails the build.
const PRIME_1024: Odd<U1024> = Odd::<U1024>::from_be_hex(PRIME_1024_HEX);
const PRIME_1536: Odd<U1536> = Odd::<U1536>::from_be_hex(PRIME_1536_HEX);
const PRIME_2048: Odd<U2048> = Odd::<U2048>::from_be_hex(PRIME_2048_HEX);

/// The generator of all three groups.
pub(crate) const GENERATOR: u8 = 2;

/// One MODP group, by prime size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Modp {
    Bits1024,
    Bits1536,
    Bits2048,
}

/// What `exp` refuses: a base outside 1 < y < p-1 (RFC 7296, 2.12 and
/// RFC 6989, 2.1 for why 0, 1 and p-1 are rejected) or of the wrong length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadBase;

impl Modp {
    /// Length of the prime, of public values and of g^ir, in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Modp::Bits1024 => 128,
            Modp::Bits1536 => 192,
            Modp::Bits2048 => 256,
        }
    }

    /// base^exponent mod p, big-endian padded to the prime length. Both
    /// inputs are big-endian of exactly the prime length; the exponent is
    /// secret and handled in constant time, the base is public.
    pub(crate) fn exp(self, base: &[u8], exponent: &[u8]) -> Result<Vec<u8>, BadBase> {
        if base.len() != self.len() || exponent.len() != self.len() {
            return Err(BadBase);
        }
        match self {
            Modp::Bits1024 => exp_in(&PRIME_1024, base, exponent),
            Modp::Bits1536 => exp_in(&PRIME_1536, base, exponent),
            Modp::Bits2048 => exp_in(&PRIME_2048, base, exponent),
        }
    }

    /// The generator, encoded like a public value.
    pub(crate) fn generator(self) -> Vec<u8> {
        let mut g = vec![0; self.len()];
        if let Some(last) = g.last_mut() {
            *last = GENERATOR;
        }
        g
    }

    #[cfg(test)]
    pub(crate) fn prime_bytes(self) -> Vec<u8> {
        match self {
            Modp::Bits1024 => PRIME_1024.as_ref().to_be_bytes().as_ref().to_vec(),
            Modp::Bits1536 => PRIME_1536.as_ref().to_be_bytes().as_ref().to_vec(),
            Modp::Bits2048 => PRIME_2048.as_ref().to_be_bytes().as_ref().to_vec(),
        }
    }
}

fn exp_in<const LIMBS: usize>(
    prime: &Odd<Uint<LIMBS>>,
    base: &[u8],
    exponent: &[u8],
) -> Result<Vec<u8>, BadBase> {
    // The callers checked both lengths equal the prime's, which is exactly
    // Uint<LIMBS>'s size for these primes.
    let y = Uint::<LIMBS>::from_be_slice(base);
    let p_minus_1 = prime.as_ref().wrapping_sub(&Uint::ONE);
    // The base is public: a variable-time range check is fine.
    if y.cmp_vartime(&Uint::ONE).is_le() || y.cmp_vartime(&p_minus_1).is_ge() {
        return Err(BadBase);
    }
    let x = Uint::<LIMBS>::from_be_slice(exponent);
    let params = FixedMontyParams::new_vartime(*prime);
    let result = FixedMontyForm::new(&y, &params).pow(&x).retrieve();
    Ok(result.to_be_bytes().as_ref().to_vec())
}
