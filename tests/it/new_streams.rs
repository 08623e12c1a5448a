//! The streams of every dataset a data team gets from Fivetran's Intercom connector (issue 20):
//! exact against the fake, what each costs, the API versions that have them, incremental runs,
//! and a kill and resume.

use std::collections::{BTreeMap, BTreeSet};

use fake_intercom::{Size, World};
use serde_json::{Value, json};

use crate::support::{
    Run, Tap, fake, fake_with, id_string, ids, meltano_catalog, ok_streams, requests_to, run_until_killed, test_options,
};

/// The new streams, and the version that first has each.
const NEW: &[(&str, &str)] = &[
    ("contact_segments", "2.14"),
    ("data_events", "2.14"),
    ("calls", "2.14"),
    ("call_transcripts", "2.14"),
    ("news_items", "2.14"),
    ("newsfeeds", "2.14"),
    ("article_statistics", "2.14"),
    ("away_status_reasons", "2.14"),
    ("internal_articles", "2.14"),
    ("brands", "2.15"),
    ("emails", "2.15"),
    ("conversation_handling_events", "2.15"),
    ("macros", "2.16"),
    ("office_hours_schedules", "2.16"),
    ("content_snippets", "2.16"),
];

fn names() -> Vec<&'static str> {
    NEW.iter().map(|(n, _)| *n).collect()
}

/// How many rows of `stream` a run wrote, by key (a stream's rows are not all `id`-keyed).
fn keys(run: &Run, stream: &str) -> BTreeSet<String> {
    let key: Vec<String> = run
        .schema(stream)
        .map(|s| {
            s["key_properties"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    run.records(stream)
        .iter()
        .map(|r| {
            key.iter()
                .map(|k| id_string(&r[k.as_str()]))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn list_ids(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(|i| id_string(&i["id"])).collect()
}

#[test]
fn every_new_stream_is_read_exactly_as_the_fake_holds_it() {
    let fake = fake();
    let out = Tap::against(&fake)
        .set("api_version", json!("2.16"))
        .catalog(meltano_catalog(&names(), &[]))
        .run();
    out.ok();
    let w = fake.world().clone();
    let summary = w.summary();
    for stream in names() {
        let expected = summary[stream]
            .as_u64()
            .unwrap_or_else(|| panic!("no summary for {stream}"));
        assert!(expected > 0, "{stream}: the fake has some");
        assert_eq!(
            keys(&out, stream).len() as u64,
            expected,
            "{stream}: every row, each once"
        );
        assert_eq!(out.records(stream).len() as u64, expected, "{stream}: no row twice");
    }
    for (stream, items) in [
        ("calls", &w.calls),
        ("news_items", &w.news_items),
        ("newsfeeds", &w.newsfeeds),
        ("away_status_reasons", &w.away_status_reasons),
        ("internal_articles", &w.internal_articles),
        ("brands", &w.brands),
        ("emails", &w.emails),
        ("macros", &w.macros),
        ("office_hours_schedules", &w.office_hours_schedules),
        ("content_snippets", &w.content_snippets),
    ] {
        assert_eq!(ids(&out, stream), list_ids(items), "{stream}");
    }
    // A contact's segments: one row, its ids beside the segments.
    for row in out.records("contact_segments") {
        let contact = row["contact_id"].as_str().unwrap();
        let want = w.contact_segments.get(contact).cloned().unwrap_or_default();
        let got: Vec<String> = row["segment_ids"].as_array().unwrap().iter().map(id_string).collect();
        assert_eq!(got, want, "contact {contact}");
        assert_eq!(row["segments"].as_array().unwrap().len(), want.len());
        assert!(row["contact_updated_at"].is_string());
    }
    // Handling events carry their teammate's id as a key column.
    for row in out.records("conversation_handling_events") {
        assert_eq!(id_string(&row["teammate_id"]), id_string(&row["teammate"]["id"]));
    }
    // Transcripts are the text files, whole: each call's, empty for a missed call (the first
    // row was once checked as non-empty, which held only while the rows came in one order).
    let texts: std::collections::BTreeMap<String, &str> = w
        .calls
        .iter()
        .map(|c| (id_string(&c["id"]), c["_transcript"].as_str().unwrap_or_default()))
        .collect();
    let rows = out.records("call_transcripts");
    assert!(
        rows.iter()
            .any(|r| r["transcript"].as_str().is_some_and(|t| !t.is_empty()))
    );
    for row in rows {
        let call = id_string(&row["call_id"]);
        assert_eq!(row["transcript"].as_str(), texts.get(&call).copied(), "call {call}");
    }
    // Statistics: one row per article, stamped with the sync's start.
    let stats = out.records("article_statistics");
    let stamps: BTreeSet<&str> = stats.iter().map(|s| s["snapshot_at"].as_str().unwrap()).collect();
    assert_eq!(stamps.len(), 1);
    assert_eq!(stats.len(), w.articles.len());
}

#[test]
fn a_new_stream_costs_nothing_when_not_selected() {
    let fake = fake();
    let out = Tap::against(&fake)
        .set("api_version", json!("2.16"))
        .catalog(meltano_catalog(&["contacts", "conversations", "articles"], &[]))
        .run();
    out.ok();
    for path in [
        "/events",
        "/calls",
        "/news/news_items",
        "/away_status_reasons",
        "/internal_articles",
        "/brands",
        "/macros",
        "/content_snippets",
    ] {
        assert!(requests_to(&fake, path).is_empty(), "{path} was asked");
    }
    let per_parent = fake
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/segments") || r.path().ends_with("/handling_events"))
        .count();
    assert_eq!(per_parent, 0);
    // Articles are not read one by one for statistics that are not selected.
    assert!(
        fake.requests()
            .iter()
            .all(|r| !(r.path().starts_with("/articles/") && r.method == "GET")),
    );
}

#[test]
fn a_stream_the_api_version_lacks_writes_nothing_and_the_log_says_why() {
    let fake = fake();
    let out = Tap::against(&fake).catalog(meltano_catalog(&names(), &[])).run();
    out.ok();
    for (stream, since) in NEW {
        let written = !out.records(stream).is_empty();
        if *since == "2.14" {
            assert!(written, "{stream}");
        } else {
            assert!(!written && out.schema(stream).is_none(), "{stream}: nothing written");
            let said = out
                .stderr
                .lines()
                .filter(|l| {
                    l.contains(&format!(
                        "{stream}: not read: its endpoint comes with Intercom's API version {since}"
                    ))
                })
                .count();
            assert_eq!(said, 1, "{stream}: said once\n{}", out.stderr);
        }
    }
    assert!(requests_to(&fake, "/brands").is_empty() && requests_to(&fake, "/macros").is_empty());
    // It is still discovered.
    let catalog = Tap::new().arg("--discover").run();
    for (stream, _) in NEW {
        assert!(
            catalog.stdout.contains(&format!("\"tap_stream_id\": \"{stream}\"")),
            "{stream}"
        );
    }
}

#[test]
fn an_incremental_run_reads_what_changed_and_the_children_of_what_changed() {
    let fake = fake();
    let streams = [
        "calls",
        "call_transcripts",
        "contact_segments",
        "data_events",
        "conversation_handling_events",
    ];
    let first = Tap::against(&fake)
        .set("api_version", json!("2.16"))
        .set("search_index_lag", json!(0))
        .catalog(meltano_catalog(&streams, &[]))
        .run();
    first.ok();
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let report = {
        let mut world = fake.world();
        world.evolve(chrono::Utc::now().timestamp(), 5)
    };
    let second = Tap::against(&fake)
        .set("api_version", json!("2.16"))
        .set("search_index_lag", json!(0))
        .catalog(meltano_catalog(&streams, &[]))
        .state(first.final_state().clone())
        .run();
    second.ok();
    let set = |v: &Value| -> BTreeSet<String> { v.as_array().unwrap().iter().map(id_string).collect() };
    // Calls: the changed and the added (read whole, written when changed), and no other but
    // those stamped at the bookmark itself, which is inclusive.
    let calls = &report["calls"];
    let mut expected = set(&calls["changed"]);
    expected.extend(set(&calls["added"]));
    let mark = first.final_state()["bookmarks"]["calls"]["updated_at"].clone();
    for call in second.records("calls") {
        let id = id_string(&call["id"]);
        assert!(
            expected.contains(&id) || call["updated_at"] == mark,
            "call {id} did not change: {call}"
        );
    }
    assert!(expected.is_subset(&ids(&second, "calls")));
    // Transcripts of those calls that have one.
    let transcripts: BTreeSet<String> = second
        .records("call_transcripts")
        .iter()
        .map(|r| id_string(&r["call_id"]))
        .collect();
    assert!(!transcripts.is_empty() && transcripts.is_subset(&ids(&second, "calls")));
    // The children of contacts follow the contacts that changed: the segments and events of
    // changed contacts are read; a membership or an event that did not move the contact's
    // updated_at waits for the contact to change (README).
    let changed_contacts: BTreeSet<String> = {
        let contacts = &report["contacts"];
        let mut all = set(&contacts["changed"]);
        all.extend(set(&contacts["added"]));
        all
    };
    let segment_rows: BTreeSet<String> = second
        .records("contact_segments")
        .iter()
        .map(|r| id_string(&r["contact_id"]))
        .collect();
    assert!(segment_rows.is_subset(&changed_contacts), "{segment_rows:?}");
    assert_eq!(
        segment_rows.len(),
        changed_contacts.len(),
        "every changed contact's segments"
    );
    let event_contacts: BTreeSet<String> = second
        .records("data_events")
        .iter()
        .map(|r| id_string(&r["contact_id"]))
        .collect();
    assert!(event_contacts.is_subset(&changed_contacts));
    for moved in set(&report["data_events"]["moved_updated_at"]) {
        assert!(event_contacts.contains(&moved), "the events of {moved}, which changed");
    }
    // Handling events of the changed conversations only.
    let conversations = {
        let c = &report["conversations"];
        let mut all = set(&c["changed"]);
        all.extend(set(&c["added"]));
        all
    };
    let handled: BTreeSet<String> = second
        .records("conversation_handling_events")
        .iter()
        .map(|r| id_string(&r["conversation_id"]))
        .collect();
    assert!(handled.is_subset(&conversations));
}

#[test]
fn a_full_refresh_of_contact_segments_catches_what_an_incremental_run_cannot() {
    let fake = fake();
    let first = Tap::against(&fake)
        .set("search_index_lag", json!(0))
        .catalog(meltano_catalog(&["contact_segments"], &[]))
        .run();
    first.ok();
    let report = fake.world().evolve(chrono::Utc::now().timestamp(), 5);
    let moved: BTreeSet<String> = report["contact_segments"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_string)
        .collect();
    assert!(!moved.is_empty());
    let mut catalog = meltano_catalog(&["contact_segments"], &[]);
    crate::support::catalog_entry(&mut catalog, "contact_segments")["replication_method"] = json!("FULL_TABLE");
    let full = Tap::against(&fake)
        .catalog(catalog)
        .state(first.final_state().clone())
        .run();
    full.ok();
    let w = fake.world().clone();
    let rows: BTreeMap<String, Vec<String>> = full
        .records("contact_segments")
        .iter()
        .map(|r| {
            (
                id_string(&r["contact_id"]),
                r["segment_ids"].as_array().unwrap().iter().map(id_string).collect(),
            )
        })
        .collect();
    assert_eq!(rows.len(), w.contacts.len(), "every contact's row");
    for contact in &moved {
        assert_eq!(rows.get(contact), w.contact_segments.get(contact), "{contact}");
    }
}

#[test]
fn a_killed_sync_of_the_children_resumes_without_loss() {
    let fake = fake_with(
        World::generate(3, Size::small()),
        fake_intercom::Options {
            latency: std::time::Duration::from_millis(20),
            ..test_options()
        },
    );
    let streams = ["contact_segments", "data_events", "calls", "call_transcripts"];
    let tap = Tap::against(&fake)
        .set("max_concurrency", json!(2))
        .catalog(meltano_catalog(&streams, &[]));
    // Killed once a few rows are out and a STATE with them.
    let killed = run_until_killed(&tap, |messages| {
        messages.iter().filter(|m| m["type"] == "RECORD").count() > 40
            && messages.last().is_some_and(|m| m["type"] == "STATE")
    });
    let state = killed.final_state().clone();
    let resumed = Tap::against(&fake)
        .catalog(meltano_catalog(&streams, &[]))
        .state(state)
        .run();
    resumed.ok();
    assert!(ok_streams(&resumed).len() >= streams.len());
    let summary = fake.world().summary();
    for stream in streams {
        let mut all = keys(&killed, stream);
        all.extend(keys(&resumed, stream));
        assert_eq!(
            all.len() as u64,
            summary[stream].as_u64().unwrap(),
            "{stream}: the two runs together wrote every row"
        );
    }
}
