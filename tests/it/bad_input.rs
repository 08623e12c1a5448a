//! Bad input gets one clear line on stderr and a non-zero exit, never a panic.

use serde_json::json;

use crate::support::{TOKEN, Tap, fake};

#[test]
fn a_missing_config_file_is_named() {
    let out = Tap::new().arg("--config").arg("/nonexistent/tap.json").run();
    let line = out.only_line();
    assert!(line.contains("cannot read config file /nonexistent/tap.json"), "{line}");
    assert_eq!(out.code, Some(2));
}

#[test]
fn an_unreadable_config_file_is_named() {
    let tap = Tap::new();
    let dir = tap.file("placeholder", "");
    let dir = dir.parent().unwrap().to_str().unwrap().to_owned();
    let out = tap.arg("--config").arg(&dir).run();
    let line = out.only_line();
    assert!(
        line.contains("cannot read config file") && line.contains(&dir),
        "{line}"
    );
}

#[test]
fn invalid_json_names_file_line_and_column() {
    for (flag, what) in [("--config", "config"), ("--catalog", "catalog"), ("--state", "state")] {
        let tap = Tap::new().config(json!({"access_token": TOKEN}));
        let path = tap.file("broken.json", "{\n  \"a\": 1,\n  \"b\": [1 2]\n}");
        let out = tap.arg(flag).arg(path.to_str().unwrap()).run();
        let line = out.only_line();
        assert!(
            line.contains(&format!("{what} file")) && line.contains("broken.json"),
            "{line}"
        );
        assert!(line.contains("line 3, column 11"), "{line}");
    }
}

#[test]
fn missing_catalog_and_state_files_are_named() {
    for (flag, what) in [
        ("--catalog", "catalog"),
        ("--state", "state"),
        ("--properties", "catalog"),
    ] {
        let out = Tap::new()
            .config(json!({"access_token": TOKEN}))
            .arg(flag)
            .arg("/nonexistent/x.json")
            .run();
        let line = out.only_line();
        assert!(
            line.contains(&format!("cannot read {what} file /nonexistent/x.json")),
            "{line}"
        );
    }
}

#[test]
fn a_missing_token_is_reported() {
    let out = Tap::new().config(json!({"start_date": "2024-01-01T00:00:00Z"})).run();
    let line = out.only_line();
    assert!(line.contains("access_token is missing"), "{line}");
    assert!(line.contains("TAP_INTERCOM_ACCESS_TOKEN"), "{line}");
}

#[test]
fn a_malformed_start_date_is_reported() {
    let out = Tap::new()
        .config(json!({"access_token": TOKEN, "start_date": "01/02/2024"}))
        .run();
    let line = out.only_line();
    assert!(
        line.contains("start_date") && line.contains("01/02/2024") && line.contains("RFC 3339"),
        "{line}"
    );
}

#[test]
fn an_unknown_region_is_reported() {
    let out = Tap::new()
        .config(json!({"access_token": TOKEN, "region": "mars"}))
        .run();
    let line = out.only_line();
    assert!(
        line.contains("region") && line.contains("\"mars\" is not one of us, eu, au"),
        "{line}"
    );
}

#[test]
fn a_catalog_naming_an_unknown_stream_is_reported() {
    let out = Tap::new()
        .config(json!({"access_token": TOKEN}))
        .catalog(json!({"streams": [{"tap_stream_id": "unicorns", "metadata": []}]}))
        .run();
    let line = out.only_line();
    assert!(
        line.contains("catalog file") && line.contains("\"unicorns\" is not a stream of tap-intercom"),
        "{line}"
    );
}

#[test]
fn a_state_of_the_wrong_shape_is_reported() {
    for (state, expected) in [
        (json!([1, 2]), "expected a JSON object"),
        (json!({"bookmarks": "yesterday"}), "bookmarks must be an object"),
        (
            json!({"bookmarks": {"segments": {"updated_at": "last tuesday"}}}),
            "bookmarks.segments.updated_at",
        ),
    ] {
        let out = Tap::new().config(json!({"access_token": TOKEN})).state(state).run();
        let line = out.only_line();
        assert!(line.contains("state file") && line.contains(expected), "{line}");
    }
}

#[test]
fn config_comes_from_the_environment_and_later_files_win() {
    let fake = fake();
    // The token only in the environment; two files, the second overriding the first's URL.
    let tap = Tap::new().env("TAP_INTERCOM_ACCESS_TOKEN", TOKEN);
    let first = tap.file(
        "a.json",
        &json!({"base_url": "http://127.0.0.1:9", "max_retries": 0}).to_string(),
    );
    let second = tap.file("b.json", &json!({"base_url": fake.url()}).to_string());
    let out = tap
        .arg("--config")
        .arg(first.to_str().unwrap())
        .arg("--config")
        .arg(second.to_str().unwrap())
        .run();
    out.ok();
    assert!(!out.records("tags").is_empty());
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let out = Tap::new()
        .config(json!({"access_token": TOKEN, "base_url": "http://api.intercom.io"}))
        .run();
    let line = out.only_line();
    assert!(line.contains("base_url") && line.contains("plain http"), "{line}");
}

#[test]
fn spans_and_timeouts_beyond_their_bounds_are_refused() {
    for (key, value) in [
        ("lookback_window", json!(10_000_000_000_000u64)),
        ("search_index_lag", json!(10_000_000_000_000u64)),
        ("request_timeout", json!(1e12)),
        ("retry_initial_delay", json!(1e12)),
    ] {
        let fake = fake();
        let out = Tap::against(&fake).set(key, value).run();
        let line = out.only_line();
        assert!(line.contains(key) && line.contains("allowed"), "{key}: {line}");
        assert_eq!(out.code, Some(2), "{key}");
    }
}

#[test]
fn every_bad_setting_is_reported_at_once_one_per_line() {
    let out = Tap::new()
        .config(json!({
            "access_token": TOKEN,
            "start_date": "yesterday",
            "max_concurrency": "lots",
            "region": "mars",
            "request_timeout": 0,
        }))
        .run();
    assert_eq!(out.code, Some(2));
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("CRITICAL")).collect();
    assert_eq!(lines.len(), 4, "{}", out.stderr);
    for key in ["start_date", "max_concurrency", "region", "request_timeout"] {
        assert!(
            lines.iter().any(|l| l.contains(&format!("config: {key}: "))),
            "{key} is named:\n{}",
            out.stderr
        );
    }
}

#[test]
fn a_base_url_the_http_client_would_refuse_later_is_refused_at_once() {
    let huge = format!("http://127.0.0.1:1/{}", "x".repeat(10 * 1024 * 1024));
    for (url, problem) in [
        ("http://127.0.0.1:1\t/intercom", "control characters"),
        (
            "http://127.0.0.1:99999",
            "port \"99999\", which is not a number from 1 to 65535",
        ),
        (
            "http://127.0.0.1:0",
            "port \"0\", which is not a number from 1 to 65535",
        ),
        ("http://127.0.0.1:/intercom", "a ':' after its host but no port"),
        ("http://local host:1", "contains spaces"),
        ("http://127.0.0.1:1/a%zz", "'%' in its path"),
        ("http://lócalhost:1", "not ASCII"),
        (huge.as_str(), "longer than the 2048 bytes a base URL may have"),
    ] {
        let out = Tap::new().config(json!({"access_token": TOKEN, "base_url": url})).run();
        let shown: String = url.chars().take(40).collect();
        assert_eq!(out.code, Some(2), "{shown:?}: {}", out.stderr);
        let line = out.only_line();
        assert!(
            line.contains("config: base_url: ") && line.contains(problem),
            "{shown:?}: {line}"
        );
        assert!(
            line.len() < 400,
            "{shown:?}: the value is cut short: {} bytes",
            line.len()
        );
        assert!(!line.contains(TOKEN), "{line}");
    }
}

#[test]
fn a_catalog_value_of_ten_megabytes_is_named_cut_short() {
    let huge = "x".repeat(10 * 1024 * 1024);
    let selected = json!([{"breadcrumb": [], "metadata": {"selected": true}}]);
    let cases = [
        ("tap_stream_id", json!({"tap_stream_id": huge, "metadata": selected})),
        ("stream", json!({"stream": huge, "metadata": selected})),
        (
            "key_properties",
            json!({"tap_stream_id": "tags", "key_properties": [huge], "metadata": selected}),
        ),
        (
            "replication_key",
            json!({"tap_stream_id": "contacts", "replication_key": huge, "metadata": selected}),
        ),
        (
            "replication_method",
            json!({"tap_stream_id": "tags", "replication_method": huge, "metadata": selected}),
        ),
        (
            "inclusion",
            json!({"tap_stream_id": "tags", "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": ["properties", "name"], "metadata": {"inclusion": huge}},
            ]}),
        ),
        (
            "breadcrumb",
            json!({"tap_stream_id": "tags", "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": ["properties", huge], "metadata": {"selected": "yes"}},
            ]}),
        ),
    ];
    for (what, stream) in cases {
        let out = Tap::new()
            .config(json!({"access_token": TOKEN}))
            .catalog(json!({"streams": [stream]}))
            .run();
        assert_eq!(
            out.code,
            Some(2),
            "{what}: {}",
            out.stderr.chars().take(500).collect::<String>()
        );
        let line = out.only_line();
        let head: String = line.chars().take(1_000).collect();
        assert!(
            line.contains("catalog file") && line.contains("xxxxxxxxxx"),
            "{what}: {head}"
        );
        assert!(line.contains("bytes in all"), "{what}: the length is said: {head}");
        // An unknown name is followed by the list of the tap's streams, about 450 bytes.
        assert!(
            line.len() < 1_000,
            "{what}: the value is cut short: {} bytes",
            line.len()
        );
    }
}

#[test]
fn a_selected_of_null_is_refused_naming_the_stream_and_the_breadcrumb() {
    let field = |key: &str| {
        json!({"tap_stream_id": "tags", "metadata": [
            {"breadcrumb": [], "metadata": {"selected": true}},
            {"breadcrumb": ["properties", "name"], "metadata": {key: null}},
        ]})
    };
    let cases = [
        (
            json!({"tap_stream_id": "tags", "metadata": [{"breadcrumb": [], "metadata": {"selected": null}}]}),
            "stream tags: metadata breadcrumb [] selected must be true or false, not null",
        ),
        (
            json!({"tap_stream_id": "tags", "selected": null}),
            "stream tags: selected must be true or false, not null",
        ),
        (
            json!({"tap_stream_id": "tags", "schema": {"selected": null}}),
            "stream tags: schema.selected must be true or false, not null",
        ),
        (
            field("selected"),
            "stream tags: metadata breadcrumb [\"properties\", \"name\"]: selected must be true or false, not null",
        ),
        (
            field("selected-by-default"),
            "stream tags: metadata breadcrumb [\"properties\", \"name\"]: selected-by-default must be true or false",
        ),
    ];
    for (stream, expected) in cases {
        // Every other stream has its selected: null too, as a generated catalog would.
        let mut streams = vec![stream];
        streams.push(json!({"tap_stream_id": "admins", "selected": null}));
        // Were the catalog taken, the run would stop at a closed port, not at Intercom.
        let out = Tap::new()
            .config(json!({"access_token": TOKEN, "base_url": "http://127.0.0.1:1", "max_retries": 0}))
            .catalog(json!({"streams": streams}))
            .run();
        assert_eq!(out.code, Some(2), "{expected}: {}", out.stderr);
        let line = out.only_line();
        assert!(line.contains("catalog file") && line.contains(expected), "{line}");
    }
}
