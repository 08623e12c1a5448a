//! Streams read with `GET` from a list endpoint: unpaginated lists, page-number lists whose
//! `pages.next` is a link, and cursor lists whose `pages.next` holds `starting_after`.

use crate::error::Error;
use crate::streams::pages;
use crate::sync::Job;

pub fn run(job: &Job<'_>, path: &str, records: &str, per_page: Option<u32>) -> Result<(), Error> {
    let first = match per_page {
        Some(n) => pages::set_query(path, "per_page", &n.to_string()),
        None => path.to_owned(),
    };
    let mut walk = pages::Walk::new(first);
    while let Some(path) = walk.next_path() {
        let mut page = job.get(&path)?;
        let extracted = job.now();
        for item in pages::take_items(job.name(), &path, &mut page, records)? {
            job.offer(item, &extracted)?;
        }
        walk.follow(&page, job.name())?;
    }
    job.finish_scan()
}
