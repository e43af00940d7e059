//! `dmvpn-nhrp` RPCs: `clear-cache` and `purge`, read into the instance
//! command they stand for.

use northbound::Refusal;
use serde_json::Value;

use crate::io::Command;

/// The RPCs of dmvpn-nhrp, by schema path.
pub use crate::yang::dmvpn_nhrp::{CLEAR_CACHE, PURGE};
use crate::yang::dmvpn_nhrp::{clear_cache, purge};

/// The interface and the command of an RPC's input (YANG JSON); `rpc` is
/// one of [`CLEAR_CACHE`] and [`PURGE`].
pub fn command(rpc: &str, input: &str) -> Result<(String, Command), Refusal> {
    let name = rpc.trim_start_matches('/');
    let (interface_name, prefix_name) = match rpc {
        PURGE => (purge::input::INTERFACE_NAME, purge::input::PREFIX_NAME),
        _ => (clear_cache::input::INTERFACE_NAME, ""),
    };
    let input: Value =
        serde_json::from_str(input).map_err(|e| Refusal::new(None, format!("RPC input: {e}")))?;
    let interface = input[name][interface_name]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let command = match rpc {
        PURGE => {
            let prefix = input[name][prefix_name].as_str().unwrap_or_default();
            let path = purge::input::PREFIX;
            Command::Purge {
                prefix: prefix
                    .parse()
                    .map_err(|_| Refusal::new(Some(path), "not a prefix"))?,
            }
        }
        _ => Command::ClearCache,
    };
    Ok((interface, command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_inputs_make_commands() {
        let input = r#"{"dmvpn-nhrp:purge": {"interface": "tun0", "prefix": "10.0.0.12/32"}}"#;
        let (interface, purge) = command(PURGE, input).unwrap();
        assert_eq!(interface, "tun0");
        assert_eq!(
            purge,
            Command::Purge {
                prefix: "10.0.0.12/32".parse().unwrap()
            }
        );
        let input = r#"{"dmvpn-nhrp:clear-cache": {"interface": "tun0"}}"#;
        assert_eq!(command(CLEAR_CACHE, input).unwrap().1, Command::ClearCache);
        let bad = r#"{"dmvpn-nhrp:purge": {"interface": "tun0", "prefix": "ten"}}"#;
        let refusal = command(PURGE, bad).unwrap_err();
        assert_eq!(refusal.path.as_deref(), Some("/dmvpn-nhrp:purge/prefix"));
    }
}
