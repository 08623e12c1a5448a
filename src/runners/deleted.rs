//! Deleted records: a feed such as 2.16's `GET /conversations/deleted`, the one list of
//! deletions Intercom has (the stream's row names it and the version that has it). Each conversation deleted since the bookmark is written as a row of the parent's
//! stream that carries only its id, `updated_at` and `_sdc_deleted_at` (both the deletion's
//! time): Singer targets such as `MeltanoLabs`' target-postgres then mark the row deleted, or
//! remove it with `hard_delete`.
//!
//! Read after the search, so that a conversation deleted while the sync ran ends deleted. Read
//! only for a stream that has a bookmark: a first sync loads only what exists, and has no row
//! that a deletion could mark. The list has no time filter; it is read newest first and stops
//! at the first page that reaches past the start (the bookmark less the lookback).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::info;
use crate::job::Job;
use crate::paging::links::Links;
use crate::paging::{First, Flow, NewestFirst, Page, Pages, Step, walk};
use crate::singer::catalog::DELETED_AT;
use crate::streams;

pub fn run(job: &Job<'_>, feed: &streams::Deleted) -> Result<(), Error> {
    let plan = job.plan();
    let version = job.api_version();
    if !plan.emit || version < feed.since {
        return Ok(());
    }
    let (Some(_), Some(since)) = (plan.bookmark, plan.start) else {
        return Ok(());
    };
    let (path, records) = feed.endpoint.at(version);
    let style = Links::new(job.name(), feed.endpoint.first(version), records);
    let mut deleted = Deleted {
        job,
        since,
        order: NewestFirst::new("deleted conversations (by deleted_at)"),
        written: 0,
    };
    walk(job, &style, First::Fetch, &mut deleted)?;
    info!(
        "{}: {} deleted since {} ({path})",
        job.name(),
        deleted.written,
        since.to_rfc3339()
    );
    Ok(())
}

struct Deleted<'a, 'b> {
    job: &'a Job<'b>,
    since: DateTime<Utc>,
    order: NewestFirst,
    written: u64,
}

impl Pages for Deleted<'_, '_> {
    /// Stops once a page reaches past the start, unless the order cannot be trusted.
    fn next(&mut self, step: &Step) -> Flow {
        let stamps = step
            .items
            .iter()
            .filter_map(|i| i.get("deleted_at").and_then(crate::time::instant))
            .map(|at| at.timestamp());
        self.order.next(self.job, stamps, Some(self.since.timestamp()))
    }

    fn page(&mut self, page: Page) -> Result<(), Error> {
        let origin = &page.origin;
        for item in page.items {
            let Some(at) = self.job.replication_value(&item, "deleted_at", origin)? else {
                continue;
            };
            if at < self.since {
                continue;
            }
            // A row marked deleted without an id marks nothing; emit names it (no key).
            let mut row = Map::new();
            row.insert("id".into(), item.get("id").cloned().unwrap_or_default());
            row.insert("updated_at".into(), item["deleted_at"].clone());
            row.insert(DELETED_AT.into(), item["deleted_at"].clone());
            self.job.emit(Value::Object(row), origin)?;
            self.written += 1;
        }
        Ok(())
    }
}
