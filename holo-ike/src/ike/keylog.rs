//! A debug aid: the keys of the IKE SAs, for a decoder that checks our
//! captures independently (Wireshark's IKEv2 decryption table). The data
//! plane writes them only when asked to (`[debug] ipsec-keylog`).

use super::Ike;
use crate::crypto::{EncrAlgorithm, IntegAlgorithm};

/// One IKE SA's SPIs, algorithms and the four keys of its Encrypted
/// payloads (RFC 7296, 2.14): `_i` protect what the original initiator
/// sends. For AES-GCM the encryption keys end with their 4-byte salt.
#[derive(Clone, PartialEq, Eq)]
pub struct IkeSaKeyLog {
    pub spi_i: u64,
    pub spi_r: u64,
    pub encr: EncrAlgorithm,
    pub integ: Option<IntegAlgorithm>,
    pub sk_ei: Vec<u8>,
    pub sk_er: Vec<u8>,
    pub sk_ai: Vec<u8>,
    pub sk_ar: Vec<u8>,
}

// Keys never reach a log line.
impl std::fmt::Debug for IkeSaKeyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSaKeyLog")
            .field("spi_i", &format_args!("{:016x}", self.spi_i))
            .field("spi_r", &format_args!("{:016x}", self.spi_r))
            .finish_non_exhaustive()
    }
}

impl Ike {
    /// The keys of every IKE SA that has them (from IKE_SA_INIT's end on).
    pub fn key_log(&self) -> Vec<IkeSaKeyLog> {
        self.sas
            .values()
            .filter_map(|sa| {
                let keys = sa.keys.as_ref()?;
                let proposal = sa.proposal?;
                Some(IkeSaKeyLog {
                    spi_i: sa.spi_i,
                    spi_r: sa.spi_r,
                    encr: proposal.encr,
                    integ: proposal.integ,
                    sk_ei: keys.sk.sk_ei.clone(),
                    sk_er: keys.sk.sk_er.clone(),
                    sk_ai: keys.sk.sk_ai.clone(),
                    sk_ar: keys.sk.sk_ar.clone(),
                })
            })
            .collect()
    }
}
