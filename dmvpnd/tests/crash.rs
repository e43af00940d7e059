//! Crash safety, for real (issue 3, "Must show"): dmvpnd is SIGKILLed at
//! random moments of a stream of commits and restarted, again and again.
//! After every restart running is exactly one of the committed
//! configurations (the last acknowledged one, or the one in flight when
//! the daemon died), parses as a whole, and the transaction log agrees.

// Test helpers panic on failure, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{HOLDING_TIME, Site, running, set, transactions};
use dmvpn_api::v1 as api;
use northbound::{Config, Format};

const ROUNDS: usize = 20;

/// xorshift64: the kill moments are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Running after a commit of holding time `secs` on top of `base`: what
/// the daemon prints (same library, same operations).
fn with_holding_time(base: &str, secs: u32) -> String {
    let mut config = Config::parse(base, Format::Json).unwrap();
    config.set(HOLDING_TIME, Some(&secs.to_string())).unwrap();
    config.validate().unwrap();
    config.print(Format::Json).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_commits_never_corrupts_running() {
    let started = Instant::now();
    let site = Site::new("crash");
    let mut rng = Rng(0x5EED_D0D0_CAFE_F00D);
    let mut acked: Option<String> = None;
    let mut in_flight: Option<String> = None;
    let mut next_secs = 1000u32;
    let mut commits = 0usize;
    let mut killed_in_flight = 0usize;

    for round in 0..ROUNDS {
        let mut daemon = site.start(Some("spoke-startup.json"));
        let mut client = daemon.connect(&site.socket()).await;

        // The invariant, after every (re)start.
        let now = running(&mut client).await;
        Config::parse(&now, Format::Json)
            .unwrap_or_else(|e| panic!("round {round}: running does not parse: {e}\n{now}"));
        match (&acked, &in_flight) {
            (None, _) => assert!(now.contains("\"holding-time\": 600"), "startup: {now}"),
            (Some(acked), in_flight) => assert!(
                &now == acked || Some(&now) == in_flight.as_ref(),
                "round {round}: running is neither the acknowledged commit nor the one in flight:\n{now}"
            ),
        }
        if in_flight.as_ref() == Some(&now) {
            killed_in_flight += 1;
        }
        let log = transactions(&mut client).await;
        let ids: Vec<u64> = log.iter().map(|t| t.id).collect();
        // Contiguous and newest-last; the oldest are pruned beyond the
        // daemon's max-transactions (100 by default), never below it.
        let first = ids[0];
        assert_eq!(
            ids,
            (first..first + ids.len() as u64).collect::<Vec<_>>(),
            "round {round}: ids"
        );
        assert!(
            first == 1 || ids.len() == northbound::DEFAULT_MAX_TRANSACTIONS,
            "round {round}: pruned below the limit: {ids:?}"
        );
        let since_startup = match first {
            1 => {
                assert_eq!(log[0].comment, "startup");
                &log[1..]
            }
            _ => &log[..],
        };
        assert!(since_startup.iter().all(|t| t.comment == "n"));
        let newest = client
            .get_transaction(api::GetTransactionRequest {
                transaction_id: *ids.last().unwrap(),
                encoding: api::Encoding::Json as i32,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            newest.config.unwrap().data,
            now,
            "round {round}: log and running differ"
        );
        acked = Some(now);

        // Commits until the daemon dies, killed at a random moment.
        let delay = Duration::from_millis(20 + rng.next() % 300);
        let pid = daemon.pid().to_string();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        });
        loop {
            let base = acked.clone().unwrap_or_default();
            let next = with_holding_time(&base, next_secs);
            in_flight = Some(next.clone());
            let result = client
                .commit(set(HOLDING_TIME, &next_secs.to_string(), "n"))
                .await;
            next_secs = 1000 + (next_secs - 999) % 60000;
            match result {
                Ok(response) => {
                    assert!(response.into_inner().transaction_id > 0);
                    acked = Some(next);
                    commits += 1;
                }
                Err(status) => {
                    assert!(
                        matches!(
                            status.code(),
                            tonic::Code::Unavailable
                                | tonic::Code::Unknown
                                | tonic::Code::Cancelled
                        ),
                        "round {round}: {status:?}"
                    );
                    break;
                }
            }
        }
        killer.await.unwrap();
        daemon.kill();
    }
    eprintln!(
        "{ROUNDS} SIGKILLs, {commits} acknowledged commits, {killed_in_flight} in-flight commits found applied, {:?}",
        started.elapsed()
    );
    assert!(
        commits >= ROUNDS,
        "too few commits to prove anything: {commits}"
    );
}
