//! What real Intercom and its descriptions allow, and the fakes the tap was built with did not
//! send (issue 19): each surprise costs one stream at most, never the run; nothing Intercom
//! sends is dropped, and no record it returns is skipped without a word.

use std::collections::BTreeSet;
use std::time::Duration;

use fake_intercom::{Fault, FaultKind, Options, Size, World};
use serde_json::{Value, json};

use crate::support::{
    Run, Tap, fake, fake_with, id_string, ids, meltano_catalog, ok_streams, requests_to, rows, summary_lines,
    test_options, world_ids,
};

/// Every stream a sync without a catalog runs: those API version 2.14 (the default) has.
/// The streams a run without a catalog syncs: every stream of 2.14 but the exports, which start
/// jobs in Intercom and run only when a catalog selects them.
fn every_stream() -> BTreeSet<String> {
    tap_intercom::streams::ALL
        .iter()
        .filter(|s| s.exists_in(tap_intercom::version::ApiVersion::V2_14))
        .filter(|s| !matches!(s.read, tap_intercom::streams::Read::Export(_)))
        .map(|s| s.name.to_owned())
        .collect()
}

/// The CRITICAL lines that end a failed run.
fn critical(run: &Run) -> Vec<&str> {
    run.stderr.lines().filter(|l| l.contains("CRITICAL")).collect()
}

fn status_of(run: &Run, stream: &str) -> String {
    match summary_lines(run).find(|(name, _)| name == stream) {
        Some((_, status)) => status,
        None => panic!("no summary line for {stream}:\n{}", run.stderr),
    }
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[test]
fn a_malformed_record_costs_its_stream_only_and_every_run_writes_the_same() {
    let healthy = &crate::support::full_sync().run;
    healthy.ok();
    let fake = fake();
    let (bad, bad_at) = {
        let mut world = fake.world();
        let ticket = &mut world.tickets[3];
        ticket["ticket_state"] = json!(["not", "a", "state"]);
        (id_string(&ticket["id"]), ticket["updated_at"].as_i64().unwrap())
    };
    let mut expected = rows(healthy);
    expected
        .get_mut("tickets")
        .unwrap()
        .retain(|r| !r.contains(&format!("\"id\":\"{bad}\"")));
    let mut outputs = Vec::new();
    for _ in 0..4 {
        let out = Tap::against(&fake).run();
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        out.check_protocol();
        let lines = critical(&out);
        assert!(
            lines[0].contains(&format!("1 of {} streams failed", every_stream().len())),
            "{lines:?}"
        );
        let cause = lines
            .iter()
            .find(|l| l.contains("tickets:"))
            .expect("a line for tickets");
        assert!(
            cause.contains(&format!("tickets: record {bad} not written"))
                && cause.contains("ticket_state")
                && cause.contains("POST /tickets/search"),
            "the line names the record, the field and the request: {cause}"
        );
        let ok: BTreeSet<String> = every_stream().into_iter().filter(|s| s != "tickets").collect();
        assert_eq!(ok_streams(&out), ok, "every other stream completes");
        assert_eq!(status_of(&out, "tickets"), "FAILED");
        // Nothing but the bad ticket is missing: the same rows as a healthy run.
        assert_eq!(rows(&out), expected);
        // The bookmark stays at the bad ticket, so that the next run reads it again; every
        // other incremental stream has moved on.
        let state = out.final_state();
        assert_eq!(state["bookmarks"]["tickets"]["updated_at"], json!(rfc3339(bad_at)));
        for stream in ["contacts", "conversations", "ticket_parts", "companies", "articles"] {
            assert!(state["bookmarks"][stream].is_object(), "{stream}: {state}");
        }
        let said: Vec<String> = critical(&out)
            .iter()
            .map(|l| l.split_once("CRITICAL").unwrap().1.to_owned())
            .collect();
        outputs.push((rows(&out), state["bookmarks"]["tickets"].clone(), said));
    }
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "the same input gives the same output"
    );
}

#[test]
fn an_older_ticket_state_given_as_its_category_is_read() {
    let fake = fake();
    let id = {
        let mut world = fake.world();
        world.tickets[2]["ticket_state"] = json!("waiting_on_customer");
        id_string(&world.tickets[2]["id"])
    };
    let out = Tap::against(&fake).catalog(meltano_catalog(&["tickets"], &[])).run();
    out.ok();
    let ticket = out
        .records("tickets")
        .into_iter()
        .find(|t| t["id"] == json!(id))
        .unwrap();
    assert_eq!(ticket["ticket_state"]["category"], "waiting_on_customer");
}

#[test]
fn an_error_answer_ends_its_stream_and_the_others_run_to_their_end() {
    let fake = fake();
    fake.add_fault(Fault::new("/conversations/search", FaultKind::Status(400)).times(1_000));
    let out = Tap::against(&fake).run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    out.check_protocol();
    let last = out.failure_line();
    assert!(
        last.contains("conversations: POST /conversations/search failed with HTTP 400"),
        "the cause and the request: {last}"
    );
    let ok: BTreeSet<String> = every_stream()
        .into_iter()
        .filter(|s| s != "conversations" && s != "conversation_parts")
        .collect();
    assert_eq!(ok_streams(&out), ok);
    assert_eq!(
        status_of(&out, "conversation_parts"),
        "FAILED (stopped with conversations)"
    );
    let w = fake.world().clone();
    assert_eq!(ids(&out, "contacts"), world_ids(&w, "contacts"));
    assert_eq!(ids(&out, "tickets"), world_ids(&w, "tickets"));
    let state = out.final_state();
    assert!(state["bookmarks"]["contacts"]["updated_at"].is_string(), "{state}");
    assert!(state["bookmarks"].get("conversations").is_none(), "{state}");
}

#[test]
fn a_404_on_an_endpoint_intercom_no_longer_documents_skips_it() {
    let fake = fake();
    fake.add_fault(Fault::new("/counts", FaultKind::Status(404)).times(1_000));
    let out = Tap::against(&fake).run();
    out.ok();
    let counts: Vec<&str> = tap_intercom::streams::ALL
        .iter()
        .map(|s| s.name)
        .filter(|n| n.ends_with("counts"))
        .collect();
    assert_eq!(counts.len(), 8);
    for stream in &counts {
        assert!(status_of(&out, stream).starts_with("skipped (404"), "{stream}");
        assert!(
            out.stderr.lines().any(|l| l.contains("WARNING")
                && l.contains(&format!("{stream}: skipped: Intercom no longer serves this endpoint"))),
            "{stream}: a warning:\n{}",
            out.stderr
        );
    }
    assert_eq!(ok_streams(&out).len(), every_stream().len() - counts.len());
    // A documented endpoint's 404 is a failure, not a skip.
    let fake = crate::support::fake();
    fake.add_fault(Fault::new("/tags", FaultKind::Status(404)).times(1_000));
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["tags", "admins"], &[]))
        .run();
    assert_eq!(out.code, Some(1));
    assert_eq!(status_of(&out, "tags"), "FAILED");
    assert_eq!(status_of(&out, "admins"), "ok");
}

#[test]
fn failures_of_the_whole_run_stop_every_stream_at_once() {
    let fake = fake_with(
        World::generate(1, Size::small()),
        Options {
            latency: Duration::from_millis(150),
            ..test_options()
        },
    );
    // A token revoked after the check: every stream stops, not only the one that met it.
    fake.add_fault(Fault::new("/admins", FaultKind::Status(401)).times(1_000));
    let out = Tap::against(&fake).run();
    let last = out.failure_line();
    assert!(last.contains("admins: GET /admins failed with HTTP 401"), "{last}");
    let stopped = summary_lines(&out).filter(|(_, s)| s == "stopped").count();
    assert!(stopped > 0, "other streams were stopped:\n{}", out.stderr);
    assert!(
        out.records("conversation_parts").len() < world_ids(&fake.world().clone(), "conversation_parts").len(),
        "conversation parts were not all read"
    );
}

#[test]
fn a_scroll_that_repeats_its_page_restarts_and_ends_within_a_bound() {
    let options = Options {
        scroll_expiry: Duration::from_millis(300),
        ..test_options()
    };
    // Every page after the first repeats it: the walk sees it, restarts, and gives up.
    let fake = fake_with(World::generate(1, Size::small()), options.clone());
    fake.add_fault(Fault::new("/companies/scroll", FaultKind::RepeatPage).times(1_000));
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["companies", "admins"], &[]))
        .run();
    assert_eq!(out.code, Some(1));
    let last = out.failure_line();
    assert!(
        last.contains("companies") && last.contains("going in circles"),
        "{last}"
    );
    let companies = fake.world().companies.len();
    let written = out.records("companies").len();
    assert!(
        written <= 6 * companies,
        "{written} records for {companies} companies: the first page once per scroll"
    );
    assert_eq!(status_of(&out, "admins"), "ok");
    // Once: the scroll restarts, and every company is read.
    let fake = fake_with(World::generate(1, Size::small()), options);
    fake.add_fault(Fault::new("/companies/scroll", FaultKind::RepeatPage).skip(1));
    let out = Tap::against(&fake).catalog(meltano_catalog(&["companies"], &[])).run();
    out.ok();
    assert!(out.stderr.contains("restarting the scroll"), "{}", out.stderr);
    assert_eq!(ids(&out, "companies"), world_ids(&fake.world().clone(), "companies"));
}

#[test]
fn a_null_cursor_is_the_last_page() {
    let fake = fake();
    for path in ["/contacts/search", "/conversations/search", "/tickets/search"] {
        fake.add_fault(Fault::new(path, FaultKind::NullCursor).times(1_000));
    }
    let streams = ["contacts", "conversations", "tickets"];
    let out = Tap::against(&fake).catalog(meltano_catalog(&streams, &[])).run();
    out.ok();
    let w = fake.world().clone();
    for stream in streams {
        assert_eq!(ids(&out, stream), world_ids(&w, stream), "{stream}");
    }
    let last = requests_to(&fake, "/contacts/search");
    assert!(!last.is_empty());
}

#[test]
fn a_null_item_is_named_and_the_others_are_written() {
    let fake = fake();
    fake.add_fault(Fault::new("/tags", FaultKind::NullItem));
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["tags", "admins"], &[]))
        .run();
    assert_eq!(out.code, Some(1));
    let last = out.failure_line();
    assert!(
        last.contains("tags") && last.contains("GET /tags") && last.contains("item 2 of the page is null"),
        "{last}"
    );
    assert_eq!(out.records("tags").len(), fake.world().tags.len());
    assert_eq!(status_of(&out, "admins"), "ok");
    // A version that lacks a row retires nothing.
    let activations = out
        .messages
        .iter()
        .filter(|m| m["type"] == "ACTIVATE_VERSION" && m["stream"] == "tags")
        .count();
    assert_eq!(activations, 1, "only the first version's, before the records");
}

#[test]
fn properties_the_schemas_do_not_declare_are_kept_under_their_paths() {
    let fake = fake();
    let (contact, conversation) = {
        let mut world = fake.world();
        world.contacts[0]["brand_new"] = json!({"x": [1, 2]});
        world.contacts[0]["location"]["zip_plus_four"] = json!("1234");
        world.conversations[0]["source"]["brand_new_nested"] = json!(5);
        (
            id_string(&world.contacts[0]["id"]),
            id_string(&world.conversations[0]["id"]),
        )
    };
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts", "conversations"], &[]))
        .run();
    out.ok();
    let find = |stream: &str, id: &str| {
        out.records(stream)
            .into_iter()
            .find(|r| r["id"] == json!(id))
            .unwrap()
            .clone()
    };
    assert_eq!(
        find("contacts", &contact)["undeclared_properties"],
        json!({"brand_new": {"x": [1, 2]}, "location.zip_plus_four": "1234"})
    );
    assert_eq!(
        find("conversations", &conversation)["undeclared_properties"],
        json!({"source.brand_new_nested": 5})
    );
    // The others carry none.
    assert_eq!(
        out.records("contacts")
            .iter()
            .filter(|r| !r["undeclared_properties"].is_null())
            .count(),
        1
    );
    for path in ["brand_new", "location.zip_plus_four"] {
        let warned = out
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("sent {path}, which")) && l.contains("kept in undeclared_properties"))
            .count();
        assert_eq!(warned, 1, "{path}:\n{}", out.stderr);
    }
    // The column is a field like any other: deselected, it is not written.
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts"], &[("contacts", "undeclared_properties")]))
        .run();
    out.ok();
    assert!(
        out.records("contacts")
            .iter()
            .all(|r| r.get("undeclared_properties").is_none())
    );
    assert!(out.stderr.contains("left out (undeclared_properties is deselected)"));
    let schema = &out.schema("contacts").unwrap()["schema"]["properties"];
    assert!(schema.get("undeclared_properties").is_none());
}

#[test]
fn an_avatar_given_as_its_url_inside_fetched_notes_is_read_as_its_object() {
    let fake = fake();
    let id = {
        let mut world = fake.world();
        let contact = world
            .contacts
            .iter_mut()
            .find(|c| c["_notes"].as_array().is_some_and(|n| n.len() > 10))
            .expect("a contact whose notes are cut short");
        for note in contact["_notes"].as_array_mut().unwrap() {
            note["author"]["avatar"] = json!("https://static.intercomassets.com/avatars/1/a.png");
        }
        id_string(&contact["id"])
    };
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts", "contact_notes"], &[]))
        .run();
    out.ok();
    let avatar = json!({"image_url": "https://static.intercomassets.com/avatars/1/a.png"});
    let contact = out
        .records("contacts")
        .into_iter()
        .find(|c| c["id"] == json!(id))
        .unwrap();
    let notes = contact["notes"]["data"].as_array().unwrap();
    assert!(notes.len() > 10, "the list was fetched whole");
    assert!(notes.iter().all(|n| n["author"]["avatar"] == avatar), "{notes:?}");
    let rows: Vec<&Value> = out
        .records("contact_notes")
        .into_iter()
        .filter(|n| n["contact_id"] == json!(id))
        .collect();
    assert_eq!(rows.len(), notes.len());
    assert!(rows.iter().all(|n| n["author"]["avatar"] == avatar));
}

#[test]
fn records_far_below_the_range_asked_are_written_once_named_and_move_no_bookmark() {
    let fake = fake();
    let far_below = {
        let mut world = fake.world();
        world.contacts[5]["updated_at"] = json!(-86_400 * 365);
        world.conversations[5]["updated_at"] = json!(-86_400 * 365);
        [
            id_string(&world.contacts[5]["id"]),
            id_string(&world.conversations[5]["id"]),
        ]
    };
    // A server that ignores the time filter: everything comes back for every query.
    for path in ["/contacts/search", "/conversations/search"] {
        fake.add_fault(Fault::new(path, FaultKind::IgnoreFilter).times(100_000));
    }
    let w = fake.world().clone();
    let median = |items: &[Value]| {
        let mut times: Vec<i64> = items.iter().filter_map(|i| i["updated_at"].as_i64()).collect();
        times.sort_unstable();
        times[times.len() / 2]
    };
    let mark = median(&w.contacts).max(median(&w.conversations));
    let state = json!({"bookmarks": {
        "contacts": {"updated_at": rfc3339(mark)},
        "conversations": {"updated_at": rfc3339(mark)}}});
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts", "conversations"], &[]))
        .state(state)
        .run();
    out.ok();
    for (stream, items, reach) in [
        ("contacts", &w.contacts, 2 * 86_400),
        ("conversations", &w.conversations, 0),
    ] {
        let written: Vec<String> = out.records(stream).iter().map(|r| id_string(&r["id"])).collect();
        let once: BTreeSet<&String> = written.iter().collect();
        assert_eq!(once.len(), written.len(), "{stream}: each record once");
        let time = |i: &Value| i["updated_at"].as_i64().unwrap();
        let expected: BTreeSet<String> = items
            .iter()
            .filter(|i| time(i) >= mark || time(i) < mark - reach)
            .map(|i| id_string(&i["id"]))
            .collect();
        let written: BTreeSet<String> = written.into_iter().collect();
        assert_eq!(written, expected, "{stream}");
        let strays = items.iter().filter(|i| time(i) < mark - reach).count();
        assert!(strays > 1, "{stream}: the test has strays");
        assert_eq!(
            status_of(&out, stream),
            format!("ok, {strays} outside the range asked for")
        );
        // No STATE ever puts the bookmark below where it was.
        for state in out.states() {
            if let Some(at) = state["bookmarks"][stream]["updated_at"].as_str() {
                assert!(at >= rfc3339(mark).as_str(), "{stream}: {at}");
            }
        }
    }
    for id in &far_below {
        let named = out.stderr.lines().any(|l| {
            l.contains(&format!(
                "record {id} with updated_at 1969-01-01T00:00:00Z, outside the range asked for"
            ))
        });
        assert!(named, "{id} is named:\n{}", out.stderr);
    }
}

#[test]
fn a_record_dated_after_the_sync_started_is_written_named_and_moves_no_bookmark() {
    let fake = fake();
    let year_3000 = 32_503_680_000_i64;
    let (contact, company) = {
        let mut world = fake.world();
        world.contacts[7]["updated_at"] = json!(year_3000);
        world.companies[7]["updated_at"] = json!(year_3000);
        (
            id_string(&world.contacts[7]["id"]),
            id_string(&world.companies[7]["id"]),
        )
    };
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts", "companies"], &[]))
        .run();
    out.ok();
    for (stream, id) in [("contacts", &contact), ("companies", &company)] {
        let record = out.records(stream).into_iter().find(|r| r["id"] == json!(id)).unwrap();
        assert_eq!(record["updated_at"], "3000-01-01T00:00:00Z");
        assert!(
            out.stderr.lines().any(
                |l| l.contains(&format!("record {id} with updated_at 3000-01-01T00:00:00Z"))
                    && l.contains("impossible")
            ),
            "{stream}: named:\n{}",
            out.stderr
        );
        let mark = out.final_state()["bookmarks"][stream]["updated_at"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(mark.as_str() < "2100", "{stream}: the bookmark is {mark}");
    }
    let w = fake.world().clone();
    assert_eq!(ids(&out, "contacts"), world_ids(&w, "contacts"));
}

#[test]
fn every_form_of_a_time_is_one_instant_in_the_record_and_the_range() {
    let fake = fake();
    let base = fake_intercom::world::BASE;
    let start = base + 86_400;
    let forms = [
        // Before the start, in milliseconds: not in range (as seconds it would be 55,000 years on).
        (json!((base + 100) * 1_000), None),
        // After it, as a numeric string, with a fraction, in milliseconds.
        (json!((start + 300).to_string()), Some(rfc3339(start + 300))),
        (
            json!(f64::from(u32::try_from(start).unwrap()) + 400.5),
            Some(format!("{}.500Z", &rfc3339(start + 400)[..19])),
        ),
        (json!((start + 500) * 1_000), Some(rfc3339(start + 500))),
    ];
    let ids: Vec<String> = {
        let mut world = fake.world();
        forms
            .iter()
            .enumerate()
            .map(|(i, (form, _))| {
                world.companies[i]["updated_at"] = form.clone();
                id_string(&world.companies[i]["id"])
            })
            .collect()
    };
    let out = Tap::against(&fake)
        .set("start_date", json!(rfc3339(start)))
        .catalog(meltano_catalog(&["companies"], &[]))
        .run();
    out.ok();
    for (id, (form, expected)) in ids.iter().zip(&forms) {
        let record = out.records("companies").into_iter().find(|r| r["id"] == json!(id));
        match expected {
            None => assert!(record.is_none(), "{form}: out of range"),
            Some(at) => assert_eq!(record.map(|r| r["updated_at"].clone()), Some(json!(at)), "{form}"),
        }
    }
}

#[test]
fn search_bodies_keep_filters_and_groups_apart() {
    fn uniform(node: &Value) -> bool {
        match node["value"].as_array() {
            Some(items) if node.get("field").is_none() => {
                let groups = items.iter().filter(|i| i.get("field").is_none()).count();
                (groups == 0 || groups == items.len()) && items.iter().all(uniform)
            }
            _ => true,
        }
    }
    let fake = fake();
    let out = Tap::against(&fake)
        .set("end_date", json!("2030-01-01T00:00:00Z"))
        .catalog(meltano_catalog(&["contacts", "users", "conversations", "tickets"], &[]))
        .run();
    out.ok();
    let bodies: Vec<Value> = ["/contacts/search", "/conversations/search", "/tickets/search"]
        .iter()
        .flat_map(|p| requests_to(&fake, p))
        .map(|r| r.body.unwrap())
        .collect();
    assert!(bodies.len() >= 4);
    for body in bodies {
        assert!(uniform(&body["query"]), "{}", body["query"]);
    }
}

#[test]
fn a_part_that_cannot_be_written_costs_only_the_parts() {
    let fake = fake();
    let (conversation, at, part) = {
        let mut world = fake.world();
        let c = &mut world.conversations[4];
        let part = &mut c["conversation_parts"]["conversation_parts"][0];
        part["created_at"] = json!("soon");
        let part = id_string(&part["id"]);
        (id_string(&c["id"]), c["updated_at"].as_i64().unwrap(), part)
    };
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["conversations", "conversation_parts"], &[]))
        .run();
    assert_eq!(out.code, Some(1));
    let last = out.failure_line();
    assert!(
        last.contains(&format!("conversation_parts: record {part} not written"))
            && last.contains(&format!("GET /conversations/{conversation}")),
        "{last}"
    );
    assert_eq!(status_of(&out, "conversations"), "ok");
    assert_eq!(status_of(&out, "conversation_parts"), "FAILED");
    let w = fake.world().clone();
    assert_eq!(ids(&out, "conversations"), world_ids(&w, "conversations"));
    let mut parts = world_ids(&w, "conversation_parts");
    parts.remove(&part);
    assert_eq!(ids(&out, "conversation_parts"), parts, "every other part is written");
    let state = out.final_state();
    assert_eq!(
        state["bookmarks"]["conversation_parts"]["updated_at"],
        json!(rfc3339(at)),
        "the parts' bookmark stays at the conversation whose part was not written"
    );
    assert!(state["bookmarks"]["conversations"]["updated_at"].as_str().unwrap() > rfc3339(at).as_str());
}
