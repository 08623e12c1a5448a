//! tap-intercom: a Singer tap for Intercom.
//!
//! `--discover` prints the catalog of every stream; a sync reads config, catalog and state and
//! writes SCHEMA, RECORD and STATE messages to stdout, one JSON object a line, for any Singer
//! target or `meltano run`. The layout:
//!
//! - [`cli`], [`config`]: the command line and the settings, promoted to typed values;
//! - [`singer`]: the catalog and selection, the state, and the one writer that owns stdout;
//! - [`http`]: the client every stream uses (auth, pacing, retries);
//! - [`streams`]: the table of streams, as data;
//! - [`job`]: what a stream's run works with, and the bookmark rules;
//! - [`paging`]: one driver for Intercom's paging styles, and reading ranges in slices;
//! - [`runners`]: how each kind of stream is read;
//! - [`schema`]: shaping Intercom's items into the records the schemas promise;
//! - [`sync`]: planning and running the selected streams;
//! - [`time`]: the one reading of every time value Intercom sends;
//! - [`version`]: the API versions the tap knows, and the endpoints that moved between them.

pub mod about;
pub mod cli;
pub mod config;
pub mod error;
pub mod exports;
pub mod http;
pub mod job;
mod jsonfile;
pub mod log;
pub mod paging;
mod parallel;
pub mod runners;
pub mod schema;
pub mod singer;
pub mod streams;
pub mod sync;
pub mod time;
pub mod version;

use std::io::Write;

pub use cli::Cli;
pub use error::Error;

use singer::{Catalog, State};

/// Runs the tap as the command line says, writing its output to `out`.
pub fn run(cli: &Cli, mut out: impl Write + Send + 'static) -> Result<(), Error> {
    log::init(cli.log_format);
    if cli.about {
        return write_all(&mut out, about::render(cli.format).as_bytes());
    }
    let raw = config::load(&cli.config)?;
    if cli.discover {
        let workspace = raw.add_workspace_id.as_ref().is_some_and(|v| v.0);
        let custom = custom_attributes(raw);
        let mut text =
            serde_json::to_vec_pretty(&singer::catalog::discover_with(workspace, &custom)).unwrap_or_default();
        text.push(b'\n');
        return write_all(&mut out, &text);
    }
    let settings = config::Settings::from_raw(raw)?;
    settings.require_token()?;
    if cli.catalog.is_some() && cli.properties.is_some() {
        warn!("both --catalog and --properties were given; using --catalog");
    }
    let catalog = cli
        .catalog_path()
        .map(|p| Catalog::load(p, settings.add_workspace_id))
        .transpose()?;
    let state = cli.state.as_deref().map(State::load).transpose()?.unwrap_or_default();
    sync::run(settings, catalog.as_ref(), state, Box::new(out))
}

/// With a token, the reporting datasets' custom attributes, for discovery; none without one
/// (or with settings a sync would refuse, which the sync then reports).
fn custom_attributes(raw: config::RawConfig) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let Ok(settings) = config::Settings::from_raw(raw) else {
        return std::collections::BTreeMap::new();
    };
    if settings.token.is_none() {
        return std::collections::BTreeMap::new();
    }
    match http::Client::new(&settings) {
        Ok(client) => runners::custom_attributes(&client),
        Err(err) => {
            warn!("discovery: the reporting datasets' custom attributes could not be read ({err})");
            std::collections::BTreeMap::new()
        }
    }
}

fn write_all(out: &mut impl Write, bytes: &[u8]) -> Result<(), Error> {
    out.write_all(bytes).and_then(|()| out.flush()).map_err(Error::Stdout)
}
