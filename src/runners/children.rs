//! What a page's records need besides themselves: the lists they carry cut short (read whole
//! from their own endpoint), and their children's records (a conversation's parts, a contact's
//! notes). Each is a `GET` whose path the stream's row gives with the record's id in it; a
//! page's requests go at once, one per path however many ask for it (a contact's `notes` list
//! and the `contact_notes` stream share one). A child's rows carry their parent's id and
//! `updated_at` (and, where their row says, its `created_at` and the list's `total_count`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::{Error, kind_of};
use crate::http::{Request, encode};
use crate::job::{Job, Origin};
use crate::paging::links::{Links, set_query};
use crate::paging::{First, Page, Pages, unreadable, walk};
use crate::streams::{Fetch, Parent};
use crate::warn;

/// A parent record as its children's rows need it.
#[derive(Debug, Clone)]
pub struct ParentRecord {
    pub id: String,
    /// Its `updated_at` as the read placed it: where its children sit in their bookmark order.
    pub at: DateTime<Utc>,
    pub created_at: Value,
    pub updated_at: Value,
}

/// The requests of a page, one per path, and what each brought.
#[derive(Default)]
pub struct Requests {
    list: Vec<Wanted>,
    by_path: HashMap<String, usize>,
}

/// One `GET` of a page: its path, how to read it, and what came back.
struct Wanted {
    path: String,
    paged: bool,
    records: &'static [&'static str],
    /// The stream the request is counted to and named by.
    job: usize,
    got: Mutex<Option<Fetched>>,
}

/// What a request brought.
#[derive(Debug)]
pub enum Fetched {
    Got {
        items: Vec<Value>,
        total: Option<u64>,
        /// For an endpoint that does not page: the answer, less its list (a parent read whole
        /// carries its own `created_at` and `updated_at`).
        answer: Option<Value>,
        origin: Origin,
    },
    /// The record was merged or deleted during the sync (404).
    Gone,
    /// The request failed for this record only.
    Failed(Error),
}

impl Requests {
    /// The request for `path` (with `{id}` replaced), added unless a request of the page has
    /// it already; its number.
    pub fn add(&mut self, path: &str, id: &str, paged: bool, records: &'static [&'static str], job: usize) -> usize {
        let path = path.replace("{id}", &encode(id));
        if let Some(&n) = self.by_path.get(&path) {
            return n;
        }
        self.list.push(Wanted {
            path: path.clone(),
            paged,
            records,
            job,
            got: Mutex::new(None),
        });
        self.by_path.insert(path, self.list.len() - 1);
        self.list.len() - 1
    }

    /// Sends every request, many at once on the run's threads (`jobs[n]` counts and names a
    /// request added with `job: n`), and gives what each brought. Only a failure of the whole
    /// run is an error.
    pub fn send(self, parent: &Job<'_>, jobs: &[&Job<'_>]) -> Result<Results, Error> {
        parent.for_each(&self.list, |wanted| {
            let job = jobs.get(wanted.job).copied().unwrap_or(parent);
            let got = fetch(job, &wanted.path, wanted.paged, wanted.records)?;
            *wanted.got.lock().unwrap_or_else(PoisonError::into_inner) = Some(got);
            Ok(())
        })?;
        let list = self
            .list
            .into_iter()
            .map(|w| (w.path, w.got.into_inner().unwrap_or_else(PoisonError::into_inner)))
            .collect();
        Ok(Results(list))
    }
}

/// What each request of a page brought, by its number.
pub struct Results(Vec<(String, Option<Fetched>)>);

impl Results {
    pub fn get(&self, n: usize) -> Option<&Fetched> {
        self.0.get(n).and_then(|(_, got)| got.as_ref())
    }

    /// The path of request `n`, for messages.
    pub fn path(&self, n: usize) -> &str {
        self.0.get(n).map_or("", |(path, _)| path.as_str())
    }
}

/// A list's items, and its `total_count`.
pub type Items = (Vec<Value>, Option<u64>);

/// The items of a list, wherever `records` puts them in a value: `Ok(None)` when the value has
/// no such list, an error when it is not one. The last key may also be `data`, as in some of
/// Intercom's examples.
pub fn items_of(value: &Value, records: &[&str]) -> Result<Option<Items>, String> {
    let Some((key, down)) = records.split_last() else {
        return Ok(None);
    };
    let Some(list) = down
        .iter()
        .try_fold(value, |v, key| v.get(*key))
        .filter(|l| !l.is_null())
    else {
        return Ok(None);
    };
    let total = list.get("total_count").and_then(Value::as_u64);
    match [*key, "data"]
        .iter()
        .find_map(|k| list.get(*k).filter(|v| !v.is_null()))
    {
        Some(Value::Array(items)) => Ok(Some((items.clone(), total))),
        None if list.is_object() => Ok(Some((Vec::new(), total))),
        _ => Err(format!(
            "{}: the list is {}, not a list",
            records.join("."),
            crate::error::cut_short(&list.to_string())
        )),
    }
}

/// Whether a parent's list says it has fewer items than it counts.
pub fn cut_short(returned: usize, total: Option<u64>) -> bool {
    total.is_some_and(|t| t > u64::try_from(returned).unwrap_or(u64::MAX))
}

/// Whether a list a record carries says it has items (`only_when`): only those cost a request.
pub fn has_items(list: &Value) -> bool {
    list["total_count"].as_u64().is_some_and(|n| n > 0)
        || list["data"].as_array().is_some_and(|d| !d.is_empty())
        || list["has_more"] == Value::Bool(true)
}

/// Every item of one request; errors are those of the whole run.
fn fetch(job: &Job<'_>, path: &str, paged: bool, records: &'static [&'static str]) -> Result<Fetched, Error> {
    let outcome = if paged {
        fetch_pages(job, path, records)
    } else {
        fetch_one(job, path, records)
    };
    match outcome {
        Ok(got) => Ok(got),
        Err(err) if err.status() == Some(404) => Ok(Fetched::Gone),
        Err(err) if err.concerns_the_run() => Err(err),
        Err(err) => Ok(Fetched::Failed(err)),
    }
}

/// A paged list, read to its end (150 a page).
fn fetch_pages(job: &Job<'_>, path: &str, records: &'static [&'static str]) -> Result<Fetched, Error> {
    let key = records.last().copied().unwrap_or("data");
    let keys = [key, "data"];
    let style = Links {
        leaf: true,
        ..Links::new(job.name(), set_query(path, "per_page", "150"), &keys)
    };
    let mut all = Collect::default();
    walk(job, &style, First::Fetch, &mut all)?;
    Ok(Fetched::Got {
        items: all.items,
        total: all.total,
        answer: None,
        origin: all.origin,
    })
}

/// One answer whose list is somewhere inside it (a conversation read whole).
fn fetch_one(job: &Job<'_>, path: &str, records: &'static [&'static str]) -> Result<Fetched, Error> {
    let request = Request::get(job.name(), path).leaf();
    let answer = job.send(&request)?;
    let origin = Origin::now(request.describe());
    match items_of(&answer, records) {
        Ok(found) => {
            let (items, total) = found.unwrap_or_default();
            Ok(Fetched::Got {
                items,
                total,
                answer: Some(answer),
                origin,
            })
        }
        Err(problem) => Ok(Fetched::Failed(unreadable(&request, problem))),
    }
}

/// Collects a list's items, its `total_count` and where its last page came from.
#[derive(Default)]
struct Collect {
    items: Vec<Value>,
    total: Option<u64>,
    origin: Origin,
}

impl Pages for Collect {
    fn next(&mut self, step: &crate::paging::Step) -> crate::paging::Flow {
        self.total = self.total.or(step.total_count);
        crate::paging::Flow::Next
    }

    fn page(&mut self, page: Page) -> Result<(), Error> {
        self.items.extend(page.items);
        self.origin = page.origin;
        Ok(())
    }
}

/// Writes a parent's children as rows of `child`, each with its parent's columns. A list that
/// reaches Intercom's cap, or counts more than it holds, is named in the log.
pub fn write(
    child: &Job<'_>,
    link: &Parent,
    fetch: &Fetch,
    parent: &ParentRecord,
    items: Vec<Value>,
    total: Option<u64>,
    origin: &Origin,
) -> Result<(), Error> {
    if let Some(cap) = fetch.cap {
        report_truncation(child, link, &parent.id, items.len(), total);
        report_cap_reached(child, link, &parent.id, items.len(), total, cap);
    }
    for (i, mut item) in items.into_iter().enumerate() {
        let Some(map) = item.as_object_mut() else {
            let what = if item.is_null() { "null" } else { kind_of(&item) };
            let err = Error::BadResponse {
                stream: child.name(),
                request: origin.request.clone(),
                problem: format!("item {} of {} {} is {what}, not an object", i + 1, link.noun, parent.id),
            };
            child.spoil(err, Some(parent.at))?;
            continue;
        };
        map.insert(link.id.into(), json!(parent.id));
        map.insert(link.time.into(), parent.updated_at.clone());
        if let Some(column) = link.created {
            map.insert(column.into(), parent.created_at.clone());
        }
        if let Some(column) = link.total {
            map.insert(column.into(), json!(total));
        }
        child.emit(item, origin)?;
    }
    Ok(())
}

/// Says so when Intercom returned fewer of a parent's records than it has.
fn report_truncation(child: &Job<'_>, link: &Parent, id: &str, returned: usize, total: Option<u64>) {
    let returned = u64::try_from(returned).unwrap_or(u64::MAX);
    if let Some(total) = total.filter(|t| *t > returned) {
        warn!(
            "{}: {} {id} has {total} parts but Intercom returns only the newest {returned}; {} older parts cannot be read",
            child.name(),
            link.noun,
            total - returned
        );
        child.counter(
            "parts_truncated",
            total - returned,
            json!({"parent": link.noun, "parent_id": id, "returned": returned, "total": total}),
        );
    }
}

/// Says so when a parent's list fills Intercom's cap but `total_count` shows no more: what
/// `total_count` counts is undocumented, so a full list may still be cut short.
fn report_cap_reached(child: &Job<'_>, link: &Parent, id: &str, returned: usize, total: Option<u64>, cap: usize) {
    if returned >= cap && !cut_short(returned, total) {
        warn!(
            "{}: {} {id} returned {returned} parts, Intercom's cap: older parts may exist that Intercom does not return",
            child.name(),
            link.noun
        );
        child.counter("parts_at_cap", 1, json!({"parent": link.noun, "parent_id": id}));
    }
}

/// Says that a parent was gone (merged or deleted) when its children were read.
pub fn gone(child: &Job<'_>, link: &Parent, id: &str) {
    warn!(
        "{}: {} {id} was deleted after the search found it; its {} are skipped",
        child.name(),
        link.noun,
        child.name()
    );
    child.counter(
        &format!("{}s_deleted_during_sync", link.noun),
        1,
        json!({format!("{}_id", link.noun): id}),
    );
}
