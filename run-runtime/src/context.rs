//! Which run `Run::get_context()` means: the innermost step being run on this thread (or in
//! this task), else the process's run.

use std::cell::RefCell;

use crate::config::{Settings, Tracking};
use crate::error::{Error, Result};
use crate::process::process;
use crate::run::Run;
use crate::source::program_name;
use crate::store::Store;

thread_local! {
    static STEPS: RefCell<Vec<Run>> = const { RefCell::new(Vec::new()) };
}

impl Run {
    /// The run of the current context: the step being run, if any; otherwise the process's run,
    /// created on first use, online if the environment names a tracking server and offline
    /// otherwise (see the crate documentation for the variables).
    ///
    /// Opening a context never waits on the network. A malformed configuration is an error,
    /// never a silent fallback to offline.
    pub fn get_context() -> Result<Run> {
        match current_step() {
            Some(run) => Ok(run),
            None => process_run(),
        }
    }
}

/// Calls `f` with the run of the current context, without cloning the handle.
#[inline]
pub fn with_current<R>(f: impl FnOnce(&Run) -> R) -> Result<R> {
    STEPS.with(|steps| {
        let steps = steps.borrow();
        match steps.last() {
            Some(run) => Ok(f(run)),
            None => {
                drop(steps);
                process_run().map(|run| f(&run))
            }
        }
    })
}

/// The innermost step run of this thread, if any.
pub fn current_step() -> Option<Run> {
    STEPS.with(|s| s.borrow().last().cloned())
}

/// Makes `run` the context of this thread until the guard is dropped.
///
/// `#[aml_step]` and the pipeline runner use this; an async step re-enters on every poll.
pub fn enter(run: Run) -> ContextGuard {
    STEPS.with(|s| s.borrow_mut().push(run));
    ContextGuard {
        _not_send: std::marker::PhantomData,
    }
}

/// Keeps a run as the context of the current thread; see [`enter`].
#[must_use = "the run is the context only while the guard lives"]
pub struct ContextGuard {
    // The guard belongs to the thread whose stack it pushed onto.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        STEPS.with(|s| s.borrow_mut().pop());
    }
}

/// The process's run, created on first use from the environment.
pub(crate) fn process_run() -> Result<Run> {
    if let Some(run) = process().context_run_if_open() {
        return Ok(run.clone());
    }
    process().context_run(|settings| open_process_run(settings).and_then(|r| sample(settings, r)))
}

/// Starts the system metrics of the process's run when the environment asks for them.
fn sample(settings: &Settings, run: Run) -> Result<Run> {
    if let Some(interval) = settings.system_metrics {
        run.log_system_metrics(interval)?;
    }
    Ok(run)
}

/// The process's run, as [`process_run`] opens it, except that a new one is started in
/// `experiment` and named `name` when the environment names no run and no experiment: the run
/// of a step's entry point that names its experiment (`#[aml_step(experiment = "...")]`).
pub(crate) fn process_run_in(experiment: &str, name: &str) -> Result<Run> {
    process().context_run(|settings| {
        let attached = settings.local_run_id.is_some() || settings.remote_run_id.is_some();
        let run = if attached || environment_names_experiment() {
            open_process_run(settings)
        } else {
            start_run(settings, experiment, None, name)
        };
        run.and_then(|r| sample(settings, r))
    })
}

/// `true` when `MLFLOW_EXPERIMENT_NAME` or `MLFLOW_EXPERIMENT_ID` is set.
pub(crate) fn environment_names_experiment() -> bool {
    ["MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// A new run named `name` in `experiment` (on the server, the experiment `experiment_id` if
/// given), in the store of the settings, online when they say so: a run of its own for a
/// pipeline, beside the process's run.
pub(crate) fn start_run(
    settings: &Settings,
    experiment: &str,
    experiment_id: Option<&str>,
    name: &str,
) -> Result<Run> {
    let store = Store::new(&settings.home);
    let online = online_server(settings)?;
    Run::start(&store, experiment, experiment_id, name, None, online)
}

/// Opens the run the settings describe.
fn open_process_run(settings: &Settings) -> Result<Run> {
    let store = Store::new(&settings.home);
    let online = online_server(settings)?;
    let experiment = &settings.experiment;
    if let Some(id) = &settings.local_run_id {
        let online = online.map(|t| (t, settings.remote_run_id.clone()));
        let owner = !settings.launcher_ends_run;
        return Run::attach(&store, id, owner, online, experiment).map_err(|e| match e {
            Error::RunNotFound { .. } => Error::Config {
                var: "RUNCTX_RUN_ID",
                value: id.clone(),
                reason: format!("no such run in the store {}", store.root().display()),
            },
            other => other,
        });
    }
    match (&settings.remote_run_id, online) {
        (Some(remote), Some(target)) => Run::attach(
            &store,
            remote,
            true,
            Some((target, Some(remote.clone()))),
            experiment,
        ),
        (_, online) => {
            let id = settings.experiment_id.as_deref();
            Run::start(&store, experiment, id, &program_name(), None, online)
        }
    }
}

/// The server an online context ships to; `None` offline.
#[cfg(feature = "mlflow")]
pub(crate) fn online_server(
    settings: &Settings,
) -> Result<Option<std::sync::Arc<crate::online::Server>>> {
    match &settings.tracking {
        Tracking::Offline => Ok(None),
        Tracking::Online(uri) => crate::mlflow::server(settings, uri).map(Some),
    }
}

#[cfg(not(feature = "mlflow"))]
pub(crate) fn online_server(
    settings: &Settings,
) -> Result<Option<std::sync::Arc<crate::online::Server>>> {
    match &settings.tracking {
        Tracking::Offline => Ok(None),
        Tracking::Online(uri) => Err(Error::Config {
            var: "MLFLOW_TRACKING_URI",
            value: uri.base.clone(),
            reason: "this build of run-runtime has no online backend (the `mlflow` feature is \
                     off); enable the feature, or set RUNCTX_OFFLINE=1 to log offline"
                .into(),
        }),
    }
}
