//! What the generator prints: a line per second (the registered-over-time
//! curve) and the summary an engineer reads, ending with one `result:`
//! line of key=value pairs for scripts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

use crate::fleet::Fleet;

/// The `p`-th percentile (0..=100) of `values`, nearest rank; None when
/// empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

fn seconds(from: Instant, to: Option<Instant>) -> Option<f64> {
    to.map(|t| t.saturating_duration_since(from).as_secs_f64())
}

fn latencies(values: &mut [f64]) -> String {
    let ms = |p: f64, v: &mut [f64]| {
        percentile(v, p).map_or("-".into(), |s| format!("{:.1} ms", s * 1e3))
    };
    format!(
        "p50 {}, p99 {}, max {}",
        ms(50.0, values),
        ms(99.0, values),
        ms(100.0, values)
    )
}

/// Counts of the other things received, for the summary.
#[derive(Debug, Default)]
pub struct Received {
    pub forwarded: u64,
    pub other: BTreeMap<&'static str, u64>,
    pub malformed: u64,
    pub first_malformed: Option<String>,
    pub receive_errors: u64,
    pub first_receive_error: Option<String>,
    pub send_errors: u64,
    pub first_send_error: Option<String>,
}

/// One line of the curve.
#[derive(Debug)]
pub struct Curve {
    start: Instant,
    last_answered: u64,
    last_sent: u64,
}

impl Curve {
    pub fn new(start: Instant) -> Self {
        Curve {
            start,
            last_answered: 0,
            last_sent: 0,
        }
    }

    pub fn header(&self) -> &'static str {
        "   time  registered  answered/s  sent/s  retries  refused  late  re-registered"
    }

    pub fn line(&mut self, fleet: &Fleet, now: Instant) -> String {
        let s = &fleet.stats;
        let answered = s.answered + s.refused.values().sum::<u64>();
        let line = format!(
            "{:6.1}s  {:>10}  {:>10}  {:>6}  {:>7}  {:>7}  {:>4}  {:>13}",
            now.saturating_duration_since(self.start).as_secs_f64(),
            fleet.registered(),
            answered - self.last_answered,
            s.requests + s.resolutions_sent + s.resolution_retries - self.last_sent,
            s.retries,
            s.refused.values().sum::<u64>(),
            s.late,
            fleet
                .hub_restart
                .map_or("-".to_string(), |_| fleet.reregistered.to_string()),
        );
        self.last_answered = answered;
        self.last_sent = s.requests + s.resolutions_sent + s.resolution_retries;
        line
    }
}

/// The summary, and the `result:` line.
pub fn summary(fleet: &mut Fleet, rate: f64, received: &Received, drops: Option<u64>) -> String {
    let n = fleet.len();
    let mut out = String::new();
    let first = fleet.first_sent;
    let ever = fleet.ever_registered();
    let s = &mut fleet.stats;
    let refused: u64 = s.refused.values().sum();
    let _ = writeln!(out, "summary:");
    let _ = writeln!(
        out,
        "  spokes                {n}, start rate {}",
        if rate > 0.0 {
            format!("{rate}/s")
        } else {
            "unlimited (burst)".into()
        }
    );
    let _ = writeln!(
        out,
        "  registration requests {} sent: {n} first, {} retries (unanswered), {} refreshes; send errors {}{}",
        s.requests,
        s.retries,
        s.refreshes,
        received.send_errors,
        received
            .first_send_error
            .as_ref()
            .map_or(String::new(), |e| format!(" (first: {e})"))
    );
    if let (Some(f), Some(all)) = (first, s.all_started) {
        let t = all.saturating_duration_since(f).as_secs_f64();
        let _ = writeln!(
            out,
            "  first requests sent   over {t:.3} s{}",
            if t > 0.0 {
                format!(" ({:.0}/s)", f64::from(n) / t)
            } else {
                String::new()
            }
        );
    }
    let codes: Vec<String> = s
        .refused
        .iter()
        .map(|(c, k)| format!("code {c}: {k}"))
        .collect();
    let _ = writeln!(
        out,
        "  registration replies  {} success, {refused} refused{}, {} late (request ID no longer in flight)",
        s.answered,
        if codes.is_empty() {
            String::new()
        } else {
            format!(" ({})", codes.join(", "))
        },
        s.late
    );
    let converged = first.and_then(|f| seconds(f, fleet.converged));
    let span = first.and_then(|f| seconds(f, s.last_first_answer));
    let per_second = span.filter(|t| *t > 0.0).map(|t| f64::from(n) / t);
    match converged {
        Some(t) => {
            let _ = writeln!(
                out,
                "  convergence           all {n} registered {t:.3} s after the first request"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  convergence           NOT CONVERGED: {} of {n} ever registered",
                ever
            );
        }
    }
    let _ = writeln!(
        out,
        "  registrations/s       {} (first registrations answered / time to the last one)",
        per_second.map_or("-".into(), |r| format!("{r:.0}"))
    );
    let _ = writeln!(
        out,
        "  answer latency        {}",
        latencies(&mut s.latencies)
    );
    if s.resolutions_sent > 0 {
        let _ = writeln!(
            out,
            "  resolutions           {} sent, {} retries, {} answered, {} failed; {} forwarded requests answered as the target; latency {}",
            s.resolutions_sent,
            s.resolution_retries,
            s.resolutions_answered,
            s.resolutions_failed,
            received.forwarded,
            latencies(&mut s.resolution_latencies)
        );
    }
    if s.lost > 0 {
        let _ = writeln!(
            out,
            "  registrations lost    {} (a refresh unanswered or refused)",
            s.lost
        );
    }
    if let Some(restart) = fleet.hub_restart {
        let last = seconds(restart, fleet.last_reregistration);
        let _ = writeln!(
            out,
            "  after the hub restart {} of {n} registered again{}",
            fleet.reregistered,
            match last {
                Some(t) if fleet.reregistered == n =>
                    format!(", all within {t:.1} s of the restart"),
                Some(t) => format!(", the last {t:.1} s after the restart"),
                None => String::new(),
            }
        );
    }
    if !received.other.is_empty() {
        let other: Vec<String> = received
            .other
            .iter()
            .map(|(m, k)| format!("{m}: {k}"))
            .collect();
        let _ = writeln!(out, "  other received        {}", other.join(", "));
    }
    if received.malformed + received.receive_errors > 0 {
        let _ = writeln!(
            out,
            "  not understood        {} malformed{}, {} receive errors{}",
            received.malformed,
            received
                .first_malformed
                .as_ref()
                .map_or(String::new(), |e| format!(" (first: {e})")),
            received.receive_errors,
            received
                .first_receive_error
                .as_ref()
                .map_or(String::new(), |e| format!(" (first: {e})"))
        );
    }
    let _ = writeln!(
        out,
        "  generator socket drops {} (kernel, /proc/net/raw)",
        drops.map_or("unknown".into(), |d| d.to_string())
    );
    let opt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    let _ = writeln!(
        out,
        "result: spokes={n} rate={rate} converged={} convergence_s={} registrations_per_s={} requests={} retries={} refused={refused} late={} lost={} reregistered={} reregistration_s={} resolutions_answered={} resolutions_failed={} socket_drops={}",
        converged.is_some(),
        opt(converged),
        per_second.map_or("-".into(), |r| format!("{r:.0}")),
        s.requests,
        s.retries,
        s.late,
        s.lost,
        fleet
            .hub_restart
            .map_or("-".into(), |_| fleet.reregistered.to_string()),
        fleet
            .hub_restart
            .and_then(|r| seconds(r, fleet.last_reregistration))
            .map_or("-".into(), |t| format!("{t:.3}")),
        s.resolutions_answered,
        s.resolutions_failed,
        drops.map_or("-".into(), |d| d.to_string()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50.0));
        assert_eq!(percentile(&mut v, 99.0), Some(99.0));
        assert_eq!(percentile(&mut v, 100.0), Some(100.0));
        assert_eq!(percentile(&mut v, 0.0), Some(1.0));
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(percentile(&mut [3.0], 99.0), Some(3.0));
    }
}
