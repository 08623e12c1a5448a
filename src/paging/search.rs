//! Intercom's Search API (`POST /contacts/search`, `/conversations/search`, `/tickets/search`),
//! read in slices so that nothing is lost (`intercom-api.md` §1.9):
//!
//! - A slice `[from, to)` asks for `updated_at > from OR updated_at = from`, and `updated_at <
//!   to` when it has an end. Where Intercom compares timestamps by calendar day in the
//!   workspace's time zone (contact search in 2.14), which the tap does not know, the end is
//!   `updated_at < to OR updated_at = to`: a superset reaching to the end of `to`'s day, as
//!   the start reaches back to the beginning of `from`'s. Each slice keeps only the records
//!   whose own `updated_at` falls in it, so no record is handed over twice, and none is missed.
//! - Results are sorted by `updated_at` ascending and paged with the `starting_after` cursor, so
//!   a record edited during the sync moves ahead of the cursor, into the open last slice, and is
//!   read again later. The cursor holds the last record's sort values, not an offset (cursors
//!   seen in public examples decode to JSON such as `[1707930081000,131,2]`: sort value, id,
//!   page), so an edit behind the cursor shifts nothing past it.
//! - After each page, the slice is complete below the page's last `updated_at`; records sharing
//!   that second are read again by the next page or the next slice. That relies on the sort: if
//!   a page ever comes back out of order, the slice reports no progress until it is complete.
//! - The first page of a slice says how many records it holds (`total_count`). A slice with
//!   more than a few pages left ends at its first page's last `updated_at`, and the rest is
//!   split into slices of a few pages each, read at once; they split again if they need to.
//!   Ties at the split point go to the next slice. Contact slices are never narrower than a few
//!   days, since their queries reach a day beyond each end anyway.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::{Error, kind_of};
use crate::http::Request;
use crate::job::{Job, Origin, Range};
use crate::paging::slices::{self, Progress, Reading, Span};
use crate::paging::{First, Flow, Page, Pages, Step, Style, take_items, unreadable, walk};
use crate::schema::format_datetime;
use crate::warn;

/// The most Intercom returns in one page.
pub const PER_PAGE: u64 = 150;
/// A slice with more pages than this left is split.
const PAGES_PER_SLICE: u64 = 4;
/// The most slices one split makes.
const MOST_PARTS: u64 = 32;
/// The narrowest contact slice: their queries reach a day past each end.
const DAY_SLICE: i64 = 3 * 86_400;
/// How far below its start a search compared by calendar day may legitimately return a
/// record: the start of the start's day in the workspace's time zone (up to 14 hours from UTC).
const DAY_REACH: i64 = 2 * 86_400;

/// One search endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub path: &'static str,
    /// Where the items are in an answer (`data`, `conversations`, `tickets`).
    pub records: &'static str,
    /// A filter combined with the time filter, e.g. `role = user`.
    pub role: Option<&'static str>,
    /// Whether Intercom compares this search's timestamps by calendar day.
    pub by_day: bool,
}

impl Search {
    /// The request body for one page of a slice. Each `value` array of the query holds only
    /// filters or only groups, as Intercom's schema says: the conditions are groups of an
    /// `AND`, a plain filter (the end by the second, the role) in a group of its own.
    pub fn body(&self, span: Span, cursor: Option<&str>) -> Value {
        let at = |operator: &str, value: i64| json!({"field": "updated_at", "operator": operator, "value": value});
        let group = |operator: &str, filters: Vec<Value>| json!({"operator": operator, "value": filters});
        let mut groups = vec![group("OR", vec![at(">", span.from), at("=", span.from)])];
        if let Some(to) = span.to {
            groups.push(if self.by_day {
                group("OR", vec![at("<", to), at("=", to)])
            } else {
                group("AND", vec![at("<", to)])
            });
        }
        if let Some(role) = self.role {
            groups.push(group(
                "AND",
                vec![json!({"field": "role", "operator": "=", "value": role})],
            ));
        }
        let query = if groups.len() == 1 {
            groups.remove(0)
        } else {
            group("AND", groups)
        };
        let mut pagination = json!({"per_page": PER_PAGE});
        if let Some(cursor) = cursor {
            pagination["starting_after"] = json!(cursor);
        }
        json!({"query": query, "pagination": pagination, "sort": {"field": "updated_at", "order": "ascending"}})
    }

    /// How far below a query's start Intercom may legitimately return records.
    fn reach(&self) -> i64 {
        if self.by_day { DAY_REACH } else { 0 }
    }

    fn min_width(&self) -> i64 {
        if self.by_day { DAY_SLICE } else { 1 }
    }
}

/// The pages of one slice's query.
pub struct Query<'a> {
    pub stream: &'static str,
    pub search: &'a Search,
    pub span: Span,
}

impl Style for Query<'_> {
    fn request(&self, at: Option<&str>) -> Request {
        Request::post(self.stream, self.search.path, self.search.body(self.span, at))
    }

    fn read(&self, mut answer: Value, request: &Request) -> Result<Step, Error> {
        let pages = answer.get("pages");
        let next = match pages.and_then(|p| p.get("next")) {
            None | Some(Value::Null) => None,
            Some(next) => match next.get("starting_after") {
                Some(Value::String(cursor)) if !cursor.is_empty() => Some(cursor.clone()),
                // No cursor (null, as the description allows, or empty): the last page.
                None | Some(Value::Null | Value::String(_)) => None,
                Some(other) => {
                    return Err(unreadable(
                        request,
                        format!("pages.next.starting_after is {}, not a cursor", kind_of(other)),
                    ));
                }
            },
        };
        // A last page that counts more pages after it: the rest cannot be reached, and taking
        // it for the end would let the bookmark pass records never read.
        let page = pages.and_then(|p| p.get("page")).and_then(Value::as_u64);
        let total_pages = pages.and_then(|p| p.get("total_pages")).and_then(Value::as_u64);
        if let (None, Some(page), Some(total)) = (&next, page, total_pages) {
            if page < total {
                return Err(unreadable(
                    request,
                    format!(
                        "page {page} of {total} gives no cursor to the next: the rest of the search cannot be read"
                    ),
                ));
            }
        }
        Ok(Step {
            total_count: answer.get("total_count").and_then(Value::as_u64),
            total_pages,
            items: take_items(request, &mut answer, self.search.records)?,
            next,
            ..Step::default()
        })
    }
}

/// A record of a search's answer, with its `updated_at` read.
pub struct Dated {
    pub item: Value,
    pub at: DateTime<Utc>,
}

/// What the caller does with a page's records (those in the slice, in order).
pub type Handle<'a> = dyn Fn(Vec<Dated>, &Origin) -> Result<(), Error> + Sync + 'a;

/// Reads every record of `range` but those in `done`, in slices, handing each page's records
/// to `handle` and the progress to `progress`. `children` are the streams that read their
/// records from the same search (a record without a readable `updated_at` is lost to all).
pub fn read(
    job: &Job<'_>,
    children: &[&Job<'_>],
    search: &Search,
    range: Span,
    done: &[Range],
    handle: &Handle<'_>,
    progress: &Progress<'_>,
) -> Result<(), Error> {
    let readers = || readers(job);
    let floor = range.from.saturating_sub(search.reach());
    slices::read(
        job,
        range,
        done,
        &readers,
        &|slice| read_slice(job, children, search, slice, floor, handle),
        progress,
    )
}

/// As many readers as keep the pacer's limit busy: a page and its records' requests are a
/// few dozen requests, so one reader for every eight requests that may be in flight.
fn readers(job: &Job<'_>) -> usize {
    (job.concurrency() / 8).clamp(4, 32)
}

fn read_slice(
    job: &Job<'_>,
    children: &[&Job<'_>],
    search: &Search,
    slice: &Reading<'_>,
    floor: i64,
    handle: &Handle<'_>,
) -> Result<(), Error> {
    let query = Query {
        stream: job.name(),
        search,
        span: slice.span(),
    };
    let mut reader = SliceReader {
        job,
        children,
        search,
        slice,
        floor,
        handle,
        read: 0,
        newest: None,
        sorted: true,
    };
    walk(job, &query, slice.first(), &mut reader)
}

struct SliceReader<'a, 'b> {
    job: &'a Job<'b>,
    children: &'a [&'a Job<'b>],
    search: &'a Search,
    slice: &'a Reading<'a>,
    /// Below this, a record is outside what the search asked for (the range's start, less
    /// how far a search by calendar day reaches).
    floor: i64,
    handle: &'a Handle<'a>,
    /// Records the slice's query returned so far.
    read: u64,
    newest: Option<i64>,
    sorted: bool,
}

impl SliceReader<'_, '_> {
    /// A record's `updated_at` as the slice's progress counts it: not a record outside the
    /// range asked for, nor one dated after the sync started, so that neither moves a
    /// bookmark.
    fn counted(&self, item: &Value) -> Option<i64> {
        let at = item.get("updated_at").and_then(crate::job::timestamp)?;
        (at.timestamp() >= self.floor && self.job.possible(at)).then_some(at.timestamp())
    }

    /// The range a slice's query asked for, as messages say it.
    fn asked(&self, span: Span) -> String {
        let when = |t: i64| DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), format_datetime);
        let floor = when(self.floor);
        match span.to {
            Some(to) => format!("from {floor} to {}", when(to)),
            None => format!("from {floor}"),
        }
    }
}

impl Pages for SliceReader<'_, '_> {
    /// An item that is no record is lost to the children that read the same search too.
    fn lost(&mut self, job: &Job<'_>, err: Error) -> Result<(), Error> {
        for child in self.children {
            let echo = Error::BadResponse {
                stream: child.name(),
                request: String::new(),
                problem: err.to_string(),
            };
            child.spoil(echo, None)?;
        }
        job.spoil(err, None)
    }

    fn next(&mut self, step: &Step) -> Flow {
        if self.slice.stopped() {
            return Flow::Stop;
        }
        self.read += u64::try_from(step.items.len()).unwrap_or(u64::MAX);
        let times: Vec<i64> = step.items.iter().filter_map(|i| self.counted(i)).collect();
        for at in times {
            if self.newest.is_some_and(|n| at < n) && self.sorted {
                self.sorted = false;
                warn!(
                    "{}: Intercom returned the search out of updated_at order; this slice's bookmark waits until it is read whole",
                    self.job.name()
                );
            }
            self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
        }
        let span = self.slice.span();
        let Some(last) = self.newest.filter(|_| self.sorted) else {
            return Flow::Next;
        };
        // Every later record is past the slice's end (a contact slice's query reaches further).
        if span.to.is_some_and(|to| last >= to) {
            return Flow::Stop;
        }
        let left = step.total_count.map(|total| total.saturating_sub(self.read));
        if let Some(left) = left.filter(|l| *l > PAGES_PER_SLICE * PER_PAGE) {
            let parts = left.div_ceil(PAGES_PER_SLICE * PER_PAGE).min(MOST_PARTS);
            if last > span.from
                && self
                    .slice
                    .split(last, usize::try_from(parts).unwrap_or(2), self.search.min_width())
            {
                return Flow::Stop;
            }
        }
        Flow::Next
    }

    /// The slice's last page: the first page of the slice this reader reads next is fetched
    /// while this one is handled.
    fn after(&mut self) -> Option<Request> {
        let span = self.slice.take_next()?;
        let query = Query {
            stream: self.job.name(),
            search: self.search,
            span,
        };
        Some(query.request(None))
    }

    fn ahead(&mut self, first: First) {
        self.slice.hand_on(first);
    }

    fn page(&mut self, page: Page) -> Result<(), Error> {
        let span = self.slice.span();
        let origin = &page.origin;
        let mut kept = Vec::with_capacity(page.items.len());
        for item in page.items {
            let Some(at) = self.job.replication_value(&item, "updated_at", origin)? else {
                // Not placed, so not read for the children either.
                for child in self.children {
                    child.replication_value(&item, "updated_at", origin)?;
                }
                continue;
            };
            let t = at.timestamp();
            if t < self.floor {
                // Far below what the search asked for: written once, by whichever slice
                // meets it first, and kept out of every bookmark.
                if self.job.stray(&item, "updated_at", at, Some(&self.asked(span)), origin) {
                    self.job.emit(item, origin)?;
                }
                continue;
            }
            if !span.contains(t) {
                continue;
            }
            if !self.job.possible(at) {
                self.job.stray(&item, "updated_at", at, None, origin);
            }
            kept.push(Dated { item, at });
        }
        (self.handle)(kept, origin)?;
        match self.newest {
            Some(last) if self.sorted => self.slice.progress(last),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::http::canned::{Asked, Canned};
    use crate::paging::testing::{at, canned_run, plan, settings};

    const CONTACTS: Search = Search {
        path: "/contacts/search",
        records: "data",
        role: None,
        by_day: true,
    };

    /// Whether each `value` array of a query holds only groups or only filters.
    fn uniform(node: &Value) -> bool {
        match node["value"].as_array() {
            Some(items) if node.get("field").is_none() => {
                let groups = items.iter().filter(|i| i.get("field").is_none()).count();
                (groups == 0 || groups == items.len()) && items.iter().all(uniform)
            }
            _ => true,
        }
    }

    #[test]
    fn the_query_covers_second_and_day_semantics() {
        let search = Search {
            role: Some("user"),
            ..CONTACTS
        };
        let span = Span {
            from: 1_700_000_000,
            to: Some(1_700_500_000),
        };
        let b = search.body(span, Some("WzE3"));
        assert_eq!(b["query"]["operator"], "AND");
        let filters = &b["query"]["value"];
        assert_eq!(
            filters[0],
            json!({"operator": "OR", "value": [
                {"field": "updated_at", "operator": ">", "value": 1_700_000_000},
                {"field": "updated_at", "operator": "=", "value": 1_700_000_000}]})
        );
        // By day, the end reaches to the end of its day.
        assert_eq!(
            filters[1],
            json!({"operator": "OR", "value": [
                {"field": "updated_at", "operator": "<", "value": 1_700_500_000},
                {"field": "updated_at", "operator": "=", "value": 1_700_500_000}]})
        );
        assert_eq!(
            filters[2],
            json!({"operator": "AND", "value": [{"field": "role", "operator": "=", "value": "user"}]})
        );
        // Each value array holds only groups or only filters (Intercom's schema).
        assert!(uniform(&b["query"]), "{}", b["query"]);
        assert_eq!(b["pagination"], json!({"per_page": 150, "starting_after": "WzE3"}));
        assert_eq!(b["sort"], json!({"field": "updated_at", "order": "ascending"}));
        // By the second, the end is exact; an open slice has none.
        let by_second = Search {
            by_day: false,
            ..search
        };
        let by_second = by_second.body(span, None);
        assert_eq!(
            by_second["query"]["value"][1],
            json!({"operator": "AND", "value": [{"field": "updated_at", "operator": "<", "value": 1_700_500_000}]})
        );
        assert!(uniform(&by_second["query"]), "{}", by_second["query"]);
        let open = CONTACTS.body(Span { from: 5, to: None }, None);
        assert_eq!(open["query"]["operator"], "OR");
        assert!(open["pagination"].get("starting_after").is_none());
    }

    #[test]
    fn a_null_cursor_ends_the_search_unless_pages_are_left() {
        let query = Query {
            stream: "contacts",
            search: &CONTACTS,
            span: Span { from: 0, to: None },
        };
        let request = query.request(None);
        let read = |answer: Value| query.read(answer, &request);
        let last = read(json!({"data": [], "pages": {"page": 2, "total_pages": 2,
                                "next": {"page": 3, "starting_after": null}}}));
        assert!(last.unwrap().next.is_none());
        let on = read(json!({"data": [], "pages": {"page": 1, "total_pages": 2,
                              "next": {"page": 2, "starting_after": "WzE"}}}));
        assert_eq!(on.unwrap().next.as_deref(), Some("WzE"));
        let stuck = read(json!({"data": [], "pages": {"page": 1, "total_pages": 2,
                                 "next": {"page": 2, "starting_after": null}}}));
        let err = stuck.unwrap_err().to_string();
        assert!(err.contains("page 1 of 2 gives no cursor"), "{err}");
        let odd = read(json!({"data": [], "pages": {"next": {"starting_after": 7}}}));
        assert!(odd.unwrap_err().to_string().contains("not a cursor"));
    }

    /// A canned search over records `(id, updated_at)`, by the second, honouring the query's
    /// bounds, the sort and a cursor that holds the last record's position.
    fn searching(records: Vec<(String, i64)>) -> Canned {
        Canned::new(move |asked: &Asked| search_answer(&records, asked))
    }

    fn search_answer(records: &[(String, i64)], asked: &Asked) -> (u16, Value) {
        {
            let body = asked.body.clone().unwrap();
            let filters: Vec<Value> = match body["query"]["operator"].as_str() {
                Some("AND") => body["query"]["value"].as_array().unwrap().clone(),
                _ => vec![body["query"].clone()],
            };
            let from = filters[0]["value"][0]["value"].as_i64().unwrap();
            let to = filters.get(1).and_then(|f| f["value"][0]["value"].as_i64());
            let mut hits: Vec<&(String, i64)> = records
                .iter()
                .filter(|(_, t)| *t >= from && to.is_none_or(|to| *t < to))
                .collect();
            hits.sort_by_key(|(id, t)| (*t, id.clone()));
            let after: usize = body["pagination"]["starting_after"]
                .as_str()
                .map_or(0, |c| c.parse().unwrap());
            let page: Vec<Value> = hits
                .iter()
                .skip(after)
                .take(150)
                .map(|(id, t)| json!({"id": id, "updated_at": t}))
                .collect();
            let next = if after + 150 < hits.len() {
                json!({"starting_after": (after + 150).to_string()})
            } else {
                Value::Null
            };
            (
                200,
                json!({"data": page, "total_count": hits.len(), "pages": {"next": next}}),
            )
        }
    }

    /// Records as `(id, updated_at)`.
    type Records = Vec<(String, i64)>;

    /// Reads `range` but `done` of a canned search; each page's records are shown to `look`
    /// before they are kept. `alone`: by one reader, every other token of the run's pool being
    /// held elsewhere.
    fn read_with(
        canned: &Canned,
        range: Span,
        done: &[Range],
        alone: bool,
        look: &(dyn Fn(&[Dated]) + Sync),
    ) -> (Result<(), Error>, Records, Vec<Option<i64>>) {
        let (run, _) = canned_run(canned, settings(json!({})), at(2_000_000));
        let others: Vec<_> = (0..if alone { crate::job::EXTRA_READERS } else { 0 })
            .map(|_| run.readers.try_take("others").unwrap())
            .collect();
        let plan = plan("conversations", None);
        let job = Job::new(&plan, &run);
        let search = Search {
            by_day: false,
            ..CONTACTS
        };
        let got = Mutex::new(Vec::new());
        let marks = Mutex::new(Vec::new());
        let result = read(
            &job,
            &[],
            &search,
            range,
            done,
            &|items, _| {
                look(&items);
                got.lock().unwrap().extend(
                    items
                        .iter()
                        .map(|d| (d.item["id"].as_str().unwrap().to_owned(), d.at.timestamp())),
                );
                Ok(())
            },
            &|mark, _| {
                marks.lock().unwrap().push(mark);
                Ok(())
            },
        );
        drop(others);
        (result, got.into_inner().unwrap(), marks.into_inner().unwrap())
    }

    fn read_all(canned: &Canned, range: Span, done: &[Range]) -> (Records, Vec<Option<i64>>) {
        let (result, got, marks) = read_with(canned, range, done, false, &|_| {});
        result.unwrap();
        (got, marks)
    }

    #[test]
    fn a_big_search_is_read_once_in_slices_with_ties_at_their_edges() {
        // 3,000 records over 1,000,000 seconds, ten of them sharing every 3,333rd second, so that
        // ties straddle wherever the slices are cut.
        let records: Vec<(String, i64)> = (0..3_000)
            .map(|i| (format!("r{i}"), 1_000_000 + (i / 10) * 3_333))
            .collect();
        let canned = searching(records.clone());
        let (got, marks) = read_all(
            &canned,
            Span {
                from: 1_000_000,
                to: None,
            },
            &[],
        );
        let mut ids: Vec<&String> = got.iter().map(|(id, _)| id).collect();
        ids.sort();
        let mut expected: Vec<&String> = records.iter().map(|(id, _)| id).collect();
        expected.sort();
        assert_eq!(ids, expected, "every record exactly once");
        let pages = canned.asked().len();
        assert!(pages <= 20 + 20 / 4 + 2, "{pages} requests for 20 pages of records");
        // The watermark never goes back, and ends with everything read.
        let finite: Vec<i64> = marks.iter().flatten().copied().collect();
        assert!(finite.windows(2).all(|w| w[0] <= w[1]), "{marks:?}");
        assert_eq!(marks.last(), Some(&None));
        // The splits made slices of a few pages: no query walked more than 5 pages.
        let cursors = canned
            .asked()
            .iter()
            .filter_map(|a| {
                a.body.as_ref().unwrap()["pagination"]["starting_after"]
                    .as_str()
                    .map(str::to_owned)
            })
            .map(|c| c.parse::<usize>().unwrap() / 150)
            .max()
            .unwrap_or(0);
        assert!(cursors <= 5, "a slice read {} pages in a row", cursors + 1);
    }

    #[test]
    fn ranges_done_before_are_skipped() {
        let records: Vec<(String, i64)> = (0..100).map(|i| (format!("r{i}"), i * 10)).collect();
        let canned = searching(records);
        let (got, _) = read_all(
            &canned,
            Span {
                from: 0,
                to: Some(1_000),
            },
            &[(200, 800)],
        );
        assert_eq!(got.len(), 40);
        assert!(got.iter().all(|(_, t)| *t < 200 || *t >= 800));
    }

    /// A search of `[0, 1000)` by a reader alone, with `[200, 800)` done before: two slices,
    /// read one after the other.
    fn read_alone(canned: &Canned, look: &(dyn Fn(&[Dated]) + Sync)) -> (Result<(), Error>, Records, Vec<Option<i64>>) {
        read_with(
            canned,
            Span {
                from: 0,
                to: Some(1_000),
            },
            &[(200, 800)],
            true,
            look,
        )
    }

    fn hundred() -> Records {
        (0..100).map(|i| (format!("r{i}"), i * 10)).collect()
    }

    #[test]
    fn a_reader_fetches_its_next_slices_first_page_while_it_handles_the_last_one() {
        let canned = searching(hundred());
        let asked = canned.clone();
        let (result, seen, marks) = read_alone(&canned, &|items| {
            // The first slice's only page: the second slice's query is asked while it is
            // handled, not after.
            if items.first().is_some_and(|d| d.at.timestamp() < 200) {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                while asked.asked().len() < 2 && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                assert_eq!(
                    asked.asked().len(),
                    2,
                    "the next slice's first page was not fetched ahead"
                );
            }
        });
        result.unwrap();
        assert_eq!(seen.len(), 40, "every record of both slices, once");
        assert_eq!(
            canned.asked().len(),
            2,
            "the page fetched ahead is the one read: no request twice"
        );
        assert_eq!(marks.last(), Some(&Some(1_000)));
    }

    #[test]
    fn a_first_page_fetched_ahead_that_fails_fails_its_own_slice() {
        // The second slice's query is refused; the first slice is read whole.
        let records = hundred();
        let canned = Canned::new(move |asked: &Asked| {
            let from = asked.body.as_ref().unwrap()["query"]["value"][0]["value"][0]["value"].as_i64();
            if from == Some(800) {
                (
                    400,
                    json!({"type": "error.list", "errors": [{"code": "parameter_invalid", "message": "no"}]}),
                )
            } else {
                search_answer(&records, asked)
            }
        });
        let (result, seen, marks) = read_alone(&canned, &|_| {});
        let err = result.unwrap_err().to_string();
        assert!(err.contains("400"), "{err}");
        assert_eq!(seen.len(), 20, "the first slice's records");
        assert!(seen.iter().all(|(_, t)| *t < 200));
        // Complete below the failed slice, and never beyond it.
        assert_eq!(marks.last(), Some(&Some(800)));
        assert_eq!(canned.asked().len(), 2, "the refused page was asked once");
    }
}
