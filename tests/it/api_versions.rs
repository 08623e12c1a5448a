//! Intercom API versions: the known ones (2.14, 2.15, 2.16) give the same columns in the same
//! types, use each endpoint where that version has it, and bring what only newer versions
//! have; any other version is refused before a request is made.

use serde_json::json;

use crate::support::{TOKEN, Tap};

#[test]
fn an_unknown_version_is_refused_with_the_known_ones() {
    for version in [json!("2.99"), json!("Unstable"), json!(2.1)] {
        let out = Tap::new()
            .config(json!({"access_token": TOKEN, "base_url": "http://127.0.0.1:9"}))
            .set("api_version", version.clone())
            .run();
        let line = out.only_line();
        assert_eq!(out.code, Some(2), "{version}: {line}");
        assert!(
            line.contains("api_version") && line.contains("2.14, 2.15, 2.16"),
            "{version}: {line}"
        );
    }
}
