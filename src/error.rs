//! The errors of a run. Each variant carries what a user needs to act on it: the file and the
//! position of bad JSON, the setting that is wrong, the stream and request that failed with
//! Intercom's error code and request id. None of them can hold the access token.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::http::ApiError;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot read {what} file {}: {source}", path.display())]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{what} file {} is not valid JSON: {message} at line {line}, column {column}", path.display())]
    BadJson {
        what: &'static str,
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{what} file {}: {problem}", path.display())]
    Input {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },

    #[error("config: {0}")]
    Config(#[from] ConfigError),

    #[error(transparent)]
    Api(#[from] ApiError),

    /// Intercom answered with something the tap cannot turn into records.
    #[error("{stream}: {request}: {problem}")]
    BadResponse {
        stream: &'static str,
        request: String,
        problem: String,
    },

    /// A record did not fit its stream's schema and could not be converted without loss.
    #[error("{stream}: record {record}: {problem}")]
    BadRecord {
        stream: &'static str,
        record: String,
        problem: String,
    },

    #[error(
        "writing to stdout failed ({0}); the target reading the tap's output has stopped, so the run is not complete"
    )]
    Stdout(#[source] io::Error),

    #[error("{stream}: cannot start a thread: {source}")]
    Spawn { stream: &'static str, source: io::Error },

    /// A bug: a stream's thread panicked. The run stops as for any other failure.
    #[error(
        "{stream}: stopped by an internal error, a bug in tap-intercom (the lines above say where); please report it"
    )]
    Internal { stream: &'static str },

    /// Another stream failed and this one stopped early to let the run end.
    #[error("stopped because another stream failed")]
    Aborted,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("access_token is missing: set it in the config file or in TAP_INTERCOM_ACCESS_TOKEN")]
    MissingToken,

    #[error("{key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

impl Error {
    /// 2 for bad input (files, settings), 1 for a sync that failed while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::ReadFile { .. } | Error::BadJson { .. } | Error::Input { .. } | Error::Config(_) => 2,
            _ => 1,
        }
    }
}
