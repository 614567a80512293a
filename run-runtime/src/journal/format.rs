//! The bytes of a journal: file header, blocks, records. `docs/journal-format.md` is the
//! specification; this file is its implementation, and the two change together.

use serde::{Deserialize, Serialize};

use crate::error::Status;

/// First 8 bytes of every journal file.
pub(crate) const FILE_MAGIC: [u8; 8] = *b"RUNCTXJ\0";
/// Format version written by this build; readers refuse newer ones.
pub(crate) const VERSION: u16 = 1;
/// File header: magic, version (u16), flags (u16), reserved (u32).
pub(crate) const FILE_HEADER_LEN: usize = 16;

/// First 4 bytes of every block.
pub(crate) const BLOCK_MAGIC: [u8; 4] = *b"RJB1";
/// Block header: magic, payload length (u32), CRC-32 of the payload (u32).
pub(crate) const BLOCK_HEADER_LEN: usize = 12;
/// Largest payload a reader accepts; anything larger is damage.
pub(crate) const MAX_BLOCK_LEN: usize = 256 << 20;
/// Most bytes one append may add to a block: one record, or one chunk of `log_list` records.
/// The writer refuses anything larger, which is what bounds its blocks (see `writer.rs`).
pub(crate) const MAX_APPEND: usize = 1 << 20;
/// Most bytes of a failed run's error text a status event keeps (see [`cap_error`]).
pub(crate) const MAX_ERROR_BYTES: usize = 64 << 10;

/// A metric point: `u16` key length, key, `f64` value, `i64` timestamp (ms), `i64` step.
pub(crate) const KIND_METRIC: u8 = 1;
/// A tag: `u16` key length, key, `u32` value length, value.
pub(crate) const KIND_TAG: u8 = 2;
/// A property: laid out as a tag.
pub(crate) const KIND_PROPERTY: u8 = 3;
/// An event: `u32` length, then JSON of [`Event`].
pub(crate) const KIND_EVENT: u8 = 4;

/// Step written by `run.log` before the writer numbers it. Never on disk.
pub(crate) const AUTO_STEP: i64 = i64::MIN;

/// The file header of a new journal.
pub(crate) fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(&FILE_MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Rare records, kept as JSON so that they can grow fields without a format change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The run ended.
    Status {
        /// FINISHED, FAILED or KILLED.
        status: Status,
        /// Milliseconds since the epoch.
        time: i64,
        /// The error of a failed run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A file was written into the run's artifact folder.
    Artifact {
        /// Its path inside `artifacts/`, `/`-separated.
        path: String,
        /// What it holds.
        kind: ArtifactKind,
        /// Its size in bytes when it was written.
        size: u64,
    },
    /// A step read data (lineage): its input `name`.
    Input {
        /// The input's name.
        name: String,
        /// The file or folder read, as the step got it.
        path: String,
        /// Its size in bytes (a folder's: the sum of its files').
        size: u64,
        /// SHA-256 of its content, in hex (see `digest.rs`).
        digest: String,
    },
}

/// The error text of a failed run as a status event keeps it: capped at [`MAX_ERROR_BYTES`],
/// so that the record fits in a block whatever the error (the text of an error has no bound of
/// its own). The first and last halves are kept, where a panic message and the innermost
/// frames of a backtrace are, with a note of how much was left out between them.
pub(crate) fn cap_error(text: String) -> String {
    cap_text(text, MAX_ERROR_BYTES)
}

/// `text` if it has at most `max` bytes; otherwise its first and last `max / 2` bytes or
/// fewer (cut at character boundaries) around a note of what was left out.
pub(crate) fn cap_text(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut head = max / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - max / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// What an artifact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// A JSON metric in Azure ML's shape: a table, confusion matrix, accuracy table,
    /// residuals or predictions.
    Json,
    /// An image.
    Image,
    /// A file uploaded with `upload_file` or `upload_folder`, or the MLflow copy of a table
    /// (`runctx.tables/<name>.json`).
    File,
    /// Files of a registered model.
    Model,
}

/// One decoded record, borrowing from the block it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record<'a> {
    /// A metric point.
    Metric {
        /// The key.
        key: &'a str,
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
        key: &'a str,
        /// The value.
        value: &'a str,
    },
    /// A property was added.
    Property {
        /// The key.
        key: &'a str,
        /// The value.
        value: &'a str,
    },
    /// An event.
    Event(Event),
}

/// Appends a metric record.
#[inline]
pub(crate) fn put_metric(buf: &mut Vec<u8>, key: &str, value: f64, timestamp: i64, step: i64) {
    let key = key.as_bytes();
    let len = 3 + key.len() + 24;
    buf.reserve(len);
    let start = buf.len();
    // Plain stores into reserved space: this runs on the caller's thread for every metric,
    // where a length update per `extend_from_slice` is a measurable share of the cost.
    // SAFETY: `reserve` made room for `len` bytes after `start`; the writes below cover exactly
    // those bytes (1 + 2 + key + 8 + 8 + 8), so `set_len` exposes only initialised memory.
    unsafe {
        let p = buf.as_mut_ptr().add(start);
        p.write(KIND_METRIC);
        // Keys are at most 250 characters, 1000 bytes: they fit in a u16.
        std::ptr::copy_nonoverlapping((key.len() as u16).to_le_bytes().as_ptr(), p.add(1), 2);
        std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(3), key.len());
        let p = p.add(3 + key.len());
        std::ptr::copy_nonoverlapping(value.to_le_bytes().as_ptr(), p, 8);
        std::ptr::copy_nonoverlapping(timestamp.to_le_bytes().as_ptr(), p.add(8), 8);
        std::ptr::copy_nonoverlapping(step.to_le_bytes().as_ptr(), p.add(16), 8);
        buf.set_len(start + len);
    }
}

/// Appends a tag (`KIND_TAG`) or property (`KIND_PROPERTY`) record. Keys and values are
/// checked before (1000 and 32,000 bytes at most), far below the framing's limits.
pub(crate) fn put_pair(buf: &mut Vec<u8>, kind: u8, key: &str, value: &str) {
    debug_assert!(key.len() <= usize::from(u16::MAX) && value.len() <= MAX_APPEND);
    buf.reserve(1 + 2 + key.len() + 4 + value.len());
    buf.push(kind);
    buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(value.as_bytes());
}

/// Appends an event record.
pub(crate) fn put_event(buf: &mut Vec<u8>, event: &Event) {
    let json = serde_json::to_vec(event).expect("events serialize");
    buf.push(KIND_EVENT);
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&json);
}

/// Where a metric record's step lies, relative to the record's start, given its key length.
pub(crate) fn metric_step_offset(key_len: usize) -> usize {
    1 + 2 + key_len + 16
}

/// One record's framing: its kind and where its fields are, before any text in it is checked.
/// [`frame`] is the one definition of how records are laid out; [`Records`] builds typed
/// records on it, and the writer walks blocks with it to give steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Frame<'a> {
    /// A metric point.
    Metric {
        /// The key's bytes.
        key: &'a [u8],
        /// The value.
        value: f64,
        /// Milliseconds since the epoch.
        timestamp: i64,
        /// The step.
        step: i64,
    },
    /// A tag ([`KIND_TAG`]) or property ([`KIND_PROPERTY`]).
    Pair {
        /// Which of the two.
        kind: u8,
        /// The key's bytes.
        key: &'a [u8],
        /// The value's bytes.
        value: &'a [u8],
    },
    /// An event: its JSON.
    Event(&'a [u8]),
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fn u64_at(b: &[u8], at: usize) -> [u8; 8] {
    b[at..at + 8].try_into().expect("8 bytes")
}

/// The record at the start of `bytes` and its length, or why there is none. The one decoder of
/// the framing: each kind checks its whole length once, then reads its fields.
#[inline]
pub(crate) fn frame(bytes: &[u8]) -> Result<(Frame<'_>, usize), String> {
    let short = || String::from("record cut short");
    let (&kind, body) = bytes.split_first().ok_or_else(short)?;
    match kind {
        KIND_METRIC => {
            let key_len = if body.len() >= 2 { u16_at(body, 0) } else { 0 };
            let len = 2 + key_len + 24;
            if body.len() < len {
                return Err(short());
            }
            let at = 2 + key_len;
            let frame = Frame::Metric {
                key: &body[2..at],
                value: f64::from_le_bytes(u64_at(body, at)),
                timestamp: i64::from_le_bytes(u64_at(body, at + 8)),
                step: i64::from_le_bytes(u64_at(body, at + 16)),
            };
            Ok((frame, 1 + len))
        }
        KIND_TAG | KIND_PROPERTY => {
            let key_len = if body.len() >= 2 { u16_at(body, 0) } else { 0 };
            let at = 2 + key_len;
            if body.len() < at + 4 {
                return Err(short());
            }
            let value_len = u32_at(body, at);
            let len = at + 4 + value_len;
            if body.len() < len {
                return Err(short());
            }
            let frame = Frame::Pair {
                kind,
                key: &body[2..at],
                value: &body[at + 4..len],
            };
            Ok((frame, 1 + len))
        }
        KIND_EVENT => {
            if body.len() < 4 {
                return Err(short());
            }
            let len = 4 + u32_at(body, 0);
            if body.len() < len {
                return Err(short());
            }
            Ok((Frame::Event(&body[4..len]), 1 + len))
        }
        other => Err(format!("unknown record kind {other}")),
    }
}

fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| String::from("text that is not UTF-8"))
}

impl<'a> Frame<'a> {
    /// The typed record: text checked, an event's JSON parsed.
    pub(crate) fn record(self) -> Result<Record<'a>, String> {
        match self {
            Frame::Metric {
                key,
                value,
                timestamp,
                step,
            } => Ok(Record::Metric {
                key: text(key)?,
                value,
                timestamp,
                step,
            }),
            Frame::Pair { kind, key, value } => {
                let (key, value) = (text(key)?, text(value)?);
                Ok(if kind == KIND_TAG {
                    Record::Tag { key, value }
                } else {
                    Record::Property { key, value }
                })
            }
            Frame::Event(json) => serde_json::from_slice(json)
                .map(Record::Event)
                .map_err(|e| format!("unreadable event: {e}")),
        }
    }
}

/// A cursor over the records of one block payload.
pub(crate) struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Records<'a> {
    /// Iterates `payload`.
    pub(crate) fn new(payload: &'a [u8]) -> Self {
        Records { rest: payload }
    }
}

impl<'a> Iterator for Records<'a> {
    /// A record, or why the rest of the block cannot be read.
    type Item = Result<Record<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = frame(self.rest).and_then(|(f, len)| {
            self.rest = &self.rest[len..];
            f.record()
        });
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut buf = Vec::new();
        put_metric(&mut buf, "loss", 0.5, 1700, 3);
        put_pair(&mut buf, KIND_TAG, "t", "v");
        put_pair(&mut buf, KIND_PROPERTY, "p", "é");
        let ev = Event::Status {
            status: Status::Failed,
            time: 9,
            error: Some("boom".into()),
        };
        put_event(&mut buf, &ev);
        let got: Vec<_> = Records::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                Record::Metric {
                    key: "loss",
                    value: 0.5,
                    timestamp: 1700,
                    step: 3
                },
                Record::Tag {
                    key: "t",
                    value: "v"
                },
                Record::Property {
                    key: "p",
                    value: "é"
                },
                Record::Event(ev),
            ]
        );
    }

    #[test]
    fn step_offset_points_at_the_step() {
        let mut buf = Vec::new();
        put_metric(&mut buf, "abc", 1.0, 2, 77);
        let at = metric_step_offset(3);
        assert_eq!(i64::from_le_bytes(buf[at..at + 8].try_into().unwrap()), 77);
        assert_eq!(at + 8, buf.len());
    }

    #[test]
    fn frames_give_each_record_and_its_length() {
        let mut buf = Vec::new();
        put_pair(&mut buf, KIND_TAG, "t", "v");
        let second = buf.len();
        put_metric(&mut buf, "abc", 1.0, 2, 77);
        let (first, len) = frame(&buf).unwrap();
        assert_eq!(len, second);
        assert_eq!(
            first,
            Frame::Pair {
                kind: KIND_TAG,
                key: b"t",
                value: b"v"
            }
        );
        let (metric, len) = frame(&buf[second..]).unwrap();
        assert_eq!(second + len, buf.len());
        assert!(matches!(
            metric,
            Frame::Metric {
                key: b"abc",
                step: 77,
                ..
            }
        ));
        // A key that is not UTF-8 is framing-correct; only the typed record refuses it.
        let mut bad = Vec::new();
        put_metric(&mut bad, "ab", 1.0, 2, 3);
        bad[3] = 0xff;
        let (f, _) = frame(&bad).unwrap();
        assert!(f.record().is_err());
    }

    #[test]
    fn error_text_is_capped_at_char_boundaries_keeping_both_ends() {
        let short = String::from("loss is NaN");
        assert_eq!(cap_error(short.clone()), short);
        let long = format!("head{}tail", "é".repeat(MAX_ERROR_BYTES));
        let capped = cap_error(long.clone());
        assert!(capped.len() <= MAX_ERROR_BYTES + 64, "{}", capped.len());
        assert!(capped.starts_with("headé") && capped.ends_with("étail"));
        assert!(capped.contains("bytes left out"));
        // The status event of any error fits in one append.
        let mut buf = Vec::new();
        let event = Event::Status {
            status: Status::Failed,
            time: 0,
            error: Some(cap_error("\u{1}".repeat(10 * MAX_ERROR_BYTES))),
        };
        put_event(&mut buf, &event);
        assert!(buf.len() <= MAX_APPEND, "{}", buf.len());
    }

    #[test]
    fn a_cut_record_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        put_metric(&mut buf, "loss", 0.5, 1700, 3);
        for cut in 0..buf.len() {
            let items: Vec<_> = Records::new(&buf[..cut]).collect();
            assert!(items.iter().all(Result::is_err), "cut at {cut}");
        }
    }
}
