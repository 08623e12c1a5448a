//! Streams read with `GET` from a list endpoint: unpaginated lists, page-number lists whose
//! `pages.next` is a link, and cursor lists whose `pages.next` holds `starting_after`. An
//! incremental stream of this kind reads everything and emits what changed; one Intercom sorts
//! newest first (articles, by `updated_at`) stops paging at the first page that reaches past
//! its start, as long as the order holds. Children (a call's transcript) are read with each
//! record in their range, page by page, and their bookmark follows the newest record read.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::job::Job;
use crate::paging::links::Links;
use crate::paging::{First, Flow, NewestFirst, Page, Pages, Step, walk};
use crate::runners::children::{Requests, Wants};
use crate::streams::Endpoint;

pub fn run(job: &Job<'_>, children: &[&Job<'_>], endpoint: &Endpoint, newest_first: bool) -> Result<(), Error> {
    let version = job.api_version();
    let (_, records) = endpoint.at(version);
    let style = Links::new(job.name(), endpoint.first(version), records);
    let mut offer = Offer {
        job,
        children,
        order: newest_first.then(|| NewestFirst::new("records (by their replication key)")),
        newest: None,
    };
    walk(job, &style, First::Fetch, &mut offer)?;
    job.finish_scan()?;
    match offer.newest {
        Some(newest) => children.iter().try_for_each(|child| child.save_bookmark(newest)),
        None => Ok(()),
    }
}

/// Offers every item to its stream (see [`Job::offer`]), and says when a list newest first has
/// reached past the stream's start.
struct Offer<'a, 'b> {
    job: &'a Job<'b>,
    children: &'a [&'a Job<'b>],
    order: Option<NewestFirst>,
    /// The newest replication value read, for the children's bookmark.
    newest: Option<DateTime<Utc>>,
}

impl Pages for Offer<'_, '_> {
    fn next(&mut self, step: &Step) -> Flow {
        let Some(order) = &mut self.order else {
            return Flow::Next;
        };
        let plan = self.job.plan();
        // A full-table read (an override) reads everything.
        let Some(key) = plan.incremental else {
            return Flow::Next;
        };
        let stamps = step
            .items
            .iter()
            .filter_map(|item| item.get(key).and_then(crate::job::timestamp))
            .map(|at| at.timestamp());
        order.next(self.job, stamps, plan.start.map(|s| s.timestamp()))
    }

    fn page(&mut self, page: Page) -> Result<(), Error> {
        if !self.children.is_empty() {
            self.read_children(&page)?;
        }
        page.items
            .into_iter()
            .try_for_each(|item| self.job.offer(item, &page.origin))
    }
}

impl Offer<'_, '_> {
    /// Reads the children of a page's records in their range, many at once.
    fn read_children(&mut self, page: &Page) -> Result<(), Error> {
        let (job, children) = (self.job, self.children);
        let key = job.plan().stream.replication.key().unwrap_or("updated_at");
        let mut requests = Requests::default();
        let mut wants = Wants::default();
        for item in &page.items {
            let Some(at) = item.get(key).and_then(crate::job::timestamp) else {
                // Not placed: lost to the children too (the parent names it when offered).
                for child in children {
                    child.replication_value(item, key, &page.origin)?;
                }
                continue;
            };
            if job.possible(at) {
                self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
            }
            wants.add(children, &mut requests, item, at, &page.origin)?;
        }
        let jobs: Vec<&Job<'_>> = std::iter::once(job).chain(children.iter().copied()).collect();
        wants.write_carried(children, &page.origin)?;
        requests.send(job, &jobs, &wants).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::canned::Canned;
    use crate::paging::testing::{at, canned_run, plan, settings};
    use crate::streams::{self, Read};

    fn endpoint(name: &str) -> Endpoint {
        match streams::find(name).unwrap().read {
            Read::List(endpoint) | Read::NewestFirst(endpoint) => endpoint,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_list_read_whole_emits_what_changed_and_keeps_the_newest_as_its_bookmark() {
        let canned = Canned::new(|_| {
            (
                200,
                json!({"type": "segment.list", "segments": [
                    {"id": "a", "updated_at": 100}, {"id": "b", "updated_at": 300}, {"id": "c", "updated_at": 200}]}),
            )
        });
        let (run, out) = canned_run(&canned, settings(json!({})), at(10_000));
        let plan = plan("segments", Some(at(150)));
        let job = Job::new(&plan, &run);
        run_list(&job, &endpoint("segments"), false);
        let ids: Vec<String> = out.records("segments").iter().map(|r| r["id"].to_string()).collect();
        assert_eq!(ids, ["\"b\"", "\"c\""], "only what changed since the start");
        assert_eq!(out.bookmarks("segments", "updated_at"), ["1970-01-01T00:05:00Z"]);
        assert_eq!(canned.asked()[0].target, "/segments?include_count=true");
    }

    #[test]
    fn a_list_newest_first_stops_at_the_first_page_past_its_start() {
        let canned = Canned::new(|asked| {
            let page: u64 = asked.query("page").map_or(1, |p| p.parse().unwrap());
            let (items, next) = match page {
                1 => (
                    json!([{"id": "1", "updated_at": 500}, {"id": "2", "updated_at": 400}]),
                    json!("/articles?page=2"),
                ),
                2 => (
                    json!([{"id": "3", "updated_at": 300}, {"id": "4", "updated_at": 100}]),
                    json!("/articles?page=3"),
                ),
                _ => (json!([{"id": "5", "updated_at": 50}]), json!(null)),
            };
            (200, json!({"type": "list", "data": items, "pages": {"next": next}}))
        });
        let (run, out) = canned_run(&canned, settings(json!({})), at(10_000));
        let plan = plan("articles", Some(at(350)));
        let job = Job::new(&plan, &run);
        run_list(&job, &endpoint("articles"), true);
        assert_eq!(out.records("articles").len(), 2);
        let pages: Vec<String> = canned.asked().iter().map(|a| a.target.clone()).collect();
        assert_eq!(
            pages,
            ["/articles?per_page=150", "/articles?page=2"],
            "page 3 is not read"
        );
        assert_eq!(out.bookmarks("articles", "updated_at"), ["1970-01-01T00:08:20Z"]);
    }

    fn run_list(job: &Job<'_>, endpoint: &Endpoint, newest_first: bool) {
        super::run(job, &[], endpoint, newest_first).unwrap();
    }
}
