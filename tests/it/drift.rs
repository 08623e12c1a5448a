//! The schemas held against Intercom's own description of each known API version, so that a
//! schema drifting from Intercom's fails CI: every property Intercom describes for a stream's
//! records (three levels deep) is declared with a type its values load into, or is left out
//! for a reason this file states.
//!
//! 2.14's description is read from `../shared/intercom-openapi/`. Those of 2.15 and 2.16 are
//! in Intercom's public repository (intercom/Intercom-OpenAPI, `descriptions/<version>/`, the
//! digests made at commit 8889625 of 2026-08-21, the one ../shared's 2.14 comes from); the
//! project keeps only their digests, `tests/openapi/<version>.json` (each record schema's
//! property paths and types), made by this file's own code:
//!
//! ```sh
//! TAP_INTERCOM_OPENAPI_DIR=DIR cargo test --test it drift   # DIR holds 2.15.yaml and 2.16.yaml
//! ```
//!
//! The digest of 2.14 is kept too and must equal the one made from the description, so that a
//! change to the digest code cannot pass with stale digests of the other versions. A clone
//! without `../shared` holds the schemas against the kept digest of 2.14.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tap_intercom::streams::{ALL, Reshape};

/// Property paths (`a`, `a.b`, `a[]`, `a[].b`) and their types (`integer`, `string/date-time`).
type Digest = BTreeMap<String, BTreeMap<String, String>>;

/// How deep the digests go: `statistics.first_contact_reply_at` is two levels.
const DEPTH: usize = 3;

/// The schema of Intercom's description a stream's records follow in `version`, as the
/// stream's row names it (the count reports are in no description of any version), when the
/// version has the stream.
fn described(stream: &tap_intercom::streams::Stream, version: &str) -> Option<&'static str> {
    let version = tap_intercom::version::ApiVersion::parse(version)?;
    stream
        .described
        .filter(|_| stream.exists_in(version))
        .map(|d| d.at(version))
}

/// Properties left out on purpose, by stream and path (with what is below them), and why.
const LEFT_OUT: &[(&str, &str, &str)] = &[
    (
        "conversations",
        "monitor_evaluations",
        "2.16 sends it only when a search asks (include_monitors); the tap does not",
    ),
    (
        "conversations",
        "scorecards",
        "2.16 sends it only when a search asks (include_scorecards); the tap does not",
    ),
];

/// Values a newer version sends in another type than 2.14, converted to 2.14's on the way in
/// (README: API versions).
const CONVERTED: &[(&str, &str)] = &[
    ("contacts", "owner_id"),
    ("users", "owner_id"),
    ("leads", "owner_id"),
    ("tickets", "admin_assignee_id"),
    ("tickets", "team_assignee_id"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The digest of the record schemas of one description.
fn digest(spec: &Value, version: &str) -> Digest {
    let mut names: Vec<&str> = ALL.iter().filter_map(|s| described(s, version)).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let mut paths = BTreeMap::new();
            let schema = &spec["components"]["schemas"][name];
            assert!(schema.is_object(), "{version}: no schema {name}");
            walk(spec, schema, "", 0, &mut paths);
            (name.to_owned(), paths)
        })
        .collect()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The type of a schema as the digest writes it; empty when the description gives none.
fn kind(spec: &Value, schema: &Value) -> String {
    let schema = resolve(spec, schema);
    for combined in ["allOf", "oneOf", "anyOf"] {
        if let Some(parts) = schema.get(combined).and_then(Value::as_array) {
            let kinds: Vec<String> = parts.iter().map(|p| kind(spec, p)).filter(|k| !k.is_empty()).collect();
            if let Some(first) = kinds.first().filter(|f| kinds.iter().all(|k| k == *f)) {
                return first.clone();
            }
            return String::new();
        }
    }
    let base = match schema.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None if schema.get("properties").is_some() => "object",
        None => return String::new(),
    };
    match schema.get("format").and_then(Value::as_str) {
        Some(format @ ("date-time" | "timestamp")) => format!("{base}/{format}"),
        _ => base.to_owned(),
    }
}

fn walk(spec: &Value, schema: &Value, path: &str, depth: usize, out: &mut BTreeMap<String, String>) {
    let schema = resolve(spec, schema);
    for combined in ["allOf", "oneOf", "anyOf"] {
        for part in schema.get(combined).and_then(Value::as_array).into_iter().flatten() {
            walk(spec, part, path, depth, out);
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            let at = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let k = kind(spec, sub);
            let entry = out.entry(at.clone()).or_default();
            if entry.is_empty() {
                entry.clone_from(&k);
            }
            if depth + 1 < DEPTH {
                walk(spec, sub, &at, depth + 1, out);
            }
        }
    }
    if let Some(items) = schema.get("items") {
        let at = format!("{path}[]");
        let k = kind(spec, items);
        let entry = out.entry(at.clone()).or_default();
        if entry.is_empty() {
            entry.clone_from(&k);
        }
        walk(spec, items, &at, depth, out);
    }
}

/// What our schema says at a path.
enum Found<'a> {
    Declared(&'a Value),
    /// Inside an object that keeps whatever it gets.
    Open,
    Missing,
}

fn find<'a>(schema: &'a Value, path: &str) -> Found<'a> {
    let mut node = schema;
    for part in path.split('.') {
        let (name, arrays) = match part.find("[]") {
            Some(i) => (&part[..i], part[i..].matches("[]").count()),
            None => (part, 0),
        };
        if !name.is_empty() {
            match node["properties"].get(name) {
                Some(next) => node = next,
                None => match node.get("additionalProperties") {
                    Some(Value::Bool(true)) => return Found::Open,
                    Some(each @ Value::Object(_)) => node = each,
                    _ if node.get("properties").is_none() && is(node, "object") => return Found::Open,
                    _ => return Found::Missing,
                },
            }
        }
        for _ in 0..arrays {
            match node.get("items") {
                Some(items) => node = items,
                None => return Found::Missing,
            }
        }
    }
    Found::Declared(node)
}

fn is(schema: &Value, kind: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == kind,
        Value::Array(types) => types.iter().any(|t| t == kind),
        _ => false,
    }
}

/// Whether values Intercom describes as `described` load into `ours`.
fn fits(described: &str, ours: &Value, name: &str) -> bool {
    let datetime = ours["format"] == "date-time";
    match described {
        "" => true,
        // An avatar described as its URL: the tap makes any URL string the object declared
        // (`tap_intercom::schema`).
        "string" if is(ours, "object") && ours["properties"].get("image_url").is_some() => true,
        "integer/date-time" | "integer/timestamp" | "string/date-time" => is(ours, "string") && datetime,
        // Unix seconds without a format: the tap converts the timestamps it knows as such.
        "integer" if name.ends_with("_at") => (is(ours, "string") && datetime) || is(ours, "integer"),
        // Ids sent as numbers become strings.
        "integer" => is(ours, "integer") || is(ours, "number") || (is(ours, "string") && name.ends_with("id")),
        "number" => is(ours, "number"),
        "string" | "string/timestamp" => is(ours, "string"),
        other => is(ours, other),
    }
}

/// Whether `path` is `field` or below it.
fn under(path: &str, field: &str) -> bool {
    path.strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Intercom's path as the record has it, after the stream's reshapings, and whether its type
/// is still Intercom's; `None` for what the reshapings leave out (list envelopes, omitted
/// fields).
fn as_recorded(stream: &tap_intercom::streams::Stream, path: &str) -> Option<(String, bool)> {
    let mut path = path.to_owned();
    let mut typed = true;
    for reshape in stream.reshape {
        match *reshape {
            Reshape::Unwrap { field, inner } => {
                if path == field {
                    // The envelope became its array.
                    typed = false;
                } else if let Some(rest) = path.strip_prefix(&format!("{field}.")) {
                    let key = rest.split(['.', '[']).next().unwrap_or_default();
                    if !inner.contains(&key) {
                        return None;
                    }
                    path = format!("{field}{}", &rest[key.len()..]);
                }
            }
            Reshape::RenameInner { field, from, to } => {
                if let Some(rest) = path.strip_prefix(&format!("{field}.{from}")) {
                    path = format!("{field}.{to}{rest}");
                }
            }
            // Option objects become their labels, and go whole to `list_options`.
            Reshape::OptionObjects if path == "options[]" => typed = false,
            Reshape::OptionObjects if under(&path, "options[]") => {
                path = format!("list_options{}", &path["options".len()..]);
            }
            Reshape::Omit(field) if under(&path, field) => return None,
            _ => {}
        }
    }
    Some((path, typed))
}

/// What is wrong with the schemas against one version's digest.
fn drift(version: &str, digest: &Digest) -> Vec<String> {
    let mut problems = Vec::new();
    for stream in ALL {
        let Some(name) = described(stream, version) else {
            continue;
        };
        let schema = stream.schema();
        for (path, described) in &digest[name] {
            if LEFT_OUT.iter().any(|(s, p, _)| *s == stream.name && under(path, p)) {
                continue;
            }
            let Some((recorded, typed)) = as_recorded(stream, path) else {
                continue;
            };
            // Records that sit inside the stream's rows (a contact's segments in its one row).
            let recorded = match stream.described.and_then(|d| d.within) {
                Some(within) => format!("{within}.{recorded}"),
                None => recorded,
            };
            let leaf = recorded
                .rsplit(['.', '['])
                .next()
                .unwrap_or_default()
                .trim_end_matches(']');
            match find(&schema, &recorded) {
                Found::Open => {}
                Found::Missing => problems.push(format!(
                    "{version}: {}.{recorded} ({described}) is described by Intercom ({name}.{path}) but not declared",
                    stream.name
                )),
                Found::Declared(ours) => {
                    let converted = CONVERTED.iter().any(|(s, p)| *s == stream.name && *p == recorded);
                    if typed && !converted && !fits(described, ours, leaf) {
                        problems.push(format!(
                            "{version}: {}.{recorded} is {} {} here, {described} in Intercom's {name}.{path}",
                            stream.name, ours["type"], ours["format"]
                        ));
                    }
                }
            }
        }
    }
    problems
}

fn digest_file(version: &str) -> PathBuf {
    root().join(format!("tests/openapi/{version}.json"))
}

fn load_digest(version: &str) -> Digest {
    let path = digest_file(version);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (see tests/it/drift.rs for how it is made)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write_digest(version: &str, digest: &Digest) {
    let value: Map<String, Value> = digest.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let mut text = serde_json::to_string_pretty(&Value::Object(value)).unwrap();
    text.push('\n');
    std::fs::create_dir_all(root().join("tests/openapi")).unwrap();
    std::fs::write(digest_file(version), text).unwrap();
}

#[test]
fn the_schemas_hold_against_intercoms_description_of_every_known_version() {
    // Beside the project in CI (and in the team's checkouts); a clone on its own holds the
    // schemas against the kept digest of 2.14 as of the other versions.
    let shared = root().join("../shared/intercom-openapi/api.intercom.io-2.14.yaml");
    if shared.exists() {
        let made = digest(&read_yaml(&shared), "2.14");
        if let Some(dir) = std::env::var_os("TAP_INTERCOM_OPENAPI_DIR") {
            write_digest("2.14", &made);
            for version in ["2.15", "2.16"] {
                let spec = read_yaml(&Path::new(&dir).join(format!("{version}.yaml")));
                assert_eq!(
                    spec["info"]["version"], version,
                    "{version}.yaml describes another version"
                );
                write_digest(version, &digest(&spec, version));
            }
        }
        assert!(
            load_digest("2.14") == made,
            "tests/openapi/2.14.json is not what the digest code makes of the 2.14 description: \
             remake the digests (tests/it/drift.rs says how)"
        );
    } else {
        eprintln!("{} is not here: 2.14 is held against its kept digest", shared.display());
    }
    let mut problems = Vec::new();
    for version in tap_intercom::version::ApiVersion::KNOWN {
        problems.extend(drift(version.as_str(), &load_digest(version.as_str())));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
