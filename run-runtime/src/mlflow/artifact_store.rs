//! Where a run's artifacts go: the store its `artifact_uri` names.
//!
//! A tracking server either serves artifacts itself (`mlflow-artifacts:` roots: files go through
//! its proxy) or only says where they belong (`--no-serve-artifacts`, Azure ML's and many
//! self-hosted deployments): then each client writes the files into that store itself, with the
//! store's own credentials, as MLflow's Python client does. The stores are the `object_store`
//! crate's; this module maps an artifact URI, and the variables MLflow's client reads, to its
//! configuration, and moves files in and out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::client::{HttpClient, HttpConnector};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::azureml_artifacts::RunArtifacts;
use super::client::{CallError, Client};
use super::databricks_artifacts::DbfsRun;
use crate::config::Platform;

/// Files up to this size go up in one request; larger ones in parts of this size, read from
/// disk one part at a time. S3 wants parts of 5 MiB at least (all but the last).
const PART: usize = 8 << 20;
/// Parts of one file in flight at once: bounds the memory an upload takes to about
/// `PART * (PARTS_IN_FLIGHT + 1)`.
const PARTS_IN_FLIGHT: usize = 2;
/// How long one request to the store may take (a part at a slow 100 KiB/s is 80 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The error code of a store this client cannot write: the artifact is kept for `runctx sync`.
pub(crate) const UNUSABLE: &str = "ARTIFACT_STORE_UNUSABLE";

/// How the variables of the environment are read (the process's, or a test's).
pub(crate) type Lookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The store of one run's artifacts.
#[derive(Debug, Clone)]
pub(crate) enum ArtifactStore {
    /// The tracking server's proxy: `mlflow-artifacts:` roots, uploaded with the tracking
    /// server's client and credentials to `root`, the path after the scheme.
    Proxy {
        /// The path below the proxy's root, without leading `/`.
        root: String,
    },
    /// A store this client writes itself.
    Objects(Objects),
    /// Azure ML's artifact service: a signed Azure blob URL per file.
    AzureMl(RunArtifacts),
    /// Databricks' artifact service: a signed URL per file.
    Databricks(DbfsRun),
}

/// An object store and the run's folder in it.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The artifact URI, for messages.
    uri: String,
}

impl ArtifactStore {
    /// The store `artifact_uri` names (on a tracking server of `platform`), configured from
    /// the variables `env` gives. A store that cannot be used (an unknown scheme, no
    /// credentials, a malformed URI) is an error whose message says what to set; its code is
    /// [`UNUSABLE`].
    pub(crate) fn open(
        artifact_uri: &str,
        platform: &Platform,
        env: Lookup<'_>,
    ) -> Result<ArtifactStore, CallError> {
        let unusable = |why: String| unusable(artifact_uri, why);
        let lower = artifact_uri.to_ascii_lowercase();
        if lower.starts_with("azureml://") {
            let Platform::AzureMl(workspace) = platform else {
                return Err(unusable(
                    "an azureml:// artifact URI is Azure ML's artifact service, reached through \
                     an Azure ML tracking URI (azureml://...)"
                        .into(),
                ));
            };
            return RunArtifacts::parse(artifact_uri, workspace)
                .map(ArtifactStore::AzureMl)
                .map_err(unusable);
        }
        if lower.starts_with("dbfs:") && matches!(platform, Platform::Databricks { .. }) {
            return DbfsRun::parse(artifact_uri)
                .map(ArtifactStore::Databricks)
                .map_err(unusable);
        }
        let (scheme, rest) = match artifact_uri.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None if artifact_uri.starts_with('/') => ("file".to_owned(), artifact_uri),
            None => match artifact_uri.split_once(':') {
                Some((s, r)) if s.eq_ignore_ascii_case("mlflow-artifacts") => {
                    let root = r.trim_start_matches('/').to_owned();
                    return Ok(ArtifactStore::Proxy { root });
                }
                _ => {
                    return Err(unusable(
                        "it is neither a URI with a scheme nor an absolute path (a relative \
                         artifact root is relative to the server's folder, which this client \
                         cannot reach; start the server with an absolute or remote \
                         --default-artifact-root)"
                            .into(),
                    ));
                }
            },
        };
        let built = match scheme.as_str() {
            "mlflow-artifacts" => {
                // `mlflow-artifacts://host:port/path` names the proxy of another server; this
                // client only knows its own tracking server's.
                let root = rest.split_once('/').map_or("", |(_, p)| p);
                return Ok(ArtifactStore::Proxy {
                    root: root.trim_start_matches('/').to_owned(),
                });
            }
            "wasbs" | "abfss" => azure(artifact_uri, env),
            "https" | "http" if is_azure_host(rest) => azure(artifact_uri, env),
            "s3" => s3(rest, env),
            "gs" => gcs(rest, env),
            "file" => local(rest),
            other => Err(format!(
                "this client cannot write to `{other}:` artifact stores; it writes to \
                 mlflow-artifacts: (the server's proxy), wasbs:, abfss: and \
                 https://<account>.blob.core.windows.net (Azure), s3:, gs: and file: stores"
            )),
        };
        let (store, prefix) = built.map_err(unusable)?;
        Ok(ArtifactStore::Objects(Objects {
            store,
            prefix,
            uri: artifact_uri.to_owned(),
        }))
    }
}

/// The files below `folder` of a run (`run_id` on the server of `client`, artifact root
/// `artifact_uri`) as the run's artifact store lists them: paths relative to the artifact root,
/// and sizes.
pub(crate) async fn stored_files(
    client: &Client,
    run_id: &str,
    artifact_uri: &str,
    folder: &str,
    env: Lookup<'_>,
) -> Result<Vec<(String, u64)>, CallError> {
    match ArtifactStore::open(artifact_uri, client.platform(), env)? {
        ArtifactStore::Proxy { .. } => client.list_artifacts(run_id, Some(folder)).await,
        ArtifactStore::Objects(objects) => objects.list(folder).await,
        ArtifactStore::AzureMl(run) => client.azureml_list(&run, folder).await,
        ArtifactStore::Databricks(run) => client.databricks_list(&run, folder).await,
    }
}

impl Objects {
    /// The object of artifact `path` (a relative path checked by the artifact rules).
    fn object(&self, path: &str) -> ObjectPath {
        path.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |o, part| o.clone().join(part))
    }

    /// Uploads the file at `file` as artifact `path`: in one request when it is small, else in
    /// parts read from disk one at a time (each part retried on its own by the store's
    /// client). A failed multipart upload is aborted, so the store keeps no half file.
    pub(crate) async fn upload(&self, path: &str, file: &Path) -> Result<(), UploadError> {
        let mut opened = tokio::fs::File::open(file)
            .await
            .map_err(UploadError::Gone)?;
        let size = opened.metadata().await.map_err(UploadError::Gone)?.len();
        let object = self.object(path);
        if size <= PART as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            opened
                .read_to_end(&mut bytes)
                .await
                .map_err(UploadError::Gone)?;
            self.store
                .put(&object, PutPayload::from(bytes))
                .await
                .map_err(|e| UploadError::Store(self.error(path, e)))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&object)
            .await
            .map_err(|e| UploadError::Store(self.error(path, e)))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buffer = vec![0; PART];
        loop {
            let read = match read_full(&mut opened, &mut buffer).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(UploadError::Gone(e));
                }
            };
            if read == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(UploadError::Store(self.error(path, e)));
            }
            writer.write(&buffer[..read]);
        }
        writer
            .finish()
            .await
            .map(drop)
            .map_err(|e| UploadError::Store(self.error(path, e)))
    }

    /// The artifacts below `path` (all of them for `""`), as paths relative to the run's
    /// artifact root with their sizes.
    pub(crate) async fn list(&self, path: &str) -> Result<Vec<(String, u64)>, CallError> {
        let below = self.object(path);
        let mut listing = self.store.list(Some(&below));
        let mut out = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.error(path, e))?;
            let Some(parts) = meta.location.prefix_match(&self.prefix) else {
                continue;
            };
            let relative: Vec<String> = parts.map(|p| p.as_ref().to_owned()).collect();
            out.push((relative.join("/"), meta.size));
        }
        out.sort();
        Ok(out)
    }

    /// Downloads artifact `path` into the file `to`, `PART` bytes at a time: each part is one
    /// request, within the store's request timeout however large the file (a whole-file
    /// request would be cut by it on a slow link), and memory holds one part.
    pub(crate) async fn download(&self, path: &str, to: &Path) -> Result<(), CallError> {
        let object = self.object(path);
        let size = self
            .store
            .head(&object)
            .await
            .map_err(|e| self.error(path, e))?
            .size;
        let mut out = tokio::fs::File::create(to)
            .await
            .map_err(|e| local_error(to, e))?;
        let mut start = 0;
        while start < size {
            let end = (start + PART as u64).min(size);
            let bytes = self
                .store
                .get_range(&object, start..end)
                .await
                .map_err(|e| self.error(path, e))?;
            if bytes.len() as u64 != end - start {
                return Err(CallError::Transport(format!(
                    "artifact store {}: asked for bytes {start}..{end} of {path:?}, got {}",
                    self.uri,
                    bytes.len()
                )));
            }
            out.write_all(&bytes)
                .await
                .map_err(|e| local_error(to, e))?;
            start = end;
        }
        out.flush().await.map_err(|e| local_error(to, e))
    }

    /// The store's error about artifact `path`, as a call error: refusals (no permission, bad
    /// credentials, a missing container) are kept for `sync`; the rest is retried.
    fn error(&self, path: &str, e: object_store::Error) -> CallError {
        use object_store::Error as E;
        let refusal = |status: u16, why: String| CallError::Status {
            status,
            code: Some(UNUSABLE.into()),
            message: format!("artifact {path:?} in {}: {why}", self.uri),
            retry_after: None,
        };
        let said = brief(&e.to_string());
        match e {
            E::PermissionDenied { .. } => refusal(
                403,
                format!(
                    "the store refused the credentials ({said}); check the variables of the \
                     store's credentials ({})",
                    credential_variables(&self.uri)
                ),
            ),
            E::Unauthenticated { .. } => refusal(
                401,
                format!(
                    "the store needs credentials ({said}); set {}",
                    credential_variables(&self.uri)
                ),
            ),
            E::NotFound { .. } => refusal(404, format!("not found ({said})")),
            E::InvalidPath { .. } | E::NotSupported { .. } | E::NotImplemented { .. } => {
                refusal(400, said)
            }
            _ => CallError::Transport(format!("artifact store {}: {said}", self.uri)),
        }
    }
}

/// The gist of a store's error for a message: the store's error code when its answer has one
/// (`<Code>AuthorizationFailure</Code>` in Azure's and S3's XML), else its first line, cut to
/// 300 characters. Whole answers (XML documents, request ids) would drown the advice.
fn brief(text: &str) -> String {
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim());
    let first = text.lines().next().unwrap_or("").trim();
    let first: String = first.chars().take(300).collect();
    match code {
        Some(code) if !code.is_empty() => {
            // object_store's text goes on with the request and the whole answer.
            let head = first
                .split(": Error performing")
                .next()
                .unwrap_or(&first)
                .trim_end_matches([':', ' ']);
            format!("{code}: {head}")
        }
        _ => first,
    }
}

/// What became of an upload that did not happen.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// The local file cannot be read.
    Gone(std::io::Error),
    /// The store said no, or could not be reached.
    Store(CallError),
}

/// Reads until `buffer` is full or the file ends; the bytes read.
pub(super) async fn read_full(
    file: &mut tokio::fs::File,
    buffer: &mut [u8],
) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn local_error(path: &Path, e: std::io::Error) -> CallError {
    CallError::Status {
        status: 0,
        code: Some("LOCAL_FILE".into()),
        message: format!("cannot write {}: {e}", path.display()),
        retry_after: None,
    }
}

fn unusable(uri: &str, why: String) -> CallError {
    CallError::Status {
        status: 0,
        code: Some(UNUSABLE.into()),
        message: format!("cannot write the run's artifacts to {uri}: {why}"),
        retry_after: None,
    }
}

/// The variables that give credentials for the store of `uri`, for messages.
fn credential_variables(uri: &str) -> &'static str {
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "s3" => S3_CREDENTIALS,
        "gs" => GCS_CREDENTIALS,
        "file" | "" => "nothing: the folder must be writable by this user",
        _ => AZURE_CREDENTIALS,
    }
}

const AZURE_CREDENTIALS: &str = "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCESS_KEY, \
     or AZURE_STORAGE_SAS_TOKEN, or a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID and \
     AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE), or for a managed identity \
     AZURE_CLIENT_ID (user-assigned) or IDENTITY_ENDPOINT/MSI_ENDPOINT";
const S3_CREDENTIALS: &str = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN \
     for temporary keys), or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or \
     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/AWS_CONTAINER_CREDENTIALS_FULL_URI, or for an EC2 \
     instance profile AWS_EC2_METADATA_SERVICE_ENDPOINT";
const GCS_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS (the path of a service account's \
     JSON key)";

/// The store's client options: a few retries of each request (a part of a large file is
/// retried on its own); the shipper's own retries come on top, for the whole file.
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(CONNECT_TIMEOUT)
}

/// Builds the stores' HTTP clients with this crate's TLS (ring and the platform's roots, as for
/// the tracking server) rather than `object_store`'s own, which would need a process-wide
/// crypto provider.
#[derive(Debug, Clone, Copy)]
struct Connector {
    /// Accept any certificate (`MLFLOW_S3_IGNORE_TLS=true`).
    insecure: bool,
}

impl HttpConnector for Connector {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        let failed = |e: String| object_store::Error::Generic {
            store: "artifact store",
            source: e.into(),
        };
        let tls = super::client::tls_config(self.insecure).map_err(|e| failed(e.to_string()))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // Below the keep-alive of common stores' front ends (Node's 5 s for Azurite): a
            // request on a connection being closed fails and is retried for nothing.
            .pool_idle_timeout(Duration::from_millis(1500))
            .user_agent(concat!("run-runtime/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(HttpClient::new(client))
    }
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: Default::default(),
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    }
}

type Built = Result<(Arc<dyn ObjectStore>, ObjectPath), String>;

/// Azure's blob hosts: `<account>.blob.core.windows.net` and the data-lake (`dfs`) one, in each
/// of Azure's clouds.
fn is_azure_host(rest: &str) -> bool {
    let host = rest
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let host = host.rsplit('@').next().unwrap_or("");
    [".blob.", ".dfs."].iter().any(|s| host.contains(s))
        && [
            ".core.windows.net",
            ".core.chinacloudapi.cn",
            ".core.usgovcloudapi.net",
        ]
        .iter()
        .any(|s| host.ends_with(s))
}

/// The container, the account and the path of an Azure artifact URI:
/// `wasbs://<container>@<account>.blob.<suffix>/<path>`, the same with `abfss` and `dfs`, or
/// `https://<account>.blob.<suffix>/<container>/<path>`.
fn azure_parts(uri: &str) -> Result<(String, String, String), String> {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", uri));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (container, host, path) = if scheme.eq_ignore_ascii_case("https")
        || scheme.eq_ignore_ascii_case("http")
    {
        let (container, path) = path.split_once('/').unwrap_or((path, ""));
        (container, authority, path)
    } else {
        let (container, host) = authority
            .split_once('@')
            .ok_or("an Azure URI must name its container: <scheme>://<container>@<account>.blob.core.windows.net/<path>")?;
        (container, host, path)
    };
    let account = host.split('.').next().unwrap_or("");
    if container.is_empty() || account.is_empty() {
        return Err("the URI names no container or no account".into());
    }
    Ok((
        container.to_owned(),
        account.to_owned(),
        path.trim_matches('/').to_owned(),
    ))
}

fn azure(uri: &str, env: Lookup<'_>) -> Built {
    let (container, account, path) = azure_parts(uri)?;
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let mut builder = MicrosoftAzureBuilder::new()
        .with_container_name(&container)
        .with_account(&account)
        .with_client_options(client_options())
        .with_http_connector(Connector { insecure: false })
        .with_retry(retry_config());
    if let Some(cs) = var("AZURE_STORAGE_CONNECTION_STRING") {
        builder = connection_string(builder, &cs)?;
    } else if let Some(key) =
        var("AZURE_STORAGE_ACCESS_KEY").or_else(|| var("AZURE_STORAGE_ACCOUNT_KEY"))
    {
        builder = builder.with_access_key(key);
    } else if let Some(sas) = var("AZURE_STORAGE_SAS_TOKEN") {
        builder = builder.with_config(AzureConfigKey::SasKey, sas.trim_start_matches('?'));
    } else {
        let mut any = false;
        for (name, key) in [
            ("AZURE_CLIENT_ID", AzureConfigKey::ClientId),
            ("AZURE_CLIENT_SECRET", AzureConfigKey::ClientSecret),
            ("AZURE_TENANT_ID", AzureConfigKey::AuthorityId),
            ("AZURE_AUTHORITY_HOST", AzureConfigKey::AuthorityHost),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                AzureConfigKey::FederatedTokenFile,
            ),
            ("IDENTITY_ENDPOINT", AzureConfigKey::MsiEndpoint),
            ("MSI_ENDPOINT", AzureConfigKey::MsiEndpoint),
        ] {
            if let Some(v) = var(name) {
                builder = builder.with_config(key, v);
                any = true;
            }
        }
        if !any {
            return Err(format!(
                "no credentials for Azure storage: set {AZURE_CREDENTIALS}"
            ));
        }
    }
    let store = builder
        .build()
        .map_err(|e| format!("cannot configure the Azure store: {e}"))?;
    Ok((Arc::new(store), ObjectPath::from(path)))
}

/// Applies an Azure storage connection string (`Key=Value;...`, as the Azure portal shows it):
/// the account, its key or a shared access signature, and the blob endpoint (an emulator's, or
/// one made of the protocol and the endpoint suffix).
fn connection_string(
    mut builder: MicrosoftAzureBuilder,
    cs: &str,
) -> Result<MicrosoftAzureBuilder, String> {
    let mut fields = std::collections::HashMap::new();
    for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            "AZURE_STORAGE_CONNECTION_STRING is not `Key=Value;...` pairs (a part has no `=`)"
                .to_owned()
        })?;
        fields.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let field = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let account = field("accountname");
    if let Some(account) = &account {
        builder = builder.with_account(account);
    }
    let endpoint = match (field("blobendpoint"), &account) {
        (Some(e), _) => Some(e),
        (None, Some(account)) => {
            let protocol = field("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
            let suffix = field("endpointsuffix").unwrap_or_else(|| "core.windows.net".into());
            Some(format!("{protocol}://{account}.blob.{suffix}"))
        }
        (None, None) => None,
    };
    if let Some(endpoint) = endpoint {
        let http = endpoint.to_ascii_lowercase().starts_with("http://");
        builder = builder
            .with_endpoint(endpoint.trim_end_matches('/').to_owned())
            .with_allow_http(http);
    }
    match (field("accountkey"), field("sharedaccesssignature")) {
        (Some(key), _) => Ok(builder.with_access_key(key)),
        (None, Some(sas)) => Ok(builder.with_config(AzureConfigKey::SasKey, sas)),
        (None, None) => Err(
            "AZURE_STORAGE_CONNECTION_STRING has neither AccountKey nor SharedAccessSignature"
                .into(),
        ),
    }
}

fn s3(rest: &str, env: Lookup<'_>) -> Built {
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("the URI names no bucket: s3://<bucket>/<path>".into());
    }
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let mut options = client_options();
    let endpoint = var("MLFLOW_S3_ENDPOINT_URL")
        .or_else(|| var("AWS_ENDPOINT_URL_S3"))
        .or_else(|| var("AWS_ENDPOINT_URL"));
    if let Some(e) = &endpoint {
        options = options.with_allow_http(e.to_ascii_lowercase().starts_with("http://"));
    }
    let insecure = var("MLFLOW_S3_IGNORE_TLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_client_options(options)
        .with_http_connector(Connector { insecure })
        .with_retry(retry_config())
        .with_virtual_hosted_style_request(
            var("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE").is_some_and(|v| v == "virtual"),
        );
    if let Some(e) = endpoint {
        builder = builder.with_endpoint(e.trim_end_matches('/').to_owned());
    }
    let mut any = false;
    for (name, key) in [
        ("AWS_ACCESS_KEY_ID", AmazonS3ConfigKey::AccessKeyId),
        ("AWS_SECRET_ACCESS_KEY", AmazonS3ConfigKey::SecretAccessKey),
        ("AWS_SESSION_TOKEN", AmazonS3ConfigKey::Token),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            AmazonS3ConfigKey::WebIdentityTokenFile,
        ),
        ("AWS_ROLE_ARN", AmazonS3ConfigKey::RoleArn),
        ("AWS_ROLE_SESSION_NAME", AmazonS3ConfigKey::RoleSessionName),
        (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            AmazonS3ConfigKey::ContainerCredentialsRelativeUri,
        ),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            AmazonS3ConfigKey::ContainerCredentialsFullUri,
        ),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            AmazonS3ConfigKey::MetadataEndpoint,
        ),
    ] {
        if let Some(v) = var(name) {
            builder = builder.with_config(key, v);
            any = true;
        }
    }
    let keys = var("AWS_ACCESS_KEY_ID").is_some() == var("AWS_SECRET_ACCESS_KEY").is_some();
    if !any || !keys {
        return Err(format!("no credentials for S3: set {S3_CREDENTIALS}"));
    }
    let store = builder
        .build()
        .map_err(|e| format!("cannot configure the S3 store: {e}"))?;
    Ok((Arc::new(store), ObjectPath::from(path)))
}

fn gcs(rest: &str, env: Lookup<'_>) -> Built {
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("the URI names no bucket: gs://<bucket>/<path>".into());
    }
    let credentials = env("GOOGLE_APPLICATION_CREDENTIALS")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("no credentials for Google Cloud Storage: set {GCS_CREDENTIALS}"))?;
    let store = GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_application_credentials(credentials)
        .with_client_options(client_options())
        .with_http_connector(Connector { insecure: false })
        .with_retry(retry_config())
        .build()
        .map_err(|e| format!("cannot configure the Google Cloud Storage store: {e}"))?;
    Ok((Arc::new(store), ObjectPath::from(path)))
}

/// A folder every client reaches at the same path (a shared or mounted one), from
/// `file:///path` (or `file://localhost/path`) or a plain absolute path.
fn local(rest: &str) -> Built {
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err("a file: artifact root must be an absolute path, file:///<path>".into());
    }
    let root = Path::new(path);
    std::fs::create_dir_all(root)
        .map_err(|e| format!("cannot create the folder {}: {e}", root.display()))?;
    let store = LocalFileSystem::new_with_prefix(root)
        .map_err(|e| format!("cannot use the folder {}: {e}", root.display()))?;
    Ok((Arc::new(store), ObjectPath::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + Sync + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn refusal(r: Result<ArtifactStore, CallError>) -> String {
        match r {
            Err(CallError::Status {
                status: 0,
                code,
                message,
                ..
            }) => {
                assert_eq!(code.as_deref(), Some(UNUSABLE));
                message
            }
            other => panic!("expected an unusable store, got {other:?}"),
        }
    }

    #[test]
    fn a_stores_answer_is_cut_to_its_gist() {
        let azure = "The operation lacked the necessary privileges to complete for path a/b: \
                     Error performing PUT http://127.0.0.1/x in 2ms - Server returned non-2xx \
                     status code: 403 Forbidden: <?xml version=\"1.0\"?>\n<Error>\n  \
                     <Code>AuthorizationFailure</Code>\n  <Message>Server failed to \
                     authenticate</Message>\n</Error>";
        let said = brief(azure);
        assert!(
            said.starts_with("AuthorizationFailure: The operation lacked"),
            "{said}"
        );
        assert!(!said.contains('\n') && !said.contains("<Error>"), "{said}");
        assert_eq!(brief("connection refused\nmore"), "connection refused");
        assert_eq!(brief(&"x".repeat(1000)).len(), 300);
    }

    #[test]
    fn the_servers_proxy_is_named_by_its_scheme() {
        let none = env(&[]);
        for (uri, root) in [
            ("mlflow-artifacts:/1/abc/artifacts", "1/abc/artifacts"),
            (
                "mlflow-artifacts://host:5000/1/abc/artifacts",
                "1/abc/artifacts",
            ),
        ] {
            match ArtifactStore::open(uri, &Platform::Mlflow, &none).unwrap() {
                ArtifactStore::Proxy { root: r } => assert_eq!(r, root),
                other => panic!("{uri}: {other:?}"),
            }
        }
    }

    #[test]
    fn azure_uris_name_container_account_and_path() {
        for (uri, want) in [
            (
                "wasbs://mlflow@acct.blob.core.windows.net/artifacts/1/r/artifacts",
                ("mlflow", "acct", "artifacts/1/r/artifacts"),
            ),
            (
                "abfss://fs@acct.dfs.core.windows.net/a/b",
                ("fs", "acct", "a/b"),
            ),
            (
                "https://acct.blob.core.windows.net/mlflow/x/y",
                ("mlflow", "acct", "x/y"),
            ),
        ] {
            let (c, a, p) = azure_parts(uri).unwrap();
            assert_eq!((c.as_str(), a.as_str(), p.as_str()), want, "{uri}");
        }
        assert!(azure_parts("wasbs://acct.blob.core.windows.net/x").is_err());
        assert!(is_azure_host("acct.blob.core.windows.net/c/p"));
        assert!(!is_azure_host("example.com/blob.core.windows.net"));
    }

    #[test]
    fn a_store_without_credentials_says_which_variables_to_set() {
        let none = env(&[]);
        let azure = refusal(ArtifactStore::open(
            "wasbs://c@a.blob.core.windows.net/p",
            &Platform::Mlflow,
            &none,
        ));
        assert!(azure.contains("AZURE_STORAGE_CONNECTION_STRING"), "{azure}");
        let s3 = refusal(ArtifactStore::open(
            "s3://bucket/p",
            &Platform::Mlflow,
            &none,
        ));
        assert!(s3.contains("AWS_ACCESS_KEY_ID"), "{s3}");
        let half = env(&[("AWS_ACCESS_KEY_ID", "id")]);
        let s3 = refusal(ArtifactStore::open(
            "s3://bucket/p",
            &Platform::Mlflow,
            &half,
        ));
        assert!(s3.contains("AWS_SECRET_ACCESS_KEY"), "{s3}");
        let gs = refusal(ArtifactStore::open(
            "gs://bucket/p",
            &Platform::Mlflow,
            &none,
        ));
        assert!(gs.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{gs}");
    }

    #[test]
    fn unknown_schemes_and_relative_roots_are_refused_by_name() {
        let none = env(&[]);
        let ftp = refusal(ArtifactStore::open(
            "ftp://host/p",
            &Platform::Mlflow,
            &none,
        ));
        assert!(ftp.contains("`ftp:`"), "{ftp}");
        let relative = refusal(ArtifactStore::open(
            "./mlruns/1/r/artifacts",
            &Platform::Mlflow,
            &none,
        ));
        assert!(relative.contains("absolute"), "{relative}");
    }

    #[test]
    fn a_connection_string_gives_endpoint_and_key() {
        let cs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
                  AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
                  BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;";
        let vars = [("AZURE_STORAGE_CONNECTION_STRING", cs)];
        let store = ArtifactStore::open(
            "wasbs://mlflow@devstoreaccount1.blob.core.windows.net/artifacts",
            &Platform::Mlflow,
            &env(&vars),
        )
        .unwrap();
        assert!(matches!(store, ArtifactStore::Objects(_)));
        let bad = [("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;nonsense")];
        let message = refusal(ArtifactStore::open(
            "wasbs://c@a.blob.core.windows.net/p",
            &Platform::Mlflow,
            &env(&bad),
        ));
        assert!(message.contains("Key=Value"), "{message}");
    }

    #[test]
    fn a_shared_folder_round_trips_small_and_multipart_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("share/1/run/artifacts");
        let uri = format!("file://{}", root.display());
        let ArtifactStore::Objects(store) =
            ArtifactStore::open(&uri, &Platform::Mlflow, &env(&[])).unwrap()
        else {
            panic!("a file: root is an object store")
        };
        let small = dir.path().join("small.txt");
        std::fs::write(&small, b"hello").unwrap();
        // Over one part, not a multiple of it: the last part is short.
        let big = dir.path().join("big.bin");
        let bytes: Vec<u8> = (0..(PART * 2 + 12_345)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&big, &bytes).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            store.upload("notes/small.txt", &small).await.unwrap();
            store.upload("model/weights.bin", &big).await.unwrap();
            let listed = store.list("").await.unwrap();
            assert_eq!(
                listed,
                vec![
                    ("model/weights.bin".to_owned(), bytes.len() as u64),
                    ("notes/small.txt".to_owned(), 5),
                ]
            );
            assert_eq!(store.list("model").await.unwrap().len(), 1);
            let back = dir.path().join("back.bin");
            store.download("model/weights.bin", &back).await.unwrap();
            assert_eq!(std::fs::read(&back).unwrap(), bytes);
            let missing = store.download("nope", &back).await.unwrap_err();
            assert!(
                matches!(missing, CallError::Status { status: 404, .. }),
                "{missing:?}"
            );
        });
        assert_eq!(
            std::fs::read(root.join("notes/small.txt")).unwrap(),
            b"hello"
        );
    }
}
