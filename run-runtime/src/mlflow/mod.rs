//! The online backend: a client of MLflow's REST API, the shipper that sends journals to it,
//! reading back from it, and `sync` of local runs.

mod client;
mod read;
pub mod remote;
mod shipper;
pub mod sync;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use client::{CallError, Client, Credentials, Secret};
pub use read::read_run;
pub(crate) use shipper::wait_all;
pub use shipper::{Link, Target, block_on};

use crate::config::{Settings, TrackingUri};
use crate::error::Result;

/// The shipping target for `uri`, shared by every run of the process that ships there.
pub(crate) fn target(settings: &Settings, uri: &TrackingUri) -> Result<Arc<Target>> {
    static TARGETS: Mutex<Option<HashMap<String, Arc<Target>>>> = Mutex::new(None);
    let mut targets = TARGETS.lock().unwrap_or_else(PoisonError::into_inner);
    let targets = targets.get_or_insert_with(HashMap::new);
    if let Some(t) = targets.get(&uri.base) {
        return Ok(t.clone());
    }
    let credentials = Credentials::from_lookup(|k| std::env::var(k).ok())?;
    let target = Arc::new(Target {
        client: Client::new(uri, credentials, settings.insecure_tls)?,
        max_batch_metrics: settings.max_batch_metrics.unwrap_or(if uri.azureml {
            250
        } else {
            1000
        }),
        concurrency: settings.ship_concurrency,
    });
    targets.insert(uri.base.clone(), target.clone());
    Ok(target)
}
