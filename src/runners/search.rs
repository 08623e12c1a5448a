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
//! and every child row has been written. A record with nothing to fill is written before its
//! page's requests go, so that a page's records are not held while they run. A record whose
//! lists could not be read whole is not written cut short: it is named, and read again by the
//! next run. A parent gone between the search and its children's request (404) is skipped with
//! a warning.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Error;
use crate::job::{Job, Origin, id_text};
use crate::paging::search::{self as searching, Dated};
use crate::runners::children::{Fetched, Requests, Results, Wants, echo};
use crate::runners::{deleted, read_search};
use crate::streams::{self, Fill};

pub fn run(job: &Job<'_>, children: &[&Job<'_>], search: &streams::Search) -> Result<(), Error> {
    let version = job.api_version();
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
    let mut wants = Wants::default();
    let mut records = Vec::with_capacity(items.len());
    for Dated { item, at } in items {
        let mut record = Record {
            emit: job.plan().emit && job.in_range(at),
            item,
            at,
            fills: Vec::new(),
            failed: None,
        };
        let fills: Vec<&'static Fill> = if record.emit {
            search
                .fills
                .iter()
                .filter(|f| cut_short(job, &record.item, f.field))
                .collect()
        } else {
            Vec::new()
        };
        match id_text(&record.item["id"]) {
            Some(id) => {
                for fill in fills {
                    let n = requests.add(fill.path, &id, fill.paged, std::slice::from_ref(&fill.field), 0);
                    record.fills.push((fill, n));
                }
            }
            None if !fills.is_empty() => record.failed = Some(job.bad_record(&record.item, "has no id", origin)),
            None => {}
        }
        wants.add(children, &mut requests, &record.item, at, origin)?;
        // A record with no list to fill is whole already: written now, it is not held while
        // the page's requests run (its children's rows do not need it).
        if record.emit && record.fills.is_empty() && record.failed.is_none() {
            job.emit(record.item, origin)?;
            continue;
        }
        records.push(record);
    }
    // Every request of the page at once: a page costs one round trip more than its search.
    wants.write_carried(children, origin)?;
    let results = requests.send(job, &jobs, &wants)?;
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
    use crate::streams::{self, Read};

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
