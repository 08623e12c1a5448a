//! Intercom's Search API (`POST /contacts/search`, `/conversations/search`, `/tickets/search`),
//! read so that nothing is lost (`intercom-api.md` §1.9):
//!
//! - The query is `updated_at > B OR updated_at = B`. Where Intercom compares timestamps by the
//!   second it returns everything at or after B; where it compares by calendar day (contact
//!   search in 2.14) it returns everything from the start of B's day. The caller keeps what is
//!   new.
//! - Results are sorted by `updated_at` ascending and paged with the `starting_after` cursor, so
//!   a record edited during the sync moves ahead of the cursor and is read again later. The
//!   cursor holds the last record's sort values, not an offset (cursors seen in public examples
//!   decode to JSON such as `[1707930081000,131,2]`: sort value, id, page), so an edit behind the
//!   cursor shifts nothing past it.
//! - After each page, the caller may save a bookmark at the page's last `updated_at`: every
//!   record before it has been read, and records sharing its second are read again next time.
//!   That relies on the sort: if a page ever comes back out of order, no bookmark is saved until
//!   the search is complete.
//! - The next page is fetched while the caller works on the current one.

use std::collections::HashSet;
use std::thread;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::Error;
use crate::streams::pages::take_items;
use crate::sync::Job;
use crate::warn;

/// The most Intercom returns in one page.
const PER_PAGE: u32 = 150;

/// One search endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub path: &'static str,
    /// Where the items are in an answer (`data`, `conversations`, `tickets`).
    pub records: &'static str,
    /// A filter combined with the time filter, e.g. `role = user`.
    pub role: Option<&'static str>,
}

/// What the caller hears about.
pub trait Pages {
    /// A page of items, in order, and the time it arrived.
    fn page(&mut self, items: Vec<Value>, extracted: &str) -> Result<(), Error>;
    /// Every item updated before `at` has been handed over.
    fn progress(&mut self, at: DateTime<Utc>) -> Result<(), Error>;
}

/// The request body for one page.
pub fn body(search: &Search, from: Option<DateTime<Utc>>, cursor: Option<&str>) -> Value {
    let secs = from.map_or(0, |d| d.timestamp());
    let time = json!({"operator": "OR", "value": [
        {"field": "updated_at", "operator": ">", "value": secs},
        {"field": "updated_at", "operator": "=", "value": secs},
    ]});
    let query = match search.role {
        Some(role) => json!({"operator": "AND", "value": [time, {"field": "role", "operator": "=", "value": role}]}),
        None => time,
    };
    let mut pagination = json!({"per_page": PER_PAGE});
    if let Some(cursor) = cursor {
        pagination["starting_after"] = json!(cursor);
    }
    json!({"query": query, "pagination": pagination, "sort": {"field": "updated_at", "order": "ascending"}})
}

/// Reads every item updated at or after `from` (and, with `end_date`, stops once past it).
pub fn run(job: &Job<'_>, search: &Search, from: Option<DateTime<Utc>>, pages: &mut dyn Pages) -> Result<(), Error> {
    let end = job.settings().end_date;
    let mut seen_cursors = HashSet::new();
    let mut newest: Option<DateTime<Utc>> = None;
    let mut sorted = true;
    let mut page = job.post(search.path, &body(search, from, None))?;
    loop {
        job.check_abort()?;
        let extracted = job.now();
        let cursor = next_cursor(job, search, &page)?;
        if let Some(cursor) = &cursor {
            if !seen_cursors.insert(cursor.clone()) {
                return Err(Error::BadResponse {
                    stream: job.name(),
                    request: format!("POST {}", search.path),
                    problem: "the search returned a cursor it had returned before; stopping instead of looping".into(),
                });
            }
        }
        let items = take_items(job.name(), search.path, &mut page, search.records)?;
        let mut oldest_on_page = None;
        for item in &items {
            let at = job.replication_value(item, "updated_at")?;
            oldest_on_page.get_or_insert(at);
            if newest.is_some_and(|n| at < n) && sorted {
                sorted = false;
                warn!(
                    "{}: Intercom returned the search out of updated_at order; bookmarks are saved only when the search is complete",
                    job.name()
                );
            }
            newest = Some(newest.map_or(at, |n| n.max(at)));
        }
        let past_end = sorted && end.is_some_and(|end| oldest_on_page.is_some_and(|o| o >= end));
        let next = cursor.filter(|_| !past_end);
        // Fetch the next page while this one is handled.
        let fetched = thread::scope(|scope| {
            let prefetch = next.as_deref().map(|c| {
                let body = body(search, from, Some(c));
                scope.spawn(move || job.post(search.path, &body))
            });
            let handled = pages.page(items, &extracted).and_then(|()| match newest {
                Some(at) if sorted => pages.progress(at),
                _ => Ok(()),
            });
            let fetched = prefetch.map(|p| p.join().unwrap_or(Err(Error::Aborted)));
            handled.map(|()| fetched)
        })?;
        match fetched {
            Some(next_page) => page = next_page?,
            None => return Ok(()),
        }
    }
}

/// The cursor of the next page, or `None` on the last.
fn next_cursor(job: &Job<'_>, search: &Search, page: &Value) -> Result<Option<String>, Error> {
    match page.get("pages").and_then(|p| p.get("next")) {
        None | Some(Value::Null) => Ok(None),
        Some(next) => match next.get("starting_after").and_then(Value::as_str) {
            Some(cursor) if !cursor.is_empty() => Ok(Some(cursor.to_owned())),
            _ => Err(Error::BadResponse {
                stream: job.name(),
                request: format!("POST {}", search.path),
                problem: format!("pages.next has no starting_after cursor: {next}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_covers_second_and_day_semantics() {
        let search = Search {
            path: "/contacts/search",
            records: "data",
            role: Some("user"),
        };
        let from = DateTime::from_timestamp(1_700_000_000, 0);
        let b = body(&search, from, Some("WzE3"));
        assert_eq!(b["query"]["operator"], "AND");
        let time = &b["query"]["value"][0];
        assert_eq!(time["operator"], "OR");
        assert_eq!(
            time["value"][0],
            json!({"field": "updated_at", "operator": ">", "value": 1_700_000_000})
        );
        assert_eq!(
            time["value"][1],
            json!({"field": "updated_at", "operator": "=", "value": 1_700_000_000})
        );
        assert_eq!(
            b["query"]["value"][1],
            json!({"field": "role", "operator": "=", "value": "user"})
        );
        assert_eq!(b["pagination"], json!({"per_page": 150, "starting_after": "WzE3"}));
        assert_eq!(b["sort"], json!({"field": "updated_at", "order": "ascending"}));
        let all = body(&Search { role: None, ..search }, None, None);
        assert_eq!(all["query"]["value"][0]["value"], 0);
        assert!(all["pagination"].get("starting_after").is_none());
    }
}
