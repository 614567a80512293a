//! How runs end when the program does not end them: on drop, on a panic, at process exit.
//!
//! - A run whose last handle is dropped is completed, or failed with the panic message if the
//!   thread is unwinding from a panic.
//! - At process exit (return from `main` or `std::process::exit`) an `atexit` handler ends every
//!   run this process started and has not ended, the process's context run among them:
//!   FINISHED, or FAILED with the message if the main thread panicked. It then waits, at most
//!   [`crate::journal::SYNC_WAIT`], for their journals to reach the disk.
//! - A process killed by a signal runs none of this: its runs stay RUNNING, and everything its
//!   journal writer had written is kept.

use std::panic;

use crate::process::{Process, lock, process};

/// Installs the panic hook and the exit handler, once.
pub(crate) fn install_hooks(process: &'static Process) {
    process.hooks.call_once(|| {
        crate::panics::install_hook(process);
        // SAFETY: `at_exit` is a plain extern "C" function that never unwinds.
        unsafe { libc::atexit(at_exit) };
    });
}

extern "C" fn at_exit() {
    let _ = panic::catch_unwind(end_all);
}

fn end_all() {
    let process = process();
    let panic = lock(&process.main_panic).clone();
    for run in process.live_runs() {
        if let Err(e) = run.end_at_exit(panic.as_deref()) {
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
