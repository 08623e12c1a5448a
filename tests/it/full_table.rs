//! A full sync with no catalog: every stream of the foundation, shaped as the schemas promise.

use std::collections::BTreeSet;

use fake_intercom::counts::named_counts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{FullSync, Tap, fake, full_sync, requests_to};

/// The streams the foundation syncs, in the catalog's order.
pub const FOUNDATION: &[&str] = &[
    "admins",
    "teams",
    "tags",
    "segments",
    "company_segments",
    "ticket_types",
    "ticket_states",
    "subscription_types",
    "contact_attributes",
    "company_attributes",
    "conversation_attributes",
    "help_centers",
    "help_center_collections",
    "counts",
    "conversation_counts",
    "admin_conversation_counts",
    "user_segment_counts",
    "user_tag_counts",
    "company_segment_counts",
    "company_tag_counts",
    "company_user_counts",
];

fn ids(records: &[&Value]) -> BTreeSet<String> {
    records.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

fn world_ids(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_sync_without_catalog_emits_every_record_of_every_stream() {
    let FullSync { run: out, world: w, .. } = full_sync();
    out.ok();
    for stream in FOUNDATION {
        assert!(out.schemas().contains(stream), "no SCHEMA for {stream}");
    }
    assert_eq!(ids(&out.records("admins")), world_ids(&w.admins));
    assert_eq!(ids(&out.records("teams")), world_ids(&w.teams));
    assert_eq!(ids(&out.records("tags")), world_ids(&w.tags));
    assert_eq!(ids(&out.records("segments")), world_ids(&w.user_segments));
    assert_eq!(ids(&out.records("company_segments")), world_ids(&w.company_segments));
    assert_eq!(ids(&out.records("ticket_types")), world_ids(&w.ticket_types));
    assert_eq!(ids(&out.records("ticket_states")), world_ids(&w.ticket_states));
    assert_eq!(
        ids(&out.records("subscription_types")),
        world_ids(&w.subscription_types)
    );
    assert_eq!(ids(&out.records("help_centers")), world_ids(&w.help_centers));
    assert_eq!(ids(&out.records("help_center_collections")), world_ids(&w.collections));
    for (model, attrs) in &w.data_attributes {
        let stream = format!("{model}_attributes");
        assert_eq!(out.records(&stream).len(), attrs.len(), "{stream}");
    }
    // Keys are unique within each stream.
    for stream in FOUNDATION {
        let schema = out.schema(stream).unwrap();
        let keys: Vec<&str> = schema["key_properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let records = out.records(stream);
        let distinct: BTreeSet<Vec<String>> = records
            .iter()
            .map(|r| keys.iter().map(|k| r[*k].to_string()).collect())
            .collect();
        assert_eq!(distinct.len(), records.len(), "{stream}: duplicate keys");
    }
    let state = out.final_state();
    assert_eq!(state["currently_syncing"], Value::Null);
    assert!(state["bookmarks"]["segments"]["updated_at"].is_string());
}

#[test]
fn records_are_shaped_as_the_schemas_promise() {
    let FullSync { run: out, world: w, .. } = full_sync();
    out.ok();
    // Unix seconds become RFC 3339 strings.
    let segment = out
        .records("segments")
        .into_iter()
        .find(|s| s["id"] == w.user_segments[0]["id"])
        .unwrap();
    let secs = w.user_segments[0]["updated_at"].as_i64().unwrap();
    let expected = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(segment["updated_at"], json!(expected));
    // An avatar sent as a bare URL becomes the object the schema describes.
    for admin in out.records("admins") {
        assert!(admin["avatar"]["image_url"].is_string(), "{admin}");
    }
    // Both envelopes of ticket type attributes unwrap into arrays.
    for ticket_type in out.records("ticket_types") {
        assert_eq!(
            ticket_type["ticket_type_attributes"].as_array().unwrap().len(),
            3,
            "{ticket_type}"
        );
        assert!(ticket_type["ticket_states"].is_array());
    }
    for state in out.records("ticket_states") {
        assert_eq!(state["ticket_types"].as_array().unwrap().len(), w.ticket_types.len());
    }
    // Conversation attributes get the model Intercom leaves out.
    for attr in out.records("conversation_attributes") {
        assert_eq!(attr["model"], "conversation");
    }
    // Fields Intercom sends but the schema does not declare are left out.
    for record in out.records("admins") {
        let schema = &out.schema("admins").unwrap()["schema"]["properties"];
        for key in record.as_object().unwrap().keys() {
            assert!(schema.get(key).is_some(), "admins.{key} is not in the schema");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[test]
fn attribute_keys_are_singer_io_record_hashes() {
    let FullSync { run: out, world: w, .. } = full_sync();
    out.ok();
    let (_, attrs) = w.data_attributes.iter().find(|(m, _)| m == "company").unwrap();
    let python_str = |v: Option<&Value>| match v {
        None => String::new(),
        Some(Value::Null) => "None".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let expected: BTreeSet<String> = attrs
        .iter()
        .map(|a| {
            let text = format!(
                "{}{}{}",
                python_str(a.get("id")),
                python_str(a.get("name")),
                python_str(a.get("description"))
            );
            hex(&Sha256::digest(text.as_bytes()))
        })
        .collect();
    let got: BTreeSet<String> = out
        .records("company_attributes")
        .iter()
        .map(|r| r["_sdc_record_hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn page_number_lists_are_followed_to_the_end() {
    let fake = fake();
    fake_intercom_collections(&fake, 45);
    let out = Tap::against(&fake).run();
    out.ok();
    assert_eq!(out.records("help_center_collections").len(), 45);
    let pages = requests_to(&fake, "/help_center/collections");
    // 150 a page: one request. The fake answers 20 a page unless asked, so asking matters.
    assert_eq!(
        pages.len(),
        1,
        "{:?}",
        pages.iter().map(|r| &r.target).collect::<Vec<_>>()
    );
    assert!(pages[0].target.contains("per_page=150"));
}

fn fake_intercom_collections(fake: &fake_intercom::FakeIntercom, n: usize) {
    let mut w = fake.world();
    let template = w.collections[0].clone();
    w.collections = (0..n)
        .map(|i| {
            let mut c = template.clone();
            c["id"] = json!(format!("{}", 10_000 + i));
            c
        })
        .collect();
}

#[test]
fn count_reports_become_one_row_per_counted_thing() {
    let fake = fake();
    {
        // Enough companies for the company user report to need three pages of 150.
        let mut w = fake.world();
        let template = w.companies[0].clone();
        w.companies = (0..320)
            .map(|i| {
                let mut c = template.clone();
                c["id"] = json!(format!("c-{i}"));
                c["company_id"] = json!(format!("remote-{i}"));
                c["name"] = json!(format!("Company {i}"));
                c["user_count"] = json!(i % 7);
                c
            })
            .collect();
    }
    let out = Tap::against(&fake).run();
    out.ok();
    let w = fake.world().clone();
    let snapshot = out.records("counts")[0]["snapshot_at"].clone();
    assert!(snapshot.as_str().unwrap().ends_with('Z'));
    let totals = out.records("counts");
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0]["company_count"], json!(w.companies.len()));
    assert_eq!(totals[0]["tag_count"], json!(w.tags.len()));
    for (stream, kind, count, column) in [
        ("user_segment_counts", "user", "segment", "segment_name"),
        ("user_tag_counts", "user", "tag", "tag_name"),
        ("company_segment_counts", "company", "segment", "segment_name"),
        ("company_tag_counts", "company", "tag", "tag_name"),
    ] {
        let expected: BTreeSet<(String, u64)> = named_counts(&w, kind, count).unwrap().into_iter().collect();
        let got: BTreeSet<(String, u64)> = out
            .records(stream)
            .iter()
            .map(|r| {
                assert_eq!(r["snapshot_at"], snapshot, "{stream}: one snapshot time per run");
                (r[column].as_str().unwrap().to_owned(), r["count"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(got, expected, "{stream}");
    }
    // The company user report is paged through pages.pages.next, 150 a page.
    let user_pages = requests_to(&fake, "/counts")
        .into_iter()
        .filter(|r| r.target.contains("type=company&count=user"))
        .count();
    assert_eq!(user_pages, 3);
    let users = out.records("company_user_counts");
    assert_eq!(users.len(), w.companies.len());
    let acme = &w.companies[0];
    let row = users
        .iter()
        .find(|r| r["remote_company_id"] == acme["company_id"])
        .unwrap();
    assert_eq!(row["company_name"], acme["name"]);
    assert_eq!(row["user_count"], acme["user_count"]);
    assert_eq!(out.records("admin_conversation_counts").len(), w.admins.len());
}

#[test]
fn every_request_carries_auth_version_and_accept_headers() {
    let fake = fake();
    Tap::against(&fake)
        .set("user_agent", json!("acme-pipeline/1.0"))
        .run()
        .ok();
    let requests = fake.requests();
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {}", crate::support::TOKEN).as_str())
        );
        assert_eq!(r.header("intercom-version"), Some("2.14"));
        // A call's transcript is a text file: asked for as text.
        let accept = if r.path().ends_with("/transcript") {
            "text/plain, application/json"
        } else {
            "application/json"
        };
        assert_eq!(r.header("accept"), Some(accept), "{}", r.target);
        assert_eq!(r.header("user-agent"), Some("acme-pipeline/1.0"));
    }
}

#[test]
fn logs_name_streams_counts_and_metrics() {
    let out = &full_sync().run;
    out.ok();
    assert!(out.stderr.contains("admins: started"));
    assert!(out.stderr.contains("admins: done, 6 records"));
    assert!(out.stderr.contains("sync summary: "));
    let metrics: Vec<Value> = out
        .stderr
        .lines()
        .filter_map(|l| {
            l.split_once("METRIC: ")
                .map(|(_, json)| serde_json::from_str(json).unwrap())
        })
        .collect();
    let record_count = metrics
        .iter()
        .find(|m| m["metric"] == "record_count" && m["tags"]["stream"] == "admins")
        .expect("a record_count metric for admins");
    assert_eq!(record_count["type"], "counter");
    assert_eq!(record_count["value"], 6);
    let timer = metrics
        .iter()
        .find(|m| m["metric"] == "http_request_duration")
        .expect("request timings");
    assert_eq!(timer["type"], "timer");
    assert_eq!(timer["tags"]["http_status_code"], 200);
    // Nothing but Singer messages on stdout.
    assert!(!out.stdout.contains("METRIC"));
}
