//! The small, named changes some streams make to Intercom's items before they are shaped to the
//! schema: the places where Intercom's shape and the record's shape differ on purpose.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy)]
pub enum Reshape {
    /// Replaces a list envelope such as `{"type": "tag.list", "tags": [...]}` by its array,
    /// taken from the first of `inner` that holds one. Intercom names the inner key differently
    /// across endpoints and even within one (ticket type attributes: `data` in the examples,
    /// `ticket_type_attributes` in the schema).
    Unwrap {
        field: &'static str,
        inner: &'static [&'static str],
    },
    /// Renames a list inside an object: conversations' `teammates` holds its admins under
    /// `teammates` in the spec and under `admins` in Intercom's SDKs (and singer-io's schema).
    RenameInner {
        field: &'static str,
        from: &'static str,
        to: &'static str,
    },
    /// A field given as text where an object belongs, in an older shape of Intercom's answers:
    /// the text becomes the object's `key` (a ticket's `ticket_state` as its category alone,
    /// `"submitted"`, becomes `{"category": "submitted"}`).
    TextAsObject { field: &'static str, key: &'static str },
    /// A list of the ids of the objects in another field (a contact's `segment_ids`, beside its
    /// segments).
    IdsOf { from: &'static str, to: &'static str },
    /// A value inside an object copied to a top-level field, where a key needs it (a handling
    /// event's `teammate.id` as `teammate_id`).
    Lift {
        from: &'static [&'static str],
        to: &'static str,
    },
    /// Fills `model` when Intercom leaves it out (the attribute streams ask for one model each).
    DefaultModel(&'static str),
    /// singer-io's key for the attribute streams: SHA-256 of `id`, `name` and `description`
    /// written as Python's `str()` writes them, concatenated. Kept identical so that tables
    /// loaded by singer-io's tap are updated in place, not duplicated.
    RecordHash,
    /// Attribute options given as objects (`{id, label, archived}`, as 2.16's
    /// `/conversations/attributes` lists them) become their labels in `options`, as the data
    /// attributes of every version give them, and the objects go to `list_options`.
    OptionObjects,
    /// A field left out of the records on purpose, because another stream carries what it
    /// holds (tickets' `ticket_parts` are the rows of the `ticket_parts` stream).
    Omit(&'static str),
}

impl Reshape {
    /// The property this reshaping fills or changes.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Reshape::Unwrap { field, .. }
            | Reshape::RenameInner { field, .. }
            | Reshape::TextAsObject { field, .. } => Some(field),
            Reshape::IdsOf { to, .. } | Reshape::Lift { to, .. } => Some(to),
            Reshape::DefaultModel(_) => Some("model"),
            Reshape::OptionObjects => Some("list_options"),
            // Left out: no property of the record.
            Reshape::Omit(_) => None,
            Reshape::RecordHash => Some("_sdc_record_hash"),
        }
    }

    /// Changes `item`, or says which field does not have the shape this change expects.
    pub fn apply(&self, item: &mut Map<String, Value>) -> Result<(), String> {
        match *self {
            Reshape::Unwrap { field, inner } => {
                if let Some(value) = item.get_mut(field) {
                    unwrap_list(value, inner).map_err(|e| format!("{field}{e}"))?;
                }
            }
            Reshape::RenameInner { field, from, to } => {
                if let Some(Value::Object(inner)) = item.get_mut(field) {
                    if !inner.contains_key(to) {
                        if let Some(list) = inner.remove(from) {
                            inner.insert(to.into(), list);
                        }
                    }
                }
            }
            Reshape::TextAsObject { field, key } => {
                if let Some(value) = item.get_mut(field) {
                    if let Value::String(text) = value {
                        let text = std::mem::take(text);
                        *value = Value::Object(Map::from_iter([(key.to_owned(), Value::String(text))]));
                    }
                }
            }
            Reshape::IdsOf { from, to } => {
                let ids: Vec<Value> = item
                    .get(from)
                    .and_then(Value::as_array)
                    .map(|list| list.iter().filter_map(|o| o.get("id").cloned()).collect())
                    .unwrap_or_default();
                item.insert(to.into(), Value::Array(ids));
            }
            Reshape::Lift { from, to } => {
                let Some((first, rest)) = from.split_first() else {
                    return Ok(());
                };
                let value = rest.iter().fold(item.get(*first), |v, key| v.and_then(|v| v.get(*key)));
                if let Some(value) = value.filter(|v| !v.is_null()).cloned() {
                    item.insert(to.into(), value);
                }
            }
            Reshape::DefaultModel(model) => {
                if item.get("model").is_none_or(Value::is_null) {
                    item.insert("model".into(), Value::String(model.into()));
                }
            }
            Reshape::RecordHash => {
                let mut text = String::new();
                for key in ["id", "name", "description"] {
                    python_str(item.get(key), &mut text);
                }
                let digest = Sha256::digest(text.as_bytes());
                let mut hex = String::with_capacity(64);
                for byte in digest {
                    let _ = write!(hex, "{byte:02x}");
                }
                item.insert("_sdc_record_hash".into(), Value::String(hex));
            }
            Reshape::Omit(field) => {
                item.remove(field);
            }
            Reshape::OptionObjects => {
                let Some(Value::Array(options)) = item.get("options") else {
                    return Ok(());
                };
                if !options.iter().any(Value::is_object) {
                    return Ok(());
                }
                let labels = options
                    .iter()
                    .map(|o| match o {
                        Value::Object(option) => option
                            .get("label")
                            .and_then(Value::as_str)
                            .map(|l| Value::String(l.to_owned()))
                            .ok_or_else(|| "options: an option object has no label".to_owned()),
                        Value::String(_) => Ok(o.clone()),
                        other => Err(format!(
                            "options: an option is {}",
                            crate::error::cut_short(&other.to_string())
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let objects = item.insert("options".into(), Value::Array(labels));
                item.insert("list_options".into(), objects.unwrap_or_default());
            }
        }
        Ok(())
    }
}

/// Turns a list envelope into its array, in place. An envelope without items (or with `null`)
/// becomes `[]`; items of any other shape than an array are an error that names where they
/// are (`.data`, appended to the field's name), never an empty list.
pub fn unwrap_list(value: &mut Value, inner: &[&str]) -> Result<(), String> {
    if let Value::Object(envelope) = value {
        let mut items = Vec::new();
        for key in inner {
            match envelope.get_mut(*key) {
                Some(Value::Array(found)) => {
                    items = std::mem::take(found);
                    break;
                }
                None | Some(Value::Null) => {}
                Some(other) => {
                    let shown = crate::error::cut_short(&other.to_string());
                    return Err(format!(".{key} should be an array of items, but is {shown}"));
                }
            }
        }
        *value = Value::Array(items);
    }
    Ok(())
}

/// Appends what Python's `str(record.get(key, ''))` gives for a JSON value.
fn python_str(value: Option<&Value>, out: &mut String) {
    match value {
        None => {}
        Some(Value::Null) => out.push_str("None"),
        Some(Value::Bool(true)) => out.push_str("True"),
        Some(Value::Bool(false)) => out.push_str("False"),
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Number(n)) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            if f.fract() == 0.0 && f.abs() < 1e16 {
                let _ = write!(out, "{f:.1}");
            } else {
                out.push_str(&n.to_string());
            }
        }
        Some(other) => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash(v: Value) -> String {
        let Value::Object(mut map) = v else { panic!() };
        Reshape::RecordHash.apply(&mut map).unwrap();
        map["_sdc_record_hash"].as_str().unwrap().to_owned()
    }

    #[test]
    fn option_objects_become_labels_and_keep_their_details() {
        let mut map = json!({"options": [{"id": "a1", "label": "High", "archived": false},
                                         {"id": "b2", "label": "Low", "archived": true}]})
        .as_object()
        .unwrap()
        .clone();
        Reshape::OptionObjects.apply(&mut map).unwrap();
        assert_eq!(map["options"], json!(["High", "Low"]));
        assert_eq!(
            map["list_options"][1],
            json!({"id": "b2", "label": "Low", "archived": true})
        );
        // Options as strings (data attributes, every version) stay as they are.
        let mut map = json!({"options": ["High"]}).as_object().unwrap().clone();
        Reshape::OptionObjects.apply(&mut map).unwrap();
        assert_eq!(Value::Object(map), json!({"options": ["High"]}));
        let mut map = json!({"options": [{"id": "x"}]}).as_object().unwrap().clone();
        assert!(Reshape::OptionObjects.apply(&mut map).unwrap_err().contains("no label"));
    }

    /// The digests singer-io's tap (2.2.5) computes for the same attributes.
    #[test]
    fn record_hashes_match_singer_io() {
        assert_eq!(
            hash(json!({"name": "email", "description": "The email address of the contact"})),
            "1385d4370532f652fd551a75ad421557d22ea069af72a761087e8ae75e01f990"
        );
        assert_eq!(
            hash(
                json!({"id": 12878, "name": "paid_subscriber", "description": "Whether the user is a paid subscriber."})
            ),
            "e681b8524ef8e2735d5912a7e5106ec1cf48566aee71e05d015c16ba4e47d8cc"
        );
        assert_eq!(
            hash(json!({"id": 7, "name": "plan", "description": null})),
            "ac7e9689e522ae39950ce665990e1d19a2895de260101ba18f0ed7d775ee6a51"
        );
        assert_eq!(
            hash(json!({"name": "Café ü", "description": ""})),
            "1c74e10585e06b6ecc2d66969912e989af291c1bc11dfdbc0bc49fc9ba348318"
        );
    }

    #[test]
    fn envelopes_unwrap_whichever_inner_key_they_use() {
        let rule = Reshape::Unwrap {
            field: "a",
            inner: &["ticket_type_attributes", "data"],
        };
        for input in [
            json!({"a": {"type": "list", "data": [1, 2]}}),
            json!({"a": {"type": "ticket_type_attributes.list", "ticket_type_attributes": [1, 2]}}),
            json!({"a": [1, 2]}),
        ] {
            let Value::Object(mut map) = input else { panic!() };
            rule.apply(&mut map).unwrap();
            assert_eq!(map["a"], json!([1, 2]));
        }
        let Value::Object(mut map) = json!({"a": {"type": "list"}, "b": null}) else {
            panic!()
        };
        rule.apply(&mut map).unwrap();
        assert_eq!(map["a"], json!([]));
    }

    #[test]
    fn a_ticket_state_given_as_its_category_becomes_the_object() {
        let rule = Reshape::TextAsObject {
            field: "ticket_state",
            key: "category",
        };
        let Value::Object(mut map) = json!({"ticket_state": "submitted"}) else {
            panic!()
        };
        rule.apply(&mut map).unwrap();
        assert_eq!(map["ticket_state"], json!({"category": "submitted"}));
        let whole = json!({"ticket_state": {"id": "7", "category": "resolved"}});
        let Value::Object(mut map) = whole.clone() else {
            panic!()
        };
        rule.apply(&mut map).unwrap();
        assert_eq!(Value::Object(map), whole);
    }

    #[test]
    fn teammates_are_found_under_either_name() {
        let rule = Reshape::RenameInner {
            field: "teammates",
            from: "teammates",
            to: "admins",
        };
        for input in [
            json!({"teammates": {"type": "admin.list", "teammates": [1]}}),
            json!({"teammates": {"type": "admin.list", "admins": [1]}}),
        ] {
            let Value::Object(mut map) = input else { panic!() };
            rule.apply(&mut map).unwrap();
            assert_eq!(map["teammates"], json!({"type": "admin.list", "admins": [1]}));
        }
    }
}
