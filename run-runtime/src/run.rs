//! [`Run`]: the handle every logging call goes through.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::artifacts;
use crate::clock;
use crate::digest::DataDigest;
use crate::documents;
use crate::error::{Error, NameKind, Result, Shown, Status};
use crate::journal::format::{
    AUTO_STEP, KIND_PROPERTY, KIND_TAG, cap_error, put_event, put_metric, put_pair,
};
use crate::journal::{ArtifactKind, Event, Journal, SYNC_WAIT, WRITER_STALL};
use crate::mlflow_tables::{self, Added, LOGGED_ARTIFACTS_TAG, LoggedArtifacts, SplitTable};
use crate::online::{Link, Server};
use crate::panics::panic_message;
use crate::params;
use crate::process::process;
use crate::store::{ARTIFACTS_DIR, JOURNAL_FILE, MetricPoint, RunData, RunEnd, RunMeta, Store};
use crate::system_metrics::{self, Sampler};
use crate::tables::{self, AccuracyTable, Cell, Predictions, Residuals, Table};
use crate::validate::{check_name, check_run_name, check_value, key_rule};
use crate::value::MetricValue;

/// A run: the unit that metrics, tags, properties and artifacts are recorded against.
///
/// `Run` is a cheap handle (`Clone + Send + Sync`; a clone is a reference count). Get the run of
/// the current context with [`Run::get_context`]; make children with [`Run::child_run`].
///
/// Every logging call checks its input, appends a record to the run's journal and returns; it
/// never waits for the network, and waits for the disk only when a megabyte of records is
/// already pending (which bounds memory). That wait is bounded: when the journal cannot be
/// written (a full disk, a file size limit, a disk that hangs for 30 s), the call returns an
/// error that says so, and the records logged before it are kept and retried. [`Run::flush`]
/// waits until everything logged before it is on disk.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # unsafe { std::env::set_var("RUNCTX_HOME", dir.path()) };
/// use run_runtime::Run;
///
/// let run = Run::get_context()?;
/// assert!(run.is_offline() && run.id().starts_with("OfflineRun_"));
/// for epoch in 0..3 {
///     run.log("loss", 1.0 / (epoch + 1) as f64)?;
/// }
/// run.tag("model", "logistic regression")?;
/// run.add_property("learning_rate", 0.01)?;
/// assert_eq!(run.get_metrics()?["loss"].len(), 3);
/// # Ok::<(), run_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct Run {
    inner: Arc<RunInner>,
}

pub(crate) struct RunInner {
    meta: RunMeta,
    dir: PathBuf,
    store: Store,
    journal: Arc<Journal>,
    /// Properties recorded so far, to refuse a conflicting value before it is journaled.
    properties: Mutex<HashMap<String, String>>,
    /// Tables being built by `log_row`, and the MLflow copies of tables.
    tables: Mutex<TableState>,
    /// How the run ended, once it has.
    end: Mutex<Option<Status>>,
    /// Started (or attached as its owner) by this process: dropping it ends it. Cleared when
    /// the run is handed over to another process (a step launcher's child).
    owned: AtomicBool,
    /// The shipping of an online run.
    link: Option<Arc<Link>>,
    /// The system metrics sampler, while one samples into this run.
    sampler: Mutex<Option<Sampler>>,
}

// A panic that unwinds through code holding a `Run` cannot leave it half-updated: every piece
// of its state changes under its own lock, in one step. (The HTTP client inside an online
// run's link is not marked unwind-safe by its crate, which would otherwise make every closure
// that captures a run unusable with `catch_unwind`.)
impl std::panic::UnwindSafe for Run {}
impl std::panic::RefUnwindSafe for Run {}

/// What a run knows of its tables: those `log_row` builds, and the copies MLflow's UI shows
/// (`mlflow_tables`).
#[derive(Default)]
struct TableState {
    /// Tables being built by `log_row`.
    built: HashMap<String, Table>,
    /// Tables of `built` whose MLflow copy lacks rows. Rewriting the copy at every row would
    /// make a table of n rows cost O(n²) in writes and uploads, so it is written when the run
    /// is flushed, ends, or its last handle in this process goes (`write_behind_tables`).
    behind: BTreeSet<String>,
    /// The run's tag `mlflow.loggedArtifacts`, as this process last recorded or read it.
    logged: LoggedArtifacts,
    /// A table could not be listed because the tag was full: said once.
    full_reported: bool,
}

impl TableState {
    /// The state of a run whose tag `mlflow.loggedArtifacts` is `logged` (when it has one).
    fn with_logged(run_id: &str, logged: Option<&str>) -> TableState {
        let logged = LoggedArtifacts::parse(logged).unwrap_or_else(|e| {
            eprintln!("run-runtime: run {run_id}: {e}");
            LoggedArtifacts::default()
        });
        TableState {
            logged,
            ..TableState::default()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("experiment", &self.experiment())
            .field("parent_id", &self.inner.meta.parent_id)
            .finish()
    }
}

impl Run {
    /// Starts a new run in `store`, as a child of `parent` if given, and ships it to `online`
    /// if given, in the server experiment `experiment_id` if given (else the one named
    /// `experiment`, or the parent's). Offline ids are `OfflineRun_<uuid>`; a run this process
    /// creates online has a local id (a uuid) until the server gives it one (see
    /// [`Run::remote_id`]).
    pub(crate) fn start(
        store: &Store,
        experiment: &str,
        experiment_id: Option<&str>,
        name: &str,
        parent: Option<&Run>,
        online: Option<Arc<Server>>,
    ) -> Result<Run> {
        check_run_name(name)?;
        check_run_name(experiment)?;
        let uuid = uuid::Uuid::new_v4();
        let id = match online {
            None => format!("OfflineRun_{uuid}"),
            Some(_) => uuid.simple().to_string(),
        };
        let parent_id = parent.map(|p| p.id().to_owned());
        // A server's experiment id means nothing to an offline run.
        let experiment_id = experiment_id.filter(|_| online.is_some()).map(String::from);
        let meta = Store::new_meta(id, name.into(), experiment.into(), experiment_id, parent_id);
        let dir = store.create_dir(&meta)?;
        let (journal, _) = Journal::open(&dir.join(JOURNAL_FILE), true)?;
        // The journal's name in the run folder must survive a power cut like its records.
        crate::durable::sync_parent(&dir.join(JOURNAL_FILE))?;
        let parent_link = parent.and_then(|p| p.inner.link.clone());
        let link = online
            .map(|target| Link::start(target, meta.clone(), store.root(), parent_link, None))
            .transpose()?;
        Ok(Run::wrap(RunInner {
            meta,
            dir,
            store: store.clone(),
            journal,
            properties: Mutex::default(),
            tables: Mutex::default(),
            end: Mutex::new(None),
            owned: AtomicBool::new(true),
            link,
            sampler: Mutex::default(),
        }))
    }

    /// Opens run `id` of `store` for logging; an `owner` ends it when dropped. With `online`,
    /// it ships to that server, as the server run `remote_run_id` if given; a run the store does
    /// not have yet is created locally for it (a job attaching to the run its engine made).
    pub(crate) fn attach(
        store: &Store,
        id: &str,
        owner: bool,
        online: Option<(Arc<Server>, Option<String>)>,
        experiment: &str,
    ) -> Result<Run> {
        if let Some(run) = process().find_live(id) {
            return Ok(run);
        }
        let dir = store.run_dir(id)?;
        let exists = dir.join(crate::store::RUN_FILE).is_file();
        if !exists && online.as_ref().is_some_and(|(_, remote)| remote.is_some()) {
            let meta = Store::new_meta(
                id.into(),
                crate::source::program_name(),
                experiment.into(),
                None,
                None,
            );
            store.create_dir(&meta)?;
        }
        let meta = store.meta(id)?;
        let (journal, opened) = Journal::open(&dir.join(JOURNAL_FILE), !exists)?;
        if let Some(cut) = opened.cut {
            eprintln!(
                "run-runtime: run {id}: {} bytes at offset {}: {}",
                cut.len, cut.offset, cut.reason
            );
        }
        for d in opened.damage {
            eprintln!("run-runtime: run {id}: journal damage, kept and skipped by readers: {d}");
        }
        let data = store.read(id)?;
        let end = (data.status != Status::Running).then_some(data.status);
        let parent_link = meta
            .parent_id
            .as_deref()
            .and_then(|p| process().find_live(p))
            .and_then(|p| p.inner.link.clone());
        let link = online
            .map(|(target, remote)| {
                Link::start(target, meta.clone(), store.root(), parent_link, remote)
            })
            .transpose()?;
        Ok(Run::wrap(RunInner {
            meta,
            dir,
            store: store.clone(),
            journal,
            tables: Mutex::new(TableState::with_logged(
                id,
                data.tags.get(LOGGED_ARTIFACTS_TAG).map(String::as_str),
            )),
            properties: Mutex::new(data.properties.into_iter().collect()),
            end: Mutex::new(end),
            owned: AtomicBool::new(owner),
            link,
            sampler: Mutex::default(),
        }))
    }

    fn wrap(inner: RunInner) -> Run {
        let run = Run {
            inner: Arc::new(inner),
        };
        process().register(&run);
        run
    }

    pub(crate) fn downgrade(&self) -> Weak<RunInner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<RunInner>) -> Option<Run> {
        weak.upgrade().map(|inner| Run { inner })
    }

    /// The run id: `OfflineRun_<uuid>` for an offline run.
    pub fn id(&self) -> &str {
        &self.inner.meta.id
    }

    /// The run's display name.
    pub fn name(&self) -> &str {
        &self.inner.meta.name
    }

    /// The experiment the run belongs to.
    pub fn experiment(&self) -> &str {
        &self.inner.meta.experiment
    }

    /// `true` when the run is kept in the local store only; `false` when it is also shipped to
    /// a tracking server.
    pub fn is_offline(&self) -> bool {
        self.inner.link.is_none()
    }

    /// The run's id on the tracking server, once it exists there: at once for a run attached by
    /// `MLFLOW_RUN_ID`, and at the latest after [`Run::flush`] for a run this process created.
    /// `None` offline.
    pub fn remote_id(&self) -> Option<String> {
        self.inner.link.as_ref().and_then(|l| l.remote_id())
    }

    /// The tracking server an online run ships to.
    pub fn tracking_uri(&self) -> Option<&str> {
        self.inner.link.as_deref().map(Link::base)
    }

    /// The shipping of an online run, for the model registry and the step launcher.
    pub(crate) fn link(&self) -> Option<&Arc<Link>> {
        self.inner.link.as_ref()
    }

    /// Hands the run over to another process (a step process the launcher starts): this
    /// process no longer ends it when its handles are dropped or the process exits.
    pub(crate) fn hand_over(&self) {
        self.inner.owned.store(false, Ordering::Release);
    }

    /// The run's folder in the local store.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The run's artifact folder.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.inner.dir.join(ARTIFACTS_DIR)
    }

    /// The store the run is kept in.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    // ---------------------------------------------------------------- metrics

    /// Appends `value` to the metric series `name`, at the step after the last one of that
    /// series (0, 1, 2, ... for a series logged only with `log`), whichever process logged it:
    /// the steps are given when the point is written to the journal. After a point at step
    /// `i64::MAX`, every such point gets `i64::MAX`.
    ///
    /// `value` may be any Rust number or a `bool` (1 or 0). NaN and infinities are kept.
    #[inline]
    pub fn log(&self, name: &str, value: impl MetricValue) -> Result<()> {
        self.log_point(name, value.to_f64(), AUTO_STEP)
    }

    /// Records `value` for the metric `name` at `step`.
    #[inline]
    pub fn log_step(&self, name: &str, value: impl MetricValue, step: i64) -> Result<()> {
        if step == AUTO_STEP {
            return Err(Error::invalid_data(
                name,
                "metric",
                "step i64::MIN is reserved; use a larger step",
            ));
        }
        self.log_point(name, value.to_f64(), step)
    }

    #[inline]
    fn log_point(&self, name: &str, value: f64, step: i64) -> Result<()> {
        if let Err(rule) = key_rule(name) {
            return Err(Error::InvalidName {
                kind: NameKind::Metric,
                name: Shown::new(name),
                rule,
            });
        }
        let now = clock::now_ms();
        self.inner
            .journal
            .append(|buf| put_metric(buf, name, value, now, step))
    }

    /// Records `values` as the metric series `name`, at steps 0, 1, 2, ...
    ///
    /// Any number of values: they are journaled in pieces as `values` yields them, with no
    /// lock held while it runs (so it may log to this run itself). On an error the points
    /// before it are recorded.
    pub fn log_list<V: MetricValue>(
        &self,
        name: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<()> {
        check_name(NameKind::Metric, name)?;
        let now = clock::now_ms();
        let mut step = 0i64;
        self.inner.journal.append_many(values, |buf, v| {
            put_metric(buf, name, v.to_f64(), now, step);
            step = step.saturating_add(1);
        })
    }

    // ---------------------------------------------------------------- JSON metrics

    /// Appends a row to the table `name`. Every row must have the columns of the first.
    ///
    /// The table's Azure ML document (`<name>.json`) is rewritten at each row; its MLflow copy
    /// (`runctx.tables/<name>.json`, which the MLflow UI shows as a table) when the run is
    /// flushed or ends, so that a long table does not cost a rewrite of every row at each row.
    ///
    /// ```
    /// # let run = run_runtime::Store::new(tempfile::tempdir()?.keep()).start_run("e", "r")?;
    /// for (fruit, size) in [("orange", 10), ("lime", 3)] {
    ///     run.log_row("citrus", [("fruit", fruit.into()), ("size", serde_json::json!(size))])?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_row<K: AsRef<str>, C: Cell>(
        &self,
        name: &str,
        row: impl IntoIterator<Item = (K, C)>,
    ) -> Result<()> {
        check_name(NameKind::Table, name)?;
        let row: Vec<(String, serde_json::Value)> = row
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into_value()))
            .collect();
        let mut tables = lock(&self.inner.tables);
        if !tables.built.contains_key(name) {
            let existing = self
                .read_json_artifact(name)
                .and_then(|d| Table::from_document(&d));
            tables
                .built
                .insert(name.to_owned(), existing.unwrap_or_default());
        }
        let table = tables.built.get_mut(name).expect("inserted above");
        let mut grown = table.clone();
        grown.push_row(name, row)?;
        self.write_json(name, &grown.to_document())?;
        *table = grown;
        tables.behind.insert(name.to_owned());
        Ok(())
    }

    /// Records the table `name` from its columns, which must have equal lengths: the Azure ML
    /// document `<name>.json`, and the copy `runctx.tables/<name>.json` that MLflow's
    /// `log_table` would write, listed in the tag `mlflow.loggedArtifacts` (the confusion
    /// matrix and the other JSON metrics get one too).
    ///
    /// ```
    /// # let run = run_runtime::Store::new(tempfile::tempdir()?.keep()).start_run("e", "r")?;
    /// run.log_table("Y over X", [("x", vec![1.0, 2.0, 3.0]), ("y", vec![0.6, 0.7, 0.89])])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_table<K: AsRef<str>, C: Cell>(
        &self,
        name: &str,
        columns: impl IntoIterator<Item = (K, Vec<C>)>,
    ) -> Result<()> {
        check_name(NameKind::Table, name)?;
        let columns = columns.into_iter().map(|(k, v)| {
            (
                k.as_ref().to_owned(),
                v.into_iter().map(Cell::into_value).collect(),
            )
        });
        let table = Table::from_columns(name, columns)?;
        let mut tables = lock(&self.inner.tables);
        self.write_json(name, &table.to_document())?;
        self.inner
            .write_copy(&mut tables, name, &SplitTable::of_table(&table))?;
        tables.behind.remove(name);
        tables.built.insert(name.to_owned(), table);
        Ok(())
    }

    /// Records a confusion matrix: `matrix[i][j]` counts samples of class `i` predicted as `j`.
    /// The matrix must be square, with one label per row.
    ///
    /// ```
    /// # let run = run_runtime::Store::new(tempfile::tempdir()?.keep()).start_run("e", "r")?;
    /// run.log_confusion_matrix("Confusion matrix", &["cat", "dog"], &[[5, 1], [2, 7]])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_confusion_matrix<L: ToString, T: MetricValue>(
        &self,
        name: &str,
        class_labels: &[L],
        matrix: &[impl AsRef<[T]>],
    ) -> Result<()> {
        check_name(NameKind::Table, name)?;
        let doc = tables::confusion_matrix(name, class_labels, matrix)?;
        self.write_json_metric(name, &doc)
    }

    /// Records an accuracy table (see [`AccuracyTable::from_scores`]).
    pub fn log_accuracy_table(&self, name: &str, table: &AccuracyTable) -> Result<()> {
        check_name(NameKind::Table, name)?;
        self.write_json_metric(name, &table.to_document(name)?)
    }

    /// Records a residuals histogram (see [`Residuals::from_values`]).
    pub fn log_residuals(&self, name: &str, residuals: &Residuals) -> Result<()> {
        check_name(NameKind::Table, name)?;
        self.write_json_metric(name, &residuals.to_document(name)?)
    }

    /// Records predicted against true values (see [`Predictions::from_values`]).
    pub fn log_predictions(&self, name: &str, predictions: &Predictions) -> Result<()> {
        check_name(NameKind::Table, name)?;
        self.write_json_metric(name, &predictions.to_document(name)?)
    }

    /// The JSON document of table or JSON metric `name`, if one was recorded.
    pub fn get_table(&self, name: &str) -> Option<serde_json::Value> {
        self.read_json_artifact(name)
    }

    fn read_json_artifact(&self, name: &str) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.artifacts_dir().join(format!("{name}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes the Azure ML document of a JSON metric that is not a table, then its MLflow copy.
    fn write_json_metric(&self, name: &str, doc: &serde_json::Value) -> Result<()> {
        self.write_json(name, doc)?;
        if let Some(split) = SplitTable::of_document(doc) {
            let mut tables = lock(&self.inner.tables);
            self.inner.write_copy(&mut tables, name, &split)?;
        }
        Ok(())
    }

    /// Writes the Azure ML document of JSON metric `name`.
    fn write_json(&self, name: &str, doc: &serde_json::Value) -> Result<()> {
        let bytes = serde_json::to_vec(doc).expect("JSON values serialize");
        self.write_artifact(&format!("{name}.json"), ArtifactKind::Json, |root, path| {
            artifacts::write(root, path, &bytes)
        })
    }

    /// Writes artifact `path`, a name of the user's: never one in the folder of the MLflow
    /// copies of tables.
    fn write_artifact(
        &self,
        path: &str,
        kind: ArtifactKind,
        write: impl FnOnce(&Path, &str) -> Result<u64>,
    ) -> Result<()> {
        mlflow_tables::check_not_reserved(path)?;
        self.inner.write_artifact(path, kind, write)
    }

    // ---------------------------------------------------------------- files

    /// Copies the image at `path` into the run as `<name>.<extension>`.
    ///
    /// The extension must be one of png, jpg, jpeg, gif, svg, bmp, webp.
    pub fn log_image(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        check_name(NameKind::Artifact, name)?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .filter(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
            .ok_or_else(|| Error::InvalidArtifact {
                name: name.to_owned(),
                reason: format!(
                    "{} is not an image file name; use one ending in {}",
                    path.display(),
                    IMAGE_EXTENSIONS.join(", ")
                ),
            })?;
        let target = format!("{name}.{ext}");
        self.write_artifact(&target, ArtifactKind::Image, |root, t| {
            artifacts::copy(root, t, path)
        })
    }

    /// Records the file already written as artifact `name` in the run's artifact folder,
    /// `size` bytes long (a launched command's captured output).
    pub(crate) fn record_artifact(&self, name: &str, kind: ArtifactKind, size: u64) -> Result<()> {
        artifacts::check_artifact_name(name)?;
        self.inner.write_artifact(name, kind, |_, _| Ok(size))
    }

    /// Records that the step of this run read `path` as its input `name` (lineage): the
    /// journal keeps it, `runctx show` lists it, and online it is a dataset input of the run.
    pub(crate) fn record_input(&self, name: &str, path: &Path, data: &DataDigest) -> Result<()> {
        check_name(NameKind::Tag, name)?;
        let event = Event::Input {
            name: name.to_owned(),
            path: path.display().to_string(),
            size: data.size,
            digest: data.digest.clone(),
        };
        self.inner.journal.append(|buf| put_event(buf, &event))
    }

    /// Copies the file at `path` into the run as the artifact `name` (a relative path such as
    /// `outputs/model.bin`).
    pub fn upload_file(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.write_artifact(name, ArtifactKind::File, |root, t| {
            artifacts::copy(root, t, path)
        })
    }

    /// Writes `value` as the artifact `name`, a JSON or YAML document chosen by the name's
    /// extension: `.json` (indented, as MLflow's `log_dict` writes it), `.yaml` or `.yml`.
    /// Another extension is an error that lists these.
    ///
    /// ```
    /// # let run = run_runtime::Store::new(tempfile::tempdir()?.keep()).start_run("e", "r")?;
    /// let labels = std::collections::BTreeMap::from([(0, "setosa"), (1, "versicolor")]);
    /// run.log_dict("labels.json", &labels)?;
    /// run.log_dict("config/labels.yaml", &labels)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_dict(&self, name: &str, value: &impl serde::Serialize) -> Result<()> {
        artifacts::check_artifact_name(name)?;
        let bytes = documents::encode(name, value)?;
        self.write_artifact(name, ArtifactKind::File, |root, path| {
            artifacts::write(root, path, &bytes)
        })
    }

    /// Writes `text` as the artifact `name` (a relative path such as `notes/summary.md`).
    pub fn log_text(&self, name: &str, text: &str) -> Result<()> {
        self.write_artifact(name, ArtifactKind::File, |root, path| {
            artifacts::write(root, path, text.as_bytes())
        })
    }

    /// Copies every file below `folder` into the run under the artifact folder `name`.
    pub fn upload_folder(&self, name: &str, folder: impl AsRef<Path>) -> Result<()> {
        self.copy_folder(name, folder.as_ref(), ArtifactKind::File)
    }

    pub(crate) fn copy_folder(&self, name: &str, folder: &Path, kind: ArtifactKind) -> Result<()> {
        artifacts::check_artifact_name(name)?;
        mlflow_tables::check_not_reserved(name)?;
        for (relative, source) in artifacts::files_below(folder)? {
            let target = format!("{name}/{relative}");
            self.write_artifact(&target, kind, |root, t| artifacts::copy(root, t, &source))?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- tags and properties

    /// Sets the tag `key` (tags can change; the last value counts).
    pub fn tag(&self, key: &str, value: impl Display) -> Result<()> {
        let value = value.to_string();
        check_pair(NameKind::Tag, key, &value)?;
        // The program sets the list MLflow's UI reads: the next table extends its value.
        let _listing = (key == LOGGED_ARTIFACTS_TAG).then(|| {
            let mut tables = lock(&self.inner.tables);
            tables.logged = TableState::with_logged(self.id(), Some(&value)).logged;
            tables
        });
        self.inner
            .journal
            .append(|buf| put_pair(buf, KIND_TAG, key, &value))
    }

    /// Sets several tags. Each valid pair is recorded; the first invalid one is returned as the
    /// error.
    pub fn set_tags<K: AsRef<str>, V: Display>(
        &self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        each(tags, |k, v| self.tag(k, v))
    }

    /// Adds the property `key`. Properties cannot change: the same value again is fine, a
    /// different one is [`Error::PropertyConflict`].
    pub fn add_property(&self, key: &str, value: impl Display) -> Result<()> {
        let value = value.to_string();
        check_pair(NameKind::Property, key, &value)?;
        let mut properties = lock(&self.inner.properties);
        if !is_new_property(properties.get(key).map(String::as_str), key, &value)? {
            return Ok(());
        }
        self.inner
            .journal
            .append(|buf| put_pair(buf, KIND_PROPERTY, key, &value))?;
        properties.insert(key.to_owned(), value);
        Ok(())
    }

    /// Adds several properties. Each valid one is recorded; the first error is returned.
    pub fn add_properties<K: AsRef<str>, V: Display>(
        &self,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        each(properties, |k, v| self.add_property(k, v))
    }

    /// Records a config object as properties: each field of `config` (a struct or a map) is a
    /// property, a nested struct or map adds keys joined with `.` (`optimizer.lr`), as MLflow's
    /// autologging names nested parameters. A string is its text; any other leaf (a number,
    /// bool, `None`, a sequence, an empty struct or map) is its JSON text.
    ///
    /// The whole config is checked before any of it is recorded: a key that breaks the naming
    /// rules, a value too long, or a value that differs from the one the run already has
    /// ([`Error::PropertyConflict`]) refuses the whole call, and nothing of it is recorded.
    /// (Only a journal that cannot be written can cut a config in two: its records go in
    /// 64 KiB pieces, and the pieces before the failure are kept, as for `log_list`.)
    ///
    /// ```
    /// # let run = run_runtime::Store::new(tempfile::tempdir()?.keep()).start_run("e", "r")?;
    /// #[derive(serde::Serialize)]
    /// struct Optimizer { name: &'static str, lr: f64 }
    /// #[derive(serde::Serialize)]
    /// struct Config { epochs: u32, optimizer: Optimizer, layers: Vec<u32> }
    ///
    /// let config = Config { epochs: 10, optimizer: Optimizer { name: "adam", lr: 0.001 }, layers: vec![64, 32] };
    /// run.log_params(&config)?;
    /// let properties = run.properties()?;
    /// assert_eq!(properties["optimizer.lr"], "0.001");
    /// assert_eq!(properties["layers"], "[64,32]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_params(&self, config: &impl serde::Serialize) -> Result<()> {
        let pairs = params::flatten(config)?;
        for (key, value) in &pairs {
            check_pair(NameKind::Property, key, value)?;
        }
        let mut properties = lock(&self.inner.properties);
        let mut new: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, value) in &pairs {
            let known = properties.get(key.as_str()).map(String::as_str);
            let earlier = new.get(key.as_str()).copied();
            if is_new_property(known.or(earlier), key, value)? {
                new.insert(key, value);
            }
        }
        self.inner.journal.append_many(&new, |buf, (key, value)| {
            put_pair(buf, KIND_PROPERTY, key, value);
        })?;
        for (key, value) in new {
            properties.insert(key.to_owned(), value.to_owned());
        }
        Ok(())
    }

    // ---------------------------------------------------------------- parents and children

    /// The parent run, for a child run. Works offline too: the parent is opened from the store
    /// when it is not a run of this process. Online, a run attached by `MLFLOW_RUN_ID` finds
    /// its parent through the server's `mlflow.parentRunId` tag.
    pub fn parent(&self) -> Option<Run> {
        let online = self.inner.link.as_ref().map(|l| l.server());
        let (id, remote) = match (self.parent_id(), &self.inner.link) {
            (Some(id), _) => (id.to_owned(), None),
            (None, Some(link)) => {
                let parent = link.remote_parent_id()?;
                (parent.clone(), Some(parent))
            }
            (None, None) => return None,
        };
        let online = online.map(|t| (t, remote));
        match Run::attach(&self.inner.store, &id, false, online, self.experiment()) {
            Ok(run) => Some(run),
            Err(e) => {
                eprintln!(
                    "run-runtime: cannot open the parent {id} of run {}: {e}",
                    self.id()
                );
                None
            }
        }
    }

    /// The id of the parent run, for a child run.
    pub fn parent_id(&self) -> Option<&str> {
        self.inner.meta.parent_id.as_deref()
    }

    /// Starts a child run named `name` in the same experiment (and on the same server, online).
    pub fn child_run(&self, name: &str) -> Result<Run> {
        let online = self.inner.link.as_ref().map(|l| l.server());
        // Online, a child is created in its parent's server experiment, whatever its name.
        Run::start(
            &self.inner.store,
            self.experiment(),
            None,
            name,
            Some(self),
            online,
        )
    }

    // ---------------------------------------------------------------- reading back

    /// Every metric series of the run, by name, each point in logging order.
    pub fn get_metrics(&self) -> Result<BTreeMap<String, Vec<MetricPoint>>> {
        Ok(self.details()?.metrics)
    }

    /// The run's tags.
    pub fn tags(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.details()?.tags)
    }

    /// The run's properties.
    pub fn properties(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.details()?.properties)
    }

    /// Everything recorded about the run so far, this process's unwritten records included.
    ///
    /// Offline it is read from the local store. Online it is read from the server, after
    /// waiting for this process's records to reach it: every metric's full history, params as
    /// properties, and the tags, the server's own (`mlflow.*`) included.
    pub fn details(&self) -> Result<RunData> {
        match &self.inner.link {
            None => {
                self.inner.write_behind_tables()?;
                self.inner.journal.flush(false, WRITER_STALL)?;
                self.inner.store.read(self.id())
            }
            Some(link) => {
                self.flush()?;
                link.read_back(self.inner.meta.clone())
            }
        }
    }

    // ---------------------------------------------------------------- ending

    /// Waits until everything logged before the call is on disk (written and synced), so it
    /// survives a crash of the process; online, also until the server has it, for at most
    /// the flush timeout (`RUNCTX_FLUSH_TIMEOUT`, 60 s by default; see [`Run::flush_within`]).
    pub fn flush(&self) -> Result<()> {
        self.flush_within(process().flush_timeout())
    }

    /// [`Run::flush`] with its own timeout for the server. On a timeout the records stay safe in
    /// the journal and keep shipping in the background; the error says how to upload them later.
    pub fn flush_within(&self, timeout: std::time::Duration) -> Result<()> {
        self.inner.write_behind_tables()?;
        self.inner.journal.flush(true, WRITER_STALL)?;
        self.wait_for_server(timeout)
    }

    /// Online, waits until the server has the journal up to its current end; offline, nothing.
    fn wait_for_server(&self, timeout: std::time::Duration) -> Result<()> {
        match &self.inner.link {
            None => Ok(()),
            Some(link) => link.wait_shipped(self.inner.journal_end(), timeout),
        }
    }

    /// Records the server refused (offline: none), each with the server's message. They stay
    /// in the local journal.
    pub fn refused_records(&self) -> Vec<String> {
        self.inner
            .link
            .as_ref()
            .map(|l| l.refused())
            .unwrap_or_default()
    }

    /// Ends the run as FINISHED, and flushes it (online: waits for the server, as `flush`).
    pub fn complete(&self) -> Result<()> {
        self.inner.finish(Status::Finished, None)?;
        self.wait_for_server(process().flush_timeout())
    }

    /// Ends the run as FAILED with `error`, and flushes it.
    pub fn fail(&self, error: impl Display) -> Result<()> {
        self.inner.finish(Status::Failed, Some(error.to_string()))?;
        self.wait_for_server(process().flush_timeout())
    }

    /// Ends the run as KILLED, and flushes it.
    pub fn cancel(&self) -> Result<()> {
        self.inner.finish(Status::Killed, None)?;
        self.wait_for_server(process().flush_timeout())
    }

    /// Ends the run as `status` with `error` (the end of a launched command), and flushes it.
    pub(crate) fn end_as(&self, status: Status, error: Option<String>) -> Result<()> {
        self.inner.finish(status, error)?;
        self.wait_for_server(process().flush_timeout())
    }

    /// Logs the machine's system metrics to this run every `interval` (MLflow's default is
    /// 10 s) from a background thread, under MLflow's names (`system/cpu_utilization_percentage`
    /// and the rest of [`system_metrics`](crate::system_metrics)), until the run ends; a last
    /// sample is taken as it ends. Called again, it changes the interval. A sample costs about
    /// 1.5 ms of CPU: well under 1% of one core at the default interval (`docs/benchmarks.md`,
    /// "System metrics sampler").
    ///
    /// `MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true` does this for the process's run,
    /// `#[aml_step(system_metrics)]` for a step's, `runctx run --system-metrics` for a command's.
    ///
    /// The interval is from 100 ms to a day; anything else is an error.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use run_runtime::{Store, system_metrics};
    ///
    /// let run = Store::new(dir.path()).start_run("Default", "train")?;
    /// run.log_system_metrics(Duration::from_secs(10))?;
    /// run.complete()?; // takes the last sample, then ends the run
    /// assert!(run.get_metrics()?.contains_key(system_metrics::CPU_UTILIZATION));
    /// # Ok::<(), run_runtime::Error>(())
    /// ```
    pub fn log_system_metrics(&self, interval: std::time::Duration) -> Result<()> {
        let interval = system_metrics::check_interval("interval of log_system_metrics", interval)?;
        if self.status().is_some() {
            return Ok(());
        }
        let mut sampler = lock(&self.inner.sampler);
        match &*sampler {
            Some(running) => running.set_interval(interval),
            None => *sampler = Some(Sampler::start(self.downgrade(), interval)?),
        }
        Ok(())
    }

    /// How the run ended, or `None` while it runs.
    pub fn status(&self) -> Option<Status> {
        *lock(&self.inner.end)
    }

    /// Ends the run as the process ends (`status`, with `error`), if this process owns it and it
    /// has not ended; otherwise makes what this process logged to it durable.
    pub(crate) fn end_at_exit(&self, status: Status, error: Option<&str>) -> Result<()> {
        if self.inner.owned.load(Ordering::Acquire) && lock(&self.inner.end).is_none() {
            self.inner.finish(status, error.map(str::to_owned))
        } else {
            let tables = self.inner.write_behind_tables();
            self.inner.journal.flush(true, SYNC_WAIT)?;
            tables
        }
    }
}

impl RunInner {
    /// Writes file `path` among the run's artifacts with `write`, then records it in the
    /// journal, which is what ships it.
    fn write_artifact(
        &self,
        path: &str,
        kind: ArtifactKind,
        write: impl FnOnce(&Path, &str) -> Result<u64>,
    ) -> Result<()> {
        let size = write(&self.dir.join(ARTIFACTS_DIR), path)?;
        let event = Event::Artifact {
            path: path.to_owned(),
            kind,
            size,
        };
        self.journal.append(|buf| put_event(buf, &event))
    }

    /// Writes the MLflow copy of table `name` (`runctx.tables/<name>.json`), and lists it in
    /// the tag `mlflow.loggedArtifacts` if it is not yet: both through the journal, like every
    /// artifact and tag.
    fn write_copy(&self, tables: &mut TableState, name: &str, split: &SplitTable) -> Result<()> {
        let path = mlflow_tables::path_of(name);
        let bytes = split.to_bytes();
        self.write_artifact(&path, ArtifactKind::File, |root, p| {
            artifacts::write(root, p, &bytes)
        })?;
        match tables.logged.add_table(&path) {
            Added::Listed => Ok(()),
            Added::Tag(value) => self
                .journal
                .append(|buf| put_pair(buf, KIND_TAG, LOGGED_ARTIFACTS_TAG, &value)),
            Added::Full => {
                if !std::mem::replace(&mut tables.full_reported, true) {
                    eprintln!(
                        "run-runtime: run {}: the tag {LOGGED_ARTIFACTS_TAG} has no room for \
                         {path:?} (a tag value holds at most {} characters), so the MLflow UI \
                         shows it as a file, not a table; it is written all the same",
                        self.meta.id,
                        crate::validate::MAX_TAG_CHARS
                    );
                }
                Ok(())
            }
        }
    }

    /// Writes the MLflow copies of the tables `log_row` has grown since their last copy.
    fn write_behind_tables(&self) -> Result<()> {
        let mut tables = lock(&self.tables);
        while let Some(name) = tables.behind.pop_first() {
            let Some(table) = tables.built.get(&name) else {
                continue;
            };
            let split = SplitTable::of_table(table);
            if let Err(e) = self.write_copy(&mut tables, &name, &split) {
                tables.behind.insert(name);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The journal's length: everything written to it so far.
    fn journal_end(&self) -> u64 {
        std::fs::metadata(self.dir.join(JOURNAL_FILE)).map_or(0, |m| m.len())
    }

    /// Records the end status (once: the same status again is fine, another is an error),
    /// flushes, then caches the status for listing.
    fn finish(&self, status: Status, error: Option<String>) -> Result<()> {
        // The sampler's last sample goes before the status.
        let sampler = lock(&self.sampler).take();
        if let Some(sampler) = sampler {
            sampler.stop();
        }
        let mut end = lock(&self.end);
        if let Some(existing) = *end {
            if existing == status {
                return Ok(());
            }
            return Err(Error::AlreadyFinished {
                id: self.meta.id.clone(),
                status: existing,
                requested: status,
            });
        }
        // The copies of row-by-row tables go before the status: the server has them when the
        // run reads as ended. A failure to write them does not keep the run from ending; it is
        // returned once the end is recorded.
        let tables = self.write_behind_tables();
        let time = clock::now_ms();
        let error = error.map(cap_error);
        let event = Event::Status {
            status,
            time,
            error: error.clone(),
        };
        self.journal.append(|buf| put_event(buf, &event))?;
        *end = Some(status);
        drop(end);
        self.journal.flush(true, SYNC_WAIT)?;
        if let Some(link) = &self.link {
            link.poke();
        }
        self.store.write_end(
            &self.meta.id,
            &RunEnd {
                status,
                time,
                error,
            },
        )?;
        tables
    }
}

impl Drop for RunInner {
    fn drop(&mut self) {
        let ends_here = self.owned.load(Ordering::Acquire) && lock(&self.end).is_none();
        if ends_here {
            // Ending flushes the journal.
            let result = if std::thread::panicking() {
                self.finish(Status::Failed, Some(panic_message()))
            } else {
                self.finish(Status::Finished, None)
            };
            if let Err(e) = result {
                eprintln!("run-runtime: ending run {} on drop: {e}", self.meta.id);
            }
        } else {
            // What was logged through this handle reaches the journal even when no other
            // handle of the run lives: a parent opened from the store by a step process, say.
            if let Err(e) = self.write_behind_tables() {
                eprintln!(
                    "run-runtime: run {}: writing the MLflow copies of its tables: {e}",
                    self.meta.id
                );
            }
            let _ = self.journal.flush(false, SYNC_WAIT);
        }
        if let Some(link) = &self.link {
            // Ship what is left in the background; the exit handler waits for it.
            link.close();
        }
    }
}

const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "gif", "svg", "bmp", "webp"];

/// Records every pair with `record`, going on past a refused one; the first error is returned.
fn each<K: AsRef<str>, V>(
    pairs: impl IntoIterator<Item = (K, V)>,
    mut record: impl FnMut(&str, V) -> Result<()>,
) -> Result<()> {
    let mut first_error = None;
    for (k, v) in pairs {
        if let Err(e) = record(k.as_ref(), v) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether property `key` = `value` is still to be recorded, given the value the run already
/// has (`None`: none): the same value is recorded already, a different one is a conflict.
fn is_new_property(existing: Option<&str>, key: &str, value: &str) -> Result<bool> {
    match existing {
        None => Ok(true),
        Some(existing) if existing == value => Ok(false),
        Some(existing) => Err(Error::PropertyConflict {
            key: key.to_owned(),
            existing: Shown::new(existing),
            new: Shown::new(value),
        }),
    }
}

fn check_pair(kind: NameKind, key: &str, value: &str) -> Result<()> {
    check_name(kind, key)?;
    check_value(kind, key, value)
}

impl Store {
    /// Starts a new offline run named `name` in `experiment`, in this store.
    ///
    /// Most programs use [`Run::get_context`] instead; this is for tools and tests that choose
    /// the store themselves.
    pub fn start_run(&self, experiment: &str, name: &str) -> Result<Run> {
        Run::start(self, experiment, None, name, None, None)
    }

    /// Starts a new run named `name` in `experiment`, kept in this store and shipped to the
    /// tracking server at `tracking_uri` (credentials and limits come from the environment, as
    /// for [`Run::get_context`]).
    #[cfg(feature = "mlflow")]
    pub fn start_online_run(
        &self,
        tracking_uri: &str,
        experiment: &str,
        name: &str,
    ) -> Result<Run> {
        let uri = crate::config::TrackingUri::parse("tracking URI", tracking_uri)?;
        let settings = crate::process::process().settings()?;
        let target = crate::mlflow::server(&settings, &uri)?;
        Run::start(self, experiment, None, name, None, Some(target))
    }

    /// Opens run `id` of this store for logging, as its owner: dropping the last handle ends
    /// it. A step process uses this to log to the run its launcher started for it.
    pub fn attach(&self, id: &str) -> Result<Run> {
        Run::attach(self, id, true, None, "Default")
    }
}
