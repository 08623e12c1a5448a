//! Admin activity logs, read by `created_at` window, many windows at once (see
//! [`crate::paging::windows`]). The bookmark follows the windows read completely.

use chrono::Utc;

use crate::error::Error;
use crate::job::Job;
use crate::paging::slices::Span;
use crate::paging::windows;
use crate::runners::save_mark;

/// Where a first sync without `start_date` begins: Intercom did not exist before 2011.
const EARLIEST: i64 = 1_293_840_000;

pub fn run(job: &Job<'_>) -> Result<(), Error> {
    let from = job.plan().start.map_or(EARLIEST, |s| s.timestamp());
    // To the end of the current second: a log created in the second the stream starts is read
    // now, not only by the next run (whose bookmark, kept below the sync's start, covers it).
    let now = Utc::now() + chrono::Duration::seconds(1);
    let until = job.settings().end_date.map_or(now, |end| end.min(now)).timestamp();
    if from >= until {
        return Ok(());
    }
    let range = Span { from, to: Some(until) };
    windows::read(
        job,
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
