//! The `tap-intercom` executable: parse the command line, hand stdout to the library, and turn
//! the outcome into an exit code. Everything else lives in the library.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use clap::Parser;
use tap_intercom::{Cli, log};

fn main() -> ExitCode {
    few_malloc_arenas();
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

/// glibc's malloc gives each thread that allocates while another holds the lock an arena of
/// its own, up to eight per core, and each arena keeps the memory freed into it. With a hundred
/// threads waiting on answers that meant a peak resident memory of two to three times the heap,
/// growing with the cores and the requests in flight. Two arenas keep it near the heap: the
/// threads spend their time waiting on the network, not contending for malloc's lock. Bodies of
/// 128 kB and more are mapped apart and given back when freed, whatever sizes came before
/// (glibc would otherwise raise that threshold as large blocks are freed, keeping pages of
/// search results in the arenas). Called before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the one unsafe call of the tap: a libc setting with no memory at stake
fn few_malloc_arenas() {
    // SAFETY: mallopt only sets malloc's parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn few_malloc_arenas() {}
