//! The command line, as Singer runners and Meltano call it.
//!
//! Meltano appends `--discover` or `--about` to an argument list that may already carry
//! `--catalog` and `--state` from an earlier run, so every flag is accepted in any combination
//! and the modes simply ignore the files they do not need.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Singer tap for Intercom: writes SCHEMA, RECORD and STATE messages to stdout.
///
/// Without --discover or --about it syncs the streams selected in the catalog (every stream
/// but the exports when no catalog is given) and continues from the bookmarks in the state
/// file.
#[derive(Debug, Parser)]
#[command(name = "tap-intercom", version, about, long_about)]
pub struct Cli {
    /// Config file (JSON). Repeat to merge several; later files override earlier ones. The
    /// value ENV stands for the `TAP_INTERCOM_*` environment variables at that position; without
    /// it they fill in whatever no file sets.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Vec<PathBuf>,

    /// Catalog file choosing streams, fields and replication (from --discover or Meltano).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// Legacy name of --catalog, kept for older Singer runners.
    #[arg(short = 'p', long, value_name = "FILE")]
    pub properties: Option<PathBuf>,

    /// State file with the bookmarks of an earlier run (the value of its last STATE).
    #[arg(short = 's', long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Print the catalog of every stream and exit. Needs no token and makes no request.
    #[arg(short = 'd', long)]
    pub discover: bool,

    /// Print what this tap is and the settings it reads, then exit.
    #[arg(long)]
    pub about: bool,

    /// Output format of --about.
    #[arg(long, value_enum, default_value_t = AboutFormat::Text)]
    pub format: AboutFormat,

    /// Format of the log on stderr: text lines, or one JSON object per line (as Meltano reads
    /// from SDK taps). Also set by `TAP_INTERCOM_LOG_FORMAT`; the flag wins.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AboutFormat {
    Text,
    Json,
    Markdown,
}

impl Cli {
    /// The catalog file, whichever of the two flags named it (`--catalog` wins).
    pub fn catalog_path(&self) -> Option<&PathBuf> {
        self.catalog.as_ref().or(self.properties.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn meltano_argument_orders_parse() {
        let cli = Cli::try_parse_from([
            "tap-intercom",
            "--config",
            "a.json",
            "--catalog",
            "c.json",
            "--state",
            "s.json",
            "--discover",
        ])
        .unwrap();
        assert!(cli.discover);
        let cli = Cli::try_parse_from(["tap-intercom", "--about", "--format=json", "-c", "a.json"]).unwrap();
        assert_eq!(cli.format, AboutFormat::Json);
        let cli = Cli::try_parse_from(["tap-intercom", "--log-format", "json", "-c", "a.json"]).unwrap();
        assert_eq!(cli.log_format, Some(LogFormat::Json));
        let cli = Cli::try_parse_from(["tap-intercom", "-c", "a", "-c", "b", "--properties", "p"]).unwrap();
        assert_eq!(cli.config.len(), 2);
        assert_eq!(cli.catalog_path().unwrap(), &PathBuf::from("p"));
    }
}
