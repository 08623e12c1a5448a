//! Intercom's pagination styles for `GET` lists (`intercom-api.md` §1.8): `pages.next` as a link
//! (page-number lists; the counts report nests it as `pages.pages.next`), as an object with a
//! `starting_after` cursor, or absent at the end.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::Error;
use crate::http::{encode, path_of_link};

/// Walks the pages of one list, refusing to loop.
pub struct Walk {
    next: Option<String>,
    current: String,
    seen: HashSet<String>,
}

impl Walk {
    pub fn new(first: String) -> Walk {
        Walk {
            next: Some(first),
            current: String::new(),
            seen: HashSet::new(),
        }
    }

    /// The path of the next page to fetch, if there is one.
    pub fn next_path(&mut self) -> Option<String> {
        let next = self.next.take()?;
        self.current.clone_from(&next);
        Some(next)
    }

    /// Reads where the page just fetched says to go next.
    pub fn follow(&mut self, page: &Value, stream: &'static str) -> Result<(), Error> {
        self.next = next_page(page, &self.current);
        if let Some(next) = &self.next {
            self.seen.insert(self.current.clone());
            if self.seen.contains(next) {
                return Err(Error::BadResponse {
                    stream,
                    request: format!("GET {}", self.current),
                    problem: format!("the next page is {next}, a page already read; stopping instead of looping"),
                });
            }
        }
        Ok(())
    }
}

/// The path of the page after `page`, fetched from `current`, or `None` at the end.
pub fn next_page(page: &Value, current: &str) -> Option<String> {
    let pages = page.get("pages")?;
    let next = match pages.get("next") {
        Some(next) if !next.is_null() => next,
        _ => pages.get("pages")?.get("next")?,
    };
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

/// Takes the array of items under `key` out of a page.
pub fn take_items(stream: &'static str, path: &str, page: &mut Value, key: &str) -> Result<Vec<Value>, Error> {
    match page.get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) => Ok(Vec::new()),
        _ => Err(Error::BadResponse {
            stream,
            request: format!("GET {path}"),
            problem: format!("the answer has no {key:?} array"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn a_page_that_points_back_is_an_error() {
        let mut walk = Walk::new("/a".into());
        assert_eq!(walk.next_path().unwrap(), "/a");
        walk.follow(&json!({"pages": {"next": "http://h/b"}}), "tags").unwrap();
        assert_eq!(walk.next_path().unwrap(), "/b");
        assert!(walk.follow(&json!({"pages": {"next": "http://h/a"}}), "tags").is_err());
    }

    #[test]
    fn items_must_be_an_array() {
        let mut page = json!({"type": "list", "data": [1]});
        assert_eq!(take_items("tags", "/tags", &mut page, "data").unwrap(), vec![json!(1)]);
        let mut empty = json!({"type": "list", "data": null});
        assert!(take_items("tags", "/tags", &mut empty, "data").unwrap().is_empty());
        let mut renamed = json!({"type": "list", "items": []});
        assert!(take_items("tags", "/tags", &mut renamed, "data").is_err());
        let mut wrong = json!({"data": {}});
        assert!(take_items("tags", "/tags", &mut wrong, "data").is_err());
    }
}
