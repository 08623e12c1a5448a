//! Running the real `tap-intercom` binary against the fake Intercom and reading its output.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use fake_intercom::{FakeIntercom, Options, Size, World};
use serde_json::{Value, json};

pub use fake_intercom::TOKEN;

pub const BIN: &str = env!("CARGO_BIN_EXE_tap-intercom");

/// A fake Intercom with a small workspace.
pub fn fake() -> FakeIntercom {
    fake_with(World::generate(1, Size::small()), test_options())
}

/// The fake's options for tests: Intercom's behaviour, with one-second rate-limit windows so
/// that waiting for a reset takes a second rather than ten.
pub fn test_options() -> Options {
    Options {
        rate_limit: Some(fake_intercom::RateLimit {
            limit: 1_000,
            window_secs: 1,
        }),
        ..Options::default()
    }
}

pub fn fake_with(world: World, options: Options) -> FakeIntercom {
    FakeIntercom::start(world, options).expect("the fake starts on loopback")
}

/// One run of the tap, built up like a command line.
pub struct Tap {
    config: Option<Value>,
    catalog: Option<Value>,
    state: Option<Value>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Tap {
    pub fn new() -> Tap {
        Tap {
            config: None,
            catalog: None,
            state: None,
            args: Vec::new(),
            env: Vec::new(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// A run against `fake` with the fake's token and quick retries.
    pub fn against(fake: &FakeIntercom) -> Tap {
        Tap::new().config(json!({
            "access_token": TOKEN,
            "base_url": fake.url(),
            "start_date": "2020-01-01T00:00:00Z",
            "retry_initial_delay": 0.01,
            "request_timeout": 10,
        }))
    }

    pub fn config(mut self, config: Value) -> Tap {
        self.config = Some(config);
        self
    }

    /// Sets one config key (null removes it).
    pub fn set(mut self, key: &str, value: Value) -> Tap {
        let config = self.config.get_or_insert_with(|| json!({}));
        if value.is_null() {
            config.as_object_mut().unwrap().remove(key);
        } else {
            config[key] = value;
        }
        self
    }

    pub fn catalog(mut self, catalog: Value) -> Tap {
        self.catalog = Some(catalog);
        self
    }

    pub fn state(mut self, state: Value) -> Tap {
        self.state = Some(state);
        self
    }

    pub fn arg(mut self, arg: &str) -> Tap {
        self.args.push(arg.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Tap {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Writes a file into the run's directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(self.file("config.json", &config.to_string()));
        }
        if let Some(catalog) = &self.catalog {
            cmd.arg("--catalog")
                .arg(self.file("catalog.json", &catalog.to_string()));
        }
        if let Some(state) = &self.state {
            cmd.arg("--state").arg(self.file("state.json", &state.to_string()));
        }
        cmd.args(&self.args);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn run(self) -> Run {
        let output = self.command().output().expect("the tap binary runs");
        Run::new(output.status.code(), &output.stdout, &output.stderr)
    }
}

/// What a run printed, parsed.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Every stdout line that parsed as JSON, in order.
    pub messages: Vec<Value>,
}

impl Run {
    pub fn new(code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Run {
        let stdout = String::from_utf8_lossy(stdout).into_owned();
        let messages = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Run {
            code,
            stdout,
            stderr: String::from_utf8_lossy(stderr).into_owned(),
            messages,
        }
    }

    /// Asserts exit 0 and a well-formed Singer stream, and returns self.
    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "the tap failed:\n{}", self.stderr);
        self.check_protocol();
        self
    }

    /// Every line is one JSON object with an upper-case type; SCHEMA (with `key_properties`)
    /// comes before a stream's first RECORD; every RECORD validates against its SCHEMA, dates
    /// included; the last line is a STATE.
    #[track_caller]
    pub fn check_protocol(&self) {
        let mut validators: HashMap<String, jsonschema::Validator> = HashMap::new();
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert!(!lines.is_empty(), "no output");
        for line in &lines {
            let msg: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let kind = msg["type"].as_str().unwrap_or_else(|| panic!("no type: {line}"));
            match kind {
                "SCHEMA" => {
                    let stream = msg["stream"].as_str().unwrap().to_owned();
                    assert!(
                        msg["key_properties"].as_array().is_some_and(|k| !k.is_empty()),
                        "{line}"
                    );
                    let validator = jsonschema::options()
                        .should_validate_formats(true)
                        .build(&msg["schema"])
                        .unwrap_or_else(|e| panic!("{stream}: invalid schema: {e}"));
                    validators.insert(stream, validator);
                }
                "RECORD" => {
                    let stream = msg["stream"].as_str().unwrap();
                    let validator = validators
                        .get(stream)
                        .unwrap_or_else(|| panic!("RECORD of {stream} before its SCHEMA"));
                    let record = &msg["record"];
                    if let Err(err) = validator.validate(record) {
                        panic!("{stream} record does not match its schema: {err}\n{record}");
                    }
                    assert!(
                        msg["time_extracted"].as_str().is_some_and(|t| t.ends_with('Z')),
                        "{line}"
                    );
                }
                "STATE" => assert!(msg["value"].is_object(), "{line}"),
                "ACTIVATE_VERSION" => {
                    let stream = msg["stream"].as_str().unwrap();
                    assert!(
                        validators.contains_key(stream),
                        "ACTIVATE_VERSION of {stream} before its SCHEMA"
                    );
                    assert!(msg["version"].is_i64(), "{line}");
                }
                other => panic!("unexpected message type {other}"),
            }
        }
        let last: Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
        assert_eq!(last["type"], "STATE", "the last message must be a STATE");
    }

    pub fn records(&self, stream: &str) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "RECORD" && m["stream"] == stream)
            .map(|m| &m["record"])
            .collect()
    }

    pub fn schema(&self, stream: &str) -> Option<&Value> {
        self.messages
            .iter()
            .find(|m| m["type"] == "SCHEMA" && m["stream"] == stream)
    }

    pub fn schemas(&self) -> Vec<&str> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "SCHEMA")
            .map(|m| m["stream"].as_str().unwrap())
            .collect()
    }

    pub fn states(&self) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "STATE")
            .map(|m| &m["value"])
            .collect()
    }

    pub fn final_state(&self) -> &Value {
        self.states().last().copied().expect("a STATE message")
    }

    /// The one line a failed run leaves on stderr, checked to be a CRITICAL line.
    #[track_caller]
    pub fn failure_line(&self) -> &str {
        assert_ne!(
            self.code,
            Some(0),
            "the tap should have failed; stderr:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        let line = self.stderr.lines().last().unwrap_or_default();
        assert!(
            line.contains("CRITICAL"),
            "last stderr line is not CRITICAL:\n{}",
            self.stderr
        );
        line
    }

    /// The one line a run that failed before doing anything leaves: stderr holds nothing else.
    #[track_caller]
    pub fn only_line(&self) -> &str {
        let line = self.failure_line();
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr:\n{}", self.stderr);
        assert!(self.stdout.is_empty(), "nothing belongs on stdout: {}", self.stdout);
        line
    }
}

/// A catalog, as Meltano writes it: every stream and field with an explicit `selected`.
pub fn meltano_catalog(select: &[&str], deselect_fields: &[(&str, &str)]) -> Value {
    meltano_catalog_of(json!({}), select, deselect_fields)
}

/// [`meltano_catalog`] of the catalog discovered with `config`, as Meltano discovers it with
/// the project's settings.
pub fn meltano_catalog_of(config: Value, select: &[&str], deselect_fields: &[(&str, &str)]) -> Value {
    let output = Tap::new().config(config).arg("--discover").run();
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let mut catalog: Value = serde_json::from_str(&output.stdout).unwrap();
    for stream in catalog["streams"].as_array_mut().unwrap() {
        let name = stream["tap_stream_id"].as_str().unwrap().to_owned();
        let selected = select.contains(&name.as_str());
        stream["selected"] = json!(selected);
        for entry in stream["metadata"].as_array_mut().unwrap() {
            let breadcrumb = entry["breadcrumb"].clone();
            let field = breadcrumb.get(1).and_then(Value::as_str);
            let chosen = match field {
                None => selected,
                // Meltano marks automatic fields it did not match as not selected.
                Some(f) => selected && !deselect_fields.contains(&(name.as_str(), f)),
            };
            entry["metadata"]["selected"] = json!(chosen);
        }
    }
    catalog
}

/// The catalog's entry for `stream`.
#[track_caller]
pub fn catalog_entry<'a>(catalog: &'a mut Value, stream: &str) -> &'a mut Value {
    catalog["streams"]
        .as_array_mut()
        .expect("a catalog's streams")
        .iter_mut()
        .find(|s| s["tap_stream_id"] == stream)
        .unwrap_or_else(|| panic!("no stream {stream} in the catalog"))
}

/// The fake's requests to `path` (exactly, query aside), or under it when `path` ends with `/`.
pub fn requests_to(fake: &FakeIntercom, path: &str) -> Vec<fake_intercom::Logged> {
    fake.requests()
        .into_iter()
        .filter(|r| {
            if path.ends_with('/') {
                r.path().starts_with(path)
            } else {
                r.path() == path
            }
        })
        .collect()
}

/// An id as a string, whether Intercom sent a string or a number.
pub fn id_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The ids a stream's records carry.
pub fn ids(run: &Run, stream: &str) -> std::collections::BTreeSet<String> {
    run.records(stream).iter().map(|r| id_string(&r["id"])).collect()
}

/// The ids of every record the fake holds for a stream (parts: the newest 500 of each parent,
/// all Intercom can return).
pub fn world_ids(world: &World, stream: &str) -> std::collections::BTreeSet<String> {
    let of = |items: &[Value]| items.iter().map(|i| id_string(&i["id"])).collect();
    let newest = |parts: &[Value]| -> Vec<String> {
        parts
            .iter()
            .skip(parts.len().saturating_sub(500))
            .map(|p| id_string(&p["id"]))
            .collect()
    };
    match stream {
        "contacts" => of(&world.contacts),
        "users" | "leads" => world
            .contacts
            .iter()
            .filter(|c| c["role"] == stream.trim_end_matches('s'))
            .map(|c| id_string(&c["id"]))
            .collect(),
        "companies" => of(&world.companies),
        "conversations" => of(&world.conversations),
        "conversation_parts" => world
            .conversations
            .iter()
            .flat_map(|c| newest(World::parts_of(c)))
            .collect(),
        "tickets" => of(&world.tickets),
        "ticket_parts" => world
            .tickets
            .iter()
            .flat_map(|t| {
                newest(
                    t["ticket_parts"]["ticket_parts"]
                        .as_array()
                        .map_or(&[][..], Vec::as_slice),
                )
            })
            .collect(),
        "articles" => of(&world.articles),
        "activity_logs" => of(&world.activity_logs),
        other => panic!("no expectation for {other}"),
    }
}

/// The incremental streams whose records are checked one by one.
pub const INCREMENTAL: &[&str] = &[
    "companies",
    "contacts",
    "conversations",
    "conversation_parts",
    "tickets",
    "ticket_parts",
    "articles",
    "activity_logs",
];

/// A sync that the test stops with SIGKILL once `stop` says so, reading stdout as it comes.
pub fn run_until_killed(tap: &Tap, stop: impl Fn(&[Value]) -> bool) -> Run {
    use std::io::{BufRead, BufReader};
    let mut child = tap
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the tap starts");
    let stdout = child.stdout.take().expect("a stdout pipe");
    let mut messages = Vec::new();
    let mut text = String::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Ok(message) = serde_json::from_str::<Value>(&line) {
            messages.push(message);
            text.push_str(&line);
            text.push('\n');
        }
        if stop(&messages) {
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().expect("the tap ends");
    Run {
        code: status.code(),
        stdout: text,
        stderr: String::new(),
        messages,
    }
}

/// The streams a run's summary reports `ok` (done, whatever else the run did), from its log.
pub fn ok_streams(run: &Run) -> std::collections::BTreeSet<String> {
    summary_lines(run)
        .filter(|(_, status)| status == "ok" || status.starts_with("ok,"))
        .map(|(name, _)| name)
        .collect()
}

/// Each stream of a run's summary with its status (`ok`, `FAILED`, `skipped (403 ...)`).
pub fn summary_lines(run: &Run) -> impl Iterator<Item = (String, String)> + '_ {
    run.stderr
        .lines()
        .skip_while(|l| !l.contains("sync summary:"))
        .skip(1)
        .filter_map(|line| {
            let (_, rest) = line.split_once(" INFO ")?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            // name, N records, N requests, seconds, status...
            (words.len() >= 7 && words[2] == "records" && words[4] == "requests")
                .then(|| (words[0].to_owned(), words[6..].join(" ")))
        })
}

/// A run's records as comparable text, each stream's sorted, with what depends on the moment
/// of the run (`snapshot_at`) left out: equal for two runs that wrote the same rows.
pub fn rows(run: &Run) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut rows: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for m in &run.messages {
        if m["type"] == "RECORD" {
            let mut record = m["record"].clone();
            if let Some(map) = record.as_object_mut() {
                map.remove("snapshot_at");
            }
            rows.entry(m["stream"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(record.to_string());
        }
    }
    for list in rows.values_mut() {
        list.sort();
    }
    rows
}

/// One full sync (no catalog, every stream) of the small fake, shared by the tests that only
/// read what it wrote: the suite runs it once, not once per test.
pub struct FullSync {
    pub run: Run,
    /// The workspace it read.
    pub world: World,
    /// The requests it made.
    pub requests: Vec<fake_intercom::Logged>,
}

pub fn full_sync() -> &'static FullSync {
    static SHARED: std::sync::OnceLock<FullSync> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let mut fake = fake();
        let run = Tap::against(&fake).run();
        let world = fake.world().clone();
        let requests = fake.requests();
        fake.stop();
        FullSync { run, world, requests }
    })
}
