//! The runners: how a stream is read, as its row's [`Read`] says, on the paging engine. One
//! module per paging style that is more than a walk: lists (and lists newest first), searches
//! (with the lists their records carry cut short), scrolls, `created_at` windows, the count
//! reports, the children read with each record of their parent, and the feed of deletions.
//! No endpoint is written here: each comes from the stream's row.

mod children;
mod counts;
mod deleted;
mod details;
mod exports;
mod list;
mod scroll;
mod search;
mod windows;

use chrono::{DateTime, Utc};

pub use exports::custom_attributes;

use crate::error::Error;
use crate::job::{Job, Range};
use crate::paging::search::{self as searching, Handle};
use crate::paging::slices::{Span, intersect};
use crate::streams::Read;

/// Where a search without `start_date` or bookmark begins: early enough for any date Intercom
/// holds, including the pre-1970 dates some workspaces have.
const EARLIEST: i64 = -2_208_988_800; // 1900-01-01

/// Syncs the stream of `job` as its row says, and the children it drives.
pub fn run(job: &Job<'_>, children: &[&Job<'_>]) -> Result<(), Error> {
    match job.plan().stream.read {
        Read::List(endpoint) => list::run(job, children, &endpoint, false),
        Read::NewestFirst(endpoint) => list::run(job, children, &endpoint, true),
        Read::Search(search) => search::run(job, children, &search),
        Read::Scroll(endpoint) => scroll::run(job, &endpoint),
        Read::Windows(endpoint) => windows::run(job, &endpoint),
        Read::Report(endpoint, report) => counts::run(job, &endpoint, report),
        Read::Details { list, path, field, id } => details::run(job, &list, path, field, id),
        Read::Export(_) => exports::run(job, children),
        // Written by the parent's read.
        Read::Child(_) => Ok(()),
    }
}

/// The range a search reads for these jobs: from the earliest start of those emitting (a
/// parent and its children share one search) to `end_date`, less the ranges all of them have
/// done.
fn search_range(jobs: &[&Job<'_>]) -> (Span, Vec<Range>) {
    let emitting: Vec<&&Job<'_>> = jobs.iter().filter(|j| j.plan().emit).collect();
    let from = emitting
        .iter()
        .map(|j| j.plan().start.map_or(EARLIEST, |s| s.timestamp()))
        .min()
        .unwrap_or(EARLIEST);
    let to = jobs.first().and_then(|j| j.end_date()).map(|end| end.timestamp());
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
            .unwrap_or(job.started_at());
        job.save_progress(at, done)?;
    }
    Ok(())
}

/// Reads `search` for a stream and the children it drives, over the range any of them needs,
/// each page to `page`, keeping every bookmark as the slices complete. `then` runs after the
/// last page and before the bookmarks move to the sync's start, so that a run stopped in it
/// reads it again.
fn read_search(
    job: &Job<'_>,
    children: &[&Job<'_>],
    search: &searching::Search,
    page: &Handle<'_>,
    then: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    let jobs: Vec<&Job<'_>> = std::iter::once(job).chain(children.iter().copied()).collect();
    let (range, done) = search_range(&jobs);
    searching::read(job, children, search, range, &done, page, &|mark, done| {
        save_mark(&jobs, mark, done)
    })?;
    then()?;
    jobs.iter().try_for_each(|j| j.save_bookmark(started(j)))
}

/// The sync's start, for the last bookmark of a read that completed.
fn started(job: &Job<'_>) -> DateTime<Utc> {
    job.started_at()
}
