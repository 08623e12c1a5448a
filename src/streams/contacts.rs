//! Contacts (and the users and leads streams, the same search with a `role` filter).
//!
//! A contact carries its tags, companies, notes and subscription types as lists of at most 10
//! stubs with `has_more`. When a list is cut short and its field is selected, the full list is
//! fetched (many contacts at once); a deselected list costs no request.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Error;
use crate::http::encode;
use crate::parallel;
use crate::streams::pages::{self, Walk};
use crate::streams::search::{self, Pages, Search};
use crate::sync::Job;
use crate::warn;

/// The lists fetched from their own endpoint, and whether that endpoint is paged.
const LISTS: &[(&str, &str, bool)] = &[
    ("tags", "tags", false),
    ("companies", "companies", true),
    ("notes", "notes", true),
];

/// Both subscription lists come from `/contacts/{id}/subscriptions`, told apart by the
/// subscription type's consent: an opt-in type listed there is one the contact opted into, an
/// opt-out type one they opted out of (Intercom's description of the endpoint).
const SUBSCRIPTIONS: &[(&str, &str)] = &[
    ("opted_in_subscription_types", "opt_in"),
    ("opted_out_subscription_types", "opt_out"),
];

pub fn run(job: &Job<'_>, role: Option<&'static str>) -> Result<(), Error> {
    let search = Search {
        path: "/contacts/search",
        records: "data",
        role,
    };
    let mut pages = Contacts { job };
    search::run(job, &search, job.plan().start, &mut pages)?;
    pages.progress(job.run().started_at)
}

struct Contacts<'a, 'b> {
    job: &'a Job<'b>,
}

impl Pages for Contacts<'_, '_> {
    fn page(&mut self, items: Vec<Value>, extracted: &str) -> Result<(), Error> {
        let job = self.job;
        let mut wanted = Vec::new();
        for item in items {
            // Contact search matches by day: keep what is new.
            if job.in_range(job.replication_value(&item, "updated_at")?) {
                wanted.push(std::sync::Mutex::new(item));
            }
        }
        parallel::for_each(&wanted, job.settings().max_concurrency, |contact| {
            let mut contact = contact.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            complete_lists(job, &mut contact)
        })?;
        for contact in wanted {
            job.emit(
                contact.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner),
                extracted,
            )?;
        }
        Ok(())
    }

    fn progress(&mut self, at: DateTime<Utc>) -> Result<(), Error> {
        self.job.save_bookmark(at)
    }
}

fn cut_short(job: &Job<'_>, contact: &Value, field: &str) -> bool {
    job.plan().has_field(field) && contact[field]["has_more"] == Value::Bool(true)
}

/// Replaces each selected list that is cut short by the full list.
fn complete_lists(job: &Job<'_>, contact: &mut Value) -> Result<(), Error> {
    let Some(id) = contact["id"].as_str().map(encode) else {
        return Ok(());
    };
    for (field, endpoint, paged) in LISTS {
        if cut_short(job, contact, field) {
            let Some(items) = fetch(job, &format!("/contacts/{id}/{endpoint}"), *paged)? else {
                return Ok(());
            };
            set_list(contact, field, items);
        }
    }
    if SUBSCRIPTIONS.iter().any(|(field, _)| cut_short(job, contact, field)) {
        let Some(items) = fetch(job, &format!("/contacts/{id}/subscriptions"), false)? else {
            return Ok(());
        };
        for (field, consent) in SUBSCRIPTIONS {
            let chosen: Vec<Value> = items
                .iter()
                .filter(|s| s["consent_type"] == *consent)
                .cloned()
                .collect();
            set_list(contact, field, chosen);
        }
    }
    Ok(())
}

fn set_list(contact: &mut Value, field: &str, items: Vec<Value>) {
    if let Some(list) = contact.get_mut(field).and_then(Value::as_object_mut) {
        list.insert("total_count".into(), Value::from(items.len()));
        list.insert("data".into(), Value::Array(items));
        list.insert("has_more".into(), Value::Bool(false));
    }
}

/// Every item of a contact's list endpoint, or `None` when the contact is gone (404).
fn fetch(job: &Job<'_>, path: &str, paged: bool) -> Result<Option<Vec<Value>>, Error> {
    let first = if paged {
        pages::set_query(path, "per_page", "150")
    } else {
        path.to_owned()
    };
    let mut walk = Walk::new(first);
    let mut items = Vec::new();
    while let Some(path) = walk.next_path() {
        let Some(mut page) = job.get_unless_gone(&path)? else {
            warn!(
                "{}: {path} answered 404 (contact merged or deleted during the sync); its list stays as the search returned it",
                job.name()
            );
            return Ok(None);
        };
        // The 2.14 examples name the company list `data`, its schema `companies`.
        let key = if page.get("data").is_some() {
            "data"
        } else {
            "companies"
        };
        items.extend(pages::take_items(job.name(), &path, &mut page, key)?);
        walk.follow(&page, job.name())?;
    }
    Ok(Some(items))
}
