//! The journal writer thread: one per process, serving every journal the process has open. It
//! appends a journal's pending records when they pass a size, on `flush()`, and every
//! [`TICK`]. A panic in it is caught: it marks the writer dead, and every journal refuses
//! records and flushes from then on, with an error that says so, rather than waiting forever.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::writer::{Journal, TICK, lock};

/// A journal writer thread: the process's one (held by [`crate::process::Process`]), or a
/// test's own.
pub(crate) struct Writer {
    thread: OnceLock<Thread>,
    /// Serialises starting the thread.
    starting: Mutex<()>,
    inbox: Mutex<Inbox>,
    /// Makes the thread panic, to test what its death does.
    #[cfg(test)]
    pub(super) panic_next: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Inbox {
    ready: Vec<Arc<Journal>>,
    flushes: Vec<FlushRequest>,
    live: Vec<Weak<Journal>>,
    /// Why the thread died, once it has.
    dead: Option<String>,
}

/// A caller waiting for the writer to write (and sync) its journal.
pub(super) struct FlushRequest {
    pub(super) journal: Arc<Journal>,
    pub(super) sync: bool,
    pub(super) ticket: Arc<Ticket>,
}

impl Drop for FlushRequest {
    fn drop(&mut self) {
        // Answered already, unless the writer panicked while serving it.
        self.ticket.set(Err(
            "the journal writer thread stopped before finishing this flush".into(),
        ));
    }
}

/// Where the writer answers a flush.
#[derive(Default)]
pub(super) struct Ticket {
    /// The answer, and whether one was given (only the first counts).
    result: Mutex<(bool, Option<Result<(), String>>)>,
    done: Condvar,
}

impl Ticket {
    fn set(&self, result: Result<(), String>) {
        let mut slot = lock(&self.result);
        if !slot.0 {
            *slot = (true, Some(result));
            self.done.notify_all();
        }
    }

    pub(super) fn wait(&self, timeout: Duration) -> Option<Result<(), String>> {
        let deadline = Instant::now() + timeout;
        let mut slot = lock(&self.result);
        loop {
            if let Some(r) = slot.1.take() {
                return Some(r);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            slot = self
                .done
                .wait_timeout(slot, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The process's journal writer.
pub(super) fn writer() -> &'static Writer {
    crate::process::process().writer.get_or_init(Writer::new)
}

impl Writer {
    pub(super) fn new() -> Writer {
        Writer {
            thread: OnceLock::new(),
            starting: Mutex::new(()),
            inbox: Mutex::default(),
            #[cfg(test)]
            panic_next: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts the thread, once.
    pub(super) fn start(&'static self) -> io::Result<()> {
        let _one_at_a_time = lock(&self.starting);
        if self.thread.get().is_none() {
            let handle = thread::Builder::new()
                .name("runctx-journal".into())
                .spawn(move || self.run())?;
            let _ = self.thread.set(handle.thread().clone());
        }
        Ok(())
    }

    pub(super) fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    pub(super) fn register(&self, journal: &Arc<Journal>) -> Result<(), String> {
        let mut inbox = lock(&self.inbox);
        if let Some(message) = &inbox.dead {
            return Err(format!(
                "{message}; nothing more can be logged in this process: end the program and \
                 report the panic"
            ));
        }
        inbox.live.push(Arc::downgrade(journal));
        Ok(())
    }

    pub(super) fn ready(&self, journal: &Arc<Journal>) {
        lock(&self.inbox).ready.push(journal.clone());
        self.wake();
    }

    /// Queues a flush; when the writer is dead, returns why (its message, and the error's).
    pub(super) fn flush(&self, request: FlushRequest) -> Result<(), (String, String)> {
        let mut inbox = lock(&self.inbox);
        if let Some(message) = &inbox.dead {
            let reason = dead_flush(message);
            request.ticket.set(Err(reason.clone()));
            return Err((message.clone(), reason));
        }
        inbox.flushes.push(request);
        drop(inbox);
        self.wake();
        Ok(())
    }

    /// The thread's body: the loop, and what its panic means.
    fn run(&'static self) {
        let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| self.serve())) else {
            return;
        };
        let message = format!(
            "the journal writer thread panicked ({})",
            crate::panics::payload_text(&*payload)
        );
        self.die(message);
    }

    /// Marks the writer dead: every journal refuses appends, then flushes waiting for it fail
    /// (in that order, so that a caller whose flush failed finds appends refused).
    fn die(&self, message: String) {
        eprintln!("run-runtime: {message}; logging fails from now on");
        let (flushes, live) = {
            let mut inbox = lock(&self.inbox);
            inbox.dead = Some(message.clone());
            inbox.ready.clear();
            let live: Vec<Arc<Journal>> = inbox.live.iter().filter_map(Weak::upgrade).collect();
            (std::mem::take(&mut inbox.flushes), live)
        };
        for journal in live {
            journal.writer_died(&message);
        }
        for f in flushes {
            f.ticket.set(Err(dead_flush(&message)));
        }
    }

    fn serve(&'static self) {
        let mut next_sweep = Instant::now() + TICK;
        loop {
            #[cfg(test)]
            if self
                .panic_next
                .swap(false, std::sync::atomic::Ordering::Relaxed)
            {
                panic!("a test made the journal writer panic");
            }
            let now = Instant::now();
            let sweep = now >= next_sweep;
            let (ready, flushes, live) = {
                let mut inbox = lock(&self.inbox);
                let live = if sweep {
                    inbox.live.retain(|j| j.strong_count() > 0);
                    inbox.live.iter().filter_map(Weak::upgrade).collect()
                } else {
                    Vec::new()
                };
                (
                    std::mem::take(&mut inbox.ready),
                    std::mem::take(&mut inbox.flushes),
                    live,
                )
            };
            if ready.is_empty() && flushes.is_empty() && !sweep {
                thread::park_timeout(next_sweep - now);
                continue;
            }
            for journal in ready {
                let _ = journal.drain();
            }
            for f in flushes {
                let result = f
                    .journal
                    .drain()
                    .and_then(|()| if f.sync { f.journal.sync() } else { Ok(()) });
                f.ticket.set(result.map_err(|e| {
                    format!(
                        "{e}; the records are kept in memory and retried every {} ms: make \
                         room on the disk or raise the file size limit, then flush again",
                        TICK.as_millis()
                    )
                }));
            }
            if sweep {
                for journal in live.iter().filter(|j| j.has_pending()) {
                    let _ = journal.drain();
                }
                next_sweep = Instant::now() + TICK;
            }
        }
    }
}

fn dead_flush(message: &str) -> String {
    format!(
        "{message}; the records logged since its last write cannot be written by this process: \
         end the program (runs stay readable up to what was written) and report the panic"
    )
}
