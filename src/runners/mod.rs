//! The runners: how each kind of [`Source`] is read, on the paging engine. One module per kind
//! that is more than a list: the count reports, the companies scroll, the contact searches,
//! parents with their parts, articles, activity logs.

mod activity_logs;
mod articles;
mod companies;
mod contacts;
mod counts;
mod deleted;
mod list;
mod parents;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::job::{Job, Range};
use crate::paging::search::{self, Handle, Search};
use crate::paging::slices::{Span, intersect};
use crate::paging::{Page, Pages};
use crate::streams::Source;

/// Where a search without `start_date` or bookmark begins: early enough for any date Intercom
/// holds, including the pre-1970 dates some workspaces have.
const EARLIEST: i64 = -2_208_988_800; // 1900-01-01

/// Syncs the stream of `job` as its source says, and the child it drives.
pub fn run(job: &Job<'_>, child: Option<&Job<'_>>) -> Result<(), Error> {
    match job.plan().stream.source {
        Source::List {
            path,
            records,
            per_page,
        } => {
            let (path, records) = job.settings().api_version.endpoint(path, records);
            list::run(job, path, records, per_page)
        }
        Source::Counts(report) => counts::run(job, report),
        Source::Contacts { role } => contacts::run(job, child, role),
        Source::Companies => companies::run(job),
        Source::Parents(family) => parents::run(job, child, family),
        Source::Articles => articles::run(job),
        Source::ActivityLogs => activity_logs::run(job),
        Source::Child => Ok(()),
    }
}

/// Offers every item to its stream (see [`Job::offer`]).
struct Offer<'a, 'b>(&'a Job<'b>);

impl Pages for Offer<'_, '_> {
    fn page(&mut self, page: Page) -> Result<(), Error> {
        page.items
            .into_iter()
            .try_for_each(|item| self.0.offer(item, &page.origin))
    }
}

/// The range a search reads for these jobs: from the earliest start of those emitting (a
/// parent and its child share one search) to `end_date`, less the ranges all of them have
/// done.
fn search_range(jobs: &[&Job<'_>]) -> (Span, Vec<Range>) {
    let emitting: Vec<&&Job<'_>> = jobs.iter().filter(|j| j.plan().emit).collect();
    let from = emitting
        .iter()
        .map(|j| j.plan().start.map_or(EARLIEST, |s| s.timestamp()))
        .min()
        .unwrap_or(EARLIEST);
    let to = jobs
        .first()
        .and_then(|j| j.settings().end_date)
        .map(|end| end.timestamp());
    let done = emitting
        .iter()
        .map(|j| j.plan().done.clone())
        .reduce(|a, b| intersect(&a, &b))
        .unwrap_or_default();
    (Span { from, to }, done)
}

/// Saves the watermark of a sliced read as the bookmark of each job: a point, or the sync's
/// start when everything of an open range was read (the bookmark rules then cap it).
fn save_mark(jobs: &[&Job<'_>], mark: Option<i64>, done: &[Range]) -> Result<(), Error> {
    for job in jobs {
        let at = mark
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .unwrap_or(job.run().started_at);
        job.save_progress(at, done)?;
    }
    Ok(())
}

/// Reads `search` for a stream and the child it drives (when selected), over the range either
/// needs, each page to `page`, keeping both bookmarks as the slices complete. `then` runs after
/// the last page and before the bookmarks move to the sync's start, so that a run stopped in it
/// reads it again.
fn read_search(
    job: &Job<'_>,
    child: Option<&Job<'_>>,
    search: &Search,
    page: &Handle<'_>,
    then: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    let jobs: Vec<&Job<'_>> = std::iter::once(job).chain(child).collect();
    let (range, done) = search_range(&jobs);
    search::read(job, child, search, range, &done, page, &|mark, done| {
        save_mark(&jobs, mark, done)
    })?;
    then()?;
    jobs.iter().try_for_each(|j| j.save_bookmark(started(j)))
}

/// The sync's start, for the last bookmark of a read that completed.
fn started(job: &Job<'_>) -> DateTime<Utc> {
    job.run().started_at
}
