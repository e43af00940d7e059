use super::*;

const S: Duration = Duration::from_secs(1);

fn registrations(out: &[Send]) -> Vec<(u32, u32)> {
    out.iter()
        .filter_map(|s| match s {
            Send::Registration { spoke, request_id } => Some((*spoke, *request_id)),
            Send::Resolution { .. } => None,
        })
        .collect()
}

fn success(spoke: u32, request_id: u32) -> Answer {
    Answer::Registration {
        spoke,
        request_id,
        code: 0,
    }
}

/// A fleet that registered every spoke at `t0` (rate 0).
fn registered(n: u32, refresh: Option<Duration>, resolutions: u32, t0: Instant) -> Fleet {
    let mut fleet = Fleet::new(n, 0.0, refresh, resolutions, 7, t0);
    let mut out = vec![];
    fleet.poll(t0, usize::MAX, &mut out);
    for (spoke, id) in registrations(&out) {
        fleet.on_answer(success(spoke, id), t0);
    }
    assert_eq!(fleet.registered(), n);
    fleet
}

#[test]
fn a_burst_sends_every_spoke_once_with_distinct_ids() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(1000, 0.0, None, 0, 1, t0);
    let mut out = vec![];
    // In batches, as the driver does.
    while fleet.poll(t0, 300, &mut out) == 300 {}
    let sent = registrations(&out);
    assert_eq!(sent.len(), 1000);
    assert_eq!(fleet.stats.all_started, Some(t0));
    let mut ids: Vec<u32> = sent.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    assert!(!ids.contains(&0));
    assert_eq!(fleet.converged, None);
    for (spoke, id) in sent {
        fleet.on_answer(success(spoke, id), t0 + S);
    }
    assert_eq!(fleet.registered(), 1000);
    assert_eq!(fleet.converged, Some(t0 + S));
    assert_eq!(fleet.stats.answered, 1000);
    assert_eq!(fleet.stats.latencies.len(), 1000);
}

#[test]
fn the_start_rate_is_kept() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(100, 10.0, None, 0, 1, t0);
    let mut out = vec![];
    let mut per_tick = vec![];
    for tick in 0..10 {
        let now = t0 + Duration::from_millis(100 * tick);
        per_tick.push(fleet.poll(now, usize::MAX, &mut out));
    }
    // One at once, then one every 100 ms (before the first retry at 1 s).
    assert_eq!(per_tick, [1; 10]);
    let spokes: Vec<u32> = registrations(&out).iter().map(|(s, _)| *s).collect();
    assert_eq!(spokes, (0..10).collect::<Vec<u32>>());
    assert_eq!(
        fleet.next_wake(t0 + Duration::from_millis(900)),
        Some(t0 + S)
    );
}

#[test]
fn answers_are_matched_by_request_id() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(2, 0.0, None, 0, 1, t0);
    let mut out = vec![];
    fleet.poll(t0, usize::MAX, &mut out);
    let sent = registrations(&out);
    // Spoke 0's answer carrying spoke 1's request ID is not spoke 0's.
    fleet.on_answer(success(0, sent[1].1), t0);
    assert_eq!(fleet.registered(), 0);
    assert_eq!(fleet.stats.late, 1);
    fleet.on_answer(success(1, sent[1].1), t0);
    assert_eq!(fleet.registered(), 1);
    // The same answer again is late.
    fleet.on_answer(success(1, sent[1].1), t0);
    assert_eq!(fleet.stats.late, 2);
    // A spoke outside the fleet is ignored.
    fleet.on_answer(success(5, 1), t0);
    assert_eq!(fleet.registered(), 1);
}

#[test]
fn unanswered_registrations_are_retried_after_1_2_4_s_with_new_ids() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(1, 0.0, None, 0, 1, t0);
    let mut out = vec![];
    fleet.poll(t0, usize::MAX, &mut out);
    let mut sent_at = vec![0];
    for ms in (100..=8000).step_by(100) {
        if fleet.poll(t0 + Duration::from_millis(ms), usize::MAX, &mut out) > 0 {
            sent_at.push(ms);
        }
    }
    assert_eq!(sent_at, [0, 1000, 3000, 7000]);
    assert_eq!(fleet.stats.retries, 3);
    let ids = registrations(&out);
    // The answer to an earlier attempt is late; to the last one counts.
    fleet.on_answer(success(0, ids[1].1), t0 + Duration::from_millis(7100));
    assert_eq!(fleet.registered(), 0);
    fleet.on_answer(success(0, ids[3].1), t0 + Duration::from_millis(7200));
    assert_eq!(fleet.registered(), 1);
    // Answered: no more retries.
    assert_eq!(
        fleet.poll(t0 + Duration::from_secs(100), usize::MAX, &mut out),
        0
    );
    assert_eq!(fleet.next_wake(t0), None);
}

#[test]
fn a_refused_registration_is_counted_and_retried_on_the_backoff() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(1, 0.0, None, 0, 1, t0);
    let mut out = vec![];
    fleet.poll(t0, usize::MAX, &mut out);
    let id = registrations(&out)[0].1;
    fleet.on_answer(
        Answer::Registration {
            spoke: 0,
            request_id: id,
            code: 5,
        },
        t0,
    );
    assert_eq!(fleet.stats.refused.get(&5), Some(&1));
    assert_eq!(fleet.registered(), 0);
    assert_eq!(
        fleet.poll(t0 + Duration::from_millis(1999), usize::MAX, &mut out),
        0
    );
    assert_eq!(fleet.poll(t0 + 2 * S, usize::MAX, &mut out), 1);
    assert_eq!(fleet.stats.retries, 0);
}

#[test]
fn refreshes_keep_the_registration_until_one_goes_unanswered() {
    let t0 = Instant::now();
    let refresh = Duration::from_secs(10);
    let mut fleet = registered(3, Some(refresh), 0, t0);
    let mut out = vec![];
    assert_eq!(fleet.poll(t0 + refresh, usize::MAX, &mut out), 3);
    assert_eq!(fleet.stats.refreshes, 3);
    // Still registered while the refresh is in flight.
    assert_eq!(fleet.registered(), 3);
    let ids = registrations(&out);
    fleet.on_answer(success(ids[0].0, ids[0].1), t0 + refresh);
    // The two others time out after 1 s: lost, and retried.
    let later = t0 + refresh + S;
    assert_eq!(fleet.poll(later, usize::MAX, &mut out), 2);
    assert_eq!(fleet.registered(), 1);
    assert_eq!(fleet.stats.lost, 2);
    assert_eq!(fleet.stats.retries, 2);
}

#[test]
fn after_a_hub_restart_the_spokes_answered_again_are_counted() {
    let t0 = Instant::now();
    let refresh = Duration::from_secs(10);
    let mut fleet = registered(2, Some(refresh), 0, t0);
    let restart = t0 + Duration::from_secs(5);
    fleet.hub_restarted(restart);
    assert_eq!(fleet.reregistered, 0);
    let mut out = vec![];
    fleet.poll(t0 + refresh, usize::MAX, &mut out);
    let ids = registrations(&out);
    fleet.on_answer(success(ids[0].0, ids[0].1), t0 + refresh);
    assert_eq!(fleet.reregistered, 1);
    // A second answer to the same spoke does not count twice.
    let mut out = vec![];
    fleet.poll(t0 + 2 * refresh, usize::MAX, &mut out);
    // The latest request of each spoke (spoke 1's refresh went unanswered
    // and is being retried).
    let latest = |spoke: u32| {
        registrations(&out)
            .into_iter()
            .rfind(|(s, _)| *s == spoke)
            .unwrap()
    };
    let again = latest(ids[0].0);
    fleet.on_answer(success(again.0, again.1), t0 + 2 * refresh);
    assert_eq!(fleet.reregistered, 1);
    let retried = latest(ids[1].0);
    fleet.on_answer(success(retried.0, retried.1), t0 + 2 * refresh);
    assert_eq!(fleet.reregistered, 2);
    assert_eq!(fleet.last_reregistration, Some(t0 + 2 * refresh));
}

#[test]
fn resolutions_start_after_convergence_and_give_up_after_3_retries() {
    let t0 = Instant::now();
    let mut fleet = registered(10, None, 4, t0);
    assert!(fleet.resolving());
    let mut out = vec![];
    assert_eq!(fleet.poll(t0, usize::MAX, &mut out), 4);
    let sent: Vec<(u32, u32, u32)> = out
        .iter()
        .filter_map(|s| match s {
            Send::Resolution {
                spoke,
                target,
                request_id,
            } => Some((*spoke, *target, *request_id)),
            Send::Registration { .. } => None,
        })
        .collect();
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|(s, t, _)| s != t && *s < 10 && *t < 10));
    for (spoke, _, request_id) in &sent[..3] {
        fleet.on_answer(
            Answer::Resolution {
                spoke: *spoke,
                request_id: *request_id,
            },
            t0,
        );
    }
    assert_eq!(fleet.stats.resolutions_answered, 3);
    // The fourth: sent again at 1, 3, 7 s to the same target, failed at 15 s.
    let mut resent = vec![];
    for s in 1..=15 {
        let mut out = vec![];
        fleet.poll(t0 + s * S, usize::MAX, &mut out);
        if let Some(Send::Resolution { target, .. }) = out.first() {
            assert_eq!(*target, sent[3].1);
            resent.push(s);
        }
    }
    assert_eq!(resent, [1, 3, 7]);
    assert_eq!(fleet.stats.resolutions_failed, 1);
    assert!(!fleet.resolving());
}
