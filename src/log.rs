//! Logs and Singer metrics, on stderr only.
//!
//! Lines look like `2026-11-22T04:05:06.123Z INFO     contacts: 150 records`. Metric lines
//! follow the Singer/SDK form `INFO METRIC: {"type":"counter",...}` so that log tooling built for
//! Python taps reads them. With `--log-format json` (or `TAP_INTERCOM_LOG_FORMAT=json`) each line
//! is instead one JSON object: `timestamp`, `level`, `logger`, `message`, and for a metric its
//! `metric_info` as an object. Every line passes through [`scrub`], which blanks the access token
//! should it ever reach a message.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::cli::LogFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
    Critical = 4,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" => Some(Level::Error),
            "critical" | "fatal" => Some(Level::Critical),
            _ => None,
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JSON: AtomicBool = AtomicBool::new(false);
/// The access token and any proxy password: blanked wherever a line would show them.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
/// Whether stderr is a terminal that shows a live board of the running streams.
static LIVE: AtomicBool = AtomicBool::new(false);
/// The board's lines as last drawn, below the log: erased and drawn again around each log line.
static BOARD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Reads `TAP_INTERCOM_LOG_LEVEL` (debug, info, warning, error; info when unset or unknown) and
/// the log format: `format` from the command line, else `TAP_INTERCOM_LOG_FORMAT` (text or
/// json; text when unset or unknown).
pub fn init(format: Option<LogFormat>) {
    if let Some(level) = std::env::var("TAP_INTERCOM_LOG_LEVEL")
        .ok()
        .as_deref()
        .and_then(Level::parse)
    {
        MIN_LEVEL.store(level as u8, Ordering::Relaxed);
    }
    let json = format.map_or_else(
        || std::env::var("TAP_INTERCOM_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")),
        |f| f == LogFormat::Json,
    );
    JSON.store(json, Ordering::Relaxed);
    LIVE.store(!json && std::io::stderr().is_terminal(), Ordering::Relaxed);
}

/// Whether a live board is shown: stderr is a terminal and the log is text.
pub fn live() -> bool {
    LIVE.load(Ordering::Relaxed)
}

/// Replaces the live board below the log with `lines` (none to clear it). Does nothing unless
/// [`live`]. Lines are cut to the terminal's width, so that none wraps and the board can be
/// erased line by line.
pub fn board(lines: Vec<String>) {
    if !live() {
        return;
    }
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(80);
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| scrub(l).chars().take(width.saturating_sub(1).max(20)).collect())
        .collect();
    let mut shown = BOARD.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = erase(shown.len());
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    *shown = lines;
}

/// The escapes that move up over `lines` lines and clear them and everything below.
fn erase(lines: usize) -> String {
    if lines == 0 {
        String::new()
    } else {
        format!("\x1b[{lines}F\x1b[J")
    }
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Registers a secret (the access token, a proxy's password) so that no log line can ever
/// show it.
pub fn register_secret(secret: &str) {
    // Very short values would blank innocent text; a real token is long.
    if secret.len() >= 8 {
        let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_owned());
        }
    }
}

fn scrub(mut line: String) -> String {
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    for secret in secrets.iter() {
        if line.contains(secret.as_str()) {
            line = line.replace(secret.as_str(), "***");
        }
    }
    line
}

pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if enabled(level) {
        line(level, &args.to_string(), None);
    }
}

/// Writes one line, as text or as JSON, `metric` being a metric's body.
fn line(level: Level, message: &str, metric: Option<&Value>) {
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let line = if JSON.load(Ordering::Relaxed) {
        let mut object = json!({
            "timestamp": ts,
            "level": level.name().to_ascii_lowercase(),
            "logger": "tap-intercom",
            "message": scrub(message.to_owned()),
        });
        if let Some(metric) = metric {
            object["metric_info"] = metric.clone();
        }
        // The token is blanked before escaping and after: escaped, it would not match.
        scrub(format!("{object}\n"))
    } else {
        scrub(format!("{ts} {:<8} {message}\n", level.name()))
    };
    if live() {
        // The line goes above the board: erase the board, write, draw the board again.
        let shown = BOARD.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = erase(shown.len());
        text.push_str(&line);
        for row in shown.iter() {
            text.push_str(row);
            text.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        return;
    }
    // A log line that cannot be written has nowhere else to go.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The last words of a failed run: one line, the whole error chain.
pub fn critical(err: &dyn std::error::Error) {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
        source = cause_of(source);
    }
    // A message of several lines (every bad setting of a config) is a CRITICAL line each.
    for line in message.lines() {
        write(Level::Critical, format_args!("{line}"));
    }
}

fn cause_of<'a>(err: Option<&'a (dyn std::error::Error + 'static)>) -> Option<&'a (dyn std::error::Error + 'static)> {
    err.and_then(std::error::Error::source)
}

/// A Singer counter metric (`record_count`, `http_request_count`, ...).
pub fn counter(metric: &str, value: u64, tags: Value) {
    emit_metric("counter", metric, json!(value), tags);
}

/// A Singer timer metric, in seconds (`http_request_duration`, `sync_duration`).
pub fn timer(metric: &str, seconds: f64, tags: Value) {
    emit_metric("timer", metric, json!((seconds * 1e6).round() / 1e6), tags);
}

fn emit_metric(kind: &str, metric: &str, value: Value, tags: Value) {
    if enabled(Level::Info) {
        let body = json!({"type": kind, "metric": metric, "value": value, "tags": tags});
        line(Level::Info, &format!("METRIC: {body}"), Some(&body));
    }
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::parse("Warning"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
    }
}
