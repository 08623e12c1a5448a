//! Help center articles: a page-number list sorted by `updated_at`, newest first, so an
//! incremental run stops paging at the first page that reaches past the bookmark.

use crate::error::Error;
use crate::streams::pages::{self, Walk};
use crate::sync::Job;
use crate::warn;

pub fn run(job: &Job<'_>) -> Result<(), Error> {
    let mut walk = Walk::new(pages::set_query("/articles", "per_page", "150"));
    let mut previous = None;
    let mut ordered = true;
    while let Some(path) = walk.next_path() {
        let mut page = job.get(&path)?;
        let extracted = job.now();
        let mut reached_bookmark = false;
        for item in pages::take_items(job.name(), &path, &mut page, "data")? {
            let at = job.replication_value(&item, "updated_at")?;
            if previous.is_some_and(|p| at > p) && ordered {
                ordered = false;
                warn!(
                    "{}: Intercom returned articles out of updated_at order; reading them all",
                    job.name()
                );
            }
            previous = Some(at);
            reached_bookmark |= job.plan().start.is_some_and(|start| at < start);
            job.offer(item, &extracted)?;
        }
        if job.plan().incremental.is_some() && ordered && reached_bookmark {
            break;
        }
        walk.follow(&page, job.name())?;
    }
    job.finish_scan()
}
