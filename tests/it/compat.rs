//! Where users run the tap: meltano.yml agrees with `--about`, and singer-io's catalog is
//! covered (`tests/e2e` loads both into a database; these checks need none).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::Tap;

fn about() -> Value {
    let out = Tap::new().arg("--about").arg("--format").arg("json").run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn discover() -> Value {
    let out = Tap::new().arg("--discover").run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// meltano.yml, read as YAML: `meltano install` and `meltano config set` rewrite the file
/// (dropping comments, moving keys), and it must still say the same.
fn meltano_yml() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/meltano.yml")).unwrap();
    serde_yaml_ng::from_str(&text).expect("meltano.yml is YAML")
}

/// The tap-intercom extractor of meltano.yml.
fn meltano_extractor() -> serde_yaml_ng::Value {
    let yml = meltano_yml();
    let extractors = yml["plugins"]["extractors"]
        .as_sequence()
        .expect("plugins.extractors")
        .clone();
    extractors
        .into_iter()
        .find(|e| e["name"].as_str() == Some("tap-intercom"))
        .expect("meltano.yml has the tap-intercom extractor")
}

/// The settings of meltano.yml's extractor: name to (kind, sensitive, default), as text.
fn meltano_settings() -> Vec<(String, BTreeMap<String, String>)> {
    let text = |v: &serde_yaml_ng::Value| match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    };
    meltano_extractor()["settings"]
        .as_sequence()
        .expect("the extractor's settings")
        .iter()
        .map(|setting| {
            let map = setting.as_mapping().expect("a setting is a mapping");
            let name = text(&setting["name"]);
            let fields = map
                .iter()
                .filter(|(k, _)| k.as_str() != Some("name"))
                .map(|(k, v)| (text(k), text(v)))
                .collect();
            (name, fields)
        })
        .collect()
}

#[test]
fn meltano_yml_declares_every_setting_of_about_with_its_kind() {
    let about = about();
    let properties = about["settings"]["properties"].as_object().unwrap();
    let declared = meltano_settings();
    let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = properties.keys().map(String::as_str).collect();
    assert_eq!(names, expected, "meltano.yml settings vs --about");
    for (name, fields) in &declared {
        let p = &properties[name.as_str()];
        let kind = match (p["type"][0].as_str(), p["format"].as_str()) {
            (Some("string"), Some("date-time")) => "date_iso8601",
            (Some("string"), _) if p.get("enum").is_some() => "options",
            (Some("string"), _) => "string",
            (Some("integer"), _) => "integer",
            (Some("number"), _) => "decimal",
            (Some("boolean"), _) => "boolean",
            other => panic!("{name}: unexpected type {other:?}"),
        };
        assert_eq!(fields.get("kind").map(String::as_str), Some(kind), "{name}: kind");
        let secret = p["secret"] == true;
        assert_eq!(
            fields.get("sensitive").is_some_and(|s| s == "true"),
            secret,
            "{name}: sensitive"
        );
        let default = p
            .get("default")
            .filter(|d| !d.is_null())
            .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned));
        assert_eq!(fields.get("value"), default.as_ref(), "{name}: default");
        if kind == "options" {
            let extractor = meltano_extractor();
            let setting = extractor["settings"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|s| s["name"].as_str() == Some(name.as_str()))
                .unwrap()
                .clone();
            let options: Vec<String> = setting["options"]
                .as_sequence()
                .map(|o| {
                    o.iter()
                        .filter_map(|v| v["value"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            for value in p["enum"].as_array().unwrap().iter().filter_map(Value::as_str) {
                assert!(options.iter().any(|o| o == value), "{name}: option {value} missing");
            }
        }
    }
}

#[test]
fn meltano_yml_uses_the_capabilities_the_tap_declares() {
    let about = about();
    let caps: Vec<&str> = about["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let declared: Vec<String> = meltano_extractor()["capabilities"]
        .as_sequence()
        .expect("the extractor's capabilities")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert_eq!(declared, caps, "meltano.yml capabilities differ from --about's");
}

/// The column `MeltanoLabs/target-postgres` makes of a property (its 0.8.1 rules;
/// singer-io's `anyOf` takes its first non-null branch).
fn column_type(schema: &Value) -> String {
    if let Some(branches) = schema["anyOf"].as_array() {
        let branch = branches
            .iter()
            .find(|b| b["type"] != "null")
            .expect("anyOf without a non-null branch");
        return column_type(branch);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let non_null: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    match non_null.as_slice() {
        ["string"] if schema["format"] == "date-time" => "timestamp".into(),
        ["integer"] => "bigint".into(),
        ["number"] => "numeric".into(),
        ["boolean"] => "boolean".into(),
        ["object"] => "jsonb".into(),
        ["array"] => match column_type(&schema["items"]).as_str() {
            scalar @ ("text" | "bigint" | "numeric" | "boolean") => format!("{scalar}[]"),
            _ => "jsonb[]".into(),
        },
        _ => "text".into(),
    }
}

/// Where singer-io's type is wrong for what Intercom 2.14 sends: it declares a string and
/// writes a Python repr of the object. Ours is an object; the README's migration section
/// lists these, and tests/e2e shows JSON landing in singer-io's text column.
const REPR_STRINGS: &[&str] = &["contacts.avatar", "conversation_parts.assigned_to"];

#[test]
fn every_singer_io_stream_and_column_exists_with_a_type_that_loads_into_the_same_column() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/singer-io/singer-io-catalog.json"
    );
    let theirs: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ours = discover();
    let ours: BTreeMap<&str, &Value> = ours["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["tap_stream_id"].as_str().unwrap(), s))
        .collect();
    let mut checked = 0;
    for stream in theirs["streams"].as_array().unwrap() {
        let name = stream["tap_stream_id"].as_str().unwrap();
        let mine = ours
            .get(name)
            .unwrap_or_else(|| panic!("singer-io's stream {name} is missing"));
        assert_eq!(mine["key_properties"], stream["key_properties"], "{name}: key");
        for (column, schema) in stream["schema"]["properties"].as_object().unwrap() {
            let at = format!("{name}.{column}");
            let my_schema = &mine["schema"]["properties"][column];
            assert!(!my_schema.is_null(), "{at}: singer-io's column is missing");
            let (theirs, mine) = (column_type(schema), column_type(my_schema));
            if REPR_STRINGS.contains(&at.as_str()) {
                assert_eq!((theirs.as_str(), mine.as_str()), ("text", "jsonb"), "{at}");
            } else {
                assert_eq!(
                    theirs, mine,
                    "{at}: singer-io's column is {theirs}, ours would be {mine}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 177, "singer-io's catalog has 177 columns");
}

/// The lists of objects in `schema`, by path, whose items declare no `properties`.
fn items_without_properties(schema: &Value, path: &str, found: &mut Vec<String>) {
    let types = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.contains(&"array") {
        let items = &schema["items"];
        let object = match &items["type"] {
            Value::String(t) => t == "object",
            Value::Array(ts) => ts.iter().any(|t| t == "object"),
            _ => false,
        };
        if object && items.get("properties").is_none() {
            found.push(path.to_owned());
        }
        items_without_properties(items, &format!("{path}[]"), found);
    }
    for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
        items_without_properties(sub, &format!("{path}.{name}"), found);
    }
    if schema["additionalProperties"].is_object() {
        items_without_properties(&schema["additionalProperties"], &format!("{path}.*"), found);
    }
}

/// Targets built on the Meltano SDK (target-snowflake 0.20.4: singer-sdk 0.55) conform each
/// object of a list by its schema's `properties`, and fail with `KeyError: 'properties'` on a
/// list of objects that declares none: every such list declares them (empty, with
/// `additionalProperties`, for free-form items such as content snippets' blocks), and the
/// free-form items still reach the record whole.
#[test]
fn lists_of_objects_declare_their_items_properties_and_keep_free_items_whole() {
    let catalog = discover();
    let mut found = Vec::new();
    for stream in catalog["streams"].as_array().unwrap() {
        items_without_properties(&stream["schema"], stream["tap_stream_id"].as_str().unwrap(), &mut found);
    }
    assert!(found.is_empty(), "lists of objects without properties: {found:?}");

    let fake = crate::support::fake();
    let out = Tap::against(&fake)
        .set("api_version", serde_json::json!("2.16"))
        .catalog(crate::support::meltano_catalog(&["content_snippets"], &[]))
        .run();
    out.ok();
    let snippets = out.records("content_snippets");
    assert!(!snippets.is_empty());
    for snippet in snippets {
        let blocks = snippet["json_blocks"].as_array().expect("json_blocks");
        assert!(
            blocks.iter().all(|b| b["type"] == "paragraph" && b["text"].is_string()),
            "{blocks:?}"
        );
        assert!(snippet["undeclared_properties"].get("json_blocks[0].text").is_none());
    }
}
