//! Azure ML's artifact service: where an Azure ML run's files go. Azure ML has no MLflow
//! artifact proxy; Microsoft's plugin (azureml-mlflow 1.62) asks the workspace's run history
//! service for a signed URL per file and writes the bytes to Azure Blob Storage itself:
//!
//! 1. `POST <H>/batch/metadata` with `{"paths":[{"path":"<dir>/<file>"}]}`, where `H` is
//!    `https://<host>/history/v1.0<workspace>/experiments/<exp>/runs/<run>/artifacts`, sent
//!    with the tracking token; the answer's `artifactContentInformation[<path>].contentUri` is
//!    a SAS URL, and any entry of `errors` is a refusal;
//! 2. the file to that URL ([`super::sas_blob::AZUREML`]: one put up to 64 MiB, else 4 MiB
//!    blocks); no call ends the upload.
//!
//! Reading is the plugin's too: `GET <H>` lists the run's artifacts (`{"value":[{"path"}],
//! "continuationToken", "nextLink"}`, pages followed through `nextLink`, filtered by folder
//! here), and `GET <H>/contentinfo?path=<path>` gives a SAS `contentUri` to read the bytes from.
//! The listing has no sizes (the plugin reports -1), and names a file as soon as
//! `batch/metadata` has, before its bytes are written: each size is the blob's own, from a
//! `HEAD` of its `contentUri`, and a file without a blob is not listed.
//!
//! A run's artifact URI names the experiment and run: `azureml://experiments/<exp>/runs/<run>/
//! artifacts` (a job's) or `azureml://<host>/mlflow/v2.0<workspace>/experiments/<exp>/runs/
//! <run>/artifacts` (a run made elsewhere); the host and workspace are the tracking URI's.

use std::path::Path;

use serde_json::{Value, json};

use super::artifact_store::UploadError;
use super::client::{CallError, Client, encode_segment, next_page};
use crate::config::Workspace;

/// The artifacts of one Azure ML run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunArtifacts {
    /// `H`: the run's artifacts in the run history service.
    history: String,
    /// The folder below the run's artifacts the URI names (usually none), ending in `/`.
    prefix: String,
}

impl RunArtifacts {
    /// The run artifacts `artifact_uri` (an `azureml://` URI) names, in `workspace`.
    pub(crate) fn parse(artifact_uri: &str, workspace: &Workspace) -> Result<Self, String> {
        let rest = artifact_uri
            .split_once("://")
            .map_or(artifact_uri, |(_, r)| r);
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let at = parts.iter().position(|p| *p == "experiments");
        let found = at.and_then(|at| {
            let (experiment, runs, run, artifacts) = (
                parts.get(at + 1)?,
                parts.get(at + 2)?,
                parts.get(at + 3)?,
                parts.get(at + 4)?,
            );
            (*runs == "runs" && *artifacts == "artifacts")
                .then(|| (*experiment, *run, &parts[at + 5..]))
        });
        let Some((experiment, run, below)) = found else {
            return Err(
                "an Azure ML run's artifact URI is azureml://experiments/<experiment>/runs/<run>/\
                 artifacts (or the same after the workspace's host and path)"
                    .into(),
            );
        };
        let history = format!(
            "{}/history/v1.0{}/experiments/{}/runs/{}/artifacts",
            workspace.host,
            workspace.path,
            encode_segment(experiment),
            encode_segment(run)
        );
        let prefix = below.iter().map(|p| format!("{p}/")).collect();
        Ok(RunArtifacts { history, prefix })
    }
}

impl Client {
    /// Uploads the file at `file` as artifact `path` of `run` through the artifact service.
    pub(crate) async fn azureml_upload(
        &self,
        run: &RunArtifacts,
        path: &str,
        file: &Path,
    ) -> Result<(), UploadError> {
        let path = format!("{}{path}", run.prefix);
        let uri = self
            .content_uri(run, &path)
            .await
            .map_err(UploadError::Store)?;
        let plan = &super::sas_blob::AZUREML;
        super::sas_blob::put_file(
            &self.http,
            &uri,
            &[],
            file,
            plan,
            &super::sas_blob::no_renewal,
        )
        .await
    }

    /// The artifacts of `run` below `folder` (of the URI's folder; `""`: all), as paths
    /// relative to the URI's folder with the sizes of their blobs.
    pub(crate) async fn azureml_list(
        &self,
        run: &RunArtifacts,
        folder: &str,
    ) -> Result<Vec<(String, u64)>, CallError> {
        let folder = folder.trim_matches('/');
        let below = match folder {
            "" => run.prefix.clone(),
            f => format!("{}{f}/", run.prefix),
        };
        let mut out = Vec::new();
        for path in self.azureml_paths(run).await? {
            let Some(relative) = path.strip_prefix(&run.prefix) else {
                continue;
            };
            if !path.starts_with(&below) {
                continue;
            }
            let Some(uri) = self.read_uri(run, &path).await? else {
                continue;
            };
            if let Some(size) = super::sas_blob::object_size(&self.http, &uri, &[]).await? {
                out.push((relative.to_owned(), size));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Downloads artifact `path` (of the URI's folder) of `run`, `size` bytes, into `to`.
    pub(crate) async fn azureml_download(
        &self,
        run: &RunArtifacts,
        path: &str,
        size: u64,
        to: &Path,
    ) -> Result<(), CallError> {
        let full = format!("{}{path}", run.prefix);
        let uri = self
            .read_uri(run, &full)
            .await?
            .ok_or_else(|| CallError::Status {
                status: 404,
                code: Some("RESOURCE_DOES_NOT_EXIST".into()),
                message: format!("Azure ML's artifact service has no artifact {full:?}"),
                retry_after: None,
            })?;
        let version: Vec<(String, String)> = super::sas_blob::AZUREML
            .version
            .map(|v| ("x-ms-version".to_owned(), v.to_owned()))
            .into_iter()
            .collect();
        super::sas_blob::get_file(&self.http, &uri, &version, size, to).await
    }

    /// Every artifact path of `run` (relative to the run's artifacts), all pages of `GET <H>`.
    /// A `nextLink` goes to the service's own host only (it carries the token), and a page
    /// token given twice is an error rather than a loop.
    async fn azureml_paths(&self, run: &RunArtifacts) -> Result<Vec<String>, CallError> {
        let home = origin(&run.history);
        let mut paths = Vec::new();
        // The next request: a nextLink as given, or H with the continuation token.
        let (mut url, mut token): (String, Option<String>) = (run.history.clone(), None);
        loop {
            let mut request = self.http.get(&url);
            if url == run.history
                && let Some(t) = &token
            {
                request = request.query(&[("continuationToken", t)]);
            }
            let answer = self.send(request).await?;
            let page: Listing = serde_json::from_slice(&answer)
                .map_err(|e| CallError::Decode(format!("the artifact listing: {e}")))?;
            paths.extend(page.value.into_iter().map(|a| a.path));
            let link = page.next_link.filter(|l| !l.is_empty());
            match next_page(&token, link.clone().or(page.continuation_token))? {
                None => return Ok(paths),
                Some(next) => {
                    url = match link {
                        None => run.history.clone(),
                        Some(link) if origin(&link) == home => link,
                        Some(link) => {
                            return Err(CallError::Decode(format!(
                                "the artifact listing's nextLink {link:?} leaves the service's \
                                 host; it is not followed"
                            )));
                        }
                    };
                    token = Some(next);
                }
            }
        }
    }

    /// The SAS URL to read artifact `path` (of the run's artifacts) from (`contentinfo`);
    /// `None` when the service has no such artifact.
    async fn read_uri(&self, run: &RunArtifacts, path: &str) -> Result<Option<String>, CallError> {
        let request = self
            .http
            .get(format!("{}/contentinfo", run.history))
            .query(&[("path", path)]);
        let answer = match self.send(request).await {
            Err(CallError::Status { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        let info: Value = serde_json::from_slice(&answer)
            .map_err(|e| CallError::Decode(format!("contentinfo: {e}")))?;
        info.get("contentUri")
            .and_then(Value::as_str)
            .map(|u| Some(u.to_owned()))
            .ok_or_else(|| {
                CallError::Decode(format!("contentinfo gave no contentUri for {path:?}"))
            })
    }

    /// The SAS URL to write artifact `path` of `run` to (`batch/metadata`).
    async fn content_uri(&self, run: &RunArtifacts, path: &str) -> Result<String, CallError> {
        let body = json!({ "paths": [{ "path": path }] }).to_string();
        let request = self
            .http
            .post(format!("{}/batch/metadata", run.history))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let answer = self.send(request).await?;
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|e| CallError::Decode(format!("batch/metadata: {e}")))?;
        if let Some(error) = answer.get("errors").and_then(|e| e.get(path)) {
            let error = error.get("error").unwrap_or(error);
            let said = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or_default();
            return Err(CallError::Status {
                status: 400,
                code: Some(said("code").to_owned()).filter(|c| !c.is_empty()),
                message: format!(
                    "Azure ML's artifact service refused {path:?}: {}",
                    crate::error::Shown::new(said("message"))
                ),
                retry_after: None,
            });
        }
        answer
            .get("artifactContentInformation")
            .and_then(|i| i.get(path))
            .and_then(|i| i.get("contentUri"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                CallError::Decode(format!(
                    "batch/metadata gave no artifactContentInformation.contentUri for {path:?}"
                ))
            })
    }
}

/// One page of `GET <H>`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    #[serde(default)]
    value: Vec<Listed>,
    #[serde(default)]
    continuation_token: Option<String>,
    #[serde(default)]
    next_link: Option<String>,
}

#[derive(serde::Deserialize)]
struct Listed {
    path: String,
}

/// `scheme://host:port` of `url`, lowercased; `""` for no URL.
fn origin(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(|_| String::new(), |u| u.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Workspace {
        Workspace {
            host: "https://eastus2.api.azureml.ms".into(),
            path: "/subscriptions/s/resourceGroups/g/providers/\
                   Microsoft.MachineLearningServices/workspaces/w"
                .into(),
        }
    }

    #[test]
    fn a_jobs_and_a_remote_runs_artifact_uris_name_the_history_service() {
        let h = "https://eastus2.api.azureml.ms/history/v1.0/subscriptions/s/resourceGroups/g/\
                 providers/Microsoft.MachineLearningServices/workspaces/w/experiments/";
        for (uri, want, prefix) in [
            (
                "azureml://experiments/iris train/runs/job_1/artifacts",
                format!("{h}iris%20train/runs/job_1/artifacts"),
                "",
            ),
            (
                "azureml://eastus2.api.azureml.ms/mlflow/v2.0/subscriptions/s/resourceGroups/g/\
                 providers/Microsoft.MachineLearningServices/workspaces/w/experiments/0b5e/runs/\
                 r1/artifacts/outputs",
                format!("{h}0b5e/runs/r1/artifacts"),
                "outputs/",
            ),
        ] {
            let run = RunArtifacts::parse(uri, &workspace()).unwrap();
            assert_eq!(run.history, want, "{uri}");
            assert_eq!(run.prefix, prefix, "{uri}");
        }
        let e = RunArtifacts::parse("azureml://datastores/d/paths/x", &workspace()).unwrap_err();
        assert!(
            e.contains("azureml://experiments/<experiment>/runs/<run>/artifacts"),
            "{e}"
        );
    }
}
