//! Bookmarks: read in singer-io's shapes, continued, and carried over whole.

use serde_json::{Value, json};

use crate::support::{Tap, fake, id_string, ids, meltano_catalog};

fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn an_incremental_scan_emits_only_what_changed_since_the_bookmark() {
    let fake = fake();
    let first = Tap::against(&fake).run();
    first.ok();
    let state = first.final_state().clone();
    let bookmark = state["bookmarks"]["company_segments"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let newest = fake
        .world()
        .company_segments
        .iter()
        .map(|s| s["updated_at"].as_i64().unwrap())
        .max()
        .unwrap();
    assert_eq!(bookmark, iso(newest));

    // Nothing changed: only the record at the bookmark's second is read again.
    let second = Tap::against(&fake).state(state.clone()).run();
    second.ok();
    assert_eq!(second.records("company_segments").len(), 1);

    // Two segments change: both are emitted, and the bookmark moves to the newer one.
    {
        let mut w = fake.world();
        w.company_segments[0]["updated_at"] = json!(newest + 100);
        w.company_segments[1]["updated_at"] = json!(newest + 50);
    }
    let third = Tap::against(&fake).state(second.final_state().clone()).run();
    third.ok();
    let ids: Vec<&Value> = third.records("company_segments").iter().map(|r| &r["id"]).collect();
    assert_eq!(ids.len(), 3, "two changed and the one at the old bookmark: {ids:?}");
    assert_eq!(
        third.final_state()["bookmarks"]["company_segments"]["updated_at"],
        json!(iso(newest + 100))
    );
}

#[test]
fn the_lookback_window_rereads_recent_changes() {
    let fake = fake();
    let newest = fake
        .world()
        .user_segments
        .iter()
        .map(|s| s["updated_at"].as_i64().unwrap())
        .max()
        .unwrap();
    let state = json!({"bookmarks": {"segments": {"updated_at": iso(newest)}}});
    let recent = fake
        .world()
        .user_segments
        .iter()
        .filter(|s| s["updated_at"].as_i64().unwrap() >= newest - 86_400 * 30)
        .count();
    let out = Tap::against(&fake)
        .set("lookback_window", json!(86_400 * 30))
        .state(state)
        .run();
    out.ok();
    assert_eq!(out.records("segments").len(), recent);
    // A lookback never moves the bookmark back.
    assert_eq!(
        out.final_state()["bookmarks"]["segments"]["updated_at"],
        json!(iso(newest))
    );
}

#[test]
fn singer_io_state_is_accepted_and_every_bookmark_carried_over() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/singer-io/singer-io-state.json"
    );
    let state: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let fake = fake();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["segments", "tags"], &[]))
        .state(state.clone())
        .run();
    out.ok();
    let last = out.final_state();
    // Streams this run did not touch keep their bookmarks exactly.
    for stream in [
        "companies",
        "conversations",
        "conversation_parts",
        "contacts",
        "company_segments",
    ] {
        assert_eq!(last["bookmarks"][stream], state["bookmarks"][stream], "{stream}");
    }
    assert_eq!(last["currently_syncing"], Value::Null);
    // segments continued from singer-io's bookmark (2024-08-01): the fake's data is older.
    assert!(out.records("segments").is_empty());
    assert_eq!(last["bookmarks"]["segments"]["updated_at"], "2024-08-01T03:13:05Z");
}

#[test]
fn the_older_flat_state_is_accepted() {
    let fake = fake();
    let state = json!({"bookmarks": {"segments": "2099-01-01T00:00:00.000000Z"}, "currently_syncing": "segments"});
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["segments"], &[]))
        .state(state)
        .run();
    out.ok();
    assert!(out.records("segments").is_empty());
    assert_eq!(
        out.final_state()["bookmarks"]["segments"],
        json!({"updated_at": "2099-01-01T00:00:00Z"})
    );
}

#[test]
fn every_state_message_is_whole_and_the_last_follows_the_last_record() {
    let fake = fake();
    let out = Tap::against(&fake)
        .state(json!({"bookmarks": {"somebody_else": {"cursor": 3}}}))
        .run();
    out.ok();
    for state in out.states() {
        assert_eq!(state["bookmarks"]["somebody_else"], json!({"cursor": 3}));
        assert!(state.get("currently_syncing").is_some());
    }
    let last_record = out.messages.iter().rposition(|m| m["type"] == "RECORD").unwrap();
    let last_state = out.messages.iter().rposition(|m| m["type"] == "STATE").unwrap();
    assert!(last_state > last_record);
}

#[test]
fn a_bookmark_with_fractions_of_a_second_keeps_the_records_of_its_second() {
    // singer-io writes bookmarks with microseconds; Intercom's timestamps are whole seconds.
    // A record updated in the bookmark's own second may not have been emitted yet.
    let fake = fake();
    let at = chrono::Utc::now().timestamp() - 3_600;
    let (conversation, segment) = {
        let mut w = fake.world();
        w.conversations[3]["updated_at"] = json!(at);
        w.company_segments[1]["updated_at"] = json!(at);
        (
            id_string(&w.conversations[3]["id"]),
            id_string(&w.company_segments[1]["id"]),
        )
    };
    let bookmark = format!("{}.411157Z", iso(at).trim_end_matches('Z'));
    let state = json!({"bookmarks": {
        "conversations": {"updated_at": bookmark},
        "company_segments": {"updated_at": bookmark},
    }});
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["conversations", "company_segments"], &[]))
        .state(state)
        .run();
    out.ok();
    assert!(ids(&out, "conversations").contains(&conversation), "{bookmark}");
    assert!(ids(&out, "company_segments").contains(&segment), "{bookmark}");
}
