//! Admin activity logs, read by `created_at` windows.
//!
//! `GET /admins/activity_logs` takes `created_at_after` and `created_at_before`; how it pages is
//! undocumented (`intercom-api.md` §3.16). The tap follows `pages.next` when there is one, and
//! when an answer says it has more pages but gives no way to them, it halves the window until
//! each fits. Windows start at 30 days and double while empty, so a long empty history costs few
//! requests. The query reaches a second past each end of the window, whichever way Intercom reads
//! its bounds, and the records are kept to the window. The bookmark moves to each window's end.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::error::Error;
use crate::streams::pages::{self, Walk};
use crate::sync::Job;
use crate::{debug, warn};

const FIRST_WINDOW_DAYS: i64 = 30;
const LONGEST_WINDOW_DAYS: i64 = 365;
/// Where a first sync without `start_date` begins: Intercom did not exist before 2011.
const EARLIEST: i64 = 1_293_840_000;

pub fn run(job: &Job<'_>) -> Result<(), Error> {
    let mut from = job
        .plan()
        .start
        .unwrap_or_else(|| DateTime::from_timestamp(EARLIEST, 0).unwrap_or_default());
    let until = job.settings().end_date.map_or_else(Utc::now, |end| end.min(Utc::now()));
    let mut window = Duration::days(FIRST_WINDOW_DAYS);
    while from < until {
        job.check_abort()?;
        let to = (from + window).min(until);
        match read_window(job, from, to)? {
            Window::Fits(items, extracted) => {
                let empty = items.is_empty();
                for item in items {
                    let at = job.replication_value(&item, "created_at")?;
                    if at >= from && at < to && job.in_range(at) {
                        job.emit(item, &extracted)?;
                    }
                }
                job.save_bookmark(to)?;
                from = to;
                if empty {
                    window = (window * 2).min(Duration::days(LONGEST_WINDOW_DAYS));
                }
            }
            Window::TooBig if window > Duration::seconds(1) => {
                // Whole seconds, so that window edges and bookmarks fall between seconds.
                window = Duration::seconds(((to - from).num_seconds() / 2).max(1));
                debug!("{}: halving the window to {}s", job.name(), window.num_seconds());
            }
            Window::TooBig => {
                // A single second holds more logs than one answer, and Intercom gives no way to
                // the rest: keep what it returned, and say so.
                warn!(
                    "{}: the second {from} holds more activity logs than Intercom returns at once and it offers no next page; only the first ones are emitted",
                    job.name()
                );
                job.counter(
                    "activity_logs_unreadable_second",
                    1,
                    serde_json::json!({"second": from.timestamp()}),
                );
                if let Window::Fits(items, extracted) = read_window_first_page(job, from, to)? {
                    for item in items {
                        job.emit(item, &extracted)?;
                    }
                }
                job.save_bookmark(to)?;
                from = to;
            }
        }
    }
    Ok(())
}

enum Window {
    Fits(Vec<Value>, String),
    TooBig,
}

fn window_path(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "/admins/activity_logs?created_at_after={}&created_at_before={}",
        from.timestamp() - 1,
        to.timestamp() + 1
    )
}

/// The first answer for a window, whatever it says about more pages.
fn read_window_first_page(job: &Job<'_>, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Window, Error> {
    let path = window_path(from, to);
    let mut page = job.get(&path)?;
    let extracted = job.now();
    let items = pages::take_items(job.name(), &path, &mut page, "activity_logs")?;
    Ok(Window::Fits(
        items
            .into_iter()
            .filter(|i| {
                job.replication_value(i, "created_at")
                    .is_ok_and(|at| at >= from && at < to)
            })
            .collect(),
        extracted,
    ))
}

fn read_window(job: &Job<'_>, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Window, Error> {
    let first = window_path(from, to);
    let mut walk = Walk::new(first);
    let mut items = Vec::new();
    let mut extracted = job.now();
    while let Some(path) = walk.next_path() {
        let mut page = job.get(&path)?;
        extracted = job.now();
        items.extend(pages::take_items(job.name(), &path, &mut page, "activity_logs")?);
        walk.follow(&page, job.name())?;
        let more_without_link = pages::next_page(&page, &path).is_none() && {
            let p = &page["pages"];
            matches!((p["page"].as_u64(), p["total_pages"].as_u64()), (Some(page), Some(total)) if page < total)
        };
        if more_without_link {
            return Ok(Window::TooBig);
        }
    }
    Ok(Window::Fits(items, extracted))
}
