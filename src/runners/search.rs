//! Searches (contacts, users, leads, conversations, tickets): the Search API read in slices
//! (see [`crate::paging::search`]), with what their records need, as the stream's row says:
//!
//! - the lists a record carries cut short (a contact's tags, companies, notes and subscription
//!   types: at most 10 stubs with `has_more`), read whole from their own endpoint when the
//!   field is selected; a deselected list costs no request;
//! - the children read with each record in their range (a conversation's parts, a contact's
//!   notes): from the record itself when it carries them whole (a ticket's parts), else one
//!   request per record;
//! - the feed of deleted records the API version has, read after the search.
//!
//! A page's requests go at once, and a page's bookmark is saved only after every record of it
//! and every child row has been written. A record whose lists could not be read whole is not
//! written cut short: it is named, and read again by the next run. A parent gone between the
//! search and its children's request (404) is skipped with a warning.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Error;
use crate::job::{Job, Origin, id_text};
use crate::paging::search::{self as searching, Dated};
use crate::runners::children::{self, Fetched, ParentRecord, Requests, Results};
use crate::runners::{deleted, read_search};
use crate::streams::{self, Fetch, Fill, Read};

pub fn run(job: &Job<'_>, children: &[&Job<'_>], search: &streams::Search) -> Result<(), Error> {
    let version = job.settings().api_version;
    let (path, records) = search.endpoint.at(version);
    let style = searching::Search {
        path,
        records: records.first().copied().unwrap_or("data"),
        role: search.role,
        by_day: search.by_day,
    };
    read_search(
        job,
        children,
        &style,
        &|items, origin| page(job, children, search, items, origin),
        || search.deleted.map_or(Ok(()), |feed| deleted::run(job, &feed)),
    )
}

/// A record of a page, and what is read for it.
struct Record {
    item: Value,
    at: DateTime<Utc>,
    /// In the stream's range: written, with its cut-short lists read whole.
    emit: bool,
    /// Its lists to fill: the fill, and the request that reads it.
    fills: Vec<(&'static Fill, usize)>,
    /// Why it cannot be written whole.
    failed: Option<Error>,
}

/// A child's rows for one record: from the record itself, or from a request.
enum Rows {
    Carried(Vec<Value>, Option<u64>),
    Requested(usize),
}

fn page(
    job: &Job<'_>,
    children: &[&Job<'_>],
    search: &streams::Search,
    items: Vec<Dated>,
    origin: &Origin,
) -> Result<(), Error> {
    // Who counts and names each request: the parent (0), or a child (1 and on).
    let jobs: Vec<&Job<'_>> = std::iter::once(job).chain(children.iter().copied()).collect();
    let mut requests = Requests::default();
    let mut records = Vec::with_capacity(items.len());
    let mut wanted: Vec<(usize, ParentRecord, Rows)> = Vec::new();
    for Dated { item, at } in items {
        let mut record = Record {
            emit: job.plan().emit && job.in_range(at),
            item,
            at,
            fills: Vec::new(),
            failed: None,
        };
        let id = id_text(&record.item["id"]);
        let fills: Vec<&'static Fill> = if record.emit {
            search
                .fills
                .iter()
                .filter(|f| cut_short(job, &record.item, f.field))
                .collect()
        } else {
            Vec::new()
        };
        let readers: Vec<(usize, &Fetch)> = children
            .iter()
            .enumerate()
            .filter_map(|(c, child)| reads(child, &record).map(|fetch| (c, fetch)))
            .collect();
        let Some(id) = id else {
            if !fills.is_empty() || !readers.is_empty() {
                let err = job.bad_record(&record.item, "has no id", origin);
                for (c, _) in &readers {
                    children[*c].spoil(echo(&err, children[*c]), Some(at))?;
                }
                record.failed = Some(err);
            }
            records.push(record);
            continue;
        };
        for fill in fills {
            let n = requests.add(fill.path, &id, fill.paged, std::slice::from_ref(&fill.field), 0);
            record.fills.push((fill, n));
        }
        let parent = ParentRecord {
            id: id.clone(),
            at,
            created_at: record.item["created_at"].clone(),
            updated_at: record.item["updated_at"].clone(),
        };
        for (c, fetch) in readers {
            let carried = if fetch.embedded {
                match children::items_of(&record.item, fetch.records) {
                    Ok(found) => found.filter(|(items, total)| !children::cut_short(items.len(), *total)),
                    Err(problem) => {
                        let child = children[c];
                        child.spoil(child.bad_record(&record.item, &problem, origin), Some(at))?;
                        continue;
                    }
                }
            } else {
                None
            };
            let rows = match carried {
                Some((items, total)) => Rows::Carried(items, total),
                None => Rows::Requested(requests.add(fetch.path, &id, fetch.paged, fetch.records, c + 1)),
            };
            wanted.push((c, parent.clone(), rows));
        }
        records.push(record);
    }
    // Every request of the page at once: a page costs one round trip more than its search.
    let results = requests.send(job, &jobs)?;
    for (c, parent, rows) in wanted {
        write_child(children[c], &parent, rows, &results, origin)?;
    }
    for mut record in records {
        fill(job, &mut record, &results);
        if !record.emit {
            continue;
        }
        match record.failed {
            None => job.emit(record.item, origin)?,
            Some(err) => job.spoil(err, Some(record.at))?,
        }
    }
    Ok(())
}

/// Writes a child's rows for one parent, from the parent itself or from its request.
fn write_child(
    child: &Job<'_>,
    parent: &ParentRecord,
    rows: Rows,
    results: &Results,
    origin: &Origin,
) -> Result<(), Error> {
    let (Some(link), Read::Child(fetch)) = (child.plan().stream.parent, child.plan().stream.read) else {
        return Ok(());
    };
    match rows {
        Rows::Carried(items, total) => children::write(child, &link, &fetch, parent, items, total, origin),
        Rows::Requested(n) => match results.get(n) {
            Some(Fetched::Got {
                items,
                total,
                answer,
                origin,
            }) => {
                // A parent read whole gives its own times, newer than the search's.
                let fresh = ParentRecord {
                    created_at: fresh(answer.as_ref(), "created_at", &parent.created_at),
                    updated_at: fresh(answer.as_ref(), "updated_at", &parent.updated_at),
                    ..parent.clone()
                };
                children::write(child, &link, &fetch, &fresh, items.clone(), *total, origin)
            }
            Some(Fetched::Gone) | None => {
                children::gone(child, &link, &parent.id);
                Ok(())
            }
            // This parent's children cannot be read: the others are, and the child's bookmark
            // stays below this parent, so that the next run reads it again.
            Some(Fetched::Failed(err)) => child.spoil(echo(err, child), Some(parent.at)),
        },
    }
}

/// The list a child reads of a record, if it reads one: the record is in the child's range,
/// and says it has some when the child's row asks it to.
fn reads(child: &Job<'_>, record: &Record) -> Option<&'static Fetch> {
    let Read::Child(ref fetch) = child.plan().stream.read else {
        return None;
    };
    let wanted = child.in_range(record.at)
        && fetch
            .only_when
            .is_none_or(|field| children::has_items(&record.item[field]));
    wanted.then_some(fetch)
}

/// Puts the lists read whole in their record. A list that could not be read fails the record
/// (it is not written cut short); one whose record was gone stays as the search returned it.
fn fill(job: &Job<'_>, record: &mut Record, results: &Results) {
    for (fill, n) in std::mem::take(&mut record.fills) {
        match results.get(n) {
            Some(Fetched::Got { items, .. }) => {
                let chosen: Vec<Value> = match fill.consent {
                    Some(consent) => items
                        .iter()
                        .filter(|s| s["consent_type"] == *consent)
                        .cloned()
                        .collect(),
                    None => items.clone(),
                };
                set_list(&mut record.item, fill.field, chosen);
            }
            Some(Fetched::Gone) | None => crate::warn!(
                "{}: {} answered 404 (the record was merged or deleted during the sync); its list stays as the search returned it",
                job.name(),
                results.path(n)
            ),
            Some(Fetched::Failed(err)) => {
                if record.failed.is_none() {
                    record.failed = Some(echo(err, job));
                }
            }
        }
    }
}

/// A failure met for one stream, as another reports it.
fn echo(err: &Error, job: &Job<'_>) -> Error {
    Error::BadResponse {
        stream: job.name(),
        request: String::new(),
        problem: err.to_string(),
    }
}

/// A parent's time from its own answer, or the search's when the answer has none.
fn fresh(answer: Option<&Value>, key: &str, searched: &Value) -> Value {
    answer
        .and_then(|a| a.get(key))
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or_else(|| searched.clone())
}

fn cut_short(job: &Job<'_>, record: &Value, field: &str) -> bool {
    job.plan().has_field(field) && record[field]["has_more"] == Value::Bool(true)
}

fn set_list(record: &mut Value, field: &str, items: Vec<Value>) {
    if let Some(list) = record.get_mut(field).and_then(Value::as_object_mut) {
        list.insert("total_count".into(), Value::from(items.len()));
        list.insert("data".into(), Value::Array(items));
        list.insert("has_more".into(), Value::Bool(false));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::canned::Canned;
    use crate::paging::testing::{at, canned_run, plan, settings};
    use crate::streams;

    /// Two conversations found by the search; the first read whole with one part, the second
    /// deleted before its parts are read.
    fn intercom() -> Canned {
        Canned::new(answer)
    }

    fn answer(asked: &crate::http::canned::Asked) -> (u16, serde_json::Value) {
        match (asked.method, asked.path()) {
            ("POST", "/conversations/search") => (
                200,
                json!({"type": "conversation.list", "total_count": 2, "pages": {"page": 1, "total_pages": 1},
                       "conversations": [{"id": "1", "created_at": 50, "updated_at": 100},
                                         {"id": "2", "created_at": 60, "updated_at": 200}]}),
            ),
            ("GET", "/conversations/1") => (
                200,
                json!({"id": "1", "created_at": 50, "updated_at": 150, "conversation_parts": {
                    "type": "conversation_part.list", "total_count": 1,
                    "conversation_parts": [{"id": "p1", "created_at": 90, "updated_at": 90}]}}),
            ),
            _ => (
                404,
                json!({"type": "error.list", "errors": [{"code": "not_found", "message": "gone"}]}),
            ),
        }
    }

    #[test]
    fn a_search_writes_its_records_and_each_child_with_its_parent_then_saves_both_bookmarks() {
        let canned = intercom();
        let (run, out) = canned_run(&canned, settings(json!({})), at(10_000));
        let parents = plan("conversations", Some(at(0)));
        let parts = plan("conversation_parts", Some(at(0)));
        let (job, child) = (Job::new(&parents, &run), Job::new(&parts, &run));
        let Read::Search(search) = streams::find("conversations").unwrap().read else {
            panic!()
        };
        run_search(&job, &[&child], &search);
        assert_eq!(out.records("conversations").len(), 2);
        let rows = out.records("conversation_parts");
        assert_eq!(rows.len(), 1, "the second conversation was gone: no parts, a warning");
        // The part carries its conversation, as read whole (its updated_at is the newer).
        assert_eq!(rows[0]["conversation_id"], "1");
        assert_eq!(rows[0]["conversation_created_at"], "1970-01-01T00:00:50Z");
        assert_eq!(rows[0]["conversation_updated_at"], "1970-01-01T00:02:30Z");
        assert_eq!(rows[0]["conversation_total_parts"], 1);
        // One request per conversation, plain text asked for.
        let fetched: Vec<String> = canned
            .asked()
            .iter()
            .filter(|a| a.method == "GET")
            .map(|a| a.target.clone())
            .collect();
        assert_eq!(fetched.len(), 2);
        assert!(fetched.contains(&"/conversations/1?display_as=plaintext".to_owned()));
        // Both bookmarks end at the sync's start (no index lag in these settings).
        for stream in ["conversations", "conversation_parts"] {
            assert_eq!(
                out.bookmarks(stream, "updated_at").last().map(String::as_str),
                Some("1970-01-01T02:46:40Z"),
                "{stream}"
            );
        }
    }

    #[test]
    fn a_child_whose_parent_cannot_be_read_keeps_its_bookmark_below_that_parent() {
        // The second conversation's request fails for good: its parts are lost to this run.
        let canned = Canned::new(|asked| match (asked.method, asked.path()) {
            ("GET", "/conversations/2") => (
                400,
                json!({"type": "error.list", "errors": [{"code": "parameter_invalid", "message": "no"}]}),
            ),
            _ => answer(asked),
        });
        let (run, out) = canned_run(&canned, settings(json!({})), at(10_000));
        let parents = plan("conversations", Some(at(0)));
        let parts = plan("conversation_parts", Some(at(0)));
        let (job, child) = (Job::new(&parents, &run), Job::new(&parts, &run));
        let Read::Search(search) = streams::find("conversations").unwrap().read else {
            panic!()
        };
        run_search(&job, &[&child], &search);
        assert!(child.spoiled() && !job.spoiled());
        assert_eq!(
            out.bookmarks("conversation_parts", "updated_at")
                .last()
                .map(String::as_str),
            Some("1970-01-01T00:03:20Z"),
            "at the conversation whose parts were not read"
        );
        assert_eq!(
            out.bookmarks("conversations", "updated_at").last().map(String::as_str),
            Some("1970-01-01T02:46:40Z")
        );
    }

    fn run_search(job: &Job<'_>, children: &[&Job<'_>], search: &streams::Search) {
        super::run(job, children, search).unwrap();
    }
}
