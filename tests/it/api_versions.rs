//! Intercom API versions: the known ones (2.14, 2.15, 2.16) give the same columns in the same
//! types, use each endpoint where that version has it, and bring what only newer versions
//! have; any other version is refused before a request is made.

use fake_intercom::FakeIntercom;
use serde_json::{Value, json};

use crate::support::{Run, TOKEN, Tap, fake, meltano_catalog, requests_to};

#[test]
fn an_unknown_version_is_refused_with_the_known_ones() {
    for version in [json!("2.99"), json!("Unstable"), json!(2.1)] {
        let out = Tap::new()
            .config(json!({"access_token": TOKEN, "base_url": "http://127.0.0.1:9"}))
            .set("api_version", version.clone())
            .run();
        let line = out.only_line();
        assert_eq!(out.code, Some(2), "{version}: {line}");
        assert!(
            line.contains("api_version") && line.contains("2.14, 2.15, 2.16"),
            "{version}: {line}"
        );
    }
}

/// A full sync of every stream on `version`.
fn sync_on(fake: &FakeIntercom, version: &str) -> Run {
    let out = Tap::against(fake).set("api_version", json!(version)).run();
    out.ok();
    out
}

#[test]
fn every_version_gives_the_same_columns_in_the_same_types() {
    let fake = fake();
    let runs: Vec<(&str, Run)> = ["2.14", "2.15", "2.16"]
        .into_iter()
        .map(|v| (v, sync_on(&fake, v)))
        .collect();
    let sent: Vec<String> = fake
        .requests()
        .iter()
        .filter_map(|r| r.headers.iter().find(|(k, _)| k == "intercom-version"))
        .map(|(_, v)| v.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(sent, ["2.14", "2.15", "2.16"], "each run sends its version");
    let (_, base) = &runs[0];
    for (version, run) in &runs[1..] {
        for stream in base.schemas() {
            assert_eq!(
                run.schema(stream).map(|s| &s["schema"]),
                base.schema(stream).map(|s| &s["schema"]),
                "{version}: {stream}'s SCHEMA differs from 2.14's"
            );
            // ok() validated every record against that schema; the same records come out (2.16
            // lists only the custom conversation attributes, which carry ids).
            if stream == "conversation_attributes" {
                continue;
            }
            assert_eq!(
                run.records(stream).len(),
                base.records(stream).len(),
                "{version}: {stream}"
            );
        }
    }
    for (version, run) in &runs {
        assert!(
            !run.stderr.contains("undeclared_property"),
            "{version}: every field the fake sends is declared:\n{}",
            run.stderr
                .lines()
                .filter(|l| l.contains("undeclared"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let (_, newest) = &runs[2];
    // 2.16 sends contacts' owner_id as a string and tickets' assignee ids as integers: the
    // columns keep 2.14's types, with the same values.
    let owners = |run: &Run| -> Vec<Value> { run.records("contacts").iter().map(|c| c["owner_id"].clone()).collect() };
    assert_eq!(owners(newest), owners(base));
    assert!(owners(newest).iter().any(Value::is_i64), "some contact has an owner");
    for ticket in newest.records("tickets") {
        assert!(
            ticket["admin_assignee_id"].is_string(),
            "{}",
            ticket["admin_assignee_id"]
        );
        assert!(ticket["team_assignee_id"].is_string(), "{}", ticket["team_assignee_id"]);
    }
    // New fields are columns that only newer versions fill.
    let filled =
        |run: &Run, stream: &str, field: &str| run.records(stream).iter().filter(|r| !r[field].is_null()).count();
    for (stream, field, from) in [
        ("conversations", "company", 1),
        ("conversations", "channel", 2),
        ("conversations", "sales_agent_participated", 2),
        ("admins", "role", 2),
        ("articles", "body_markdown", 2),
        ("help_centers", "locales", 2),
        ("tickets", "previous_ticket_state_id", 2),
        ("companies", "notes", 2),
        ("contacts", "merge_history", 2),
    ] {
        assert_eq!(filled(base, stream, field), 0, "2.14 has no {stream}.{field}");
        for (i, (version, run)) in runs.iter().enumerate() {
            let n = filled(run, stream, field);
            assert_eq!(n > 0, i >= from, "{version}: {stream}.{field} filled in {n} records");
        }
    }
    let priorities: std::collections::BTreeSet<&str> = newest
        .records("conversations")
        .iter()
        .filter_map(|c| c["priority"].as_str())
        .collect();
    assert!(
        priorities.contains("high") && priorities.contains("none"),
        "{priorities:?}"
    );
    assert!(
        newest.records("articles").iter().all(|a| a["parent_id"].is_null()),
        "2.16 has no parent_id on articles: the column stays, empty"
    );
}

#[test]
fn conversation_attributes_come_from_their_own_endpoint_on_2_16() {
    let fake = fake();
    let catalog = meltano_catalog(&["conversation_attributes"], &[]);
    let old = Tap::against(&fake).catalog(catalog.clone()).run();
    old.ok();
    let new = Tap::against(&fake)
        .catalog(catalog)
        .set("api_version", json!("2.16"))
        .run();
    new.ok();
    let asked: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.headers.iter().any(|(k, v)| k == "intercom-version" && v == "2.16"))
        .map(|r| r.target.clone())
        .filter(|t| t.contains("attributes"))
        .collect();
    assert_eq!(
        asked,
        ["/conversations/attributes"],
        "2.16 answers model=conversation with 422"
    );
    let records = new.records("conversation_attributes");
    assert!(!records.is_empty());
    for record in &records {
        assert_eq!(record["model"], "conversation");
        assert!(
            record["options"].as_array().into_iter().flatten().all(Value::is_string),
            "{record}"
        );
    }
    let listed = records
        .iter()
        .find(|r| r["data_type"] == "list")
        .expect("a list attribute");
    assert_eq!(
        listed["options"],
        json!(
            listed["list_options"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["label"].clone())
                .collect::<Vec<_>>()
        )
    );
    // singer-io's key (id, name, description) does not change with the endpoint: the rows of
    // the custom attributes loaded on 2.14 are the same rows.
    let keys = |run: &Run| -> std::collections::BTreeSet<String> {
        run.records("conversation_attributes")
            .iter()
            .filter(|r| !r["id"].is_null())
            .map(|r| r["_sdc_record_hash"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(keys(&new), keys(&old));
}

#[test]
fn deleted_conversations_reach_the_target_on_2_16_from_the_bookmark_on() {
    let fake = fake();
    let catalog = meltano_catalog(&["conversations"], &[]);
    let first = Tap::against(&fake)
        .catalog(catalog.clone())
        .set("api_version", json!("2.16"))
        .run();
    first.ok();
    assert!(
        requests_to(&fake, "/conversations/deleted").is_empty(),
        "a first sync has no row a deletion could mark"
    );
    assert!(
        first
            .records("conversations")
            .iter()
            .all(|c| c["_sdc_deleted_at"].is_null())
    );
    let state = first.final_state().clone();
    let report = fake.world().evolve(chrono::Utc::now().timestamp(), 10);
    let gone = report["conversations"]["deleted"][0].clone();
    assert!(gone.is_string(), "{report}");

    // 2.14 has no list of deletions: the row stays as it was.
    let old = Tap::against(&fake).catalog(catalog.clone()).state(state.clone()).run();
    old.ok();
    assert!(
        old.records("conversations")
            .iter()
            .all(|c| c.get("_sdc_deleted_at").is_none_or(Value::is_null))
    );
    assert!(requests_to(&fake, "/conversations/deleted").is_empty());

    let second = Tap::against(&fake)
        .catalog(catalog)
        .state(state)
        .set("api_version", json!("2.16"))
        .run();
    second.ok();
    let marked: Vec<&Value> = second
        .records("conversations")
        .into_iter()
        .filter(|c| !c["_sdc_deleted_at"].is_null())
        .collect();
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(marked[0]["id"], gone);
    assert_eq!(marked[0]["updated_at"], marked[0]["_sdc_deleted_at"]);
    let asked = requests_to(&fake, "/conversations/deleted");
    assert_eq!(asked.len(), 1, "one page holds them");
    assert!(
        asked[0].target.contains("order=desc") && asked[0].target.contains("per_page=60"),
        "{}",
        asked[0].target
    );
    // Every other conversation read is a live one.
    assert!(second.records("conversations").len() > 1);
}

#[test]
fn a_newer_versions_value_that_cannot_take_the_old_type_is_an_error_naming_it() {
    let fake = fake();
    let id = {
        let mut world = fake.world();
        let contact = world.contacts.iter_mut().find(|c| c["role"] == "user").unwrap();
        // 2.16's owner_id is a string; one that is no admin id cannot be 2.14's integer.
        contact["owner_id"] = json!("team-lead");
        contact["id"].as_str().unwrap().to_owned()
    };
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts"], &[]))
        .set("api_version", json!("2.16"))
        .run();
    let line = out.failure_line();
    assert!(
        line.contains("contacts") && line.contains(&id) && line.contains("owner_id"),
        "{line}"
    );
    assert!(
        !out.records("contacts").iter().any(|c| c["id"] == json!(id)),
        "no row with a wrong owner_id"
    );
}
