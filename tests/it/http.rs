//! The HTTP client under a misbehaving Intercom: rate limits, server errors, cut bodies.

use std::process::Stdio;
use std::time::Duration;

use fake_intercom::{Fault, FaultKind, Options, RateLimit, Size, World};
use serde_json::json;

use crate::full_table::FOUNDATION;
use crate::support::{Run, Tap, fake, fake_with, meltano_catalog, requests_to};

fn complete(run: &Run, fake: &fake_intercom::FakeIntercom) {
    run.ok();
    let w = fake.world();
    assert_eq!(run.records("admins").len(), w.admins.len());
    assert_eq!(run.records("tags").len(), w.tags.len());
    assert_eq!(run.records("help_center_collections").len(), w.collections.len());
    for stream in FOUNDATION {
        assert!(run.schemas().contains(stream), "{stream} missing");
    }
}

#[test]
fn server_errors_cut_bodies_and_dropped_connections_are_retried() {
    let fake = fake();
    fake.add_fault(Fault::new("/admins", FaultKind::Status(500)).times(2));
    fake.add_fault(Fault::new("/tags", FaultKind::Status(503)));
    fake.add_fault(Fault::new("/teams", FaultKind::Truncated));
    fake.add_fault(Fault::new("/help_center/collections", FaultKind::NotJson));
    fake.add_fault(Fault::new("/ticket_types", FaultKind::Dropped));
    fake.add_fault(Fault::new("/segments", FaultKind::Status(502)));
    let out = Tap::against(&fake).run();
    complete(&out, &fake);
    assert_eq!(requests_to(&fake, "/admins").len(), 3);
    assert!(out.stderr.contains("retry 1 of 5"), "{}", out.stderr);
}

#[test]
fn rate_limit_bursts_are_waited_out() {
    let fake = fake();
    fake.add_fault(Fault::new("/", FaultKind::RateLimited).skip(3).times(4));
    let out = Tap::against(&fake).run();
    complete(&out, &fake);
    assert!(out.stderr.contains("rate limited (429)"));
}

#[test]
fn the_tap_paces_itself_from_the_headers_and_never_hits_the_limit() {
    // Five requests a second; the foundation's streams need about thirty.
    let options = Options {
        rate_limit: Some(RateLimit {
            limit: 5,
            window_secs: 1,
        }),
        ..Options::default()
    };
    let fake = fake_with(World::generate(1, Size::small()), options);
    let out = Tap::against(&fake).catalog(meltano_catalog(FOUNDATION, &[])).run();
    complete(&out, &fake);
    let limited = fake.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(
        limited, 0,
        "the tap should wait for the window instead of collecting 429s"
    );
}

#[test]
fn slow_answers_time_out_and_are_retried() {
    let fake = fake();
    fake.add_fault(Fault::new("/teams", FaultKind::Slow(Duration::from_secs(3))));
    let out = Tap::against(&fake).set("request_timeout", json!(0.5)).run();
    complete(&out, &fake);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

#[test]
fn retries_are_bounded_and_the_failure_names_the_request() {
    let fake = fake();
    fake.add_fault(Fault::new("/tags", FaultKind::Status(500)).times(100));
    let out = Tap::against(&fake).set("max_retries", json!(2)).run();
    let line = out.failure_line();
    assert_eq!(out.code, Some(1));
    assert!(
        line.contains("tags: GET /tags failed with HTTP 500 after 3 attempts"),
        "{line}"
    );
    assert!(
        line.contains("code server_error") && line.contains("request_id fake-500-server_error"),
        "{line}"
    );
    assert_eq!(requests_to(&fake, "/tags").len(), 3);
    // The streams that finished kept their state: the last STATE is still written.
    assert_eq!(out.messages.last().unwrap()["type"], "STATE");
}

#[test]
fn a_bad_token_stops_the_run_with_one_clear_line() {
    let fake = fake();
    let out = Tap::against(&fake).set("access_token", json!("wrong-token-0000")).run();
    let line = out.failure_line();
    assert_eq!(out.code, Some(1));
    assert!(
        line.contains("HTTP 401") && line.contains("code unauthorized"),
        "{line}"
    );
    assert!(!out.stderr.contains("wrong-token-0000") && !out.stdout.contains("wrong-token-0000"));
    // One failure, one message: the token is checked before any stream starts, so no stream
    // fails with a line of its own.
    assert!(line.contains("GET /me"), "{line}");
    let others: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.contains("CRITICAL") && !l.contains("METRIC"))
        .collect();
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(requests_to(&fake, "/").len(), 1, "one request, then nothing");
}

#[test]
fn a_forbidden_stream_is_skipped_with_a_warning() {
    let fake = fake();
    fake.add_fault(Fault::new("/help_center/", FaultKind::Status(403)).times(10));
    let out = Tap::against(&fake)
        .catalog(meltano_catalog(&["help_centers", "tags"], &[]))
        .run();
    out.ok();
    assert!(out.records("help_centers").is_empty());
    assert_eq!(out.records("tags").len(), fake.world().tags.len());
    assert!(
        out.stderr
            .contains("help_centers: skipped: the access token may not read it"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_token_never_appears_in_any_output() {
    let fake = fake_with(
        World::generate(1, Size::small()),
        Options {
            token: "tok-SECRET-9876543210".into(),
            ..crate::support::test_options()
        },
    );
    fake.add_fault(Fault::new("/tags", FaultKind::Status(500)).times(100));
    for level in ["debug", "info"] {
        let out = Tap::against(&fake)
            .set("access_token", json!("tok-SECRET-9876543210"))
            .set("max_retries", json!(1))
            .env("TAP_INTERCOM_LOG_LEVEL", level)
            .run();
        assert!(!out.stdout.contains("SECRET"), "token on stdout");
        assert!(!out.stderr.contains("SECRET"), "token on stderr");
    }
}

#[test]
fn a_closed_stdout_is_an_error_not_success() {
    let fake = fake();
    let tap = Tap::against(&fake);
    let mut child = tap
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The target died before reading anything.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let run = Run::new(output.status.code(), &output.stdout, &output.stderr);
    let line = run.failure_line();
    assert!(line.contains("writing to stdout failed"), "{line}");
}
