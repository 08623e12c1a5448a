//! The paging engine: one driver for every way Intercom pages its answers.
//!
//! Each paging style is a small module that knows how to ask for a page and where an answer
//! says to go next ([`Style`]): [`links`] (`pages.next` as a link or a cursor, for `GET`
//! lists), [`search`] (the Search API's cursor), [`scroll`] (the companies scroll) and
//! [`windows`] (activity logs by `created_at` window). The driver, [`walk`], owns what they
//! share: it stops when the run is aborted, refuses to follow a page back to one already read
//! and stops a walk that goes in circles (pages of records it has read, or far more records
//! than `total_count` promised), names an item that is null instead of an object, stamps each
//! page's `time_extracted` when it arrives, and fetches the next page while the caller works
//! on the current one (after the last page, what the caller says comes next: a slice reader's
//! next slice). [`slices`] reads a range of replication-key values as many
//! slices at once, each walked by this driver, and keeps the bookmark below every slice that
//! is not complete.

pub mod links;
pub mod scroll;
pub mod search;
pub mod slices;
pub mod windows;

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::thread;

use serde_json::Value;

use crate::error::{Error, kind_of};
use crate::http::Request;
use crate::job::{Job, Origin};

/// What an answer held, as its style reads it.
#[derive(Debug, Default)]
pub struct Step {
    pub items: Vec<Value>,
    /// Where the next page is (a path, a cursor, a scroll parameter), or `None` at the end.
    pub next: Option<String>,
    /// Intercom's `total_count`, when the answer has one.
    pub total_count: Option<u64>,
    /// Intercom's `pages.total_pages`, when the answer has one.
    pub total_pages: Option<u64>,
    /// The answer says it has more pages but gives no way to them.
    pub unreachable_pages: bool,
}

/// One way of paging: pure, so that it is tested without a run. It builds the request for a
/// page and reads an answer into the page's items and where the next one is.
pub trait Style: Sync {
    /// The request for the page at `at`, or the first page.
    fn request(&self, at: Option<&str>) -> Request;
    /// Reads an answer to `request`.
    fn read(&self, answer: Value, request: &Request) -> Result<Step, Error>;
    /// Whether a position may come back (the scroll keeps its parameter); otherwise a page
    /// that points back to one already read is an error rather than an endless loop.
    fn repeats(&self) -> bool {
        false
    }
}

/// Whether to go on to the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Next,
    Stop,
}

/// A list Intercom gives newest first (articles by `updated_at`, deleted conversations by
/// `deleted_at`), read only down to a point: the pages after one that reaches below it are not
/// wanted, as long as the order holds. Once an item comes newer than the one before it, the
/// order is not trusted and everything is read.
pub struct NewestFirst {
    /// What the items are, for the warning: `articles out of updated_at order`.
    what: &'static str,
    previous: Option<i64>,
    ordered: bool,
}

impl NewestFirst {
    pub fn new(what: &'static str) -> NewestFirst {
        NewestFirst {
            what,
            previous: None,
            ordered: true,
        }
    }

    /// Takes in a page's timestamps (Unix seconds, in the page's order) and says whether to
    /// fetch the next page: not when this one reached below `below` in an order that held.
    pub fn next(&mut self, job: &Job<'_>, stamps: impl Iterator<Item = i64>, below: Option<i64>) -> Flow {
        let mut reached = false;
        for at in stamps {
            if self.ordered && self.previous.is_some_and(|p| at > p) {
                self.ordered = false;
                crate::warn!(
                    "{}: Intercom returned {} out of order; reading them all",
                    job.name(),
                    self.what
                );
            }
            self.previous = Some(at);
            reached |= below.is_some_and(|b| at < b);
        }
        if self.ordered && reached {
            Flow::Stop
        } else {
            Flow::Next
        }
    }
}

/// A page handed to the caller.
pub struct Page {
    pub items: Vec<Value>,
    /// When the answer arrived, and the request that brought it.
    pub origin: Origin,
    /// 1 for the first page of the walk.
    pub number: u64,
}

/// What the caller of [`walk`] does with the pages.
pub trait Pages {
    /// Decides, before the next page is fetched, whether it is wanted: called with the answer
    /// just read, before [`Pages::page`] gets its items.
    fn next(&mut self, _step: &Step) -> Flow {
        Flow::Next
    }
    /// Works on a page's items.
    fn page(&mut self, page: Page) -> Result<(), Error>;
    /// Hears of an item the page held that is no record (`null`): the stream cannot write it
    /// nor tell where it belongs (see `Job::spoil`).
    fn lost(&mut self, job: &Job<'_>, err: Error) -> Result<(), Error> {
        job.spoil(err, None)
    }
    /// What comes after the walk's last page, asked when the walk knows the page is its last:
    /// a request that another walk begins with (the first page of the slice a reader reads
    /// next), fetched while [`Pages::page`] works on that last page, as the walk's own next page
    /// would be. Its answer goes to [`Pages::ahead`].
    fn after(&mut self) -> Option<Request> {
        None
    }
    /// The answer to the request [`Pages::after`] gave, or why there is none, for the walk it
    /// begins (see [`First::Got`]).
    fn ahead(&mut self, _first: First) {}
}

/// How a walk begins.
pub enum First {
    /// Ask for the first page.
    Fetch,
    /// The first page, already fetched with this request (the scroll opens on its own, a slice's
    /// reader fetches the next slice's first page ahead), or why it could not be: the walk
    /// fails with that error, as it would have had it sent the request itself.
    Got(Box<(Result<Value, Error>, Request)>),
}

impl First {
    pub fn got(answer: Result<Value, Error>, request: Request) -> First {
        First::Got(Box::new((answer, request)))
    }
}

/// Walks the pages of `style` from the first to the end (or until the caller stops).
pub fn walk(job: &Job<'_>, style: &dyn Style, first: First, pages: &mut dyn Pages) -> Result<(), Error> {
    let (mut answer, mut request) = match first {
        First::Fetch => {
            let request = style.request(None);
            (job.send(&request)?, request)
        }
        First::Got(got) => {
            let (answer, request) = *got;
            (answer?, request)
        }
    };
    let mut seen = HashSet::new();
    let mut circles = Circles::default();
    let mut number = 0;
    loop {
        job.check_abort()?;
        let origin = Origin::now(request.describe());
        number += 1;
        let mut step = style.read(answer, &request)?;
        if let Some(next) = &step.next {
            if !style.repeats() && !seen.insert(next.clone()) {
                return Err(unreadable(
                    &request,
                    format!("the next page is {next}, a page already read; stopping instead of looping"),
                ));
            }
        }
        if let Some(why) = circles.look(&step) {
            return Err(Error::Circles {
                stream: job.name(),
                request: request.describe(),
                problem: why,
            });
        }
        step.items = objects_only(job, step.items, &origin, pages)?;
        let flow = pages.next(&step);
        let next = step
            .next
            .as_deref()
            .filter(|_| flow == Flow::Next)
            .map(|at| style.request(Some(at)));
        // The last page: what comes after it is fetched while it is worked on.
        let after = if next.is_none() { pages.after() } else { None };
        let page = Page {
            items: step.items,
            origin,
            number,
        };
        let fetched = thread::scope(|scope| {
            let prefetch = next
                .as_ref()
                .or(after.as_ref())
                .map(|r| scope.spawn(move || job.send_raw(r).map_err(Error::from)));
            let handled = pages.page(page);
            // A prefetch that panicked is a bug, reported as such.
            let fetched = prefetch.map(|p| p.join().unwrap_or(Err(Error::Internal { stream: job.name() })));
            handled.map(|()| fetched)
        })?;
        match (fetched, next, after) {
            (Some(answer_next), Some(request_next), _) => {
                answer = answer_next?.parse(&request_next)?;
                request = request_next;
            }
            (Some(answer_after), None, Some(request_after)) => {
                let answer = answer_after.and_then(|body| body.parse(&request_after).map_err(Error::from));
                pages.ahead(First::got(answer, request_after));
                return Ok(());
            }
            _ => return Ok(()),
        }
    }
}

/// The items of a page that are objects. Another value (`null` above all) is no record: the
/// stream names it (`item 2 of the page is null`) and goes on without it (see `Job::spoil`).
fn objects_only(job: &Job<'_>, items: Vec<Value>, origin: &Origin, pages: &mut dyn Pages) -> Result<Vec<Value>, Error> {
    if items.iter().all(Value::is_object) {
        return Ok(items);
    }
    let mut kept = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if item.is_object() {
            kept.push(item);
            continue;
        }
        let what = match &item {
            Value::Null => "null".to_owned(),
            other => format!("{}, not an object", kind_of(other)),
        };
        let err = Error::BadResponse {
            stream: job.name(),
            request: origin.request.clone(),
            problem: format!("item {} of the page is {what}", i + 1),
        };
        pages.lost(job, err)?;
    }
    Ok(kept)
}

/// What a walk has read, to see it going in circles: a page of records it has all read
/// before (a scroll answering the same page again, a server ignoring the cursor), many more
/// records than `total_count` promised, or more records read twice than once. A record is
/// known by its `id` and `updated_at` (by its whole text when it has no id), so that a record
/// changed while the walk ran and met again in its new version is no repeat. Each record costs
/// eight bytes.
#[derive(Default)]
struct Circles {
    seen: HashSet<u64>,
    read: u64,
    repeats: u64,
    promised: Option<u64>,
    largest_page: u64,
}

impl Circles {
    fn look(&mut self, step: &Step) -> Option<String> {
        if step.items.is_empty() {
            return None;
        }
        let size = u64::try_from(step.items.len()).unwrap_or(u64::MAX);
        let mut fresh = 0u64;
        for item in &step.items {
            if self.seen.insert(fingerprint(item)) {
                fresh += 1;
            }
        }
        self.read += size;
        self.repeats += size - fresh;
        self.largest_page = self.largest_page.max(size);
        if let Some(total) = step.total_count {
            self.promised = Some(self.promised.map_or(total, |p| p.max(total)));
        }
        if fresh == 0 {
            return Some(format!(
                "the page holds only records this walk has read already ({size} of them): it is going in circles; stopped"
            ));
        }
        if let Some(promised) = self.promised {
            if self.read > 2 * promised + 2 * self.largest_page {
                return Some(format!(
                    "{} records read where total_count promised {promised}: the walk is going in circles; stopped",
                    self.read
                ));
            }
        }
        if self.repeats > self.read - self.repeats && self.read > 10 * self.largest_page {
            return Some(format!(
                "{} of {} records read were repeats: the walk is going in circles; stopped",
                self.repeats, self.read
            ));
        }
        None
    }
}

/// A record's identity for [`Circles`]: its id and `updated_at`, or its whole text.
fn fingerprint(item: &Value) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    match item.get("id").filter(|id| !id.is_null()) {
        Some(id) => {
            id.to_string().hash(&mut hasher);
            item.get("updated_at").map(Value::to_string).hash(&mut hasher);
        }
        None => item.to_string().hash(&mut hasher),
    }
    hasher.finish()
}

/// Takes the array of items under `key` out of an answer: `null` is no items (unless the
/// answer's `total_count` promises some: then the page cannot be read), anything else but an
/// array is an error.
pub fn take_items(request: &Request, answer: &mut Value, key: &str) -> Result<Vec<Value>, Error> {
    let promised = answer.get("total_count").and_then(Value::as_u64).unwrap_or(0);
    match answer.get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) if promised == 0 => Ok(Vec::new()),
        Some(Value::Null) => Err(unreadable(
            request,
            format!("the answer's {key:?} is null where total_count promises {promised} records"),
        )),
        Some(other) => Err(unreadable(
            request,
            format!("the answer has no {key:?} array ({key:?} is {})", kind_of(&other)),
        )),
        None => Err(unreadable(request, format!("the answer has no {key:?} array"))),
    }
}

/// An answer to `request` that is not what the endpoint promises.
pub fn unreadable(request: &Request, problem: impl Into<String>) -> Error {
    Error::BadResponse {
        stream: request.stream,
        request: request.describe(),
        problem: problem.into(),
    }
}

#[cfg(test)]
pub mod testing {
    //! A run over canned answers, for the tests of the styles and the runners.

    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    use crate::config::Settings;
    use crate::http::Client;
    use crate::http::canned::{Asked, Canned};
    use crate::job::{Plan, Run};
    use crate::singer::{Output, State};
    use crate::streams;

    /// Settings for a canned run: quick retries, no index lag unless a test sets one.
    pub fn settings(extra: Value) -> Settings {
        let mut raw = json!({"access_token": "canned-token-123", "retry_initial_delay": 0, "search_index_lag": 0});
        for (k, v) in extra.as_object().into_iter().flatten() {
            raw[k] = v.clone();
        }
        crate::config::settings_from_json(raw).expect("valid test settings")
    }

    /// The bytes a run wrote to stdout.
    #[derive(Clone, Default)]
    pub struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        pub fn messages(&self) -> Vec<Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }

        pub fn records(&self, stream: &str) -> Vec<Value> {
            self.messages()
                .into_iter()
                .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
                .map(|m| m["record"].clone())
                .collect()
        }

        /// Every bookmark value the run saved for `stream`, in order.
        pub fn bookmarks(&self, stream: &str, key: &str) -> Vec<String> {
            self.messages()
                .into_iter()
                .filter(|m| m["type"] == "STATE")
                .filter_map(|m| m["value"]["bookmarks"][stream][key].as_str().map(str::to_owned))
                .collect()
        }

        pub fn last_state(&self) -> Value {
            self.messages()
                .into_iter()
                .rev()
                .find(|m| m["type"] == "STATE")
                .map_or(Value::Null, |m| m["value"].clone())
        }
    }

    /// A run whose requests get canned answers.
    pub fn canned_run(canned: &Canned, settings: Settings, started_at: DateTime<Utc>) -> (Run, Captured) {
        let captured = Captured::default();
        let client = Client::with_transport(&settings, Box::new(canned.clone())).unwrap();
        let output = Output::new(Box::new(captured.clone()), State::default());
        (Run::new(client, output, settings, started_at), captured)
    }

    /// A plan for a stream of the table with its whole schema, incremental from `start` when
    /// the stream is.
    pub fn plan(name: &str, start: Option<DateTime<Utc>>) -> Plan {
        let stream = streams::find(name).unwrap();
        let key = stream.key.iter().map(|k| (*k).to_owned()).collect();
        let mut plan = Plan::new(stream, true, stream.schema(), key);
        plan.incremental = stream.replication.key();
        plan.start = start;
        plan
    }

    pub fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// The requests made to `path`.
    pub fn to<'a>(asked: &'a [Asked], path: &str) -> Vec<&'a Asked> {
        asked.iter().filter(|a| a.path() == path).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testing::{at, canned_run, plan, settings};
    use super::*;
    use crate::http::canned::Canned;
    use crate::job::Job;

    struct Numbers;

    impl Style for Numbers {
        fn request(&self, at: Option<&str>) -> Request {
            Request::get("tags", format!("/n?from={}", at.unwrap_or("0")))
        }
        fn read(&self, mut answer: Value, request: &Request) -> Result<Step, Error> {
            Ok(Step {
                items: take_items(request, &mut answer, "items")?,
                next: answer["next"].as_str().map(str::to_owned),
                ..Step::default()
            })
        }
    }

    struct Collect(Vec<Value>, Option<usize>);

    impl Pages for Collect {
        fn next(&mut self, _: &Step) -> Flow {
            if self.1.is_some_and(|n| self.0.len() + 1 >= n) {
                Flow::Stop
            } else {
                Flow::Next
            }
        }
        fn page(&mut self, page: Page) -> Result<(), Error> {
            self.0.extend(page.items);
            Ok(())
        }
    }

    fn counting(pages: u64, back_to: Option<u64>) -> Canned {
        Canned::new(move |asked| {
            let from: u64 = asked.query("from").unwrap().parse().unwrap();
            let next = if from + 1 < pages {
                json!((from + 1).to_string())
            } else {
                back_to.map_or(Value::Null, |b| json!(b.to_string()))
            };
            (200, json!({"items": [{"id": from}], "next": next}))
        })
    }

    #[test]
    fn a_walk_reads_every_page_once_and_in_order() {
        let canned = counting(5, None);
        let (run, _) = canned_run(&canned, settings(json!({})), at(1_000));
        let plan = plan("tags", None);
        let job = Job::new(&plan, &run);
        let mut got = Collect(Vec::new(), None);
        walk(&job, &Numbers, First::Fetch, &mut got).unwrap();
        let ids: Vec<Value> = got.0.iter().map(|i| i["id"].clone()).collect();
        assert_eq!(ids, vec![json!(0), json!(1), json!(2), json!(3), json!(4)]);
        assert_eq!(canned.asked().len(), 5);
    }

    #[test]
    fn a_walk_refuses_to_loop() {
        let canned = counting(3, Some(1));
        let (run, _) = canned_run(&canned, settings(json!({})), at(1_000));
        let plan = plan("tags", None);
        let job = Job::new(&plan, &run);
        let err = walk(&job, &Numbers, First::Fetch, &mut Collect(Vec::new(), None)).unwrap_err();
        assert!(err.to_string().contains("a page already read"), "{err}");
    }

    fn step(ids: &[u64], total_count: Option<u64>) -> Step {
        Step {
            items: ids.iter().map(|id| json!({"id": id, "updated_at": 5})).collect(),
            total_count,
            ..Step::default()
        }
    }

    #[test]
    fn a_page_of_records_already_read_is_a_circle() {
        let mut circles = Circles::default();
        assert!(circles.look(&step(&[1, 2, 3], None)).is_none());
        assert!(circles.look(&step(&[3, 4], None)).is_none(), "an overlap is no circle");
        let why = circles.look(&step(&[1, 2], None)).unwrap();
        assert!(why.contains("only records this walk has read"), "{why}");
        // A record met again in a newer version is no repeat.
        let mut circles = Circles::default();
        circles.look(&step(&[1], None));
        let newer = Step {
            items: vec![json!({"id": 1, "updated_at": 6})],
            ..Step::default()
        };
        assert!(circles.look(&newer).is_none());
        // An empty page (the scroll's last) says nothing.
        assert!(circles.look(&step(&[], None)).is_none());
    }

    #[test]
    fn far_more_records_than_promised_or_than_distinct_is_a_circle() {
        let mut circles = Circles::default();
        let mut why = None;
        for page in 0..10 {
            why = circles.look(&step(&[page * 2, page * 2 + 1], Some(4)));
            if why.is_some() {
                assert!(page >= 4, "not before twice the promise and two pages: page {page}");
                break;
            }
        }
        assert!(why.unwrap().contains("total_count promised 4"));
        // Pages that each bring one new record and a repeat, with no total_count.
        let mut circles = Circles::default();
        let mut stopped = None;
        for page in 0..100u64 {
            if let Some(why) = circles.look(&step(&[1000 + page, 0, 1, 2], None)) {
                stopped = Some((page, why));
                break;
            }
        }
        let (page, why) = stopped.expect("stopped");
        assert!(page < 20 && why.contains("were repeats"), "{page}: {why}");
    }

    #[test]
    fn a_page_not_wanted_is_not_fetched() {
        let canned = counting(10, None);
        let (run, _) = canned_run(&canned, settings(json!({})), at(1_000));
        let plan = plan("tags", None);
        let job = Job::new(&plan, &run);
        let mut got = Collect(Vec::new(), Some(3));
        walk(&job, &Numbers, First::Fetch, &mut got).unwrap();
        assert_eq!(got.0.len(), 3);
        assert_eq!(canned.asked().len(), 3, "no page fetched beyond the last wanted");
    }
}
