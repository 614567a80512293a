//! The local store: one folder per run, readable by any process, during or after the run.
//!
//! ```text
//! $RUNCTX_HOME (default ./runs)/
//!   <run id>/
//!     run.json      who, what and when: written once when the run starts
//!     journal.rj    every record, in order (docs/journal-format.md)
//!     status.json   the end status, written after it is in the journal (a cache for listing)
//!     damage.json   damage found in the journal, once anything has found some (for listing)
//!     artifacts/    tables, images, uploaded files
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable;
use crate::error::{Error, Result, Shown, Status};
use crate::journal::{ArtifactKind, Damage, Event, Record, read_journal};
use crate::remote::{RemoteCopy, RemoteFile};
use crate::source::Source;

/// The file holding a run's description.
pub(crate) const RUN_FILE: &str = "run.json";
/// The run's journal.
pub(crate) const JOURNAL_FILE: &str = "journal.rj";
/// The end status, once the run has ended.
pub(crate) const STATUS_FILE: &str = "status.json";
/// The folder of the run's artifacts.
pub(crate) const ARTIFACTS_DIR: &str = "artifacts";

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
    /// The experiment it belongs to: its name; for a run started online with only
    /// `MLFLOW_EXPERIMENT_ID`, that id (the name is the server's).
    pub experiment: String,
    /// The tracking server's experiment id that `MLFLOW_EXPERIMENT_ID` chose for a run started
    /// online; the run is created in that experiment. `None` otherwise: the experiment is found
    /// (or created) by name, and a child run goes where its parent is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
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
    crate::process::process()
        .host
        .get_or_init(|| Source::current().host)
        .as_deref()
}

/// Whether a process of this host is gone.
mod process {
    /// `true` when no process `pid` runs, it is a zombie, or it started after `since` (ms since
    /// the epoch), which means the id was reused.
    #[cfg(unix)]
    pub(crate) fn gone(pid: u32, since: i64) -> bool {
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

/// Data a step read: one of its inputs, as lineage records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataInput {
    /// The file or folder, as the step got it.
    pub path: String,
    /// Its size in bytes (a folder's: the sum of its files').
    pub size: u64,
    /// SHA-256 of its content, 64 hex digits: a file's bytes, or a folder's files (each one's
    /// path inside it and digest, in path order).
    pub digest: String,
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
    /// The data a step read, by input name (lineage).
    pub inputs: BTreeMap<String, DataInput>,
    /// Parts of the journal that could not be read: a torn last block (a crash, or a write in
    /// progress), or damage in the middle (a bad disk, a file changed by hand), each stretch
    /// skipped up to the next intact block.
    pub damage: Vec<Damage>,
}

impl RunData {
    /// The run without what only MLflow's UI needs: the copies of its tables
    /// (`runctx.tables/<name>.json`) and the tag `mlflow.loggedArtifacts` that lists them. Each
    /// repeats a table among the other artifacts; `runctx show`, `compare` and `report` leave
    /// them out.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let run = run_runtime::Store::new(dir.path()).start_run("Default", "tables")?;
    /// run.log_table("scores", [("accuracy", vec![0.9, 0.95])])?;
    /// let data = run.details()?;
    /// assert!(data.artifacts.contains_key("runctx.tables/scores.json"));
    /// let shown = data.without_mlflow_table_copies();
    /// assert_eq!(shown.artifacts.keys().collect::<Vec<_>>(), ["scores.json"]);
    /// assert!(shown.tags.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn without_mlflow_table_copies(mut self) -> RunData {
        use crate::mlflow_tables::{LOGGED_ARTIFACTS_TAG, TABLES_DIR};
        self.tags.remove(LOGGED_ARTIFACTS_TAG);
        self.artifacts.retain(|path, _| {
            path.split_once('/')
                .is_none_or(|(first, _)| first != TABLES_DIR)
        });
        self
    }

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
            inputs: BTreeMap::new(),
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
            Record::Event(Event::Input {
                name,
                path,
                size,
                digest,
            }) => {
                self.inputs.insert(name, DataInput { path, size, digest });
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
    /// Damage in its journal, as far as it has been seen: whatever reads a journal (reading a
    /// run back, attaching to it, another process appending to it, shipping it) notes the
    /// damage it finds in `damage.json`, which listing reads instead of the journal. Empty for
    /// a journal no reader found damaged. A torn last block is not listed: it is a write in
    /// progress, or cut by the next process that appends.
    pub damage: Vec<Damage>,
}

impl RunSummary {
    /// RUNNING until the run has ended.
    pub fn status(&self) -> Status {
        self.end.as_ref().map_or(Status::Running, |e| e.status)
    }
}

/// What a listing of the store found: the runs it can read, and the files it could not use.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Listing {
    /// The runs, oldest first.
    pub runs: Vec<RunSummary>,
    /// Files that could not be used, each with what was done instead: a run whose `run.json`
    /// is unreadable is left out; a run whose `status.json` is unreadable is listed with its
    /// status read from its journal.
    pub problems: Vec<StoreProblem>,
}

/// A file of the store that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreProblem {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it, and what was done instead.
    pub reason: String,
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
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

    /// The folder of run `id`. The id is checked first: it must be one plain path component
    /// (letters, digits, `_`, `-`, `.`, not starting with `.`), so no id can name a folder
    /// outside the store.
    pub fn run_dir(&self, id: &str) -> Result<PathBuf> {
        check_run_id(id)?;
        Ok(self.root.join(id))
    }

    /// The ids of all runs: the folders directly below the root whose names are run ids and
    /// that hold a `run.json` (symbolic links are not followed), sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &self.root, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| check_run_id(id).is_ok())
            .filter(|id| self.root.join(id).join(RUN_FILE).is_file())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The description of run `id`. A `run.json` that cannot be read, was written by a newer
    /// version, or names another run than its folder is an error that says so: a run is its
    /// folder (a real one, not a symbolic link), and a file that disagrees is damage, never
    /// trusted.
    pub fn meta(&self, id: &str) -> Result<RunMeta> {
        let dir = self.run_dir(id)?;
        if fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Store {
                path: dir,
                reason: "a symbolic link, not a run folder; runs are never read or deleted \
                         through links"
                    .into(),
            });
        }
        let path = dir.join(RUN_FILE);
        let text = fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                self.not_found(id)
            } else {
                Error::io("read", &path, e)
            }
        })?;
        let damaged = |reason: String| Error::Store {
            path: path.clone(),
            reason,
        };
        // The format first: a newer layout may not parse as this one, and deserves its own
        // message.
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        if let Ok(Format { format }) = serde_json::from_slice::<Format>(&text)
            && format > META_FORMAT
        {
            return Err(damaged(format!(
                "written by a newer run-runtime (format {format}); upgrade to read it"
            )));
        }
        let meta: RunMeta = serde_json::from_slice(&text)
            .map_err(|e| damaged(format!("unreadable ({e}); the run is left alone")))?;
        if meta.id != id {
            return Err(damaged(format!(
                "it says the run is {} but its folder is {id:?}; the run is left alone",
                Shown::new(&meta.id)
            )));
        }
        if let Some(parent) = &meta.parent_id {
            check_run_id(parent).map_err(|e| damaged(format!("its parent id is unusable: {e}")))?;
        }
        Ok(meta)
    }

    /// How run `id` ended, if it has, from `status.json` (a cache of the journal's last word).
    pub fn end(&self, id: &str) -> Result<Option<RunEnd>> {
        let path = self.run_dir(id)?.join(STATUS_FILE);
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

    /// How run `id` ended, from `status.json`, or from the journal when that cache cannot be
    /// read (with the problem).
    fn end_or_journal(&self, id: &str) -> (Option<RunEnd>, Option<StoreProblem>) {
        match self.end(id) {
            Ok(end) => (end, None),
            Err(e) => {
                let from_journal = self.read(id).ok().and_then(|d| {
                    Some(RunEnd {
                        status: d.status,
                        time: d.end_time?,
                        error: d.error,
                    })
                });
                let path = self.root.join(id).join(STATUS_FILE);
                let reason = format!(
                    "{}; the status was read from the journal instead",
                    problem_text(e)
                );
                (from_journal, Some(StoreProblem { path, reason }))
            }
        }
    }

    /// Every run, oldest first, without reading journals, and the files that could not be
    /// used. One bad file never hides the other runs.
    pub fn list(&self) -> Result<Listing> {
        let mut listing = Listing::default();
        for id in self.ids()? {
            let meta = match self.meta(&id) {
                Ok(meta) => meta,
                Err(e) => {
                    listing.problems.push(StoreProblem {
                        path: self.root.join(&id).join(RUN_FILE),
                        reason: problem_text(e),
                    });
                    continue;
                }
            };
            let (end, problem) = self.end_or_journal(&id);
            listing.problems.extend(problem);
            let dir = self.root.join(&id);
            let damage = crate::journal::damage::known(&dir).unwrap_or_else(|e| {
                listing.problems.push(StoreProblem {
                    path: dir.join(crate::journal::damage::DAMAGE_FILE),
                    reason: format!(
                        "{}; the run is listed as undamaged until its journal is read again",
                        problem_text(e)
                    ),
                });
                Vec::new()
            });
            listing.runs.push(RunSummary { meta, end, damage });
        }
        listing
            .runs
            .sort_by(|a, b| (a.meta.start_time, &a.meta.id).cmp(&(b.meta.start_time, &b.meta.id)));
        Ok(listing)
    }

    /// Every run that can be read, oldest first, without reading journals ([`Store::list`]
    /// also says which files could not be used).
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        Ok(self.list()?.runs)
    }

    /// Everything recorded about run `id`, read from its journal.
    pub fn read(&self, id: &str) -> Result<RunData> {
        let meta = self.meta(id)?;
        let mut data = RunData::new(meta);
        let journal = self.root.join(id).join(JOURNAL_FILE);
        let report = read_journal(&journal, |_, record| data.apply(record))?;
        data.damage = report.damage;
        Ok(data)
    }

    /// The length of run `id`'s journal in bytes (0 when it has none).
    pub fn journal_len(&self, id: &str) -> u64 {
        self.run_dir(id)
            .ok()
            .and_then(|d| fs::metadata(d.join(JOURNAL_FILE)).ok())
            .map_or(0, |m| m.len())
    }

    /// The file of artifact `path` of run `id`, for reading. The name is checked with the
    /// artifact rules, and a path that goes through a symbolic link or does not lead to a file
    /// inside the run's `artifacts/` is refused.
    pub fn artifact_file(&self, id: &str, path: &str) -> Result<PathBuf> {
        let root = self.run_dir(id)?.join(ARTIFACTS_DIR);
        crate::artifacts::locate(&root, path)
    }

    /// The copies of run `id` on tracking servers that the store knows of, by server.
    pub fn remote_copies(&self, id: &str) -> Result<BTreeMap<String, RemoteCopy>> {
        Ok(RemoteFile::load(&self.run_dir(id)?)?.targets)
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

    /// Resolves a run id, or a unique prefix of one. A run whose folder exists but cannot be
    /// read is an error that says what is wrong with it.
    pub fn resolve(&self, id: &str) -> Result<String> {
        check_run_id(id)?;
        if self.root.join(id).join(RUN_FILE).is_file() {
            return self.meta(id).map(|m| m.id);
        }
        let ids = self.ids()?;
        let matching: Vec<&String> = ids.iter().filter(|i| i.starts_with(id)).collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(self.not_found(id)),
        }
    }

    /// Deletes run `id`: its folder, directly below the root. The folder must be a real
    /// folder, not a symbolic link, and what is inside it is removed without following links.
    /// Children are not touched: delete them first.
    pub fn delete_run(&self, id: &str) -> Result<()> {
        let dir = self.run_dir(id)?;
        let kind = fs::symlink_metadata(&dir).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                self.not_found(id)
            } else {
                Error::io("inspect", &dir, e)
            }
        })?;
        if !kind.is_dir() {
            return Err(Error::Store {
                path: dir,
                reason: "not a folder (a symbolic link or a file); a run's folder is never \
                         deleted through a link"
                    .into(),
            });
        }
        // `remove_dir_all` does not follow symbolic links inside the folder (std's fix for
        // CVE-2022-21658), so nothing outside the run is removed.
        fs::remove_dir_all(&dir).map_err(|e| Error::io("delete", &dir, e))?;
        durable::sync_dir(&self.root)
    }

    /// What crashed writers left in the store, older than `min_age` (younger ones may still be
    /// in use): temporary files of interrupted atomic writes (`.NAME.PID.tmp`,
    /// `.NAME.PID.part`) inside run folders, and run folders that never got their `run.json`.
    pub fn leftovers(&self, min_age: std::time::Duration) -> Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &self.root, e)),
        };
        let old = |p: &Path| is_older_than(p, min_age);
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) || check_run_id(&name).is_err() {
                continue;
            }
            let path = entry.path();
            if path.join(RUN_FILE).is_file() {
                temporary_files(&path, &old, &mut found);
            } else if name.starts_with("OfflineRun_") && old(&path) {
                found.push(path);
            }
        }
        found.sort();
        Ok(found)
    }

    /// Removes one of [`Store::leftovers`]: a temporary file of a writer, or a run folder with
    /// no `run.json`, below the root and reached without symbolic links.
    pub fn remove_leftover(&self, path: &Path) -> Result<()> {
        let refuse = |reason: &str| Error::Store {
            path: path.to_owned(),
            reason: format!("{reason}; only leftovers of the store's own writers are removed"),
        };
        let relative = path
            .strip_prefix(&self.root)
            .map_err(|_| refuse("not inside the store"))?;
        let mut at = self.root.clone();
        for component in relative.components() {
            let std::path::Component::Normal(part) = component else {
                return Err(refuse("not a plain path below the store"));
            };
            at.push(part);
            if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(refuse("it goes through a symbolic link"));
            }
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let folder = relative.components().count() == 1;
        if folder && !path.join(RUN_FILE).exists() {
            fs::remove_dir_all(path).map_err(|e| Error::io("delete", path, e))
        } else if !folder && name.as_deref().is_some_and(durable::is_temporary) {
            fs::remove_file(path).map_err(|e| Error::io("delete", path, e))
        } else {
            Err(refuse("not a leftover"))
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
        let dir = self.run_dir(&meta.id)?;
        durable::create_dir_all(&dir.join(ARTIFACTS_DIR))?;
        let json = serde_json::to_vec_pretty(meta).expect("run meta serializes");
        durable::write_atomic(&dir.join(RUN_FILE), &json)?;
        Ok(dir)
    }

    pub(crate) fn write_end(&self, id: &str, end: &RunEnd) -> Result<()> {
        let json = serde_json::to_vec_pretty(end).expect("run end serializes");
        durable::write_atomic(&self.run_dir(id)?.join(STATUS_FILE), &json)
    }

    pub(crate) fn new_meta(
        id: String,
        name: String,
        experiment: String,
        experiment_id: Option<String>,
        parent_id: Option<String>,
    ) -> RunMeta {
        RunMeta {
            format: META_FORMAT,
            id,
            name,
            experiment,
            experiment_id,
            parent_id,
            start_time: crate::clock::now_ms(),
            source: Source::current(),
        }
    }
}

/// The text of a problem, without repeating the path the caller shows.
fn problem_text(e: Error) -> String {
    match e {
        Error::Store { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Longest run id, in characters.
const MAX_RUN_ID_CHARS: usize = 250;

/// Checks that `id` can be a run id: 1 to 250 ASCII letters, digits, `_`, `-` and `.`, not
/// starting with `.`. That makes it one plain path component, so joining it to the store's
/// root can never leave the root (no `/`, `\`, `..`, absolute path or drive) or name a hidden
/// file. Offline ids (`OfflineRun_<uuid>`), MLflow's (32 hex digits), Azure ML's
/// (`jolly_pea_4kqw2l8j7z`, `HD_1234-abcd_0`) and Databricks' pass.
pub(crate) fn check_run_id(id: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidRunId {
            id: Shown::new(id),
            reason: reason.to_owned(),
        })
    };
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > MAX_RUN_ID_CHARS {
        return bad("it is longer than 250 characters");
    }
    if id.starts_with('.') {
        return bad("it starts with '.'");
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return bad(&format!(
            "the character {c:?} is not allowed; a run id has only letters, digits, '_', '-' \
             and '.'"
        ));
    }
    Ok(())
}

fn is_older_than(path: &Path, age: std::time::Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .is_some_and(|a| a >= age)
}

/// Temporary files of the store's writers below `dir`, not following links.
fn temporary_files(dir: &Path, old: &dyn Fn(&Path) -> bool, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            temporary_files(&path, old, found);
        } else if kind.is_file() && durable::is_temporary(&name) && old(&path) {
            found.push(path);
        }
    }
}

/// Up to three of `candidates` closest to `wanted`, best first, for "did you mean"
/// suggestions: the one rule of `run-rules` that the macros and pipeline checks use too.
pub(crate) fn closest(wanted: &str, candidates: &[String]) -> Vec<String> {
    run_rules::closest(wanted, candidates.iter().map(String::as_str))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Serde for metric values that keeps NaN and the infinities, which JSON numbers cannot hold:
/// they are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, as on the wire.
pub(crate) mod float {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a finite value as a number, others as a string.
    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match special(*v) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_f64(*v),
        }
    }

    /// Reads a number, or one of the three strings.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
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
    pub(crate) fn special(v: f64) -> Option<&'static str> {
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
    pub(crate) fn parse(t: &str) -> Option<f64> {
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
