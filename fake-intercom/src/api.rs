//! The endpoints of the fake, answering in Intercom 2.14's shapes with Intercom's pagination.

use serde_json::{Value, json};

use crate::server::{Request, Response};
use crate::world::World;

/// Where page links point: Intercom's canonical host, as the real API answers, so that the tap
/// must not follow links to another host blindly.
pub const LINK_BASE: &str = "https://api.intercom.io";

/// Intercom's error envelope.
pub fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"type": "error.list", "request_id": format!("fake-{status}-{code}"),
                "errors": [{"code": code, "message": message}]}),
    )
}

pub fn not_found() -> Response {
    error(404, "not_found", "Resource Not Found")
}

/// Answers one request from the workspace's data.
pub fn route(req: &Request, world: &mut World) -> Response {
    let path = req.path();
    match (req.method.as_str(), path) {
        ("GET", "/admins") => ok(json!({"type": "admin.list", "admins": world.admins})),
        ("GET", "/teams") => ok(json!({"type": "team.list", "teams": world.teams})),
        ("GET", "/tags") => ok(json!({"type": "list", "data": world.tags})),
        ("GET", "/segments") => segments(req, world),
        ("GET", "/ticket_types") => ok(json!({"type": "list", "data": world.ticket_types})),
        ("GET", "/ticket_states") => ok(json!({"type": "list", "data": world.ticket_states})),
        ("GET", "/subscription_types") => {
            ok(json!({"type": "list", "data": world.subscription_types}))
        }
        ("GET", "/data_attributes") => data_attributes(req, world),
        ("GET", "/help_center/help_centers") => page_numbers(req, &world.help_centers, 20),
        ("GET", "/help_center/collections") => page_numbers(req, &world.collections, 20),
        ("GET", "/counts") => crate::counts::answer(req, world),
        _ => not_found(),
    }
}

pub fn ok(body: Value) -> Response {
    Response::json(200, &body)
}

fn segments(req: &Request, world: &World) -> Response {
    let with_count = req.query("include_count").as_deref() == Some("true");
    let list = if req.query("type").as_deref() == Some("company") {
        &world.company_segments
    } else {
        &world.user_segments
    };
    let items: Vec<Value> = list
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if !with_count {
                s.as_object_mut().map(|o| o.remove("count"));
            }
            s
        })
        .collect();
    ok(json!({"type": "segment.list", "segments": items}))
}

fn data_attributes(req: &Request, world: &World) -> Response {
    let model = req.query("model");
    let items: Vec<Value> = world
        .data_attributes
        .iter()
        .filter(|(m, _)| model.as_deref().is_none_or(|want| want == m))
        .flat_map(|(_, attrs)| attrs.iter().cloned())
        .collect();
    match model.as_deref() {
        Some("contact" | "company" | "conversation") | None => {
            ok(json!({"type": "list", "data": items}))
        }
        Some(other) => error(
            400,
            "parameter_invalid",
            &format!("model {other} is not supported"),
        ),
    }
}

/// Page-number pagination (style C): `page` from 1, `pages.next` an absolute link or null.
pub fn page_numbers(req: &Request, items: &[Value], default_per_page: usize) -> Response {
    let per_page = req
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(default_per_page)
        .clamp(1, 150);
    let page = req
        .query("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total_pages = items.len().div_ceil(per_page).max(1);
    let data: Vec<&Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = if page < total_pages {
        json!(format!(
            "{LINK_BASE}{}?page={}&per_page={per_page}",
            req.path(),
            page + 1
        ))
    } else {
        Value::Null
    };
    ok(json!({
        "type": "list",
        "data": data,
        "total_count": items.len(),
        "pages": {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages, "next": next},
    }))
}
