//! A sync: which streams run and how, running them, and the account at the end.
//!
//! Every selected stream gets a thread; a child stream (conversation parts, ticket parts,
//! contact notes) runs inside its parent's thread, and the parent is read even when only a
//! child is selected.
//! Threads share one [`Client`], whose pacer keeps the total within Intercom's rate limit and
//! the requests in flight near what the budget needs, and one [`Output`], which owns stdout and
//! the state. A monitor reports every 15 seconds what each running stream has done and at what
//! pace the requests go.
//!
//! A surprise costs one stream, never the run. A stream the token may not read (403), or whose
//! undocumented endpoint Intercom retired (404), is skipped with a warning. A failure confined
//! to one stream (an error answer from its endpoint, a page that cannot be read, a record that
//! cannot be written) ends that stream with its bookmark at its last good point, while every
//! other stream runs to its end; the run then exits 1 naming each failed stream. Only failures
//! of the whole run (a token refused, a host that cannot be reached, a target that stopped
//! reading) stop every stream at once. Either way the final STATE holds every bookmark.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use crate::config::Settings;
use crate::error::Error;
use crate::http::{Client, Pace, Request};
use crate::job::{Job, Plan, Run};
use crate::schema::format_datetime;
use crate::singer::catalog::{self, Catalog, Entry, Method};
use crate::singer::{Output, State};
use crate::streams::{self, Replication, Stream};
use crate::{info, log, runners, warn};

/// How often the live board is drawn again, on a terminal.
const BOARD_EVERY: Duration = Duration::from_millis(500);

/// A stream to run, with the child streams its read writes.
pub struct Task {
    pub main: Plan,
    pub children: Vec<Plan>,
}

/// The streams to sync, in table order: those selected in the catalog, or all without one. A
/// parent that is not selected is read, writing nothing, when a child of it is. A stream the
/// configured API version does not have is left out, and the log says so.
pub fn plan(settings: &Settings, catalog: Option<&Catalog>, state: &State) -> Vec<Task> {
    let version = settings.api_version;
    let chosen = |stream: &'static Stream| -> Option<Option<&Entry>> {
        let entry = match catalog {
            // The exports start jobs in Intercom: only a catalog that selects them runs them.
            None if matches!(stream.read, streams::Read::Export(_)) => None,
            None => Some(None),
            Some(catalog) => catalog.entry(stream.name).filter(|e| e.selected).map(Some),
        }?;
        if !stream.exists_in(version) {
            return None;
        }
        Some(entry)
    };
    streams::ALL
        .iter()
        .filter(|stream| stream.parent.is_none())
        .filter_map(|stream| {
            let children: Vec<Plan> = stream
                .children()
                .filter_map(|c| chosen(c).map(|entry| plan_stream(c, entry, true, settings, state)))
                .collect();
            let main = match chosen(stream) {
                Some(entry) => plan_stream(stream, entry, true, settings, state),
                None if !children.is_empty() => plan_stream(stream, None, false, settings, state),
                None => return None,
            };
            Some(Task { main, children })
        })
        .collect()
}

fn plan_stream(stream: &'static Stream, entry: Option<&Entry>, emit: bool, settings: &Settings, state: &State) -> Plan {
    let incremental = match (entry.and_then(|e| e.method), stream.replication) {
        (Some(Method::FullTable), _) | (None, Replication::FullTable) => None,
        (_, Replication::Incremental(key)) => Some(key),
        (Some(Method::Incremental), Replication::FullTable) => {
            warn!(
                "{}: Intercom offers no way to read it incrementally; syncing it in full",
                stream.name
            );
            None
        }
    };
    let mut key: Vec<String> = entry
        .and_then(|e| e.key_properties.clone())
        .unwrap_or_else(|| stream.key.iter().map(|k| (*k).to_owned()).collect());
    let mut full = stream.schema();
    if let Some(entry) = entry {
        catalog::add_custom_columns(&mut full, &entry.custom);
    }
    if settings.add_workspace_id {
        catalog::add_workspace_column(&mut full, &mut key);
    }
    let mut automatic: Vec<&str> = stream.key.to_vec();
    automatic.extend(key.iter().map(String::as_str));
    automatic.extend(stream.replication.key());
    automatic.push(catalog::DELETED_AT);
    let schema = catalog::project(&full, entry, &automatic);
    let mut plan = Plan::new(stream, emit, schema, key);
    let bookmark = incremental.and_then(|k| state.bookmark(stream.name, k));
    // Whole seconds: Intercom's timestamps have no fractions, and a bookmark with them (singer-io
    // writes microseconds) must still take in the records of its own second. The lookback is
    // bounded by the config (`crate::config::LONGEST_SPAN`), so the subtraction cannot overflow.
    let lookback = chrono::Duration::from_std(settings.lookback).unwrap_or_default();
    plan.start = bookmark
        .map(|b| b - lookback)
        .or(settings.start_date)
        .map(|s| s.trunc_subsecs(0));
    // Ranges an interrupted run finished are not read again, but for their last lookback.
    plan.done = incremental
        .map(|k| state.done_ranges(stream.name, k))
        .unwrap_or_default()
        .into_iter()
        .map(|(from, to)| (from, to - lookback.num_seconds()))
        .filter(|(from, to)| from < to)
        .collect();
    plan.incremental = incremental;
    // Count reports are histories (`snapshot_at` is in their key): no row of theirs is ever
    // retired by a newer version. Nor is a row beyond what a run reads: an incremental stream
    // read in full only up to `end_date` would retire the rows changed after it. (Read from
    // `start_date`, it sees every row its table can hold: a record's `updated_at` only grows.)
    let partial = stream.replication != Replication::FullTable && settings.end_date.is_some();
    if incremental.is_none() && !stream.is_history() {
        if partial {
            if emit {
                warn!(
                    "{}: read in full but only up to end_date, so no table version retires rows (the rows changed after end_date are not read)",
                    stream.name
                );
            }
        } else {
            plan.version = Some(Utc::now().timestamp_millis());
        }
    }
    plan.bookmark = bookmark;
    plan
}

/// The streams running now, in table order: the first is `currently_syncing`.
struct Running<'a> {
    output: &'a Output,
    names: Mutex<Vec<&'static str>>,
}

impl Running<'_> {
    fn set(&self, name: &'static str, running: bool) {
        let mut list = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if running {
            list.push(name);
            let order = |n: &&str| streams::ALL.iter().position(|s| s.name == *n);
            list.sort_by_key(order);
        } else {
            list.retain(|n| *n != name);
        }
        self.output.set_currently_syncing(list.first().copied());
    }

    fn is_running(&self, name: &str) -> bool {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&name)
    }
}

/// How a stream's run ended.
enum Status {
    Done,
    Skipped(String),
    /// The stream failed; the error names the cause and the request.
    Failed(Error),
    /// Ended by another's failure: its parent's or child's (`with`), or the run's (`None`).
    Stopped {
        with: Option<&'static str>,
    },
}

struct Outcome {
    name: &'static str,
    records: u64,
    requests: u64,
    seconds: f64,
    /// Records written outside the range their query asked for.
    strays: u64,
    status: Status,
}

/// Runs a sync to the end and writes the final STATE.
pub fn run(
    settings: Settings,
    catalog: Option<&Catalog>,
    state: State,
    out: Box<dyn std::io::Write + Send>,
) -> Result<(), Error> {
    let client = Client::new(&settings)?;
    let tasks = plan(&settings, catalog, &state);
    let started_at: DateTime<Utc> = Utc::now().trunc_subsecs(0);
    let run = Run::new(client, Output::new(out, state), settings, started_at);
    let started = Instant::now();
    let names: Vec<&str> = tasks
        .iter()
        .flat_map(|t| std::iter::once(&t.main).chain(&t.children))
        .filter(|p| p.emit)
        .map(|p| p.stream.name)
        .collect();
    if names.is_empty() {
        warn!(
            "the catalog selects no stream: mark the streams to sync with \"selected\": true in their metadata (Meltano does this from `select`)"
        );
    } else {
        let me = check_token(&run.client)?;
        set_zone(&run, &me, &tasks);
        if run.settings.add_workspace_id {
            let id = me["app"]["id_code"].as_str().filter(|id| !id.is_empty());
            let id = id.ok_or_else(|| Error::BadResponse {
                stream: "access token check",
                request: "GET /me".into(),
                problem: "the answer has no app.id_code, the workspace id that add_workspace_id adds to every record"
                    .into(),
            })?;
            run.set_workspace(id.to_owned());
        }
    }
    info!("sync started: {} streams ({})", names.len(), names.join(", "));
    unread(&run.settings, catalog);

    let jobs: Vec<(Job<'_>, Vec<Job<'_>>)> = tasks
        .iter()
        .map(|t| {
            (
                Job::new(&t.main, &run),
                t.children.iter().map(|c| Job::new(c, &run)).collect(),
            )
        })
        .collect();
    let running = Running {
        output: &run.output,
        names: Mutex::new(Vec::new()),
    };
    let finished = AtomicBool::new(false);
    let outcomes: Vec<Outcome> = thread::scope(|scope| {
        let monitor = thread::Builder::new()
            .name("monitor".into())
            .spawn_scoped(scope, || monitor(&run, &jobs, &running, &finished));
        let handles: Vec<_> = jobs
            .iter()
            .map(|(main, children)| {
                let (running, run) = (&running, &run);
                thread::Builder::new()
                    .name(main.name().into())
                    .spawn_scoped(scope, move || guarded_sync_task(main, children, run, running))
            })
            .collect();
        let outcomes = handles
            .into_iter()
            .zip(&jobs)
            .flat_map(|(handle, (main, _))| {
                let name = main.name();
                match handle.map(thread::ScopedJoinHandle::join) {
                    Ok(Ok(outcomes)) => outcomes,
                    // Not reached: guarded_sync_task catches the panics of its stream.
                    Ok(Err(_)) => vec![failed(name, Error::Internal { stream: name })],
                    Err(source) => vec![failed(name, Error::Spawn { stream: name, source })],
                }
            })
            .collect();
        finished.store(true, Ordering::SeqCst);
        drop(monitor);
        outcomes
    });

    run.output.set_currently_syncing(None);
    let final_state = run.output.write_state().and_then(|()| run.output.flush());
    summarise(&outcomes, &run, started.elapsed());
    final_state?;
    let streams = outcomes.len();
    let mut failed: Vec<Error> = Vec::new();
    let mut stopped = false;
    for outcome in outcomes {
        match outcome.status {
            // A failure of the whole run is the one to report: the streams' failures echo it.
            Status::Failed(err) if err.concerns_the_run() && !err.is_abort() => return Err(err),
            Status::Failed(err) if err.is_abort() => stopped = true,
            Status::Failed(err) => failed.push(err),
            Status::Stopped { with: None } => stopped = true,
            _ => {}
        }
    }
    match (failed.is_empty(), stopped) {
        (true, false) => Ok(()),
        (true, true) => Err(Error::Aborted),
        (false, _) => Err(Error::StreamsFailed { failed, streams }),
    }
}

fn failed(name: &'static str, err: Error) -> Outcome {
    Outcome {
        name,
        records: 0,
        requests: 0,
        seconds: 0.0,
        strays: 0,
        status: Status::Failed(err),
    }
}

/// Says, once for each, which chosen streams the configured API version does not have.
fn unread(settings: &Settings, catalog: Option<&Catalog>) {
    let version = settings.api_version;
    for stream in streams::ALL.iter().filter(|s| !s.exists_in(version)) {
        if catalog.is_none_or(|c| c.entry(stream.name).is_some_and(|e| e.selected)) {
            info!(
                "{}: not read: its endpoint comes with Intercom's API version {}, and api_version is {version}",
                stream.name, stream.since
            );
        }
    }
}

fn announce(plan: &Plan) {
    let name = plan.stream.name;
    match (plan.incremental, plan.start) {
        (Some(key), Some(start)) => {
            info!("{name}: started, incremental on {key} from {}", format_datetime(start));
        }
        (Some(key), None) => info!("{name}: started, incremental on {key}, first sync of the whole history"),
        (None, _) => info!("{name}: started, full table"),
    }
}

/// One cheap request before the streams start (`GET /me` needs no scope). Any failure stops
/// the run with one line naming the host and the cause, before a stream starts: a token
/// Intercom refuses (401), a host that is unknown or refuses connections, TLS that fails, an
/// address that is not Intercom's API (404). Lasting failures end the check at once and
/// others are retried only twice, so a wrong address is reported within seconds.
/// The workspace's time zone, in which the exports write their times, from `GET /me`.
fn set_zone(run: &Run, me: &serde_json::Value, tasks: &[Task]) {
    let zone = &me["app"]["timezone"];
    match zone.as_str().map(str::parse::<chrono_tz::Tz>) {
        Some(Ok(zone)) => run.set_zone(zone),
        _ if tasks
            .iter()
            .any(|t| matches!(t.main.stream.read, streams::Read::Export(_))) =>
        {
            warn!("GET /me names no time zone the tap knows ({zone}): the exports' local times are read as UTC");
        }
        _ => {}
    }
}

fn check_token(client: &Client) -> Result<serde_json::Value, Error> {
    match client.send(&Request::get("access token check", "/me").check()) {
        Ok(me) => Ok(me),
        Err(source) => Err(Error::Check {
            host: client.host(),
            source,
        }),
    }
}

/// Every `progress_interval`, what each running stream has done and how the requests go, until
/// the sync is over.
fn monitor(run: &Run, jobs: &[(Job<'_>, Vec<Job<'_>>)], running: &Running<'_>, finished: &AtomicBool) {
    let mut last = (Instant::now(), run.client.pace().sent);
    let mut drawn = Instant::now();
    loop {
        let due = last.0 + run.settings.progress_interval;
        while Instant::now() < due {
            if finished.load(Ordering::SeqCst) {
                log::board(Vec::new());
                return;
            }
            thread::sleep(Duration::from_millis(100).min(due.saturating_duration_since(Instant::now())));
            if log::live() && drawn.elapsed() >= BOARD_EVERY {
                drawn = Instant::now();
                log::board(board(run, jobs, running));
            }
        }
        let pace = run.client.pace();
        let rate = u64_f64(pace.sent.saturating_sub(last.1)) / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), pace.sent);
        info!("{}", describe_pace(&pace, rate));
        for job in jobs
            .iter()
            .flat_map(|(main, children)| std::iter::once(main).chain(children))
        {
            if job.plan().emit && running.is_running(job.name()) {
                info!(
                    "{}: {} records so far, {} requests, {:.0}s",
                    job.name(),
                    job.records(),
                    job.requests(),
                    job.seconds()
                );
            }
        }
    }
}

/// The live board on a terminal: the pace, then a line per running stream with its records,
/// requests and records a second.
fn board(run: &Run, jobs: &[(Job<'_>, Vec<Job<'_>>)], running: &Running<'_>) -> Vec<String> {
    let pace = run.client.pace();
    let mut lines = vec![format!(
        "  {} requests sent, {} in flight (limit {})",
        pace.sent, pace.in_flight, pace.limit
    )];
    for job in jobs
        .iter()
        .flat_map(|(main, children)| std::iter::once(main).chain(children))
    {
        if job.plan().emit && running.is_running(job.name()) {
            let seconds = job.seconds();
            let rate = if seconds > 0.0 {
                u64_f64(job.records()) / seconds
            } else {
                0.0
            };
            lines.push(format!(
                "  {:<26} {:>9} records {:>7} requests {:>8.0} records/s {:>6.0}s",
                job.name(),
                job.records(),
                job.requests(),
                rate,
                seconds
            ));
        }
    }
    lines
}

fn describe_pace(pace: &Pace, rate: f64) -> String {
    let latency = pace
        .latency
        .map_or_else(|| "no answer yet".to_owned(), |l| format!("answers in {l:.2}s"));
    let allowed = pace
        .allowed_rate
        .map_or_else(String::new, |r| format!(" of the {r:.0} allowed"));
    format!(
        "pacing: {} requests in flight (limit {}), {rate:.0} requests/s{allowed}, {latency}",
        pace.in_flight, pace.limit
    )
}

#[allow(clippy::cast_precision_loss)]
fn u64_f64(n: u64) -> f64 {
    n as f64
}

/// Runs a task; a panic (a bug) fails its stream, as an error would, so that the run exits
/// non-zero instead of reporting success without the stream's records. The other streams go on.
fn guarded_sync_task(main: &Job<'_>, children: &[Job<'_>], run: &Run, running: &Running<'_>) -> Vec<Outcome> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sync_task(main, children, run, running))).unwrap_or_else(
        |_| {
            for job in std::iter::once(main).chain(children) {
                running.set(job.name(), false);
            }
            vec![failed(main.name(), Error::Internal { stream: main.name() })]
        },
    )
}

/// Runs one task (a stream and the children it drives) and accounts for each stream it emitted.
fn sync_task(main: &Job<'_>, children: &[Job<'_>], run: &Run, running: &Running<'_>) -> Vec<Outcome> {
    let jobs: Vec<&Job<'_>> = std::iter::once(main)
        .chain(children)
        .filter(|j| j.plan().emit)
        .collect();
    let children: Vec<&Job<'_>> = children.iter().collect();
    for job in &jobs {
        job.start_clock();
        running.set(job.name(), true);
        announce(job.plan());
    }
    let result = jobs
        .iter()
        .try_for_each(|j| {
            let p = j.plan();
            run.output.schema(p.stream.name, &p.schema, &p.key, p.incremental)?;
            p.version.map_or(Ok(()), |v| run.output.begin_version(p.stream.name, v))
        })
        .and_then(|()| runners::run(main, &children))
        .and_then(|()| {
            // A table version retires the rows it lacks: not when records were left out.
            jobs.iter().filter(|j| !j.spoiled()).try_for_each(|j| {
                let p = j.plan();
                p.version
                    .map_or(Ok(()), |v| run.output.activate_version(p.stream.name, v))
            })
        });
    for job in &jobs {
        running.set(job.name(), false);
    }
    let statuses = statuses(main, &jobs, result, run);
    jobs.into_iter()
        .zip(statuses)
        .map(|(job, status)| account(job, status))
        .collect()
}

/// What became of each stream of a task (in the order of `jobs`), given how its run ended.
fn statuses(main: &Job<'_>, jobs: &[&Job<'_>], result: Result<(), Error>, run: &Run) -> Vec<Status> {
    let err = match result {
        Ok(()) => {
            return jobs
                .iter()
                .map(|j| j.not_written().map_or(Status::Done, Status::Failed))
                .collect();
        }
        Err(err) => err,
    };
    if err.concerns_the_run() {
        if !err.is_abort() {
            run.client.abort();
        }
        // The failure is reported once, by the task's first stream.
        let mut first = Some(Status::Failed(err));
        return jobs
            .iter()
            .map(|_| first.take().unwrap_or(Status::Stopped { with: None }))
            .collect();
    }
    let skipped = match err.status() {
        Some(403) => Some(("the access token may not read it", "403")),
        Some(404) if !main.plan().stream.documented => Some((
            "Intercom no longer serves this endpoint, which its API description does not document",
            "404",
        )),
        _ => None,
    };
    if let Some((why, status)) = skipped {
        warn!("{}: skipped: {why} ({err})", main.name());
        let code = match &err {
            Error::Api(api) => api.code().unwrap_or("none").to_owned(),
            _ => "none".to_owned(),
        };
        return jobs
            .iter()
            .map(|_| Status::Skipped(format!("{status} {code}")))
            .collect();
    }
    // The stream the error names failed; the other of the task stopped with it.
    let cause = err
        .stream()
        .filter(|s| jobs.iter().any(|j| j.name() == *s))
        .unwrap_or(main.name());
    let mut err = Some(err);
    jobs.iter()
        .map(|j| {
            if j.name() == cause {
                Status::Failed(err.take().unwrap_or(Error::Aborted))
            } else {
                Status::Stopped { with: Some(cause) }
            }
        })
        .collect()
}

fn account(job: &Job<'_>, status: Status) -> Outcome {
    let name = job.name();
    let records = job.records();
    let requests = job.requests();
    let seconds = job.seconds();
    let strays = job.strays();
    log::counter("record_count", records, json!({"stream": name}));
    if strays > 0 {
        log::counter("records_out_of_range", strays, json!({"stream": name}));
    }
    let outcome_tag = if matches!(status, Status::Done | Status::Skipped(_)) {
        "succeeded"
    } else {
        "failed"
    };
    log::timer("sync_duration", seconds, json!({"stream": name, "status": outcome_tag}));
    match &status {
        Status::Done => info!("{name}: done, {records} records, {requests} requests, {seconds:.1}s"),
        Status::Skipped(_) => {}
        Status::Stopped { with: Some(other) } => {
            warn!("{name}: stopped with {other}, which it shares its read with, after {records} records");
        }
        Status::Stopped { with: None } => info!("{name}: stopped early, {records} records"),
        Status::Failed(err) => warn!("{name}: failed after {records} records: {err}"),
    }
    Outcome {
        name,
        records,
        requests,
        seconds,
        strays,
        status,
    }
}

fn summarise(outcomes: &[Outcome], run: &Run, elapsed: Duration) {
    let records: u64 = outcomes.iter().map(|o| o.records).sum();
    info!(
        "sync summary: {} streams, {records} records, {} requests in {:.1}s (waited {:.1}s for the rate limit)",
        outcomes.len(),
        run.client.requests_sent(),
        elapsed.as_secs_f64(),
        run.client.rate_wait().as_secs_f64()
    );
    for o in outcomes {
        let mut status = match &o.status {
            Status::Done => "ok".to_owned(),
            Status::Skipped(why) => format!("skipped ({why})"),
            Status::Stopped { with: Some(other) } => format!("FAILED (stopped with {other})"),
            Status::Stopped { with: None } => "stopped".to_owned(),
            Status::Failed(_) => "FAILED".to_owned(),
        };
        if o.strays > 0 {
            let _ = write!(status, ", {} outside the range asked for", o.strays);
        }
        info!(
            "  {:<26} {:>9} records {:>7} requests {:>8.1}s  {status}",
            o.name, o.records, o.requests, o.seconds
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::paging::testing::{at, settings};
    use crate::streams::Read;

    fn tasks(config: Value, catalog: Option<Value>, state: Value) -> Vec<Task> {
        let settings = settings(config);
        let catalog = catalog.map(|c| Catalog::from_value(&c, false).unwrap());
        let state = State::from_value(state).unwrap();
        plan(&settings, catalog.as_ref(), &state)
    }

    fn find<'a>(tasks: &'a [Task], name: &str) -> &'a Plan {
        tasks
            .iter()
            .flat_map(|t| std::iter::once(&t.main).chain(&t.children))
            .find(|p| p.stream.name == name)
            .unwrap_or_else(|| panic!("no plan for {name}"))
    }

    fn tasks_at(version: &str) -> Vec<Task> {
        tasks(json!({"api_version": version}), None, json!({}))
    }

    /// A catalog that selects these streams, as Meltano writes one.
    fn selecting(names: &[&str]) -> Value {
        let streams: Vec<Value> = names
            .iter()
            .map(|n| json!({"tap_stream_id": n, "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]}))
            .collect();
        json!({ "streams": streams })
    }

    #[test]
    fn without_a_catalog_every_stream_runs_with_its_children_in_its_parent() {
        let tasks = tasks(json!({}), None, json!({}));
        let mains: Vec<&str> = tasks.iter().map(|t| t.main.stream.name).collect();
        // Those 2.14 has (the default version): brands come with 2.15, macros with 2.16.
        let parents = streams::ALL
            .iter()
            .filter(|s| s.parent.is_none() && s.exists_in(crate::version::ApiVersion::V2_14))
            .filter(|s| !matches!(s.read, Read::Export(_)))
            .count();
        assert_eq!(mains.len(), parents);
        assert!(!mains.contains(&"brands") && !mains.contains(&"macros"));
        let newest = tasks_at("2.16");
        assert!(newest.iter().any(|t| t.main.stream.name == "macros"));
        assert!(mains.contains(&"users") && mains.contains(&"leads"));
        let contacts = tasks.iter().find(|t| t.main.stream.name == "contacts").unwrap();
        let children: Vec<&str> = contacts.children.iter().map(|c| c.stream.name).collect();
        assert_eq!(children, ["contact_notes", "contact_segments", "data_events"]);
        assert!(tasks.iter().all(|t| t.main.emit && t.children.iter().all(|c| c.emit)));
        // A child its version lacks is left out: handling events come with 2.15.
        let conversations = |tasks: &[Task]| -> Vec<&'static str> {
            let task = tasks.iter().find(|t| t.main.stream.name == "conversations").unwrap();
            task.children.iter().map(|c| c.stream.name).collect()
        };
        assert_eq!(conversations(&tasks), ["conversation_parts"]);
        assert_eq!(
            conversations(&tasks_at("2.15")),
            ["conversation_parts", "conversation_handling_events"]
        );
    }

    #[test]
    fn a_parent_is_read_without_writing_for_its_selected_child() {
        let tasks = tasks(json!({}), Some(selecting(&["conversation_parts", "tags"])), json!({}));
        assert_eq!(tasks.len(), 2);
        let conversations = find(&tasks, "conversations");
        assert!(!conversations.emit, "read, not written");
        assert!(find(&tasks, "conversation_parts").emit);
        assert!(find(&tasks, "tags").emit);
    }

    #[test]
    fn a_stream_starts_at_its_bookmark_less_the_lookback_or_at_start_date() {
        let state = json!({"bookmarks": {
            "contacts": {"updated_at": "2024-03-01T00:00:00.750Z",
                         "done_ranges": [["2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"]]},
            "tags": {"version": 5}}});
        let config = json!({"start_date": "2023-01-01T00:00:00Z", "lookback_window": 3600});
        let tasks = tasks(config, None, state);
        let contacts = find(&tasks, "contacts");
        // Whole seconds: the bookmark's own second is read again.
        assert_eq!(contacts.start, Some(at(1_709_251_200 - 3_600)));
        assert_eq!(contacts.bookmark.map(|b| b.timestamp_millis()), Some(1_709_251_200_750));
        // Ranges read by an interrupted run are not read again, but for their last lookback.
        assert_eq!(contacts.done, vec![(1_711_929_600, 1_714_521_600 - 3_600)]);
        // Without a bookmark: start_date.
        assert_eq!(find(&tasks, "conversations").start, Some(at(1_672_531_200)));
        assert!(find(&tasks, "conversations").done.is_empty());
        // Full tables carry a new table version; histories and incremental streams never do.
        assert!(find(&tasks, "tags").incremental.is_none());
        assert!(find(&tasks, "tags").version.is_some());
        assert!(find(&tasks, "counts").version.is_none());
        assert!(find(&tasks, "contacts").version.is_none());
    }

    #[test]
    fn a_full_table_override_is_versioned_unless_it_stops_at_end_date() {
        let mut catalog = selecting(&["contacts"]);
        catalog["streams"][0]["replication_method"] = json!("FULL_TABLE");
        let tasks_all = tasks(json!({}), Some(catalog.clone()), json!({}));
        let contacts = find(&tasks_all, "contacts");
        assert!(contacts.incremental.is_none() && contacts.version.is_some());
        let tasks_to_end = tasks(json!({"end_date": "2030-01-01T00:00:00Z"}), Some(catalog), json!({}));
        assert!(find(&tasks_to_end, "contacts").version.is_none());
    }
}
