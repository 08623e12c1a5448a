//! Contacts (and the users and leads streams, the same search with a `role` filter).
//!
//! A contact carries its tags, companies, notes and subscription types as lists of at most 10
//! stubs with `has_more`. When a list is cut short and its field is selected, the full list is
//! fetched (many contacts at once); a deselected list costs no request.

use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::error::Error;
use crate::http::encode;
use crate::job::{Job, id_text};
use crate::paging::links::{Links, set_query};
use crate::paging::search::{self, Search};
use crate::paging::{First, Page, Pages, walk};
use crate::runners::{save_mark, search_range, started};
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
        path: if job.settings().api_version.has_merge_history() {
            "/contacts/search?include_merge_history=true"
        } else {
            "/contacts/search"
        },
        records: "data",
        role,
        // Contact search compares timestamps by calendar day in 2.14.
        by_day: true,
    };
    let (range, done) = search_range(&[job]);
    search::read(
        job,
        &search,
        range,
        &done,
        &|items, extracted| page(job, items, extracted),
        &|mark, done| save_mark(&[job], mark, done),
    )?;
    job.save_bookmark(started(job))
}

fn page(job: &Job<'_>, items: Vec<Value>, extracted: &str) -> Result<(), Error> {
    let mut incomplete = Vec::new();
    for item in items {
        if !job.in_range(job.replication_value(&item, "updated_at")?) {
            continue;
        }
        if LISTS
            .iter()
            .map(|(field, ..)| *field)
            .chain(SUBSCRIPTIONS.iter().map(|(field, _)| *field))
            .any(|field| cut_short(job, &item, field))
        {
            incomplete.push(item);
        } else {
            job.emit(item, extracted)?;
        }
    }
    if incomplete.is_empty() {
        return Ok(());
    }
    // Every cut-short list of every incomplete contact at once: they do not wait on each
    // other, so a page costs one round trip more than its search, not one per list.
    let mut fetches = Vec::new();
    for (n, contact) in incomplete.iter().enumerate() {
        let Some(id) = id_text(&contact["id"]).map(|id| encode(&id)) else {
            return Err(job.bad_record(contact, "has no id"));
        };
        for (index, (field, ..)) in LISTS.iter().enumerate() {
            if cut_short(job, contact, field) {
                fetches.push(Fetch::new(n, List::Named(index), &id));
            }
        }
        if SUBSCRIPTIONS.iter().any(|(field, _)| cut_short(job, contact, field)) {
            fetches.push(Fetch::new(n, List::Subscriptions, &id));
        }
    }
    job.for_each(&fetches, |f| {
        let items = fetch(job, &f.path, f.list.paged())?;
        *f.items.lock().unwrap_or_else(PoisonError::into_inner) = items;
        Ok(())
    })?;
    for f in fetches {
        // A list whose contact was gone (404) stays as the search returned it.
        let Some(items) = f.items.into_inner().unwrap_or_else(PoisonError::into_inner) else {
            continue;
        };
        let contact = &mut incomplete[f.contact];
        match f.list {
            List::Named(index) => set_list(contact, LISTS[index].0, items),
            List::Subscriptions => {
                for (field, consent) in SUBSCRIPTIONS {
                    let chosen: Vec<Value> = items
                        .iter()
                        .filter(|s| s["consent_type"] == *consent)
                        .cloned()
                        .collect();
                    set_list(contact, field, chosen);
                }
            }
        }
    }
    incomplete
        .into_iter()
        .try_for_each(|contact| job.emit(contact, extracted))
}

fn cut_short(job: &Job<'_>, contact: &Value, field: &str) -> bool {
    job.plan().has_field(field) && contact[field]["has_more"] == Value::Bool(true)
}

/// One of a contact's lists to fetch whole.
#[derive(Clone, Copy)]
enum List {
    /// `LISTS[i]`.
    Named(usize),
    /// Both subscription lists, from one endpoint.
    Subscriptions,
}

impl List {
    fn paged(self) -> bool {
        match self {
            List::Named(index) => LISTS[index].2,
            List::Subscriptions => false,
        }
    }
}

/// A list fetch of one incomplete contact (by its place in the page) and what it brought.
struct Fetch {
    contact: usize,
    list: List,
    path: String,
    items: Mutex<Option<Vec<Value>>>,
}

impl Fetch {
    fn new(contact: usize, list: List, id: &str) -> Fetch {
        let endpoint = match list {
            List::Named(index) => LISTS[index].1,
            List::Subscriptions => "subscriptions",
        };
        Fetch {
            contact,
            list,
            path: format!("/contacts/{id}/{endpoint}"),
            items: Mutex::new(None),
        }
    }
}

fn set_list(contact: &mut Value, field: &str, items: Vec<Value>) {
    if let Some(list) = contact.get_mut(field).and_then(Value::as_object_mut) {
        list.insert("total_count".into(), Value::from(items.len()));
        list.insert("data".into(), Value::Array(items));
        list.insert("has_more".into(), Value::Bool(false));
    }
}

/// Collects a list's items.
struct Collect(Vec<Value>);

impl Pages for Collect {
    fn page(&mut self, page: Page) -> Result<(), Error> {
        self.0.extend(page.items);
        Ok(())
    }
}

/// Every item of a contact's list endpoint, or `None` when the contact is gone (404).
fn fetch(job: &Job<'_>, path: &str, paged: bool) -> Result<Option<Vec<Value>>, Error> {
    let first = if paged {
        set_query(path, "per_page", "150")
    } else {
        path.to_owned()
    };
    // The 2.14 examples name the company list `data`, its schema `companies`.
    let style = Links {
        leaf: true,
        ..Links::new(first, &["data", "companies"])
    };
    let mut items = Collect(Vec::new());
    match walk(job, &style, First::Fetch, &mut items) {
        Ok(()) => Ok(Some(items.0)),
        Err(err) if err.status() == Some(404) => {
            warn!(
                "{}: {path} answered 404 (contact merged or deleted during the sync); its list stays as the search returned it",
                job.name()
            );
            Ok(None)
        }
        Err(err) => Err(err),
    }
}
