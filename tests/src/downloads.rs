//! What MLflow's Python client downloads: every artifact of a run, and the files of every
//! version of a registered model, each with its size and SHA-256, in a temporary folder a test
//! can read. A second opinion on what our client uploaded, from the client most users have;
//! it reads the artifact store itself when the server does not serve artifacts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::mlflow::MlflowServer;

/// Files the Python client downloaded, by path relative to what was downloaded.
#[derive(Debug)]
pub struct Downloaded {
    /// Every file, by its `/`-separated path.
    pub files: BTreeMap<String, DownloadedFile>,
    // The files live as long as this value.
    _dir: Arc<tempfile::TempDir>,
}

/// One downloaded file.
#[derive(Debug, Clone, Deserialize)]
pub struct DownloadedFile {
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content, in lowercase hex.
    pub sha256: String,
    /// Where it is on disk (until the [`Downloaded`] it came with is dropped).
    pub path: PathBuf,
}

impl DownloadedFile {
    /// Its content.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap_or_else(|e| panic!("{:?}: {e}", self.path))
    }
}

impl Downloaded {
    /// Each file's path and size, sorted by path.
    pub fn sizes(&self) -> Vec<(String, u64)> {
        self.files
            .iter()
            .map(|(path, file)| (path.clone(), file.size))
            .collect()
    }
}

/// A version of a registered model, as the Python client sees it, and its files.
#[derive(Debug)]
pub struct DownloadedModelVersion {
    /// The version number.
    pub version: i64,
    /// The run it came from.
    pub run_id: String,
    /// Its `source` (`runs:/<run>/<path>` for what our registry creates).
    pub source: String,
    /// Its status (`READY` once created).
    pub status: String,
    /// What `get_model_version_download_uri` answers: where its files are read from.
    pub download_uri: String,
    /// The files `mlflow.artifacts.download_artifacts("models:/<name>/<version>")` gives,
    /// less the `registered_model_meta` file that MLflow writes beside them on the reader's
    /// side (it is not in the artifact store).
    pub files: Downloaded,
}

/// The Python side: files under a root, with sizes and hashes, as JSON.
const FILES: &str = r#"
import hashlib, os
def files(root):
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            out[rel] = {"size": os.path.getsize(path), "sha256": digest.hexdigest(), "path": path}
    return out
"#;

/// What [`MlflowServer::download`] gives: runs' artifacts and models' versions, by run id and
/// model name.
#[derive(Debug, Default)]
pub struct Downloads {
    /// Every artifact of each run asked for.
    pub runs: BTreeMap<String, Downloaded>,
    /// Every version of each model asked for, oldest first.
    pub models: BTreeMap<String, Vec<DownloadedModelVersion>>,
}

/// The Python side of [`MlflowServer::download`]; `args[0]` is
/// `{"runs": [...], "models": [...], "dst": folder}`.
const DOWNLOAD: &str = r#"
ask = json.loads(args[0])
out = {"runs": {}, "models": {}}
for i, run_id in enumerate(ask["runs"]):
    local = client.download_artifacts(run_id, "", os.path.join(ask["dst"], f"run-{i}"))
    out["runs"][run_id] = files(local)
for i, name in enumerate(ask["models"]):
    quoted = name.replace("'", "\\'")
    versions = sorted(client.search_model_versions(f"name = '{quoted}'"), key=lambda v: int(v.version))
    out["models"][name] = []
    for v in versions:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{v.version}",
            dst_path=os.path.join(ask["dst"], f"model-{i}", v.version))
        found = files(local)
        found.pop("registered_model_meta", None)
        out["models"][name].append({
            "version": int(v.version), "run_id": v.run_id, "source": v.source,
            "status": v.status, "files": found,
            "download_uri": client.get_model_version_download_uri(name, v.version)})
print(json.dumps(out))
"#;

#[derive(Deserialize)]
struct Answer {
    runs: BTreeMap<String, BTreeMap<String, DownloadedFile>>,
    models: BTreeMap<String, Vec<Version>>,
}

#[derive(Deserialize)]
struct Version {
    version: i64,
    run_id: String,
    source: String,
    status: String,
    download_uri: String,
    files: BTreeMap<String, DownloadedFile>,
}

impl MlflowServer {
    /// Every artifact of each run of `runs` (`MlflowClient().download_artifacts(run_id, "",
    /// dst)`) and every version of each registered model of `models`, with the files
    /// `mlflow.artifacts.download_artifacts("models:/<name>/<version>")` gives: in one start
    /// of the Python interpreter (importing `mlflow` costs seconds of CPU).
    pub fn download(&self, runs: &[&str], models: &[&str]) -> Downloads {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary folder"));
        let ask = serde_json::json!({"runs": runs, "models": models, "dst": dir.path()});
        let answer = self.python(&format!("{FILES}{DOWNLOAD}"), &[&ask.to_string()]);
        let answer: Answer = serde_json::from_value(answer).expect("runs' and models' files");
        let downloaded = |files| Downloaded {
            files,
            _dir: dir.clone(),
        };
        let version = |v: Version| DownloadedModelVersion {
            version: v.version,
            run_id: v.run_id,
            source: v.source,
            status: v.status,
            download_uri: v.download_uri,
            files: downloaded(v.files),
        };
        Downloads {
            runs: (answer.runs.into_iter())
                .map(|(run, files)| (run, downloaded(files)))
                .collect(),
            models: (answer.models.into_iter())
                .map(|(name, vs)| (name, vs.into_iter().map(version).collect()))
                .collect(),
        }
    }

    /// Every artifact of run `run_id`, as [`MlflowServer::download`] gives it.
    pub fn download_artifacts(&self, run_id: &str) -> Downloaded {
        let mut downloads = self.download(&[run_id], &[]);
        downloads.runs.remove(run_id).expect("the run asked for")
    }

    /// Every version of registered model `name`, oldest first, as [`MlflowServer::download`]
    /// gives them.
    pub fn download_model_versions(&self, name: &str) -> Vec<DownloadedModelVersion> {
        let mut downloads = self.download(&[], &[name]);
        downloads.models.remove(name).expect("the model asked for")
    }
}
