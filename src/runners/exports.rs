//! Streams of Intercom's asynchronous exports (intercom-api.md §6). A stream is read window by
//! window, from its bookmark less `export_lookback_days` (or `start_date`) to the sync's start
//! or `end_date`: each window is one job, enqueued while the run holds a slot below Intercom's
//! pending limit, polled with a growing pause until it completes or its deadline passes, then
//! downloaded to a file on disk and read row by row. The bookmark moves to a window's end when
//! its rows are written, and STATE follows: a run stopped in a window reads it again, and none
//! before it. A job that fails, is canceled, expires or passes its deadline is tried again,
//! three times in all; then the stream fails, naming the dataset and the window. `no_data` is an
//! empty window. All the kinds of the message data come from one job per window, which the
//! receipts' read writes to each kind's stream.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::exports::{self, Attribute, Cell, Table};
use crate::http::Request;
use crate::job::{Job, Origin};
use crate::streams::Read;
use crate::streams::exports::{Export, HASH, Key, Kind};
use crate::{info, warn};

/// The workspace's custom attributes of each reporting dataset, by stream name: each
/// attribute (id and label) that `GET /export/reporting_data/get_datasets` lists and the
/// stream's schema lacks. Discovery adds them as columns; an answer that cannot be had or read
/// leaves the documented attributes alone, with a warning.
pub fn custom_attributes(client: &crate::http::Client) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let mut out = std::collections::BTreeMap::new();
    let req = Request::get("discovery", "/export/reporting_data/get_datasets").check();
    let answer = match client.send(&req) {
        Ok(answer) => answer,
        Err(err) => {
            warn!(
                "discovery: the reporting datasets' custom attributes could not be read ({err}); the catalog has the documented attributes"
            );
            return out;
        }
    };
    for dataset in answer["data"].as_array().into_iter().flatten() {
        let Some(id) = dataset["id"].as_str() else { continue };
        let name = format!("reporting_{id}");
        let Some(stream) = crate::streams::find(&name) else {
            continue;
        };
        let schema = stream.schema();
        let custom: Vec<(String, String)> = dataset["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let id = a["id"].as_str()?;
                let column = exports::column_name(id);
                let label = a["name"].as_str().unwrap_or(id).to_owned();
                (schema["properties"].get(&column).is_none() && column == id).then_some((column, label))
            })
            .collect();
        if !custom.is_empty() {
            out.insert(name, custom);
        }
    }
    out
}

/// Tries of one window before its stream fails.
const TRIES: u32 = 3;
/// The longest pause between two polls of a job.
const MAX_POLL: Duration = Duration::from_secs(60);
/// Where a first sync without `start_date` begins: a year before it (a warning says so).
const FIRST_DAYS: i64 = 365;

pub fn run(job: &Job<'_>, children: &[&Job<'_>]) -> Result<(), Error> {
    match job.plan().stream.read {
        Read::Export(Export::Reporting { dataset, key }) => reporting(job, dataset, key),
        Read::Export(Export::Message(_)) => messages(job, children),
        _ => Ok(()),
    }
}

/// What one export is: its endpoints and the body that starts a job for a window.
struct Spec<'s> {
    /// The dataset, or `message data`, for messages.
    what: String,
    reporting: bool,
    enqueue: &'static str,
    status: &'static str,
    download: &'static str,
    body: &'s dyn Fn(i64, i64) -> Value,
}

/// The windows the jobs need: from the earliest start of those emitting.
fn windows(jobs: &[&Job<'_>]) -> Vec<(i64, i64)> {
    let Some(first) = jobs.first() else {
        return Vec::new();
    };
    let settings = first.export_settings();
    let lookback = chrono::Duration::from_std(settings.lookback).unwrap_or_default();
    let started = first.started_at();
    let from = jobs
        .iter()
        .filter(|j| j.plan().emit)
        .map(|j| {
            j.plan()
                .bookmark
                .map(|b| b - lookback)
                .or(settings.start_date)
                .unwrap_or_else(|| {
                    warn!(
                        "{}: no start_date and no bookmark: the export starts {FIRST_DAYS} days before this sync",
                        j.name()
                    );
                    started - chrono::Duration::days(FIRST_DAYS)
                })
                .timestamp()
        })
        .min()
        .unwrap_or(started.timestamp());
    let to = first.end_date().map_or(started, |e| e.min(started)).timestamp();
    let step = i64::try_from(settings.window.as_secs()).unwrap_or(86_400);
    exports::windows(from, to, step)
}

fn when(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), crate::schema::format_datetime)
}

/// Runs one window's job to its download: `Ok(None)` for `no_data`.
fn export(job: &Job<'_>, spec: &Spec<'_>, window: (i64, i64)) -> Result<Option<tempfile::NamedTempFile>, Error> {
    let settings = job.export_settings();
    let named = format!("{} from {} to {}", spec.what, when(window.0), when(window.1));
    let mut last = String::new();
    for attempt in 1..=TRIES {
        job.check_abort()?;
        let deadline = Instant::now() + settings.timeout;
        let slot = job.export_slots(spec.reporting).take();
        let id = match enqueue(job, spec, window, deadline)? {
            Ok(id) => id,
            Err(problem) => {
                last = problem;
                break;
            }
        };
        let outcome = poll(job, spec, &id, deadline)?;
        drop(slot);
        match outcome {
            Polled::Done => {}
            Polled::NoData => return Ok(None),
            Polled::Over(problem) => {
                warn!(
                    "{}: the export job {id} for {named} {problem} (try {attempt} of {TRIES})",
                    job.name()
                );
                last = format!("job {id} {problem}");
                continue;
            }
        }
        let mut file = tempfile::NamedTempFile::new().map_err(|err| Error::BadResponse {
            stream: job.name(),
            request: format!("GET {}", spec.download.replace("{id}", &id)),
            problem: format!("no temporary file for the download of {named}: {err}"),
        })?;
        let req = Request::get(job.name(), spec.download.replace("{id}", &id));
        match job.download(&req, file.as_file_mut()) {
            Ok(bytes) => {
                info!("{}: downloaded {named}: {bytes} bytes", job.name());
                return Ok(Some(file));
            }
            // The download is gone (expired): another job.
            Err(err) if matches!(err.status(), Some(404 | 410)) => {
                warn!(
                    "{}: the download of {named} is gone ({err}) (try {attempt} of {TRIES})",
                    job.name()
                );
                last = format!("its download is gone: {err}");
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(Error::BadResponse {
        stream: job.name(),
        request: format!("POST {}", spec.enqueue),
        problem: format!("the export of {named} did not complete in {TRIES} tries: {last}"),
    })
}

/// Starts a job, waiting while Intercom says too many are pending. `Ok(Err(problem))` when its
/// deadline passed first.
fn enqueue(
    job: &Job<'_>,
    spec: &Spec<'_>,
    window: (i64, i64),
    deadline: Instant,
) -> Result<Result<String, String>, Error> {
    let settings = job.export_settings();
    let mut pause = settings.poll;
    loop {
        let req = Request::post(job.name(), spec.enqueue, (spec.body)(window.0, window.1)).pending_limit();
        match job.send(&req) {
            Ok(answer) => {
                let id = answer["job_identifier"].as_str().filter(|s| !s.is_empty());
                return match id {
                    Some(id) => Ok(Ok(id.to_owned())),
                    None => Err(Error::BadResponse {
                        stream: job.name(),
                        request: req.describe(),
                        problem: format!("the answer has no job_identifier: {}", shorten(&answer)),
                    }),
                };
            }
            Err(err) if err.status() == Some(429) => {
                if Instant::now() + pause > deadline {
                    return Ok(Err(format!("too many jobs pending until the deadline ({err})")));
                }
                info!(
                    "{}: Intercom has too many export jobs pending; enqueuing again in {:.1}s",
                    job.name(),
                    pause.as_secs_f64()
                );
                if !job.pause(pause) {
                    return Err(Error::Aborted);
                }
                pause = (pause * 2).min(MAX_POLL);
            }
            Err(err) => return Err(err.into()),
        }
    }
}

enum Polled {
    Done,
    NoData,
    /// Failed, canceled, expired, or past its deadline: why.
    Over(String),
}

/// Reads a job's status until it is over, pausing longer each time.
fn poll(job: &Job<'_>, spec: &Spec<'_>, id: &str, deadline: Instant) -> Result<Polled, Error> {
    let mut pause = job.export_settings().poll;
    loop {
        if Instant::now() + pause > deadline {
            if !spec.reporting {
                // One message job at a time: a job left running would block the next.
                let cancel = Request::post(job.name(), format!("/export/cancel/{id}"), json!({}));
                if let Err(err) = job.send(&cancel) {
                    warn!("{}: the job {id} could not be canceled: {err}", job.name());
                }
            }
            return Ok(Polled::Over("did not complete before export_job_timeout".into()));
        }
        if !job.pause(pause) {
            return Err(Error::Aborted);
        }
        pause = (pause * 2).min(MAX_POLL);
        let req = Request::get(job.name(), spec.status.replace("{id}", id));
        let answer = match job.send(&req) {
            Ok(answer) => answer,
            Err(err) if matches!(err.status(), Some(404 | 410)) => return Ok(Polled::Over(format!("is gone ({err})"))),
            Err(err) => return Err(err.into()),
        };
        let status = answer["status"].as_str().unwrap_or_default();
        match status {
            "complete" | "completed" => return Ok(Polled::Done),
            "no_data" => return Ok(Polled::NoData),
            "pending" | "in_progress" | "queued" | "running" => {}
            "failed" | "canceled" | "cancelled" | "expired" => return Ok(Polled::Over(format!("ended {status}"))),
            _ => {
                return Err(Error::BadResponse {
                    stream: job.name(),
                    request: req.describe(),
                    problem: format!(
                        "the job's status is {}, which the tap does not know",
                        shorten(&answer["status"])
                    ),
                });
            }
        }
    }
}

fn shorten(v: &Value) -> String {
    v.to_string().chars().take(200).collect()
}

/// What a reporting stream asks for: the attributes' ids, the attributes (to map a
/// download's headers), and the columns its key hashes.
struct Asked {
    ids: Vec<String>,
    attributes: Vec<Attribute>,
    hashed: Vec<String>,
}

/// The attributes a reporting stream asks for: the columns of its schema (the documented
/// attributes, and the workspace's custom attributes that discovery added), less those the
/// workspace does not list, since Intercom refuses a job with an attribute it does not know.
fn asked(job: &Job<'_>, dataset: &str, key: Key) -> Result<Asked, Error> {
    let plan = job.plan();
    let props = plan.schema["properties"].as_object().cloned().unwrap_or_default();
    let mut ids: Vec<String> = props
        .keys()
        .filter(|k| {
            k.as_str() != HASH
                && k.as_str() != crate::streams::UNDECLARED
                && k.as_str() != crate::singer::catalog::WORKSPACE_COLUMN
        })
        .cloned()
        .collect();
    let mut hashed: Vec<String> = match key {
        Key::Hash(columns) => columns.iter().map(|c| (*c).to_owned()).collect(),
        Key::Natural(_) => Vec::new(),
    };
    // The key's columns are always asked for: the hash needs them.
    for c in &hashed {
        if !ids.contains(c) {
            ids.push(c.clone());
        }
    }
    let full = plan.stream.schema();
    // Labels from the descriptions: the stream's, or discovery's for a custom attribute.
    let mut attributes: Vec<Attribute> = ids
        .iter()
        .map(|id| Attribute {
            id: id.clone(),
            name: props.get(id).unwrap_or(&full["properties"][id])["description"]
                .as_str()
                .and_then(|d| d.split(" (").next())
                .unwrap_or(id)
                .to_owned(),
            qualified_id: None,
        })
        .collect();
    if let Some(listed) = listed_attributes(job, dataset)? {
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !listed.iter().any(|a| &a.id == *id))
            .cloned()
            .collect();
        if let Some(time) = plan.incremental.filter(|t| missing.iter().any(|m| m == t)) {
            return Err(Error::BadResponse {
                stream: job.name(),
                request: "GET /export/reporting_data/get_datasets".into(),
                problem: format!("the workspace's dataset {dataset} has no attribute {time}, the stream's time"),
            });
        }
        if !missing.is_empty() {
            warn!(
                "{}: the workspace's dataset {dataset} lists no {}; those columns stay empty",
                job.name(),
                missing.join(", ")
            );
        }
        ids.retain(|id| !missing.contains(id));
        // A row whose identifying columns the workspace lacks is identified by all it has.
        if hashed.iter().any(|c| missing.contains(c)) {
            hashed.clone_from(&ids);
        }
        attributes = listed.into_iter().filter(|a| ids.contains(&a.id)).collect();
    }
    Ok(Asked {
        ids,
        attributes,
        hashed,
    })
}

/// A reporting dataset, one job per window.
fn reporting(job: &Job<'_>, dataset: &'static str, key: Key) -> Result<(), Error> {
    let Asked {
        ids,
        attributes,
        hashed,
    } = asked(job, dataset, key)?;
    let body =
        |from: i64, to: i64| json!({"dataset_id": dataset, "attribute_ids": ids, "start_time": from, "end_time": to});
    let spec = Spec {
        what: format!("dataset {dataset}"),
        reporting: true,
        enqueue: "/export/reporting_data/enqueue",
        status: "/export/reporting_data/{id}",
        download: "/download/reporting_data/{id}",
        body: &body,
    };
    for window in windows(&[job]) {
        let Some(mut file) = export(job, &spec, window)? else {
            job.save_bookmark(at(window.1))?;
            continue;
        };
        let origin = Origin::now(format!(
            "GET /download/reporting_data (dataset {dataset}, {} to {})",
            when(window.0),
            when(window.1)
        ));
        read(
            job,
            file.as_file_mut(),
            &attributes,
            &origin,
            &mut |_, mut row, cells| {
                if !hashed.is_empty() {
                    let parts: Vec<(&str, &str)> = hashed.iter().map(|c| (c.as_str(), cells.get(c))).collect();
                    row.insert(HASH.into(), Value::String(exports::row_hash(&parts)));
                }
                job.emit(Value::Object(row), &origin)
            },
        )?;
        job.save_bookmark(at(window.1))?;
    }
    Ok(())
}

/// The attributes the workspace lists for `dataset` (id, label, qualified id), or `None` when
/// the datasets could not be read; an error when the workspace has no such dataset.
fn listed_attributes(job: &Job<'_>, dataset: &str) -> Result<Option<Vec<Attribute>>, Error> {
    let Some(datasets) = job.datasets() else {
        return Ok(None);
    };
    let Some(found) = datasets["data"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["id"] == dataset))
    else {
        return Err(Error::BadResponse {
            stream: job.name(),
            request: "GET /export/reporting_data/get_datasets".into(),
            problem: format!("the workspace lists no dataset {dataset}"),
        });
    };
    Ok(Some(
        found["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let id = a["id"].as_str()?.to_owned();
                Some(Attribute {
                    name: a["name"].as_str().unwrap_or(&id).to_owned(),
                    qualified_id: a["qualified_id"].as_str().map(str::to_owned),
                    id,
                })
            })
            .collect(),
    ))
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// What is done with each row of a download: its file's name, the typed row, its cells as sent.
type Each<'e> = dyn FnMut(Option<&str>, Map<String, Value>, Cells<'_>) -> Result<(), Error> + 'e;

/// A row's cells as sent, by column: for a key's hash, and to name a row that cannot be
/// typed. A view of the row read, with at most one cell more (a kind's time, in the one-CSV
/// form of the message data).
#[derive(Clone, Copy)]
struct Cells<'r> {
    columns: &'r [String],
    row: &'r csv::StringRecord,
    extra: Option<(&'r str, &'r str)>,
}

impl<'r> Cells<'r> {
    /// The cell of `column`, empty when the row has none.
    fn get(&self, column: &str) -> &'r str {
        if let Some((_, cell)) = self.extra.filter(|(name, _)| *name == column) {
            return cell;
        }
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.row.get(i))
            .unwrap_or("")
    }

    /// The row as an object of its cells, to name it.
    fn item(&self) -> Value {
        Value::Object(
            self.columns
                .iter()
                .zip(self.row.iter())
                .map(|(c, v)| (c.clone(), json!(v)))
                .collect(),
        )
    }
}

/// Reads every CSV of a download, calling `each` with its file's name, the typed row and its
/// cells as sent (by column). A row that cannot be typed is named and left out (see
/// [`Job::spoil`]).
fn read(
    job: &Job<'_>,
    file: &mut std::fs::File,
    attributes: &[Attribute],
    origin: &Origin,
    each: &mut Each<'_>,
) -> Result<(), Error> {
    let zone = job.zone();
    let full = job.plan().stream.schema();
    let mut failure: Option<Error> = None;
    let result = exports::tables(file, &mut |mut table: Table<'_>| {
        let headers: Vec<String> = table
            .reader
            .headers()
            .map_err(|e| format!("the CSV's header cannot be read: {e}"))?
            .iter()
            .map(str::to_owned)
            .collect();
        let columns = exports::columns(&headers, attributes);
        let kinds: Vec<Cell> = columns.iter().map(|c| Cell::of(&full["properties"][c])).collect();
        let mut row = csv::StringRecord::new();
        loop {
            match table.reader.read_record(&mut row) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(format!("a row of the CSV cannot be read: {e}")),
            }
            let cells = Cells {
                columns: &columns,
                row: &row,
                extra: None,
            };
            let outcome = match exports::record(&columns, &kinds, &row, zone) {
                Ok(record) => each(table.file.as_deref(), record, cells),
                Err(problem) => job.spoil(job.bad_record(&cells.item(), &problem, origin), None),
            };
            if let Err(err) = outcome {
                failure = Some(err);
                return Err(String::new());
            }
        }
        Ok(())
    });
    if let Some(err) = failure {
        return Err(err);
    }
    result.map_err(|problem| Error::BadResponse {
        stream: job.name(),
        request: origin.request.clone(),
        problem,
    })
}

/// The message data: one job per window for every kind, each row written to its kind's stream.
fn messages(job: &Job<'_>, children: &[&Job<'_>]) -> Result<(), Error> {
    let jobs: Vec<&Job<'_>> = std::iter::once(job).chain(children.iter().copied()).collect();
    let kinds: Vec<(Kind, &Job<'_>)> = jobs
        .iter()
        .filter_map(|j| match j.plan().stream.read {
            Read::Export(Export::Message(kind)) => Some((kind, *j)),
            _ => None,
        })
        .collect();
    let body = |from: i64, to: i64| json!({"created_at_after": from, "created_at_before": to - 1});
    let spec = Spec {
        what: "message data".into(),
        reporting: false,
        enqueue: "/export/content/data",
        status: "/export/content/data/{id}",
        download: "/download/content/data/{id}",
        body: &body,
    };
    let mut unknown: std::collections::HashSet<String> = std::collections::HashSet::new();
    for window in windows(&jobs) {
        if let Some(mut file) = export(job, &spec, window)? {
            let origin = Origin::now(format!(
                "GET /download/content/data (message data, {} to {})",
                when(window.0),
                when(window.1)
            ));
            read(job, file.as_file_mut(), &[], &origin, &mut |name, row, cells| {
                if let Some(name) = name {
                    // A ZIP: one file per kind.
                    let kind_name = exports::file_kind(name);
                    let Some((kind, target)) = kinds.iter().find(|(k, _)| k.files.contains(&kind_name.as_str())) else {
                        if unknown.insert(kind_name.clone()) {
                            info!(
                                "{}: the export's file {name} is of no stream the tap has ({kind_name}); not read",
                                job.name()
                            );
                        }
                        return Ok(());
                    };
                    write_kind(target, kind, row, cells, &origin)
                } else {
                    one_receipt(&kinds, &row, cells, &origin)
                }
            })?;
        }
        for j in &jobs {
            j.save_bookmark(at(window.1))?;
        }
    }
    Ok(())
}

/// A row of the one-CSV form (a receipt): written to the receipts, and to each kind whose
/// first time it has, with that time as the kind's.
fn one_receipt(
    kinds: &[(Kind, &Job<'_>)],
    row: &Map<String, Value>,
    cells: Cells<'_>,
    origin: &Origin,
) -> Result<(), Error> {
    for (kind, target) in kinds {
        let (row, cells) = match (kind.event, kind.first) {
            (None, _) => (row.clone(), cells),
            (Some(event), Some(first)) if row.get(first).is_some_and(|v| !v.is_null()) => {
                let mut row = row.clone();
                row.insert(event.into(), row[first].clone());
                (
                    row,
                    Cells {
                        extra: Some((event, cells.get(first))),
                        ..cells
                    },
                )
            }
            _ => continue,
        };
        write_kind(target, kind, row, cells, origin)?;
    }
    Ok(())
}

fn write_kind(
    job: &Job<'_>,
    kind: &Kind,
    mut row: Map<String, Value>,
    cells: Cells<'_>,
    origin: &Origin,
) -> Result<(), Error> {
    if !kind.identity.is_empty() {
        let parts: Vec<(&str, &str)> = kind.identity.iter().map(|c| (*c, cells.get(c))).collect();
        row.insert(HASH.into(), Value::String(exports::row_hash(&parts)));
    }
    // The receipts' columns of the one-CSV form belong to the receipts alone.
    if kind.event.is_some() {
        row.retain(|k, _| !k.starts_with("first_"));
    }
    job.emit(Value::Object(row), origin)
}
