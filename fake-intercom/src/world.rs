//! The data of a fake Intercom workspace, generated from a seed, in Intercom 2.14's shapes.
//!
//! Everything is kept as JSON in the shape Intercom sends, with two differences that the
//! endpoints undo when they answer: a contact's addressable lists hold every item (the API
//! shows at most 10 and says `has_more`), and conversations and tickets hold all their parts
//! (the API shows at most the 500 newest parts of a conversation).
//!
//! The data of the endpoints the tap does not read yet is generated in `world/more.rs`, after
//! the rest and from random streams of its own. Keys that start with `_` are the fake's own
//! bookkeeping (a contact's full notes, an event's instant in milliseconds, a call's
//! transcript, a macro's last change in seconds, an article's Fin counts), which the endpoints
//! leave out.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

mod more;

pub use more::{EVENT_WINDOW_SECS, EVENTS_PER_PAGE, event_summaries, iso8601, iso8601_millis};

/// The generator's clock: data is spread over the year before this instant (2024-06-01).
pub const BASE: i64 = 1_717_200_000;
const SPAN: i64 = 365 * 86_400;

/// Deterministic randomness (splitmix64): the same seed gives the same workspace.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
        &items[usize::try_from(self.below(len)).unwrap_or(0)]
    }

    pub fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[usize::try_from(self.below(16)).unwrap_or(0)]))
            .collect()
    }

    /// A Unix time in the generator's year.
    pub fn time(&mut self) -> i64 {
        BASE - SPAN + i64::try_from(self.below(u64::try_from(SPAN).unwrap_or(1))).unwrap_or(0)
    }
}

/// How big a workspace to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub admins: usize,
    pub teams: usize,
    pub tags: usize,
    pub user_segments: usize,
    pub company_segments: usize,
    pub help_centers: usize,
    pub collections: usize,
    pub contacts: usize,
    pub companies: usize,
    pub conversations: usize,
    /// Parts per conversation vary from 1 to twice this.
    pub parts_per_conversation: usize,
    pub tickets: usize,
    pub articles: usize,
    pub activity_logs: usize,
    /// The first contacts, which may have data events: about a third of them have none, one in
    /// twelve more recent ones than a page of `GET /events` holds.
    pub event_contacts: usize,
    /// The data events of a contact that has some (the busy ones aside) vary from 1 to twice this.
    pub events_per_contact: usize,
    pub calls: usize,
    pub news_items: usize,
    pub newsfeeds: usize,
    pub away_status_reasons: usize,
    pub internal_articles: usize,
    pub brands: usize,
    pub emails: usize,
    pub macros: usize,
    pub office_hours_schedules: usize,
    pub content_snippets: usize,
}

impl Size {
    /// A handful of everything: quick tests.
    pub fn small() -> Size {
        Size {
            admins: 6,
            teams: 3,
            tags: 14,
            user_segments: 5,
            company_segments: 4,
            help_centers: 2,
            collections: 7,
            contacts: 60,
            companies: 25,
            conversations: 30,
            parts_per_conversation: 4,
            tickets: 12,
            articles: 9,
            activity_logs: 40,
            // Enough for a second page of each paged list at its default page size.
            event_contacts: 60,
            events_per_contact: 4,
            calls: 30,
            news_items: 12,
            newsfeeds: 3,
            away_status_reasons: 4,
            internal_articles: 30,
            brands: 2,
            emails: 3,
            macros: 60,
            office_hours_schedules: 3,
            content_snippets: 55,
        }
    }

    /// The README's demo: a small company's workspace.
    pub fn demo() -> Size {
        Size {
            admins: 25,
            teams: 6,
            tags: 60,
            user_segments: 20,
            company_segments: 10,
            help_centers: 2,
            collections: 40,
            contacts: 3_000,
            companies: 800,
            conversations: 1_500,
            parts_per_conversation: 6,
            tickets: 400,
            articles: 120,
            activity_logs: 1_000,
            event_contacts: 3_000,
            events_per_contact: 6,
            calls: 400,
            news_items: 40,
            newsfeeds: 4,
            away_status_reasons: 6,
            internal_articles: 150,
            brands: 3,
            emails: 5,
            macros: 200,
            office_hours_schedules: 3,
            content_snippets: 120,
        }
    }

    /// Tens of thousands of records, for benchmarks.
    pub fn large() -> Size {
        Size {
            admins: 80,
            teams: 12,
            tags: 200,
            user_segments: 60,
            company_segments: 30,
            help_centers: 3,
            collections: 150,
            contacts: 40_000,
            companies: 8_000,
            conversations: 10_000,
            parts_per_conversation: 8,
            tickets: 3_000,
            articles: 600,
            activity_logs: 8_000,
            // The benchmark reads none of these: enough to be realistic, few enough that the
            // fake starts as quickly and holds as little more as can be.
            event_contacts: 2_000,
            events_per_contact: 4,
            calls: 1_000,
            news_items: 60,
            newsfeeds: 5,
            away_status_reasons: 8,
            internal_articles: 300,
            brands: 5,
            emails: 8,
            macros: 400,
            office_hours_schedules: 5,
            content_snippets: 250,
        }
    }

    pub fn named(name: &str) -> Option<Size> {
        match name {
            "small" => Some(Size::small()),
            "demo" => Some(Size::demo()),
            "large" => Some(Size::large()),
            _ => None,
        }
    }
}

/// A fake workspace.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub admins: Vec<Value>,
    pub teams: Vec<Value>,
    pub tags: Vec<Value>,
    pub user_segments: Vec<Value>,
    pub company_segments: Vec<Value>,
    pub ticket_types: Vec<Value>,
    pub ticket_states: Vec<Value>,
    pub subscription_types: Vec<Value>,
    /// Data attributes per model (`contact`, `company`, `conversation`).
    pub data_attributes: Vec<(String, Vec<Value>)>,
    pub help_centers: Vec<Value>,
    pub collections: Vec<Value>,
    pub contacts: Vec<Value>,
    pub companies: Vec<Value>,
    /// Conversations with every part under `conversation_parts.conversation_parts`.
    pub conversations: Vec<Value>,
    pub tickets: Vec<Value>,
    pub articles: Vec<Value>,
    pub activity_logs: Vec<Value>,
    /// Conversations deleted from the workspace, as `GET /conversations/deleted` lists them
    /// (2.16): `{type, id, metrics_retained, deleted_at}`.
    pub deleted_conversations: Vec<Value>,
    /// How often [`World::evolve`] ran, for fresh ids on each call.
    pub evolutions: usize,
    /// The segments each contact is in, by contact id: ids of `user_segments` whose
    /// `person_type` fits the contact (`user`, or `contact` for a lead), for
    /// `GET /contacts/{id}/segments`. Kept apart from the contacts' own `_segments`, which the
    /// segment counts come from and which were there first. Memberships change without the
    /// contact's `updated_at` moving ([`World::evolve`]).
    pub contact_segments: BTreeMap<String, Vec<String>>,
    /// Data events by contact id, oldest first, each with its instant in milliseconds under the
    /// fake's own `_ms` (unique within the contact), which `GET /events` pages by.
    pub data_events: BTreeMap<String, Vec<Value>>,
    /// What generated events' times count from: [`BASE`] once generated, `None` once
    /// [`World::bring_events_to`] moved them to the fake's clock (as the fake does when it starts).
    pub events_clock: Option<i64>,
    /// Calls, each with its transcript's text under the fake's own `_transcript`.
    pub calls: Vec<Value>,
    pub news_items: Vec<Value>,
    pub newsfeeds: Vec<Value>,
    /// Each article's `statistics` by article id, for `GET /articles/{id}`, with the Fin counts
    /// 2.16 adds under the fake's own `_fin_*` keys. Statistics change without the article's
    /// `updated_at` moving ([`World::evolve`]).
    pub article_statistics: BTreeMap<String, Value>,
    /// Away status reasons, deleted ones included (as Intercom lists them).
    pub away_status_reasons: Vec<Value>,
    pub internal_articles: Vec<Value>,
    /// Brands (2.15); the default brand's id is the workspace's.
    pub brands: Vec<Value>,
    /// Sender email settings (2.15), each for one of the brands.
    pub emails: Vec<Value>,
    /// Pauses and resumptions of handling, by conversation id, oldest first (2.15); a
    /// conversation without any has no entry.
    pub handling_events: BTreeMap<String, Vec<Value>>,
    /// Macros (2.16), with their times as ISO 8601 strings as Intercom sends them, and their last
    /// change in seconds under the fake's own `_updated_at`, which they are sorted and filtered by.
    pub macros: Vec<Value>,
    /// Office hours schedules (2.16).
    pub office_hours_schedules: Vec<Value>,
    /// Content snippets (2.16).
    pub content_snippets: Vec<Value>,
}

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloé", "Dmitri", "Ewa", "Farah", "Goran", "Hana", "Ines", "José", "Kai", "Lena", "Mei", "Nadia",
    "Omar", "Priya",
];
const LAST: &[&str] = &[
    "Lovelace", "Okafor", "Martin", "Petrov", "Kowalska", "Haddad", "Ilić", "Sato", "Ferreira", "García", "Müller",
    "Nakamura", "Zhang", "Rossi",
];
const WORDS: &[&str] = &[
    "billing",
    "onboarding",
    "vip",
    "churn-risk",
    "trial",
    "enterprise",
    "bug",
    "feature",
    "refund",
    "priority",
    "beta",
    "partner",
    "api",
    "mobile",
    "security",
];
const COUNTRIES: &[(&str, &str, &str)] = &[
    ("France", "FR", "EU"),
    ("Japan", "JP", "AS"),
    ("Brazil", "BR", "SA"),
    ("Kenya", "KE", "AF"),
    ("Canada", "CA", "NA"),
];

impl World {
    pub fn generate(seed: u64, size: Size) -> World {
        let mut rng = Rng::new(seed);
        let mut w = World::default();
        w.admins
            .extend((0..size.admins).map(|i| admin(&mut rng, i, size.teams)));
        let admin_ids: Vec<i64> = w
            .admins
            .iter()
            .map(|a| a["id"].as_str().unwrap_or("0").parse().unwrap_or(0))
            .collect();
        w.teams = (0..size.teams).map(|i| team(&mut rng, i, &admin_ids)).collect();
        w.tags = (0..size.tags).map(|i| tag(&mut rng, i)).collect();
        w.user_segments = (0..size.user_segments)
            .map(|i| segment(&mut rng, i, Some(if i % 3 == 2 { "contact" } else { "user" })))
            .collect();
        w.company_segments = (0..size.company_segments)
            .map(|i| segment(&mut rng, i + 1000, None))
            .collect();
        w.ticket_states = ticket_states(&mut rng);
        w.ticket_types = ticket_types(&mut rng, &w.ticket_states);
        for state in &mut w.ticket_states {
            let stubs: Vec<Value> = w.ticket_types.iter().map(ticket_type_stub).collect();
            state["ticket_types"] = json!({"type": "list", "data": stubs});
        }
        w.subscription_types = subscription_types();
        w.data_attributes = vec![
            ("contact".into(), data_attributes(&mut rng, "contact")),
            ("company".into(), data_attributes(&mut rng, "company")),
            ("conversation".into(), data_attributes(&mut rng, "conversation")),
        ];
        w.help_centers = (0..size.help_centers).map(|i| help_center(&mut rng, i)).collect();
        w.collections = (0..size.collections)
            .map(|i| collection(&mut rng, i, size.help_centers))
            .collect();
        w.companies = (0..size.companies)
            .map(|i| company(&mut rng, i, &w.tags, &w.company_segments))
            .collect();
        for i in 0..size.contacts {
            w.contacts.push(contact(&mut rng, i, &w));
        }
        w.refresh_counts();
        w.conversations = (0..size.conversations)
            .map(|i| conversation(&mut rng, i, size.parts_per_conversation, &w))
            .collect();
        w.tickets = (0..size.tickets).map(|i| ticket(&mut rng, i, &w)).collect();
        w.articles = (0..size.articles).map(|i| article(&mut rng, i, &w)).collect();
        w.activity_logs = (0..size.activity_logs).map(|i| activity_log(&mut rng, i, &w)).collect();
        // Last, and from streams of their own: nothing above changes for them.
        w.generate_more(seed, size);
        w
    }

    /// Recomputes the counts Intercom derives from the data (segment sizes, users per company).
    pub fn refresh_counts(&mut self) {
        let mut per_segment: HashMap<String, usize> = HashMap::new();
        let mut per_company: HashMap<String, usize> = HashMap::new();
        for contact in &self.contacts {
            for id in contact["_segments"].as_array().into_iter().flatten() {
                *per_segment
                    .entry(id.as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
            for company in contact["companies"]["data"].as_array().into_iter().flatten() {
                *per_company
                    .entry(company["id"].as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
        }
        let mut per_company_segment: HashMap<String, usize> = HashMap::new();
        for company in &self.companies {
            for segment in company["segments"]["segments"].as_array().into_iter().flatten() {
                *per_company_segment
                    .entry(segment["id"].as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
        }
        let count = |map: &HashMap<String, usize>, v: &Value| {
            json!(map.get(v["id"].as_str().unwrap_or_default()).copied().unwrap_or(0))
        };
        for segment in &mut self.user_segments {
            segment["count"] = count(&per_segment, segment);
        }
        for segment in &mut self.company_segments {
            segment["count"] = count(&per_company_segment, segment);
        }
        for company in &mut self.companies {
            company["user_count"] = count(&per_company, company);
        }
    }

    /// How many records of each stream a full sync reads, as `{"<stream>": n}`, for the streams
    /// whose records are the workspace's items one for one (the end-to-end checks compare),
    /// with data events counted as `GET /events` lists them now (the last 90 days).
    pub fn summary(&self) -> Value {
        self.summary_at(crate::now_secs_i64())
    }

    /// The same, with data events counted as `GET /events` lists them at `now`. §7's streams
    /// count one record per contact for `contact_segments`, per article for
    /// `article_statistics` and per call for `call_transcripts`.
    pub fn summary_at(&self, now: i64) -> Value {
        let role = |r: &str| self.contacts.iter().filter(|c| c["role"] == r).count();
        // Intercom shows the 500 newest parts of a conversation.
        let parts: usize = self
            .conversations
            .iter()
            .map(|c| World::parts_of(c).len().min(500))
            .sum();
        let ticket_parts: usize = self
            .tickets
            .iter()
            .map(|t| t["ticket_parts"]["ticket_parts"].as_array().map_or(0, Vec::len))
            .sum();
        let notes: usize = self
            .contacts
            .iter()
            .map(|c| c["_notes"].as_array().map_or(0, Vec::len))
            .sum();
        let attributes = |model: &str| {
            self.data_attributes
                .iter()
                .find(|(m, _)| m == model)
                .map_or(0, |(_, list)| list.len())
        };
        let mut summary = json!({
            "admins": self.admins.len(), "teams": self.teams.len(), "tags": self.tags.len(),
            "segments": self.user_segments.len(), "company_segments": self.company_segments.len(),
            "ticket_types": self.ticket_types.len(), "ticket_states": self.ticket_states.len(),
            "subscription_types": self.subscription_types.len(),
            "contact_attributes": attributes("contact"), "company_attributes": attributes("company"),
            "conversation_attributes": attributes("conversation"),
            "help_centers": self.help_centers.len(), "help_center_collections": self.collections.len(),
            "contacts": self.contacts.len(), "users": role("user"), "leads": role("lead"), "contact_notes": notes,
            "companies": self.companies.len(), "conversations": self.conversations.len(),
            "conversation_parts": parts, "tickets": self.tickets.len(), "ticket_parts": ticket_parts,
            "articles": self.articles.len(), "activity_logs": self.activity_logs.len(),
        });
        if let Some(map) = summary.as_object_mut() {
            self.summarize_more(now, map);
        }
        summary
    }

    /// Moves the workspace on, as between two syncs: every `every`-th contact, company,
    /// conversation (with a new part), ticket, article and segment is edited at `now`, and one
    /// new record of each incremental stream (an activity log too) is created at `now`. Returns
    /// the ids, as `{"<stream>": {"changed": [...], "added": [...]}}`.
    ///
    /// §7's data moves too, without touching a record of the streams above: some contacts the
    /// evolution did not edit join or leave a segment (`contact_segments.changed`, their
    /// `updated_at` unchanged); events are tracked at `now` for some edited contacts
    /// (`data_events.moved_updated_at`) and some unedited ones, whose `updated_at` stays
    /// (`data_events.kept_updated_at`; `added` names the events); every `every`-th call and macro
    /// is updated and one of each added; some unedited articles' statistics grow
    /// (`article_statistics.changed`, their `updated_at` unchanged).
    pub fn evolve(&mut self, now: i64, every: usize) -> Value {
        let every = every.max(1);
        let mut rng = Rng::new(u64::try_from(now).unwrap_or(0));
        let mut report = serde_json::Map::new();
        let mut note = |stream: &str, changed: Vec<Value>, added: Vec<Value>| {
            report.insert(stream.into(), json!({"changed": changed, "added": added}));
        };
        let edit = |items: &mut Vec<Value>, field: &str| -> Vec<Value> {
            items
                .iter_mut()
                .step_by(every)
                .map(|item| {
                    item["updated_at"] = json!(now);
                    let old = item[field].as_str().unwrap_or("untitled").to_owned();
                    item[field] = json!(format!("{old} (edited)"));
                    item["id"].clone()
                })
                .collect()
        };
        let changed = edit(&mut self.contacts, "name");
        let mut added = contact(&mut rng, self.contacts.len(), self);
        stamp(&mut added, now);
        note("contacts", changed, vec![added["id"].clone()]);
        self.contacts.push(added);

        let changed = edit(&mut self.companies, "name");
        let mut added = company(&mut rng, self.companies.len(), &self.tags, &self.company_segments);
        stamp(&mut added, now);
        note("companies", changed, vec![added["id"].clone()]);
        self.companies.push(added);

        let changed = edit(&mut self.conversations, "title");
        let mut new_parts = Vec::new();
        self.evolutions += 1;
        let first = 900_000_001 + 2_000_000 * self.evolutions;
        for (k, conversation) in self.conversations.iter_mut().step_by(every).enumerate() {
            let n = first + 2 * k; // odd: written by an admin
            let mut reply = part(&mut rng, n, now, self.admins.first(), None);
            reply["id"] = json!((n + 1).to_string());
            new_parts.push(reply["id"].clone());
            if let Some(parts) = conversation["conversation_parts"]["conversation_parts"].as_array_mut() {
                parts.push(reply);
            }
            let total = conversation["conversation_parts"]["conversation_parts"]
                .as_array()
                .map_or(0, Vec::len);
            conversation["conversation_parts"]["total_count"] = json!(total);
        }
        // Deleted conversations keep their numbers: a new one never takes a live one's id.
        let fresh = self.conversations.len() + self.deleted_conversations.len();
        let mut added = conversation(&mut rng, fresh, 2, self);
        stamp(&mut added, now);
        for p in added["conversation_parts"]["conversation_parts"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            for key in ["created_at", "updated_at", "notified_at"] {
                p[key] = json!(now);
            }
            new_parts.push(p["id"].clone());
        }
        note("conversations", changed, vec![added["id"].clone()]);
        note("conversation_parts", Vec::new(), new_parts);
        self.conversations.push(added);

        let changed: Vec<Value> = self
            .tickets
            .iter_mut()
            .step_by(every)
            .map(|t| {
                t["updated_at"] = json!(now);
                t["ticket_attributes"]["_default_title_"] = json!("Edited ticket");
                t["id"].clone()
            })
            .collect();
        let mut added = ticket(&mut rng, self.tickets.len(), self);
        stamp(&mut added, now);
        for p in added["ticket_parts"]["ticket_parts"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            p["created_at"] = json!(now);
            p["updated_at"] = json!(now);
        }
        note("tickets", changed, vec![added["id"].clone()]);
        self.tickets.push(added);

        let changed = edit(&mut self.articles, "title");
        let mut added = article(&mut rng, self.articles.len(), self);
        stamp(&mut added, now);
        note("articles", changed, vec![added["id"].clone()]);
        self.articles.push(added);

        let changed = edit(&mut self.user_segments, "name");
        note("segments", changed, Vec::new());
        let changed = edit(&mut self.company_segments, "name");
        note("company_segments", changed, Vec::new());

        let mut added = activity_log(&mut rng, self.activity_logs.len(), self);
        added["created_at"] = json!(now);
        note("activity_logs", Vec::new(), vec![added["id"].clone()]);
        self.activity_logs.push(added);

        self.delete_last(&mut report, now, every);
        self.refresh_counts();
        // Last, and from a stream of its own: the first streams move on as they did before.
        self.evolve_more(now, every, &mut report);
        Value::Object(report)
    }

    /// Deletions, which only a full-table stream's table version can bring to a target: the
    /// last admin (no record of the workspace refers to it by position) and the last tag. And
    /// one conversation that this evolution did not edit (the second), which 2.16 lists at
    /// `GET /conversations/deleted`.
    fn delete_last(&mut self, report: &mut serde_json::Map<String, Value>, now: i64, every: usize) {
        for (stream, items) in [("admins", &mut self.admins), ("tags", &mut self.tags)] {
            let deleted: Vec<Value> = items.pop().map(|item| item["id"].clone()).into_iter().collect();
            report.insert(stream.into(), json!({"changed": [], "added": [], "deleted": deleted}));
        }
        if every > 1 && self.conversations.len() > 2 {
            let gone = self.conversations.remove(1);
            self.deleted_conversations
                .push(json!({"type": "conversation", "id": gone["id"], "metrics_retained": true, "deleted_at": now}));
            if let Some(Value::Object(entry)) = report.get_mut("conversations") {
                entry.insert("deleted".into(), json!([gone["id"]]));
            }
        }
    }

    /// Every conversation's parts in the order Intercom keeps them (oldest first).
    pub fn parts_of(conversation: &Value) -> &[Value] {
        conversation["conversation_parts"]["conversation_parts"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }
}

fn admin(rng: &mut Rng, i: usize, teams: usize) -> Value {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let id = format!("{}", 1_000_000 + i * 7 + 3);
    let team_ids: Vec<usize> = (0..teams).filter(|t| (i + t) % 3 == 0).map(|t| 100 + t).collect();
    // Intercom sends avatar as an object, but the spec and some answers make it a bare URL.
    let avatar = if i % 4 == 1 {
        json!(format!(
            "https://static.intercomassets.com/avatars/{id}/square_128/pic.png"
        ))
    } else {
        json!({"type": "avatar", "image_url": format!("https://static.intercomassets.com/avatars/{id}/square_128/pic.png")})
    };
    json!({
        "type": "admin",
        "id": id,
        "name": format!("{first} {last}"),
        "email": format!("{}.{}{i}@example.com", first.to_lowercase(), last.to_lowercase()),
        "job_title": if rng.chance(70) { json!(rng.pick(&["Support Engineer", "Success Manager", "Founder", "Agent"])) } else { Value::Null },
        "away_mode_enabled": rng.chance(10),
        "away_mode_reassign": rng.chance(50),
        "away_status_reason_id": if rng.chance(10) { json!(12345) } else { Value::Null },
        "has_inbox_seat": rng.chance(85),
        "team_ids": team_ids,
        "avatar": avatar,
        "team_priority_level": if team_ids.is_empty() { Value::Null } else { json!({"primary_team_ids": [team_ids[0]], "secondary_team_ids": &team_ids[1..]}) },
    })
}

fn team(rng: &mut Rng, i: usize, admin_ids: &[i64]) -> Value {
    let members: Vec<i64> = admin_ids
        .iter()
        .enumerate()
        .filter(|(a, _)| (a + i) % 3 == 0)
        .map(|(_, id)| *id)
        .collect();
    json!({
        "type": "team",
        "id": (100 + i).to_string(),
        "name": format!("Team {}", rng.pick(&["Support", "Sales", "Billing", "Tier 2", "EMEA", "APAC"])),
        "admin_ids": members,
        "admin_priority_level": {"primary_admin_ids": members.iter().take(1).collect::<Vec<_>>(), "secondary_admin_ids": members.iter().skip(1).collect::<Vec<_>>()},
        "assignment_limit": if rng.chance(50) { json!(rng.below(20) + 1) } else { Value::Null },
        "distribution_method": if rng.chance(50) { json!("round_robin") } else { json!("balanced") },
    })
}

fn tag(rng: &mut Rng, i: usize) -> Value {
    json!({"type": "tag", "id": (5_000 + i).to_string(), "name": format!("{}-{i}", rng.pick(WORDS))})
}

fn segment(rng: &mut Rng, i: usize, person_type: Option<&str>) -> Value {
    let created = rng.time();
    let updated = created + i64::try_from(rng.below(86_400 * 60)).unwrap_or(0);
    let mut s = json!({
        "type": "segment",
        "id": format!("{:024x}", 0x5f00_0000_0000_0000_u64 + u64::try_from(i).unwrap_or(0)),
        "name": format!("{} {}", rng.pick(&["Active", "Paying", "Dormant", "New", "At risk"]), i),
        "created_at": created,
        "updated_at": updated,
        "count": 0,
    });
    if let Some(p) = person_type {
        s["person_type"] = json!(p);
    }
    s
}

fn ticket_states(rng: &mut Rng) -> Vec<Value> {
    [
        ("submitted", "Submitted"),
        ("in_progress", "In progress"),
        ("waiting_on_customer", "Waiting on you"),
        ("resolved", "Resolved"),
        ("resolved", "Closed as duplicate"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (category, label))| {
        json!({"type": "ticket_state", "id": (7_000 + i).to_string(), "category": category,
                   "internal_label": label, "external_label": label, "archived": i == 4 && rng.chance(50)})
    })
    .collect()
}

fn ticket_state_stub(state: &Value) -> Value {
    json!({"type": "ticket_state", "id": state["id"], "category": state["category"],
           "internal_label": state["internal_label"], "external_label": state["external_label"]})
}

fn ticket_types(rng: &mut Rng, states: &[Value]) -> Vec<Value> {
    [("Bug report", "Tracker", "🐞"), ("Refund request", "Customer", "💸"), ("Access review", "Back-office", "🔐")]
        .iter()
        .enumerate()
        .map(|(i, (name, category, icon))| {
            let id = 9_000 + i;
            let created = rng.time();
            let attrs: Vec<Value> = ["_default_title_", "_default_description_", "severity"]
                .iter()
                .enumerate()
                .map(|(j, attr)| {
                    json!({"type": "ticket_type_attribute", "id": (9_100 + i * 10 + j).to_string(), "workspace_id": "abc123",
                           "name": attr, "description": format!("The {attr}"),
                           "data_type": if j == 2 { "list" } else { "string" },
                           "input_options": if j == 2 { json!({"list_options": [{"id": "1", "label": "High"}, {"id": "2", "label": "Low"}]}) } else { json!({"multiline": j == 1}) },
                           "order": j, "required_to_create": j == 0, "required_to_create_for_contacts": false,
                           "visible_on_create": true, "visible_to_contacts": j < 2, "default": j < 2,
                           "ticket_type_id": id, "archived": false, "created_at": created, "updated_at": created + 60})
                })
                .collect();
            // The spec and its examples disagree on the attribute list's envelope: use both.
            let attribute_list = if i == 1 {
                json!({"type": "ticket_type_attributes.list", "ticket_type_attributes": attrs})
            } else {
                json!({"type": "list", "data": attrs})
            };
            json!({
                "type": "ticket_type", "id": id.to_string(), "category": category, "name": name,
                "description": format!("{name} tickets"), "icon": icon, "workspace_id": "abc123",
                "ticket_type_attributes": attribute_list, "archived": false,
                "created_at": created, "updated_at": created + 3_600, "is_internal": i == 2,
                "ticket_states": {"type": "list", "data": states.iter().map(ticket_state_stub).collect::<Vec<_>>()},
            })
        })
        .collect()
}

fn ticket_type_stub(t: &Value) -> Value {
    json!({"type": "ticket_type", "id": t["id"], "name": t["name"], "description": t["description"],
           "icon": t["icon"], "archived": t["archived"], "is_internal": t["is_internal"], "category": t["category"]})
}

fn subscription_types() -> Vec<Value> {
    [
        ("Newsletter", "opt_out", "email"),
        ("Product updates", "opt_in", "email"),
        ("SMS alerts", "opt_in", "sms_message"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, consent, content))| {
        let translation = json!({"name": name, "description": format!("{name} from us"), "locale": "en"});
        json!({"type": "subscription", "id": (140 + i).to_string(), "state": if i == 2 { "draft" } else { "live" },
                   "default_translation": translation, "translations": [translation],
                   "consent_type": consent, "content_types": [content]})
    })
    .collect()
}

fn data_attributes(rng: &mut Rng, model: &str) -> Vec<Value> {
    let standard: &[(&str, &str, &str)] = match model {
        "contact" => &[
            ("name", "name", "string"),
            ("email", "email", "string"),
            ("id", "id", "string"),
            ("created_at", "created_at", "date"),
            ("last_seen_at", "last_seen_at", "date"),
            ("owner_id", "owner_id", "integer"),
        ],
        // Intercom's own example has two attributes named "name" and two named "id".
        "company" => &[
            ("name", "name", "string"),
            ("name", "plan.name", "string"),
            ("id", "id", "string"),
            ("id", "plan.id", "string"),
            ("monthly_spend", "monthly_spend", "float"),
        ],
        _ => &[("state", "state", "string"), ("priority", "priority", "string")],
    };
    let mut out: Vec<Value> = standard
        .iter()
        .map(|(name, full, kind)| {
            let mut a = json!({"type": "data_attribute", "model": model, "name": name, "full_name": full,
                   "label": name.replace('_', " "), "description": format!("The {} of the {model}", full.replace('.', " ")),
                   "data_type": kind, "api_writable": false, "ui_writable": false, "messenger_writable": false,
                   "custom": false, "archived": false});
            if model == "conversation" {
                // The 2.14 schema knows only contact and company models; leave it out here.
                a.as_object_mut().map(|o| o.remove("model"));
            }
            a
        })
        .collect();
    for j in 0..4 {
        let created = rng.time();
        let name = format!("{}_{j}", rng.pick(WORDS).replace('-', "_"));
        let mut a = json!({"type": "data_attribute", "id": 12_000 + j + out.len() * 10, "model": model, "name": name,
            "full_name": format!("custom_attributes.{name}"), "label": name, "description": if j == 3 { Value::Null } else { json!(format!("Custom {name}")) },
            "data_type": (["string", "integer", "boolean", "date"][j]), "options": if j == 0 { json!(["a", "b"]) } else { json!([]) },
            "api_writable": true, "ui_writable": true, "messenger_writable": j == 0, "custom": true, "archived": j == 2,
            "created_at": created, "updated_at": created + 100, "admin_id": "1000003"});
        if model == "conversation" {
            a.as_object_mut().map(|o| o.remove("model"));
        }
        out.push(a);
    }
    out
}

fn help_center(rng: &mut Rng, i: usize) -> Value {
    let created = rng.time();
    json!({"id": (300 + i).to_string(), "workspace_id": "abc123", "created_at": created, "updated_at": created + 500,
           "identifier": format!("help-{i}"), "website_turned_on": i == 0, "display_name": format!("Help Center {i}"),
           "url": format!("https://help{i}.example.com"), "custom_domain": if i == 0 { json!("help.example.com") } else { Value::Null }})
}

fn collection(rng: &mut Rng, i: usize, help_centers: usize) -> Value {
    let created = rng.time();
    json!({"id": (400 + i).to_string(), "type": "collection", "workspace_id": "abc123",
           "name": format!("Collection {i}"), "description": if i % 3 == 0 { Value::Null } else { json!(format!("About {}", rng.pick(WORDS))) },
           "created_at": created, "updated_at": created + 900, "url": format!("https://help.example.com/collections/{i}"),
           "icon": "book", "order": i + 1, "default_locale": "en",
           "translated_content": {"type": "group_translated_content", "fr": {"type": "group_content", "name": format!("Collection {i}"), "description": ""}},
           "parent_id": if i > 2 && i % 2 == 0 { json!((400 + i / 2).to_string()) } else { Value::Null },
           "help_center_id": if help_centers == 0 { Value::Null } else { json!(300 + i % help_centers) }})
}

fn company(rng: &mut Rng, i: usize, tags: &[Value], segments: &[Value]) -> Value {
    let created = rng.time();
    let updated = created + i64::try_from(rng.below(86_400 * 90)).unwrap_or(0);
    let tag_list: Vec<Value> = tags
        .iter()
        .skip(i % 5)
        .step_by(7)
        .take(3)
        .map(|t| json!({"type": "tag", "id": t["id"], "name": t["name"]}))
        .collect();
    let segment_list: Vec<Value> = segments.iter().skip(i % 3).step_by(3).take(2).cloned().collect();
    json!({
        "type": "company",
        "id": format!("6{:023x}", i),
        "company_id": format!("remote-{i}"),
        "name": format!("{} {}", rng.pick(&["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay"]), i),
        "app_id": "abc123",
        "plan": if i % 4 == 0 { json!({}) } else { json!({"type": "plan", "id": (i % 3).to_string(), "name": (["free", "pro", "enterprise"][i % 3])}) },
        "remote_created_at": created - 86_400,
        "created_at": created,
        "updated_at": updated,
        "last_request_at": if rng.chance(80) { json!(updated - 60) } else { Value::Null },
        "size": if rng.chance(70) { json!(rng.below(5_000)) } else { Value::Null },
        "website": format!("https://company{i}.example.com"),
        "industry": rng.pick(&["Software", "Retail", "Health"]),
        "monthly_spend": if i % 2 == 0 { json!(rng.below(10_000)) } else { json!(f64::from(u32::try_from(rng.below(100_000)).unwrap_or(0)) / 100.0) },
        "session_count": rng.below(500),
        "user_count": 0,
        "custom_attributes": {"tier": (["gold", "silver"][i % 2]), "seats": rng.below(100), "churned": i % 11 == 0},
        "tags": {"type": "tag.list", "tags": tag_list},
        "segments": {"type": "segment.list", "segments": segment_list},
    })
}

/// Draws for the fields added after the generator's first version (`sms_consent`, `assignee`,
/// `company_id`), from their own stream seeded by a value the record already drew (`salt` tells
/// the fields apart): seed-dependent as the rest, while the main stream, and so every field
/// every workspace had before, stays as it was.
fn side_rng(drawn: i64, salt: u64) -> Rng {
    Rng::new(u64::try_from(drawn).unwrap_or(0) ^ salt)
}

/// The Intercom id of one of the workspace's companies for about two records in three, null
/// for the others: the `company_id` of conversations and tickets.
fn some_company_id(rng: &mut Rng, companies: &[Value]) -> Value {
    if companies.is_empty() || rng.chance(35) {
        return Value::Null;
    }
    rng.pick(companies)["id"].clone()
}

/// A conversation's `assignee` as Intercom sends it beside `admin_assignee_id`: the admin, with
/// its id as a string, or the `nobody_admin` with a null id when no admin is assigned.
fn assignee(admin_assignee_id: &Value) -> Value {
    match admin_assignee_id.as_i64() {
        Some(id) => json!({"type": "admin", "id": id.to_string()}),
        None => json!({"type": "nobody_admin", "id": null}),
    }
}

/// Sets a record's creation and last change to `now`.
fn stamp(item: &mut Value, now: i64) {
    item["created_at"] = json!(now);
    item["updated_at"] = json!(now);
}

fn stub_list(kind: &str, ids: &[String], url: String, path: &str) -> Value {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": kind, "id": id, "url": format!("/{path}/{id}")}))
        .collect();
    json!({"type": "list", "data": data, "url": url, "total_count": ids.len(), "has_more": false})
}

#[allow(clippy::too_many_lines)] // one JSON literal: the shape of a contact
/// A contact; its notes, in full, under the fake's own `_notes` for `GET /contacts/{id}/notes`.
fn contact(rng: &mut Rng, i: usize, w: &World) -> Value {
    let id = format!("{:024x}", 0x6500_0000_0000_0000_u64 + u64::try_from(i).unwrap_or(0));
    let created = rng.time();
    let updated = created + i64::try_from(rng.below(86_400 * 120)).unwrap_or(0);
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let role = if i % 4 == 3 { "lead" } else { "user" };
    // One contact in 40 has more than 10 tags, companies and notes, so that the API truncates.
    let many = i % 40 == 4;
    let tag_ids: Vec<String> = w
        .tags
        .iter()
        .skip(i % 3)
        .step_by(if many { 1 } else { 5 })
        .take(if many { 13 } else { 2 })
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let company_ids: Vec<String> = if w.companies.is_empty() {
        Vec::new()
    } else {
        (0..if many { 12 } else { i % 3 })
            .map(|k| {
                w.companies[(i * 7 + k * 13) % w.companies.len()]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let mut company_ids = company_ids;
    company_ids.sort();
    company_ids.dedup();
    let note_count = if many { 11 } else { i % 3 };
    let notes: Vec<Value> = (0..note_count)
        .map(|k| {
            json!({"type": "note", "id": format!("{}", 80_000_000 + i * 20 + k), "created_at": created + i64::try_from(k).unwrap_or(0) * 60,
                   "contact": {"type": "contact", "id": id}, "author": {"type": "admin", "id": w.admins.first().map_or(json!("1"), |a| a["id"].clone())},
                   "body": format!("<p>Note {k} about {first}</p>")})
        })
        .collect();
    let note_ids: Vec<String> = notes
        .iter()
        .map(|n| n["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let subs_in: Vec<String> = if i % 2 == 0 { vec!["141".into()] } else { Vec::new() };
    let subs_out: Vec<String> = if i % 5 == 0 { vec!["140".into()] } else { Vec::new() };
    let segments: Vec<Value> = w
        .user_segments
        .iter()
        .filter(|s| (i + s["name"].as_str().map_or(0, str::len)) % 4 == 0)
        .map(|s| s["id"].clone())
        .collect();
    let (country, code, continent) = *rng.pick(COUNTRIES);
    let mut side = side_rng(created, 0x5345);
    let sms_consent = side.chance(30);
    let contact = json!({
        "type": "contact",
        "id": id,
        "workspace_id": "abc123",
        "external_id": if role == "user" { json!(format!("user-{i}")) } else { Value::Null },
        "role": role,
        "email": format!("{}.{}{i}@example.org", first.to_lowercase(), last.to_lowercase()),
        "email_domain": "example.org",
        "phone": if rng.chance(30) { json!(format!("+3361234{i:04}")) } else { Value::Null },
        "name": format!("{first} {last}"),
        "owner_id": if rng.chance(40) { w.admins.first().map_or(Value::Null, |a| json!(a["id"].as_str().unwrap_or("0").parse::<i64>().unwrap_or(0))) } else { Value::Null },
        "has_hard_bounced": false,
        "marked_email_as_spam": false,
        "unsubscribed_from_emails": i % 10 == 0,
        // Sent by Intercom, listed by no description.
        "sms_consent": sms_consent,
        "unsubscribed_from_sms": !sms_consent && side.chance(20),
        "created_at": created,
        "updated_at": updated,
        "signed_up_at": if role == "user" { json!(created) } else { Value::Null },
        "last_seen_at": if rng.chance(80) { json!(updated - 30) } else { Value::Null },
        "last_replied_at": Value::Null,
        "last_contacted_at": if rng.chance(50) { json!(updated - 3_600) } else { Value::Null },
        "last_email_opened_at": Value::Null,
        "last_email_clicked_at": Value::Null,
        "language_override": Value::Null,
        "browser": rng.pick(&["chrome", "firefox", "safari"]),
        "browser_version": "120.0",
        "browser_language": "en-US",
        "os": rng.pick(&["Linux", "OS X 14", "Windows 11"]),
        "android_app_name": Value::Null, "android_app_version": Value::Null, "android_device": Value::Null,
        "android_os_version": Value::Null, "android_sdk_version": Value::Null, "android_last_seen_at": Value::Null,
        "ios_app_name": Value::Null, "ios_app_version": Value::Null, "ios_device": Value::Null,
        "ios_os_version": Value::Null, "ios_sdk_version": Value::Null, "ios_last_seen_at": Value::Null,
        "custom_attributes": {"plan": (["free", "pro"][i % 2]), "seats": i % 17, "beta": i % 2 == 0, "score": 0.5},
        "avatar": if i % 6 == 0 { json!({"type": "avatar", "image_url": format!("https://example.org/a/{i}.png")}) } else { Value::Null },
        "tags": stub_list("tag", &tag_ids, format!("/contacts/{id}/tags"), "tags"),
        "notes": stub_list("note", &note_ids, format!("/contacts/{id}/notes"), "notes"),
        "companies": stub_list("company", &company_ids, format!("/contacts/{id}/companies"), "companies"),
        "opted_in_subscription_types": stub_list("subscription", &subs_in, format!("/contacts/{id}/subscriptions"), "subscriptions"),
        "opted_out_subscription_types": stub_list("subscription", &subs_out, format!("/contacts/{id}/subscriptions"), "subscriptions"),
        "location": {"type": "location", "country": country, "region": Value::Null, "city": rng.pick(&["Paris", "Osaka", "Recife", "Nairobi", "Toronto"]),
                     "country_code": code, "continent_code": continent},
        "social_profiles": {"type": "list", "data": if i % 7 == 0 { json!([{"type": "social_profile", "name": "Twitter", "url": format!("https://twitter.com/u{i}")}]) } else { json!([]) }},
        "utm_source": if i % 8 == 0 { json!("newsletter") } else { Value::Null },
        "utm_campaign": Value::Null, "utm_content": Value::Null, "utm_medium": Value::Null, "utm_term": Value::Null,
        "referrer": Value::Null,
        "_segments": segments,
        "_notes": notes,
    });
    contact
}

fn conversation(rng: &mut Rng, i: usize, parts_avg: usize, w: &World) -> Value {
    let id = (100_000 + i).to_string();
    let created = rng.time();
    let contact = w.contacts.get((i * 11) % w.contacts.len().max(1));
    let contact_ref = contact.map_or(
        Value::Null,
        |c| json!({"type": "contact", "id": c["id"], "external_id": c["external_id"]}),
    );
    let admin = w.admins.get(i % w.admins.len().max(1));
    let admin_id = admin.map_or(Value::Null, |a| {
        json!(a["id"].as_str().unwrap_or("0").parse::<i64>().unwrap_or(0))
    });
    let n_parts = 1 + usize::try_from(rng.below(u64::try_from(parts_avg * 2).unwrap_or(1))).unwrap_or(0);
    let mut t = created;
    let parts: Vec<Value> = (0..n_parts)
        .map(|k| {
            t += i64::try_from(rng.below(7_200) + 1).unwrap_or(1);
            part(rng, i * 1_000 + k, t, admin, contact)
        })
        .collect();
    let updated = t;
    let open = i % 3 != 0;
    let admin_assignee_id = if i % 6 == 0 { Value::Null } else { admin_id };
    let company_id = some_company_id(&mut side_rng(created, 0xc0c0), &w.companies);
    let tags: Vec<Value> = w.tags.iter().skip(i % 4).step_by(9).take(2)
        .map(|tag| json!({"type": "tag", "id": tag["id"], "name": tag["name"], "applied_at": created + 10, "applied_by": {"type": "admin", "id": admin.map_or(json!("1"), |a| a["id"].clone())}}))
        .collect();
    let mut c = json!({
        "type": "conversation",
        "id": id,
        "title": if i % 4 == 0 { json!(format!("Question {i}")) } else { Value::Null },
        "created_at": created,
        "updated_at": updated,
        "waiting_since": if open { json!(updated) } else { Value::Null },
        "snoozed_until": Value::Null,
        "open": open,
        "state": if open { "open" } else { "closed" },
        "read": i % 2 == 0,
        "priority": if i % 5 == 0 { "priority" } else { "not_priority" },
        // Sent by Intercom, listed by no description: who is assigned, and the company.
        "assignee": assignee(&admin_assignee_id),
        "company_id": company_id,
        "admin_assignee_id": admin_assignee_id,
        "team_assignee_id": if i % 2 == 0 { json!(100) } else { Value::Null },
        "tags": {"type": "tag.list", "tags": tags},
        "conversation_rating": if i % 5 == 1 { json!({"rating": 4, "remark": "ok", "created_at": updated, "contact": contact_ref, "teammate": {"type": "admin", "id": admin.map_or(json!("1"), |a| a["id"].clone())}}) } else { Value::Null },
        "source": {"type": "conversation", "id": format!("{}", 400_000_000 + i), "delivered_as": "customer_initiated", "subject": "",
                   "body": format!("<p>Hello, question number {i}</p>"), "author": {"type": "user", "id": contact.map_or(json!("x"), |c| c["id"].clone()), "name": contact.map_or(Value::Null, |c| c["name"].clone()), "email": contact.map_or(Value::Null, |c| c["email"].clone())},
                   "attachments": [], "url": Value::Null, "redacted": false},
        "contacts": {"type": "contact.list", "contacts": if contact_ref.is_null() { json!([]) } else { json!([contact_ref]) }},
        // The spec calls the inner list `teammates`, Intercom's SDK `admins`: use both.
        "teammates": if i % 2 == 0 { json!({"type": "admin.list", "teammates": [{"type": "admin", "id": admin.map_or(json!("1"), |a| a["id"].clone())}]}) } else { json!({"type": "admin.list", "admins": []}) },
        "custom_attributes": {"Issue type": (["Billing", "Bug"][i % 2]), "Escalated": i % 7 == 0},
        "first_contact_reply": {"created_at": created, "type": "conversation", "url": Value::Null},
        "sla_applied": if i % 3 == 1 { json!({"type": "conversation_sla_summary", "sla_name": "VIP", "sla_status": "hit"}) } else { Value::Null },
        "statistics": {"type": "conversation_statistics", "time_to_assignment": 0, "time_to_admin_reply": 120, "time_to_first_close": if open { Value::Null } else { json!(updated - created) },
                       "first_contact_reply_at": created, "first_admin_reply_at": created + 120, "last_close_at": if open { Value::Null } else { json!(updated) },
                       "count_reopens": 0, "count_assignments": 1, "count_conversation_parts": n_parts + 1, "last_closed_by_id": if open { Value::Null } else { json!("1000003") },
                       "assigned_team_first_response_time": [{"team_id": 100, "team_name": "Team", "response_time": 120}], "handling_time": 300},
        "linked_objects": {"type": "list", "total_count": 0, "has_more": false, "data": []},
        "ai_agent_participated": i % 10 == 0,
        "ai_agent": if i % 10 == 0 { json!({"source_type": "essentials_plan_setup", "resolution_state": "assumed_resolution", "rating": Value::Null, "created_at": created, "updated_at": created, "content_sources": {"type": "content_source.list", "total_count": 0, "content_sources": []}}) } else { Value::Null },
        "topics": {"type": "topic.list", "topics": [], "total_count": 0},
        "ticket": Value::Null,
    });
    c["conversation_parts"] =
        json!({"type": "conversation_part.list", "conversation_parts": parts, "total_count": n_parts});
    c
}

fn part(rng: &mut Rng, n: usize, at: i64, admin: Option<&Value>, contact: Option<&Value>) -> Value {
    let by_admin = n % 2 == 1;
    let author = if by_admin {
        admin.map_or(Value::Null, |a| json!({"type": "admin", "id": a["id"], "name": a["name"], "email": a["email"], "from_ai_agent": false, "is_ai_answer": false}))
    } else {
        contact.map_or(Value::Null, |c| json!({"type": "user", "id": c["id"], "name": c["name"], "email": c["email"], "from_ai_agent": false, "is_ai_answer": false}))
    };
    let part_type = if n % 5 == 3 { "assignment" } else { "comment" };
    json!({
        "type": "conversation_part",
        // The spec types part ids as strings but its example sends a number: send both.
        "id": if n % 3 == 0 { json!(u64::try_from(n).unwrap_or(0) + 1) } else { json!((n + 1).to_string()) },
        "part_type": part_type,
        "body": format!("<p>Message {n}: {}</p>", rng.pick(WORDS)),
        "created_at": at,
        "updated_at": at,
        "notified_at": at,
        "assigned_to": if part_type == "assignment" { admin.map_or(Value::Null, |a| json!({"type": "admin", "id": a["id"]})) } else { Value::Null },
        "author": author,
        "attachments": if n % 7 == 0 { json!([{"type": "upload", "name": "log.txt", "url": "https://example.org/log.txt", "content_type": "text/plain", "filesize": 1024, "width": Value::Null, "height": Value::Null}]) } else { json!([]) },
        "external_id": Value::Null,
        "redacted": false,
        "email_message_metadata": Value::Null,
        "metadata": Value::Null,
        "state": "open",
        "tags": [],
        "event_details": Value::Null,
        "app_package_code": Value::Null,
    })
}

fn ticket(rng: &mut Rng, i: usize, w: &World) -> Value {
    let created = rng.time();
    let ticket_type = &w.ticket_types[i % w.ticket_types.len()];
    let state = &w.ticket_states[i % w.ticket_states.len()];
    let contact = w.contacts.get((i * 5) % w.contacts.len().max(1));
    let admin = w.admins.get(i % w.admins.len().max(1));
    let n_parts = 1 + i % 4;
    let mut t = created;
    let parts: Vec<Value> = (0..n_parts).map(|k| {
        t += i64::try_from(rng.below(3_600) + 1).unwrap_or(1);
        json!({"type": "ticket_part", "id": format!("{}", 700_000 + i * 10 + k), "part_type": if k == 0 { "ticket_state_updated_by_admin" } else { "comment" },
               "body": if k == 0 { Value::Null } else { json!(format!("<p>Ticket reply {k}</p>")) },
               "previous_ticket_state": "submitted", "ticket_state": state["category"], "created_at": t, "updated_at": t,
               "assigned_to": Value::Null, "author": admin.map_or(Value::Null, |a| json!({"type": "admin", "id": a["id"], "name": a["name"], "email": a["email"]})),
               "attachments": [], "external_id": Value::Null, "redacted": false})
    }).collect();
    let company_id = some_company_id(&mut side_rng(created, 0x7c7c), &w.companies);
    let mut ticket_type_full = ticket_type.clone();
    ticket_type_full["ticket_states"] = json!({"type": "list", "data": []});
    json!({
        "type": "ticket",
        "id": (600 + i).to_string(),
        "ticket_id": (i + 1).to_string(),
        "category": ticket_type["category"],
        "ticket_attributes": {"_default_title_": format!("Ticket {i}"), "_default_description_": "Something broke", "severity": (["High", "Low"][i % 2])},
        "ticket_state": ticket_state_stub(state),
        "ticket_type": ticket_type_full,
        "contacts": {"type": "contact.list", "contacts": contact.map_or(json!([]), |c| json!([{"type": "contact", "id": c["id"], "external_id": c["external_id"]}]))},
        "admin_assignee_id": if i % 3 == 0 { json!("0") } else { admin.map_or(json!("0"), |a| a["id"].clone()) },
        "team_assignee_id": "0",
        // Sent by Intercom, listed by no description.
        "company_id": company_id,
        "created_at": created,
        "updated_at": t,
        "open": i % 4 != 3,
        "snoozed_until": Value::Null,
        "linked_objects": {"type": "list", "total_count": 0, "has_more": false, "data": []},
        "ticket_parts": {"type": "ticket_part.list", "ticket_parts": parts, "total_count": n_parts},
        "is_shared": i % 2 == 0,
    })
}

fn article(rng: &mut Rng, i: usize, w: &World) -> Value {
    let created = rng.time();
    let updated = created + i64::try_from(rng.below(86_400 * 30)).unwrap_or(0);
    let parent = w.collections.get(i % w.collections.len().max(1));
    let parent_id = parent
        .and_then(|p| p["id"].as_str())
        .and_then(|s| s.parse::<i64>().ok());
    json!({
        "type": "article", "id": (20_000 + i).to_string(), "workspace_id": "abc123",
        "title": format!("How to {} ({i})", rng.pick(WORDS)), "description": if i % 2 == 0 { json!("A guide") } else { Value::Null },
        "body": format!("<p>Article {i} body</p>"),
        "author_id": w.admins.first().map_or(json!(1), |a| json!(a["id"].as_str().unwrap_or("1").parse::<i64>().unwrap_or(1))),
        "state": if i % 5 == 4 { "draft" } else { "published" },
        "created_at": created, "updated_at": updated,
        "url": if i % 5 == 4 { Value::Null } else { json!(format!("https://help.example.com/articles/{i}")) },
        "parent_id": parent_id, "parent_ids": parent_id.map_or(json!([]), |p| json!([p])), "parent_type": if parent_id.is_some() { json!("collection") } else { Value::Null },
        "default_locale": "en",
        "translated_content": if i % 3 == 0 { json!({"type": "article_translated_content", "fr": {"type": "article_content", "title": "Comment faire", "state": "published", "created_at": created + 100, "updated_at": updated}}) } else { Value::Null },
        "tags": {"type": "tag.list", "tags": w.tags.iter().skip(i % 6).take(1).map(|t| json!({"type": "tag", "id": t["id"], "name": t["name"]})).collect::<Vec<_>>()},
    })
}

fn activity_log(rng: &mut Rng, i: usize, w: &World) -> Value {
    let admin = w.admins.get(i % w.admins.len().max(1));
    let kind = *rng.pick(&[
        "admin_login_success",
        "app_data_export",
        "conversation_part_deletion",
        "admin_away_mode_change",
        "message_state_change",
    ]);
    json!({
        "id": format!("{:08x}-0000-4000-8000-{:012x}", 0xa000_0000_u64 + u64::try_from(i).unwrap_or(0), i),
        "performed_by": admin.map_or(Value::Null, |a| json!({"type": "admin", "id": a["id"], "email": a["email"], "ip": "203.0.113.7"})),
        "metadata": match kind {
            "admin_login_success" => json!({"sign_in_method": "email_password"}),
            "admin_away_mode_change" => json!({"away_mode": true, "reassign_conversations": false, "last_activity_at": 1_700_000_000 + i64::try_from(i).unwrap_or(0)}),
            "message_state_change" => json!({"message_id": i, "message_title": "Welcome", "previous_state": "draft", "new_state": "live"}),
            _ => json!({"before": "x", "after": "y", "expired_at": "2024-05-01T10:00:00Z"}),
        },
        "created_at": rng.time(),
        "activity_type": kind,
        "activity_description": format!("{} did {}", admin.map_or(json!("someone"), |a| a["name"].clone()), kind.replace('_', " ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_workspace() {
        let a = World::generate(7, Size::small());
        let b = World::generate(7, Size::small());
        assert_eq!(a.contacts, b.contacts);
        assert_eq!(a.conversations, b.conversations);
        assert_ne!(a.contacts, World::generate(8, Size::small()).contacts);
    }

    #[test]
    fn evolving_edits_some_records_and_adds_new_ones_with_fresh_ids() {
        let mut w = World::generate(3, Size::small());
        let now = BASE + 86_400;
        w.evolve(now - 60, 10);
        let before = w.clone();
        let report = w.evolve(now, 10);
        for (stream, items, old) in [
            ("contacts", &w.contacts, &before.contacts),
            ("companies", &w.companies, &before.companies),
            ("conversations", &w.conversations, &before.conversations),
            ("tickets", &w.tickets, &before.tickets),
            ("articles", &w.articles, &before.articles),
        ] {
            let changed = report[stream]["changed"].as_array().unwrap();
            assert_eq!(changed.len(), old.len().div_ceil(10), "{stream}");
            // One conversation, never one just edited, is deleted.
            let deleted = report[stream]["deleted"].as_array().map_or(0, Vec::len);
            assert_eq!(deleted, usize::from(stream == "conversations"), "{stream}");
            assert!(
                !changed
                    .iter()
                    .any(|c| report[stream]["deleted"].as_array().is_some_and(|d| d.contains(c)))
            );
            assert_eq!(items.len(), old.len() + 1 - deleted, "{stream}");
            let ids: std::collections::HashSet<String> = items.iter().map(|i| i["id"].to_string()).collect();
            assert_eq!(ids.len(), items.len(), "{stream}: ids stay unique");
            let fresh = items.iter().filter(|i| i["updated_at"] == json!(now)).count();
            assert_eq!(fresh, changed.len() + 1, "{stream}");
        }
        let parts: Vec<String> = w
            .conversations
            .iter()
            .flat_map(World::parts_of)
            .map(|p| p["id"].to_string())
            .collect();
        let unique: std::collections::HashSet<&String> = parts.iter().collect();
        assert_eq!(
            unique.len(),
            parts.len(),
            "part ids stay unique, evolution after evolution"
        );
        assert_eq!(w.activity_logs.len(), before.activity_logs.len() + 1);
    }

    /// Whether every record carries the fields real Intercom sends beyond the descriptions, in
    /// their shapes, with some of each kind of value.
    fn check_undescribed_fields(w: &World) {
        let company_ids: Vec<&Value> = w.companies.iter().map(|c| &c["id"]).collect();
        for c in &w.contacts {
            assert!(c["sms_consent"].is_boolean(), "{}", c["id"]);
            assert!(c["unsubscribed_from_sms"].is_boolean(), "{}", c["id"]);
        }
        assert!(w.contacts.iter().any(|c| c["sms_consent"] == true));
        assert!(w.contacts.iter().any(|c| c["unsubscribed_from_sms"] == true));
        for c in &w.conversations {
            let expected = match c["admin_assignee_id"].as_i64() {
                Some(id) => json!({"type": "admin", "id": id.to_string()}),
                None => json!({"type": "nobody_admin", "id": null}),
            };
            assert_eq!(c["assignee"], expected, "{}", c["id"]);
        }
        assert!(w.conversations.iter().any(|c| c["assignee"]["type"] == "nobody_admin"));
        for items in [&w.conversations, &w.tickets] {
            for item in items {
                let id = &item["company_id"];
                assert!(id.is_null() || company_ids.contains(&id), "{}: {id}", item["id"]);
            }
            assert!(items.iter().any(|i| i["company_id"].is_null()));
            assert!(items.iter().any(|i| i["company_id"].is_string()));
        }
    }

    #[test]
    fn records_carry_the_fields_intercom_sends_beyond_the_descriptions() {
        let mut w = World::generate(5, Size::small());
        check_undescribed_fields(&w);
        w.evolve(BASE + 86_400, 3);
        check_undescribed_fields(&w);
        for items in [&w.contacts, &w.conversations, &w.tickets] {
            let added = items.last().unwrap();
            assert_eq!(added["created_at"], json!(BASE + 86_400), "the last one is the new one");
        }
    }

    #[test]
    fn some_lists_are_long_enough_to_be_truncated() {
        let w = World::generate(1, Size::small());
        assert!(
            w.contacts
                .iter()
                .any(|c| c["tags"]["data"].as_array().unwrap().len() > 10)
        );
        assert!(
            w.contacts
                .iter()
                .any(|c| c["notes"]["data"].as_array().unwrap().len() > 10)
        );
        assert!(
            w.contacts
                .iter()
                .any(|c| c["companies"]["data"].as_array().unwrap().len() > 10)
        );
    }
}
