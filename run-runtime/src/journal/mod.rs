//! The write-ahead journal: every record of a run, in the order it was logged, on local disk
//! before anything else happens to it. `docs/journal-format.md` describes the bytes.

pub mod format;
pub mod reader;
pub(crate) mod writer;

pub use format::{ArtifactKind, Event, Record};
pub use reader::{
    Damage, OwnedRecord, Position, ReadReport, Tail, read_bytes, read_journal, read_tail,
};
pub(crate) use writer::Journal;
