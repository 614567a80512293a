//! Why shipping a run failed, as a value: the task keeps it, `flush` and `sync` report it.

use std::fmt;

use super::client::CallError;

/// A failure of shipping that retrying cannot fix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ShipError {
    /// The server refused a call (authentication, permission, a deleted run, a bad answer).
    Call {
        /// What was asked ("create the run", "send a batch", ...).
        what: &'static str,
        /// The server's base URL.
        server: String,
        /// Its answer.
        error: CallError,
    },
    /// The run's parent could not be shipped, so the run cannot be created under it.
    Parent {
        /// The parent's local id.
        id: String,
        /// Why the parent could not be shipped.
        reason: Box<ShipError>,
    },
    /// The run's parent ships from another process, which ended without creating it on the
    /// server: the child cannot be created under it until the parent is synced.
    ParentNotShipped {
        /// The parent's local id.
        id: String,
        /// The server's base URL.
        server: String,
    },
    /// The server run is gone or no longer takes records (deleted, or ended by someone else).
    RunInactive {
        /// The server's base URL.
        server: String,
        /// The server's run id.
        run_id: String,
        /// The server's message.
        message: String,
    },
    /// A model's files are not on the server (it refused them), so no version may point at
    /// them.
    ModelFilesMissing {
        /// The run's local id.
        id: String,
        /// The server's base URL.
        server: String,
        /// The files' paths among the run's artifacts.
        paths: Vec<String>,
    },
    /// A model's files are not all in the run's artifact store, as it lists them (missing, or
    /// of another size), so no version may point at them.
    ModelFilesNotStored {
        /// The run's local id.
        id: String,
        /// The server's base URL.
        server: String,
        /// The run's artifact root.
        store: String,
        /// The files' paths among the run's artifacts.
        paths: Vec<String>,
    },
    /// The experiment the environment chose cannot take the run: the message names the
    /// variable, its value and what to do.
    Experiment(String),
    /// A shipping task ended without an answer (a bug; the journal keeps the records).
    Task(String),
    /// Shipping was given up because the server kept failing and answered nothing.
    Abandoned {
        /// How long it answered nothing.
        after: std::time::Duration,
        /// The last failure.
        trouble: String,
    },
}

impl fmt::Display for ShipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShipError::Call {
                what,
                server,
                error,
            } => write!(f, "cannot {what} on {server}: {error}"),
            ShipError::Parent { id, reason } => {
                write!(f, "the parent run {id} could not be shipped: {reason}")
            }
            ShipError::ParentNotShipped { id, server } => write!(
                f,
                "the parent run {id} is not on {server}, and the process that was shipping it \
                 has ended; upload it first with `runctx sync {id} --to {server}` (which \
                 uploads this run too, under it)"
            ),
            ShipError::RunInactive {
                server,
                run_id,
                message,
            } => write!(
                f,
                "the run {run_id} on {server} was deleted or no longer takes records ({message}); \
                 restore it on the server, or upload the local run as a new one with \
                 `runctx sync` after removing its entry from remote.json"
            ),
            ShipError::ModelFilesMissing { id, server, paths } => write!(
                f,
                "the server refused {} of the model's files ({}), so no version was registered; \
                 they are kept in run {id}: once the server takes them (`runctx sync {id} --to \
                 {server}`), register the model again",
                paths.len(),
                paths.join(", ")
            ),
            ShipError::ModelFilesNotStored {
                id,
                server,
                store,
                paths,
            } => write!(
                f,
                "{} of the model's files are not in the run's artifact store {store} ({}), so no \
                 version was registered; they are kept in run {id}: upload them with `runctx \
                 sync {id} --to {server}`, then register the model again",
                paths.len(),
                paths.join(", ")
            ),
            ShipError::Experiment(message) => f.write_str(message),
            ShipError::Task(reason) => write!(f, "a shipping task failed: {reason}"),
            ShipError::Abandoned { after, trouble } => write!(
                f,
                "given up after {after:?} without an answer ({trouble}); nothing is lost: the \
                 journal keeps the records for the next sync"
            ),
        }
    }
}
