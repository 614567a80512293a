//! Shipping journals to a tracking server from a background runtime the library owns.
//!
//! One thread per process runs a single-threaded tokio runtime; each shipped run is a task on
//! it that follows the run's journal from its saved cursor. A task:
//! 1. makes sure the run exists on the server (creating its experiment and the run, after its
//!    parent, or finding the copy an earlier attempt made, by the tag `runctx.local_id`);
//! 2. reads the journal in chunks, turns each chunk into batches within the server's limits and
//!    sends several at once; uploads the chunk's artifacts;
//! 3. after the server has acknowledged a chunk, saves the cursor past it;
//! 4. sends a status update only after everything logged before it.
//!
//! Connection errors, 429 (honouring `Retry-After`) and 5xx are retried with exponential
//! backoff and jitter, for as long as the process lives: the journal keeps everything
//! meanwhile. A 4xx that says the data is invalid is not retried: the batch is split until the
//! refused records are isolated, each is reported with the server's message, and the rest
//! ships. Authentication and permission errors stop the run's shipping, with the server's
//! answer, until `runctx sync` is run with the right credentials.
//!
//! Callers never block on any of this, except `flush()` and the exit handler, which wait for
//! the cursor to pass the journal's end, with a timeout.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use super::client::{CallError, Client};
use super::remote::{RemoteFile, TargetState};
use super::wire::{KeyValue, LogBatch, WireMetric};
use crate::error::{Error, Result};
use crate::journal::{ArtifactKind, Event, OwnedRecord, read_tail};
use crate::store::{ARTIFACTS_DIR, JOURNAL_FILE, RunMeta};

/// Most params and tags in one batch (the server's limits).
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_ITEMS: usize = 1000;
/// Batches read from the journal at once: the unit of acknowledgement and of parallelism.
const BATCHES_PER_CHUNK: usize = 16;
/// How often an idle task looks at its journal, besides being woken by `flush()`.
const POLL: Duration = Duration::from_millis(200);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A tracking server and how to ship to it.
#[derive(Debug)]
pub struct Target {
    /// The client.
    pub client: Client,
    /// Most metrics in one batch: 1000, or 250 for Azure ML.
    pub max_batch_metrics: usize,
    /// Batches in flight at once.
    pub concurrency: usize,
}

impl Target {
    /// The server's base URL, the key of its state in `remote.json`.
    pub fn base(&self) -> &str {
        self.client.base()
    }
}

/// A run being shipped: shared by the run's handle, which waits on it, and its task.
#[derive(Debug)]
pub struct Link {
    target: Arc<Target>,
    meta: RunMeta,
    dir: PathBuf,
    parent: Option<Arc<Link>>,
    /// The parent's folder, when the parent ships from another process.
    parent_dir: Option<PathBuf>,
    state: Mutex<LinkState>,
    changed: Condvar,
    wake: Notify,
    /// Woken when the remote run id becomes known (children wait on their parent).
    created: Notify,
}

#[derive(Debug, Default)]
struct LinkState {
    remote: TargetState,
    /// The last transient failure, while retrying; cleared by a success.
    trouble: Option<String>,
    /// Shipping stopped for good (authentication, a deleted run): the reason.
    fatal: Option<String>,
    /// Records the server refused, with its message.
    refused: Vec<String>,
    /// No more records will come from this process: ship to the end, then stop.
    closed: bool,
    /// Records shipped (or refused) by this link.
    shipped_records: u64,
    /// The task has stopped.
    stopped: bool,
}

impl Link {
    /// Starts shipping the local run `meta` of the store in `root` to `target`. `remote_run_id`
    /// attaches it to an existing server run; `parent` is the link of its parent if the parent
    /// ships from this process (otherwise the parent's server id is read from its folder).
    pub fn start(
        target: Arc<Target>,
        meta: RunMeta,
        root: &Path,
        parent: Option<Arc<Link>>,
        remote_run_id: Option<String>,
    ) -> Result<Arc<Link>> {
        let dir = root.join(&meta.id);
        let parent_dir = meta.parent_id.as_ref().map(|p| root.join(p));
        let mut remote = RemoteFile::load(&dir)?
            .targets
            .remove(target.base())
            .unwrap_or_default();
        if remote.run_id.is_none() {
            remote.run_id = remote_run_id;
        }
        let link = Arc::new(Link {
            target,
            meta,
            dir,
            parent,
            parent_dir,
            state: Mutex::new(LinkState {
                remote,
                ..LinkState::default()
            }),
            changed: Condvar::new(),
            wake: Notify::new(),
            created: Notify::new(),
        });
        register(&link);
        runtime().spawn(ship(link.clone()));
        Ok(link)
    }

    /// The server it ships to.
    pub fn target(&self) -> Arc<Target> {
        self.target.clone()
    }

    /// The server id of the parent of the server run, from its `mlflow.parentRunId` tag.
    pub fn remote_parent_id(&self) -> Option<String> {
        let id = self.remote_id()?;
        let client = self.target.client.clone();
        let run = block_on(async move { client.get_run(&id).await }).ok()?;
        run.tag("mlflow.parentRunId").map(String::from)
    }

    /// Everything the server has of the run.
    pub fn read_back(&self, meta: RunMeta) -> Result<crate::store::RunData> {
        let id = self.remote_id().ok_or_else(|| Error::Server {
            server: self.base().to_owned(),
            what: format!("read run {}", self.meta.id),
            reason: "the run does not exist on the server yet".into(),
        })?;
        let client = self.target.client.clone();
        let remote = id.clone();
        block_on(async move { super::read_run(&client, &remote, meta).await }).map_err(|e| {
            Error::Server {
                server: self.base().to_owned(),
                what: format!("read run {id}"),
                reason: e.to_string(),
            }
        })
    }

    /// The server's run id, once the run exists there.
    pub fn remote_id(&self) -> Option<String> {
        lock(&self.state).remote.run_id.clone()
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        self.target.base()
    }

    /// The client of the server.
    pub fn client(&self) -> &Client {
        &self.target.client
    }

    /// The journal offset up to which the server has everything.
    pub fn shipped_offset(&self) -> u64 {
        lock(&self.state).remote.cursor.offset
    }

    /// Records shipped by this link.
    pub fn shipped_records(&self) -> u64 {
        lock(&self.state).shipped_records
    }

    /// The task has stopped (shipped everything of a closed link, or failed).
    pub fn is_stopped(&self) -> bool {
        lock(&self.state).stopped
    }

    /// Why shipping stopped for good, if it did.
    pub fn failure(&self) -> Option<String> {
        lock(&self.state).fatal.clone()
    }

    /// Records the server refused so far, with its messages.
    pub fn refused(&self) -> Vec<String> {
        lock(&self.state).refused.clone()
    }

    /// Wakes the task to look at the journal now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// No more records will be logged by this process: the task ships what is there and stops.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_one();
    }

    /// Waits until the server has everything before journal offset `end`, or `timeout` passes.
    pub fn wait_shipped(&self, end: u64, timeout: Duration) -> Result<()> {
        self.poke();
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.state);
        loop {
            let cursor = state.remote.cursor;
            if cursor.offset >= end && cursor.index == 0 {
                return Ok(());
            }
            if let Some(reason) = &state.fatal {
                return Err(self.not_shipped(reason, end, &state));
            }
            if state.stopped {
                return Err(self.not_shipped("shipping stopped", end, &state));
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                let why = match &state.trouble {
                    Some(t) => format!("still not shipped after {timeout:?}: {t}"),
                    None => format!("still not shipped after {timeout:?}"),
                };
                return Err(self.not_shipped(&why, end, &state));
            };
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn not_shipped(&self, why: &str, end: u64, state: &LinkState) -> Error {
        Error::NotShipped {
            id: self.meta.id.clone(),
            server: self.target.base().to_owned(),
            reason: why.to_owned(),
            pending_bytes: end.saturating_sub(state.remote.cursor.offset),
        }
    }

    fn update(&self, f: impl FnOnce(&mut LinkState)) {
        f(&mut lock(&self.state));
        self.changed.notify_all();
    }

    fn save(&self) {
        let remote = lock(&self.state).remote.clone();
        if let Err(e) = RemoteFile::update(&self.dir, self.target.base(), &remote) {
            eprintln!(
                "run-runtime: run {}: cannot save the shipping position: {e}",
                self.meta.id
            );
        }
    }

    fn journal(&self) -> PathBuf {
        self.dir.join(JOURNAL_FILE)
    }
}

static LINKS: Mutex<Vec<std::sync::Weak<Link>>> = Mutex::new(Vec::new());

fn register(link: &Arc<Link>) {
    let mut links = lock(&LINKS);
    links.retain(|l| l.strong_count() > 0);
    links.push(Arc::downgrade(link));
}

/// Waits, until `deadline`, for every link of the process to ship its journal to the end.
/// Returns what could not be shipped in time.
pub(crate) fn wait_all(deadline: Instant) -> Vec<Error> {
    let links: Vec<Arc<Link>> = lock(&LINKS)
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    let mut left = Vec::new();
    for link in links {
        if lock(&link.state).stopped && lock(&link.state).fatal.is_none() {
            continue;
        }
        let end = std::fs::metadata(link.journal()).map_or(0, |m| m.len());
        let timeout = deadline.saturating_duration_since(Instant::now());
        if let Err(e) = link.wait_shipped(end, timeout) {
            left.push(e);
        }
    }
    left
}

/// The shipping runtime: one thread, started on first use.
fn runtime() -> &'static tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("runctx-shipper")
            .build()
            .expect("cannot start the shipping runtime");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("runctx-shipper".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("cannot start the shipping thread");
        handle
    })
}

/// Runs `future` on the shipping runtime and waits for it; for callers outside any runtime
/// (the command-line tool, `sync`, reading back online). Safe to call from inside a user's
/// tokio runtime: the future runs on the library's own thread.
pub fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().expect("the shipping runtime is gone")
}

async fn ship(link: Arc<Link>) {
    let remote = match ensure_remote(&link).await {
        Ok(r) => r,
        Err(reason) => {
            report(&link, &reason);
            link.update(|s| {
                s.fatal = Some(reason);
                s.stopped = true;
            });
            return;
        }
    };
    let journal = link.journal();
    loop {
        let from = lock(&link.state).remote.cursor;
        let limit = BATCHES_PER_CHUNK * link.target.max_batch_metrics;
        let stop_at_status =
            |r: &OwnedRecord| matches!(r, OwnedRecord::Event(Event::Status { .. }));
        let tail = match read_tail(&journal, from, limit, stop_at_status) {
            Ok(t) => t,
            Err(e) => {
                report(&link, &format!("cannot read the journal: {e}"));
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        for d in &tail.damage {
            report(&link, &format!("journal damage skipped: {d}"));
        }
        if tail.records.is_empty() {
            if tail.end != from {
                link.update(|s| s.remote.cursor = tail.end);
                link.save();
            }
            if lock(&link.state).closed {
                break;
            }
            let _ = tokio::time::timeout(POLL, link.wake.notified()).await;
            continue;
        }
        let count = tail.records.len() as u64;
        if let Err(reason) = ship_records(&link, &remote, tail.records).await {
            report(&link, &reason);
            link.update(|s| s.fatal = Some(reason));
            break;
        }
        link.update(|s| {
            s.remote.cursor = tail.end;
            s.trouble = None;
            s.shipped_records += count;
        });
        link.save();
    }
    link.update(|s| s.stopped = true);
}

/// The server run's id and artifact root, creating the run if needed.
async fn ensure_remote(link: &Link) -> Result<(String, String), String> {
    let known = lock(&link.state).remote.clone();
    let client = &link.target.client;
    if let (Some(id), Some(artifacts)) = (&known.run_id, &known.artifact_uri) {
        return Ok((id.clone(), artifacts.clone()));
    }
    let info = match &known.run_id {
        Some(id) => {
            retry(link, "read the run", || client.get_run(id))
                .await?
                .info
        }
        None => create_run(link).await?,
    };
    link.update(|s| {
        s.remote.run_id = Some(info.run_id.clone());
        s.remote.experiment_id = Some(info.experiment_id.clone());
        s.remote.artifact_uri = Some(info.artifact_uri.clone());
    });
    link.save();
    link.created.notify_waiters();
    Ok((info.run_id, info.artifact_uri))
}

async fn create_run(link: &Link) -> Result<super::wire::RunInfo, String> {
    let client = &link.target.client;
    let parent_id = match (&link.parent, &link.parent_dir) {
        (Some(parent), _) => Some(wait_created(parent).await?),
        (None, Some(dir)) => Some(wait_created_elsewhere(link, dir).await?),
        (None, None) => None,
    };
    let experiment_id = retry(link, "get or create the experiment", || {
        client.experiment_id(&link.meta.experiment)
    })
    .await?;
    // An earlier attempt may have created the run and died before saving its id.
    let filter = format!("tags.`runctx.local_id` = '{}'", link.meta.id);
    let experiments = [experiment_id.as_str()];
    let found = retry(link, "look for the run", || {
        client.search_runs(&experiments, &filter)
    })
    .await?;
    if let Some(run) = found.into_iter().next() {
        return Ok(run.info);
    }
    let meta = &link.meta;
    let source = &meta.source;
    let mut tags = vec![
        KeyValue {
            key: "runctx.local_id",
            value: &meta.id,
        },
        KeyValue {
            key: "mlflow.source.name",
            value: &source.program,
        },
        KeyValue {
            key: "mlflow.source.type",
            value: "LOCAL",
        },
    ];
    if let Some(user) = &source.user {
        tags.push(KeyValue {
            key: "mlflow.user",
            value: user,
        });
    }
    if let Some(commit) = &source.git_commit {
        tags.push(KeyValue {
            key: "mlflow.source.git.commit",
            value: commit,
        });
    }
    if let Some(parent) = &parent_id {
        tags.push(KeyValue {
            key: "mlflow.parentRunId",
            value: parent,
        });
    }
    retry(link, "create the run", || {
        client.create_run(&experiment_id, &meta.name, meta.start_time, &tags)
    })
    .await
}

/// The parent's server run id, once its task has created it.
async fn wait_created(parent: &Link) -> Result<String, String> {
    loop {
        let notified = parent.created.notified();
        {
            let state = lock(&parent.state);
            if let (Some(id), Some(_)) = (&state.remote.run_id, &state.remote.artifact_uri) {
                return Ok(id.clone());
            }
            if let Some(reason) = &state.fatal {
                return Err(format!(
                    "the parent run {} could not be shipped: {reason}",
                    parent.meta.id
                ));
            }
        }
        let _ = tokio::time::timeout(POLL, notified).await;
    }
}

/// The server id of a parent shipped by another process, once its `remote.json` has it.
async fn wait_created_elsewhere(link: &Link, dir: &Path) -> Result<String, String> {
    let mut waited = Duration::ZERO;
    loop {
        let known = RemoteFile::load(dir).ok().and_then(|f| {
            f.targets
                .get(link.target.base())
                .and_then(|t| t.run_id.clone())
        });
        if let Some(id) = known {
            return Ok(id);
        }
        if waited == Duration::from_secs(10) {
            report(
                link,
                &format!(
                    "waiting for the parent run in {} to reach the server",
                    dir.display()
                ),
            );
        }
        tokio::time::sleep(POLL).await;
        waited += POLL;
    }
}

/// Calls `call` until it succeeds or fails for a reason that retrying cannot fix.
async fn retry<T, F, Fut>(link: &Link, what: &str, mut call: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let mut backoff = Backoff::new();
    loop {
        match call().await {
            Ok(v) => {
                if backoff.failures > 0 {
                    link.update(|s| s.trouble = None);
                }
                return Ok(v);
            }
            Err(e) if e.is_transient() => {
                let message = format!("cannot {what} on {}: {e}; retrying", link.target.base());
                if backoff.failures == 0 {
                    report(link, &message);
                }
                link.update(|s| s.trouble = Some(message));
                backoff.wait(&e).await;
            }
            Err(e) => return Err(format!("cannot {what} on {}: {e}", link.target.base())),
        }
    }
}

/// Exponential backoff with full jitter, from 100 ms up to 10 s, or what `Retry-After` says.
struct Backoff {
    failures: u32,
    seed: u64,
}

impl Backoff {
    fn new() -> Self {
        let seed = Instant::now().elapsed().as_nanos() as u64
            ^ u64::from(std::process::id()).rotate_left(32);
        Backoff {
            failures: 0,
            seed: seed | 1,
        }
    }

    async fn wait(&mut self, error: &CallError) {
        self.failures += 1;
        let ceiling = Duration::from_millis(100)
            .saturating_mul(1 << self.failures.min(7))
            .min(Duration::from_secs(10));
        // xorshift: jitter needs no more randomness than this.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jittered = ceiling
            .mul_f64((self.seed % 1000) as f64 / 1000.0)
            .max(Duration::from_millis(50));
        let wait = match error {
            CallError::Status {
                retry_after: Some(after),
                ..
            } => (*after).max(jittered),
            _ => jittered,
        };
        tokio::time::sleep(wait).await;
    }
}

/// An item of a batch, owned so that batches can be sent from separate tasks.
#[derive(Debug, Clone)]
enum Item {
    Metric {
        key: String,
        value: f64,
        timestamp: i64,
        step: i64,
    },
    Param {
        key: String,
        value: String,
    },
    Tag {
        key: String,
        value: String,
    },
}

impl Item {
    fn describe(&self) -> String {
        match self {
            Item::Metric { key, step, .. } => format!("metric {key:?} (step {step})"),
            Item::Param { key, .. } => format!("property {key:?}"),
            Item::Tag { key, .. } => format!("tag {key:?}"),
        }
    }
}

/// Ships one chunk of records: its data in batches, then its artifacts, then its status.
async fn ship_records(
    link: &Arc<Link>,
    remote: &(String, String),
    records: Vec<OwnedRecord>,
) -> Result<(), String> {
    let mut items = Vec::with_capacity(records.len());
    let mut artifacts = Vec::new();
    let mut status = None;
    for record in records {
        match record {
            OwnedRecord::Metric {
                key,
                value,
                timestamp,
                step,
            } => items.push(Item::Metric {
                key,
                value,
                timestamp,
                step,
            }),
            OwnedRecord::Property { key, value } => items.push(Item::Param { key, value }),
            OwnedRecord::Tag { key, value } => items.push(Item::Tag { key, value }),
            OwnedRecord::Event(Event::Artifact { path, kind, .. }) => artifacts.push((path, kind)),
            OwnedRecord::Event(Event::Status {
                status: s,
                time,
                error,
            }) => {
                // MLflow runs have no error field: the text goes in a tag, cut to the limit.
                if let Some(error) = error {
                    let value: String =
                        error.chars().take(crate::validate::MAX_TAG_CHARS).collect();
                    items.push(Item::Tag {
                        key: "runctx.error".into(),
                        value,
                    });
                }
                status = Some((s, time));
            }
        }
    }
    send_batches(
        link,
        &remote.0,
        batches(dedupe(items), link.target.max_batch_metrics),
    )
    .await?;
    for (path, kind) in dedupe_artifacts(artifacts) {
        upload(link, &remote.1, &path, kind).await?;
    }
    if let Some((status, time)) = status {
        let client = &link.target.client;
        retry(link, "update the run's status", || {
            client.update_run(&remote.0, status.as_str(), time)
        })
        .await?;
    }
    Ok(())
}

/// Keeps the last value of each tag and the first of each param: within a chunk, batches go
/// out in parallel, so a tag set twice must travel once, and a batch may not hold a param key
/// twice.
fn dedupe(items: Vec<Item>) -> Vec<Item> {
    let mut last_tag: HashMap<String, usize> = HashMap::new();
    let mut seen_param: HashSet<String> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        if let Item::Tag { key, .. } = item {
            last_tag.insert(key.clone(), i);
        }
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| match item {
            Item::Tag { key, .. } => last_tag.get(key) == Some(i),
            Item::Param { key, .. } => seen_param.insert(key.clone()),
            Item::Metric { .. } => true,
        })
        .map(|(_, item)| item)
        .collect()
}

fn dedupe_artifacts(artifacts: Vec<(String, ArtifactKind)>) -> Vec<(String, ArtifactKind)> {
    let mut out: Vec<(String, ArtifactKind)> = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        if !out.iter().any(|(p, _)| *p == a.0) {
            out.push(a);
        }
    }
    out
}

/// Splits items into batches within the server's limits.
fn batches(items: Vec<Item>, max_metrics: usize) -> Vec<Vec<Item>> {
    let mut out = Vec::new();
    let mut current: Vec<Item> = Vec::new();
    let (mut metrics, mut params, mut tags) = (0, 0, 0);
    for item in items {
        let fits = current.len() < MAX_ITEMS
            && match item {
                Item::Metric { .. } => metrics < max_metrics,
                Item::Param { .. } => params < MAX_PARAMS,
                Item::Tag { .. } => tags < MAX_TAGS,
            };
        if !fits {
            out.push(std::mem::take(&mut current));
            (metrics, params, tags) = (0, 0, 0);
        }
        match item {
            Item::Metric { .. } => metrics += 1,
            Item::Param { .. } => params += 1,
            Item::Tag { .. } => tags += 1,
        }
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sends batches, `concurrency` at a time; isolates and reports records the server refuses.
async fn send_batches(
    link: &Arc<Link>,
    run_id: &str,
    batches: Vec<Vec<Item>>,
) -> Result<(), String> {
    let permits = Arc::new(Semaphore::new(link.target.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for batch in batches {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (link, run_id) = (link.clone(), run_id.to_owned());
        tasks.spawn(async move {
            let result = send_batch(&link, &run_id, batch).await;
            drop(permit);
            result
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.unwrap_or_else(|e| Err(format!("a shipping task failed: {e}")));
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Sends one batch; when the server refuses it as invalid, sends each half apart, down to the
/// single records it refuses, which are reported and skipped.
async fn send_batch(link: &Arc<Link>, run_id: &str, batch: Vec<Item>) -> Result<(), String> {
    let mut stack = vec![batch];
    while let Some(batch) = stack.pop() {
        let body = to_wire(run_id, &batch);
        let client = &link.target.client;
        let result = retry_refusal(link, || client.log_batch(&body)).await?;
        let Err(refusal) = result else { continue };
        if batch.len() == 1 {
            let message = format!("the server refused {}: {refusal}", batch[0].describe());
            report(link, &message);
            link.update(|s| s.refused.push(message));
        } else {
            let mut first = batch;
            let second = first.split_off(first.len() / 2);
            stack.push(second);
            stack.push(first);
        }
    }
    Ok(())
}

/// Like `retry`, but hands back a refusal of the data (400) instead of failing, so the caller
/// can isolate it; authentication and other errors still fail.
async fn retry_refusal<F, Fut>(link: &Link, call: F) -> Result<Result<(), CallError>, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), CallError>>,
{
    let mut call = call;
    let outcome = retry(link, "send a batch", || {
        let fut = call();
        async move {
            match fut.await {
                Err(e @ CallError::Status { status: 400, .. }) => Ok(Err(e)),
                other => other.map(Ok),
            }
        }
    })
    .await?;
    Ok(outcome)
}

fn to_wire<'a>(run_id: &'a str, batch: &'a [Item]) -> LogBatch<'a> {
    let mut body = LogBatch {
        run_id,
        ..LogBatch::default()
    };
    for item in batch {
        match item {
            Item::Metric {
                key,
                value,
                timestamp,
                step,
            } => {
                body.metrics.push(WireMetric {
                    key,
                    value: *value,
                    timestamp: *timestamp,
                    step: *step,
                });
            }
            Item::Param { key, value } => body.params.push(KeyValue { key, value }),
            Item::Tag { key, value } => body.tags.push(KeyValue { key, value }),
        }
    }
    body
}

async fn upload(
    link: &Arc<Link>,
    artifact_uri: &str,
    path: &str,
    kind: ArtifactKind,
) -> Result<(), String> {
    let file = link.dir.join(ARTIFACTS_DIR).join(path);
    let bytes = match tokio::fs::read(&file).await {
        Ok(b) => b,
        Err(e) => {
            let message = format!(
                "artifact {path:?} ({kind:?}) is gone from {}: {e}; not uploaded",
                file.display()
            );
            report(link, &message);
            link.update(|s| s.refused.push(message));
            return Ok(());
        }
    };
    let client = &link.target.client;
    let outcome = retry(link, "upload an artifact", || {
        let fut = client.upload_artifact(artifact_uri, path, bytes.clone());
        async move {
            match fut.await {
                Err(
                    e @ CallError::Status {
                        status: 0 | 400 | 404 | 413,
                        ..
                    },
                ) => Ok(Err(e)),
                other => other.map(Ok),
            }
        }
    })
    .await?;
    if let Err(e) = outcome {
        let message = format!("the server refused artifact {path:?}: {e}");
        report(link, &message);
        link.update(|s| s.refused.push(message));
    }
    Ok(())
}

/// Tells the user, on standard error, what happened to a run's shipping.
fn report(link: &Link, message: &str) {
    eprintln!("run-runtime: run {}: {message}", link.meta.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(i: i64) -> Item {
        Item::Metric {
            key: "m".into(),
            value: i as f64,
            timestamp: 0,
            step: i,
        }
    }

    #[test]
    fn batches_respect_every_limit() {
        let mut items: Vec<Item> = (0..2500).map(metric).collect();
        items.extend((0..150).map(|i| Item::Param {
            key: format!("p{i}"),
            value: "v".into(),
        }));
        items.extend((0..250).map(|i| Item::Tag {
            key: format!("t{i}"),
            value: "v".into(),
        }));
        let out = batches(items, 1000);
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), 2900);
        for b in &out {
            let count = |f: fn(&Item) -> bool| b.iter().filter(|i| f(i)).count();
            assert!(b.len() <= MAX_ITEMS);
            assert!(count(|i| matches!(i, Item::Metric { .. })) <= 1000);
            assert!(count(|i| matches!(i, Item::Param { .. })) <= MAX_PARAMS);
            assert!(count(|i| matches!(i, Item::Tag { .. })) <= MAX_TAGS);
        }
        let azure = batches((0..1000).map(metric).collect(), 250);
        assert_eq!(azure.len(), 4);
    }

    #[test]
    fn dedupe_keeps_the_last_tag_and_the_first_param() {
        let items = vec![
            Item::Tag {
                key: "t".into(),
                value: "1".into(),
            },
            Item::Param {
                key: "p".into(),
                value: "a".into(),
            },
            metric(0),
            Item::Tag {
                key: "t".into(),
                value: "2".into(),
            },
            Item::Param {
                key: "p".into(),
                value: "a".into(),
            },
        ];
        let kept = dedupe(items);
        assert_eq!(kept.len(), 3);
        assert!(matches!(&kept[2], Item::Tag { value, .. } if value == "2"));
        assert!(matches!(&kept[0], Item::Param { .. }));
    }
}
