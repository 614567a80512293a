//! Uploading local runs to a tracking server: offline runs, and the unshipped tail of online
//! runs. The core of `runctx sync`.
//!
//! Syncing is idempotent: each run records its server id and how far its journal is shipped
//! in `remote.json`, and a run created by an attempt that died before saving its id is found
//! again by its `runctx.local_id` tag. Parent and child links, timestamps, steps, statuses and
//! artifacts are kept. Then the versions of the local model registry that the synced runs
//! registered are registered on the server, each once (see [`SyncedModel`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Client, Credentials, Secret};
use super::link::Link;
use super::server::Server;
use crate::config::TrackingUri;
use crate::error::Result;
use crate::store::{RunMeta, RunSummary, Store, StoreProblem};

/// Where to sync to, and how: the server, and the credentials and limits to use there.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    uri: TrackingUri,
    credentials: Credentials,
    insecure_tls: bool,
    max_batch_metrics: Option<usize>,
    concurrency: usize,
}

impl SyncOptions {
    /// Options for `uri`, with credentials and settings from the environment
    /// (`RUNCTX_TRACKING_TOKEN_FILE`, `MLFLOW_TRACKING_TOKEN`, ...,
    /// `MLFLOW_TRACKING_INSECURE_TLS`, `RUNCTX_MAX_BATCH_METRICS`, `RUNCTX_SHIP_CONCURRENCY`).
    pub fn from_env(uri: &str) -> Result<Self> {
        let uri = TrackingUri::parse("--to", uri)?;
        let settings = crate::process::process().settings()?;
        let credentials = Credentials::for_server(&uri, |k| std::env::var(k).ok())?;
        Ok(SyncOptions {
            uri,
            credentials,
            insecure_tls: settings.insecure_tls,
            max_batch_metrics: settings.max_batch_metrics,
            concurrency: settings.ship_concurrency,
        })
    }

    /// The tracking server's base URL.
    pub fn server(&self) -> &str {
        &self.uri.base
    }

    /// Authenticates with HTTP Basic as `user`, in place of the environment's credentials.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.credentials = Credentials::Basic {
            user: user.to_owned(),
            password: Secret::new(password),
        };
        self
    }

    /// Authenticates with `Authorization: Bearer <token>`, in place of the environment's
    /// credentials.
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.credentials = Credentials::Bearer(Secret::new(token));
        self
    }
}

/// Progress of one run, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncProgress {
    /// The local run id.
    pub id: String,
    /// Journal bytes the server has.
    pub shipped: u64,
    /// Journal bytes in all.
    pub total: u64,
}

/// What syncing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Each run synced, parents first.
    pub runs: Vec<SyncedRun>,
    /// Files of the store that could not be used; their runs were not synced.
    pub skipped: Vec<StoreProblem>,
    /// The versions of the local model registry registered by the synced runs.
    pub models: Vec<SyncedModel>,
}

/// What syncing did to one version of the local model registry.
///
/// After its run is synced, a version is registered on the server with the source
/// `runs:/<server run id>/models/<name>`, only once the run's artifact store lists its files;
/// it carries the tag `runctx.version_key` (`<local run>/<name>/<version>`), so a sync that is
/// interrupted or run again finds it rather than creating another; and its number on the
/// server is remembered in the local version's folder (`remote.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncedModel {
    /// The model's name.
    pub name: String,
    /// The local version.
    pub version: u64,
    /// The local run that registered it.
    pub run_id: String,
    /// Its version on the server, once registered there.
    pub remote_version: Option<u64>,
    /// `true` when this sync created it; `false` when the server had it already.
    pub created: bool,
    /// Why it could not be registered on the server, if it could not.
    pub error: Option<String>,
}

/// What syncing did to one run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncedRun {
    /// The local run id.
    pub id: String,
    /// The server's run id.
    pub remote_id: Option<String>,
    /// Records shipped by this call (0: the server had everything already).
    pub records: u64,
    /// Records the server refused, with its messages.
    pub refused: Vec<String>,
    /// What the run was synced without (a parent that is not in the store).
    pub warnings: Vec<String>,
    /// Why the run could not be synced, if it could not.
    pub error: Option<String>,
}

/// A run to sync: its description as sent, and what it goes without.
struct Planned {
    meta: RunMeta,
    warning: Option<String>,
}

/// Uploads runs `ids` of `store` (every run when empty), with their ancestors and descendants,
/// parents first. A run whose parent is not in the store is synced at the top level, with a
/// warning. Calls `progress` about ten times a second while it works. Gives up on what is left
/// when the server has answered nothing for the flush timeout (`RUNCTX_FLUSH_TIMEOUT`) while
/// failing: the journal keeps it for the next sync.
pub fn sync(
    store: &Store,
    ids: &[String],
    options: &SyncOptions,
    mut progress: impl FnMut(&[SyncProgress]),
) -> Result<SyncReport> {
    let listing = store.list()?;
    let planned = plan(store, &listing.runs, ids)?;
    let client = Client::new(
        &options.uri,
        options.credentials.clone(),
        options.insecure_tls,
    )?;
    let server = Arc::new(Server::new(
        client,
        &options.uri,
        options.max_batch_metrics,
        options.concurrency,
    ));
    let mut links: HashMap<String, Arc<Link>> = HashMap::new();
    let mut report = SyncReport {
        runs: Vec::new(),
        skipped: listing.problems,
        models: Vec::new(),
    };
    for Planned { meta, warning } in planned {
        let parent = meta.parent_id.as_ref().and_then(|p| links.get(p).cloned());
        let mut synced = SyncedRun {
            id: meta.id.clone(),
            remote_id: None,
            records: 0,
            refused: Vec::new(),
            warnings: warning.into_iter().collect(),
            error: None,
        };
        match meta.parent_id.as_ref().filter(|_| parent.is_none()) {
            Some(p) => synced.error = Some(format!("its parent run {p} could not be synced")),
            None => match Link::start(server.clone(), meta, store.root(), parent, None) {
                Ok(link) => {
                    link.close();
                    links.insert(synced.id.clone(), link);
                }
                Err(e) => synced.error = Some(e.to_string()),
            },
        }
        report.runs.push(synced);
    }
    follow(store, &links, &report.runs, &mut progress);
    for run in &mut report.runs {
        if let Some(link) = links.get(&run.id) {
            run.remote_id = link.remote_id();
            run.records = link.shipped_records();
            run.refused = link.refused();
            run.error = link.failure();
        }
    }
    // Versions point at their runs' files: only now are those on the server.
    report.models = crate::registry::publish::publish(store, &links);
    Ok(report)
}

/// Reports progress until every link has stopped, or the server has answered nothing for the
/// flush timeout while failing (then the links left are abandoned).
fn follow(
    store: &Store,
    links: &HashMap<String, Arc<Link>>,
    runs: &[SyncedRun],
    progress: &mut impl FnMut(&[SyncProgress]),
) {
    let patience = crate::process::process().flush_timeout();
    let mut last = (0u64, Instant::now());
    loop {
        let states: Vec<SyncProgress> = runs
            .iter()
            .filter_map(|r| links.get(&r.id).map(|l| (r, l)))
            .map(|(r, link)| {
                let total = store.journal_len(&r.id);
                SyncProgress {
                    id: r.id.clone(),
                    shipped: link.shipped_offset().min(total),
                    total,
                }
            })
            .collect();
        progress(&states);
        if links.values().all(|l| l.is_stopped()) {
            return;
        }
        let shipped: u64 = states.iter().map(|s| s.shipped).sum();
        if shipped != last.0 {
            last = (shipped, Instant::now());
        } else if last.1.elapsed() >= patience
            && let Some(trouble) = links.values().find_map(|l| l.trouble())
        {
            for link in links.values().filter(|l| !l.is_stopped()) {
                link.abandon(&trouble, patience);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The runs to sync, parents before children: those asked for (every run when none), their
/// ancestors and their descendants. A run whose parent is not in the store goes at the top
/// level, with a warning.
fn plan(store: &Store, all: &[RunSummary], ids: &[String]) -> Result<Vec<Planned>> {
    let by_id: BTreeMap<&str, &RunMeta> =
        all.iter().map(|r| (r.meta.id.as_str(), &r.meta)).collect();
    let mut wanted: Vec<String> = if ids.is_empty() {
        all.iter().map(|r| r.meta.id.clone()).collect()
    } else {
        ids.iter()
            .map(|id| store.resolve(id))
            .collect::<Result<_>>()?
    };
    // Ancestors come along, so that a child is created under its parent.
    let mut i = 0;
    while i < wanted.len() {
        let parent = by_id
            .get(wanted[i].as_str())
            .and_then(|m| m.parent_id.clone());
        if let Some(p) = parent.filter(|p| by_id.contains_key(p.as_str()) && !wanted.contains(p)) {
            wanted.push(p);
        }
        i += 1;
    }
    // Descendants come along.
    let mut i = 0;
    while i < wanted.len() {
        let id = wanted[i].clone();
        for r in all {
            if r.meta.parent_id.as_deref() == Some(id.as_str()) && !wanted.contains(&r.meta.id) {
                wanted.push(r.meta.id.clone());
            }
        }
        i += 1;
    }
    let mut planned: Vec<Planned> = wanted
        .iter()
        .filter_map(|id| by_id.get(id.as_str()))
        .map(|m| {
            let mut meta = (*m).clone();
            let orphan = meta
                .parent_id
                .clone()
                .filter(|p| !by_id.contains_key(p.as_str()));
            let warning = orphan.map(|p| {
                meta.parent_id = None;
                format!(
                    "its parent run {p} is not in the store {}; it is synced as a top-level run",
                    store.root().display()
                )
            });
            Planned { meta, warning }
        })
        .collect();
    planned.sort_by_key(|p| (depth(&by_id, &p.meta.id), p.meta.start_time));
    Ok(planned)
}

/// How many ancestors run `id` has in the store.
fn depth<'a>(by_id: &BTreeMap<&'a str, &'a RunMeta>, mut id: &'a str) -> usize {
    let mut d = 0;
    while let Some(parent) = by_id.get(id).and_then(|m| m.parent_id.as_deref()) {
        d += 1;
        id = parent;
        if d > by_id.len() {
            break; // a cycle, which only a hand-edited store could have
        }
    }
    d
}
