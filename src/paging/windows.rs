//! Admin activity logs by `created_at` window (`GET /admins/activity_logs`).
//!
//! The endpoint takes `created_at_after` and `created_at_before`; how it pages is undocumented
//! (`intercom-api.md` §3.16). A window follows `pages.next` when there is one. When an answer
//! says it has more pages but gives no way to them, the window is too big: it is split into as
//! many windows as its pages, a quarter more for safety (at most 16 at once), which are read at
//! once and split again if they must. The query reaches a second past each end of the window,
//! whichever way Intercom reads its bounds, and the records are kept to the window, so window
//! edges are whole seconds and no log is read twice. A single second that holds more logs than
//! one answer is read as far as Intercom allows, and said so.

use serde_json::Value;

use crate::error::Error;
use crate::job::{Job, Origin, Range};
use crate::paging::links::Links;
use crate::paging::search::{Dated, Handle};
use crate::paging::slices::{self, Progress, Reading, Span};
use crate::paging::{Flow, Page, Pages, Step, walk};
use crate::warn;

/// The most windows one split makes.
const MOST_PARTS: u64 = 16;

/// An endpoint read by `created_at` window, and the key of its records.
#[derive(Debug, Clone, Copy)]
pub struct Windows<'a> {
    pub path: &'a str,
    pub records: &'a [&'a str],
}

/// The request for the window `[from, to)` of `path`.
pub fn path(path: &str, from: i64, to: i64) -> String {
    format!("{path}?created_at_after={}&created_at_before={}", from - 1, to + 1)
}

/// Reads every log created in `range` (which has an end) but those in `done`.
pub fn read(
    job: &Job<'_>,
    windows: Windows<'_>,
    range: Span,
    done: &[Range],
    handle: &Handle<'_>,
    progress: &Progress<'_>,
) -> Result<(), Error> {
    let readers = || (job.concurrency() / 4).clamp(2, 16);
    // The query reaches a second below each window: below that, a log is outside the range.
    let floor = range.from - 1;
    slices::read(
        job,
        range,
        done,
        &readers,
        &|w| read_window(job, windows, w, floor, handle),
        progress,
    )
}

/// A window's pages, kept until the window is known to fit.
struct Window {
    items: Vec<Value>,
    origin: Origin,
    too_big: Option<u64>,
}

impl Pages for Window {
    fn next(&mut self, step: &Step) -> Flow {
        if step.unreachable_pages {
            self.too_big = Some(step.total_pages.unwrap_or(2));
            Flow::Stop
        } else {
            Flow::Next
        }
    }

    fn page(&mut self, page: Page) -> Result<(), Error> {
        self.items.extend(page.items);
        self.origin = page.origin;
        Ok(())
    }
}

fn read_window(
    job: &Job<'_>,
    windows: Windows<'_>,
    reading: &Reading<'_>,
    floor: i64,
    handle: &Handle<'_>,
) -> Result<(), Error> {
    let span = reading.span();
    let to = span.to.unwrap_or(span.from + 1);
    let mut window = Window {
        items: Vec::new(),
        origin: Origin::default(),
        too_big: None,
    };
    walk(
        job,
        &Links {
            numbered: false,
            ..Links::new(job.name(), path(windows.path, span.from, to), windows.records)
        },
        reading.first(),
        &mut window,
    )?;
    if let Some(pages) = window.too_big {
        let parts = (pages + pages.div_ceil(4)).clamp(2, MOST_PARTS);
        // As many windows as whole seconds allow; only a single second cannot split.
        if reading.split(span.from, usize::try_from(parts).unwrap_or(2), 1) {
            return Ok(());
        }
        // A single second holds more logs than one answer, and Intercom gives no way to the
        // rest: keep what it returned, and say so.
        warn!(
            "{}: the second {} holds more activity logs than Intercom returns at once and it offers no next page; only the first ones are emitted",
            job.name(),
            crate::schema::format_datetime(chrono::DateTime::from_timestamp(span.from, 0).unwrap_or_default())
        );
        job.counter(
            "activity_logs_unreadable_second",
            1,
            serde_json::json!({"second": span.from}),
        );
    }
    let origin = &window.origin;
    let mut kept = Vec::with_capacity(window.items.len());
    for item in window.items {
        let Some(at) = job.replication_value(&item, "created_at", origin)? else {
            continue;
        };
        let t = at.timestamp();
        if t < floor {
            let asked = format!(
                "from {}",
                crate::schema::format_datetime(chrono::DateTime::from_timestamp(floor, 0).unwrap_or_default())
            );
            if job.stray(&item, "created_at", at, Some(&asked), origin) {
                job.emit(item, origin)?;
            }
        } else if t >= span.from && t < to {
            if !job.possible(at) {
                job.stray(&item, "created_at", at, None, origin);
            }
            kept.push(Dated { item, at });
        }
    }
    handle(kept, origin)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::http::canned::Canned;
    use crate::paging::testing::{at, canned_run, plan, settings};

    /// Logs at the given seconds, answered 50 at most, with no next page.
    fn logs(times: Vec<i64>) -> Canned {
        Canned::new(move |asked| {
            let after: i64 = asked.query("created_at_after").unwrap().parse().unwrap();
            let before: i64 = asked.query("created_at_before").unwrap().parse().unwrap();
            let hits: Vec<Value> = times
                .iter()
                .enumerate()
                .filter(|(_, t)| **t > after && **t < before)
                .map(|(i, t)| json!({"id": format!("log-{i}"), "created_at": t}))
                .collect();
            let total_pages = hits.len().div_ceil(50).max(1);
            let page: Vec<&Value> = hits.iter().take(50).collect();
            (
                200,
                json!({"activity_logs": page, "pages": {"page": 1, "total_pages": total_pages, "next": null}}),
            )
        })
    }

    fn read_all(canned: &Canned, range: Span) -> Vec<String> {
        let (run, _) = canned_run(canned, settings(json!({})), at(10_000_000));
        let plan = plan("activity_logs", None);
        let job = Job::new(&plan, &run);
        let got = Mutex::new(Vec::new());
        read(
            &job,
            Windows {
                path: "/admins/activity_logs",
                records: &["activity_logs"],
            },
            range,
            &[],
            &|items, _| {
                got.lock()
                    .unwrap()
                    .extend(items.iter().map(|d| d.item["id"].as_str().unwrap().to_owned()));
                Ok(())
            },
            &|_, _| Ok(()),
        )
        .unwrap();
        let mut got = got.into_inner().unwrap();
        got.sort();
        got
    }

    #[test]
    fn windows_too_big_are_split_until_every_log_is_read_once() {
        // 700 logs, four minutes apart, then 300 in 300 seconds.
        let times: Vec<i64> = (0..700)
            .map(|i| 1_000_000 + i * 240)
            .chain((0..300).map(|i| 2_000_000 + i))
            .collect();
        let canned = logs(times.clone());
        let got = read_all(
            &canned,
            Span {
                from: 900_000,
                to: Some(3_000_000),
            },
        );
        let mut expected: Vec<String> = (0..times.len()).map(|i| format!("log-{i}")).collect();
        expected.sort();
        assert_eq!(got, expected);
        let requests = canned.asked().len();
        assert!(requests < 120, "{requests} requests for 20 answers' worth of logs");
    }

    #[test]
    fn a_second_too_full_to_read_keeps_what_intercom_returns() {
        let canned = logs(vec![5_000; 80]);
        let got = read_all(
            &canned,
            Span {
                from: 4_000,
                to: Some(6_000),
            },
        );
        assert_eq!(got.len(), 50);
    }
}
