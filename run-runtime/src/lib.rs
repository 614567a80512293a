//! Run context for instrumented ML programs.
//!
//! A [`Run`] records metrics, tags, properties, tables and files. [`Run::get_context`] gives the
//! run of the current context: the step being run, or the process's run, online when the
//! environment names an MLflow-compatible tracking server and offline otherwise. Offline runs
//! keep everything in a local store (`./runs`, or `$RUNCTX_HOME`) that any process can read back.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # unsafe { std::env::set_var("RUNCTX_HOME", dir.path()) };
//! use run_runtime::Run;
//!
//! let run = Run::get_context()?;
//! run.log("accuracy", 0.97)?;
//! run.tag("model", "knn")?;
//! run.flush()?; // on disk: it survives a crash from here on
//! println!("run {} is in {}", run.id(), run.dir().display());
//! # Ok::<(), run_runtime::Error>(())
//! ```
//!
//! Every record is checked, then appended to the run's write-ahead journal by a background
//! writer; a logging call returns without waiting for the disk. See `docs/guide.md` for the
//! whole story and `docs/journal-format.md` for the bytes on disk.
//!
//! # Environment
//!
//! | variable | meaning |
//! | --- | --- |
//! | `MLFLOW_TRACKING_URI` | `http(s)://...`, `azureml://...` or `databricks[://PROFILE]`: online; unset: offline |
//! | `MLFLOW_RUN_ID` | online: attach to this server run |
//! | `MLFLOW_EXPERIMENT_NAME` | the experiment of a new run (default `Default`) |
//! | `MLFLOW_EXPERIMENT_ID` | online: the experiment of a new run, by its server id |
//! | `MLFLOW_TRACKING_TOKEN` | online: `Authorization: Bearer <token>` |
//! | `RUNCTX_TRACKING_TOKEN_FILE` | online: a file holding the bearer token, read again when the server answers 401 |
//! | `RUNCTX_HOME` | the local store (default `./runs`) |
//! | `RUNCTX_OFFLINE` | `1`: offline, whatever the tracking URI says |
//! | `RUNCTX_RUN_ID` | attach to this run of the local store |
//! | `RUNCTX_PARENT_RUN_ID` | set by the step launcher: the parent the run of `RUNCTX_RUN_ID` must have |
//! | `RUNCTX_HANDLE_SIGNALS` | `0`: leave SIGINT and SIGTERM to the program (by default the runs end KILLED) |
//! | `RUNCTX_LAUNCHER_ENDS_RUN` | set by `runctx run` ([`launch`]): log to the run of `RUNCTX_RUN_ID`, leave its end to the launcher |
//! | `MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING` | `true`: the process's run logs system metrics ([`Run::log_system_metrics`]) |
//! | `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` | seconds between two system metrics samples (default 10) |
//! | `RUNCTX_FLUSH_TIMEOUT`, `RUNCTX_EXIT_TIMEOUT`, `RUNCTX_STALL_TIMEOUT` | how long the waits for a tracking server last (see `docs/mlflow.md`) |

#![warn(missing_docs)]
// Only what a user calls is public; everything else is `pub(crate)`, so that a change to the
// public API (docs/api.md) is always a decision.
#![warn(unreachable_pub)]

mod artifacts;
mod clock;
mod config;
mod context;
mod databricks;
mod digest;
#[cfg(doctest)]
mod doc_tests;
mod documents;
mod durable;
mod error;
mod journal;
#[cfg(unix)]
pub mod launch;
mod lifecycle;
pub mod metrics;
#[cfg(feature = "mlflow")]
mod mlflow;
mod mlflow_tables;
mod online;
mod overview;
mod panics;
mod params;
pub mod pipeline;
mod process;
mod registry;
mod remote;
mod run;
pub mod search;
mod source;
pub mod step;
mod store;
#[cfg(unix)]
pub mod sweep;
pub mod system_metrics;
mod tables;
mod validate;
mod value;

pub use context::{ContextGuard, current_step, enter};
pub use error::{Error, NameKind, NameRule, Result, Shown, Status};
pub use journal::{ArtifactKind, Damage, JournalPosition};
pub use metrics::Metrics;
#[cfg(feature = "mlflow")]
pub use mlflow::sync;
pub use overview::{MetricOverview, RunOverview};
pub use process::{set_exit_timeout, set_flush_timeout, set_stall_timeout};
pub use registry::{ModelOptions, ModelRef, ModelVersion, RegisteredModel, Registry, Selector};
pub use remote::RemoteCopy;
pub use run::Run;
pub use source::Source;
pub use store::{
    ArtifactInfo, DataInput, Listing, MetricPoint, RunData, RunEnd, RunMeta, RunSummary, Store,
    StoreProblem,
};
pub use tables::{AccuracyTable, Cell, Predictions, Residuals};
pub use value::MetricValue;

#[cfg(feature = "macros")]
pub use run_macros::{Metrics, aml_step, log_metric, log_property, log_tag, pipeline};

/// The names most programs need: `use run_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::{AccuracyTable, Error, MetricValue, Predictions, Residuals, Run, Status};
    pub use crate::{Metrics, ModelOptions, Store};
    // From the macro crate, so that `pipeline` names the macro only, not also the module.
    #[cfg(feature = "macros")]
    pub use run_macros::{aml_step, log_metric, log_property, log_tag, pipeline};
    pub use std::path::{Path, PathBuf};
}

/// Support for generated code. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::context::{enter, with_current};
    pub use crate::metrics::attribute::{
        MetricField, MetricReturn, Site, StepArg, StepValue, TextReturn, log_returned, log_text,
        visit_field,
    };
    pub use crate::metrics::{Metrics, Target};
    pub use crate::panics::payload_text;
    pub use crate::pipeline::check::{
        End, SCRATCH_PER_STEP, check_binding, check_binding_value, check_connection, check_step,
    };
    pub use crate::pipeline::{Binding, Connection, Pipeline, PipelineDef};
    pub use crate::step::failure::{ErrorText, failure_kind, failure_of_result, no_failure};
    pub use crate::step::registry::Registration;
    pub use crate::step::running::{
        DirectCall, InContext, ParamText, ParamViaDebug, ParamViaDisplay, ParamViaNothing, PathOf,
        PathViaAsRef, PathViaNothing, Prepared, block_on,
    };
    pub use crate::step::{
        Bindings, DataPath, ParamValue, Slot, SlotKind, Step, StepError, StepFuture,
    };
    pub use crate::{Error, NameKind, Run};
    pub use inventory;
    pub use std::path::{Path, PathBuf};
    pub use std::process::ExitCode;
}
