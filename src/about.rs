//! `--about`: what the tap is and the settings it reads, in the shapes the Meltano SDK prints
//! (text, JSON, Markdown), so that Meltano and the Hub read it like any SDK tap's. The settings
//! are the JSON Schema generated from [`RawConfig`], so they cannot drift from the code.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::cli::AboutFormat;
use crate::config::{ENV_PREFIX, RawConfig};

pub const CAPABILITIES: &[&str] = &["catalog", "discover", "state", "about"];
const DESCRIPTION: &str = env!("CARGO_PKG_DESCRIPTION");

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

/// Labels of the options Meltano shows for a setting's values, where the value alone says
/// too little.
const OPTION_LABELS: &[(&str, &str)] = &[("us", "United States"), ("eu", "Europe"), ("au", "Australia")];

/// A setting's name as a label: `max_requests_per_minute` is "Max requests per minute".
fn label(name: &str) -> String {
    let words: Vec<String> = name
        .split('_')
        .map(|w| match w {
            "api" | "url" => w.to_ascii_uppercase(),
            _ => w.to_owned(),
        })
        .collect();
    let mut text = words.join(" ");
    if let Some(first) = text.get(..1) {
        text = first.to_ascii_uppercase() + &text[1..];
    }
    text
}

/// The settings as a Meltano plugin definition declares them (the project's `meltano.yml`, the
/// Hub definition): name, kind, default (`value`), label, description, `sensitive` for the
/// token and the options of an enumerated setting, all from [`settings_schema`].
pub fn meltano_settings() -> Vec<Value> {
    let schema = settings_schema();
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let ty = match &p["type"] {
                Value::Array(types) => types.iter().filter_map(Value::as_str).find(|t| *t != "null"),
                Value::String(t) => Some(t.as_str()),
                _ => None,
            };
            let options: Vec<&str> = p["enum"]
                .as_array()
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let kind = match ty {
                Some("string") if p["format"] == "date-time" => "date_iso8601",
                Some("string") if !options.is_empty() => "options",
                Some("integer") => "integer",
                Some("number") => "decimal",
                Some("boolean") => "boolean",
                _ => "string",
            };
            let mut setting = Map::new();
            setting.insert("name".into(), json!(name));
            setting.insert("kind".into(), json!(kind));
            if p["secret"] == true {
                setting.insert("sensitive".into(), json!(true));
            }
            if let Some(default) = p.get("default").filter(|d| !d.is_null()) {
                setting.insert("value".into(), default.clone());
            }
            setting.insert("label".into(), json!(label(name)));
            let description = p["description"].as_str().unwrap_or_default().replace('\n', " ");
            setting.insert("description".into(), json!(description));
            if !options.is_empty() {
                let options: Vec<Value> = options
                    .iter()
                    .map(|value| {
                        let label = OPTION_LABELS
                            .iter()
                            .find(|(v, _)| v == value)
                            .map_or(*value, |(_, l)| l);
                        json!({"label": label, "value": value})
                    })
                    .collect();
                setting.insert("options".into(), Value::Array(options));
            }
            Value::Object(setting)
        })
        .collect()
}

/// The Meltano Hub's variant of this tap: the owner of the repository in `Cargo.toml`.
pub fn hub_variant() -> &'static str {
    let repository = env!("CARGO_PKG_REPOSITORY");
    repository
        .trim_end_matches('/')
        .rsplit('/')
        .nth(1)
        .unwrap_or(repository)
}

/// The plugin definition Meltano Hub lists (`meltano add extractor tap-intercom --variant …`,
/// or `--from-ref` this file before it is listed): Cargo.toml's description, repository and
/// keywords, `--about`'s capabilities and settings, installed with pip from the repository.
pub fn hub_definition(keywords: &[&str]) -> Value {
    let repository = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    let mut out = Map::new();
    out.insert("name".into(), json!("tap-intercom"));
    out.insert("namespace".into(), json!("tap_intercom"));
    out.insert("variant".into(), json!(hub_variant()));
    out.insert("label".into(), json!("Intercom"));
    out.insert("description".into(), json!(DESCRIPTION));
    out.insert("logo_url".into(), json!("/assets/logos/extractors/intercom.png"));
    out.insert("domain_url".into(), json!("https://www.intercom.com/"));
    out.insert("repo".into(), json!(repository));
    out.insert("docs".into(), json!(env!("CARGO_PKG_HOMEPAGE")));
    out.insert("pip_url".into(), json!(format!("git+{repository}.git")));
    out.insert("executable".into(), json!("tap-intercom"));
    out.insert("capabilities".into(), json!(CAPABILITIES));
    out.insert("keywords".into(), json!(keywords));
    out.insert("maintenance_status".into(), json!("active"));
    out.insert("settings".into(), Value::Array(meltano_settings()));
    out.insert("settings_group_validation".into(), json!([["access_token"]]));
    Value::Object(out)
}

/// Holds the README's section between `<!-- NAME:start -->` and `<!-- NAME:end -->` to
/// `text`, made from the code: stale, the test fails; with `TAP_INTERCOM_REGENERATE=1` set,
/// the section is rewritten.
#[cfg(test)]
pub fn readme_section_is(name: &str, text: &str) {
    section_is(
        "README.md",
        &format!("<!-- {name}:start -->"),
        &format!("<!-- {name}:end -->"),
        text,
    );
}

/// Holds the lines of the project's file `path` between the line holding `start` and the line
/// holding `end` to `text` (see [`readme_section_is`]).
#[cfg(test)]
pub fn section_is(path: &str, start: &str, end: &str, text: &str) {
    let file = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let content = std::fs::read_to_string(&file).unwrap();
    let from = content.find(start).unwrap_or_else(|| panic!("{path}: no {start}"));
    let from = from + content[from..].find('\n').expect("a line after the start marker") + 1;
    let to = from + content[from..].find(end).unwrap_or_else(|| panic!("{path}: no {end}"));
    let to = content[..to].rfind('\n').map_or(to, |n| n + 1);
    if std::env::var_os("TAP_INTERCOM_REGENERATE").is_some() {
        std::fs::write(&file, format!("{}{}{}", &content[..from], text, &content[to..])).unwrap();
        return;
    }
    assert!(
        content[from..to] == *text,
        "{path}: the part between {start} and {end} is stale: run `TAP_INTERCOM_REGENERATE=1 cargo test` and commit"
    );
}

/// Holds the project's file `path` to `text` (see [`readme_section_is`]).
#[cfg(test)]
pub fn file_is(path: &str, text: &str) {
    let file = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("TAP_INTERCOM_REGENERATE").is_some() {
        if let Some(dir) = std::path::Path::new(&file).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&file, text).unwrap();
        return;
    }
    let content = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        content == text,
        "{path} is stale: run `TAP_INTERCOM_REGENERATE=1 cargo test` and commit"
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

    /// Cargo.toml's keywords, for the Hub definition.
    fn cargo_keywords() -> Vec<String> {
        let cargo = include_str!("../Cargo.toml");
        let line = cargo
            .lines()
            .find(|l| l.starts_with("keywords = "))
            .expect("Cargo.toml has keywords");
        serde_json::from_str(line.trim_start_matches("keywords = ")).expect("keywords are a list of strings")
    }

    /// The Hub definition in meltano-hub/ is this module's, laid out as the Hub's own files
    /// (`extractors/<name>/<variant>.yml`). `TAP_INTERCOM_REGENERATE=1` rewrites it.
    #[test]
    fn the_meltano_hub_definition_is_current() {
        let keywords = cargo_keywords();
        let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
        let definition = hub_definition(&keywords);
        let text = format!(
            "# The Meltano Hub definition of this variant of tap-intercom, generated from Cargo.toml\n\
             # and --about by `TAP_INTERCOM_REGENERATE=1 cargo test` (a test keeps it current). Add\n\
             # the tap with it before the Hub lists it:\n\
             #   meltano add extractor tap-intercom --from-ref <this file's raw URL or path>\n{}",
            serde_yaml_ng::to_string(&definition).unwrap()
        );
        file_is(
            &format!("meltano-hub/extractors/tap-intercom/{}.yml", hub_variant()),
            &text,
        );
        // What Meltano and the Hub need of it.
        assert_eq!(
            definition["pip_url"],
            "git+https://github.com/tap-intercom-rs/tap-intercom.git"
        );
        assert_eq!(definition["variant"], "tap-intercom-rs");
        assert_eq!(definition["capabilities"], json!(CAPABILITIES));
        let settings = definition["settings"].as_array().unwrap();
        let names: Vec<&str> = settings.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, crate::config::SETTING_NAMES);
    }

    /// meltano.yml declares the settings this module makes, between its settings markers.
    #[test]
    fn meltano_yml_settings_are_current() {
        let yaml = serde_yaml_ng::to_string(&meltano_settings()).unwrap();
        let mut text = String::from("    settings:\n");
        for line in yaml.lines() {
            let _ = writeln!(text, "    {line}");
        }
        section_is("meltano.yml", "# settings:start", "# settings:end", &text);
    }

    #[test]
    fn settings_become_meltano_kinds_labels_and_options() {
        let settings = meltano_settings();
        let find = |name: &str| settings.iter().find(|s| s["name"] == name).unwrap().clone();
        assert_eq!(
            find("access_token"),
            json!({"name": "access_token", "kind": "string", "sensitive": true, "label": "Access token",
                   "description": find("access_token")["description"]})
        );
        assert_eq!(find("start_date")["kind"], "date_iso8601");
        assert_eq!(find("request_timeout")["kind"], "decimal");
        assert_eq!(find("request_timeout")["value"], 300);
        assert_eq!(find("max_retries")["kind"], "integer");
        assert_eq!(find("add_workspace_id")["kind"], "boolean");
        assert_eq!(find("base_url")["label"], "Base URL");
        assert_eq!(find("api_version")["label"], "API version");
        assert_eq!(find("api_version")["value"], "2.14");
        assert_eq!(
            find("region")["options"],
            json!([{"label": "United States", "value": "us"}, {"label": "Europe", "value": "eu"},
                   {"label": "Australia", "value": "au"}])
        );
        assert!(
            settings
                .iter()
                .all(|s| s["description"].as_str().is_some_and(|d| d.len() > 20))
        );
    }
}
