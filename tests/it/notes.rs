//! `contact_notes`: the notes of each changed contact that has any, one row each with its
//! contact, read with the contacts search and at no cost when not selected.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Tap, fake, meltano_catalog};

/// The contacts of the fake with at least one note, and every note's id.
fn notes_of(fake: &fake_intercom::FakeIntercom) -> (BTreeSet<String>, BTreeSet<String>) {
    let world = fake.world();
    let with_notes = world
        .contacts
        .iter()
        .filter(|c| c["_notes"].as_array().is_some_and(|n| !n.is_empty()))
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let notes = world
        .contacts
        .iter()
        .flat_map(|c| c["_notes"].as_array().cloned().unwrap_or_default())
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    (with_notes, notes)
}

fn notes_request_count(fake: &fake_intercom::FakeIntercom) -> usize {
    fake.requests().iter().filter(|r| r.path().ends_with("/notes")).count()
}

fn notes_requests(fake: &fake_intercom::FakeIntercom) -> BTreeSet<String> {
    fake.requests()
        .iter()
        .filter(|r| r.target.contains("/notes"))
        .map(|r| {
            r.path()
                .trim_start_matches("/contacts/")
                .trim_end_matches("/notes")
                .to_owned()
        })
        .collect()
}

#[test]
fn every_note_of_every_contact_that_has_any_one_request_each() {
    let fake = fake();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts", "contact_notes"], &[]))
        .run();
    out.ok();
    let (with_notes, notes) = notes_of(&fake);
    let rows = out.records("contact_notes");
    let ids: BTreeSet<String> = rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, notes, "each note once");
    assert_eq!(rows.len(), notes.len());
    let contacts: BTreeSet<&str> = out
        .records("contacts")
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for row in &rows {
        assert!(contacts.contains(row["contact_id"].as_str().unwrap()), "{row}");
        assert_eq!(row["contact"]["id"], row["contact_id"]);
        assert!(row["body"].as_str().is_some_and(|b| b.starts_with("<p>Note")), "{row}");
        assert!(row["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{row}");
        assert!(row["contact_updated_at"].is_string(), "{row}");
    }
    // One request for each contact with notes, none for the others; the contacts' own cut-short
    // notes lists come from the same requests.
    assert_eq!(notes_requests(&fake), with_notes);
    assert_eq!(notes_request_count(&fake), with_notes.len());
    for contact in out.records("contacts") {
        assert_eq!(contact["notes"]["has_more"], Value::Bool(false), "{}", contact["id"]);
    }
}

#[test]
fn without_the_stream_only_cut_short_lists_are_fetched_and_alone_it_writes_no_contacts() {
    let fake = fake();
    let out = Tap::against(&fake).catalog(meltano_catalog(&["contacts"], &[])).run();
    out.ok();
    let cut_short: BTreeSet<String> = fake
        .world()
        .contacts
        .iter()
        .filter(|c| c["_notes"].as_array().is_some_and(|n| n.len() > 10))
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!cut_short.is_empty());
    assert_eq!(notes_requests(&fake), cut_short, "no request for the notes stream");
    assert!(out.records("contact_notes").is_empty());

    let fake = crate::support::fake();
    let alone = Tap::against(&fake)
        .catalog(meltano_catalog(&["contact_notes"], &[]))
        .run();
    alone.ok();
    assert!(alone.schema("contacts").is_none() && alone.records("contacts").is_empty());
    let (with_notes, notes) = notes_of(&fake);
    assert_eq!(alone.records("contact_notes").len(), notes.len());
    assert_eq!(notes_requests(&fake), with_notes);
    // Its bookmark is its own, under its replication key.
    assert!(
        alone.final_state()["bookmarks"]["contact_notes"]["contact_updated_at"].is_string(),
        "{}",
        alone.final_state()
    );
}

#[test]
fn an_incremental_run_reads_the_notes_of_changed_contacts_only() {
    let fake = fake();
    let catalog = meltano_catalog(&["contact_notes"], &[]);
    let first = Tap::against(&fake).catalog(catalog.clone()).run();
    first.ok();
    let state = first.final_state().clone();
    let before = notes_request_count(&fake);
    let report = fake.world().evolve(chrono::Utc::now().timestamp(), 10);
    let second = Tap::against(&fake).catalog(catalog).state(state).run();
    second.ok();
    let changed: BTreeSet<String> = report["contacts"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["contacts"]["added"].as_array().unwrap())
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let read: BTreeSet<String> = second
        .records("contact_notes")
        .iter()
        .map(|r| r["contact_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !read.is_empty() && read.is_subset(&changed),
        "notes of {read:?}, changed {changed:?}"
    );
    let asked = notes_request_count(&fake) - before;
    assert!(
        asked <= changed.len(),
        "{asked} requests for {} changed contacts",
        changed.len()
    );
}
