//! The journal file as its one appender in this process sees it: the file lock, what other
//! processes appended, the steps `run.log` gives, and one block written at a time.
//!
//! Several processes may append to one journal (a step process and its pipeline's process
//! share a run). Each block is written with one `write` under an exclusive `flock`, so blocks
//! never interleave; and the steps of `run.log` are given under that lock, after reading what
//! the other processes appended since this one last wrote: the file, not a process, is the
//! source of truth.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Write};
use std::path::Path;

use super::format::{
    AUTO_STEP, BLOCK_HEADER_LEN, BLOCK_MAGIC, FILE_HEADER_LEN, Frame, Record, file_header, frame,
    metric_step_offset,
};
use super::reader::{Damage, check_file_header, scan_file};
use super::writer::MAX_WRITE_BLOCK;
use crate::error::{Error, Result};

/// What opening a journal found in it.
#[derive(Debug, Default)]
pub(crate) struct Opened {
    /// A torn last block (a process died while writing it), cut off so that new blocks follow
    /// intact ones.
    pub cut: Option<Damage>,
    /// Damage that stays in the file, skipped by readers.
    pub damage: Vec<Damage>,
}

/// The journal file and what appending to it needs: the writer thread uses it, and `open`
/// before the journal is shared.
pub(super) struct Disk {
    pub(super) file: File,
    /// End of the file as of this process's last write or read of it: bytes beyond it were
    /// appended by another process.
    known_end: u64,
    /// The steps `run.log` gives.
    counters: StepCounters,
    /// Where the block being written got automatic steps, to undo them if the write fails.
    /// (u32: a block is at most `MAX_WRITE_BLOCK`, 2 MiB.)
    numbered: Vec<u32>,
    /// A block whose write failed, tried again before anything newer.
    pub(super) unwritten: Option<Vec<u8>>,
    /// The last write error, until a write succeeds.
    failure: Option<String>,
}

/// The step `run.log` gives the next point of each key: one more than the highest step of
/// that key in the journal so far, whichever process wrote it.
///
/// A counter saturates at `i64::MAX`: every automatic step after a point at `i64::MAX` is
/// `i64::MAX` too.
#[derive(Default)]
struct StepCounters {
    keys: HashMap<Box<[u8]>, Counter, BuildHasherDefault<FxHasher>>,
    /// Counts the blocks numbered, so that a counter changed by a block whose write fails can
    /// be set back (see [`StepCounters::undo`]).
    generation: u64,
}

#[derive(Clone, Copy)]
struct Counter {
    /// The next automatic step, or [`NO_STEP`] before any point of the key.
    next: i64,
    /// The block that last changed it.
    generation: u64,
    /// Its value before that block changed it.
    before: i64,
}

/// A key with no point yet. `i64::MIN` is never a step on disk (it marks automatic steps
/// before numbering), so it is below every step's successor and `max` needs no special case.
const NO_STEP: i64 = i64::MIN;

impl StepCounters {
    fn counter(&mut self, key: &[u8]) -> &mut Counter {
        if !self.keys.contains_key(key) {
            let fresh = Counter {
                next: NO_STEP,
                generation: self.generation,
                before: NO_STEP,
            };
            self.keys.insert(key.into(), fresh);
        }
        self.keys.get_mut(key).expect("inserted above")
    }

    /// A point read from the file: later automatic steps of its key come after it.
    fn observe(&mut self, key: &[u8], step: i64) {
        let c = self.counter(key);
        c.next = c.next.max(step.saturating_add(1));
    }

    /// Starts numbering a block.
    fn begin(&mut self) {
        self.generation += 1;
    }

    /// One point of the block being numbered: its automatic step, or `None` for a point with
    /// its own step (which moves the counter past it, so a series stays in order however
    /// `log` and `log_step` are mixed).
    #[inline]
    fn number(&mut self, key: &[u8], step: i64) -> Option<i64> {
        let generation = self.generation;
        let c = match self.keys.get_mut(key) {
            Some(c) => c,
            None => self.counter(key),
        };
        if c.generation != generation {
            c.generation = generation;
            c.before = c.next;
        }
        if step == AUTO_STEP {
            let given = if c.next == NO_STEP { 0 } else { c.next };
            c.next = given.saturating_add(1);
            Some(given)
        } else {
            c.next = c.next.max(step.saturating_add(1));
            None
        }
    }

    /// Sets back every counter the block being numbered changed: its write failed.
    fn undo(&mut self) {
        let generation = self.generation;
        for c in self
            .keys
            .values_mut()
            .filter(|c| c.generation == generation)
        {
            c.next = c.before;
        }
    }
}

/// What [`Disk::catch_up`] found.
struct CaughtUp {
    /// The file's length: where the next block goes.
    end: u64,
    cut: Option<Damage>,
    damage: Vec<Damage>,
}

impl Disk {
    /// The appender of `file`, before [`Disk::prepare`].
    pub(super) fn new(file: File) -> Disk {
        Disk {
            file,
            known_end: 0,
            counters: StepCounters::default(),
            numbered: Vec::new(),
            unwritten: None,
            failure: None,
        }
    }

    /// Under the file lock: writes the header of a new journal, or checks an existing one and
    /// reads it to its end (see [`Disk::catch_up`]).
    pub(super) fn prepare(&mut self, path: &Path) -> Result<Opened> {
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        if len < FILE_HEADER_LEN as u64 {
            // New, or the process died while writing the header: nothing to keep.
            self.file
                .set_len(0)
                .map_err(|e| Error::io("truncate", path, e))?;
            (&self.file)
                .write_all(&file_header())
                .map_err(|e| Error::io("write", path, e))?;
            self.known_end = FILE_HEADER_LEN as u64;
            return Ok(Opened::default());
        }
        check_file_header(&self.file, path)?;
        self.known_end = FILE_HEADER_LEN as u64;
        let caught = self
            .catch_up(path)
            .map_err(|e| Error::io("read", path, e))?;
        Ok(Opened {
            cut: caught.cut,
            damage: caught.damage,
        })
    }

    /// Under the file lock: reads what was appended since `known_end` (by other processes),
    /// so that the step counters count their points too, notes damage it finds, and cuts a
    /// torn tail (under the lock nobody is writing it: its writer died).
    fn catch_up(&mut self, path: &Path) -> io::Result<CaughtUp> {
        let len = self.file.metadata()?.len();
        if len <= self.known_end {
            // Equal: nobody else wrote. Shorter: the file was cut by hand; go on from its end.
            self.known_end = len;
            return Ok(CaughtUp {
                end: len,
                cut: None,
                damage: Vec::new(),
            });
        }
        let counters = &mut self.counters;
        let report = scan_file(&self.file, self.known_end, |_, record| {
            if let Record::Metric { key, step, .. } = record {
                counters.observe(key.as_bytes(), step);
            }
        })?;
        let damage: Vec<Damage> = report.lasting_damage().cloned().collect();
        super::damage::note(path, &damage);
        let mut end = len;
        let mut cut = None;
        if let Some(at) = report.torn_tail() {
            self.file.set_len(at)?;
            end = at;
            cut = Some(Damage {
                offset: at,
                len: len - at,
                reason: "torn last block (a process died while writing it), cut before \
                         appending"
                    .into(),
            });
        }
        self.known_end = end;
        Ok(CaughtUp { end, cut, damage })
    }

    /// Appends `block` (header space included) with one `write`, under the file lock so that
    /// another process appending to the same run never interleaves with it. On failure the
    /// block is kept in `unwritten`, as it was before numbering.
    pub(super) fn append_block(&mut self, mut block: Vec<u8>, path: &Path) -> io::Result<Vec<u8>> {
        debug_assert!(
            block.len() - BLOCK_HEADER_LEN <= MAX_WRITE_BLOCK,
            "a block of {} bytes",
            block.len()
        );
        let result = self.file.lock().and_then(|()| {
            let appended = self.append_locked(&mut block, path);
            let _ = self.file.unlock();
            appended
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

    fn append_locked(&mut self, block: &mut [u8], path: &Path) -> io::Result<()> {
        let end = self.catch_up(path)?.end;
        let (header, payload) = block.split_at_mut(BLOCK_HEADER_LEN);
        self.number_steps(payload);
        header[..4].copy_from_slice(&BLOCK_MAGIC);
        header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[8..12].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        if let Err(e) = (&self.file).write_all(block) {
            // Part of the block may be in the file (a file size limit, a full disk): cut it, or
            // it would become damage in the middle once a later write succeeds. If even that
            // fails, the next appender cuts it as a torn tail.
            let _ = self.file.set_len(end);
            self.unnumber(&mut block[BLOCK_HEADER_LEN..]);
            return Err(e);
        }
        self.known_end = end + block.len() as u64;
        Ok(())
    }

    /// Gives each `run.log` point (step [`AUTO_STEP`]) the next step of its key, walking the
    /// block with the one decoder of the record framing ([`frame`]).
    pub(super) fn number_steps(&mut self, payload: &mut [u8]) {
        self.counters.begin();
        self.numbered.clear();
        let mut at = 0;
        while at < payload.len() {
            let (given, key_len, len) = match frame(&payload[at..]) {
                Ok((Frame::Metric { key, step, .. }, len)) => {
                    (self.counters.number(key, step), key.len(), len)
                }
                Ok((_, len)) => (None, 0, len),
                Err(reason) => {
                    // The encoders wrote these bytes; readers would report the block if so.
                    debug_assert!(false, "the writer's own block is unreadable: {reason}");
                    break;
                }
            };
            if let Some(step) = given {
                let step_at = at + metric_step_offset(key_len);
                payload[step_at..step_at + 8].copy_from_slice(&step.to_le_bytes());
                self.numbered.push(step_at as u32);
            }
            at += len;
        }
    }

    /// Undoes [`Disk::number_steps`]: the block's write failed, and another process may append
    /// points of the same keys before it is tried again.
    pub(super) fn unnumber(&mut self, payload: &mut [u8]) {
        for &at in &self.numbered {
            let at = at as usize;
            payload[at..at + 8].copy_from_slice(&AUTO_STEP.to_le_bytes());
        }
        self.counters.undo();
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
    use super::super::format::{KIND_TAG, put_metric, put_pair};
    use super::super::reader::read_bytes;
    use super::*;

    #[test]
    fn the_step_patching_uses_the_record_offsets_of_the_decoder() {
        let mut payload = Vec::new();
        put_pair(&mut payload, KIND_TAG, "t", "v");
        put_metric(&mut payload, "a", 1.0, 0, AUTO_STEP);
        put_metric(&mut payload, "bb", 1.0, 0, 7);
        put_metric(&mut payload, "bb", 1.0, 0, AUTO_STEP);
        let mut disk = Disk::new(tempfile::tempfile().unwrap());
        disk.number_steps(&mut payload);
        let mut journal = file_header().to_vec();
        journal.extend_from_slice(&BLOCK_MAGIC);
        journal.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        journal.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        journal.extend_from_slice(&payload);
        let mut steps = Vec::new();
        read_bytes(&journal, |_, r| {
            if let Record::Metric { step, .. } = r {
                steps.push(step);
            }
        })
        .unwrap();
        assert_eq!(steps, [0, 7, 8]);
        // Undone, the block is as it was, and so are the counters.
        disk.unnumber(&mut payload);
        let mut again = payload.clone();
        disk.number_steps(&mut again);
        disk.unnumber(&mut again);
        assert_eq!(again, payload);
    }
}
