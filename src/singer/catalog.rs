//! The catalog: what `--discover` prints, and how a catalog handed back selects streams and
//! fields and overrides replication.
//!
//! Selection follows the rules that both singer-python and the Meltano SDK agree on, which is
//! also how Meltano writes catalogs: a stream is synced when it is marked `selected: true`
//! (stream metadata, the legacy top-level flag or the legacy schema flag); a field is emitted
//! when it is `automatic` (keys and the replication key, whatever the catalog says), never when
//! `unsupported`, else by its own `selected`, else `selected-by-default`, else as its parent.
//! A `selected` or `selected-by-default` that is there must be `true` or `false`; a null is
//! refused rather than read as absent.
//! Replication settings are read top-level first, then from metadata, as the SDK does.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{Error, cut_short, kind_of, quote};
use crate::streams::{self, Replication, Stream};

/// The replication method a catalog may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    FullTable,
    Incremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inclusion {
    Available,
    Automatic,
    Unsupported,
}

#[derive(Debug, Clone, Default)]
struct FieldMeta {
    selected: Option<bool>,
    selected_by_default: Option<bool>,
    inclusion: Option<Inclusion>,
}

/// One stream of an input catalog, resolved against the tap's table.
#[derive(Debug, Clone)]
pub struct Entry {
    pub stream: &'static Stream,
    pub selected: bool,
    pub method: Option<Method>,
    pub key_properties: Option<Vec<String>>,
    fields: HashMap<Vec<String>, FieldMeta>,
    /// A reporting dataset's custom attributes, as discovery found them: the columns of its
    /// schema here that the stream's own schema lacks, each with its schema.
    pub custom: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub entries: Vec<Entry>,
}

impl Catalog {
    /// Reads the catalog at `path`. With `workspace` (`add_workspace_id`), a stream's key may
    /// name the workspace column the setting adds, as the catalog discovered then does.
    pub fn load(path: &Path, workspace: bool) -> Result<Catalog, Error> {
        let value = crate::jsonfile::read("catalog", path)?;
        Catalog::from_value(&value, workspace).map_err(|problem| Error::Input {
            what: "catalog",
            path: path.to_owned(),
            problem,
        })
    }

    pub fn from_value(value: &Value, workspace: bool) -> Result<Catalog, String> {
        let streams = value
            .get("streams")
            .and_then(Value::as_array)
            .ok_or("expected an object with a \"streams\" array")?;
        let mut entries: Vec<Entry> = Vec::new();
        for (i, raw) in streams.iter().enumerate() {
            let entry = Entry::parse(raw, workspace).map_err(|e| format!("streams[{i}]: {e}"))?;
            if entries.iter().any(|e| e.stream.name == entry.stream.name) {
                return Err(format!("stream {:?} appears twice", entry.stream.name));
            }
            entries.push(entry);
        }
        Ok(Catalog { entries })
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.stream.name == name)
    }
}

impl Entry {
    // One reading of a stream's entry, key by key, in the order the Singer spec lists them.
    #[allow(clippy::too_many_lines)]
    fn parse(raw: &Value, workspace: bool) -> Result<Entry, String> {
        let obj = raw.as_object().ok_or("a stream must be an object")?;
        let stream = find_stream(obj)?;
        let at = |e: String| format!("stream {}: {e}", stream.name);
        let mut fields = HashMap::new();
        let mut root = Map::new();
        if let Some(metadata) = obj.get("metadata") {
            let list = metadata
                .as_array()
                .ok_or_else(|| at("metadata must be an array".into()))?;
            for (i, item) in list.iter().enumerate() {
                let breadcrumb: Vec<String> = item
                    .get("breadcrumb")
                    .and_then(Value::as_array)
                    .and_then(|b| b.iter().map(|s| s.as_str().map(str::to_owned)).collect())
                    .ok_or_else(|| at(format!("metadata[{i}] needs a breadcrumb: an array of strings")))?;
                let meta = item
                    .get("metadata")
                    .and_then(Value::as_object)
                    .ok_or_else(|| at(format!("metadata[{i}] needs a metadata object")))?;
                if breadcrumb.is_empty() {
                    root.clone_from(meta);
                } else {
                    let field = field_meta(meta)
                        .map_err(|e| at(format!("metadata breadcrumb {}: {e}", shown_breadcrumb(&breadcrumb))))?;
                    fields.insert(breadcrumb, field);
                }
            }
        }
        let root_at = |key: &str| format!("metadata breadcrumb [] {key}");
        let selected = boolean(root.get("selected"), &root_at("selected"))
            .map_err(at)?
            .or(boolean(obj.get("selected"), "selected").map_err(at)?)
            .or(boolean(obj.get("schema").and_then(|s| s.get("selected")), "schema.selected").map_err(at)?)
            .unwrap_or(false);
        boolean(root.get("selected-by-default"), &root_at("selected-by-default")).map_err(at)?;
        text(root.get("inclusion"), &root_at("inclusion")).map_err(at)?;
        let method = obj
            .get("replication_method")
            .or_else(|| root.get("replication-method"))
            .or_else(|| root.get("forced-replication-method"))
            .filter(|v| !v.is_null())
            .map(|v| parse_method(v).map_err(at))
            .transpose()?;
        // Each stream has one replication key (or none); a catalog may repeat it, not change it.
        let replication_key = text(obj.get("replication_key"), "replication_key")
            .map_err(at)?
            .or(text(root.get("replication-key"), &root_at("replication-key")).map_err(at)?)
            .filter(|s| !s.is_empty());
        if let Some(asked) = replication_key.filter(|k| Some(*k) != stream.replication.key()) {
            return Err(at(match stream.replication.key() {
                Some(key) => format!(
                    "replication key {} is not one this stream can use (valid-replication-keys: [{key:?}])",
                    quote(asked)
                ),
                None => format!(
                    "replication key {} given, but this stream is FULL_TABLE only and has none",
                    quote(asked)
                ),
            }));
        }
        let key_properties = obj
            .get("key_properties")
            .or_else(|| root.get("table-key-properties"))
            .or_else(|| root.get("key-properties"))
            .filter(|v| !v.is_null())
            .map(|v| {
                v.as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|s| s.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| at("key_properties must be an array of names".into()))
            })
            .transpose()?;
        if let Some(names) = &key_properties {
            let schema = crate::schema::Node::compile(&stream.schema()).map_err(at)?;
            let mut known = schema.property_names();
            if workspace {
                known.push(WORKSPACE_COLUMN);
            }
            if let Some(missing) = names.iter().find(|n| !known.contains(&n.as_str())) {
                let off = if missing == WORKSPACE_COLUMN {
                    "; add_workspace_id adds it, and add_workspace_id is off"
                } else {
                    ""
                };
                return Err(at(format!(
                    "key_properties names {}, which is not a property of this stream (its key is {:?}{off})",
                    quote(missing),
                    stream.key
                )));
            }
        }
        Ok(Entry {
            stream,
            selected,
            method,
            key_properties,
            fields,
            custom: custom_columns(stream, obj.get("schema")),
        })
    }

    /// Whether the field at `breadcrumb` is emitted, given its parent's answer.
    fn field_selected(&self, breadcrumb: &[String], parent: bool, automatic: bool) -> bool {
        let meta = self.fields.get(breadcrumb);
        if automatic || meta.and_then(|m| m.inclusion) == Some(Inclusion::Automatic) {
            return true;
        }
        let Some(meta) = meta else { return parent };
        if meta.inclusion == Some(Inclusion::Unsupported) {
            return false;
        }
        meta.selected.or(meta.selected_by_default).unwrap_or(parent)
    }
}

/// The tap's stream that a catalog entry names by `tap_stream_id` (or `stream`).
fn find_stream(obj: &Map<String, Value>) -> Result<&'static Stream, String> {
    let (key, id) = ["tap_stream_id", "stream"]
        .into_iter()
        .find_map(|key| obj.get(key).filter(|v| !v.is_null()).map(|v| (key, v)))
        .ok_or("has no tap_stream_id")?;
    let name = id
        .as_str()
        .ok_or_else(|| format!("{key} must be a string, not {}", shown(id)))?;
    streams::find(name).ok_or_else(|| {
        // The closest names, not all of them: the list is long (`--discover` prints it).
        let close: Vec<&str> = streams::ALL
            .iter()
            .map(|s| s.name)
            .filter(|known| name.len() < 200 && (known.contains(name) || name.contains(known)))
            .take(3)
            .collect();
        let hint = if close.is_empty() {
            "`tap-intercom --discover` lists the streams".to_owned()
        } else {
            format!("did you mean {}?", close.join(", "))
        };
        format!("{} is not a stream of tap-intercom ({hint})", quote(name))
    })
}

/// A selection flag (`selected`, `selected-by-default`), which must be `true` or `false` when
/// it is there. A null is refused rather than read as absent: no tool writes one (Meltano,
/// singer-python and the SDK write booleans or leave the key out), and read as absent it
/// would skip a stream, or keep a field, without a word.
fn boolean(value: Option<&Value>, name: &str) -> Result<Option<bool>, String> {
    match value {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("{name} must be true or false, not {}", shown(other))),
    }
}

/// A metadata value that must be a string when it is there.
fn text<'a>(value: Option<&'a Value>, name: &str) -> Result<Option<&'a str>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{name} must be a string, not {}", shown(other))),
    }
}

/// A JSON value as an error message shows it: a short form of it and its type.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::String(s) => format!("{} (a string)", quote(s)),
        other => format!("{} ({})", cut_short(&other.to_string()), kind_of(other)),
    }
}

/// A breadcrumb as error messages show it: its first names, each quoted and cut short.
fn shown_breadcrumb(breadcrumb: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut names: Vec<String> = breadcrumb.iter().take(SHOWN).map(|name| quote(name)).collect();
    if breadcrumb.len() > SHOWN {
        names.push(format!("... ({} names in all)", breadcrumb.len()));
    }
    format!("[{}]", names.join(", "))
}

fn field_meta(meta: &Map<String, Value>) -> Result<FieldMeta, String> {
    let inclusion = match text(meta.get("inclusion"), "inclusion")? {
        None => None,
        Some("available") => Some(Inclusion::Available),
        Some("automatic") => Some(Inclusion::Automatic),
        Some("unsupported") => Some(Inclusion::Unsupported),
        Some(other) => {
            return Err(format!(
                "inclusion {} is not available, automatic or unsupported",
                quote(other)
            ));
        }
    };
    Ok(FieldMeta {
        selected: boolean(meta.get("selected"), "selected")?,
        selected_by_default: boolean(meta.get("selected-by-default"), "selected-by-default")?,
        inclusion,
    })
}

fn parse_method(v: &Value) -> Result<Method, String> {
    match v.as_str().map(str::to_ascii_uppercase).as_deref() {
        Some("FULL_TABLE") => Ok(Method::FullTable),
        Some("INCREMENTAL") => Ok(Method::Incremental),
        Some("LOG_BASED") => Err("LOG_BASED replication is not supported by Intercom".into()),
        _ => Err(format!(
            "replication method {} is not FULL_TABLE or INCREMENTAL",
            v.as_str().map_or_else(|| shown(v), quote)
        )),
    }
}

/// The columns a catalog's schema for a reporting dataset has that the stream's schema lacks:
/// the workspace's custom attributes, which discovery with a token added (see
/// [`add_custom_columns`]). Other streams have none.
fn custom_columns(stream: &Stream, schema: Option<&Value>) -> Vec<(String, Value)> {
    if !matches!(
        stream.read,
        streams::Read::Export(streams::exports::Export::Reporting { .. })
    ) {
        return Vec::new();
    }
    let own = stream.schema();
    schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(name, _)| own["properties"].get(name.as_str()).is_none() && name.as_str() != WORKSPACE_COLUMN)
        .map(|(name, given)| {
            // The label discovery wrote: a custom attribute's column is headed by it.
            let mut column = custom_column(name);
            if let Some(description) = given.get("description").and_then(Value::as_str) {
                column["description"] = json!(description);
            }
            (name.clone(), column)
        })
        .collect()
}

/// A custom attribute's column: text, whatever the catalog says (a target cannot change a
/// column's type, and Intercom does not say a custom attribute's). Its description carries its
/// label when discovery gave one.
pub fn custom_column(label: &str) -> Value {
    json!({"type": ["string", "null"], "description": format!("{label} (a custom attribute of the workspace)")})
}

/// Adds a stream's custom columns to its schema.
pub fn add_custom_columns(schema: &mut Value, custom: &[(String, Value)]) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, column) in custom {
            props.entry(name.clone()).or_insert_with(|| column.clone());
        }
    }
}

/// The stream's schema with the fields the catalog deselected removed. `automatic` names the
/// top-level properties that are always kept.
pub fn project(schema: &Value, entry: Option<&Entry>, automatic: &[&str]) -> Value {
    let Some(entry) = entry else {
        return schema.clone();
    };
    let mut breadcrumb = Vec::new();
    project_node(schema, entry, &mut breadcrumb, automatic)
}

fn project_node(node: &Value, entry: &Entry, breadcrumb: &mut Vec<String>, automatic: &[&str]) -> Value {
    let mut out = node.clone();
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        let mut kept = Map::new();
        for (name, sub) in props {
            breadcrumb.push("properties".into());
            breadcrumb.push(name.clone());
            let is_automatic = breadcrumb.len() == 2 && automatic.contains(&name.as_str());
            if entry.field_selected(breadcrumb, true, is_automatic) {
                kept.insert(name.clone(), project_node(sub, entry, breadcrumb, &[]));
            }
            breadcrumb.truncate(breadcrumb.len() - 2);
        }
        out["properties"] = Value::Object(kept);
    }
    if let Some(items) = node.get("items") {
        breadcrumb.push("items".into());
        out["items"] = project_node(items, entry, breadcrumb, &[]);
        breadcrumb.pop();
    }
    out
}

/// The column that marks a row deleted in Intercom (conversations, on versions that list
/// deletions), as Singer targets name it: always sent with its stream, like a key.
pub const DELETED_AT: &str = "_sdc_deleted_at";

/// The catalog `--discover` prints: every stream, its schema, keys and full metadata.
/// The column `add_workspace_id` adds to every stream, and its place first in the key.
pub const WORKSPACE_COLUMN: &str = "workspace_id";

/// Adds the workspace column to a stream's schema and key (see `add_workspace_id`).
pub fn add_workspace_column(schema: &mut Value, key: &mut Vec<String>) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(WORKSPACE_COLUMN.into(), json!({"type": "string"}));
    }
    if !key.iter().any(|k| k == WORKSPACE_COLUMN) {
        key.insert(0, WORKSPACE_COLUMN.into());
    }
}

/// The catalog of every stream; with `workspace`, each with the workspace column first in its
/// key (`add_workspace_id`).
pub fn discover(workspace: bool) -> Value {
    discover_with(workspace, &std::collections::BTreeMap::new())
}

/// The catalog, with the custom attributes of each reporting stream (by stream name: each
/// attribute's id and label) as columns.
pub fn discover_with(workspace: bool, custom: &std::collections::BTreeMap<String, Vec<(String, String)>>) -> Value {
    let streams: Vec<Value> = streams::ALL
        .iter()
        .map(|s| {
            let columns: Vec<(String, Value)> = custom
                .get(s.name)
                .into_iter()
                .flatten()
                .map(|(id, label)| (id.clone(), custom_column(label)))
                .collect();
            discover_stream(s, workspace, &columns)
        })
        .collect();
    json!({ "streams": streams })
}

fn discover_stream(stream: &Stream, workspace: bool, custom: &[(String, Value)]) -> Value {
    let mut schema = stream.schema();
    add_custom_columns(&mut schema, custom);
    let mut key: Vec<String> = stream.key.iter().map(|k| (*k).to_owned()).collect();
    if workspace {
        add_workspace_column(&mut schema, &mut key);
    }
    let replication_key = stream.replication.key();
    let mut root = Map::new();
    root.insert("inclusion".into(), json!("available"));
    root.insert("selected-by-default".into(), json!(stream.selected_by_default));
    root.insert("table-key-properties".into(), json!(key));
    match stream.replication {
        Replication::FullTable => {
            root.insert("forced-replication-method".into(), json!("FULL_TABLE"));
        }
        Replication::Incremental(key) => {
            root.insert("valid-replication-keys".into(), json!([key]));
            root.insert("replication-method".into(), json!("INCREMENTAL"));
            root.insert("replication-key".into(), json!(key));
        }
    }
    let mut metadata = vec![json!({"breadcrumb": [], "metadata": root})];
    if let Some(props) = schema["properties"].as_object() {
        for name in props.keys() {
            let automatic = key.contains(name) || replication_key == Some(name.as_str()) || name == DELETED_AT;
            metadata.push(json!({
                "breadcrumb": ["properties", name],
                "metadata": {"inclusion": if automatic { "automatic" } else { "available" }},
            }));
        }
    }
    let mut entry = Map::new();
    entry.insert("tap_stream_id".into(), json!(stream.name));
    entry.insert("stream".into(), json!(stream.name));
    entry.insert("schema".into(), schema);
    entry.insert("key_properties".into(), json!(key));
    match stream.replication {
        Replication::FullTable => {
            entry.insert("replication_method".into(), json!("FULL_TABLE"));
        }
        Replication::Incremental(key) => {
            entry.insert("replication_method".into(), json!("INCREMENTAL"));
            entry.insert("replication_key".into(), json!(key));
        }
    }
    entry.insert("metadata".into(), Value::Array(metadata));
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(v: Value) -> Result<Catalog, String> {
        Catalog::from_value(&v, false)
    }

    #[test]
    fn streams_need_an_explicit_selection() {
        let c = catalog(json!({"streams": [
            {"tap_stream_id": "admins", "metadata": [{"breadcrumb": [], "metadata": {"selected": true}}]},
            {"tap_stream_id": "teams", "metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": true}}]},
            {"tap_stream_id": "tags", "selected": true},
            {"tap_stream_id": "segments", "schema": {"selected": true}},
            {"tap_stream_id": "company_segments", "metadata": [{"breadcrumb": [], "metadata": {"selected": false}}], "selected": true},
        ]}))
        .unwrap();
        let selected: Vec<&str> = c.entries.iter().filter(|e| e.selected).map(|e| e.stream.name).collect();
        assert_eq!(selected, ["admins", "tags", "segments"]);
    }

    #[test]
    fn a_selection_flag_of_null_is_refused_naming_stream_and_breadcrumb() {
        let root = |meta: Value| json!({"streams": [{"tap_stream_id": "tags", "metadata": [{"breadcrumb": [], "metadata": meta}]}]});
        let field = |meta: Value| {
            json!({"streams": [{"tap_stream_id": "tags", "metadata": [
                {"breadcrumb": [], "metadata": {"selected": true}},
                {"breadcrumb": ["properties", "name"], "metadata": meta},
            ]}]})
        };
        for (given, expected) in [
            (
                root(json!({"selected": null})),
                "stream tags: metadata breadcrumb [] selected must be true or false, not null",
            ),
            (
                root(json!({"selected": true, "selected-by-default": null})),
                "stream tags: metadata breadcrumb [] selected-by-default must be true or false, not null",
            ),
            (
                json!({"streams": [{"tap_stream_id": "tags", "selected": null}]}),
                "stream tags: selected must be true or false, not null",
            ),
            (
                json!({"streams": [{"tap_stream_id": "tags", "schema": {"selected": null}}]}),
                "stream tags: schema.selected must be true or false, not null",
            ),
            (
                field(json!({"selected": null})),
                "stream tags: metadata breadcrumb [\"properties\", \"name\"]: selected must be true or false, not null",
            ),
            (
                field(json!({"selected-by-default": null})),
                "stream tags: metadata breadcrumb [\"properties\", \"name\"]: selected-by-default must be true or false, not null",
            ),
        ] {
            let err = catalog(given).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        // Absent stays absent: not selected for a stream, as its parent for a field.
        let c = catalog(field(json!({"inclusion": "available"}))).unwrap();
        assert!(c.entries[0].selected);
        assert!(!catalog(root(json!({}))).unwrap().entries[0].selected);
    }

    #[test]
    fn unknown_streams_and_bad_metadata_are_refused() {
        let err = catalog(json!({"streams": [{"tap_stream_id": "bananas"}]})).unwrap_err();
        assert!(err.contains("\"bananas\" is not a stream"), "{err}");
        assert!(catalog(json!({"streams": {}})).is_err());
        assert!(catalog(json!({"streams": [{"tap_stream_id": "admins", "metadata": [{"breadcrumb": "x"}]}]})).is_err());
        let err =
            catalog(json!({"streams": [{"tap_stream_id": "admins", "replication_method": "LOG_BASED"}]})).unwrap_err();
        assert!(err.contains("LOG_BASED"), "{err}");
    }

    #[test]
    fn values_named_in_errors_are_cut_short() {
        let long = "y".repeat(100_000);
        let many: Vec<&str> = std::iter::repeat_n("properties", 10_000).collect();
        for stream in [
            json!({"tap_stream_id": long}),
            json!({"stream": long}),
            json!({"tap_stream_id": [long]}),
            json!({"tap_stream_id": "tags", "key_properties": [long]}),
            json!({"tap_stream_id": "contacts", "replication_key": long}),
            json!({"tap_stream_id": "admins", "replication_key": long}),
            json!({"tap_stream_id": "tags", "replication_method": long}),
            json!({"tap_stream_id": "tags", "replication_method": [long]}),
            json!({"tap_stream_id": "tags", "metadata": [{"breadcrumb": ["properties", "name"], "metadata": {"inclusion": long}}]}),
            json!({"tap_stream_id": "tags", "metadata": [{"breadcrumb": ["properties", long], "metadata": {"selected": 1}}]}),
            json!({"tap_stream_id": "tags", "metadata": [{"breadcrumb": many, "metadata": {"selected": 1}}]}),
        ] {
            let err = catalog(json!({"streams": [stream]})).unwrap_err();
            let head: String = err.chars().take(700).collect();
            assert!(err.len() < 700, "{} bytes: {head}", err.len());
        }
        let err = catalog(json!({"streams": [{"tap_stream_id": 7}]})).unwrap_err();
        assert!(
            err.contains("tap_stream_id must be a string, not 7 (a number)"),
            "{err}"
        );
    }

    #[test]
    fn deselected_fields_leave_the_schema_but_automatic_ones_stay() {
        let c = catalog(json!({"streams": [{"tap_stream_id": "segments", "metadata": [
            {"breadcrumb": [], "metadata": {"selected": true}},
            {"breadcrumb": ["properties", "id"], "metadata": {"inclusion": "automatic", "selected": false}},
            {"breadcrumb": ["properties", "updated_at"], "metadata": {"selected": false}},
            {"breadcrumb": ["properties", "name"], "metadata": {"selected": false}},
            {"breadcrumb": ["properties", "count"], "metadata": {"inclusion": "unsupported", "selected": true}},
            {"breadcrumb": ["properties", "person_type"], "metadata": {"selected-by-default": false}},
        ]}]}))
        .unwrap();
        let stream = streams::find("segments").unwrap();
        let projected = project(&stream.schema(), c.entry("segments"), &["id", "updated_at"]);
        let names: Vec<&String> = projected["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            ["id", "type", "created_at", "updated_at", "undeclared_properties"]
        );
    }

    #[test]
    fn nested_fields_follow_their_parent_unless_told_otherwise() {
        let c = catalog(json!({"streams": [{"tap_stream_id": "admins", "metadata": [
            {"breadcrumb": [], "metadata": {"selected": true}},
            {"breadcrumb": ["properties", "avatar", "properties", "type"], "metadata": {"selected": false}},
            {"breadcrumb": ["properties", "team_priority_level"], "metadata": {"selected": false}},
            {"breadcrumb": ["properties", "team_priority_level", "properties", "primary_team_ids"], "metadata": {"selected": true}},
        ]}]}))
        .unwrap();
        let projected = project(&streams::find("admins").unwrap().schema(), c.entry("admins"), &["id"]);
        let avatar: Vec<&String> = projected["properties"]["avatar"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(avatar, ["image_url"]);
        assert!(projected["properties"].get("team_priority_level").is_none());
    }

    #[test]
    fn replication_overrides_are_read_top_level_first() {
        let c = catalog(json!({"streams": [
            {"tap_stream_id": "segments", "replication_method": "FULL_TABLE",
             "metadata": [{"breadcrumb": [], "metadata": {"replication-method": "INCREMENTAL"}}]},
            {"tap_stream_id": "company_segments",
             "metadata": [{"breadcrumb": [], "metadata": {"replication-method": "FULL_TABLE", "replication-key": "updated_at"}}]},
        ]}))
        .unwrap();
        assert_eq!(c.entries[0].method, Some(Method::FullTable));
        assert_eq!(c.entries[1].method, Some(Method::FullTable));
    }

    #[test]
    fn a_replication_key_the_stream_cannot_use_is_refused() {
        let err =
            catalog(json!({"streams": [{"tap_stream_id": "contacts", "replication_key": "created_at"}]})).unwrap_err();
        assert!(
            err.contains("stream contacts: replication key \"created_at\" is not one this stream can use"),
            "{err}"
        );
        let err = catalog(json!({"streams": [{"tap_stream_id": "admins",
            "metadata": [{"breadcrumb": [], "metadata": {"replication-key": "updated_at"}}]}]}))
        .unwrap_err();
        assert!(err.contains("FULL_TABLE only"), "{err}");
        assert!(catalog(json!({"streams": [{"tap_stream_id": "contacts", "replication_key": "updated_at"}]})).is_ok());
    }

    #[test]
    fn discovery_marks_keys_and_replication_keys_automatic() {
        let catalog = discover(false);
        for stream in catalog["streams"].as_array().unwrap() {
            let name = stream["tap_stream_id"].as_str().unwrap();
            let def = streams::find(name).unwrap();
            let md = stream["metadata"].as_array().unwrap();
            assert_eq!(md[0]["breadcrumb"], json!([]));
            assert_eq!(md[0]["metadata"]["inclusion"], "available");
            let props = stream["schema"]["properties"].as_object().unwrap();
            assert_eq!(md.len(), props.len() + 1, "{name}: one entry per property");
            for entry in &md[1..] {
                let field = entry["breadcrumb"][1].as_str().unwrap();
                let automatic = def.key.contains(&field) || def.replication.key() == Some(field) || field == DELETED_AT;
                assert_eq!(
                    entry["metadata"]["inclusion"] == "automatic",
                    automatic,
                    "{name}.{field}"
                );
            }
        }
    }
}
