//! Reading the JSON files a user hands over (config, catalog, state) with errors that name the
//! file and the exact line and column of a syntax error.

use std::path::Path;

use serde_json::Value;

use crate::error::Error;

/// Reads `path` as one JSON document; `what` names the file's role in errors.
pub fn read(what: &'static str, path: &Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|err| Error::BadJson {
        what,
        path: path.to_owned(),
        line: err.line(),
        column: err.column(),
        message: syntax_message(&err),
    })
}

/// `serde_json`'s message without its own " at line L column C" suffix, which we print ourselves.
fn syntax_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{\n  \"bookmarks\": {,\n}").unwrap();
        let err = read("state", &path).unwrap_err().to_string();
        assert!(err.contains("state file"), "{err}");
        assert!(err.contains("state.json"), "{err}");
        assert!(err.contains("line 2, column 17"), "{err}");
    }

    #[test]
    fn missing_files_are_named() {
        let err = read("catalog", Path::new("/nonexistent/catalog.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read catalog file /nonexistent/catalog.json"),
            "{err}"
        );
    }
}
