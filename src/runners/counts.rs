//! The count reports: each answer becomes rows (see [`Report`]), stamped with the sync's start.

use std::collections::HashSet;

use crate::error::Error;
use crate::job::Job;
use crate::paging::links::Links;
use crate::paging::{First, Page, Pages, walk};
use crate::streams::{Endpoint, Report};
use crate::warn;

pub fn run(job: &Job<'_>, endpoint: &Endpoint, report: Report) -> Result<(), Error> {
    let style = Links::new(job.name(), endpoint.first(job.api_version()), &[]);
    let mut rows = Rows {
        job,
        report,
        snapshot_at: job.snapshot_at(),
        seen: HashSet::new(),
    };
    walk(job, &style, First::Fetch, &mut rows)
}

struct Rows<'a, 'b> {
    job: &'a Job<'b>,
    report: Report,
    snapshot_at: String,
    seen: HashSet<String>,
}

impl Pages for Rows<'_, '_> {
    fn page(&mut self, page: Page) -> Result<(), Error> {
        let job = self.job;
        for answer in &page.items {
            let rows = self
                .report
                .rows(answer, &self.snapshot_at)
                .map_err(|problem| Error::BadResponse {
                    stream: job.name(),
                    request: page.origin.request.clone(),
                    problem,
                })?;
            for row in rows {
                if let Some(column) = self.report.key_column() {
                    let key = &row[column];
                    if key.is_null() {
                        warn!(
                            "{}: Intercom sent a count without {column}, which is part of the key; skipped: {row}",
                            job.name()
                        );
                        continue;
                    }
                    if !self.seen.insert(key.to_string()) {
                        warn!(
                            "{}: Intercom reports two counts with {column} {key}; they share a key, so the target keeps one",
                            job.name()
                        );
                    }
                }
                job.emit(row, &page.origin)?;
            }
        }
        Ok(())
    }
}
