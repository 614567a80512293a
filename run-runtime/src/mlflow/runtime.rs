//! The shipping runtime: one thread per process running a single-threaded tokio runtime, on
//! which each shipped run is a task. The library owns it, so shipping works the same from a
//! plain program and from inside a user's own tokio runtime.

use std::collections::HashMap;
use std::future::Future;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::client::CallError;
use super::link::Link;
use super::server::Server;
use crate::error::{Error, Result};
use crate::process::{lock, process};

/// The shipping of the process: its runtime, the servers it ships to and the runs it ships.
/// Held by [`crate::process::Process`].
pub(crate) struct Shipping {
    /// The runtime's handle, once its thread runs.
    runtime: OnceLock<tokio::runtime::Handle>,
    /// One per server, by base URL.
    pub(super) servers: Mutex<Option<HashMap<String, Arc<Server>>>>,
    /// The runs being shipped, for the exit handler.
    links: Mutex<Vec<Weak<Link>>>,
}

impl Shipping {
    pub(crate) const fn new() -> Self {
        Shipping {
            runtime: OnceLock::new(),
            servers: Mutex::new(None),
            links: Mutex::new(Vec::new()),
        }
    }
}

/// The runtime, started on first use.
pub(super) fn runtime() -> &'static tokio::runtime::Handle {
    process().shipping.runtime.get_or_init(|| {
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

/// Remembers a link, for the exit handler.
pub(super) fn register(link: &Arc<Link>) {
    let mut links = lock(&process().shipping.links);
    links.retain(|l| l.strong_count() > 0);
    links.push(Arc::downgrade(link));
}

/// Runs a call to the server at `server` on the shipping runtime and waits for it, at most
/// `timeout`; for callers outside any runtime (the command-line tool, the registry, reading
/// back online). Safe to call from inside a user's tokio runtime: the future runs on the
/// library's own thread. `what` says what was asked, for the error.
pub(crate) fn block_on<T, F>(server: &str, what: &str, timeout: Duration, future: F) -> Result<T>
where
    F: Future<Output = std::result::Result<T, CallError>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let task = runtime().spawn(async move {
        let _ = tx.send(future.await);
    });
    let failed = |reason: String| Error::Server {
        server: server.to_owned(),
        what: what.to_owned(),
        reason,
    };
    match rx.recv_timeout(timeout) {
        Ok(answer) => answer.map_err(|e| failed(e.to_string())),
        Err(RecvTimeoutError::Timeout) => {
            task.abort();
            Err(failed(format!(
                "no answer within {timeout:?} (RUNCTX_FLUSH_TIMEOUT sets the limit)"
            )))
        }
        Err(RecvTimeoutError::Disconnected) => {
            Err(failed(String::from("the shipping runtime stopped")))
        }
    }
}

/// Waits, until `deadline`, for every link of the process to ship its journal to the end.
/// Returns what could not be shipped in time.
pub(crate) fn wait_all(deadline: Instant) -> Vec<Error> {
    let links: Vec<Arc<Link>> = lock(&process().shipping.links)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut left = Vec::new();
    for link in links {
        if link.is_stopped() && link.failure().is_none() {
            continue;
        }
        let told = link.store_told();
        let timeout = deadline.saturating_duration_since(Instant::now());
        match link.wait_shipped(link.journal_len(), timeout) {
            // `flush` or `complete` returned it to the program already: not said twice.
            Err(Error::ArtifactsNotStored { .. }) if told => {}
            Err(e) => left.push(e),
            Ok(()) => {}
        }
    }
    left
}
