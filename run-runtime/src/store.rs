//! The local store: one folder per run, readable by any process, during or after the run.
//!
//! ```text
//! $RUNCTX_HOME (default ./runs)/
//!   <run id>/
//!     run.json      who, what and when: written once when the run starts
//!     journal.rj    every record, in order (docs/journal-format.md)
//!     status.json   the end status, written after it is in the journal (a cache for listing)
//!     artifacts/    tables, images, uploaded files
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Status};
use crate::journal::{ArtifactKind, Damage, Event, Record, read_journal};
use crate::source::Source;

/// The file holding a run's description.
pub const RUN_FILE: &str = "run.json";
/// The run's journal.
pub const JOURNAL_FILE: &str = "journal.rj";
/// The end status, once the run has ended.
pub const STATUS_FILE: &str = "status.json";
/// The folder of the run's artifacts.
pub const ARTIFACTS_DIR: &str = "artifacts";

/// Version of `run.json` written by this build.
const META_FORMAT: u32 = 1;

/// A store of runs in a folder.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use run_runtime::Store;
/// let store = Store::new(dir.path());
/// let run = store.start_run("Default", "example")?;
/// run.log("loss", 0.25)?;
/// run.complete()?;
/// let data = store.read(run.id())?;
/// assert_eq!(data.metrics["loss"][0].value, 0.25);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// What `run.json` holds: fixed when the run starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Version of this file's layout.
    pub format: u32,
    /// The run id: `OfflineRun_<uuid>` offline.
    pub id: String,
    /// The run's display name.
    pub name: String,
    /// The experiment it belongs to.
    pub experiment: String,
    /// The parent run's id, for a child run.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Milliseconds since the epoch.
    pub start_time: i64,
    /// The program that created it.
    #[serde(default)]
    pub source: Source,
}

impl RunMeta {
    /// `true` when the process that started the run is known to be gone: it ran on this host,
    /// and no process with its id runs now, or the one that does started after the run (its id
    /// was reused). A run that never ended and whose process is gone was killed or crashed: it
    /// will never end by itself.
    ///
    /// `false` when the process runs, and whenever it cannot be told: another host, an unknown
    /// host, or a system without process ids to check.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let store = run_runtime::Store::new(dir.path());
    /// let run = store.start_run("Default", "alive")?;
    /// assert!(!store.meta(run.id())?.process_gone()); // this process started it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn process_gone(&self) -> bool {
        let here = this_host();
        match (&self.source.host, here) {
            (Some(host), Some(here)) if host == here => {
                process::gone(self.source.pid, self.start_time)
            }
            _ => false,
        }
    }
}

/// The name of this host, as run.json records it.
fn this_host() -> Option<&'static str> {
    static HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| Source::current().host).as_deref()
}

/// Whether a process of this host is gone.
mod process {
    /// `true` when no process `pid` runs, it is a zombie, or it started after `since` (ms since
    /// the epoch), which means the id was reused.
    #[cfg(unix)]
    pub fn gone(pid: u32, since: i64) -> bool {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        !alive || started_after(pid, since)
    }

    #[cfg(not(unix))]
    pub fn gone(_pid: u32, _since: i64) -> bool {
        false
    }

    /// Reads the start time of `pid` from /proc (Linux); `false` where it cannot.
    #[cfg(unix)]
    fn started_after(pid: libc::pid_t, since: i64) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            return true;
        }
        // Field 22 of the file, the 20th after the name: start time in clock ticks since boot.
        let Some(ticks) = fields.get(19).and_then(|t| t.parse::<i64>().ok()) else {
            return false;
        };
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<i64>().ok())
        });
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let (Some(boot), true) = (boot, hz > 0) else {
            return false;
        };
        let started_ms = boot * 1000 + ticks * 1000 / hz as i64;
        // btime is rounded to the second: allow for it.
        started_ms > since + 2000
    }
}

/// The end of a run, as `status.json` caches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnd {
    /// FINISHED, FAILED or KILLED.
    pub status: Status,
    /// Milliseconds since the epoch.
    pub time: i64,
    /// The error of a failed run.
    #[serde(default)]
    pub error: Option<String>,
}

/// One point of a metric series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The value (NaN and infinities included).
    #[serde(with = "crate::store::float")]
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The step.
    pub step: i64,
}

/// An artifact of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// What it holds.
    pub kind: ArtifactKind,
    /// Its size in bytes when it was last written.
    pub size: u64,
}

/// Everything recorded about a run, read back from its journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunData {
    /// Its description.
    pub meta: RunMeta,
    /// RUNNING until it has ended (also when its process died before ending it).
    pub status: Status,
    /// When it ended.
    pub end_time: Option<i64>,
    /// The error of a failed run.
    pub error: Option<String>,
    /// Metric series by key, each in logging order.
    pub metrics: BTreeMap<String, Vec<MetricPoint>>,
    /// Tags, the last value of each.
    pub tags: BTreeMap<String, String>,
    /// Properties.
    pub properties: BTreeMap<String, String>,
    /// Artifacts by path inside `artifacts/`.
    pub artifacts: BTreeMap<String, ArtifactInfo>,
    /// Parts of the journal that could not be read (a torn tail after a crash).
    pub damage: Vec<Damage>,
}

impl RunData {
    fn new(meta: RunMeta) -> Self {
        RunData {
            meta,
            status: Status::Running,
            end_time: None,
            error: None,
            metrics: BTreeMap::new(),
            tags: BTreeMap::new(),
            properties: BTreeMap::new(),
            artifacts: BTreeMap::new(),
            damage: Vec::new(),
        }
    }

    fn apply(&mut self, record: Record<'_>) {
        match record {
            Record::Metric {
                key,
                value,
                timestamp,
                step,
            } => {
                let point = MetricPoint {
                    value,
                    timestamp,
                    step,
                };
                match self.metrics.get_mut(key) {
                    Some(series) => series.push(point),
                    None => {
                        self.metrics.insert(key.to_owned(), vec![point]);
                    }
                }
            }
            Record::Tag { key, value } => {
                self.tags.insert(key.to_owned(), value.to_owned());
            }
            Record::Property { key, value } => {
                // The first value stands: a conflicting one never reaches the journal, but
                // two processes could each have written one.
                self.properties
                    .entry(key.to_owned())
                    .or_insert_with(|| value.to_owned());
            }
            Record::Event(Event::Status {
                status,
                time,
                error,
            }) => {
                if self.end_time.is_none() {
                    self.status = status;
                    self.end_time = Some(time);
                    self.error = error;
                }
            }
            Record::Event(Event::Artifact { path, kind, size }) => {
                self.artifacts.insert(path, ArtifactInfo { kind, size });
            }
        }
    }

    /// The last value of each metric.
    pub fn last_values(&self) -> BTreeMap<&str, f64> {
        self.metrics
            .iter()
            .filter_map(|(k, s)| s.last().map(|p| (k.as_str(), p.value)))
            .collect()
    }
}

/// A run as listed: its description and how it ended, without reading its journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// Its description.
    pub meta: RunMeta,
    /// How it ended, or `None` while it runs (or if its process died).
    pub end: Option<RunEnd>,
}

impl RunSummary {
    /// RUNNING until the run has ended.
    pub fn status(&self) -> Status {
        self.end.as_ref().map_or(Status::Running, |e| e.status)
    }
}

impl Store {
    /// The store in `root` (created when the first run starts).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of run `id`.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The ids of all runs, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &self.root, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(RUN_FILE).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The description of run `id`.
    pub fn meta(&self, id: &str) -> Result<RunMeta> {
        let path = self.run_dir(id).join(RUN_FILE);
        let text = fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                self.not_found(id)
            } else {
                Error::io("read", &path, e)
            }
        })?;
        let meta: RunMeta = serde_json::from_slice(&text).map_err(|e| Error::Store {
            path: path.clone(),
            reason: format!("unreadable: {e}"),
        })?;
        if meta.format > META_FORMAT {
            return Err(Error::Store {
                path,
                reason: format!(
                    "written by a newer run-runtime (format {}); upgrade to read it",
                    meta.format
                ),
            });
        }
        Ok(meta)
    }

    /// How run `id` ended, if it has.
    pub fn end(&self, id: &str) -> Result<Option<RunEnd>> {
        let path = self.run_dir(id).join(STATUS_FILE);
        match fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text)
                .map(Some)
                .map_err(|e| Error::Store {
                    path,
                    reason: format!("unreadable: {e}"),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Every run, oldest first, without reading journals.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        let mut runs = Vec::new();
        for id in self.ids()? {
            let meta = self.meta(&id)?;
            let end = self.end(&id)?;
            runs.push(RunSummary { meta, end });
        }
        runs.sort_by(|a, b| (a.meta.start_time, &a.meta.id).cmp(&(b.meta.start_time, &b.meta.id)));
        Ok(runs)
    }

    /// Everything recorded about run `id`, read from its journal.
    pub fn read(&self, id: &str) -> Result<RunData> {
        let meta = self.meta(id)?;
        let mut data = RunData::new(meta);
        let journal = self.run_dir(id).join(JOURNAL_FILE);
        let report = read_journal(&journal, |_, record| data.apply(record))?;
        data.damage = report.damage;
        Ok(data)
    }

    /// The ids of the children of run `id`.
    pub fn children(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .runs()?
            .into_iter()
            .filter(|r| r.meta.parent_id.as_deref() == Some(id))
            .map(|r| r.meta.id)
            .collect())
    }

    /// Resolves a run id, or a unique prefix of one.
    pub fn resolve(&self, id: &str) -> Result<String> {
        if self.run_dir(id).join(RUN_FILE).is_file() {
            return Ok(id.to_owned());
        }
        let ids = self.ids()?;
        let matching: Vec<&String> = ids.iter().filter(|i| i.starts_with(id)).collect();
        match matching.as_slice() {
            [one] if !id.is_empty() => Ok((*one).clone()),
            _ => Err(self.not_found(id)),
        }
    }

    fn not_found(&self, id: &str) -> Error {
        let ids = self.ids().unwrap_or_default();
        Error::RunNotFound {
            id: id.to_owned(),
            store: self.root.clone(),
            similar: closest(id, &ids),
        }
    }

    pub(crate) fn create_dir(&self, meta: &RunMeta) -> Result<PathBuf> {
        let dir = self.run_dir(&meta.id);
        fs::create_dir_all(dir.join(ARTIFACTS_DIR)).map_err(|e| Error::io("create", &dir, e))?;
        let json = serde_json::to_vec_pretty(meta).expect("run meta serializes");
        write_atomic(&dir.join(RUN_FILE), &json)?;
        Ok(dir)
    }

    pub(crate) fn write_end(&self, id: &str, end: &RunEnd) -> Result<()> {
        let json = serde_json::to_vec_pretty(end).expect("run end serializes");
        write_atomic(&self.run_dir(id).join(STATUS_FILE), &json)
    }

    pub(crate) fn new_meta(
        id: String,
        name: String,
        experiment: String,
        parent_id: Option<String>,
    ) -> RunMeta {
        RunMeta {
            format: META_FORMAT,
            id,
            name,
            experiment,
            parent_id,
            start_time: crate::clock::now_ms(),
            source: Source::current(),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader sees the old
/// content or the new, never half of it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("rename", path, e)
    })
}

/// Up to three of `candidates` closest to `wanted`, for "did you mean" suggestions.
pub fn closest(wanted: &str, candidates: &[String]) -> Vec<String> {
    let limit = (wanted.chars().count() / 5).max(2);
    let mut scored: Vec<(usize, &String)> = candidates
        .iter()
        .map(|c| {
            let prefix = c.starts_with(wanted) || wanted.starts_with(c.as_str());
            (if prefix { 0 } else { levenshtein(wanted, c) }, c)
        })
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c.clone()).collect()
}

/// Edit distance in characters (from `run-rules`, shared with the macros' suggestions).
pub use run_rules::levenshtein;

/// Serde for metric values that keeps NaN and the infinities, which JSON numbers cannot hold:
/// they are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, as on the wire.
pub mod float {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a finite value as a number, others as a string.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match special(*v) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_f64(*v),
        }
    }

    /// Reads a number, or one of the three strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Number(f64),
            Text(String),
        }
        match Wire::deserialize(d)? {
            Wire::Number(v) => Ok(v),
            Wire::Text(t) => parse(&t)
                .ok_or_else(|| serde::de::Error::custom(format!("not a metric value: {t:?}"))),
        }
    }

    /// The wire string of a non-finite value.
    pub fn special(v: f64) -> Option<&'static str> {
        if v.is_nan() {
            Some("NaN")
        } else if v == f64::INFINITY {
            Some("Infinity")
        } else if v == f64::NEG_INFINITY {
            Some("-Infinity")
        } else {
            None
        }
    }

    /// Parses a wire string.
    pub fn parse(t: &str) -> Option<f64> {
        match t {
            "NaN" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_ids() {
        let ids: Vec<String> = ["OfflineRun_abc", "OfflineRun_abd", "OfflineRun_xyz"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            closest("OfflineRun_abx", &ids),
            vec!["OfflineRun_abc", "OfflineRun_abd"]
        );
        assert_eq!(closest("OfflineRun_", &ids).len(), 3);
        assert!(closest("something else entirely", &ids).is_empty());
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn metric_points_keep_non_finite_values_in_json() {
        let points = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5].map(|value| MetricPoint {
            value,
            timestamp: 1,
            step: 2,
        });
        let json = serde_json::to_string(&points).unwrap();
        assert!(
            json.contains("\"NaN\"") && json.contains("\"-Infinity\""),
            "{json}"
        );
        let back: Vec<MetricPoint> = serde_json::from_str(&json).unwrap();
        assert!(back[0].value.is_nan());
        assert_eq!(back[1].value, f64::INFINITY);
        assert_eq!(back[2].value, f64::NEG_INFINITY);
        assert_eq!(back[3].value, 1.5);
    }

    #[cfg(unix)]
    #[test]
    fn a_run_whose_process_ended_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let run = store.start_run("Default", "probe").unwrap();
        let mut meta = store.meta(run.id()).unwrap();
        assert!(!meta.process_gone(), "this process is alive");

        let mut child = std::process::Command::new("true").spawn().unwrap();
        meta.source.pid = child.id();
        child.wait().unwrap();
        assert!(meta.process_gone(), "pid {} has exited", meta.source.pid);

        // Another host cannot be checked, so its runs are never called gone.
        meta.source.host = Some(String::from("some-other-host.invalid"));
        assert!(!meta.process_gone());

        // A process that started after the run is another one that got the id (Linux tells
        // the start time of a process).
        if cfg!(target_os = "linux") {
            let mut meta = store.meta(run.id()).unwrap();
            meta.start_time = 0;
            assert!(
                meta.process_gone(),
                "a process started after the run is not its own"
            );
        }
        run.complete().unwrap();
    }

    #[test]
    fn an_empty_or_missing_store_has_no_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("none"));
        assert!(store.runs().unwrap().is_empty());
        let err = store.read("OfflineRun_x").unwrap_err();
        assert!(matches!(err, Error::RunNotFound { .. }), "{err}");
    }
}
