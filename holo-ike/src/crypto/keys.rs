//! Key derivation for IKE SAs (RFC 7296, 2.14), IKE SA rekeys (2.18) and
//! child SAs (2.17).

use super::error::CryptoError;
use super::prf::PrfAlgorithm;

/// The key sizes the negotiated algorithms need, in bytes. For AES-GCM the
/// encryption key includes the 4-byte salt (RFC 5282, 7.1; RFC 4106, 8.1);
/// for AEAD ciphers the integrity key length is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLengths {
    pub encr: usize,
    pub integ: usize,
}

/// The seven secrets of an IKE SA (RFC 7296, 2.14). `_i` keys protect what
/// the original initiator sends, `_r` keys what the responder sends.
#[derive(Clone, PartialEq, Eq)]
pub struct IkeSaKeys {
    pub sk_d: Vec<u8>,
    pub sk_ai: Vec<u8>,
    pub sk_ar: Vec<u8>,
    pub sk_ei: Vec<u8>,
    pub sk_er: Vec<u8>,
    pub sk_pi: Vec<u8>,
    pub sk_pr: Vec<u8>,
}

/// KEYMAT of one child SA pair (RFC 7296, 2.17): the keys of the SA that
/// carries data from the initiator of the exchange to the responder come
/// first, encryption key before integrity key.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildSaKeys {
    pub encr_i: Vec<u8>,
    pub integ_i: Vec<u8>,
    pub encr_r: Vec<u8>,
    pub integ_r: Vec<u8>,
}

impl IkeSaKeys {
    /// RFC 7296, 2.14:
    /// SKEYSEED = prf(Ni | Nr, g^ir);
    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    ///   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
    pub fn derive(
        prf: PrfAlgorithm,
        lengths: KeyLengths,
        nonce_i: &[u8],
        nonce_r: &[u8],
        shared_secret: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<IkeSaKeys, CryptoError> {
        let mut nonces = Vec::with_capacity(nonce_i.len() + nonce_r.len());
        nonces.extend_from_slice(nonce_i);
        nonces.extend_from_slice(nonce_r);
        let skeyseed = prf.prf(&nonces, &[shared_secret]);
        IkeSaKeys::expand(prf, lengths, &skeyseed, nonce_i, nonce_r, spi_i, spi_r)
    }

    /// A new IKE SA from CREATE_CHILD_SA (RFC 7296, 2.18):
    /// SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), computed with the
    /// old SA's PRF (the exchange belongs to the old SA); the keys then come
    /// from prf+ of the new SA's PRF with the new SPIs.
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekeyed(
        old_prf: PrfAlgorithm,
        old_sk_d: &[u8],
        prf: PrfAlgorithm,
        lengths: KeyLengths,
        nonce_i: &[u8],
        nonce_r: &[u8],
        shared_secret: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<IkeSaKeys, CryptoError> {
        let skeyseed = old_prf.prf(old_sk_d, &[shared_secret, nonce_i, nonce_r]);
        IkeSaKeys::expand(prf, lengths, &skeyseed, nonce_i, nonce_r, spi_i, spi_r)
    }

    fn expand(
        prf: PrfAlgorithm,
        lengths: KeyLengths,
        skeyseed: &[u8],
        nonce_i: &[u8],
        nonce_r: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<IkeSaKeys, CryptoError> {
        let mut seed = Vec::with_capacity(nonce_i.len() + nonce_r.len() + 16);
        seed.extend_from_slice(nonce_i);
        seed.extend_from_slice(nonce_r);
        seed.extend_from_slice(&spi_i.to_be_bytes());
        seed.extend_from_slice(&spi_r.to_be_bytes());
        let prf_len = prf.output_len();
        let sizes = [
            prf_len,
            lengths.integ,
            lengths.integ,
            lengths.encr,
            lengths.encr,
            prf_len,
            prf_len,
        ];
        let keymat = prf.prf_plus(skeyseed, &seed, sizes.iter().sum())?;
        let [sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr] = split(&keymat, sizes);
        Ok(IkeSaKeys {
            sk_d,
            sk_ai,
            sk_ar,
            sk_ei,
            sk_er,
            sk_pi,
            sk_pr,
        })
    }
}

impl ChildSaKeys {
    /// RFC 7296, 2.17: KEYMAT = prf+(SK_d, Ni | Nr), or with PFS
    /// KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr). The nonces are those of
    /// the exchange that creates the child SA (IKE_AUTH: of IKE_SA_INIT).
    pub fn derive(
        prf: PrfAlgorithm,
        sk_d: &[u8],
        lengths: KeyLengths,
        pfs_shared_secret: Option<&[u8]>,
        nonce_i: &[u8],
        nonce_r: &[u8],
    ) -> Result<ChildSaKeys, CryptoError> {
        let pfs = pfs_shared_secret.unwrap_or_default();
        let mut seed = Vec::with_capacity(pfs.len() + nonce_i.len() + nonce_r.len());
        seed.extend_from_slice(pfs);
        seed.extend_from_slice(nonce_i);
        seed.extend_from_slice(nonce_r);
        let sizes = [lengths.encr, lengths.integ, lengths.encr, lengths.integ];
        let keymat = prf.prf_plus(sk_d, &seed, sizes.iter().sum())?;
        let [encr_i, integ_i, encr_r, integ_r] = split(&keymat, sizes);
        Ok(ChildSaKeys {
            encr_i,
            integ_i,
            encr_r,
            integ_r,
        })
    }
}

/// Cuts `keymat` into consecutive keys of the given sizes; the caller made
/// `keymat` exactly as long as their sum.
fn split<const N: usize>(keymat: &[u8], sizes: [usize; N]) -> [Vec<u8>; N] {
    let mut rest = keymat;
    sizes.map(|size| {
        let (key, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        key.to_vec()
    })
}

// Keys never reach a log line: Debug shows their lengths only.
impl std::fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSaKeys")
            .field("sk_d_len", &self.sk_d.len())
            .field("sk_a_len", &self.sk_ai.len())
            .field("sk_e_len", &self.sk_ei.len())
            .field("sk_p_len", &self.sk_pi.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ChildSaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSaKeys")
            .field("encr_len", &self.encr_i.len())
            .field("integ_len", &self.integ_i.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NI: &[u8] = &[0x11; 32];
    const NR: &[u8] = &[0x22; 32];
    const GIR: &[u8] = &[0x33; 256];
    const SPI_I: u64 = 0x0102_0304_0506_0708;
    const SPI_R: u64 = 0x1112_1314_1516_1718;

    #[test]
    fn ike_sa_keys_sized_by_algorithms() {
        // AES-CBC-256 + HMAC-SHA2-512-256 + PRF-HMAC-SHA2-512.
        let lengths = KeyLengths {
            encr: 32,
            integ: 64,
        };
        let k = IkeSaKeys::derive(PrfAlgorithm::HmacSha512, lengths, NI, NR, GIR, SPI_I, SPI_R)
            .expect("derive");
        assert_eq!([k.sk_d.len(), k.sk_ai.len(), k.sk_ar.len()], [64, 64, 64]);
        assert_eq!(
            [k.sk_ei.len(), k.sk_er.len(), k.sk_pi.len(), k.sk_pr.len()],
            [32, 32, 64, 64]
        );

        // AES-GCM-16-128 (key + salt), no integrity, PRF-HMAC-SHA1.
        let lengths = KeyLengths { encr: 20, integ: 0 };
        let k = IkeSaKeys::derive(PrfAlgorithm::HmacSha1, lengths, NI, NR, GIR, SPI_I, SPI_R)
            .expect("derive");
        assert_eq!(k.sk_d.len(), 20);
        assert!(k.sk_ai.is_empty() && k.sk_ar.is_empty());
        assert_eq!([k.sk_ei.len(), k.sk_er.len()], [20, 20]);
    }

    #[test]
    fn ike_sa_keys_follow_rfc7296_2_14() {
        let prf = PrfAlgorithm::HmacSha256;
        let lengths = KeyLengths {
            encr: 16,
            integ: 32,
        };
        let k = IkeSaKeys::derive(prf, lengths, NI, NR, GIR, SPI_I, SPI_R).expect("derive");

        let nonces = [NI, NR].concat();
        let skeyseed = prf.prf(&nonces, &[GIR]);
        let seed = [NI, NR, &SPI_I.to_be_bytes(), &SPI_R.to_be_bytes()].concat();
        let keymat = prf
            .prf_plus(&skeyseed, &seed, 32 * 3 + 32 * 2 + 16 * 2)
            .expect("prf+");
        let joined = [
            &k.sk_d[..],
            &k.sk_ai,
            &k.sk_ar,
            &k.sk_ei,
            &k.sk_er,
            &k.sk_pi,
            &k.sk_pr,
        ]
        .concat();
        assert_eq!(joined, keymat);
        // The order is the RFC's: SK_ai starts right after SK_d.
        assert_eq!(k.sk_ai, keymat[32..64]);
        assert_eq!(k.sk_ei, keymat[96..112]);
        assert_ne!(k.sk_ai, k.sk_ar);
    }

    #[test]
    fn rekeyed_ike_sa_uses_old_sk_d_and_new_spis() {
        let lengths = KeyLengths {
            encr: 16,
            integ: 20,
        };
        let old_sk_d = [0x44; 20];
        let k = IkeSaKeys::derive_rekeyed(
            PrfAlgorithm::HmacSha1,
            &old_sk_d,
            PrfAlgorithm::HmacSha256,
            lengths,
            NI,
            NR,
            GIR,
            SPI_I,
            SPI_R,
        )
        .expect("derive");
        let skeyseed = PrfAlgorithm::HmacSha1.prf(&old_sk_d, &[&[GIR, NI, NR].concat()]);
        let seed = [NI, NR, &SPI_I.to_be_bytes(), &SPI_R.to_be_bytes()].concat();
        let keymat = PrfAlgorithm::HmacSha256
            .prf_plus(&skeyseed, &seed, 32)
            .expect("prf+");
        assert_eq!(k.sk_d, keymat);
        assert_eq!(k.sk_pr.len(), 32);
    }

    #[test]
    fn child_sa_keymat_order_and_pfs() {
        let prf = PrfAlgorithm::HmacSha256;
        let sk_d = [0x55; 32];
        // ESP AES-CBC-128 + HMAC-SHA1-96.
        let lengths = KeyLengths {
            encr: 16,
            integ: 20,
        };
        let k = ChildSaKeys::derive(prf, &sk_d, lengths, None, NI, NR).expect("derive");
        let keymat = prf.prf_plus(&sk_d, &[NI, NR].concat(), 72).expect("prf+");
        assert_eq!(k.encr_i, keymat[..16]);
        assert_eq!(k.integ_i, keymat[16..36]);
        assert_eq!(k.encr_r, keymat[36..52]);
        assert_eq!(k.integ_r, keymat[52..72]);

        let pfs = ChildSaKeys::derive(prf, &sk_d, lengths, Some(GIR), NI, NR).expect("derive");
        let keymat = prf
            .prf_plus(&sk_d, &[GIR, NI, NR].concat(), 72)
            .expect("prf+");
        assert_eq!(pfs.encr_i, keymat[..16]);
        assert_ne!(pfs, k);
    }

    #[test]
    fn too_much_keying_material_is_an_error() {
        let lengths = KeyLengths {
            encr: 4000,
            integ: 0,
        };
        assert!(matches!(
            ChildSaKeys::derive(PrfAlgorithm::HmacSha1, &[1; 20], lengths, None, NI, NR),
            Err(CryptoError::PrfPlusTooLong { .. })
        ));
    }

    #[test]
    fn debug_does_not_print_keys() {
        let k = ChildSaKeys::derive(
            PrfAlgorithm::HmacSha1,
            &[1; 20],
            KeyLengths {
                encr: 16,
                integ: 20,
            },
            None,
            NI,
            NR,
        )
        .expect("derive");
        let shown = format!("{k:?}");
        assert!(shown.contains("encr_len: 16"), "{shown}");
        assert!(!shown.contains(&format!("{:?}", k.encr_i)), "{shown}");
    }
}
