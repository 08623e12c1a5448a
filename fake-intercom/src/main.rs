//! `fake-intercom`: serves a generated workspace on loopback until stopped.
//!
//! ```text
//! fake-intercom [--addr 127.0.0.1:0] [--size small|demo|large] [--seed N] [--latency-ms N]
//!               [--jitter-ms N] [--rate-limit N] [--app-id ID] [--port-file PATH]
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` on stdout (and writes the URL to `--port-file`),
//! then serves until it is killed. `POST /_fake/evolve?every=N` (with the token) edits every
//! N-th record of the incremental streams and adds new ones, as happens between two syncs; it
//! answers with the ids it changed and added. `GET /_fake/summary` gives the records per stream.
//! `POST /_fake/fault?path=P&kind=K[&status=N][&method=GET|POST][&times=N][&skip=N]` (with the
//! token) makes the requests to `P` misbehave: the first `skip` (0) pass, the next `times` (1)
//! get `kind`, one of `status` (with `status=N`), `null_item`, `null_cursor`, `ignore_filter`,
//! `repeat_page`, `not_json`, `truncated`, `dropped`.

#![allow(clippy::print_stdout)] // the fake is not the tap: its stdout is for the person running it

use std::process::ExitCode;
use std::time::Duration;

use fake_intercom::{FakeIntercom, Options, RateLimit, Size, TOKEN, World};

/// The control endpoints, for `--help`.
const CONTROL_HELP: &str = "\
Control endpoints (with the token):
  POST /_fake/evolve?every=N   edit every N-th record and add new ones, as between two syncs
  GET  /_fake/summary          the records per stream a full sync reads
  GET  /_fake/windows          the requests counted in each rate-limit window so far
  POST /_fake/pace?latency_ms=N[&jitter_ms=J][&rate_limit=R]
                               from now on answers take N ms, give or take J (N/3), under R
                               requests per 10-second window (none when 0 or left out)
  POST /_fake/fault?path=P&kind=K[&status=N][&method=GET|POST][&times=N][&skip=N]
                               after the first `skip` (0) requests to P, the next `times` (1) get K:
                               status (with status=N), null_item, null_cursor, ignore_filter,
                               repeat_page, not_json, truncated or dropped
  POST /_fake/exports?large=N&one_csv=1&gzip=1&qualified=1&polls=N&per_day=N&fail=D&refuse=N&expire=N
                               how the exports behave: N receipts in each message data window,
                               message data as one gzipped CSV, reporting data gzipped or headed
                               by qualified ids, polls before a job completes, rows a day, the
                               next job of dataset D (content: message data) fails, N enqueues
                               refused at the pending limit, N downloads expired";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fake-intercom: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut addr = "127.0.0.1:0".to_owned();
    let mut size = Size::demo();
    let mut seed = 42;
    let mut options = Options::default();
    let mut port_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = value()?,
            "--size" => {
                let name = value()?;
                size = Size::named(&name).ok_or_else(|| format!("unknown size {name}: small, demo or large"))?;
            }
            "--seed" => seed = value()?.parse().map_err(|_| "--seed needs a number")?,
            "--latency-ms" => {
                let ms: u64 = value()?.parse().map_err(|_| "--latency-ms needs a number")?;
                options.latency = Duration::from_millis(ms);
            }
            "--jitter-ms" => {
                let ms: u64 = value()?.parse().map_err(|_| "--jitter-ms needs a number")?;
                options.jitter = Duration::from_millis(ms);
            }
            "--rate-limit" => {
                let limit: u64 = value()?.parse().map_err(|_| "--rate-limit needs a number")?;
                options.rate_limit = Some(RateLimit { limit, window_secs: 10 });
            }
            "--app-id" => options.app_id = value()?,
            "--port-file" => port_file = Some(value()?),
            "--help" | "-h" => {
                println!(
                    "fake-intercom [--addr 127.0.0.1:0] [--size small|demo|large] [--seed N] [--latency-ms N] [--jitter-ms N] [--rate-limit N-per-10s] [--app-id ID] [--port-file PATH]"
                );
                println!("Serves a fake Intercom workspace; the token is {TOKEN}.");
                println!("{CONTROL_HELP}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !addr.starts_with("127.") && !addr.starts_with("localhost") && !addr.starts_with("[::1]") {
        return Err(format!("refusing to listen on {addr}: the fake serves loopback only"));
    }
    let world = World::generate(seed, size);
    let fake = FakeIntercom::start_on(&addr, world, options).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    if let Some(path) = port_file {
        std::fs::write(&path, fake.url()).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    println!("listening on {}", fake.url());
    // Serve until killed; the server's threads do the work.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
