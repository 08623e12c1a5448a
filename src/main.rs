//! The `tap-intercom` executable: parse the command line, hand stdout to the library, and turn
//! the outcome into an exit code. Everything else lives in the library.

use std::io::{self, BufWriter};
use std::process::ExitCode;

use clap::Parser;
use tap_intercom::{Cli, log};

fn main() -> ExitCode {
    tame_malloc();
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
/// search results in the arenas).
///
/// What is freed inside the arenas stays resident until the free space reaches their top, and
/// parsed pages of many small values leave it scattered: over a long sync of the large fake
/// workspace the resident memory crept from 50 to 70 MB with the heap level. A thread gives
/// the free pages back twice a second (`malloc_trim`): the same sync at 1,000 ms peaked at 64 MB
/// trimming every 2 s and at 56 MB trimming every 0.5 s (docs/benchmarks.md). Called before any
/// thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // libc's malloc settings and trim: no memory of the tap's at stake
fn tame_malloc() {
    /// How often free memory inside malloc's arenas goes back to the system: a trim walks the
    /// arenas under their locks, a millisecond or so for the tap's heap.
    const TRIM_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
    // SAFETY: mallopt only sets malloc's parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    // Without the thread, memory is only held longer: a failed spawn is no reason to stop.
    let _ = std::thread::Builder::new().name("malloc-trim".into()).spawn(|| {
        loop {
            std::thread::sleep(TRIM_EVERY);
            // SAFETY: malloc_trim only returns free pages of malloc's own arenas to the system.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tame_malloc() {}
