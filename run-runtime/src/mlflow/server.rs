//! A tracking server and how to ship to it: its client, its limits, and whether it answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::client::{Client, Credentials};
use crate::config::{Settings, TrackingUri};
use crate::error::Result;
use crate::process::{lock, process};

/// Most metrics in one batch on Azure ML (MLflow's own limit is 1000).
const AZUREML_MAX_BATCH_METRICS: usize = 250;
const MLFLOW_MAX_BATCH_METRICS: usize = 1000;

/// One tracking server, shared by every run of the process that ships there.
#[derive(Debug)]
pub(crate) struct Server {
    /// The client.
    pub(crate) client: Client,
    /// Most metrics in one batch.
    pub(crate) max_batch_metrics: usize,
    /// Batches in flight at once.
    pub(crate) concurrency: usize,
    /// Azure ML: the run of the job this process runs in (`AZUREML_RUN_ID`), whose status is
    /// Azure ML's to set when the job ends (Microsoft's plugin sends no `runs/update` for it).
    pub(crate) job_run_id: Option<String>,
    /// A wait for this server gave up because it answered nothing: later waits do not wait
    /// again until it answers (so an outage costs the end of a program one wait, not one per
    /// run and another at exit).
    unreachable: AtomicBool,
}

impl Server {
    /// A server reached with `client`; `max_batch_metrics` defaults to the server's limit.
    pub(crate) fn new(
        client: Client,
        uri: &TrackingUri,
        max_batch_metrics: Option<usize>,
        concurrency: usize,
    ) -> Self {
        let limit = if uri.is_azureml() {
            AZUREML_MAX_BATCH_METRICS
        } else {
            MLFLOW_MAX_BATCH_METRICS
        };
        Server {
            client,
            max_batch_metrics: max_batch_metrics.unwrap_or(limit),
            concurrency: concurrency.max(1),
            job_run_id: None,
            unreachable: AtomicBool::new(false),
        }
    }

    /// The server's base URL, the key of its state in `remote.json`.
    pub(crate) fn base(&self) -> &str {
        self.client.base()
    }

    /// A wait for the server gave up: it is not answering.
    pub(crate) fn mark_unreachable(&self) {
        self.unreachable.store(true, Ordering::Relaxed);
    }

    /// The server answered a call.
    pub(crate) fn answered(&self) {
        if self.unreachable.load(Ordering::Relaxed) {
            self.unreachable.store(false, Ordering::Relaxed);
        }
    }

    /// `run_id` is the Azure ML job's own run: its end is Azure ML's.
    pub(crate) fn is_job_run(&self, run_id: &str) -> bool {
        self.job_run_id.as_deref() == Some(run_id)
    }

    /// An earlier wait gave up on this server and it has not answered since.
    pub(crate) fn is_unreachable(&self) -> bool {
        self.unreachable.load(Ordering::Relaxed)
    }
}

/// The server at `uri`, shared by every run of the process that ships there; credentials come
/// from the environment.
pub(crate) fn server(settings: &Settings, uri: &TrackingUri) -> Result<Arc<Server>> {
    let mut servers = lock(&process().shipping.servers);
    let servers = servers.get_or_insert_with(Default::default);
    if let Some(s) = servers.get(&uri.base) {
        return Ok(s.clone());
    }
    let credentials = Credentials::for_server(uri, |k| std::env::var(k).ok())?;
    let client = Client::new(uri, credentials, settings.insecure_tls)?;
    let mut server = Server::new(
        client,
        uri,
        settings.max_batch_metrics,
        settings.ship_concurrency,
    );
    if uri.is_azureml() {
        server.job_run_id = std::env::var("AZUREML_RUN_ID")
            .ok()
            .filter(|id| !id.is_empty());
    }
    let server = Arc::new(server);
    servers.insert(uri.base.clone(), server.clone());
    Ok(server)
}
