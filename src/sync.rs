//! A sync: which streams run and how, running them, and the account at the end.
//!
//! Every selected stream gets a thread; a child stream (conversation parts, ticket parts) runs
//! inside its parent's thread, and the parent is read even when only the child is selected.
//! Threads share one [`Client`], whose pacer keeps the total within Intercom's rate limit and
//! `max_concurrency`, and one [`Output`], which owns stdout and the state. A stream the token may
//! not read (403) is skipped with a warning. Any other failure stops the whole run: the other
//! streams stop at their next request, the state they reached is written, and the run ends with
//! the error.
//!
//! Bookmarks never move back, never pass `end_date`, and never pass the sync's start minus
//! `search_index_lag`: a record changed while the sync ran, or indexed by Intercom's search late,
//! is read again by the next run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::error::Error;
use crate::http::{ApiError, Client, Request};
use crate::schema::{Node, format_datetime};
use crate::singer::catalog::{self, Catalog, Entry, Method};
use crate::singer::{Output, State};
use crate::streams::{self, Replication, Stream};
use crate::{info, log, warn};

/// How often a long stream reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// How one stream will run in this sync.
pub struct Plan {
    pub stream: &'static Stream,
    /// False for a parent read only for its selected child: nothing of it is written.
    pub emit: bool,
    /// The schema after field selection: what SCHEMA says and what records carry.
    schema: Value,
    node: Node,
    key: Vec<String>,
    /// The replication key, when the stream runs incrementally.
    pub incremental: Option<&'static str>,
    /// The bookmark the state holds for this stream.
    pub bookmark: Option<DateTime<Utc>>,
    /// Incremental streams emit records changed at or after this (bookmark minus lookback, or
    /// `start_date`); `None` reads everything.
    pub start: Option<DateTime<Utc>>,
}

impl Plan {
    /// Whether the record carries this top-level property (it may have been deselected).
    pub fn has_field(&self, name: &str) -> bool {
        self.schema["properties"].get(name).is_some()
    }
}

/// A stream to run, with the child stream it drives.
pub struct Task {
    pub main: Plan,
    pub child: Option<Plan>,
}

/// The streams to sync, in table order: those selected in the catalog, or all without one.
pub fn plan(settings: &Settings, catalog: Option<&Catalog>, state: &State) -> Vec<Task> {
    let chosen = |stream: &Stream| -> Option<Option<&Entry>> {
        match catalog {
            None => Some(None),
            Some(catalog) => catalog.entry(stream.name).filter(|e| e.selected).map(Some),
        }
    };
    streams::ALL
        .iter()
        .filter(|stream| stream.parent.is_none())
        .filter_map(|stream| {
            let child = streams::ALL
                .iter()
                .find(|c| c.parent == Some(stream.name))
                .and_then(|c| chosen(c).map(|entry| plan_stream(c, entry, true, settings, state)));
            let main = match chosen(stream) {
                Some(entry) => plan_stream(stream, entry, true, settings, state),
                None if child.is_some() => plan_stream(stream, None, false, settings, state),
                None => return None,
            };
            Some(Task { main, child })
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
    let key: Vec<String> = entry
        .and_then(|e| e.key_properties.clone())
        .unwrap_or_else(|| stream.key.iter().map(|k| (*k).to_owned()).collect());
    let mut automatic: Vec<&str> = stream.key.to_vec();
    automatic.extend(key.iter().map(String::as_str));
    automatic.extend(stream.replication.key());
    let schema = catalog::project(&stream.schema(), entry, &automatic);
    // Projection only removes properties from a schema that compiles (tested for every stream).
    let node = Node::compile(&schema).expect("a projected stream schema compiles");
    let bookmark = incremental.and_then(|k| state.bookmark(stream.name, k));
    // Whole seconds: Intercom's timestamps have no fractions, and a bookmark with them (singer-io
    // writes microseconds) must still take in the records of its own second. The lookback is
    // bounded by the config (`crate::config::LONGEST_SPAN`), so the subtraction cannot overflow.
    let lookback = chrono::Duration::from_std(settings.lookback).unwrap_or_default();
    let start = bookmark
        .map(|b| b - lookback)
        .or(settings.start_date)
        .map(|s| s.trunc_subsecs(0));
    Plan {
        stream,
        emit,
        schema,
        node,
        key,
        incremental,
        bookmark,
        start,
    }
}

/// What every stream of a run shares.
pub struct Run {
    pub client: Client,
    pub output: Output,
    pub settings: Settings,
    /// When the sync started, whole seconds: the count reports' `snapshot_at`.
    pub started_at: DateTime<Utc>,
    /// Streams running now, in table order: the first is `currently_syncing`.
    running: Mutex<Vec<&'static str>>,
}

impl Run {
    fn set_running(&self, name: &'static str, running: bool) {
        let mut list = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running {
            list.push(name);
            let order = |n: &&str| streams::ALL.iter().position(|s| s.name == *n);
            list.sort_by_key(order);
        } else {
            list.retain(|n| *n != name);
        }
        self.output.set_currently_syncing(list.first().copied());
    }

    /// The latest a bookmark may be: the sync's start less the search index's lag.
    pub fn bookmark_cap(&self) -> DateTime<Utc> {
        let lag = chrono::Duration::from_std(self.settings.search_index_lag).unwrap_or_default();
        self.started_at - lag
    }
}

/// One stream's run: the plan, counters, and the way to the client and the output. Shared by
/// the threads that fetch for it, so everything here takes `&self`.
pub struct Job<'a> {
    plan: &'a Plan,
    run: &'a Run,
    records: AtomicU64,
    requests: AtomicU64,
    /// Newest replication-key value read by a full scan, for its bookmark.
    newest: Mutex<Option<DateTime<Utc>>>,
    started: Instant,
    reported: Mutex<Instant>,
}

impl<'a> Job<'a> {
    fn new(plan: &'a Plan, run: &'a Run) -> Job<'a> {
        Job {
            plan,
            run,
            records: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            newest: Mutex::new(None),
            started: Instant::now(),
            reported: Mutex::new(Instant::now()),
        }
    }

    pub fn name(&self) -> &'static str {
        self.plan.stream.name
    }

    pub fn plan(&self) -> &Plan {
        self.plan
    }

    pub fn settings(&self) -> &Settings {
        &self.run.settings
    }

    pub fn run(&self) -> &Run {
        self.run
    }

    /// The time for `time_extracted`, taken when a page arrives.
    pub fn now(&self) -> String {
        Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn snapshot_at(&self) -> String {
        format_datetime(self.run.started_at)
    }

    pub fn get(&self, path: &str) -> Result<Value, Error> {
        self.send(&Request::get(self.name(), path)).map_err(Error::from)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.send(&Request::post(self.name(), path, body)).map_err(Error::from)
    }

    /// A GET whose object may have been deleted or merged since the search found it: `None` for
    /// a 404, which the caller reports in its own words and skips.
    pub fn get_unless_gone(&self, path: &str) -> Result<Option<Value>, Error> {
        match self.send(&Request::get(self.name(), path)) {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.status() == Some(404) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Sends a request and returns Intercom's answer or error as it is, for streams that treat
    /// some errors as part of their protocol (the companies scroll).
    pub fn send(&self, req: &Request<'_>) -> Result<Value, ApiError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.run.client.send(req)
    }

    /// Emits an item if its replication key is in range, and remembers the newest key seen, for
    /// streams that read everything and emit what changed. Other streams emit every item.
    pub fn offer(&self, item: Value, extracted: &str) -> Result<(), Error> {
        if let Some(key) = self.plan.incremental {
            let at = self.replication_value(&item, key)?;
            let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
            *newest = Some(newest.map_or(at, |n| n.max(at)));
            drop(newest);
            if !self.in_range(at) {
                return Ok(());
            }
        }
        self.emit(item, extracted)
    }

    /// An item's replication-key value, or an error naming the item.
    pub fn replication_value(&self, item: &Value, key: &str) -> Result<DateTime<Utc>, Error> {
        item.get(key)
            .and_then(timestamp)
            .ok_or_else(|| self.bad_record(item, &format!("has no readable {key}")))
    }

    /// Whether a replication-key value falls in this run's range (`start` to `end_date`).
    pub fn in_range(&self, at: DateTime<Utc>) -> bool {
        self.plan.start.is_none_or(|start| at >= start) && self.run.settings.end_date.is_none_or(|end| at < end)
    }

    /// Reshapes an item, shapes it to the schema and writes the RECORD (unless the stream is
    /// read only for its child).
    pub fn emit(&self, item: Value, extracted: &str) -> Result<(), Error> {
        if !self.plan.emit {
            return Ok(());
        }
        let Value::Object(mut map) = item else {
            return Err(Error::BadRecord {
                stream: self.name(),
                record: "(not an object)".into(),
                problem: format!("expected an object, got {}", truncate(&item.to_string())),
            });
        };
        for reshape in self.plan.stream.reshape {
            reshape.apply(&mut map);
        }
        let item = Value::Object(map);
        let id = record_id(&item);
        let record = self.plan.node.apply(item).map_err(|err| Error::BadRecord {
            stream: self.name(),
            record: id,
            problem: err.to_string(),
        })?;
        self.run.output.record(self.name(), &record, extracted)?;
        let records = self.records.fetch_add(1, Ordering::Relaxed) + 1;
        self.report_progress(records);
        Ok(())
    }

    fn report_progress(&self, records: u64) {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        if reported.elapsed() >= PROGRESS_EVERY {
            *reported = Instant::now();
            drop(reported);
            info!(
                "{}: {records} records so far, {} requests, {:.0}s",
                self.name(),
                self.requests.load(Ordering::Relaxed),
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn bad_record(&self, item: &Value, problem: &str) -> Error {
        Error::BadRecord {
            stream: self.name(),
            record: record_id(item),
            problem: problem.to_owned(),
        }
    }

    /// Saves the bookmark of a full scan: the newest value read.
    pub fn finish_scan(&self) -> Result<(), Error> {
        let newest = *self.newest.lock().unwrap_or_else(PoisonError::into_inner);
        match (self.plan.incremental, newest) {
            (Some(_), Some(newest)) => self.save_bookmark(newest),
            _ => Ok(()),
        }
    }

    /// Moves the stream's bookmark towards `at` and writes STATE: never back, never past
    /// `end_date`, never past the sync's start less `search_index_lag`. Does nothing for a
    /// stream that is not incremental or not emitted.
    pub fn save_bookmark(&self, at: DateTime<Utc>) -> Result<(), Error> {
        let Some(key) = self.plan.incremental.filter(|_| self.plan.emit) else {
            return Ok(());
        };
        let mut at = at.min(self.run.bookmark_cap());
        if let Some(end) = self.run.settings.end_date {
            at = at.min(end);
        }
        if let Some(old) = self.plan.bookmark {
            at = at.max(old);
        }
        self.run.output.bookmark(self.name(), key, at)
    }

    /// Fails fast when another stream has failed.
    pub fn check_abort(&self) -> Result<(), Error> {
        if self.run.client.is_aborted() {
            Err(Error::Aborted)
        } else {
            Ok(())
        }
    }

    /// Counts something worth a metric (`conversation_parts_truncated`, ...).
    pub fn counter(&self, metric: &str, value: u64, tags: Value) {
        let mut tags = tags;
        tags["stream"] = json!(self.name());
        log::counter(metric, value, tags);
    }
}

/// How a record is named in errors: its `id`, or `(id unknown)`.
fn record_id(item: &Value) -> String {
    item.get("id").filter(|id| !id.is_null()).map_or_else(
        || "(id unknown)".to_owned(),
        |id| id.to_string().trim_matches('"').to_owned(),
    )
}

/// A replication-key value: Unix seconds, or a date-time string.
pub fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|s| DateTime::from_timestamp(s, 0)),
        Value::String(s) => crate::config::parse_datetime(s),
        _ => None,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// How a stream's run ended.
enum Status {
    Done,
    Skipped(String),
    Failed(Error),
}

struct Outcome {
    name: &'static str,
    records: u64,
    requests: u64,
    seconds: f64,
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
    let run = Run {
        client,
        output: Output::new(out, state),
        settings,
        started_at: Utc::now().trunc_subsecs(0),
        running: Mutex::new(Vec::new()),
    };
    let started = Instant::now();
    let names: Vec<&str> = tasks
        .iter()
        .flat_map(|t| std::iter::once(&t.main).chain(&t.child))
        .filter(|p| p.emit)
        .map(|p| p.stream.name)
        .collect();
    if names.is_empty() {
        warn!(
            "the catalog selects no stream: mark the streams to sync with \"selected\": true in their metadata (Meltano does this from `select`)"
        );
    } else {
        check_token(&run.client)?;
    }
    info!("sync started: {} streams ({})", names.len(), names.join(", "));

    let outcomes: Vec<Outcome> = thread::scope(|scope| {
        let handles: Vec<_> = tasks
            .iter()
            .map(|task| {
                let run = &run;
                thread::Builder::new()
                    .name(task.main.stream.name.into())
                    .spawn_scoped(scope, move || guarded_sync_task(task, run))
            })
            .collect();
        handles
            .into_iter()
            .zip(&tasks)
            .flat_map(|(handle, task)| {
                let name = task.main.stream.name;
                match handle.map(thread::ScopedJoinHandle::join) {
                    Ok(Ok(outcomes)) => outcomes,
                    // Not reached: guarded_sync_task catches the panics of its stream.
                    Ok(Err(_)) => vec![failed(name, Error::Internal { stream: name })],
                    Err(source) => vec![failed(name, Error::Spawn { stream: name, source })],
                }
            })
            .collect()
    });

    run.output.set_currently_syncing(None);
    let final_state = run.output.write_state().and_then(|()| run.output.flush());
    summarise(&outcomes, &run, started.elapsed());
    let first_failure = outcomes.into_iter().find_map(|o| match o.status {
        Status::Failed(err) if !is_abort(&err) => Some(err),
        _ => None,
    });
    match first_failure {
        Some(err) => Err(err),
        None => final_state,
    }
}

fn failed(name: &'static str, err: Error) -> Outcome {
    Outcome {
        name,
        records: 0,
        requests: 0,
        seconds: 0.0,
        status: Status::Failed(err),
    }
}

fn is_abort(err: &Error) -> bool {
    match err {
        Error::Aborted => true,
        Error::Api(api) => api.is_aborted(),
        _ => false,
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

/// One cheap request before the streams start (`GET /me` needs no scope): a token Intercom
/// refuses (401) stops the run with one line, instead of every stream failing at once. Any
/// other failure is left to the streams, which report their own.
fn check_token(client: &Client) -> Result<(), Error> {
    match client.get("access token check", "/me") {
        Err(err) if err.status() == Some(401) => Err(err.into()),
        _ => Ok(()),
    }
}

/// Runs a task; a panic (a bug) fails its stream and stops the others, as an error would,
/// so that the run exits non-zero instead of reporting success without the stream's records.
fn guarded_sync_task(task: &Task, run: &Run) -> Vec<Outcome> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sync_task(task, run))).unwrap_or_else(|_| {
        run.client.abort();
        let name = task.main.stream.name;
        for plan in std::iter::once(&task.main).chain(&task.child) {
            run.set_running(plan.stream.name, false);
        }
        vec![failed(name, Error::Internal { stream: name })]
    })
}

/// Runs one task (a stream and the child it drives) and accounts for each stream it emitted.
fn sync_task(task: &Task, run: &Run) -> Vec<Outcome> {
    let plans: Vec<&Plan> = std::iter::once(&task.main)
        .chain(&task.child)
        .filter(|p| p.emit)
        .collect();
    for plan in &plans {
        run.set_running(plan.stream.name, true);
        announce(plan);
    }
    let main = Job::new(&task.main, run);
    let child = task.child.as_ref().map(|c| Job::new(c, run));
    let result = plans
        .iter()
        .try_for_each(|p| run.output.schema(p.stream.name, &p.schema, &p.key, p.incremental))
        .and_then(|()| task.main.stream.run(&main, child.as_ref()));
    for plan in &plans {
        run.set_running(plan.stream.name, false);
    }
    let status = match result {
        Ok(()) => Status::Done,
        Err(Error::Api(err)) if err.status() == Some(403) => {
            warn!(
                "{}: skipped: the access token may not read it ({err})",
                task.main.stream.name
            );
            Status::Skipped(format!("403 {}", err.code().unwrap_or("forbidden")))
        }
        Err(err) => {
            if !is_abort(&err) {
                run.client.abort();
            }
            Status::Failed(err)
        }
    };
    // The first stream written carries the status; a child shares its parent's fate without
    // reporting the same failure twice.
    let shared = match &status {
        Status::Done => Status::Done,
        Status::Skipped(why) => Status::Skipped(why.clone()),
        Status::Failed(_) => Status::Failed(Error::Aborted),
    };
    let jobs = std::iter::once(&main).chain(child.as_ref()).filter(|j| j.plan.emit);
    let mut statuses = std::iter::once(status).chain(std::iter::once(shared));
    jobs.map(|job| account(job, statuses.next().unwrap_or(Status::Done)))
        .collect()
}

fn account(job: &Job<'_>, status: Status) -> Outcome {
    let name = job.name();
    let records = job.records.load(Ordering::Relaxed);
    let requests = job.requests.load(Ordering::Relaxed);
    let seconds = job.started.elapsed().as_secs_f64();
    log::counter("record_count", records, json!({"stream": name}));
    let outcome_tag = if matches!(status, Status::Failed(_)) {
        "failed"
    } else {
        "succeeded"
    };
    log::timer("sync_duration", seconds, json!({"stream": name, "status": outcome_tag}));
    match &status {
        Status::Done => info!("{name}: done, {records} records, {requests} requests, {seconds:.1}s"),
        Status::Skipped(_) => {}
        Status::Failed(err) if is_abort(err) => info!("{name}: stopped early, {records} records"),
        Status::Failed(err) => warn!("{name}: failed after {records} records: {err}"),
    }
    Outcome {
        name,
        records,
        requests,
        seconds,
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
        let status = match &o.status {
            Status::Done => "ok".to_owned(),
            Status::Skipped(why) => format!("skipped ({why})"),
            Status::Failed(err) if is_abort(err) => "stopped".to_owned(),
            Status::Failed(_) => "FAILED".to_owned(),
        };
        info!(
            "  {:<26} {:>9} records {:>7} requests {:>8.1}s  {status}",
            o.name, o.records, o.requests, o.seconds
        );
    }
}
