//! How runs end when the program does not end them: on drop, on a panic, at process exit.
//!
//! - A run whose last handle is dropped is completed, or failed with the panic message if the
//!   thread is unwinding from a panic.
//! - At process exit (return from `main` or `std::process::exit`) an `atexit` handler ends every
//!   run this process started and has not ended, the process's context run among them:
//!   FINISHED, or FAILED with the message if the main thread panicked. It then waits, at most
//!   [`EXIT_WAIT`], for their journals to reach the disk.
//! - A process killed by a signal runs none of this: its runs stay RUNNING, and everything its
//!   journal writer had written is kept.

use std::cell::RefCell;
use std::panic;
use std::sync::{Mutex, Once, PoisonError, Weak};
use std::time::Duration;

use crate::run::{Run, RunInner};

/// The longest the exit handler waits for journals.
pub const EXIT_WAIT: Duration = Duration::from_secs(10);

static LIVE: Mutex<Vec<Weak<RunInner>>> = Mutex::new(Vec::new());
static MAIN_PANIC: Mutex<Option<String>> = Mutex::new(None);

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remembers a run of this process, so that `parent()` finds it and exit can end it.
pub(crate) fn register(run: &Run) {
    static HOOKS: Once = Once::new();
    HOOKS.call_once(install_hooks);
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.retain(|w| w.strong_count() > 0);
    live.push(run.downgrade());
}

/// The live run of this process with that id, if any.
pub(crate) fn find(id: &str) -> Option<Run> {
    let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.iter().filter_map(Run::upgrade).find(|r| r.id() == id)
}

/// The message of the panic this thread is unwinding from, if the hook saw it.
pub(crate) fn panic_message() -> String {
    LAST_PANIC
        .with(|p| p.borrow().clone())
        .unwrap_or_else(|| String::from("the thread panicked"))
}

/// The text of a panic payload.
pub fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("panic with a non-text payload")
    }
}

fn install_hooks() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let mut message = format!("panicked: {}", payload_text(info.payload()));
        if let Some(at) = info.location() {
            message.push_str(&format!(" (at {}:{})", at.file(), at.line()));
        }
        if std::thread::current().name() == Some("main") {
            *MAIN_PANIC.lock().unwrap_or_else(PoisonError::into_inner) = Some(message.clone());
        }
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(message));
        previous(info);
    }));
    // SAFETY: `at_exit` is a plain extern "C" function that never unwinds.
    unsafe { libc::atexit(at_exit) };
}

extern "C" fn at_exit() {
    let _ = panic::catch_unwind(end_all);
}

fn end_all() {
    // Newest first: children end before their parents.
    let runs: Vec<Run> = {
        let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        live.iter().rev().filter_map(Run::upgrade).collect()
    };
    let panic = MAIN_PANIC
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for run in runs {
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
    let deadline = std::time::Instant::now() + crate::config::exit_timeout();
    for left in crate::mlflow::wait_all(deadline) {
        eprintln!("run-runtime: at exit: {left}");
    }
}

#[cfg(not(feature = "mlflow"))]
fn wait_for_shipping() {}
