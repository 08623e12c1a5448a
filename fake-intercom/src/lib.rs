//! A fake Intercom REST API (versions 2.14, 2.15 and 2.16) on loopback, for tap-intercom's tests and demo.
//!
//! It serves a generated [`World`] with Intercom's shapes and pagination, checks the bearer
//! token (401 with Intercom's error envelope), sends `X-RateLimit-*` headers and enforces the
//! limit with 429s, and can be told to misbehave on any endpoint: error statuses, 429 bursts,
//! bodies cut short or not JSON, dropped connections, slow answers ([`Fault`]). Tests can read
//! every request it received and change the workspace while a sync runs ([`FakeIntercom::on_request`]).

#![recursion_limit = "512"]

pub mod api;
mod base64;
pub mod counts;
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
        }
    }
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
    /// The real answer with its JSON changed in one place, chosen by this seed: a value of
    /// another type, a key removed, a string emptied (the fuzz tests' corrupted answers).
    Mutated(u64),
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
    /// The current rate-limit window: its number and the requests counted in it.
    window: Mutex<(u64, u64)>,
    scroll: Mutex<api::Scroll>,
    /// Bumped whenever the workspace may change, so that cached search orders are dropped.
    version: AtomicU64,
    searches: Mutex<api::SearchCache>,
    /// Draws for the latency's jitter.
    jitter: Mutex<Rng>,
    /// The changes `FaultKind::Mutated` made: the request (`GET /path?query`) and where.
    mutations: Mutex<Vec<(String, String)>>,
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

    pub fn start_on(addr: &str, world: World, options: Options) -> std::io::Result<FakeIntercom> {
        let shared = Arc::new(Shared {
            options,
            world: RwLock::new(world),
            faults: Mutex::new(Vec::new()),
            hooks: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            mutations: Mutex::new(Vec::new()),
            window: Mutex::new((0, 0)),
            scroll: Mutex::new(api::Scroll::default()),
            version: AtomicU64::new(0),
            searches: Mutex::new(api::SearchCache::default()),
            jitter: Mutex::new(Rng::new(0x6a17_7e55)),
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

    /// Every request received so far.
    /// The changes `FaultKind::Mutated` made so far: each request and the JSON pointer changed.
    pub fn mutations(&self) -> Vec<(String, String)> {
        lock(&self.shared.mutations).clone()
    }

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
    let Options { latency, jitter, .. } = shared.options;
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

fn answer(shared: &Shared, req: &Request) -> Response {
    let expected = format!("Bearer {}", shared.options.token);
    if req.header("authorization") != Some(expected.as_str()) {
        // No rate-limit headers on unauthenticated answers, as with Intercom.
        return api::error(401, "unauthorized", "Access Token Invalid");
    }
    if req.method == "POST" && req.path() == "/_fake/evolve" {
        // The fake's own control endpoint: move the workspace on between two syncs.
        let every = req.query("every").and_then(|n| n.parse().ok()).unwrap_or(10);
        let mut world = write(&shared.world);
        // Bumped under the lock: no search can cache the old workspace under the new version.
        shared.version.fetch_add(1, Ordering::SeqCst);
        let report = world.evolve(now_secs_i64(), every);
        return api::ok(report);
    }
    if req.method == "GET" && req.path() == "/_fake/summary" {
        return api::ok(read(&shared.world).summary());
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
        _ => from_the_world(shared, req),
    };
    match fault {
        Some(FaultKind::Truncated) => response.delivery = Delivery::Truncated,
        Some(FaultKind::Slow(d)) => response.delay = d,
        Some(FaultKind::Mutated(seed)) => {
            if let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) {
                let at = mutate::one_change(&mut body, seed);
                response.body = serde_json::to_vec(&body).unwrap_or_default();
                lock(&shared.mutations).push((format!("{} {}", req.method, req.target), at));
            }
        }
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

/// The answer the workspace gives, in the version the request asks for.
fn from_the_world(shared: &Shared, req: &Request) -> Response {
    let api_version = match versions::of(req) {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    run_hooks(shared, req);
    let world = read(&shared.world);
    let ctx = api::Ctx {
        options: &shared.options,
        scroll: &shared.scroll,
        now: now_secs_i64(),
        version: shared.version.load(Ordering::SeqCst),
        searches: &shared.searches,
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
    let limit = shared.options.rate_limit?;
    let now = now_secs();
    let window = now / limit.window_secs;
    let mut state = lock(&shared.window);
    if state.0 != window {
        *state = (window, 0);
    }
    state.1 += 1;
    let over = force_limited || state.1 > limit.limit;
    let remaining = if force_limited {
        0
    } else {
        limit.limit.saturating_sub(state.1)
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
