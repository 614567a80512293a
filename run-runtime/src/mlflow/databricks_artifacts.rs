//! Databricks' artifact service: where a Databricks run's files go. Its runs keep artifacts in
//! `dbfs:/databricks/mlflow-tracking/<experiment>/<run>/artifacts`, which no client writes
//! directly; as MLflow's `DatabricksArtifactRepository` (3.17) does, this client asks the
//! workspace for a signed URL per file and writes the bytes there:
//!
//! 1. `POST <host>/api/2.0/mlflow/artifacts/credentials-for-write` with
//!    `{"run_id": <run>, "path": [<path>]}`, sent with the workspace token; the answer's
//!    `credential_infos` has, per path, a `signed_uri`, its `type` and `headers` to send;
//! 2. the file to that URL: for `AZURE_SAS_URI` as Azure blocks ([`super::sas_blob::DATABRICKS`]),
//!    for `AZURE_ADLS_GEN2_SAS_URI` as ADLS Gen2 appends of the same size, for
//!    `AWS_PRESIGNED_URL` and `GCP_SIGNED_URL` in one `PUT` with the headers given (a large S3
//!    file in parts: [`super::databricks_multipart`]); an Azure
//!    request refused with 403 (the URL expired during a long upload) asks for a new URL.
//!
//! Reading is the same repository's: `GET <host>/api/2.0/mlflow/artifacts/list` (MLflow's own
//! listing, with sizes, pages followed), and for each file `POST
//! <host>/api/2.0/mlflow/artifacts/credentials-for-read` with the same body, whose signed URL is
//! read with one `GET` and the headers given.

use std::path::Path;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use super::artifact_store::UploadError;
use super::client::{CallError, Client};
use super::databricks_multipart::Multipart;

/// The artifacts of one Databricks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbfsRun {
    run_id: String,
    /// The folder below the run's artifacts the URI names (usually none), ending in `/`.
    prefix: String,
}

impl DbfsRun {
    /// The run's id.
    pub(crate) fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run `artifact_uri` (`dbfs:/databricks/mlflow-tracking/<exp>/<run>/artifacts[/..]`)
    /// names.
    pub(crate) fn parse(artifact_uri: &str) -> Result<Self, String> {
        let path = artifact_uri
            .strip_prefix("dbfs:")
            .map(|p| match p.strip_prefix("//") {
                // `dbfs://<profile>@databricks/<path>`: the profile is the tracking URI's.
                Some(rest) => rest.split_once('/').map_or("", |(_, p)| p),
                None => p,
            })
            .unwrap_or_default();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [
                "databricks",
                "mlflow-tracking",
                _experiment,
                run,
                "artifacts",
                below @ ..,
            ] if run.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(DbfsRun {
                run_id: (*run).to_owned(),
                prefix: below.iter().map(|p| format!("{p}/")).collect(),
            }),
            _ => Err("a Databricks run's artifact URI is \
                      dbfs:/databricks/mlflow-tracking/<experiment>/<run>/artifacts"
                .into()),
        }
    }
}

/// `credentials-for-write`'s answer.
#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    credential_infos: Vec<CredentialInfo>,
}

#[derive(Deserialize)]
struct CredentialInfo {
    #[serde(default)]
    path: String,
    signed_uri: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    headers: Vec<Header>,
}

impl CredentialInfo {
    /// The headers to send with the signed URL.
    fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect()
    }
}

/// Which signed URL: `credentials-for-read` or `credentials-for-write`.
#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}

/// The error of a credential type this client does not use for `path`.
fn unknown_type(kind: &str, path: &str) -> CallError {
    CallError::Status {
        status: 0,
        code: Some(super::artifact_store::UNUSABLE.into()),
        message: format!(
            "Databricks handed out a {kind:?} credential for {path:?}; this client uses \
             AZURE_SAS_URI, AZURE_ADLS_GEN2_SAS_URI, AWS_PRESIGNED_URL and GCP_SIGNED_URL ones"
        ),
        retry_after: None,
    }
}

#[derive(Deserialize)]
struct Header {
    name: String,
    #[serde(default)]
    value: String,
}

impl Client {
    /// Uploads the file at `file` as artifact `path` of `run` through a signed URL.
    pub(crate) async fn databricks_upload(
        &self,
        run: &DbfsRun,
        path: &str,
        file: &Path,
    ) -> Result<(), UploadError> {
        let path = format!("{}{path}", run.prefix);
        let info = self
            .credential(Access::Write, run, &path)
            .await
            .map_err(UploadError::Store)?;
        let headers = info.header_pairs();
        // A URL that expires during a long upload: storage answers 403, and a new one is asked
        // for the same path (MLflow's client does so for Azure, not for presigned URLs).
        let renew = || -> BoxFuture<'_, Result<Option<String>, CallError>> {
            Box::pin(async {
                let fresh = self.credential(Access::Write, run, &path).await?;
                Ok(Some(fresh.signed_uri))
            })
        };
        let plan = &super::sas_blob::DATABRICKS;
        match info.kind.as_str() {
            "AZURE_SAS_URI" => {
                super::sas_blob::put_file(
                    &self.http,
                    &info.signed_uri,
                    &headers,
                    file,
                    plan,
                    &renew,
                )
                .await
            }
            "AZURE_ADLS_GEN2_SAS_URI" => {
                let url = &info.signed_uri;
                super::sas_blob::put_adls_file(&self.http, url, &headers, file, plan, &renew).await
            }
            "AWS_PRESIGNED_URL" => {
                let multipart = Multipart::from_lookup(|k| std::env::var(k).ok()).map_err(|m| {
                    UploadError::Store(CallError::Status {
                        status: 0,
                        code: Some(super::artifact_store::UNUSABLE.into()),
                        message: m,
                        retry_after: None,
                    })
                })?;
                let size = std::fs::metadata(file).map_err(UploadError::Gone)?.len();
                if size > multipart.minimum {
                    return self
                        .databricks_multipart(run, &path, file, size, multipart)
                        .await;
                }
                self.signed_put(&info.signed_uri, &headers, file).await
            }
            "GCP_SIGNED_URL" => self.signed_put(&info.signed_uri, &headers, file).await,
            other => Err(UploadError::Store(unknown_type(other, &path))),
        }
    }

    /// The artifacts of `run` below `folder` (of the URI's folder; `""`: all), as paths
    /// relative to the URI's folder with their sizes, as `artifacts/list` gives them.
    pub(crate) async fn databricks_list(
        &self,
        run: &DbfsRun,
        folder: &str,
    ) -> Result<Vec<(String, u64)>, CallError> {
        let below = format!("{}{}", run.prefix, folder.trim_matches('/'));
        let below = below.trim_end_matches('/');
        let listed = self
            .list_artifacts(&run.run_id, (!below.is_empty()).then_some(below))
            .await?;
        Ok(listed
            .into_iter()
            .filter_map(|(path, size)| Some((path.strip_prefix(&run.prefix)?.to_owned(), size)))
            .collect())
    }

    /// Downloads artifact `path` (of the URI's folder) of `run`, `size` bytes, into `to`,
    /// through the signed URL of `credentials-for-read`.
    pub(crate) async fn databricks_download(
        &self,
        run: &DbfsRun,
        path: &str,
        size: u64,
        to: &Path,
    ) -> Result<(), CallError> {
        let path = format!("{}{path}", run.prefix);
        let info = self.credential(Access::Read, run, &path).await?;
        match info.kind.as_str() {
            "AZURE_SAS_URI"
            | "AZURE_ADLS_GEN2_SAS_URI"
            | "AWS_PRESIGNED_URL"
            | "GCP_SIGNED_URL" => {
                super::sas_blob::get_file(
                    &self.http,
                    &info.signed_uri,
                    &info.header_pairs(),
                    size,
                    to,
                )
                .await
            }
            other => Err(unknown_type(other, &path)),
        }
    }

    /// The signed URL to `access` artifact `path` (of the run's artifacts) of `run`.
    async fn credential(
        &self,
        access: Access,
        run: &DbfsRun,
        path: &str,
    ) -> Result<CredentialInfo, CallError> {
        let endpoint = match access {
            Access::Read => "credentials-for-read",
            Access::Write => "credentials-for-write",
        };
        let body = json!({ "run_id": run.run_id, "path": [path] }).to_string();
        let request = self
            .http
            .post(format!(
                "{}/api/2.0/mlflow/artifacts/{endpoint}",
                self.base()
            ))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let answer = self.send(request).await?;
        let answer: Credentials = serde_json::from_slice(&answer)
            .map_err(|e| CallError::Decode(format!("{endpoint}: {e}")))?;
        answer
            .credential_infos
            .into_iter()
            .find(|c| c.path.is_empty() || c.path == path)
            .ok_or_else(|| CallError::Decode(format!("{endpoint} gave no signed URL for {path:?}")))
    }

    /// One `PUT` of the file to a signed URL with `headers`, streamed from disk.
    async fn signed_put(
        &self,
        url: &str,
        headers: &[(String, String)],
        file: &Path,
    ) -> Result<(), UploadError> {
        let url = super::sas_blob::check_signed_url(url).map_err(UploadError::Store)?;
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(UploadError::Gone)?;
        let size = opened.metadata().await.map_err(UploadError::Gone)?.len();
        let mut request = self
            .http
            .put(url)
            .timeout(std::time::Duration::from_secs(60 + size / (16 * 1024)))
            .header(reqwest::header::CONTENT_LENGTH, size);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .body(reqwest::Body::from(opened))
            .send()
            .await
            .map_err(|e| {
                UploadError::Store(CallError::Transport(format!(
                    "signed URL: {}",
                    e.without_url()
                )))
            })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        Err(UploadError::Store(CallError::Status {
            status,
            code: None,
            message: format!(
                "the signed URL's store answered {status}{}",
                if status == 403 {
                    " (the URL expired, or is not for this file)"
                } else {
                    ""
                }
            ),
            retry_after: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dbfs_artifact_uri_names_the_run() {
        let run =
            DbfsRun::parse("dbfs:/databricks/mlflow-tracking/1234/0a1b2c3d/artifacts").unwrap();
        assert_eq!((run.run_id.as_str(), run.prefix.as_str()), ("0a1b2c3d", ""));
        let run = DbfsRun::parse(
            "dbfs://prod@databricks/databricks/mlflow-tracking/1/abc/artifacts/out/x",
        )
        .unwrap();
        assert_eq!(
            (run.run_id.as_str(), run.prefix.as_str()),
            ("abc", "out/x/")
        );
        for bad in [
            "dbfs:/tmp/x",
            "dbfs:/databricks/mlflow-tracking/1/a b/artifacts",
            "s3://b",
        ] {
            assert!(DbfsRun::parse(bad).is_err(), "{bad}");
        }
    }
}
