//! Proposals (RFC 7296, 2.7 and 3.3): what we offer as initiator, what we
//! pick as responder, and checking what the responder picked.
//!
//! We offer each configured proposal as one Proposal substructure with
//! one transform per type. As responder we take the initiator's proposals
//! in its order and accept the first that holds all the transforms of one
//! of ours, preferring, among ours, one whose DH group is the one of the
//! initiator's KE payload (so that it need not retry).

use super::config::{EspProposal, IkeProposal};
use crate::crypto::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use crate::packet::sa::{Proposal, ProtocolId, SecurityAssociation, Transform, TransformType};
use crate::packet::sa::{esn, integ};
use crate::packet::{Attribute, TransformType as T};

fn encr_transform(encr: EncrAlgorithm) -> Transform {
    let (id, bits) = encr.transform();
    let mut t = Transform::new(T::ENCR, id);
    t.attributes.push(Attribute::key_length(bits));
    t
}

fn ike_transforms(p: &IkeProposal) -> Vec<Transform> {
    let mut ts = vec![
        encr_transform(p.encr),
        Transform::new(T::PRF, p.prf.transform_id()),
    ];
    if let Some(i) = p.integ {
        ts.push(Transform::new(T::INTEG, i.transform_id()));
    }
    ts.push(Transform::new(T::DH, p.dh.transform_id()));
    ts
}

fn esp_transforms(p: &EspProposal) -> Vec<Transform> {
    let mut ts = vec![encr_transform(p.encr)];
    if let Some(i) = p.integ {
        ts.push(Transform::new(T::INTEG, i.transform_id()));
    }
    ts.push(Transform::new(
        T::ESN,
        if p.esn { esn::YES } else { esn::NO },
    ));
    ts
}

fn proposal(
    number: u8,
    protocol_id: ProtocolId,
    spi: Vec<u8>,
    transforms: Vec<Transform>,
) -> Proposal {
    Proposal {
        reserved: 0,
        number,
        protocol_id,
        spi,
        transforms,
    }
}

/// The SA payload of our IKE_SA_INIT request. Proposal numbers start at 1
/// (RFC 7296, 3.3.1); at most 64 are kept ([`crate::packet::sa::MAX_PROPOSALS`]).
pub fn ike_offer(ours: &[IkeProposal]) -> SecurityAssociation {
    SecurityAssociation {
        proposals: (1..=crate::packet::sa::MAX_PROPOSALS as u8)
            .zip(ours)
            .map(|(n, p)| proposal(n, ProtocolId::IKE, vec![], ike_transforms(p)))
            .collect(),
    }
}

/// Our CREATE_CHILD_SA request rekeying the IKE SA: [`ike_offer`] with
/// our new SPI in each proposal (RFC 7296, 3.3.1).
pub fn ike_rekey_offer(ours: &[IkeProposal], spi: u64) -> SecurityAssociation {
    let mut sa = ike_offer(ours);
    for p in &mut sa.proposals {
        p.spi = spi.to_be_bytes().to_vec();
    }
    sa
}

/// The SA payload of our IKE_AUTH request; `spi` is our inbound SPI.
pub fn esp_offer(ours: &[EspProposal], spi: u32) -> SecurityAssociation {
    esp_offer_pfs(ours, spi, None)
}

/// The SA payload of our CREATE_CHILD_SA request for a child SA: with
/// PFS, each proposal also names the DH group of our KE payload.
pub fn esp_offer_pfs(ours: &[EspProposal], spi: u32, pfs: Option<DhGroup>) -> SecurityAssociation {
    SecurityAssociation {
        proposals: (1..=crate::packet::sa::MAX_PROPOSALS as u8)
            .zip(ours)
            .map(|(n, p)| {
                let mut transforms = esp_transforms(p);
                transforms.extend(pfs.map(|g| Transform::new(T::DH, g.transform_id())));
                proposal(n, ProtocolId::ESP, spi.to_be_bytes().to_vec(), transforms)
            })
            .collect(),
    }
}

/// The responder's answer: the chosen proposal alone, under the number
/// the initiator gave it.
pub fn ike_answer(number: u8, p: &IkeProposal) -> SecurityAssociation {
    SecurityAssociation {
        proposals: vec![proposal(number, ProtocolId::IKE, vec![], ike_transforms(p))],
    }
}

pub fn ike_rekey_answer(number: u8, p: &IkeProposal, spi: u64) -> SecurityAssociation {
    let mut sa = ike_answer(number, p);
    for p in &mut sa.proposals {
        p.spi = spi.to_be_bytes().to_vec();
    }
    sa
}

pub fn esp_answer(number: u8, p: &EspProposal, spi: u32) -> SecurityAssociation {
    esp_answer_pfs(number, p, spi, None)
}

pub fn esp_answer_pfs(
    number: u8,
    p: &EspProposal,
    spi: u32,
    dh: Option<DhGroup>,
) -> SecurityAssociation {
    let mut transforms = esp_transforms(p);
    transforms.extend(dh.map(|g| Transform::new(T::DH, g.transform_id())));
    SecurityAssociation {
        proposals: vec![proposal(
            number,
            ProtocolId::ESP,
            spi.to_be_bytes().to_vec(),
            transforms,
        )],
    }
}

/// RFC 7296, 3.3.6: a proposal with a transform type we do not know is
/// rejected as a whole.
fn known_types(p: &Proposal) -> bool {
    p.transforms
        .iter()
        .all(|t| (T::ENCR.0..=T::ESN.0).contains(&t.transform_type.0))
}

fn has(p: &Proposal, ty: TransformType, id: u16) -> bool {
    p.transforms
        .iter()
        .any(|t| t.transform_type == ty && t.transform_id == id)
}

fn has_encr(p: &Proposal, encr: EncrAlgorithm) -> bool {
    let (id, bits) = encr.transform();
    p.transforms.iter().any(|t| {
        t.transform_type == T::ENCR && t.transform_id == id && t.key_length() == Some(bits)
    })
}

/// An AEAD proposal carries no integrity transform, or only NONE
/// (RFC 7296, 3.3).
fn integ_fits(p: &Proposal, want: Option<IntegAlgorithm>) -> bool {
    match want {
        Some(i) => has(p, T::INTEG, i.transform_id()),
        None => p
            .transforms
            .iter()
            .filter(|t| t.transform_type == T::INTEG)
            .all(|t| t.transform_id == integ::NONE),
    }
}

/// Responder, IKE_SA_INIT: (proposal number, our proposal that matched).
pub fn select_ike(
    offer: &SecurityAssociation,
    ours: &[IkeProposal],
    ke_group: u16,
) -> Option<(u8, IkeProposal)> {
    select_ike_spi(offer, ours, ke_group, 0).map(|(n, _, p)| (n, p))
}

/// Responder, CREATE_CHILD_SA rekeying the IKE SA (RFC 7296, 1.3.2):
/// (proposal number, the initiator's new SPI, our proposal that matched).
pub fn select_ike_rekey(
    offer: &SecurityAssociation,
    ours: &[IkeProposal],
    ke_group: u16,
) -> Option<(u8, u64, IkeProposal)> {
    select_ike_spi(offer, ours, ke_group, 8)
}

/// [`select_ike`] among the proposals whose SPI is `spi_len` long.
fn select_ike_spi(
    offer: &SecurityAssociation,
    ours: &[IkeProposal],
    ke_group: u16,
    spi_len: usize,
) -> Option<(u8, u64, IkeProposal)> {
    offer
        .proposals
        .iter()
        .filter(|p| p.protocol_id == ProtocolId::IKE && p.spi.len() == spi_len && known_types(p))
        .find_map(|p| {
            let spi = match <[u8; 8]>::try_from(p.spi.as_slice()) {
                Ok(b) => u64::from_be_bytes(b),
                Err(_) => 0,
            };
            let mut fits = ours.iter().filter(|o| {
                has_encr(p, o.encr)
                    && has(p, T::PRF, o.prf.transform_id())
                    && integ_fits(p, o.integ)
                    && has(p, T::DH, o.dh.transform_id())
            });
            let first = fits.clone().next();
            fits.find(|o| o.dh.transform_id() == ke_group)
                .or(first)
                .map(|o| (p.number, spi, *o))
        })
}

/// Responder, IKE_AUTH: (proposal number, the initiator's inbound SPI, our
/// proposal that matched). DH transforms are ignored: IKE_AUTH has no KE
/// (RFC 7296, 1.2). A proposal without ESN transform counts as "no ESN".
pub fn select_esp(
    offer: &SecurityAssociation,
    ours: &[EspProposal],
) -> Option<(u8, u32, EspProposal)> {
    offer
        .proposals
        .iter()
        .filter(|p| p.protocol_id == ProtocolId::ESP && known_types(p))
        .find_map(|p| {
            let spi = u32::from_be_bytes(p.spi.as_slice().try_into().ok()?);
            ours.iter()
                .find(|o| esp_fits(p, o))
                .map(|o| (p.number, spi, *o))
        })
}

fn esp_fits(p: &Proposal, o: &EspProposal) -> bool {
    let no_esn = !p.transforms.iter().any(|t| t.transform_type == T::ESN);
    has_encr(p, o.encr)
        && integ_fits(p, o.integ)
        && (has(p, T::ESN, if o.esn { esn::YES } else { esn::NO }) || (no_esn && !o.esn))
}

/// A child SA proposal of CREATE_CHILD_SA that we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspChoice {
    pub number: u8,
    /// The initiator's inbound SPI.
    pub spi: u32,
    pub proposal: EspProposal,
    /// The DH group of the PFS exchange, if any.
    pub dh: Option<DhGroup>,
}

/// Responder, CREATE_CHILD_SA for a child SA: like [`select_esp`], and the
/// DH group (RFC 7296, 1.3.1). With `pfs` configured the proposal must
/// name our group; without, we take a proposal without DH (or with NONE),
/// or follow the initiator's PFS when its KE group (`ke_group`) is one we
/// know and it proposed.
pub fn select_esp_pfs(
    offer: &SecurityAssociation,
    ours: &[EspProposal],
    pfs: Option<DhGroup>,
    ke_group: Option<u16>,
) -> Option<EspChoice> {
    offer
        .proposals
        .iter()
        .filter(|p| p.protocol_id == ProtocolId::ESP && known_types(p))
        .find_map(|p| {
            let spi = u32::from_be_bytes(p.spi.as_slice().try_into().ok()?);
            let proposal = *ours.iter().find(|o| esp_fits(p, o))?;
            let groups: Vec<u16> = p
                .transforms
                .iter()
                .filter(|t| t.transform_type == T::DH)
                .map(|t| t.transform_id)
                .collect();
            let dh = match pfs {
                Some(g) => Some(g)
                    .filter(|g| groups.contains(&g.transform_id()))?
                    .into(),
                None if groups.is_empty() || groups.contains(&0) => None,
                None => Some(
                    ke_group
                        .filter(|k| groups.contains(k))
                        .and_then(DhGroup::from_transform_id)?,
                ),
            };
            Some(EspChoice {
                number: p.number,
                spi,
                proposal,
                dh,
            })
        })
}

/// Initiator: the DH group the responder chose for the child SA (Some(None):
/// no DH, or NONE); None when it names several or one we do not know.
pub fn chosen_esp_dh(answer: &SecurityAssociation) -> Option<Option<DhGroup>> {
    let p = only_proposal(answer, ProtocolId::ESP)?;
    match single(p, T::DH).ok()? {
        None => Some(None),
        Some(t) if t.transform_id == 0 => Some(None),
        Some(t) => DhGroup::from_transform_id(t.transform_id).map(Some),
    }
}

/// The one transform of `ty` in an answer; Err when there are several.
fn single(p: &Proposal, ty: TransformType) -> Result<Option<&Transform>, ()> {
    let mut it = p.transforms.iter().filter(|t| t.transform_type == ty);
    let first = it.next();
    if it.next().is_some() {
        Err(())
    } else {
        Ok(first)
    }
}

fn only_proposal(answer: &SecurityAssociation, protocol: ProtocolId) -> Option<&Proposal> {
    match answer.proposals.as_slice() {
        [p] if p.protocol_id == protocol && known_types(p) => Some(p),
        _ => None,
    }
}

fn parse_encr_integ(p: &Proposal) -> Option<(EncrAlgorithm, Option<IntegAlgorithm>)> {
    let e = single(p, T::ENCR).ok()??;
    let encr = EncrAlgorithm::from_transform(e.transform_id, e.key_length())?;
    let integ = match single(p, T::INTEG).ok()? {
        Some(t) if t.transform_id == integ::NONE => None,
        Some(t) => Some(IntegAlgorithm::from_transform_id(t.transform_id)?),
        None => None,
    };
    Some((encr, integ))
}

/// Initiator: the proposal the responder chose, if it is one transform per
/// type; whether we offered it is the caller's check.
pub fn chosen_ike(answer: &SecurityAssociation) -> Option<IkeProposal> {
    let p = only_proposal(answer, ProtocolId::IKE)?;
    let (encr, integ) = parse_encr_integ(p)?;
    let prf = PrfAlgorithm::from_transform_id(single(p, T::PRF).ok()??.transform_id)?;
    let dh = DhGroup::from_transform_id(single(p, T::DH).ok()??.transform_id)?;
    Some(IkeProposal {
        encr,
        integ,
        prf,
        dh,
    })
}

/// Initiator: the responder's choice for the IKE SA rekey and its new SPI.
pub fn chosen_ike_rekey(answer: &SecurityAssociation) -> Option<(u64, IkeProposal)> {
    let chosen = chosen_ike(answer)?;
    let p = only_proposal(answer, ProtocolId::IKE)?;
    let spi = u64::from_be_bytes(p.spi.as_slice().try_into().ok()?);
    (spi != 0).then_some((spi, chosen))
}

/// Initiator: the responder's ESP choice and its inbound SPI.
pub fn chosen_esp(answer: &SecurityAssociation) -> Option<(u32, EspProposal)> {
    let p = only_proposal(answer, ProtocolId::ESP)?;
    let spi = u32::from_be_bytes(p.spi.as_slice().try_into().ok()?);
    let (encr, integ) = parse_encr_integ(p)?;
    let esn = match single(p, T::ESN).ok()? {
        Some(t) if t.transform_id == esn::YES => true,
        Some(t) if t.transform_id == esn::NO => false,
        Some(_) => return None,
        None => false,
    };
    Some((spi, EspProposal { encr, integ, esn }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::Config;

    #[test]
    fn responder_takes_the_initiators_first_acceptable_proposal() {
        let all = Config::cisco_defaults().ike_proposals;
        let offer = ike_offer(&all);
        // We accept only the third proposal of the offer and the last one.
        let ours = [all[all.len() - 1], all[2]];
        let (n, p) = select_ike(&offer, &ours, all[0].dh.transform_id()).expect("match");
        assert_eq!((n, p), (3, all[2]));
        assert_eq!(chosen_ike(&ike_answer(n, &p)), Some(p));
        assert_eq!(select_ike(&offer, &[], 31), None);
    }

    #[test]
    fn responder_prefers_the_ke_group_within_one_proposal() {
        let all = Config::cisco_defaults().ike_proposals;
        // One proposal with two DH groups, as Cisco and strongSwan send.
        let mut offer = ike_offer(&all[..1]);
        offer.proposals[0]
            .transforms
            .push(Transform::new(T::DH, DhGroup::Ecp256.transform_id()));
        let mut ecp = all[0];
        ecp.dh = DhGroup::Ecp256;
        let ours = [all[0], ecp];
        assert_eq!(select_ike(&offer, &ours, 19), Some((1, ecp)));
        assert_eq!(select_ike(&offer, &ours, 14), Some((1, all[0])));
    }

    #[test]
    fn unknown_transform_type_rejects_the_proposal() {
        let all = Config::cisco_defaults().ike_proposals;
        let mut offer = ike_offer(&all[..1]);
        offer.proposals[0]
            .transforms
            .push(Transform::new(TransformType(9), 1));
        assert_eq!(select_ike(&offer, &all, 31), None);
    }

    #[test]
    fn esp_selection_and_answer() {
        let all = Config::cisco_defaults().esp_proposals;
        let offer = esp_offer(&all, 0x1234_5678);
        let (n, spi, p) = select_esp(&offer, &all[1..]).expect("match");
        assert_eq!((n, spi, p), (2, 0x1234_5678, all[1]));
        assert_eq!(chosen_esp(&esp_answer(n, &p, 7)), Some((7, p)));
        let esn = EspProposal {
            esn: true,
            ..all[0]
        };
        assert_eq!(select_esp(&offer, &[esn]), None);
    }
}
