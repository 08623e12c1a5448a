//! The HTTP client every stream uses.
//!
//! One `ureq` agent with keep-alive connections; bearer auth, the `Intercom-Version` header and
//! `Accept: application/json` on every request. Status codes are data: 2xx bodies are parsed as
//! JSON, 429 holds all threads until the rate-limit window resets, and 5xx, 408, timeouts,
//! connection errors and truncated or non-JSON bodies are retried with exponential backoff and
//! jitter, a bounded number of times. Every other status is returned as an [`ApiError`] that
//! names the stream, the request and Intercom's error code and request id.

mod pacer;

use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thiserror::Error;

use crate::config::{Secret, Settings};
use crate::error::ConfigError;
use crate::{log, warn};
use pacer::Pacer;
pub use pacer::RateHeaders;

/// Bodies larger than this are refused; a conversation with 500 long parts stays far below.
const BODY_LIMIT: u64 = 512 * 1024 * 1024;
/// 429s in a row before a request gives up: a sign that another app is using the whole limit.
const MAX_RATE_LIMITED: u32 = 30;
/// Longest pause between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long to wait after a 429 that does not say when the window resets.
const DEFAULT_429_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
        })
    }
}

/// One API request. `path` starts with `/` and carries the query string.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub stream: &'static str,
    pub method: Method,
    pub path: String,
    pub body: Option<&'a Value>,
    /// False for requests that must not be repeated as they were (a scroll page: the server
    /// may have moved on), so that the caller can start over instead.
    pub retry_failures: bool,
}

impl<'a> Request<'a> {
    pub fn get(stream: &'static str, path: impl Into<String>) -> Request<'a> {
        Request {
            stream,
            method: Method::Get,
            path: path.into(),
            body: None,
            retry_failures: true,
        }
    }

    pub fn post(stream: &'static str, path: impl Into<String>, body: &'a Value) -> Request<'a> {
        Request {
            stream,
            method: Method::Post,
            path: path.into(),
            body: Some(body),
            retry_failures: true,
        }
    }

    /// The path without its query string: the endpoint, for metrics and logs.
    pub fn endpoint(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }
}

/// A request that failed for good.
#[derive(Debug, Error)]
#[error("{stream}: {method} {path} {failure}")]
pub struct ApiError {
    pub stream: &'static str,
    pub method: Method,
    pub path: String,
    pub failure: Box<Failure>,
}

#[derive(Debug)]
pub enum Failure {
    /// Intercom answered with an error status.
    Status {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
        attempts: u32,
    },
    /// No answer: connection refused or reset, timeout, TLS trouble.
    Transport { detail: String, attempts: u32 },
    /// An answer whose body was cut short or was not JSON.
    BadBody { detail: String, attempts: u32 },
    /// The run is stopping because another stream failed.
    Aborted,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tries = |n: u32| {
            if n > 1 {
                format!(" after {n} attempts")
            } else {
                String::new()
            }
        };
        match self {
            Failure::Status {
                status,
                code,
                message,
                request_id,
                attempts,
            } => {
                write!(f, "failed with HTTP {status}{}", tries(*attempts))?;
                write!(
                    f,
                    " (code {}, request_id {})",
                    code.as_deref().unwrap_or("none"),
                    request_id.as_deref().unwrap_or("none")
                )?;
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Failure::Transport { detail, attempts } => {
                write!(f, "failed{}: {detail}", tries(*attempts))
            }
            Failure::BadBody { detail, attempts } => {
                write!(f, "gave an unreadable answer{}: {detail}", tries(*attempts))
            }
            Failure::Aborted => f.write_str("was not sent: the run is stopping"),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match *self.failure {
            Failure::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// Intercom's error code (`unauthorized`, `scroll_exists`, ...).
    pub fn code(&self) -> Option<&str> {
        match &*self.failure {
            Failure::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn is_aborted(&self) -> bool {
        matches!(*self.failure, Failure::Aborted)
    }
}

/// What one attempt came to.
enum Outcome {
    Done(Value),
    RateLimited(RateHeaders),
    /// Worth another try.
    Transient(Failure),
    /// Not worth another try.
    Final(Failure),
}

pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    token: Secret,
    api_version: String,
    pacer: Pacer,
    max_retries: u32,
    initial_delay: Duration,
    aborted: AtomicBool,
    requests: AtomicU64,
}

impl Client {
    pub fn new(settings: &Settings) -> Result<Client, ConfigError> {
        let token = settings.require_token()?.clone();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.request_timeout))
            .user_agent(settings.user_agent.as_str())
            .max_idle_connections_per_host(settings.max_concurrency + 2)
            .max_idle_connections(settings.max_concurrency + 2)
            .build()
            .into();
        Ok(Client {
            agent,
            base_url: settings.base_url.clone(),
            token,
            api_version: settings.api_version.clone(),
            pacer: Pacer::new(settings.max_concurrency, settings.max_requests_per_minute),
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

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Time spent waiting on Intercom's rate limit or the configured budget.
    pub fn rate_wait(&self) -> Duration {
        self.pacer.waited()
    }

    pub fn get(&self, stream: &'static str, path: impl Into<String>) -> Result<Value, ApiError> {
        self.send(&Request::get(stream, path))
    }

    pub fn post(&self, stream: &'static str, path: impl Into<String>, body: &Value) -> Result<Value, ApiError> {
        self.send(&Request::post(stream, path, body))
    }

    /// Sends a request, pacing and retrying as the module describes, and parses the JSON body.
    pub fn send(&self, req: &Request<'_>) -> Result<Value, ApiError> {
        let fail = |failure| ApiError {
            stream: req.stream,
            method: req.method,
            path: req.path.clone(),
            failure: Box::new(failure),
        };
        let mut failures = 0u32;
        let mut limited = 0u32;
        loop {
            if self.is_aborted() {
                return Err(fail(Failure::Aborted));
            }
            let outcome = {
                let _permit = self.pacer.acquire();
                self.attempt(req)
            };
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
                    warn!(
                        "{}: {} {} was rate limited (429); waiting for the window to reset",
                        req.stream,
                        req.method,
                        req.endpoint()
                    );
                    self.pacer.hold_after_429(headers, DEFAULT_429_WAIT);
                }
                Outcome::Transient(failure) if req.retry_failures && failures < self.max_retries => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    warn!(
                        "{}: {} {} {failure}; retry {failures} of {} in {:.1}s",
                        req.stream,
                        req.method,
                        req.endpoint(),
                        self.max_retries,
                        delay.as_secs_f64()
                    );
                    self.sleep(delay);
                }
                Outcome::Transient(failure) | Outcome::Final(failure) => {
                    return Err(fail(with_attempts(failure, attempts)));
                }
            }
        }
    }

    fn attempt(&self, req: &Request<'_>) -> Outcome {
        let url = format!("{}{}", self.base_url, req.path);
        let auth = format!("Bearer {}", self.token.expose());
        let started = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let sent = match (req.method, req.body) {
            (Method::Post, body) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Intercom-Version", &self.api_version)
                .header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .send(serde_json::to_vec(body.unwrap_or(&Value::Null)).unwrap_or_default()),
            (Method::Get, _) => self
                .agent
                .get(&url)
                .header("Authorization", &auth)
                .header("Intercom-Version", &self.api_version)
                .header("Accept", "application/json")
                .call(),
        };
        let outcome = match sent {
            Err(err) => Outcome::Transient(Failure::Transport {
                detail: describe_transport(&err),
                attempts: 1,
            }),
            Ok(mut response) => {
                let status = response.status().as_u16();
                let headers = rate_headers(response.headers());
                self.pacer.observe(headers);
                let body = response.body_mut().with_config().limit(BODY_LIMIT).read_to_vec();
                classify(status, headers, body)
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
                "method": req.method.to_string(),
                "http_status_code": status_code,
                "status": if matches!(outcome, Outcome::Done(_)) { "succeeded" } else { "failed" },
            }),
        );
        outcome
    }

    /// Exponential backoff from `retry_initial_delay`, doubled each time, capped, with jitter
    /// between half and the whole of the step so that threads do not retry in step.
    fn backoff(&self, failures: u32) -> Duration {
        let step = self
            .initial_delay
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        step.mul_f64(0.5 + 0.5 * random_unit())
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

fn classify(status: u16, headers: RateHeaders, body: Result<Vec<u8>, ureq::Error>) -> Outcome {
    let body = match body {
        Ok(bytes) => bytes,
        Err(err) => {
            return Outcome::Transient(Failure::BadBody {
                detail: format!("HTTP {status}, body cut short: {}", describe_transport(&err)),
                attempts: 1,
            });
        }
    };
    match status {
        200..=299 => match serde_json::from_slice::<Value>(&body) {
            Ok(value) if value.is_object() => Outcome::Done(value),
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

fn with_attempts(failure: Failure, n: u32) -> Failure {
    match failure {
        Failure::Status {
            status,
            code,
            message,
            request_id,
            ..
        } => Failure::Status {
            status,
            code,
            message,
            request_id,
            attempts: n,
        },
        Failure::Transport { detail, .. } => Failure::Transport { detail, attempts: n },
        Failure::BadBody { detail, .. } => Failure::BadBody { detail, attempts: n },
        Failure::Aborted => Failure::Aborted,
    }
}

fn describe_transport(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Timeout(_) => "timed out (request_timeout)".into(),
        ureq::Error::Io(io) => format!("connection error: {io}"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => other.to_string(),
    }
}

fn rate_headers(headers: &ureq::http::HeaderMap) -> RateHeaders {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    RateHeaders {
        limit: number("x-ratelimit-limit"),
        remaining: number("x-ratelimit-remaining"),
        reset: number("x-ratelimit-reset"),
    }
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
        assert!(matches!(classify(200, h, Ok(b"{}".to_vec())), Outcome::Done(_)));
        assert!(matches!(
            classify(200, h, Ok(b"{\"a\":".to_vec())),
            Outcome::Transient(_)
        ));
        assert!(matches!(classify(200, h, Ok(b"[]".to_vec())), Outcome::Transient(_)));
        assert!(matches!(classify(429, h, Ok(Vec::new())), Outcome::RateLimited(_)));
        assert!(matches!(classify(503, h, Ok(Vec::new())), Outcome::Transient(_)));
        assert!(matches!(classify(408, h, Ok(Vec::new())), Outcome::Transient(_)));
        assert!(matches!(classify(404, h, Ok(Vec::new())), Outcome::Final(_)));
        assert!(matches!(classify(401, h, Ok(Vec::new())), Outcome::Final(_)));
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
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
