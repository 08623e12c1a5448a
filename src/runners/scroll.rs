//! A scroll: companies, through the scroll API, the only way to read every company (the list
//! endpoint stops at 10,000 and skips companies without users). Everything is read and what
//! changed since the bookmark is emitted.
//!
//! The scroll's rules (`intercom-api.md` §3.5): one scroll per app at a time, so a `scroll_exists`
//! answer is waited out, within a bound; a scroll unused for a minute expires (404) and a
//! network error surfaces as a 500, and neither can be resumed, so both restart the scroll from
//! the beginning, after a pause that doubles each time. Nothing ends the stream early: it
//! completes, or the run fails.

use std::time::{Duration, Instant};

use crate::error::{Error, Failure};
use crate::job::Job;
use crate::paging::scroll::Scroll;
use crate::paging::{First, Page, Pages, Style, walk};
use crate::streams::Endpoint;
use crate::{info, warn};

/// How long another scroll of the app may keep ours from opening.
const SCROLL_EXISTS_PATIENCE: Duration = Duration::from_secs(180);
/// Longest pause between two attempts to open the scroll, or before a restart.
const LONGEST_PAUSE: Duration = Duration::from_secs(15);
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
        match restartable(&err) {
            Some(why) => Stop::Restart(why),
            None => Stop::Fail(err),
        }
    }
}

pub fn run(job: &Job<'_>, endpoint: &Endpoint) -> Result<(), Error> {
    let (path, records) = endpoint.at(job.api_version());
    let style = Scroll {
        stream: job.name(),
        path,
        records: records.first().copied().unwrap_or("data"),
    };
    let mut restarts = 0;
    let mut pause = first_pause(job);
    loop {
        match scroll(job, &style, restarts > 0) {
            Ok(()) => return job.finish_scan(),
            Err(Stop::Fail(err)) => return Err(err),
            Err(Stop::Restart(why)) if restarts < MAX_RESTARTS => {
                restarts += 1;
                warn!(
                    "{}: {why}; restarting the scroll from the beginning in {:.1}s ({restarts} of {MAX_RESTARTS})",
                    job.name(),
                    pause.as_secs_f64()
                );
                if !job.pause(pause) {
                    return Err(Error::Aborted);
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            Err(Stop::Restart(why)) => {
                return Err(Error::BadResponse {
                    stream: job.name(),
                    request: format!("GET {path}"),
                    problem: format!("the scroll failed {} times, last because {why}", restarts + 1),
                });
            }
        }
    }
}

fn first_pause(job: &Job<'_>) -> Duration {
    job.retry_delay().max(Duration::from_millis(10))
}

/// The pages of one scroll.
struct Companies<'a, 'b> {
    job: &'a Job<'b>,
    pages: u64,
    ended: bool,
}

impl Pages for Companies<'_, '_> {
    fn page(&mut self, page: Page) -> Result<(), Error> {
        if page.items.is_empty() {
            self.ended = true;
            return Ok(());
        }
        self.pages += 1;
        page.items
            .into_iter()
            .try_for_each(|item| self.job.offer(item, &page.origin))
    }
}

/// One scroll from its opening to its empty last page.
fn scroll(job: &Job<'_>, style: &Scroll<'_>, restarted: bool) -> Result<(), Stop> {
    let (first, request) = open(job, style, restarted)?;
    let mut companies = Companies {
        job,
        pages: 0,
        ended: false,
    };
    walk(job, style, First::got(Ok(first), request), &mut companies)?;
    if !companies.ended {
        return Err(Stop::Restart("a scroll page came without scroll_param".into()));
    }
    info!("{}: scroll complete after {} pages", job.name(), companies.pages);
    Ok(())
}

/// Failures that end this scroll but not the stream.
fn restartable(err: &Error) -> Option<String> {
    if let Error::Circles { problem, .. } = err {
        return Some(problem.clone());
    }
    let Error::Api(api) = err else { return None };
    match &*api.failure {
        Failure::Status { status: 404, .. } => Some("the scroll expired (404)".into()),
        Failure::Status { status, .. } if *status >= 500 => Some(format!("Intercom answered {status}")),
        Failure::Transport { detail, .. } | Failure::BadBody { detail, .. } => Some(detail.clone()),
        _ => None,
    }
}

/// Opens a scroll, waiting while another one of the app is open. After a restart that other
/// scroll is most likely the one abandoned, which Intercom keeps until it expires.
fn open(job: &Job<'_>, style: &Scroll<'_>, restarted: bool) -> Result<(serde_json::Value, crate::http::Request), Stop> {
    let deadline = Instant::now() + SCROLL_EXISTS_PATIENCE;
    let mut pause = first_pause(job);
    let request = style.request(None);
    loop {
        match job.send(&request) {
            Ok(first) => return Ok((first, request)),
            Err(err) if err.code() == Some("scroll_exists") => {
                if Instant::now() >= deadline {
                    return Err(Stop::Fail(Error::BadResponse {
                        stream: job.name(),
                        request: request.describe(),
                        problem: format!(
                            "another scroll of this Intercom app stayed open for over {}s (scroll_exists); is another sync or script reading companies?",
                            SCROLL_EXISTS_PATIENCE.as_secs()
                        ),
                    }));
                }
                let whose = if restarted {
                    "the scroll abandoned above stays open on Intercom's side until it expires, up to a minute after its last page"
                } else {
                    "another sync or script of this app may be reading companies"
                };
                warn!(
                    "{}: another scroll of this app is open (scroll_exists); {whose}; waiting {:.1}s for it to end",
                    job.name(),
                    pause.as_secs_f64()
                );
                if !job.pause(pause) {
                    return Err(Stop::Fail(Error::Aborted));
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            Err(err) => return Err(Error::from(err).into()),
        }
    }
}
