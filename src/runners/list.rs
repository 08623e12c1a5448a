//! Streams read with `GET` from a list endpoint: unpaginated lists, page-number lists whose
//! `pages.next` is a link, and cursor lists whose `pages.next` holds `starting_after`. An
//! incremental stream of this kind reads everything and emits what changed.

use crate::error::Error;
use crate::job::Job;
use crate::paging::links::{Links, set_query};
use crate::paging::{First, walk};
use crate::runners::Offer;

pub fn run(job: &Job<'_>, path: &str, records: &'static str, per_page: Option<u32>) -> Result<(), Error> {
    let first = match per_page {
        Some(n) => set_query(path, "per_page", &n.to_string()),
        None => path.to_owned(),
    };
    let keys = [records];
    walk(job, &Links::new(first, &keys), First::Fetch, &mut Offer(job))?;
    job.finish_scan()
}
