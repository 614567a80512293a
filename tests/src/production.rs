//! Production-style MLflow servers for the tests: a PostgreSQL backend store, 4 workers, and
//! `--no-serve-artifacts` with the artifacts in Azure Blob Storage (Azurite) or in an S3 bucket
//! (moto's server), which every client writes and reads itself. Each server owns its database
//! and artifact store ([`Stores`]) and keeps them running as long as it lives.

use std::sync::OnceLock;

use crate::azurite::{self, Azurite};
use crate::mlflow::{MlflowServer, ServerOptions};
use crate::postgres::Postgres;
use crate::s3::{self, S3Server};

/// The artifact root of the servers on Azurite: container `mlflow` of the development account.
pub const AZURE_ARTIFACT_ROOT: &str =
    "wasbs://mlflow@devstoreaccount1.blob.core.windows.net/artifacts";

/// The artifact root of the servers on the S3 server: bucket `mlflow`.
pub const S3_ARTIFACT_ROOT: &str = "s3://mlflow/artifacts";

/// The worker processes of a production-style server (MLflow's default).
pub const WORKERS: u32 = 4;

/// The database and artifact store of a production-style server.
pub struct Stores {
    /// The backend store.
    pub postgres: Postgres,
    /// Where the runs' artifacts are.
    pub artifacts: ArtifactStore,
}

/// The artifact store of a production-style server.
pub enum ArtifactStore {
    /// Container [`azurite::CONTAINER`] of Azurite's development account.
    Azure(Azurite),
    /// Bucket [`s3::BUCKET`] of moto's S3 server.
    S3(S3Server),
}

impl Stores {
    /// What a client needs to write and read the artifact store.
    pub fn client_env(&self) -> Vec<(String, String)> {
        match &self.artifacts {
            ArtifactStore::Azure(azurite) => azurite.client_env(),
            ArtifactStore::S3(s3) => s3.client_env(),
        }
    }

    /// The objects of the artifact store under `uri` (a `wasbs://` or `s3://` URI of this
    /// store), named relative to it, with their sizes, sorted: listed straight from the store
    /// with its own client library, not through MLflow.
    pub fn objects_under(&self, uri: &str) -> Vec<(String, u64)> {
        let (prefix, objects) = match &self.artifacts {
            ArtifactStore::Azure(azurite) => {
                let prefix = key_prefix(uri, &azure_root());
                (prefix.clone(), azurite.list_blobs(&prefix))
            }
            ArtifactStore::S3(s3) => {
                let prefix = key_prefix(uri, &format!("s3://{}/", s3::BUCKET));
                (prefix.clone(), s3.list_objects(&prefix))
            }
        };
        objects
            .into_iter()
            .map(|(name, size)| (name[prefix.len()..].to_owned(), size))
            .collect()
    }
}

/// The start of every blob URI of the Azure artifact store, container included.
fn azure_root() -> String {
    format!(
        "wasbs://{}@{}.blob.core.windows.net/",
        azurite::CONTAINER,
        azurite::ACCOUNT
    )
}

/// The key prefix of the objects under `uri` in the store whose URIs start with `root`,
/// ending in `/`.
fn key_prefix(uri: &str, root: &str) -> String {
    let key = uri.strip_prefix(root).unwrap_or_else(|| {
        panic!(
            "{uri} is not in the artifact store {root}: is the server's artifact root another one?"
        )
    });
    format!("{}/", key.trim_end_matches('/'))
}

impl MlflowServer {
    /// The PostgreSQL + Azurite server shared by the tests of this test binary, started on
    /// first use.
    pub fn shared_postgres_azurite() -> &'static MlflowServer {
        static SHARED: OnceLock<MlflowServer> = OnceLock::new();
        SHARED.get_or_init(MlflowServer::postgres_azurite)
    }

    /// The PostgreSQL + S3 server shared by the tests of this test binary, started on first
    /// use.
    pub fn shared_postgres_s3() -> &'static MlflowServer {
        static SHARED: OnceLock<MlflowServer> = OnceLock::new();
        SHARED.get_or_init(MlflowServer::postgres_s3)
    }

    /// A server of its own with a PostgreSQL backend store, [`WORKERS`] workers and
    /// `--no-serve-artifacts`, whose artifacts go to Azurite ([`AZURE_ARTIFACT_ROOT`]); the
    /// server and its clients reach Azurite through `AZURE_STORAGE_CONNECTION_STRING`.
    pub fn postgres_azurite() -> MlflowServer {
        let azurite = Azurite::spawn();
        let env = azurite.client_env();
        let ready = move || {
            let mut azurite = azurite;
            azurite.wait_ready();
            ArtifactStore::Azure(azurite)
        };
        production(ready, env, AZURE_ARTIFACT_ROOT)
    }

    /// A server of its own with a PostgreSQL backend store, [`WORKERS`] workers and
    /// `--no-serve-artifacts`, whose artifacts go to moto's S3 server ([`S3_ARTIFACT_ROOT`]);
    /// the server and its clients reach it through `MLFLOW_S3_ENDPOINT_URL` and `AWS_*`.
    pub fn postgres_s3() -> MlflowServer {
        let s3 = S3Server::spawn();
        let env = s3.client_env();
        let ready = move || {
            let mut s3 = s3;
            s3.wait_ready();
            ArtifactStore::S3(s3)
        };
        production(ready, env, S3_ARTIFACT_ROOT)
    }

    /// The objects of the run's artifacts in the artifact store, named relative to the run's
    /// artifact root, with their sizes, sorted: listed straight from the store, not through
    /// MLflow. Panics for a server without its own artifact store.
    pub fn stored_objects(&self, run_id: &str) -> Vec<(String, u64)> {
        let stores = self
            .stores()
            .expect("a production-style server: the others keep artifacts in their own folder");
        let run = self.run(run_id);
        let uri = run["info"]["artifact_uri"]
            .as_str()
            .unwrap_or_else(|| panic!("no artifact_uri in {run}"));
        stores.objects_under(uri)
    }
}

/// The MLflow server on a new PostgreSQL server and the artifact store that `artifacts` waits
/// for and gives, which it then owns. The artifact store gets ready while PostgreSQL and MLflow
/// start: MLflow does not touch it before a client asks.
fn production(
    artifacts: impl FnOnce() -> ArtifactStore + Send,
    env: Vec<(String, String)>,
    root: &str,
) -> MlflowServer {
    std::thread::scope(|s| {
        let artifacts = s.spawn(artifacts);
        let postgres = Postgres::start();
        let options = ServerOptions {
            backend_store_uri: Some(postgres.uri()),
            default_artifact_root: Some(root.to_owned()),
            no_serve_artifacts: true,
            workers: Some(WORKERS),
            env,
            ..Default::default()
        };
        let mut server = MlflowServer::start_with(options);
        let artifacts = join(artifacts);
        server.stores = Some(Stores {
            postgres,
            artifacts,
        });
        server
    })
}

/// The value of a scoped thread; its panic, as it was, when it panicked.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
