//! The online backend: a client of MLflow's REST API, the shipping of journals to it, reading
//! back from it, and `sync` of local runs.
//!
//! Shipping is split by concern: [`server`] is the link to one tracking server, [`link`] the
//! state a run's handle shares with its task, [`follow`] the task that follows a journal,
//! [`experiment`] which experiment a new run goes to, [`logged`] the server's list of tables,
//! [`batch`] the batching, [`retry`] the backoff, [`runtime`] the thread they run on.

pub(crate) mod artifact_store;
mod azure_ad;
mod azureml_artifacts;
mod batch;
mod client;
mod databricks_artifacts;
mod databricks_multipart;
mod error;
mod experiment;
mod expiring;
mod follow;
mod job_token;
mod link;
mod logged;
mod read;
mod retry;
mod runtime;
mod sas_blob;
mod server;
pub mod sync;
mod token;
pub(crate) mod wire;

pub(crate) use client::{CallError, Client, Credentials};
pub(crate) use error::ShipError;
pub(crate) use link::Link;
pub(crate) use read::read_run;
pub(crate) use retry::{Backoff, retry_call};
pub(crate) use runtime::{Shipping, block_on, wait_all};
pub(crate) use server::{Server, server};

/// What the unit tests of the service clients share.
#[cfg(test)]
mod test_support {
    /// A client configured as the shipping one is (our TLS set-up), for a loopback service.
    pub(super) fn http() -> reqwest::Client {
        let tls = super::client::tls_config(false).unwrap();
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .unwrap()
    }

    /// Runs `f` to its end on a runtime of its own.
    pub(super) fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
}
