//! Appending to a journal without making the caller wait for the disk.
//!
//! A logging call encodes its record into the run's pending buffer under a short lock and
//! returns. One background thread per process (the journal writer) takes whole buffers and
//! appends each as one checksummed block with a single `write`. It is woken when a buffer passes
//! [`WAKE_AT`], on `flush()`, and every [`TICK`] in any case, so a record never waits in memory
//! longer than that. A caller whose buffer reaches [`PENDING_LIMIT`] waits until the writer has
//! taken it: memory stays bounded when a program logs faster than the disk takes it, and no
//! record is ever dropped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::format::{
    AUTO_STEP, BLOCK_HEADER_LEN, BLOCK_MAGIC, FILE_HEADER_LEN, KIND_EVENT, KIND_METRIC,
    KIND_PROPERTY, KIND_TAG, Record, file_header, metric_step_offset,
};
use super::reader::Damage;
use crate::error::{Error, Result};

/// Pending bytes at which the writer is woken.
pub(crate) const WAKE_AT: usize = 64 << 10;
/// Pending bytes at which a logging call waits for the writer.
pub(crate) const PENDING_LIMIT: usize = 1 << 20;
/// Longest time a record stays in memory before the writer appends it.
pub(crate) const TICK: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One run's journal file and the records on their way to it.
pub(crate) struct Journal {
    path: PathBuf,
    pending: Mutex<Pending>,
    /// Signalled when the writer takes the pending buffer.
    space: Condvar,
    /// Used by the writer thread, and by `open` before the journal is shared.
    disk: Mutex<Disk>,
}

struct Pending {
    /// Encoded records, after `BLOCK_HEADER_LEN` bytes kept for the block header.
    buf: Vec<u8>,
    /// A buffer the writer has finished with, reused to avoid allocating.
    spare: Option<Vec<u8>>,
    /// Already on the writer's ready list.
    queued: bool,
}

struct Disk {
    file: File,
    /// The step `run.log` gives the next point of each key.
    next_step: HashMap<Box<[u8]>, i64, BuildHasherDefault<FxHasher>>,
    /// A block whose write failed, tried again before anything newer.
    unwritten: Option<Vec<u8>>,
    /// The last write error, until a write succeeds.
    failure: Option<String>,
}

fn empty_block() -> Vec<u8> {
    let mut buf = Vec::with_capacity(WAKE_AT + (WAKE_AT >> 2));
    buf.resize(BLOCK_HEADER_LEN, 0);
    buf
}

impl Journal {
    /// Opens the journal at `path` for appending, creating it if `create`.
    ///
    /// An existing journal is checked first: a torn tail left by a crash is cut off (and
    /// returned as damage) so that new blocks follow intact ones, and the step counters of
    /// `run.log` continue where they stopped.
    pub(crate) fn open(path: &Path, create: bool) -> Result<(Arc<Journal>, Vec<Damage>)> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(path)
            .map_err(|e| Error::io(if create { "create" } else { "open" }, path, e))?;
        file.lock().map_err(|e| Error::io("lock", path, e))?;
        let prepared = prepare(&file, path);
        // Unlocking cannot fail on a descriptor we hold; the lock also ends when it closes.
        let _ = file.unlock();
        let (next_step, damage) = prepared?;
        let journal = Arc::new(Journal {
            path: path.to_owned(),
            pending: Mutex::new(Pending {
                buf: empty_block(),
                spare: None,
                queued: false,
            }),
            space: Condvar::new(),
            disk: Mutex::new(Disk {
                file,
                next_step,
                unwritten: None,
                failure: None,
            }),
        });
        writer().register(&journal);
        Ok((journal, damage))
    }

    /// Encodes a record into the pending buffer; waits only if the buffer is full.
    #[inline]
    pub(crate) fn append(self: &Arc<Self>, encode: impl FnOnce(&mut Vec<u8>)) {
        let mut pending = lock(&self.pending);
        encode(&mut pending.buf);
        if pending.buf.len() >= WAKE_AT {
            self.wake_writer(pending);
        }
    }

    #[cold]
    fn wake_writer(self: &Arc<Self>, mut pending: MutexGuard<'_, Pending>) {
        if !pending.queued {
            pending.queued = true;
            writer().ready(self);
        }
        while pending.buf.len() >= PENDING_LIMIT {
            pending = self
                .space
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Returns once everything appended before the call is written to the file, and with
    /// `sync`, on the disk. Waits at most `timeout`.
    pub(crate) fn flush(self: &Arc<Self>, sync: bool, timeout: Option<Duration>) -> Result<()> {
        let ticket = Arc::new(Ticket::default());
        writer().flush(FlushRequest {
            journal: self.clone(),
            sync,
            ticket: ticket.clone(),
        });
        match ticket.wait(timeout) {
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(Error::io("write", &self.path, io::Error::other(reason))),
            None => Err(Error::io(
                "write",
                &self.path,
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the journal writer did not finish in time",
                ),
            )),
        }
    }

    /// Takes the pending buffer and appends it as a block. Called by the writer thread only.
    fn drain(&self) -> io::Result<()> {
        let mut disk = lock(&self.disk);
        if let Some(block) = disk.unwritten.take() {
            disk.write_block(block, &self.path)?;
        }
        let block = {
            let mut pending = lock(&self.pending);
            pending.queued = false;
            if pending.buf.len() <= BLOCK_HEADER_LEN {
                return Ok(());
            }
            let fresh = pending.spare.take().unwrap_or_else(empty_block);
            std::mem::replace(&mut pending.buf, fresh)
        };
        self.space.notify_all();
        let mut block = block;
        disk.number_steps(&mut block);
        let written = disk.write_block(block, &self.path)?;
        let mut pending = lock(&self.pending);
        if pending.spare.is_none() && written.capacity() <= PENDING_LIMIT * 2 {
            pending.spare = Some(written);
        }
        Ok(())
    }

    fn has_pending(&self) -> bool {
        lock(&self.pending).buf.len() > BLOCK_HEADER_LEN || lock(&self.disk).unwritten.is_some()
    }
}

/// Writes the header of a new journal, or checks an existing one and cuts its torn tail.
/// Returns the step counters of `run.log` and any damage found.
#[allow(clippy::type_complexity)]
fn prepare(
    file: &File,
    path: &Path,
) -> Result<(
    HashMap<Box<[u8]>, i64, BuildHasherDefault<FxHasher>>,
    Vec<Damage>,
)> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    let mut next_step = HashMap::default();
    if len < FILE_HEADER_LEN as u64 {
        // New, or the process died while writing the header: nothing to keep.
        file.set_len(0)
            .map_err(|e| Error::io("truncate", path, e))?;
        (&*file)
            .write_all(&file_header())
            .map_err(|e| Error::io("write", path, e))?;
        return Ok((next_step, Vec::new()));
    }
    let mut counters = |_: u64, record: Record<'_>| {
        if let Record::Metric { key, step, .. } = record {
            bump(&mut next_step, key.as_bytes(), step);
        }
    };
    let report = super::reader::read_journal(path, &mut counters)?;
    if report.valid_end < len {
        file.set_len(report.valid_end)
            .map_err(|e| Error::io("truncate", path, e))?;
    }
    Ok((next_step, report.damage))
}

fn bump(next: &mut HashMap<Box<[u8]>, i64, BuildHasherDefault<FxHasher>>, key: &[u8], step: i64) {
    let after = step.saturating_add(1);
    match next.get_mut(key) {
        Some(n) => *n = (*n).max(after),
        None => {
            next.insert(key.into(), after);
        }
    }
}

impl Disk {
    /// Gives each `run.log` point the next step of its key, and advances the counters past
    /// explicit steps, so a series stays in order however the two calls are mixed.
    fn number_steps(&mut self, block: &mut [u8]) {
        let mut pos = BLOCK_HEADER_LEN;
        while pos < block.len() {
            let kind = block[pos];
            let key_len = u16::from_le_bytes([block[pos + 1], block[pos + 2]]) as usize;
            match kind {
                KIND_METRIC => {
                    let step_at = pos + metric_step_offset(key_len);
                    let (head, tail) = block.split_at_mut(step_at);
                    let key = &head[pos + 3..pos + 3 + key_len];
                    let step_bytes: &mut [u8; 8] = (&mut tail[..8]).try_into().unwrap();
                    let step = i64::from_le_bytes(*step_bytes);
                    match self.next_step.get_mut(key) {
                        Some(next) if step == AUTO_STEP => {
                            *step_bytes = next.to_le_bytes();
                            *next += 1;
                        }
                        Some(next) => *next = (*next).max(step.saturating_add(1)),
                        None => {
                            let next = if step == AUTO_STEP {
                                *step_bytes = 0i64.to_le_bytes();
                                1
                            } else {
                                step.saturating_add(1)
                            };
                            self.next_step.insert(key.into(), next);
                        }
                    }
                    pos = step_at + 8;
                }
                KIND_TAG | KIND_PROPERTY => {
                    let at = pos + 3 + key_len;
                    let value_len = u32::from_le_bytes(block[at..at + 4].try_into().unwrap());
                    pos = at + 4 + value_len as usize;
                }
                KIND_EVENT => {
                    let len = u32::from_le_bytes(block[pos + 1..pos + 5].try_into().unwrap());
                    pos += 5 + len as usize;
                }
                _ => unreachable!("the encoder writes only known kinds"),
            }
        }
    }

    /// Appends `block` (header space included) with one `write`, under the file lock so that
    /// another process appending to the same run never interleaves with it.
    fn write_block(&mut self, mut block: Vec<u8>, path: &Path) -> io::Result<Vec<u8>> {
        let len = block.len() - BLOCK_HEADER_LEN;
        let crc = crc32fast::hash(&block[BLOCK_HEADER_LEN..]);
        block[..4].copy_from_slice(&BLOCK_MAGIC);
        block[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        block[8..12].copy_from_slice(&crc.to_le_bytes());
        let result = self.file.lock().and_then(|()| {
            let written = (&self.file).write_all(&block);
            let _ = self.file.unlock();
            written
        });
        match result {
            Ok(()) => {
                self.failure = None;
                block.truncate(BLOCK_HEADER_LEN);
                Ok(block)
            }
            Err(e) => {
                let message = format!("cannot write {}: {e}", path.display());
                if self.failure.as_deref() != Some(message.as_str()) {
                    eprintln!("run-runtime: {message}; the records are kept in memory and retried");
                }
                self.failure = Some(message);
                self.unwritten = Some(block);
                Err(e)
            }
        }
    }
}

/// The process's journal writer thread (held by [`crate::process::Process`]).
pub(crate) struct Writer {
    thread: Thread,
    inbox: Mutex<Inbox>,
}

#[derive(Default)]
struct Inbox {
    ready: Vec<Arc<Journal>>,
    flushes: Vec<FlushRequest>,
    live: Vec<Weak<Journal>>,
}

struct FlushRequest {
    journal: Arc<Journal>,
    sync: bool,
    ticket: Arc<Ticket>,
}

#[derive(Default)]
struct Ticket {
    result: Mutex<Option<Result<(), String>>>,
    done: Condvar,
}

impl Ticket {
    fn set(&self, result: Result<(), String>) {
        *lock(&self.result) = Some(result);
        self.done.notify_all();
    }

    fn wait(&self, timeout: Option<Duration>) -> Option<Result<(), String>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut result = lock(&self.result);
        loop {
            if let Some(r) = result.take() {
                return Some(r);
            }
            result = match deadline {
                None => self
                    .done
                    .wait(result)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.checked_duration_since(Instant::now())?;
                    self.done
                        .wait_timeout(result, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

fn writer() -> &'static Writer {
    crate::process::process().writer.get_or_init(|| {
        let thread = thread::Builder::new()
            .name("runctx-journal".into())
            .spawn(|| writer_loop(writer()))
            .expect("cannot start the journal writer thread");
        Writer {
            thread: thread.thread().clone(),
            inbox: Mutex::default(),
        }
    })
}

impl Writer {
    fn register(&self, journal: &Arc<Journal>) {
        lock(&self.inbox).live.push(Arc::downgrade(journal));
    }

    fn ready(&self, journal: &Arc<Journal>) {
        lock(&self.inbox).ready.push(journal.clone());
        self.thread.unpark();
    }

    fn flush(&self, request: FlushRequest) {
        lock(&self.inbox).flushes.push(request);
        self.thread.unpark();
    }
}

fn writer_loop(w: &'static Writer) {
    let mut next_sweep = Instant::now() + TICK;
    loop {
        let now = Instant::now();
        let sweep = now >= next_sweep;
        let (ready, flushes, live) = {
            let mut inbox = lock(&w.inbox);
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
            let result = f.journal.drain().and_then(|()| {
                if f.sync {
                    lock(&f.journal.disk).file.sync_data()
                } else {
                    Ok(())
                }
            });
            f.ticket.set(result.map_err(|e| e.to_string()));
        }
        if sweep {
            for journal in live.iter().filter(|j| j.has_pending()) {
                let _ = journal.drain();
            }
            next_sweep = Instant::now() + TICK;
        }
    }
}

/// The Firefox/rustc hash: a multiply and a rotate a word, far cheaper than SipHash for the
/// short metric keys the writer looks up once a point. The keys are the program's own.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in chunks.by_ref() {
            let word = u64::from_le_bytes(c.try_into().unwrap());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::{put_metric, put_pair};
    use super::*;
    use crate::journal::read_journal;

    fn steps_of(path: &Path) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        read_journal(path, |_, r| {
            if let Record::Metric { key, step, .. } = r {
                out.push((key.to_owned(), step));
            }
        })
        .unwrap();
        out
    }

    #[test]
    fn auto_steps_count_per_key_and_follow_explicit_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open(&path, true).unwrap();
        j.append(|b| put_metric(b, "a", 1.0, 0, AUTO_STEP));
        j.append(|b| put_metric(b, "b", 1.0, 0, AUTO_STEP));
        j.append(|b| put_metric(b, "a", 1.0, 0, AUTO_STEP));
        j.append(|b| put_pair(b, KIND_TAG, "t", "v"));
        j.append(|b| put_metric(b, "a", 1.0, 0, 10));
        j.append(|b| put_metric(b, "a", 1.0, 0, AUTO_STEP));
        j.flush(false, None).unwrap();
        let want = [("a", 0), ("b", 0), ("a", 1), ("a", 10), ("a", 11)];
        let want: Vec<_> = want.iter().map(|(k, s)| (k.to_string(), *s)).collect();
        assert_eq!(steps_of(&path), want);

        // A second opener continues the counters and appends after intact data.
        drop(j);
        let (j, damage) = Journal::open(&path, false).unwrap();
        assert!(damage.is_empty());
        j.append(|b| put_metric(b, "a", 1.0, 0, AUTO_STEP));
        j.flush(true, None).unwrap();
        assert_eq!(steps_of(&path).last().unwrap(), &("a".to_string(), 12));
    }

    #[test]
    fn reopening_cuts_a_torn_tail_so_new_blocks_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open(&path, true).unwrap();
        j.append(|b| put_metric(b, "a", 1.0, 0, 0));
        j.flush(false, None).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"RJB1\xff\xff\x00\x00garbage").unwrap();
        let (j, damage) = Journal::open(&path, false).unwrap();
        assert_eq!(damage.len(), 1);
        j.append(|b| put_metric(b, "a", 2.0, 0, 1));
        j.flush(false, None).unwrap();
        let report = read_journal(&path, |_, _| ()).unwrap();
        assert!(report.damage.is_empty(), "{:?}", report.damage);
        assert_eq!(report.records, 2);
    }

    #[test]
    fn many_blocks_from_many_threads_all_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open(&path, true).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let j = j.clone();
                thread::spawn(move || {
                    let key = format!("k{t}");
                    for i in 0..50_000 {
                        j.append(|b| put_metric(b, &key, i as f64, 0, AUTO_STEP));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        j.flush(true, None).unwrap();
        let steps = steps_of(&path);
        assert_eq!(steps.len(), 200_000);
        for t in 0..4 {
            let key = format!("k{t}");
            let mine: Vec<i64> = steps
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|s| s.1)
                .collect();
            assert_eq!(mine, (0..50_000).collect::<Vec<_>>());
        }
    }
}
