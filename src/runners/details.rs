//! A list read whole, then each of its records read on its own and the object under one field
//! of that answer written as the record's row, stamped with the sync's start (an article's
//! statistics, which change without the article's `updated_at` moving: a history, one
//! snapshot per sync). The records' requests go many at once. A record gone between the list
//! and its request (404) is skipped with a warning; one whose request fails is named, and the
//! stream fails at its end.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::http::{Priority, Request, encode};
use crate::job::{Job, Origin, id_text};
use crate::paging::links::Links;
use crate::paging::{First, Page, Pages, walk};
use crate::streams::Endpoint;
use crate::warn;

pub fn run(job: &Job<'_>, list: &Endpoint, path: &str, field: &str, id_column: &str) -> Result<(), Error> {
    let version = job.api_version();
    let (_, records) = list.at(version);
    let style = Links::new(job.name(), list.first(version), records);
    let mut ids = Ids { job, ids: Vec::new() };
    walk(job, &style, First::Fetch, &mut ids)?;
    let ids = ids.ids;
    let snapshot_at = job.snapshot_at();
    job.for_each(&ids, |id| {
        let request = Request::get(job.name(), path.replace("{id}", &encode(id))).priority(Priority::Leaf);
        let answer = match job.send(&request) {
            Ok(answer) => answer,
            Err(err) if err.status() == Some(404) => {
                warn!(
                    "{}: {} answered 404 (deleted after the list was read); skipped",
                    job.name(),
                    request.describe()
                );
                return Ok(());
            }
            Err(err) if err.concerns_the_run() => return Err(err.into()),
            Err(err) => return job.spoil(err.into(), None),
        };
        let mut row = match answer.get(field) {
            Some(Value::Object(object)) => object.clone(),
            _ => Map::new(),
        };
        row.insert(id_column.into(), Value::String(id.clone()));
        row.insert("snapshot_at".into(), Value::String(snapshot_at.clone()));
        job.emit(Value::Object(row), &Origin::now(request.describe()))
    })
}

/// The ids of a list's records; one without is named, not skipped silently.
struct Ids<'a, 'b> {
    job: &'a Job<'b>,
    ids: Vec<String>,
}

impl Pages for Ids<'_, '_> {
    fn page(&mut self, page: Page) -> Result<(), Error> {
        for item in &page.items {
            if let Some(id) = id_text(&item["id"]) {
                self.ids.push(id);
            } else {
                let err = self.job.bad_record(item, "has no id", &page.origin);
                self.job.spoil(err, None)?;
            }
        }
        Ok(())
    }
}
