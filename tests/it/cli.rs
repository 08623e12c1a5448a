//! The command line as Singer runners and Meltano call it: --version, --about, --discover.

use serde_json::{Value, json};

use crate::support::Tap;

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
            let automatic = keys.contains(&prop.as_str()) || replication_key == Some(prop.as_str());
            let expected = if automatic { "automatic" } else { "available" };
            assert_eq!(entry["metadata"]["inclusion"], expected, "{name}.{prop}");
        }
        let text = stream["schema"].to_string();
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
