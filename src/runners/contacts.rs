//! Contacts (and the users and leads streams, the same search with a `role` filter).
//!
//! A contact carries its tags, companies, notes and subscription types as lists of at most 10
//! stubs with `has_more`. When a list is cut short and its field is selected, the full list is
//! fetched (many contacts at once); a deselected list costs no request.
//!
//! The `contact_notes` stream is the child of `contacts`: for each changed contact whose list
//! says it has notes, `GET /contacts/{id}/notes` gives them whole, one row each with the
//! contact's id. The same fetch fills the contact's own list when that is cut short. Without
//! the child selected, no contact's notes are fetched for it.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Error;
use crate::http::encode;
use crate::job::{Job, Origin, id_text};
use crate::paging::links::{Links, set_query};
use crate::paging::search::{Dated, Search};
use crate::paging::{First, Page, Pages, walk};
use crate::runners::read_search;
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

pub fn run(job: &Job<'_>, child: Option<&Job<'_>>, role: Option<&'static str>) -> Result<(), Error> {
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
    read_search(
        job,
        child,
        &search,
        &|items, origin| page(job, child, items, origin),
        || Ok(()),
    )
}

/// A contact of a page, and what it is read for.
struct Contact {
    item: Value,
    at: DateTime<Utc>,
    /// In the contacts stream's range: written, with its cut-short lists fetched whole.
    emit: bool,
    /// In the notes stream's range, with notes: its notes are fetched and written.
    notes: bool,
    /// A list of its could not be fetched: it is not written incomplete.
    failed: Option<Error>,
}

fn page(job: &Job<'_>, child: Option<&Job<'_>>, items: Vec<Dated>, origin: &Origin) -> Result<(), Error> {
    let mut contacts = Vec::new();
    for Dated { item, at } in items {
        let emit = job.plan().emit && job.in_range(at);
        let notes = child.is_some_and(|c| c.in_range(at)) && has_notes(&item);
        if emit || notes {
            contacts.push(Contact {
                item,
                at,
                emit,
                notes,
                failed: None,
            });
        }
    }
    let fetches = fetches(job, child, &mut contacts, origin)?;
    // Every list of every contact at once: they do not wait on each other, so a page costs
    // one round trip more than its search, not one per list.
    job.for_each(&fetches, |f| {
        let outcome = fetch(job, &f.path, f.list.paged())?;
        *f.fetched.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        Ok(())
    })?;
    for f in fetches {
        fill(job, child, &mut contacts[f.contact], f)?;
    }
    for contact in contacts.into_iter().filter(|c| c.emit) {
        match contact.failed {
            None => job.emit(contact.item, origin)?,
            // A contact whose lists could not be read whole is not written with them cut
            // short: it is named, and read again by the next run.
            Some(err) => job.spoil(err, Some(contact.at))?,
        }
    }
    Ok(())
}

/// The lists to fetch for the contacts of a page: those cut short that are selected, and the
/// notes of those the notes stream reads.
fn fetches(
    job: &Job<'_>,
    child: Option<&Job<'_>>,
    contacts: &mut [Contact],
    origin: &Origin,
) -> Result<Vec<Fetch>, Error> {
    let mut fetches = Vec::new();
    for (n, contact) in contacts.iter_mut().enumerate() {
        let item = &contact.item;
        let lists = |field: &str| contact.emit && cut_short(job, item, field);
        if !contact.notes && !LISTS.iter().any(|(f, ..)| lists(f)) && !SUBSCRIPTIONS.iter().any(|(f, _)| lists(f)) {
            continue;
        }
        let Some(id) = id_text(&item["id"]).map(|id| encode(&id)) else {
            let err = job.bad_record(item, "has no id", origin);
            if contact.notes {
                if let Some(child) = child {
                    child.spoil(relabel(&err, child), Some(contact.at))?;
                }
            }
            contact.failed = Some(err);
            continue;
        };
        for (index, (field, ..)) in LISTS.iter().enumerate() {
            if lists(field) || (contact.notes && *field == NOTES) {
                fetches.push(Fetch::new(n, List::Named(index), &id));
            }
        }
        if SUBSCRIPTIONS.iter().any(|(field, _)| lists(field)) {
            fetches.push(Fetch::new(n, List::Subscriptions, &id));
        }
    }
    Ok(fetches)
}

/// Puts what a fetch brought in its contact (and writes the notes it brought for the notes
/// stream). A list that could not be read fails the contact only when it needed it whole.
fn fill(job: &Job<'_>, child: Option<&Job<'_>>, contact: &mut Contact, f: Fetch) -> Result<(), Error> {
    let outcome = f.fetched.into_inner().unwrap_or_else(PoisonError::into_inner);
    let (items, list_origin) = match outcome {
        Some(Fetched::Items(items, list_origin)) => (items, list_origin),
        // A list whose contact was gone (404) stays as the search returned it.
        Some(Fetched::Gone) | None => return Ok(()),
        Some(Fetched::Failed(err)) => {
            let needed = match f.list {
                List::Named(index) => {
                    let field = LISTS[index].0;
                    if field == NOTES && contact.notes {
                        if let Some(child) = child {
                            child.spoil(relabel(&err, child), Some(contact.at))?;
                        }
                    }
                    contact.emit && cut_short(job, &contact.item, field)
                }
                List::Subscriptions => true,
            };
            if needed {
                contact.failed.get_or_insert(err);
            }
            return Ok(());
        }
    };
    match f.list {
        List::Named(index) => {
            let field = LISTS[index].0;
            if field == NOTES && contact.notes {
                if let Some(child) = child {
                    write_notes(child, &contact.item, &items, &list_origin)?;
                }
            }
            if contact.emit && cut_short(job, &contact.item, field) {
                set_list(&mut contact.item, field, items);
            }
        }
        List::Subscriptions => {
            for (field, consent) in SUBSCRIPTIONS {
                let chosen: Vec<Value> = items
                    .iter()
                    .filter(|s| s["consent_type"] == *consent)
                    .cloned()
                    .collect();
                set_list(&mut contact.item, field, chosen);
            }
        }
    }
    Ok(())
}

/// An error of the contacts' request as the notes stream reports it.
fn relabel(err: &Error, child: &Job<'_>) -> Error {
    Error::BadResponse {
        stream: child.name(),
        request: String::new(),
        problem: err.to_string(),
    }
}

/// The contact's list of notes, as its field and endpoint name it.
const NOTES: &str = "notes";

/// Whether the search says the contact has notes: only those cost a request.
fn has_notes(contact: &Value) -> bool {
    let list = &contact[NOTES];
    list["total_count"].as_u64().is_some_and(|n| n > 0)
        || list["data"].as_array().is_some_and(|d| !d.is_empty())
        || list["has_more"] == Value::Bool(true)
}

/// Writes a contact's notes as rows of the notes stream, each with its contact (the walk
/// that fetched them kept only objects).
fn write_notes(child: &Job<'_>, contact: &Value, notes: &[Value], origin: &Origin) -> Result<(), Error> {
    for note in notes {
        let mut row = note.clone();
        if let Some(map) = row.as_object_mut() {
            map.insert("contact_id".into(), contact["id"].clone());
            map.insert("contact_updated_at".into(), contact["updated_at"].clone());
        }
        child.emit(row, origin)?;
    }
    Ok(())
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
    fetched: Mutex<Option<Fetched>>,
}

/// What a list fetch brought.
enum Fetched {
    Items(Vec<Value>, Origin),
    /// The contact was merged or deleted during the sync (404).
    Gone,
    /// The list could not be read (an error that concerns this contact only).
    Failed(Error),
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
            fetched: Mutex::new(None),
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

/// Collects a list's items, and where the last page came from.
struct Collect(Vec<Value>, Origin);

impl Pages for Collect {
    fn page(&mut self, page: Page) -> Result<(), Error> {
        self.0.extend(page.items);
        self.1 = page.origin;
        Ok(())
    }
}

/// Every item of a contact's list endpoint; errors are those of the whole run.
fn fetch(job: &Job<'_>, path: &str, paged: bool) -> Result<Fetched, Error> {
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
    let mut items = Collect(Vec::new(), Origin::default());
    match walk(job, &style, First::Fetch, &mut items) {
        Ok(()) => Ok(Fetched::Items(items.0, items.1)),
        Err(err) if err.status() == Some(404) => {
            warn!(
                "{}: {path} answered 404 (contact merged or deleted during the sync); its list stays as the search returned it",
                job.name()
            );
            Ok(Fetched::Gone)
        }
        Err(err) if err.concerns_the_run() => Err(err),
        Err(err) => Ok(Fetched::Failed(err)),
    }
}
