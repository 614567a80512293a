//! The process: the one owner of what the runs of a program share. Its settings (what the
//! environment said, unless the program set them), the journal writer thread, the shipping
//! runtime, the runs that are alive, and the context run of the process.
//!
//! It is one `static`, built without running code, so that nothing about it depends on which
//! call comes first: the environment is read once, when a setting is first needed, and a value
//! the program set before or after that read wins over it.

use std::sync::{Mutex, MutexGuard, Once, OnceLock, PoisonError, Weak};
use std::time::Duration;

use crate::config::Settings;
use crate::error::Result;
use crate::journal::writer::Writer;
use crate::metrics::FailureReports;
use crate::run::{Run, RunInner};

/// The state of this process.
pub(crate) struct Process {
    /// The environment's settings, read once; `None` until first needed.
    env: Mutex<Option<Settings>>,
    /// What the program set; each field wins over the environment's.
    overrides: Mutex<Overrides>,
    /// The journal writer thread, started with the first journal.
    pub(crate) writer: OnceLock<Writer>,
    /// The shipping runtime and what it ships.
    #[cfg(feature = "mlflow")]
    pub(crate) shipping: crate::mlflow::Shipping,
    /// Runs this process opened and still holds a handle of.
    live: Mutex<Vec<Weak<RunInner>>>,
    /// The context run of the process, once opened.
    context: OnceLock<Run>,
    /// Serialises the opening of the context run, which can fail and then be tried again.
    opening: Mutex<()>,
    /// The exit and panic hooks, installed with the first run.
    pub(crate) hooks: Once,
    /// The message of a panic of the main thread, for the exit handler.
    pub(crate) main_panic: Mutex<Option<String>>,
    /// Where the logging attributes report what they could not log.
    pub(crate) log_failures: FailureReports,
    /// This host's name, as run.json records it.
    pub(crate) host: OnceLock<Option<String>>,
}

/// Settings the program chose through the API.
struct Overrides {
    flush_timeout: Option<Duration>,
    exit_timeout: Option<Duration>,
    stall_timeout: Option<Duration>,
}

static PROCESS: Process = Process::new();

/// The process's state.
pub(crate) fn process() -> &'static Process {
    &PROCESS
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every value behind these locks changes in one step: a poisoned one is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Process {
    const fn new() -> Self {
        Process {
            env: Mutex::new(None),
            overrides: Mutex::new(Overrides {
                flush_timeout: None,
                exit_timeout: None,
                stall_timeout: None,
            }),
            writer: OnceLock::new(),
            #[cfg(feature = "mlflow")]
            shipping: crate::mlflow::Shipping::new(),
            live: Mutex::new(Vec::new()),
            context: OnceLock::new(),
            opening: Mutex::new(()),
            hooks: Once::new(),
            main_panic: Mutex::new(None),
            log_failures: FailureReports::new(),
            host: OnceLock::new(),
        }
    }

    /// The settings: what the environment says (read on the first call that succeeds), with
    /// what the program set in their place. A malformed environment is an error every time it
    /// is asked, until it is fixed.
    pub(crate) fn settings(&self) -> Result<Settings> {
        let mut env = lock(&self.env);
        let settings = match &*env {
            Some(s) => s.clone(),
            None => env.insert(Settings::from_env()?).clone(),
        };
        drop(env);
        Ok(self.with_overrides(settings))
    }

    fn with_overrides(&self, mut settings: Settings) -> Settings {
        let o = lock(&self.overrides);
        settings.flush_timeout = o.flush_timeout.unwrap_or(settings.flush_timeout);
        settings.exit_timeout = o.exit_timeout.unwrap_or(settings.exit_timeout);
        settings.stall_timeout = o.stall_timeout.unwrap_or(settings.stall_timeout);
        settings
    }

    /// The settings, or the defaults when the environment is malformed: for the timeouts of
    /// waits that must happen anyway (the error surfaces where a run is opened).
    fn settings_or_defaults(&self) -> Settings {
        self.settings()
            .unwrap_or_else(|_| self.with_overrides(Settings::defaults()))
    }

    /// Whether the library ends the runs on SIGINT and SIGTERM (`RUNCTX_HANDLE_SIGNALS`, on by
    /// default).
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn handles_signals(&self) -> bool {
        self.settings_or_defaults().handle_signals
    }

    /// How long `flush()` waits for the tracking server.
    pub(crate) fn flush_timeout(&self) -> Duration {
        self.settings_or_defaults().flush_timeout
    }

    /// How long the exit handler waits for the tracking server.
    #[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
    pub(crate) fn exit_timeout(&self) -> Duration {
        self.settings_or_defaults().exit_timeout
    }

    /// How long a wait for the tracking server goes on while the server acknowledges nothing.
    #[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
    pub(crate) fn stall_timeout(&self) -> Duration {
        self.settings_or_defaults().stall_timeout
    }

    /// Remembers a run of this process, so that `parent()` finds it and exit ends it.
    pub(crate) fn register(&'static self, run: &Run) {
        crate::lifecycle::install_hooks(self);
        let mut live = lock(&self.live);
        live.retain(|w| w.strong_count() > 0);
        live.push(run.downgrade());
    }

    /// The live run of this process with that id.
    pub(crate) fn find_live(&self, id: &str) -> Option<Run> {
        let live = lock(&self.live);
        live.iter().filter_map(Run::upgrade).find(|r| r.id() == id)
    }

    /// Every live run, newest first (children before their parents).
    pub(crate) fn live_runs(&self) -> Vec<Run> {
        let live = lock(&self.live);
        live.iter().rev().filter_map(Run::upgrade).collect()
    }

    /// The context run of the process, opened by `open` on the first call (and again after a
    /// call whose `open` failed). One lock serialises every way of opening it, so a process
    /// never gets two.
    pub(crate) fn context_run(&self, open: impl FnOnce(&Settings) -> Result<Run>) -> Result<Run> {
        if let Some(run) = self.context.get() {
            return Ok(run.clone());
        }
        let _one_at_a_time = lock(&self.opening);
        if let Some(run) = self.context.get() {
            return Ok(run.clone());
        }
        let run = open(&self.settings()?)?;
        Ok(self.context.get_or_init(|| run).clone())
    }

    /// The context run, if it is open.
    pub(crate) fn context_run_if_open(&self) -> Option<&Run> {
        self.context.get()
    }
}

/// Sets how long `flush()` (and `complete()`, `fail()`, `cancel()`) wait at most for the
/// tracking server, in place of `RUNCTX_FLUSH_TIMEOUT` (60 s by default). The records are safe
/// in the journal either way.
pub fn set_flush_timeout(timeout: Duration) {
    lock(&process().overrides).flush_timeout = Some(timeout);
}

/// Sets how long the end of the program waits at most for the tracking server, in place of
/// `RUNCTX_EXIT_TIMEOUT` (30 s by default).
pub fn set_exit_timeout(timeout: Duration) {
    lock(&process().overrides).exit_timeout = Some(timeout);
}

/// Sets how long a wait for the tracking server goes on while the server acknowledges nothing,
/// in place of `RUNCTX_STALL_TIMEOUT` (5 s by default). A server that cannot be reached costs
/// a program this much once: later waits for the same server return at once until it answers
/// again.
pub fn set_stall_timeout(timeout: Duration) {
    lock(&process().overrides).stall_timeout = Some(timeout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fresh() -> Process {
        Process::new()
    }

    #[test]
    fn what_the_program_set_wins_over_the_environment_whenever_it_is_read() {
        let p = fresh();
        lock(&p.overrides).flush_timeout = Some(Duration::from_secs(7));
        // Reading the environment (as opening a context does) does not undo the program's
        // setting, before or after.
        assert_eq!(p.flush_timeout(), Duration::from_secs(7));
        *lock(&p.env) = Some(Settings::defaults());
        assert_eq!(p.flush_timeout(), Duration::from_secs(7));
        assert_eq!(p.exit_timeout(), Settings::defaults().exit_timeout);
    }

    #[test]
    fn the_context_run_is_opened_once_however_many_threads_ask() {
        let p: &'static Process = Box::leak(Box::new(fresh()));
        *lock(&p.env) = Some(Settings::defaults());
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::new(dir.path());
        let opened = AtomicUsize::new(0);
        let ids: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        p.context_run(|_| {
                            opened.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            store.start_run("Default", "context")
                        })
                        .unwrap()
                        .id()
                        .to_owned()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        assert!(ids.iter().all(|id| *id == ids[0]));
        p.context_run_if_open().unwrap().complete().unwrap();
    }

    #[test]
    fn a_failed_opening_is_tried_again() {
        let p = fresh();
        *lock(&p.env) = Some(Settings::defaults());
        let err = p.context_run(|_| Err(crate::Error::invalid_data("x", "table", "no")));
        assert!(err.is_err());
        assert!(p.context_run_if_open().is_none());
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::new(dir.path());
        let run = p
            .context_run(|_| store.start_run("Default", "second"))
            .unwrap();
        assert_eq!(p.context_run_if_open().unwrap().id(), run.id());
        run.complete().unwrap();
    }
}
