//! Selection exactly as Meltano writes catalogs.

use serde_json::{Value, json};

use crate::support::{Tap, catalog_entry, fake, meltano_catalog, requests_to};

#[test]
fn only_selected_streams_are_synced_and_read() {
    let fake = fake();
    let catalog = meltano_catalog(&["tags", "segments"], &[]);
    let out = Tap::against(&fake).catalog(catalog).run();
    out.ok();
    let mut schemas = out.schemas();
    schemas.sort_unstable();
    assert_eq!(schemas, ["segments", "tags"]);
    assert!(out.records("admins").is_empty());
    // Streams not selected cost no request.
    assert!(requests_to(&fake, "/admins").is_empty());
    assert!(requests_to(&fake, "/counts").is_empty());
}

#[test]
fn deselected_fields_vanish_from_schema_and_record_but_keys_stay() {
    let fake = fake();
    // `id` is automatic: Meltano writes selected:false on it and it must still be emitted.
    let catalog = meltano_catalog(
        &["segments", "admins"],
        &[("segments", "id"), ("segments", "name"), ("admins", "email")],
    );
    let out = Tap::against(&fake).catalog(catalog).run();
    out.ok();
    let schema = &out.schema("segments").unwrap()["schema"]["properties"];
    assert!(schema.get("name").is_none());
    assert!(schema.get("id").is_some() && schema.get("updated_at").is_some());
    for record in out.records("segments") {
        assert!(record.get("name").is_none(), "{record}");
        assert!(record["id"].is_string());
    }
    assert!(
        out.schema("admins").unwrap()["schema"]["properties"]
            .get("email")
            .is_none()
    );
    for record in out.records("admins") {
        assert!(record.get("email").is_none());
        assert!(record["name"].is_string());
    }
}

#[test]
fn streams_without_selected_are_not_synced() {
    let fake = fake();
    let mut catalog = meltano_catalog(&["tags"], &[]);
    // A catalog from --discover, untouched: no `selected` anywhere.
    for stream in catalog["streams"].as_array_mut().unwrap() {
        if stream["tap_stream_id"] != "tags" {
            stream.as_object_mut().unwrap().remove("selected");
            for entry in stream["metadata"].as_array_mut().unwrap() {
                entry["metadata"].as_object_mut().unwrap().remove("selected");
            }
        }
    }
    let out = Tap::against(&fake).catalog(catalog).run();
    out.ok();
    assert_eq!(out.schemas(), ["tags"]);
}

#[test]
fn nested_fields_can_be_deselected() {
    let fake = fake();
    let catalog = json!({"streams": [{
        "tap_stream_id": "admins", "stream": "admins",
        "metadata": [
            {"breadcrumb": [], "metadata": {"selected": true}},
            {"breadcrumb": ["properties", "avatar", "properties", "type"], "metadata": {"selected": false}}
        ]
    }]});
    let out = Tap::against(&fake).catalog(catalog).run();
    out.ok();
    for record in out.records("admins") {
        let avatar = record["avatar"].as_object().unwrap();
        assert!(
            avatar.contains_key("image_url") && !avatar.contains_key("type"),
            "{record}"
        );
    }
}

#[test]
fn legacy_properties_flag_and_schema_selection_work() {
    let fake = fake();
    let catalog = json!({"streams": [
        {"tap_stream_id": "teams", "stream": "teams", "schema": {"selected": true, "type": "object", "properties": {}}},
    ]});
    let tap = Tap::against(&fake);
    let path = tap.file("properties.json", &catalog.to_string());
    let out = tap.arg("--properties").arg(path.to_str().unwrap()).run();
    out.ok();
    assert_eq!(out.schemas(), ["teams"]);
    assert_eq!(out.records("teams").len(), fake.world().teams.len());
}

#[test]
fn a_full_table_override_rereads_an_incremental_stream() {
    let fake = fake();
    let newest = fake
        .world()
        .user_segments
        .iter()
        .map(|s| s["updated_at"].as_i64().unwrap())
        .max()
        .unwrap();
    let bookmark = chrono::DateTime::from_timestamp(newest, 0).unwrap().to_rfc3339();
    let state = json!({"bookmarks": {"segments": {"updated_at": bookmark}}});
    let mut catalog = meltano_catalog(&["segments"], &[]);
    let incremental = Tap::against(&fake).catalog(catalog.clone()).state(state.clone()).run();
    incremental.ok();
    assert_eq!(
        incremental.records("segments").len(),
        1,
        "only the newest is at or after the bookmark"
    );
    let segments = catalog_entry(&mut catalog, "segments");
    segments["replication_method"] = json!("FULL_TABLE");
    segments["metadata"][0]["metadata"]["replication-method"] = json!("FULL_TABLE");
    let full = Tap::against(&fake).catalog(catalog).state(state).run();
    full.ok();
    assert_eq!(full.records("segments").len(), fake.world().user_segments.len());
    let schema: &Value = full.schema("segments").unwrap();
    assert!(schema.get("bookmark_properties").is_none());
}

#[test]
fn a_catalog_that_selects_nothing_says_so_and_costs_no_request() {
    // `--discover` output as it is: streams say `selected-by-default` but none is `selected`.
    let fake = fake();
    let discovered = Tap::against(&fake).arg("--discover").run();
    assert_eq!(discovered.code, Some(0), "{}", discovered.stderr);
    let catalog: Value = serde_json::from_str(&discovered.stdout).unwrap();
    // Discovery with a token reads the reporting datasets' custom attributes, and nothing else.
    let discovery: Vec<String> = fake.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(discovery, ["/export/reporting_data/get_datasets"]);
    let out = Tap::against(&fake).catalog(catalog).run();
    out.ok();
    assert!(out.schemas().is_empty());
    assert!(out.stderr.contains("the catalog selects no stream"), "{}", out.stderr);
    assert_eq!(fake.requests().len(), 1, "the sync sent no request");
}
