//! How runs end when the program does not end them: on drop, on a panic, at process exit, on
//! a signal.
//!
//! - A run whose last handle is dropped is completed, or failed with the panic message if the
//!   thread is unwinding from a panic.
//! - At process exit (return from `main` or `std::process::exit`) an `atexit` handler ends every
//!   run this process started and has not ended, the process's context run among them:
//!   FINISHED, or FAILED with the message if the main thread panicked. It then waits, at most
//!   [`crate::journal::SYNC_WAIT`], for their journals to reach the disk.
//! - On SIGINT or SIGTERM (Ctrl-C, `kill`, Kubernetes and Azure ML stopping a job) a thread of
//!   the library ends the same runs KILLED, with the signal's name as their error, makes them
//!   durable, then lets the signal's default action end the process (its exit status says the
//!   signal). A second signal while this happens ends the process at once. The program can opt
//!   out with `RUNCTX_HANDLE_SIGNALS=0` (it handles the signals itself, e.g. to stop a training
//!   loop gracefully and end the run).
//! - While a command launched by [`crate::launch`] runs, SIGINT and SIGTERM go to its process
//!   group instead, whatever `RUNCTX_HANDLE_SIGNALS` says: the command decides how it ends, and
//!   its launcher ends its run from its exit status.
//! - SIGKILL, a power cut or `panic = "abort"` run none of this: the journal keeps what the
//!   writer had written (everything up to [`crate::journal::writer::TICK`] before the end),
//!   and the run stays RUNNING. `docs/guide.md`, "What survives", has the details.

use std::panic;

use crate::error::Status;
use crate::process::{Process, lock, process};

/// Installs the panic hook, the exit handler and the signal handlers, once.
pub(crate) fn install_hooks(process: &'static Process) {
    process.hooks.call_once(|| {
        crate::panics::install_hook(process);
        // SAFETY: `at_exit` is a plain extern "C" function that never unwinds.
        unsafe { libc::atexit(at_exit) };
        #[cfg(unix)]
        if process.handles_signals() {
            signals::watch();
        }
    });
}

extern "C" fn at_exit() {
    let _ = panic::catch_unwind(|| {
        let panic = lock(&process().main_panic).clone();
        match panic {
            Some(message) => end_all(Status::Failed, Some(&message)),
            None => end_all(Status::Finished, None),
        }
    });
}

/// Ends every run of this process that has not ended (newest first: children before their
/// parents) as `status`, then waits, within bounds, for the server to have them.
fn end_all(status: Status, error: Option<&str>) {
    for run in process().live_runs() {
        if let Err(e) = run.end_at_exit(status, error) {
            eprintln!("run-runtime: at exit, run {}: {e}", run.id());
        }
    }
    wait_for_shipping();
}

/// Online runs: waits, at most `RUNCTX_EXIT_TIMEOUT`, for the server to have everything, and
/// says what is left and how to upload it.
#[cfg(feature = "mlflow")]
fn wait_for_shipping() {
    let deadline = std::time::Instant::now() + process().exit_timeout();
    for left in crate::mlflow::wait_all(deadline) {
        eprintln!("run-runtime: at exit: {left}");
    }
}

#[cfg(not(feature = "mlflow"))]
fn wait_for_shipping() {}

#[cfg(unix)]
pub(crate) mod signals {
    //! SIGINT and SIGTERM: forwarded to the commands this process launched while any runs;
    //! otherwise the runs end KILLED, then the signal's default action follows.

    use std::sync::{Mutex, Once};

    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;
    use signal_hook::low_level::{emulate_default_handler, signal_name};

    use crate::error::Status;
    use crate::process::{lock, process};

    /// The process groups of the running launched commands.
    static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

    /// Sends SIGINT and SIGTERM to process group `group` while the guard lives.
    pub(crate) fn forward_to(group: i32) -> Forwarding {
        lock(&GROUPS).push(group);
        watch();
        Forwarding(group)
    }

    /// Forwards the signals to a process group; see [`forward_to`].
    #[derive(Debug)]
    pub(crate) struct Forwarding(i32);

    impl Drop for Forwarding {
        fn drop(&mut self) {
            lock(&GROUPS).retain(|g| *g != self.0);
        }
    }

    /// Sends `signal` to every launched command; `false` when none runs.
    fn forward(signal: i32) -> bool {
        let groups = lock(&GROUPS);
        for group in groups.iter() {
            // SAFETY: kill only sends a signal, to a process group this process started.
            unsafe { libc::kill(-group, signal) };
        }
        !groups.is_empty()
    }

    /// Starts the thread that receives SIGINT and SIGTERM, once.
    pub(super) fn watch() {
        static WATCHING: Once = Once::new();
        WATCHING.call_once(start_watching);
    }

    fn start_watching() {
        let mut signals = match Signals::new([SIGINT, SIGTERM]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "run-runtime: cannot handle SIGINT and SIGTERM ({e}); a signal will leave \
                     the runs RUNNING, with what the journal writer had written kept"
                );
                return;
            }
        };
        let watcher = std::thread::Builder::new()
            .name("runctx-signals".into())
            .spawn(move || {
                let mut ending = false;
                for signal in signals.forever() {
                    if forward(signal) {
                        continue;
                    }
                    // Watching only for launched commands, or an impatient second Ctrl-C: do
                    // what the signal does by default, now.
                    if ending || !process().handles_signals() {
                        let _ = emulate_default_handler(signal);
                        continue;
                    }
                    ending = true;
                    let end = std::thread::Builder::new()
                        .name("runctx-signal-end".into())
                        .spawn(move || end_then_die(signal));
                    if end.is_err() {
                        end_then_die(signal);
                    }
                }
            });
        if let Err(e) = watcher {
            eprintln!("run-runtime: cannot start the signal thread ({e}); signals are not handled");
        }
    }

    fn end_then_die(signal: i32) -> ! {
        let name = signal_name(signal).unwrap_or("a signal");
        super::end_all(Status::Killed, Some(&format!("stopped by {name}")));
        let _ = emulate_default_handler(signal);
        // emulate_default_handler ends the process for these signals; this is its fallback.
        std::process::abort()
    }
}
