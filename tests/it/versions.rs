//! Table versions of full-table streams (`ACTIVATE_VERSION`), so that targets retire the rows
//! deleted in Intercom: the first version a stream ever has is activated before its records,
//! every version after its last record, and every record carries its version. Count reports
//! are histories and incremental streams keep their rows: neither is versioned.

use fake_intercom::{Fault, FaultKind};
use serde_json::{Value, json};

use crate::support::{Run, Tap, catalog_entry, fake, meltano_catalog, meltano_catalog_of};

/// The stream's messages in order, as (type, version) pairs.
fn sequence(run: &Run, stream: &str) -> Vec<(String, Option<i64>)> {
    run.messages
        .iter()
        .filter(|m| m["stream"] == stream)
        .map(|m| (m["type"].as_str().unwrap().to_owned(), m["version"].as_i64()))
        .collect()
}

fn activations(run: &Run, stream: &str) -> Vec<i64> {
    sequence(run, stream)
        .into_iter()
        .filter(|(kind, _)| kind == "ACTIVATE_VERSION")
        .filter_map(|(_, v)| v)
        .collect()
}

#[test]
fn full_table_streams_activate_their_version_before_the_first_record_and_after_the_last() {
    let fake = fake();
    let streams = [
        "admins",
        "tags",
        "teams",
        "contact_attributes",
        "help_centers",
        "counts",
        "contacts",
    ];
    let first = Tap::against(&fake).catalog(meltano_catalog(&streams, &[])).run();
    first.ok().check_protocol();
    for stream in ["admins", "tags", "teams", "contact_attributes", "help_centers"] {
        let seq = sequence(&first, stream);
        let version = seq[1].1.unwrap_or_else(|| panic!("{stream}: {seq:?}"));
        assert_eq!(seq[0].0, "SCHEMA", "{stream}");
        assert_eq!(
            seq[1].0, "ACTIVATE_VERSION",
            "{stream}: a first version is activated at once"
        );
        assert_eq!(
            seq.last().unwrap(),
            &("ACTIVATE_VERSION".to_owned(), Some(version)),
            "{stream}"
        );
        let records: Vec<_> = seq.iter().filter(|(k, _)| k == "RECORD").collect();
        assert!(!records.is_empty(), "{stream}");
        assert!(
            records.iter().all(|(_, v)| *v == Some(version)),
            "{stream}: every record has the version"
        );
    }
    for stream in ["counts", "contacts"] {
        assert!(activations(&first, stream).is_empty(), "{stream} is never versioned");
        assert!(
            first
                .messages
                .iter()
                .filter(|m| m["stream"] == stream)
                .all(|m| m.get("version").is_none())
        );
    }

    // The next run (with the state) starts a newer version and activates it only at the end.
    let second = Tap::against(&fake)
        .catalog(meltano_catalog(&streams, &[]))
        .state(first.final_state().clone())
        .run();
    second.ok().check_protocol();
    let before = activations(&first, "admins")[0];
    let after = activations(&second, "admins");
    assert_eq!(after.len(), 1, "only the closing activation: {after:?}");
    assert!(after[0] > before);
    assert_eq!(sequence(&second, "admins").last().unwrap().0, "ACTIVATE_VERSION");
}

#[test]
fn a_stream_that_fails_half_way_activates_nothing_new() {
    let fake = fake();
    let state = json!({"bookmarks": {"tags": {"version": 1_600_000_000_000_i64}}});
    fake.add_fault(Fault::new("/tags", FaultKind::Status(500)).times(100));
    let out = Tap::against(&fake)
        .set("max_retries", json!(1))
        .catalog(meltano_catalog(&["tags"], &[]))
        .state(state)
        .run();
    out.failure_line();
    assert!(
        activations(&out, "tags").is_empty(),
        "the rows of the last complete version stay"
    );
}

#[test]
fn a_full_table_override_of_an_incremental_stream_is_versioned() {
    let fake = fake();
    let mut catalog = meltano_catalog(&["segments"], &[]);
    catalog_entry(&mut catalog, "segments")["replication_method"] = json!("FULL_TABLE");
    let out = Tap::against(&fake).catalog(catalog).run();
    out.ok().check_protocol();
    let versions = activations(&out, "segments");
    assert_eq!(versions.len(), 2, "{versions:?}");
    let stamped: Vec<Option<i64>> = out
        .messages
        .iter()
        .filter(|m| m["type"] == "RECORD" && m["stream"] == "segments")
        .map(|m| m["version"].as_i64())
        .collect();
    assert!(!stamped.is_empty() && stamped.iter().all(|v| *v == Some(versions[0])));
    let state: &Value = out.final_state();
    assert_eq!(state["bookmarks"]["segments"]["version"], json!(versions[0]));
}

#[test]
fn a_full_table_override_up_to_end_date_retires_nothing() {
    // Read up to end_date, the run sees only part of the stream: a version would retire the
    // rows changed since as if Intercom had deleted them.
    let fake = fake();
    let mut catalog = meltano_catalog(&["segments", "admins"], &[]);
    catalog_entry(&mut catalog, "segments")["replication_method"] = json!("FULL_TABLE");
    let out = Tap::against(&fake)
        .catalog(catalog)
        .set("end_date", json!("2024-01-01T00:00:00Z"))
        .run();
    out.ok().check_protocol();
    assert!(activations(&out, "segments").is_empty());
    assert!(
        out.messages
            .iter()
            .filter(|m| m["type"] == "RECORD" && m["stream"] == "segments")
            .all(|m| m.get("version").is_none())
    );
    assert!(
        out.stderr.contains("segments: read in full but only up to end_date"),
        "{}",
        out.stderr
    );
    // A full-table stream reads everything whatever end_date says: still versioned.
    assert_eq!(activations(&out, "admins").len(), 2);
}

#[test]
fn add_workspace_id_puts_the_workspace_in_every_record_and_key() {
    let fake = fake();
    // The catalog Meltano gives the tap, discovered with the same settings: its keys name the
    // workspace column.
    let on = json!({"add_workspace_id": true});
    let catalog = meltano_catalog_of(on.clone(), &["admins", "contacts", "conversation_parts", "counts"], &[]);
    assert_eq!(
        catalog_entry(&mut catalog.clone(), "admins")["key_properties"],
        json!(["workspace_id", "id"])
    );
    let out = Tap::against(&fake)
        .set("add_workspace_id", json!("true"))
        .catalog(catalog)
        .run();
    out.ok().check_protocol();
    for stream in ["admins", "contacts", "conversation_parts", "counts"] {
        let schema = out
            .messages
            .iter()
            .find(|m| m["type"] == "SCHEMA" && m["stream"] == stream)
            .unwrap();
        assert_eq!(
            schema["key_properties"][0], "workspace_id",
            "{stream}: {}",
            schema["key_properties"]
        );
        let records = out.records(stream);
        assert!(!records.is_empty(), "{stream}");
        assert!(records.iter().all(|r| r["workspace_id"] == "fakeapp1"), "{stream}");
    }
    // Off by default, and discovery shows the column only when it is on.
    let plain = Tap::against(&fake).catalog(meltano_catalog(&["admins"], &[])).run();
    assert!(plain.records("admins").iter().all(|r| r.get("workspace_id").is_none()));
    let discovered = Tap::new()
        .config(json!({"add_workspace_id": true}))
        .arg("--discover")
        .run();
    let mut catalog: Value = serde_json::from_str(&discovered.stdout).unwrap();
    let admins = catalog_entry(&mut catalog, "admins");
    assert_eq!(admins["key_properties"], json!(["workspace_id", "id"]));
    // That catalog with the setting off: the keys would name a column no record has.
    let off = Tap::against(&fake)
        .catalog(meltano_catalog_of(on, &["admins"], &[]))
        .run();
    assert_eq!(off.code, Some(2), "{}", off.stderr);
    let line = off.only_line();
    assert!(
        line.contains("stream admins: key_properties names \"workspace_id\"")
            && line.contains("add_workspace_id is off"),
        "{line}"
    );
}
