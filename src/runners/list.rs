//! Streams read with `GET` from a list endpoint: unpaginated lists, page-number lists whose
//! `pages.next` is a link, and cursor lists whose `pages.next` holds `starting_after`. An
//! incremental stream of this kind reads everything and emits what changed; one Intercom sorts
//! newest first (articles, by `updated_at`) stops paging at the first page that reaches past
//! its start, as long as the order holds.

use crate::error::Error;
use crate::job::Job;
use crate::paging::links::Links;
use crate::paging::{First, Flow, NewestFirst, Page, Pages, Step, walk};
use crate::streams::Endpoint;

pub fn run(job: &Job<'_>, children: &[&Job<'_>], endpoint: &Endpoint, newest_first: bool) -> Result<(), Error> {
    let version = job.settings().api_version;
    let (_, records) = endpoint.at(version);
    let style = Links::new(job.name(), endpoint.first(version), records);
    let mut offer = Offer {
        job,
        order: newest_first.then(|| NewestFirst::new("records (by their replication key)")),
    };
    walk(job, &style, First::Fetch, &mut offer)?;
    debug_assert!(children.is_empty(), "no list stream has children yet");
    job.finish_scan()
}

/// Offers every item to its stream (see [`Job::offer`]), and says when a list newest first has
/// reached past the stream's start.
struct Offer<'a, 'b> {
    job: &'a Job<'b>,
    order: Option<NewestFirst>,
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
        page.items
            .into_iter()
            .try_for_each(|item| self.job.offer(item, &page.origin))
    }

    fn lost(&mut self, job: &Job<'_>, err: Error) -> Result<(), Error> {
        job.spoil(err, None)
    }
}
