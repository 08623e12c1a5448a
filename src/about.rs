//! `--about`: what the tap is and the settings it reads, in the shapes the Meltano SDK prints
//! (text, JSON, Markdown), so that Meltano and the Hub read it like any SDK tap's. The settings
//! are the JSON Schema generated from [`RawConfig`], so they cannot drift from the code.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::cli::AboutFormat;
use crate::config::{ENV_PREFIX, RawConfig};

pub const CAPABILITIES: &[&str] = &["catalog", "discover", "state", "about"];
const DESCRIPTION: &str = "Singer tap for Intercom: every stream, nothing lost, fast";

/// The settings schema: one property per setting, optional ones typed `[T, "null"]`, the token
/// marked secret.
pub fn settings_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(RawConfig)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("title");
        obj.insert("required".into(), json!(["access_token"]));
        // Every setting is named below; anything else in a config is ignored with a warning.
        obj.remove("additionalProperties");
        let dollar = obj.remove("$schema");
        if let Some(dollar) = dollar {
            obj.insert("$schema".into(), dollar);
        }
    }
    schema
}

pub fn about_json() -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!("tap-intercom"));
    out.insert("description".into(), json!(DESCRIPTION));
    out.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    out.insert("sdk_version".into(), Value::Null);
    out.insert("supported_python_versions".into(), Value::Null);
    out.insert("capabilities".into(), json!(CAPABILITIES));
    out.insert("settings".into(), settings_schema());
    Value::Object(out)
}

/// One row per setting: name, type, whether required, default, description.
struct Setting {
    name: String,
    kind: String,
    required: bool,
    default: Option<Value>,
    description: String,
}

fn settings() -> Vec<Setting> {
    let schema = settings_schema();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let kind = match &p["type"] {
                Value::Array(types) => types
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect::<Vec<_>>()
                    .join(" or "),
                Value::String(t) => t.clone(),
                _ => "string".into(),
            };
            Setting {
                name: name.clone(),
                kind,
                required: required.contains(&name.as_str()),
                default: p.get("default").filter(|d| !d.is_null()).cloned(),
                description: p["description"].as_str().unwrap_or_default().replace('\n', " "),
            }
        })
        .collect()
}

pub fn render(format: AboutFormat) -> String {
    match format {
        AboutFormat::Json => {
            let mut text = serde_json::to_string_pretty(&about_json()).unwrap_or_default();
            text.push('\n');
            text
        }
        AboutFormat::Text => text(),
        AboutFormat::Markdown => markdown(),
    }
}

fn text() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Name: tap-intercom");
    let _ = writeln!(out, "Description: {DESCRIPTION}");
    let _ = writeln!(out, "Version: {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "SDK Version: none (a native Rust tap)");
    let _ = writeln!(out, "Capabilities:");
    for c in CAPABILITIES {
        let _ = writeln!(out, "  - {c}");
    }
    let _ = writeln!(out, "Settings:");
    for s in settings() {
        let _ = writeln!(out, "  - Name: {}", s.name);
        let _ = writeln!(out, "    Type: {}", s.kind);
        let _ = writeln!(out, "    Required: {}", s.required);
        if let Some(d) = &s.default {
            let _ = writeln!(out, "    Default: {d}");
        }
        let _ = writeln!(
            out,
            "    Environment Variable: {ENV_PREFIX}{}",
            s.name.to_ascii_uppercase()
        );
        let _ = writeln!(out, "    Description: {}", s.description);
    }
    out
}

/// The Markdown settings table, also pasted into the README (a test keeps them equal).
pub fn settings_table() -> String {
    let mut out = String::from("| Setting | Type | Required | Default | Environment variable | Description |\n");
    out.push_str("|:--|:--|:--|:--|:--|:--|\n");
    for s in settings() {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | `{ENV_PREFIX}{}` | {} |",
            s.name,
            s.kind,
            if s.required { "yes" } else { "no" },
            s.default.map_or_else(String::new, |d| format!("`{d}`")),
            s.name.to_ascii_uppercase(),
            s.description.replace('|', "\\|")
        );
    }
    out
}

fn markdown() -> String {
    let mut out = format!("# `tap-intercom`\n\n{DESCRIPTION}\n\n## Capabilities\n\n");
    for c in CAPABILITIES {
        let _ = writeln!(out, "* `{c}`");
    }
    out.push_str("\n## Settings\n\n");
    out.push_str(&settings_table());
    out
}

/// Holds the README's section between `<!-- NAME:start -->` and `<!-- NAME:end -->` to
/// `text`, made from the code: stale, the test fails; with `TAP_INTERCOM_REGENERATE=1` set,
/// the section is rewritten.
#[cfg(test)]
pub fn readme_section_is(name: &str, text: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let marker = format!("<!-- {name}:start -->\n");
    let start = readme.find(&marker).expect("start marker") + marker.len();
    let end = readme.find(&format!("<!-- {name}:end -->")).expect("end marker");
    if std::env::var_os("TAP_INTERCOM_REGENERATE").is_some() {
        std::fs::write(path, format!("{}{}{}", &readme[..start], text, &readme[end..])).unwrap();
        return;
    }
    assert!(
        readme[start..end] == *text,
        "README.md's {name} is stale: run `TAP_INTERCOM_REGENERATE=1 cargo test` and commit"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SETTING_NAMES;

    #[test]
    fn every_setting_is_described_and_typed() {
        let schema = settings_schema();
        let props = schema["properties"].as_object().unwrap();
        let names: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(names, SETTING_NAMES);
        for (name, p) in props {
            assert!(p["description"].as_str().is_some_and(|d| d.len() > 20), "{name}");
            let types = p["type"].as_array().unwrap_or_else(|| panic!("{name}: {p}"));
            assert!(types.contains(&json!("null")), "{name} is optional");
        }
        assert_eq!(props["access_token"]["secret"], true);
        assert_eq!(props["access_token"]["writeOnly"], true);
    }

    /// The README's settings table is this module's. `TAP_INTERCOM_REGENERATE=1` rewrites it.
    #[test]
    fn the_readme_settings_table_is_current() {
        readme_section_is("settings-table", &settings_table());
    }

    #[test]
    fn the_json_form_has_the_sdk_keys_in_order() {
        let about = about_json();
        let keys: Vec<&String> = about.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "name",
                "description",
                "version",
                "sdk_version",
                "supported_python_versions",
                "capabilities",
                "settings"
            ]
        );
    }
}
