//! Commit, validation, providers, rollback, confirmed commit, persistence.

mod common;

use std::fs;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Calls, HUB, Recorder, SPOKE, TUN0, TempDir, calls};
use northbound::{Config, Error, Format, LoadMode, ManualClock, Northbound, Operation};

fn commit_json(nb: &mut Northbound, json: &str, comment: &str) -> Result<Option<u64>, Error> {
    let mut candidate = nb.candidate();
    candidate.load(json, Format::Json, LoadMode::Replace)?;
    nb.commit(&mut candidate, comment, None)
}

fn clock() -> ManualClock {
    ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

trait Now {
    fn now_for_test(&self) -> SystemTime;
}

impl Now for ManualClock {
    fn now_for_test(&self) -> SystemTime {
        northbound::Clock::now(self)
    }
}

#[test]
fn json_round_trip() {
    let dir = TempDir::new("json-round-trip");
    let mut nb = Northbound::open(dir.path()).expect("open");
    assert_eq!(
        commit_json(&mut nb, SPOKE, "spoke").expect("commit"),
        Some(1)
    );

    let exported = nb.running().print(Format::Json).expect("print");
    assert_eq!(exported, nb.running_json());
    let reparsed = Config::parse(&exported, Format::Json).expect("reparse");
    assert_eq!(reparsed.print(Format::Json).expect("print"), exported);
    // Every value made it, defaults included.
    let nhrp = format!("{TUN0}/dmvpn-nhrp:nhrp");
    assert_eq!(
        reparsed.value(&format!("{nhrp}/holding-time")).as_deref(),
        Some("600")
    );
    assert_eq!(
        reparsed.value(&format!("{nhrp}/authentication")).as_deref(),
        Some("DMVPN")
    );
    assert_eq!(
        reparsed
            .value(&format!("{nhrp}/nhs[protocol-address='10.0.0.1']/cluster"))
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        reparsed
            .value(&format!("{nhrp}/max-registrations"))
            .as_deref(),
        Some("10000")
    );
    assert_eq!(
        reparsed
            .value(&format!("{TUN0}/dmvpn-tunnel:tunnel/data-plane"))
            .as_deref(),
        Some("kernel")
    );
    // The persisted file is the export.
    let file = fs::read_to_string(dir.path().join("running.json")).expect("read");
    assert_eq!(file, exported);
}

#[test]
fn xml_round_trip() {
    let dir = TempDir::new("xml-round-trip");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, SPOKE, "spoke").expect("commit");
    let xml = nb.running().print(Format::Xml).expect("xml");
    assert!(xml.contains("<network-id>1</network-id>"), "{xml}");

    // Committing the XML elsewhere gives the same running, byte for byte.
    let other_dir = TempDir::new("xml-round-trip-other");
    let mut other = Northbound::open(other_dir.path()).expect("open");
    let mut candidate = other.candidate();
    candidate
        .load(&xml, Format::Xml, LoadMode::Replace)
        .expect("load xml");
    assert_eq!(
        other
            .commit(&mut candidate, "from xml", None)
            .expect("commit"),
        Some(1)
    );
    assert_eq!(other.running_json(), nb.running_json());
    assert_eq!(other.running().print(Format::Xml).expect("xml"), xml);
}

#[test]
fn invalid_configs_are_rejected_with_their_path_and_running_stays_byte_identical() {
    let dir = TempDir::new("invalid");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, SPOKE, "spoke").expect("commit");
    let running_file = dir.path().join("running.json");
    let before = fs::read(&running_file).expect("read");

    // (name, config, a piece of the path the error must name, or None
    // where libyang has no path: syntax errors)
    let cases: &[(&str, String, Option<&str>)] = &[
        (
            "out of range",
            SPOKE.replace("\"holding-time\": 600", "\"holding-time\": 0"),
            Some("holding-time"),
        ),
        (
            "string too long",
            SPOKE.replace("\"DMVPN\"", "\"123456789\""),
            Some("authentication"),
        ),
        (
            "wrong type",
            SPOKE.replace("\"gre-key\": 42", "\"gre-key\": \"forty-two\""),
            Some("gre-key"),
        ),
        (
            "bad address",
            SPOKE.replace("\"192.0.2.2\"", "\"192.0.2.300\""),
            Some("source-address"),
        ),
        (
            "unknown node",
            SPOKE.replace("\"shortcut\": true", "\"shortcut\": true, \"bogus\": 1"),
            Some("dmvpn-nhrp:nhrp"),
        ),
        (
            "missing mandatory",
            SPOKE.replace("\"network-id\": 1,", ""),
            Some("dmvpn-nhrp:nhrp"),
        ),
        (
            "must violated",
            SPOKE.replace(
                "\"registration-interval\": 200",
                "\"registration-interval\": 900",
            ),
            Some("registration-interval"),
        ),
        (
            "state data in config",
            SPOKE.replace(
                "\"shortcut\": true",
                "\"shortcut\": true, \"nhs-state\": [{\"protocol-address\": \"10.0.0.1\"}]",
            ),
            Some("nhs-state"),
        ),
        (
            "bad leafref",
            SPOKE.replace(
                "\"source-address\": \"192.0.2.2\"",
                "\"source-interface\": \"eth9\"",
            ),
            Some("source-interface"),
        ),
        (
            "malformed JSON",
            SPOKE.replace("\"network-id\": 1,", "\"network-id\": 1,,"),
            None,
        ),
    ];
    for (name, config, path) in cases {
        let error = commit_json(&mut nb, config, name).expect_err(name);
        let text = error.to_string();
        match path {
            Some(path) => {
                let reported = error.path().unwrap_or_default();
                assert!(reported.contains(path), "{name}: {reported:?} in {text}");
                assert!(
                    text.starts_with('/'),
                    "{name}: path leads the message: {text}"
                );
            }
            None => assert!(matches!(error, Error::Yang { .. }), "{name}: {error:?}"),
        }
        assert_eq!(fs::read(&running_file).expect("read"), before, "{name}");
        assert_eq!(nb.last_id(), 1, "{name}");
    }
    let reopened = Northbound::open(dir.path()).expect("reopen");
    assert_eq!(reopened.transactions().len(), 1);
}

#[test]
fn a_refusing_provider_aborts_the_transaction_everywhere() {
    let dir = TempDir::new("refuse");
    let mut nb = Northbound::open(dir.path()).expect("open");
    let log = Calls::default();
    let a = Recorder::new("a", false, &log);
    let a_applied = Arc::clone(&a.applied);
    nb.register(Box::new(a)).expect("register");
    commit_json(&mut nb, HUB, "hub").expect("commit");
    // A provider that refuses the running configuration is not registered.
    nb.register(Box::new(Recorder::new("b", true, &log)))
        .expect_err("b refuses the running config");
    let running_file = dir.path().join("running.json");
    let before = fs::read(&running_file).expect("read");
    let applied_before = a_applied.lock().expect("lock").len();
    log.lock().expect("lock").clear();

    // a, b (refuses), c on a northbound whose running is empty, so that
    // registering has nothing to prepare.
    let fresh_dir = TempDir::new("refuse-fresh");
    let mut fresh = Northbound::open(fresh_dir.path()).expect("open");
    fresh
        .register(Box::new(Recorder::new("a", false, &log)))
        .expect("register");
    fresh
        .register(Box::new(Recorder::new("b", true, &log)))
        .expect("nothing to prepare yet");
    fresh
        .register(Box::new(Recorder::new("c", false, &log)))
        .expect("register");
    assert!(calls(&log).is_empty());
    let error = commit_json(&mut fresh, SPOKE, "refused").expect_err("refused");
    match &error {
        Error::Refused {
            provider,
            path,
            reason,
        } => {
            assert_eq!(provider, "b");
            assert!(
                path.as_deref()
                    .unwrap_or_default()
                    .starts_with("/ietf-interfaces:")
            );
            assert_eq!(reason, "no such resource");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("b refused the configuration: /ietf-interfaces:")
    );
    // a prepared and is aborted; b cleans up itself; c is never asked;
    // nobody applies.
    assert_eq!(calls(&log), ["a prepare", "b prepare", "a abort"]);
    assert_eq!(fresh.last_id(), 0);
    assert_eq!(fresh.running_json(), "{}\n");
    assert!(!fresh_dir.path().join("running.json").exists());
    assert!(fresh.transactions().is_empty());

    // The first northbound saw none of it.
    assert_eq!(fs::read(&running_file).expect("read"), before);
    assert_eq!(a_applied.lock().expect("lock").len(), applied_before);
}

#[test]
fn providers_get_the_changes_and_a_new_provider_the_running_config() {
    let dir = TempDir::new("changes");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, HUB, "hub").expect("commit");

    let log = Calls::default();
    let late = Recorder::new("late", false, &log);
    let applied = Arc::clone(&late.applied);
    nb.register(Box::new(late)).expect("register");
    let network_id = format!("{TUN0}/dmvpn-nhrp:nhrp/network-id");
    {
        let applied = applied.lock().expect("lock");
        assert!(applied.iter().all(|c| c.operation == Operation::Create));
        let change = applied
            .iter()
            .find(|c| c.path == network_id)
            .expect("network-id");
        assert_eq!(change.value.as_deref(), Some("1"));
        assert_eq!(
            change.schema_path,
            "/ietf-interfaces:interfaces/interface/dmvpn-nhrp:nhrp/network-id"
        );
        applied
            .iter()
            .find(|c| c.path.ends_with("holding-time"))
            .expect("defaults too");
    }
    applied.lock().expect("lock").clear();

    let mut candidate = nb.candidate();
    candidate
        .set(&format!("{TUN0}/dmvpn-nhrp:nhrp/holding-time"), Some("300"))
        .expect("set");
    candidate
        .delete(&format!("{TUN0}/dmvpn-nhrp:nhrp/redirect"))
        .expect("delete");
    let preview = nb.changes(&candidate).expect("changes");
    assert_eq!(
        nb.commit(&mut candidate, "holding time", None)
            .expect("commit"),
        Some(2)
    );
    let applied = applied.lock().expect("lock").clone();
    assert_eq!(applied, preview);
    let holding = applied
        .iter()
        .find(|c| c.path.ends_with("holding-time"))
        .expect("holding");
    assert_eq!(
        (holding.operation, holding.value.as_deref()),
        (Operation::Modify, Some("300"))
    );
    // Back to the default: a modify to the default value.
    let redirect = applied
        .iter()
        .find(|c| c.path.ends_with("redirect"))
        .expect("redirect");
    assert_eq!(
        (redirect.operation, redirect.value.as_deref()),
        (Operation::Modify, Some("false"))
    );
    assert_eq!(nb.transaction(2).expect("record").changes, applied);
    assert_eq!(
        calls(&log),
        ["late prepare", "late apply", "late prepare", "late apply"]
    );

    // The candidate moved on with running: it can commit again.
    candidate
        .set(&format!("{TUN0}/dmvpn-nhrp:nhrp/mtu"), Some("1300"))
        .expect("set");
    assert_eq!(
        nb.commit(&mut candidate, "mtu", None).expect("commit"),
        Some(3)
    );
    // Committing the same thing again changes nothing.
    assert_eq!(
        nb.commit(&mut candidate, "again", None).expect("commit"),
        None
    );
}

#[test]
fn an_outdated_candidate_is_refused() {
    let dir = TempDir::new("outdated");
    let mut nb = Northbound::open(dir.path()).expect("open");
    let mut first = nb.candidate();
    let mut second = nb.candidate();
    first
        .load(HUB, Format::Json, LoadMode::Replace)
        .expect("load");
    second
        .load(SPOKE, Format::Json, LoadMode::Replace)
        .expect("load");
    nb.commit(&mut first, "hub", None).expect("commit");
    let error = nb.commit(&mut second, "spoke", None).expect_err("outdated");
    assert!(
        matches!(
            error,
            Error::Outdated {
                base: 0,
                running: 1
            }
        ),
        "{error:?}"
    );
}

#[test]
fn merge_adds_to_the_candidate_and_validate_checks_it_whole() {
    let dir = TempDir::new("merge");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, HUB, "hub").expect("commit");
    let mut candidate = nb.candidate();
    let tun1 = r#"{"ietf-interfaces:interfaces": {"interface": [{"name": "tun1",
        "type": "dmvpn-tunnel:mgre", "dmvpn-nhrp:nhrp": {"network-id": 2}}]}}"#;
    candidate
        .load(tun1, Format::Json, LoadMode::Merge)
        .expect("merge");
    // tun1 has no tunnel source: a whole-datastore check.
    let error = candidate.validate().expect_err("mandatory");
    assert!(error.path().unwrap_or_default().contains("tun1"), "{error}");
    candidate
        .set(
            "/ietf-interfaces:interfaces/interface[name='tun1']/dmvpn-tunnel:tunnel/source-address",
            Some("192.0.2.1"),
        )
        .expect("set");
    candidate.validate().expect("valid");
    nb.commit(&mut candidate, "tun1", None).expect("commit");
    assert!(nb.running_json().contains("\"tun0\"") && nb.running_json().contains("\"tun1\""));
}

#[test]
fn rollback_by_id_restores_an_earlier_config_exactly() {
    let dir = TempDir::new("rollback");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, SPOKE, "spoke").expect("commit");
    let spoke = nb.running_json().to_owned();
    commit_json(&mut nb, HUB, "hub").expect("commit");
    let mut candidate = nb.candidate();
    candidate
        .set(&format!("{TUN0}/dmvpn-nhrp:nhrp/holding-time"), Some("60"))
        .expect("set");
    nb.commit(&mut candidate, "short", None).expect("commit");

    assert_eq!(nb.rollback(1, "").expect("rollback"), Some(4));
    assert_eq!(nb.running_json(), spoke);
    assert_eq!(
        fs::read_to_string(dir.path().join("running.json")).expect("read"),
        spoke
    );
    let record = nb.transaction(4).expect("record");
    assert_eq!(record.comment, "rollback to 1");
    assert_eq!(record.config, spoke);
    assert!(matches!(
        nb.rollback(99, ""),
        Err(Error::UnknownTransaction(99))
    ));
}

#[test]
fn confirmed_commit_rolls_back_unless_confirmed() {
    let dir = TempDir::new("confirmed");
    let clock = clock();
    let mut nb = Northbound::open_with_clock(dir.path(), Box::new(clock.clone())).expect("open");
    let log = Calls::default();
    nb.register(Box::new(Recorder::new("p", false, &log)))
        .expect("register");
    commit_json(&mut nb, HUB, "hub").expect("commit");
    let hub = nb.running_json().to_owned();

    let mut candidate = nb.candidate();
    candidate
        .load(SPOKE, Format::Json, LoadMode::Replace)
        .expect("load");
    let timeout = Duration::from_secs(60);
    assert_eq!(
        nb.commit(&mut candidate, "try spoke", Some(timeout))
            .expect("commit"),
        Some(2)
    );
    let spoke = nb.running_json().to_owned();
    assert_eq!(nb.next_deadline(), Some(clock.now_for_test() + timeout));

    clock.advance(Duration::from_secs(59));
    assert_eq!(nb.tick().expect("tick"), None);
    assert_eq!(nb.running_json(), spoke);
    clock.advance(Duration::from_secs(1));
    log.lock().expect("lock").clear();
    assert_eq!(nb.tick().expect("tick"), Some(3));
    assert_eq!(nb.running_json(), hub);
    assert_eq!(
        fs::read_to_string(dir.path().join("running.json")).expect("read"),
        hub
    );
    assert!(
        nb.transaction(3)
            .expect("record")
            .comment
            .contains("confirmed commit 2")
    );
    assert_eq!(calls(&log), ["p prepare", "p apply"]);
    assert_eq!(nb.next_deadline(), None);
    assert_eq!(nb.tick().expect("tick"), None);
    assert!(!dir.path().join("confirm.json").exists());

    // Confirmed in time: stays.
    let mut candidate = nb.candidate();
    candidate
        .load(SPOKE, Format::Json, LoadMode::Replace)
        .expect("load");
    nb.commit(&mut candidate, "spoke again", Some(timeout))
        .expect("commit");
    clock.advance(Duration::from_secs(30));
    nb.confirm().expect("confirm");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(nb.tick().expect("tick"), None);
    assert_eq!(nb.running_json(), spoke);
    assert!(matches!(nb.confirm(), Err(Error::NothingToConfirm)));

    // A confirmed commit without changes extends the wait.
    let mut candidate = nb.candidate();
    candidate
        .set(&format!("{TUN0}/dmvpn-nhrp:nhrp/mtu"), Some("1300"))
        .expect("set");
    let id = nb
        .commit(&mut candidate, "mtu", Some(timeout))
        .expect("commit");
    clock.advance(Duration::from_secs(50));
    let again = nb.commit(&mut candidate, "extend", Some(timeout));
    assert_eq!(again.expect("commit"), None);
    clock.advance(Duration::from_secs(50));
    assert_eq!(nb.tick().expect("tick"), None);
    clock.advance(Duration::from_secs(11));
    let rollback = nb.tick().expect("tick").expect("rolled back");
    assert_eq!(nb.running_json(), spoke);
    let comment = &nb.transaction(rollback).expect("record").comment;
    assert!(
        comment.contains(&format!("commit {}", id.expect("id"))),
        "{comment}"
    );
}

#[test]
fn a_waiting_confirmed_commit_survives_a_restart_and_still_rolls_back() {
    let dir = TempDir::new("confirmed-restart");
    let clock = clock();
    let mut nb = Northbound::open_with_clock(dir.path(), Box::new(clock.clone())).expect("open");
    commit_json(&mut nb, HUB, "hub").expect("commit");
    let hub = nb.running_json().to_owned();
    let mut candidate = nb.candidate();
    candidate
        .load(SPOKE, Format::Json, LoadMode::Replace)
        .expect("load");
    nb.commit(&mut candidate, "try", Some(Duration::from_secs(10)))
        .expect("commit");
    // A second confirmed commit on top restores what was before the first.
    let mut candidate = nb.candidate();
    candidate
        .set(&format!("{TUN0}/dmvpn-nhrp:nhrp/mtu"), Some("1300"))
        .expect("set");
    nb.commit(&mut candidate, "try more", Some(Duration::from_secs(10)))
        .expect("commit");
    drop(nb);

    let mut nb = Northbound::open_with_clock(dir.path(), Box::new(clock.clone())).expect("reopen");
    assert!(nb.next_deadline().is_some());
    clock.advance(Duration::from_secs(11));
    assert_eq!(nb.tick().expect("tick"), Some(4));
    assert_eq!(nb.running_json(), hub);
}

#[test]
fn a_tunnel_source_interface_must_be_a_configured_interface() {
    let dir = TempDir::new("source-interface");
    let mut nb = Northbound::open(dir.path()).expect("open");
    let by_interface = SPOKE.replace(
        "\"source-address\": \"192.0.2.2\"",
        "\"source-interface\": \"eth0\"",
    );
    let error = commit_json(&mut nb, &by_interface, "dangling").expect_err("leafref");
    assert!(
        error
            .path()
            .unwrap_or_default()
            .contains("source-interface"),
        "{error}"
    );
    let with_eth0 = by_interface.replace(
        "\"interface\": [",
        "\"interface\": [{\"name\": \"eth0\", \"type\": \"iana-if-type:ethernetCsmacd\"},",
    );
    assert_eq!(
        commit_json(&mut nb, &with_eth0, "by interface").expect("commit"),
        Some(1)
    );
    let value = nb
        .running()
        .value(&format!("{TUN0}/dmvpn-tunnel:tunnel/source-interface"));
    assert_eq!(value.as_deref(), Some("eth0"));
}

#[test]
fn the_log_keeps_the_newest_transactions_and_ids_go_on() {
    let dir = TempDir::new("prune");
    let mut nb = Northbound::open(dir.path()).expect("open");
    for round in 0..3 {
        commit_json(&mut nb, SPOKE, &format!("spoke {round}")).expect("commit");
        commit_json(&mut nb, HUB, &format!("hub {round}")).expect("commit");
    }
    assert_eq!(nb.transactions().len(), 6);
    nb.set_max_transactions(4).expect("prune");
    let ids: Vec<u64> = nb.transactions().iter().map(|r| r.id).collect();
    assert_eq!(ids, [3, 4, 5, 6]);
    commit_json(&mut nb, SPOKE, "after pruning").expect("commit");
    let ids: Vec<u64> = nb.transactions().iter().map(|r| r.id).collect();
    assert_eq!(ids, [4, 5, 6, 7], "the oldest goes, the id goes on");
    assert!(nb.rollback(1, "").is_err(), "a pruned id is gone");
    // The pruned records are gone from the disk too.
    drop(nb);
    let nb = Northbound::open(dir.path()).expect("reopen");
    let ids: Vec<u64> = nb.transactions().iter().map(|r| r.id).collect();
    assert_eq!(ids, [4, 5, 6, 7]);
    assert_eq!(nb.transaction(7).expect("last").comment, "after pruning");
}

#[test]
fn reopening_the_state_dir_gives_the_same_running_and_log() {
    let dir = TempDir::new("reopen");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, SPOKE, "spoke").expect("commit");
    commit_json(&mut nb, HUB, "hub").expect("commit");
    let running = nb.running_json().to_owned();
    let log = nb.transactions().to_vec();
    drop(nb);

    let nb = Northbound::open(dir.path()).expect("reopen");
    assert_eq!(nb.running_json(), running);
    assert_eq!(nb.transactions(), log.as_slice());
    assert_eq!(
        nb.running(),
        &Config::parse(&running, Format::Json).expect("parse")
    );
    assert_eq!(log[0].comment, "spoke");
    assert!(log[1].time >= log[0].time && log[0].time > 1_600_000_000);
}

#[test]
fn a_torn_write_is_ignored_on_load() {
    let dir = TempDir::new("torn");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, SPOKE, "spoke").expect("commit");
    let running = nb.running_json().to_owned();
    drop(nb);

    // A crash in the middle of the next commit's writes.
    let temp = dir.path().join(".running.json.tmp");
    let temp_record = dir.path().join("transactions/.0000000002.json.tmp");
    fs::write(&temp, &running[..running.len() / 2]).expect("write");
    fs::write(&temp_record, "{\"id\": 2, \"ti").expect("write");

    let nb = Northbound::open(dir.path()).expect("reopen");
    assert_eq!(nb.running_json(), running);
    assert_eq!(nb.last_id(), 1);
    assert!(!temp.exists() && !temp_record.exists());
}

#[test]
fn a_record_newer_than_running_is_rolled_forward() {
    let dir = TempDir::new("roll-forward");
    let mut nb = Northbound::open(dir.path()).expect("open");
    commit_json(&mut nb, SPOKE, "spoke").expect("commit");
    let spoke = nb.running_json().to_owned();
    commit_json(&mut nb, HUB, "hub").expect("commit");
    let hub = nb.running_json().to_owned();
    drop(nb);

    // Crash after the record of commit 2, before running.json was replaced.
    fs::write(dir.path().join("running.json"), &spoke).expect("write");
    let nb = Northbound::open(dir.path()).expect("reopen");
    assert_eq!(nb.running_json(), hub);
    assert_eq!(
        fs::read_to_string(dir.path().join("running.json")).expect("read"),
        hub
    );
}

#[test]
fn a_corrupt_running_file_is_an_error_not_an_empty_config() {
    let dir = TempDir::new("corrupt");
    fs::create_dir_all(dir.path()).expect("mkdir");
    fs::write(
        dir.path().join("running.json"),
        "{\"ietf-interfaces:interfaces\": {",
    )
    .expect("write");
    let error = Northbound::open(dir.path()).expect_err("corrupt");
    assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
}

#[test]
fn the_log_names_who_committed_and_only_they_confirm_or_cancel() {
    let dir = TempDir::new("users");
    let mut nb = Northbound::open(dir.path()).expect("open");
    let mut candidate = nb.candidate();
    candidate
        .load(HUB, Format::Json, LoadMode::Replace)
        .expect("load");
    nb.commit_by(&mut candidate, "hub", None, "alice")
        .expect("commit");
    let hub = nb.running_json().to_owned();
    assert_eq!(nb.transaction(1).expect("record").user, "alice");

    let mut candidate = nb.candidate();
    candidate
        .set(&format!("{TUN0}/dmvpn-nhrp:nhrp/mtu"), Some("1300"))
        .expect("set");
    nb.commit_by(&mut candidate, "try", Some(Duration::from_secs(60)), "bob")
        .expect("commit");
    assert_eq!(nb.pending_user(), Some("bob"));

    // Alice may neither confirm Bob's commit nor commit over it.
    assert!(matches!(
        nb.confirm_by("alice"),
        Err(Error::ConfirmOwner { user }) if user == "bob"
    ));
    let mut other = nb.candidate();
    other
        .set(&format!("{TUN0}/dmvpn-nhrp:nhrp/mtu"), Some("1200"))
        .expect("set");
    assert!(matches!(
        nb.commit_by(&mut other, "over", None, "alice"),
        Err(Error::ConfirmOwner { .. })
    ));
    assert!(matches!(
        nb.cancel_by("alice"),
        Err(Error::ConfirmOwner { .. })
    ));

    // Bob cancels: running is the hub's again, recorded as his.
    let id = nb.cancel_by("bob").expect("cancel").expect("rolled back");
    assert_eq!(nb.running_json(), hub);
    let record = nb.transaction(id).expect("record");
    assert_eq!(record.user, "bob");
    assert!(record.comment.contains("cancelled"), "{}", record.comment);
    assert_eq!(nb.pending_user(), None);
    assert!(matches!(nb.cancel_by("bob"), Err(Error::NothingToConfirm)));

    // The user survives a restart; older logs read as no user.
    drop(nb);
    let nb = Northbound::open(dir.path()).expect("reopen");
    assert_eq!(nb.transaction(2).expect("record").user, "bob");
}

#[test]
fn a_top_level_container_is_deleted_whichever_comes_first() {
    let ipsec = r#""dmvpn-ipsec:ipsec": {"profile": [{"name": "p"}]}"#;
    let interfaces = &HUB.trim()[1..HUB.trim().len() - 1];
    for (first, second) in [(interfaces, ipsec), (ipsec, interfaces)] {
        let json = format!("{{{first}, {second}}}");
        for (gone, kept) in [
            ("/ietf-interfaces:interfaces", "\"dmvpn-ipsec:ipsec\""),
            ("/dmvpn-ipsec:ipsec", "\"ietf-interfaces:interfaces\""),
        ] {
            let mut config = Config::parse_unvalidated(&json, Format::Json).expect("parse");
            config.delete(gone).expect("delete");
            let text = config.print(Format::Json).expect("print");
            assert!(text.contains(kept), "{gone}: {text}");
            let gone_member = format!("\"{}\"", &gone[1..]);
            assert!(!text.contains(&gone_member), "{gone}: {text}");
            // The tree is whole: a second edit and a copy work.
            config
                .set("/dmvpn-ipsec:ipsec/profile[name='q']", None)
                .expect("set");
            assert!(
                config
                    .clone()
                    .print(Format::Json)
                    .expect("print")
                    .contains("\"q\"")
            );
        }
    }
    let mut config = Config::parse_unvalidated(HUB, Format::Json).expect("parse");
    config
        .delete("/ietf-interfaces:interfaces")
        .expect("delete");
    assert_eq!(config.print(Format::Json).expect("print"), "{}\n");
}
