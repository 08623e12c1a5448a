//! The incremental streams: complete first syncs, cheap second syncs, and selection.

use std::collections::BTreeSet;

use chrono::Utc;
use fake_intercom::{Options, Size, World};
use serde_json::{Value, json};

use crate::support::{INCREMENTAL, Tap, fake, fake_with, id_string, ids, meltano_catalog, requests_to, world_ids};

/// A fake whose ticket search shows only 2 parts of each ticket, as if cut short.
fn fake_with_tickets_cut_short() -> fake_intercom::FakeIntercom {
    let options = Options {
        ticket_search_parts_cap: 2,
        ..crate::support::test_options()
    };
    fake_with(World::generate(1, Size::small()), options)
}

/// Gives the first conversation 620 parts, `long-0` (oldest) to `long-619`; returns its id.
fn conversation_with_620_parts(fake: &fake_intercom::FakeIntercom) -> String {
    let mut w = fake.world();
    let c = &mut w.conversations[0];
    let template = World::parts_of(c)[0].clone();
    let parts: Vec<Value> = (0..620)
        .map(|i| {
            let mut p = template.clone();
            p["id"] = json!(format!("long-{i}"));
            p
        })
        .collect();
    c["conversation_parts"]["conversation_parts"] = json!(parts);
    c["id"].as_str().unwrap().to_owned()
}

/// Makes `path` answer 404, as for an object deleted after the search found it.
fn deleted_after_the_search(fake: &fake_intercom::FakeIntercom, path: &str) {
    fake.add_fault(fake_intercom::Fault::new(path, fake_intercom::FaultKind::Status(404)));
}

/// The parents whose parts a run emitted.
fn parents_in(out: &crate::support::Run, child: &str, parent_key: &str) -> BTreeSet<String> {
    out.records(child).iter().map(|p| id_string(&p[parent_key])).collect()
}

fn now() -> i64 {
    Utc::now().timestamp()
}

#[test]
fn every_incremental_stream_syncs_completely() {
    let crate::support::FullSync {
        run: out,
        world: w,
        requests,
    } = crate::support::full_sync();
    out.ok();
    for stream in INCREMENTAL.iter().chain(&["users", "leads"]) {
        assert_eq!(ids(out, stream), world_ids(w, stream), "{stream}");
    }
    for user in out.records("users") {
        assert_eq!(user["role"], "user");
    }
    // Parts name their parent and what a warehouse joins on.
    for part in out.records("conversation_parts") {
        let parent = w
            .conversations
            .iter()
            .find(|c| c["id"] == part["conversation_id"])
            .expect("a parent");
        assert_eq!(part["conversation_total_parts"], json!(World::parts_of(parent).len()));
        assert!(part["conversation_updated_at"].as_str().unwrap().ends_with('Z'));
    }
    for part in out.records("ticket_parts") {
        assert!(w.tickets.iter().any(|t| t["id"] == part["ticket_id"]), "{part}");
    }
    // Lists Intercom cuts at ten are complete.
    let long = w
        .contacts
        .iter()
        .find(|c| c["tags"]["data"].as_array().unwrap().len() > 10)
        .unwrap();
    let record = out
        .records("contacts")
        .into_iter()
        .find(|c| c["id"] == long["id"])
        .unwrap();
    assert_eq!(
        record["tags"].as_array().unwrap().len(),
        long["tags"]["data"].as_array().unwrap().len()
    );
    assert_eq!(
        record["companies"].as_array().unwrap().len(),
        long["companies"]["data"].as_array().unwrap().len()
    );
    assert_eq!(
        record["notes"]["data"].as_array().unwrap().len(),
        long["notes"]["data"].as_array().unwrap().len()
    );
    assert_eq!(record["notes"]["has_more"], false);
    // Conversations carry lists unwrapped, teammates under `admins`, and no parts.
    for c in out.records("conversations") {
        assert!(c["tags"].is_array() && c["contacts"].is_array(), "{c}");
        assert!(c.get("conversation_parts").is_none());
        assert!(c["teammates"]["admins"].is_array(), "{c}");
    }
    for company in out.records("companies") {
        assert!(company["tags"].is_array() && company["segments"].is_array());
    }
    // The search asked for what singer-io asks, plus the sort.
    let body = requests
        .iter()
        .filter(|r| r.path() == "/contacts/search")
        .filter_map(|r| r.body.as_ref())
        .find(|b| b["query"]["operator"] == "OR")
        .expect("the contacts search (users and leads add a role filter)");
    assert_eq!(body["sort"], json!({"field": "updated_at", "order": "ascending"}));
    assert_eq!(body["pagination"]["per_page"], 150);
    let start = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
        .unwrap()
        .timestamp();
    assert_eq!(
        body["query"]["value"][0],
        json!({"field": "updated_at", "operator": ">", "value": start})
    );
    assert_eq!(
        body["query"]["value"][1],
        json!({"field": "updated_at", "operator": "=", "value": start})
    );
}

#[test]
fn a_second_run_reads_only_what_changed() {
    let fake = fake();
    let first = Tap::against(&fake).run();
    first.ok();
    let started = now();
    // Every bookmark sits at the sync's start less the index lag (600 s by default).
    for stream in [
        "contacts",
        "conversations",
        "conversation_parts",
        "tickets",
        "ticket_parts",
    ] {
        let at = first.final_state()["bookmarks"][stream]["updated_at"].as_str().unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().timestamp();
        assert!(
            (started - 700..=started - 590).contains(&at),
            "{stream}: {at} vs {started}"
        );
    }
    let changed_at = now() - 5;
    let (contacts, conversations, companies, tickets) = {
        let mut w = fake.world();
        let pick = |items: &mut Vec<Value>, n: usize| -> BTreeSet<String> {
            items
                .iter_mut()
                .step_by(7)
                .take(n)
                .map(|item| {
                    item["updated_at"] = json!(changed_at);
                    id_string(&item["id"])
                })
                .collect()
        };
        let contacts = pick(&mut w.contacts, 3);
        let conversations = pick(&mut w.conversations, 2);
        let companies = pick(&mut w.companies, 2);
        let tickets = pick(&mut w.tickets, 2);
        (contacts, conversations, companies, tickets)
    };
    let second = Tap::against(&fake).state(first.final_state().clone()).run();
    second.ok();
    assert_eq!(ids(&second, "contacts"), contacts);
    assert_eq!(ids(&second, "conversations"), conversations);
    assert_eq!(ids(&second, "tickets"), tickets);
    // Companies are all read and those at or after the bookmark emitted: the changed ones, and
    // the ones sharing the old bookmark's second.
    let bookmark = first.final_state()["bookmarks"]["companies"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let at_bookmark: BTreeSet<String> = first
        .records("companies")
        .iter()
        .filter(|c| c["updated_at"] == json!(bookmark))
        .map(|c| id_string(&c["id"]))
        .collect();
    assert_eq!(
        ids(&second, "companies"),
        companies.union(&at_bookmark).cloned().collect()
    );
    // Only the changed conversations were fetched for their parts.
    let fetches = |fake: &fake_intercom::FakeIntercom| -> Vec<String> {
        requests_to(fake, "/conversations/")
            .iter()
            .filter(|r| r.method == "GET")
            .map(|r| r.path().trim_start_matches("/conversations/").to_owned())
            .collect()
    };
    let all = fetches(&fake);
    let in_second: BTreeSet<String> = all[fake.world().conversations.len()..].iter().cloned().collect();
    assert_eq!(in_second, conversations);
    let parts: BTreeSet<String> = second
        .records("conversation_parts")
        .iter()
        .map(|p| id_string(&p["conversation_id"]))
        .collect();
    assert_eq!(parts, conversations);
}

#[test]
fn parts_without_their_conversations() {
    let fake = fake();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["conversation_parts", "ticket_parts"], &[]))
        .run();
    out.ok();
    let schemas: BTreeSet<&str> = out.schemas().into_iter().collect();
    assert_eq!(schemas, BTreeSet::from(["conversation_parts", "ticket_parts"]));
    let w = fake.world().clone();
    assert_eq!(ids(&out, "conversation_parts"), world_ids(&w, "conversation_parts"));
    assert_eq!(ids(&out, "ticket_parts"), world_ids(&w, "ticket_parts"));
    // The parents were read, not written, and keep no bookmark of their own.
    assert!(!requests_to(&fake, "/conversations/search").is_empty());
    let state = out.final_state();
    assert!(state["bookmarks"].get("conversations").is_none());
    assert!(state["bookmarks"]["conversation_parts"]["updated_at"].is_string());
}

#[test]
fn users_and_leads_without_contacts() {
    let fake = fake();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["users", "leads"], &[]))
        .run();
    out.ok();
    let w = fake.world().clone();
    assert_eq!(ids(&out, "users"), world_ids(&w, "users"));
    assert_eq!(ids(&out, "leads"), world_ids(&w, "leads"));
    assert!(out.records("contacts").is_empty());
    let roles: BTreeSet<String> = requests_to(&fake, "/contacts/search")
        .iter()
        .map(|r| role_of(&r.body.as_ref().unwrap()["query"]).expect("a role filter"))
        .collect();
    assert_eq!(roles, BTreeSet::from(["lead".to_owned(), "user".to_owned()]));
}

/// The value of the query's `role` filter, wherever it is nested.
fn role_of(query: &Value) -> Option<String> {
    if query["field"] == "role" {
        return query["value"].as_str().map(str::to_owned);
    }
    query["value"].as_array()?.iter().find_map(role_of)
}

#[test]
fn a_deselected_list_costs_no_request() {
    let fake = fake();
    let catalog = meltano_catalog(&["contacts"], &[("contacts", "tags"), ("contacts", "notes")]);
    let out = Tap::against(&fake).catalog(catalog).run();
    out.ok();
    let gets: Vec<String> = requests_to(&fake, "/contacts/")
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert!(
        !gets.iter().any(|p| p.ends_with("/tags") || p.ends_with("/notes")),
        "{gets:?}"
    );
    // The selected list that was cut short was fetched.
    assert!(gets.iter().any(|p| p.ends_with("/companies")), "{gets:?}");
    for contact in out.records("contacts") {
        assert!(contact.get("tags").is_none() && contact.get("notes").is_none());
    }
}

#[test]
fn articles_stop_paging_at_the_bookmark() {
    let fake = fake();
    {
        let mut w = fake.world();
        let template = w.articles[0].clone();
        w.articles = (0..400)
            .map(|i| {
                let mut a = template.clone();
                a["id"] = json!(format!("a-{i}"));
                a["updated_at"] = json!(1_700_000_000 + i * 60);
                a
            })
            .collect();
    }
    let first = Tap::against(&fake).catalog(meltano_catalog(&["articles"], &[])).run();
    first.ok();
    assert_eq!(first.records("articles").len(), 400);
    assert_eq!(requests_to(&fake, "/articles").len(), 3);
    {
        let mut w = fake.world();
        w.articles[10]["updated_at"] = json!(now() - 30);
        w.articles[20]["updated_at"] = json!(now() - 20);
    }
    let second = Tap::against(&fake)
        .catalog(meltano_catalog(&["articles"], &[]))
        .state(first.final_state().clone())
        .run();
    second.ok();
    // The two changed, and the one at the old bookmark's second.
    assert_eq!(
        ids(&second, "articles"),
        BTreeSet::from(["a-10".into(), "a-20".into(), "a-399".into()])
    );
    assert_eq!(
        requests_to(&fake, "/articles").len(),
        4,
        "the second run reads one page"
    );
}

#[test]
fn activity_logs_are_read_in_windows_that_fit() {
    let fake = fake();
    {
        // 700 logs in two days: the fake answers 50 at most and gives no next page.
        let mut w = fake.world();
        let template = w.activity_logs[0].clone();
        w.activity_logs = (0..700)
            .map(|i| {
                let mut l = template.clone();
                l["id"] = json!(format!("log-{i}"));
                l["created_at"] = json!(1_700_000_000 + i * 240);
                l
            })
            .collect();
    }
    let first = Tap::against(&fake)
        .catalog(meltano_catalog(&["activity_logs"], &[]))
        .run();
    first.ok();
    let records = first.records("activity_logs");
    assert_eq!(records.len(), 700, "every log once");
    assert_eq!(ids(&first, "activity_logs").len(), 700);
    for r in requests_to(&fake, "/admins/activity_logs") {
        assert!(r.target.contains("created_at_after=") && r.target.contains("created_at_before="));
    }
    fake.world().activity_logs[0]["created_at"] = json!(now() - 60);
    let second = Tap::against(&fake)
        .catalog(meltano_catalog(&["activity_logs"], &[]))
        .state(first.final_state().clone())
        .run();
    second.ok();
    assert_eq!(ids(&second, "activity_logs"), BTreeSet::from(["log-0".to_owned()]));
}

#[test]
fn activity_logs_one_a_second_are_all_read_when_windows_are_halved() {
    // 300 logs in 300 seconds: the fake answers 50 at most with no next page, so the tap halves
    // its windows down to spans that are not whole days, hours or minutes.
    let fake = fake();
    let first_at = 1_700_000_000;
    {
        let mut w = fake.world();
        let template = w.activity_logs[0].clone();
        w.activity_logs = (0..300)
            .map(|i| {
                let mut l = template.clone();
                l["id"] = json!(format!("log-{i}"));
                l["created_at"] = json!(first_at + i);
                l
            })
            .collect();
    }
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["activity_logs"], &[]))
        .set(
            "start_date",
            json!(chrono::DateTime::from_timestamp(first_at, 0).unwrap().to_rfc3339()),
        )
        .run();
    out.ok();
    let expected: BTreeSet<String> = (0..300).map(|i| format!("log-{i}")).collect();
    assert_eq!(ids(&out, "activity_logs"), expected);
    assert_eq!(out.records("activity_logs").len(), 300, "every log once");
    for state in out.states() {
        if let Some(at) = state["bookmarks"]["activity_logs"]["created_at"].as_str() {
            assert!(!at.contains('.'), "window edges are whole seconds: {at}");
        }
    }
}

#[test]
fn a_conversation_deleted_after_the_search_is_skipped() {
    let fake = fake();
    let gone = fake.world().conversations[3]["id"].as_str().unwrap().to_owned();
    deleted_after_the_search(&fake, &format!("/conversations/{gone}"));
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["conversations", "conversation_parts"], &[]))
        .run();
    out.ok();
    assert!(
        out.stderr.contains(&format!("conversation {gone} was deleted")),
        "{}",
        out.stderr
    );
    let parents = parents_in(&out, "conversation_parts", "conversation_id");
    assert!(!parents.contains(&gone));
    assert_eq!(parents.len(), fake.world().conversations.len() - 1);
}

#[test]
fn a_ticket_deleted_before_its_parts_are_fetched_is_skipped() {
    let fake = fake_with_tickets_cut_short();
    let w = fake.world().clone();
    let gone = w
        .tickets
        .iter()
        .find(|t| t["ticket_parts"]["ticket_parts"].as_array().unwrap().len() > 2)
        .map(|t| id_string(&t["id"]))
        .expect("a ticket with more parts than the search carries");
    deleted_after_the_search(&fake, &format!("/tickets/{gone}"));
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["tickets", "ticket_parts"], &[]))
        .run();
    out.ok();
    assert!(
        out.stderr.contains(&format!("ticket {gone} was deleted")),
        "{}",
        out.stderr
    );
    let parents = parents_in(&out, "ticket_parts", "ticket_id");
    assert!(!parents.contains(&gone));
    assert_eq!(parents.len(), w.tickets.len() - 1);
    assert_eq!(
        ids(&out, "tickets"),
        world_ids(&w, "tickets"),
        "the ticket itself was found"
    );
}

#[test]
fn tickets_cut_short_by_the_search_are_fetched_whole() {
    let fake = fake_with_tickets_cut_short();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["tickets", "ticket_parts"], &[]))
        .run();
    out.ok();
    let w = fake.world().clone();
    assert_eq!(ids(&out, "ticket_parts"), world_ids(&w, "ticket_parts"));
    let long = w
        .tickets
        .iter()
        .filter(|t| t["ticket_parts"]["ticket_parts"].as_array().unwrap().len() > 2)
        .count();
    assert_eq!(
        requests_to(&fake, "/tickets/")
            .iter()
            .filter(|r| r.method == "GET")
            .count(),
        long
    );
}

#[test]
fn the_500_part_cap_is_reported() {
    let fake = fake();
    let id = conversation_with_620_parts(&fake);
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["conversation_parts"], &[]))
        .run();
    out.ok();
    let parts: Vec<&Value> = out
        .records("conversation_parts")
        .into_iter()
        .filter(|p| p["conversation_id"] == id)
        .collect();
    assert_eq!(parts.len(), 500);
    assert!(
        parts
            .iter()
            .all(|p| p["id"].as_str().unwrap()["long-".len()..].parse::<u32>().unwrap() >= 120)
    );
    assert!(
        out.stderr.contains(&format!(
            "conversation {id} has 620 parts but Intercom returns only the newest 500"
        )),
        "{}",
        out.stderr
    );
    let metric = out
        .stderr
        .lines()
        .filter_map(|l| {
            l.split_once("METRIC: ")
                .map(|(_, m)| serde_json::from_str::<Value>(m).unwrap())
        })
        .find(|m| m["metric"] == "parts_truncated")
        .expect("a parts_truncated metric");
    assert_eq!(metric["value"], 120);
    assert_eq!(metric["tags"]["parent_id"], json!(id));
}

#[test]
fn a_conversation_filling_the_500_part_cap_is_reported_whatever_total_count_says() {
    // If total_count counted only the parts returned, it could not show the cut: the cap
    // reached is reported all the same.
    let options = Options {
        parts_total_counts_returned: true,
        ..crate::support::test_options()
    };
    let fake = fake_with(World::generate(1, Size::small()), options);
    let id = conversation_with_620_parts(&fake);
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["conversation_parts"], &[]))
        .run();
    out.ok();
    assert!(
        out.stderr.contains(&format!(
            "conversation {id} returned 500 parts, Intercom's cap: older parts may exist"
        )),
        "{}",
        out.stderr
    );
    let metrics: Vec<Value> = out
        .stderr
        .lines()
        .filter_map(|l| {
            l.split_once("METRIC: ")
                .map(|(_, m)| serde_json::from_str::<Value>(m).unwrap())
        })
        .filter(|m| m["metric"] == "parts_at_cap")
        .collect();
    assert_eq!(metrics.len(), 1, "only the long conversation: {metrics:?}");
    assert_eq!(metrics[0]["tags"]["parent_id"], json!(id));
}

#[test]
fn a_backfill_in_slices_with_end_date_reads_every_record_once_in_its_slice() {
    let fake = fake();
    let w = fake.world().clone();
    // 2024-01-01: the middle of the fake's data.
    let split = 1_704_067_200;
    let split_text = "2024-01-01T00:00:00Z";
    let stamp = |item: &Value, stream: &str| {
        let key = if stream == "activity_logs" {
            "created_at"
        } else {
            "updated_at"
        };
        item[key].as_i64().unwrap()
    };
    let parents = [
        ("contacts", &w.contacts),
        ("companies", &w.companies),
        ("conversations", &w.conversations),
        ("tickets", &w.tickets),
        ("articles", &w.articles),
        ("activity_logs", &w.activity_logs),
    ];
    let first = Tap::against(&fake).set("end_date", json!(split_text)).run();
    first.ok();
    let second = Tap::against(&fake).state(first.final_state().clone()).run();
    second.ok();
    for (stream, items) in parents {
        let before: BTreeSet<String> = items
            .iter()
            .filter(|i| stamp(i, stream) < split)
            .map(|i| id_string(&i["id"]))
            .collect();
        let after: BTreeSet<String> = items
            .iter()
            .filter(|i| stamp(i, stream) >= split)
            .map(|i| id_string(&i["id"]))
            .collect();
        assert!(
            !before.is_empty() && !after.is_empty(),
            "{stream}: the split must cut the data"
        );
        assert_eq!(
            ids(&first, stream),
            before,
            "{stream}: the first slice is what came before end_date"
        );
        let bookmark = first.final_state()["bookmarks"][stream]
            .as_object()
            .and_then(|b| b.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{stream}: no bookmark"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(bookmark).unwrap().timestamp() <= split,
            "{stream}: bookmark {bookmark} passes end_date"
        );
        // The next slice starts at the bookmark (inclusive): only records stamped exactly there
        // come twice.
        let again: BTreeSet<String> = ids(&second, stream).intersection(&before).cloned().collect();
        let at_bookmark: BTreeSet<String> = items
            .iter()
            .filter(|i| {
                chrono::DateTime::from_timestamp(stamp(i, stream), 0).unwrap()
                    == chrono::DateTime::parse_from_rfc3339(bookmark).unwrap()
            })
            .map(|i| id_string(&i["id"]))
            .collect();
        assert!(again.is_subset(&at_bookmark), "{stream}: {again:?} read in both slices");
        assert!(
            after.is_subset(&ids(&second, stream)),
            "{stream}: the second slice misses records"
        );
    }
    // Parts follow their parents into the slice.
    let early: BTreeSet<String> = w
        .conversations
        .iter()
        .filter(|c| stamp(c, "conversations") < split)
        .map(|c| id_string(&c["id"]))
        .collect();
    for part in first.records("conversation_parts") {
        assert!(early.contains(&id_string(&part["conversation_id"])), "{part}");
    }
}
