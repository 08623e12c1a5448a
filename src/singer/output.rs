//! The one writer that owns stdout.
//!
//! Every Singer message goes through [`Output`]: one JSON object a line, upper-case types,
//! nothing else. It also owns the state, so a bookmark update and the STATE line that carries it
//! are written together, after every record the stream wrote before it. Records are serialised
//! by the thread that produced them; the lock is held only to copy bytes. The first write error
//! (a target that died and closed the pipe) is remembered and returned to every later caller, so
//! the run ends with an error instead of pretending success.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::singer::state::State;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum Message<'a> {
    Schema {
        stream: &'a str,
        schema: &'a Value,
        key_properties: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        bookmark_properties: Option<[&'a str; 1]>,
    },
    Record {
        stream: &'a str,
        record: &'a Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<i64>,
        time_extracted: &'a str,
    },
    ActivateVersion {
        stream: &'a str,
        version: i64,
    },
    State {
        value: &'a Value,
    },
}

pub struct Output {
    inner: Mutex<Inner>,
}

struct Inner {
    writer: Box<dyn Write + Send>,
    state: State,
    /// The first write error, as its kind and text, for every caller after it.
    broken: Option<(io::ErrorKind, String)>,
    schemas_sent: HashSet<String>,
}

impl Inner {
    fn write_line(&mut self, line: &[u8], flush: bool) -> Result<(), Error> {
        if let Some((kind, text)) = &self.broken {
            return Err(Error::Stdout(io::Error::new(*kind, text.clone())));
        }
        let result = self
            .writer
            .write_all(line)
            .and_then(|()| if flush { self.writer.flush() } else { Ok(()) });
        result.map_err(|err| {
            self.broken = Some((err.kind(), err.to_string()));
            Error::Stdout(err)
        })
    }

    fn write_state(&mut self) -> Result<(), Error> {
        let value = self.state.to_value();
        let line = serialise(&Message::State { value: &value });
        self.write_line(&line, true)
    }
}

fn serialise(message: &Message<'_>) -> Vec<u8> {
    let mut line = Vec::with_capacity(256);
    // Serialising a `serde_json::Value` and plain strings into a Vec cannot fail.
    serde_json::to_writer(&mut line, message).expect("JSON values serialise");
    line.push(b'\n');
    line
}

impl Output {
    pub fn new(writer: Box<dyn Write + Send>, state: State) -> Output {
        Output {
            inner: Mutex::new(Inner {
                writer,
                state,
                broken: None,
                schemas_sent: HashSet::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a stream's SCHEMA, once per run however often it is asked.
    pub fn schema(&self, stream: &str, schema: &Value, key: &[String], bookmark: Option<&str>) -> Result<(), Error> {
        let line = serialise(&Message::Schema {
            stream,
            schema,
            key_properties: key,
            bookmark_properties: bookmark.map(|b| [b]),
        });
        let mut inner = self.lock();
        if inner.schemas_sent.insert(stream.to_owned()) {
            inner.write_line(&line, false)?;
        }
        Ok(())
    }

    /// Writes a RECORD; `version` is the table version of a full-table stream (see
    /// [`Output::begin_version`]).
    pub fn record(
        &self,
        stream: &str,
        record: &Value,
        version: Option<i64>,
        time_extracted: &str,
    ) -> Result<(), Error> {
        let line = serialise(&Message::Record {
            stream,
            record,
            version,
            time_extracted,
        });
        self.lock().write_line(&line, false)
    }

    /// Starts a full-table stream's new table version. The first version a stream ever has (its
    /// state holds none) is activated at once, so that the target makes the table; later ones
    /// only when complete ([`Output::activate_version`]), so that a run that fails half-way
    /// leaves the rows of the last complete one. The state keeps the version.
    pub fn begin_version(&self, stream: &str, version: i64) -> Result<(), Error> {
        let mut inner = self.lock();
        let first = inner.state.version(stream).is_none();
        inner.state.set_version(stream, version);
        if first {
            let line = serialise(&Message::ActivateVersion { stream, version });
            inner.write_line(&line, false)?;
        }
        inner.write_state()
    }

    /// Activates a full-table stream's version once all its records are written: the target
    /// then retires the rows of older versions (the records deleted in Intercom).
    pub fn activate_version(&self, stream: &str, version: i64) -> Result<(), Error> {
        let line = serialise(&Message::ActivateVersion { stream, version });
        self.lock().write_line(&line, true)
    }

    /// Moves a stream's bookmark (with the spans above it read completely) and writes the
    /// whole state.
    pub fn bookmark(&self, stream: &str, key: &str, at: DateTime<Utc>, done: &[(i64, i64)]) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.state.set_bookmark(stream, key, at, done);
        inner.write_state()
    }

    /// Puts a stream's bookmark back to the one the run started from (`None`: none), and
    /// writes the whole state.
    pub fn restore_bookmark(&self, stream: &str, key: &str, at: Option<DateTime<Utc>>) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.state.restore_bookmark(stream, key, at);
        inner.write_state()
    }

    /// Names the stream in progress for the next STATE (without writing one).
    pub fn set_currently_syncing(&self, stream: Option<&str>) {
        self.lock().state.set_currently_syncing(stream);
    }

    /// Writes the whole state as it stands.
    pub fn write_state(&self) -> Result<(), Error> {
        self.lock().write_state()
    }

    /// The state as it stands.
    pub fn current_state(&self) -> State {
        self.lock().state.clone()
    }

    /// Flushes what is buffered.
    pub fn flush(&self) -> Result<(), Error> {
        let mut inner = self.lock();
        if let Some((kind, text)) = &inner.broken {
            return Err(Error::Stdout(io::Error::new(*kind, text.clone())));
        }
        inner.writer.flush().map_err(Error::Stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "Broken pipe"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn messages_are_one_upper_case_object_a_line() {
        let buf = Shared::default();
        let out = Output::new(Box::new(buf.clone()), State::default());
        let schema = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        out.schema("tags", &schema, &["id".into()], None).unwrap();
        out.schema("tags", &schema, &["id".into()], None).unwrap();
        out.record("tags", &json!({"id": "1"}), None, "2024-01-01T00:00:00Z")
            .unwrap();
        out.bookmark("segments", "updated_at", DateTime::from_timestamp(0, 0).unwrap(), &[])
            .unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "the second SCHEMA is not repeated");
        assert_eq!(lines[0]["type"], "SCHEMA");
        assert_eq!(lines[0]["key_properties"], json!(["id"]));
        assert_eq!(lines[1]["type"], "RECORD");
        assert_eq!(lines[1]["time_extracted"], "2024-01-01T00:00:00Z");
        assert_eq!(
            lines[2],
            json!({"type": "STATE", "value": {"bookmarks": {"segments": {"updated_at": "1970-01-01T00:00:00Z"}}, "currently_syncing": null}})
        );
        assert!(text.ends_with('\n') && !text.contains("\n\n"));
    }

    #[test]
    fn a_closed_stdout_is_an_error_for_every_later_write() {
        let out = Output::new(Box::new(Closed), State::default());
        assert!(matches!(
            out.record("tags", &json!({}), None, "x"),
            Err(Error::Stdout(_))
        ));
        assert!(matches!(out.write_state(), Err(Error::Stdout(_))));
        assert!(matches!(out.flush(), Err(Error::Stdout(_))));
    }
}
