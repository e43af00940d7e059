use ring::rand::SystemRandom;

use super::*;

const CBC: [EncrAlgorithm; 2] = [EncrAlgorithm::AesCbc128, EncrAlgorithm::AesCbc256];
const GCM: [EncrAlgorithm; 2] = [EncrAlgorithm::AesGcm16_128, EncrAlgorithm::AesGcm16_256];
const INTEG: [IntegAlgorithm; 4] = [
    IntegAlgorithm::HmacSha1_96,
    IntegAlgorithm::HmacSha256_128,
    IntegAlgorithm::HmacSha384_192,
    IntegAlgorithm::HmacSha512_256,
];

/// A stand-in for the IKE header and the SK payload's generic header.
const ASSOCIATED: &[u8] = b"IKE header 28 bytes.........SK..";

/// Every supported pair, with keys made from `seed`.
fn ciphers(seed: u8) -> Vec<(String, SkCipher)> {
    let mut out = Vec::new();
    for encr in CBC {
        for integ in INTEG {
            let c = SkCipher::new(
                encr,
                Some(integ),
                &vec![seed; encr.key_len()],
                &vec![seed ^ 0x5a; integ.key_len()],
            )
            .expect("cbc cipher");
            out.push((format!("{encr:?}/{integ:?}"), c));
        }
    }
    for encr in GCM {
        let c = SkCipher::new(encr, None, &vec![seed; encr.key_len()], &[]).expect("gcm");
        out.push((format!("{encr:?}"), c));
    }
    out
}

#[test]
fn seal_open_round_trip() {
    let rng = SystemRandom::new();
    for (name, c) in ciphers(1) {
        for len in [0, 1, 15, 16, 17, 100] {
            let plaintext: Vec<u8> = (0..len as u8).collect();
            let body = c.seal(ASSOCIATED, &plaintext, &rng).expect("seal");
            assert_eq!(body.len(), c.encrypted_len(len), "{name} len {len}");
            assert_eq!(
                c.open(ASSOCIATED, &body).expect("open"),
                plaintext,
                "{name}"
            );
        }
    }
}

#[test]
fn cbc_ciphertext_is_whole_blocks_and_gcm_unpadded() {
    for (name, c) in ciphers(1) {
        let iv = c.encr.iv_len();
        let inner = c.encrypted_len(5) - iv - c.icv_len();
        if c.encr.is_aead() {
            assert_eq!(inner, 6, "{name}: chain + Pad Length byte");
        } else {
            assert_eq!(inner, 16, "{name}");
            assert_eq!(c.encrypted_len(15) - iv - c.icv_len(), 16, "{name}");
            assert_eq!(c.encrypted_len(16) - iv - c.icv_len(), 32, "{name}");
        }
    }
}

#[test]
fn any_flipped_bit_fails() {
    let rng = SystemRandom::new();
    for (name, c) in ciphers(2) {
        let body = c.seal(ASSOCIATED, b"payload chain", &rng).expect("seal");
        let iv_len = c.encr.iv_len();
        let icv_start = body.len() - c.icv_len();
        // One bit in the IV, the ciphertext, and the ICV.
        for at in [0, iv_len, icv_start - 1, icv_start, body.len() - 1] {
            let mut tampered = body.clone();
            tampered[at] ^= 0x01;
            assert_eq!(
                c.open(ASSOCIATED, &tampered),
                Err(CryptoError::IntegrityCheckFailed),
                "{name} byte {at}"
            );
        }
        // One bit in the associated data (the IKE header).
        let mut associated = ASSOCIATED.to_vec();
        associated[3] ^= 0x80;
        assert_eq!(
            c.open(&associated, &body),
            Err(CryptoError::IntegrityCheckFailed),
            "{name} associated"
        );
    }
}

#[test]
fn wrong_key_fails() {
    let rng = SystemRandom::new();
    for ((name, ours), (_, theirs)) in ciphers(3).into_iter().zip(ciphers(4)) {
        let body = ours.seal(ASSOCIATED, b"payload chain", &rng).expect("seal");
        assert_eq!(
            theirs.open(ASSOCIATED, &body),
            Err(CryptoError::IntegrityCheckFailed),
            "{name}"
        );
    }
}

#[test]
fn short_or_misaligned_bodies_are_malformed() {
    let rng = SystemRandom::new();
    for (name, c) in ciphers(5) {
        let body = c.seal(ASSOCIATED, b"", &rng).expect("seal");
        let short = &body[..c.encr.iv_len() + c.icv_len()];
        assert!(
            matches!(
                c.open(ASSOCIATED, short),
                Err(CryptoError::MalformedCiphertext { .. })
            ),
            "{name}"
        );
        if !c.encr.is_aead() {
            let mut misaligned = body.clone();
            misaligned.insert(c.encr.iv_len(), 0);
            assert!(
                matches!(
                    c.open(ASSOCIATED, &misaligned),
                    Err(CryptoError::MalformedCiphertext { .. })
                ),
                "{name}"
            );
        }
    }
}

#[test]
fn cbc_layout_is_rfc7296_encrypt_then_mac() {
    // Rebuild the check independently: ICV = HMAC(SK_a, associated | IV |
    // ciphertext) truncated; the decrypted blocks end in Pad Length.
    let rng = SystemRandom::new();
    let (ke, ka) = ([7u8; 16], [9u8; 32]);
    let integ = IntegAlgorithm::HmacSha256_128;
    let c = SkCipher::new(EncrAlgorithm::AesCbc128, Some(integ), &ke, &ka).expect("cipher");
    let plaintext = b"twenty bytes of text";
    let body = c.seal(ASSOCIATED, plaintext, &rng).expect("seal");
    let (signed, icv) = body.split_at(body.len() - 16);
    let key = hmac::Key::new(hmac::HMAC_SHA256, &ka);
    let full = hmac::sign(&key, &[ASSOCIATED, signed].concat());
    assert_eq!(icv, &full.as_ref()[..16]);

    let (iv, ciphertext) = signed.split_at(16);
    let mut blocks = ciphertext.to_vec();
    cbc::Decryptor::<Aes128>::new_from_slices(&ke, iv)
        .expect("key and iv sizes")
        .decrypt_padded_mut::<NoPadding>(&mut blocks)
        .expect("whole blocks");
    assert_eq!(blocks.len(), 32);
    assert_eq!(&blocks[..20], plaintext);
    assert_eq!(blocks[31], 11, "20 + 11 + 1 = 32");
}

#[test]
fn gcm_layout_is_rfc5282() {
    // The salt is the last 4 bytes of SK_e, the nonce salt | explicit IV,
    // the AAD the associated bytes, and the tag follows the ciphertext.
    let rng = SystemRandom::new();
    let ke: Vec<u8> = (0..36).collect();
    let c = SkCipher::new(EncrAlgorithm::AesGcm16_256, None, &ke, &[]).expect("cipher");
    let body = c.seal(ASSOCIATED, b"chain", &rng).expect("seal");
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&ke[32..]);
    nonce[4..].copy_from_slice(&body[..8]);
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_256_GCM, &ke[..32]).expect("key"));
    let mut in_out = body[8..].to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ASSOCIATED),
            &mut in_out,
        )
        .expect("ring opens our body");
    assert_eq!(plain, b"chain\x00");
}

#[test]
fn bad_pad_length_is_rejected() {
    // A GCM body whose authenticated plaintext claims more padding than
    // there is.
    let ke = [1u8; 20];
    let c = SkCipher::new(EncrAlgorithm::AesGcm16_128, None, &ke, &[]).expect("cipher");
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &ke[..16]).expect("key"));
    let iv = [0u8; 8];
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&ke[16..]);
    let mut inner = vec![b'x', b'y', 5];
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ASSOCIATED),
            &mut inner,
        )
        .expect("seal");
    let body = [&iv[..], &inner, tag.as_ref()].concat();
    assert_eq!(
        c.open(ASSOCIATED, &body),
        Err(CryptoError::BadPadding { pad_len: 5, len: 3 })
    );
}

#[test]
fn keys_and_combinations_are_checked() {
    assert_eq!(
        SkCipher::new(EncrAlgorithm::AesCbc128, None, &[0; 16], &[]).map(drop),
        Err(CryptoError::InvalidCombination)
    );
    assert_eq!(
        SkCipher::new(
            EncrAlgorithm::AesGcm16_128,
            Some(IntegAlgorithm::HmacSha1_96),
            &[0; 20],
            &[0; 20]
        )
        .map(drop),
        Err(CryptoError::InvalidCombination)
    );
    // GCM needs the salt too.
    assert_eq!(
        SkCipher::new(EncrAlgorithm::AesGcm16_128, None, &[0; 16], &[]).map(drop),
        Err(CryptoError::KeyLength {
            expected: 20,
            actual: 16
        })
    );
    assert_eq!(
        SkCipher::new(
            EncrAlgorithm::AesCbc256,
            Some(IntegAlgorithm::HmacSha512_256),
            &[0; 32],
            &[0; 32]
        )
        .map(drop),
        Err(CryptoError::KeyLength {
            expected: 64,
            actual: 32
        })
    );
}

#[test]
fn transform_ids_and_key_lengths() {
    for encr in CBC.into_iter().chain(GCM) {
        let (id, bits) = encr.transform();
        assert_eq!(EncrAlgorithm::from_transform(id, Some(bits)), Some(encr));
    }
    assert_eq!(EncrAlgorithm::from_transform(encr::AES_CBC, None), None);
    assert_eq!(
        EncrAlgorithm::from_transform(encr::AES_CBC, Some(192)),
        None
    );
    for integ in INTEG {
        assert_eq!(
            IntegAlgorithm::from_transform_id(integ.transform_id()),
            Some(integ)
        );
    }
    assert_eq!(
        key_lengths(EncrAlgorithm::AesGcm16_256, None),
        KeyLengths { encr: 36, integ: 0 }
    );
    assert_eq!(
        key_lengths(EncrAlgorithm::AesCbc128, Some(IntegAlgorithm::HmacSha1_96)),
        KeyLengths {
            encr: 16,
            integ: 20
        }
    );
}
