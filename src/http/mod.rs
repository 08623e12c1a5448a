//! The HTTP client every stream uses.
//!
//! Bearer auth, the `Intercom-Version` header and `Accept: application/json` on every request.
//! Status codes are data: 2xx bodies are parsed as JSON, 429 holds all threads until the
//! rate-limit window resets, and 5xx, 408, timeouts, connection errors and truncated or non-JSON
//! bodies are retried with exponential backoff and jitter, a bounded number of times. Every
//! other status is returned as an [`ApiError`] that names the stream, the request and
//! Intercom's error code and request id. How many requests are in flight, and when the next
//! may go, is the [`pacer`]'s business.
//!
//! The wire itself is a [`Transport`]: `ureq` with keep-alive connections in a sync, through a
//! company's proxy when the environment names one ([`proxy`]) and trusting the system's
//! certificates besides Mozilla's ([`trust`]); canned answers in the unit tests of the streams
//! ([`canned`]).

#[cfg(test)]
pub mod canned;
mod clock;
mod pacer;
mod proxy;
mod trust;
mod wire;

use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{Secret, Settings};
pub use crate::error::{ApiError, Failure};
use crate::error::{ConfigError, Error};
use crate::version::ApiVersion;
use crate::{log, warn};
pub use pacer::{Feedback, Pace, Priority, RateHeaders};
use pacer::{Pacer, Permit};

/// Bodies larger than this are refused; a conversation with 500 long parts stays far below.
pub const BODY_LIMIT: u64 = 512 * 1024 * 1024;
/// 429s in a row before a request gives up: a sign that another app is using the whole limit.
const MAX_RATE_LIMITED: u32 = 30;
/// Retries of a check request (`GET /me`) at most: a host that refuses three times in a
/// row, a second or two apart, is not coming back in this run.
const CHECK_RETRIES: u32 = 2;
/// Longest pause between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One API request. `path` starts with `/` and carries the query string.
// Each flag is a separate property of a request, set by its own builder method.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone)]
pub struct Request {
    pub stream: &'static str,
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    /// False for requests that must not be repeated as they were (a scroll page: the server
    /// may have moved on), so that the caller can start over instead.
    pub retry_failures: bool,
    pub priority: Priority,
    /// A check before the streams start: a lasting failure (an unknown host, TLS) ends it at
    /// once, and other failures are retried only twice, so that a wrong address is reported
    /// within seconds.
    pub check: bool,
    /// The answer is text, not JSON (a call's transcript): it comes back as a JSON string.
    pub text: bool,
    /// An export's enqueue: a 429 that names a limit of pending jobs is the caller's to wait
    /// out (it is returned as an error), not a rate-limit window to hold every thread for.
    pub pending_limit: bool,
}

impl Request {
    pub fn get(stream: &'static str, path: impl Into<String>) -> Request {
        Request {
            stream,
            method: Method::Get,
            path: path.into(),
            body: None,
            retry_failures: true,
            priority: Priority::Chain,
            check: false,
            text: false,
            pending_limit: false,
        }
    }

    /// A request whose answer is text (`Accept: text/plain`), read as one JSON string.
    #[must_use]
    pub fn text(mut self) -> Request {
        self.text = true;
        self
    }

    /// A check before the streams start (see [`Request::check`]).
    #[must_use]
    pub fn check(mut self) -> Request {
        self.check = true;
        self
    }

    pub fn post(stream: &'static str, path: impl Into<String>, body: Value) -> Request {
        Request {
            method: Method::Post,
            body: Some(body),
            ..Request::get(stream, path)
        }
    }

    /// How much others wait on this request (see [`Priority`]): a chain's page unless said
    /// otherwise.
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Request {
        self.priority = priority;
        self
    }

    /// An export's enqueue (see [`Request::pending_limit`]).
    #[must_use]
    pub fn pending_limit(mut self) -> Request {
        self.pending_limit = true;
        self
    }

    /// A request that is never repeated as it was.
    #[must_use]
    pub fn once(mut self) -> Request {
        self.retry_failures = false;
        self
    }

    /// The path without its query string: the endpoint, for metrics and logs.
    pub fn endpoint(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// How the request is named in errors: `GET /path?query`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What came back for one attempt.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub rate: RateHeaders,
    /// The body, or why it could not be read whole.
    pub body: Result<Vec<u8>, String>,
}

/// Sends one attempt of a request and brings back Intercom's answer, or why none came
/// (connection refused or reset, timeout, TLS).
pub trait Transport: Send + Sync {
    fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, WireError>;

    /// Sends a `GET` whose successful answer is a file (an export's download), written to
    /// `sink` as it arrives instead of held in memory: the answer's body is then empty. Other
    /// statuses keep their body, as [`Transport::send`] does. This default holds the body
    /// whole, as the canned answers of the unit tests do.
    fn download(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        sink: &mut dyn std::io::Write,
    ) -> Result<Answer, WireError> {
        let mut answer = self.send(Method::Get, url, headers, None)?;
        if (200..300).contains(&answer.status) {
            if let Ok(body) = &answer.body {
                sink.write_all(body).map_err(|err| WireError {
                    detail: format!("the download could not be written to disk: {err}"),
                    lasting: true,
                })?;
                answer.body = Ok(Vec::new());
            }
        }
        Ok(answer)
    }
}

/// Why no answer came.
#[derive(Debug, Clone)]
pub struct WireError {
    pub detail: String,
    /// Not a passing hiccup: the host is unknown or refuses connections, TLS failed, the
    /// request could not be written. A check request stops on it instead of retrying.
    pub lasting: bool,
}

/// What one attempt came to.
enum Outcome {
    Done(Body),
    RateLimited(RateHeaders),
    /// Worth another try.
    Transient(Failure),
    /// Not worth another try.
    Final(Failure),
}

pub struct Client {
    transport: Box<dyn Transport>,
    base_url: String,
    token: Secret,
    api_version: ApiVersion,
    pacer: Pacer,
    /// One rate-limit window: the wait after a 429 that does not say when the window resets.
    window: Duration,
    max_retries: u32,
    initial_delay: Duration,
    aborted: AtomicBool,
    requests: AtomicU64,
}

impl Client {
    /// A client that talks to Intercom (or the configured base URL) over HTTPS, through the
    /// proxy the environment sets and trusting its certificates ([`proxy`], [`trust`]).
    pub fn new(settings: &Settings) -> Result<Client, Error> {
        let transport = wire::Ureq::new(settings)?;
        Ok(Client::with_transport(settings, Box::new(transport))?)
    }

    /// A client whose requests go to `transport`.
    pub fn with_transport(settings: &Settings, transport: Box<dyn Transport>) -> Result<Client, ConfigError> {
        let token = settings.require_token()?.clone();
        Ok(Client {
            transport,
            base_url: settings.base_url.clone(),
            token,
            api_version: settings.api_version,
            pacer: Pacer::new(
                settings.max_concurrency,
                settings.max_requests_per_minute,
                settings.rate_limit_window,
            ),
            window: settings.rate_limit_window,
            max_retries: settings.max_retries,
            initial_delay: settings.retry_initial_delay,
            aborted: AtomicBool::new(false),
            requests: AtomicU64::new(0),
        })
    }

    /// Stops every request that has not started and every pending retry.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// The scheme, host and port requests go to, as messages name it.
    pub fn host(&self) -> String {
        match self.base_url.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()),
            None => self.base_url.clone(),
        }
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Time spent waiting on Intercom's rate limit or the configured budget.
    pub fn rate_wait(&self) -> Duration {
        self.pacer.waited()
    }

    /// What the pacer is doing now: its limit, the requests in flight, the latency seen.
    pub fn pace(&self) -> Pace {
        self.pacer.pace()
    }

    /// How many requests may be in flight now.
    pub fn concurrency(&self) -> usize {
        self.pacer.limit()
    }

    pub fn get(&self, stream: &'static str, path: impl Into<String>) -> Result<Value, ApiError> {
        self.send(&Request::get(stream, path))
    }

    /// Sends a request, pacing and retrying as the module describes, and parses the JSON body.
    pub fn send(&self, req: &Request) -> Result<Value, ApiError> {
        self.send_raw(req)?.parse(req)
    }

    /// As [`Client::send`], but keeps the body as its bytes (checked to be a JSON object) until
    /// [`Body::parse`]: a page fetched ahead holds a quarter of the memory it would parsed.
    pub fn send_raw(&self, req: &Request) -> Result<Body, ApiError> {
        self.exchange(req, None)
    }

    /// Sends a `GET` for a file (an export's download) and writes its body to `file` as it
    /// arrives, never holding it whole: paced and retried as every request is, each attempt
    /// writing the file from its start. Returns the bytes written.
    pub fn download(&self, req: &Request, file: &mut std::fs::File) -> Result<u64, ApiError> {
        use std::io::Seek as _;
        self.exchange(req, Some(file))?;
        file.stream_position().map_err(|err| ApiError {
            stream: req.stream,
            method: req.method.as_str(),
            path: req.path.clone(),
            failure: Box::new(Failure::BadBody {
                detail: format!("the download's file could not be read: {err}"),
                attempts: 1,
            }),
        })
    }

    /// One request to its end, as [`Client::send_raw`] describes; with a file, the body of a
    /// success goes there.
    fn exchange(&self, req: &Request, mut file: Option<&mut std::fs::File>) -> Result<Body, ApiError> {
        let fail = |failure| ApiError {
            stream: req.stream,
            method: req.method.as_str(),
            path: req.path.clone(),
            failure: Box::new(failure),
        };
        let mut failures = 0u32;
        let mut limited = 0u32;
        loop {
            if self.is_aborted() {
                return Err(fail(Failure::Aborted));
            }
            let permit = self.pacer.acquire(req.priority);
            let started = Instant::now();
            let outcome = self.attempt(req, &permit, file.as_deref_mut());
            permit.finish(match &outcome {
                Outcome::RateLimited(_) => Feedback::RateLimited,
                Outcome::Transient(_) => Feedback::Trouble,
                Outcome::Done(_) | Outcome::Final(_) => Feedback::Answered(started.elapsed()),
            });
            let attempts = failures + limited + 1;
            match outcome {
                Outcome::Done(value) => return Ok(value),
                Outcome::RateLimited(headers) => {
                    limited += 1;
                    if limited > MAX_RATE_LIMITED {
                        return Err(fail(Failure::Status {
                            status: 429,
                            code: Some("rate_limit_exceeded".into()),
                            message: Some("still rate limited after waiting for many windows".into()),
                            request_id: None,
                            attempts,
                        }));
                    }
                    let wait = self.pacer.hold_after_429(headers, self.window);
                    warn!(
                        "{}: {} {} was rate limited (429); waiting {:.1}s for the window to reset",
                        req.stream,
                        req.method,
                        req.endpoint(),
                        wait.as_secs_f64()
                    );
                }
                Outcome::Transient(failure) if req.retry_failures && failures < self.retries_for(req) => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    warn!(
                        "{}: {} {} {failure}; retry {failures} of {} in {:.1}s",
                        req.stream,
                        req.method,
                        req.endpoint(),
                        self.retries_for(req),
                        delay.as_secs_f64()
                    );
                    self.sleep(delay);
                }
                Outcome::Transient(failure) | Outcome::Final(failure) => {
                    return Err(fail(failure.after(attempts)));
                }
            }
        }
    }

    fn attempt(&self, req: &Request, permit: &Permit<'_>, file: Option<&mut std::fs::File>) -> Outcome {
        let url = format!("{}{}", self.base_url, req.path);
        let auth = format!("Bearer {}", self.token.expose());
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Intercom-Version", self.api_version.as_str()),
            (
                "Accept",
                if file.is_some() {
                    "application/octet-stream"
                } else if req.text {
                    "text/plain, application/json"
                } else {
                    "application/json"
                },
            ),
        ];
        let body = req.body.as_ref().map(|b| serde_json::to_vec(b).unwrap_or_default());
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let started = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let is_download = file.is_some();
        let sent = match file {
            Some(file) => start_file(file).and_then(|()| self.transport.download(&url, &headers, file)),
            None => self.transport.send(req.method, &url, &headers, body.as_deref()),
        };
        let downloaded = is_download && matches!(&sent, Ok(answer) if (200..300).contains(&answer.status));
        let outcome = match sent {
            Err(WireError { detail, lasting }) => {
                let failure = Failure::Transport {
                    detail,
                    attempts: 1,
                    lasting,
                };
                if lasting && req.check {
                    Outcome::Final(failure)
                } else {
                    Outcome::Transient(failure)
                }
            }
            Ok(answer) => {
                if let Some(warning) = permit.observe(answer.rate) {
                    warn!("{}: {} {}: {warning}", req.stream, req.method, req.endpoint());
                }
                match answer.body {
                    Ok(_) if downloaded => Outcome::Done(Body(Vec::new())),
                    Ok(body) if answer.status == 429 && req.pending_limit && names_pending_jobs(&body) => {
                        Outcome::Final(status_failure(429, &body))
                    }
                    body => classify(answer.status, answer.rate, body, req.text),
                }
            }
        };
        let status_code = match &outcome {
            Outcome::Done(_) => json!(200),
            Outcome::RateLimited(_) => json!(429),
            Outcome::Transient(Failure::Status { status, .. }) | Outcome::Final(Failure::Status { status, .. }) => {
                json!(status)
            }
            _ => Value::Null,
        };
        log::timer(
            "http_request_duration",
            started.elapsed().as_secs_f64(),
            json!({
                "stream": req.stream,
                "endpoint": req.endpoint(),
                "method": req.method.as_str(),
                "http_status_code": status_code,
                "status": if matches!(outcome, Outcome::Done(_)) { "succeeded" } else { "failed" },
            }),
        );
        outcome
    }

    /// How often a failed attempt of `req` is tried again.
    fn retries_for(&self, req: &Request) -> u32 {
        if req.check {
            self.max_retries.min(CHECK_RETRIES)
        } else {
            self.max_retries
        }
    }

    /// Exponential backoff from `retry_initial_delay`, doubled each time, capped, with jitter
    /// between half and the whole of the step so that threads do not retry in step.
    fn backoff(&self, failures: u32) -> Duration {
        backoff(self.initial_delay, failures, random_unit())
    }

    /// Waits, waking early if the run stops; false when it did.
    pub fn pause(&self, total: Duration) -> bool {
        self.sleep(total);
        !self.is_aborted()
    }

    /// Sleeps in short slices so that an abort is noticed quickly.
    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.is_aborted() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(200)));
        }
    }
}

/// A successful answer's body: bytes known to be one JSON object (or text, for a request that
/// asked for text).
#[derive(Debug)]
pub struct Body(Vec<u8>);

impl Body {
    /// Keeps `bytes` at their length: read to their end, they sit in a buffer up to twice as
    /// long, and a page fetched ahead holds it while the page before is worked on.
    fn new(mut bytes: Vec<u8>) -> Body {
        bytes.shrink_to_fit();
        Body(bytes)
    }

    /// The body as JSON (`req` names the request in the error, which the bytes' check before
    /// makes all but impossible); a text answer as one JSON string.
    pub fn parse(self, req: &Request) -> Result<Value, ApiError> {
        if req.text {
            return Ok(Value::String(String::from_utf8_lossy(&self.0).into_owned()));
        }
        serde_json::from_slice(&self.0).map_err(|err| ApiError {
            stream: req.stream,
            method: req.method.as_str(),
            path: req.path.clone(),
            failure: Box::new(Failure::BadBody {
                detail: format!("a body that is not JSON ({} bytes): {err}", self.0.len()),
                attempts: 1,
            }),
        })
    }
}

fn classify(status: u16, headers: RateHeaders, body: Result<Vec<u8>, String>, text: bool) -> Outcome {
    let body = match body {
        Ok(bytes) => bytes,
        Err(detail) => {
            return Outcome::Transient(Failure::BadBody {
                detail: format!("HTTP {status}, body cut short: {detail}"),
                attempts: 1,
            });
        }
    };
    match status {
        // Intercom's error envelope under a success status (a proxy's or Intercom's slip):
        // worth another try, and reported with Intercom's code and message.
        200..=299 if is_error_list(&body) => Outcome::Transient(status_failure(status, &body)),
        200..=299 if text => Outcome::Done(Body::new(body)),
        200..=299 => match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            Ok(_) if body.trim_ascii_start().starts_with(b"{") => Outcome::Done(Body::new(body)),
            Ok(_) => Outcome::Transient(Failure::BadBody {
                detail: "the JSON body is not an object".into(),
                attempts: 1,
            }),
            Err(err) => Outcome::Transient(Failure::BadBody {
                detail: format!(
                    "HTTP {status} with a body that is not JSON ({} bytes): {err}",
                    body.len()
                ),
                attempts: 1,
            }),
        },
        429 => Outcome::RateLimited(headers),
        _ => {
            let failure = status_failure(status, &body);
            if status == 408 || status >= 500 {
                Outcome::Transient(failure)
            } else {
                Outcome::Final(failure)
            }
        }
    }
}

/// Empties a download's file for an attempt.
fn start_file(file: &mut std::fs::File) -> Result<(), WireError> {
    use std::io::Seek as _;
    file.set_len(0).and_then(|()| file.rewind()).map_err(|err| WireError {
        detail: format!("the download's file could not be emptied: {err}"),
        lasting: true,
    })
}

/// Whether a 429's body names a limit of pending export jobs ("Exceeded rate limit of 5
/// pending reporting dataset export jobs"), not the requests' rate limit.
fn names_pending_jobs(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    text.contains("pending") && text.contains("job")
}

/// Whether a body is Intercom's error envelope, `{"type": "error.list", ...}`.
fn is_error_list(body: &[u8]) -> bool {
    let head = &body[..body.len().min(256)];
    head.windows(10).any(|w| w == b"error.list")
        && serde_json::from_slice::<Value>(body).is_ok_and(|v| v["type"] == "error.list")
}

/// Reads Intercom's error envelope `{"type":"error.list","request_id":..,"errors":[{code,message}]}`.
fn status_failure(status: u16, body: &[u8]) -> Failure {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let first = parsed.as_ref().and_then(|v| v.get("errors")).and_then(|e| e.get(0));
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let mut message = text(first.and_then(|e| e.get("message")));
    if message.is_none() && parsed.is_none() && !body.is_empty() {
        let snippet: String = String::from_utf8_lossy(body).chars().take(200).collect();
        message = Some(snippet.trim().to_owned());
    }
    Failure::Status {
        status,
        code: text(first.and_then(|e| e.get("code"))),
        message,
        request_id: text(parsed.as_ref().and_then(|v| v.get("request_id"))),
        attempts: 1,
    }
}

/// The pause before retry `failures` (from 1): `initial` doubled for each failure before it,
/// at most `MAX_BACKOFF`, and of that step the half plus `unit` (a draw in [0, 1)) of the
/// other half.
fn backoff(initial: Duration, failures: u32, unit: f64) -> Duration {
    let step = initial
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    step.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// A number in [0, 1) for jitter, from the standard library's randomly keyed hasher.
fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    #[allow(clippy::cast_precision_loss)]
    let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

/// Percent-encodes a query-string value (Intercom's cursors are opaque and may hold `=` or `+`).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The path and query of a link Intercom returned. The host is dropped on purpose: requests only
/// ever go to the configured base URL, so the token never leaves for another host.
pub fn path_of_link(link: &str) -> Option<String> {
    if link.starts_with('/') {
        return Some(link.to_owned());
    }
    let rest = link.split_once("://")?.1;
    let start = rest.find('/')?;
    Some(rest[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_held_at_its_length() {
        // Read to its end, a body sits in a buffer grown by doubling.
        let mut bytes = Vec::with_capacity(64 * 1024);
        bytes.extend_from_slice(br#"{"type": "tag.list", "data": []}"#);
        let body = Body::new(bytes);
        assert_eq!(body.0.capacity(), body.0.len());
        let parsed = body.parse(&Request::get("tags", "/tags")).unwrap();
        assert_eq!(parsed["type"], "tag.list");
    }

    #[test]
    fn error_envelopes_give_code_message_and_request_id() {
        let body = br#"{"type":"error.list","request_id":"r-1","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}"#;
        let text = status_failure(401, body).to_string();
        assert_eq!(
            text,
            "failed with HTTP 401 (code unauthorized, request_id r-1): Access Token Invalid"
        );
        let text = status_failure(502, b"<html>Bad gateway</html>").to_string();
        assert!(text.contains("HTTP 502") && text.contains("Bad gateway"), "{text}");
    }

    #[test]
    fn statuses_are_classified() {
        let h = RateHeaders::default();
        assert!(matches!(classify(200, h, Ok(b"{}".to_vec()), false), Outcome::Done(_)));
        assert!(matches!(
            classify(200, h, Ok(b"{\"a\":".to_vec()), false),
            Outcome::Transient(_)
        ));
        assert!(matches!(
            classify(200, h, Ok(b"[]".to_vec()), false),
            Outcome::Transient(_)
        ));
        assert!(matches!(
            classify(429, h, Ok(Vec::new()), false),
            Outcome::RateLimited(_)
        ));
        assert!(matches!(classify(503, h, Ok(Vec::new()), false), Outcome::Transient(_)));
        assert!(matches!(classify(408, h, Ok(Vec::new()), false), Outcome::Transient(_)));
        assert!(matches!(classify(404, h, Ok(Vec::new()), false), Outcome::Final(_)));
        assert!(matches!(classify(401, h, Ok(Vec::new()), false), Outcome::Final(_)));
        // Text asked for: a body that is not JSON is the answer.
        assert!(matches!(
            classify(200, h, Ok(b"[00:00:03] Hello".to_vec()), true),
            Outcome::Done(_)
        ));
    }

    #[test]
    fn links_keep_only_path_and_query() {
        assert_eq!(
            path_of_link("https://api.intercom.io/help_center/collections?page=2&per_page=5").unwrap(),
            "/help_center/collections?page=2&per_page=5"
        );
        assert_eq!(path_of_link("/counts?page=2").unwrap(), "/counts?page=2");
        assert!(path_of_link("page=2").is_none());
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("WzE3+/=="), "WzE3%2B%2F%3D%3D");
        assert_eq!(encode("abc-_.~"), "abc-_.~");
    }

    #[test]
    fn retries_wait_twice_as_long_each_time_with_jitter_and_a_cap() {
        let second = Duration::from_secs(1);
        // The jitter takes between half the step and the whole of it.
        assert_eq!(backoff(second, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(second, 1, 0.5), Duration::from_millis(750));
        assert_eq!(backoff(second, 1, 1.0), second);
        // Each failure doubles the step.
        assert_eq!(backoff(second, 2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(second, 4, 1.0), Duration::from_secs(8));
        // No step is longer than the cap, however many failures.
        assert_eq!(backoff(second, 30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(second, 30, 0.0), MAX_BACKOFF / 2);
        // A zero delay stays zero (retry_initial_delay 0, as the tests use).
        assert_eq!(backoff(Duration::ZERO, 3, 0.7), Duration::ZERO);
        // The draws differ from one call to the next: threads do not retry in step.
        let draws: std::collections::HashSet<u64> = (0..20).map(|_| random_unit().to_bits()).collect();
        assert!(draws.len() > 15, "{} different draws of 20", draws.len());
    }
}
