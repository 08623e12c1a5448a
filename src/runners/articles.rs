//! Help center articles: a page-number list sorted by `updated_at`, newest first, so an
//! incremental run stops paging at the first page that reaches past the bookmark.

use crate::error::Error;
use crate::job::Job;
use crate::paging::links::{Links, set_query};
use crate::paging::{First, Flow, NewestFirst, Page, Pages, Step, walk};

pub fn run(job: &Job<'_>) -> Result<(), Error> {
    let style = Links::new(set_query("/articles", "per_page", "150"), &["data"]);
    let mut articles = Articles {
        job,
        order: NewestFirst::new("articles (by updated_at)"),
    };
    walk(job, &style, First::Fetch, &mut articles)?;
    job.finish_scan()
}

struct Articles<'a, 'b> {
    job: &'a Job<'b>,
    order: NewestFirst,
}

impl Pages for Articles<'_, '_> {
    /// Stops once a page reaches past the bookmark, unless the order cannot be trusted. A
    /// full-table read (an override) reads everything.
    fn next(&mut self, step: &Step) -> Flow {
        let stamps = step
            .items
            .iter()
            .filter_map(|item| item.get("updated_at").and_then(crate::job::timestamp))
            .map(|at| at.timestamp());
        let start = self.job.plan().start.filter(|_| self.job.plan().incremental.is_some());
        self.order.next(self.job, stamps, start.map(|s| s.timestamp()))
    }

    fn page(&mut self, page: Page) -> Result<(), Error> {
        page.items
            .into_iter()
            .try_for_each(|item| self.job.offer(item, &page.origin))
    }
}
