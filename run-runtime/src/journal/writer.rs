//! Appending to a journal without making the caller wait for the disk.
//!
//! A logging call encodes its record into the run's pending buffer under a short lock and
//! returns. One background thread per process (the journal writer) takes whole buffers and
//! appends each as one checksummed block with a single `write`. It is woken when a buffer passes
//! [`WAKE_AT`], on `flush()`, and every [`TICK`] in any case, so a record never waits in memory
//! longer than that.
//!
//! A caller that finds its buffer full ([`PENDING_LIMIT`]) waits until the writer has taken it:
//! memory stays bounded when a program logs faster than the disk takes it. The wait is bounded
//! too: when the writer cannot write (a full disk, a file size limit), has died (a panic), or
//! has taken nothing for [`WRITER_STALL`] (a hung mount), the record is refused with an error
//! that says so; the records before it stay in memory and are retried. Nothing waits forever
//! and nothing is dropped without an error.
//!
//! Blocks are bounded by construction: a buffer takes an append only while it is under
//! [`PENDING_LIMIT`], and one append adds at most [`MAX_APPEND`], so no block is larger than
//! [`MAX_WRITE_BLOCK`], far below what a reader accepts.
//!
//! The file itself (the lock, other processes' blocks, step numbering) is `disk.rs`'s; the
//! thread is `thread.rs`'s.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::disk::{Disk, Opened};
use super::format::{BLOCK_HEADER_LEN, MAX_APPEND, MAX_BLOCK_LEN};
pub(crate) use super::thread::Writer;
use super::thread::{FlushRequest, Ticket, writer};
use crate::error::{Error, Result};

/// Pending bytes at which the writer is woken.
pub(crate) const WAKE_AT: usize = 64 << 10;
/// Pending bytes at which the buffer is full: a logging call waits for the writer to take it.
pub(crate) const PENDING_LIMIT: usize = 1 << 20;
/// Longest time a record stays in memory before the writer appends it.
pub(crate) const TICK: Duration = Duration::from_millis(100);
/// The longest a logging call waits for the writer to take a full buffer, and a flush for the
/// writer to finish, before the record is refused or the flush fails. Far longer than any
/// healthy write of a block (at most a few MiB) takes; a disk or mount that hangs this long
/// hangs for good more often than not.
pub(crate) const WRITER_STALL: Duration = Duration::from_secs(30);
/// Largest payload of a block this writer writes: a buffer just under [`PENDING_LIMIT`] that
/// takes one more append.
pub(crate) const MAX_WRITE_BLOCK: usize = PENDING_LIMIT + MAX_APPEND;
/// Bytes of records `append_many` encodes before appending them as one piece.
const CHUNK: usize = 64 << 10;

const _: () = assert!(
    MAX_WRITE_BLOCK <= MAX_BLOCK_LEN,
    "the writer must never make a block that readers refuse"
);
const _: () = assert!(WAKE_AT <= MAX_APPEND && CHUNK + 2048 <= MAX_APPEND);

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock still holds consistent data: every value behind these locks changes in
    // one step, and a panic of the writer thread is handled as its death (see `Writer::die`).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One run's journal file and the records on their way to it.
pub(crate) struct Journal {
    path: PathBuf,
    pending: Mutex<Pending>,
    /// Signalled when the writer takes the pending buffer, or cannot.
    space: Condvar,
    /// Used by the writer thread, and by `open` before the journal is shared.
    disk: Mutex<Disk>,
    /// The thread that writes this journal.
    writer: &'static Writer,
    /// [`WRITER_STALL`] (shorter in tests).
    stall: Duration,
}

struct Pending {
    /// Encoded records, after `BLOCK_HEADER_LEN` bytes kept for the block header.
    buf: Vec<u8>,
    /// A buffer the writer has finished with, reused to avoid allocating.
    spare: Option<Vec<u8>>,
    /// Already on the writer's ready list.
    queued: bool,
    /// Length at which an append leaves the fast path: [`WAKE_AT`], or 0 once the writer is
    /// dead, so that every append is refused without another test on the fast path.
    wake_at: usize,
    /// Why the writer is not writing this journal, until it writes again.
    trouble: Option<Trouble>,
}

/// Why records wait in memory.
#[derive(Debug, Clone)]
enum Trouble {
    /// The last write failed with this error; the block is kept and retried every [`TICK`].
    WriteFailed(String),
    /// A caller waited [`WRITER_STALL`] for the writer to take a full buffer.
    Stalled,
    /// The writer thread died with this message: nothing more will be written.
    Dead(String),
}

fn empty_block() -> Vec<u8> {
    let mut buf = Vec::with_capacity(WAKE_AT + (WAKE_AT >> 2));
    buf.resize(BLOCK_HEADER_LEN, 0);
    buf
}

impl Journal {
    /// Opens the journal at `path` for appending, creating it if `create`.
    ///
    /// An existing journal is read first, under the file lock: a torn tail left by a crash is
    /// cut off so that new blocks follow intact ones, other damage is kept (and noted for
    /// listing), and the step counters of `run.log` continue where they stopped.
    pub(crate) fn open(path: &Path, create: bool) -> Result<(Arc<Journal>, Opened)> {
        Journal::open_with(path, create, writer(), WRITER_STALL)
    }

    fn open_with(
        path: &Path,
        create: bool,
        writer: &'static Writer,
        stall: Duration,
    ) -> Result<(Arc<Journal>, Opened)> {
        writer
            .start()
            .map_err(|e| Error::io("start the journal writer for", path, e))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(path)
            .map_err(|e| Error::io(if create { "create" } else { "open" }, path, e))?;
        let mut disk = Disk::new(file);
        disk.file.lock().map_err(|e| Error::io("lock", path, e))?;
        let prepared = disk.prepare(path);
        // Unlocking cannot fail on a descriptor we hold; the lock also ends when it closes.
        let _ = disk.file.unlock();
        let opened = prepared?;
        let journal = Arc::new(Journal {
            path: path.to_owned(),
            pending: Mutex::new(Pending {
                buf: empty_block(),
                spare: None,
                queued: false,
                wake_at: WAKE_AT,
                trouble: None,
            }),
            space: Condvar::new(),
            disk: Mutex::new(disk),
            writer,
            stall,
        });
        writer
            .register(&journal)
            .map_err(|reason| journal.error("append to", io::ErrorKind::BrokenPipe, reason))?;
        Ok((journal, opened))
    }

    /// Encodes one record into the pending buffer.
    ///
    /// The common case is a lock, the encoding and one comparison. A record that finds the
    /// buffer full waits for the writer, at most [`WRITER_STALL`]; it is refused at once when
    /// the writer cannot write or has died. A refused record is not in the journal; the ones
    /// before it are.
    #[inline]
    pub(crate) fn append(self: &Arc<Self>, encode: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut pending = lock(&self.pending);
        let start = pending.buf.len();
        encode(&mut pending.buf);
        if pending.buf.len() >= pending.wake_at {
            return self.append_slow(pending, start);
        }
        Ok(())
    }

    /// Appends many records, encoded by `encode` in chunks of about 64 KiB outside any lock,
    /// so that `items` may itself log to this journal; each chunk is appended as one piece,
    /// with back-pressure between them. On an error the chunks before it are kept.
    pub(crate) fn append_many<T>(
        self: &Arc<Self>,
        items: impl IntoIterator<Item = T>,
        mut encode: impl FnMut(&mut Vec<u8>, T),
    ) -> Result<()> {
        let mut chunk = Vec::with_capacity(CHUNK + 2048);
        for item in items {
            encode(&mut chunk, item);
            if chunk.len() >= CHUNK {
                self.append(|buf| buf.extend_from_slice(&chunk))?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            self.append(|buf| buf.extend_from_slice(&chunk))?;
        }
        Ok(())
    }

    /// The rest of `append` once the buffer has reached `wake_at`; the record is at `start..`.
    #[cold]
    #[inline(never)]
    fn append_slow<'a>(
        self: &'a Arc<Self>,
        mut pending: MutexGuard<'a, Pending>,
        start: usize,
    ) -> Result<()> {
        let added = pending.buf.len() - start;
        if added > MAX_APPEND {
            pending.buf.truncate(start);
            return Err(self.error(
                "append to",
                io::ErrorKind::InvalidInput,
                format!(
                    "a record of {added} bytes is larger than the {MAX_APPEND} bytes one append \
                     may add; it was refused (this is a bug of run-runtime: please report it)"
                ),
            ));
        }
        if let Some(Trouble::Dead(message)) = &pending.trouble {
            let reason = dead_refusal(message);
            pending.buf.truncate(start);
            return Err(self.error("append to", io::ErrorKind::BrokenPipe, reason));
        }
        if start >= PENDING_LIMIT {
            // The buffer was full before this record: set it aside while waiting, so that no
            // number of callers can grow a block past the bound.
            let record = pending.buf[start..].to_vec();
            pending.buf.truncate(start);
            pending = self.wait_for_space(pending)?;
            pending.buf.extend_from_slice(&record);
        }
        if !pending.queued {
            pending.queued = true;
            self.writer.ready(self);
        }
        // The writer is on its way: later appends take the fast path until the buffer is full
        // (or the writer has died, which keeps `wake_at` at 0).
        if pending.wake_at != 0 {
            pending.wake_at = PENDING_LIMIT;
        }
        Ok(())
    }

    /// Waits until the writer takes the full buffer; refuses (returns the error) when it
    /// cannot write, has died, or takes nothing for `self.stall`.
    fn wait_for_space<'a>(
        self: &'a Arc<Self>,
        mut pending: MutexGuard<'a, Pending>,
    ) -> Result<MutexGuard<'a, Pending>> {
        let deadline = Instant::now() + self.stall;
        loop {
            if pending.buf.len() < PENDING_LIMIT {
                return Ok(pending);
            }
            if let Some(trouble) = &pending.trouble {
                let (kind, reason) = self.refusal(trouble, pending.buf.len());
                return Err(self.error("append to", kind, reason));
            }
            if !pending.queued {
                pending.queued = true;
                self.writer.ready(self);
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                // Later callers are refused at once, until the writer takes the buffer.
                pending.trouble = Some(Trouble::Stalled);
                continue;
            };
            pending = self
                .space
                .wait_timeout(pending, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Why a record that found the buffer full is refused.
    fn refusal(&self, trouble: &Trouble, pending: usize) -> (io::ErrorKind, String) {
        let kept = format!(
            "this record was refused, because the {} KiB of records logged before it already \
             wait in memory; they are kept and written as soon as the writer can (flush() \
             returns once they are)",
            pending.div_ceil(1024)
        );
        match trouble {
            Trouble::WriteFailed(e) => (
                io::ErrorKind::Other,
                format!(
                    "the journal writer cannot write it ({e}); {kept}: make room on the disk \
                     or raise the file size limit"
                ),
            ),
            Trouble::Stalled => (
                io::ErrorKind::TimedOut,
                format!(
                    "the journal writer has taken nothing for {} s (is the disk or mount \
                     hung?); {kept}",
                    self.stall.as_secs_f64()
                ),
            ),
            Trouble::Dead(message) => (io::ErrorKind::BrokenPipe, dead_refusal(message)),
        }
    }

    fn error(&self, op: &'static str, kind: io::ErrorKind, reason: String) -> Error {
        Error::io(op, &self.path, io::Error::new(kind, reason))
    }

    /// Returns once everything appended before the call is written to the file, and with
    /// `sync`, on the disk. Waits at most `wait`; fails at once when the writer cannot write
    /// or has died.
    pub(crate) fn flush(self: &Arc<Self>, sync: bool, wait: Duration) -> Result<()> {
        let ticket = Arc::new(Ticket::default());
        let request = FlushRequest {
            journal: self.clone(),
            sync,
            ticket: ticket.clone(),
        };
        if let Err((message, reason)) = self.writer.flush(request) {
            // `die` may not have reached this journal yet: refuse its appends from now on.
            self.writer_died(&message);
            return Err(self.error("write", io::ErrorKind::BrokenPipe, reason));
        }
        match ticket.wait(wait) {
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(self.error("write", io::ErrorKind::Other, reason)),
            None => Err(self.error(
                "write",
                io::ErrorKind::TimedOut,
                format!(
                    "the journal writer did not finish within {} s (is the disk or mount \
                     hung?); the records are kept in memory and written when it does: flush \
                     again later",
                    wait.as_secs_f64()
                ),
            )),
        }
    }

    /// Takes the pending buffer and appends it as a block. Called by the writer thread only.
    pub(super) fn drain(&self) -> io::Result<()> {
        let mut disk = lock(&self.disk);
        if let Some(block) = disk.unwritten.take() {
            match disk.append_block(block, &self.path) {
                Ok(written) => self.written(written),
                Err(e) => return Err(self.failed(e)),
            }
        }
        let block = {
            let mut pending = lock(&self.pending);
            pending.queued = false;
            if pending.buf.len() <= BLOCK_HEADER_LEN {
                return Ok(());
            }
            let fresh = pending.spare.take().unwrap_or_else(empty_block);
            if matches!(pending.trouble, Some(Trouble::Stalled)) {
                pending.trouble = None;
            }
            if pending.wake_at != 0 {
                pending.wake_at = WAKE_AT;
            }
            std::mem::replace(&mut pending.buf, fresh)
        };
        self.space.notify_all();
        match disk.append_block(block, &self.path) {
            Ok(written) => {
                self.written(written);
                Ok(())
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// After a successful write: the writer is healthy again, and the block's buffer is kept.
    fn written(&self, buffer: Vec<u8>) {
        let mut pending = lock(&self.pending);
        if matches!(
            pending.trouble,
            Some(Trouble::WriteFailed(_) | Trouble::Stalled)
        ) {
            pending.trouble = None;
        }
        if pending.spare.is_none() && buffer.capacity() <= PENDING_LIMIT * 2 {
            pending.spare = Some(buffer);
        }
    }

    /// After a failed write: callers waiting for space are refused rather than left waiting.
    fn failed(&self, e: io::Error) -> io::Error {
        let mut pending = lock(&self.pending);
        if !matches!(pending.trouble, Some(Trouble::Dead(_))) {
            pending.trouble = Some(Trouble::WriteFailed(e.to_string()));
        }
        drop(pending);
        self.space.notify_all();
        e
    }

    /// The writer thread died: every later append is refused.
    pub(super) fn writer_died(&self, message: &str) {
        let mut pending = lock(&self.pending);
        pending.trouble = Some(Trouble::Dead(message.to_owned()));
        pending.wake_at = 0;
        drop(pending);
        self.space.notify_all();
    }

    /// Syncs the file's data to the disk.
    pub(super) fn sync(&self) -> io::Result<()> {
        lock(&self.disk).file.sync_data()
    }

    pub(super) fn has_pending(&self) -> bool {
        lock(&self.pending).buf.len() > BLOCK_HEADER_LEN || lock(&self.disk).unwritten.is_some()
    }
}

fn dead_refusal(message: &str) -> String {
    format!(
        "{message}; this record was refused, and the records logged since its last write \
         cannot be written by this process: end the program (runs stay readable up to what was \
         written) and report the panic"
    )
}

#[cfg(test)]
mod tests {
    use std::fs::{File, OpenOptions};
    use std::io::Write;
    use std::thread;

    use super::super::disk::Opened;
    use super::super::format::{
        AUTO_STEP, BLOCK_MAGIC, FILE_HEADER_LEN, KIND_TAG, Record, put_metric, put_pair,
    };
    use super::*;
    use crate::journal::read_journal;

    const WAIT: Duration = Duration::from_secs(20);

    fn steps_of(path: &Path) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        let report = read_journal(path, |_, r| {
            if let Record::Metric { key, step, .. } = r {
                out.push((key.to_owned(), step));
            }
        })
        .unwrap();
        assert!(report.damage.is_empty(), "{:?}", report.damage);
        out
    }

    fn auto(j: &Arc<Journal>, key: &str) -> Result<()> {
        j.append(|b| put_metric(b, key, 1.0, 0, AUTO_STEP))
    }

    /// Logs to `j` until a point is refused: how many more were taken, and the refusal.
    fn log_until_refused(j: &Arc<Journal>) -> (i64, Error) {
        let mut accepted = 0;
        loop {
            match auto(j, "k") {
                Ok(()) => accepted += 1,
                Err(e) => return (accepted, e),
            }
        }
    }

    /// The payload length of every block of the journal at `path`, from the block headers.
    fn block_lengths(path: &Path) -> Vec<usize> {
        let bytes = std::fs::read(path).unwrap();
        let mut at = FILE_HEADER_LEN;
        let mut lens = Vec::new();
        while at < bytes.len() {
            assert_eq!(bytes[at..at + 4], BLOCK_MAGIC, "a block header at {at}");
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            lens.push(len);
            at += BLOCK_HEADER_LEN + len;
        }
        lens
    }

    /// A writer of the test's own, so that killing it or holding it up leaves the process's
    /// writer, which the other tests use, alone.
    fn private_writer() -> &'static Writer {
        Box::leak(Box::new(Writer::new()))
    }

    /// A tag record of exactly `len` bytes.
    fn record_of(buf: &mut Vec<u8>, len: usize) {
        put_pair(buf, KIND_TAG, "t", &"x".repeat(len - (1 + 2 + 1 + 4)));
    }

    #[test]
    fn auto_steps_count_per_key_and_follow_explicit_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open(&path, true).unwrap();
        auto(&j, "a").unwrap();
        auto(&j, "b").unwrap();
        auto(&j, "a").unwrap();
        j.append(|b| put_pair(b, KIND_TAG, "t", "v")).unwrap();
        j.append(|b| put_metric(b, "a", 1.0, 0, 10)).unwrap();
        auto(&j, "a").unwrap();
        j.flush(false, WAIT).unwrap();
        let want = [("a", 0), ("b", 0), ("a", 1), ("a", 10), ("a", 11)];
        let want: Vec<_> = want.iter().map(|(k, s)| (k.to_string(), *s)).collect();
        assert_eq!(steps_of(&path), want);

        // A second opener continues the counters and appends after intact data.
        drop(j);
        let (j, opened) = Journal::open(&path, false).unwrap();
        assert!(opened.cut.is_none() && opened.damage.is_empty());
        auto(&j, "a").unwrap();
        j.flush(true, WAIT).unwrap();
        assert_eq!(steps_of(&path).last().unwrap(), &("a".to_string(), 12));
    }

    #[test]
    fn step_counters_saturate_at_i64_max() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open(&path, true).unwrap();
        j.append(|b| put_metric(b, "a", 1.0, 0, i64::MAX - 1))
            .unwrap();
        for _ in 0..3 {
            auto(&j, "a").unwrap();
        }
        j.append(|b| put_metric(b, "b", 1.0, 0, i64::MAX)).unwrap();
        auto(&j, "b").unwrap();
        j.flush(false, WAIT).unwrap();
        let steps: Vec<i64> = steps_of(&path).into_iter().map(|(_, s)| s).collect();
        let max = i64::MAX;
        assert_eq!(steps, [max - 1, max, max, max, max, max]);
    }

    #[test]
    fn two_opens_of_one_file_number_one_key_together() {
        // Two processes appending to one run each open the journal: two descriptors, two sets
        // of counters, one file. Each numbers under the file lock after reading the other's
        // blocks, so the steps of a key never collide.
        const EACH: i64 = 10_000;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (first, _) = Journal::open(&path, true).unwrap();
        let (second, _) = Journal::open(&path, false).unwrap();
        thread::scope(|s| {
            for j in [&first, &second] {
                s.spawn(move || {
                    for i in 0..EACH {
                        j.append(|b| put_metric(b, "k", i as f64, 0, AUTO_STEP))
                            .unwrap();
                        if i % 500 == 0 {
                            j.flush(false, WAIT).unwrap();
                        }
                    }
                    j.flush(true, WAIT).unwrap();
                });
            }
        });
        let mut steps: Vec<i64> = steps_of(&path).into_iter().map(|(_, s)| s).collect();
        assert_eq!(steps.len(), 2 * EACH as usize);
        steps.sort_unstable();
        assert_eq!(steps, (0..2 * EACH).collect::<Vec<_>>());
    }

    #[test]
    fn reopening_cuts_a_torn_tail_so_new_blocks_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open(&path, true).unwrap();
        j.append(|b| put_metric(b, "a", 1.0, 0, 0)).unwrap();
        j.flush(false, WAIT).unwrap();
        drop(j);
        let intact = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"RJB1\xff\xff\x00\x00garbage").unwrap();
        let (j, opened) = Journal::open(&path, false).unwrap();
        let cut = opened.cut.expect("the torn tail is cut");
        assert_eq!((cut.offset, cut.len), (intact, 15));
        assert!(opened.damage.is_empty(), "{:?}", opened.damage);
        j.append(|b| put_metric(b, "a", 2.0, 0, 1)).unwrap();
        j.flush(false, WAIT).unwrap();
        let report = read_journal(&path, |_, _| ()).unwrap();
        assert!(report.damage.is_empty(), "{:?}", report.damage);
        assert_eq!(report.records, 2);
    }

    /// A journal of three blocks of one metric point each (steps 0, 1, 2) in a folder of its
    /// own, and where each block starts.
    fn three_blocks(dir: &Path, name: &str) -> (PathBuf, Vec<u64>) {
        let folder = dir.join(name);
        std::fs::create_dir(&folder).unwrap();
        let path = folder.join("journal.rj");
        let (j, _) = Journal::open(&path, true).unwrap();
        let mut starts = Vec::new();
        for step in 0..3 {
            starts.push(std::fs::metadata(&path).unwrap().len());
            j.append(|b| put_metric(b, "a", 1.0, 0, step)).unwrap();
            j.flush(false, WAIT).unwrap();
        }
        (path, starts)
    }

    fn damage_at_end(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    /// Opens the damaged journal at `path`, appends step 10, and returns what opening found
    /// and the steps read back. Checks that the damage a reader reports is what opening found
    /// and noted for listing, and that, unless a torn tail was cut, no byte was removed.
    fn attach_and_append(path: &Path) -> (Opened, Vec<i64>) {
        let damaged = std::fs::read(path).unwrap();
        let (j, opened) = Journal::open(path, false).unwrap();
        j.append(|b| put_metric(b, "a", 1.0, 0, 10)).unwrap();
        j.flush(false, WAIT).unwrap();
        let mut steps = Vec::new();
        let report = read_journal(path, |_, r| {
            if let Record::Metric { step, .. } = r {
                steps.push(step);
            }
        })
        .unwrap();
        assert_eq!(report.damage, opened.damage);
        let noted = super::super::damage::known(path.parent().unwrap()).unwrap();
        assert_eq!(noted, opened.damage);
        let after = std::fs::read(path).unwrap();
        let kept = opened
            .cut
            .as_ref()
            .map_or(damaged.len(), |c| c.offset as usize);
        assert_eq!(
            after[..kept],
            damaged[..kept],
            "bytes before the append changed"
        );
        (opened, steps)
    }

    #[test]
    fn attaching_cuts_only_a_torn_tail_and_keeps_other_damage() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let len = |p: &Path| std::fs::metadata(p).unwrap().len();

        // A header cut short at the end: torn, cut.
        let (path, _) = three_blocks(dir, "cut-header");
        let before = len(&path);
        damage_at_end(&path, b"RJB1\x20");
        let (opened, steps) = attach_and_append(&path);
        assert_eq!(opened.cut.map(|c| (c.offset, c.len)), Some((before, 5)));
        assert!(opened.damage.is_empty());
        assert_eq!(steps, vec![0, 1, 2, 10]);

        // A block whose header says it is longer than the file: torn, cut.
        let (path, starts) = three_blocks(dir, "cut-block");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let (opened, steps) = attach_and_append(&path);
        assert_eq!(opened.cut.map(|c| c.offset), Some(starts[2]));
        assert!(opened.damage.is_empty());
        assert_eq!(steps, vec![0, 1, 10]);

        // A bad checksum in the middle: kept on disk, reported, the blocks around it read.
        let (path, starts) = three_blocks(dir, "middle");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[starts[1] as usize + BLOCK_HEADER_LEN + 3] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let (opened, steps) = attach_and_append(&path);
        assert!(opened.cut.is_none());
        assert_eq!(opened.damage.len(), 1);
        assert_eq!(opened.damage[0].offset, starts[1]);
        assert_eq!(opened.damage[0].reason, "block checksum mismatch");
        assert_eq!(steps, vec![0, 2, 10]);

        // A complete last block with a bad checksum: not torn (its header and length are
        // whole), kept and reported.
        let (path, starts) = three_blocks(dir, "bad-last");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let (opened, steps) = attach_and_append(&path);
        assert!(opened.cut.is_none());
        assert_eq!(opened.damage.len(), 1);
        assert_eq!(opened.damage[0].offset, starts[2]);
        assert_eq!(steps, vec![0, 1, 10]);

        // A complete header at the end whose length no reader accepts: kept and reported.
        let (path, _) = three_blocks(dir, "oversize");
        let before = len(&path);
        let mut header = BLOCK_MAGIC.to_vec();
        header.extend_from_slice(&u32::MAX.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        damage_at_end(&path, &header);
        let (opened, steps) = attach_and_append(&path);
        assert!(opened.cut.is_none());
        assert_eq!(opened.damage.len(), 1);
        assert_eq!(
            (opened.damage[0].offset, opened.damage[0].len),
            (before, 12)
        );
        assert_eq!(opened.damage[0].reason, "block length out of range");
        assert_eq!(steps, vec![0, 1, 2, 10]);

        // Bytes at the end that are no block header at all: not ours to cut.
        let (path, _) = three_blocks(dir, "foreign");
        damage_at_end(&path, b"\0\0\0\0\0");
        let (opened, steps) = attach_and_append(&path);
        assert!(opened.cut.is_none());
        assert_eq!(opened.damage.len(), 1);
        assert_eq!(steps, vec![0, 1, 2, 10]);
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
                        j.append(|b| put_metric(b, &key, i as f64, 0, AUTO_STEP))
                            .unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        j.flush(true, WAIT).unwrap();
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

    #[test]
    fn blocks_stay_within_the_bound_at_the_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open_with(&path, true, private_writer(), WAIT).unwrap();
        // Holding the disk holds the writer up: the buffer grows to exactly one byte under the
        // limit, then takes the largest append there is.
        let disk = lock(&j.disk);
        j.append(|b| record_of(b, PENDING_LIMIT - 1 - BLOCK_HEADER_LEN))
            .unwrap();
        j.append(|b| record_of(b, MAX_APPEND)).unwrap();
        assert_eq!(lock(&j.pending).buf.len(), PENDING_LIMIT - 1 + MAX_APPEND);
        // One byte more than an append may add is refused, and leaves nothing behind.
        let err = j.append(|b| record_of(b, MAX_APPEND + 1)).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert_eq!(lock(&j.pending).buf.len(), PENDING_LIMIT - 1 + MAX_APPEND);
        // Callers that find the buffer full wait for the writer, set aside: however many
        // there are, no block grows past the bound.
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| j.append(|b| record_of(b, MAX_APPEND)).unwrap());
            }
            thread::sleep(Duration::from_millis(50));
            drop(disk);
        });
        j.flush(false, WAIT).unwrap();
        let lens = block_lengths(&path);
        assert_eq!(lens.len(), 5, "{lens:?}");
        assert_eq!(lens[0], PENDING_LIMIT - 1 + MAX_APPEND - BLOCK_HEADER_LEN);
        assert!(lens.iter().all(|&l| l <= MAX_WRITE_BLOCK), "{lens:?}");
        let report = read_journal(&path, |_, _| ()).unwrap();
        assert_eq!((report.records, report.damage), (6, vec![]));
    }

    #[test]
    fn a_stalled_writer_refuses_a_full_buffer_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let stall = Duration::from_millis(200);
        let (j, _) = Journal::open_with(&path, true, private_writer(), stall).unwrap();
        let disk = lock(&j.disk);
        let (accepted, err) = log_until_refused(&j);
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            text.contains("taken nothing") && text.contains("kept"),
            "{text}"
        );
        // Later callers are refused at once rather than each waiting the bound.
        assert!(auto(&j, "k").is_err());
        // Once the writer moves again, everything accepted is written, and logging resumes.
        drop(disk);
        j.flush(false, WAIT).unwrap();
        auto(&j, "k").unwrap();
        j.flush(false, WAIT).unwrap();
        let steps: Vec<i64> = steps_of(&path).into_iter().map(|(_, s)| s).collect();
        assert_eq!(steps, (0..=accepted).collect::<Vec<_>>());
    }

    #[test]
    fn a_failing_write_keeps_the_records_refuses_a_full_buffer_and_retries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (j, _) = Journal::open_with(&path, true, private_writer(), WAIT).unwrap();
        for _ in 0..10 {
            auto(&j, "k").unwrap();
        }
        j.flush(false, WAIT).unwrap();
        // A descriptor that cannot write stands for a full disk: every write fails.
        let writable = std::mem::replace(&mut lock(&j.disk).file, File::open(&path).unwrap());
        let (more, err) = log_until_refused(&j);
        let accepted = 10 + more;
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            text.contains("cannot write it") && text.contains("make room"),
            "{text}"
        );
        assert!(j.flush(false, WAIT).is_err());
        assert_eq!(
            steps_of(&path).len(),
            10,
            "nothing of the failed blocks reached the file"
        );
        // The disk has room again: the kept blocks are written, numbered as if never failed.
        lock(&j.disk).file = writable;
        j.flush(false, WAIT).unwrap();
        let steps: Vec<i64> = steps_of(&path).into_iter().map(|(_, s)| s).collect();
        assert_eq!(steps, (0..accepted).collect::<Vec<_>>());
    }

    #[test]
    fn a_dead_writer_fails_flushes_and_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let writer = private_writer();
        let (j, _) = Journal::open_with(&path, true, writer, WAIT).unwrap();
        auto(&j, "k").unwrap();
        j.flush(false, WAIT).unwrap();
        auto(&j, "k").unwrap();
        writer
            .panic_next
            .store(true, std::sync::atomic::Ordering::Relaxed);
        writer.wake();
        let err = j.flush(false, WAIT).unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        // Every later call fails at once: appends, flushes, and opening another journal.
        let err = auto(&j, "k").unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        let full = j.append(|b| record_of(b, MAX_APPEND)).unwrap_err();
        assert!(full.to_string().contains("refused"), "{full}");
        assert!(j.flush(true, WAIT).is_err());
        let other = dir.path().join("other");
        assert!(Journal::open_with(&other, true, writer, WAIT).is_err());
        // What was written before stays readable.
        assert_eq!(steps_of(&path), vec![("k".to_string(), 0)]);
    }
}
