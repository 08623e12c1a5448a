//! `GET` lists (`intercom-api.md` §1.8): the items under a key, and `pages.next` as a link
//! (page-number lists; the count reports nest it as `pages.pages.next`), as an object with a
//! `starting_after` cursor, or absent at the end.

use serde_json::Value;

use crate::error::Error;
use crate::http::{Priority, Request, encode, path_of_link};
use crate::paging::{Step, Style, take_items};

/// One list endpoint.
pub struct Links<'a> {
    /// The stream the requests are for.
    pub stream: &'static str,
    /// The first page's path and query.
    pub first: String,
    /// Where the items are: the first of these keys the answer has (Intercom names some lists
    /// differently in its examples and its schemas). None takes the whole answer as the one
    /// item of its page (the count reports, which the runner turns into rows).
    pub records: &'a [&'a str],
    /// How much others wait on its pages: a chain's own pages unless a record's list (see
    /// [`Priority`]).
    pub priority: Priority,
    /// Whether a page that counts more pages after it but links none is followed by number
    /// (`page=N+1`), as page-number lists that give no link are (news, content snippets).
    /// When not, the answer says its pages are unreachable (`Step::unreachable_pages`).
    pub numbered: bool,
}

impl<'a> Links<'a> {
    pub fn new(stream: &'static str, first: impl Into<String>, records: &'a [&'a str]) -> Links<'a> {
        Links {
            stream,
            first: first.into(),
            records,
            priority: Priority::Chain,
            numbered: true,
        }
    }
}

impl Style for Links<'_> {
    fn request(&self, at: Option<&str>) -> Request {
        Request::get(self.stream, at.unwrap_or(&self.first)).priority(self.priority)
    }

    fn read(&self, mut answer: Value, request: &Request) -> Result<Step, Error> {
        let mut next = next_page(&answer, &request.path);
        // The page numbers, in `pages` or at the top (content snippets), as numbers or as the
        // strings some endpoints answer with.
        let number = |key: &str| {
            pages_of(&answer)
                .and_then(|p| p.get(key))
                .or_else(|| answer.get(key))
                .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())))
        };
        let (page, total_pages) = (number("page"), number("total_pages"));
        if let (None, true, Some(page), Some(total)) = (&next, self.numbered, page, total_pages) {
            if page < total {
                next = Some(set_query(&request.path, "page", &(page + 1).to_string()));
            }
        }
        let total_count = answer.get("total_count").and_then(Value::as_u64);
        let items = match self.records {
            [] => vec![answer],
            keys => {
                let key = keys.iter().find(|k| answer.get(**k).is_some()).unwrap_or(&keys[0]);
                take_items(request, &mut answer, key)?
            }
        };
        Ok(Step {
            items,
            unreachable_pages: next.is_none() && matches!((page, total_pages), (Some(p), Some(t)) if p < t),
            next,
            total_count,
            total_pages,
        })
    }
}

/// The `pages` object of an answer, wherever it is nested.
fn pages_of(answer: &Value) -> Option<&Value> {
    let pages = answer.get("pages").filter(|p| p.is_object())?;
    match pages.get("pages") {
        Some(inner) if inner.is_object() && pages.get("next").is_none_or(Value::is_null) => Some(inner),
        _ => Some(pages),
    }
}

/// The path of the page after `page`, fetched from `current`, or `None` at the end.
pub fn next_page(page: &Value, current: &str) -> Option<String> {
    let next = pages_of(page)?.get("next")?;
    match next {
        Value::String(link) if !link.is_empty() => path_of_link(link),
        Value::Object(cursor) => cursor
            .get("starting_after")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(|c| set_query(current, "starting_after", c)),
        _ => None,
    }
}

/// `path` with query parameter `key` set to `value` (encoded), replacing an earlier value.
pub fn set_query(path: &str, key: &str, value: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(key))
        .map(str::to_owned)
        .collect();
    params.push(format!("{key}={}", encode(value)));
    format!("{base}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::canned::Canned;
    use crate::job::Job;
    use crate::paging::testing::{at, canned_run, plan, settings};
    use crate::paging::{First, Page, Pages, walk};
    use serde_json::json;

    #[test]
    fn links_cursors_and_ends() {
        let link = json!({"pages": {"next": "https://api.intercom.io/help_center/collections?page=2&per_page=150"}});
        assert_eq!(
            next_page(&link, "/x").unwrap(),
            "/help_center/collections?page=2&per_page=150"
        );
        let nested =
            json!({"pages": {"pages": {"next": "https://api.intercom.io/counts?type=company&count=tag&page=2"}}});
        assert_eq!(
            next_page(&nested, "/x").unwrap(),
            "/counts?type=company&count=tag&page=2"
        );
        let cursor = json!({"pages": {"next": {"page": 2, "starting_after": "WzE+"}}});
        assert_eq!(
            next_page(&cursor, "/contacts?per_page=150").unwrap(),
            "/contacts?per_page=150&starting_after=WzE%2B"
        );
        assert_eq!(
            next_page(&cursor, "/contacts?starting_after=a").unwrap(),
            "/contacts?starting_after=WzE%2B"
        );
        for end in [
            json!({}),
            json!({"pages": null}),
            json!({"pages": {"next": null}}),
            json!({"pages": {}}),
        ] {
            assert!(next_page(&end, "/x").is_none(), "{end}");
        }
    }

    struct All(Vec<Value>);

    impl Pages for All {
        fn page(&mut self, page: Page) -> Result<(), Error> {
            self.0.extend(page.items);
            Ok(())
        }
    }

    #[test]
    fn a_list_is_read_through_its_links_and_items_must_be_an_array() {
        let canned = Canned::new(|asked| match asked.query("page") {
            None => (
                200,
                json!({"data": [{"id": 1}, {"id": 2}], "pages": {"page": 1, "total_pages": 2,
                                 "next": "https://elsewhere.example/tags?page=2"}}),
            ),
            Some(_) => (
                200,
                json!({"data": [{"id": 3}], "pages": {"page": 2, "total_pages": 2, "next": null}}),
            ),
        });
        let (run, _) = canned_run(&canned, settings(json!({})), at(0));
        let plan = plan("tags", None);
        let job = Job::new(&plan, &run);
        let mut all = All(Vec::new());
        walk(&job, &Links::new("tags", "/tags", &["data"]), First::Fetch, &mut all).unwrap();
        assert_eq!(all.0, vec![json!({"id": 1}), json!({"id": 2}), json!({"id": 3})]);
        // Links to another host are followed on the configured base URL only.
        assert_eq!(canned.asked()[1].target, "/tags?page=2");

        let wrong = Canned::new(|_| (200, json!({"data": {"a": 1}})));
        let (run, _) = canned_run(&wrong, settings(json!({})), at(0));
        let job = Job::new(&plan, &run);
        let err = walk(
            &job,
            &Links::new("tags", "/tags", &["data"]),
            First::Fetch,
            &mut All(Vec::new()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no \"data\" array"), "{err}");
    }

    #[test]
    fn more_pages_without_a_link_are_noticed() {
        // A style is pure: a request built and an answer read, with no run.
        let style = Links {
            numbered: false,
            ..Links::new("activity_logs", "/admins/activity_logs", &["activity_logs"])
        };
        let request = style.request(None);
        assert_eq!(request.describe(), "GET /admins/activity_logs");
        let answer = json!({"activity_logs": [], "pages": {"page": 1, "total_pages": 3, "next": null}});
        let step = style.read(answer.clone(), &request).unwrap();
        assert!(step.unreachable_pages);
        assert_eq!(step.total_pages, Some(3));
        // A numbered list goes on to the next page by number, whether its numbers are in
        // `pages` or at the top, as numbers or as strings.
        let numbered = Links::new("news_items", "/news/news_items", &["data"]);
        let first = json!({"data": [], "pages": {"page": 1, "total_pages": 3, "next": null}});
        let step = numbered.read(first, &numbered.request(None)).unwrap();
        assert_eq!(step.next.as_deref(), Some("/news/news_items?page=2"));
        let top = json!({"data": [], "page": "2", "total_pages": 3});
        let request = numbered.request(Some("/news/news_items?page=2"));
        assert_eq!(
            numbered.read(top, &request).unwrap().next.as_deref(),
            Some("/news/news_items?page=3")
        );
        let last = json!({"data": [], "pages": {"page": 3, "total_pages": 3}});
        assert!(numbered.read(last, &request).unwrap().next.is_none());
    }
}
