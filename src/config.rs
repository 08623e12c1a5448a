//! Settings: read from JSON files and `TAP_INTERCOM_*` variables, then promoted to typed values.
//!
//! [`RawConfig`] is what a user writes; its doc comments and `schemars` attributes are the
//! settings schema that `--about` prints and Meltano reads. [`Settings`] is what the rest of the
//! tap uses: dates, durations, a checked base URL and a [`Secret`] token. Nothing past this
//! module sees a raw setting string, and no error or log line ever shows the token.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ConfigError, Error, kind_of, quote};
use crate::jsonfile;
use crate::version::ApiVersion;

/// The prefix of the environment variables that carry settings.
pub const ENV_PREFIX: &str = "TAP_INTERCOM_";

/// The settings a user writes in a config file, as the `--about` settings schema shows them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(title = "tap-intercom settings")]
pub struct RawConfig {
    /// Intercom access token: an app's access token from the Developer Hub, or an OAuth token.
    /// Needed to sync; discovery and --about work without it.
    #[schemars(with = "Option<String>", extend("secret" = true, "writeOnly" = true))]
    pub access_token: Option<SecretString>,

    /// Where a first sync starts: records updated (activity logs: created) at or after this
    /// instant, RFC 3339 (e.g. 2024-01-01T00:00:00Z). Later runs continue from their bookmarks.
    /// When unset, a first sync reads the whole history.
    #[schemars(extend("format" = "date-time"))]
    pub start_date: Option<String>,

    /// Optional end of the extracted range, RFC 3339, exclusive: incremental streams skip records
    /// changed at or after it, and bookmarks never pass it. For backfills in slices.
    #[schemars(extend("format" = "date-time"))]
    pub end_date: Option<String>,

    /// Region of the Intercom workspace: us (api.intercom.io), eu (api.eu.intercom.io) or au
    /// (api.au.intercom.io). Ignored when `base_url` is set.
    #[schemars(extend("enum" = ["us", "eu", "au", null], "default" = "us"))]
    pub region: Option<String>,

    /// Base URL of the Intercom API, overriding region (e.g. a proxy, or the fake Intercom of the
    /// tests on 127.0.0.1). Plain http is accepted only for loopback hosts.
    #[schemars(extend("format" = "uri"))]
    pub base_url: Option<String>,

    /// Intercom API version, sent as the Intercom-Version header: 2.14, 2.15 or 2.16. The
    /// columns and their types are 2.14's on every version; newer versions add nullable columns,
    /// and 2.16 brings deleted conversations (README: API versions).
    #[schemars(with = "Option<String>", extend("default" = "2.14", "enum" = ["2.14", "2.15", "2.16"]))]
    pub api_version: Option<Lenient<String>>,

    /// Seconds one HTTP request may take, from connecting to the last byte of the body.
    #[schemars(with = "Option<f64>", extend("default" = 300))]
    pub request_timeout: Option<Lenient<f64>>,

    /// User-Agent header sent to Intercom; `tap-intercom/<version>` when unset.
    pub user_agent: Option<String>,

    /// Seconds to re-read before each incremental bookmark, on top of the tap's own safety
    /// margins. Re-read records are emitted again; targets upsert them by key.
    #[schemars(with = "Option<u64>", extend("default" = 0))]
    pub lookback_window: Option<Lenient<u64>>,

    /// Most HTTP requests in flight at once, across all streams: a ceiling. Below it the tap
    /// keeps enough in flight to spend each rate-limit window in its first few seconds (about
    /// three times rate × latency, at the latency it sees), and fewer after 429s, 5xx or
    /// rising latency. The default reaches 10,000
    /// requests a minute with answers taking up to 1.5 s; 1 reads one request at a time.
    #[schemars(with = "Option<u64>", extend("default" = 256, "minimum" = 1, "maximum" = 1024))]
    pub max_concurrency: Option<Lenient<u64>>,

    /// A request budget per minute for this tap, below the app's Intercom rate limit, to leave
    /// room for other apps of the workspace. Unset: pace from Intercom's X-RateLimit headers only.
    #[schemars(with = "Option<u64>", extend("minimum" = 1))]
    pub max_requests_per_minute: Option<Lenient<u64>>,

    /// How often a failed request (5xx, timeout, connection error, truncated body) is retried.
    #[schemars(with = "Option<u64>", extend("default" = 5))]
    pub max_retries: Option<Lenient<u64>>,

    /// Seconds before the first retry; each further retry waits twice as long, with jitter.
    #[schemars(with = "Option<f64>", extend("default" = 1.0))]
    pub retry_initial_delay: Option<Lenient<f64>>,

    /// Seconds Intercom's search index may lag behind changes. No bookmark is ever saved later
    /// than the sync's start minus this, so that a record indexed late, or changed while the
    /// sync ran, is read by the next run.
    #[schemars(with = "Option<u64>", extend("default" = 600))]
    pub search_index_lag: Option<Lenient<u64>>,

    /// Seconds a name lookup, and then a connection, may take (each): a host that lets no
    /// connection through is reported after this, and a request that meets it is retried.
    #[schemars(with = "Option<f64>", extend("default" = 10))]
    pub connect_timeout: Option<Lenient<f64>>,

    /// Seconds between the lines a long sync logs on its progress (each running stream's
    /// records and requests, the pace of requests).
    #[schemars(with = "Option<u64>", extend("default" = 15, "minimum" = 1))]
    pub progress_interval: Option<Lenient<u64>>,

    /// Seconds of one window of Intercom's rate limit: 10, as Intercom documents (10,000 a
    /// minute enforced over 10-second windows). The budget of `max_requests_per_minute` is
    /// counted over windows of this length, and a reset Intercom's headers put further away
    /// than a few windows is not believed: the tap waits one window instead.
    #[schemars(with = "Option<u64>", extend("default" = 10, "minimum" = 1))]
    pub rate_limit_window: Option<Lenient<u64>>,

    /// Adds the workspace's id (`app.id_code` of `GET /me`) to every record as `workspace_id`,
    /// and to every stream's key properties: for tables that stack several workspaces, whose
    /// ids (conversation parts' above all) are not unique across workspaces. Off by default.
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub add_workspace_id: Option<Lenient<bool>>,

    /// Days of one window of the asynchronous exports (reporting datasets and message data,
    /// not selected by default): one export job per stream and window, and the bookmark moves
    /// after each window whose job completed.
    #[schemars(with = "Option<u64>", extend("default" = 7, "minimum" = 1, "maximum" = 366))]
    pub export_window_days: Option<Lenient<u64>>,

    /// Days the exports read again before their bookmark, for data Intercom adds or changes
    /// late (a conversation's metrics, an SLA status, an open of a message sent earlier).
    #[schemars(with = "Option<u64>", extend("default" = 2))]
    pub export_lookback_days: Option<Lenient<u64>>,

    /// Seconds before an export job's status is first read again; each further poll waits
    /// twice as long, up to a minute.
    #[schemars(with = "Option<f64>", extend("default" = 5.0))]
    pub export_poll_interval: Option<Lenient<f64>>,

    /// Seconds an export job may take to complete (a deadline for its polling) before it is
    /// cancelled and tried again; an export stream fails after three tries of one window.
    #[schemars(with = "Option<f64>", extend("default" = 21600))]
    pub export_job_timeout: Option<Lenient<f64>>,

    /// Settings that could not be read as their type, each reported with the others'
    /// problems by [`Settings::from_raw`].
    #[serde(skip)]
    #[schemars(skip)]
    pub problems: Vec<ConfigError>,
}

/// The names of the settings, for the environment and for unknown-key warnings.
pub const SETTING_NAMES: &[&str] = &[
    "access_token",
    "start_date",
    "end_date",
    "region",
    "base_url",
    "api_version",
    "request_timeout",
    "user_agent",
    "lookback_window",
    "max_concurrency",
    "max_requests_per_minute",
    "max_retries",
    "retry_initial_delay",
    "search_index_lag",
    "connect_timeout",
    "progress_interval",
    "rate_limit_window",
    "add_workspace_id",
    "export_window_days",
    "export_lookback_days",
    "export_poll_interval",
    "export_job_timeout",
];

/// A value written either as itself or as a string: Meltano and environment variables pass
/// numbers as strings, and YAML turns `api_version: 2.14` into a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub T);

impl<'de> Deserialize<'de> for Lenient<f64> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_f64()
                .map(Lenient)
                .ok_or_else(|| serde::de::Error::custom(format!("expected a number of seconds, got {n}"))),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map(Lenient)
                .map_err(|_| serde::de::Error::custom(format!("expected a number of seconds, got {}", quote(&s)))),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, got {}",
                kind_of(&other)
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Lenient<u64> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = |shown: String| serde::de::Error::custom(format!("expected a whole number, got {shown}"));
        match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64().map(Lenient).ok_or_else(|| bad(n.to_string())),
            Value::String(s) => s.trim().parse::<u64>().map(Lenient).map_err(|_| bad(quote(&s))),
            other => Err(bad(kind_of(&other).to_owned())),
        }
    }
}

impl<'de> Deserialize<'de> for Lenient<bool> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(Lenient(b)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Lenient(true)),
                "false" | "0" | "no" | "" => Ok(Lenient(false)),
                _ => Err(serde::de::Error::custom(format!(
                    "expected true or false, got {}",
                    quote(&s)
                ))),
            },
            other => Err(serde::de::Error::custom(format!(
                "expected true or false, got {}",
                kind_of(&other)
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Lenient<String> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Lenient(s)),
            Value::Number(n) => Ok(Lenient(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, got {}",
                kind_of(&other)
            ))),
        }
    }
}

/// The access token as read from config: deserialising it never echoes the value.
#[derive(Clone, Default)]
pub struct SecretString(String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(SecretString(s)),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, got {}",
                kind_of(&other)
            ))),
        }
    }
}

/// The access token. Its `Debug` prints `***`; only the HTTP client reads it, via [`expose`].
///
/// [`expose`]: Secret::expose
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Intercom's regional API hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Us,
    Eu,
    Au,
}

impl Region {
    fn parse(s: &str) -> Option<Region> {
        match s.trim().to_ascii_lowercase().as_str() {
            "us" => Some(Region::Us),
            "eu" => Some(Region::Eu),
            "au" => Some(Region::Au),
            _ => None,
        }
    }

    fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.intercom.io",
            Region::Eu => "https://api.eu.intercom.io",
            Region::Au => "https://api.au.intercom.io",
        }
    }
}

/// Validated settings; everything the sync needs, typed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token: Option<Secret>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Scheme, host, optional port and path prefix; no trailing slash.
    pub base_url: String,
    pub api_version: ApiVersion,
    pub request_timeout: Duration,
    pub user_agent: String,
    pub lookback: Duration,
    pub max_concurrency: usize,
    pub max_requests_per_minute: Option<u32>,
    pub max_retries: u32,
    pub retry_initial_delay: Duration,
    pub search_index_lag: Duration,
    pub connect_timeout: Duration,
    pub progress_interval: Duration,
    pub rate_limit_window: Duration,
    pub add_workspace_id: bool,
    /// One window of the exports.
    pub export_window: Duration,
    pub export_lookback: Duration,
    pub export_poll_interval: Duration,
    pub export_job_timeout: Duration,
}

impl Settings {
    /// Checks every setting and converts it. Every problem found is in the error, one per
    /// setting, so that a config is mended in one go.
    pub fn from_raw(mut raw: RawConfig) -> Result<Settings, ConfigError> {
        let mut problems = Problems(std::mem::take(&mut raw.problems));
        let p = &mut problems;
        let exports = exports(&raw, p);
        let start_date = p.keep(date("start_date", raw.start_date.as_deref())).flatten();
        let end_date = p.keep(date("end_date", raw.end_date.as_deref())).flatten();
        if let (Some(start), Some(end)) = (start_date, end_date) {
            if end <= start {
                p.add("end_date", format!("{end} is not after start_date {start}"));
            }
        }
        let base_url = p
            .keep(base_url(raw.base_url.as_deref(), raw.region.as_deref()))
            .unwrap_or_default();
        let request_timeout = p
            .keep(seconds("request_timeout", raw.request_timeout, 300.0, ONE_DAY))
            .unwrap_or_default();
        let retry_initial_delay = p
            .keep(seconds("retry_initial_delay", raw.retry_initial_delay, 1.0, ONE_DAY))
            .unwrap_or_default();
        let max_concurrency = raw.max_concurrency.map_or(DEFAULT_CONCURRENCY, |v| v.0);
        if !(1..=MAX_CONCURRENCY).contains(&max_concurrency) {
            p.add(
                "max_concurrency",
                format!("{max_concurrency} is outside 1 to {MAX_CONCURRENCY}"),
            );
        }
        let max_requests_per_minute = match raw.max_requests_per_minute.map(|v| v.0) {
            Some(0) => {
                p.add("max_requests_per_minute", "0 would allow no request at all".into());
                None
            }
            Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            None => None,
        };
        let api_version = match raw.api_version.map(|v| v.0) {
            None => ApiVersion::DEFAULT,
            Some(text) => ApiVersion::parse(&text).unwrap_or_else(|| {
                p.add(
                    "api_version",
                    format!(
                        "{} is not a version the tap knows; use one of {}",
                        quote(&text),
                        ApiVersion::known_list()
                    ),
                );
                ApiVersion::DEFAULT
            }),
        };
        let token = token(raw.access_token, p);
        let user_agent = user_agent(raw.user_agent, p);
        let lookback = p
            .keep(span("lookback_window", raw.lookback_window, 0))
            .unwrap_or_default();
        let search_index_lag = p
            .keep(span("search_index_lag", raw.search_index_lag, 600))
            .unwrap_or_default();
        let connect_timeout = p
            .keep(seconds("connect_timeout", raw.connect_timeout, 10.0, ONE_DAY))
            .unwrap_or_default();
        let progress_interval = p
            .keep(positive_span("progress_interval", raw.progress_interval, 15))
            .unwrap_or_default();
        let rate_limit_window = p
            .keep(positive_span("rate_limit_window", raw.rate_limit_window, 10))
            .unwrap_or_default();
        problems.into_result()?;
        Ok(Settings {
            export_window: exports.0,
            export_lookback: exports.1,
            export_poll_interval: exports.2,
            export_job_timeout: exports.3,
            token,
            start_date,
            end_date,
            base_url,
            api_version,
            request_timeout,
            user_agent,
            lookback,
            max_concurrency: usize::try_from(max_concurrency).unwrap_or(1),
            max_requests_per_minute,
            max_retries: u32::try_from(raw.max_retries.map_or(5, |v| v.0)).unwrap_or(u32::MAX),
            retry_initial_delay,
            search_index_lag,
            connect_timeout,
            progress_interval,
            rate_limit_window,
            add_workspace_id: raw.add_workspace_id.is_some_and(|v| v.0),
        })
    }

    /// The token, which a sync cannot do without.
    pub fn require_token(&self) -> Result<&Secret, ConfigError> {
        self.token.as_ref().ok_or(ConfigError::MissingToken)
    }
}

/// The exports' window, lookback, poll interval and job timeout.
fn exports(raw: &RawConfig, p: &mut Problems) -> (Duration, Duration, Duration, Duration) {
    let export_window_days = raw.export_window_days.as_ref().map_or(7, |v| v.0);
    if !(1..=366).contains(&export_window_days) {
        p.add(
            "export_window_days",
            format!("{export_window_days} is outside 1 to 366"),
        );
    }
    let export_lookback_days = raw.export_lookback_days.as_ref().map_or(2, |v| v.0);
    if export_lookback_days > 3_660 {
        p.add(
            "export_lookback_days",
            format!("{export_lookback_days} is more than ten years"),
        );
    }
    let export_poll_interval = p
        .keep(seconds(
            "export_poll_interval",
            raw.export_poll_interval.clone(),
            5.0,
            ONE_DAY,
        ))
        .unwrap_or_default();
    let export_job_timeout = p
        .keep(seconds(
            "export_job_timeout",
            raw.export_job_timeout.clone(),
            21_600.0,
            7.0 * ONE_DAY,
        ))
        .unwrap_or_default();
    (
        Duration::from_secs(export_window_days.min(366) * 86_400),
        Duration::from_secs(export_lookback_days.min(3_660) * 86_400),
        export_poll_interval,
        export_job_timeout,
    )
}

/// The token, registered so that no output shows it; its problem named, never its value.
fn token(raw: Option<SecretString>, p: &mut Problems) -> Option<Secret> {
    let token = raw.map(|s| s.0.trim().to_owned()).filter(|s| !s.is_empty()).map(Secret);
    if let Some(token) = &token {
        crate::log::register_secret(token.expose());
        let problem =
            header_problem(token.expose()).or_else(|| token.expose().contains(' ').then_some("contains spaces"));
        if let Some(problem) = problem {
            p.add(
                "access_token",
                format!("{problem}, so it cannot be sent in the Authorization header"),
            );
        }
    }
    token
}

/// The User-Agent header: the setting, or `tap-intercom/<version>`.
fn user_agent(raw: Option<String>, p: &mut Problems) -> String {
    let user_agent = raw
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("tap-intercom/{}", env!("CARGO_PKG_VERSION")));
    if let Some(problem) = header_problem(&user_agent) {
        p.add(
            "user_agent",
            format!(
                "{} {problem}, so it cannot be sent as the User-Agent header",
                quote(&user_agent)
            ),
        );
    }
    user_agent
}

/// The problems found in a config, in the order of the settings.
struct Problems(Vec<ConfigError>);

impl Problems {
    fn keep<T>(&mut self, checked: Result<T, ConfigError>) -> Option<T> {
        checked.map_err(|err| self.0.push(err)).ok()
    }

    fn add(&mut self, key: &'static str, problem: String) {
        self.0.push(ConfigError::Invalid { key, problem });
    }

    /// None, one, or all of them.
    fn into_result(self) -> Result<(), ConfigError> {
        let mut all = self.0;
        match all.len() {
            0 => Ok(()),
            1 => Err(all.remove(0)),
            _ => Err(ConfigError::Several(all)),
        }
    }
}

fn date(key: &'static str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ConfigError> {
    value
        .map(|s| parse_datetime(s).ok_or_else(|| bad_date(key, s)))
        .transpose()
}

/// `base_url` when set, else the region's host.
fn base_url(url: Option<&str>, region: Option<&str>) -> Result<String, ConfigError> {
    match (url, region) {
        (Some(url), _) if !url.trim().is_empty() => check_base_url(url),
        (_, Some(region)) if !region.trim().is_empty() => Region::parse(region)
            .map(|r| r.base_url().to_owned())
            .ok_or_else(|| ConfigError::Invalid {
                key: "region",
                problem: format!("{} is not one of us, eu, au", quote(region)),
            }),
        _ => Ok(Region::Us.base_url().to_owned()),
    }
}

fn bad_date(key: &'static str, value: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: format!(
            "{} is not a date-time (expected RFC 3339, e.g. 2024-01-01T00:00:00Z)",
            quote(value)
        ),
    }
}

/// The longest header value sent: Intercom's tokens and versions are far shorter.
const HEADER_MAX: usize = 4096;

/// Why a value cannot be an HTTP header value, if it cannot: only visible ASCII and spaces
/// travel in a header, and a line break would end it.
fn header_problem(value: &str) -> Option<&'static str> {
    if value.len() > HEADER_MAX {
        Some("is longer than the 4096 bytes a header value may have here")
    } else if value.chars().any(char::is_control) {
        Some("contains control characters (such as a line break)")
    } else if !value.is_ascii() {
        Some("contains characters that are not ASCII")
    } else {
        None
    }
}

/// A URL as messages show it: without the user and password it may carry, cut short.
fn shown_url(url: &str) -> String {
    let redacted = match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    quote(&redacted)
}

/// The default ceiling of requests in flight: 10,000 a minute at 1.5 s a request is 250.
const DEFAULT_CONCURRENCY: u64 = 256;
const MAX_CONCURRENCY: u64 = 1024;

/// The most a timeout or a retry delay may be, in seconds.
const ONE_DAY: f64 = 86_400.0;

/// The longest a lookback or the search index lag may be: a century, which no workspace's
/// history reaches, and far from where date arithmetic overflows.
pub const LONGEST_SPAN: Duration = Duration::from_secs(100 * 366 * 86_400);

fn seconds(key: &'static str, value: Option<Lenient<f64>>, default: f64, max: f64) -> Result<Duration, ConfigError> {
    let secs = value.map_or(default, |v| v.0);
    if secs > max {
        return Err(ConfigError::Invalid {
            key,
            problem: format!("{secs} seconds is more than the {max} allowed"),
        });
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() || key == "retry_initial_delay")
        .ok_or_else(|| ConfigError::Invalid {
            key,
            problem: format!("{secs} is not a positive number of seconds"),
        })
}

/// A whole number of seconds, from 0 to `LONGEST_SPAN`.
fn span(key: &'static str, value: Option<Lenient<u64>>, default: u64) -> Result<Duration, ConfigError> {
    let span = Duration::from_secs(value.map_or(default, |v| v.0));
    if span > LONGEST_SPAN {
        return Err(ConfigError::Invalid {
            key,
            problem: format!(
                "{} seconds is more than the {} allowed (a century)",
                span.as_secs(),
                LONGEST_SPAN.as_secs()
            ),
        });
    }
    Ok(span)
}

/// A whole number of seconds, from 1 to `LONGEST_SPAN`.
fn positive_span(key: &'static str, value: Option<Lenient<u64>>, default: u64) -> Result<Duration, ConfigError> {
    let span = span(key, value, default)?;
    if span.is_zero() {
        return Err(ConfigError::Invalid {
            key,
            problem: "0 seconds is not a length of time the tap can use".into(),
        });
    }
    Ok(span)
}

/// RFC 3339, or the forms people write by hand: a bare date, or a date-time without a zone
/// (read as UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.with_timezone(&Utc));
    }
    naive_datetime(s).map(|naive| naive.and_utc())
}

/// A date-time written without a zone, or a bare date (its midnight): what the zone is, the
/// caller says (UTC for settings, the workspace's zone for the reporting exports).
pub fn naive_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// A URL's port: digits only (`parse` alone would take a sign), from 1 to 65535.
pub fn port_number(text: &str) -> Option<u16> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .filter(|n| *n != 0)
}

/// The longest base URL accepted: far above any real one (a proxy's host and a path prefix),
/// far below what a request line may carry once the tap's own paths are added.
const URL_MAX: usize = 2048;

/// Accepts `https://host[:port][/prefix]`, and `http://` only for loopback hosts, so that the
/// token never crosses a network in clear text.
///
/// The URL is checked here as the HTTP client would read it, so that a typo is named now, as
/// the setting, rather than at the first request: ASCII without spaces or control characters,
/// a host that is a DNS name, an IPv4 address or an IPv6 address in brackets, a port from 1 to
/// 65535, and a path of RFC 3986 characters with well-formed percent escapes.
fn check_base_url(url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let invalid = |problem: &str| ConfigError::Invalid {
        key: "base_url",
        problem: format!("{} {problem}", shown_url(url)),
    };
    if url.len() > URL_MAX {
        return Err(invalid(&format!(
            "is longer than the {URL_MAX} bytes a base URL may have"
        )));
    }
    if url.chars().any(char::is_control) {
        return Err(invalid("contains control characters (such as a tab or a line break)"));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(invalid("contains spaces"));
    }
    if !url.is_ascii() {
        return Err(invalid(
            "contains characters that are not ASCII (write an international host name in its xn-- form and percent-encode a path)",
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("is not an http(s) URL (expected https://host[:port][/path])"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(invalid("is not an http(s) URL"));
    }
    if rest.contains(['?', '#']) {
        return Err(invalid(
            "must be scheme://host[:port][/path] without a query (?) or fragment (#)",
        ));
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(invalid(
            "must be scheme://host[:port][/path] without credentials (a user or password before @)",
        ));
    }
    let host = authority_host(authority).map_err(|problem| invalid(&problem))?;
    if let Some(problem) = path_problem(path) {
        return Err(invalid(&problem));
    }
    let loopback = match host {
        Host::Ip(ip) => ip.is_loopback(),
        Host::Name(name) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    };
    if scheme == "http" && !loopback {
        return Err(invalid("uses plain http to a host that is not loopback; use https"));
    }
    Ok(url.to_owned())
}

/// The host of a base URL: a name or an address.
enum Host<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

/// The host of `host[:port]` or `[v6][:port]`, once both parts are checked.
fn authority_host(authority: &str) -> Result<Host<'_>, String> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or("has a '[' without its ']' (an IPv6 address is written as in http://[::1]:8080)")?;
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| format!("has {} in brackets, which is not an IPv6 address", quote(v6)))?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':').ok_or_else(|| {
                format!(
                    "has {} after its IPv6 address, where only :port may follow",
                    quote(after)
                )
            })?),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err(
                "has more than one ':' in its host (an IPv6 address is written in brackets, as in http://[::1]:8080)"
                    .into(),
            );
        }
        (name_or_ipv4(name)?, port)
    };
    if let Some(port) = port {
        if port.is_empty() {
            return Err("has a ':' after its host but no port".into());
        }
        if port_number(port).is_none() {
            return Err(format!(
                "has port {}, which is not a number from 1 to 65535",
                quote(port)
            ));
        }
    }
    Ok(host)
}

/// A DNS name (letters, digits, `-` and `_` in labels of at most 63, at most 253 in all, an
/// optional final dot), or an IPv4 address when the last label is a number, as URL parsers
/// read it.
fn name_or_ipv4(host: &str) -> Result<Host<'_>, String> {
    if host.is_empty() {
        return Err("has no host".into());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = name.split('.').collect();
    if labels
        .last()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return name
            .parse::<Ipv4Addr>()
            .map(|ip| Host::Ip(IpAddr::V4(ip)))
            .map_err(|_| {
                "has a host that ends in a number but is not an IPv4 address (four numbers from 0 to 255)".into()
            });
    }
    if name.len() > 253 {
        return Err("has a host name longer than the 253 characters DNS allows".into());
    }
    for label in labels {
        if label.is_empty() {
            return Err("has an empty label in its host name (a dot first, or two in a row)".into());
        }
        if label.len() > 63 {
            return Err("has a label longer than the 63 characters DNS allows in its host name".into());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            return Err(format!(
                "has {c:?} in its host, where only letters, digits, '-', '_' and '.' may be"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a label that starts or ends with '-' in its host name".into());
        }
    }
    Ok(Host::Name(host))
}

/// Why a path prefix is not one a URL may carry, if it is not: RFC 3986 path characters
/// only, and `%` only before two hex digits.
fn path_problem(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
        if !allowed {
            return Some(format!(
                "has {:?} in its path, which a URL must percent-encode",
                char::from(b)
            ));
        }
        if b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            return Some("has a '%' in its path that is not followed by two hex digits".into());
        }
    }
    None
}

/// One source of settings, in the order given on the command line.
enum Layer {
    File(PathBuf),
    Environment,
}

/// Settings from one JSON object, as a config file holds them (for tests).
#[cfg(test)]
pub fn settings_from_json(value: Value) -> Result<Settings, ConfigError> {
    let Value::Object(map) = value else {
        return Err(ConfigError::Invalid {
            key: "config",
            problem: "not an object".into(),
        });
    };
    let raw = parse_merged(map).map_err(|err| match err {
        Error::Config(c) => c,
        other => ConfigError::Invalid {
            key: "config",
            problem: other.to_string(),
        },
    })?;
    Settings::from_raw(raw)
}

/// Reads and merges the config files and the environment into one raw config.
///
/// Files are merged key by key, later files winning. `--config ENV` places the environment at
/// that point; otherwise it sits below every file and only fills gaps.
pub fn load(paths: &[PathBuf]) -> Result<RawConfig, Error> {
    let mut layers: Vec<Layer> = paths
        .iter()
        .map(|p| {
            if p.as_os_str() == "ENV" {
                Layer::Environment
            } else {
                Layer::File(p.clone())
            }
        })
        .collect();
    if !layers.iter().any(|l| matches!(l, Layer::Environment)) {
        layers.insert(0, Layer::Environment);
    }
    let mut merged = Map::new();
    for layer in layers {
        match layer {
            Layer::Environment => merged.extend(environment()),
            Layer::File(path) => merged.extend(read_file(&path)?),
        }
    }
    parse_merged(merged)
}

fn read_file(path: &Path) -> Result<Map<String, Value>, Error> {
    match jsonfile::read("config", path)? {
        Value::Object(map) => Ok(map),
        other => Err(Error::Input {
            what: "config",
            path: path.to_owned(),
            problem: format!("expected a JSON object of settings, found {}", kind_of(&other)),
        }),
    }
}

fn environment() -> Map<String, Value> {
    SETTING_NAMES
        .iter()
        .filter_map(|name| {
            let var = format!("{ENV_PREFIX}{}", name.to_ascii_uppercase());
            std::env::var(var).ok().map(|v| ((*name).to_owned(), Value::String(v)))
        })
        .collect()
}

/// Turns merged settings into a [`RawConfig`], naming the setting in any error. Unknown keys
/// are reported, never fatal: Singer configs often carry settings of other tools.
fn parse_merged(merged: Map<String, Value>) -> Result<RawConfig, Error> {
    let mut problems = Vec::new();
    for (key, value) in &merged {
        if !SETTING_NAMES.contains(&key.as_str()) {
            crate::warn!("config: ignoring unknown setting {}", quote(key));
            continue;
        }
        if value.is_null() {
            continue;
        }
        let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(err) = serde_json::from_value::<RawConfig>(single) {
            problems.push(ConfigError::Invalid {
                key: SETTING_NAMES.iter().find(|n| **n == key).copied().unwrap_or("setting"),
                problem: err.to_string(),
            });
        }
    }
    // The settings that read as their type; the others are reported with every other problem.
    let known: Map<String, Value> = merged
        .into_iter()
        .filter(|(k, v)| {
            SETTING_NAMES.contains(&k.as_str())
                && !v.is_null()
                && !problems
                    .iter()
                    .any(|p| matches!(p, ConfigError::Invalid { key, .. } if key == k))
        })
        .collect();
    let mut raw: RawConfig = serde_json::from_value(Value::Object(known)).map_err(|err| {
        Error::Config(ConfigError::Invalid {
            key: "config",
            problem: err.to_string(),
        })
    })?;
    raw.problems = problems;
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: Value) -> Result<Settings, ConfigError> {
        let Value::Object(map) = v else { panic!() };
        Settings::from_raw(parse_merged(map).map_err(|e| match e {
            Error::Config(c) => c,
            other => panic!("{other}"),
        })?)
    }

    /// What `--about` (and so the README's settings table and meltano.yml) says each default
    /// is, is what a config without the setting gets.
    #[test]
    fn defaults_are_the_documented_ones() {
        let schema = crate::about::settings_schema();
        let props = schema["properties"].as_object().unwrap();
        let unset = settings(json!({"access_token": "tok-123456789"})).unwrap();
        let mut documented = 0;
        for (name, prop) in props {
            let Some(default) = prop.get("default").filter(|d| !d.is_null()) else {
                continue;
            };
            documented += 1;
            let set = settings(json!({"access_token": "tok-123456789", name.as_str(): default}))
                .unwrap_or_else(|e| panic!("{name}: the documented default {default} is refused: {e}"));
            assert_eq!(format!("{set:?}"), format!("{unset:?}"), "{name}: documented {default}");
        }
        assert!(documented >= 12, "{documented} settings document a default");
        // And the values themselves, as the README's settings table gives them.
        assert_eq!(unset.base_url, "https://api.intercom.io");
        assert_eq!(unset.request_timeout, Duration::from_secs(300));
        assert_eq!(unset.max_concurrency, 256);
        assert_eq!(unset.search_index_lag, Duration::from_secs(600));
        assert_eq!(unset.rate_limit_window, Duration::from_secs(10));
    }

    #[test]
    fn numbers_may_be_strings_and_versions_numbers() {
        let s = settings(json!({"request_timeout": "12.5", "api_version": 2.14, "max_concurrency": "3"})).unwrap();
        assert_eq!(s.request_timeout, Duration::from_millis(12_500));
        assert_eq!(s.api_version, ApiVersion::V2_14);
        assert_eq!(s.max_concurrency, 3);
    }

    #[test]
    fn regions_and_base_urls() {
        assert_eq!(
            settings(json!({"region": "EU"})).unwrap().base_url,
            "https://api.eu.intercom.io"
        );
        assert_eq!(
            settings(json!({"region": "au"})).unwrap().base_url,
            "https://api.au.intercom.io"
        );
        let err = settings(json!({"region": "mars"})).unwrap_err().to_string();
        assert!(err.contains("region") && err.contains("mars"), "{err}");
        assert_eq!(
            settings(json!({"base_url": "http://127.0.0.1:8080/"}))
                .unwrap()
                .base_url,
            "http://127.0.0.1:8080"
        );
        assert!(settings(json!({"base_url": "http://example.com"})).is_err());
        assert!(settings(json!({"base_url": "ftp://example.com"})).is_err());
        assert!(settings(json!({"base_url": "https://user:pw@example.com"})).is_err());
    }

    #[test]
    fn base_urls_that_work_are_accepted() {
        for (given, kept) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            (" https://api.eu.intercom.io\n", "https://api.eu.intercom.io"),
            ("https://api.intercom.io:443", "https://api.intercom.io:443"),
            (
                "https://proxy.example.com/intercom/",
                "https://proxy.example.com/intercom",
            ),
            (
                "https://proxy.example.com/a%2Fb/v1",
                "https://proxy.example.com/a%2Fb/v1",
            ),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[::1]", "http://[::1]"),
            ("http://localhost:1", "http://localhost:1"),
            ("http://LOCALHOST", "http://LOCALHOST"),
            ("http://127.1.2.3:65535", "http://127.1.2.3:65535"),
            ("HTTPS://API.INTERCOM.IO", "HTTPS://API.INTERCOM.IO"),
            ("https://api.intercom.io.", "https://api.intercom.io."),
            ("https://my_proxy:8443", "https://my_proxy:8443"),
            ("https://10.0.0.1", "https://10.0.0.1"),
            ("https://[2001:db8::1]:443/x", "https://[2001:db8::1]:443/x"),
        ] {
            match check_base_url(given) {
                Ok(url) => assert_eq!(url, kept, "{given:?}"),
                Err(err) => panic!("{given:?} refused: {err}"),
            }
        }
    }

    #[test]
    fn base_urls_that_would_fail_later_are_refused_naming_the_problem() {
        let long = format!("https://{}.com", "x".repeat(10 * 1024 * 1024));
        for (given, problem) in [
            ("http://127.0.0.1:80\t80", "control characters"),
            ("http://127.0.0.1\u{0}", "control characters"),
            ("https://exa mple.com", "contains spaces"),
            ("https://api.intercom.io/a b", "contains spaces"),
            ("https://intercöm.io", "not ASCII"),
            (
                "http://127.0.0.1:99999",
                "port \"99999\", which is not a number from 1 to 65535",
            ),
            ("http://127.0.0.1:0", "port \"0\""),
            ("http://127.0.0.1:-1", "port \"-1\""),
            ("http://127.0.0.1:80x", "port \"80x\""),
            ("http://127.0.0.1:", "a ':' after its host but no port"),
            ("https://api.intercom.io:/v1", "a ':' after its host but no port"),
            ("http://::1:8080", "more than one ':'"),
            ("http://[::1:8080", "'[' without its ']'"),
            ("http://[::g]:8080", "not an IPv6 address"),
            ("http://[fe80::1%25eth0]", "not an IPv6 address"),
            ("http://[::1]x", "only :port may follow"),
            ("https://", "not an http(s) URL"),
            ("https:///intercom", "has no host"),
            ("https://:443", "has no host"),
            ("https://exa%20mple.com", "'%' in its host"),
            ("https://exa<mple.com", "'<' in its host"),
            ("https://a..b", "empty label"),
            ("https://.a.b", "empty label"),
            ("https://-a.b", "starts or ends with '-'"),
            ("http://999.0.0.1", "not an IPv4 address"),
            ("http://127.1", "not an IPv4 address"),
            ("https://proxy.example.com/a%zz", "'%' in its path"),
            ("https://proxy.example.com/a%2", "'%' in its path"),
            ("https://proxy.example.com/<x>", "'<' in its path"),
            ("https://api.intercom.io?x=1", "query"),
            ("https://api.intercom.io/#top", "fragment"),
            ("https://user:pw@example.com", "credentials"),
            ("http://127.evil.example.com", "plain http"),
            ("http://localhost.evil.example.com", "plain http"),
            ("http://10.0.0.1", "plain http"),
            ("ftp://example.com", "not an http(s) URL"),
            ("example.com", "not an http(s) URL"),
            (long.as_str(), "longer than the 2048 bytes a base URL may have"),
        ] {
            let err = check_base_url(given).map_or_else(|e| e.to_string(), |ok| panic!("{given:?} accepted as {ok}"));
            assert!(
                err.starts_with("base_url: ") && err.contains(problem),
                "{given:?}: {err}"
            );
            assert!(err.len() < 300, "{given:?}: the value is cut short: {err}");
        }
        let label = format!("https://{}.com", "a".repeat(64));
        assert!(check_base_url(&label).is_err());
        let name = format!("https://{}com", "abcdefghi.".repeat(26));
        assert!(check_base_url(&name).is_err());
        let err = check_base_url("https://user:secret-pw@exa mple.com")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret-pw"), "{err}");
    }

    #[test]
    fn dates_in_the_usual_forms() {
        for s in [
            "2024-01-02T03:04:05Z",
            "2024-01-02T04:04:05+01:00",
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05",
        ] {
            assert_eq!(
                parse_datetime(s).unwrap().to_rfc3339(),
                "2024-01-02T03:04:05+00:00",
                "{s}"
            );
        }
        assert_eq!(
            parse_datetime("2024-01-02").unwrap().to_rfc3339(),
            "2024-01-02T00:00:00+00:00"
        );
        assert!(parse_datetime("yesterday").is_none());
        let err = settings(json!({"start_date": "2024-13-01"})).unwrap_err().to_string();
        assert!(err.contains("start_date") && err.contains("2024-13-01"), "{err}");
        assert!(settings(json!({"start_date": "2024-02-01", "end_date": "2024-01-01"})).is_err());
    }

    #[test]
    fn a_wrongly_typed_token_is_reported_without_its_value() {
        let Value::Object(map) = json!({"access_token": ["secret-value-1"]}) else {
            panic!()
        };
        let err = Settings::from_raw(parse_merged(map).unwrap()).unwrap_err().to_string();
        assert!(err.contains("access_token"), "{err}");
        assert!(!err.contains("secret-value-1"), "{err}");
        assert!(!format!("{:?}", Secret("abcdefgh".into())).contains("abcdefgh"));
    }

    #[test]
    fn bad_numbers_name_the_setting() {
        let Value::Object(map) = json!({"max_retries": "many"}) else {
            panic!()
        };
        let err = Settings::from_raw(parse_merged(map).unwrap()).unwrap_err().to_string();
        assert!(err.contains("max_retries") && err.contains("many"), "{err}");
        assert!(settings(json!({"max_concurrency": 0})).is_err());
        assert!(settings(json!({"request_timeout": -1})).is_err());
    }
}
