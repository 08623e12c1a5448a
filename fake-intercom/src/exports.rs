//! Intercom's asynchronous exports (its API description's "Reporting Data Export" and "Data
//! Export"): the reporting datasets with their attributes (`get_datasets`, with `qualified_id`
//! from 2.16, and a custom attribute the workspace added to conversations), jobs that move
//! through their states as they are polled (or as time passes), 429s at the pending limits
//! (5 reporting jobs, 1 message data job), and downloads: CSV or gzipped CSV for the reporting
//! data, a ZIP of one CSV per kind of interaction or one gzipped CSV for the message data.
//! Reporting times are written as `YYYY-MM-DD HH:MM:SS` in the workspace's time zone (that of
//! `GET /me`), many "id" columns hold display names beside a `*_raw_id`; the message data has
//! Unix seconds. The rows are a pure function of the time ([`reporting_rows`],
//! [`receipts`]), so that tests know what each window holds.
//!
//! Tests steer it with [`Settings`] (`FakeIntercom::exports`), checks that run the fake as its
//! own process with `POST /_fake/exports?…` (see [`Settings::from_query`]).

// Row numbers, places in short lists and seconds of a window: small numbers, whatever the cast.
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use chrono::{DateTime, TimeZone};
use serde_json::{Value, json};

use crate::reply::{error, ok};
use crate::server::{Delivery, Request, Response};
use crate::versions::Version;

/// The workspace's time zone, as `GET /me` names it.
pub const ZONE: &str = "America/New_York";

/// A custom attribute the workspace added to the conversation dataset: its id and label. Its
/// column in a download is headed by its label, as Intercom does for custom attributes.
pub const CUSTOM: (&str, &str) = ("custom_attribute_tier", "Tier");

/// How an attribute's values look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// A time, in the workspace's zone.
    Time,
    Count,
    /// A length of time in seconds, with a fraction.
    Seconds,
    /// A display value: a name, localised, with a comma and an accent.
    Display,
    Text,
    Id,
}

pub struct Dataset {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// `default_time_attribute_id`.
    pub time: &'static str,
    pub attributes: &'static [(&'static str, &'static str, Attr)],
}

pub const DATASETS: &[Dataset] = &[
    Dataset {
        id: "admin_status_change",
        name: "Teammate status changes",
        description: "Each period a teammate spent in a status (active, away, away and reassigning), with the away reason.",
        time: "status_started_at",
        attributes: &[
            ("teammate_id", "Teammate", Attr::Display),
            ("teammate_raw_id", "Teammate ID", Attr::Id),
            ("status", "Status", Attr::Display),
            ("away_reason", "Away reason", Attr::Display),
            ("status_started_at", "Status started at", Attr::Time),
            ("status_ended_at", "Status ended at", Attr::Time),
            ("status_duration", "Time in status (seconds)", Attr::Seconds),
        ],
    },
    Dataset {
        id: "call",
        name: "Calls",
        description: "One row per phone call: direction, state, the teammate and team, and its times.",
        time: "call_started_at",
        attributes: &[
            ("call_id", "Call ID", Attr::Id),
            ("conversation_id", "Conversation ID", Attr::Id),
            ("call_teammate_id", "Teammate", Attr::Display),
            ("call_team_id", "Team", Attr::Display),
            ("call_direction", "Direction", Attr::Display),
            ("call_state", "Call state", Attr::Display),
            ("call_started_at", "Call started at", Attr::Time),
            ("call_ended_at", "Call ended at", Attr::Time),
            ("call_duration", "Call duration (seconds)", Attr::Seconds),
            ("call_talk_time", "Talk time (seconds)", Attr::Seconds),
            ("call_queue_time", "Time in queue (seconds)", Attr::Seconds),
            ("voice_routing_inbox", "Inbox", Attr::Display),
        ],
    },
    Dataset {
        id: "call_team_stats",
        name: "Call team statistics",
        description: "Per call and team: the calls the team answered and missed.",
        time: "call_started_at",
        attributes: &[
            ("call_id", "Call ID", Attr::Id),
            ("call_team_id", "Team", Attr::Display),
            ("call_team_raw_id", "Team ID", Attr::Id),
            ("call_started_at", "Call started at", Attr::Time),
            ("call_team_answered_call_count", "Answered calls", Attr::Count),
            ("call_team_missed_call_count", "Missed calls", Attr::Count),
        ],
    },
    Dataset {
        id: "call_teammate_stats",
        name: "Call teammate statistics",
        description: "Per call and teammate: the calls the teammate declined and missed, and who ended the call.",
        time: "call_started_at",
        attributes: &[
            ("call_id", "Call ID", Attr::Id),
            ("call_teammate_id", "Teammate", Attr::Display),
            ("call_teammate_raw_id", "Teammate ID", Attr::Id),
            ("call_started_at", "Call started at", Attr::Time),
            ("call_teammate_declined_call_count", "Declined calls", Attr::Count),
            ("call_teammate_missed_call_count", "Missed calls", Attr::Count),
            ("call_terminating_party_type", "Ended by", Attr::Display),
        ],
    },
    Dataset {
        id: "consolidated_conversation_part",
        name: "Conversation actions",
        description: "One row per action in a conversation (reply, note, assignment, close...) with its time and response-time metrics; no part body, author or attachments.",
        time: "part_created_at",
        attributes: &[
            ("conversation_id", "Conversation ID", Attr::Id),
            ("conversation_part_id", "Conversation part ID", Attr::Id),
            ("part_created_at", "Action time", Attr::Time),
            ("action_type", "Action", Attr::Display),
            ("teammate_id", "Teammate", Attr::Display),
            ("teammate_raw_id", "Teammate ID", Attr::Id),
            (
                "team_first_response_time_in_office_hours",
                "Team first response time in office hours (seconds)",
                Attr::Seconds,
            ),
            (
                "teammate_first_response_time_in_office_hours",
                "Teammate first response time in office hours (seconds)",
                Attr::Seconds,
            ),
        ],
    },
    Dataset {
        id: "conversation",
        name: "Conversations",
        description: "One row per conversation started in the window: state, channel, who started it, assignment, first response and close times, rating.",
        time: "conversation_started_at",
        attributes: &[
            ("conversation_id", "Conversation ID", Attr::Id),
            ("conversation_started_at", "Conversation started at", Attr::Time),
            ("conversation_state", "Conversation state", Attr::Display),
            ("channel", "Channel", Attr::Display),
            ("conversation_started_by", "Started by", Attr::Display),
            ("currently_assigned_team_id", "Team currently assigned", Attr::Display),
            ("currently_assigned_team_raw_id", "Team currently assigned ID", Attr::Id),
            (
                "currently_assigned_teammate_id",
                "Teammate currently assigned",
                Attr::Display,
            ),
            (
                "currently_assigned_teammate_raw_id",
                "Teammate currently assigned ID",
                Attr::Id,
            ),
            ("first_closing_teammate_id", "Teammate who first closed", Attr::Display),
            (
                "first_closing_teammate_raw_id",
                "Teammate who first closed ID",
                Attr::Id,
            ),
            ("first_response_time", "First response time (seconds)", Attr::Seconds),
            ("time_to_first_close", "Time to first close (seconds)", Attr::Seconds),
            ("conversation_rating", "Conversation rating", Attr::Count),
            ("last_closed_at", "Last closed at", Attr::Time),
        ],
    },
    Dataset {
        id: "conversation_rating_sent",
        name: "Conversation ratings",
        description: "Each rating request sent in a conversation, the rating and remark given, and the teammate rated.",
        time: "rating_requested_at",
        attributes: &[
            ("conversation_id", "Conversation ID", Attr::Id),
            ("rating_requested_at", "Rating requested at", Attr::Time),
            ("conversation_rating", "Rating", Attr::Count),
            ("rated_teammate_id", "Teammate rated", Attr::Display),
            ("rated_teammate_raw_id", "Teammate rated ID", Attr::Id),
            ("rating_remark", "Remark", Attr::Text),
        ],
    },
    Dataset {
        id: "conversation_sla_status_log",
        name: "SLA status log",
        description: "Each change of an SLA's status on a conversation: the SLA, its metric, hit or missed, and the team and teammate it is attributed to.",
        time: "sla_status_updated_at",
        attributes: &[
            ("conversation_id", "Conversation ID", Attr::Id),
            ("sla_name", "SLA name", Attr::Text),
            ("sla_metric_type", "SLA metric", Attr::Display),
            ("sla_state", "SLA status", Attr::Display),
            ("sla_status_updated_at", "SLA status updated at", Attr::Time),
            ("channel", "Channel", Attr::Display),
            ("currently_assigned_team_id", "Team currently assigned", Attr::Display),
            (
                "sla_attributed_to_teammate_id",
                "Teammate the SLA is attributed to",
                Attr::Display,
            ),
        ],
    },
    Dataset {
        id: "conversation_state",
        name: "Conversation states",
        description: "Each period a conversation spent in a state (open, snoozed, closed).",
        time: "state_started_at",
        attributes: &[
            ("conversation_id", "Conversation ID", Attr::Id),
            ("conversation_state", "Conversation state", Attr::Display),
            ("state_started_at", "State started at", Attr::Time),
            ("state_ended_at", "State ended at", Attr::Time),
            ("state_duration", "Time in state (seconds)", Attr::Seconds),
        ],
    },
    Dataset {
        id: "copilot_prompt_response_pair",
        name: "Copilot prompts and answers",
        description: "Each question a teammate asked Copilot, and what became of the answer.",
        time: "prompt_sent_at",
        attributes: &[
            ("conversation_id", "Conversation ID", Attr::Id),
            ("teammate_id", "Teammate", Attr::Display),
            ("teammate_raw_id", "Teammate ID", Attr::Id),
            ("prompt_sent_at", "Prompt sent at", Attr::Time),
            ("copilot_answer_status", "Answer status", Attr::Display),
            ("copilot_sources_count", "Sources used", Attr::Count),
        ],
    },
    Dataset {
        id: "teammate_handling_conversation",
        name: "Teammates handling conversations",
        description: "Each period a teammate handled a conversation, and its handling time.",
        time: "handling_started_at",
        attributes: &[
            ("conversation_id", "Conversation ID", Attr::Id),
            ("teammate_id", "Teammate", Attr::Display),
            ("teammate_raw_id", "Teammate ID", Attr::Id),
            ("handling_started_at", "Handling started at", Attr::Time),
            ("handling_ended_at", "Handling ended at", Attr::Time),
            ("handling_time", "Handling time (seconds)", Attr::Seconds),
        ],
    },
    Dataset {
        id: "ticket_time_in_state",
        name: "Ticket time in state",
        description: "Each period a ticket spent in a ticket state, and its length.",
        time: "state_started_at",
        attributes: &[
            ("ticket_id", "Ticket ID", Attr::Id),
            ("ticket_state", "Ticket state", Attr::Display),
            ("ticket_state_raw_id", "Ticket state ID", Attr::Id),
            ("state_started_at", "State started at", Attr::Time),
            ("state_ended_at", "State ended at", Attr::Time),
            ("time_in_state", "Time in state (seconds)", Attr::Seconds),
        ],
    },
    Dataset {
        id: "tickets",
        name: "Tickets",
        description: "One row per ticket created in the window: type, state, category, title and assignment, and its time to resolve.",
        time: "ticket_created_at",
        attributes: &[
            ("ticket_id", "Ticket ID", Attr::Id),
            ("ticket_created_at", "Ticket created at", Attr::Time),
            ("ticket_type", "Ticket type", Attr::Display),
            ("ticket_type_raw_id", "Ticket type ID", Attr::Id),
            ("ticket_state", "Ticket state", Attr::Display),
            ("ticket_category", "Ticket category", Attr::Display),
            ("ticket_title", "Ticket title", Attr::Text),
            ("assigned_team_id", "Team assigned", Attr::Display),
            ("assigned_team_raw_id", "Team assigned ID", Attr::Id),
            ("time_to_resolve", "Time to resolve (seconds)", Attr::Seconds),
        ],
    },
];

pub fn dataset(id: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.id == id)
}

/// A value as the truth holds it, before a download writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    Time(i64),
    Int(i64),
    Num(f64),
    Text(String),
}

/// The kinds of interaction of the message data, as its ZIP names their files, each with the
/// column of its time and the one-CSV form's column of its first time.
pub const KINDS: &[(&str, &str, &str)] = &[
    ("opens", "opened_at", "first_open"),
    ("clicks", "clicked_at", "first_click"),
    ("replies", "replied_at", "first_reply"),
    ("completions", "completed_at", "first_completion"),
    ("dismissals", "dismissed_at", "first_dismisall"),
    ("unsubscribes", "unsubscribed_at", "first_unsubscribe"),
    ("hard_bounces", "bounced_at", "first_hard_bounce"),
    ("survey_answers", "answered_at", ""),
];

/// How the fake's exports behave; tests change it while the fake runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Polls of a job before it completes (it also completes this many seconds after it
    /// was enqueued, as real jobs do without being asked).
    pub polls: u32,
    /// Rows of each reporting dataset, and receipts, per day.
    pub per_day: i64,
    /// No data before this time (Unix seconds): the message data says `no_data` there.
    pub data_from: i64,
    /// Reporting downloads gzipped.
    pub gzip_reporting: bool,
    /// Message data as one gzipped CSV instead of a ZIP.
    pub one_csv: bool,
    /// Headers by qualified id (`conversation.conversation_id`), as 2.16 allows.
    pub qualified_headers: bool,
    /// The next jobs that fail, by dataset (`content` for the message data), and how many.
    pub fail: HashMap<String, usize>,
    /// Enqueues answered 429 at the pending limit, whatever is pending.
    pub refuse: usize,
    /// Downloads answered 404, as after a job's two days.
    pub expire: usize,
    /// Receipts in each message data window, whatever its length: the large export.
    pub large: Option<u64>,
    /// Attributes (`dataset.attribute`) this workspace does not have: not listed, and refused
    /// in a job, as Intercom refuses an attribute it does not know.
    pub hidden: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            polls: 2,
            per_day: 4,
            data_from: 0,
            gzip_reporting: false,
            one_csv: false,
            qualified_headers: false,
            fail: HashMap::new(),
            refuse: 0,
            expire: 0,
            large: None,
            hidden: Vec::new(),
        }
    }
}

impl Settings {
    /// `POST /_fake/exports?large=N&one_csv=1&gzip=1&qualified=1&polls=N&per_day=N&fail=DATASET&refuse=N&expire=N`.
    pub fn from_query(&mut self, req: &Request) -> Result<(), String> {
        let number = |key: &str| -> Result<Option<i64>, String> {
            req.query(key)
                .map(|v| v.parse::<i64>().map_err(|_| format!("{key} {v} is not a number")))
                .transpose()
        };
        let flag = |key: &str| req.query(key).map(|v| v == "1" || v == "true");
        if let Some(n) = number("large")? {
            self.large = (n > 0).then_some(n.unsigned_abs());
        }
        if let Some(n) = number("polls")? {
            self.polls = u32::try_from(n).map_err(|_| "polls out of range".to_owned())?;
        }
        if let Some(n) = number("per_day")? {
            self.per_day = n.max(1);
        }
        if let Some(n) = number("refuse")? {
            self.refuse = usize::try_from(n).unwrap_or(0);
        }
        if let Some(n) = number("expire")? {
            self.expire = usize::try_from(n).unwrap_or(0);
        }
        if let Some(d) = req.query("fail") {
            *self.fail.entry(d).or_default() += 1;
        }
        if let Some(f) = flag("one_csv") {
            self.one_csv = f;
        }
        if let Some(f) = flag("gzip") {
            self.gzip_reporting = f;
        }
        if let Some(f) = flag("qualified") {
            self.qualified_headers = f;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum What {
    Reporting {
        dataset: &'static str,
        attributes: Vec<String>,
    },
    Content,
}

#[derive(Debug, Clone)]
struct Job {
    what: What,
    from: i64,
    to: i64,
    polls: u32,
    enqueued: Instant,
    fails: bool,
    /// Over: completed, failed or canceled.
    over: Option<&'static str>,
}

impl Job {
    fn pending(&self, polls: u32) -> bool {
        self.over.is_none() && self.polls < polls && self.enqueued.elapsed().as_secs() < u64::from(polls.max(1))
    }
}

/// The fake's export jobs and settings.
#[derive(Debug, Default)]
pub struct Exports {
    pub settings: Settings,
    jobs: HashMap<String, Job>,
    next: u64,
}

/// The answer to an export request, or `None` for other paths.
pub fn route(exports: &mut Exports, req: &Request, version: Version) -> Option<Response> {
    let path = req.path().to_owned();
    let method = req.method.as_str();
    let answer = match (method, path.as_str()) {
        ("GET", "/export/reporting_data/get_datasets") => ok(datasets(version, &exports.settings.hidden)),
        ("POST", "/export/reporting_data/enqueue") => exports.enqueue_reporting(req),
        ("POST", "/export/content/data") => exports.enqueue_content(req),
        ("GET", p) if p.starts_with("/export/reporting_data/") => exports.status(&p[23..], true),
        ("GET", p) if p.starts_with("/export/content/data/") => exports.status(&p[21..], false),
        ("POST", p) if p.starts_with("/export/cancel/") => exports.cancel(&p[15..]),
        ("GET", p) if p.starts_with("/download/reporting_data/") => exports.download(&p[25..], req),
        ("GET", p) if p.starts_with("/download/content/data/") => exports.download(&p[23..], req),
        _ => return None,
    };
    Some(answer)
}

fn datasets(version: Version, hidden: &[String]) -> Value {
    let data: Vec<Value> = DATASETS
        .iter()
        .map(|d| {
            let mut attributes: Vec<(&str, &str)> = d.attributes.iter().map(|(id, name, _)| (*id, *name)).collect();
            if d.id == "conversation" {
                attributes.push(CUSTOM);
            }
            let attributes: Vec<Value> = attributes
                .iter()
                .filter(|(id, _)| !hidden.contains(&format!("{}.{id}", d.id)))
                .map(|(id, name)| {
                    let mut a = json!({"id": id, "name": name});
                    if version >= Version::V2_16 {
                        a["qualified_id"] = json!(format!("{}.{id}", d.id));
                    }
                    a
                })
                .collect();
            json!({"id": d.id, "name": d.name, "description": d.description,
                   "default_time_attribute_id": d.time, "attributes": attributes})
        })
        .collect();
    json!({"type": "list", "data": data})
}

fn body(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap_or(Value::Null)
}

fn job_answer(id: &str, status: &str) -> Response {
    ok(json!({"job_identifier": id, "status": status, "download_url": "", "download_expires_at": ""}))
}

impl Exports {
    fn pending(&self, reporting: bool) -> usize {
        self.jobs
            .values()
            .filter(|j| matches!(j.what, What::Reporting { .. }) == reporting && j.pending(self.settings.polls))
            .count()
    }

    fn add(&mut self, what: What, from: i64, to: i64, name: &str) -> Response {
        self.next += 1;
        let id = format!("job{}", self.next);
        let fails = match self.settings.fail.get_mut(name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        self.jobs.insert(
            id.clone(),
            Job {
                what,
                from,
                to,
                polls: 0,
                enqueued: Instant::now(),
                fails,
                over: None,
            },
        );
        job_answer(&id, "pending")
    }

    fn refused(&mut self, reporting: bool) -> Option<Response> {
        let limit = if reporting { 5 } else { 1 };
        if self.settings.refuse > 0 || self.pending(reporting) >= limit {
            self.settings.refuse = self.settings.refuse.saturating_sub(1);
            let what = if reporting {
                "5 pending reporting dataset"
            } else {
                "1 pending message data"
            };
            return Some(error(
                429,
                "rate_limit_exceeded",
                &format!("Exceeded rate limit of {what} export jobs"),
            ));
        }
        None
    }

    fn enqueue_reporting(&mut self, req: &Request) -> Response {
        let b = body(req);
        let Some(d) = b["dataset_id"].as_str() else {
            return error(400, "bad_request", "'dataset_id' is a required parameter");
        };
        let Some(dataset) = dataset(d) else {
            return error(400, "bad_request", &format!("{d} is not a valid dataset_id"));
        };
        let Some(ids) = b["attribute_ids"].as_array() else {
            return error(400, "bad_request", "'attribute_ids' is a required parameter");
        };
        let mut attributes = Vec::new();
        for id in ids {
            let id = id.as_str().unwrap_or_default();
            let id = id.strip_prefix(&format!("{}.", dataset.id)).unwrap_or(id);
            let custom = id == CUSTOM.0 && dataset.id == "conversation";
            let hidden = self.settings.hidden.contains(&format!("{}.{id}", dataset.id));
            if hidden || (!custom && !dataset.attributes.iter().any(|(a, _, _)| *a == id)) {
                return error(
                    400,
                    "bad_request",
                    &format!("attribute_ids invalid for {} dataset: {id}", dataset.id),
                );
            }
            attributes.push(id.to_owned());
        }
        if attributes.is_empty() {
            return error(
                400,
                "bad_request",
                "attribute_ids must contain at least one attribute_id",
            );
        }
        let (Some(from), Some(to)) = (b["start_time"].as_i64(), b["end_time"].as_i64()) else {
            return error(
                400,
                "bad_request",
                "'start_time' and 'end_time' are required parameters",
            );
        };
        if let Some(refused) = self.refused(true) {
            return refused;
        }
        self.add(
            What::Reporting {
                dataset: dataset.id,
                attributes,
            },
            from,
            to,
            dataset.id,
        )
    }

    fn enqueue_content(&mut self, req: &Request) -> Response {
        let b = body(req);
        let (Some(from), Some(to)) = (b["created_at_after"].as_i64(), b["created_at_before"].as_i64()) else {
            return error(
                400,
                "bad_request",
                "created_at_after and created_at_before are required",
            );
        };
        if let Some(refused) = self.refused(false) {
            return refused;
        }
        // The range is inclusive.
        self.add(What::Content, from, to + 1, "content")
    }

    fn status(&mut self, id: &str, reporting: bool) -> Response {
        let polls = self.settings.polls;
        let (per_day, data_from, large) = (self.settings.per_day, self.settings.data_from, self.settings.large);
        let Some(job) = self.jobs.get_mut(id) else {
            return error(404, "not_found", &format!("Export job not found for identifier: {id}"));
        };
        job.polls += 1;
        if job.over.is_none() && !job.pending(polls) {
            job.over = Some(if job.fails {
                "failed"
            } else if !reporting && large.is_none() && receipts(job.from.max(data_from), job.to, per_day).is_empty() {
                "no_data"
            } else if reporting {
                "complete"
            } else {
                "completed"
            });
        }
        let status = job.over.unwrap_or(if job.polls > 1 && !reporting {
            "in_progress"
        } else {
            "pending"
        });
        job_answer(id, status)
    }

    fn cancel(&mut self, id: &str) -> Response {
        match self.jobs.get_mut(id) {
            Some(job) => {
                job.over = Some("canceled");
                job_answer(id, "canceled")
            }
            None => error(404, "not_found", &format!("Export job not found for identifier: {id}")),
        }
    }

    fn download(&mut self, id: &str, req: &Request) -> Response {
        if req.header("accept") != Some("application/octet-stream") {
            return error(406, "not_acceptable", "Accept: application/octet-stream is required");
        }
        let Some(job) = self.jobs.get(id).cloned() else {
            return error(404, "not_found", &format!("Export job not found for identifier: {id}"));
        };
        if !matches!(job.over, Some("complete" | "completed")) {
            return error(404, "not_found", "The export is not ready");
        }
        if self.settings.expire > 0 {
            self.settings.expire -= 1;
            return error(404, "not_found", "The requested resource does not exist.");
        }
        let s = &self.settings;
        let body = match &job.what {
            What::Reporting { dataset, attributes } => {
                let csv = reporting_csv(
                    dataset,
                    attributes,
                    job.from.max(s.data_from),
                    job.to,
                    s.per_day,
                    s.qualified_headers,
                );
                if s.gzip_reporting { gzip(&csv) } else { csv }
            }
            What::Content => {
                let (from, to, per_day, large) = (job.from.max(s.data_from), job.to, s.per_day, s.large);
                let rows = move || -> Box<dyn Iterator<Item = Receipt>> {
                    match large {
                        Some(n) => Box::new(large_receipts(job.from, to, n)),
                        None => Box::new(receipts(from, to, per_day).into_iter()),
                    }
                };
                if s.one_csv {
                    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    one_csv(rows(), &mut enc);
                    enc.finish().unwrap_or_default()
                } else {
                    zip_of(&rows, large.is_none())
                }
            }
        };
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body,
            delivery: Delivery::Whole,
            delay: std::time::Duration::ZERO,
        }
    }
}

/// The times of a dataset's rows in `[from, to)`: `per_day` a day, each dataset shifted by
/// its place in the list so that they differ.
fn times(from: i64, to: i64, per_day: i64, shift: i64) -> impl Iterator<Item = (i64, i64)> {
    let step = (86_400 / per_day.max(1)).max(1);
    let first = (from - shift).div_euclid(step) + i64::from((from - shift).rem_euclid(step) != 0);
    (first..)
        .map(move |k| (k, k * step + shift))
        .take_while(move |(_, t)| *t < to)
}

/// A row of a reporting dataset: each attribute's value, `None` when empty.
pub type Row = Vec<(&'static str, Option<Truth>)>;

/// The rows of a reporting dataset whose time attribute is in `[from, to)`, each attribute
/// with its value (the custom attribute of conversations too): what a download holds, before
/// it is written.
pub fn reporting_rows(dataset: &Dataset, from: i64, to: i64, per_day: i64) -> Vec<Row> {
    let place = DATASETS.iter().position(|d| d.id == dataset.id).unwrap_or(0) as i64;
    times(from, to, per_day, 60 * (place + 1))
        .map(|(k, t)| {
            let mut row: Vec<(&'static str, Option<Truth>)> = dataset
                .attributes
                .iter()
                .enumerate()
                .map(|(j, (id, _, attr))| {
                    let j = j as i64;
                    let value = match attr {
                        Attr::Time if *id == dataset.time => Some(Truth::Time(t)),
                        // An end time that is not there yet, on every fifth row.
                        Attr::Time if k % 5 == 0 => None,
                        Attr::Time => Some(Truth::Time(t + 600 * (j + 1))),
                        Attr::Count => Some(Truth::Int((k * 7 + j) % 50)),
                        Attr::Seconds => Some(Truth::Num(((k * 13 + j) % 1000) as f64 + 0.5)),
                        Attr::Display => Some(Truth::Text(format!("Équipe {}, niveau {}", k % 3, j))),
                        Attr::Text => Some(Truth::Text(format!("\"Title\" {k}"))),
                        Attr::Id => Some(Truth::Text(format!("{}{k}", j + 1))),
                    };
                    (*id, value)
                })
                .collect();
            if dataset.id == "conversation" {
                row.push((
                    CUSTOM.0,
                    Some(Truth::Text(
                        ["Gold", "Silver", "Bronze"][k.rem_euclid(3) as usize].into(),
                    )),
                ));
            }
            row
        })
        .collect()
}

fn local(t: i64) -> String {
    let zone: chrono_tz::Tz = ZONE.parse().unwrap_or(chrono_tz::Tz::UTC);
    DateTime::from_timestamp(t, 0)
        .map(|u| {
            zone.from_utc_datetime(&u.naive_utc())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn cell(value: Option<&Truth>, local_times: bool) -> String {
    match value {
        None => String::new(),
        Some(Truth::Time(t)) if local_times => local(*t),
        Some(Truth::Time(t) | Truth::Int(t)) => t.to_string(),
        Some(Truth::Num(n)) => format!("{n:.1}"),
        Some(Truth::Text(s)) => s.clone(),
    }
}

fn csv_line(out: &mut Vec<u8>, cells: &[String]) {
    let line: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    out.extend_from_slice(line.join(",").as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn reporting_csv(dataset: &str, attributes: &[String], from: i64, to: i64, per_day: i64, qualified: bool) -> Vec<u8> {
    let Some(d) = self::dataset(dataset) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let headers: Vec<String> = attributes
        .iter()
        .map(|a| {
            if a == CUSTOM.0 {
                CUSTOM.1.to_owned()
            } else if qualified {
                format!("{dataset}.{a}")
            } else {
                a.clone()
            }
        })
        .collect();
    csv_line(&mut out, &headers);
    for row in reporting_rows(d, from, to, per_day) {
        let cells: Vec<String> = attributes
            .iter()
            .map(|a| cell(row.iter().find(|(id, _)| id == a).and_then(|(_, v)| v.as_ref()), true))
            .collect();
        csv_line(&mut out, &cells);
    }
    out
}

/// A receipt of the message data: its columns, and the interactions it had (kind, time,
/// and for survey answers the question and answer).
/// An interaction with a receipt: its kind (its file), its time, and for a survey answer
/// the question and the answer.
pub type Event = (&'static str, i64, Option<(String, String)>);

#[derive(Debug, Clone)]
pub struct Receipt {
    pub columns: Vec<(&'static str, String)>,
    pub events: Vec<Event>,
}

pub const RECEIPT_COLUMNS: &[&str] = &[
    "user_id",
    "user_external_id",
    "company_id",
    "email",
    "name",
    "ruleset_id",
    "content_id",
    "content_type",
    "content_title",
    "ruleset_version_id",
    "receipt_id",
    "received_at",
    "series_id",
    "series_title",
    "node_id",
];

fn receipt(k: i64, t: i64) -> Receipt {
    let columns = RECEIPT_COLUMNS
        .iter()
        .map(|c| {
            let v = match *c {
                "user_id" => format!("u{}", k % 97),
                "user_external_id" => format!("ext-{}", k % 97),
                "company_id" => {
                    if k % 4 == 0 {
                        "-1".into()
                    } else {
                        format!("c{}", k % 13)
                    }
                }
                "email" => format!("user{}@example.com", k % 97),
                "name" => format!("Zoë {}, Jr.", k % 97),
                "ruleset_id" => format!("{}", 500 + k % 7),
                "content_id" => format!("{}", 900 + k % 11),
                "content_type" => ["email", "post", "chat", "survey"][k.rem_euclid(4) as usize].into(),
                "content_title" => format!("Welcome \"{}\"", k % 7),
                "ruleset_version_id" => format!("{}", 7000 + k % 3),
                "receipt_id" => format!("r{k}"),
                "received_at" => t.to_string(),
                "series_id" => {
                    if k % 2 == 0 {
                        "-1".into()
                    } else {
                        format!("s{}", k % 5)
                    }
                }
                "series_title" => {
                    if k % 2 == 0 {
                        String::new()
                    } else {
                        format!("Series {}", k % 5)
                    }
                }
                _ => format!("n{}", k % 9),
            };
            (*c, v)
        })
        .collect();
    let mut events = Vec::new();
    for (i, (kind, _, _)) in KINDS.iter().enumerate() {
        let i = i as i64;
        if (k + i) % (i + 2) == 0 {
            let answer = (*kind == "survey_answers").then(|| ("How did we do?".to_owned(), format!("{} stars", k % 5)));
            events.push((*kind, t + 300 * (i + 1), answer));
        }
    }
    Receipt { columns, events }
}

/// The receipts of messages sent in `[from, to)`, `per_day` a day.
pub fn receipts(from: i64, to: i64, per_day: i64) -> Vec<Receipt> {
    times(from, to, per_day, 30).map(|(k, t)| receipt(k, t)).collect()
}

/// `n` receipts spread over `[from, to)`: the large export, made as it is written.
pub fn large_receipts(from: i64, to: i64, n: u64) -> impl Iterator<Item = Receipt> {
    let n = i64::try_from(n).unwrap_or(i64::MAX).max(1);
    let span = (to - from).max(1);
    (0..n).map(move |k| receipt(k, from + (k * span) / n))
}

fn kind_file(kind: &str, rows: impl Iterator<Item = Receipt>, out: &mut dyn Write) {
    let mut buf = Vec::new();
    let event_column = KINDS.iter().find(|(k, _, _)| *k == kind).map(|(_, c, _)| *c);
    let mut headers: Vec<String> = RECEIPT_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    match (kind, event_column) {
        ("receipts", _) => headers.extend(["conversation_id", "created_via", "device"].map(String::from)),
        ("survey_answers", Some(c)) => headers.extend([c.to_owned(), "question".into(), "answer".into()]),
        (_, Some(c)) => headers.push(c.to_owned()),
        _ => {}
    }
    csv_line(&mut buf, &headers);
    for r in rows {
        let base: Vec<String> = r.columns.iter().map(|(_, v)| v.clone()).collect();
        if kind == "receipts" {
            let mut cells = base.clone();
            cells.extend([String::new(), "api".into(), "web".into()]);
            csv_line(&mut buf, &cells);
        } else {
            for (k, t, answer) in &r.events {
                if *k == kind {
                    let mut cells = base.clone();
                    cells.push(t.to_string());
                    if let Some((q, a)) = answer {
                        cells.extend([q.clone(), a.clone()]);
                    }
                    csv_line(&mut buf, &cells);
                }
            }
        }
        if buf.len() > 1 << 20 {
            let _ = out.write_all(&buf);
            buf.clear();
        }
    }
    let _ = out.write_all(&buf);
}

/// The ZIP of the message data: one file per kind that has rows (`check`: look first; a large
/// export has every kind).
fn zip_of(rows: &dyn Fn() -> Box<dyn Iterator<Item = Receipt>>, check: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for kind in std::iter::once("receipts").chain(KINDS.iter().map(|(k, _, _)| *k)) {
        if check && kind != "receipts" && !rows().any(|r| r.events.iter().any(|(k, _, _)| *k == kind)) {
            continue; // a kind with no rows has no file
        }
        if zip.start_file(format!("{kind}_20240101_000000.csv"), options).is_err() {
            return Vec::new();
        }
        kind_file(kind, rows(), &mut zip);
    }
    zip.finish().map(std::io::Cursor::into_inner).unwrap_or_default()
}

/// The description's form: one CSV, a row per receipt, each interaction's first time in its
/// `first_*` column.
fn one_csv(rows: impl Iterator<Item = Receipt>, out: &mut dyn Write) {
    let mut buf = Vec::new();
    let mut headers: Vec<String> = RECEIPT_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    headers.extend(
        KINDS
            .iter()
            .filter(|(_, _, f)| !f.is_empty())
            .map(|(_, _, f)| (*f).to_owned()),
    );
    csv_line(&mut buf, &headers);
    for r in rows {
        let mut cells: Vec<String> = r.columns.iter().map(|(_, v)| v.clone()).collect();
        for (kind, _, _) in KINDS.iter().filter(|(_, _, f)| !f.is_empty()) {
            let t = r.events.iter().filter(|(k, _, _)| k == kind).map(|(_, t, _)| *t).min();
            cells.push(t.map(|t| t.to_string()).unwrap_or_default());
        }
        csv_line(&mut buf, &cells);
        if buf.len() > 1 << 20 {
            let _ = out.write_all(&buf);
            buf.clear();
        }
    }
    let _ = out.write_all(&buf);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}
