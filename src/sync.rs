//! A sync: which streams run and how, running them, and the account at the end.
//!
//! Every selected stream gets a thread; they share one [`Client`], whose pacer keeps the total
//! within Intercom's rate limit and `max_concurrency`, and one [`Output`], which owns stdout and
//! the state. A stream the token may not read (403) is skipped with a warning. Any other failure
//! stops the whole run: the other streams stop at their next request, the state they reached
//! is written, and the run ends with the error.

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

/// The streams to sync, in table order: those selected in the catalog, or all without one.
pub fn plan(settings: &Settings, catalog: Option<&Catalog>, state: &State) -> Vec<Plan> {
    streams::ALL
        .iter()
        .filter_map(|stream| match catalog {
            None => Some(plan_stream(stream, None, settings, state)),
            Some(catalog) => catalog
                .entry(stream.name)
                .filter(|e| e.selected)
                .map(|e| plan_stream(stream, Some(e), settings, state)),
        })
        .collect()
}

fn plan_stream(
    stream: &'static Stream,
    entry: Option<&Entry>,
    settings: &Settings,
    state: &State,
) -> Plan {
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
    let lookback = chrono::Duration::from_std(settings.lookback).unwrap_or_default();
    let start = bookmark.map(|b| b - lookback).or(settings.start_date);
    Plan {
        stream,
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
}

/// One stream's run: the plan, counters, and the way to the client and the output.
pub struct Job<'a> {
    plan: &'a Plan,
    run: &'a Run,
    records: u64,
    requests: u64,
    /// Newest replication-key value read by a full scan, for its bookmark.
    newest: Option<DateTime<Utc>>,
    started: Instant,
    reported: Instant,
}

impl<'a> Job<'a> {
    fn new(plan: &'a Plan, run: &'a Run) -> Job<'a> {
        Job {
            plan,
            run,
            records: 0,
            requests: 0,
            newest: None,
            started: Instant::now(),
            reported: Instant::now(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.plan.stream.name
    }

    pub fn plan(&self) -> &Plan {
        self.plan
    }

    /// The time for `time_extracted`, taken when a page arrives.
    pub fn now(&self) -> String {
        Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn snapshot_at(&self) -> String {
        format_datetime(self.run.started_at)
    }

    pub fn get(&mut self, path: &str) -> Result<Value, Error> {
        self.send(&Request::get(self.name(), path))
            .map_err(Error::from)
    }

    pub fn post(&mut self, path: &str, body: &Value) -> Result<Value, Error> {
        self.send(&Request::post(self.name(), path, body))
            .map_err(Error::from)
    }

    /// Sends a request and returns Intercom's answer or error as it is, for streams that treat
    /// some errors as part of their protocol (the companies scroll).
    pub fn send(&mut self, req: &Request<'_>) -> Result<Value, ApiError> {
        self.requests += 1;
        self.run.client.send(req)
    }

    /// Emits an item if its replication key is in range, and remembers the newest key seen, for
    /// streams that read everything and emit what changed. Other streams emit every item.
    pub fn offer(&mut self, item: Value, extracted: &str) -> Result<(), Error> {
        if let Some(key) = self.plan.incremental {
            let Some(at) = item.get(key).and_then(timestamp) else {
                return Err(self.bad_record(&item, &format!("has no readable {key}")));
            };
            self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
            if !self.in_range(at) {
                return Ok(());
            }
        }
        self.emit(item, extracted)
    }

    /// Whether a replication-key value falls in this run's range (`start` to `end_date`).
    pub fn in_range(&self, at: DateTime<Utc>) -> bool {
        self.plan.start.is_none_or(|start| at >= start)
            && self.run.settings.end_date.is_none_or(|end| at < end)
    }

    /// Reshapes an item, shapes it to the schema and writes the RECORD.
    pub fn emit(&mut self, item: Value, extracted: &str) -> Result<(), Error> {
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
        let record = match self.plan.node.apply(item) {
            Ok(record) => record,
            Err(err) => return Err(self.bad_record(&Value::Null, &err.to_string())),
        };
        self.run.output.record(self.name(), &record, extracted)?;
        self.records += 1;
        if self.reported.elapsed() >= PROGRESS_EVERY {
            self.reported = Instant::now();
            info!(
                "{}: {} records so far, {} requests, {:.0}s",
                self.name(),
                self.records,
                self.requests,
                self.started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    fn bad_record(&self, item: &Value, problem: &str) -> Error {
        let id = item.get("id").map_or_else(
            || "(id unknown)".to_owned(),
            |id| id.to_string().trim_matches('"').to_owned(),
        );
        Error::BadRecord {
            stream: self.name(),
            record: id,
            problem: problem.to_owned(),
        }
    }

    /// Saves the bookmark of a full scan: the newest value read, never behind the old bookmark.
    pub fn finish_scan(&mut self) -> Result<(), Error> {
        let (Some(key), Some(newest)) = (self.plan.incremental, self.newest) else {
            return Ok(());
        };
        let at = self.plan.bookmark.map_or(newest, |b| b.max(newest));
        self.save_bookmark(key, at)
    }

    /// Moves the stream's bookmark (never past `end_date`) and writes STATE.
    pub fn save_bookmark(&mut self, key: &str, at: DateTime<Utc>) -> Result<(), Error> {
        let at = self.run.settings.end_date.map_or(at, |end| at.min(end));
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
    let plans = plan(&settings, catalog, &state);
    let run = Run {
        client,
        output: Output::new(out, state),
        settings,
        started_at: Utc::now().trunc_subsecs(0),
        running: Mutex::new(Vec::new()),
    };
    let started = Instant::now();
    let names: Vec<&str> = plans.iter().map(|p| p.stream.name).collect();
    info!(
        "sync started: {} streams ({})",
        plans.len(),
        names.join(", ")
    );

    let outcomes: Vec<Outcome> = thread::scope(|scope| {
        let handles: Vec<_> = plans
            .iter()
            .map(|plan| {
                let run = &run;
                thread::Builder::new()
                    .name(plan.stream.name.into())
                    .spawn_scoped(scope, move || sync_stream(plan, run))
            })
            .collect();
        handles
            .into_iter()
            .zip(&plans)
            .map(
                |(handle, plan)| match handle.map(thread::ScopedJoinHandle::join) {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => failed(plan.stream.name, Error::Aborted),
                    Err(source) => failed(
                        plan.stream.name,
                        Error::Spawn {
                            stream: plan.stream.name,
                            source,
                        },
                    ),
                },
            )
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

fn sync_stream(plan: &Plan, run: &Run) -> Outcome {
    let stream = plan.stream;
    run.set_running(stream.name, true);
    match (plan.incremental, plan.start) {
        (Some(key), Some(start)) => info!(
            "{}: started, incremental on {key} from {}",
            stream.name,
            format_datetime(start)
        ),
        (Some(key), None) => info!(
            "{}: started, incremental on {key}, first sync of the whole history",
            stream.name
        ),
        (None, _) => info!("{}: started, full table", stream.name),
    }
    let mut job = Job::new(plan, run);
    let result = run
        .output
        .schema(stream.name, &plan.schema, &plan.key, plan.incremental)
        .and_then(|()| stream.run(&mut job));
    run.set_running(stream.name, false);
    let seconds = job.started.elapsed().as_secs_f64();
    let status = match result {
        Ok(()) => Status::Done,
        Err(Error::Api(err)) if err.status() == Some(403) => {
            warn!(
                "{}: skipped: the access token may not read it ({err})",
                stream.name
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
    let tags = json!({"stream": stream.name});
    log::counter("record_count", job.records, tags.clone());
    let outcome_tag = if matches!(status, Status::Failed(_)) {
        "failed"
    } else {
        "succeeded"
    };
    log::timer(
        "sync_duration",
        seconds,
        json!({"stream": stream.name, "status": outcome_tag}),
    );
    match &status {
        Status::Done => info!(
            "{}: done, {} records, {} requests, {seconds:.1}s",
            stream.name, job.records, job.requests
        ),
        Status::Skipped(_) => {}
        Status::Failed(err) if is_abort(err) => {
            info!("{}: stopped early, {} records", stream.name, job.records);
        }
        Status::Failed(err) => warn!(
            "{}: failed after {} records: {err}",
            stream.name, job.records
        ),
    }
    Outcome {
        name: stream.name,
        records: job.records,
        requests: job.requests,
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
