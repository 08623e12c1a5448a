//! Nothing is lost in the cases where today's extractors lose data: ties at page boundaries,
//! records edited during the sync, records indexed late, a sync killed at any moment, and an
//! Intercom that fails, cuts answers short or rate-limits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use fake_intercom::{FakeIntercom, Fault, FaultKind, Options, Size, World};
use serde_json::{Value, json};

use crate::support::{
    INCREMENTAL, Run, Tap, fake, fake_with, id_string, ids, meltano_catalog, run_until_killed, test_options, world_ids,
};

fn now() -> i64 {
    Utc::now().timestamp()
}

/// A workspace with enough records for several pages of each search.
fn bigger() -> World {
    World::generate(
        7,
        Size {
            contacts: 420,
            companies: 130,
            conversations: 340,
            parts_per_conversation: 3,
            tickets: 320,
            articles: 40,
            activity_logs: 120,
            ..Size::small()
        },
    )
}

/// Every record of every incremental stream is in one of the runs.
#[track_caller]
fn assert_union_complete(fake: &FakeIntercom, runs: &[&Run]) {
    let w = fake.world().clone();
    for stream in INCREMENTAL {
        let seen: BTreeSet<String> = runs.iter().flat_map(|r| ids(r, stream)).collect();
        let expected = world_ids(&w, stream);
        let missing: Vec<&String> = expected.difference(&seen).collect();
        assert!(
            missing.is_empty(),
            "{stream}: {} of {} missing, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
    }
}

#[test]
fn ties_across_a_page_boundary_are_all_read() {
    let tie = 1_710_000_000;
    for (streams, path) in [
        (&["contacts"][..], "/contacts/search"),
        (&["conversations", "conversation_parts"][..], "/conversations/search"),
    ] {
        let fake = fake_with(bigger(), test_options());
        {
            let mut w = fake.world();
            for c in w.contacts.iter_mut().take(320) {
                c["updated_at"] = json!(tie);
            }
            for c in w.conversations.iter_mut().take(200) {
                c["updated_at"] = json!(tie);
            }
        }
        // The run stops after the first page of the search (the second fails for good)...
        fake.add_fault(Fault::new(path, FaultKind::Status(400)).skip(1));
        let catalog = meltano_catalog(streams, &[]);
        let first = Tap::against(&fake).catalog(catalog.clone()).run();
        assert_eq!(first.code, Some(1));
        assert_eq!(first.records(streams[0]).len(), 150);
        // ...having saved a bookmark that does not pass the tied records' second.
        let state = first.final_state().clone();
        for stream in streams {
            let at = state["bookmarks"][stream]["updated_at"]
                .as_str()
                .unwrap_or_else(|| panic!("{stream}: {state}"));
            assert_eq!(
                chrono::DateTime::parse_from_rfc3339(at).unwrap().timestamp(),
                tie,
                "{stream}"
            );
        }
        // The next run reads every tied record again, and together they hold everything.
        let second = Tap::against(&fake).catalog(catalog).state(state).run();
        second.ok();
        let w = fake.world().clone();
        for stream in streams {
            let union: BTreeSet<String> = ids(&first, stream).union(&ids(&second, stream)).cloned().collect();
            assert_eq!(union, world_ids(&w, stream), "{stream}");
        }
        let tied: BTreeSet<String> = match streams[0] {
            "contacts" => w.contacts.iter().take(320).map(|c| id_string(&c["id"])).collect(),
            _ => w.conversations.iter().take(200).map(|c| id_string(&c["id"])).collect(),
        };
        assert!(tied.is_subset(&ids(&second, streams[0])), "{}", streams[0]);
    }
}

#[test]
fn records_edited_during_the_sync_are_read_then_or_next_time() {
    let fake = fake_with(bigger(), test_options());
    // Between pages, edit records on pages already read and on pages still to come.
    let edit = |kind: &'static str| {
        move |w: &mut World| {
            let items = match kind {
                "contacts" => &mut w.contacts,
                "conversations" => &mut w.conversations,
                _ => &mut w.tickets,
            };
            let mut order: Vec<usize> = (0..items.len()).collect();
            order.sort_by_key(|i| (items[*i]["updated_at"].as_i64(), id_string(&items[*i]["id"])));
            let at = now();
            for (n, i) in [order[3], order[140], order[160], order[299], order[order.len() - 1]]
                .into_iter()
                .enumerate()
            {
                items[i]["updated_at"] = json!(at);
                let field = if kind == "tickets" { "open" } else { "title" };
                items[i][field] = if kind == "tickets" {
                    json!(false)
                } else {
                    json!(format!("edited {n}"))
                };
                if kind == "contacts" {
                    items[i]["name"] = json!(format!("edited {n}"));
                }
            }
        }
    };
    fake.on_request(Some("POST"), "/contacts/search", 2, edit("contacts"));
    fake.on_request(Some("POST"), "/conversations/search", 2, edit("conversations"));
    fake.on_request(Some("POST"), "/tickets/search", 2, edit("tickets"));
    let first = Tap::against(&fake).run();
    first.ok();
    let second = Tap::against(&fake).state(first.final_state().clone()).run();
    second.ok();
    assert_union_complete(&fake, &[&first, &second]);
    // Each edited record's new version reached the output.
    let w = fake.world().clone();
    let edited_contacts: Vec<&Value> = w
        .contacts
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("edited")))
        .collect();
    assert_eq!(edited_contacts.len(), 5);
    for c in edited_contacts {
        let found = first
            .records("contacts")
            .into_iter()
            .chain(second.records("contacts"))
            .any(|r| r["id"] == c["id"] && r["name"] == c["name"]);
        assert!(found, "edited contact {} was not emitted in its new version", c["id"]);
    }
    let edited: Vec<&Value> = w
        .conversations
        .iter()
        .filter(|c| c["title"].as_str().is_some_and(|t| t.starts_with("edited")))
        .collect();
    assert_eq!(edited.len(), 5);
    for c in edited {
        let found = first
            .records("conversations")
            .into_iter()
            .chain(second.records("conversations"))
            .any(|r| r["id"] == c["id"] && r["title"] == c["title"]);
        assert!(
            found,
            "edited conversation {} was not emitted in its new version",
            c["id"]
        );
    }
}

#[test]
fn records_indexed_late_are_read_by_the_next_run() {
    let fake = fake();
    // Two records changed before the first run starts, but Intercom's search index has not got
    // them yet: they stay out of search until the test lets them in.
    let (late_contact, late_conversation) = {
        let mut w = fake.world();
        let w = &mut *w;
        let t = now() - 30;
        for item in [&mut w.contacts[5], &mut w.conversations[5]] {
            item["updated_at"] = json!(t);
            item["_indexed_at"] = json!(i64::MAX);
        }
        (id_string(&w.contacts[5]["id"]), id_string(&w.conversations[5]["id"]))
    };
    let tap = || Tap::against(&fake).set("search_index_lag", json!(120));
    let first = tap().run();
    first.ok();
    assert!(!ids(&first, "contacts").contains(&late_contact), "not searchable yet");
    assert!(!ids(&first, "conversations").contains(&late_conversation));
    // The index catches up after the run.
    {
        let mut w = fake.world();
        w.contacts[5]["_indexed_at"] = json!(0);
        w.conversations[5]["_indexed_at"] = json!(0);
    }
    let second = tap().state(first.final_state().clone()).run();
    second.ok();
    assert!(ids(&second, "contacts").contains(&late_contact));
    assert!(ids(&second, "conversations").contains(&late_conversation));
    assert!(
        second
            .records("conversation_parts")
            .iter()
            .any(|p| p["conversation_id"] == json!(late_conversation))
    );
}

fn count(messages: &[Value], stream: &str) -> usize {
    messages
        .iter()
        .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
        .count()
}

/// The tap killed at several points, then rerun from the last STATE it wrote: together the two
/// runs hold every record.
#[test]
fn a_killed_sync_resumes_without_loss() {
    // After some records, in the middle of a page, in the middle of a page's parts.
    let points = [("contacts", 100), ("contacts", 233), ("conversation_parts", 150)];
    for (stream, after) in points {
        let options = Options {
            latency: Duration::from_millis(2),
            ..test_options()
        };
        let fake = fake_with(bigger(), options);
        let killed = run_until_killed(&Tap::against(&fake), |m| count(m, stream) >= after);
        assert_ne!(
            killed.code,
            Some(0),
            "the tap finished before it could be killed at {stream} {after}"
        );
        let state = killed.states().last().map_or_else(|| json!({}), |s| (*s).clone());
        let resumed = Tap::against(&fake).state(state).run();
        resumed.ok();
        assert_union_complete(&fake, &[&killed, &resumed]);
    }
}

#[test]
fn a_failing_intercom_still_gives_a_complete_and_exact_result() {
    let options = Options {
        scroll_expiry: Duration::from_secs(2),
        ..test_options()
    };
    let fake = fake_with(bigger(), options);
    for path in ["/contacts/search", "/conversations/search", "/tickets/search"] {
        fake.add_fault(Fault::new(path, FaultKind::Status(500)).skip(1));
        fake.add_fault(Fault::new(path, FaultKind::Truncated).skip(3));
        fake.add_fault(Fault::new(path, FaultKind::RateLimited).skip(5).times(2));
    }
    // The scroll: a 500 mid-way, then a page cut short (its scroll stays open on the server,
    // so the restart must wait out scroll_exists until it expires).
    fake.add_fault(Fault::new("/companies/scroll", FaultKind::Status(500)).skip(1));
    fake.add_fault(Fault::new("/companies/scroll", FaultKind::Truncated).skip(4));
    // Parts requests.
    fake.add_fault(Fault::new("/conversations/", FaultKind::Status(503)).skip(10).times(3));
    fake.add_fault(Fault::new("/conversations/", FaultKind::Truncated).skip(40).times(2));
    fake.add_fault(Fault::new("/conversations/", FaultKind::Dropped).skip(80));
    fake.add_fault(Fault::new("/", FaultKind::RateLimited).skip(100).times(3));
    let out = Tap::against(&fake).run();
    out.ok();
    let w = fake.world().clone();
    for stream in INCREMENTAL {
        assert_eq!(ids(&out, stream), world_ids(&w, stream), "{stream}");
    }
    assert!(out.stderr.contains("restarting the scroll"), "{}", out.stderr);
    // Retried search pages do not duplicate records beyond the restarted scroll's.
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for r in out.records("conversations") {
        *per_id.entry(id_string(&r["id"])).or_default() += 1;
    }
    assert!(per_id.values().all(|n| *n == 1), "each conversation once");
}

#[test]
fn another_scroll_of_the_app_is_waited_out() {
    let options = Options {
        scroll_expiry: Duration::from_secs(1),
        ..test_options()
    };
    let fake = fake_with(World::generate(1, Size::small()), options);
    fake.open_foreign_scroll();
    let out = Tap::against(&fake).catalog(meltano_catalog(&["companies"], &[])).run();
    out.ok();
    assert_eq!(ids(&out, "companies"), world_ids(&fake.world(), "companies"));
    assert!(
        out.stderr
            .contains("another scroll of this app is open (scroll_exists)")
    );
}
