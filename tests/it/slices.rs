//! Searches read in parallel slices lose nothing: ties on a slice's edge, records edited from
//! an early slice into a late one while both are read, a kill while several slices are half
//! read, and a fault in one slice while others run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fake_intercom::{FakeIntercom, Fault, FaultKind, Logged, Options, Size, World};
use serde_json::{Value, json};

use crate::support::{
    Run, Tap, fake_with, id_string, ids, meltano_catalog, requests_to, run_until_killed, test_options, world_ids,
};

/// Enough contacts and conversations for their searches to be cut into several slices (a
/// slice is split while more than four pages are left in it).
fn sliced() -> World {
    World::generate(
        11,
        Size {
            contacts: 1_500,
            conversations: 1_000,
            parts_per_conversation: 1,
            ..Size::small()
        },
    )
}

/// Visits every leaf filter of a search query.
fn walk(filter: &Value, visit: &mut dyn FnMut(&Value)) {
    match filter["value"].as_array() {
        Some(parts) if filter["field"].is_null() => parts.iter().for_each(|p| walk(p, visit)),
        _ => visit(filter),
    }
}

/// The lower and upper bounds of a logged search's `updated_at` filter.
fn bounds(search: &Logged) -> (Option<i64>, Option<i64>) {
    let body = search.body.as_ref().expect("a search has a JSON body");
    let mut low = None;
    let mut high = None;
    let mut visit = |filter: &Value| {
        if filter["field"] == "updated_at" {
            let value = filter["value"].as_i64();
            match filter["operator"].as_str() {
                Some(">") => low = value,
                Some("<") => high = value,
                _ => {}
            }
        }
    };
    walk(&body["query"], &mut visit);
    (low, high)
}

/// The distinct lower bounds of a path's searches: more than one means it was read in slices.
fn slice_starts(fake: &FakeIntercom, path: &str) -> BTreeSet<i64> {
    requests_to(fake, path).iter().filter_map(|r| bounds(r).0).collect()
}

/// How many times each id was emitted.
fn emitted(run: &Run, stream: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in run.records(stream) {
        *counts.entry(id_string(&r["id"])).or_default() += 1;
    }
    counts
}

#[track_caller]
fn assert_each_once(run: &Run, fake: &FakeIntercom, stream: &str) {
    let counts = emitted(run, stream);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{stream}: emitted more than once: {:?}",
        &twice[..twice.len().min(5)]
    );
    let seen: BTreeSet<String> = counts.into_keys().collect();
    assert_eq!(seen, world_ids(&fake.world(), stream), "{stream}");
}

/// Every contact of the workspace is in one run or the other.
#[track_caller]
fn assert_contacts_in_either(fake: &FakeIntercom, a: &Run, b: &Run) {
    let union: BTreeSet<String> = ids(a, "contacts").union(&ids(b, "contacts")).cloned().collect();
    assert_eq!(union, world_ids(&fake.world(), "contacts"));
}

#[test]
fn big_searches_are_read_in_slices_each_record_once_within_the_page_count() {
    let fake = fake_with(sliced(), test_options());
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts", "conversations"], &[]))
        .run();
    out.ok();
    for (stream, path) in [
        ("contacts", "/contacts/search"),
        ("conversations", "/conversations/search"),
    ] {
        assert_each_once(&out, &fake, stream);
        let starts = slice_starts(&fake, path);
        assert!(starts.len() >= 3, "{stream}: read in {} slices", starts.len());
        // The pages one search would take, and at most a few more for the slices' own edges.
        let records = world_ids(&fake.world(), stream).len();
        let pages = records.div_ceil(150);
        let searches = requests_to(&fake, path).len();
        assert!(
            searches <= pages + starts.len() + 2,
            "{stream}: {searches} searches for {pages} pages"
        );
    }
    // Once every slice is read, the bookmark passes the newest record and no slice is left.
    let newest = fake
        .world()
        .contacts
        .iter()
        .filter_map(|c| c["updated_at"].as_i64())
        .max()
        .unwrap();
    let at = out.final_state()["bookmarks"]["contacts"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(chrono::DateTime::parse_from_rfc3339(&at).unwrap().timestamp() >= newest);
    assert!(out.final_state()["bookmarks"]["contacts"].get("done_ranges").is_none());
}

#[test]
fn a_tie_group_straddling_a_slice_boundary_is_read_whole_and_once() {
    let fake = fake_with(sliced(), test_options());
    // 400 contacts share one second, from the first page's end into the third page: the first
    // slice is cut at that second, so the group lies across the boundary.
    let tie = {
        let mut w = fake.world();
        let mut order: Vec<usize> = (0..w.contacts.len()).collect();
        order.sort_by_key(|i| (w.contacts[*i]["updated_at"].as_i64(), id_string(&w.contacts[*i]["id"])));
        let tie = w.contacts[order[100]]["updated_at"].as_i64().unwrap();
        for i in &order[100..500] {
            w.contacts[*i]["updated_at"] = json!(tie);
        }
        tie
    };
    let out = Tap::against(&fake).catalog(meltano_catalog(&["contacts"], &[])).run();
    out.ok();
    assert!(
        slice_starts(&fake, "/contacts/search").contains(&tie),
        "a slice starts on the tied second"
    );
    assert_each_once(&out, &fake, "contacts");
}

#[test]
fn a_record_edited_from_an_early_slice_into_a_late_one_is_read_in_its_new_version() {
    let fake = fake_with(sliced(), test_options());
    // Once the slices are under way (the fifth search request), edit contacts that lie early
    // in the range, in slices not yet read, to now: into the last slice, which may be read.
    let edited: Vec<String> = {
        let w = fake.world();
        let mut order: Vec<usize> = (0..w.contacts.len()).collect();
        order.sort_by_key(|i| (w.contacts[*i]["updated_at"].as_i64(), id_string(&w.contacts[*i]["id"])));
        [200, 400, 700, 1_100]
            .iter()
            .map(|n| id_string(&w.contacts[order[*n]]["id"]))
            .collect()
    };
    let targets = edited.clone();
    fake.on_request(Some("POST"), "/contacts/search", 5, move |w: &mut World| {
        let now = chrono::Utc::now().timestamp();
        for c in &mut w.contacts {
            if targets.contains(&id_string(&c["id"])) {
                c["updated_at"] = json!(now);
                c["name"] = json!("edited while sliced");
            }
        }
    });
    let tap = || Tap::against(&fake).catalog(meltano_catalog(&["contacts"], &[]));
    let first = tap().run();
    first.ok();
    let second = tap().state(first.final_state().clone()).run();
    second.ok();
    assert_contacts_in_either(&fake, &first, &second);
    for id in &edited {
        let new_version = first
            .records("contacts")
            .into_iter()
            .chain(second.records("contacts"))
            .any(|r| id_string(&r["id"]) == *id && r["name"] == "edited while sliced");
        assert!(new_version, "contact {id}'s edit never reached the output");
    }
}

#[test]
fn a_kill_while_slices_are_half_read_resumes_without_loss_or_rereading_finished_slices() {
    let options = Options {
        latency: Duration::from_millis(3),
        ..test_options()
    };
    let fake = fake_with(sliced(), options);
    let tap = || {
        Tap::against(&fake)
            .catalog(meltano_catalog(&["contacts"], &[]))
            .set("lookback_window", json!(0))
    };
    // Killed at the first STATE that records a slice finished above the bookmark: the slices
    // below it are still being read.
    let finished = |m: &Value| {
        m["type"] == "STATE"
            && m["value"]["bookmarks"]["contacts"]["done_ranges"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
    };
    let killed = run_until_killed(&tap(), |messages| messages.iter().any(finished));
    assert_ne!(
        killed.code,
        Some(0),
        "the tap finished before a slice was done above the bookmark"
    );
    let state = killed.states().last().map(|s| (*s).clone()).unwrap();
    let done: Vec<(i64, i64)> = state["bookmarks"]["contacts"]["done_ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let t = |v: &Value| {
                chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
                    .unwrap()
                    .timestamp()
            };
            (t(&r[0]), t(&r[1]))
        })
        .collect();
    let before = requests_to(&fake, "/contacts/search").len();
    let resumed = tap().state(state).run();
    resumed.ok();
    assert_contacts_in_either(&fake, &killed, &resumed);
    // No search of the resumed run lies inside a range the killed run finished.
    for search in &requests_to(&fake, "/contacts/search")[before..] {
        let (low, high) = bounds(search);
        let low = low.unwrap_or(i64::MIN);
        let inside = done
            .iter()
            .any(|(from, to)| *from <= low && high.is_some_and(|h| h <= *to));
        assert!(!inside, "searched {low}..{high:?} again, finished in {done:?}");
    }
}

#[test]
fn a_fault_in_one_slice_while_others_run_is_retried_and_loses_nothing() {
    let fake = fake_with(sliced(), test_options());
    for path in ["/contacts/search", "/conversations/search"] {
        // Requests 4 to 6 come while several slices are being read.
        fake.add_fault(Fault::new(path, FaultKind::Status(502)).skip(3));
        fake.add_fault(Fault::new(path, FaultKind::Truncated).skip(5));
        fake.add_fault(Fault::new(path, FaultKind::Dropped).skip(7));
    }
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(
            &["contacts", "conversations", "conversation_parts"],
            &[],
        ))
        .run();
    out.ok();
    assert!(slice_starts(&fake, "/contacts/search").len() >= 3);
    for stream in ["contacts", "conversations", "conversation_parts"] {
        assert_each_once(&out, &fake, stream);
    }
    assert!(out.stderr.contains("retry"), "{}", out.stderr);
}
