//! The endpoints of the data the tap does not read yet (`intercom-api.md` §7), in the shapes
//! Intercom's descriptions give them, each with its own paging:
//!
//! - `GET /contacts/{id}/segments`, `/away_status_reasons`, `/brands`, `/emails`,
//!   `/office_hours_schedules` and `/conversations/{id}/handling_events`: the whole list at once;
//! - `GET /events`: newest first, a page of 50 unless `per_page` says otherwise, `pages.next` a
//!   link that pages by `before` (an instant in milliseconds), and only the last 90 days;
//! - `GET /calls` (at most 25 a page), `/news/news_items`, `/news/newsfeeds` and
//!   `/internal_articles`: page numbers with `pages.next` a link;
//! - `GET /content_snippets`: page numbers (at most 50 a page) given flat beside `data`, with no
//!   link to follow;
//! - `GET /macros`: newest change first, a `starting_after` cursor (base64 of
//!   `[updated_at, "id"]`), and `updated_since`.
//!
//! Which versions have which is `versions.rs`'s business.

use serde_json::{Value, json};

use super::{Ctx, LINK_BASE, error, find, ok, page_numbers, page_numbers_up_to, without};
use crate::server::{Request, Response};
use crate::world::{EVENTS_PER_PAGE, World, event_summaries};

/// A number in the query, or `default` when absent or not a number.
fn number(req: &Request, key: &str, default: usize) -> usize {
    req.query(key).and_then(|p| p.parse().ok()).unwrap_or(default)
}

/// `GET /contacts/{id}/segments`: the segments the contact is in, as `GET /segments` shows them
/// without `include_count`.
pub fn contact_segments(world: &World, contact: &Value) -> Response {
    let ids = world
        .contact_segments
        .get(contact["id"].as_str().unwrap_or_default())
        .map_or(&[][..], Vec::as_slice);
    let segments: Vec<Value> = world
        .user_segments
        .iter()
        .filter(|s| s["id"].as_str().is_some_and(|id| ids.iter().any(|x| x == id)))
        .map(|s| without(s, &["count"]))
        .collect();
    ok(json!({"type": "list", "data": segments}))
}

/// The contact `GET /events` asks about: by `intercom_user_id`, `user_id` (the external id) or
/// `email`, in that order.
fn events_contact<'w>(req: &Request, world: &'w World, ctx: &Ctx<'_>) -> Result<&'w Value, Response> {
    let found = if let Some(id) = req.query("intercom_user_id") {
        find(ctx, "contacts", &world.contacts, &id)
    } else if let Some(user_id) = req.query("user_id") {
        world.contacts.iter().find(|c| c["external_id"] == user_id.as_str())
    } else if let Some(email) = req.query("email") {
        world
            .contacts
            .iter()
            .find(|c| c["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&email)))
    } else {
        return Err(error(
            400,
            "parameter_not_found",
            "one of user_id, email or intercom_user_id is required",
        ));
    };
    found.ok_or_else(|| error(404, "not_found", "User Not Found"))
}

/// `GET /events?type=user&intercom_user_id=…` (or `user_id=`, `email=`): the contact's events of
/// the last 90 days of the fake's clock, newest first; `pages.next` (absent on the last page)
/// asks for those `before` the page's oldest instant in milliseconds, `pages.since` for those
/// after its newest. With `summary=true`, counts per event name over all the contact's events,
/// older ones included (as Intercom's summaries do).
pub fn events(req: &Request, world: &World, ctx: &Ctx<'_>) -> Response {
    if req.query("type").as_deref() != Some("user") {
        return error(400, "parameter_invalid", "type must be user");
    }
    let contact = match events_contact(req, world, ctx) {
        Ok(contact) => contact,
        Err(refused) => return refused,
    };
    let id = contact["id"].as_str().unwrap_or_default();
    if req.query("summary").as_deref() == Some("true") {
        let all = world.data_events.get(id).map_or(&[][..], Vec::as_slice);
        let mut summary = json!({"type": "event.summary", "email": contact["email"], "intercom_user_id": id,
                                 "events": event_summaries(all)});
        if contact["external_id"].is_string() {
            summary["user_id"] = contact["external_id"].clone();
        }
        return ok(summary);
    }
    let per_page = number(req, "per_page", EVENTS_PER_PAGE).clamp(1, 150);
    let before = req.query("before").and_then(|b| b.parse::<i64>().ok());
    let since = req.query("since").and_then(|s| s.parse::<i64>().ok());
    let ms = |e: &Value| e["_ms"].as_i64().unwrap_or(0);
    let mut listed: Vec<&Value> = world
        .listable_events(id, ctx.now)
        .filter(|e| before.is_none_or(|b| ms(e) < b) && since.is_none_or(|s| ms(e) >= s))
        .collect();
    listed.reverse();
    let more = listed.len() > per_page;
    listed.truncate(per_page);
    let link = |extra: String| {
        let since = since.map_or(String::new(), |s| format!("&since={s}"));
        format!("{LINK_BASE}/events?type=user&intercom_user_id={id}&per_page={per_page}{since}{extra}")
    };
    let mut pages = json!({});
    if let (Some(newest), Some(oldest)) = (listed.first(), listed.last()) {
        pages["since"] = json!(format!(
            "{LINK_BASE}/events?type=user&intercom_user_id={id}&since={}",
            ms(newest) + 1
        ));
        if more {
            pages["next"] = json!(link(format!("&before={}", ms(oldest))));
        }
    }
    let events: Vec<Value> = listed.into_iter().map(|e| without(e, &[])).collect();
    ok(json!({"type": "event.list", "events": events, "pages": pages}))
}

/// `GET /calls`: page numbers, 25 a page and no more (the description's maximum).
pub fn calls(req: &Request, world: &World) -> Response {
    let calls: Vec<Value> = world.calls.iter().map(|c| without(c, &[])).collect();
    page_numbers_up_to(req, &calls, 25, 25)
}

/// `GET /calls/{id}`.
pub fn call(world: &World, ctx: &Ctx<'_>, id: &str) -> Response {
    match find(ctx, "calls", &world.calls, id) {
        Some(call) => ok(without(call, &[])),
        None => error(404, "not_found", "Not Found"),
    }
}

/// `GET /calls/{id}/transcript`: the transcript as a text file, as the description gives it
/// (empty for a call nobody answered).
pub fn transcript(world: &World, ctx: &Ctx<'_>, id: &str) -> Response {
    let Some(call) = find(ctx, "calls", &world.calls, id) else {
        return error(404, "not_found", "Not Found");
    };
    let day = crate::world::iso8601(call["created_at"].as_i64().unwrap_or(0));
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            (
                "Content-Disposition".into(),
                format!("attachment; filename=transcription_data-{}.txt", &day[..10]),
            ),
        ],
        body: call["_transcript"].as_str().unwrap_or_default().as_bytes().to_vec(),
        delivery: crate::Delivery::Whole,
        delay: std::time::Duration::ZERO,
    }
}

/// `GET /articles/{id}`: the article with its `statistics` (all zero for one the workspace has
/// none for).
pub fn article(world: &World, ctx: &Ctx<'_>, id: &str) -> Response {
    let Some(article) = find(ctx, "articles", &world.articles, id) else {
        return error(404, "not_found", "Resource Not Found");
    };
    let mut article = without(article, &[]);
    article["statistics"] = world.article_statistics.get(id).map_or_else(
        || {
            json!({"type": "article_statistics", "views": 0, "conversions": 0, "reactions": 0,
               "happy_reaction_percentage": 0.0, "neutral_reaction_percentage": 0.0, "sad_reaction_percentage": 0.0})
        },
        |s| without(s, &[]),
    );
    ok(article)
}

/// `GET /internal_articles`: page numbers, 25 a page. Intercom's reference says that `page` and
/// `per_page` come back as strings when the request sent them, and as integers otherwise: so
/// they do here.
pub fn internal_articles(req: &Request, world: &World) -> Response {
    let answer = page_numbers(req, &world.internal_articles, 25);
    let sent = req.query("page").is_some() || req.query("per_page").is_some();
    match serde_json::from_slice::<Value>(&answer.body) {
        Ok(mut body) if sent => {
            for key in ["page", "per_page"] {
                let n = body["pages"][key].to_string();
                body["pages"][key] = json!(n);
            }
            ok(body)
        }
        _ => answer,
    }
}

/// `GET /conversations/{id}/handling_events` (2.15): the conversation's pauses and resumptions,
/// oldest first; an empty list for a conversation without any.
pub fn handling_events(world: &World, id: &str) -> Response {
    if !world.conversations.iter().any(|c| c["id"] == id) {
        return error(404, "not_found", "Resource Not Found");
    }
    let events = world.handling_events.get(id).map_or(&[][..], Vec::as_slice);
    ok(json!({"handling_events": events}))
}

/// A macro's place in the list, newest change first: its last change, then its id (numbers
/// compared as numbers).
fn macro_key(updated_at: i64, id: &str) -> (i64, u64, String) {
    (updated_at, id.parse().unwrap_or(u64::MAX), id.to_owned())
}

/// `GET /macros` (2.16): newest change first, `per_page` up to 150 (50 unless given); the cursor
/// is base64 of `[updated_at, "id"]` of the page's last macro, as the description writes it
/// (`[1719493757.0, "123"]`), and `pages.next` is null on the last page. `updated_since` keeps
/// the macros changed after that second.
pub fn macros(req: &Request, world: &World) -> Response {
    let per_page = number(req, "per_page", 50).clamp(1, 150);
    let since = match req.query("updated_since").map(|s| s.parse::<i64>()) {
        None => None,
        Some(Ok(since)) => Some(since),
        Some(Err(_)) => return error(400, "parameter_invalid", "Invalid updated_since timestamp"),
    };
    let after = match req.query("starting_after").map(|c| macro_cursor(&c)) {
        None => None,
        Some(Some(key)) => Some(key),
        Some(None) => return error(400, "parameter_invalid", "Invalid starting_after cursor"),
    };
    let key = |m: &Value| {
        macro_key(
            m["_updated_at"].as_i64().unwrap_or(0),
            m["id"].as_str().unwrap_or_default(),
        )
    };
    let mut listed: Vec<&Value> = world
        .macros
        .iter()
        .filter(|m| since.is_none_or(|s| m["_updated_at"].as_i64().is_some_and(|t| t > s)))
        .filter(|m| after.as_ref().is_none_or(|a| key(m) < *a))
        .collect();
    listed.sort_by_key(|m| std::cmp::Reverse(key(m)));
    let more = listed.len() > per_page;
    listed.truncate(per_page);
    let next = match listed.last() {
        Some(last) if more => {
            let cursor = format!(
                "[{}.0, \"{}\"]",
                last["_updated_at"].as_i64().unwrap_or(0),
                last["id"].as_str().unwrap_or_default()
            );
            json!({"starting_after": crate::base64::encode(cursor.as_bytes())})
        }
        _ => Value::Null,
    };
    let data: Vec<Value> = listed.into_iter().map(|m| without(m, &[])).collect();
    ok(json!({"type": "list", "data": data, "pages": {"type": "pages", "per_page": per_page, "next": next}}))
}

/// A macro cursor read back: `[updated_at, "id"]`, the time a number with or without a fraction.
fn macro_cursor(cursor: &str) -> Option<(i64, u64, String)> {
    let decoded: Value = serde_json::from_slice(&crate::base64::decode(cursor)?).ok()?;
    let updated_at = decoded[0].as_f64()?;
    let id = decoded[1].as_str()?;
    // Whole seconds, as the cursor is written.
    let seconds = format!("{:.0}", updated_at.floor()).parse().ok()?;
    Some(macro_key(seconds, id))
}

/// `GET /content_snippets` (2.16): page numbers, 50 a page and no more, given flat beside
/// `data` (`total_count`, `page`, `per_page`, `total_pages`) with no link: a client pages until
/// `page` reaches `total_pages`.
pub fn content_snippets(req: &Request, world: &World) -> Response {
    let per_page = number(req, "per_page", 50).clamp(1, 50);
    let page = number(req, "page", 1).max(1);
    let items = &world.content_snippets;
    let data: Vec<&Value> = items.iter().skip((page - 1) * per_page).take(per_page).collect();
    ok(
        json!({"type": "list", "data": data, "total_count": items.len(), "page": page, "per_page": per_page,
              "total_pages": items.len().div_ceil(per_page).max(1)}),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    use serde_json::{Value, json};

    use crate::world::{EVENT_WINDOW_SECS, Size};
    use crate::{FakeIntercom, Options, Request, TOKEN, World};

    /// A fake of the small workspace, without a rate limit.
    fn fake() -> FakeIntercom {
        let options = Options {
            rate_limit: None,
            ..Options::default()
        };
        FakeIntercom::start(World::generate(4, Size::small()), options).unwrap()
    }

    /// One GET in `version` (2.14 when `None`), answered as the server answers it: status and JSON.
    fn get_in(fake: &FakeIntercom, version: Option<&str>, target: &str) -> (u16, Value) {
        let mut headers = vec![("authorization".into(), format!("Bearer {TOKEN}"))];
        if let Some(v) = version {
            headers.push(("intercom-version".into(), v.into()));
        }
        let req = Request {
            method: "GET".into(),
            target: target.into(),
            headers,
            body: Vec::new(),
        };
        let answer = crate::handle(&fake.shared, &req);
        (
            answer.status,
            serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
        )
    }

    fn get(fake: &FakeIntercom, target: &str) -> Value {
        let (status, answer) = get_in(fake, None, target);
        assert_eq!(status, 200, "{target}: {answer}");
        answer
    }

    /// The path and query of an absolute link the fake gave.
    fn target_of(link: &Value) -> String {
        link.as_str()
            .unwrap()
            .strip_prefix(crate::reply::LINK_BASE)
            .unwrap()
            .to_owned()
    }

    /// Every page of a page-number list, by its `pages.next` links: the answers, in order.
    fn linked_pages(fake: &FakeIntercom, version: Option<&str>, first: &str) -> Vec<Value> {
        let mut answers = Vec::new();
        let mut target = first.to_owned();
        loop {
            let (status, answer) = get_in(fake, version, &target);
            assert_eq!(status, 200, "{target}: {answer}");
            let next = answer["pages"]["next"].clone();
            answers.push(answer);
            if next.is_null() {
                return answers;
            }
            target = target_of(&next);
        }
    }

    fn ids(items: &[Value]) -> Vec<String> {
        items.iter().map(crate::search::id_of).collect()
    }

    fn all_items(answers: &[Value], key: &str) -> Vec<Value> {
        answers
            .iter()
            .flat_map(|a| a[key].as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn a_contacts_segments_are_some_of_the_user_segments_of_its_person_type() {
        let fake = fake();
        let (contacts, segments) = {
            let w = fake.world();
            (w.contacts.clone(), w.user_segments.clone())
        };
        let mut sizes = HashSet::new();
        for contact in &contacts {
            let id = contact["id"].as_str().unwrap();
            let answer = get(&fake, &format!("/contacts/{id}/segments"));
            assert_eq!(answer["type"], "list");
            assert_eq!(answer.as_object().unwrap().len(), 2, "no paging: {answer}");
            let data = answer["data"].as_array().unwrap();
            sizes.insert(data.len());
            let kind = if contact["role"] == "lead" { "contact" } else { "user" };
            for segment in data {
                assert_eq!(segment["type"], "segment");
                assert_eq!(segment["person_type"], kind, "{id}");
                assert!(
                    segment.get("count").is_none(),
                    "as /segments shows them without include_count"
                );
                let full = segments.iter().find(|s| s["id"] == segment["id"]).unwrap();
                for key in ["name", "created_at", "updated_at"] {
                    assert_eq!(segment[key], full[key]);
                }
            }
        }
        assert!(sizes.contains(&0) && sizes.iter().any(|n| *n >= 2), "{sizes:?}");
        let (status, answer) = get_in(&fake, None, "/contacts/nobody/segments");
        assert_eq!((status, answer["errors"][0]["code"].clone()), (404, json!("not_found")));
    }

    /// The events a contact has at the fake's clock, by paging its `GET /events` to the end.
    fn paged_events(fake: &FakeIntercom, first: &str) -> (Vec<Value>, usize) {
        let mut events = Vec::new();
        let mut pages = 0;
        let mut target = first.to_owned();
        loop {
            let answer = get(fake, &target);
            assert_eq!(answer["type"], "event.list");
            pages += 1;
            events.extend(answer["events"].as_array().unwrap().iter().cloned());
            match answer["pages"].get("next") {
                Some(next) => target = target_of(next),
                None => return (events, pages),
            }
        }
    }

    #[test]
    fn events_are_the_last_ninety_days_newest_first_a_page_of_fifty_at_a_time() {
        let fake = fake();
        let now = crate::now_secs_i64();
        let (contacts, data_events) = {
            let w = fake.world();
            assert_eq!(w.events_clock, None, "the fake moved the events to its clock");
            (w.contacts.clone(), w.data_events.clone())
        };
        let (mut busy, mut empty, mut old_only) = (0, 0, 0);
        for contact in &contacts {
            let id = contact["id"].as_str().unwrap();
            let all = data_events.get(id).cloned().unwrap_or_default();
            let recent: Vec<&Value> = all
                .iter()
                .filter(|e| e["created_at"].as_i64().unwrap() > now - EVENT_WINDOW_SECS)
                .collect();
            let (listed, pages) = paged_events(&fake, &format!("/events?type=user&intercom_user_id={id}"));
            assert_eq!(listed.len(), recent.len(), "{id}");
            assert_eq!(pages, recent.len().div_ceil(50).max(1), "{id}");
            let times: Vec<i64> = listed.iter().map(|e| e["created_at"].as_i64().unwrap()).collect();
            assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
            let unique: HashSet<&Value> = listed.iter().map(|e| &e["id"]).collect();
            assert_eq!(unique.len(), listed.len(), "{id}: none twice");
            for event in &listed {
                assert_eq!(event["type"], "event");
                assert_eq!(event["intercom_user_id"], id);
                assert_eq!(event["email"], contact["email"]);
                assert_eq!(
                    event.get("user_id"),
                    contact["external_id"].as_str().map(|_| &contact["external_id"])
                );
                assert!(event["event_name"].is_string() && event["metadata"].is_object());
                assert!(event["metadata"].as_object().unwrap().values().all(Value::is_string));
                assert!(event.as_object().unwrap().keys().all(|k| !k.starts_with('_')));
            }
            busy += usize::from(pages > 1);
            empty += usize::from(all.is_empty());
            old_only += usize::from(!all.is_empty() && recent.is_empty());
        }
        // Some have more than a page, some none, some only events too old to list.
        assert!(
            busy > 0 && empty > 0 && old_only > 0,
            "busy {busy}, none {empty}, too old {old_only}"
        );
    }

    #[test]
    fn events_are_found_by_user_id_and_email_and_summarised() {
        let fake = fake();
        let (contact, all) = {
            let w = fake.world();
            let (id, events) = w.data_events.iter().max_by_key(|(_, e)| e.len()).unwrap();
            (
                w.contacts.iter().find(|c| c["id"] == id.as_str()).unwrap().clone(),
                events.clone(),
            )
        };
        let id = contact["id"].as_str().unwrap();
        let first = get(&fake, &format!("/events?type=user&intercom_user_id={id}&per_page=7"));
        assert_eq!(first["events"].as_array().unwrap().len(), 7);
        let next = target_of(&first["pages"]["next"]);
        assert!(next.contains("per_page=7") && next.contains("before="), "{next}");
        assert!(first["pages"]["since"].is_string());
        if let Some(user_id) = contact["external_id"].as_str() {
            let by_user = get(&fake, &format!("/events?type=user&user_id={user_id}&per_page=7"));
            assert_eq!(by_user["events"], first["events"]);
        }
        let email = contact["email"].as_str().unwrap().replace('@', "%40");
        let by_email = get(&fake, &format!("/events?type=user&email={email}&per_page=7"));
        assert_eq!(by_email["events"], first["events"]);

        let summary = get(&fake, &format!("/events?type=user&intercom_user_id={id}&summary=true"));
        assert_eq!(summary["type"], "event.summary");
        assert_eq!(summary["intercom_user_id"], id);
        assert_eq!(summary["email"], contact["email"]);
        let counted: u64 = summary["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            counted,
            all.len() as u64,
            "summaries count events older than 90 days too"
        );
        for s in summary["events"].as_array().unwrap() {
            assert!(s["first"].as_str().unwrap().ends_with(".000+00:00"), "{s}");
            assert!(s["first"].as_str() <= s["last"].as_str());
            assert!(s["name"].is_string() && s["description"].is_string());
        }

        for (target, status, code) in [
            (format!("/events?intercom_user_id={id}"), 400, "parameter_invalid"),
            ("/events?type=user".to_owned(), 400, "parameter_not_found"),
            ("/events?type=user&intercom_user_id=nobody".to_owned(), 404, "not_found"),
        ] {
            let (got, answer) = get_in(&fake, None, &target);
            assert_eq!(
                (got, answer["errors"][0]["code"].as_str()),
                (status, Some(code)),
                "{target}"
            );
        }
        let lonely = {
            let w = fake.world();
            let id = w
                .contacts
                .iter()
                .map(|c| c["id"].as_str().unwrap())
                .find(|id| !w.data_events.contains_key(*id));
            id.unwrap().to_owned()
        };
        let none = get(&fake, &format!("/events?type=user&intercom_user_id={lonely}"));
        assert_eq!(none, json!({"type": "event.list", "events": [], "pages": {}}));
        // A null among the events, as among any other answer's items.
        let target = format!("/events?type=user&intercom_user_id={id}&per_page=7");
        fake.add_fault(crate::Fault::new("/events", crate::FaultKind::NullItem));
        let with_null = get(&fake, &target);
        assert!(with_null["events"][1].is_null());
        assert_eq!(with_null["events"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn calls_page_by_number_twenty_five_at_most() {
        let fake = fake();
        let calls = fake.world().calls.clone();
        assert!(calls.len() > 25);
        let answers = linked_pages(&fake, None, "/calls?per_page=100");
        for answer in &answers {
            assert_eq!(answer["type"], "list");
            assert_eq!(answer["total_count"], json!(calls.len()));
            assert_eq!(answer["pages"]["per_page"], 25, "at most 25 a page");
            assert_eq!(answer["pages"]["total_pages"], json!(calls.len().div_ceil(25)));
        }
        let listed = all_items(&answers, "data");
        assert_eq!(ids(&listed), ids(&calls));
        for (call, full) in listed.iter().zip(&calls) {
            assert_eq!(call["type"], "call");
            assert!(call["updated_at"].as_i64() >= call["created_at"].as_i64());
            assert!(call.as_object().unwrap().keys().all(|k| !k.starts_with('_')), "{call}");
            let id = call["id"].as_str().unwrap();
            assert_eq!(&get(&fake, &format!("/calls/{id}")), call);
            assert_eq!(
                call["transcription_url"],
                json!(format!("https://api.intercom.io/calls/{id}/transcript"))
            );
            let answer = crate::handle(
                &fake.shared,
                &Request {
                    method: "GET".into(),
                    target: format!("/calls/{id}/transcript"),
                    headers: vec![("authorization".into(), format!("Bearer {TOKEN}"))],
                    body: Vec::new(),
                },
            );
            assert_eq!(answer.status, 200);
            assert_eq!(answer.body, full["_transcript"].as_str().unwrap().as_bytes());
            assert_eq!(call["state"] == "missed", answer.body.is_empty(), "{id}");
        }
        let kinds: HashSet<&str> = listed.iter().map(|c| c["state"].as_str().unwrap()).collect();
        assert!(kinds.contains("completed") && kinds.contains("missed"), "{kinds:?}");
        assert_eq!(get(&fake, "/calls")["data"].as_array().unwrap().len(), 25);
        for target in ["/calls/nope", "/calls/nope/transcript"] {
            let (status, answer) = get_in(&fake, None, target);
            assert_eq!(
                (status, answer["errors"][0]["code"].clone()),
                (404, json!("not_found")),
                "{target}"
            );
        }
    }

    #[test]
    fn a_transcript_is_a_text_file() {
        let fake = fake();
        let call = fake
            .world()
            .calls
            .iter()
            .find(|c| c["state"] == "completed")
            .unwrap()
            .clone();
        let mut stream = TcpStream::connect(fake.server.addr()).unwrap();
        write!(
            stream,
            "GET /calls/{}/transcript HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
            call["id"].as_str().unwrap()
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            head.push(line.trim_end().to_ascii_lowercase());
            line.clear();
        }
        assert!(
            head.contains(&"content-type: text/plain; charset=utf-8".to_owned()),
            "{head:?}"
        );
        assert_eq!(head.iter().filter(|h| h.starts_with("content-type:")).count(), 1);
        assert!(
            head.iter()
                .any(|h| h.starts_with("content-disposition: attachment; filename=transcription_data-"))
        );
        let length: usize = head
            .iter()
            .find_map(|h| h.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(text, call["_transcript"].as_str().unwrap());
        assert!(text.starts_with("[00:00:03] Teammate 1: \""), "{text}");
    }

    #[test]
    fn news_items_and_newsfeeds_page_by_number() {
        let fake = fake();
        let (items, feeds) = {
            let w = fake.world();
            (w.news_items.clone(), w.newsfeeds.clone())
        };
        let answers = linked_pages(&fake, None, "/news/news_items");
        assert_eq!(answers.len(), items.len().div_ceil(10), "ten a page");
        assert_eq!(all_items(&answers, "data"), items);
        let feed_ids: Vec<i64> = feeds
            .iter()
            .map(|f| f["id"].as_str().unwrap().parse().unwrap())
            .collect();
        for item in &items {
            assert_eq!(item["type"], "news-item");
            for assignment in item["newsfeed_assignments"].as_array().unwrap() {
                assert!(feed_ids.contains(&assignment["newsfeed_id"].as_i64().unwrap()));
            }
        }
        assert!(items.iter().any(|i| i["state"] == "draft") && items.iter().any(|i| i["state"] == "live"));
        let answers = linked_pages(&fake, None, "/news/newsfeeds?per_page=2");
        assert_eq!(answers.len(), feeds.len().div_ceil(2));
        assert_eq!(all_items(&answers, "data"), feeds);
        assert!(feeds.iter().all(|f| f["type"] == "newsfeed"));
    }

    #[test]
    fn an_article_comes_with_its_statistics() {
        let fake = fake();
        let (article, counts) = {
            let w = fake.world();
            let a = w.articles.iter().find(|a| a["state"] == "published").unwrap().clone();
            let s = w.article_statistics[a["id"].as_str().unwrap()].clone();
            (a, s)
        };
        let id = article["id"].as_str().unwrap();
        let old = get(&fake, &format!("/articles/{id}"));
        let mut expected = article.clone();
        expected["statistics"] = json!({
            "type": "article_statistics", "views": counts["views"], "conversions": counts["conversions"],
            "reactions": counts["reactions"], "happy_reaction_percentage": counts["happy_reaction_percentage"],
            "neutral_reaction_percentage": counts["neutral_reaction_percentage"],
            "sad_reaction_percentage": counts["sad_reaction_percentage"],
        });
        assert_eq!(old, expected);
        let (_, v15) = get_in(&fake, Some("2.15"), &format!("/articles/{id}"));
        assert_eq!(v15, old);
        // The list stays as it was: no statistics.
        let list = get(&fake, "/articles?per_page=150");
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a.get("statistics").is_none())
        );
        let (status, _) = get_in(&fake, None, "/articles/1");
        assert_eq!(status, 404);
    }

    #[test]
    fn away_status_reasons_include_deleted_ones_and_internal_articles_page() {
        let fake = fake();
        let (reasons, articles) = {
            let w = fake.world();
            (w.away_status_reasons.clone(), w.internal_articles.clone())
        };
        assert_eq!(
            get(&fake, "/away_status_reasons"),
            json!({"type": "list", "data": reasons})
        );
        assert!(reasons.iter().any(|r| r["deleted"] == true));
        assert!(
            reasons.iter().any(|r| r["id"] == "12345"),
            "the id admins' away_status_reason_id names"
        );

        let plain = get(&fake, "/internal_articles");
        assert_eq!(plain["pages"]["page"], 1);
        assert_eq!(plain["pages"]["per_page"], 25);
        let answers = linked_pages(&fake, None, "/internal_articles?per_page=7");
        assert_eq!(all_items(&answers, "data"), articles);
        // Sent, they come back as strings (Intercom's reference says so).
        assert_eq!(answers[1]["pages"]["page"], "2");
        assert_eq!(answers[1]["pages"]["per_page"], "7");
        assert!(
            articles
                .iter()
                .all(|a| a["type"] == "internal_article" && a["owner_id"].is_i64())
        );
    }

    #[test]
    fn version_2_16_counts_fins_and_says_more_of_internal_articles() {
        let fake = fake();
        let (id, counts) = {
            let w = fake.world();
            let a = w.articles.iter().find(|a| a["state"] == "published").unwrap();
            let id = a["id"].as_str().unwrap().to_owned();
            let counts = w.article_statistics[&id].clone();
            (id, counts)
        };
        let (status, new) = get_in(&fake, Some("2.16"), &format!("/articles/{id}"));
        assert_eq!(status, 200);
        assert!(
            new.get("parent_id").is_none() && new["body_markdown"].is_string(),
            "{new}"
        );
        assert_eq!(new["statistics"]["views"], counts["views"]);
        assert_eq!(new["statistics"]["fin_involvements"], counts["_fin_involvements"]);
        assert_eq!(new["statistics"]["fin_resolutions"], counts["_fin_resolutions"]);
        assert!(new["statistics"]["fin_resolution_rate"].is_f64());
        let (_, list) = get_in(&fake, Some("2.16"), "/articles?per_page=150");
        let listed = list["data"].as_array().unwrap();
        assert!(
            listed.iter().all(|a| a.get("statistics").is_none()),
            "the list has none"
        );
        let (_, new) = get_in(&fake, Some("2.16"), "/internal_articles?per_page=150");
        for a in new["data"].as_array().unwrap() {
            for key in [
                "body_markdown",
                "audience_ids",
                "ai_chatbot_availability",
                "ai_copilot_availability",
                "ai_sales_agent_availability",
            ] {
                assert!(a.get(key).is_some(), "{key}: {a}");
            }
        }
        let (_, old) = get_in(&fake, Some("2.15"), "/internal_articles?per_page=150");
        assert!(
            old["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a.get("body_markdown").is_none())
        );
    }

    #[test]
    fn later_endpoints_answer_only_from_their_version() {
        let fake = fake();
        let conversation = fake.world().conversations[0]["id"].as_str().unwrap().to_owned();
        let handling = format!("/conversations/{conversation}/handling_events");
        let endpoints = [
            ("/brands", "2.15"),
            ("/emails", "2.15"),
            (handling.as_str(), "2.15"),
            ("/macros", "2.16"),
            ("/office_hours_schedules", "2.16"),
            ("/content_snippets", "2.16"),
        ];
        for (target, since) in endpoints {
            for version in [None, Some("2.14"), Some("2.15"), Some("2.16")] {
                let (status, answer) = get_in(&fake, version, target);
                let served = version.is_some_and(|v| v >= since);
                if served {
                    assert_eq!(status, 200, "{target} in {version:?}: {answer}");
                } else {
                    assert_eq!(status, 400, "{target} in {version:?}");
                    assert_eq!(answer["errors"][0]["code"], "intercom_version_invalid");
                    assert_eq!(
                        answer["errors"][0]["message"],
                        "Requested resource is not available in current API version"
                    );
                }
            }
        }
        // The endpoints every version has answer in each.
        for target in [
            "/calls",
            "/news/news_items",
            "/news/newsfeeds",
            "/away_status_reasons",
            "/internal_articles",
        ] {
            for version in ["2.14", "2.15", "2.16"] {
                assert_eq!(get_in(&fake, Some(version), target).0, 200, "{target} in {version}");
            }
        }
    }

    #[test]
    fn brands_emails_and_office_hours_are_whole_lists() {
        let fake = fake();
        let (brands, emails, schedules) = {
            let w = fake.world();
            (w.brands.clone(), w.emails.clone(), w.office_hours_schedules.clone())
        };
        assert_eq!(
            get_in(&fake, Some("2.15"), "/brands").1,
            json!({"type": "list", "data": brands})
        );
        assert_eq!(
            get_in(&fake, Some("2.16"), "/emails").1,
            json!({"type": "list", "data": emails})
        );
        assert_eq!(brands.iter().filter(|b| b["is_default"] == true).count(), 1);
        assert_eq!(brands[0]["id"], "abc123", "the default brand's id is the workspace's");
        let brand_ids: Vec<&Value> = brands.iter().map(|b| &b["id"]).collect();
        let email_ids: Vec<&Value> = emails.iter().map(|e| &e["id"]).collect();
        assert!(
            emails
                .iter()
                .all(|e| e["type"] == "email_setting" && brand_ids.contains(&&e["brand_id"]))
        );
        assert!(
            brands
                .iter()
                .all(|b| email_ids.contains(&&b["default_address_settings_id"]))
        );
        let (_, answer) = get_in(&fake, Some("2.16"), "/office_hours_schedules");
        assert_eq!(answer, json!({"type": "office_hours_schedule.list", "data": schedules}));
        for schedule in &schedules {
            for interval in schedule["time_intervals"].as_array().unwrap() {
                let (start, end) = (
                    interval["start_minute"].as_i64().unwrap(),
                    interval["end_minute"].as_i64().unwrap(),
                );
                assert!(0 <= start && start < end && end <= 10_080);
                assert_eq!(interval["day_of_week"].as_i64().unwrap(), start / 1_440);
            }
        }
    }

    #[test]
    fn handling_events_pause_and_resume_some_conversations() {
        let fake = fake();
        let (conversations, handling, admins) = {
            let w = fake.world();
            (w.conversations.clone(), w.handling_events.clone(), w.admins.clone())
        };
        let mut counts = Vec::new();
        for conversation in &conversations {
            let id = conversation["id"].as_str().unwrap();
            let (status, answer) = get_in(&fake, Some("2.15"), &format!("/conversations/{id}/handling_events"));
            assert_eq!(status, 200);
            assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
            let events = answer["handling_events"].as_array().unwrap();
            assert_eq!(events, handling.get(id).map_or(&Vec::new(), |e| e));
            counts.push(events.len());
            for (k, event) in events.iter().enumerate() {
                assert_eq!(event["type"], if k % 2 == 0 { "paused" } else { "resumed" }, "{id}");
                assert_eq!(event.get("reason").is_some(), k % 2 == 0);
                let stamp = event["timestamp"].as_str().unwrap();
                assert!(stamp.len() == 20 && stamp.ends_with('Z'), "{stamp}");
                let teammate = &event["teammate"];
                assert!(teammate["id"].is_i64() && teammate["name"].is_string());
                assert!(admins.iter().any(|a| a["name"] == teammate["name"]) || teammate["type"] == "bot");
            }
            let stamps: Vec<&str> = events.iter().map(|e| e["timestamp"].as_str().unwrap()).collect();
            assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "oldest first");
        }
        assert!(counts.contains(&0) && counts.iter().any(|n| *n >= 2), "{counts:?}");
        let (status, _) = get_in(&fake, Some("2.15"), "/conversations/nope/handling_events");
        assert_eq!(status, 404);
    }

    /// Every page of `GET /macros` by its cursor: the macros, and how many pages.
    fn macro_pages(fake: &FakeIntercom, first: &str) -> (Vec<Value>, usize) {
        let mut macros = Vec::new();
        let mut pages = 0;
        let mut target = first.to_owned();
        loop {
            let (status, answer) = get_in(fake, Some("2.16"), &target);
            assert_eq!(status, 200, "{target}: {answer}");
            assert_eq!(answer["type"], "list");
            assert_eq!(answer["pages"]["type"], "pages");
            pages += 1;
            macros.extend(answer["data"].as_array().unwrap().iter().cloned());
            let next = &answer["pages"]["next"];
            if next.is_null() {
                return (macros, pages);
            }
            let cursor = next["starting_after"]
                .as_str()
                .unwrap()
                .replace('+', "%2B")
                .replace('/', "%2F");
            let glue = if first.contains('?') { '&' } else { '?' };
            target = format!(
                "{}{glue}starting_after={cursor}",
                first.split("&starting_after").next().unwrap()
            );
        }
    }

    #[test]
    fn macros_page_by_cursor_newest_change_first() {
        let fake = fake();
        let macros = fake.world().macros.clone();
        assert!(macros.len() > 50);
        let (listed, pages) = macro_pages(&fake, "/macros");
        assert_eq!(pages, macros.len().div_ceil(50));
        let mut expected = ids(&macros);
        expected.sort_unstable();
        let mut got = ids(&listed);
        got.sort_unstable();
        assert_eq!(got, expected, "each once");
        let keys: Vec<(i64, u64)> = listed
            .iter()
            .map(|m| {
                let full = macros.iter().find(|x| x["id"] == m["id"]).unwrap();
                (
                    full["_updated_at"].as_i64().unwrap(),
                    m["id"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] > w[1]), "newest first, ties by id");
        assert!(keys.windows(2).any(|w| w[0].0 == w[1].0), "some share a second");
        assert!(
            listed
                .iter()
                .all(|m| m["updated_at"].as_str().unwrap().contains(".000") && m.get("_updated_at").is_none())
        );
        // Small pages walk the same order.
        let (small, _) = macro_pages(&fake, "/macros?per_page=7");
        assert_eq!(ids(&small), ids(&listed));
        // updated_since keeps those changed after it.
        let since = keys[keys.len() / 2].0;
        let (recent, _) = macro_pages(&fake, &format!("/macros?updated_since={since}"));
        assert_eq!(recent.len(), keys.iter().filter(|k| k.0 > since).count());
        for (target, message) in [
            ("/macros?updated_since=yesterday", "Invalid updated_since timestamp"),
            ("/macros?starting_after=%21%21", "Invalid starting_after cursor"),
        ] {
            let (status, answer) = get_in(&fake, Some("2.16"), target);
            assert_eq!(status, 400, "{target}");
            assert_eq!(answer["errors"][0]["code"], "parameter_invalid");
            assert_eq!(answer["errors"][0]["message"], message);
        }
        // A cursor as the description writes it: a fraction, a space.
        let first = &listed[0];
        let cursor = format!("[{}.0, \"{}\"]", keys[0].0, first["id"].as_str().unwrap());
        let encoded = crate::base64::encode(cursor.as_bytes())
            .replace('+', "%2B")
            .replace('/', "%2F");
        let (_, after) = get_in(&fake, Some("2.16"), &format!("/macros?starting_after={encoded}"));
        assert_eq!(after["data"][0], listed[1]);
    }

    #[test]
    fn content_snippets_page_flat_fifty_at_most() {
        let fake = fake();
        let snippets = fake.world().content_snippets.clone();
        assert!(snippets.len() > 50);
        let mut seen = Vec::new();
        let mut page = 1;
        loop {
            let (status, answer) = get_in(
                &fake,
                Some("2.16"),
                &format!("/content_snippets?page={page}&per_page=80"),
            );
            assert_eq!(status, 200);
            assert!(answer.get("pages").is_none(), "no pages object: {answer}");
            assert_eq!(answer["per_page"], 50);
            assert_eq!(answer["page"], json!(page));
            assert_eq!(answer["total_count"], json!(snippets.len()));
            seen.extend(answer["data"].as_array().unwrap().iter().cloned());
            if page >= answer["total_pages"].as_u64().unwrap() {
                break;
            }
            page += 1;
        }
        assert_eq!(seen, snippets);
        assert!(
            snippets
                .iter()
                .all(|s| s["type"] == "content_snippet" && s["json_blocks"].is_array())
        );
    }
}
