//! Uploading local runs to a tracking server: offline runs, and the unshipped tail of online
//! runs. The core of `runctx sync`.
//!
//! Syncing is idempotent: each run records its server id and how far its journal is shipped
//! in `remote.json`, and a run created by an attempt that died before saving its id is found
//! again by its `runctx.local_id` tag. Parent and child links, timestamps, steps, statuses and
//! artifacts are kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::client::{Client, Credentials};
use super::shipper::{Link, Target};
use crate::config::TrackingUri;
use crate::error::{Error, Result};
use crate::store::{JOURNAL_FILE, RunMeta, Store};

/// Where to sync to, and how.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The tracking server.
    pub uri: TrackingUri,
    /// Its credentials.
    pub credentials: Credentials,
    /// Do not verify its TLS certificate.
    pub insecure_tls: bool,
    /// Most metrics in one batch (default: 1000, or 250 for Azure ML).
    pub max_batch_metrics: Option<usize>,
    /// Batches in flight at once.
    pub concurrency: usize,
}

impl SyncOptions {
    /// Options for `uri`, with credentials and settings from the environment
    /// (`MLFLOW_TRACKING_TOKEN`, ..., `MLFLOW_TRACKING_INSECURE_TLS`, `RUNCTX_MAX_BATCH_METRICS`,
    /// `RUNCTX_SHIP_CONCURRENCY`).
    pub fn from_env(uri: &str) -> Result<Self> {
        let uri = TrackingUri::parse("--to", uri)?;
        let settings = crate::config::Settings::from_env()?;
        Ok(SyncOptions {
            uri,
            credentials: Credentials::from_lookup(|k| std::env::var(k).ok())?,
            insecure_tls: settings.insecure_tls,
            max_batch_metrics: settings.max_batch_metrics,
            concurrency: settings.ship_concurrency,
        })
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
    /// Why the run could not be synced, if it could not.
    pub error: Option<String>,
}

/// Uploads runs `ids` of `store` (every run when empty), with their descendants, parents
/// first. Calls `progress` about ten times a second while it works.
pub fn sync(
    store: &Store,
    ids: &[String],
    options: &SyncOptions,
    mut progress: impl FnMut(&[SyncProgress]),
) -> Result<Vec<SyncedRun>> {
    let runs = selected(store, ids)?;
    let target = Arc::new(Target {
        client: Client::new(
            &options.uri,
            options.credentials.clone(),
            options.insecure_tls,
        )?,
        max_batch_metrics: options.max_batch_metrics.unwrap_or(if options.uri.azureml {
            250
        } else {
            1000
        }),
        concurrency: options.concurrency.max(1),
    });
    let mut links: HashMap<String, Arc<Link>> = HashMap::new();
    let mut order = Vec::new();
    for meta in runs {
        let parent = meta.parent_id.as_ref().and_then(|p| links.get(p).cloned());
        let id = meta.id.clone();
        let link = Link::start(target.clone(), meta, store.root(), parent, None)?;
        link.close();
        links.insert(id.clone(), link);
        order.push(id);
    }
    loop {
        let states: Vec<SyncProgress> = order
            .iter()
            .map(|id| {
                let total =
                    std::fs::metadata(store.run_dir(id).join(JOURNAL_FILE)).map_or(0, |m| m.len());
                SyncProgress {
                    id: id.clone(),
                    shipped: links[id].shipped_offset().min(total),
                    total,
                }
            })
            .collect();
        progress(&states);
        if order.iter().all(|id| links[id].is_stopped()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(order
        .iter()
        .map(|id| {
            let link = &links[id];
            SyncedRun {
                id: id.clone(),
                remote_id: link.remote_id(),
                records: link.shipped_records(),
                refused: link.refused(),
                error: link.failure(),
            }
        })
        .collect())
}

/// The runs to sync, parents before children.
fn selected(store: &Store, ids: &[String]) -> Result<Vec<RunMeta>> {
    let all: Vec<RunMeta> = store.runs()?.into_iter().map(|s| s.meta).collect();
    let mut wanted: Vec<String> = if ids.is_empty() {
        all.iter().map(|m| m.id.clone()).collect()
    } else {
        ids.iter()
            .map(|id| store.resolve(id))
            .collect::<Result<_>>()?
    };
    // Descendants come along.
    let mut i = 0;
    while i < wanted.len() {
        let id = wanted[i].clone();
        for m in &all {
            if m.parent_id.as_deref() == Some(id.as_str()) && !wanted.contains(&m.id) {
                wanted.push(m.id.clone());
            }
        }
        i += 1;
    }
    let by_id: BTreeMap<&str, &RunMeta> = all.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut metas: Vec<RunMeta> = wanted
        .iter()
        .map(|id| {
            by_id
                .get(id.as_str())
                .map(|m| (*m).clone())
                .ok_or_else(|| Error::RunNotFound {
                    id: id.clone(),
                    store: store.root().to_owned(),
                    similar: Vec::new(),
                })
        })
        .collect::<Result<_>>()?;
    metas.sort_by_key(|m| (depth(&by_id, &m.id), m.start_time));
    Ok(metas)
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
