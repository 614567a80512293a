//! The task that follows a run's journal and ships it:
//! 1. makes sure the run exists on the server (creating its experiment and the run, after its
//!    parent, or finding the copy an earlier attempt made, by the tag `runctx.local_id`);
//! 2. reads the journal in chunks, sends each chunk's data in batches, then its artifacts;
//! 3. after the server has acknowledged a chunk, saves the cursor past it;
//! 4. sends a status update only after everything logged before it.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::CallError;
use super::artifact_store::{ArtifactStore, UNUSABLE, UploadError};
use super::batch::{Item, inactive_run, send_batches};
use super::client::UploadFile;
use super::error::ShipError;
use super::link::Link;
use super::retry::retry;
use super::wire::{KeyValue, RunInfo};
use crate::journal::{Event, OwnedRecord, read_tail};
use crate::process::lock;
use crate::remote::RemoteFile;
use crate::store::{ARTIFACTS_DIR, DataInput};

/// Batches read from the journal at once: the unit of acknowledgement and of parallelism.
const BATCHES_PER_CHUNK: usize = 16;
/// How often an idle task looks at its journal, besides being woken by `flush()`.
const POLL: Duration = Duration::from_millis(200);

/// The server run's id and artifact root.
pub(super) struct Remote {
    pub(super) run_id: String,
    pub(super) artifact_uri: String,
    /// The store `artifact_uri` names, opened at the first artifact; a store that cannot be
    /// opened is said once, and every artifact is kept for `sync`.
    store: OnceLock<Result<ArtifactStore, CallError>>,
}

impl Remote {
    fn new(run_id: String, artifact_uri: String) -> Self {
        Remote {
            run_id,
            artifact_uri,
            store: OnceLock::new(),
        }
    }
}

/// Ships the link's journal until the link is closed and everything is shipped, or shipping
/// fails for good.
pub(super) async fn ship(link: Arc<Link>) {
    let remote = match ensure_remote(&link).await {
        Ok(r) => r,
        Err(reason) => return link.fail(reason),
    };
    if let Err(reason) = upload_pending(&link, &remote).await {
        return link.fail(reason);
    }
    let journal = link.journal();
    loop {
        let from = lock(&link.state).remote.cursor;
        let limit = BATCHES_PER_CHUNK * link.server.max_batch_metrics;
        let stop_at_status =
            |r: &OwnedRecord| matches!(r, OwnedRecord::Event(Event::Status { .. }));
        let tail = match read_tail(&journal, from, limit, stop_at_status) {
            Ok(t) => t,
            Err(e) => {
                link.report(&format!("cannot read the journal: {e}"));
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        for d in &tail.damage {
            link.report(&format!("journal damage skipped: {d}"));
        }
        if tail.records.is_empty() {
            if tail.end != from {
                link.update(|s| s.remote.cursor = tail.end);
                link.save();
            }
            if lock(&link.state).closed {
                break;
            }
            let _ = tokio::time::timeout(POLL, link.woken()).await;
            continue;
        }
        let count = tail.records.len() as u64;
        if let Err(reason) = ship_records(&link, &remote, tail.records).await {
            return link.fail(reason);
        }
        link.update(|s| {
            s.remote.cursor = tail.end;
            s.shipped_records += count;
        });
        link.save();
    }
    link.update(|s| s.stopped = true);
}

/// The server run's id and artifact root, creating the run if needed.
async fn ensure_remote(link: &Link) -> Result<Remote, ShipError> {
    let known = lock(&link.state).remote.clone();
    let client = &link.server.client;
    if let (Some(id), Some(artifacts)) = (&known.run_id, &known.artifact_uri) {
        return Ok(Remote::new(id.clone(), artifacts.clone()));
    }
    let info = match &known.run_id {
        Some(id) => {
            retry(link, "read the run", || client.get_run(id))
                .await?
                .info
        }
        None => create_run(link).await?,
    };
    link.update(|s| {
        s.remote.run_id = Some(info.run_id.clone());
        s.remote.experiment_id = Some(info.experiment_id.clone());
        s.remote.artifact_uri = Some(info.artifact_uri.clone());
    });
    link.save();
    link.created.notify_waiters();
    Ok(Remote::new(info.run_id, info.artifact_uri))
}

async fn create_run(link: &Link) -> Result<RunInfo, ShipError> {
    let client = &link.server.client;
    let parent = match (&link.parent, &link.parent_dir) {
        (Some(parent), _) => Some(wait_created(parent).await?),
        (None, Some(dir)) => Some(wait_created_elsewhere(link, dir).await?),
        (None, None) => None,
    };
    // A child goes where its parent is: the MLflow UI nests runs within one experiment.
    let (parent_id, parent_experiment) = parent.unzip();
    let experiment_id = match parent_experiment.flatten() {
        Some(id) => id,
        None => super::experiment::experiment_of(link).await?,
    };
    // `runs/create` is not idempotent, and its answer can be lost after the server created
    // the run (the connection drops, the client times out). So every attempt, not only the
    // first (an earlier process may have died before saving the id), looks for the run by its
    // tag `runctx.local_id` before creating it.
    let filter = format!("tags.`runctx.local_id` = '{}'", link.meta.id);
    let experiments = [experiment_id.as_str()];
    let tags = creation_tags(link, parent_id.as_deref());
    let (meta, filter, experiments, tags) = (&link.meta, &filter, &experiments, &tags);
    let experiment_id = &experiment_id;
    retry(link, "create the run", || async move {
        let found = client.search_runs(experiments, filter).await?;
        if let Some(run) = found.into_iter().next() {
            return Ok(run.info);
        }
        client
            .create_run(experiment_id, &meta.name, meta.start_time, tags)
            .await
    })
    .await
}

/// The tags a new server run gets: where it comes from, and its parent.
fn creation_tags<'a>(link: &'a Link, parent_id: Option<&'a str>) -> Vec<KeyValue<'a>> {
    let meta = &link.meta;
    let source = &meta.source;
    let mut tags = vec![
        KeyValue {
            key: "runctx.local_id",
            value: &meta.id,
        },
        KeyValue {
            key: "mlflow.source.name",
            value: &source.program,
        },
        KeyValue {
            key: "mlflow.source.type",
            value: "LOCAL",
        },
    ];
    let optional = [
        ("mlflow.user", source.user.as_deref()),
        ("mlflow.source.git.commit", source.git_commit.as_deref()),
        ("mlflow.parentRunId", parent_id),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            tags.push(KeyValue { key, value });
        }
    }
    tags
}

/// The parent's server run id and experiment id, once its task has created it; an error if its
/// task stopped without creating it.
async fn wait_created(parent: &Link) -> Result<(String, Option<String>), ShipError> {
    loop {
        let notified = parent.created.notified();
        {
            let state = lock(&parent.state);
            if let (Some(id), Some(_)) = (&state.remote.run_id, &state.remote.artifact_uri) {
                return Ok((id.clone(), state.remote.experiment_id.clone()));
            }
            let reason = match (&state.fatal, state.stopped) {
                (Some(reason), _) => Some(reason.clone()),
                (None, true) => Some(ShipError::Task("the parent's shipping stopped".into())),
                (None, false) => None,
            };
            if let Some(reason) = reason {
                return Err(ShipError::Parent {
                    id: parent.meta.id.clone(),
                    reason: Box::new(reason),
                });
            }
        }
        let _ = tokio::time::timeout(POLL, notified).await;
    }
}

/// The server id (and experiment id) of a parent shipped by another process, once its
/// `remote.json` has it. The wait ends with an error when that process is gone without having
/// created the parent (it was killed, or gave up): nobody else will, until the parent is synced.
async fn wait_created_elsewhere(
    link: &Link,
    dir: &Path,
) -> Result<(String, Option<String>), ShipError> {
    let parent_id = link.meta.parent_id.as_deref().unwrap_or_default();
    let store = dir.parent().map(crate::store::Store::new);
    let mut waited = Duration::ZERO;
    loop {
        // Whether its process is gone, looked at before remote.json: what a process saved
        // before it ended is then read, and a process that ended after saving the id is not
        // taken for one that ended without it.
        let gone = store
            .as_ref()
            .and_then(|s| s.meta(parent_id).ok())
            .is_some_and(|m| m.process_gone());
        let known = RemoteFile::load(dir).ok().and_then(|f| {
            let target = f.targets.get(link.server.base())?;
            Some((target.run_id.clone()?, target.experiment_id.clone()))
        });
        if let Some(known) = known {
            return Ok(known);
        }
        if gone {
            return Err(ShipError::ParentNotShipped {
                id: parent_id.to_owned(),
                server: link.base().to_owned(),
            });
        }
        if waited == Duration::from_secs(10) {
            link.report(&format!(
                "waiting for the parent run {parent_id} to reach the server (its process ships it)"
            ));
        }
        tokio::time::sleep(POLL).await;
        waited += POLL;
    }
}

/// Ships one chunk of records: its data in batches, then its artifacts, then its status.
async fn ship_records(
    link: &Arc<Link>,
    remote: &Remote,
    records: Vec<OwnedRecord>,
) -> Result<(), ShipError> {
    let mut items = Vec::with_capacity(records.len());
    let mut artifacts = Vec::new();
    let mut inputs = Vec::new();
    let mut status = None;
    for record in records {
        match record {
            OwnedRecord::Metric {
                key,
                value,
                timestamp,
                step,
            } => items.push(Item::Metric {
                key,
                value,
                timestamp,
                step,
            }),
            OwnedRecord::Property { key, value } => items.push(Item::Param { key, value }),
            OwnedRecord::Tag { key, value } => items.push(Item::Tag { key, value }),
            OwnedRecord::Event(Event::Artifact { path, .. }) => artifacts.push(path),
            OwnedRecord::Event(Event::Input {
                name,
                path,
                size,
                digest,
            }) => inputs.push((name, DataInput { path, size, digest })),
            OwnedRecord::Event(Event::Status {
                status: s,
                time,
                error,
            }) => {
                // MLflow runs have no error field: the text goes in a tag, cut to the limit.
                if let Some(error) = error {
                    let value: String =
                        error.chars().take(crate::validate::MAX_TAG_CHARS).collect();
                    items.push(Item::Tag {
                        key: "runctx.error".into(),
                        value,
                    });
                }
                status = Some((s, time));
            }
        }
    }
    super::logged::merge_with_server(link, &remote.run_id, &mut items).await?;
    send_batches(link, &remote.run_id, items).await?;
    for path in dedupe_artifacts(artifacts) {
        upload(link, remote, &path).await?;
    }
    if !inputs.is_empty() {
        let client = &link.server.client;
        retry(link, "record the run's dataset inputs", || {
            client.log_inputs(&remote.run_id, &inputs)
        })
        .await
        .map_err(|e| inactive_run(link, &remote.run_id, e))?;
    }
    // The job's own run is left for Azure ML to end, with the job.
    let status = status.filter(|_| !link.server.is_job_run(&remote.run_id));
    if let Some((status, time)) = status {
        let client = &link.server.client;
        // A deleted run refuses its status like its records (400, "must be in the 'active'
        // state"): the same one error.
        retry(link, "update the run's status", || {
            client.update_run(&remote.run_id, status.as_str(), time)
        })
        .await
        .map_err(|e| inactive_run(link, &remote.run_id, e))?;
    }
    Ok(())
}

fn dedupe_artifacts(artifacts: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Uploads the artifacts an earlier attempt left pending (the server refused them); those it
/// refuses again stay pending.
async fn upload_pending(link: &Arc<Link>, remote: &Remote) -> Result<(), ShipError> {
    let pending = lock(&link.state).remote.pending_artifacts.clone();
    if pending.is_empty() {
        return Ok(());
    }
    for path in &pending {
        upload(link, remote, path).await?;
    }
    link.save();
    Ok(())
}

/// What became of one artifact.
enum Uploaded {
    Done,
    /// The server refused it: it stays pending for the next sync.
    Refused(CallError),
    /// The run's artifact store cannot be used (said once): it stays pending.
    Unusable,
    /// The file cannot be read any more: there is nothing to upload, now or later.
    Gone(std::io::Error),
}

/// Uploads artifact `path`, streaming it from the run's folder into the run's artifact store.
/// A refusal is not an error of shipping: it is reported, and the path is kept pending in
/// `remote.json` for `sync`.
async fn upload(link: &Arc<Link>, remote: &Remote, path: &str) -> Result<(), ShipError> {
    // The path comes from the journal: it is checked again with the artifact rules, and must
    // lead to a file inside the run's artifacts/ without going through a link.
    let file = match crate::artifacts::locate(&link.dir.join(ARTIFACTS_DIR), path) {
        Ok(file) => file,
        Err(e) => {
            link.refuse(format!("artifact {path:?} not uploaded: {e}"));
            link.update(|s| s.remote.pending_artifacts.retain(|p| p != path));
            return Ok(());
        }
    };
    // A store that refused this client's credentials refuses the next file too: said once.
    if lock(&link.state).store_unusable.is_some() {
        keep_pending(link, path);
        return Ok(());
    }
    let store = match remote.store.get() {
        Some(store) => store,
        None => {
            let opened =
                ArtifactStore::open(&remote.artifact_uri, link.server.client.platform(), &|k| {
                    std::env::var(k).ok()
                });
            if let Err(e) = &opened {
                let reason = e.to_string();
                link.update(|s| s.store_unusable = Some(reason));
                link.refuse(format!(
                    "{e}; the run's artifacts are kept in its folder, and `runctx sync {} --to \
                     {}` uploads them once that is fixed",
                    link.meta.id,
                    link.base()
                ));
            }
            remote.store.get_or_init(|| opened)
        }
    };
    let outcome = match store {
        Ok(store) => send_file(link, store, path, &file).await?,
        // Said once, at the first artifact.
        Err(_) => Uploaded::Unusable,
    };
    match outcome {
        Uploaded::Done => {
            link.update(|s| s.remote.pending_artifacts.retain(|p| p != path));
        }
        Uploaded::Refused(e) => {
            if let CallError::Status {
                status: 401 | 403,
                code: Some(code),
                message,
                ..
            } = &e
                && code == UNUSABLE
            {
                let reason = message.clone();
                link.update(|s| s.store_unusable = Some(reason));
            }
            let by = match store {
                Ok(ArtifactStore::Objects(_)) => "the artifact store",
                Ok(ArtifactStore::AzureMl(_)) => "Azure ML's artifact service",
                Ok(ArtifactStore::Databricks(_)) => "Databricks' artifact service",
                _ => "the server",
            };
            link.refuse(format!(
                "{by} refused artifact {path:?}: {e}; it is kept in the run's folder, and \
                 `runctx sync {} --to {}` uploads it again",
                link.meta.id,
                link.base()
            ));
            keep_pending(link, path);
        }
        Uploaded::Unusable => keep_pending(link, path),
        Uploaded::Gone(e) => {
            link.refuse(format!(
                "artifact {path:?} is gone from {}: {e}; not uploaded",
                file.display()
            ));
            link.update(|s| s.remote.pending_artifacts.retain(|p| p != path));
        }
    }
    Ok(())
}

fn keep_pending(link: &Link, path: &str) {
    link.update(|s| {
        if !s.remote.pending_artifacts.iter().any(|p| p == path) {
            s.remote.pending_artifacts.push(path.to_owned());
        }
    });
}

/// Sends one file to the store, retrying what may pass later; each attempt reads the file
/// again, so nothing of it is kept in memory between attempts.
async fn send_file(
    link: &Arc<Link>,
    store: &ArtifactStore,
    path: &str,
    file: &Path,
) -> Result<Uploaded, ShipError> {
    let client = &link.server.client;
    retry(link, "upload an artifact", || async move {
        let sent = match store {
            ArtifactStore::Proxy { root } => match UploadFile::open(file).await {
                Ok(opened) => client
                    .upload_artifact(root, path, opened)
                    .await
                    .map_err(UploadError::Store),
                Err(e) => return Ok(Uploaded::Gone(e)),
            },
            ArtifactStore::Objects(objects) => objects.upload(path, file).await,
            ArtifactStore::AzureMl(run) => client.azureml_upload(run, path, file).await,
            ArtifactStore::Databricks(run) => client.databricks_upload(run, path, file).await,
        };
        let sent = match sent {
            Err(UploadError::Gone(e)) => return Ok(Uploaded::Gone(e)),
            Err(UploadError::Store(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        match sent {
            Ok(()) => Ok(Uploaded::Done),
            Err(
                e @ CallError::Status {
                    status: 0 | 400 | 401 | 403 | 404 | 413,
                    ..
                },
            ) => Ok(Uploaded::Refused(e)),
            Err(e) => Err(e),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::client::{Client, Credentials};
    use super::super::link::Link;
    use super::super::server::Server;
    use crate::config::TrackingUri;
    use crate::store::Store;

    #[cfg(unix)]
    #[test]
    fn a_parent_whose_process_ended_unshipped_is_an_error_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        // A parent run of another process, which ended before it had the run created on the
        // server: its run.json names a process that has exited, and it has no remote.json.
        let parent = store.start_run("e", "parent").unwrap();
        let mut meta = store.meta(parent.id()).unwrap();
        let mut ended = std::process::Command::new("true").spawn().unwrap();
        meta.source.pid = ended.id();
        ended.wait().unwrap();
        store.create_dir(&meta).unwrap();
        let mut child = meta.clone();
        child.id = uuid::Uuid::new_v4().simple().to_string();
        child.name = "child".into();
        child.parent_id = Some(parent.id().to_owned());
        store.create_dir(&child).unwrap();

        // Nothing listens there; the wait for the parent comes before any call.
        let uri = TrackingUri::parse("X", "http://127.0.0.1:1").unwrap();
        let client = Client::new(&uri, Credentials::None, false).unwrap();
        let server = Arc::new(Server::new(client, &uri, None, 1));
        let link = Link::start(server, child, store.root(), None, None).unwrap();
        let e = link
            .wait_shipped(1, Duration::from_secs(30))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the process that was shipping it has ended")
                && e.contains(&format!(
                    "runctx sync {} --to http://127.0.0.1:1",
                    parent.id()
                )),
            "{e}"
        );
        link.close();
    }
}
