//! An async client for the MLflow REST API (2.0), as MLflow, Azure ML and Databricks serve it.
//!
//! Only the calls this crate needs, with the wire facts measured on MLflow 3.17.2: every POST is
//! `application/json`; errors are `{"error_code", "message"}`; NaN and infinities go as the
//! strings `"NaN"`, `"Infinity"`, `"-Infinity"`, and values come back as numbers or strings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::azure_ad::AzureAd;
use super::job_token::JobToken;
use super::token::{TOKEN_FILE_VAR, TokenFile, check_token};
use super::wire::{
    CreateRunReply, DownloadUriReply, Experiment, ExperimentReply, HistoryReply, KeyValue,
    LogBatch, ModelAlias, ModelVersion, ModelVersionReply, ProxyListing, RegisteredModelReply,
    RemoteRun, RunInfo, RunReply, SearchRunsReply, SearchVersionsReply,
};
use crate::config::{Platform, TrackingUri};
use crate::error::{Error, Result};
use crate::registry::is_plain_component;
use crate::store::MetricPoint;

/// How requests prove who sends them. Secrets never appear in `Debug`, errors or logs.
#[derive(Clone, Default)]
pub(crate) enum Credentials {
    /// No authentication (a local server).
    #[default]
    None,
    /// `Authorization: Bearer <token>` (`MLFLOW_TRACKING_TOKEN`; Azure ML, Databricks).
    Bearer(Secret),
    /// `Authorization: Bearer <token>` with the token of a file (`RUNCTX_TRACKING_TOKEN_FILE`),
    /// read again when the server answers 401.
    BearerFile(Arc<TokenFile>),
    /// `Authorization: Bearer <token>` with an Azure ML job's token, renewed before it
    /// expires.
    AzureMlJob(Arc<JobToken>),
    /// `Authorization: Bearer <token>` with an Azure AD token for an Azure ML workspace outside
    /// a job, from a service principal, a managed identity or the Azure CLI, renewed before it
    /// expires.
    AzureAd(Arc<AzureAd>),
    /// HTTP Basic (`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`).
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credentials::BearerFile(file) => write!(f, "Bearer({file:?})"),
            Credentials::AzureMlJob(job) => write!(f, "Bearer({job:?})"),
            Credentials::AzureAd(ad) => write!(f, "Bearer({ad:?})"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
        }
    }
}

impl Credentials {
    /// The credentials for the server at `uri`, from the variables `get` gives: a token file
    /// (`RUNCTX_TRACKING_TOKEN_FILE`) if one is named; else for Databricks, the workspace's token
    /// (`DATABRICKS_TOKEN` or the profile's); for Azure ML inside a job (`MLFLOW_TRACKING_TOKEN`
    /// a JWT, `MLFLOW_RUN_ID` and `MLFLOW_EXPERIMENT_ID` set), the job's token, renewed before
    /// it expires; else as [`Credentials::from_lookup`].
    pub(crate) fn for_server(
        uri: &TrackingUri,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        if var(TOKEN_FILE_VAR).is_some() {
            return Self::from_lookup(get);
        }
        match &uri.platform {
            Platform::Databricks { profile } => {
                let config =
                    crate::databricks::resolve(profile.as_deref(), &get).map_err(|reason| {
                        Error::Config {
                            var: "MLFLOW_TRACKING_URI",
                            value: uri.base.clone(),
                            reason,
                        }
                    })?;
                check_token(config.token.as_bytes()).map_err(|reason| Error::Config {
                    var: "DATABRICKS_TOKEN",
                    value: format!("<redacted, from {}>", config.token_from),
                    reason,
                })?;
                return Ok(Credentials::Bearer(Secret::new(&config.token)));
            }
            Platform::AzureMl(workspace) => {
                let job = (
                    var("MLFLOW_TRACKING_TOKEN"),
                    var("MLFLOW_RUN_ID"),
                    var("MLFLOW_EXPERIMENT_ID"),
                );
                if let (Some(token), Some(run), Some(experiment)) = job
                    && check_token(token.as_bytes()).is_ok()
                    && let Some(job) = JobToken::new(workspace, &token, &run, &experiment)
                {
                    return Ok(Credentials::AzureMlJob(Arc::new(job)));
                }
                // Outside a job, without a token or a password of the user's: Azure AD.
                let given = ["MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME"];
                if given.iter().all(|k| var(k).is_none()) {
                    return Ok(Credentials::AzureAd(Arc::new(AzureAd::from_env(&get)?)));
                }
            }
            Platform::Mlflow => {}
        }
        Self::from_lookup(get)
    }

    /// Reads the token of the file `RUNCTX_TRACKING_TOKEN_FILE` names, else
    /// `MLFLOW_TRACKING_TOKEN`, else `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`.
    ///
    /// The file wins over `MLFLOW_TRACKING_TOKEN`: it is set on purpose, to outlive a token
    /// that a platform put in the environment once (Azure ML sets `MLFLOW_TRACKING_TOKEN` for
    /// a job's process).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        if let Some(path) = var(TOKEN_FILE_VAR) {
            let file = TokenFile::open(std::path::Path::new(&path))?;
            return Ok(Credentials::BearerFile(Arc::new(file)));
        }
        if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
            // An invalid header value would fail every request before it is sent.
            check_token(token.as_bytes()).map_err(|reason| Error::Config {
                var: "MLFLOW_TRACKING_TOKEN",
                value: "<redacted>".into(),
                reason,
            })?;
            return Ok(Credentials::Bearer(Secret(Arc::from(token))));
        }
        match (
            var("MLFLOW_TRACKING_USERNAME"),
            var("MLFLOW_TRACKING_PASSWORD"),
        ) {
            (Some(user), Some(password)) => Ok(Credentials::Basic {
                user,
                password: Secret(Arc::from(password)),
            }),
            (None, None) => Ok(Credentials::None),
            (Some(user), None) => Err(Error::Config {
                var: "MLFLOW_TRACKING_USERNAME",
                value: user,
                reason: "MLFLOW_TRACKING_PASSWORD is not set; set both, or neither".into(),
            }),
            (None, Some(_)) => Err(Error::Config {
                var: "MLFLOW_TRACKING_PASSWORD",
                value: "<redacted>".into(),
                reason: "MLFLOW_TRACKING_USERNAME is not set; set both, or neither".into(),
            }),
        }
    }
}

/// A credential: shown as `<redacted>` everywhere.
#[derive(Clone)]
pub(crate) struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret value.
    pub(crate) fn new(value: &str) -> Self {
        Secret(Arc::from(value))
    }

    /// The same secret as `other`.
    pub(crate) fn same(&self, other: &Secret) -> bool {
        self.0 == other.0
    }

    /// The secret itself, for a header.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }

    /// The secret is `value`.
    #[cfg(test)]
    pub(crate) fn is(&self, value: &str) -> bool {
        &*self.0 == value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// No answer: connection refused or reset, timeout.
    Transport(String),
    /// The TLS handshake failed: the server's certificate is not trusted, has another name,
    /// or has expired. Retrying cannot fix it.
    Tls(String),
    /// The server answered with an error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// MLflow's `error_code`, if the body had one.
        code: Option<String>,
        /// MLflow's `message`, or the body.
        message: String,
        /// `Retry-After`, for a 429 or 503.
        retry_after: Option<Duration>,
    },
    /// The answer was not the JSON expected.
    Decode(String),
    /// The server refused the token (401), and the token file holds a new one, read since:
    /// a request whose body cannot be sent twice (an upload streamed from disk) is not resent
    /// here, but is worth trying again with it.
    TokenRenewed(String),
}

impl CallError {
    /// Worth trying again: no answer, 429 (too many requests), a 5xx, or a server whose
    /// database connection pool was full.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            CallError::Transport(_) => true,
            CallError::Tls(_) => false,
            CallError::Status {
                status, message, ..
            } => *status == 429 || *status >= 500 || pool_full(*status, message),
            CallError::Decode(_) => false,
            CallError::TokenRenewed(_) => true,
        }
    }

    /// The server's `error_code`.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            CallError::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// MLflow's SQL stores answer 400 BAD_REQUEST for any SQLAlchemy error that is not an
/// `OperationalError`, among them `sqlalchemy.exc.TimeoutError`: "QueuePool limit of size 5
/// overflow 10 reached, connection timed out" when more requests wait for the database than
/// its pool holds (seen with 16 clients on PostgreSQL and 4 workers). Nothing was written, so
/// it is worth trying again like a 503. SQLAlchemy names that error `3o7r` in the link of every
/// message (`https://sqlalche.me/e/20/3o7r`).
///
/// The same for SQLAlchemy's IntegrityError (`gkpj`) when two clients insert the same unique
/// row at once: `runs/log-inputs` from two runs reading the same data in one experiment both
/// insert its dataset, one fails with 400, and tried again it finds the row the other wrote.
fn pool_full(status: u16, message: &str) -> bool {
    status == 400
        && message.contains("sqlalche.me/e/")
        && (message.contains("/3o7r") || message.contains("/gkpj"))
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transport(e) => write!(f, "no answer: {e}"),
            CallError::Tls(e) => write!(
                f,
                "the TLS handshake failed: {e} (trust the server's certificate through the \
                 platform's store or SSL_CERT_FILE, or set MLFLOW_TRACKING_INSECURE_TLS=true \
                 to skip the check)"
            ),
            // Status 0: refused by this client before any request (an unusable artifact store).
            CallError::Status {
                status: 0, message, ..
            } => f.write_str(message),
            CallError::Status {
                status,
                code: Some(code),
                message,
                ..
            } => {
                write!(f, "HTTP {status} {code}: {message}")
            }
            CallError::Status {
                status,
                code: None,
                message,
                ..
            } => {
                write!(f, "HTTP {status}: {message}")
            }
            CallError::Decode(e) => write!(f, "unexpected answer: {e}"),
            CallError::TokenRenewed(path) => write!(
                f,
                "HTTP 401: the server refused the token; {TOKEN_FILE_VAR} ({path}) holds a new \
                 one, which the next attempt sends"
            ),
        }
    }
}

/// A client of one tracking server.
#[derive(Clone)]
pub(crate) struct Client {
    pub(super) http: reqwest::Client,
    base: Arc<str>,
    platform: Platform,
    credentials: Credentials,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// How long one request may take before it counts as a transport failure; for an upload, how
/// long it may go without sending a byte of its file.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest rate an upload is allowed on average (its whole-request limit is
/// `REQUEST_TIMEOUT` plus one second per this many bytes): far below any real link, so it
/// only ends an upload that trickles, or whose answer never comes after the last byte.
const UPLOAD_FLOOR_BYTES_PER_SEC: u64 = 16 * 1024;

/// A file to upload, opened. Its content streams from disk as the request is sent, so memory
/// does not grow with its size; a second handle on the same open file (sharing its offset)
/// shows how much of it the request has read, which is how a stalled upload is told from a
/// slow one.
pub(crate) struct UploadFile {
    body: tokio::fs::File,
    position: std::fs::File,
    size: u64,
}

impl UploadFile {
    /// Opens the file at `path` for one upload.
    pub(crate) async fn open(path: &std::path::Path) -> std::io::Result<UploadFile> {
        let body = tokio::fs::File::open(path).await?;
        let size = body.metadata().await?.len();
        let position = body.try_clone().await?.into_std().await;
        Ok(UploadFile {
            body,
            position,
            size,
        })
    }
}

/// Bytes of an open file read so far, through another handle on it.
fn read_so_far(mut handle: &std::fs::File) -> u64 {
    use std::io::Seek;
    handle.stream_position().unwrap_or(0)
}

impl Client {
    /// A client of the server at `uri`. TLS certificates are verified against the platform's
    /// roots unless `insecure`.
    pub(crate) fn new(uri: &TrackingUri, credentials: Credentials, insecure: bool) -> Result<Self> {
        Client::with_timeout(uri, credentials, insecure, REQUEST_TIMEOUT)
    }

    /// As [`Client::new`], with `timeout` for each request but uploads.
    fn with_timeout(
        uri: &TrackingUri,
        credentials: Credentials,
        insecure: bool,
        timeout: Duration,
    ) -> Result<Self> {
        let tls = tls_config(insecure).map_err(|e| tls_error(uri, e))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tcp_nodelay(true)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            // Below the keep-alive of MLflow's servers (uvicorn 5 s, gunicorn 2 s): a request
            // sent on a connection the server is closing fails with "connection closed before
            // message completed", a retry and, under load, a false alarm of a stall.
            .pool_idle_timeout(Duration::from_millis(1500))
            .user_agent(concat!("run-runtime/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config {
                var: "MLFLOW_TRACKING_URI",
                value: uri.base.clone(),
                reason: format!("cannot build an HTTP client for it: {e}"),
            })?;
        Ok(Client {
            http,
            base: Arc::from(uri.base.as_str()),
            platform: uri.platform.clone(),
            credentials,
        })
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The kind of server.
    pub(crate) fn platform(&self) -> &Platform {
        &self.platform
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Credentials::None => request,
            Credentials::Bearer(Secret(token)) => request.bearer_auth(token),
            Credentials::BearerFile(file) => request.bearer_auth(&file.current().0),
            Credentials::AzureMlJob(job) => match job.current() {
                Some(token) => request.bearer_auth(token.expose()),
                None => request,
            },
            Credentials::AzureAd(ad) => match ad.current() {
                Some(token) => request.bearer_auth(token.expose()),
                None => request,
            },
            Credentials::Basic {
                user,
                password: Secret(p),
            } => request.basic_auth(user, Some(p)),
        }
    }

    /// Sends `request` with the credentials. With a token file, a 401 makes the file be read
    /// again: a new token there is sent once more (a body streamed from disk cannot be resent:
    /// [`CallError::TokenRenewed`] asks the caller to try again); an unchanged token, or a new
    /// one refused too, is an error that says the token in the file was refused.
    pub(super) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, CallError> {
        let file = match &self.credentials {
            Credentials::BearerFile(file) => file,
            Credentials::AzureMlJob(job) => {
                let token = job.fresh(&self.http).await?;
                return self.send_once(request.bearer_auth(token.expose())).await;
            }
            Credentials::AzureAd(ad) => {
                let token = ad.fresh(&self.http).await?;
                return self.send_once(request.bearer_auth(token.expose())).await;
            }
            _ => return self.send_once(self.authorize(request)).await,
        };
        let again = request.try_clone();
        let used = file.current();
        let refused = match self.send_once(request.bearer_auth(&used.0)).await {
            Err(e @ CallError::Status { status: 401, .. }) => e,
            answer => return answer,
        };
        let path = file.path().display();
        let fresh = match file.reread() {
            Ok(fresh) if !fresh.same(&used) => fresh,
            Ok(_) => {
                return Err(token_refused(
                    refused,
                    &format!("the token in {TOKEN_FILE_VAR} ({path}) was refused"),
                ));
            }
            Err(rule) => {
                return Err(token_refused(
                    refused,
                    &format!(
                        "the token was refused, and {TOKEN_FILE_VAR} ({path}) holds no new one: \
                         {rule}"
                    ),
                ));
            }
        };
        let Some(again) = again else {
            return Err(CallError::TokenRenewed(path.to_string()));
        };
        match self.send_once(again.bearer_auth(&fresh.0)).await {
            Err(e @ CallError::Status { status: 401, .. }) => Err(token_refused(
                e,
                &format!("the token in {TOKEN_FILE_VAR} ({path}) was refused, read again too"),
            )),
            answer => answer,
        }
    }

    async fn send_once(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, CallError> {
        let response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(describe)?;
        if (200..300).contains(&status) {
            return Ok(body.to_vec());
        }
        Err(status_error(status, &body, retry_after))
    }

    async fn post<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, CallError> {
        let body = serde_json::to_vec(body).map_err(|e| CallError::Decode(e.to_string()))?;
        let request = self
            .http
            .post(format!("{}/api/2.0/mlflow/{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        decode(&self.send(request).await?)
    }

    async fn get<R: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<R, CallError> {
        let request = self
            .http
            .get(format!("{}/api/2.0/mlflow/{path}", self.base))
            .query(query);
        decode(&self.send(request).await?)
    }

    /// The id of experiment `name`, created if it does not exist. Safe when several processes
    /// race to create it: `RESOURCE_ALREADY_EXISTS` means another won, and its id is read.
    pub(crate) async fn experiment_id(&self, name: &str) -> Result<String, CallError> {
        if let Some(e) = self.experiment_by_name(name).await? {
            return Ok(e.experiment_id);
        }
        let created: Result<Value, CallError> = self
            .post("experiments/create", &json!({ "name": name }))
            .await;
        match created {
            Ok(v) => v
                .get("experiment_id")
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| {
                    CallError::Decode("experiments/create gave no experiment_id".into())
                }),
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => self
                .experiment_by_name(name)
                .await?
                .map(|e| e.experiment_id)
                .ok_or_else(|| {
                    CallError::Decode(format!("experiment {name:?} exists but cannot be read"))
                }),
            Err(e) => Err(e),
        }
    }

    /// Experiment `id` (deleted ones included), or the server's message when it has none of
    /// that id: MLflow answers 404 `RESOURCE_DOES_NOT_EXIST` for an unknown id, and 400
    /// `INVALID_PARAMETER_VALUE` for one its store cannot have (a sqlite store's ids are
    /// numbers).
    pub(crate) async fn experiment_by_id(
        &self,
        id: &str,
    ) -> Result<Result<Experiment, String>, CallError> {
        match self
            .get::<ExperimentReply>("experiments/get", &[("experiment_id", id)])
            .await
        {
            Ok(r) => Ok(Ok(r.experiment)),
            Err(CallError::Status {
                status: 400 | 404,
                code: Some(code),
                message,
                ..
            }) if code == "RESOURCE_DOES_NOT_EXIST" || code == "INVALID_PARAMETER_VALUE" => {
                Ok(Err(message))
            }
            Err(e) => Err(e),
        }
    }

    /// Experiment `name`, if the server has it.
    pub(crate) async fn experiment_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Experiment>, CallError> {
        match self
            .get::<ExperimentReply>("experiments/get-by-name", &[("experiment_name", name)])
            .await
        {
            Ok(r) => Ok(Some(r.experiment)),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a run.
    pub(crate) async fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_time: i64,
        tags: &[KeyValue<'_>],
    ) -> Result<RunInfo, CallError> {
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_time,
            "tags": tags,
        });
        Ok(self
            .post::<_, CreateRunReply>("runs/create", &body)
            .await?
            .run
            .info)
    }

    /// Ends a run with a status and end time.
    pub(crate) async fn update_run(
        &self,
        run_id: &str,
        status: &str,
        end_time: i64,
    ) -> Result<(), CallError> {
        let body = json!({ "run_id": run_id, "status": status, "end_time": end_time });
        self.post::<_, Value>("runs/update", &body).await.map(drop)
    }

    /// Sends metrics, params and tags in one atomic request.
    pub(crate) async fn log_batch(&self, batch: &LogBatch<'_>) -> Result<(), CallError> {
        self.post::<_, Value>("runs/log-batch", batch)
            .await
            .map(drop)
    }

    /// Records the data a run read as MLflow dataset inputs (`runs/log-inputs`). The server
    /// keeps one dataset per name and digest and one input per dataset and run, so sending one
    /// again (a retry) adds nothing.
    pub(crate) async fn log_inputs(
        &self,
        run_id: &str,
        inputs: &[(String, crate::store::DataInput)],
    ) -> Result<(), CallError> {
        let datasets: Vec<Value> = inputs
            .iter()
            .map(|(name, input)| dataset_input(name, input))
            .collect();
        let body = json!({ "run_id": run_id, "datasets": datasets });
        self.post::<_, Value>("runs/log-inputs", &body)
            .await
            .map(drop)
    }

    /// A run's info and latest data.
    pub(crate) async fn get_run(&self, run_id: &str) -> Result<RemoteRun, CallError> {
        Ok(self
            .get::<RunReply>("runs/get", &[("run_id", run_id)])
            .await?
            .run)
    }

    /// The full history of metric `key`, every page.
    pub(crate) async fn metric_history(
        &self,
        run_id: &str,
        key: &str,
    ) -> Result<Vec<MetricPoint>, CallError> {
        let mut points = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", "25000"),
            ];
            if let Some(t) = &token {
                query.push(("page_token", t.as_str()));
            }
            let page: HistoryReply = self.get("metrics/get-history", &query).await?;
            points.extend(page.metrics.into_iter().map(|m| m.point()));
            match next_page(&token, page.next_page_token)? {
                Some(t) => token = Some(t),
                None => return Ok(points),
            }
        }
    }

    /// Runs of `experiment_ids` matching `filter`, every page.
    pub(crate) async fn search_runs(
        &self,
        experiment_ids: &[&str],
        filter: &str,
    ) -> Result<Vec<RemoteRun>, CallError> {
        let mut runs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body =
                json!({ "experiment_ids": experiment_ids, "filter": filter, "max_results": 1000 });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let page: SearchRunsReply = self.post("runs/search", &body).await?;
            runs.extend(page.runs);
            match next_page(&token, page.next_page_token)? {
                Some(t) => token = Some(t),
                None => return Ok(runs),
            }
        }
    }

    /// One page of `runs/search`: the runs of `experiment_ids` matching `filter` in the order
    /// of `order_by`.
    pub(crate) async fn search_runs_page(
        &self,
        experiment_ids: &[String],
        filter: &str,
        order_by: &[String],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<SearchRunsReply, CallError> {
        let mut body = json!({
            "experiment_ids": experiment_ids,
            "filter": filter,
            "order_by": order_by,
            "max_results": max_results,
        });
        if let Some(t) = page_token {
            body["page_token"] = json!(t);
        }
        self.post("runs/search", &body).await
    }

    /// Uploads `file` as artifact `path` below `root` of the server's artifact proxy (the path
    /// of an `mlflow-artifacts:` root), streaming it from disk.
    ///
    /// The whole-request timeout of other calls would cut a large file on a slow link, so an
    /// upload has two limits of its own instead: it fails (as a transport error, so it is
    /// retried) when it has sent no byte of the file for `REQUEST_TIMEOUT` (a stalled link or
    /// a server that stopped reading), and when it has taken longer than `REQUEST_TIMEOUT` plus
    /// its size at `UPLOAD_FLOOR_BYTES_PER_SEC` (which bounds the wait for the answer too).
    pub(crate) async fn upload_artifact(
        &self,
        root: &str,
        path: &str,
        file: UploadFile,
    ) -> Result<(), CallError> {
        self.upload_within(root, path, file, REQUEST_TIMEOUT).await
    }

    async fn upload_within(
        &self,
        root: &str,
        path: &str,
        file: UploadFile,
        idle: Duration,
    ) -> Result<(), CallError> {
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{}/{}",
            self.base,
            encode_path(root.trim_start_matches('/')),
            encode_path(path)
        );
        let UploadFile {
            body,
            position,
            size,
        } = file;
        let ceiling = REQUEST_TIMEOUT + Duration::from_secs(size / UPLOAD_FLOOR_BYTES_PER_SEC);
        // A known length, so the server gets `Content-Length` rather than a chunked body.
        let request = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .timeout(ceiling)
            .body(reqwest::Body::from(body));
        let sending = self.send(request);
        let mut sending = std::pin::pin!(sending);
        let check = (idle / 4).min(Duration::from_secs(1));
        let mut last = (0, std::time::Instant::now());
        loop {
            if let Ok(answer) = tokio::time::timeout(check, sending.as_mut()).await {
                return answer.map(drop);
            }
            let read = read_so_far(&position);
            if read != last.0 {
                last = (read, std::time::Instant::now());
            } else if read < size && last.1.elapsed() >= idle {
                // Once the whole file is read, the socket's buffers may still take a while to
                // drain on a slow link; the ceiling bounds that wait and the answer's.
                return Err(CallError::Transport(format!(
                    "nothing sent for {idle:?} while uploading ({read} of {size} bytes sent)"
                )));
            }
        }
    }

    /// The artifact paths of a run below `path` (recursively), with their sizes.
    pub(crate) async fn list_artifacts(
        &self,
        run_id: &str,
        path: Option<&str>,
    ) -> Result<Vec<(String, u64)>, CallError> {
        let mut out = Vec::new();
        let mut folders = vec![path.map(String::from)];
        while let Some(folder) = folders.pop() {
            for file in self.list_folder(run_id, folder.as_deref()).await? {
                let Some(p) = file.get("path").and_then(Value::as_str) else {
                    continue;
                };
                if file.get("is_dir").and_then(Value::as_bool) == Some(true) {
                    // Only ever deeper: a listing that names its own folder (or one above)
                    // would make this walk forever.
                    let deeper = match &folder {
                        Some(f) => p.len() > f.len() + 1 && p.starts_with(f.as_str()),
                        None => true,
                    };
                    if deeper {
                        folders.push(Some(p.to_owned()));
                    }
                } else {
                    // A number, or a string as protobuf's JSON mapping writes an int64 (a server that
                    // serializes its protos as they are).
                    let size = file.get("file_size").and_then(|s| {
                        s.as_u64()
                            .or_else(|| s.as_str().and_then(|s| s.parse().ok()))
                    });
                    out.push((p.to_owned(), size.unwrap_or(0)));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The entries of one folder of a run's artifacts (`None`: the root), every page of
    /// `artifacts/list` (Databricks pages it; MLflow's server answers in one).
    async fn list_folder(
        &self,
        run_id: &str,
        folder: Option<&str>,
    ) -> Result<Vec<Value>, CallError> {
        let mut files = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("run_id", run_id)];
            if let Some(f) = folder {
                query.push(("path", f));
            }
            if let Some(t) = &token {
                query.push(("page_token", t));
            }
            let reply: Value = self.get("artifacts/list", &query).await?;
            if let Some(page) = reply.get("files").and_then(Value::as_array) {
                files.extend(page.iter().cloned());
            }
            let next = reply.get("next_page_token").and_then(Value::as_str);
            match next_page(&token, next.map(String::from))? {
                Some(t) => token = Some(t),
                None => return Ok(files),
            }
        }
    }

    /// Creates registered model `name`, or finds it if it exists.
    pub(crate) async fn ensure_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &[KeyValue<'_>],
    ) -> Result<(), CallError> {
        let mut body = json!({ "name": name, "tags": tags });
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        match self
            .post::<_, Value>("registered-models/create", &body)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates a version of registered model `name` from `source` (`runs:/<run>/<path>`).
    pub(crate) async fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: &str,
        description: Option<&str>,
        tags: &[KeyValue<'_>],
    ) -> Result<ModelVersion, CallError> {
        let mut body = json!({ "name": name, "source": source, "run_id": run_id, "tags": tags });
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        Ok(self
            .post::<_, ModelVersionReply>("model-versions/create", &body)
            .await?
            .model_version)
    }

    /// The version of registered model `name` whose tag `key` is `value`, if there is one.
    pub(crate) async fn model_version_tagged(
        &self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<ModelVersion>, CallError> {
        let quote = |s: &str| s.replace('\'', "\\'");
        let filter = format!(
            "name = '{}' and tags.`{key}` = '{}'",
            quote(name),
            quote(value)
        );
        let reply: SearchVersionsReply = self
            .get("model-versions/search", &[("filter", &filter)])
            .await?;
        Ok(reply.model_versions.into_iter().next())
    }

    /// Every version of registered model `name`.
    pub(crate) async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>, CallError> {
        let filter = format!("name = '{}'", name.replace('\'', "\\'"));
        let reply: SearchVersionsReply = self
            .get(
                "model-versions/search",
                &[("filter", &filter), ("max_results", "1000")],
            )
            .await?;
        Ok(reply.model_versions)
    }

    /// Every registered model, as `registered-models/search` gives them.
    pub(crate) async fn registered_models(&self) -> Result<Vec<Value>, CallError> {
        let mut models = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("max_results", "1000")];
            if let Some(t) = &token {
                query.push(("page_token", t.as_str()));
            }
            let reply: Value = self.get("registered-models/search", &query).await?;
            if let Some(page) = reply.get("registered_models").and_then(Value::as_array) {
                models.extend(page.iter().cloned());
            }
            let next = reply.get("next_page_token").and_then(Value::as_str);
            match next_page(&token, next.map(String::from))? {
                Some(t) => token = Some(t),
                None => return Ok(models),
            }
        }
    }
}

impl Client {
    /// Points alias `alias` of registered model `name` at `version` (moving it if it points
    /// elsewhere).
    pub(crate) async fn set_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: u64,
    ) -> Result<(), CallError> {
        let body = json!({ "name": name, "alias": alias, "version": version.to_string() });
        self.post::<_, Value>("registered-models/alias", &body)
            .await
            .map(drop)
    }

    /// Removes alias `alias` of registered model `name`. MLflow 3.17.2 reads this DELETE's
    /// parameters from a JSON body (query parameters are refused as missing), and answers 200
    /// for an alias that does not exist.
    pub(crate) async fn delete_model_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<(), CallError> {
        let body = json!({ "name": name, "alias": alias }).to_string();
        let request = self
            .http
            .delete(format!(
                "{}/api/2.0/mlflow/registered-models/alias",
                self.base
            ))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        decode::<Value>(&self.send(request).await?).map(drop)
    }

    /// The version of registered model `name` that alias `alias` points at, with its aliases.
    pub(crate) async fn model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion, CallError> {
        let query = [("name", name), ("alias", alias)];
        Ok(self
            .get::<ModelVersionReply>("registered-models/alias", &query)
            .await?
            .model_version)
    }

    /// The aliases of registered model `name` (`model-versions/search` does not give them).
    pub(crate) async fn model_aliases(&self, name: &str) -> Result<Vec<ModelAlias>, CallError> {
        Ok(self
            .get::<RegisteredModelReply>("registered-models/get", &[("name", name)])
            .await?
            .registered_model
            .aliases)
    }

    /// Where the files of version `version` of model `name` are: its source as the server
    /// resolves it (`runs:/<run>/<path>`, or a store's URI).
    pub(crate) async fn model_download_uri(
        &self,
        name: &str,
        version: u64,
    ) -> Result<String, CallError> {
        let version = version.to_string();
        let query = [("name", name), ("version", version.as_str())];
        let reply: DownloadUriReply = self.get("model-versions/get-download-uri", &query).await?;
        if reply.artifact_uri.is_empty() {
            return Err(CallError::Decode(
                "model-versions/get-download-uri gave no artifact_uri".into(),
            ));
        }
        Ok(reply.artifact_uri)
    }

    /// The files below `root` of the server's artifact proxy (the path of an
    /// `mlflow-artifacts:` URI), recursively, as paths relative to `root` with their sizes.
    ///
    /// The server's answer is checked: each name it lists must be one plain path component,
    /// so no listed path can leave `root`; and the walk stops at `MAX_LISTING_DEPTH` folders
    /// deep, so a server that lists folders without end cannot make it loop.
    pub(crate) async fn list_proxy(&self, root: &str) -> Result<Vec<(String, u64)>, CallError> {
        let root = root.trim_matches('/');
        let mut out = Vec::new();
        let mut folders: Vec<(String, usize)> = vec![(String::new(), 0)];
        while let Some((folder, depth)) = folders.pop() {
            let path = if folder.is_empty() {
                root.to_owned()
            } else {
                format!("{root}/{folder}")
            };
            let request = self
                .http
                .get(format!("{}/api/2.0/mlflow-artifacts/artifacts", self.base))
                .query(&[("path", path.as_str())]);
            let listing: ProxyListing = decode(&self.send(request).await?)?;
            for file in listing.files {
                if !is_plain_component(&file.path) {
                    return Err(CallError::Decode(format!(
                        "the artifact proxy listed {:?} in {path:?}, which is not a plain file \
                         name",
                        file.path
                    )));
                }
                let relative = if folder.is_empty() {
                    file.path
                } else {
                    format!("{folder}/{}", file.path)
                };
                if !file.is_dir {
                    out.push((relative, file.file_size.unwrap_or(0)));
                } else if depth + 1 < MAX_LISTING_DEPTH {
                    folders.push((relative, depth + 1));
                } else {
                    return Err(CallError::Decode(format!(
                        "the artifact proxy lists folders more than {MAX_LISTING_DEPTH} deep \
                         below {root:?}"
                    )));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Downloads `path` below `root` of the server's artifact proxy into the file `to`,
    /// streaming it. It fails (as a transport error, so it is retried) when no byte comes for
    /// `REQUEST_TIMEOUT`, and when it takes longer than `REQUEST_TIMEOUT` plus `size` at
    /// `UPLOAD_FLOOR_BYTES_PER_SEC`.
    pub(crate) async fn download_proxy(
        &self,
        root: &str,
        path: &str,
        size: u64,
        to: &std::path::Path,
    ) -> Result<(), CallError> {
        use tokio::io::AsyncWriteExt;
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{}/{}",
            self.base,
            encode_path(root.trim_matches('/')),
            encode_path(path)
        );
        let ceiling = REQUEST_TIMEOUT + Duration::from_secs(size / UPLOAD_FLOOR_BYTES_PER_SEC);
        let request = self.authorize(self.http.get(url).timeout(ceiling));
        let mut response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = response.bytes().await.map_err(describe)?;
            return Err(status_error(status, &body, None));
        }
        let local = |e: std::io::Error| CallError::Status {
            status: 0,
            code: Some("LOCAL_FILE".into()),
            message: format!("cannot write {}: {e}", to.display()),
            retry_after: None,
        };
        let mut out = tokio::fs::File::create(to).await.map_err(local)?;
        loop {
            let chunk = tokio::time::timeout(REQUEST_TIMEOUT, response.chunk())
                .await
                .map_err(|_| {
                    CallError::Transport(format!(
                        "nothing received for {REQUEST_TIMEOUT:?} while downloading {path:?}"
                    ))
                })?
                .map_err(describe)?;
            match chunk {
                Some(bytes) => out.write_all(&bytes).await.map_err(local)?,
                None => break,
            }
        }
        // Synced with the rest of the folder, before it is renamed into place.
        out.flush().await.map_err(local)
    }
}

/// How many folders deep a listing of the artifact proxy may go.
const MAX_LISTING_DEPTH: usize = 64;

/// A 401 answer, its message prefixed with what was refused and followed by the way out.
fn token_refused(answer: CallError, what: &str) -> CallError {
    match answer {
        CallError::Status {
            status,
            code,
            message,
            retry_after,
        } => CallError::Status {
            status,
            code,
            message: format!(
                "{what} ({message}); put a valid token in the file, and `runctx sync` uploads \
                 what is left"
            ),
            retry_after,
        },
        other => other,
    }
}

/// The token of the next page, if there is one. A server that hands back the token it was
/// given would make a paginated read loop forever: that is an unexpected answer.
pub(super) fn next_page(
    previous: &Option<String>,
    next: Option<String>,
) -> Result<Option<String>, CallError> {
    match next.filter(|t| !t.is_empty()) {
        Some(t) if previous.as_ref() == Some(&t) => Err(CallError::Decode(format!(
            "the server gave the same page token twice ({t}); the listing would never end"
        ))),
        next => Ok(next),
    }
}

/// The error of an answer with status `status`: MLflow's `error_code` and `message` when the
/// body has them, else its first line.
fn status_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> CallError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(String::from)
    };
    CallError::Status {
        status,
        code: field("error_code"),
        message: field("message").unwrap_or_else(|| first_line(&String::from_utf8_lossy(body))),
        retry_after,
    }
}

fn decode<R: DeserializeOwned>(body: &[u8]) -> Result<R, CallError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        CallError::Decode(format!(
            "{e}: {}",
            first_line(&String::from_utf8_lossy(body))
        ))
    })
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    crate::error::Shown::new(line).to_string()
}

/// The error of a failed request, without its URL (which is in the caller's message anyway).
fn describe(e: reqwest::Error) -> CallError {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut tls = false;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        tls |= is_tls(s);
        source = s.source();
    }
    if tls {
        CallError::Tls(text)
    } else {
        CallError::Transport(text)
    }
}

/// A rustls error, possibly inside `io::Error`s (the TLS stack wraps it twice), whose `source`
/// skips it.
fn is_tls(mut e: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if e.is::<rustls::Error>() {
            return true;
        }
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => e = inner,
            None => return false,
        }
    }
}

/// Percent-encodes a `/`-separated path, keeping the slashes.
fn encode_path(path: &str) -> String {
    percent_encode(path, b"-._~/")
}

/// Percent-encodes one path segment (`/` included).
pub(crate) fn encode_segment(segment: &str) -> String {
    percent_encode(segment, b"-._~")
}

/// `text` with every byte but ASCII letters, digits and `keep` percent-encoded.
fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// TLS with ring and the platform's roots (or, when `insecure`, any certificate): the same for
/// the tracking server and for artifact stores.
pub(crate) fn tls_config(
    insecure: bool,
) -> std::result::Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    Ok(if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        use rustls_platform_verifier::BuilderVerifierExt;
        builder.with_platform_verifier()?.with_no_client_auth()
    })
}

fn tls_error(uri: &TrackingUri, e: impl fmt::Display) -> Error {
    Error::Config {
        var: "MLFLOW_TRACKING_URI",
        value: uri.base.clone(),
        reason: format!("cannot set up TLS: {e}"),
    }
}

/// Accepts any server certificate: `MLFLOW_TRACKING_INSECURE_TLS=true` only.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One dataset input of `runs/log-inputs`, as MLflow 3.17.2 takes it: the digest cut to the
/// server's 36 characters (the whole SHA-256 is in the profile), the path as a local source
/// (`mlflow.data.filesystem_dataset_source`'s shape), and the context tag the UI shows.
fn dataset_input(name: &str, input: &crate::store::DataInput) -> Value {
    let source = json!({ "uri": format!("file://{}", input.path) }).to_string();
    let profile = json!({ "size": input.size, "sha256": input.digest }).to_string();
    json!({
        "tags": [{ "key": "mlflow.data.context", "value": name }],
        "dataset": {
            "name": name,
            "digest": &input.digest[..input.digest.len().min(36)],
            "source_type": "local",
            "source": source,
            "profile": profile,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlflow::test_support::block_on;

    #[test]
    fn credentials_never_show_their_secret() {
        let c = Credentials::from_lookup(|k| {
            (k == "MLFLOW_TRACKING_TOKEN").then(|| "s3cr3t".to_string())
        })
        .unwrap();
        assert_eq!(format!("{c:?}"), "Bearer(<redacted>)");
        let c = Credentials::from_lookup(|k| match k {
            "MLFLOW_TRACKING_USERNAME" => Some("ann".into()),
            "MLFLOW_TRACKING_PASSWORD" => Some("hunter2".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(format!("{c:?}"), "Basic(ann, <redacted>)");
        let e = Credentials::from_lookup(|k| {
            (k == "MLFLOW_TRACKING_PASSWORD").then(|| "hunter2".into())
        })
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let uri = TrackingUri::parse("X", "http://127.0.0.1:1").unwrap();
        let client = Client::new(&uri, c, false).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }

    #[test]
    fn transient_errors_are_no_answer_429_and_5xx() {
        let status = |s| CallError::Status {
            status: s,
            code: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(CallError::Transport("refused".into()).is_transient());
        assert!(!CallError::Tls("invalid peer certificate".into()).is_transient());
        assert!(status(429).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(401).is_transient());
        // MLflow 3.17.2 on PostgreSQL under 16 clients at once, word for word.
        let pool = "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout \
                    30.00 (Background on this error at: https://sqlalche.me/e/21/3o7r)";
        let bad_request = |message: &str| CallError::Status {
            status: 400,
            code: Some("BAD_REQUEST".into()),
            message: message.into(),
            retry_after: None,
        };
        assert!(bad_request(pool).is_transient());
        assert!(!bad_request("Invalid value 'x' for parameter 'step'").is_transient());
    }

    /// A one-request HTTP server on loopback that reads a request's head, then reads its body
    /// as `read_body` says, then answers 200 if it read it all.
    fn one_request_server(
        read_body: impl FnOnce(&mut std::io::BufReader<std::net::TcpStream>, u64) -> bool
        + Send
        + 'static,
    ) -> (TrackingUri, std::thread::JoinHandle<()>) {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            if read_body(&mut reader, length) {
                let mut stream = stream;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let uri = TrackingUri::parse("X", &format!("http://127.0.0.1:{port}")).unwrap();
        (uri, server)
    }

    fn upload(client: &Client, file: &std::path::Path, idle: Duration) -> Result<(), CallError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let file = UploadFile::open(file).await.unwrap();
            client
                .upload_within("1/r/artifacts", "big.bin", file, idle)
                .await
        })
    }

    #[test]
    fn an_upload_outlasts_the_request_timeout_while_it_progresses() {
        // 8 MiB read by the server at about 4 MiB/s: two seconds, four times the client's
        // whole-request timeout, and never a second without progress.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, vec![7u8; 8 << 20]).unwrap();
        let (uri, server) = one_request_server(|reader, length| {
            let mut buf = vec![0; 64 * 1024];
            let mut left = length;
            while left > 0 {
                std::thread::sleep(Duration::from_millis(15));
                let n = std::io::Read::read(reader, &mut buf[..left.min(65536) as usize]).unwrap();
                assert!(n > 0);
                left -= n as u64;
            }
            true
        });
        let client =
            Client::with_timeout(&uri, Credentials::None, false, Duration::from_millis(500))
                .unwrap();
        let started = std::time::Instant::now();
        upload(&client, &path, Duration::from_secs(1)).unwrap();
        assert!(started.elapsed() > Duration::from_millis(1500));
        server.join().unwrap();
    }

    #[test]
    fn an_upload_the_server_stops_reading_fails_after_the_idle_time() {
        // Larger than the loopback socket buffers, so the client's sending stalls.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, vec![7u8; 48 << 20]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (uri, server) = one_request_server(move |_, _| {
            // Holds the connection open without reading, until the test is done.
            let _ = rx.recv_timeout(Duration::from_secs(30));
            false
        });
        let client = Client::new(&uri, Credentials::None, false).unwrap();
        let started = std::time::Instant::now();
        let e = upload(&client, &path, Duration::from_secs(1)).unwrap_err();
        let took = started.elapsed();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("nothing sent for 1s"), "{e}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        drop(tx);
        server.join().unwrap();
    }

    /// A server on loopback that answers one request with 200 and `body`.
    fn answering(body: &'static str) -> (TrackingUri, std::thread::JoinHandle<()>) {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while line != "\r\n" {
                line.clear();
                reader.read_line(&mut line).unwrap();
            }
            let mut stream = stream;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body.as_bytes()).unwrap();
        });
        let uri = TrackingUri::parse("X", &format!("http://127.0.0.1:{port}")).unwrap();
        (uri, server)
    }

    #[test]
    fn a_proxy_listing_that_names_a_path_outside_its_folder_is_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for name in ["../../etc/passwd", "a/b", "..", ""] {
            let body: &'static str = Box::leak(
                json!({ "files": [{ "path": name, "is_dir": false, "file_size": 1 }] })
                    .to_string()
                    .into_boxed_str(),
            );
            let (uri, server) = answering(body);
            let client = Client::new(&uri, Credentials::None, false).unwrap();
            let e = runtime
                .block_on(client.list_proxy("1/run/artifacts/models/m"))
                .unwrap_err();
            assert!(
                e.to_string().contains("which is not a plain file name"),
                "{name:?}: {e}"
            );
            server.join().unwrap();
        }
        let (uri, server) = answering(r#"{"files": [{"path": "w.bin", "file_size": 3}]}"#);
        let client = Client::new(&uri, Credentials::None, false).unwrap();
        let listed = runtime.block_on(client.list_proxy("1/r")).unwrap();
        assert_eq!(listed, [("w.bin".to_owned(), 3)]);
        server.join().unwrap();
    }

    /// A loopback server that answers `200 {}` to requests sent with `Authorization: Bearer
    /// <valid>` and `401` to the others, on kept-alive connections; it counts the requests.
    fn token_server(valid: &'static str) -> (TrackingUri, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let counted = counted.clone();
                std::thread::spawn(move || {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(30)))
                        .unwrap();
                    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let (mut length, mut authorized) = (0u64, false);
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap();
                            }
                            if lower.starts_with("authorization:") {
                                authorized = line["authorization:".len()..].trim()
                                    == format!("Bearer {valid}");
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length as usize];
                        reader.read_exact(&mut body).unwrap();
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let (status, body) = if authorized {
                            ("200 OK", "{}")
                        } else {
                            (
                                "401 Unauthorized",
                                r#"{"error_code":"UNAUTHENTICATED","message":"bad token"}"#,
                            )
                        };
                        let answer = format!(
                            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let uri = TrackingUri::parse("X", &format!("http://127.0.0.1:{port}")).unwrap();
        (uri, count)
    }

    fn token_file_client(uri: &TrackingUri, token: &str) -> (Client, tempfile::NamedTempFile) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), format!("{token}\n")).unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        let credentials =
            Credentials::from_lookup(|k| (k == TOKEN_FILE_VAR).then(|| path.clone())).unwrap();
        (Client::new(uri, credentials, false).unwrap(), file)
    }

    #[test]
    fn a_refused_token_is_read_again_from_its_file_and_the_request_sent_once_more() {
        use std::sync::atomic::Ordering::SeqCst;
        let (uri, requests) = token_server("renewed");
        let (client, file) = token_file_client(&uri, "expired");
        // The platform rotates the token while the job runs.
        std::fs::write(file.path(), "renewed").unwrap();
        block_on(client.update_run("r", "FINISHED", 1)).unwrap();
        assert_eq!(requests.load(SeqCst), 2, "refused, then sent again");
        block_on(client.update_run("r", "FINISHED", 1)).unwrap();
        assert_eq!(requests.load(SeqCst), 3, "the new token is kept");
    }

    #[test]
    fn a_token_refused_again_is_one_error_naming_the_file_and_never_the_token() {
        use std::sync::atomic::Ordering::SeqCst;
        let (uri, requests) = token_server("the-valid-one");
        let (client, file) = token_file_client(&uri, "stale-token");
        let path = file.path().display().to_string();
        // The file has not changed: nothing to send again.
        let e = block_on(client.update_run("r", "FINISHED", 1)).unwrap_err();
        assert_eq!(requests.load(SeqCst), 1);
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            format!(
                "HTTP 401 UNAUTHENTICATED: the token in RUNCTX_TRACKING_TOKEN_FILE ({path}) was \
                 refused (bad token); put a valid token in the file, and `runctx sync` uploads \
                 what is left"
            )
        );
        // A new token that is refused too: sent once, then the same error.
        std::fs::write(file.path(), "another-stale-token").unwrap();
        let e = block_on(client.update_run("r", "FINISHED", 1)).unwrap_err();
        assert_eq!(requests.load(SeqCst), 3);
        assert!(e.to_string().contains("was refused, read again too"), "{e}");
        // A file that breaks a rule when read again says which.
        std::fs::write(file.path(), "two\nlines").unwrap();
        let e = block_on(client.update_run("r", "FINISHED", 1)).unwrap_err();
        assert!(
            e.to_string().contains(&format!(
                "{TOKEN_FILE_VAR} ({path}) holds no new one: it holds more than one line"
            )),
            "{e}"
        );
        assert!(
            !e.to_string().contains("stale") && !e.to_string().contains("two"),
            "{e}"
        );
    }

    #[test]
    fn an_upload_refused_for_its_token_is_retried_with_the_new_one() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("model.bin");
        std::fs::write(&data, vec![7u8; 100_000]).unwrap();
        let (uri, requests) = token_server("renewed");
        let (client, file) = token_file_client(&uri, "expired");
        std::fs::write(file.path(), "renewed").unwrap();
        // A body streamed from disk cannot be sent twice in one call: the caller's retry does.
        let e = upload(&client, &data, Duration::from_secs(5)).unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(matches!(e, CallError::TokenRenewed(_)), "{e}");
        upload(&client, &data, Duration::from_secs(5)).unwrap();
        assert_eq!(requests.load(SeqCst), 2);
    }

    #[test]
    fn an_environment_token_that_no_header_can_carry_is_an_error() {
        let e = Credentials::from_lookup(|k| {
            (k == "MLFLOW_TRACKING_TOKEN").then(|| "secret\n".to_string())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "MLFLOW_TRACKING_TOKEN=\"<redacted>\" is invalid: it holds more than one line; it \
             must hold the token alone"
        );
    }

    #[test]
    fn paths_are_percent_encoded_but_keep_slashes() {
        assert_eq!(encode_path("a b/c%d.json"), "a%20b/c%25d.json");
        assert_eq!(encode_path("ü"), "%C3%BC");
    }
}
