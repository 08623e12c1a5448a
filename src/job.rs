//! What a stream's run works with: the [`Plan`] the sync made for it, the [`Run`] every stream
//! shares (the client, stdout, the settings), and the [`Job`] that ties them together with
//! the stream's counters. The runners, the paging engine and the sync all stand on this
//! module; it stands on none of them.
//!
//! The bookmark rules live here, in one place: a bookmark never moves back, never passes
//! `end_date`, and never passes the sync's start less `search_index_lag`, so that a record
//! changed while the sync ran, or indexed by Intercom's search late, is read by the next run.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::config::Settings;
use crate::error::{ApiError, Error};
use crate::http::{Body, Client, Request};
use crate::parallel::{Shares, Workers};
use crate::schema::{Node, Undeclared, format_datetime};
use crate::singer::Output;
use crate::streams::{Stream, UNDECLARED};
use crate::{log, warn};

/// Records not written that are named one by one in the log; the rest are counted.
const NAMED_AT_MOST: u64 = 20;

/// A span of replication-key values read completely, `[from, to)` in Unix seconds.
pub type Range = (i64, i64);

/// Where records came from: when the answer arrived (each RECORD's `time_extracted`) and the
/// request that brought it (named when a record cannot be written).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub extracted: String,
    /// `GET /path?query`, as errors name a request.
    pub request: String,
}

impl Origin {
    /// An answer to `request` that arrived now.
    pub fn now(request: impl Into<String>) -> Origin {
        Origin {
            extracted: now(),
            request: request.into(),
        }
    }
}

/// The time for `time_extracted`: now, to the microsecond.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The records of a stream that could not be written, and where its bookmark must stop.
#[derive(Debug, Default)]
struct Spoiled {
    count: u64,
    limit: Option<Limit>,
    /// The error named at the end: the earliest record's, by replication value then message,
    /// so that the same input names the same record whatever the timing.
    first: Option<(i64, String, Error)>,
}

/// Where the bookmark of a stream with records not written must stop: at the earliest one's
/// replication value, or, when a record's value could not be read, where the run found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Limit {
    /// The bookmark stays where the state had it.
    Unknown,
    /// Not past this second.
    At(i64),
}

/// Records Intercom returned outside the range a query asked for (far below it, or dated
/// after the sync started): written once each, named, counted, and never moving a bookmark.
#[derive(Debug, Default)]
struct Strays {
    written: HashSet<String>,
    count: u64,
}

/// The settings of the exports, as a stream reads them.
#[derive(Debug, Clone, Copy)]
pub struct ExportSettings {
    pub window: std::time::Duration,
    pub lookback: std::time::Duration,
    /// The first pause between two polls of a job.
    pub poll: std::time::Duration,
    /// How long a job may take.
    pub timeout: std::time::Duration,
    pub start_date: Option<DateTime<Utc>>,
}

/// How one stream will run in this sync.
pub struct Plan {
    pub stream: &'static Stream,
    /// False for a parent read only for its selected child: nothing of it is written.
    pub emit: bool,
    /// The schema after field selection: what SCHEMA says and what records carry.
    pub schema: Value,
    node: Node,
    /// The stream's whole schema, to tell a deselected field from one it does not declare.
    full: Node,
    pub key: Vec<String>,
    /// The replication key, when the stream runs incrementally.
    pub incremental: Option<&'static str>,
    /// The bookmark the state holds for this stream.
    pub bookmark: Option<DateTime<Utc>>,
    /// Incremental streams emit records changed at or after this (bookmark minus lookback, or
    /// `start_date`); `None` reads everything.
    pub start: Option<DateTime<Utc>>,
    /// Ranges above the bookmark that an interrupted run read completely, less the lookback:
    /// they need not be read again.
    pub done: Vec<Range>,
    /// The table version of a full-table stream (not a count history): stamped on its records
    /// and activated when all are written, so that targets retire rows deleted in Intercom.
    pub version: Option<i64>,
}

impl Plan {
    /// A plan for `stream` with `schema` (already projected to the selected fields).
    ///
    /// # Panics
    /// Never for the tap's own schemas: projection only removes properties from a schema that
    /// compiles, and every stream's schema is compiled by a test.
    pub fn new(stream: &'static Stream, emit: bool, schema: Value, key: Vec<String>) -> Plan {
        let node = Node::compile(&schema).expect("a projected stream schema compiles");
        let full = Node::compile(&stream.schema()).expect("every stream schema compiles (tested)");
        Plan {
            stream,
            emit,
            schema,
            node,
            full,
            key,
            incremental: None,
            bookmark: None,
            start: None,
            done: Vec::new(),
            version: None,
        }
    }

    /// Whether the record carries this top-level property (it may have been deselected).
    pub fn has_field(&self, name: &str) -> bool {
        self.schema["properties"].get(name).is_some()
    }
}

/// What every stream of a run shares.
pub struct Run {
    pub client: Client,
    pub output: Output,
    pub settings: Settings,
    /// When the sync started, whole seconds: the count reports' `snapshot_at`.
    pub started_at: DateTime<Utc>,
    /// Threads for the requests of a page's records, shared by every stream.
    pub workers: Workers,
    /// Threads for the few requests of a page its chain waits on (see [`Job::for_each_link`]),
    /// as many as `workers`: a pool of 64 ran out at 1,000 ms, where ten readers' pages of
    /// contacts had about ten requests each in flight for a second.
    links: Workers,
    /// Readers of slices beyond each stream's first, shared by every stream: each holds a page
    /// or two in memory, so their number, not the requests in flight, bounds the pages held.
    pub readers: Shares,
    /// The workspace's id for `add_workspace_id`, from `GET /me` before any stream starts.
    workspace: std::sync::OnceLock<String>,
    /// The workspace's time zone (`app.timezone` of `GET /me`), in which the reporting
    /// exports write their times.
    zone: std::sync::OnceLock<chrono_tz::Tz>,
    /// The answer of `GET /export/reporting_data/get_datasets`, read once by the first
    /// reporting stream that needs it (`None` when it could not be had).
    datasets: std::sync::OnceLock<Option<Value>>,
    /// Export jobs pending, kept below Intercom's limits across the streams (reporting, message).
    export_slots: (crate::exports::Slots, crate::exports::Slots),
}

/// Slice readers beyond each stream's first, for the whole run. A search page of 150 contacts
/// is about 340 kB on the wire and 2.5 MB parsed, held while its records are read; eight
/// readers read the large fake workspace's 700 search pages well inside the rate budget's time
/// for its 17,000 requests. Sixteen filled a first window that starts late more often, but
/// peaked 8 to 16 MB higher: 59 and 58 MB at 0 and 100 ms, where eight took 43 and 50
/// (docs/benchmarks.md).
pub const EXTRA_READERS: usize = 8;

impl Run {
    pub fn new(client: Client, output: Output, settings: Settings, started_at: DateTime<Utc>) -> Run {
        Run {
            workers: Workers::new(settings.max_concurrency),
            links: Workers::new(settings.max_concurrency),
            client,
            output,
            settings,
            started_at,
            readers: Shares::new(EXTRA_READERS),
            workspace: std::sync::OnceLock::new(),
            zone: std::sync::OnceLock::new(),
            datasets: std::sync::OnceLock::new(),
            export_slots: (
                crate::exports::Slots::new(crate::exports::REPORTING_SLOTS),
                crate::exports::Slots::new(crate::exports::MESSAGE_SLOTS),
            ),
        }
    }

    /// Sets the workspace's time zone (see [`Job::zone`]).
    pub fn set_zone(&self, zone: chrono_tz::Tz) {
        let _ = self.zone.set(zone);
    }

    /// Sets the workspace id every record carries (`add_workspace_id`).
    pub fn set_workspace(&self, id: String) {
        let _ = self.workspace.set(id);
    }

    /// The latest a bookmark may be: the sync's start less the search index's lag.
    pub fn bookmark_cap(&self) -> DateTime<Utc> {
        let lag = chrono::Duration::from_std(self.settings.search_index_lag).unwrap_or_default();
        self.started_at - lag
    }
}

/// Where a stream's bookmark may go: towards `at`, but never back from `old`, never past
/// `end` (`end_date`) and never past `cap` (the sync's start less the index lag).
pub fn bookmark_rule(
    at: DateTime<Utc>,
    old: Option<DateTime<Utc>>,
    cap: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let mut at = at.min(cap);
    if let Some(end) = end {
        at = at.min(end);
    }
    old.map_or(at, |old| at.max(old))
}

/// The ranges worth keeping in the state beside a bookmark `at`: above it, cut at `limit` (the
/// cap, or `end_date`), since what lies beyond may still change or appear.
pub fn ranges_to_keep(done: &[Range], at: i64, limit: i64) -> Vec<Range> {
    done.iter()
        .map(|&(from, to)| (from.max(at), to.min(limit)))
        .filter(|(from, to)| from < to)
        .collect()
}

/// The parts of ranges above the second `t`: what a range holding `t` was read of, but for
/// the record at `t` that could not be written.
fn above(done: &[Range], t: i64) -> Vec<Range> {
    done.iter()
        .map(|&(from, to)| (from.max(t + 1), to))
        .filter(|(from, to)| from < to)
        .collect()
}

/// One stream's run, as the runners and the paging engine see it: the stream's requests (`send`,
/// `for_each`, `pause`), where its records go (`emit`, `offer`, `spoil`, `stray`) and where its
/// bookmark goes (`save_progress`, `save_bookmark`, `finish_scan`), with the few facts of the run
/// they need (`api_version`, `end_date`, `started_at`). None of them reaches the run itself:
/// the client, the thread pools and the settings stay behind this handle. Shared by the threads
/// that fetch for the stream, so everything here takes `&self`.
pub struct Job<'a> {
    plan: &'a Plan,
    run: &'a Run,
    records: AtomicU64,
    requests: AtomicU64,
    /// Newest replication-key value read by a full scan, for its bookmark.
    newest: Mutex<Option<DateTime<Utc>>>,
    started: Mutex<Option<Instant>>,
    /// Undeclared properties already reported, by path.
    undeclared: Mutex<HashSet<String>>,
    spoiled: Mutex<Spoiled>,
    strays: Mutex<Strays>,
}

impl<'a> Job<'a> {
    pub fn new(plan: &'a Plan, run: &'a Run) -> Job<'a> {
        Job {
            plan,
            run,
            records: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            newest: Mutex::new(None),
            started: Mutex::new(None),
            undeclared: Mutex::new(HashSet::new()),
            spoiled: Mutex::new(Spoiled::default()),
            strays: Mutex::new(Strays::default()),
        }
    }

    pub fn name(&self) -> &'static str {
        self.plan.stream.name
    }

    pub fn plan(&self) -> &'a Plan {
        self.plan
    }

    /// The API version the run speaks.
    pub fn api_version(&self) -> crate::version::ApiVersion {
        self.run.settings.api_version
    }

    /// `end_date`, when set.
    pub fn end_date(&self) -> Option<DateTime<Utc>> {
        self.run.settings.end_date
    }

    /// When the sync started (whole seconds).
    pub fn started_at(&self) -> DateTime<Utc> {
        self.run.started_at
    }

    /// `retry_initial_delay`: the first pause before trying again.
    pub fn retry_delay(&self) -> std::time::Duration {
        self.run.settings.retry_initial_delay
    }

    /// The workspace's time zone, UTC when `GET /me` did not name one the tap knows.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.run.zone.get().copied().unwrap_or(chrono_tz::Tz::UTC)
    }

    /// The settings of the exports.
    pub fn export_settings(&self) -> ExportSettings {
        let s = &self.run.settings;
        ExportSettings {
            window: s.export_window,
            lookback: s.export_lookback,
            poll: s.export_poll_interval,
            timeout: s.export_job_timeout,
            start_date: s.start_date,
        }
    }

    /// The workspace's reporting datasets and their attributes (`GET
    /// /export/reporting_data/get_datasets`), read once for the run; `None`, with a warning,
    /// when they could not be read.
    pub fn datasets(&self) -> Option<&'a Value> {
        self.run
            .datasets
            .get_or_init(|| {
                let req = Request::get(self.name(), "/export/reporting_data/get_datasets");
                self.requests.fetch_add(1, Ordering::Relaxed);
                match self.run.client.send(&req) {
                    Ok(answer) => Some(answer),
                    Err(err) => {
                        warn!("the reporting datasets' attributes could not be read ({err}); each dataset is asked for its documented attributes");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The run's slots for pending export jobs: reporting's, or the message data's.
    pub fn export_slots(&self, reporting: bool) -> &'a crate::exports::Slots {
        if reporting {
            &self.run.export_slots.0
        } else {
            &self.run.export_slots.1
        }
    }

    /// Downloads a file to `file` (an export), counted as the stream's request.
    pub fn download(&self, req: &Request, file: &mut std::fs::File) -> Result<u64, ApiError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.run.client.download(req, file)
    }

    /// Waits, waking early if the run stops; false when it did.
    pub fn pause(&self, total: std::time::Duration) -> bool {
        self.run.client.pause(total)
    }

    /// How many requests may be in flight now, across the run.
    pub fn concurrency(&self) -> usize {
        self.run.client.concurrency()
    }

    /// A token of the run's pool of slice readers beyond each stream's first, if one is free
    /// and no other stream wanting one holds fewer (see `parallel::Shares`). The stream counts as
    /// wanting one until [`Job::no_more_readers`].
    pub fn extra_reader(&self) -> Option<crate::parallel::Share<'a>> {
        self.run.readers.try_take(self.name())
    }

    /// The stream needs no more slice readers now: the others may take every free token.
    pub fn no_more_readers(&self) {
        self.run.readers.rest(self.name());
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Requests sent so far (retries not counted).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Marks the stream as started now.
    pub fn start_clock(&self) {
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// Seconds since the stream started.
    pub fn seconds(&self) -> f64 {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    pub fn snapshot_at(&self) -> String {
        format_datetime(self.run.started_at)
    }

    /// Sends a request and returns Intercom's answer or error as it is, for streams that treat
    /// some errors as part of their protocol (the companies scroll).
    pub fn send(&self, req: &Request) -> Result<Value, ApiError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.run.client.send(req)
    }

    /// As [`Job::send`], keeping the body unparsed (a page fetched ahead).
    pub fn send_raw(&self, req: &Request) -> Result<Body, ApiError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.run.client.send_raw(req)
    }

    pub fn get(&self, path: &str) -> Result<Value, Error> {
        self.send(&Request::get(self.name(), path)).map_err(Error::from)
    }

    /// A request whose object may have been deleted or merged since the search found it:
    /// `None` for a 404, which the caller reports in its own words and skips.
    pub fn send_unless_gone(&self, req: &Request) -> Result<Option<Value>, Error> {
        match self.send(req) {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.status() == Some(404) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Calls `f` on every item, many at once on the run's shared threads (as many as requests
    /// may be in flight), and returns the first error.
    pub fn for_each<T: Sync>(&self, items: &[T], f: impl Fn(&T) -> Result<(), Error> + Sync) -> Result<(), Error> {
        self.run.workers.for_each(items, &|| self.run.client.concurrency(), f)
    }

    /// As [`Job::for_each`], for the few requests of a page that its chain waits on: on threads
    /// of their own, so that they never wait for one behind the bulk of independent requests,
    /// whose threads the rate limit may hold for most of a window.
    pub fn for_each_link<T: Sync>(&self, items: &[T], f: impl Fn(&T) -> Result<(), Error> + Sync) -> Result<(), Error> {
        self.run.links.for_each(items, &|| self.run.client.concurrency(), f)
    }

    /// Emits an item if its replication key is in range, and remembers the newest key seen, for
    /// streams that read everything and emit what changed. Other streams emit every item. A
    /// time after the sync's start is impossible: the item is written, named, and the newest
    /// key (the bookmark) does not move by it.
    pub fn offer(&self, item: Value, origin: &Origin) -> Result<(), Error> {
        if let Some(key) = self.plan.incremental {
            let Some(at) = self.replication_value(&item, key, origin)? else {
                return Ok(());
            };
            if !self.possible(at) {
                self.stray(&item, key, at, None, origin);
                return self.emit(item, origin);
            }
            let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
            *newest = Some(newest.map_or(at, |n| n.max(at)));
            drop(newest);
            if !self.in_range(at) {
                return Ok(());
            }
        }
        self.emit(item, origin)
    }

    /// An item's replication-key value. An item without a readable one cannot be placed, so
    /// it is not written: it is named, the run will fail, and the stream's bookmark stays
    /// where the state had it (`None` is returned; errors are the output's).
    pub fn replication_value(&self, item: &Value, key: &str, origin: &Origin) -> Result<Option<DateTime<Utc>>, Error> {
        if let Some(at) = item.get(key).and_then(timestamp) {
            return Ok(Some(at));
        }
        let shown = item
            .get(key)
            .map_or_else(|| "nothing".to_owned(), |v| truncate(&v.to_string()));
        let err = self.bad_record(item, &format!("has no readable {key} ({shown})"), origin);
        self.spoil(err, None).map(|()| None)
    }

    /// Whether a replication-key value falls in this run's range (`start` to `end_date`).
    pub fn in_range(&self, at: DateTime<Utc>) -> bool {
        self.plan.start.is_none_or(|start| at >= start) && self.run.settings.end_date.is_none_or(|end| at < end)
    }

    /// Whether a record can have been changed at `at`: not after the sync started (a day of
    /// clock difference allowed).
    pub fn possible(&self, at: DateTime<Utc>) -> bool {
        at <= self.run.started_at + chrono::Duration::days(1)
    }

    /// Notes an item Intercom returned outside the range a query asked for (`asked`, as a
    /// phrase: `from 2024-01-01T00:00:00Z`), or dated after the sync started when `asked` is
    /// `None`: named in the log and counted, once per record and run. Returns whether this is
    /// the first time, when the caller writes it. Such a value never moves a bookmark: the
    /// callers leave it out of their progress.
    pub fn stray(&self, item: &Value, key: &str, at: DateTime<Utc>, asked: Option<&str>, origin: &Origin) -> bool {
        let id = record_id(item);
        let mut strays = self.strays.lock().unwrap_or_else(PoisonError::into_inner);
        if !strays.written.insert(id.clone()) {
            return false;
        }
        strays.count += 1;
        let count = strays.count;
        drop(strays);
        if count <= NAMED_AT_MOST {
            let why = asked.map_or_else(
                || {
                    format!(
                        "after the sync started at {}: an impossible time",
                        format_datetime(self.run.started_at)
                    )
                },
                |asked| format!("outside the range asked for ({key} {asked})"),
            );
            warn!(
                "{}: {} returned record {id} with {key} {}, {why}; it is written, once, and moves no bookmark",
                self.name(),
                origin.request,
                format_datetime(at)
            );
        } else if count == NAMED_AT_MOST + 1 {
            warn!(
                "{}: more records outside the range asked for; the summary counts them",
                self.name()
            );
        }
        true
    }

    /// Records written outside the range asked for (see [`Job::stray`]).
    pub fn strays(&self) -> u64 {
        self.strays.lock().unwrap_or_else(PoisonError::into_inner).count
    }

    /// Reshapes an item, shapes it to the schema and writes the RECORD (unless the stream is
    /// read only for its child). An item that cannot become a record is not written: it is
    /// named (see [`Job::spoil`]) and the stream goes on. Errors are the output's.
    pub fn emit(&self, item: Value, origin: &Origin) -> Result<(), Error> {
        if !self.plan.emit {
            return Ok(());
        }
        let at = self.place_of(&item);
        match self.shape(item, origin) {
            Ok(record) => {
                self.run
                    .output
                    .record(self.name(), &record, self.plan.version, &origin.extracted)?;
                self.records.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(err) => self.spoil(err, at),
        }
    }

    /// Where a record sits in the stream's bookmark order: its replication-key value, or for a
    /// child its parent's (`conversation_updated_at`), when readable.
    fn place_of(&self, item: &Value) -> Option<DateTime<Utc>> {
        let key = self.plan.incremental?;
        let column = self.plan.stream.parent.map_or(key, |p| p.time);
        item.get(column).and_then(timestamp)
    }

    /// The record an item becomes, or why it cannot become one.
    fn shape(&self, item: Value, origin: &Origin) -> Result<Value, Error> {
        let bad = |item: &Value, problem: String| Error::BadRecord {
            stream: self.name(),
            record: record_id(item),
            problem,
            request: origin.request.clone(),
        };
        let Value::Object(mut map) = item else {
            let problem = format!("expected an object, got {}", truncate(&item.to_string()));
            return Err(bad(&Value::Null, problem));
        };
        if let Some(id) = self.run.workspace.get() {
            map.insert(
                crate::singer::catalog::WORKSPACE_COLUMN.into(),
                Value::String(id.clone()),
            );
        }
        for reshape in self.plan.stream.reshape {
            if let Err(problem) = reshape.apply(&mut map) {
                return Err(bad(&Value::Object(map), problem));
            }
        }
        let item = Value::Object(map);
        let id = record_id(&item);
        let mut dropped = Vec::new();
        let mut record = self
            .plan
            .node
            .apply_noting(item, &mut dropped)
            .map_err(|err| Error::BadRecord {
                stream: self.name(),
                record: id,
                problem: err.to_string(),
                request: origin.request.clone(),
            })?;
        self.keep_undeclared(&mut record, dropped);
        // A row without its key cannot be loaded: a target would drop it or merge it with
        // others. Intercom always sends it, so an answer without it is an error, not a row.
        if let Some(key) = self
            .plan
            .key
            .iter()
            .find(|k| record.get(k.as_str()).is_none_or(Value::is_null))
        {
            return Err(bad(&record, format!("has no {key}, a key property of the stream")));
        }
        Ok(record)
    }

    /// A record that cannot be written, found at `at` in the stream's bookmark order (`None`
    /// when unknown). The stream goes on without it; its bookmark never passes it (stays
    /// where the state had it when `at` is unknown), the log names it, and the stream fails at
    /// its end, so that the run exits non-zero and the next run reads it again.
    pub fn spoil(&self, err: Error, at: Option<DateTime<Utc>>) -> Result<(), Error> {
        let key = at.map(|a| a.timestamp());
        let limit = key.map_or(Limit::Unknown, Limit::At);
        let message = err.to_string();
        let mut spoiled = self.spoiled.lock().unwrap_or_else(PoisonError::into_inner);
        spoiled.count += 1;
        let count = spoiled.count;
        let was = spoiled.limit;
        spoiled.limit = Some(was.map_or(limit, |l| l.min(limit)));
        let rank = (key.unwrap_or(i64::MIN), message.clone());
        if spoiled
            .first
            .as_ref()
            .is_none_or(|(k, m, _)| (rank.0, &rank.1) < (*k, m))
        {
            spoiled.first = Some((rank.0, rank.1, err));
        }
        drop(spoiled);
        if count <= NAMED_AT_MOST {
            warn!(
                "{message}; not written: {} goes on without it, its bookmark stays below it, and the run will exit 1",
                self.name()
            );
        } else if count == NAMED_AT_MOST + 1 {
            warn!(
                "{}: more records cannot be written; the summary counts them",
                self.name()
            );
        }
        // The first unknown place: the bookmark goes back to where the state had it.
        if limit == Limit::Unknown && was != Some(Limit::Unknown) {
            if let Some(key) = self.plan.incremental.filter(|_| self.plan.emit) {
                return self.run.output.restore_bookmark(self.name(), key, self.plan.bookmark);
            }
        }
        Ok(())
    }

    /// The stream's failure for records it could not write, if it had any.
    pub fn not_written(&self) -> Option<Error> {
        let mut spoiled = self.spoiled.lock().unwrap_or_else(PoisonError::into_inner);
        let count = spoiled.count;
        let (_, _, first) = spoiled.first.take()?;
        Some(Error::NotWritten {
            stream: self.name(),
            count,
            first: Box::new(first),
        })
    }

    /// Whether records of the stream could not be written.
    pub fn spoiled(&self) -> bool {
        self.spoiled.lock().unwrap_or_else(PoisonError::into_inner).count > 0
    }

    pub fn bad_record(&self, item: &Value, problem: &str, origin: &Origin) -> Error {
        Error::BadRecord {
            stream: self.name(),
            record: record_id(item),
            problem: problem.to_owned(),
            request: origin.request.clone(),
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

    /// Moves the stream's bookmark towards `at` and writes STATE (see [`bookmark_rule`]). Does
    /// nothing for a stream that is not incremental or not emitted.
    pub fn save_bookmark(&self, at: DateTime<Utc>) -> Result<(), Error> {
        self.save_progress(at, &[])
    }

    /// Like [`Job::save_bookmark`], with the ranges above it that were read completely, so that
    /// an interrupted run does not read them again.
    pub fn save_progress(&self, at: DateTime<Utc>, done: &[Range]) -> Result<(), Error> {
        let Some(key) = self.plan.incremental.filter(|_| self.plan.emit) else {
            return Ok(());
        };
        // Records not written keep the bookmark below them (see `Job::spoil`).
        let spoiled = self.spoiled.lock().unwrap_or_else(PoisonError::into_inner).limit;
        let (at, done) = match spoiled {
            None => (at, done.to_vec()),
            Some(Limit::At(t)) => (at.min(DateTime::from_timestamp(t, 0).unwrap_or(at)), above(done, t)),
            Some(Limit::Unknown) => return Ok(()),
        };
        let cap = self.run.bookmark_cap();
        let end = self.run.settings.end_date;
        let at = bookmark_rule(at, self.plan.bookmark, cap, end);
        let limit = end.map_or(cap, |e| e.min(cap)).timestamp();
        let kept = ranges_to_keep(&done, at.timestamp(), limit);
        self.run.output.bookmark(self.name(), key, at, &kept)
    }

    /// Fails fast when the whole run is stopping.
    pub fn check_abort(&self) -> Result<(), Error> {
        if self.run.client.is_aborted() {
            Err(Error::Aborted)
        } else {
            Ok(())
        }
    }

    /// Keeps the properties Intercom sent that the stream's schema does not declare in the
    /// record's `undeclared_properties`, each under its path, and reports each path once.
    /// Deselected fields (declared, but not in this run's schema) are left out without a word.
    fn keep_undeclared(&self, record: &mut Value, dropped: Vec<Undeclared>) {
        let keep = self.plan.has_field(UNDECLARED);
        let mut kept = Map::new();
        for Undeclared { path, shape, value } in dropped {
            if self.plan.full.declares(&shape) {
                continue;
            }
            let first = self
                .undeclared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(shape.clone());
            if first {
                let whereto = if keep {
                    format!("kept in {UNDECLARED}")
                } else {
                    format!("left out ({UNDECLARED} is deselected)")
                };
                warn!(
                    "{}: Intercom sent {shape}, which the stream's schema does not declare; {whereto} (said once)",
                    self.name()
                );
                self.counter("undeclared_property", 1, json!({"path": shape}));
            }
            if keep {
                kept.insert(path, value);
            }
        }
        if !kept.is_empty() {
            record[UNDECLARED] = Value::Object(kept);
        }
    }

    /// Counts something worth a metric (`parts_truncated`, ...).
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
        |id| truncate(id.to_string().trim_matches('"')),
    )
}

/// A replication-key value, read as every time value is (see [`crate::time`]).
pub fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    crate::time::instant(v)
}

/// An id as text, whether Intercom sent a string or a number.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_bookmark_never_moves_back() {
        assert_eq!(bookmark_rule(at(100), Some(at(200)), at(1_000), None), at(200));
        assert_eq!(bookmark_rule(at(300), Some(at(200)), at(1_000), None), at(300));
        assert_eq!(bookmark_rule(at(300), None, at(1_000), None), at(300));
    }

    #[test]
    fn a_bookmark_never_passes_the_cap_or_end_date() {
        // The cap: the sync's start less the index lag.
        assert_eq!(bookmark_rule(at(5_000), None, at(1_000), None), at(1_000));
        // end_date, when it comes first.
        assert_eq!(bookmark_rule(at(5_000), None, at(1_000), Some(at(700))), at(700));
        assert_eq!(bookmark_rule(at(5_000), None, at(1_000), Some(at(9_000))), at(1_000));
        // An old bookmark beyond the cap is kept (never back), but not moved further.
        assert_eq!(bookmark_rule(at(5_000), Some(at(2_000)), at(1_000), None), at(2_000));
    }

    #[test]
    fn kept_ranges_lie_between_the_bookmark_and_the_cap() {
        let done = [(10, 20), (30, 50), (60, 90), (95, 99)];
        assert_eq!(ranges_to_keep(&done, 35, 80), vec![(35, 50), (60, 80)]);
        assert!(ranges_to_keep(&done, 100, 200).is_empty());
    }

    #[test]
    fn ids_and_timestamps_are_read_in_either_form() {
        assert_eq!(id_text(&json!("a1")), Some("a1".into()));
        assert_eq!(id_text(&json!(17)), Some("17".into()));
        assert_eq!(id_text(&json!("")), None);
        assert_eq!(id_text(&json!(null)), None);
        assert_eq!(timestamp(&json!(1_700_000_000)), Some(at(1_700_000_000)));
        assert_eq!(timestamp(&json!("2023-11-14T22:13:20Z")), Some(at(1_700_000_000)));
        assert_eq!(timestamp(&json!(true)), None);
    }
}
