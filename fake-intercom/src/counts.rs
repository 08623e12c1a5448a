//! `GET /counts`, the legacy reports, computed from the workspace as Intercom documents them:
//! name-keyed objects, and for the company reports the doubly nested `pages.pages`.

use serde_json::{Map, Value, json};

use crate::reply::{LINK_BASE, error, ok};
use crate::server::{Request, Response};
use crate::world::World;

/// What each report counts, as `(name, count)` pairs, for the answer and for the tests.
pub fn named_counts(world: &World, kind: &str, count: &str) -> Option<Vec<(String, u64)>> {
    let n = |x: usize| u64::try_from(x).unwrap_or(u64::MAX);
    Some(match (kind, count) {
        ("user", "segment") => world
            .user_segments
            .iter()
            .map(|s| (name(s), s["count"].as_u64().unwrap_or(0)))
            .collect(),
        ("user", "tag") => {
            let mut tagged: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
            for contact in &world.contacts {
                for tag in contact["tags"]["data"].as_array().into_iter().flatten() {
                    *tagged.entry(tag["id"].as_str().unwrap_or_default()).or_default() += 1;
                }
            }
            world
                .tags
                .iter()
                .map(|t| {
                    (
                        name(t),
                        n(tagged.get(t["id"].as_str().unwrap_or_default()).copied().unwrap_or(0)),
                    )
                })
                .collect()
        }
        ("company", "segment") => world
            .company_segments
            .iter()
            .map(|s| (name(s), s["count"].as_u64().unwrap_or(0)))
            .collect(),
        ("company", "tag") => world
            .tags
            .iter()
            .map(|t| {
                let tagged = world
                    .companies
                    .iter()
                    .filter(|c| {
                        c["tags"]["tags"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|x| x["id"] == t["id"]))
                    })
                    .count();
                (name(t), n(tagged))
            })
            .collect(),
        _ => return None,
    })
}

fn name(v: &Value) -> String {
    v["name"].as_str().unwrap_or_default().to_owned()
}

pub fn answer(req: &Request, world: &World) -> Response {
    let kind = req.query("type");
    let count = req.query("count");
    match (kind.as_deref(), count.as_deref()) {
        (None, None) => ok(json!({
            "type": "count.hash",
            "company": {"count": world.companies.len()},
            "user": {"count": world.contacts.iter().filter(|c| c["role"] == "user").count()},
            "lead": {"count": world.contacts.iter().filter(|c| c["role"] == "lead").count()},
            "tag": {"count": world.tags.len()},
            "segment": {"count": world.user_segments.len() + world.company_segments.len()},
        })),
        (Some("conversation"), None) => {
            let open = world.conversations.iter().filter(|c| c["open"] == true).count();
            let assigned = world
                .conversations
                .iter()
                .filter(|c| !c["admin_assignee_id"].is_null())
                .count();
            ok(json!({"type": "count", "conversation": {
                "open": open, "closed": world.conversations.len() - open,
                "assigned": assigned, "unassigned": world.conversations.len() - assigned}}))
        }
        (Some("conversation"), Some("admin")) => {
            let admins: Vec<Value> = world
                .admins
                .iter()
                .map(|a| {
                    let id: i64 = a["id"].as_str().unwrap_or("0").parse().unwrap_or(0);
                    let mine = world.conversations.iter().filter(|c| c["admin_assignee_id"] == id);
                    let open = mine.clone().filter(|c| c["open"] == true).count();
                    let closed = mine.count() - open;
                    json!({"id": a["id"], "name": a["name"], "open": open, "closed": closed})
                })
                .collect();
            ok(json!({"type": "count", "conversation": {"admin": admins}}))
        }
        (Some("company"), Some("user")) => {
            let rows: Vec<Value> = world
                .companies
                .iter()
                .map(|c| {
                    let mut row = Map::new();
                    row.insert(name(c), c["user_count"].clone());
                    row.insert("remote_company_id".into(), c["company_id"].clone());
                    Value::Object(row)
                })
                .collect();
            paged(req, "company", "user", &rows)
        }
        (Some(kind), Some(count)) => match named_counts(world, kind, count) {
            Some(pairs) => {
                let rows: Vec<Value> = pairs
                    .into_iter()
                    .map(|(name, n)| Value::Object(Map::from_iter([(name, json!(n))])))
                    .collect();
                if kind == "company" {
                    paged(req, kind, count, &rows)
                } else {
                    ok(json!({"type": "count", kind: {count: rows}}))
                }
            }
            None => error(400, "parameter_invalid", "unknown count"),
        },
        _ => error(400, "parameter_invalid", "unknown count"),
    }
}

/// The company reports page with `per_page` (5 by default, as in Intercom's example) and
/// put their links under `pages.pages`.
fn paged(req: &Request, kind: &str, count: &str, rows: &[Value]) -> Response {
    let per_page = req
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(5)
        .clamp(1, 150);
    let page = req
        .query("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total_pages = rows.len().div_ceil(per_page).max(1);
    let slice: Vec<&Value> = rows.iter().skip((page - 1) * per_page).take(per_page).collect();
    let next = if page < total_pages {
        json!(format!(
            "{LINK_BASE}/counts?type={kind}&count={count}&page={}&per_page={per_page}",
            page + 1
        ))
    } else {
        Value::Null
    };
    ok(json!({
        "type": "count",
        kind: {count: slice},
        "pages": {"pages": {"type": "pages", "next": next, "page": page, "per_page": per_page, "total_pages": total_pages}},
    }))
}
