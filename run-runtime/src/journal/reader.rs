//! Reading a journal back, whatever state a crash or a bad disk left it in.
//!
//! The reader never panics and never gives up on the records it can prove intact: a block whose
//! header, length or checksum is wrong is skipped up to the next block header, and reported as
//! [`Damage`]. A torn last block (the process died in the middle of a write) is the common case.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::format::{
    BLOCK_HEADER_LEN, BLOCK_MAGIC, FILE_HEADER_LEN, FILE_MAGIC, MAX_BLOCK_LEN, Record, Records,
    VERSION,
};
use crate::error::{Error, Result};

/// A stretch of a journal that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Damage {
    /// Byte offset in the file where it starts.
    pub offset: u64,
    /// How many bytes were skipped.
    pub len: u64,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes skipped at offset {}: {}",
            self.len, self.offset, self.reason
        )
    }
}

/// What a read found besides the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadReport {
    /// Records read.
    pub records: u64,
    /// Offset just past the last intact block: where an appender may continue.
    pub valid_end: u64,
    /// Stretches that were skipped. Empty for a healthy journal.
    pub damage: Vec<Damage>,
    /// Where the bytes after the last intact block start to look like a block cut short (its
    /// header says it is longer than the file, or the header itself is cut): a write that a
    /// crash interrupted, or that another process is making now. `None` when nothing after
    /// the last intact block looks like that.
    pub torn_at: Option<u64>,
}

impl ReadReport {
    /// Where a torn tail starts, if the file ends with one: the bytes right after the last
    /// intact block are a block cut short. Only these bytes may be cut by an appender (under
    /// the file lock, so that no live writer is making them): they hold no whole block, and
    /// new blocks after them would leave them as damage in the middle. Anything else stays.
    pub(crate) fn torn_tail(&self) -> Option<u64> {
        self.torn_at.filter(|&at| at == self.valid_end)
    }

    /// The damage that stays in the file: every stretch but a torn tail's, which is either
    /// being written or cut by the next appender.
    pub(crate) fn lasting_damage(&self) -> impl Iterator<Item = &Damage> {
        let torn = self.torn_at.unwrap_or(u64::MAX);
        self.damage.iter().filter(move |d| d.offset < torn)
    }
}

/// A position in a journal: the byte offset of a block and how many of its records come
/// before it. `JournalPosition::default()` is the start of the journal.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct JournalPosition {
    /// Byte offset of a block (0: the start of the journal).
    pub offset: u64,
    /// Records of that block that come before the position.
    pub index: u64,
}

// Followers of a journal (the shipper) are online only.
#[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
/// A record that owns its data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OwnedRecord {
    /// A metric point.
    Metric {
        /// The key.
        key: String,
        /// The value.
        value: f64,
        /// Milliseconds since the epoch.
        timestamp: i64,
        /// The step.
        step: i64,
    },
    /// A tag was set.
    Tag {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A property was added.
    Property {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// An event.
    Event(super::format::Event),
}

impl From<Record<'_>> for OwnedRecord {
    fn from(r: Record<'_>) -> Self {
        match r {
            Record::Metric {
                key,
                value,
                timestamp,
                step,
            } => OwnedRecord::Metric {
                key: key.to_owned(),
                value,
                timestamp,
                step,
            },
            Record::Tag { key, value } => OwnedRecord::Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            },
            Record::Property { key, value } => OwnedRecord::Property {
                key: key.to_owned(),
                value: value.to_owned(),
            },
            Record::Event(e) => OwnedRecord::Event(e),
        }
    }
}

// Followers of a journal (the shipper) are online only.
#[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
/// Records read from a position onwards, for a reader that follows a journal as it grows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tail {
    /// The records, in order.
    pub records: Vec<OwnedRecord>,
    /// The position just after the last record returned.
    pub end: JournalPosition,
    /// Damage skipped on the way (never an incomplete last block, which may still be being
    /// written).
    pub damage: Vec<Damage>,
}

// Followers of a journal (the shipper) are online only.
#[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
/// Reads at most `limit` records of the journal at `path` from `from` onwards, stopping after
/// the first record for which `stop_after` is true.
///
/// Damage on the way is returned once: the position moves past it, so that the next read
/// from `end` does not find it again. A torn last block is neither read nor reported, and the
/// position stays before it: its writer may be in the middle of writing it. A missing file
/// reads as empty.
pub(crate) fn read_tail(
    path: &Path,
    from: JournalPosition,
    limit: usize,
    stop_after: impl Fn(&OwnedRecord) -> bool,
) -> Result<Tail> {
    use std::io::{Seek, SeekFrom};
    let mut tail = Tail {
        end: from,
        ..Tail::default()
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(tail),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let start = from.offset.max(FILE_HEADER_LEN as u64);
    if from.offset < FILE_HEADER_LEN as u64 {
        let mut check = ReadReport::default();
        let mut header = BlockReader::new(&mut file);
        let fresh = header.read_file_header(&mut check).map_err(|e| match e {
            ReadError::Io(e) => Error::io("read", path, e),
            ReadError::Format(reason) => Error::Store {
                path: path.to_owned(),
                reason,
            },
        })?;
        if !fresh {
            return Ok(tail);
        }
        tail.end = JournalPosition {
            offset: start,
            index: 0,
        };
    }
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io("read", path, e))?;
    let mut blocks = BlockReader::new(file);
    blocks.offset = start;
    let mut skip = if from.offset >= start { from.index } else { 0 };
    let mut damage = Vec::new();
    while let Some((offset, payload)) = blocks
        .next_block(&mut damage)
        .map_err(|e| Error::io("read", path, e))?
    {
        let block_end = offset + (BLOCK_HEADER_LEN + payload.len()) as u64;
        let mut taken = 0u64;
        for item in Records::new(payload) {
            let Ok(record) = item else { break };
            taken += 1;
            if taken <= skip {
                continue;
            }
            let record = OwnedRecord::from(record);
            let stop = stop_after(&record);
            tail.records.push(record);
            if stop || tail.records.len() >= limit {
                tail.end = JournalPosition {
                    offset,
                    index: taken,
                };
                super::damage::note(path, &damage);
                tail.damage = damage;
                return Ok(tail);
            }
        }
        skip = 0;
        tail.end = JournalPosition {
            offset: block_end,
            index: 0,
        };
    }
    // After the last intact block: report and pass every stretch up to a torn one, which may
    // be a block still being written.
    let torn = blocks.torn_at.unwrap_or(u64::MAX);
    damage.retain(|d| d.offset < torn);
    if let Some(last) = damage.last() {
        tail.end = JournalPosition {
            offset: tail.end.offset.max(last.offset + last.len),
            index: 0,
        };
    }
    super::damage::note(path, &damage);
    tail.damage = damage;
    Ok(tail)
}

/// Reads the journal at `path`, handing each record to `visit` in the order it was logged.
///
/// A missing file reads as an empty journal. A file that is not a journal, or that a newer
/// version of this crate wrote, is an error.
///
/// Damage found that stays in the file (all but a torn tail) is noted next to the journal
/// (see [`super::damage`]), so that a listing of the store shows it.
pub(crate) fn read_journal(path: &Path, visit: impl FnMut(u64, Record<'_>)) -> Result<ReadReport> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ReadReport::default()),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let report = read_from(file, visit).map_err(|e| match e {
        ReadError::Io(e) => Error::io("read", path, e),
        ReadError::Format(reason) => Error::Store {
            path: path.to_owned(),
            reason,
        },
    })?;
    let lasting: Vec<Damage> = report.lasting_damage().cloned().collect();
    super::damage::note(path, &lasting);
    Ok(report)
}

/// Checks the file header of an existing journal (at least a header long) opened to append.
pub(crate) fn check_file_header(file: &File, path: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut src = file;
    src.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("read", path, e))?;
    let mut report = ReadReport::default();
    match BlockReader::new(src).read_file_header(&mut report) {
        Ok(_) => Ok(()),
        Err(ReadError::Io(e)) => Err(Error::io("read", path, e)),
        Err(ReadError::Format(reason)) => Err(Error::Store {
            path: path.to_owned(),
            reason,
        }),
    }
}

/// Reads the blocks of `file` from `offset` (a block boundary) to its end, handing each record
/// to `visit`: what an appender does under the file lock to learn what other processes
/// appended since its last write.
pub(crate) fn scan_file(
    file: &File,
    offset: u64,
    visit: impl FnMut(u64, Record<'_>),
) -> io::Result<ReadReport> {
    use std::io::{Seek, SeekFrom};
    // Reading through the appender's own descriptor: its appends (O_APPEND) go to the end
    // whatever the read position.
    let mut src = file;
    src.seek(SeekFrom::Start(offset))?;
    let mut report = ReadReport {
        valid_end: offset,
        ..ReadReport::default()
    };
    let mut blocks = BlockReader::new(src);
    blocks.offset = offset;
    scan_blocks(&mut blocks, &mut report, visit)?;
    Ok(report)
}

/// Reads a whole journal held in memory. Never panics, whatever the bytes.
#[cfg(test)]
pub(crate) fn read_bytes(
    bytes: &[u8],
    visit: impl FnMut(u64, Record<'_>),
) -> Result<ReadReport, String> {
    read_from(bytes, visit).map_err(|e| match e {
        ReadError::Io(e) => e.to_string(),
        ReadError::Format(reason) => reason,
    })
}

pub(crate) enum ReadError {
    Io(io::Error),
    Format(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads from any byte source; `visit` gets each record with the file offset of its block.
fn read_from<R: Read>(src: R, visit: impl FnMut(u64, Record<'_>)) -> Result<ReadReport, ReadError> {
    let mut blocks = BlockReader::new(src);
    let mut report = ReadReport::default();
    if !blocks.read_file_header(&mut report)? {
        return Ok(report);
    }
    scan_blocks(&mut blocks, &mut report, visit)?;
    Ok(report)
}

/// Reads every block from the reader's position on into `report`.
fn scan_blocks<R: Read>(
    blocks: &mut BlockReader<R>,
    report: &mut ReadReport,
    mut visit: impl FnMut(u64, Record<'_>),
) -> io::Result<()> {
    while let Some((offset, payload)) = blocks.next_block(&mut report.damage)? {
        let mut records = Records::new(payload);
        for item in records.by_ref() {
            match item {
                Ok(record) => {
                    report.records += 1;
                    visit(offset, record);
                }
                Err(reason) => {
                    // The checksum matched, so the writer itself wrote this: a bug, not a crash.
                    let at = offset + BLOCK_HEADER_LEN as u64;
                    report.damage.push(Damage {
                        offset: at,
                        len: payload.len() as u64,
                        reason: format!("block with an intact checksum holds {reason}"),
                    });
                }
            }
        }
        report.valid_end = blocks.offset;
    }
    report.torn_at = blocks.torn_at;
    Ok(())
}

/// Yields block payloads from a byte source, skipping damage.
pub(crate) struct BlockReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    start: usize,
    /// File offset of `buf[start]`.
    pub offset: u64,
    eof: bool,
    /// Where the first stretch that looks like a block cut short starts, since the last intact
    /// block (see [`ReadReport::torn_at`]).
    pub torn_at: Option<u64>,
}

/// What the bytes at a reader's position are.
enum Verdict {
    /// An intact block with a payload of this length.
    Intact(usize),
    /// A block cut short: a crash during its write, or a write in progress.
    Torn(&'static str),
    /// Anything else that is not an intact block.
    Damaged(&'static str),
}

impl<R: Read> BlockReader<R> {
    pub(crate) fn new(src: R) -> Self {
        BlockReader {
            src,
            buf: Vec::with_capacity(1 << 16),
            start: 0,
            offset: 0,
            eof: false,
            torn_at: None,
        }
    }

    fn available(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Reads until `n` bytes are available or the source ends.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        if self.available() >= n || self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut chunk = n.max(1 << 16);
        while self.buf.len() < n && !self.eof {
            let old = self.buf.len();
            self.buf.resize(old + chunk, 0);
            let got = loop {
                match self.src.read(&mut self.buf[old..]) {
                    Ok(got) => break got,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(old + got);
            self.eof = got == 0;
            chunk = (n - self.buf.len().min(n)).max(1 << 16);
        }
        Ok(())
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Checks the file header. `false` for an empty file (a journal nothing was written to).
    pub(crate) fn read_file_header(&mut self, report: &mut ReadReport) -> Result<bool, ReadError> {
        self.fill(FILE_HEADER_LEN)?;
        let head = &self.buf[self.start..];
        if head.is_empty() {
            return Ok(false);
        }
        if head.len() < FILE_HEADER_LEN {
            if FILE_MAGIC.starts_with(&head[..head.len().min(8)]) {
                report.damage.push(Damage {
                    offset: 0,
                    len: head.len() as u64,
                    reason: "file header cut short (the process died while creating it)".into(),
                });
                return Ok(false);
            }
            return Err(ReadError::Format(
                "not a run journal (no journal header)".into(),
            ));
        }
        if head[..8] != FILE_MAGIC {
            return Err(ReadError::Format(
                "not a run journal (no journal header)".into(),
            ));
        }
        let version = u16::from_le_bytes([head[8], head[9]]);
        if version > VERSION {
            return Err(ReadError::Format(format!(
                "journal format {version} was written by a newer run-runtime; this one reads up \
                 to format {VERSION}: upgrade run-runtime to read it"
            )));
        }
        self.consume(FILE_HEADER_LEN);
        report.valid_end = self.offset;
        Ok(true)
    }

    /// The next intact block as (file offset, payload), or `None` at the end.
    pub(crate) fn next_block(
        &mut self,
        damage: &mut Vec<Damage>,
    ) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            self.fill(BLOCK_HEADER_LEN)?;
            if self.available() == 0 {
                return Ok(None);
            }
            let reason = match self.check_block()? {
                Verdict::Intact(len) => {
                    let offset = self.offset;
                    self.consume(BLOCK_HEADER_LEN + len);
                    self.torn_at = None;
                    let end = self.start;
                    return Ok(Some((offset, &self.buf[end - len..end])));
                }
                Verdict::Torn(reason) => {
                    self.torn_at.get_or_insert(self.offset);
                    reason
                }
                Verdict::Damaged(reason) => reason,
            };
            self.resync(reason, damage)?;
        }
    }

    /// What the bytes at the cursor are.
    fn check_block(&mut self) -> io::Result<Verdict> {
        let head = &self.buf[self.start..];
        if head.len() < BLOCK_HEADER_LEN {
            // The source has ended (`fill` read all it could). A header cut short by a crash
            // starts like one; other bytes are not something this crate wrote.
            let n = head.len().min(BLOCK_MAGIC.len());
            return Ok(if head[..n] == BLOCK_MAGIC[..n] {
                Verdict::Torn("incomplete block header (torn write)")
            } else {
                Verdict::Damaged("no block header where one should be")
            });
        }
        let h = &head[..BLOCK_HEADER_LEN];
        if h[..4] != BLOCK_MAGIC {
            return Ok(Verdict::Damaged("no block header where one should be"));
        }
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let crc = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if len > MAX_BLOCK_LEN {
            return Ok(Verdict::Damaged("block length out of range"));
        }
        self.fill(BLOCK_HEADER_LEN + len)?;
        if self.available() < BLOCK_HEADER_LEN + len {
            return Ok(Verdict::Torn("incomplete block (torn write)"));
        }
        let body = &self.buf[self.start + BLOCK_HEADER_LEN..self.start + BLOCK_HEADER_LEN + len];
        if crc32fast::hash(body) != crc {
            return Ok(Verdict::Damaged("block checksum mismatch"));
        }
        Ok(Verdict::Intact(len))
    }

    /// Skips to the next block header after the cursor (or to the end), recording the gap.
    fn resync(&mut self, reason: &str, damage: &mut Vec<Damage>) -> io::Result<()> {
        let from = self.offset;
        self.consume(1);
        loop {
            let window = &self.buf[self.start..];
            if let Some(at) = window.windows(4).position(|w| w == BLOCK_MAGIC) {
                self.consume(at);
                break;
            }
            // Keep the last 3 bytes: a header may straddle the refill.
            let skip = window.len().saturating_sub(3);
            self.consume(skip);
            if self.eof {
                let rest = self.available();
                self.consume(rest);
                break;
            }
            self.fill(self.available() + (1 << 16))?;
            if self.eof && self.available() < 4 {
                let rest = self.available();
                self.consume(rest);
                break;
            }
        }
        damage.push(Damage {
            offset: from,
            len: self.offset - from,
            reason: reason.to_owned(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::{Event, KIND_TAG, file_header, put_event, put_metric, put_pair};
    use super::*;
    use crate::error::Status;

    fn block(records: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut payload = Vec::new();
        records(&mut payload);
        let mut b = Vec::new();
        b.extend_from_slice(&BLOCK_MAGIC);
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        b.extend_from_slice(&payload);
        b
    }

    fn journal(blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut j = file_header().to_vec();
        for b in blocks {
            j.extend_from_slice(b);
        }
        j
    }

    fn metric_steps(bytes: &[u8]) -> (Vec<i64>, ReadReport) {
        let mut steps = Vec::new();
        let report = read_bytes(bytes, |_, r| {
            if let Record::Metric { step, .. } = r {
                steps.push(step);
            }
        })
        .unwrap();
        (steps, report)
    }

    fn metrics(range: std::ops::Range<i64>) -> Vec<u8> {
        block(|b| range.for_each(|i| put_metric(b, "m", i as f64, 0, i)))
    }

    #[test]
    fn reads_every_record_of_a_healthy_journal() {
        let j = journal(&[
            metrics(0..3),
            block(|b| {
                put_pair(b, KIND_TAG, "k", "v");
                put_event(
                    b,
                    &Event::Status {
                        status: Status::Finished,
                        time: 1,
                        error: None,
                    },
                );
            }),
        ]);
        let (steps, report) = metric_steps(&j);
        assert_eq!(steps, vec![0, 1, 2]);
        assert_eq!(report.records, 5);
        assert_eq!(report.valid_end, j.len() as u64);
        assert!(report.damage.is_empty());
    }

    #[test]
    fn a_torn_last_block_is_skipped_and_reported() {
        let whole = journal(&[metrics(0..3), metrics(3..6)]);
        let first_end = journal(&[metrics(0..3)]).len();
        for cut in first_end + 1..whole.len() {
            let (steps, report) = metric_steps(&whole[..cut]);
            assert_eq!(steps, vec![0, 1, 2], "cut at {cut}");
            assert_eq!(report.valid_end, first_end as u64);
            assert_eq!(report.damage.len(), 1, "cut at {cut}: {:?}", report.damage);
            assert_eq!(report.damage[0].offset, first_end as u64);
            assert_eq!(report.damage[0].len, (cut - first_end) as u64);
            assert_eq!(report.torn_tail(), Some(first_end as u64), "cut at {cut}");
            assert_eq!(report.lasting_damage().count(), 0);
        }
    }

    #[test]
    fn only_a_block_cut_short_right_after_the_last_intact_one_is_a_torn_tail() {
        let intact = journal(&[metrics(0..3)]);
        let at = intact.len() as u64;
        let torn_tail = |extra: &[u8]| {
            let mut j = intact.clone();
            j.extend_from_slice(extra);
            read_bytes(&j, |_, _| ()).unwrap().torn_tail()
        };
        let whole = metrics(3..6);
        assert_eq!(torn_tail(&whole[..5]), Some(at), "a header cut short");
        assert_eq!(
            torn_tail(&whole[..whole.len() - 1]),
            Some(at),
            "a payload cut short"
        );
        assert_eq!(torn_tail(b"RJ"), Some(at));
        assert_eq!(torn_tail(b"\0\0\0"), None, "not a header of ours");
        let mut oversize = BLOCK_MAGIC.to_vec();
        oversize.extend_from_slice(&u32::MAX.to_le_bytes());
        oversize.extend_from_slice(&[0; 4]);
        assert_eq!(
            torn_tail(&oversize),
            None,
            "a whole header no reader accepts"
        );
        let mut bad = whole.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(torn_tail(&bad), None, "a whole block with a bad checksum");
        // Damage, then a block cut short: the cut block is no torn tail of the last intact
        // one (cutting there would remove the damaged stretch too).
        let mut both = bad.clone();
        both.extend_from_slice(&whole[..7]);
        let mut j = intact.clone();
        j.extend_from_slice(&both);
        let report = read_bytes(&j, |_, _| ()).unwrap();
        assert_eq!(report.torn_tail(), None);
        assert_eq!(report.torn_at, Some(at + bad.len() as u64));
        assert_eq!(report.lasting_damage().count(), 1);
    }

    #[test]
    fn a_follower_gets_each_stretch_of_damage_once_and_never_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.rj");
        let mut bad = metrics(10..12);
        *bad.last_mut().unwrap() ^= 1;
        let torn = metrics(20..22);
        let mut bytes = journal(&[metrics(0..2), bad.clone(), metrics(2..4), bad.clone()]);
        let torn_at = bytes.len() as u64;
        bytes.extend_from_slice(&torn[..torn.len() - 2]);
        std::fs::write(&path, &bytes).unwrap();
        let mut from = JournalPosition::default();
        let mut records = 0;
        let mut damage = Vec::new();
        for _ in 0..5 {
            let tail = read_tail(&path, from, 1, |_| false).unwrap();
            records += tail.records.len();
            damage.extend(tail.damage);
            from = tail.end;
        }
        assert_eq!(records, 4);
        assert_eq!(damage.len(), 2, "{damage:?}");
        assert!(damage[0].offset < damage[1].offset);
        assert_eq!(
            from.offset, torn_at,
            "the position stays before the torn tail"
        );
        // The writer finishes the block: the follower reads it.
        bytes.extend_from_slice(&torn[torn.len() - 2..]);
        std::fs::write(&path, &bytes).unwrap();
        let tail = read_tail(&path, from, 10, |_| false).unwrap();
        assert_eq!((tail.records.len(), tail.damage.len()), (2, 0));
        // Both stretches were noted for listing, once each.
        let noted = super::super::damage::known(dir.path()).unwrap();
        assert_eq!(noted, damage);
    }

    #[test]
    fn damage_in_the_middle_skips_only_the_bad_block() {
        let mut j = journal(&[metrics(0..2), metrics(2..4), metrics(4..6)]);
        let second = journal(&[metrics(0..2)]).len();
        j[second + BLOCK_HEADER_LEN + 5] ^= 0xff;
        let (steps, report) = metric_steps(&j);
        assert_eq!(steps, vec![0, 1, 4, 5]);
        assert_eq!(report.damage.len(), 1);
        assert_eq!(report.damage[0].reason, "block checksum mismatch");
        assert_eq!(report.damage[0].offset, second as u64);
    }

    #[test]
    fn empty_and_foreign_files() {
        assert_eq!(read_bytes(&[], |_, _| ()).unwrap(), ReadReport::default());
        let err = read_bytes(b"hello world, this is not a journal", |_, _| ()).unwrap_err();
        assert!(err.contains("not a run journal"), "{err}");
        let report = read_bytes(&FILE_MAGIC[..5], |_, _| ()).unwrap();
        assert_eq!(report.damage.len(), 1);
        let mut newer = file_header();
        newer[8] = 99;
        let err = read_bytes(&newer, |_, _| ()).unwrap_err();
        assert!(err.contains("newer run-runtime"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = read_bytes(&bytes, |_, _| ());
            let mut with_header = file_header().to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = read_bytes(&with_header, |_, _| ());
        }

        #[test]
        fn corrupting_a_valid_journal_never_panics(
            flips in proptest::collection::vec((0usize..10_000, proptest::num::u8::ANY), 0..8),
            cut in 0usize..10_000,
        ) {
            let mut j = journal(&[metrics(0..10), metrics(10..20), metrics(20..30)]);
            for (at, byte) in flips {
                let at = at % j.len();
                j[at] ^= byte | 1;
            }
            j.truncate(cut.min(j.len()));
            if let Ok(report) = read_bytes(&j, |_, _| ()) {
                proptest::prop_assert!(report.valid_end <= j.len() as u64);
            }
        }

        #[test]
        fn a_cut_journal_keeps_every_whole_block(cut in 0usize..2_000) {
            let blocks = [metrics(0..10), metrics(10..20), metrics(20..30)];
            let j = journal(&blocks);
            let cut = cut.min(j.len());
            let whole = (1..=3).filter(|&n| journal(&blocks[..n]).len() <= cut).count();
            let (steps, _) = metric_steps(&j[..cut]);
            proptest::prop_assert_eq!(steps.len(), whole * 10);
        }
    }
}
