//! The command line as Singer runners and Meltano call it: --version, --about, --discover, --log-format.

use serde_json::{Value, json};

use crate::support::{self, Tap};

#[test]
fn version_and_help() {
    let out = Tap::new().arg("--version").run();
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout.trim(), format!("tap-intercom {}", env!("CARGO_PKG_VERSION")));
    let out = Tap::new().arg("--help").run();
    assert_eq!(out.code, Some(0));
    for flag in [
        "--config",
        "--catalog",
        "--properties",
        "--state",
        "--discover",
        "--about",
        "--format",
    ] {
        assert!(out.stdout.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn about_json_has_the_sdk_shape_and_a_secret_token() {
    // Meltano appends --about to an argument list that may name a catalog; no config is needed.
    let tap = Tap::new();
    let catalog = tap.file("stale.json", "this is not JSON");
    let out = tap
        .arg("--about")
        .arg("--format=json")
        .arg("--catalog")
        .arg(catalog.to_str().unwrap())
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let about: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(about["name"], "tap-intercom");
    assert_eq!(about["capabilities"], json!(["catalog", "discover", "state", "about"]));
    let settings = &about["settings"];
    assert_eq!(settings["required"], json!(["access_token"]));
    let token = &settings["properties"]["access_token"];
    assert_eq!(token["secret"], true);
    assert_eq!(token["writeOnly"], true);
    for setting in [
        "start_date",
        "end_date",
        "region",
        "base_url",
        "api_version",
        "request_timeout",
        "user_agent",
        "lookback_window",
        "max_concurrency",
        "max_requests_per_minute",
    ] {
        let p = &settings["properties"][setting];
        assert!(p["description"].is_string(), "{setting} is not described");
        assert!(
            p["type"].as_array().is_some_and(|t| t.contains(&json!("null"))),
            "{setting}: {p}"
        );
    }
    assert_eq!(settings["properties"]["api_version"]["default"], "2.14");
}

#[test]
fn about_text_and_markdown() {
    let text = Tap::new().arg("--about").run();
    assert_eq!(text.code, Some(0));
    assert!(text.stdout.contains("Name: tap-intercom"));
    assert!(text.stdout.contains("Environment Variable: TAP_INTERCOM_ACCESS_TOKEN"));
    let md = Tap::new().arg("--about").arg("--format").arg("markdown").run();
    assert_eq!(md.code, Some(0));
    assert!(md.stdout.starts_with("# `tap-intercom`"));
    assert!(md.stdout.contains("## Settings"));
    assert!(md.stdout.contains("| `access_token` |"));
}

#[test]
fn about_never_shows_the_token() {
    let out = Tap::new()
        .config(json!({"access_token": "very-secret-token-42"}))
        .env("TAP_INTERCOM_ACCESS_TOKEN", "very-secret-token-42")
        .arg("--about")
        .arg("--format=json")
        .run();
    assert_eq!(out.code, Some(0));
    assert!(!out.stdout.contains("very-secret-token-42"));
    assert!(!out.stderr.contains("very-secret-token-42"));
}

#[test]
fn discovery_needs_no_token_and_ignores_leftover_files() {
    for config in [json!({}), json!({"access_token": "x"})] {
        let tap = Tap::new().config(config);
        let stale_catalog = tap.file("old-catalog.json", "{\"streams\": [{\"tap_stream_id\": \"gone\"}]}");
        let stale_state = tap.file("old-state.json", "[1, 2");
        let out = tap
            .arg("--catalog")
            .arg(stale_catalog.to_str().unwrap())
            .arg("--state")
            .arg(stale_state.to_str().unwrap())
            .arg("--discover")
            .run();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let catalog: Value = serde_json::from_str(&out.stdout).unwrap();
        assert!(catalog["streams"].as_array().unwrap().len() >= 21);
    }
}

#[test]
fn the_catalog_describes_every_stream_fully() {
    let out = Tap::new().arg("--discover").run();
    let catalog: Value = serde_json::from_str(&out.stdout).unwrap();
    for stream in catalog["streams"].as_array().unwrap() {
        let name = stream["tap_stream_id"].as_str().unwrap();
        assert_eq!(stream["stream"], name);
        let keys: Vec<&str> = stream["key_properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert!(!keys.is_empty(), "{name} has no key");
        let md = stream["metadata"].as_array().unwrap();
        let root = &md.iter().find(|m| m["breadcrumb"] == json!([])).unwrap()["metadata"];
        assert_eq!(root["inclusion"], "available", "{name}");
        assert!(root["selected-by-default"].is_boolean(), "{name}");
        assert_eq!(root["table-key-properties"], stream["key_properties"], "{name}");
        let replication_key = stream["replication_key"].as_str();
        match stream["replication_method"].as_str().unwrap() {
            "FULL_TABLE" => assert_eq!(root["forced-replication-method"], "FULL_TABLE", "{name}"),
            "INCREMENTAL" => assert_eq!(
                root["valid-replication-keys"],
                json!([replication_key.unwrap()]),
                "{name}"
            ),
            other => panic!("{name}: {other}"),
        }
        let props = stream["schema"]["properties"].as_object().unwrap();
        for (prop, schema) in props {
            assert!(
                schema["type"].is_string() || schema["type"].is_array(),
                "{name}.{prop} has no type"
            );
            let entry = md
                .iter()
                .find(|m| m["breadcrumb"] == json!(["properties", prop]))
                .unwrap_or_else(|| panic!("{name}.{prop} has no metadata"));
            // The deletion mark goes with its stream's rows whatever the selection, as keys do.
            let automatic =
                keys.contains(&prop.as_str()) || replication_key == Some(prop.as_str()) || prop == "_sdc_deleted_at";
            let expected = if automatic { "automatic" } else { "available" };
            assert_eq!(entry["metadata"]["inclusion"], expected, "{name}.{prop}");
        }
        // No empty schema (`"field":{}`, which no target can type); an empty `properties` of
        // free-form items is no schema but a list of none.
        let text = stream["schema"].to_string().replace("\"properties\":{}", "");
        for banned in ["\"$ref\"", "\"anyOf\"", "\"oneOf\"", ":{}"] {
            assert!(!text.contains(banned), "{name} schema contains {banned}");
        }
    }
}

/// `catalog.sample.json` is the `--discover` output. Run with `TAP_INTERCOM_REGENERATE=1` to
/// rewrite it after changing a schema.
#[test]
fn catalog_sample_is_current() {
    let out = Tap::new().arg("--discover").run();
    assert_eq!(out.code, Some(0));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.sample.json");
    if std::env::var_os("TAP_INTERCOM_REGENERATE").is_some() {
        std::fs::write(path, &out.stdout).unwrap();
    }
    let sample = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        sample == out.stdout,
        "catalog.sample.json is stale: run `TAP_INTERCOM_REGENERATE=1 cargo test` and commit it"
    );
}

/// Each stderr line of a JSON log, parsed; fails on any line that is not a JSON object with a
/// timestamp, a level, the logger and a message.
#[track_caller]
fn json_log(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            for key in ["timestamp", "level", "logger", "message"] {
                assert!(v[key].is_string(), "no {key} in {line}");
            }
            v
        })
        .collect()
}

#[test]
fn log_format_json_writes_one_object_per_line_with_metrics_as_objects() {
    let fake = support::fake();
    let run = Tap::against(&fake).arg("--log-format").arg("json").run();
    run.ok();
    let lines = json_log(&run.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l["message"].as_str().unwrap().starts_with("sync summary"))
    );
    let metrics: Vec<_> = lines.iter().filter(|l| l.get("metric_info").is_some()).collect();
    assert!(
        metrics
            .iter()
            .any(|m| m["metric_info"]["metric"] == "record_count" && m["metric_info"]["value"].is_u64()),
        "no record_count metric"
    );
    assert!(lines.iter().all(|l| l["level"] == "info" || l["level"] == "warning"));
    assert!(!run.stderr.contains(support::TOKEN));
}

#[test]
fn log_format_from_the_environment_and_a_failure_as_json() {
    let fake = support::fake();
    let run = Tap::against(&fake)
        .set("access_token", json!("not-the-right-token-0123"))
        .env("TAP_INTERCOM_LOG_FORMAT", "json")
        .run();
    assert_ne!(run.code, Some(0));
    let lines = json_log(&run.stderr);
    let last = lines.last().expect("a log line");
    assert_eq!(last["level"], "critical", "{last}");
    assert!(!run.stderr.contains("not-the-right-token-0123"));
    // The flag wins over the environment.
    let run = Tap::against(&fake)
        .env("TAP_INTERCOM_LOG_FORMAT", "json")
        .arg("--log-format")
        .arg("text")
        .run();
    run.ok();
    assert!(run.stderr.lines().all(|l| serde_json::from_str::<Value>(l).is_err()));
}

#[test]
fn on_a_terminal_a_live_board_shows_each_running_stream_and_is_cleared_at_the_end() {
    // A pseudo-terminal from util-linux's `script` (always on Debian): stderr is a TTY there.
    // Answers in 400 ms make the sync's chains of pages last a few of the board's half-second
    // redraws (at 100 ms the whole sync took half a second once the first window went at once).
    let fake = small_fake_answering_in(400);
    let tap = Tap::against(&fake);
    let command = tap.command();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let shown = std::process::Command::new("script")
        .args(["-qec", &format!("{line} > '{}'", out.display()), "/dev/null"])
        .env("COLUMNS", "120")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("sync summary"), "{shown}");
    // The board: the pace, and a line per running stream with records, requests and rate,
    // drawn again in place (cursor up, clear below).
    assert!(shown.contains("requests sent,"), "{shown}");
    let stream_line = shown
        .split(['\n', '\u{1b}'])
        .find(|l| l.contains(" records ") && l.contains(" requests ") && l.contains("records/s"));
    assert!(stream_line.is_some(), "no stream line on the board:\n{shown}");
    assert!(shown.contains("\u{1b}[J"), "the board is never redrawn");
    // Cleared at the end: nothing of the board follows the summary.
    let tail = &shown[shown.rfind("sync summary").unwrap()..];
    assert!(!tail.contains("records/s"), "{tail}");
    assert!(!shown.contains(support::TOKEN));
    // stdout stayed a clean Singer stream.
    let output = std::fs::read(&out).unwrap();
    support::Run::new(Some(0), &output, b"").check_protocol();
}

#[test]
fn without_a_terminal_there_is_no_board() {
    let run = &support::full_sync().run;
    run.ok();
    assert!(!run.stderr.contains('\u{1b}'));
    assert!(!run.stderr.contains("records/s"));
}

/// `bash scripts/demo` on a terminal: a full sync and an incremental one against the same fake,
/// each showing how far it has got while it runs, then what each emitted.
#[test]
fn the_demo_shows_progress_while_it_syncs_then_both_runs_summaries() {
    let tap = std::path::Path::new(env!("CARGO_BIN_EXE_tap-intercom"));
    let bin = tap.parent().unwrap();
    // `cargo test` builds the binaries of the package under test only, and a fake built
    // earlier may be stale: cargo builds it again when it is (quick when it is not).
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "-p", "fake-intercom", "--bin", "fake-intercom"])
        .status()
        .expect("cargo runs");
    assert!(built.success(), "cargo build -p fake-intercom");
    assert!(bin.join("fake-intercom").exists());
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo");
    let shown = std::process::Command::new("script")
        .args(["-qec", &format!("bash '{script}' small"), "/dev/null"])
        .env("TAP_INTERCOM_DEMO_BIN", bin)
        .env("DEMO_OUTPUT", dir.path())
        .env("DEMO_LATENCY_MS", "150")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{text}");
    assert!(text.contains("messages written,"), "no progress while syncing:\n{text}");
    assert_eq!(text.matches("sync summary").count(), 2, "{text}");
    assert!(text.contains("syncing again from"), "{text}");
    for file in [
        "messages.jsonl",
        "messages2.jsonl",
        "state.json",
        "state2.json",
        "tap.log",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let second = std::fs::read(dir.path().join("messages2.jsonl")).unwrap();
    let run = support::Run::new(Some(0), &second, b"");
    run.check_protocol();
    assert!(
        !run.records("contacts").is_empty(),
        "the incremental run read the edited contacts"
    );
}

/// In a log file (no terminal), a sync longer than 15 s logs how it goes every 15 s: the pace,
/// and each running stream's records and requests so far.
#[test]
fn a_long_sync_logs_progress_every_progress_interval() {
    // progress_interval is 15 s unless set: 3 s here.
    let fake = small_fake_answering_in(150);
    let run = Tap::against(&fake)
        .catalog(support::meltano_catalog(&["conversations", "conversation_parts"], &[]))
        .set("max_concurrency", serde_json::json!(1))
        .set("progress_interval", serde_json::json!(3))
        .run();
    run.ok();
    let stamp = |line: &str| {
        chrono::DateTime::parse_from_rfc3339(line.split_whitespace().next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let started = stamp(run.stderr.lines().find(|l| l.contains("sync started")).unwrap());
    let ended = stamp(run.stderr.lines().find(|l| l.contains("sync summary")).unwrap());
    assert!(
        (ended - started).num_seconds() >= 4,
        "the sync must outlast one interval"
    );
    let pacing: Vec<&str> = run.stderr.lines().filter(|l| l.contains("INFO     pacing: ")).collect();
    assert!(!pacing.is_empty(), "no progress line:\n{}", run.stderr);
    let first = stamp(pacing[0]);
    let after = (first - started).num_milliseconds();
    assert!(
        (2_500..=5_000).contains(&after),
        "the first progress line came {after} ms in"
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("records so far,") && l.contains(" requests, ")),
        "no stream line:\n{}",
        run.stderr
    );
}

/// The small workspace, each answer after `ms` milliseconds: a sync long enough to watch.
fn small_fake_answering_in(ms: u64) -> fake_intercom::FakeIntercom {
    let options = fake_intercom::Options {
        latency: std::time::Duration::from_millis(ms),
        ..support::test_options()
    };
    support::fake_with(fake_intercom::World::generate(1, fake_intercom::Size::small()), options)
}
