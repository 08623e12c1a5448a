//! The API versions the fake serves: 2.14, whose shapes the rest of the fake answers in, and
//! 2.15 and 2.16, as Intercom's descriptions of those versions change them (`intercom-api.md`
//! §4, and Intercom's own descriptions of each version in `intercom/Intercom-OpenAPI`):
//!
//! - 2.15: conversations carry their `company` (the one their `company_id` names).
//!   `GET /brands`, `GET /emails` and `GET /conversations/{id}/handling_events` exist.
//! - 2.16: contacts' `owner_id` is a string; tickets' assignee ids are integers (`0` when
//!   unassigned); conversations' `priority` is `none` to `urgent` and their assignee ids `0`
//!   instead of null, with `sales_agent*`, `channel`, `external_references` and more in
//!   `source`; admins have a `role`; articles lose `parent_id` and `parent_type` and gain a
//!   dozen fields; help centers say whether they are the `default` and their `locales`;
//!   companies embed their `notes`; notes may name a `company`. `GET /conversations/deleted`
//!   and `GET /conversations/attributes` exist, and `GET /data_attributes?model=conversation`
//!   answers 422. An article's `statistics` count Fin's involvements and resolutions; internal
//!   articles carry their markdown, audiences and AI availability. `GET /macros`,
//!   `GET /office_hours_schedules` and `GET /content_snippets` exist.
//!
//! An endpoint a version does not have answers 400 `intercom_version_invalid`.
//!
//! The `Intercom-Version` header chooses; without it the fake answers as 2.14.

use serde_json::{Value, json};

use crate::api::{error, more, page_numbers};
use crate::reply::ok;
use crate::server::{Request, Response};
use crate::world::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V2_14,
    V2_15,
    V2_16,
}

/// The version a request asks for, or the answer Intercom gives to one it does not serve.
pub fn of(req: &Request) -> Result<Version, Response> {
    match req.header("intercom-version") {
        None | Some("2.14") => Ok(Version::V2_14),
        Some("2.15") => Ok(Version::V2_15),
        Some("2.16") => Ok(Version::V2_16),
        Some(_) => Err(error(400, "intercom_version_invalid", "Intercom-Version is not valid")),
    }
}

fn not_in_this_version() -> Response {
    error(
        400,
        "intercom_version_invalid",
        "Requested resource is not available in current API version",
    )
}

/// The endpoints that exist, or fail, only in some versions; `None` for the others.
pub fn route(version: Version, req: &Request, world: &World) -> Option<Response> {
    if req.method != "GET" {
        return None;
    }
    let newest = version >= Version::V2_16;
    let answer = match req.path() {
        "/conversations/deleted" if newest => deleted_conversations(req, world),
        "/conversations/attributes" if newest => conversation_attributes(world),
        "/conversations/deleted" | "/conversations/attributes" => not_in_this_version(),
        "/data_attributes" if newest && req.query("model").as_deref() == Some("conversation") => error(
            422,
            "parameter_invalid",
            "model=conversation is no longer supported. Use GET /conversations/attributes instead",
        ),
        _ => return route_later(version, req, world),
    };
    Some(answer)
}

/// The endpoints of data the tap does not read yet that came with 2.15 (brands, sender emails,
/// handling events) and 2.16 (macros, office hours schedules, content snippets).
fn route_later(version: Version, req: &Request, world: &World) -> Option<Response> {
    let segments: Vec<&str> = req.path().trim_start_matches('/').split('/').collect();
    let since = match segments.as_slice() {
        ["brands" | "emails"] | ["conversations", _, "handling_events"] => Version::V2_15,
        ["macros" | "office_hours_schedules" | "content_snippets"] => Version::V2_16,
        _ => return None,
    };
    if version < since {
        return Some(not_in_this_version());
    }
    Some(match segments.as_slice() {
        ["brands"] => ok(json!({"type": "list", "data": world.brands})),
        ["emails"] => ok(json!({"type": "list", "data": world.emails})),
        ["conversations", id, _] => more::handling_events(world, id),
        ["macros"] => more::macros(req, world),
        ["office_hours_schedules"] => {
            ok(json!({"type": "office_hours_schedule.list", "data": world.office_hours_schedules}))
        }
        _ => more::content_snippets(req, world),
    })
}

/// `GET /conversations/deleted`: newest first unless `order=asc`, at most 60 a page.
fn deleted_conversations(req: &Request, world: &World) -> Response {
    let mut items = world.deleted_conversations.clone();
    items.sort_by_key(|d| d["deleted_at"].as_i64().unwrap_or(0));
    if req.query("order").as_deref() != Some("asc") {
        items.reverse();
    }
    if req
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .is_some_and(|p| p > 60)
    {
        return error(400, "parameter_invalid", "per_page must be 60 or less");
    }
    let mut answer = page_numbers(req, &items, 20);
    if let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) {
        // The same pages, under this endpoint's own keys.
        body["type"] = json!("conversations.list");
        body["conversations"] = body["data"].take();
        if let Some(map) = body.as_object_mut() {
            map.remove("data");
        }
        answer = ok(body);
    }
    answer
}

/// `GET /conversations/attributes`: the custom conversation attributes, in 2.16's shape.
fn conversation_attributes(world: &World) -> Response {
    let attributes = world
        .data_attributes
        .iter()
        .filter(|(model, _)| model == "conversation")
        .flat_map(|(_, list)| list.iter())
        .filter(|a| a["id"].is_i64())
        .map(|a| {
            let options: Vec<Value> = a["options"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, label)| json!({"id": format!("0000000{i}-aaaa-4000-8000-000000000000"), "label": label, "archived": false}))
                .collect();
            let data_type = match (a["data_type"].as_str(), options.is_empty()) {
                (Some("string"), false) => "list",
                (Some("date"), _) => "datetime",
                (Some(other), _) => other,
                (None, _) => "string",
            };
            let mut out = json!({
                "type": "conversation_attribute", "id": a["id"], "name": a["name"], "description": a["description"],
                "data_type": data_type, "required": false, "visible_to_team_ids": ["100"], "archived": a["archived"],
                "created_at": a["created_at"], "updated_at": a["updated_at"], "admin_id": a["admin_id"],
            });
            match data_type {
                "list" => out["options"] = json!(options),
                "string" => out["multiline"] = json!(false),
                _ => {}
            }
            out
        })
        .collect::<Vec<_>>();
    ok(json!({"type": "list", "data": attributes}))
}

/// What a version changes in one item of an answer.
type Change = fn(Version, &mut Value, &World, &Request);

/// Rewrites an answer given in 2.14's shapes into `version`'s.
pub fn adapt(version: Version, req: &Request, world: &World, response: &mut Response) {
    if version == Version::V2_14 || response.status != 200 {
        return;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else {
        return;
    };
    let segments: Vec<&str> = req.path().trim_start_matches('/').split('/').collect();
    let (key, change): (Option<&str>, Change) = match (req.method.as_str(), segments.as_slice()) {
        ("POST", ["contacts", "search"]) => (Some("data"), contact),
        ("POST", ["conversations", "search"]) => (Some("conversations"), conversation),
        ("GET", ["conversations", _]) => (None, conversation),
        ("POST", ["tickets", "search"]) => (Some("tickets"), ticket),
        ("GET", ["tickets", _]) => (None, ticket),
        ("GET", ["admins"]) => (Some("admins"), admin),
        ("GET", ["articles"]) => (Some("data"), article),
        ("GET", ["articles", _]) => (None, article),
        ("GET", ["internal_articles"]) => (Some("data"), internal_article),
        ("GET", ["help_center", "help_centers"]) => (Some("data"), help_center),
        ("GET", ["companies", "scroll"]) => (Some("data"), company),
        ("GET", ["contacts", _, "notes"]) => (Some("data"), note),
        _ => return,
    };
    match key {
        Some(key) => {
            for item in body[key].as_array_mut().into_iter().flatten() {
                change(version, item, world, req);
            }
        }
        None => change(version, &mut body, world, req),
    }
    *response = ok(body);
}

fn number_of(id: &Value) -> u64 {
    id.as_str().map_or(0, |s| {
        s.bytes()
            .fold(0u64, |n, b| n.wrapping_mul(31).wrapping_add(u64::from(b)))
    })
}

fn contact(version: Version, c: &mut Value, _: &World, req: &Request) {
    if version < Version::V2_16 {
        return;
    }
    if let Some(owner) = c["owner_id"].as_i64() {
        c["owner_id"] = json!(owner.to_string());
    }
    let asked = req.query("include_merge_history").as_deref() == Some("true");
    if asked && c["role"] == "user" {
        c["merge_history"] = if number_of(&c["id"]) % 5 == 0 {
            json!([{"type": "merge_history", "source_contact_id": format!("lead-{}", c["id"].as_str().unwrap_or("")),
                    "source_contact_role": "lead", "merged_at": c["created_at"]}])
        } else {
            json!([])
        };
    }
}

/// The company with this Intercom id: found by the number the generator puts in its ids
/// (`6` and the index in hex), else by looking through them all.
fn company_by_id<'w>(world: &'w World, id: &str) -> Option<&'w Value> {
    let by_number = id
        .strip_prefix('6')
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .and_then(|i| world.companies.get(i))
        .filter(|c| c["id"] == id);
    by_number.or_else(|| world.companies.iter().find(|c| c["id"] == id))
}

fn conversation(version: Version, c: &mut Value, world: &World, _: &Request) {
    let n = number_of(&c["id"]);
    // The company the conversation's `company_id` names, so that the two never disagree.
    c["company"] = c["company_id"]
        .as_str()
        .and_then(|id| company_by_id(world, id))
        .map_or(Value::Null, |company| {
            let mut company = company.clone();
            if let Some(map) = company.as_object_mut() {
                map.retain(|k, _| !k.starts_with('_'));
            }
            company
        });
    if version < Version::V2_16 {
        return;
    }
    c["priority"] = json!(if c["priority"] == "priority" { "high" } else { "none" });
    for key in ["admin_assignee_id", "team_assignee_id"] {
        if c[key].is_null() {
            c[key] = json!(0);
        }
    }
    c["sales_agent_participated"] = json!(n % 4 == 0);
    c["sales_agent"] = if n % 4 == 0 {
        json!({"outcome": "qualified", "routing_outcome": "routed_to_sales", "collected_data": {"budget": "10k"}})
    } else {
        Value::Null
    };
    c["channel"] = json!({"initial": "messenger", "current": if n % 2 == 0 { "email" } else { "messenger" }});
    c["external_references"] = if n % 5 == 0 {
        json!([{"type": "zendesk_ticket", "id": format!("zd-{n}")}])
    } else {
        json!([])
    };
    let source = &mut c["source"];
    if let Some(author) = source["author"].as_object_mut() {
        author.remove("from_ai_agent");
        author.remove("is_ai_answer");
    }
    source["recipients"] = json!([{"type": "to", "email": "support@example.com", "drop_reason": null}]);
    source["reply_to"] = json!([]);
    source["email_message_metadata"] = Value::Null;
}

fn ticket(version: Version, t: &mut Value, _: &World, _: &Request) {
    if version < Version::V2_16 {
        return;
    }
    for key in ["admin_assignee_id", "team_assignee_id"] {
        let id = t[key].as_str().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        t[key] = json!(id);
    }
    t["previous_ticket_state_id"] = if number_of(&t["id"]) % 2 == 0 {
        json!("1")
    } else {
        Value::Null
    };
}

fn admin(version: Version, a: &mut Value, _: &World, _: &Request) {
    if version >= Version::V2_16 {
        a["role"] = if number_of(&a["id"]) % 2 == 0 {
            json!({"type": "role", "id": "7", "name": "Support"})
        } else {
            Value::Null
        };
    }
}

fn article(version: Version, a: &mut Value, world: &World, _: &Request) {
    if version < Version::V2_16 {
        return;
    }
    if let Some(map) = a.as_object_mut() {
        map.remove("parent_id");
        map.remove("parent_type");
    }
    let updated = a["updated_at"].clone();
    let extra = json!({
        "body_markdown": "# Title\n\nSome text", "has_unpublished_changes": false, "draft_updated_at": null,
        "ai_chatbot_availability": true, "ai_copilot_availability": true, "ai_sales_agent_availability": false,
        "created_by_id": 1_000_003, "updated_by_id": 1_000_003, "exclude_from_article_suggestions": false,
        "help_center_audience": "everyone", "scheduled_publish_at": null, "scheduled_unpublish_at": updated,
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        a[k] = v.clone();
    }
    // A single article's statistics count what Fin did with it.
    let fin = a["id"].as_str().and_then(|id| world.article_statistics.get(id));
    // (Looked up with get_mut: indexing would add a null `statistics` to the list's items.)
    let stats = a.get_mut("statistics").and_then(Value::as_object_mut);
    if let (Some(stats), Some(fin)) = (stats, fin) {
        for key in ["fin_involvements", "fin_resolutions", "fin_resolution_rate"] {
            stats.insert(key.into(), fin[format!("_{key}")].clone());
        }
    }
    for (locale, content) in a["translated_content"].as_object_mut().into_iter().flatten() {
        if locale != "type" && content.is_object() {
            content["body_markdown"] = json!("Texte");
            content["has_unpublished_changes"] = json!(true);
            content["draft_updated_at"] = updated.clone();
            content["audience_ids"] = json!([1, 2]);
        }
    }
}

/// 2.16's internal articles carry their markdown, the audiences Fin targets, and where AI may
/// use them.
fn internal_article(version: Version, a: &mut Value, _: &World, _: &Request) {
    if version < Version::V2_16 {
        return;
    }
    let n = number_of(&a["id"]);
    let markdown = a["title"]
        .as_str()
        .map(|t| format!("# {t}\n\nBody of the article in markdown\n"));
    a["body_markdown"] = json!(markdown);
    a["audience_ids"] = match n % 3 {
        0 => json!([1, 2]),
        1 => json!([]),
        _ => Value::Null,
    };
    a["ai_chatbot_availability"] = json!(n % 2 == 0);
    a["ai_copilot_availability"] = json!(true);
    a["ai_sales_agent_availability"] = json!(n % 4 == 1);
}

fn help_center(version: Version, h: &mut Value, world: &World, _: &Request) {
    if version >= Version::V2_16 {
        h["default"] = json!(world.help_centers.first().is_some_and(|f| f["id"] == h["id"]));
        h["locales"] = json!(["en", "fr"]);
    }
}

fn company(version: Version, c: &mut Value, _: &World, _: &Request) {
    if version >= Version::V2_16 {
        let notes = if number_of(&c["id"]) % 3 == 0 {
            json!([{"type": "note", "id": format!("cn-{}", c["id"].as_str().unwrap_or("")), "created_at": c["created_at"],
                    "company": {"type": "company", "id": c["id"]}, "author": {"type": "admin", "id": "1000003", "name": "Ada"},
                    "body": "<p>Renewal due</p>"}])
        } else {
            json!([])
        };
        c["notes"] = json!({"type": "note.list", "notes": notes});
    }
}

fn note(version: Version, n: &mut Value, _: &World, _: &Request) {
    if version >= Version::V2_16 {
        n["company"] = Value::Null;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Size;

    fn request(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            target: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The items of `key` in a search answer adapted to `version`.
    fn adapted(world: &World, path: &str, key: &str, items: &[Value], version: Version) -> Vec<Value> {
        let mut answer = ok(json!({"type": "list", key: items}));
        adapt(version, &request("POST", path), world, &mut answer);
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        body[key].as_array().unwrap().clone()
    }

    #[test]
    fn newer_versions_keep_the_fields_no_description_lists() {
        let world = World::generate(11, Size::small());
        for version in [Version::V2_15, Version::V2_16] {
            let contacts = adapted(&world, "/contacts/search", "data", &world.contacts, version);
            for (old, new) in world.contacts.iter().zip(&contacts) {
                assert_eq!(old["sms_consent"], new["sms_consent"]);
                assert_eq!(old["unsubscribed_from_sms"], new["unsubscribed_from_sms"]);
            }
            let conversations = adapted(
                &world,
                "/conversations/search",
                "conversations",
                &world.conversations,
                version,
            );
            for (old, new) in world.conversations.iter().zip(&conversations) {
                assert_eq!(old["assignee"], new["assignee"], "{version:?}");
                assert_eq!(old["company_id"], new["company_id"], "{version:?}");
                // A null company has no id either.
                assert_eq!(new["company"]["id"], old["company_id"], "{version:?}: the two agree");
            }
            let tickets = adapted(&world, "/tickets/search", "tickets", &world.tickets, version);
            for (old, new) in world.tickets.iter().zip(&tickets) {
                assert_eq!(old["company_id"], new["company_id"], "{version:?}");
            }
        }
    }
}
