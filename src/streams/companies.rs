//! Companies, through the scroll API: the only way to read every company (the list endpoint
//! stops at 10,000 and skips companies without users). Everything is read and what changed since
//! the bookmark is emitted.
//!
//! The scroll's rules (`intercom-api.md` §3.5): one scroll per app at a time, so a `scroll_exists`
//! answer is waited out, within a bound; a scroll unused for a minute expires (404) and a
//! network error surfaces as a 500, and neither can be resumed, so both restart the scroll from
//! the beginning; the end is an empty page. A scroll page is never retried as it was: the
//! server may already have moved past it. Nothing ends the stream early: it completes, or the
//! run fails.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Error;
use crate::http::{ApiError, Failure, Request, encode};
use crate::streams::pages::take_items;
use crate::sync::Job;
use crate::{info, warn};

/// How long another scroll of the app may keep ours from opening.
const SCROLL_EXISTS_PATIENCE: Duration = Duration::from_secs(180);
/// Longest pause between two attempts to open the scroll.
const SCROLL_EXISTS_STEP: Duration = Duration::from_secs(15);
/// Restarts allowed before the stream fails.
const MAX_RESTARTS: u32 = 5;

/// Why a scroll stopped before its end.
enum Stop {
    /// The scroll cannot continue; a new one can.
    Restart(String),
    Fail(Error),
}

impl From<Error> for Stop {
    fn from(err: Error) -> Stop {
        Stop::Fail(err)
    }
}

pub fn run(job: &Job<'_>) -> Result<(), Error> {
    let mut restarts = 0;
    loop {
        match scroll(job) {
            Ok(()) => return job.finish_scan(),
            Err(Stop::Fail(err)) => return Err(err),
            Err(Stop::Restart(why)) if restarts < MAX_RESTARTS => {
                restarts += 1;
                warn!(
                    "{}: {why}; restarting the scroll from the beginning ({restarts} of {MAX_RESTARTS})",
                    job.name()
                );
            }
            Err(Stop::Restart(why)) => {
                return Err(Error::BadResponse {
                    stream: job.name(),
                    request: "GET /companies/scroll".into(),
                    problem: format!("the scroll failed {} times, last because {why}", restarts + 1),
                });
            }
        }
    }
}

/// One scroll from its opening to its empty last page.
fn scroll(job: &Job<'_>) -> Result<(), Stop> {
    let mut page = open(job)?;
    let mut pages = 0u64;
    loop {
        job.check_abort()?;
        let extracted = job.now();
        let items = take_items(job.name(), "/companies/scroll", &mut page, "data")?;
        if items.is_empty() {
            info!("{}: scroll complete after {pages} pages", job.name());
            return Ok(());
        }
        pages += 1;
        for item in items {
            job.offer(item, &extracted)?;
        }
        let Some(param) = page.get("scroll_param").and_then(Value::as_str).map(encode) else {
            return Err(Stop::Restart("a scroll page came without scroll_param".into()));
        };
        page = next(job, &format!("/companies/scroll?scroll_param={param}"))?;
    }
}

/// A scroll request, which is never repeated as it was (see the module).
fn next(job: &Job<'_>, path: &str) -> Result<Value, Stop> {
    let request = Request {
        retry_failures: false,
        ..Request::get(job.name(), path)
    };
    job.send(&request).map_err(|err| match restartable(&err) {
        Some(why) => Stop::Restart(why),
        None => Stop::Fail(err.into()),
    })
}

/// Failures that end this scroll but not the stream.
fn restartable(err: &ApiError) -> Option<String> {
    match &*err.failure {
        Failure::Status { status: 404, .. } => Some("the scroll expired (404)".into()),
        Failure::Status { status, .. } if *status >= 500 => Some(format!("Intercom answered {status}")),
        Failure::Transport { detail, .. } | Failure::BadBody { detail, .. } => Some(detail.clone()),
        _ => None,
    }
}

/// Opens a scroll, waiting while another one of the app is open.
fn open(job: &Job<'_>) -> Result<Value, Stop> {
    let deadline = Instant::now() + SCROLL_EXISTS_PATIENCE;
    let mut pause = job.settings().retry_initial_delay.max(Duration::from_millis(10));
    loop {
        match next(job, "/companies/scroll") {
            Err(Stop::Fail(Error::Api(err))) if err.code() == Some("scroll_exists") => {
                if Instant::now() >= deadline {
                    return Err(Stop::Fail(Error::BadResponse {
                        stream: job.name(),
                        request: "GET /companies/scroll".into(),
                        problem: format!(
                            "another scroll of this Intercom app stayed open for over {}s (scroll_exists); is another sync or script reading companies?",
                            SCROLL_EXISTS_PATIENCE.as_secs()
                        ),
                    }));
                }
                warn!(
                    "{}: another scroll of this app is open (scroll_exists); waiting {:.1}s for it to end",
                    job.name(),
                    pause.as_secs_f64()
                );
                if !job.run().client.pause(pause) {
                    return Err(Stop::Fail(Error::Aborted));
                }
                pause = (pause * 2).min(SCROLL_EXISTS_STEP);
            }
            other => return other,
        }
    }
}
