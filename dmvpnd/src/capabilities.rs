//! The capabilities dmvpnd needs: CAP_NET_ADMIN (tunnel interfaces, routes,
//! neighbors) and CAP_NET_RAW (GRE and NHRP sockets). Read from
//! /proc/self/status rather than with a syscall (no unsafe code).

const NEEDED: [(u32, &str); 2] = [(12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW")];

/// The needed capabilities missing from the effective set.
pub fn missing() -> Result<Vec<&'static str>, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    missing_in(&status)
}

fn missing_in(status: &str) -> Result<Vec<&'static str>, String> {
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .ok_or("/proc/self/status has no CapEff line")?;
    let mask = u64::from_str_radix(mask.trim(), 16)
        .map_err(|e| format!("/proc/self/status: CapEff {mask:?}: {e}"))?;
    Ok(NEEDED
        .iter()
        .filter(|(bit, _)| mask & (1 << bit) == 0)
        .map(|(_, name)| *name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_mask() {
        assert_eq!(missing_in("CapEff:\t000001ffffffffff\n"), Ok(vec![]));
        assert_eq!(
            missing_in("CapEff:\t0000000000001000\n"),
            Ok(vec!["CAP_NET_RAW"])
        );
        assert_eq!(
            missing_in("CapEff:\t0000000000000000\n"),
            Ok(vec!["CAP_NET_ADMIN", "CAP_NET_RAW"])
        );
        assert!(missing_in("Name: x\n").is_err());
    }
}
