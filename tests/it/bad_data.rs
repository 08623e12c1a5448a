//! Odd answers and odd inputs: each gets the right data or a clear error, never a silent loss,
//! a stall, a panic or a leaked secret (issue 10's defects, one test each).

use std::time::{Duration, Instant};

use fake_intercom::{Fault, FaultKind, Size, World};
use serde_json::{Value, json};

use crate::support::{TOKEN, Tap, catalog_entry, fake, fake_with, ids, meltano_catalog, requests_to, test_options};

#[test]
fn a_rate_limit_reset_an_hour_away_is_not_believed_and_the_wait_is_logged() {
    let fake = fake();
    // The first answer, the check's, says no request is left for an hour.
    fake.add_fault(Fault::new("/me", FaultKind::FarReset));
    let started = Instant::now();
    // The tap waits one window (rate_limit_window, 10 s unless set), not the hour: 4 s here,
    // long enough for the wait to be logged (waits over 3 s are).
    let out = Tap::against(&fake)
        .set("rate_limit_window", json!(4))
        .catalog(meltano_catalog(&["admins", "tags"], &[]))
        .run();
    out.ok();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the tap waited for the hour"
    );
    assert!(
        out.stderr.contains("its windows last 4s, so the tap waits 4s instead"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("X-RateLimit-Reset says the window resets in"),
        "{}",
        out.stderr
    );
    let wait = out
        .stderr
        .lines()
        .find(|l| l.contains("every request waits") && l.contains("X-RateLimit-Remaining 0"));
    assert!(wait.is_some(), "the wait is logged with its reason:\n{}", out.stderr);
    assert!(!out.records("tags").is_empty());
}

#[test]
fn a_record_without_its_key_is_an_error_not_a_row() {
    let fake = fake();
    fake.world().admins[3].as_object_mut().unwrap().remove("id");
    let out = Tap::against(&fake).catalog(meltano_catalog(&["admins"], &[])).run();
    let line = out.failure_line();
    assert!(line.contains("admins") && line.contains("has no id"), "{line}");
    assert!(out.records("admins").iter().all(|r| !r["id"].is_null()));
}

#[test]
fn records_updated_before_1970_are_emitted_and_never_skipped_by_the_bookmark() {
    let fake = fake();
    let mut chosen = Vec::new();
    {
        let mut world = fake.world();
        let world = &mut *world;
        for (stream, record) in [
            ("contacts", &mut world.contacts[0]),
            ("companies", &mut world.companies[0]),
            ("conversations", &mut world.conversations[0]),
            ("tickets", &mut world.tickets[0]),
        ] {
            record["updated_at"] = json!(-86_400 * 365);
            record["created_at"] = json!(-86_400 * 400);
            chosen.push((stream, crate::support::id_string(&record["id"])));
        }
    }
    let streams: Vec<&str> = chosen.iter().map(|(s, _)| *s).collect();
    // The whole history, and a start before 1970.
    for start in [Value::Null, json!("1960-01-01T00:00:00Z")] {
        let out = Tap::against(&fake)
            .set("start_date", start.clone())
            .catalog(meltano_catalog(&streams, &[]))
            .run();
        out.ok();
        for (stream, id) in &chosen {
            let found = out
                .records(stream)
                .into_iter()
                .find(|r| crate::support::id_string(&r["id"]) == *id);
            let record = found.unwrap_or_else(|| panic!("{stream} from {start}: the pre-1970 record {id} is emitted"));
            assert_eq!(record["updated_at"], json!("1969-01-01T00:00:00Z"), "{stream}");
        }
    }
}

#[test]
fn an_embedded_list_of_the_wrong_shape_names_the_field() {
    let fake = fake();
    fake.world().contacts[2]["companies"]["data"] = json!({"id": "c1", "type": "company"});
    let out = Tap::against(&fake).catalog(meltano_catalog(&["contacts"], &[])).run();
    let line = out.failure_line();
    assert!(
        line.contains("contacts") && line.contains("companies.data should be an array"),
        "{line}"
    );
    assert!(
        out.records("contacts").iter().all(|r| r["companies"].is_array()),
        "no contact is emitted with its companies emptied"
    );
}

#[test]
fn a_millisecond_bookmark_is_read_as_milliseconds() {
    let fake = fake();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts"], &[]))
        .state(json!({"bookmarks": {"contacts": {"updated_at": 1_700_000_000_000_i64}}}))
        .run();
    out.ok();
    let asked = requests_to(&fake, "/contacts/search");
    let first = asked[0].body.as_ref().unwrap().to_string();
    // The query starts at the bookmark, 2023-11-14T22:13:20Z, not in the year 55,000.
    assert!(first.contains("\"value\":1700000000}"), "{first}");
}

#[test]
fn a_bookmark_in_the_future_is_named_in_a_warning() {
    let fake = fake();
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts"], &[]))
        .state(json!({"bookmarks": {"contacts": {"updated_at": "3000-01-01T00:00:00Z"}}}))
        .run();
    out.ok();
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("WARNING") && l.contains("in the future"));
    let warning = warning.unwrap_or_else(|| panic!("no warning:\n{}", out.stderr));
    assert!(
        warning.contains("bookmarks.contacts.updated_at is 3000-01-01T00:00:00Z"),
        "{warning}"
    );
}

#[test]
fn header_values_that_cannot_be_sent_are_config_errors_naming_the_setting() {
    let cases = [
        ("user_agent", json!("tap\r\nX-Evil: 1"), "control characters"),
        ("user_agent", json!("tap-intercom ☃"), "not ASCII"),
        ("api_version", json!("2.14\n"), "api_version"),
        ("access_token", json!("tökén-ünicode"), "not ASCII"),
        ("access_token", json!("x".repeat(10 * 1024 * 1024)), "longer than"),
    ];
    for (key, value, problem) in cases {
        let shown = value.as_str().unwrap().chars().take(20).collect::<String>();
        let out = Tap::new()
            .config(json!({"access_token": TOKEN, "base_url": "http://127.0.0.1:9"}))
            .set(key, value)
            .run();
        let line = out.only_line();
        assert_eq!(out.code, Some(2), "{key}: {line}");
        assert!(line.contains(key) && line.contains(problem), "{line}");
        assert!(line.len() < 400, "the value is cut short: {} bytes", line.len());
        if key == "access_token" {
            assert!(!out.stderr.contains(&shown), "the token is never shown: {line}");
        }
    }
}

#[test]
fn an_unreachable_host_stops_the_run_at_the_check_naming_host_and_cause() {
    // Nothing listens on port 9 of loopback: the connection is refused.
    let line = stopped_at_the_check(
        json!({"access_token": TOKEN, "base_url": "http://127.0.0.1:9", "retry_initial_delay": 0.1}),
    );
    assert!(line.contains("cannot sync from http://127.0.0.1:9"), "{line}");
}

/// Runs the tap with `config` and returns the one line of a run that stopped at the `GET /me`
/// check within 15 s, before any stream started.
fn stopped_at_the_check(config: Value) -> String {
    let started = Instant::now();
    let out = Tap::new().config(config).run();
    let line = out.failure_line().to_owned();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(line.contains("GET /me"), "{line}");
    assert!(!out.stderr.contains("started"), "no stream starts:\n{}", out.stderr);
    line
}

#[test]
fn a_host_that_lets_no_connection_through_stops_the_run_at_the_check_within_the_connect_timeout() {
    // A listener that never accepts, its queue filled: the kernel then drops further
    // connection attempts, as a firewall that drops packets does. Nothing leaves loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    while let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
        held.push(stream);
        assert!(held.len() < 10_000, "the listener's queue never filled");
    }
    // connect_timeout (10 s unless set) is the wait: 1 s here.
    let started = Instant::now();
    let line = stopped_at_the_check(
        json!({"access_token": TOKEN, "base_url": format!("http://{addr}"), "connect_timeout": 1}),
    );
    assert!(
        line.contains(&format!("http://{addr}")) && line.contains("no connection within 1s"),
        "{line}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "the timeout was waited");
    drop(held);
}

#[test]
fn an_unknown_host_stops_the_run_at_once() {
    let out = Tap::new()
        .config(json!({"access_token": TOKEN, "base_url": "https://no-such-host.invalid"}))
        .run();
    let line = out.failure_line();
    assert!(line.contains("https://no-such-host.invalid"), "{line}");
    let retries = out.stderr.lines().filter(|l| l.contains("retry")).count();
    assert_eq!(retries, 0, "a host that does not exist is not retried:\n{}", out.stderr);
}

#[test]
fn credentials_in_base_url_are_never_printed() {
    let out = Tap::new()
        .config(json!({"access_token": TOKEN, "base_url": "https://user:s3cr3t-pw@api.example.com"}))
        .run();
    let line = out.only_line();
    assert!(
        line.contains("base_url") && line.contains("***@api.example.com"),
        "{line}"
    );
    assert!(
        !out.stderr.contains("s3cr3t-pw") && !out.stderr.contains("user:"),
        "{}",
        out.stderr
    );
}

#[test]
fn catalog_values_of_the_wrong_type_name_stream_and_breadcrumb() {
    let cases: [(&str, Value, &str); 5] = [
        ("selected", json!("true"), "selected must be true or false"),
        ("inclusion", json!(5), "inclusion must be a string"),
        ("replication-key", json!(5), "replication-key must be a string"),
        (
            "selected-by-default",
            json!(1),
            "selected-by-default must be true or false",
        ),
        ("field-selected", json!("yes"), "[\"properties\", \"name\"]"),
    ];
    for (what, value, expected) in cases {
        let mut catalog = meltano_catalog(&["admins"], &[]);
        let admins = catalog_entry(&mut catalog, "admins");
        for entry in admins["metadata"].as_array_mut().unwrap() {
            let root = entry["breadcrumb"].as_array().unwrap().is_empty();
            let name = entry["breadcrumb"] == json!(["properties", "name"]);
            match what {
                "field-selected" if name => entry["metadata"]["selected"] = value.clone(),
                "field-selected" => {}
                _ if root => entry["metadata"][what] = value.clone(),
                _ => {}
            }
        }
        let out = Tap::new().config(json!({"access_token": TOKEN})).catalog(catalog).run();
        let line = out.only_line();
        assert_eq!(out.code, Some(2), "{line}");
        assert!(
            line.contains("stream admins") && line.contains(expected),
            "{what}: {line}"
        );
    }
}

#[test]
fn key_properties_naming_a_missing_field_are_refused() {
    let mut catalog = meltano_catalog(&["admins"], &[]);
    catalog_entry(&mut catalog, "admins")["key_properties"] = json!(["no_such_field"]);
    let out = Tap::new().config(json!({"access_token": TOKEN})).catalog(catalog).run();
    let line = out.only_line();
    assert!(
        line.contains("stream admins") && line.contains("\"no_such_field\""),
        "{line}"
    );
}

#[test]
fn an_error_list_under_200_is_reported_with_intercoms_code_and_the_right_method() {
    let fake = fake();
    let body = r#"{"type":"error.list","request_id":"req-77","errors":[{"code":"parameter_invalid","message":"Sort field is invalid"}]}"#;
    fake.add_fault(Fault::new("/contacts/search", FaultKind::Body(200, body)).times(100));
    let out = Tap::against(&fake).catalog(meltano_catalog(&["contacts"], &[])).run();
    let line = out.failure_line();
    assert!(line.contains("POST /contacts/search"), "{line}");
    assert!(
        line.contains("parameter_invalid") && line.contains("Sort field is invalid") && line.contains("req-77"),
        "{line}"
    );
}

#[test]
fn scroll_restarts_wait_longer_each_time() {
    let options = fake_intercom::Options {
        scroll_expiry: Duration::from_secs(1),
        ..test_options()
    };
    let fake = fake_with(World::generate(2, Size::small()), options);
    fake.add_fault(Fault::new("/companies/scroll", FaultKind::NotJson).skip(1).times(3));
    let out = Tap::against(&fake)
        .set("max_retries", json!(0))
        .set("retry_initial_delay", json!(0.3))
        .catalog(meltano_catalog(&["companies"], &[]))
        .run();
    out.ok();
    let restarts: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("restarting the scroll"))
        .collect();
    assert_eq!(restarts.len(), 3, "{}", out.stderr);
    let stamp = |line: &str| chrono::DateTime::parse_from_rfc3339(line.split_whitespace().next().unwrap()).unwrap();
    for (i, pause) in [0.3, 0.6, 1.2].iter().enumerate() {
        assert!(restarts[i].contains(&format!("in {pause:.1}s")), "{}", restarts[i]);
        if i > 0 {
            // The next failure cannot come before the wait announced before it is over.
            let gap = (stamp(restarts[i]) - stamp(restarts[i - 1])).num_milliseconds();
            let waited = [0.3, 0.6][i - 1] * 1000.0;
            assert!(
                f64::from(i32::try_from(gap).unwrap()) >= waited,
                "{gap} ms after a {waited} ms wait"
            );
        }
    }
}

#[test]
fn a_scroll_page_answered_with_html_restarts_the_scroll_and_says_why() {
    let world = World::generate(2, Size::small());
    let companies = world.companies.len();
    let options = fake_intercom::Options {
        scroll_expiry: Duration::from_secs(2),
        ..test_options()
    };
    let fake = fake_with(world, options);
    fake.add_fault(Fault::new("/companies/scroll", FaultKind::NotJson).skip(1));
    let out = Tap::against(&fake)
        .set("max_retries", json!(0))
        .catalog(meltano_catalog(&["companies"], &[]))
        .run();
    out.ok();
    assert!(out.stderr.contains("restarting the scroll"), "{}", out.stderr);
    assert!(
        out.stderr.contains("not JSON"),
        "the reason is in the log:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the scroll abandoned above stays open"),
        "why the tap waits is in the log:\n{}",
        out.stderr
    );
    assert_eq!(ids(&out, "companies").len(), companies);
}

#[test]
fn an_undeclared_property_is_reported_once_and_a_deselected_one_never() {
    let fake = fake();
    {
        let mut world = fake.world();
        for contact in world.contacts.iter_mut().take(3) {
            contact["brand_new_field"] = json!("x");
            contact["location"]["zip_plus_four"] = json!("1234");
        }
    }
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["contacts"], &[("contacts", "email")]))
        .run();
    out.ok();
    let warned = |path: &str| {
        out.stderr
            .lines()
            .filter(|l| l.contains("WARNING") && l.contains(&format!("sent {path},")))
            .count()
    };
    assert_eq!(warned("brand_new_field"), 1, "{}", out.stderr);
    assert_eq!(warned("location.zip_plus_four"), 1, "{}", out.stderr);
    assert_eq!(warned("email"), 0, "a deselected field is not reported");
    assert!(
        out.stderr.contains("\"metric\":\"undeclared_property\""),
        "a metric too"
    );
    assert!(
        out.records("contacts")
            .iter()
            .all(|r| r.get("brand_new_field").is_none())
    );
}

#[test]
fn contacts_lists_fetched_whole_keep_their_fields() {
    let fake = fake();
    let out = Tap::against(&fake).catalog(meltano_catalog(&["contacts"], &[])).run();
    out.ok().check_protocol();
    let full = out
        .records("contacts")
        .into_iter()
        .flat_map(|c| c["tags"].as_array().cloned().unwrap_or_default())
        .find(|t| t.get("name").is_some_and(|n| !n.is_null()));
    let tag = full.expect("some contact's tags were fetched whole");
    assert!(
        tag["applied_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "applied_at is a date-time: {tag}"
    );
}
