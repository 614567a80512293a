//! Which server experiment a new run goes to, as MLflow's Python client chooses it
//! (`mlflow/tracking/fluent.py`, `_get_experiment_id_from_env`):
//!
//! | the run's | experiment |
//! | --- | --- |
//! | name only (`MLFLOW_EXPERIMENT_NAME`, a step's or pipeline's `experiment`, else `Default`) | the experiment of that name, created if missing |
//! | id only (`MLFLOW_EXPERIMENT_ID`) | that experiment; an id the server does not have, or a deleted experiment, is an error naming the variable and the value |
//! | name and id | the name wins: an experiment of that name must have that id (else an error naming both); a missing one is created |
//!
//! A child run goes where its parent is, whatever its name (the follower asks this module only
//! for a run without a parent on the server).

use super::error::ShipError;
use super::link::Link;
use super::retry::retry;

/// The id of the experiment run `link` is created in, created if it goes by a name the server
/// does not have.
pub(super) async fn experiment_of(link: &Link) -> Result<String, ShipError> {
    let client = &link.server.client;
    let name = &link.meta.experiment;
    let Some(id) = &link.meta.experiment_id else {
        return retry(link, "get or create the experiment", || {
            client.experiment_id(name)
        })
        .await;
    };
    // With only the id, the local run's experiment is the id itself (the name is the server's).
    if name != id {
        let found = retry(link, "find the experiment", || {
            client.experiment_by_name(name)
        })
        .await?;
        return match found {
            Some(e) if e.experiment_id == *id => Ok(e.experiment_id),
            Some(e) => Err(ShipError::Experiment(format!(
                "MLFLOW_EXPERIMENT_ID={id:?} is not the experiment MLFLOW_EXPERIMENT_NAME={name:?} \
                 names on {}, whose id is {:?}; unset one of them, or make them agree",
                link.base(),
                e.experiment_id
            ))),
            // As MLflow's client does: the name wins, and a missing one is created.
            None => {
                retry(link, "get or create the experiment", || {
                    client.experiment_id(name)
                })
                .await
            }
        };
    }
    let found = retry(link, "find the experiment", || client.experiment_by_id(id)).await?;
    match found {
        Ok(e) if e.lifecycle_stage == "deleted" => Err(ShipError::Experiment(format!(
            "MLFLOW_EXPERIMENT_ID={id:?} names the experiment {:?} on {}, which is deleted; \
             restore it on the server, or choose another experiment",
            e.name,
            link.base()
        ))),
        Ok(e) => Ok(e.experiment_id),
        Err(message) => Err(ShipError::Experiment(format!(
            "MLFLOW_EXPERIMENT_ID={id:?} names no experiment on {} (the server says: {message}); \
             set it to the id of one of its experiments, or unset it and name the experiment with \
             MLFLOW_EXPERIMENT_NAME (created if missing)",
            link.base()
        ))),
    }
}
