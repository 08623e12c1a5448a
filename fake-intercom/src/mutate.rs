//! One change to a JSON answer, chosen by a seed: how the fuzz tests corrupt Intercom's answers
//! (`FaultKind::Mutated`). The same seed always makes the same change to the same answer.
//!
//! Besides values that no answer should hold (a value of another type, a key removed), the
//! changes include what real answers or Intercom's descriptions allow and a tap must survive: a
//! null item, a property no schema declares, an avatar sent as its bare URL, a timestamp in
//! another form, a null cursor.

use serde_json::{Value, json};

use crate::Rng;

/// The kinds of change. Each answer gets one of those it has a place for, with a fair share each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Down from the top by chance: a value replaced by one of another type, or removed.
    Walk,
    /// An item of an array replaced by `null`.
    NullItem,
    /// A property no schema declares, added to an object.
    Undeclared,
    /// An object with an `image_url` (an avatar) replaced by that URL.
    BareImageUrl,
    /// A Unix-seconds timestamp (`…_at`) in another form.
    Timestamp,
    /// A `starting_after` cursor set to `null`.
    NullCursor,
}

/// Where each kind of change other than the walk can be made, as JSON pointers.
#[derive(Debug, Default)]
struct Places {
    items: Vec<String>,
    objects: Vec<String>,
    images: Vec<String>,
    timestamps: Vec<String>,
    cursors: Vec<String>,
}

impl Places {
    /// Where `kind` can go; nowhere for the walk, which finds its own way.
    fn of(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Walk => &[],
            Kind::NullItem => &self.items,
            Kind::Undeclared => &self.objects,
            Kind::BareImageUrl => &self.images,
            Kind::Timestamp => &self.timestamps,
            Kind::NullCursor => &self.cursors,
        }
    }
}

/// Changes one value of `answer`, chosen with `seed`. Returns where, as a JSON pointer, then the
/// kind of change in parentheses (`/data/3/updated_at (milliseconds)`), so that a test can tell
/// what the answer lost; the pointer comes first, for callers that split it on `/`.
pub fn one_change(answer: &mut Value, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut places = Places::default();
    find_places(answer, &mut String::new(), None, &mut places);
    let kinds: Vec<Kind> = [
        Kind::Walk,
        Kind::NullItem,
        Kind::Undeclared,
        Kind::BareImageUrl,
        Kind::Timestamp,
        Kind::NullCursor,
    ]
    .into_iter()
    .filter(|&k| k == Kind::Walk || !places.of(k).is_empty())
    .collect();
    let kind = *rng.pick(&kinds);
    if kind == Kind::Walk {
        return walk(answer, &mut rng);
    }
    let at = rng.pick(places.of(kind)).clone();
    let Some(target) = answer.pointer_mut(&at) else {
        // Cannot happen: the places were found in this answer, which nothing changed since.
        return walk(answer, &mut rng);
    };
    let label = match kind {
        Kind::Undeclared => {
            let name = undeclared(&mut rng, target);
            return format!("{at}/{name} (undeclared property)");
        }
        Kind::NullItem => {
            *target = Value::Null;
            "null item"
        }
        Kind::NullCursor => {
            *target = Value::Null;
            "null cursor"
        }
        Kind::BareImageUrl => {
            *target = target["image_url"].clone();
            "bare image url"
        }
        Kind::Timestamp => other_form(&mut rng, target),
        Kind::Walk => unreachable!("the walk returned above"),
    };
    format!("{at} ({label})")
}

/// `key` as one step of a JSON pointer (RFC 6901: `~` and `/` escaped).
fn step(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Collects, under `path`, the places each kind of change can go; `key` is the name `value` has
/// in its object, if it is in one.
fn find_places(value: &Value, path: &mut String, key: Option<&str>, places: &mut Places) {
    let len = path.len();
    match value {
        Value::Object(map) => {
            places.objects.push(path.clone());
            if map.get("image_url").is_some_and(Value::is_string) {
                places.images.push(path.clone());
            }
            for (k, v) in map {
                path.push('/');
                path.push_str(&step(k));
                find_places(v, path, Some(k), places);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push('/');
                path.push_str(&i.to_string());
                if !v.is_null() {
                    places.items.push(path.clone());
                }
                find_places(v, path, None, places);
                path.truncate(len);
            }
        }
        Value::Number(n) if (n.is_i64() || n.is_u64()) && key.is_some_and(|k| k.ends_with("_at")) => {
            places.timestamps.push(path.clone());
        }
        Value::String(_) if key == Some("starting_after") => places.cursors.push(path.clone()),
        _ => {}
    }
}

/// Adds a property named `zz_undeclared_<n>` to `object`, with a value of any JSON type; returns
/// its name, as a pointer step.
fn undeclared(rng: &mut Rng, object: &mut Value) -> String {
    let values = [
        Value::Null,
        json!(false),
        json!(42),
        json!(-0.25),
        json!("surprise"),
        json!([1, "two", null, {"three": 3}]),
        json!({}),
        json!({"type": "zz_thing", "id": "1", "nested": {"deeper": [{"created_at": 1_700_000_000}], "flag": true}}),
    ];
    let value = rng.pick(&values).clone();
    let Some(map) = object.as_object_mut() else {
        // Cannot happen: only objects are places for a property.
        return String::new();
    };
    loop {
        let name = format!("zz_undeclared_{}", rng.below(1_000));
        if !map.contains_key(&name) {
            map.insert(name.clone(), value);
            return step(&name);
        }
    }
}

/// Replaces a Unix-seconds timestamp by the same instant in another form, or by an instant far
/// in the past; returns the form's name.
fn other_form(rng: &mut Rng, timestamp: &mut Value) -> &'static str {
    let seconds = timestamp.as_i64().unwrap_or(i64::MAX);
    let (form, value) = match rng.below(4) {
        0 => ("milliseconds", json!(i128::from(seconds) * 1_000)),
        1 => ("numeric string", json!(seconds.to_string())),
        // Through the text, so that no cast rounds the seconds.
        2 => (
            "fractional seconds",
            format!("{seconds}.5").parse::<f64>().map_or(Value::Null, |f| json!(f)),
        ),
        // 0001-01-01T00:00:00Z: the earliest instant an RFC 3339 date-time can say.
        _ => ("far past", json!(-62_135_596_800_i64)),
    };
    *timestamp = value;
    form
}

/// Goes down from the top by `rng`'s choices and changes the value it stops at: replaced by a
/// value of another type, or removed from its object (the fuzz corpus' first kinds of change).
fn walk(answer: &mut Value, rng: &mut Rng) -> String {
    let mut at = answer;
    let mut path = String::new();
    // Go down a few levels at most, stopping at a leaf or by chance.
    for _ in 0..6 {
        let children = match &*at {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if children == 0 || rng.chance(20) {
            break;
        }
        let pick = usize::try_from(rng.below(children as u64)).unwrap_or(0);
        let removable = matches!(at, Value::Object(_)) && rng.chance(15);
        if removable {
            if let Value::Object(map) = at {
                if let Some(key) = map.keys().nth(pick).cloned() {
                    map.remove(&key);
                    path = format!("{path}/{}", step(&key));
                }
            }
            return format!("{path} (removed)");
        }
        at = match at {
            Value::Object(map) => {
                let (key, value) = map.iter_mut().nth(pick).expect("picked below the length");
                path = format!("{path}/{}", step(key));
                value
            }
            Value::Array(items) => {
                path = format!("{path}/{pick}");
                &mut items[pick]
            }
            _ => unreachable!("only objects and arrays have children"),
        };
    }
    *at = replacement(rng, at);
    format!("{path} (another type)")
}

/// A value unlike `old`: another type, or an edge of the same type.
fn replacement(rng: &mut Rng, old: &Value) -> Value {
    let candidates = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(-31_536_000),
        json!(1.5),
        json!(i64::MAX),
        json!(""),
        json!("not a date"),
        json!("2024-01-01T00:00:00Z"),
        json!([]),
        json!({}),
        json!([1, "two", null]),
        json!({"type": "list", "data": {"id": "1"}}),
        json!("\u{0}\u{1F600}\r\n"),
    ];
    loop {
        let candidate = rng.pick(&candidates);
        if candidate != old {
            return candidate.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::world::{Size, World};

    /// A contact search's page, as the fake answers it: items with timestamps, avatars, nested
    /// lists, and a next cursor.
    fn sample() -> Value {
        let world = World::generate(2, Size::small());
        let data: Vec<Value> = world.contacts.iter().take(8).map(crate::api::render_contact).collect();
        json!({"type": "list", "data": data, "total_count": 60,
               "pages": {"type": "pages", "page": 1, "per_page": 8, "total_pages": 8,
                         "next": {"page": 2, "starting_after": "WzE3MDAwMDAwMDAsImlkIiwxXQ=="}}})
    }

    /// The kind named after the pointer: `/data/3/updated_at (milliseconds)` → `milliseconds`.
    fn kind_of(change: &str) -> &str {
        let (_, kind) = change.rsplit_once(" (").unwrap();
        kind.trim_end_matches(')')
    }

    #[test]
    fn every_kind_of_change_comes_with_a_fair_share() {
        let original = sample();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for seed in 0..600 {
            let mut answer = original.clone();
            let change = one_change(&mut answer, seed);
            // The whole answer's pointer is empty: the walk may replace it all.
            let (at, _) = change.rsplit_once(" (").unwrap();
            assert!(
                at.is_empty() || at.starts_with('/'),
                "{seed}: the pointer comes first: {change}"
            );
            assert_ne!(answer, original, "{seed}: {change}");
            *counts.entry(kind_of(&change).to_owned()).or_default() += 1;
        }
        // Six kinds of change share the seeds; the walk and the timestamps split their share.
        let walk = counts.get("another type").copied().unwrap_or(0) + counts.get("removed").copied().unwrap_or(0);
        let timestamps: usize = ["milliseconds", "numeric string", "fractional seconds", "far past"]
            .iter()
            .map(|k| counts.get(*k).copied().unwrap_or(0))
            .sum();
        for (kind, n) in [
            ("the walk", walk),
            ("null item", counts["null item"]),
            ("undeclared property", counts["undeclared property"]),
            ("bare image url", counts["bare image url"]),
            ("timestamps", timestamps),
            ("null cursor", counts["null cursor"]),
        ] {
            assert!((60..=140).contains(&n), "{kind}: {n} of 600 ({counts:?})");
        }
        for kind in [
            "another type",
            "removed",
            "milliseconds",
            "numeric string",
            "fractional seconds",
            "far past",
        ] {
            assert!(counts.get(kind).is_some_and(|n| *n >= 5), "{kind}: {counts:?}");
        }
    }

    #[test]
    fn each_change_is_where_it_says() {
        let original = sample();
        for seed in 0..600 {
            let mut answer = original.clone();
            let change = one_change(&mut answer, seed);
            let (at, _) = change.rsplit_once(" (").unwrap();
            let was = original.pointer(at);
            let now = answer.pointer(at);
            match kind_of(&change) {
                "null item" => {
                    assert!(
                        was.is_some_and(|v| !v.is_null()) && now == Some(&Value::Null),
                        "{change}"
                    );
                }
                "null cursor" => assert_eq!(now, Some(&Value::Null), "{change}"),
                "undeclared property" => {
                    assert!(at.rsplit('/').next().unwrap().starts_with("zz_undeclared_"), "{change}");
                    assert!(was.is_none() && now.is_some(), "{change}");
                }
                "bare image url" => {
                    assert_eq!(now, was.map(|w| &w["image_url"]), "{change}");
                    assert!(now.is_some_and(Value::is_string), "{change}");
                }
                "milliseconds" => {
                    let seconds = was.and_then(Value::as_i64).unwrap();
                    assert_eq!(now, Some(&json!(seconds * 1_000)), "{change}");
                }
                "numeric string" => {
                    let seconds = was.and_then(Value::as_i64).unwrap();
                    assert_eq!(now, Some(&json!(seconds.to_string())), "{change}");
                }
                "fractional seconds" => {
                    let seconds = was.and_then(Value::as_i64).unwrap();
                    let fraction = now.and_then(Value::as_f64).unwrap();
                    assert_eq!(fraction.floor().to_string(), seconds.to_string(), "{change}");
                }
                "far past" => assert!(now.and_then(Value::as_i64).is_some_and(|t| t < 0), "{change}"),
                "removed" => assert!(was.is_some() && now.is_none(), "{change}"),
                "another type" => assert_ne!(was, now, "{change}"),
                other => panic!("unknown kind {other}: {change}"),
            }
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_change() {
        let original = sample();
        for seed in 0..200 {
            let (mut a, mut b) = (original.clone(), original.clone());
            assert_eq!(one_change(&mut a, seed), one_change(&mut b, seed));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn an_answer_with_no_place_for_the_new_kinds_gets_the_walk() {
        for seed in 0..50 {
            let mut answer = json!({"type": "count", "count": 3});
            let change = one_change(&mut answer, seed);
            assert!(
                ["another type", "removed", "undeclared property"].contains(&kind_of(&change)),
                "{change}"
            );
        }
    }
}
