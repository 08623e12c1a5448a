//! A fake Intercom REST API (versions 2.14, 2.15 and 2.16) on loopback, for tap-intercom's tests and demo.
//!
//! It serves a generated [`World`] with Intercom's shapes and pagination, checks the bearer
//! token (401 with Intercom's error envelope), sends `X-RateLimit-*` headers and enforces the
//! limit with 429s, and can be told to misbehave on any endpoint: error statuses, 429 bursts,
//! bodies cut short or not JSON, dropped connections, slow answers ([`Fault`]). Tests can read
//! every request it received and change the workspace while a sync runs ([`FakeIntercom::on_request`]).
//! Faults also send what real Intercom and its descriptions allow but a tap may not expect: a
//! scroll stuck on one page, a null cursor, a time filter ignored, a null among the items, and
//! one value changed anywhere ([`mutate`]).
//!
//! It also serves data the tap does not read yet, in the shapes and paging of Intercom's
//! descriptions ([`api::more`]): a contact's segments and data events, calls and their
//! transcripts, news, article statistics, away status reasons, internal articles, and, from the
//! versions that have them, brands, sender emails, handling events, macros, office hours and
//! content snippets.
//!
//! Control endpoints, for checks that run the fake as its own process (with the bearer token):
//!
//! - `POST /_fake/evolve?every=N` moves the workspace on as between two syncs ([`World::evolve`])
//!   and answers with the ids it changed and added.
//! - `GET /_fake/summary` gives the records per stream a full sync reads ([`World::summary`]).
//! - `POST /_fake/fault?path=P&kind=K[&status=N][&method=GET|POST][&times=N][&skip=N]` adds a
//!   [`Fault`] as [`FakeIntercom::add_fault`] does. `kind` is `status` (with `status`),
//!   `null_item`, `null_cursor`, `ignore_filter`, `repeat_page`, `not_json`, `truncated` or
//!   `dropped`; `times` is 1 and `skip` 0 unless given. It answers `{"ok": true, "fault": "…"}`
//!   naming the fault, or 400 with Intercom's error envelope for a bad query.
//! - `DELETE /_fake/fault` removes every fault, so that a check can see the tap recover.
//! - `POST /_fake/exports?large=N&one_csv=1&gzip=1&qualified=1&polls=N&per_day=N&fail=D&refuse=N&expire=N`
//!   changes how the asynchronous exports behave ([`exports`]): a large message data export
//!   of N receipts a window, the message data as one gzipped CSV, reporting data gzipped or
//!   headed by qualified ids, polls before a job completes, rows a day, a job of dataset D
//!   (`content` for the message data) that fails, enqueues refused at the pending limit,
//!   downloads expired.

#![recursion_limit = "512"]

pub mod api;
mod base64;
mod control;
pub mod counts;
pub mod exports;
pub mod mutate;
mod reply;
pub mod search;
pub mod server;
pub mod versions;
pub mod world;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use server::{Delivery, Request, Response};
pub use world::{Rng, Size, World};

/// The token the fake accepts unless told otherwise.
pub const TOKEN: &str = "fake-token-0123456789";

#[derive(Debug, Clone)]
pub struct Options {
    pub token: String,
    /// Requests allowed per window; `None` for no limit and no headers.
    pub rate_limit: Option<RateLimit>,
    /// Added to every answer, like the network between a tap and Intercom.
    pub latency: Duration,
    /// Each answer's latency varies by up to this much either way (uniformly), as real answers
    /// do; zero for a fixed latency.
    pub jitter: Duration,
    /// A companies scroll unused this long expires (Intercom: one minute).
    pub scroll_expiry: Duration,
    /// The workspace's time zone, for contact search's calendar days.
    pub workspace_utc_offset_secs: i64,
    /// Parts of a ticket the search shows (Intercom: up to 500, as `GET /tickets/{id}`).
    pub ticket_search_parts_cap: usize,
    /// Whether a conversation's `total_count` counts only the parts returned, not all of them:
    /// its meaning is undocumented, and the tap must not rely on it to see the 500-part cap.
    pub parts_total_counts_returned: bool,
    /// The workspace's id, `app.id_code` of `GET /me`: two fakes with the same seed and their
    /// own ids are two workspaces whose records share ids.
    pub app_id: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            token: TOKEN.into(),
            rate_limit: Some(RateLimit::default()),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            scroll_expiry: Duration::from_secs(60),
            workspace_utc_offset_secs: -5 * 3600,
            ticket_search_parts_cap: 500,
            parts_total_counts_returned: false,
            app_id: "fakeapp1".into(),
        }
    }
}

/// How the fake answers: each answer's latency, give or take the jitter, under the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub latency: Duration,
    pub jitter: Duration,
    pub rate_limit: Option<RateLimit>,
}

/// Intercom's rate limit: `limit` requests in each window of `window_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub window_secs: u64,
}

impl Default for RateLimit {
    /// A private app's 10,000 a minute, enforced over 10-second windows.
    fn default() -> RateLimit {
        RateLimit {
            limit: 1_666,
            window_secs: 10,
        }
    }
}

/// A misbehaviour on requests to `path` (every path under it when it ends with `/`), and of
/// `method` if set: the first `skip` such requests pass, the next `times` get `kind`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<&'static str>,
    pub path: String,
    pub skip: usize,
    pub times: usize,
    pub kind: FaultKind,
    seen: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An error status with Intercom's envelope (code `server_error` for 5xx).
    Status(u16),
    /// A 429 with rate-limit headers, as if another app used the window up.
    RateLimited,
    /// The real answer, cut in half after headers that announce all of it.
    Truncated,
    /// A 200 whose body is an HTML error page.
    NotJson,
    /// The connection closes without an answer.
    Dropped,
    /// The real answer, this late.
    Slow(Duration),
    /// This status with this body, as a broken proxy or an odd Intercom answer would send it
    /// (a 200 whose body is an `error.list`, an HTML page, an empty body).
    Body(u16, &'static str),
    /// The real answer, saying that no request is left until a reset an hour away: a window
    /// that Intercom's 10-second windows never have.
    FarReset,
    /// The real answer with its JSON changed in one place, chosen by this seed (the fuzz tests'
    /// corrupted answers): a value of another type, a key removed, or what real answers and the
    /// descriptions allow: a null item, an undeclared property, an avatar as its bare URL, a
    /// timestamp in another form, a null cursor ([`mutate::one_change`]).
    Mutated(u64),
    /// `GET /companies/scroll` with a `scroll_param` answers the page it answered last, with the
    /// same companies and the same `scroll_param`, and the scroll does not move on: a scroll
    /// stuck on one page (Intercom may send the same `scroll_param` on every page, so only the
    /// repeated companies tell). The request that opens a scroll counts but is answered as usual;
    /// with many `times`, the scroll never ends by itself.
    RepeatPage,
    /// On the search endpoints, the last page's `pages.next` is `{"page": n + 1,
    /// "starting_after": null}` instead of absent: the descriptions type the cursor as nullable,
    /// and a null one means there is no next page. Pages with a next page are unchanged.
    NullCursor,
    /// On the search endpoints, conditions on `updated_at` and `created_at` are ignored however
    /// they are nested, the others (`role = user`) apply, and sort, paging, `total_count` and
    /// cursors work over the larger result: a server that ignores the time filter and answers
    /// with records outside the range asked for.
    IgnoreFilter,
    /// The answer's items (the first array of `data`, `conversations`, `tickets`, `admins`,
    /// `teams`, `segments`, `activity_logs`, `companies`, `events`, `handling_events`) get a
    /// `null` at index 1, or at the end when there are none: an item that is null, which no
    /// description forbids, and which a tap must neither fail on nor take for a record.
    NullItem,
}

impl Fault {
    pub fn new(path: &str, kind: FaultKind) -> Fault {
        Fault {
            method: None,
            path: path.into(),
            skip: 0,
            times: 1,
            kind,
            seen: 0,
        }
    }

    #[must_use]
    pub fn method(mut self, method: &'static str) -> Fault {
        self.method = Some(method);
        self
    }

    #[must_use]
    pub fn skip(mut self, n: usize) -> Fault {
        self.skip = n;
        self
    }

    #[must_use]
    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }

    fn matches(&self, req: &Request) -> bool {
        path_matches(&self.path, req.path()) && self.method.is_none_or(|m| m == req.method)
    }
}

impl std::fmt::Display for Fault {
    /// What the fault does, where and when: `Status(503) on POST /contacts/search after 2, 1
    /// time(s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} on {} {} after {}, {} time(s)",
            self.kind,
            self.method.unwrap_or("any method"),
            self.path,
            self.skip,
            self.times
        )
    }
}

/// One request the fake received, and its status.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub status: u16,
}

impl Logged {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

type Mutation = Box<dyn FnMut(&mut World) + Send>;

/// A change to the workspace made when the `nth` request (from 1) matching `path` arrives,
/// before it is answered.
struct Hook {
    method: Option<&'static str>,
    path: String,
    nth: usize,
    seen: usize,
    action: Option<Mutation>,
}

struct Shared {
    options: Options,
    world: RwLock<World>,
    faults: Mutex<Vec<Fault>>,
    hooks: Mutex<Vec<Hook>>,
    log: Mutex<Vec<Logged>>,
    /// The rate-limit windows that saw requests, oldest first, the current one last: each
    /// window's number (its start over its length) and the requests counted in it.
    windows: Mutex<Vec<(u64, u64)>>,
    scroll: Mutex<api::Scroll>,
    /// Bumped whenever the workspace may change, so that cached search orders are dropped.
    version: AtomicU64,
    searches: Mutex<api::SearchCache>,
    /// Draws for the latency's jitter.
    jitter: Mutex<Rng>,
    /// How answers come now: the options' latency, jitter and rate limit at start, changed by
    /// `POST /_fake/pace` (a benchmark prepares a workspace fast, then times a sync slow).
    pace: Mutex<Pace>,
    /// The changes `FaultKind::Mutated` made: the request (`GET /path?query`) and where.
    mutations: Mutex<Vec<(String, String)>>,
    /// The asynchronous exports' jobs and how they behave.
    exports: Mutex<exports::Exports>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

pub struct FakeIntercom {
    server: server::Server,
    shared: Arc<Shared>,
}

impl FakeIntercom {
    /// Serves `world` on a free port of 127.0.0.1.
    pub fn start(world: World, options: Options) -> std::io::Result<FakeIntercom> {
        FakeIntercom::start_on("127.0.0.1:0", world, options)
    }

    /// Serves `world` on `addr`. Generated data events are first moved to the fake's clock
    /// ([`World::bring_events_to`]), so that `GET /events`, which lists the last 90 days, has
    /// some to list.
    pub fn start_on(addr: &str, mut world: World, options: Options) -> std::io::Result<FakeIntercom> {
        world.bring_events_to(now_secs_i64());
        let pace = Pace {
            latency: options.latency,
            jitter: options.jitter,
            rate_limit: options.rate_limit,
        };
        let shared = Arc::new(Shared {
            options,
            world: RwLock::new(world),
            faults: Mutex::new(Vec::new()),
            hooks: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            mutations: Mutex::new(Vec::new()),
            exports: Mutex::new(exports::Exports::default()),
            windows: Mutex::new(Vec::new()),
            scroll: Mutex::new(api::Scroll::default()),
            version: AtomicU64::new(0),
            searches: Mutex::new(api::SearchCache::default()),
            jitter: Mutex::new(Rng::new(0x6a17_7e55)),
            pace: Mutex::new(pace),
        });
        let handler_state = Arc::clone(&shared);
        let server = server::Server::start(addr, Arc::new(move |req| handle(&handler_state, req)))?;
        Ok(FakeIntercom { server, shared })
    }

    /// The base URL to give the tap, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The workspace, to read expectations from or to change.
    pub fn world(&self) -> RwLockWriteGuard<'_, World> {
        let world = write(&self.shared.world);
        self.shared.version.fetch_add(1, Ordering::SeqCst);
        world
    }

    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Removes every fault: the fake behaves again.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Changes the workspace when the `nth` request (from 1) to `path` (or under it, when it
    /// ends with `/`) arrives, before answering it: for records edited while a sync runs.
    pub fn on_request(
        &self,
        method: Option<&'static str>,
        path: &str,
        nth: usize,
        action: impl FnMut(&mut World) + Send + 'static,
    ) {
        lock(&self.shared.hooks).push(Hook {
            method,
            path: path.into(),
            nth,
            seen: 0,
            action: Some(Box::new(action)),
        });
    }

    /// Opens a companies scroll as another client of the app would, blocking the tap's until
    /// it expires (`Options::scroll_expiry`).
    pub fn open_foreign_scroll(&self) {
        lock(&self.shared.scroll).open_foreign();
    }

    /// The changes `FaultKind::Mutated` made so far: each request, and the JSON pointer changed
    /// with the kind of change after it (`/data/3/updated_at (milliseconds)`).
    pub fn mutations(&self) -> Vec<(String, String)> {
        lock(&self.shared.mutations).clone()
    }

    /// The exports' jobs and settings, to change how they behave ([`exports::Settings`]).
    pub fn exports(&self) -> MutexGuard<'_, exports::Exports> {
        lock(&self.shared.exports)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Logged> {
        lock(&self.shared.log).clone()
    }

    pub fn stop(&mut self) {
        self.server.stop();
    }
}

/// `pattern` is a path, or ends with `/` for every path under it.
fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern.ends_with('/') {
        path.starts_with(pattern)
    } else {
        path == pattern
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn now_secs_i64() -> i64 {
    i64::try_from(now_secs()).unwrap_or(i64::MAX)
}

/// The latency of one answer: the fixed latency, moved by up to the jitter either way.
fn latency(shared: &Shared) -> Duration {
    let Pace { latency, jitter, .. } = *lock(&shared.pace);
    let spread = u64::try_from(jitter.as_micros()).unwrap_or(u64::MAX);
    if spread == 0 {
        return latency;
    }
    let draw = lock(&shared.jitter).below(2 * spread + 1);
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros((micros + draw).saturating_sub(spread))
}

fn handle(shared: &Shared, req: &Request) -> Response {
    let mut response = answer(shared, req);
    if response.delay.is_zero() {
        response.delay = latency(shared);
    }
    lock(&shared.log).push(Logged {
        method: req.method.clone(),
        target: req.target.clone(),
        headers: req.headers.clone(),
        body: serde_json::from_slice(&req.body).ok(),
        status: response.status,
    });
    response
}

/// The fake's own control endpoints (`/_fake/...`), for checks that run it as its own process;
/// `None` for every other request.
fn control(shared: &Shared, req: &Request) -> Option<Response> {
    match (req.method.as_str(), req.path()) {
        ("POST", "/_fake/evolve") => {
            // Move the workspace on between two syncs.
            let every = req.query("every").and_then(|n| n.parse().ok()).unwrap_or(10);
            let mut world = write(&shared.world);
            // Bumped under the lock: no search can cache the old workspace under the new version.
            shared.version.fetch_add(1, Ordering::SeqCst);
            Some(api::ok(world.evolve(now_secs_i64(), every)))
        }
        ("GET", "/_fake/summary") => Some(api::ok(read(&shared.world).summary())),
        // Answers from now on take `latency_ms`, give or take `jitter_ms` (a third of it), under
        // a limit of `rate_limit` requests per 10-second window (none if 0).
        ("POST", "/_fake/pace") => Some(match control::pace(req) {
            Ok(pace) => {
                *lock(&shared.pace) = pace;
                api::ok(serde_json::json!({"ok": true, "pace": format!("{pace:?}")}))
            }
            Err(problem) => api::error(400, "parameter_invalid", &problem),
        }),
        // The requests counted in each rate-limit window, for the benchmark.
        ("GET", "/_fake/windows") => {
            let length = lock(&shared.pace).rate_limit.map_or(0, |l| l.window_secs);
            let windows: Vec<Value> = lock(&shared.windows)
                .iter()
                .map(|(n, count)| serde_json::json!({"start": n * length, "requests": count}))
                .collect();
            Some(api::ok(serde_json::json!({"window_secs": length, "windows": windows})))
        }
        // How the exports behave from now on (see `exports::Settings::from_query`).
        ("POST", "/_fake/exports") => Some(match lock(&shared.exports).settings.from_query(req) {
            Ok(()) => api::ok(serde_json::json!({"ok": true})),
            Err(problem) => api::error(400, "parameter_invalid", &problem),
        }),
        ("DELETE", "/_fake/fault") => {
            let removed = std::mem::take(&mut *lock(&shared.faults)).len();
            Some(api::ok(serde_json::json!({"ok": true, "removed": removed})))
        }
        // What `add_fault` does in a test.
        ("POST", "/_fake/fault") => Some(match control::fault(req) {
            Ok(fault) => {
                let said = fault.to_string();
                lock(&shared.faults).push(fault);
                api::ok(serde_json::json!({"ok": true, "fault": said}))
            }
            Err(problem) => api::error(400, "parameter_invalid", &problem),
        }),
        _ => None,
    }
}

fn answer(shared: &Shared, req: &Request) -> Response {
    let expected = format!("Bearer {}", shared.options.token);
    if req.header("authorization") != Some(expected.as_str()) {
        // No rate-limit headers on unauthenticated answers, as with Intercom.
        return api::error(401, "unauthorized", "Access Token Invalid");
    }
    if let Some(answer) = control(shared, req) {
        return answer;
    }
    let fault = {
        let mut faults = lock(&shared.faults);
        faults.iter_mut().find_map(|f| {
            if !f.matches(req) {
                return None;
            }
            f.seen += 1;
            (f.seen > f.skip && f.seen <= f.skip + f.times).then_some(f.kind)
        })
    };
    let rate = rate_headers(shared, fault == Some(FaultKind::RateLimited));
    if let Some((_, over)) = &rate {
        if *over {
            let mut r = api::error(429, "rate_limit_exceeded", "Exceeded rate limit");
            r.headers = rate.map(|(h, _)| h).unwrap_or_default();
            return r;
        }
    }
    if matches!(fault, Some(FaultKind::Status(500..) | FaultKind::Dropped)) && req.path() == "/companies/scroll" {
        lock(&shared.scroll).close();
    }
    let mut response = match fault {
        Some(FaultKind::Status(status)) => {
            let code = if status >= 500 { "server_error" } else { "client_error" };
            api::error(status, code, "Injected failure")
        }
        Some(FaultKind::NotJson) => Response {
            status: 200,
            headers: Vec::new(),
            body: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            delivery: Delivery::Whole,
            delay: Duration::ZERO,
        },
        Some(FaultKind::Body(status, body)) => Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            delivery: Delivery::Whole,
            delay: Duration::ZERO,
        },
        Some(FaultKind::Dropped) => Response {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
            delivery: Delivery::Dropped,
            delay: Duration::ZERO,
        },
        _ => from_the_world(shared, req, fault),
    };
    match fault {
        Some(FaultKind::Truncated) => response.delivery = Delivery::Truncated,
        Some(FaultKind::Slow(d)) => response.delay = d,
        Some(FaultKind::Mutated(seed)) => rewrite(&mut response, |body| {
            let at = mutate::one_change(body, seed);
            lock(&shared.mutations).push((format!("{} {}", req.method, req.target), at));
        }),
        Some(FaultKind::NullCursor) => rewrite(&mut response, null_cursor),
        Some(FaultKind::NullItem) => rewrite(&mut response, null_item),
        _ => {}
    }
    if let Some((mut headers, _)) = rate {
        if fault == Some(FaultKind::FarReset) {
            for (name, value) in &mut headers {
                match name.as_str() {
                    "X-RateLimit-Remaining" => *value = "0".into(),
                    "X-RateLimit-Reset" => *value = (now_secs() + 3_600).to_string(),
                    _ => {}
                }
            }
        }
        response.headers.extend(headers);
    }
    response
}

/// Changes the JSON of an answer after it is made; a body that is not JSON stays as it is.
fn rewrite(response: &mut Response, change: impl FnOnce(&mut Value)) {
    if let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) {
        change(&mut body);
        response.body = serde_json::to_vec(&body).unwrap_or_default();
    }
}

/// `FaultKind::NullCursor`: a page whose `pages` object has no `next` (a search's last) gets
/// one whose cursor is null. Page-number lists always have a `next`, and the counts' `pages`
/// is not a `pages` object (its links are one level down).
fn null_cursor(body: &mut Value) {
    let Some(pages) = body.get_mut("pages").and_then(Value::as_object_mut) else {
        return;
    };
    if pages.get("type").is_some_and(|t| t == "pages") && !pages.contains_key("next") {
        let page = pages.get("page").and_then(Value::as_u64).unwrap_or(1);
        pages.insert(
            "next".into(),
            serde_json::json!({"page": page + 1, "starting_after": null}),
        );
    }
}

/// The top-level keys that hold an answer's items, in the order `FaultKind::NullItem` looks.
const ITEM_KEYS: [&str; 10] = [
    "data",
    "conversations",
    "tickets",
    "admins",
    "teams",
    "segments",
    "activity_logs",
    "companies",
    "events",
    "handling_events",
];

/// `FaultKind::NullItem`: a `null` at index 1 of the answer's items, or at the end of fewer.
fn null_item(body: &mut Value) {
    let Some(map) = body.as_object_mut() else {
        return;
    };
    let key = ITEM_KEYS.iter().find(|k| map.get(**k).is_some_and(Value::is_array));
    if let Some(items) = key.and_then(|k| map.get_mut(*k)).and_then(Value::as_array_mut) {
        items.insert(items.len().min(1), Value::Null);
    }
}

/// The answer the workspace gives, in the version the request asks for.
fn from_the_world(shared: &Shared, req: &Request, fault: Option<FaultKind>) -> Response {
    let api_version = match versions::of(req) {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if let Some(answer) = exports::route(&mut lock(&shared.exports), req, api_version) {
        return answer;
    }
    run_hooks(shared, req);
    let world = read(&shared.world);
    let ctx = api::Ctx {
        options: &shared.options,
        scroll: &shared.scroll,
        now: now_secs_i64(),
        version: shared.version.load(Ordering::SeqCst),
        searches: &shared.searches,
        fault,
    };
    let mut answer = versions::route(api_version, req, &world).unwrap_or_else(|| api::route(req, &world, &ctx));
    versions::adapt(api_version, req, &world, &mut answer);
    answer
}

fn run_hooks(shared: &Shared, req: &Request) {
    let mut due: Vec<Mutation> = Vec::new();
    for hook in lock(&shared.hooks).iter_mut() {
        if path_matches(&hook.path, req.path()) && hook.method.is_none_or(|m| m == req.method) {
            hook.seen += 1;
            if hook.seen == hook.nth {
                due.extend(hook.action.take());
            }
        }
    }
    for mut action in due {
        let mut world = write(&shared.world);
        shared.version.fetch_add(1, Ordering::SeqCst);
        action(&mut world);
    }
}

/// Counts the request in its window; returns the headers and whether the limit is exceeded.
fn rate_headers(shared: &Shared, force_limited: bool) -> Option<(Vec<(String, String)>, bool)> {
    let limit = lock(&shared.pace).rate_limit?;
    let now = now_secs();
    let window = now / limit.window_secs;
    let mut windows = lock(&shared.windows);
    if windows.last().is_none_or(|w| w.0 != window) {
        windows.push((window, 0));
    }
    let count = windows.last_mut().map_or(0, |w| {
        w.1 += 1;
        w.1
    });
    drop(windows);
    let over = force_limited || count > limit.limit;
    let remaining = if force_limited {
        0
    } else {
        limit.limit.saturating_sub(count)
    };
    let reset = (window + 1) * limit.window_secs;
    Some((
        vec![
            ("X-RateLimit-Limit".into(), limit.limit.to_string()),
            ("X-RateLimit-Remaining".into(), remaining.to_string()),
            ("X-RateLimit-Reset".into(), reset.to_string()),
        ],
        over,
    ))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    use serde_json::json;

    use super::*;

    /// A fake without a rate limit, with enough companies for a few scroll pages.
    fn fake() -> FakeIntercom {
        let size = Size {
            companies: 120,
            ..Size::small()
        };
        let options = Options {
            rate_limit: None,
            ..Options::default()
        };
        FakeIntercom::start(World::generate(4, size), options).unwrap()
    }

    /// One request answered as the server answers it, without the network: status and JSON.
    fn call(fake: &FakeIntercom, method: &str, target: &str, body: &Value) -> (u16, Value) {
        let req = Request {
            method: method.into(),
            target: target.into(),
            headers: vec![("authorization".into(), format!("Bearer {TOKEN}"))],
            body: if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(body).unwrap()
            },
        };
        let answer = handle(&fake.shared, &req);
        (
            answer.status,
            serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
        )
    }

    /// A sync's search: updated at or after `t` (and a role, if given), oldest first.
    fn since(t: i64, role: Option<&str>, per_page: usize) -> Value {
        let range = json!({"operator": "OR", "value": [
            {"field": "updated_at", "operator": ">", "value": t},
            {"field": "updated_at", "operator": "=", "value": t}]});
        let query = match role {
            Some(role) => {
                json!({"operator": "AND", "value": [{"field": "role", "operator": "=", "value": role}, range]})
            }
            None => range,
        };
        json!({"query": query, "sort": {"field": "updated_at", "order": "ascending"},
               "pagination": {"per_page": per_page}})
    }

    /// Every page of a search: the answers, in order.
    fn pages(fake: &FakeIntercom, path: &str, mut body: Value) -> Vec<Value> {
        let mut answers = Vec::new();
        loop {
            let (status, answer) = call(fake, "POST", path, &body);
            assert_eq!(status, 200, "{answer}");
            let cursor = answer["pages"]["next"]["starting_after"].clone();
            answers.push(answer);
            if !cursor.is_string() {
                return answers;
            }
            body["pagination"]["starting_after"] = cursor;
        }
    }

    /// The items of a search's pages, under `key`.
    fn items(answers: &[Value], key: &str) -> Vec<Value> {
        answers
            .iter()
            .flat_map(|a| a[key].as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn a_repeated_scroll_page_keeps_its_companies_and_its_scroll_param() {
        let fake = fake();
        // The opening request counts, and is answered as usual.
        fake.add_fault(Fault::new("/companies/scroll", FaultKind::RepeatPage).times(3));
        let (_, first) = call(&fake, "GET", "/companies/scroll", &Value::Null);
        assert_eq!(first["data"].as_array().unwrap().len(), 50);
        let param = first["scroll_param"].as_str().unwrap().to_owned();
        let next = format!("/companies/scroll?scroll_param={param}");
        for _ in 0..2 {
            let (status, again) = call(&fake, "GET", &next, &Value::Null);
            assert_eq!(status, 200);
            assert_eq!(again["data"], first["data"]);
            assert_eq!(again["scroll_param"], first["scroll_param"]);
        }
        // The fault spent, the scroll goes on from where it was, to its end.
        let (_, second) = call(&fake, "GET", &next, &Value::Null);
        assert_ne!(second["scroll_param"], first["scroll_param"]);
        assert_eq!(second["data"][0], fake.world().companies[50]);
        let mut param = second["scroll_param"].as_str().unwrap().to_owned();
        let mut seen = 100;
        loop {
            let (_, page) = call(
                &fake,
                "GET",
                &format!("/companies/scroll?scroll_param={param}"),
                &Value::Null,
            );
            let n = page["data"].as_array().unwrap().len();
            if n == 0 {
                break;
            }
            seen += n;
            param = page["scroll_param"].as_str().unwrap().to_owned();
        }
        assert_eq!(seen, 120);
    }

    #[test]
    fn a_scroll_repeating_its_page_never_ends_by_itself() {
        let fake = fake();
        fake.add_fault(
            Fault::new("/companies/scroll", FaultKind::RepeatPage)
                .skip(2)
                .times(usize::MAX / 2),
        );
        let (_, first) = call(&fake, "GET", "/companies/scroll", &Value::Null);
        let (_, second) = call(
            &fake,
            "GET",
            &format!(
                "/companies/scroll?scroll_param={}",
                first["scroll_param"].as_str().unwrap()
            ),
            &Value::Null,
        );
        let next = format!(
            "/companies/scroll?scroll_param={}",
            second["scroll_param"].as_str().unwrap()
        );
        for _ in 0..50 {
            let (status, page) = call(&fake, "GET", &next, &Value::Null);
            assert_eq!(status, 200);
            assert_eq!(page["data"], second["data"]);
            assert_eq!(page["scroll_param"], second["scroll_param"]);
        }
    }

    #[test]
    fn a_null_cursor_ends_the_last_search_page_and_no_other() {
        let fake = fake();
        for (path, key) in [
            ("/contacts/search", "data"),
            ("/conversations/search", "conversations"),
            ("/tickets/search", "tickets"),
        ] {
            fake.add_fault(Fault::new(path, FaultKind::NullCursor).times(100));
            let answers = pages(&fake, path, since(0, None, 7));
            assert!(answers.len() > 1, "{path}");
            for answer in &answers[..answers.len() - 1] {
                assert!(answer["pages"]["next"]["starting_after"].is_string(), "{path}");
            }
            let last = &answers[answers.len() - 1]["pages"];
            assert_eq!(
                last["next"],
                json!({"page": last["page"].as_u64().unwrap() + 1, "starting_after": null})
            );
            let total = answers[0]["total_count"].as_u64().unwrap();
            assert_eq!(items(&answers, key).len() as u64, total, "{path}: nothing lost");
        }
        // Lists whose `pages` always say `next`, or hold it one level down, keep their pages.
        for target in ["/articles", "/counts?type=company&count=user"] {
            let (_, plain) = call(&fake, "GET", target, &Value::Null);
            fake.add_fault(Fault::new(target.split('?').next().unwrap(), FaultKind::NullCursor));
            assert_eq!(call(&fake, "GET", target, &Value::Null).1, plain, "{target}");
        }
    }

    #[test]
    fn an_ignored_time_filter_answers_records_below_the_range_and_keeps_the_others() {
        let fake = fake();
        let (contacts, users) = {
            let world = fake.world();
            let users = world.contacts.iter().filter(|c| c["role"] == "user").count();
            (world.contacts.clone(), users)
        };
        let mut times: Vec<i64> = contacts.iter().map(|c| c["updated_at"].as_i64().unwrap()).collect();
        times.sort_unstable();
        let mid = times[times.len() / 2];
        let honest = pages(&fake, "/contacts/search", since(mid, Some("user"), 9));
        assert!(honest[0]["total_count"].as_u64().unwrap() < users as u64);
        fake.add_fault(Fault::new("/contacts/search", FaultKind::IgnoreFilter).times(100));
        let answers = pages(&fake, "/contacts/search", since(mid, Some("user"), 9));
        let found = items(&answers, "data");
        assert_eq!(answers[0]["total_count"], json!(users));
        assert_eq!(found.len(), users, "paging walks the larger result");
        assert!(found.iter().all(|c| c["role"] == "user"), "the other conditions apply");
        // Below the range asked for (the contact search compares days: well below).
        assert!(
            found
                .iter()
                .any(|c| c["updated_at"].as_i64().unwrap() < mid - 2 * 86_400)
        );
        let sorted = found
            .windows(2)
            .all(|w| w[0]["updated_at"].as_i64() <= w[1]["updated_at"].as_i64());
        assert!(sorted, "the sort applies");
        let conversations = pages(&fake, "/conversations/search", since(i64::MAX / 2, None, 20));
        assert_eq!(
            items(&conversations, "conversations").len(),
            0,
            "the fault is on contacts only"
        );
    }

    #[test]
    fn a_null_item_goes_second_or_alone() {
        let fake = fake();
        let contact_without_notes = fake.world().contacts[0]["id"].as_str().unwrap().to_owned();
        for (method, target, key, body) in [
            ("GET", "/admins".to_owned(), "admins", Value::Null),
            ("GET", "/tags".to_owned(), "data", Value::Null),
            ("GET", "/segments".to_owned(), "segments", Value::Null),
            ("POST", "/tickets/search".to_owned(), "tickets", since(0, None, 5)),
            (
                "GET",
                format!("/contacts/{contact_without_notes}/notes"),
                "data",
                Value::Null,
            ),
        ] {
            let (_, plain) = call(&fake, method, &target, &body);
            fake.add_fault(Fault::new(&target, FaultKind::NullItem));
            let (status, answer) = call(&fake, method, &target, &body);
            assert_eq!(status, 200);
            let mut expected = plain[key].as_array().unwrap().clone();
            expected.insert(expected.len().min(1), Value::Null);
            assert_eq!(answer[key], json!(expected), "{target}");
        }
    }

    /// One request over the network, as a check running the fake as its own process sends it.
    fn over_tcp(fake: &FakeIntercom, method: &str, target: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(fake.server.addr()).unwrap();
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = n.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn the_control_endpoint_adds_faults() {
        let fake = fake();
        let (status, answer) = over_tcp(
            &fake,
            "POST",
            "/_fake/fault?path=%2Fadmins&kind=status&status=503&times=2",
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["ok"], json!(true));
        assert_eq!(answer["fault"], "Status(503) on any method /admins after 0, 2 time(s)");
        let statuses: Vec<u16> = (0..3).map(|_| call(&fake, "GET", "/admins", &Value::Null).0).collect();
        assert_eq!(statuses, [503, 503, 200]);
        // DELETE removes every fault.
        over_tcp(&fake, "POST", "/_fake/fault?path=/tags&kind=status&status=500&times=9");
        let (status, answer) = over_tcp(&fake, "DELETE", "/_fake/fault");
        assert_eq!((status, answer["removed"].clone()), (200, json!(2)), "{answer}");
        assert_eq!(call(&fake, "GET", "/tags", &Value::Null).0, 200);

        let (status, answer) = call(
            &fake,
            "POST",
            "/_fake/fault?path=/teams&kind=null_item&method=get&skip=1",
            &Value::Null,
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["fault"], "NullItem on GET /teams after 1, 1 time(s)");
        let nulls: Vec<bool> = (0..3)
            .map(|_| call(&fake, "GET", "/teams", &Value::Null).1["teams"][1].is_null())
            .collect();
        assert_eq!(nulls, [false, true, false]);

        for (query, kind) in [
            ("kind=null_cursor", FaultKind::NullCursor),
            ("kind=ignore_filter&method=POST", FaultKind::IgnoreFilter),
            ("kind=repeat_page", FaultKind::RepeatPage),
            ("kind=not_json", FaultKind::NotJson),
            ("kind=truncated", FaultKind::Truncated),
            ("kind=dropped", FaultKind::Dropped),
        ] {
            let (status, _) = call(&fake, "POST", &format!("/_fake/fault?path=/x&{query}"), &Value::Null);
            assert_eq!(status, 200, "{query}");
            assert_eq!(lock(&fake.shared.faults).last().unwrap().kind, kind);
        }
    }

    #[test]
    fn the_control_endpoint_refuses_a_bad_query_with_intercoms_envelope() {
        let fake = fake();
        for query in [
            "kind=null_item",
            "path=/admins",
            "path=admins&kind=null_item",
            "path=/admins&kind=status",
            "path=/admins&kind=status&status=five",
            "path=/admins&kind=status&status=99",
            "path=/admins&kind=null_item&status=503",
            "path=/admins&kind=slow",
            "path=/admins&kind=dropped&method=PUT",
            "path=/admins&kind=dropped&times=-1",
            "path=/admins&kind=dropped&skip=x",
        ] {
            let (status, answer) = call(&fake, "POST", &format!("/_fake/fault?{query}"), &Value::Null);
            assert_eq!(status, 400, "{query}");
            assert_eq!(answer["type"], "error.list", "{query}");
            assert_eq!(answer["errors"][0]["code"], "parameter_invalid", "{query}");
            assert!(answer["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        assert!(lock(&fake.shared.faults).is_empty());
        let req = Request {
            method: "POST".into(),
            target: "/_fake/fault?path=/admins&kind=dropped".into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        assert_eq!(handle(&fake.shared, &req).status, 401, "the token is needed");
        assert!(lock(&fake.shared.faults).is_empty());
    }
}
