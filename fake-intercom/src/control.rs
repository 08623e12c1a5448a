//! The queries of `POST /_fake/fault` and `POST /_fake/pace`, promoted to a [`Fault`] and a
//! [`Pace`]: how checks that run the fake as its own process make it misbehave or slow down, as
//! tests in the same process do with `FakeIntercom::add_fault` and its options.

use std::time::Duration;

use crate::server::Request;
use crate::{Fault, FaultKind, Pace, RateLimit};

/// The pace a `POST /_fake/pace?latency_ms=N[&jitter_ms=J][&rate_limit=R]` asks for: answers
/// take N ms, give or take J (N/3 when not given), under R requests per 10-second window (no
/// limit when R is 0 or not given).
pub(crate) fn pace(req: &Request) -> Result<Pace, String> {
    let latency = count(req, "latency_ms")?.ok_or("latency_ms is required")?;
    let jitter = count(req, "jitter_ms")?.unwrap_or(latency / 3);
    let limit = count(req, "rate_limit")?.unwrap_or(0);
    Ok(Pace {
        latency: Duration::from_millis(latency as u64),
        jitter: Duration::from_millis(jitter as u64),
        rate_limit: (limit > 0).then_some(RateLimit {
            limit: limit as u64,
            window_secs: 10,
        }),
    })
}

/// The fault a `POST /_fake/fault?path=…&kind=…[&status=…][&method=…][&times=…][&skip=…]`
/// asks for, or what is wrong with its query (one line, for Intercom's error envelope).
pub(crate) fn fault(req: &Request) -> Result<Fault, String> {
    let path = req.query("path").ok_or("path is required")?;
    if !path.starts_with('/') {
        return Err(format!("path {path} must start with /"));
    }
    let kind = parse_kind(req)?;
    let mut fault = Fault::new(&path, kind)
        .times(count(req, "times")?.unwrap_or(1))
        .skip(count(req, "skip")?.unwrap_or(0));
    if let Some(method) = req.query("method") {
        fault = fault.method(parse_method(&method)?);
    }
    Ok(fault)
}

/// The `kind` and, for `status`, the `status` it needs; `status` with another kind is refused
/// rather than ignored, so that a mistyped check does not test something else quietly.
fn parse_kind(req: &Request) -> Result<FaultKind, String> {
    let name = req.query("kind").ok_or("kind is required")?;
    let status = req.query("status");
    if name == "status" {
        let status = status.ok_or("kind=status needs a status")?;
        return match status.parse::<u16>() {
            Ok(code @ 100..=599) => Ok(FaultKind::Status(code)),
            _ => Err(format!("status {status} is not an HTTP status")),
        };
    }
    if status.is_some() {
        return Err(format!("status goes with kind=status, not kind={name}"));
    }
    match name.as_str() {
        "null_item" => Ok(FaultKind::NullItem),
        "null_cursor" => Ok(FaultKind::NullCursor),
        "ignore_filter" => Ok(FaultKind::IgnoreFilter),
        "repeat_page" => Ok(FaultKind::RepeatPage),
        "not_json" => Ok(FaultKind::NotJson),
        "truncated" => Ok(FaultKind::Truncated),
        "dropped" => Ok(FaultKind::Dropped),
        other => Err(format!(
            "unknown kind {other}: status, null_item, null_cursor, ignore_filter, repeat_page, not_json, truncated or dropped"
        )),
    }
}

/// A `Fault` keeps its method as a `&'static str`: the two the fake's endpoints use.
fn parse_method(name: &str) -> Result<&'static str, String> {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Ok("GET"),
        "POST" => Ok("POST"),
        _ => Err(format!("method {name} is not GET or POST")),
    }
}

/// A count in the query, if given.
fn count(req: &Request, key: &str) -> Result<Option<usize>, String> {
    req.query(key)
        .map(|n| n.parse().map_err(|_| format!("{key} {n} is not a count")))
        .transpose()
}
