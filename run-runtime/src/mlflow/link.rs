//! A run being shipped: the state its handle and its task share, and the bounded waits for the
//! server to have the journal.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::error::ShipError;
use super::runtime::{block_on, register, runtime};
use super::server::Server;
use crate::error::{Error, Result};
use crate::process::{lock, process};
use crate::remote::{RemoteCopy, RemoteFile};
use crate::store::{JOURNAL_FILE, RunData, RunMeta};

/// A run being shipped to one server.
#[derive(Debug)]
pub(crate) struct Link {
    pub(super) server: Arc<Server>,
    pub(super) meta: RunMeta,
    pub(super) dir: PathBuf,
    /// The link of the parent, when the parent ships from this process.
    pub(super) parent: Option<Arc<Link>>,
    /// The parent's folder, when the parent ships from another process.
    pub(super) parent_dir: Option<PathBuf>,
    pub(super) state: Mutex<LinkState>,
    changed: Condvar,
    wake: Notify,
    /// Woken when the remote run id becomes known (children wait on their parent).
    pub(super) created: Notify,
}

#[derive(Debug)]
pub(super) struct LinkState {
    pub(super) remote: RemoteCopy,
    /// The last transient failure, while retrying; cleared by an answer.
    trouble: Option<String>,
    /// When the current trouble began: the first failure since the server last answered. A
    /// busy server may take longer than the stall timeout to answer a call, so the silence
    /// that counts starts at a failure, not at the last answer.
    trouble_since: Instant,
    /// Shipping stopped for good (authentication, a deleted run): the reason.
    pub(super) fatal: Option<ShipError>,
    /// Records the server refused, with its message.
    pub(super) refused: Vec<String>,
    /// The run's artifact store cannot be written: why (its artifacts wait for `sync`).
    pub(super) store_unusable: Option<String>,
    /// A wait has returned the `store_unusable` error to the program.
    store_told: bool,
    /// No more records will come from this process: ship to the end, then stop.
    pub(super) closed: bool,
    /// Records shipped (or refused) by this link.
    pub(super) shipped_records: u64,
    /// The task has stopped.
    pub(super) stopped: bool,
}

impl Link {
    /// Starts shipping the local run `meta` of the store in `root` to `server`. `remote_run_id`
    /// attaches it to an existing server run; `parent` is the link of its parent if the parent
    /// ships from this process (otherwise the parent's server id is read from its folder).
    pub(crate) fn start(
        server: Arc<Server>,
        meta: RunMeta,
        root: &Path,
        parent: Option<Arc<Link>>,
        remote_run_id: Option<String>,
    ) -> Result<Arc<Link>> {
        // The ids become paths: each is checked as one plain component of the store.
        let store = crate::store::Store::new(root);
        let dir = store.run_dir(&meta.id)?;
        let parent_dir = meta
            .parent_id
            .as_deref()
            .map(|p| store.run_dir(p))
            .transpose()?;
        let mut remote = RemoteFile::load(&dir)?
            .targets
            .remove(server.base())
            .unwrap_or_default();
        if remote.run_id.is_none() {
            remote.run_id = remote_run_id;
        }
        let link = Arc::new(Link {
            server,
            meta,
            dir,
            parent,
            parent_dir,
            state: Mutex::new(LinkState {
                remote,
                trouble: None,
                trouble_since: Instant::now(),
                fatal: None,
                refused: Vec::new(),
                store_unusable: None,
                store_told: false,
                closed: false,
                shipped_records: 0,
                stopped: false,
            }),
            changed: Condvar::new(),
            wake: Notify::new(),
            created: Notify::new(),
        });
        register(&link);
        runtime().spawn(super::follow::ship(link.clone()));
        Ok(link)
    }

    /// The server it ships to.
    pub(crate) fn server(&self) -> Arc<Server> {
        self.server.clone()
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> &str {
        self.server.base()
    }

    /// The server id of the parent of the server run, from its `mlflow.parentRunId` tag.
    pub(crate) fn remote_parent_id(&self) -> Option<String> {
        let id = self.remote_id()?;
        let client = self.server.client.clone();
        let timeout = process().flush_timeout();
        let run = block_on(self.base(), "read the run", timeout, async move {
            client.get_run(&id).await
        })
        .ok()?;
        run.tag("mlflow.parentRunId").map(String::from)
    }

    /// Everything the server has of the run.
    pub(crate) fn read_back(&self, meta: RunMeta) -> Result<RunData> {
        let id = self.remote_id().ok_or_else(|| Error::Server {
            server: self.base().to_owned(),
            what: format!("read run {}", self.meta.id),
            reason: "the run does not exist on the server yet".into(),
        })?;
        let client = self.server.client.clone();
        let what = format!("read run {id}");
        let timeout = process().flush_timeout();
        block_on(self.base(), &what, timeout, async move {
            super::read_run(&client, &id, meta).await
        })
    }

    /// The server's run id, once the run exists there.
    pub(crate) fn remote_id(&self) -> Option<String> {
        lock(&self.state).remote.run_id.clone()
    }

    /// The server run's artifact root, once the run exists there.
    pub(crate) fn artifact_uri(&self) -> Option<String> {
        lock(&self.state).remote.artifact_uri.clone()
    }

    /// The client of the server.
    pub(crate) fn client(&self) -> &super::Client {
        &self.server.client
    }

    /// The journal offset up to which the server has everything.
    pub(crate) fn shipped_offset(&self) -> u64 {
        lock(&self.state).remote.cursor.offset
    }

    /// Records shipped by this link.
    pub(crate) fn shipped_records(&self) -> u64 {
        lock(&self.state).shipped_records
    }

    /// The task has stopped (shipped everything of a closed link, or failed).
    pub(crate) fn is_stopped(&self) -> bool {
        lock(&self.state).stopped
    }

    /// Why shipping stopped for good, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        lock(&self.state).fatal.as_ref().map(ToString::to_string)
    }

    /// The failure being retried, if any.
    pub(crate) fn trouble(&self) -> Option<String> {
        lock(&self.state).trouble.clone()
    }

    /// Gives up shipping (the server kept failing for `after`): the link stops now, its task at
    /// its next retry; the records stay in the journal.
    pub(crate) fn abandon(&self, trouble: &str, after: Duration) {
        self.fail(ShipError::Abandoned {
            after,
            trouble: trouble.to_owned(),
        });
        self.poke();
    }

    /// Shipping has stopped for good (its task may still be finishing a call).
    pub(super) fn has_failed(&self) -> bool {
        lock(&self.state).fatal.is_some()
    }

    /// Records the server refused so far, with its messages.
    pub(crate) fn refused(&self) -> Vec<String> {
        lock(&self.state).refused.clone()
    }

    /// A wait has already told the program that the run's artifact store cannot be written.
    pub(super) fn store_told(&self) -> bool {
        lock(&self.state).store_told
    }

    /// Artifacts the server refused, kept for the next sync, by path among the run's artifacts.
    pub(crate) fn pending_artifacts(&self) -> Vec<String> {
        lock(&self.state).remote.pending_artifacts.clone()
    }

    /// Wakes the task to look at the journal now, and cuts a backoff short.
    pub(crate) fn poke(&self) {
        // Every call backing off wakes (up to 4 batches are in flight, each in its own retry
        // loop): with notify_one alone, a wait could see the others sleep out a 10 s backoff
        // after the server came back, longer than the stall timeout it waits with
        // (`an_outage_mid_run_loses_and_duplicates_nothing` failed so under load). The permit
        // of notify_one is for a task not waiting yet.
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    /// Resolves when the link is poked.
    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// No more records will be logged by this process: the task ships what is there and stops.
    pub(crate) fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_one();
    }

    /// The length of the run's journal now.
    pub(crate) fn journal_len(&self) -> u64 {
        std::fs::metadata(self.journal()).map_or(0, |m| m.len())
    }

    pub(super) fn journal(&self) -> PathBuf {
        self.dir.join(JOURNAL_FILE)
    }

    /// Waits until the server has everything before journal offset `end`. The wait ends early,
    /// with an error saying the records are safe in the journal, when shipping failed for
    /// good, when `timeout` passes, or when the server has been failing for the stall timeout
    /// without answering (`RUNCTX_STALL_TIMEOUT`). A server that a wait gave up on is not
    /// waited for again until it answers.
    pub(crate) fn wait_shipped(&self, end: u64, timeout: Duration) -> Result<()> {
        self.poke();
        let started = Instant::now();
        let deadline = started + timeout;
        let stall = process().stall_timeout();
        let mut state = lock(&self.state);
        loop {
            let cursor = state.remote.cursor;
            if cursor.offset >= end && cursor.index == 0 {
                let Some(reason) = state.store_unusable.clone() else {
                    return Ok(());
                };
                state.store_told = true;
                return Err(Error::ArtifactsNotStored {
                    id: self.meta.id.clone(),
                    server: self.server.base().to_owned(),
                    reason,
                    pending: state.remote.pending_artifacts.len(),
                });
            }
            if let Some(reason) = &state.fatal {
                return Err(self.not_shipped(&reason.to_string(), end, &state, false));
            }
            if state.stopped {
                return Err(self.not_shipped("shipping stopped", end, &state, false));
            }
            if let Some(trouble) = &state.trouble {
                let silent_since = state.trouble_since.max(started);
                if self.server.is_unreachable() || silent_since.elapsed() >= stall {
                    self.server.mark_unreachable();
                    let why = format!("the server is not answering: {trouble}");
                    return Err(self.not_shipped(&why, end, &state, true));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                let why = format!("still not shipped after {timeout:?}");
                return Err(self.not_shipped(&why, end, &state, true));
            }
            // Wake at least every 100 ms to check the stall timeout.
            let nap = (deadline - now).min(Duration::from_millis(100));
            state = self
                .changed
                .wait_timeout(state, nap)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn not_shipped(&self, why: &str, end: u64, state: &LinkState, retrying: bool) -> Error {
        Error::NotShipped {
            id: self.meta.id.clone(),
            server: self.server.base().to_owned(),
            reason: why.to_owned(),
            pending_bytes: end.saturating_sub(state.remote.cursor.offset),
            retrying,
        }
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut LinkState)) {
        f(&mut lock(&self.state));
        self.changed.notify_all();
    }

    /// The server answered a call: the trouble is over.
    pub(super) fn answered(&self) {
        self.server.answered();
        self.update(|s| s.trouble = None);
    }

    /// A call failed and is being retried.
    pub(super) fn troubled(&self, message: String) {
        self.update(|s| {
            if s.trouble.is_none() {
                s.trouble_since = Instant::now();
            }
            s.trouble = Some(message);
        });
    }

    /// Shipping stopped for good (the first reason stands).
    pub(super) fn fail(&self, reason: ShipError) {
        if self.has_failed() {
            self.update(|s| s.stopped = true);
            return;
        }
        self.report(&reason.to_string());
        self.update(|s| {
            s.fatal.get_or_insert(reason);
            s.stopped = true;
        });
    }

    /// Records that the server refused a record or artifact, and says so on standard error.
    pub(super) fn refuse(&self, message: String) {
        self.report(&message);
        self.update(|s| s.refused.push(message));
    }

    /// Saves how far the journal is shipped in `remote.json`.
    pub(super) fn save(&self) {
        let remote = lock(&self.state).remote.clone();
        if let Err(e) = RemoteFile::update(&self.dir, self.server.base(), &remote) {
            self.report(&format!("cannot save the shipping position: {e}"));
        }
    }

    /// Tells the user, on standard error, what happened to the run's shipping.
    pub(super) fn report(&self, message: &str) {
        eprintln!("run-runtime: run {}: {message}", self.meta.id);
    }
}
