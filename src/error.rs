//! The errors of a run, at the bottom of the house: every other module may use them, and they
//! use none of ours. Each variant carries what a user needs to act on it: the file and the
//! position of bad JSON, the setting or variable that is wrong, the stream and request that
//! failed with Intercom's error code and request id. None of them can hold the access token
//! or a proxy's password.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot read {what} file {}: {source}", path.display())]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{what} file {} is not valid JSON: {message} at line {line}, column {column}", path.display())]
    BadJson {
        what: &'static str,
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{what} file {}: {problem}", path.display())]
    Input {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },

    /// Each setting's problem on a line of its own (not a `source`: the lines are the message).
    #[error("{}", config_lines(.0))]
    Config(ConfigError),

    /// A variable of the environment that sets up the network (`HTTPS_PROXY`, `SSL_CERT_FILE`,
    /// ...) cannot be used. The problem names the value or file, never a proxy's password.
    #[error("{variable}: {problem}")]
    Network { variable: &'static str, problem: String },

    #[error(transparent)]
    Api(#[from] ApiError),

    /// The check before any stream starts failed: nothing would work.
    #[error("cannot sync from {host}: {source}")]
    Check { host: String, source: ApiError },

    /// Intercom answered with something the tap cannot turn into records.
    #[error("{stream}: {request}: {problem}")]
    BadResponse {
        stream: &'static str,
        request: String,
        problem: String,
    },

    /// A walk through pages that went in circles (see `paging::walk`).
    #[error("{stream}: {request}: {problem}")]
    Circles {
        stream: &'static str,
        request: String,
        problem: String,
    },

    /// A record did not fit its stream's schema and could not be converted without loss.
    /// `request` is the one whose answer held it, when known.
    #[error("{stream}: record {record}: {problem}{}", in_answer(request))]
    BadRecord {
        stream: &'static str,
        record: String,
        problem: String,
        request: String,
    },

    /// Records of a stream that could not be written: the stream went on without them and its
    /// bookmark stayed below the first, so that the next run reads them again. `first` is the
    /// one with the earliest replication value, so that the same input names the same record.
    #[error("{stream}: {}", not_written(*count, first))]
    NotWritten {
        stream: &'static str,
        count: u64,
        first: Box<Error>,
    },

    /// Streams that failed while the others ran to completion (each error names its stream).
    #[error("{}", streams_failed(failed, *streams))]
    StreamsFailed { failed: Vec<Error>, streams: usize },

    #[error(
        "writing to stdout failed ({0}); the target reading the tap's output has stopped, so the run is not complete"
    )]
    Stdout(#[source] io::Error),

    #[error("{stream}: cannot start a thread: {source}")]
    Spawn { stream: &'static str, source: io::Error },

    /// A bug: a stream's thread panicked. The run stops as for any other failure.
    #[error(
        "{stream}: stopped by an internal error, a bug in tap-intercom (the lines above say where); please report it"
    )]
    Internal { stream: &'static str },

    /// The whole run is stopping (a failure that concerns every stream, met by another): this
    /// stream stopped early to let it end.
    #[error("stopped because the run is stopping")]
    Aborted,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("access_token is missing: set it in the config file or in TAP_INTERCOM_ACCESS_TOKEN")]
    MissingToken,

    #[error("{key}: {problem}")]
    Invalid { key: &'static str, problem: String },

    /// More than one setting is wrong: each on a line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

/// A value as an error message quotes it: its first 60 characters, and `...` when there is
/// more, so that a huge setting or answer never fills a log line.
pub fn cut_short(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(60).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// A value as messages quote it: in quotes, escaped, and cut short after 60 characters with
/// its length in bytes, so that a huge setting or name never fills a log line.
pub fn quote(value: &str) -> String {
    const SHOWN: usize = 60;
    if value.chars().nth(SHOWN).is_none() {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(SHOWN).collect();
    format!("{head:?}... ({} bytes in all)", value.len())
}

/// What kind of JSON value this is, as messages name it (`a string`, `an array`).
pub fn kind_of(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Error {
        Error::Config(err)
    }
}

/// ` (in the answer to GET /x)`, or nothing when the request is not known.
fn in_answer(request: &str) -> String {
    if request.is_empty() {
        String::new()
    } else {
        format!(" (in the answer to {request})")
    }
}

/// `record 603 not written: ...`, or `3 records not written; the first: record 603: ...`.
fn not_written(count: u64, first: &Error) -> String {
    let first = first_of(first);
    if count == 1 {
        match first.split_once(": ") {
            Some((what, why)) if what.starts_with("record ") => format!("{what} not written: {why}"),
            _ => format!("not written: {first}"),
        }
    } else {
        format!("{count} records not written; the first: {first}")
    }
}

/// The first bad record's error without the stream's name, which its caller already says.
fn first_of(first: &Error) -> String {
    let text = first.to_string();
    match first.stream() {
        Some(stream) => text
            .strip_prefix(&format!("{stream}: "))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    }
}

/// A line saying how many streams failed, then a line per failed stream.
fn streams_failed(failed: &[Error], streams: usize) -> String {
    let mut out = format!(
        "{} of {streams} streams failed; the others completed, and the state holds every stream's bookmark (a failed stream's below what it could not read):",
        failed.len()
    );
    for err in failed {
        out.push('\n');
        out.push_str(&err.to_string());
    }
    out
}

/// `config: ` before each problem's line.
fn config_lines(err: &ConfigError) -> String {
    err.to_string()
        .lines()
        .map(|line| format!("config: {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    /// 2 for bad input (files, settings), 1 for a sync that failed while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::ReadFile { .. }
            | Error::BadJson { .. }
            | Error::Input { .. }
            | Error::Config(_)
            | Error::Network { .. } => 2,
            _ => 1,
        }
    }

    /// Whether this failure concerns the whole run rather than one stream, so that every
    /// stream stops at once: a token Intercom refuses, a host that cannot be reached, a rate
    /// limit another app uses up, a target that stopped reading, bad settings or files.
    pub fn concerns_the_run(&self) -> bool {
        match self {
            Error::ReadFile { .. }
            | Error::BadJson { .. }
            | Error::Input { .. }
            | Error::Config(_)
            | Error::Network { .. }
            | Error::Check { .. }
            | Error::Stdout(_)
            | Error::Aborted => true,
            Error::Api(api) => api.concerns_the_run(),
            Error::StreamsFailed { failed, .. } => failed.iter().any(Error::concerns_the_run),
            Error::BadResponse { .. }
            | Error::Circles { .. }
            | Error::BadRecord { .. }
            | Error::NotWritten { .. }
            | Error::Spawn { .. }
            | Error::Internal { .. } => false,
        }
    }

    /// The stream the error is about, when it names one.
    pub fn stream(&self) -> Option<&'static str> {
        match self {
            Error::Api(api) => Some(api.stream),
            Error::BadResponse { stream, .. }
            | Error::Circles { stream, .. }
            | Error::BadRecord { stream, .. }
            | Error::NotWritten { stream, .. }
            | Error::Spawn { stream, .. }
            | Error::Internal { stream } => Some(stream),
            _ => None,
        }
    }

    /// Whether this is only the echo of another stream's failure.
    pub fn is_abort(&self) -> bool {
        match self {
            Error::Aborted => true,
            Error::Api(api) => api.is_aborted(),
            _ => false,
        }
    }

    /// The HTTP status of a failed request, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(api) => api.status(),
            _ => None,
        }
    }
}

/// A request to Intercom that failed for good.
#[derive(Debug, Error)]
#[error("{stream}: {method} {path} {failure}")]
pub struct ApiError {
    pub stream: &'static str,
    /// `GET` or `POST`.
    pub method: &'static str,
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
    /// No answer: connection refused or reset, timeout, TLS trouble. `lasting` when the host
    /// could not be reached at all (unknown, refusing connections, TLS failing), rather than
    /// an answer lost on the way.
    Transport {
        detail: String,
        attempts: u32,
        lasting: bool,
    },
    /// An answer whose body was cut short or was not JSON.
    BadBody { detail: String, attempts: u32 },
    /// The run is stopping (see [`Error::concerns_the_run`]).
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
            Failure::Transport { detail, attempts, .. } => {
                write!(f, "failed{}: {detail}", tries(*attempts))
            }
            Failure::BadBody { detail, attempts } => {
                write!(f, "gave an unreadable answer{}: {detail}", tries(*attempts))
            }
            Failure::Aborted => f.write_str("was not sent: the run is stopping"),
        }
    }
}

impl Failure {
    /// The same failure, counted over `n` attempts.
    #[must_use]
    pub fn after(mut self, n: u32) -> Failure {
        match &mut self {
            Failure::Status { attempts, .. }
            | Failure::Transport { attempts, .. }
            | Failure::BadBody { attempts, .. } => {
                *attempts = n;
            }
            Failure::Aborted => {}
        }
        self
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

    /// Whether the failure concerns the whole run (see [`Error::concerns_the_run`]): a token
    /// refused (401), a rate limit still used up after many windows (429), a host that cannot
    /// be reached, or the run stopping.
    pub fn concerns_the_run(&self) -> bool {
        match &*self.failure {
            Failure::Status { status, .. } => matches!(status, 401 | 429),
            Failure::Transport { lasting, .. } => *lasting,
            Failure::BadBody { .. } => false,
            Failure::Aborted => true,
        }
    }
}
