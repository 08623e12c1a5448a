//! Stream schemas: compiled once, then used to shape every record.
//!
//! A [`Node`] is a stream's JSON Schema (after field selection) in a form that is quick to walk.
//! [`Node::apply`] turns an Intercom item into the record the schema promises: only declared
//! properties survive (open objects keep everything, and an object whose other properties have a
//! schema shapes each of them to it; [`Node::apply_noting`] hands back the others with their
//! paths), Unix-second timestamps become RFC 3339 strings, ids sent as numbers become strings,
//! and numbers sent as strings become numbers. Every conversion applies wherever its value
//! appears, at any depth: an avatar sent as its URL becomes the object its schema declares,
//! and a list envelope that holds its items under `data` (as Intercom's examples do) or under
//! its own name (as its schemas do) is read either way. A value that cannot be converted
//! without loss is an error naming the field, never a silently wrong record.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};

/// One property's compiled schema.
#[derive(Debug, Clone)]
pub struct Node {
    kind: Kind,
    nullable: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    String {
        datetime: bool,
    },
    Integer,
    Number,
    Boolean,
    /// Declared properties, sorted by name, and what becomes of the others.
    Object {
        props: Vec<(String, Node)>,
        rest: Rest,
        /// The one array property of a list envelope (`{"type": "tag.list", "tags": [...]}`),
        /// whose items may come under `data` instead.
        envelope: Option<String>,
        /// Whether the object declares `image_url` (an avatar): a URL string stands for it.
        image: bool,
    },
    Array(Box<Node>),
}

/// What an object does with the properties its schema does not name.
#[derive(Debug, Clone)]
enum Rest {
    /// Left out (and reported as dropped).
    Dropped,
    /// Kept as they are: an open object.
    Kept,
    /// Each shaped to one schema (`additionalProperties` as a schema: a map such as an
    /// article's translations by locale).
    Shaped(Box<Node>),
}

/// A property Intercom sent that the schema does not declare, kept for the record's
/// `undeclared_properties` (`crate::streams::UNDECLARED`): its path (`location.zip`, `tags[2].color`), the same path with
/// array places as `[]` (`tags[].color`, one name for every item), and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Undeclared {
    pub path: String,
    pub shape: String,
    pub value: Value,
}

/// Why a value did not fit; `path` is like `statistics.first_close_at` or `tags[2].id`.
#[derive(Debug, Clone, PartialEq)]
pub struct CoerceError {
    pub path: String,
    pub problem: String,
}

impl std::fmt::Display for CoerceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field {}: {}", self.path, self.problem)
    }
}

impl Node {
    /// Compiles a schema of the portable style the tap uses (see `schemas/`): every property
    /// has a `type` that is one type or `[type, "null"]`.
    pub fn compile(schema: &Value) -> Result<Node, String> {
        compile_at(schema, "")
    }

    /// Shapes `value` (an Intercom item or part of one) to this schema.
    pub fn apply(&self, value: Value) -> Result<Value, CoerceError> {
        self.apply_noting(value, &mut Vec::new())
    }

    /// As [`Node::apply`], and adds to `dropped` each property left out because this schema
    /// does not declare it, with its value.
    pub fn apply_noting(&self, value: Value, dropped: &mut Vec<Undeclared>) -> Result<Value, CoerceError> {
        let mut path = String::new();
        self.apply_at(value, &mut path, dropped)
    }

    /// Whether this schema declares the property at `path` (as [`Node::apply_noting`] writes
    /// it), or keeps it inside an open object.
    pub fn declares(&self, path: &str) -> bool {
        let mut node = self;
        for part in path.split('.') {
            let (name, arrays) = match part.find("[]") {
                Some(i) => (&part[..i], part[i..].matches("[]").count()),
                None => (part, 0),
            };
            match &node.kind {
                Kind::Object { props, rest, .. } => match props.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
                    Ok(i) => node = &props[i].1,
                    Err(_) => match rest {
                        Rest::Dropped => return false,
                        Rest::Kept => return true,
                        Rest::Shaped(each) => node = each,
                    },
                },
                _ => return false,
            }
            for _ in 0..arrays {
                match &node.kind {
                    Kind::Array(items) => node = items,
                    _ => return false,
                }
            }
        }
        true
    }

    /// The top-level property names, for tests and checks.
    pub fn property_names(&self) -> Vec<&str> {
        match &self.kind {
            Kind::Object { props, .. } => props.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn apply_at(&self, value: Value, path: &mut String, dropped: &mut Vec<Undeclared>) -> Result<Value, CoerceError> {
        if value.is_null() {
            return if self.nullable {
                Ok(Value::Null)
            } else {
                Err(fail(path, "is null, but the schema requires a value"))
            };
        }
        match &self.kind {
            Kind::String { datetime: true } => to_datetime(value, self.nullable, path),
            Kind::String { datetime: false } => Ok(to_string(value, path)),
            Kind::Integer => to_integer(value, path),
            Kind::Number => to_number(value, path),
            Kind::Boolean => to_boolean(value, path),
            Kind::Object {
                props,
                rest,
                envelope,
                image,
            } => {
                let mut map = match value {
                    Value::Object(map) => map,
                    // An avatar sent as its URL.
                    Value::String(url) if *image => Map::from_iter([("image_url".to_owned(), Value::String(url))]),
                    other => {
                        return Err(fail(path, &format!("expected an object, got {}", describe(&other))));
                    }
                };
                if let Some(key) = envelope {
                    if !map.contains_key(key) && map.get("data").is_some_and(Value::is_array) {
                        if let Some(items) = map.remove("data") {
                            map.insert(key.clone(), items);
                        }
                    }
                }
                let mut out = Map::new();
                for (key, v) in map {
                    let node = match props.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
                        Ok(i) => &props[i].1,
                        Err(_) => match rest {
                            Rest::Shaped(each) => each,
                            Rest::Kept => {
                                out.insert(key, v);
                                continue;
                            }
                            Rest::Dropped => {
                                dropped.push(Undeclared {
                                    path: if path.is_empty() {
                                        key.clone()
                                    } else {
                                        format!("{path}.{key}")
                                    },
                                    shape: shape_path(path, &key),
                                    value: v,
                                });
                                continue;
                            }
                        },
                    };
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&key);
                    let shaped = node.apply_at(v, path, dropped)?;
                    path.truncate(len);
                    out.insert(key, shaped);
                }
                Ok(Value::Object(out))
            }
            Kind::Array(items) => {
                let Value::Array(list) = value else {
                    return Err(fail(path, &format!("expected an array, got {}", describe(&value))));
                };
                let len = path.len();
                let mut out = Vec::with_capacity(list.len());
                for (i, item) in list.into_iter().enumerate() {
                    let _ = write!(path, "[{i}]");
                    out.push(items.apply_at(item, path, dropped)?);
                    path.truncate(len);
                }
                Ok(Value::Array(out))
            }
        }
    }
}

/// `parent.key` with array places written `[]`: the same path for every item of a list.
fn shape_path(parent: &str, key: &str) -> String {
    let mut out = String::with_capacity(parent.len() + key.len() + 1);
    let mut in_index = false;
    for c in parent.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(key);
    out
}

fn compile_at(schema: &Value, path: &str) -> Result<Node, String> {
    let at = if path.is_empty() { "the schema" } else { path };
    let obj = schema
        .as_object()
        .ok_or_else(|| format!("{at}: a schema must be an object"))?;
    let (name, nullable) = match obj.get("type") {
        Some(Value::String(t)) => (t.as_str(), false),
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            let non_null: Vec<&str> = names.iter().copied().filter(|t| *t != "null").collect();
            if non_null.len() != 1 || names.len() != types.len() {
                return Err(format!("{at}: type must be one type, optionally with null"));
            }
            (non_null[0], names.contains(&"null"))
        }
        _ => return Err(format!("{at}: has no type")),
    };
    let kind = match name {
        "string" => Kind::String {
            datetime: obj.get("format").and_then(Value::as_str) == Some("date-time"),
        },
        "integer" => Kind::Integer,
        "number" => Kind::Number,
        "boolean" => Kind::Boolean,
        "object" => {
            let mut props = Vec::new();
            if let Some(p) = obj.get("properties") {
                let p = p
                    .as_object()
                    .ok_or_else(|| format!("{at}: properties must be an object"))?;
                for (key, sub) in p {
                    let sub_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    props.push((key.clone(), compile_at(sub, &sub_path)?));
                }
            }
            props.sort_by(|a, b| a.0.cmp(&b.0));
            let rest = match obj.get("additionalProperties") {
                Some(Value::Bool(true)) => Rest::Kept,
                Some(each @ Value::Object(_)) => Rest::Shaped(Box::new(compile_at(each, &format!("{path}.*"))?)),
                _ if props.is_empty() && obj.get("properties").is_none() => Rest::Kept,
                _ => Rest::Dropped,
            };
            let arrays: Vec<&String> = props
                .iter()
                .filter(|(_, node)| matches!(node.kind, Kind::Array(_)))
                .map(|(k, _)| k)
                .collect();
            // A list envelope: one array beside what envelopes carry about it.
            let about = |k: &str| matches!(k, "type" | "total_count" | "has_more" | "url");
            let envelope = match arrays.as_slice() {
                [one] if props.iter().all(|(k, _)| k == *one || about(k)) => Some((*one).clone()),
                _ => None,
            };
            let image = props.iter().any(|(k, _)| k == "image_url");
            Kind::Object {
                props,
                rest,
                envelope,
                image,
            }
        }
        "array" => {
            let items = obj.get("items").ok_or_else(|| format!("{at}: an array needs items"))?;
            Kind::Array(Box::new(compile_at(items, &format!("{path}[]"))?))
        }
        other => return Err(format!("{at}: unknown type {other:?}")),
    };
    Ok(Node { kind, nullable })
}

fn fail(path: &str, problem: &str) -> CoerceError {
    CoerceError {
        path: if path.is_empty() {
            "(record)".into()
        } else {
            path.to_owned()
        },
        problem: problem.to_owned(),
    }
}

fn describe(v: &Value) -> String {
    let text = v.to_string();
    let shown: String = text.chars().take(60).collect();
    match v {
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "an array".into(),
        _ if shown.len() < text.len() => format!("{shown}…"),
        _ => shown,
    }
}

/// Any time value Intercom sends (see [`crate::time`]), to RFC 3339 UTC; an empty string is no
/// value where the schema allows none.
fn to_datetime(value: Value, nullable: bool, path: &str) -> Result<Value, CoerceError> {
    if nullable && value.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Ok(Value::Null);
    }
    crate::time::instant(&value)
        .map(|dt| Value::String(format_datetime(dt)))
        .ok_or_else(|| fail(path, &format!("{} is not a timestamp", describe(&value))))
}

/// `2024-01-02T03:04:05Z`, with a fraction only when there is one.
pub fn format_datetime(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn to_string(value: Value, path: &str) -> Value {
    match value {
        Value::String(_) => value,
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Object(_) | Value::Array(_) => {
            warn_once(
                path,
                "an object or array arrived where the schema has a string; it is kept as JSON text",
            );
            Value::String(value.to_string())
        }
        Value::Null => Value::Null,
    }
}

fn to_integer(value: Value, path: &str) -> Result<Value, CoerceError> {
    let converted = match &value {
        Value::Number(n) if n.is_i64() || n.is_u64() => return Ok(value),
        Value::Number(n) => n.as_f64().and_then(exact_integer),
        Value::String(s) => s.trim().parse::<i64>().ok().map(Number::from),
        _ => None,
    };
    converted
        .map(Value::Number)
        .ok_or_else(|| fail(path, &format!("{} is not an integer", describe(&value))))
}

#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn exact_integer(f: f64) -> Option<Number> {
    (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| Number::from(f as i64))
}

fn to_number(value: Value, path: &str) -> Result<Value, CoerceError> {
    match &value {
        Value::Number(_) => Ok(value),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| fail(path, &format!("{} is not a number", describe(&value)))),
        _ => Err(fail(path, &format!("{} is not a number", describe(&value)))),
    }
}

fn to_boolean(value: Value, path: &str) -> Result<Value, CoerceError> {
    match &value {
        Value::Bool(_) => Ok(value),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        _ => Err(fail(path, &format!("{} is not a boolean", describe(&value)))),
    }
}

static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn warn_once(path: &str, message: &str) {
    let mut warned = WARNED.lock().unwrap_or_else(PoisonError::into_inner);
    if warned.get_or_insert_with(HashSet::new).insert(path.to_owned()) {
        crate::warn!("field {path}: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(schema: Value) -> Node {
        Node::compile(&schema).unwrap()
    }

    #[test]
    fn timestamps_become_rfc3339() {
        let n = node(json!({"type": "object", "properties": {
            "a": {"type": ["string", "null"], "format": "date-time"}}}));
        for (input, out) in [
            (json!(1_700_000_000), json!("2023-11-14T22:13:20Z")),
            (json!(1_700_000_000.5), json!("2023-11-14T22:13:20.500Z")),
            (json!(1_700_000_000_123_i64), json!("2023-11-14T22:13:20.123Z")),
            (json!("2023-11-15T00:13:20+02:00"), json!("2023-11-14T22:13:20Z")),
            (json!("1700000000"), json!("2023-11-14T22:13:20Z")),
            (json!(0), json!("1970-01-01T00:00:00Z")),
            (json!(""), json!(null)),
            (json!(null), json!(null)),
        ] {
            assert_eq!(n.apply(json!({"a": input})).unwrap(), json!({"a": out}));
        }
        let err = n.apply(json!({"a": "soon"})).unwrap_err();
        assert_eq!(err.path, "a");
    }

    #[test]
    fn only_declared_properties_survive_except_in_open_objects() {
        let n = node(json!({"type": "object", "properties": {
            "id": {"type": "string"},
            "custom_attributes": {"type": ["object", "null"], "additionalProperties": true},
            "location": {"type": ["object", "null"], "properties": {"city": {"type": ["string", "null"]}}}
        }}));
        let out = n
            .apply(json!({"id": 7, "extra": 1, "custom_attributes": {"x": {"y": 1}},
                          "location": {"city": "Paris", "planet": "Earth"}}))
            .unwrap();
        assert_eq!(
            out,
            json!({"id": "7", "custom_attributes": {"x": {"y": 1}}, "location": {"city": "Paris"}})
        );
    }

    #[test]
    fn a_map_shapes_each_value_to_its_schema() {
        // An article's translations: any locale as key, each an article_content.
        let n = node(json!({"type": "object", "properties": {"translated_content": {
            "type": ["object", "null"],
            "properties": {"type": {"type": ["string", "null"]}},
            "additionalProperties": {"type": ["object", "null"], "properties": {
                "created_at": {"type": ["string", "null"], "format": "date-time"}
            }, "additionalProperties": true}
        }}}));
        let out = n
            .apply(json!({"translated_content": {"type": "article_translated_content",
                "fr": {"created_at": 1_700_000_000, "title": "Bonjour"}, "pt-BR": null}}))
            .unwrap();
        assert_eq!(
            out,
            json!({"translated_content": {"type": "article_translated_content",
                "fr": {"created_at": "2023-11-14T22:13:20Z", "title": "Bonjour"}, "pt-BR": null}})
        );
        assert!(n.declares("translated_content.de.created_at"));
        let err = n
            .apply(json!({"translated_content": {"fr": "not an object"}}))
            .unwrap_err();
        assert_eq!(err.path, "translated_content.fr");
    }

    #[test]
    fn numbers_and_booleans_convert_only_without_loss() {
        let n = node(json!({"type": "object", "properties": {
            "i": {"type": ["integer", "null"]}, "f": {"type": ["number", "null"]},
            "b": {"type": ["boolean", "null"]}}}));
        assert_eq!(
            n.apply(json!({"i": "12", "f": "1.5", "b": "true"})).unwrap(),
            json!({"i": 12, "f": 1.5, "b": true})
        );
        assert_eq!(n.apply(json!({"i": 3.0})).unwrap(), json!({"i": 3}));
        assert_eq!(n.apply(json!({"i": 3.5})).unwrap_err().path, "i");
        assert_eq!(n.apply(json!({"i": "abc"})).unwrap_err().path, "i");
        assert_eq!(n.apply(json!({"b": 1})).unwrap_err().path, "b");
    }

    #[test]
    fn errors_name_the_nested_path() {
        let n = node(json!({"type": "object", "properties": {
            "id": {"type": "string"},
            "tags": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "applied_at": {"type": ["string", "null"], "format": "date-time"}}}}}}));
        let err = n
            .apply(json!({"id": "1", "tags": [{}, {"applied_at": true}]}))
            .unwrap_err();
        assert_eq!(err.path, "tags[1].applied_at");
        let err = n.apply(json!({"id": null})).unwrap_err();
        assert_eq!(err.path, "id");
    }

    #[test]
    fn an_avatar_sent_as_its_url_becomes_its_object_at_any_depth() {
        let avatar = json!({"type": ["object", "null"], "properties": {
            "type": {"type": ["string", "null"]}, "image_url": {"type": ["string", "null"]}}});
        let n = node(json!({"type": "object", "properties": {
            "avatar": avatar,
            "notes": {"type": "object", "properties": {"data": {"type": "array", "items": {
                "type": "object", "properties": {"author": {"type": "object", "properties": {
                    "avatar": avatar}}}}}}}}}));
        let out = n
            .apply(json!({"avatar": "https://x/a.png",
                          "notes": {"data": [{"author": {"avatar": "https://x/b.png"}},
                                             {"author": {"avatar": {"type": "avatar", "image_url": "https://x/c.png"}}}]}}))
            .unwrap();
        assert_eq!(out["avatar"], json!({"image_url": "https://x/a.png"}));
        assert_eq!(
            out["notes"]["data"][0]["author"]["avatar"],
            json!({"image_url": "https://x/b.png"})
        );
        assert_eq!(
            out["notes"]["data"][1]["author"]["avatar"],
            json!({"type": "avatar", "image_url": "https://x/c.png"})
        );
        // A string where an object without image_url belongs is still an error.
        let n = node(
            json!({"type": "object", "properties": {"plan": {"type": "object", "properties": {
            "name": {"type": "string"}}}}}),
        );
        assert_eq!(n.apply(json!({"plan": "gold"})).unwrap_err().path, "plan");
    }

    #[test]
    fn an_envelope_reads_its_items_under_data_or_its_own_name() {
        let n = node(
            json!({"type": "object", "properties": {"ticket_type": {"type": "object", "properties": {
            "attributes": {"type": "object", "properties": {
                "type": {"type": "string"},
                "ticket_type_attributes": {"type": "array", "items": {"type": "object", "properties": {
                    "created_at": {"type": "string", "format": "date-time"}}}}}}}}}}),
        );
        for key in ["ticket_type_attributes", "data"] {
            let out = n
                .apply(json!({"ticket_type": {"attributes": {"type": "list", key: [{"created_at": 1_700_000_000}]}}}))
                .unwrap();
            assert_eq!(
                out["ticket_type"]["attributes"],
                json!({"type": "list", "ticket_type_attributes": [{"created_at": "2023-11-14T22:13:20Z"}]}),
                "{key}"
            );
        }
    }

    #[test]
    fn undeclared_properties_come_back_with_their_paths_and_values() {
        let n = node(json!({"type": "object", "properties": {
            "id": {"type": "string"},
            "location": {"type": "object", "properties": {"city": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}}}}));
        let mut dropped = Vec::new();
        let out = n
            .apply_noting(
                json!({"id": "1", "new": {"a": [1]}, "location": {"city": "Lyon", "zip": "69001"},
                       "tags": [{"id": "t"}, {"id": "u", "color": "red"}]}),
                &mut dropped,
            )
            .unwrap();
        assert_eq!(
            out,
            json!({"id": "1", "location": {"city": "Lyon"}, "tags": [{"id": "t"}, {"id": "u"}]})
        );
        let got: Vec<(&str, &str, &Value)> = dropped
            .iter()
            .map(|u| (u.path.as_str(), u.shape.as_str(), &u.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("new", "new", &json!({"a": [1]})),
                ("location.zip", "location.zip", &json!("69001")),
                ("tags[1].color", "tags[].color", &json!("red")),
            ]
        );
    }

    #[test]
    fn objects_in_string_fields_are_kept_as_json_text() {
        let n = node(json!({"type": "object", "properties": {"s": {"type": ["string", "null"]}}}));
        assert_eq!(n.apply(json!({"s": {"a": 1}})).unwrap(), json!({"s": "{\"a\":1}"}));
    }

    #[test]
    fn schemas_without_types_are_refused() {
        assert!(Node::compile(&json!({"type": "object", "properties": {"a": {}}})).is_err());
        assert!(Node::compile(&json!({"type": ["string", "integer"]})).is_err());
        assert!(Node::compile(&json!({"type": "array"})).is_err());
    }
}
