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
use crate::http::{Priority, Request, encode};
use crate::job::{Job, Origin};
use crate::paging::links::{Links, set_query};
use crate::paging::{First, Page, Pages, unreadable, walk};
use crate::streams::{Fetch, Parent, Rows};
use crate::warn;

/// A page with this many requests or fewer sends them as links of its chain
/// ([`Priority::Link`]): its reader waits on them before it goes on, and they cost the rate
/// budget little. A page that brings many (a conversations page's 150 parts) is bound by the
/// budget, not by its chain, and its requests yield to the links. A contacts page brings about
/// ten (the lists of the few contacts that carry more than ten): sent as independent requests,
/// they waited out most of every window, and the contacts searches finished last.
pub const FEW: usize = 24;

/// What a page's children read: for each child (by its place in `children`) and parent, the
/// rows the parent carries, or the request that brings them.
#[derive(Default)]
pub struct Wants {
    carried: Vec<(usize, ParentRecord, Vec<Value>, Option<u64>)>,
    /// By request: the children that read its answer, and their parent.
    requested: HashMap<usize, Vec<(usize, ParentRecord)>>,
}

impl Wants {
    /// Adds what `children` read of one parent record (`item`, placed at `at`), its requests
    /// to `requests` (counted to child `c` as job `c + 1`). A parent without an id is lost to
    /// the children that would read it: named, and their bookmarks kept below it.
    pub fn add(
        &mut self,
        children: &[&Job<'_>],
        requests: &mut Requests,
        item: &Value,
        at: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<(), Error> {
        for (c, child) in children.iter().enumerate() {
            let Some(fetch) = reads(child, item, at) else {
                continue;
            };
            let Some(id) = crate::job::id_text(&item["id"]) else {
                child.spoil(child.bad_record(item, "has no id", origin), Some(at))?;
                continue;
            };
            let carried = if fetch.embedded {
                match items_of(item, fetch.records) {
                    Ok(found) => found.filter(|(items, total)| !cut_short(items.len(), *total)),
                    Err(problem) => {
                        child.spoil(child.bad_record(item, &problem, origin), Some(at))?;
                        continue;
                    }
                }
            } else {
                None
            };
            let parent = ParentRecord {
                id: id.clone(),
                at,
                created_at: item["created_at"].clone(),
                updated_at: item["updated_at"].clone(),
            };
            if let Some((items, total)) = carried {
                self.carried.push((c, parent, items, total));
            } else {
                let n = requests.add_fetch(fetch, &id, c + 1);
                self.requested.entry(n).or_default().push((c, parent));
            }
        }
        Ok(())
    }

    /// Writes the rows the parents carry.
    pub fn write_carried(&mut self, children: &[&Job<'_>], origin: &Origin) -> Result<(), Error> {
        for (c, parent, items, total) in std::mem::take(&mut self.carried) {
            let child = children[c];
            if let (Some(link), crate::streams::Read::Child(fetch)) =
                (child.plan().stream.parent, child.plan().stream.read)
            {
                write(child, &link, &fetch, &parent, items, total, origin)?;
            }
        }
        Ok(())
    }

    /// Writes the rows of request `n`'s answer, for every child that reads it.
    fn write_requested(&self, n: usize, children: &[&Job<'_>], got: &Fetched) -> Result<(), Error> {
        for (c, parent) in self.requested.get(&n).into_iter().flatten() {
            write_child(children[*c], parent, got)?;
        }
        Ok(())
    }
}

/// The list a child reads of a record, if it reads one: the record is in the child's range,
/// and says it has some when the child's row asks it to.
fn reads(child: &Job<'_>, item: &Value, at: DateTime<Utc>) -> Option<&'static Fetch> {
    let crate::streams::Read::Child(ref fetch) = child.plan().stream.read else {
        return None;
    };
    let wanted = child.in_range(at) && fetch.only_when.is_none_or(|field| has_items(&item[field]));
    wanted.then_some(fetch)
}

/// Writes a child's rows for one parent, from what its request brought.
fn write_child(child: &Job<'_>, parent: &ParentRecord, got: &Fetched) -> Result<(), Error> {
    let (Some(link), crate::streams::Read::Child(fetch)) = (child.plan().stream.parent, child.plan().stream.read)
    else {
        return Ok(());
    };
    match got {
        Fetched::Got {
            items,
            total,
            times,
            origin,
        } => {
            // A parent read whole gives its own times, newer than the list's.
            let fresh = ParentRecord {
                created_at: times.0.clone().unwrap_or_else(|| parent.created_at.clone()),
                updated_at: times.1.clone().unwrap_or_else(|| parent.updated_at.clone()),
                ..parent.clone()
            };
            write(child, &link, &fetch, &fresh, items.clone(), *total, origin)
        }
        Fetched::Gone => {
            gone(child, &link, &parent.id);
            Ok(())
        }
        // This parent's children cannot be read: the others are, and the child's bookmark
        // stays below this parent, so that the next run reads it again.
        Fetched::Failed(err) => child.spoil(echo(err, child), Some(parent.at)),
    }
}

/// A failure met for one stream, as another reports it.
pub fn echo(err: &Error, job: &Job<'_>) -> Error {
    Error::BadResponse {
        stream: job.name(),
        request: String::new(),
        problem: err.to_string(),
    }
}

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
    /// The answer is text, not JSON.
    text: bool,
    records: &'static [&'static str],
    /// The stream the request is counted to and named by.
    job: usize,
    /// Whether its answer is kept after the children's rows are written (a fill needs it).
    kept: bool,
    got: Mutex<Option<Fetched>>,
}

/// What a request brought.
#[derive(Debug)]
pub enum Fetched {
    Got {
        items: Vec<Value>,
        total: Option<u64>,
        /// For a parent read whole: its own `created_at` and `updated_at`.
        times: (Option<Value>, Option<Value>),
        origin: Origin,
    },
    /// The record was merged or deleted during the sync (404).
    Gone,
    /// The request failed for this record only.
    Failed(Error),
}

impl Requests {
    /// The request for `path` (with `{id}` replaced), added unless a request of the page has
    /// it already; its number. Its answer is kept for the caller (a fill).
    pub fn add(&mut self, path: &str, id: &str, paged: bool, records: &'static [&'static str], job: usize) -> usize {
        let n = self.add_read(path, id, paged, false, records, job);
        self.list[n].kept = true;
        n
    }

    /// The request of a child's fetch (see [`Requests::add`]), whose answer is written as rows
    /// as soon as it comes, and dropped.
    pub fn add_fetch(&mut self, fetch: &Fetch, id: &str, job: usize) -> usize {
        let text = matches!(fetch.rows, Rows::Text(_));
        self.add_read(fetch.path, id, fetch.paged, text, fetch.records, job)
    }

    fn add_read(
        &mut self,
        path: &str,
        id: &str,
        paged: bool,
        text: bool,
        records: &'static [&'static str],
        job: usize,
    ) -> usize {
        let path = path.replace("{id}", &encode(id));
        if let Some(&n) = self.by_path.get(&path) {
            return n;
        }
        self.list.push(Wanted {
            path: path.clone(),
            paged,
            text,
            records,
            job,
            kept: false,
            got: Mutex::new(None),
        });
        self.by_path.insert(path, self.list.len() - 1);
        self.list.len() - 1
    }

    /// Sends every request, many at once on the run's threads (`jobs[n]` counts and names a
    /// request added with `job: n`); a page's few requests ([`FEW`]) go as links of its chain,
    /// before the bulk of independent ones. Each answer is written as the children's rows at once,
    /// on the thread that got it, and dropped unless kept: a page holds no more answers than
    /// its requests in flight. Gives what the kept ones brought. Only a failure of the whole
    /// run is an error.
    pub fn send(self, parent: &Job<'_>, jobs: &[&Job<'_>], wants: &Wants) -> Result<Results, Error> {
        let children = jobs.get(1..).unwrap_or_default();
        let numbered: Vec<(usize, &Wanted)> = self.list.iter().enumerate().collect();
        let priority = if numbered.len() <= FEW {
            Priority::Link
        } else {
            Priority::Leaf
        };
        let one = |&(n, wanted): &(usize, &Wanted)| {
            let job = jobs.get(wanted.job).copied().unwrap_or(parent);
            let got = fetch(job, wanted, priority)?;
            wants.write_requested(n, children, &got)?;
            if wanted.kept {
                *wanted.got.lock().unwrap_or_else(PoisonError::into_inner) = Some(got);
            }
            Ok(())
        };
        if priority == Priority::Link {
            parent.for_each_link(&numbered, one)?;
        } else {
            parent.for_each(&numbered, one)?;
        }
        let list = self
            .list
            .into_iter()
            .map(|w| (w.path, w.got.into_inner().unwrap_or_else(PoisonError::into_inner)))
            .collect();
        Ok(Results(list))
    }
}

/// What each kept request of a page brought, by its number.
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

/// Whether a list a record carries says it has items, or a link is there (`only_when`): only
/// those cost a request.
pub fn has_items(list: &Value) -> bool {
    if let Value::String(link) = list {
        return !link.is_empty();
    }
    list["total_count"].as_u64().is_some_and(|n| n > 0)
        || list["data"].as_array().is_some_and(|d| !d.is_empty())
        || list["has_more"] == Value::Bool(true)
}

/// Every item of one request; errors are those of the whole run.
fn fetch(job: &Job<'_>, wanted: &Wanted, priority: Priority) -> Result<Fetched, Error> {
    let outcome = if wanted.paged {
        fetch_pages(job, &wanted.path, wanted.records, priority)
    } else {
        fetch_one(job, &wanted.path, wanted.text, wanted.records, priority)
    };
    match outcome {
        Ok(got) => Ok(got),
        Err(err) if err.status() == Some(404) => Ok(Fetched::Gone),
        Err(err) if err.concerns_the_run() => Err(err),
        Err(err) => Ok(Fetched::Failed(err)),
    }
}

/// A paged list, read to its end (150 a page).
fn fetch_pages(
    job: &Job<'_>,
    path: &str,
    records: &'static [&'static str],
    priority: Priority,
) -> Result<Fetched, Error> {
    let key = records.last().copied().unwrap_or("data");
    let keys = [key, "data"];
    let style = Links {
        priority,
        ..Links::new(job.name(), set_query(path, "per_page", "150"), &keys)
    };
    let mut all = Collect::default();
    walk(job, &style, First::Fetch, &mut all)?;
    Ok(Fetched::Got {
        items: all.items,
        total: all.total,
        times: (None, None),
        origin: all.origin,
    })
}

/// One answer whose list is somewhere inside it (a conversation read whole), or which is text
/// (the one item is the text).
fn fetch_one(
    job: &Job<'_>,
    path: &str,
    text: bool,
    records: &'static [&'static str],
    priority: Priority,
) -> Result<Fetched, Error> {
    let mut request = Request::get(job.name(), path).priority(priority);
    if text {
        request = request.text();
    }
    let answer = job.send(&request)?;
    let origin = Origin::now(request.describe());
    if text {
        return Ok(Fetched::Got {
            items: vec![answer],
            total: Some(1),
            times: (None, None),
            origin,
        });
    }
    match items_of(&answer, records) {
        Ok(found) => {
            let (items, total) = found.unwrap_or_default();
            let time = |key: &str| answer.get(key).filter(|v| !v.is_null()).cloned();
            Ok(Fetched::Got {
                items,
                total,
                times: (time("created_at"), time("updated_at")),
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
    let items = match fetch.rows {
        Rows::Each => items,
        // One row for the parent: its list, or its text.
        Rows::List(column) => vec![json!({ column: items })],
        Rows::Text(column) => vec![json!({ column: items.into_iter().next() })],
    };
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
