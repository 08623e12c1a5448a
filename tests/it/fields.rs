//! No field silently dropped or left raw: timestamps inside the objects the schemas keep whole
//! come out as RFC 3339 strings, as every other timestamp does.

use serde_json::Value;

use crate::support::{Tap, fake, meltano_catalog};

fn rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[test]
fn timestamps_inside_objects_kept_whole_are_rfc3339() {
    let fake = fake();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["tickets", "articles", "activity_logs"], &[]))
        .run();
    out.ok().check_protocol();

    // A ticket's embedded ticket type: its attribute list, under either of the names Intercom
    // gives it (the spec's `ticket_type_attributes`, the examples' `data`).
    let mut attributes = 0;
    for ticket in out.records("tickets") {
        let list = &ticket["ticket_type"]["ticket_type_attributes"];
        for key in ["ticket_type_attributes", "data"] {
            for attribute in list[key].as_array().into_iter().flatten() {
                for field in ["created_at", "updated_at"] {
                    assert!(
                        rfc3339(&attribute[field]),
                        "tickets: {key}[].{field} = {}",
                        attribute[field]
                    );
                }
                attributes += 1;
            }
        }
    }
    assert!(attributes > 0, "no ticket carried its type's attributes");

    // An article's translations, keyed by locale.
    let mut translations = 0;
    for article in out.records("articles") {
        let Some(content) = article["translated_content"].as_object() else {
            continue;
        };
        for (locale, translation) in content.iter().filter(|(k, _)| *k != "type") {
            for field in ["created_at", "updated_at"] {
                assert!(
                    rfc3339(&translation[field]),
                    "articles: translated_content.{locale}.{field} = {}",
                    translation[field]
                );
            }
            translations += 1;
        }
    }
    assert!(translations > 0, "no article had a translation");

    // An activity log's metadata keeps every key, and its timestamps are converted.
    let mut stamped = 0;
    for log in out.records("activity_logs") {
        let metadata = &log["metadata"];
        if !metadata["last_activity_at"].is_null() {
            assert!(rfc3339(&metadata["last_activity_at"]), "{metadata}");
            assert!(metadata.get("away_mode").is_some(), "other keys are kept: {metadata}");
            stamped += 1;
        }
        if !metadata["expired_at"].is_null() {
            assert!(rfc3339(&metadata["expired_at"]), "{metadata}");
        }
    }
    assert!(stamped > 0, "no activity log carried metadata.last_activity_at");
}
