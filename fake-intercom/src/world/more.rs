//! The data of the endpoints the tap does not read yet (`intercom-api.md` §7): each contact's
//! segments, data events, calls and their transcripts, news items and newsfeeds, article
//! statistics, away status reasons, internal articles, and, in later versions, brands, sender
//! emails, conversation handling events (2.15), macros, office hours schedules and content
//! snippets (2.16).
//!
//! Every draw here comes from random streams of its own, one per kind of data, seeded from the
//! workspace's seed (or, in [`World::evolve`], from its `now`), never from the stream the first
//! data is drawn from: a workspace generated from a seed keeps every record and value it had
//! before these were added, so that the tap's tests and its benchmark see the same workspace, and
//! one kind's size does not move another kind's values.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{BASE, Rng, Size, WORDS, World};
use crate::reply::LINK_BASE;

/// How long Intercom lets `GET /events` list an event: "less than 90 days old".
pub const EVENT_WINDOW_SECS: i64 = 90 * 86_400;

/// The default page of `GET /events`: the description leaves it out, Intercom's older reference
/// says 50.
pub const EVENTS_PER_PAGE: usize = 50;

/// Generated events' ages in the window stay below 88 days and those outside it above 91: the
/// fake's clock moves on while it serves, and an event must not cross the window's edge during a
/// test (nor during the day the fake moves them to, [`World::bring_events_to`]).
const RECENT_AGES: (i64, i64) = (0, 88 * 86_400);
const OLD_AGES: (i64, i64) = (91 * 86_400, 300 * 86_400);

/// Event names, with the description Intercom's summaries give each.
const EVENT_NAMES: &[(&str, &str)] = &[
    ("placed-order", "A user placed an order"),
    ("invited-friend", "A user invited a friend"),
    ("updated-plan", "A user changed plan"),
    ("viewed-pricing", "A user looked at the pricing page"),
    ("exported-report", "A user exported a report"),
];

/// A random stream of its own for one kind of data (`salt` tells them apart).
fn stream(seed: u64, salt: u64) -> Rng {
    Rng::new(seed.rotate_left(17) ^ salt)
}

/// A number of seconds in `from..to`.
fn secs_between(rng: &mut Rng, (from, to): (i64, i64)) -> i64 {
    from + i64::try_from(rng.below(u64::try_from(to - from).unwrap_or(1))).unwrap_or(0)
}

/// A Unix time as ISO 8601 in UTC, to the second: `2024-06-01T00:00:00Z`.
pub fn iso8601(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// The same with milliseconds, as macros carry their times: `2024-06-01T00:00:00.000Z`.
pub fn iso8601_millis(t: i64) -> String {
    let mut s = iso8601(t);
    s.insert_str(s.len() - 1, ".000");
    s
}

/// A string shaped like a UUID.
fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-8{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(3),
        rng.hex(3),
        rng.hex(12)
    )
}

/// An admin's id as the integer some endpoints send it as.
fn admin_number(admin: Option<&Value>) -> i64 {
    admin
        .and_then(|a| a["id"].as_str())
        .and_then(|id| id.parse().ok())
        .unwrap_or(1)
}

impl World {
    /// Adds the data of §7's endpoints to a workspace whose first data is generated.
    pub(super) fn generate_more(&mut self, seed: u64, size: Size) {
        let mut rng = stream(seed, 0x5e6d);
        for contact in &self.contacts {
            let memberships = memberships(&mut rng, contact, &self.user_segments);
            self.contact_segments
                .insert(contact["id"].as_str().unwrap_or_default().to_owned(), memberships);
        }
        self.generate_events(&mut stream(seed, 0xe7e7), size);
        let mut rng = stream(seed, 0xca11);
        self.calls = (0..size.calls)
            .map(|i| {
                let created = rng.time();
                call(&mut rng, i, created, self)
            })
            .collect();
        let mut rng = stream(seed, 0x4e35);
        self.newsfeeds = (0..size.newsfeeds).map(|i| newsfeed(&mut rng, i)).collect();
        self.news_items = (0..size.news_items).map(|i| news_item(&mut rng, i, self)).collect();
        let mut rng = stream(seed, 0x57a7);
        for article in &self.articles {
            let stats = article_statistics(&mut rng, article["state"] == "draft");
            self.article_statistics.insert(id_of(article), stats);
        }
        let mut rng = stream(seed, 0xa3a4);
        self.away_status_reasons = (0..size.away_status_reasons)
            .map(|i| away_status_reason(&mut rng, i, size.away_status_reasons))
            .collect();
        let mut rng = stream(seed, 0x1a7e);
        self.internal_articles = (0..size.internal_articles)
            .map(|i| internal_article(&mut rng, i, self))
            .collect();
        self.generate_brands(&mut stream(seed, 0xb4a0), size);
        let mut rng = stream(seed, 0x4a4d);
        for conversation in &self.conversations {
            let events = handling_events(&mut rng, conversation, &self.admins);
            if !events.is_empty() {
                self.handling_events.insert(id_of(conversation), events);
            }
        }
        let mut rng = stream(seed, 0x3ac0);
        self.macros = (0..size.macros).map(|i| macro_(&mut rng, i, self)).collect();
        // One macro in ten shares its last change's second with the one before: the cursor's
        // id breaks the tie.
        for i in 1..self.macros.len() {
            if i % 10 == 5 {
                let previous = self.macros[i - 1]["_updated_at"].as_i64().unwrap_or(BASE);
                set_macro_updated(&mut self.macros[i], previous);
            }
        }
        let mut rng = stream(seed, 0x0ff1);
        self.office_hours_schedules = (0..size.office_hours_schedules)
            .map(|i| office_hours_schedule(&mut rng, i))
            .collect();
        let mut rng = stream(seed, 0x5a1b);
        self.content_snippets = (0..size.content_snippets)
            .map(|i| content_snippet(&mut rng, i))
            .collect();
        self.events_clock = Some(BASE);
    }

    /// Data events for the first `size.event_contacts` contacts: about a third have none, one in
    /// twelve more recent ones than a page holds, one in twelve only events older than the
    /// window `GET /events` lists, the others a few, some of them older than the window.
    fn generate_events(&mut self, rng: &mut Rng, size: Size) {
        for contact in self.contacts.iter().take(size.event_contacts) {
            let (recent, old) = match rng.below(12) {
                0..=3 => (0, 0),
                4 => (EVENTS_PER_PAGE + 1 + usize::try_from(rng.below(60)).unwrap_or(0), 3),
                5 => (0, 1 + usize::try_from(rng.below(3)).unwrap_or(0)),
                _ => {
                    let most = u64::try_from(2 * size.events_per_contact).unwrap_or(u64::MAX);
                    let n = 1 + usize::try_from(rng.below(most)).unwrap_or(0);
                    let old = usize::try_from(rng.below(u64::try_from(n / 3 + 1).unwrap_or(1))).unwrap_or(0);
                    (n - old, old)
                }
            };
            let mut events: Vec<Value> = (0..recent + old)
                .map(|k| {
                    let age = secs_between(rng, if k < recent { RECENT_AGES } else { OLD_AGES });
                    data_event(rng, contact, BASE - age)
                })
                .collect();
            if events.is_empty() {
                continue;
            }
            order_events(&mut events);
            self.data_events.insert(id_of(contact), events);
        }
    }

    /// Brands (the default one's id is the workspace's) and the sender emails each uses.
    fn generate_brands(&mut self, rng: &mut Rng, size: Size) {
        let brand_ids: Vec<String> = (0..size.brands)
            .map(|i| {
                if i == 0 {
                    "abc123".to_owned()
                } else {
                    (2 + i).to_string()
                }
            })
            .collect();
        self.emails = (0..size.emails).map(|i| email_setting(rng, i, &brand_ids)).collect();
        self.brands = brand_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let created = rng.time();
                let address = self
                    .emails
                    .iter()
                    .find(|e| e["brand_id"] == id.as_str())
                    .or(self.emails.first())
                    .map_or(Value::Null, |e| e["id"].clone());
                let help_center = self
                    .help_centers
                    .get(i % self.help_centers.len().max(1))
                    .map_or(Value::Null, |h| h["id"].clone());
                json!({
                    "type": "brand", "id": id,
                    "name": if i == 0 { "Default Brand".to_owned() } else { format!("{} Brand", rng.pick(&["Premium", "Outdoor", "Kids", "Pro", "Studio"])) },
                    "is_default": i == 0, "created_at": created, "updated_at": created + secs_between(rng, (0, 86_400 * 200)),
                    "help_center_id": help_center, "default_address_settings_id": address,
                })
            })
            .collect();
    }

    /// Moves the generated data events so that their ages count from the start of `now`'s day
    /// (UTC) instead of from the generator's clock ([`BASE`]): `GET /events` lists only the last
    /// 90 days of the fake's clock, which is the real one, and a workspace dated 2024 would have
    /// none. The same seed gives the same events on the same day; ages are kept, so the same
    /// events are in the window (events [`World::evolve`] added before move with them). Does
    /// nothing once done (`events_clock` is then `None`), nor to events set by hand in a
    /// workspace that was not generated.
    pub fn bring_events_to(&mut self, now: i64) {
        let Some(clock) = self.events_clock.take() else {
            return;
        };
        let shift = now.div_euclid(86_400) * 86_400 - clock;
        for event in self.data_events.values_mut().flatten() {
            event["created_at"] = json!(event["created_at"].as_i64().unwrap_or(0) + shift);
            event["_ms"] = json!(event["_ms"].as_i64().unwrap_or(0) + shift * 1_000);
        }
    }

    /// The events `GET /events` lists for a contact at `now`: those of the last 90 days.
    pub fn listable_events(&self, contact_id: &str, now: i64) -> impl Iterator<Item = &Value> {
        self.data_events
            .get(contact_id)
            .into_iter()
            .flatten()
            .filter(move |e| e["created_at"].as_i64().is_some_and(|t| t > now - EVENT_WINDOW_SECS))
    }

    /// The records a full sync of each of §7's streams reads at `now`, into `out` (see
    /// [`World::summary`]).
    pub(super) fn summarize_more(&self, now: i64, out: &mut Map<String, Value>) {
        let events: usize = self
            .contacts
            .iter()
            .map(|c| self.listable_events(c["id"].as_str().unwrap_or_default(), now).count())
            .sum();
        let handling: usize = self
            .conversations
            .iter()
            .filter_map(|c| self.handling_events.get(c["id"].as_str().unwrap_or_default()))
            .map(Vec::len)
            .sum();
        for (stream, n) in [
            ("contact_segments", self.contacts.len()),
            ("data_events", events),
            ("calls", self.calls.len()),
            ("call_transcripts", self.calls.len()),
            ("news_items", self.news_items.len()),
            ("newsfeeds", self.newsfeeds.len()),
            ("article_statistics", self.articles.len()),
            ("away_status_reasons", self.away_status_reasons.len()),
            ("internal_articles", self.internal_articles.len()),
            ("brands", self.brands.len()),
            ("emails", self.emails.len()),
            ("conversation_handling_events", handling),
            ("macros", self.macros.len()),
            ("office_hours_schedules", self.office_hours_schedules.len()),
            ("content_snippets", self.content_snippets.len()),
        ] {
            out.insert(stream.into(), json!(n));
        }
    }

    /// Moves §7's data on as between two syncs, after the first streams moved ([`World::evolve`]):
    /// see the report's keys below. Nothing here touches a record of the first streams.
    pub(super) fn evolve_more(&mut self, now: i64, every: usize, report: &mut Map<String, Value>) {
        let mut rng = stream(u64::try_from(now).unwrap_or(0), 0xe401);
        let mut note = |stream: &str, entry: Value| {
            report.insert(stream.into(), entry);
        };
        note("contact_segments", self.evolve_memberships(&mut rng, every));
        note("data_events", self.evolve_events(&mut rng, now, every));
        note("calls", self.evolve_calls(&mut rng, now, every));
        note("article_statistics", self.evolve_statistics(&mut rng, every));
        note("macros", self.evolve_macros(&mut rng, now, every));
    }

    /// Every `every`-th contact that this evolution did not edit (from the `every - 1`-th) joins a
    /// segment or leaves one, and its `updated_at` stays: Intercom's memberships follow rules
    /// and change without the contact changing. A new contact gets its memberships.
    fn evolve_memberships(&mut self, rng: &mut Rng, every: usize) -> Value {
        let mut changed = Vec::new();
        let mut added = Vec::new();
        for (i, contact) in self.contacts.iter().enumerate() {
            let id = id_of(contact);
            let Some(list) = self.contact_segments.get_mut(&id) else {
                let memberships = memberships(rng, contact, &self.user_segments);
                self.contact_segments.insert(id.clone(), memberships);
                added.push(json!(id));
                continue;
            };
            if every < 2 || i % every != every - 1 {
                continue;
            }
            if list.pop().is_none() {
                let kind = person_type(contact);
                let Some(segment) = self.user_segments.iter().find(|s| s["person_type"] == kind) else {
                    continue;
                };
                list.push(id_of(segment));
            }
            changed.push(json!(id));
        }
        json!({"changed": changed, "added": added})
    }

    /// Events tracked at `now` for some contacts: half of those this evolution edited (whose
    /// `updated_at` is `now` anyway: tracking moved it) and as many it did not edit, whose
    /// `updated_at` stays (tracking did not move it: Intercom does not say either way, so a tap
    /// must find both).
    fn evolve_events(&mut self, rng: &mut Rng, now: i64, every: usize) -> Value {
        let mut added = Vec::new();
        let mut moved = Vec::new();
        let mut kept = Vec::new();
        // Not the contact this evolution added, which has just been created.
        let existing = self.contacts.len().saturating_sub(1);
        for (i, contact) in self.contacts.iter().take(existing).enumerate() {
            let edited = i % every == 0;
            let chosen = (i / every) % 2 == 0 && (edited || (every > 1 && i % every == every / 2));
            if !chosen {
                continue;
            }
            let id = id_of(contact);
            let mut event = data_event(rng, contact, now);
            let events = self.data_events.entry(id.clone()).or_default();
            let last = events.last().and_then(|e| e["_ms"].as_i64()).unwrap_or(0);
            event["_ms"] = json!((now * 1_000).max(last + 1));
            added.push(event["id"].clone());
            events.push(event);
            if edited { &mut moved } else { &mut kept }.push(json!(id));
        }
        json!({"changed": [], "added": added, "moved_updated_at": moved, "kept_updated_at": kept})
    }

    /// Every `every`-th call is updated at `now` (one in progress ends), and a new one starts.
    fn evolve_calls(&mut self, rng: &mut Rng, now: i64, every: usize) -> Value {
        let changed: Vec<Value> = self
            .calls
            .iter_mut()
            .step_by(every)
            .map(|c| {
                c["updated_at"] = json!(now);
                if c["state"] == "in_progress" {
                    c["state"] = json!("completed");
                    c["ended_at"] = json!(now);
                    c["ended_reason"] = json!("answered");
                    c["recording_url"] = json!(format!("{LINK_BASE}/calls/{}/recording", id_of(c)));
                }
                c["id"].clone()
            })
            .collect();
        let mut added = call(rng, self.calls.len(), now - 900, self);
        added["updated_at"] = json!(now);
        let id = added["id"].clone();
        self.calls.push(added);
        json!({"changed": changed, "added": [id]})
    }

    /// Views and conversions of every `every`-th article this evolution did not edit (from the
    /// middle one) grow, and its `updated_at` stays: statistics change without the article
    /// changing. A new article gets statistics of its own.
    fn evolve_statistics(&mut self, rng: &mut Rng, every: usize) -> Value {
        let mut changed = Vec::new();
        let mut added = Vec::new();
        for (i, article) in self.articles.iter().enumerate() {
            let id = id_of(article);
            let Some(stats) = self.article_statistics.get_mut(&id) else {
                self.article_statistics
                    .insert(id.clone(), article_statistics(rng, article["state"] == "draft"));
                added.push(json!(id));
                continue;
            };
            if every < 2 || i % every != every / 2 {
                continue;
            }
            let more = rng.below(50) + 1;
            stats["views"] = json!(stats["views"].as_u64().unwrap_or(0) + more);
            stats["conversions"] = json!(stats["conversions"].as_u64().unwrap_or(0) + more / 10);
            changed.push(json!(id));
        }
        json!({"changed": changed, "added": added})
    }

    /// Every `every`-th macro is renamed at `now`, and a new one is saved.
    fn evolve_macros(&mut self, rng: &mut Rng, now: i64, every: usize) -> Value {
        let changed: Vec<Value> = self
            .macros
            .iter_mut()
            .step_by(every)
            .map(|m| {
                let old = m["name"].as_str().unwrap_or("untitled").to_owned();
                m["name"] = json!(format!("{old} (edited)"));
                set_macro_updated(m, now);
                m["id"].clone()
            })
            .collect();
        let fresh = self.macros.len();
        let mut added = macro_(rng, fresh, self);
        added["created_at"] = json!(iso8601_millis(now));
        set_macro_updated(&mut added, now);
        let id = added["id"].clone();
        self.macros.push(added);
        json!({"changed": changed, "added": [id]})
    }
}

fn id_of(item: &Value) -> String {
    crate::search::id_of(item)
}

/// The `person_type` of the segments a contact can be in: leads are `contact`.
fn person_type(contact: &Value) -> &'static str {
    if contact["role"] == "lead" { "contact" } else { "user" }
}

/// A contact's segments: each of the user segments of its person type, with a chance of two in five.
fn memberships(rng: &mut Rng, contact: &Value, segments: &[Value]) -> Vec<String> {
    let kind = person_type(contact);
    segments
        .iter()
        .filter(|s| s["person_type"] == kind)
        .filter(|_| rng.chance(40))
        .map(id_of)
        .collect()
}

/// One data event of `contact` at `at`, in the shape of the description's `data_event`, with its
/// instant in milliseconds under the fake's own `_ms`. The description's `id` ("your identifier
/// for a lead or a user") reads like an event's own id in every example: each event has one.
fn data_event(rng: &mut Rng, contact: &Value, at: i64) -> Value {
    let (name, _) = *rng.pick(EVENT_NAMES);
    let metadata = match name {
        "placed-order" => {
            json!({"order_id": format!("ord-{}", rng.below(100_000)), "amount": format!("{}.00", rng.below(500) + 5)})
        }
        "invited-friend" => {
            json!({"invitee_email": format!("friend{}@example.net", rng.below(1_000)), "invite_code": "ADDAFRIEND"})
        }
        "updated-plan" => json!({"plan": rng.pick(&["free", "pro", "enterprise"])}),
        _ => json!({}),
    };
    let mut event = json!({
        "type": "event", "id": uuid(rng), "event_name": name, "created_at": at,
        "intercom_user_id": contact["id"], "email": contact["email"], "metadata": metadata,
        "_ms": at * 1_000 + i64::try_from(rng.below(1_000)).unwrap_or(0),
    });
    // Leads have no `user_id`; the description types it as a string, not a null.
    if contact["external_id"].is_string() {
        event["user_id"] = contact["external_id"].clone();
    }
    event
}

/// Oldest first, each instant in milliseconds unique within the contact, so that paging by
/// `before` neither skips nor repeats one.
fn order_events(events: &mut [Value]) {
    events.sort_by_key(|e| e["_ms"].as_i64().unwrap_or(0));
    let mut last = i64::MIN;
    for event in events {
        let ms = event["_ms"].as_i64().unwrap_or(0).max(last + 1);
        // Still within the same second as `created_at`, unless a thousand share it.
        event["_ms"] = json!(ms);
        last = ms;
    }
}

/// What the summary of a contact's events says of one name: counts, and the first and last
/// times as Intercom writes them (`2014-01-16T23:12:21.000+00:00`).
pub fn event_summaries(events: &[Value]) -> Vec<Value> {
    let mut by_name: BTreeMap<&str, (usize, i64, i64)> = BTreeMap::new();
    for event in events {
        let t = event["created_at"].as_i64().unwrap_or(0);
        let entry = by_name
            .entry(event["event_name"].as_str().unwrap_or_default())
            .or_insert((0, t, t));
        entry.0 += 1;
        entry.1 = entry.1.min(t);
        entry.2 = entry.2.max(t);
    }
    let written = |t: i64| iso8601_millis(t).replace(".000Z", ".000+00:00");
    by_name
        .into_iter()
        .map(|(name, (count, first, last))| {
            let description = EVENT_NAMES.iter().find(|(n, _)| *n == name).map_or("", |(_, d)| d);
            json!({"name": name, "first": written(first), "last": written(last), "count": count, "description": description})
        })
        .collect()
}

/// A call, created at `created`, with its transcript under the fake's own `_transcript`: one in
/// six is missed (no answer, no recording, an empty transcript), one in fifteen still going on.
fn call(rng: &mut Rng, i: usize, created: i64, w: &World) -> Value {
    let id = (3_000_000 + i).to_string();
    let state = match rng.below(30) {
        0..=4 => "missed",
        5 | 6 => "in_progress",
        _ => "completed",
    };
    let answered = (state != "missed").then(|| created + secs_between(rng, (3, 40)));
    let duration = secs_between(rng, (30, 1_800));
    let ended = match (state, answered) {
        ("missed", _) => Some(created + 30),
        ("completed", Some(a)) => Some(a + duration),
        _ => None,
    };
    let admin = (state != "missed")
        .then(|| {
            w.admins
                .get(usize::try_from(rng.below(u64::try_from(w.admins.len()).unwrap_or(0))).unwrap_or(0))
        })
        .flatten()
        .map(|a| a["id"].clone());
    let contact = w
        .contacts
        .get(i * 7 % w.contacts.len().max(1))
        .filter(|_| !rng.chance(10));
    let conversation =
        (!w.conversations.is_empty() && rng.chance(65)).then(|| rng.pick(&w.conversations)["id"].clone());
    let fin = rng.chance(20);
    let transcript = answered.map_or(String::new(), |a| transcript(rng, ended.unwrap_or(a + duration) - a));
    json!({
        "type": "call", "id": id, "conversation_id": conversation, "admin_id": admin,
        "contact_id": contact.map(|c| c["id"].clone()), "state": state,
        "initiated_at": created, "answered_at": answered, "ended_at": ended,
        "created_at": created, "updated_at": ended.unwrap_or(created) + secs_between(rng, (1, 120)),
        "recording_url": (state == "completed").then(|| format!("{LINK_BASE}/calls/{id}/recording")),
        "transcription_url": format!("{LINK_BASE}/calls/{id}/transcript"),
        "call_type": if rng.chance(80) { "phone" } else { "messenger" },
        "direction": if rng.chance(60) { "inbound" } else { "outbound" },
        "ended_reason": match state { "missed" => json!("no_answer"), "completed" => json!("answered"), _ => Value::Null },
        "phone": format!("+1555{:07}", rng.below(10_000_000)),
        "fin_recording_url": fin.then(|| format!("{LINK_BASE}/calls/{id}/recording?source=fin")),
        "fin_transcription_url": fin.then(|| format!("{LINK_BASE}/calls/{id}/transcript?source=fin")),
        "_transcript": transcript,
    })
}

/// A transcript as the description's example writes one: `[hh:mm:ss] Speaker: "words"` a line,
/// the teammate and the caller in turn, a line every few seconds to half a minute.
fn transcript(rng: &mut Rng, seconds: i64) -> String {
    const TEAMMATE: &[&str] = &[
        "Hello, thanks for calling. How can I help today?",
        "I can help with that.",
        "Could you tell me more about the problem?",
        "Thank you. I'll look into it now.",
        "You should receive a message shortly.",
    ];
    const CALLER: &[&str] = &[
        "I need help with my account.",
        "Okay.",
        "It started after the last update.",
        "Great, thanks.",
    ];
    let lines = usize::try_from(seconds / 30).unwrap_or(0).clamp(2, 60);
    let mut t = 3;
    (0..lines)
        .map(|k| {
            let (speaker, said) = if k % 2 == 0 {
                ("Teammate 1", if k == 0 { TEAMMATE[0] } else { *rng.pick(TEAMMATE) })
            } else {
                ("User", *rng.pick(CALLER))
            };
            let line = format!(
                "[{:02}:{:02}:{:02}] {speaker}: \"{said}\"",
                t / 3_600,
                t % 3_600 / 60,
                t % 60
            );
            t += secs_between(rng, (4, 40));
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn newsfeed(rng: &mut Rng, i: usize) -> Value {
    let created = rng.time();
    let name = ["Visitor Feed", "Customer Feed", "Beta Testers", "Partners", "Mobile"][i % 5];
    json!({"id": (68 + i).to_string(), "type": "newsfeed", "name": name, "created_at": created,
           "updated_at": created + secs_between(rng, (0, 86_400 * 30))})
}

/// A news item; live ones are on one or two newsfeeds. Reactions are emoji, or nulls as in the
/// description's example, or none (reactions off).
fn news_item(rng: &mut Rng, i: usize, w: &World) -> Value {
    let created = rng.time();
    let live = i % 4 != 1;
    let assignments: Vec<Value> = if live {
        w.newsfeeds
            .iter()
            .skip(i % w.newsfeeds.len().max(1))
            .take(1 + i % 2)
            .map(|f| json!({"newsfeed_id": f["id"].as_str().and_then(|s| s.parse::<i64>().ok()), "published_at": created + 600}))
            .collect()
    } else {
        Vec::new()
    };
    let reactions = match i % 3 {
        0 => json!(["👍", "❤️", "😄", "🎉"]),
        1 => json!([null, null, null, null]),
        _ => json!([]),
    };
    json!({
        "id": (29 + i).to_string(), "type": "news-item", "workspace_id": "abc123",
        "title": format!("News: {} ({i})", rng.pick(WORDS)), "body": format!("<p>Hello there, news number {i}.</p>"),
        "sender_id": admin_number(w.admins.get(i % w.admins.len().max(1))),
        "state": if live { "live" } else { "draft" },
        "labels": if i % 2 == 0 { json!(["Product Update"]) } else { json!([]) },
        "cover_image_url": if i % 3 == 0 { json!(format!("https://example.com/news/{i}.png")) } else { Value::Null },
        "reactions": reactions, "deliver_silently": i % 5 == 0,
        "created_at": created, "updated_at": created + secs_between(rng, (0, 86_400 * 20)),
        "newsfeed_assignments": assignments,
    })
}

/// An article's `statistics` (2.14), with 2.16's Fin counts under the fake's own `_fin_*` keys.
/// Drafts have none yet.
fn article_statistics(rng: &mut Rng, draft: bool) -> Value {
    let views = if draft { 0 } else { rng.below(5_000) };
    let reactions = rng.below(views / 10 + 1);
    let (happy, neutral) = if reactions == 0 {
        (0, 0)
    } else {
        let happy = rng.below(101);
        (happy, rng.below(101 - happy))
    };
    let sad = if reactions == 0 { 0 } else { 100 - happy - neutral };
    let involvements = rng.below(views / 20 + 1);
    let resolutions = rng.below(involvements + 1);
    let percent = |n: u64| f64::from(u32::try_from(n).unwrap_or(0));
    let rate = (resolutions * 1_000)
        .checked_div(involvements)
        .map_or(0.0, |permille| percent(permille) / 10.0);
    json!({
        "type": "article_statistics", "views": views, "conversions": rng.below(views / 50 + 1), "reactions": reactions,
        "happy_reaction_percentage": percent(happy), "neutral_reaction_percentage": percent(neutral),
        "sad_reaction_percentage": percent(sad),
        "_fin_involvements": involvements, "_fin_resolutions": resolutions, "_fin_resolution_rate": rate,
    })
}

/// An away status reason; the first one's id is the one some admins' `away_status_reason_id`
/// names, and the last of three or more is deleted (Intercom lists deleted ones too).
fn away_status_reason(rng: &mut Rng, i: usize, n: usize) -> Value {
    const REASONS: &[(&str, &str)] = &[
        ("On a break", "☕"),
        ("In a meeting", "📅"),
        ("Lunch", "🍔"),
        ("Out sick", "🤒"),
        ("On vacation", "🌴"),
        ("Focus time", "🎧"),
        ("Training", "📚"),
        ("Commuting", "🚆"),
    ];
    let created = rng.time();
    let (label, emoji) = REASONS[i % REASONS.len()];
    json!({"type": "away_status_reason", "id": (12_345 + i).to_string(), "label": label, "emoji": emoji,
           "order": i + 1, "deleted": n > 2 && i == n - 1, "created_at": created,
           "updated_at": created + secs_between(rng, (0, 86_400 * 60))})
}

fn internal_article(rng: &mut Rng, i: usize, w: &World) -> Value {
    let created = rng.time();
    let owner = admin_number(w.admins.get(i % w.admins.len().max(1)));
    let author = admin_number(w.admins.get((i + 1) % w.admins.len().max(1)));
    json!({
        "type": "internal_article", "id": (6_871_000 + i).to_string(),
        "title": format!("Internal: handling {} ({i})", rng.pick(WORDS)),
        "body": if i % 7 == 3 { Value::Null } else { json!(format!("<p>Internal guide {i}</p>")) },
        "owner_id": owner, "author_id": author, "created_at": created,
        "updated_at": created + secs_between(rng, (0, 86_400 * 90)), "locale": if i % 5 == 4 { "fr" } else { "en" },
    })
}

/// A sender email setting, for one of the brands.
fn email_setting(rng: &mut Rng, i: usize, brand_ids: &[String]) -> Value {
    let created = rng.time();
    let domain = ["example.com", "support.example.com", "example.org"][i % 3];
    let local = ["support", "hello", "billing", "team", "noreply"][i % 5];
    let forwarding = rng.chance(60);
    json!({
        "type": "email_setting", "id": (1 + i).to_string(), "email": format!("{local}{}@{domain}", if i < 5 { String::new() } else { i.to_string() }),
        "verified": i % 4 != 3, "domain": domain, "brand_id": brand_ids.get(i % brand_ids.len().max(1)),
        "forwarding_enabled": forwarding,
        "forwarded_email_last_received_at": if forwarding { json!(created + secs_between(rng, (0, 86_400 * 100))) } else { Value::Null },
        "created_at": created, "updated_at": created + secs_between(rng, (0, 86_400 * 100)),
    })
}

/// The pauses and resumptions of handling a conversation, oldest first: none for about two
/// conversations in five, up to three pauses for the others, the last one sometimes not resumed
/// yet. Times are ISO 8601 strings, as the description gives them.
fn handling_events(rng: &mut Rng, conversation: &Value, admins: &[Value]) -> Vec<Value> {
    let pauses = match rng.below(10) {
        0..=3 => 0,
        4..=7 => 1,
        8 => 2,
        _ => 3,
    };
    let created = conversation["created_at"].as_i64().unwrap_or(BASE);
    let updated = conversation["updated_at"].as_i64().unwrap_or(created).max(created + 60);
    let admin = conversation["admin_assignee_id"]
        .as_i64()
        .and_then(|id| admins.iter().find(|a| a["id"] == id.to_string().as_str()))
        .or(admins.first());
    let teammate = admin.map_or(
        json!({"type": "bot", "id": 0, "name": "Fin", "email": null}),
        |a| json!({"type": "admin", "id": admin_number(Some(a)), "name": a["name"], "email": a["email"]}),
    );
    let mut t = created;
    let step = (updated - created) / (2 * pauses + 1).max(1);
    let mut events = Vec::new();
    for k in 0..pauses {
        t += secs_between(rng, (1, step.max(2)));
        events.push(json!({"teammate": teammate, "type": "paused", "timestamp": iso8601(t),
                           "reason": rng.pick(&["Paused", "Away", "Lunch"])}));
        if k + 1 == pauses && rng.chance(20) {
            break;
        }
        t += secs_between(rng, (1, step.max(2)));
        events.push(json!({"teammate": teammate, "type": "resumed", "timestamp": iso8601(t)}));
    }
    events
}

/// Sets a macro's last change, in its ISO form and in seconds (`_updated_at`, which the fake
/// sorts and filters by).
fn set_macro_updated(m: &mut Value, t: i64) {
    m["updated_at"] = json!(iso8601_millis(t));
    m["_updated_at"] = json!(t);
}

/// A macro: its body with placeholders as the API rewrites them, its text with Intercom's own;
/// one in fifteen has neither (as in the description's last example).
fn macro_(rng: &mut Rng, i: usize, w: &World) -> Value {
    let created = rng.time();
    let updated = created + secs_between(rng, (0, 86_400 * 60));
    let (body, text) = if i % 15 == 14 {
        (Value::Null, Value::Null)
    } else {
        let topic = rng.pick(WORDS);
        (
            json!(format!(
                "<p>Hi <attribute key=\"user.name\" default=\"there\"/>, about {topic}: we are on it.</p>"
            )),
            json!(format!(
                "Hi {{{{user.name|fallback:\"there\"}}}}, about {topic}: we are on it."
            )),
        )
    };
    let teams: Vec<Value> = if i % 3 == 2 {
        w.teams.iter().take(2).map(|t| t["id"].clone()).collect()
    } else {
        Vec::new()
    };
    let mut m = json!({
        "type": "macro", "id": (1_000 + i).to_string(),
        "name": format!("{} {} ({i})", rng.pick(&["Reply:", "Template:", "Quick:"]), rng.pick(WORDS)),
        "body": body, "body_text": text, "created_at": iso8601_millis(created),
        "visible_to": if teams.is_empty() { "everyone" } else { "specific_teams" }, "visible_to_team_ids": teams,
        "available_on": if i % 2 == 0 { json!(["inbox", "messenger"]) } else { json!(["inbox"]) },
    });
    set_macro_updated(&mut m, updated);
    m
}

/// An office hours schedule: weekdays nine to five in its time zone (minutes from Monday 00:00),
/// or open all week.
fn office_hours_schedule(rng: &mut Rng, i: usize) -> Value {
    let created = rng.time();
    let always = i % 3 == 2;
    let intervals: Vec<Value> = if always {
        vec![json!({"start_minute": 0, "end_minute": 10_080, "day_of_week": 0})]
    } else {
        (0..5)
            .map(
                |day| json!({"start_minute": day * 1_440 + 540, "end_minute": day * 1_440 + 1_020, "day_of_week": day}),
            )
            .collect()
    };
    json!({
        "type": "office_hours_schedule", "id": (123 + i).to_string(),
        "name": (["Standard Support Hours", "EMEA Hours", "Always Open", "APAC Hours", "Holiday Cover"][i % 5]),
        "time_zone_name": (["America/New_York", "Europe/Paris", "UTC", "Asia/Tokyo", "Australia/Sydney"][i % 5]),
        "time_intervals": intervals, "twenty_four_seven": always,
        "created_at": created, "updated_at": created + secs_between(rng, (0, 86_400 * 120)),
    })
}

fn content_snippet(rng: &mut Rng, i: usize) -> Value {
    let created = rng.time();
    let topic = rng.pick(WORDS);
    let title = format!("About {topic} ({i})");
    let on = i % 4 != 3;
    json!({
        "type": "content_snippet", "id": (123 + i).to_string(),
        "title": if i % 10 == 9 { Value::Null } else { json!(title) }, "locale": if i % 6 == 5 { "fr" } else { "en" },
        "json_blocks": [{"type": "paragraph", "text": format!("What to say about {topic}.")}],
        "body_markdown": if i % 8 == 7 { Value::Null } else { json!(format!("# {title}\n\nWhat to say about {topic}.\n")) },
        "chatbot_availability": u8::from(on), "copilot_availability": 1,
        "ai_chatbot_availability": on, "ai_copilot_availability": true, "ai_sales_agent_availability": i % 2 == 0,
        "created_at": created, "updated_at": created + secs_between(rng, (0, 86_400 * 45)),
        "audience_ids": match i % 3 { 0 => json!([1, 2]), 1 => json!([]), _ => Value::Null },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_writes_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(BASE), "2024-06-01T00:00:00Z");
        assert_eq!(iso8601(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601_millis(1_752_751_088), "2025-07-17T11:18:08.000Z");
    }

    /// A size with none of §7's data.
    fn without_more(size: Size) -> Size {
        Size {
            event_contacts: 0,
            events_per_contact: 0,
            calls: 0,
            news_items: 0,
            newsfeeds: 0,
            away_status_reasons: 0,
            internal_articles: 0,
            brands: 0,
            emails: 0,
            macros: 0,
            office_hours_schedules: 0,
            content_snippets: 0,
            ..size
        }
    }

    #[test]
    fn the_new_data_leaves_the_first_data_as_it_was_and_follows_the_seed() {
        let with = World::generate(9, Size::small());
        let without = World::generate(9, without_more(Size::small()));
        for (a, b) in [
            (&with.contacts, &without.contacts),
            (&with.companies, &without.companies),
            (&with.conversations, &without.conversations),
            (&with.tickets, &without.tickets),
            (&with.articles, &without.articles),
            (&with.user_segments, &without.user_segments),
            (&with.activity_logs, &without.activity_logs),
        ] {
            assert_eq!(a, b);
        }
        assert!(without.calls.is_empty() && without.data_events.is_empty());
        let again = World::generate(9, Size::small());
        assert_eq!(with.data_events, again.data_events);
        assert_eq!(with.contact_segments, again.contact_segments);
        assert_eq!(with.calls, again.calls);
        assert_eq!(with.macros, again.macros);
        assert_eq!(with.handling_events, again.handling_events);
        assert_ne!(with.calls, World::generate(10, Size::small()).calls);
        // One kind's size does not move another kind's values.
        let fewer_calls = World::generate(
            9,
            Size {
                calls: 3,
                ..Size::small()
            },
        );
        assert_eq!(fewer_calls.macros, with.macros);
        assert_eq!(fewer_calls.data_events, with.data_events);
        assert_eq!(fewer_calls.calls[..], with.calls[..3]);
    }

    #[test]
    fn events_keep_their_ages_when_brought_to_the_fakes_clock() {
        let mut w = World::generate(2, Size::small());
        assert_eq!(w.events_clock, Some(BASE));
        let before = w.data_events.clone();
        let now = BASE + 800 * 86_400 + 3_600;
        let listable = |w: &World, at: i64| -> usize {
            w.contacts
                .iter()
                .map(|c| w.listable_events(c["id"].as_str().unwrap(), at).count())
                .sum()
        };
        let at_base = listable(&w, BASE);
        assert!(at_base > 0 && listable(&w, now) == 0);
        w.bring_events_to(now);
        assert_eq!(w.events_clock, None);
        let shift = 800 * 86_400;
        for (id, events) in &w.data_events {
            for (moved, was) in events.iter().zip(&before[id]) {
                assert_eq!(
                    moved["created_at"].as_i64().unwrap(),
                    was["created_at"].as_i64().unwrap() + shift
                );
                assert_eq!(
                    moved["_ms"].as_i64().unwrap(),
                    was["_ms"].as_i64().unwrap() + shift * 1_000
                );
                assert_eq!(
                    moved["_ms"].as_i64().unwrap() / 1_000,
                    moved["created_at"].as_i64().unwrap()
                );
            }
        }
        assert_eq!(listable(&w, now), at_base, "the same events are in the window");
        assert_eq!(w.summary_at(now)["data_events"], json!(at_base));
        // Once only.
        let moved = w.data_events.clone();
        w.bring_events_to(now + 86_400 * 5);
        assert_eq!(w.data_events, moved);
    }

    #[test]
    fn the_summary_counts_the_new_streams() {
        let w = World::generate(1, Size::small());
        let summary = w.summary_at(BASE);
        let handling: usize = w.handling_events.values().map(Vec::len).sum();
        for (stream, n) in [
            ("contact_segments", w.contacts.len()),
            ("calls", w.calls.len()),
            ("call_transcripts", w.calls.len()),
            ("news_items", 12),
            ("newsfeeds", 3),
            ("article_statistics", w.articles.len()),
            ("away_status_reasons", 4),
            ("internal_articles", 30),
            ("brands", 2),
            ("emails", 3),
            ("conversation_handling_events", handling),
            ("macros", 60),
            ("office_hours_schedules", 3),
            ("content_snippets", 55),
        ] {
            assert_eq!(summary[stream], json!(n), "{stream}");
        }
        let all = w.data_events.values().map(Vec::len).sum::<usize>();
        let listed = summary["data_events"].as_u64().unwrap();
        assert!(
            listed > 0 && listed < all as u64,
            "only the last 90 days: {listed} of {all}"
        );
        assert!(handling > 0);
        // The first streams' counts are as they were.
        assert_eq!(summary["contacts"], json!(w.contacts.len()));
        assert_eq!(summary["articles"], json!(w.articles.len()));
    }

    #[test]
    fn evolving_moves_memberships_and_statistics_without_moving_updated_at() {
        let mut w = World::generate(3, Size::small());
        let now = BASE + 86_400;
        let before = w.clone();
        let report = w.evolve(now, 10);
        let contact = |w: &World, id: &Value| w.contacts.iter().find(|c| c["id"] == *id).unwrap().clone();

        let changed = report["contact_segments"]["changed"].as_array().unwrap();
        assert!(!changed.is_empty());
        for id in changed {
            let key = id.as_str().unwrap();
            assert_ne!(w.contact_segments[key], before.contact_segments[key], "{id}");
            assert_eq!(
                contact(&w, id)["updated_at"],
                contact(&before, id)["updated_at"],
                "{id}"
            );
            assert!(!report["contacts"]["changed"].as_array().unwrap().contains(id));
        }
        let fresh = report["contacts"]["added"][0].clone();
        assert_eq!(report["contact_segments"]["added"], json!([fresh]));
        assert!(w.contact_segments.contains_key(fresh.as_str().unwrap()));

        let stats = report["article_statistics"]["changed"].as_array().unwrap();
        assert!(!stats.is_empty());
        for id in stats {
            let key = id.as_str().unwrap();
            assert!(w.article_statistics[key]["views"].as_u64() > before.article_statistics[key]["views"].as_u64());
            let article = |w: &World| w.articles.iter().find(|a| a["id"] == *id).unwrap()["updated_at"].clone();
            assert_eq!(article(&w), article(&before), "{id}");
        }
        let new_article = &report["articles"]["added"][0];
        assert_eq!(report["article_statistics"]["added"], json!([new_article]));
    }

    #[test]
    fn evolving_tracks_events_that_move_updated_at_for_some_contacts_only() {
        let mut w = World::generate(3, Size::small());
        let now = BASE + 86_400;
        let before = w.clone();
        let report = w.evolve(now, 10);
        let events = &report["data_events"];
        let moved = events["moved_updated_at"].as_array().unwrap();
        let kept = events["kept_updated_at"].as_array().unwrap();
        assert!(!moved.is_empty() && !kept.is_empty(), "{events}");
        assert_eq!(events["added"].as_array().unwrap().len(), moved.len() + kept.len());
        let edited = report["contacts"]["changed"].as_array().unwrap();
        for id in moved.iter().chain(kept) {
            let key = id.as_str().unwrap();
            let last = w.data_events[key].last().unwrap();
            assert_eq!(last["created_at"], json!(now));
            assert!(events["added"].as_array().unwrap().contains(&last["id"]));
            let was = before.data_events.get(key).map_or(0, Vec::len);
            assert_eq!(w.data_events[key].len(), was + 1);
            let updated = w.contacts.iter().find(|c| c["id"] == *id).unwrap()["updated_at"].clone();
            if moved.contains(id) {
                assert!(edited.contains(id));
                assert_eq!(updated, json!(now));
            } else {
                assert!(!edited.contains(id));
                assert_ne!(updated, json!(now));
            }
        }
        for events in w.data_events.values() {
            let ms: Vec<i64> = events.iter().map(|e| e["_ms"].as_i64().unwrap()).collect();
            assert!(ms.windows(2).all(|m| m[0] < m[1]), "instants stay unique and in order");
        }

        for (stream, items) in [("calls", &w.calls), ("macros", &w.macros)] {
            let changed = report[stream]["changed"].as_array().unwrap();
            assert_eq!(changed.len(), (items.len() - 1).div_ceil(10), "{stream}");
            assert_eq!(report[stream]["added"].as_array().unwrap().len(), 1);
            assert_eq!(items.last().unwrap()["id"], report[stream]["added"][0]);
        }
        for id in report["calls"]["changed"].as_array().unwrap() {
            let call = w.calls.iter().find(|c| c["id"] == *id).unwrap();
            assert_eq!(call["updated_at"], json!(now));
            assert_ne!(call["state"], "in_progress");
        }
        for id in report["macros"]["changed"].as_array().unwrap() {
            let m = w.macros.iter().find(|c| c["id"] == *id).unwrap();
            assert_eq!(m["updated_at"], json!(iso8601_millis(now)));
            assert!(m["name"].as_str().unwrap().ends_with(" (edited)"));
        }
        assert_eq!(w.calls.last().unwrap()["updated_at"], json!(now));
    }
}
