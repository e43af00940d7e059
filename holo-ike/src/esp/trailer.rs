//! The ESP trailer (RFC 4303, 2.4 - 2.6): Padding, Pad Length, Next
//! Header, encrypted with the payload.

use super::EspError;

/// Pad Length and Next Header.
pub(super) const TRAILER_LEN: usize = 2;

/// RFC 4303, 2.4: the default padding is the bytes 1, 2, 3...; we never
/// pad beyond one alignment unit (at most one AES block).
const PADDING: [u8; 15] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// Padding after a payload of `len` bytes so that payload, padding and
/// trailer fill whole multiples of `align` (RFC 4303, 2.4).
pub(super) fn pad_len(len: usize, align: usize) -> usize {
    (align - (len + TRAILER_LEN) % align) % align
}

/// Appends Padding, Pad Length and Next Header.
pub(super) fn push(out: &mut Vec<u8>, pad_len: usize, next_header: u8) {
    debug_assert!(pad_len <= PADDING.len(), "padding beyond one AES block");
    let padding = PADDING.get(..pad_len).unwrap_or(&PADDING);
    out.extend_from_slice(padding);
    out.extend_from_slice(&[padding.len() as u8, next_header]);
}

/// Next Header and the payload length of a decrypted `plaintext`
/// (payload | padding | trailer). RFC 4303, 2.4: with the default
/// padding the receiver SHOULD inspect it. Called only after the ICV
/// verified, so this is no padding oracle.
pub(super) fn parse(plaintext: &[u8]) -> Result<(u8, usize), EspError> {
    let [.., pad_len, next_header] = *plaintext else {
        return Err(EspError::BadPadding);
    };
    let pad_len = usize::from(pad_len);
    let payload_len = plaintext
        .len()
        .checked_sub(TRAILER_LEN + pad_len)
        .ok_or(EspError::BadPadding)?;
    let padding = plaintext
        .get(payload_len..payload_len + pad_len)
        .ok_or(EspError::BadPadding)?;
    if padding
        .iter()
        .zip(1..=u8::MAX)
        .any(|(&byte, expected)| byte != expected)
    {
        return Err(EspError::BadPadding);
    }
    Ok((next_header, payload_len))
}
