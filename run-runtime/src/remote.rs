//! What a local run knows about its copies on tracking servers: `remote.json` in the run folder.
//! Written by the shipper and `sync`; read by anything that shows a run.
//!
//! ```json
//! {"targets": {"http://127.0.0.1:5000": {
//!     "run_id": "ead989acb8e841d2ba0cbb4228ba538b", "experiment_id": "2",
//!     "artifact_uri": "mlflow-artifacts:/2/ead989acb8e841d2ba0cbb4228ba538b/artifacts",
//!     "cursor": {"offset": 81920, "index": 0}, "pending_artifacts": ["model/weights.bin"]}}}
//! ```
//!
//! The cursor is the journal position up to which the server has acknowledged everything: the
//! byte offset of a block and the number of its records already shipped. It only moves forward,
//! after the server's answer, so a crash resends at most the batches that were in flight (the
//! server keeps one copy of a metric point sent twice).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::durable::write_atomic;
use crate::error::{Error, Result};
use crate::journal::JournalPosition;

/// The file, in the run folder.
pub(crate) const REMOTE_FILE: &str = "remote.json";

/// Every server a run is shipped to, by base URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RemoteFile {
    /// By tracking server base URL (no credentials).
    #[serde(default)]
    pub(crate) targets: BTreeMap<String, RemoteCopy>,
}

/// A run's copy on one tracking server, as far as the local store knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCopy {
    /// The server's run id, once created.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The server's experiment id.
    #[serde(default)]
    pub experiment_id: Option<String>,
    /// The run's artifact root on the server.
    #[serde(default)]
    pub artifact_uri: Option<String>,
    /// How far the journal is shipped: the server has every record before this position.
    #[serde(default)]
    pub cursor: JournalPosition,
    /// Artifacts the server refused (a proxy's body limit answering 413, a 404), by path among
    /// the run's artifacts. The cursor has moved past their records, so the next `sync`
    /// uploads them from this list; a successful upload takes a path off it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_artifacts: Vec<String>,
}

impl RemoteFile {
    /// Reads `remote.json` of the run folder `dir` (empty if there is none).
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(REMOTE_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Store {
                path,
                reason: format!("unreadable: {e}"),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(RemoteFile::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Updates the state of one target in `remote.json` of `dir`, keeping the others.
    #[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
    pub(crate) fn update(dir: &Path, base: &str, state: &RemoteCopy) -> Result<()> {
        let mut file = RemoteFile::load(dir)?;
        file.targets.insert(base.to_owned(), state.clone());
        let json = serde_json::to_vec_pretty(&file).expect("remote state serializes");
        write_atomic(&dir.join(REMOTE_FILE), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_kept_apart_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RemoteFile::load(dir.path()).unwrap(), RemoteFile::default());
        let a = RemoteCopy {
            run_id: Some("r1".into()),
            cursor: JournalPosition {
                offset: 16,
                index: 3,
            },
            ..Default::default()
        };
        let b = RemoteCopy {
            run_id: Some("r2".into()),
            ..Default::default()
        };
        RemoteFile::update(dir.path(), "http://a", &a).unwrap();
        RemoteFile::update(dir.path(), "http://b", &b).unwrap();
        let file = RemoteFile::load(dir.path()).unwrap();
        assert_eq!(file.targets["http://a"], a);
        assert_eq!(file.targets["http://b"], b);
    }

    #[test]
    fn pending_artifacts_are_optional_both_ways() {
        // A remote.json written before the list existed reads as nothing pending.
        let old = r#"{"targets":{"http://a":{"run_id":"r","cursor":{"offset":8,"index":0}}}}"#;
        let file: RemoteFile = serde_json::from_str(old).unwrap();
        assert!(file.targets["http://a"].pending_artifacts.is_empty());
        // And an empty list is not written, so older readers see the same file as before.
        let json = serde_json::to_string(&file).unwrap();
        assert!(!json.contains("pending_artifacts"), "{json}");
        let mut copy = file.targets["http://a"].clone();
        copy.pending_artifacts.push("model/w.bin".into());
        let json = serde_json::to_string(&copy).unwrap();
        let back: RemoteCopy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, copy);
    }
}
