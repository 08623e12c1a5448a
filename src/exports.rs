//! The pure parts of the asynchronous exports (intercom-api.md §6), with no run behind them:
//! the slots that keep jobs below Intercom's pending limits, the time windows, how a CSV
//! header names a column, how a cell becomes a typed value (times from the workspace's time
//! zone to UTC), the key of a row that has no id, and the reading of a download (CSV, gzipped
//! CSV, or a ZIP of CSVs) from its file on disk, row by row, never whole in memory.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::schema::format_datetime;

/// Reporting jobs this tap keeps pending at once: below Intercom's 5, leaving one for the
/// workspace's other clients.
pub const REPORTING_SLOTS: usize = 4;
/// Message data jobs: Intercom allows one active job per workspace.
pub const MESSAGE_SLOTS: usize = 1;

/// A count of jobs pending, shared by every stream of a run: a stream takes a slot before it
/// enqueues a job and gives it back when the job is over.
#[derive(Debug)]
pub struct Slots {
    taken: Mutex<usize>,
    freed: Condvar,
    size: usize,
}

impl Slots {
    pub fn new(size: usize) -> Slots {
        Slots {
            taken: Mutex::new(0),
            freed: Condvar::new(),
            size,
        }
    }

    /// Waits for a free slot; it is given back when the guard is dropped.
    pub fn take(&self) -> Slot<'_> {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        while *taken >= self.size {
            taken = self.freed.wait(taken).unwrap_or_else(PoisonError::into_inner);
        }
        *taken += 1;
        Slot(self)
    }
}

/// A slot taken (see [`Slots::take`]).
pub struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut taken = self.0.taken.lock().unwrap_or_else(PoisonError::into_inner);
        *taken = taken.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// The windows `[from, to)` of `step` seconds that cover `from..to`, the first starting at
/// the UTC midnight at or before `from`, so that runs cut the same windows; the last ends at
/// `to`.
pub fn windows(from: i64, to: i64, step: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let step = step.max(1);
    let mut start = from - from.rem_euclid(86_400);
    if from >= to {
        return out;
    }
    while start < to {
        let end = (start + step).min(to);
        out.push((start, end));
        start = end;
    }
    out
}

/// An attribute of a reporting dataset as `get_datasets` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub id: String,
    pub name: String,
    pub qualified_id: Option<String>,
}

/// The column each header of a download names: its attribute's id. A header may be the id,
/// the qualified id (`conversation.conversation_id`, from 2.16), the id behind any prefix, or
/// the attribute's label (custom attributes come under their label, a repeated label suffixed
/// `.1`); a header that is none of these keeps its own name, made a column name.
pub fn columns(headers: &[String], attributes: &[Attribute]) -> Vec<String> {
    headers
        .iter()
        .map(|header| {
            let header = header.trim().trim_start_matches('\u{feff}');
            if let Some(a) = attributes.iter().find(|a| a.id == header) {
                return a.id.clone();
            }
            if let Some(a) = attributes.iter().find(|a| a.qualified_id.as_deref() == Some(header)) {
                return a.id.clone();
            }
            if let Some((_, rest)) = header.split_once('.') {
                if let Some(a) = attributes.iter().find(|a| a.id == rest) {
                    return a.id.clone();
                }
            }
            // A label, perhaps repeated: `Brand`, `Brand.1`.
            let (label, nth) = match header.rsplit_once('.') {
                Some((label, n)) if n.parse::<usize>().is_ok() => (label, n.parse().unwrap_or(0)),
                _ => (header, 0),
            };
            let mut same = attributes.iter().filter(|a| a.name == label);
            if let Some(a) = same.nth(nth) {
                return a.id.clone();
            }
            column_name(header)
        })
        .collect()
}

/// A column name from an attribute id or a header: lower case, letters, digits and `_`.
pub fn column_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() { "column".to_owned() } else { out }
}

/// How a column's cells are typed, from its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Text,
    Integer,
    Number,
    Time,
}

impl Cell {
    /// The type a schema property gives: `integer`, `number`, a `date-time` string, or text.
    pub fn of(property: &Value) -> Cell {
        let has = |t: &str| match &property["type"] {
            Value::String(s) => s == t,
            Value::Array(a) => a.iter().any(|v| v == t),
            _ => false,
        };
        if property["format"] == "date-time" {
            Cell::Time
        } else if has("integer") {
            Cell::Integer
        } else if has("number") {
            Cell::Number
        } else {
            Cell::Text
        }
    }
}

/// A cell as its column's type, or what is wrong with it. An empty cell is null.
pub fn value(cell: &str, kind: Cell, zone: Tz) -> Result<Value, String> {
    let text = cell.trim();
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match kind {
        Cell::Text => Ok(Value::String(cell.to_owned())),
        Cell::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| match text.parse::<f64>() {
                #[allow(clippy::cast_possible_truncation)]
                Ok(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Value::from(f as i64)),
                _ => Err(format!("{text:?} is not a whole number")),
            }),
        Cell::Number => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(|n| match text.parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => Value::Number(n),
            })
            .ok_or_else(|| format!("{text:?} is not a number")),
        Cell::Time => instant(text, zone)
            .map(|t| Value::String(format_datetime(t)))
            .ok_or_else(|| format!("{text:?} is not a time")),
    }
}

/// A time as the exports write it: `YYYY-MM-DD HH:MM:SS` (fractions allowed, seconds
/// optional) in the workspace's time zone, or as every other time is read ([`crate::time`]):
/// Unix seconds (the message data), RFC 3339 with its offset, or a local form ending in ` UTC`.
/// A local time that a change to summer time skips is read an hour later; one that the change
/// back repeats, as its first occurrence.
pub fn instant(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(utc) = text.strip_suffix(" UTC") {
        return crate::time::from_text(utc);
    }
    let Some(local) =
        crate::config::naive_datetime(text).or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").ok())
    else {
        return crate::time::from_text(text);
    };
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::None => zone
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// The key of a row with no id: the SHA-256, in hex, of the identifying columns' cells as
/// Intercom sent them, each after its column's name.
pub fn row_hash(cells: &[(&str, &str)]) -> String {
    let mut hasher = Sha256::new();
    for (name, cell) in cells {
        hasher.update(name.as_bytes());
        hasher.update([0x1f]);
        hasher.update(cell.as_bytes());
        hasher.update([0x1e]);
    }
    hasher.finalize().iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One CSV of a download: its name (for a ZIP's files) and its rows.
pub struct Table<'a> {
    /// The file's name in the ZIP, none for a plain or gzipped CSV.
    pub file: Option<String>,
    pub reader: csv::Reader<Box<dyn Read + 'a>>,
}

/// The form of a download, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Csv,
    Gzip,
    Zip,
}

pub fn form(file: &mut File) -> std::io::Result<Form> {
    let mut head = [0u8; 4];
    file.seek(SeekFrom::Start(0))?;
    let n = file.read(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => Form::Gzip,
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => Form::Zip,
        _ => Form::Csv,
    })
}

fn csv_reader<'a>(read: Box<dyn Read + 'a>) -> csv::Reader<Box<dyn Read + 'a>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(read)
}

/// Calls `each` with every CSV a download holds, read as it is decompressed. An empty file is
/// no CSV at all.
pub fn tables(file: &mut File, each: &mut dyn FnMut(Table<'_>) -> Result<(), String>) -> Result<(), String> {
    let err = |e: std::io::Error| format!("the download could not be read: {e}");
    if file.metadata().map_err(err)?.len() == 0 {
        return Ok(());
    }
    match form(file).map_err(err)? {
        Form::Csv => each(Table {
            file: None,
            reader: csv_reader(Box::new(BufReader::new(&mut *file))),
        }),
        Form::Gzip => each(Table {
            file: None,
            reader: csv_reader(Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(&mut *file)))),
        }),
        Form::Zip => {
            let mut archive = zip::ZipArchive::new(BufReader::new(&mut *file))
                .map_err(|e| format!("the download is not a ZIP: {e}"))?;
            for i in 0..archive.len() {
                let entry = archive
                    .by_index(i)
                    .map_err(|e| format!("file {i} of the ZIP cannot be read: {e}"))?;
                if entry.is_dir() {
                    continue;
                }
                let name = entry.name().to_owned();
                each(Table {
                    file: Some(name),
                    reader: csv_reader(Box::new(entry)),
                })?;
            }
            Ok(())
        }
    }
}

/// A ZIP file's name without its folder, `.csv` and the time stamp Intercom adds
/// (`opens_20240101_000000.csv` → `opens`).
pub fn file_kind(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let base = base.strip_suffix(".csv").unwrap_or(base);
    let parts: Vec<&str> = base.split('_').collect();
    let keep = parts
        .iter()
        .rposition(|p| !p.chars().all(|c| c.is_ascii_digit()) || p.is_empty())
        .map_or(parts.len(), |i| i + 1);
    parts[..keep].join("_").to_ascii_lowercase()
}

/// A record from a row: each cell typed by its column's kind (text for columns the schema does
/// not know), or the first cell that cannot be.
pub fn record(
    columns: &[String],
    kinds: &[Cell],
    row: &csv::StringRecord,
    zone: Tz,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (i, cell) in row.iter().enumerate() {
        let Some(column) = columns.get(i) else { continue };
        let kind = kinds.get(i).copied().unwrap_or(Cell::Text);
        let value = value(cell, kind, zone).map_err(|e| format!("column {column}: {e}"))?;
        out.insert(column.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(id: &str, name: &str, q: Option<&str>) -> Attribute {
        Attribute {
            id: id.into(),
            name: name.into(),
            qualified_id: q.map(Into::into),
        }
    }

    #[test]
    fn headers_become_attribute_ids() {
        let attrs = [
            attr(
                "conversation_id",
                "Conversation ID",
                Some("conversation.conversation_id"),
            ),
            attr("custom_brand", "Brand", None),
            attr("custom_brand_2", "Brand", None),
        ];
        let headers: Vec<String> = [
            "conversation.conversation_id",
            "Brand",
            "Brand.1",
            "standard.conversation_id",
            "Other Thing",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            columns(&headers, &attrs),
            [
                "conversation_id",
                "custom_brand",
                "custom_brand_2",
                "conversation_id",
                "other_thing"
            ]
        );
    }

    #[test]
    fn local_times_become_utc_across_summer_time() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let t = |s: &str| instant(s, ny).map(format_datetime);
        assert_eq!(t("2024-01-15 09:30:00").unwrap(), "2024-01-15T14:30:00Z");
        assert_eq!(t("2024-07-15 09:30:00").unwrap(), "2024-07-15T13:30:00Z");
        // Skipped by the change to summer time: an hour later.
        assert_eq!(t("2024-03-10 02:30:00").unwrap(), "2024-03-10T07:30:00Z");
        // Repeated by the change back: the first.
        assert_eq!(t("2024-11-03 01:30:00").unwrap(), "2024-11-03T05:30:00Z");
        assert_eq!(t("1704067200").unwrap(), "2024-01-01T00:00:00Z");
        assert_eq!(t("2024-01-01T00:00:00+01:00").unwrap(), "2023-12-31T23:00:00Z");
        assert_eq!(t("2024-01-15 09:30:00 UTC").unwrap(), "2024-01-15T09:30:00Z");
        assert_eq!(t("2024-01-15 09:30").unwrap(), "2024-01-15T14:30:00Z");
        assert_eq!(t("2024-01-15").unwrap(), "2024-01-15T05:00:00Z");
        assert!(t("yesterday").is_none());
    }

    #[test]
    fn cells_are_typed() {
        let utc = Tz::UTC;
        assert_eq!(value("42", Cell::Integer, utc).unwrap(), Value::from(42));
        assert_eq!(value("42.0", Cell::Integer, utc).unwrap(), Value::from(42));
        assert!(value("4.5", Cell::Integer, utc).is_err());
        assert_eq!(value("4.5", Cell::Number, utc).unwrap(), Value::from(4.5));
        assert_eq!(value("7", Cell::Number, utc).unwrap(), Value::from(7));
        assert_eq!(value("", Cell::Number, utc).unwrap(), Value::Null);
        assert_eq!(value(" a, b ", Cell::Text, utc).unwrap(), Value::from(" a, b "));
    }

    #[test]
    fn windows_start_at_midnight_and_end_at_the_end() {
        assert_eq!(
            windows(90_000, 300_000, 86_400),
            [(86_400, 172_800), (172_800, 259_200), (259_200, 300_000)]
        );
        assert!(windows(100, 100, 10).is_empty());
    }

    #[test]
    fn zip_files_are_named_by_their_kind() {
        assert_eq!(file_kind("export/opens_20240101_000000.csv"), "opens");
        assert_eq!(file_kind("hard_bounces_20240101_101010.csv"), "hard_bounces");
        assert_eq!(file_kind("receipts.csv"), "receipts");
    }

    #[test]
    fn row_hashes_depend_on_every_cell_and_its_place() {
        let a = row_hash(&[("a", "1"), ("b", "2")]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, row_hash(&[("a", "12"), ("b", "")]));
        assert_eq!(a, row_hash(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn slots_are_given_back() {
        let slots = Slots::new(1);
        drop(slots.take());
        let _again = slots.take();
    }
}
