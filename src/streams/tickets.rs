//! Tickets and their parts. The search already carries each ticket's parts, so the child costs
//! no request unless a ticket's list is cut short, when the ticket is fetched on its own (and
//! skipped with a warning if it was deleted after the search found it).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::Error;
use crate::http::encode;
use crate::parallel;
use crate::streams::conversations::{earliest, report_truncation};
use crate::streams::search::{self, Pages, Search};
use crate::sync::Job;
use crate::warn;

const SEARCH: Search = Search {
    path: "/tickets/search",
    records: "tickets",
    role: None,
};

pub fn run(job: &Job<'_>, child: Option<&Job<'_>>) -> Result<(), Error> {
    let from = earliest(job, child);
    let mut pages = Tickets { job, child };
    search::run(job, &SEARCH, from, &mut pages)?;
    pages.progress(job.run().started_at)
}

struct Tickets<'a, 'b> {
    job: &'a Job<'b>,
    child: Option<&'a Job<'b>>,
}

fn parts_of(ticket: &Value) -> (Vec<Value>, Option<u64>) {
    let list = &ticket["ticket_parts"];
    (
        list["ticket_parts"].as_array().cloned().unwrap_or_default(),
        list["total_count"].as_u64(),
    )
}

impl Pages for Tickets<'_, '_> {
    fn page(&mut self, items: Vec<Value>, extracted: &str) -> Result<(), Error> {
        let mut complete = Vec::new();
        let mut cut_short = Vec::new();
        for item in items {
            let at = self.job.replication_value(&item, "updated_at")?;
            if self.child.is_some_and(|c| c.in_range(at)) {
                let (parts, total) = parts_of(&item);
                let ticket = Ticket::of(&item);
                if total.is_some_and(|t| t > u64::try_from(parts.len()).unwrap_or(u64::MAX)) {
                    cut_short.push(ticket);
                } else {
                    complete.push((ticket, parts, total));
                }
            }
            if self.job.in_range(at) {
                self.job.emit(item, extracted)?;
            }
        }
        if let Some(child) = self.child {
            for (ticket, parts, total) in complete {
                ticket.write(child, parts, total, extracted)?;
            }
            parallel::for_each(&cut_short, self.job.settings().max_concurrency, |ticket| {
                let Some(full) = child.get_unless_gone(&format!("/tickets/{}", encode(&ticket.id)))? else {
                    warn!(
                        "{}: ticket {} was deleted after the search found it; its parts are skipped",
                        child.name(),
                        ticket.id
                    );
                    child.counter("tickets_deleted_during_sync", 1, json!({"ticket_id": ticket.id}));
                    return Ok(());
                };
                let (parts, total) = parts_of(&full);
                report_truncation(child, "ticket", &ticket.id, parts.len(), total);
                ticket.write(child, parts, total, &child.now())
            })?;
        }
        Ok(())
    }

    fn progress(&mut self, at: DateTime<Utc>) -> Result<(), Error> {
        self.job.save_bookmark(at)?;
        self.child.map_or(Ok(()), |c| c.save_bookmark(at))
    }
}

/// What each part of a ticket carries of it.
struct Ticket {
    id: String,
    created_at: Value,
    updated_at: Value,
}

impl Ticket {
    fn of(item: &Value) -> Ticket {
        Ticket {
            id: match &item["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            created_at: item["created_at"].clone(),
            updated_at: item["updated_at"].clone(),
        }
    }

    fn write(&self, child: &Job<'_>, parts: Vec<Value>, total: Option<u64>, extracted: &str) -> Result<(), Error> {
        for mut part in parts {
            if let Some(part) = part.as_object_mut() {
                part.insert("ticket_id".into(), json!(self.id));
                part.insert("ticket_created_at".into(), self.created_at.clone());
                part.insert("ticket_updated_at".into(), self.updated_at.clone());
                part.insert("ticket_total_parts".into(), json!(total));
            }
            child.emit(part, extracted)?;
        }
        Ok(())
    }
}
