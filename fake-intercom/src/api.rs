//! The endpoints of the fake, answering in Intercom 2.14's shapes with Intercom's pagination.
//! Those of the data the tap does not read yet are in [`more`].

pub mod more;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde_json::{Value, json};

pub use crate::reply::{LINK_BASE, error, not_found, ok};
use crate::search::{self, Rules};
use crate::server::{Request, Response};
use crate::world::World;
use crate::{FaultKind, Options};

/// What an answer may need besides the workspace.
pub struct Ctx<'a> {
    pub options: &'a Options,
    pub scroll: &'a Mutex<Scroll>,
    /// Unix seconds, for what the search index holds yet.
    pub now: i64,
    /// The workspace's version, for the search cache.
    pub version: u64,
    pub searches: &'a Mutex<SearchCache>,
    /// The fault this request gets, for those an endpoint plays itself because they change its
    /// own work (`RepeatPage`, `IgnoreFilter`); the others are played around the answer.
    pub fault: Option<FaultKind>,
}

/// Search orders by endpoint and query, and positions by id, reused while the workspace does
/// not change (a sync pages through the same query again and again, and looks records up by id
/// thousands of times).
#[derive(Default)]
pub struct SearchCache {
    entries: HashMap<String, (u64, Arc<search::Ordered>)>,
    ids: HashMap<&'static str, (u64, Arc<IdIndex>)>,
}

/// Where each id is in a collection.
type IdIndex = HashMap<String, usize>;

/// The record of `collection` with this id.
fn find<'w>(ctx: &Ctx<'_>, collection: &'static str, items: &'w [Value], id: &str) -> Option<&'w Value> {
    let index = {
        let mut cache = ctx.searches.lock().unwrap_or_else(PoisonError::into_inner);
        match cache.ids.get(collection) {
            Some((version, index)) if *version == ctx.version => Arc::clone(index),
            _ => {
                let index: IdIndex = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (search::id_of(item), i))
                    .collect();
                let index = Arc::new(index);
                cache.ids.insert(collection, (ctx.version, Arc::clone(&index)));
                index
            }
        }
    };
    index
        .get(id)
        .map(|i| &items[*i])
        .filter(|item| search::id_of(item) == id)
}

/// The companies scroll of the app: at most one open at a time.
#[derive(Debug, Default)]
pub struct Scroll {
    open: Option<OpenScroll>,
    opened: u64,
}

#[derive(Debug)]
struct OpenScroll {
    param: String,
    /// Where the next page starts.
    position: usize,
    /// Where the last page answered started, for `FaultKind::RepeatPage`.
    page_start: usize,
    last_used: Instant,
}

impl Scroll {
    /// Another client's scroll, open now: the tap's must wait for it to expire.
    pub fn open_foreign(&mut self) {
        self.open = Some(OpenScroll {
            param: "someone-elses-scroll".into(),
            position: 0,
            page_start: 0,
            last_used: Instant::now(),
        });
    }

    /// A network error ends the scroll (Intercom: "restart the scroll operation").
    pub fn close(&mut self) {
        self.open = None;
    }
}

/// Answers one request from the workspace's data.
pub fn route(req: &Request, world: &World, ctx: &Ctx<'_>) -> Response {
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("POST", ["contacts", "search"]) => search_endpoint(
            req,
            ctx,
            &world.contacts,
            contact_rules(ctx),
            ("list", "data"),
            render_contact,
        ),
        ("POST", ["conversations", "search"]) => {
            let kind = ("conversation.list", "conversations");
            search_endpoint(req, ctx, &world.conversations, BY_SECOND_20, kind, |c| {
                without(c, &["conversation_parts"])
            })
        }
        ("POST", ["tickets", "search"]) => {
            let cap = ctx.options.ticket_search_parts_cap;
            search_endpoint(
                req,
                ctx,
                &world.tickets,
                BY_SECOND_20,
                ("ticket.list", "tickets"),
                |t| render_ticket(t, cap),
            )
        }
        ("GET", ["companies", "scroll"]) => scroll(req, world, ctx),
        ("GET", ["articles"]) => {
            let mut articles = world.articles.clone();
            articles.sort_by_key(|a| std::cmp::Reverse(a["updated_at"].as_i64().unwrap_or(0)));
            page_numbers(req, &articles, 25)
        }
        ("GET", ["articles", id]) => more::article(world, ctx, id),
        ("GET", ["events"]) => more::events(req, world, ctx),
        ("GET", ["calls", id]) => more::call(world, ctx, id),
        ("GET", ["calls", id, "transcript"]) => more::transcript(world, ctx, id),
        ("GET", ["admins", "activity_logs"]) => activity_logs(req, world),
        ("GET", ["me"]) => ok(me(world, &ctx.options.app_id)),
        ("GET", ["contacts", id, list]) => match find(ctx, "contacts", &world.contacts, id) {
            Some(contact) => contact_list(req, world, ctx, contact, list),
            None => error(404, "not_found", "User Not Found"),
        },
        ("GET", ["conversations", id]) => match find(ctx, "conversations", &world.conversations, id) {
            Some(c) => ok(render_conversation(c, ctx.options.parts_total_counts_returned)),
            None => error(404, "not_found", "Resource Not Found"),
        },
        ("GET", ["tickets", id]) => match find(ctx, "tickets", &world.tickets, id) {
            Some(t) => ok(render_ticket(t, 500)),
            None => error(404, "ticket_not_found", "Ticket not found"),
        },
        _ => route_lists(req, world),
    }
}

fn route_lists(req: &Request, world: &World) -> Response {
    let path = req.path();
    match (req.method.as_str(), path) {
        ("GET", "/admins") => ok(json!({"type": "admin.list", "admins": world.admins})),
        ("GET", "/teams") => ok(json!({"type": "team.list", "teams": world.teams})),
        ("GET", "/tags") => ok(json!({"type": "list", "data": world.tags})),
        ("GET", "/segments") => segments(req, world),
        ("GET", "/ticket_types") => ok(json!({"type": "list", "data": world.ticket_types})),
        ("GET", "/ticket_states") => ok(json!({"type": "list", "data": world.ticket_states})),
        ("GET", "/subscription_types") => ok(json!({"type": "list", "data": world.subscription_types})),
        ("GET", "/data_attributes") => data_attributes(req, world),
        ("GET", "/help_center/help_centers") => page_numbers(req, &world.help_centers, 20),
        ("GET", "/help_center/collections") => page_numbers(req, &world.collections, 20),
        ("GET", "/counts") => crate::counts::answer(req, world),
        ("GET", "/calls") => more::calls(req, world),
        ("GET", "/news/news_items") => page_numbers(req, &world.news_items, 10),
        ("GET", "/news/newsfeeds") => page_numbers(req, &world.newsfeeds, 10),
        ("GET", "/away_status_reasons") => ok(json!({"type": "list", "data": world.away_status_reasons})),
        ("GET", "/internal_articles") => more::internal_articles(req, world),
        _ => not_found(),
    }
}

const BY_SECOND_20: Rules = Rules {
    by_day: false,
    utc_offset_secs: 0,
    default_per_page: 20,
    ignore_time_filters: false,
};

fn contact_rules(ctx: &Ctx<'_>) -> Rules {
    Rules {
        by_day: true,
        utc_offset_secs: ctx.options.workspace_utc_offset_secs,
        default_per_page: 50,
        ignore_time_filters: false,
    }
}

/// A copy without the fake's own bookkeeping (keys starting with `_`) and without `drop`.
pub(crate) fn without(item: &Value, drop: &[&str]) -> Value {
    let mut item = item.clone();
    if let Some(map) = item.as_object_mut() {
        map.retain(|k, _| !k.starts_with('_') && !drop.contains(&k.as_str()));
    }
    item
}

/// A contact as the API shows it: each addressable list cut to 10 items, with `has_more`.
pub fn render_contact(contact: &Value) -> Value {
    let mut c = without(contact, &[]);
    for list in [
        "tags",
        "notes",
        "companies",
        "opted_in_subscription_types",
        "opted_out_subscription_types",
    ] {
        if let Some(data) = c[list]["data"].as_array_mut() {
            let total = data.len();
            data.truncate(10);
            c[list]["total_count"] = json!(total);
            c[list]["has_more"] = json!(total > 10);
        }
    }
    c
}

/// A conversation with its newest 500 parts, and the count of all (or of those returned).
pub fn render_conversation(conversation: &Value, total_counts_returned: bool) -> Value {
    let mut c = without(conversation, &[]);
    if let Some(parts) = c["conversation_parts"]["conversation_parts"].as_array_mut() {
        let mut total = parts.len();
        if total > 500 {
            parts.drain(..total - 500);
        }
        if total_counts_returned {
            total = parts.len();
        }
        c["conversation_parts"]["total_count"] = json!(total);
    }
    c
}

/// A ticket with at most `cap` of its newest parts, and the count of all.
pub fn render_ticket(ticket: &Value, cap: usize) -> Value {
    let mut t = without(ticket, &[]);
    if let Some(parts) = t["ticket_parts"]["ticket_parts"].as_array_mut() {
        let total = parts.len();
        if total > cap {
            parts.drain(..total - cap);
        }
        t["ticket_parts"]["total_count"] = json!(total);
    }
    t
}

/// A search endpoint; `(kind, key)` name the answer's type and where its items go.
fn search_endpoint(
    req: &Request,
    ctx: &Ctx<'_>,
    items: &[Value],
    rules: Rules,
    (kind, key): (&str, &str),
    render: impl Fn(&Value) -> Value,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(400, "parameter_invalid", "The request body is not valid JSON");
    };
    let rules = Rules {
        ignore_time_filters: ctx.fault == Some(FaultKind::IgnoreFilter),
        ..rules
    };
    let cache_key = format!(
        "{}|{}|{}|{}",
        req.path(),
        body["query"],
        body["sort"],
        rules.ignore_time_filters
    );
    let cached = {
        let cache = ctx.searches.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .entries
            .get(&cache_key)
            .filter(|(v, _)| *v == ctx.version)
            .map(|(_, o)| Arc::clone(o))
    };
    let ordered = match cached {
        Some(ordered) => ordered,
        None => match search::order(&body, items, rules, ctx.now) {
            Ok(ordered) => {
                let ordered = Arc::new(ordered);
                if ordered.reusable {
                    let mut cache = ctx.searches.lock().unwrap_or_else(PoisonError::into_inner);
                    // A sliced sync asks for a few hundred distinct queries (a slice each).
                    if cache.entries.len() > 4_096 {
                        cache.entries.clear();
                    }
                    cache.entries.insert(cache_key, (ctx.version, Arc::clone(&ordered)));
                }
                ordered
            }
            Err(problem) => return error(400, "parameter_invalid", &problem),
        },
    };
    match search::page(&ordered, &body, items, rules) {
        Ok(found) => {
            let data: Vec<Value> = found.items.iter().map(render).collect();
            let mut pages = json!({"type": "pages", "page": found.page, "per_page": found.per_page,
                                   "total_pages": found.total.div_ceil(found.per_page).max(1)});
            if let Some(cursor) = found.next {
                pages["next"] = json!({"page": found.page + 1, "starting_after": cursor});
            }
            ok(json!({"type": kind, key: data, "total_count": found.total, "pages": pages}))
        }
        Err(problem) => error(400, "parameter_invalid", &problem),
    }
}

/// Companies scrolled 50 a page; a new `scroll_param` on every page. With
/// `FaultKind::RepeatPage`, a request that continues the scroll gets the last page again, under
/// the same `scroll_param`, and the scroll stays where it was.
fn scroll(req: &Request, world: &World, ctx: &Ctx<'_>) -> Response {
    let mut guard = ctx.scroll.lock().unwrap_or_else(PoisonError::into_inner);
    let scroll = &mut *guard;
    if scroll
        .open
        .as_ref()
        .is_some_and(|o| o.last_used.elapsed() > ctx.options.scroll_expiry)
    {
        scroll.open = None;
    }
    let open = match req.query("scroll_param") {
        None => {
            if scroll.open.is_some() {
                return error(400, "scroll_exists", "scroll already exists for this workspace");
            }
            scroll.opened += 1;
            scroll.open.insert(OpenScroll {
                param: format!("scroll-{}-0", scroll.opened),
                position: 0,
                page_start: 0,
                last_used: Instant::now(),
            })
        }
        Some(param) => match scroll.open.as_mut() {
            Some(open) if open.param == param => open,
            _ => return error(404, "not_found", "scroll parameter not found"),
        },
    };
    let repeat = ctx.fault == Some(FaultKind::RepeatPage) && req.query("scroll_param").is_some();
    let start = if repeat { open.page_start } else { open.position };
    let data: Vec<Value> = world.companies.iter().skip(start).take(50).cloned().collect();
    open.last_used = Instant::now();
    if !repeat {
        open.page_start = open.position;
        open.position += data.len();
        open.param = format!("scroll-{}-{}", scroll.opened, open.position);
    }
    let param = open.param.clone();
    if data.is_empty() {
        scroll.open = None;
    }
    ok(json!({"type": "list", "data": data, "pages": null, "total_count": null, "scroll_param": param}))
}

/// Activity logs strictly between the two bounds, 50 at most, with no way to the rest: the
/// pessimistic reading of an endpoint whose paging is undocumented.
fn activity_logs(req: &Request, world: &World) -> Response {
    let Some(after) = req.query("created_at_after").and_then(|a| a.parse::<i64>().ok()) else {
        return error(404, "parameter_not_found", "created_at_after is required");
    };
    let before = req
        .query("created_at_before")
        .and_then(|b| b.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let mut logs: Vec<&Value> = world
        .activity_logs
        .iter()
        .filter(|l| l["created_at"].as_i64().is_some_and(|t| t > after && t < before))
        .collect();
    logs.sort_by_key(|l| std::cmp::Reverse(l["created_at"].as_i64()));
    let total_pages = logs.len().div_ceil(50).max(1);
    let page: Vec<&Value> = logs.into_iter().take(50).collect();
    ok(json!({"type": "activity_log.list",
              "pages": {"type": "pages", "next": null, "page": 1, "per_page": 50, "total_pages": total_pages},
              "activity_logs": page}))
}

/// A contact's full lists: `/contacts/{id}/tags|companies|notes|subscriptions|segments`.
fn contact_list(req: &Request, world: &World, ctx: &Ctx<'_>, contact: &Value, list: &str) -> Response {
    let ids = |field: &str| -> Vec<Value> {
        contact[field]["data"]
            .as_array()
            .map(|d| d.iter().map(|x| x["id"].clone()).collect())
            .unwrap_or_default()
    };
    match list {
        "tags" => {
            let wanted = ids("tags");
            let tags: Vec<Value> = world
                .tags
                .iter()
                .filter(|t| wanted.contains(&t["id"]))
                .map(|t| {
                    let mut t = t.clone();
                    t["applied_at"] = contact["created_at"].clone();
                    t["applied_by"] = json!({"type": "admin", "id": "1000003"});
                    t
                })
                .collect();
            ok(json!({"type": "list", "data": tags}))
        }
        "companies" => {
            let companies: Vec<Value> = ids("companies")
                .iter()
                .filter_map(|id| find(ctx, "companies", &world.companies, id.as_str().unwrap_or_default()))
                .cloned()
                .collect();
            page_numbers(req, &companies, 50)
        }
        "notes" => page_numbers(req, contact["_notes"].as_array().map_or(&[][..], Vec::as_slice), 50),
        "segments" => more::contact_segments(world, contact),
        "subscriptions" => {
            let mut wanted = ids("opted_in_subscription_types");
            wanted.extend(ids("opted_out_subscription_types"));
            let subs: Vec<Value> = world
                .subscription_types
                .iter()
                .filter(|s| wanted.contains(&s["id"]))
                .cloned()
                .collect();
            ok(json!({"type": "list", "data": subs}))
        }
        _ => not_found(),
    }
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
        Some("contact" | "company" | "conversation") | None => ok(json!({"type": "list", "data": items})),
        Some(other) => error(400, "parameter_invalid", &format!("model {other} is not supported")),
    }
}

/// Page-number pagination (style C): `page` from 1, `pages.next` an absolute link or null.
pub fn page_numbers(req: &Request, items: &[Value], default_per_page: usize) -> Response {
    page_numbers_up_to(req, items, default_per_page, 150)
}

/// The same with at most `max_per_page` a page: a larger `per_page` gets that many (the
/// descriptions give a maximum, not an error).
pub fn page_numbers_up_to(req: &Request, items: &[Value], default_per_page: usize, max_per_page: usize) -> Response {
    let per_page = req
        .query("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(default_per_page)
        .clamp(1, max_per_page);
    let page = req
        .query("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total_pages = items.len().div_ceil(per_page).max(1);
    let data: Vec<&Value> = items.iter().skip((page - 1) * per_page).take(per_page).collect();
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

/// `GET /me`: the admin behind the token, and the workspace.
fn me(world: &World, app_id: &str) -> Value {
    let mut admin = world
        .admins
        .first()
        .cloned()
        .unwrap_or_else(|| json!({"type": "admin", "id": "1"}));
    admin["email_verified"] = json!(true);
    admin["app"] = json!({
        "type": "app", "id_code": app_id, "name": "Fake Intercom", "region": "US",
        "timezone": "America/New_York", "created_at": 1_577_836_800, "identity_verification": false,
    });
    admin
}
