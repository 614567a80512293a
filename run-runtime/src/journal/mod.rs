//! The write-ahead journal: every record of a run, in the order it was logged, on local disk
//! before anything else happens to it. `docs/journal-format.md` describes the bytes.

pub(crate) mod damage;
mod disk;
pub(crate) mod format;
pub(crate) mod reader;
mod thread;
pub(crate) mod writer;

pub use format::ArtifactKind;
pub(crate) use format::{Event, Record};
pub(crate) use reader::read_journal;
pub use reader::{Damage, JournalPosition};
#[cfg(feature = "mlflow")]
pub(crate) use reader::{OwnedRecord, read_tail};
pub(crate) use writer::{Journal, WRITER_STALL};

/// The longest a run's end, a drop or the exit handler waits for its journal to reach the disk.
pub(crate) const SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
