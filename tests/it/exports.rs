//! The asynchronous exports: each reporting dataset and each kind of message interaction
//! exact against the fake (typed values, times from the workspace's zone to UTC, both forms of
//! each download), jobs that fail, 429s at the pending limit, `no_data` windows, a run killed
//! in a window and resumed, a custom attribute, and a large export within the memory goal.

use std::collections::BTreeMap;

use fake_intercom::FakeIntercom;
use fake_intercom::exports::{self as fake_exports, DATASETS, Truth};
use serde_json::{Value, json};
use tap_intercom::streams;

use crate::support::{Run, Tap, fake, meltano_catalog, requests_to, run_until_killed};

/// 2024-03-01T00:00:00Z to 2024-03-20T00:00:00Z: three windows of a week, across New York's
/// change to summer time on 10 March.
const FROM: i64 = 1_709_251_200;
const TO: i64 = 1_710_892_800;

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn truth(v: Option<&Truth>) -> Value {
    match v {
        None => Value::Null,
        Some(Truth::Time(t)) => json!(rfc3339(*t)),
        Some(Truth::Int(i)) => json!(i),
        Some(Truth::Num(n)) => json!(n),
        Some(Truth::Text(s)) => json!(s),
    }
}

fn tap(fake: &FakeIntercom, select: &[&str]) -> Tap {
    Tap::against(fake)
        .set("start_date", json!(rfc3339(FROM)))
        .set("end_date", json!(rfc3339(TO)))
        .set("export_poll_interval", json!(0.01))
        .set("export_lookback_days", json!(0))
        .catalog(meltano_catalog(select, &[]))
}

fn reporting_names() -> Vec<String> {
    DATASETS.iter().map(|d| format!("reporting_{}", d.id)).collect()
}

/// A record without its key hash and with its columns in order, for comparing.
fn comparable(record: &Value, drop: &[&str]) -> String {
    let mut map: BTreeMap<String, Value> = record.as_object().unwrap().clone().into_iter().collect();
    for d in drop {
        map.remove(*d);
    }
    serde_json::to_string(&map).unwrap()
}

fn sorted(records: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = records.into_iter().collect();
    v.sort();
    v
}

/// What the fake's reporting datasets hold from `from` to `to`, as records.
fn expected_reporting(dataset: &str, from: i64, to: i64) -> Vec<String> {
    let d = fake_exports::dataset(dataset).unwrap();
    sorted(fake_exports::reporting_rows(d, from, to, 4).into_iter().map(|row| {
        let map: BTreeMap<String, Value> = row
            .iter()
            .filter(|(id, _)| *id != fake_exports::CUSTOM.0)
            .map(|(id, v)| ((*id).to_owned(), truth(v.as_ref())))
            .collect();
        serde_json::to_string(&map).unwrap()
    }))
}

fn got(run: &Run, stream: &str) -> Vec<String> {
    sorted(
        run.records(stream)
            .into_iter()
            .map(|r| comparable(r, &["_sdc_record_hash"])),
    )
}

fn assert_keys_unique(run: &Run, stream: &str) {
    let key: Vec<String> = streams::find(stream)
        .unwrap()
        .key
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for r in run.records(stream) {
        let k: Vec<String> = key.iter().map(|c| r[c.as_str()].to_string()).collect();
        assert!(k.iter().all(|v| v != "null"), "{stream}: a key is null in {r}");
        assert!(seen.insert(k.clone()), "{stream}: key {k:?} twice");
    }
}

#[test]
fn every_reporting_dataset_is_read_exactly_with_typed_values_in_utc() {
    let fake = fake();
    let names = reporting_names();
    let select: Vec<&str> = names.iter().map(String::as_str).collect();
    let run = tap(&fake, &select).run();
    run.ok();
    for d in DATASETS {
        let stream = format!("reporting_{}", d.id);
        let expected = expected_reporting(d.id, FROM, TO);
        assert!(!expected.is_empty());
        assert_eq!(got(&run, &stream), expected, "{stream}");
        assert_keys_unique(&run, &stream);
        let bookmark = &run.final_state()["bookmarks"][&stream][d.time];
        assert_eq!(bookmark, &json!(rfc3339(TO)), "{stream}");
    }
    // Three windows of each dataset, each one job, each asking for the documented attributes.
    let enqueued = requests_to(&fake, "/export/reporting_data/enqueue");
    assert_eq!(enqueued.len(), 3 * DATASETS.len());
    let first = enqueued
        .iter()
        .find(|r| r.body.as_ref().unwrap()["dataset_id"] == "tickets")
        .unwrap();
    assert_eq!(first.body.as_ref().unwrap()["start_time"], json!(FROM - FROM % 86_400));
    // Nothing else was read.
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.path() == "/me" || r.path().contains("/reporting_data"))
    );
}

#[test]
fn a_row_read_again_has_the_same_key_and_gzip_and_qualified_headers_read_the_same() {
    let fake = fake();
    let select = ["reporting_conversation_sla_status_log", "reporting_conversation"];
    let first = tap(&fake, &select).run();
    first.ok();
    {
        let mut exports = fake.exports();
        exports.settings.gzip_reporting = true;
        exports.settings.qualified_headers = true;
    }
    let again = tap(&fake, &select).run();
    again.ok();
    for stream in select {
        let all = |run: &Run| sorted(run.records(stream).into_iter().map(|r| comparable(r, &[])));
        assert_eq!(all(&first), all(&again), "{stream}");
    }
}

/// The message data the fake holds from `from` to `to`, by stream, as records. With `zip`,
/// as its ZIP has them (survey answers too); else as the one-CSV form does.
fn expected_messages(from: i64, to: i64, zip: bool) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in fake_exports::receipts(from, to, 4) {
        let mut base: BTreeMap<String, Value> = r
            .columns
            .iter()
            .map(|(c, v)| {
                let value = match (*c, v.as_str()) {
                    (_, "") => Value::Null,
                    ("received_at", t) => json!(rfc3339(t.parse().unwrap())),
                    (_, v) => json!(v),
                };
                ((*c).to_owned(), value)
            })
            .collect();
        let mut receipt = base.clone();
        if zip {
            receipt.insert("conversation_id".into(), Value::Null);
            receipt.insert("created_via".into(), json!("api"));
            receipt.insert("device".into(), json!("web"));
        } else {
            for (kind, _, first) in fake_exports::KINDS.iter().filter(|(_, _, f)| !f.is_empty()) {
                let t = r.events.iter().find(|(k, _, _)| k == kind).map(|(_, t, _)| rfc3339(*t));
                receipt.insert((*first).to_owned(), t.map_or(Value::Null, Value::from));
            }
        }
        out.entry("message_receipts".into())
            .or_default()
            .push(serde_json::to_string(&receipt).unwrap());
        for (kind, t, answer) in &r.events {
            if !zip && *kind == "survey_answers" {
                continue;
            }
            let (_, column, _) = fake_exports::KINDS.iter().find(|(k, _, _)| k == kind).unwrap();
            let mut row = base.clone();
            row.insert((*column).to_owned(), json!(rfc3339(*t)));
            if let Some((q, a)) = answer {
                row.insert("question".into(), json!(q));
                row.insert("answer".into(), json!(a));
            }
            let stream = match *kind {
                "hard_bounces" => "message_bounces".to_owned(),
                k => format!("message_{k}"),
            };
            out.entry(stream)
                .or_default()
                .push(serde_json::to_string(&row).unwrap());
        }
        base.clear();
    }
    out.into_iter().map(|(k, v)| (k, sorted(v))).collect()
}

fn message_names() -> Vec<&'static str> {
    streams::ALL
        .iter()
        .filter(|s| s.name.starts_with("message_"))
        .map(|s| s.name)
        .collect()
}

#[test]
fn every_kind_of_message_interaction_is_read_exactly_from_the_zip_and_from_one_csv() {
    for zip in [true, false] {
        let fake = fake();
        fake.exports().settings.one_csv = !zip;
        let run = tap(&fake, &message_names()).run();
        run.ok();
        let expected = expected_messages(FROM, TO, zip);
        for stream in message_names() {
            let want = expected.get(stream).cloned().unwrap_or_default();
            assert_eq!(got(&run, stream), want, "{stream} (zip: {zip})");
            assert_keys_unique(&run, stream);
            assert_eq!(
                run.final_state()["bookmarks"][stream]["received_at"],
                json!(rfc3339(TO)),
                "{stream}"
            );
        }
        assert!(!zip || !expected["message_survey_answers"].is_empty());
        // One job per window for all kinds, one at a time.
        assert_eq!(requests_to(&fake, "/export/content/data").len(), 3);
    }
}

#[test]
fn one_kind_selected_reads_the_receipts_export_without_writing_them() {
    let fake = fake();
    let run = tap(&fake, &["message_opens"]).run();
    run.ok();
    assert!(run.records("message_receipts").is_empty());
    assert!(run.schema("message_receipts").is_none());
    assert_eq!(
        got(&run, "message_opens"),
        expected_messages(FROM, TO, true)["message_opens"]
    );
}

#[test]
fn not_selected_the_exports_cost_no_request() {
    let fake = fake();
    let run = tap(&fake, &["tags"]).run();
    run.ok();
    assert!(
        fake.requests()
            .iter()
            .all(|r| !r.path().contains("export") && !r.path().contains("download"))
    );
    // Nor without a catalog.
    let fake = crate::support::fake();
    Tap::against(&fake).run().ok();
    assert!(
        fake.requests()
            .iter()
            .all(|r| !r.path().contains("export") && !r.path().contains("download"))
    );
}

#[test]
fn a_failed_job_is_tried_again_and_a_job_that_keeps_failing_costs_its_stream_only() {
    let fake = fake();
    fake.exports().settings.fail.insert("tickets".into(), 1);
    fake.exports().settings.expire = 1;
    let run = tap(&fake, &["reporting_tickets"]).run();
    run.ok();
    assert_eq!(got(&run, "reporting_tickets"), expected_reporting("tickets", FROM, TO));

    let fake = crate::support::fake();
    fake.exports().settings.fail.insert("conversation".into(), 100);
    let run = tap(&fake, &["reporting_conversation", "reporting_tickets"]).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(got(&run, "reporting_tickets"), expected_reporting("tickets", FROM, TO));
    assert!(run.records("reporting_conversation").is_empty());
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("reporting_conversation") && l.contains("did not complete in 3 tries"))
        .unwrap_or_else(|| panic!("no failure line:\n{}", run.stderr));
    assert!(
        line.contains("dataset conversation from 2024-03-01T00:00:00Z to 2024-03-08T00:00:00Z"),
        "{line}"
    );
    assert!(line.contains("ended failed"), "{line}");
    assert!(!run.stderr.contains(crate::support::TOKEN) && !run.stdout.contains(crate::support::TOKEN));
    // No bookmark moved past the window that failed.
    assert!(run.final_state()["bookmarks"]["reporting_conversation"].is_null());
}

#[test]
fn a_429_at_the_pending_limit_waits_and_enqueues_again() {
    let fake = fake();
    fake.exports().settings.refuse = 3;
    let run = tap(&fake, &["reporting_tickets", "message_receipts"]).run();
    run.ok();
    assert_eq!(got(&run, "reporting_tickets"), expected_reporting("tickets", FROM, TO));
    assert_eq!(
        got(&run, "message_receipts"),
        expected_messages(FROM, TO, true)["message_receipts"]
    );
    let refused = fake.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(refused, 3);
    assert!(run.stderr.contains("too many export jobs pending"), "{}", run.stderr);
}

#[test]
fn a_window_without_data_is_empty_and_moves_the_bookmark() {
    let fake = fake();
    // Nothing before the last window.
    let last = TO - 5 * 86_400;
    fake.exports().settings.data_from = last;
    let run = tap(&fake, &["message_receipts"]).run();
    run.ok();
    let want = expected_messages(last, TO, true)["message_receipts"].clone();
    assert_eq!(got(&run, "message_receipts"), want);
    let states: Vec<Value> = run
        .states()
        .iter()
        .map(|s| s["bookmarks"]["message_receipts"]["received_at"].clone())
        .filter(|v| !v.is_null())
        .collect();
    assert!(states.len() >= 3, "a STATE after each window: {states:?}");
}

#[test]
fn a_run_killed_in_a_window_resumes_without_exporting_a_finished_window_again() {
    let fake = fake();
    let tap_for = |state: Option<Value>| {
        let t = tap(&fake, &["reporting_conversation"]).set("export_window_days", json!(1));
        match state {
            Some(s) => t.state(s),
            None => t,
        }
    };
    // Killed after two windows' STATE and a record of the third.
    let killed = run_until_killed(&tap_for(None), |messages| {
        let states = messages.iter().filter(|m| m["type"] == "STATE").count();
        states >= 2 && messages.last().is_some_and(|m| m["type"] == "RECORD")
    });
    let state = killed.messages.iter().rev().find(|m| m["type"] == "STATE").unwrap()["value"].clone();
    let mark = state["bookmarks"]["reporting_conversation"]["conversation_started_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = requests_to(&fake, "/export/reporting_data/enqueue").len();
    let resumed = tap_for(Some(state)).run();
    resumed.ok();
    let enqueued = requests_to(&fake, "/export/reporting_data/enqueue");
    let starts: Vec<i64> = enqueued[before..]
        .iter()
        .map(|r| r.body.as_ref().unwrap()["start_time"].as_i64().unwrap())
        .collect();
    let mark = chrono::DateTime::parse_from_rfc3339(&mark).unwrap().timestamp();
    assert_eq!(starts.first(), Some(&mark), "the resumed run starts at the bookmark");
    assert!(
        starts.iter().all(|s| *s >= mark),
        "no finished window again: {starts:?}"
    );
    // Together, the two runs wrote every row.
    let mut all: Vec<String> = killed
        .records("reporting_conversation")
        .into_iter()
        .chain(resumed.records("reporting_conversation"))
        .map(|r| comparable(r, &[]))
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all, expected_reporting("conversation", FROM, TO));
}

#[test]
fn a_custom_attribute_found_in_discovery_becomes_a_column() {
    let fake = fake();
    let config = json!({"access_token": crate::support::TOKEN, "base_url": fake.url()});
    let catalog = crate::support::meltano_catalog_of(config, &["reporting_conversation"], &[]);
    let entry = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tap_stream_id"] == "reporting_conversation")
        .unwrap();
    let column = &entry["schema"]["properties"][fake_exports::CUSTOM.0];
    assert_eq!(column["type"], json!(["string", "null"]));
    assert!(column["description"].as_str().unwrap().starts_with("Tier"), "{column}");
    // Without a token, the documented attributes only.
    let documented = meltano_catalog(&["reporting_conversation"], &[]);
    assert!(
        documented["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["schema"]["properties"].get(fake_exports::CUSTOM.0).is_none())
    );

    for version in ["2.14", "2.16"] {
        let run = tap(&fake, &[])
            .set("api_version", json!(version))
            .catalog(catalog.clone())
            .run();
        run.ok();
        let d = fake_exports::dataset("conversation").unwrap();
        let want: BTreeMap<String, Value> = fake_exports::reporting_rows(d, FROM, TO, 4)
            .into_iter()
            .map(|row| {
                let id = row.iter().find(|(c, _)| *c == "conversation_id").unwrap().1.clone();
                let tier = row
                    .iter()
                    .find(|(c, _)| *c == fake_exports::CUSTOM.0)
                    .unwrap()
                    .1
                    .clone();
                (truth(id.as_ref()).as_str().unwrap().to_owned(), truth(tier.as_ref()))
            })
            .collect();
        let have: BTreeMap<String, Value> = run
            .records("reporting_conversation")
            .iter()
            .map(|r| {
                (
                    r["conversation_id"].as_str().unwrap().to_owned(),
                    r[fake_exports::CUSTOM.0].clone(),
                )
            })
            .collect();
        assert_eq!(have, want, "{version}");
        assert!(
            run.schema("reporting_conversation").unwrap()["schema"]["properties"][fake_exports::CUSTOM.0].is_object()
        );
    }
}

/// The goal for the tap's peak resident memory (README: speed and size).
const MEMORY_GOAL_KB: u64 = 64 * 1024;

/// The peak resident memory of a process, as `/proc` reads it (`VmHWM`, in kB), or none once
/// it has exited.
fn high_water_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn a_large_export_is_read_within_the_memory_goal() {
    use std::io::BufRead as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const RECEIPTS: u64 = 100_000;
    let fake = fake();
    fake.exports().settings.large = Some(RECEIPTS);
    let tap = tap(&fake, &message_names())
        .set("export_window_days", json!(366))
        .set("request_timeout", json!(300));
    let log = tap.file("stderr.log", "");
    let mut child = tap
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the tap starts");
    let pid = child.id();
    let (peak, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(kb) = high_water_kb(pid) {
                    peak.fetch_max(kb, Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let mut records: BTreeMap<String, u64> = BTreeMap::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("{\"type\":\"RECORD\"") {
            let message: Value = serde_json::from_str(&line).unwrap();
            *records
                .entry(message["stream"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let status = child.wait().unwrap();
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    assert!(status.success(), "{}", std::fs::read_to_string(&log).unwrap());
    // Every row: the receipts, and each interaction of them.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    want.insert("message_receipts".into(), RECEIPTS);
    for r in fake_exports::large_receipts(FROM, TO, RECEIPTS) {
        for (kind, _, _) in &r.events {
            let stream = if *kind == "hard_bounces" {
                "message_bounces".to_owned()
            } else {
                format!("message_{kind}")
            };
            *want.entry(stream).or_default() += 1;
        }
    }
    assert_eq!(records, want);
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak > 0, "no reading of the tap's memory");
    assert!(
        peak < MEMORY_GOAL_KB,
        "peak resident memory {peak} kB, above the goal of {MEMORY_GOAL_KB} kB"
    );
    eprintln!(
        "large export: {} records, peak resident memory {peak} kB",
        want.values().sum::<u64>()
    );
}

#[test]
fn an_attribute_the_workspace_lacks_is_not_asked_for_and_its_column_stays_empty() {
    let fake = fake();
    fake.exports().settings.hidden = vec![
        "conversation_rating_sent.rating_remark".into(),
        "conversation_state.state_started_at".into(),
    ];
    let run = tap(
        &fake,
        &[
            "reporting_conversation_rating_sent",
            "reporting_conversation_state",
            "reporting_tickets",
        ],
    )
    .run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let want: Vec<String> = expected_reporting("conversation_rating_sent", FROM, TO)
        .iter()
        .map(|r| {
            let mut v: Value = serde_json::from_str(r).unwrap();
            v["rating_remark"] = Value::Null;
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    let have: Vec<String> = sorted(run.records("reporting_conversation_rating_sent").into_iter().map(|r| {
        let mut r = r.clone();
        r["rating_remark"] = r.get("rating_remark").cloned().unwrap_or(Value::Null);
        comparable(&r, &["_sdc_record_hash"])
    }));
    assert_eq!(have, sorted(want));
    assert!(
        run.stderr.contains("lists no rating_remark; those columns stay empty"),
        "{}",
        run.stderr
    );
    // Without its time attribute a dataset cannot be read in windows: its stream fails, named.
    assert!(
        run.stderr
            .contains("the workspace's dataset conversation_state has no attribute state_started_at"),
        "{}",
        run.stderr
    );
    assert_eq!(got(&run, "reporting_tickets"), expected_reporting("tickets", FROM, TO));
    assert_eq!(
        requests_to(&fake, "/export/reporting_data/get_datasets").len(),
        1,
        "read once a run"
    );
    let asked = requests_to(&fake, "/export/reporting_data/enqueue");
    assert!(
        asked.iter().all(|r| r.status == 200),
        "no job asked for what the workspace lacks"
    );
}

#[test]
fn a_job_past_its_deadline_is_canceled_and_tried_again_then_its_stream_fails() {
    let fake = fake();
    // Jobs that take far longer than the deadline.
    fake.exports().settings.polls = 100_000;
    let run = tap(&fake, &["message_receipts", "reporting_tickets"])
        .set("export_job_timeout", json!(0.3))
        .run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("did not complete before export_job_timeout"),
        "{}",
        run.stderr
    );
    // Each message data job canceled, so that the next is not refused; three tries.
    let canceled = requests_to(&fake, "/export/cancel/");
    assert_eq!(canceled.len(), 3);
    assert_eq!(requests_to(&fake, "/export/content/data").len(), 3);
    assert!(run.records("message_receipts").is_empty());
    assert!(run.final_state()["bookmarks"]["message_receipts"].is_null());
}
