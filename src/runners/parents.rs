//! Parents and their parts: conversations and tickets, one implementation told apart by a
//! [`Family`].
//!
//! The parents come from a search, read in slices. A conversation's parts come only from
//! `GET /conversations/{id}`, one request per changed conversation; a ticket's come with the
//! search, and a ticket is fetched on its own only when its list is cut short. Those requests
//! run many at once, and a page's bookmark is saved only after every part of every parent on it
//! has been written. A parent deleted between the search and the fetch (404) is skipped with a
//! warning. Intercom returns at most the 500 newest parts of a parent; when `total_count` says
//! there are more, or when the parts fill the cap, the log and a metric name the parent.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::{Error, kind_of};
use crate::http::{Request, encode};
use crate::job::{Job, Origin, id_text};
use crate::paging::search::{Dated, Search};
use crate::runners::{deleted, read_search};
use crate::streams::Family;
use crate::warn;

/// Intercom's most parts of one parent: the newest 500.
const PARTS_CAP: usize = 500;

pub fn run(job: &Job<'_>, child: Option<&Job<'_>>, family: Family) -> Result<(), Error> {
    let search = Search {
        path: family.search,
        records: family.records,
        role: None,
        by_day: false,
    };
    let family = &family;
    read_search(
        job,
        child,
        &search,
        &|items, origin| page(job, child, family, items, origin),
        || family.deleted.map_or(Ok(()), |path| deleted::run(job, path)),
    )
}

/// What each part carries of its parent, and the parts when the search brought them whole.
struct Parent {
    id: String,
    /// The parent's `updated_at` as the search read it: where its parts sit in the child's
    /// bookmark order.
    at: DateTime<Utc>,
    created_at: Value,
    updated_at: Value,
    parts: Option<Parts>,
}

/// A parent's parts and their `total_count`.
type Parts = (Vec<Value>, Option<u64>);

/// The parts a parent carries and their `total_count`; `Ok(None)` when it carries no list
/// (then it is fetched whole), an error when the list is not one.
fn parts_of(family: &Family, item: &Value) -> Result<Option<Parts>, String> {
    let Some(list) = item.get(family.parts).filter(|l| !l.is_null()) else {
        return Ok(None);
    };
    let total = list["total_count"].as_u64();
    // Under its own name as the schemas have it, or under `data` as some examples do.
    match [family.parts, "data"]
        .iter()
        .find_map(|k| list.get(*k).filter(|v| !v.is_null()))
    {
        None if list.is_object() => Ok(Some((Vec::new(), total))),
        Some(Value::Array(parts)) => Ok(Some((parts.clone(), total))),
        _ => Err(format!(
            "{}: the list of parts is {}, not a list",
            family.parts,
            crate::error::cut_short(&list.to_string())
        )),
    }
}

fn page(
    job: &Job<'_>,
    child: Option<&Job<'_>>,
    family: &Family,
    items: Vec<Dated>,
    origin: &Origin,
) -> Result<(), Error> {
    let mut parents = Vec::new();
    for Dated { item, at } in items {
        if let Some(child) = child.filter(|c| c.in_range(at)) {
            let parts = if family.embedded {
                parts_of(family, &item)
            } else {
                Ok(None)
            };
            match (id_text(&item["id"]), parts) {
                (Some(id), Ok(parts)) => parents.push(Parent {
                    id,
                    at,
                    created_at: item["created_at"].clone(),
                    updated_at: item["updated_at"].clone(),
                    parts: parts.filter(|(parts, total)| !cut_short(parts.len(), *total)),
                }),
                (None, _) => child.spoil(child.bad_record(&item, "has no id", origin), Some(at))?,
                (_, Err(problem)) => child.spoil(child.bad_record(&item, &problem, origin), Some(at))?,
            }
        }
        if job.in_range(at) {
            job.emit(item, origin)?;
        }
    }
    let Some(child) = child else { return Ok(()) };
    let (complete, to_fetch): (Vec<Parent>, Vec<Parent>) = parents.into_iter().partition(|p| p.parts.is_some());
    for mut parent in complete {
        let (parts, total) = parent.parts.take().unwrap_or_default();
        write_parts(child, family, &parent, parts, total, origin)?;
    }
    job.for_each(&to_fetch, |parent| fetch_parts(child, family, parent))
}

fn cut_short(returned: usize, total: Option<u64>) -> bool {
    total.is_some_and(|t| t > u64::try_from(returned).unwrap_or(u64::MAX))
}

/// Fetches one parent whole and writes its parts.
fn fetch_parts(child: &Job<'_>, family: &Family, parent: &Parent) -> Result<(), Error> {
    let path = format!("{}{}{}", family.fetch_prefix, encode(&parent.id), family.fetch_suffix);
    let request = Request::get(child.name(), path).leaf();
    let whole = match child.send_unless_gone(&request) {
        Ok(whole) => whole,
        Err(err) if err.concerns_the_run() => return Err(err),
        // This parent's parts cannot be read: the others are, and the child's bookmark stays
        // below this parent, so that the next run reads it again.
        Err(err) => return child.spoil(err, Some(parent.at)),
    };
    let Some(whole) = whole else {
        warn!(
            "{}: {} {} was deleted after the search found it; its parts are skipped",
            child.name(),
            family.parent,
            parent.id
        );
        child.counter(
            &format!("{}s_deleted_during_sync", family.parent),
            1,
            json!({format!("{}_id", family.parent): parent.id}),
        );
        return Ok(());
    };
    let origin = Origin::now(request.describe());
    let (parts, total) = match parts_of(family, &whole) {
        Ok(parts) => parts.unwrap_or_default(),
        Err(problem) => return child.spoil(child.bad_record(&whole, &problem, &origin), Some(parent.at)),
    };
    let fresh = Parent {
        id: parent.id.clone(),
        at: parent.at,
        created_at: whole
            .get("created_at")
            .cloned()
            .unwrap_or_else(|| parent.created_at.clone()),
        updated_at: whole
            .get("updated_at")
            .cloned()
            .unwrap_or_else(|| parent.updated_at.clone()),
        parts: None,
    };
    write_parts(child, family, &fresh, parts, total, &origin)
}

fn write_parts(
    child: &Job<'_>,
    family: &Family,
    parent: &Parent,
    parts: Vec<Value>,
    total: Option<u64>,
    origin: &Origin,
) -> Result<(), Error> {
    report_truncation(child, family, &parent.id, parts.len(), total);
    report_cap_reached(child, family, &parent.id, parts.len(), total);
    let name = family.parent;
    for (i, mut part) in parts.into_iter().enumerate() {
        let Some(map) = part.as_object_mut() else {
            let what = if part.is_null() { "null" } else { kind_of(&part) };
            let err = Error::BadResponse {
                stream: child.name(),
                request: origin.request.clone(),
                problem: format!("part {} of {name} {} is {what}, not an object", i + 1, parent.id),
            };
            child.spoil(err, Some(parent.at))?;
            continue;
        };
        map.insert(format!("{name}_id"), json!(parent.id));
        map.insert(format!("{name}_created_at"), parent.created_at.clone());
        map.insert(format!("{name}_updated_at"), parent.updated_at.clone());
        map.insert(format!("{name}_total_parts"), json!(total));
        child.emit(part, origin)?;
    }
    Ok(())
}

/// Says so when Intercom returned fewer parts than the parent has (its cap is 500).
fn report_truncation(child: &Job<'_>, family: &Family, id: &str, returned: usize, total: Option<u64>) {
    let returned = u64::try_from(returned).unwrap_or(u64::MAX);
    if let Some(total) = total.filter(|t| *t > returned) {
        warn!(
            "{}: {} {id} has {total} parts but Intercom returns only the newest {returned}; {} older parts cannot be read",
            child.name(),
            family.parent,
            total - returned
        );
        child.counter(
            "parts_truncated",
            total - returned,
            json!({"parent": family.parent, "parent_id": id, "returned": returned, "total": total}),
        );
    }
}

/// Says so when a parent's parts fill Intercom's cap but `total_count` shows no more: what
/// `total_count` counts is undocumented, so a full list may still be cut short.
fn report_cap_reached(child: &Job<'_>, family: &Family, id: &str, returned: usize, total: Option<u64>) {
    if returned >= PARTS_CAP && !cut_short(returned, total) {
        warn!(
            "{}: {} {id} returned {returned} parts, Intercom's cap: older parts may exist that Intercom does not return",
            child.name(),
            family.parent
        );
        child.counter("parts_at_cap", 1, json!({"parent": family.parent, "parent_id": id}));
    }
}
