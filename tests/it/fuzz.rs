//! A generated corpus of bad inputs and corrupted answers, from fixed seeds (so a failure
//! repeats exactly): config files, catalogs and state files with one value changed, and API
//! answers with one value changed by the fake (`FaultKind::Mutated`). Every case must keep the
//! invariants in [`check`]: no panic, the token never printed, no RECORD that breaks its SCHEMA
//! or lacks its key, and a failure that is one line naming what is wrong. Answers also keep
//! "nothing lost": a run that succeeds has emitted every record of the workspace, but for one
//! whose own answer was changed.

use std::collections::HashMap;

use fake_intercom::mutate::one_change;
use fake_intercom::{FakeIntercom, Fault, FaultKind, Rng};
use serde_json::{Value, json};

use crate::support::{Run, TOKEN, Tap, fake, fake_with, ids, meltano_catalog, test_options, world_ids};

/// Cases per input kind; each is one run of the binary (about 0.1 s).
const CASES: u64 = 60;

/// The streams of the corpus' syncs: one of each paging style that is quick on the small fake.
const STREAMS: &[&str] = &[
    "admins",
    "tags",
    "contacts",
    "companies",
    "conversations",
    "conversation_parts",
];

/// What every run must keep, whatever its input.
fn check(out: &Run, case: &str) {
    assert!(
        matches!(out.code, Some(0..=2)),
        "{case}: exit {:?} (a panic or a signal):\n{}",
        out.code,
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{case}:\n{}", out.stderr);
    assert!(
        !out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN),
        "{case}: the token was printed"
    );
    if out.code != Some(0) {
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("CRITICAL"),
            "{case}: the last line says what failed:\n{}",
            out.stderr
        );
        assert!(
            last.len() < 2_000,
            "{case}: the failure line is cut short: {} bytes",
            last.len()
        );
    }
    records_keep_their_schema_and_key(out, case);
}

fn records_keep_their_schema_and_key(out: &Run, case: &str) {
    let mut streams: HashMap<String, (jsonschema::Validator, Vec<String>)> = HashMap::new();
    for line in out.stdout.lines() {
        let msg: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {line}"));
        match msg["type"].as_str() {
            Some("SCHEMA") => {
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&msg["schema"])
                    .unwrap_or_else(|e| panic!("{case}: invalid schema: {e}"));
                let key = msg["key_properties"]
                    .as_array()
                    .map(|k| k.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                streams.insert(msg["stream"].as_str().unwrap_or_default().to_owned(), (validator, key));
            }
            Some("RECORD") => {
                let stream = msg["stream"].as_str().unwrap_or_default();
                let (validator, key) = streams
                    .get(stream)
                    .unwrap_or_else(|| panic!("{case}: RECORD of {stream} before its SCHEMA"));
                let record = &msg["record"];
                if let Err(err) = validator.validate(record) {
                    panic!("{case}: {stream} record breaks its schema: {err}\n{record}");
                }
                for k in key {
                    assert!(
                        !record[k].is_null(),
                        "{case}: {stream} record without its key {k}: {record}"
                    );
                }
            }
            _ => {}
        }
    }
}

/// A failure of bad input: exit 2 and a line for each problem (one, but for a config with
/// several bad settings), each naming the file or the setting.
fn refused_with_one_line(out: &Run, case: &str, names: &[&str]) {
    if out.code == Some(2) {
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.contains("WARNING")).collect();
        assert!(!lines.is_empty(), "{case}: a line says why:\n{}", out.stderr);
        for line in &lines {
            assert!(line.contains("CRITICAL"), "{case}: {line}");
            assert!(
                names.iter().any(|n| line.contains(n)),
                "{case}: the line names one of {names:?}: {line}"
            );
        }
        if !names.contains(&"access_token") {
            assert_eq!(lines.len(), 1, "{case}: one line:\n{}", out.stderr);
        }
    }
}

/// Values that a hand-written or generated input might hold where it should not.
fn odd_value(rng: &mut Rng) -> Value {
    let long = "x".repeat(100_000);
    let values = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!(" "),
        json!("3"),
        json!("lots"),
        json!("yesterday"),
        json!("2024-01-01"),
        json!("2024-13-45T99:00:00Z"),
        json!("\u{0}\r\n"),
        json!("☃ ünïcödé"),
        json!(long),
        json!([]),
        json!([1, 2]),
        json!({}),
        json!({"a": 1}),
        json!("http://127.0.0.1:1"),
        json!("https://user:pw@127.0.0.1"),
        json!("http://127.0.0.1:1\t/intercom"),
        json!("http://127.0.0.1:99999"),
    ];
    rng.pick(&values).clone()
}

fn quick_config(fake: &FakeIntercom) -> Value {
    json!({
        "access_token": TOKEN,
        "base_url": fake.url(),
        "start_date": "2020-01-01T00:00:00Z",
        "retry_initial_delay": 0.01,
        "max_retries": 1,
        "request_timeout": 10,
    })
}

#[test]
fn configs_with_odd_values_keep_the_invariants() {
    let fake = fake();
    let catalog = meltano_catalog(&["admins", "tags"], &[]);
    // Every setting the tap knows (the same list `--about` shows) and one it does not.
    let keys: Vec<&str> = tap_intercom::config::SETTING_NAMES
        .iter()
        .copied()
        .chain(["no_such_setting"])
        .collect();
    let mut rng = Rng::new(10);
    for n in 0..CASES {
        let mut config = quick_config(&fake);
        let mut changed = Vec::new();
        for _ in 0..=rng.below(2) {
            let key = *rng.pick(&keys);
            let value = odd_value(&mut rng);
            // Never an address beyond loopback: a base_url is only ever a loopback one or not
            // a URL, and the region alone is never used (base_url stays).
            if key == "base_url"
                && value
                    .as_str()
                    .is_some_and(|s| s.contains("://") && !s.contains("127.0.0.1"))
            {
                continue;
            }
            changed.push(format!(
                "{key}={}",
                value.to_string().chars().take(40).collect::<String>()
            ));
            config[key] = value;
        }
        let case = format!("config case {n} ({})", changed.join(", "));
        let out = Tap::new().config(config).catalog(catalog.clone()).run();
        check(&out, &case);
        refused_with_one_line(&out, &case, &keys);
    }
}

#[test]
fn catalogs_with_one_value_changed_keep_the_invariants() {
    let fake = fake();
    let mut base = meltano_catalog(&["admins", "tags", "contacts"], &[]);
    base["streams"]
        .as_array_mut()
        .unwrap()
        .retain(|s| ["admins", "tags", "contacts", "teams"].contains(&s["tap_stream_id"].as_str().unwrap()));
    for seed in 0..CASES {
        let mut catalog = base.clone();
        let at = one_change(&mut catalog, 1_000 + seed);
        let case = format!("catalog case {seed} (changed {at})");
        let out = Tap::new().config(quick_config(&fake)).catalog(catalog).run();
        check(&out, &case);
        refused_with_one_line(&out, &case, &["catalog file"]);
    }
}

#[test]
fn states_with_one_value_changed_keep_the_invariants() {
    let fake = fake();
    let catalog = meltano_catalog(&["admins", "contacts", "conversations"], &[]);
    let base = json!({
        "bookmarks": {
            "contacts": {"updated_at": "2024-01-01T00:00:00Z", "done_ranges": [["2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"]]},
            "conversations": "2023-06-01T00:00:00Z",
            "admins": {}
        },
        "currently_syncing": "contacts"
    });
    for seed in 0..CASES {
        let mut state = base.clone();
        let at = one_change(&mut state, 2_000 + seed);
        let case = format!("state case {seed} (changed {at})");
        let out = Tap::new()
            .config(quick_config(&fake))
            .catalog(catalog.clone())
            .state(state)
            .run();
        check(&out, &case);
        refused_with_one_line(&out, &case, &["state file"]);
    }
}

#[test]
fn answers_with_one_value_changed_keep_the_invariants_and_lose_nothing() {
    // Each endpoint with how many of its answers a sync of the small fake asks for at least.
    let endpoints = [
        ("/me", 1),
        ("/admins", 1),
        ("/tags", 1),
        ("/contacts/search", 2),
        ("/companies/scroll", 2),
        ("/conversations/search", 1),
        ("/conversations/", 20),
    ];
    let catalog = meltano_catalog(STREAMS, &[]);
    let mut rng = Rng::new(30);
    let (mut changed, mut failed) = (0, 0);
    for seed in 0..CASES {
        // A scroll left open (by a restart) expires in a second, not a minute.
        let fake = fake_with(
            fake_intercom::World::generate(1, fake_intercom::Size::small()),
            fake_intercom::Options {
                scroll_expiry: std::time::Duration::from_secs(1),
                ..test_options()
            },
        );
        let (endpoint, answers) = *rng.pick(&endpoints);
        let skip = usize::try_from(rng.below(answers)).unwrap_or(0);
        fake.add_fault(Fault::new(endpoint, FaultKind::Mutated(3_000 + seed)).skip(skip));
        // Now and then, an answer of a shape the descriptions allow as well.
        if rng.chance(25) {
            let shape = *rng.pick(&[
                FaultKind::NullItem,
                FaultKind::NullCursor,
                FaultKind::IgnoreFilter,
                FaultKind::RepeatPage,
            ]);
            let (other, _) = *rng.pick(&endpoints);
            fake.add_fault(Fault::new(other, shape).times(3));
        }
        let out = Tap::against(&fake)
            .set("start_date", Value::Null)
            .set("max_retries", json!(1))
            .catalog(catalog.clone())
            .run();
        let mutations = fake.mutations();
        let case = format!("answer case {seed} ({endpoint}, changed {mutations:?})");
        check(&out, &case);
        no_bookmark_passes_an_unemitted_record(&fake, &out, &case, &mutations);
        // A failure costs the streams it names: those the summary reports done lose nothing.
        nothing_lost(&fake, &out, &case, &mutations);
        if out.code != Some(0) {
            failed += 1;
        }
        changed += u64::from(!mutations.is_empty());
    }
    eprintln!("answers: {changed} of {CASES} cases changed an answer; {failed} runs failed with a clear line");
    assert!(
        changed * 3 >= CASES * 2,
        "most cases must change an answer: {changed} of {CASES}"
    );
}

/// Whether a change went to one item or inside it (`/data/3`, `/data/3/...`): that item may
/// be lost (its id changed, a value that puts it out of range, the item made null); nothing
/// else may go.
fn one_item_changed(mutations: &[(String, String)]) -> bool {
    mutations.iter().any(|(_, at)| {
        let pointer = at.split(" (").next().unwrap_or_default();
        pointer
            .split('/')
            .nth(2)
            .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Whether the run ended or failed, the last bookmark it saved for a search stream is below
/// every record of the workspace it did not emit (but one whose own answer was changed).
fn no_bookmark_passes_an_unemitted_record(fake: &FakeIntercom, out: &Run, case: &str, mutations: &[(String, String)]) {
    let world = fake.world().clone();
    let Some(state) = out.states().last().copied() else {
        return;
    };
    for (stream, records) in [("contacts", &world.contacts), ("conversations", &world.conversations)] {
        let Some(mark) = state["bookmarks"][stream]["updated_at"].as_str() else {
            continue;
        };
        let mark =
            chrono::DateTime::parse_from_rfc3339(mark).unwrap_or_else(|e| panic!("{case}: bookmark {mark}: {e}"));
        let emitted = ids(out, stream);
        let passed: Vec<String> = records
            .iter()
            .filter(|r| r["updated_at"].as_i64().is_some_and(|t| t < mark.timestamp()))
            .map(|r| crate::support::id_string(&r["id"]))
            .filter(|id| !emitted.contains(id))
            .collect();
        assert!(
            passed.is_empty() || (passed.len() == 1 && one_item_changed(mutations)),
            "{case}: the {stream} bookmark {mark} passed records never emitted: {passed:?}"
        );
    }
}

/// Every stream the run reports done emitted every record of the workspace, but for the record
/// whose own answer was changed (its id, or a value that put it out of range): a run that
/// failed failed for the streams it names, and the others ran to their end.
fn nothing_lost(fake: &FakeIntercom, out: &Run, case: &str, mutations: &[(String, String)]) {
    let world = fake.world().clone();
    let of = |items: &[Value]| items.iter().map(|i| crate::support::id_string(&i["id"])).collect();
    let done = crate::support::ok_streams(out);
    for &stream in STREAMS.iter().filter(|s| done.contains(**s)) {
        let expected: std::collections::BTreeSet<String> = match stream {
            "admins" => of(&world.admins),
            "tags" => of(&world.tags),
            other => world_ids(&world, other),
        };
        let missing: Vec<String> = expected.difference(&ids(out, stream)).cloned().collect();
        assert!(
            missing.is_empty() || (missing.len() == 1 && one_item_changed(mutations)),
            "{case}: {stream} lost {missing:?} and the run said it succeeded"
        );
    }
}
