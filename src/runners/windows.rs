//! Streams read by `created_at` window (admin activity logs), many windows at once (see
//! [`crate::paging::windows`]). The bookmark follows the windows read completely.

use chrono::Utc;

use crate::error::Error;
use crate::job::Job;
use crate::paging::slices::Span;
use crate::paging::windows::{self, Windows};
use crate::runners::save_mark;
use crate::streams::Endpoint;

/// Where a first sync without `start_date` begins: Intercom did not exist before 2011.
const EARLIEST: i64 = 1_293_840_000;

pub fn run(job: &Job<'_>, endpoint: &Endpoint) -> Result<(), Error> {
    let (path, records) = endpoint.at(job.api_version());
    let from = job.plan().start.map_or(EARLIEST, |s| s.timestamp());
    // To the end of the current second: a log created in the second the stream starts is read
    // now, not only by the next run (whose bookmark, kept below the sync's start, covers it).
    let now = Utc::now() + chrono::Duration::seconds(1);
    let until = job.end_date().map_or(now, |end| end.min(now)).timestamp();
    if from >= until {
        return Ok(());
    }
    let range = Span { from, to: Some(until) };
    windows::read(
        job,
        Windows { path, records },
        range,
        &job.plan().done,
        &|items, origin| {
            for dated in items {
                if job.in_range(dated.at) {
                    job.emit(dated.item, origin)?;
                }
            }
            Ok(())
        },
        &|mark, done| save_mark(&[job], mark, done),
    )
}
