//! Conversations and their parts.
//!
//! Conversations come from the search; their parts only from `GET /conversations/{id}`, one
//! request per changed conversation, many in flight at once. A page's bookmark is saved only
//! after every part of every conversation on it has been written. A conversation deleted
//! between the search and the fetch (404) is skipped with a warning. Intercom returns at most
//! the 500 newest parts of a conversation; when `total_count` says there are more, or when the
//! parts fill the cap, the log and a metric name the conversation.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::Error;
use crate::http::encode;
use crate::parallel;
use crate::streams::search::{self, Pages, Search};
use crate::sync::Job;
use crate::warn;

const SEARCH: Search = Search {
    path: "/conversations/search",
    records: "conversations",
    role: None,
};

pub fn run(job: &Job<'_>, child: Option<&Job<'_>>) -> Result<(), Error> {
    let from = earliest(job, child);
    let mut pages = Conversations { job, child };
    search::run(job, &SEARCH, from, &mut pages)?;
    pages.progress(job.run().started_at)
}

/// Where a search feeding a parent and its child starts: the earlier of their starts.
pub fn earliest(job: &Job<'_>, child: Option<&Job<'_>>) -> Option<DateTime<Utc>> {
    let starts = std::iter::once(job)
        .chain(child)
        .filter(|j| j.plan().emit)
        .map(|j| j.plan().start);
    starts.reduce(|a, b| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    })?
}

struct Conversations<'a, 'b> {
    job: &'a Job<'b>,
    child: Option<&'a Job<'b>>,
}

impl Pages for Conversations<'_, '_> {
    fn page(&mut self, items: Vec<Value>, extracted: &str) -> Result<(), Error> {
        let mut wanted = Vec::new();
        for item in items {
            let at = self.job.replication_value(&item, "updated_at")?;
            if let Some(child) = self.child {
                if child.in_range(at) {
                    wanted.push(id_of(self.job, &item)?);
                }
            }
            if self.job.in_range(at) {
                self.job.emit(item, extracted)?;
            }
        }
        if let Some(child) = self.child {
            parallel::for_each(&wanted, self.job.settings().max_concurrency, |id| parts(child, id))?;
        }
        Ok(())
    }

    fn progress(&mut self, at: DateTime<Utc>) -> Result<(), Error> {
        self.job.save_bookmark(at)?;
        self.child.map_or(Ok(()), |c| c.save_bookmark(at))
    }
}

fn id_of(job: &Job<'_>, item: &Value) -> Result<String, Error> {
    match item.get("id") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(job.bad_record(item, "has no id")),
    }
}

/// Fetches one conversation and writes its parts.
fn parts(child: &Job<'_>, id: &String) -> Result<(), Error> {
    let path = format!("/conversations/{}?display_as=plaintext", encode(id));
    let Some(conversation) = child.get_unless_gone(&path)? else {
        warn!(
            "{}: conversation {id} was deleted after the search found it; its parts are skipped",
            child.name()
        );
        child.counter("conversations_deleted_during_sync", 1, json!({"conversation_id": id}));
        return Ok(());
    };
    let extracted = child.now();
    let list = &conversation["conversation_parts"];
    let parts = list["conversation_parts"].as_array().cloned().unwrap_or_default();
    let total = list["total_count"].as_u64();
    report_truncation(child, "conversation", id, parts.len(), total);
    report_cap_reached(child, id, parts.len(), total);
    for mut part in parts {
        if let Some(part) = part.as_object_mut() {
            part.insert("conversation_id".into(), json!(id));
            part.insert("conversation_created_at".into(), conversation["created_at"].clone());
            part.insert("conversation_updated_at".into(), conversation["updated_at"].clone());
            part.insert("conversation_total_parts".into(), json!(total));
        }
        child.emit(part, &extracted)?;
    }
    Ok(())
}

/// Intercom's most parts of one conversation: the newest 500.
const PARTS_CAP: usize = 500;

/// Says so when a conversation's parts fill Intercom's cap but `total_count` shows no more:
/// what `total_count` counts is undocumented, so a full list may still be cut short.
fn report_cap_reached(child: &Job<'_>, id: &str, returned: usize, total: Option<u64>) {
    let counted_more = total.is_some_and(|t| t > u64::try_from(returned).unwrap_or(u64::MAX));
    if returned >= PARTS_CAP && !counted_more {
        warn!(
            "{}: conversation {id} returned {returned} parts, Intercom's cap: older parts may exist that Intercom does not return",
            child.name()
        );
        child.counter("parts_at_cap", 1, json!({"parent": "conversation", "parent_id": id}));
    }
}

/// Says so when Intercom returned fewer parts than the parent has (its cap is 500).
pub fn report_truncation(child: &Job<'_>, parent: &str, id: &str, returned: usize, total: Option<u64>) {
    let returned = u64::try_from(returned).unwrap_or(u64::MAX);
    if let Some(total) = total.filter(|t| *t > returned) {
        warn!(
            "{}: {parent} {id} has {total} parts but Intercom returns only the newest {returned}; {} older parts cannot be read",
            child.name(),
            total - returned
        );
        child.counter(
            "parts_truncated",
            total - returned,
            json!({"parent": parent, "parent_id": id, "returned": returned, "total": total}),
        );
    }
}
