//! Reading a run back from the tracking server.

use std::collections::BTreeMap;

use super::client::{CallError, Client};
use crate::error::Status;
use crate::journal::ArtifactKind;
use crate::store::{ArtifactInfo, RunData, RunMeta};

/// Everything the server has of run `run_id`: every metric's full history, params as
/// properties, tags (the server's own `mlflow.*` tags included), artifacts and status.
pub(crate) async fn read_run(
    client: &Client,
    run_id: &str,
    meta: RunMeta,
) -> Result<RunData, CallError> {
    let run = client.get_run(run_id).await?;
    let mut metrics = BTreeMap::new();
    for latest in &run.data.metrics {
        if !metrics.contains_key(&latest.key) {
            let history = client.metric_history(run_id, &latest.key).await?;
            metrics.insert(latest.key.clone(), history);
        }
    }
    for series in metrics.values_mut() {
        series.sort_by_key(|p: &crate::store::MetricPoint| (p.step, p.timestamp));
    }
    let artifacts = client
        .list_artifacts(run_id, None)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(path, size)| {
            (
                path,
                ArtifactInfo {
                    kind: ArtifactKind::File,
                    size,
                },
            )
        })
        .collect();
    let status = match run.info.status.as_str() {
        "FINISHED" => Status::Finished,
        "FAILED" => Status::Failed,
        "KILLED" => Status::Killed,
        _ => Status::Running,
    };
    let mut meta = meta;
    // A run attached by its server id knows its parent only from the server.
    if meta.parent_id.is_none() {
        meta.parent_id = run.tag("mlflow.parentRunId").map(String::from);
    }
    Ok(RunData {
        meta,
        status,
        end_time: run.info.end_time,
        error: None,
        metrics,
        tags: run
            .data
            .tags
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        properties: run
            .data
            .params
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        artifacts,
        // A server run's dataset inputs are the server's to show: this reads what the local
        // store would list.
        inputs: BTreeMap::new(),
        damage: Vec::new(),
    })
}
