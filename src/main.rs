//! The `tap-intercom` executable: parse the command line, hand stdout to the library, and turn
//! the outcome into an exit code. Everything else lives in the library.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use clap::Parser;
use tap_intercom::{Cli, log};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The one handle on stdout. Buffered: the writer flushes after every STATE and at the end.
    let stdout = BufWriter::with_capacity(64 * 1024, io::stdout());
    match tap_intercom::run(&cli, stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::critical(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
