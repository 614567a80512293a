//! Running a step in a process of its own, started as an engine starts it: the same program
//! with `--step NAME`, and the environment of DESIGN.md's contract.
//!
//! | variable | value |
//! | --- | --- |
//! | `RUNCTX_HOME` | the store the pipeline's run is in (shared on this machine) |
//! | `RUNCTX_RUN_ID` | the step's run, created by the launcher as a child of the pipeline's |
//! | `RUNCTX_PARENT_RUN_ID` | the pipeline's run |
//! | `MLFLOW_EXPERIMENT_NAME` | the pipeline run's experiment |
//! | `MLFLOW_TRACKING_URI`, `MLFLOW_RUN_ID` | online: the server, and the step run's id there |
//! | `RUNCTX_OFFLINE=1` | offline: so that a tracking URI in the environment changes nothing |
//! | `AZUREML_DATAREFERENCE_<name>` | each input and output: its folder or file |
//! | `AML_PARAMETER_<name>` | each param given a value |

use std::path::Path;
use std::process::{Command, ExitStatus};
#[cfg(feature = "mlflow")]
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Status};
use crate::run::Run;
use crate::step::{Bindings, Step};
use crate::store::Store;

/// Runs `step` on the run `child` (a child of `parent`) in a new process of `program`, and
/// reads how it ended from the store.
pub(super) fn launch(
    program: &Path,
    parent: &Run,
    child: Run,
    step: &Step,
    bindings: &Bindings,
) -> Result<(Status, Option<String>)> {
    let id = child.id().to_owned();
    let store = child.store().clone();
    let remote = hand_over(child)?;
    let mut command = Command::new(program);
    command.arg("--step").arg(step.name);
    environment(
        &mut command,
        parent,
        &id,
        &store,
        remote.as_deref(),
        step,
        bindings,
    )?;
    let exit = command.status().map_err(|e| {
        format!(
            "the step's process could not start ({}: {e})",
            program.display()
        )
    });
    outcome(&store, parent, &id, remote, exit)
}

/// Makes the run the step process's: everything on disk (online: on the server, so that its
/// server id is known), and this process's handle neither ends nor ships it any more.
fn hand_over(child: Run) -> Result<Option<String>> {
    child.flush()?;
    let remote = match child.is_offline() {
        true => None,
        false => Some(child.remote_id().ok_or_else(|| Error::Server {
            server: child.tracking_uri().unwrap_or_default().to_owned(),
            what: format!("create the run of step {:?}", child.name()),
            reason: "the run has no id on the server after a flush".into(),
        })?),
    };
    child.hand_over();
    let link = child.link().cloned();
    drop(child);
    if let Some(link) = link {
        stop_shipping(&link);
    }
    Ok(remote)
}

/// Two shippers of one journal would send its records twice: waits for this process's to stop.
#[cfg(feature = "mlflow")]
fn stop_shipping(link: &crate::online::Link) {
    link.close();
    let deadline = Instant::now() + crate::process::process().flush_timeout();
    while !link.is_stopped() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(not(feature = "mlflow"))]
fn stop_shipping(link: &crate::online::Link) {
    link.close();
}

fn environment(
    command: &mut Command,
    parent: &Run,
    id: &str,
    store: &Store,
    remote: Option<&str>,
    step: &Step,
    bindings: &Bindings,
) -> Result<()> {
    let home = std::path::absolute(store.root()).map_err(|e| Error::io("find", store.root(), e))?;
    command
        .env("RUNCTX_HOME", home)
        .env("RUNCTX_RUN_ID", id)
        .env("RUNCTX_PARENT_RUN_ID", parent.id())
        .env("MLFLOW_EXPERIMENT_NAME", parent.experiment())
        .env_remove("MLFLOW_EXPERIMENT_ID");
    match (remote, parent.tracking_uri()) {
        (Some(remote), Some(uri)) => {
            // An inherited URI names the same server, in the form the user gave (azureml://).
            if std::env::var_os("MLFLOW_TRACKING_URI").is_none_or(|v| v.is_empty()) {
                command.env("MLFLOW_TRACKING_URI", uri);
            }
            command
                .env("MLFLOW_RUN_ID", remote)
                .env_remove("RUNCTX_OFFLINE");
        }
        _ => {
            command
                .env("RUNCTX_OFFLINE", "1")
                .env_remove("MLFLOW_RUN_ID");
        }
    }
    for (name, value) in bindings {
        if let Some((kind, _)) = step.slot(name) {
            command.env(kind.env_var(name), value);
        }
    }
    Ok(())
}

/// How the step's run ended; a run its process left unended (it could not start, it crashed,
/// a signal killed it) is failed here.
fn outcome(
    store: &Store,
    parent: &Run,
    id: &str,
    remote: Option<String>,
    exit: std::result::Result<ExitStatus, String>,
) -> Result<(Status, Option<String>)> {
    if let Some(end) = store.end(id)? {
        return Ok((end.status, end.error));
    }
    let why = match exit {
        Ok(exit) => format!("the step's process exited ({exit}) without ending its run"),
        Err(why) => why,
    };
    let online = parent
        .link()
        .map(|link| (link.server(), remote))
        .filter(|(_, remote)| remote.is_some());
    let run = Run::attach(store, id, true, online, parent.experiment())?;
    run.fail(&why)?;
    Ok((Status::Failed, Some(why)))
}
