//! Lower-case hex for byte strings in JSON and logs (opaque packet data,
//! unknown extensions), and its parser.

use std::fmt;

use serde::{Deserialize, Deserializer, Serializer};

/// Displays bytes as lower-case hex without separators.
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// `#[serde(serialize_with = "holo_utils::hex::serialize")]`
pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Hex(data))
}

/// `#[serde(deserialize_with = "holo_utils::hex::deserialize")]`: reads what
/// `serialize` writes; whitespace between octets is allowed so that long
/// values can be grouped by hand.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!("not hex: {text:?}"));
    }
    let pairs = digits.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(format!("odd number of hex digits in {text:?}"));
    }
    let value = |d: u8| (d as char).to_digit(16).unwrap_or_default() as u8;
    Ok(pairs
        .map(|pair| (value(pair[0]) << 4) | value(pair[1]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        assert_eq!(Hex(&[0x00, 0xab, 0x10]).to_string(), "00ab10");
        assert_eq!(parse("00ab10"), Ok(vec![0x00, 0xab, 0x10]));
        assert_eq!(parse("00 AB\n10"), Ok(vec![0x00, 0xab, 0x10]));
        assert!(parse("0").is_err());
        assert!(parse("zz").is_err());
    }
}
