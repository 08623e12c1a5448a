//! The companies scroll (`GET /companies/scroll`, `intercom-api.md` §3.5): the first request
//! opens a scroll, each answer carries the `scroll_param` for the next, and an empty page is the
//! end. The parameter may stay the same from page to page, so it is not taken for a loop. A
//! scroll page is never retried as it was: the server may already have moved past it (the
//! runner starts the scroll over instead).

use serde_json::Value;

use crate::error::Error;
use crate::http::{Request, encode};
use crate::paging::{Step, Style, take_items};

/// A scroll endpoint and the key of its records.
pub struct Scroll<'a> {
    pub stream: &'static str,
    pub path: &'a str,
    pub records: &'a str,
}

impl Style for Scroll<'_> {
    fn request(&self, at: Option<&str>) -> Request {
        let path = match at {
            None => self.path.to_owned(),
            Some(param) => format!("{}?scroll_param={}", self.path, encode(param)),
        };
        Request::get(self.stream, path).once()
    }

    fn read(&self, mut answer: Value, request: &Request) -> Result<Step, Error> {
        let items = take_items(request, &mut answer, self.records)?;
        // After the empty last page there is nothing more to ask for.
        let next = if items.is_empty() {
            None
        } else {
            answer
                .get("scroll_param")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
        };
        Ok(Step {
            items,
            next,
            ..Step::default()
        })
    }

    fn repeats(&self) -> bool {
        true
    }
}
