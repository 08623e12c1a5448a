//! Help center articles: a page-number list sorted by `updated_at`, newest first, so an
//! incremental run stops paging at the first page that reaches past the bookmark.

use crate::error::Error;
use crate::job::Job;
use crate::paging::links::{Links, set_query};
use crate::paging::{First, Flow, Page, Pages, Step, walk};
use crate::warn;

pub fn run(job: &Job<'_>) -> Result<(), Error> {
    let style = Links::new(set_query("/articles", "per_page", "150"), &["data"]);
    let mut articles = Articles {
        job,
        previous: None,
        ordered: true,
    };
    walk(job, &style, First::Fetch, &mut articles)?;
    job.finish_scan()
}

struct Articles<'a, 'b> {
    job: &'a Job<'b>,
    previous: Option<i64>,
    ordered: bool,
}

impl Pages for Articles<'_, '_> {
    /// Stops once a page reaches past the bookmark, unless the order cannot be trusted.
    fn next(&mut self, step: &Step) -> Flow {
        let mut reached = false;
        let start = self.job.plan().start.map(|s| s.timestamp());
        for item in &step.items {
            let Some(at) = item.get("updated_at").and_then(crate::job::timestamp) else {
                continue;
            };
            let at = at.timestamp();
            if self.previous.is_some_and(|p| at > p) && self.ordered {
                self.ordered = false;
                warn!(
                    "{}: Intercom returned articles out of updated_at order; reading them all",
                    self.job.name()
                );
            }
            self.previous = Some(at);
            reached |= start.is_some_and(|s| at < s);
        }
        if self.job.plan().incremental.is_some() && self.ordered && reached {
            Flow::Stop
        } else {
            Flow::Next
        }
    }

    fn page(&mut self, page: Page) -> Result<(), Error> {
        page.items
            .into_iter()
            .try_for_each(|item| self.job.offer(item, &page.extracted))
    }
}
