//! Singer state in singer-io's shape, and the older shapes users bring along.
//!
//! Written: `{"bookmarks": {"<stream>": {"<replication key>": "<RFC 3339>"}}, "currently_syncing": …}`,
//! always whole, `currently_syncing` cleared to `null` rather than left out (Meltano merges
//! states and never deletes a key). Read, besides that: singer-io's flat bookmarks
//! (`{"bookmarks": {"contacts": "2024-…"}}`), the Meltano SDK's
//! `{"replication_key": …, "replication_key_value": …}`, state wrapped as Meltano stores it
//! (`{"singer_state": …}`), and bookmarks at the top level without `bookmarks`. Entries the tap
//! does not know are carried over untouched, so no other bookmark is lost.
//!
//! A stream read in slices may also carry `"done_ranges": [["<from>", "<to>"], …]` beside its
//! bookmark: spans above the bookmark that an interrupted run read completely, so that the next
//! run does not read them again. singer-io's tap ignores the key, and a state without it means
//! nothing was done above the bookmark.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::schema::format_datetime;
use crate::streams;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    bookmarks: Map<String, Value>,
    currently_syncing: Option<String>,
    /// Other top-level keys of the incoming state, kept as they were.
    extra: Map<String, Value>,
}

impl State {
    pub fn load(path: &Path) -> Result<State, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            what: "state",
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(State::default());
        }
        let value = crate::jsonfile::read("state", path)?;
        State::from_value(value).map_err(|problem| Error::Input {
            what: "state",
            path: path.to_owned(),
            problem,
        })
    }

    pub fn from_value(value: Value) -> Result<State, String> {
        let Value::Object(mut top) = value else {
            return Err("expected a JSON object such as {\"bookmarks\": {...}}".into());
        };
        if let Some(inner) = top.remove("singer_state") {
            return State::from_value(inner);
        }
        let currently_syncing = match top.remove("currently_syncing") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err("currently_syncing must be a stream name or null".into()),
        };
        let raw_bookmarks = match top.remove("bookmarks") {
            Some(Value::Object(map)) => map,
            Some(Value::Null) => Map::new(),
            Some(_) => return Err("bookmarks must be an object of streams".into()),
            None => {
                // Bookmarks at the top level: take the entries named like our streams.
                let names: Vec<String> = top.keys().filter(|k| streams::find(k).is_some()).cloned().collect();
                names
                    .into_iter()
                    .filter_map(|k| top.remove(&k).map(|v| (k, v)))
                    .collect()
            }
        };
        let mut bookmarks = Map::new();
        for (name, entry) in raw_bookmarks {
            let entry = normalise(&name, entry)?;
            bookmarks.insert(name, entry);
        }
        Ok(State {
            bookmarks,
            currently_syncing,
            extra: top,
        })
    }

    /// The bookmark of `stream` on `key`, if the state has one. Checked when the state was read.
    pub fn bookmark(&self, stream: &str, key: &str) -> Option<DateTime<Utc>> {
        let entry = self.bookmarks.get(stream)?;
        entry.get(key).and_then(as_datetime)
    }

    /// The spans above the bookmark that an interrupted run read completely (Unix seconds).
    /// Checked when the state was read.
    pub fn done_ranges(&self, stream: &str, key: &str) -> Vec<(i64, i64)> {
        if self.bookmark(stream, key).is_none() {
            return Vec::new();
        }
        self.bookmarks
            .get(stream)
            .and_then(|e| e.get(DONE))
            .and_then(|d| parse_ranges(d).ok())
            .unwrap_or_default()
    }

    pub fn set_bookmark(&mut self, stream: &str, key: &str, at: DateTime<Utc>, done: &[(i64, i64)]) {
        let mut entry = json!({ key: format_datetime(at) });
        if !done.is_empty() {
            let text = |t: i64| DateTime::from_timestamp(t, 0).map(format_datetime);
            let ranges: Vec<Value> = done.iter().map(|(from, to)| json!([text(*from), text(*to)])).collect();
            entry[DONE] = Value::Array(ranges);
        }
        self.bookmarks.insert(stream.to_owned(), entry);
    }

    /// Puts a stream's bookmark back to `at` (the one the run started from), or removes it
    /// when there was none, without ranges done above it.
    pub fn restore_bookmark(&mut self, stream: &str, key: &str, at: Option<DateTime<Utc>>) {
        match at {
            Some(at) => self.set_bookmark(stream, key, at, &[]),
            None => {
                if let Some(Value::Object(entry)) = self.bookmarks.get_mut(stream) {
                    entry.remove(key);
                    entry.remove(DONE);
                }
            }
        }
    }

    /// The table version a full-table stream was last given (see `Output::begin_version`).
    pub fn version(&self, stream: &str) -> Option<i64> {
        self.bookmarks.get(stream)?.get("version")?.as_i64()
    }

    pub fn set_version(&mut self, stream: &str, version: i64) {
        let entry = self.bookmarks.entry(stream.to_owned()).or_insert_with(|| json!({}));
        match entry.as_object_mut() {
            Some(map) => {
                map.insert("version".into(), json!(version));
            }
            None => *entry = json!({"version": version}),
        }
    }

    pub fn set_currently_syncing(&mut self, stream: Option<&str>) {
        self.currently_syncing = stream.map(str::to_owned);
    }

    pub fn to_value(&self) -> Value {
        let mut out = self.extra.clone();
        out.insert("bookmarks".into(), Value::Object(self.bookmarks.clone()));
        out.insert(
            "currently_syncing".into(),
            self.currently_syncing.clone().map_or(Value::Null, Value::String),
        );
        Value::Object(out)
    }
}

/// Brings one stream's bookmark into `{"<key>": "<date-time>"}` form and checks its date.
fn normalise(stream: &str, entry: Value) -> Result<Value, String> {
    let known = streams::find(stream);
    let key = known.and_then(|s| s.replication.key());
    match (entry, key) {
        // singer-io's flat form: the bookmark itself.
        (Value::String(s), Some(key)) => {
            check_date(stream, key, &Value::String(s.clone()))?;
            Ok(json!({ key: s }))
        }
        (Value::Object(mut map), Some(key)) => {
            // The SDK's form names its key; take its value when it is ours.
            if !map.contains_key(key) && map.get("replication_key").and_then(Value::as_str) == Some(key) {
                if let Some(v) = map.get("replication_key_value").cloned() {
                    map.insert(key.to_owned(), v);
                }
            }
            if let Some(v) = map.get(key) {
                check_date(stream, key, v)?;
            }
            if let Some(done) = map.get(DONE) {
                parse_ranges(done).map_err(|e| format!("bookmarks.{stream}.{e}"))?;
            }
            Ok(Value::Object(map))
        }
        // A stream we do not know, or a full-table stream: kept as it is.
        (other, None) => Ok(other),
        (other, Some(_)) => Err(format!(
            "bookmarks.{stream} must be an object like {{\"updated_at\": \"2024-01-01T00:00:00Z\"}}, found {other}"
        )),
    }
}

/// Where a sliced read keeps the spans it finished above the bookmark.
const DONE: &str = "done_ranges";

fn parse_ranges(value: &Value) -> Result<Vec<(i64, i64)>, String> {
    let bad = || format!("{DONE} must be a list of [from, to] date-time pairs, found {value}");
    let list = value.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([from, to]) => match (as_datetime(from), as_datetime(to)) {
                (Some(from), Some(to)) if from <= to => Ok((from.timestamp(), to.timestamp())),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}

fn check_date(stream: &str, key: &str, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let shown = crate::error::cut_short(&value.to_string());
    let Some(at) = as_datetime(value) else {
        return Err(format!("bookmarks.{stream}.{key}: {shown} is not a date-time"));
    };
    // A bookmark in the future keeps the stream from syncing anything until then: say so.
    if at > Utc::now() + chrono::Duration::days(1) {
        crate::warn!(
            "state: bookmarks.{stream}.{key} is {}, in the future; {stream} reads nothing changed before then",
            format_datetime(at)
        );
    }
    Ok(())
}

/// A bookmark's instant: a date-time string, or a Unix number in seconds or (as some tools
/// write them) milliseconds, read as every time value is (see [`crate::time`]).
fn as_datetime(value: &Value) -> Option<DateTime<Utc>> {
    crate::time::instant(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        crate::config::parse_datetime(s).unwrap()
    }

    #[test]
    fn singer_io_state_is_read_as_is() {
        let text = include_str!("../../tests/fixtures/singer-io/singer-io-state.json");
        let state = State::from_value(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(
            state.bookmark("segments", "updated_at"),
            Some(at("2024-08-01T03:13:05Z"))
        );
        assert_eq!(state.to_value()["currently_syncing"], Value::Null);
    }

    #[test]
    fn flat_sdk_and_wrapped_forms_are_understood() {
        let flat = State::from_value(json!({"bookmarks": {"segments": "2021-12-20T21:30:35.000000Z"}})).unwrap();
        assert_eq!(
            flat.bookmark("segments", "updated_at"),
            Some(at("2021-12-20T21:30:35Z"))
        );
        let sdk = State::from_value(json!({"bookmarks": {"segments": {
            "replication_key": "updated_at", "replication_key_value": "2024-01-03T00:00:00+00:00"}}}))
        .unwrap();
        assert_eq!(sdk.bookmark("segments", "updated_at"), Some(at("2024-01-03T00:00:00Z")));
        let wrapped =
            State::from_value(json!({"singer_state": {"bookmarks": {"segments": {"updated_at": "2024-02-01"}}}}))
                .unwrap();
        assert_eq!(
            wrapped.bookmark("segments", "updated_at"),
            Some(at("2024-02-01T00:00:00Z"))
        );
        let top = State::from_value(json!({"segments": "2024-03-01T00:00:00Z"})).unwrap();
        assert_eq!(top.bookmark("segments", "updated_at"), Some(at("2024-03-01T00:00:00Z")));
    }

    #[test]
    fn unknown_entries_survive_a_round_trip() {
        let state = State::from_value(json!({
            "bookmarks": {"somebody_elses": {"cursor": 5}, "admins": {"x": 1}},
            "currently_syncing": "segments", "version": 3}))
        .unwrap();
        let mut out = state.clone();
        out.set_bookmark("segments", "updated_at", at("2024-01-01T00:00:00Z"), &[]);
        out.set_currently_syncing(None);
        assert_eq!(
            out.to_value(),
            json!({"bookmarks": {"somebody_elses": {"cursor": 5}, "admins": {"x": 1},
                   "segments": {"updated_at": "2024-01-01T00:00:00Z"}},
                   "currently_syncing": null, "version": 3})
        );
    }

    #[test]
    fn done_ranges_travel_beside_the_bookmark() {
        let mut state = State::default();
        state.set_bookmark(
            "contacts",
            "updated_at",
            at("2024-01-01T00:00:00Z"),
            &[(1_704_153_600, 1_704_240_000)],
        );
        let value = state.to_value();
        assert_eq!(
            value["bookmarks"]["contacts"],
            json!({"updated_at": "2024-01-01T00:00:00Z",
                   "done_ranges": [["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]]})
        );
        let read = State::from_value(value).unwrap();
        assert_eq!(
            read.done_ranges("contacts", "updated_at"),
            vec![(1_704_153_600, 1_704_240_000)]
        );
        // singer-io's state has none, and a bad list is refused with the reason.
        let plain =
            State::from_value(json!({"bookmarks": {"contacts": {"updated_at": "2024-01-01T00:00:00Z"}}})).unwrap();
        assert!(plain.done_ranges("contacts", "updated_at").is_empty());
        let err = State::from_value(
            json!({"bookmarks": {"contacts": {"updated_at": "2024-01-01T00:00:00Z", "done_ranges": [["x"]]}}}),
        )
        .unwrap_err();
        assert!(err.contains("bookmarks.contacts.done_ranges"), "{err}");
    }

    #[test]
    fn wrong_shapes_are_refused_with_the_reason() {
        assert!(State::from_value(json!([])).unwrap_err().contains("object"));
        assert!(
            State::from_value(json!({"bookmarks": []}))
                .unwrap_err()
                .contains("bookmarks")
        );
        let err = State::from_value(json!({"bookmarks": {"segments": {"updated_at": "last week"}}})).unwrap_err();
        assert!(err.contains("bookmarks.segments.updated_at"), "{err}");
        assert!(State::from_value(json!({"bookmarks": {"segments": 5}})).is_err());
        assert!(State::from_value(json!({"currently_syncing": 5})).is_err());
    }
}
