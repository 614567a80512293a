//! The damage a journal is known to have, kept next to it in `damage.json`, so that a listing
//! of the store can mark a damaged run without reading every journal.
//!
//! Whatever reads a journal notes the damage it finds there: reading a run back, opening it to
//! append (attaching), an appender catching up with another process's blocks, and shipping.
//! Damage never heals (a journal is append-only, and only a torn tail is ever cut), so the file
//! only grows, by stretch. A torn tail is not noted: it is either a write in progress or cut by
//! the next appender. Noting is best effort: a store that cannot be written to (read-only
//! media) still reads, and the damage shows whenever its journal is read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::reader::Damage;
use crate::error::{Error, Result};

/// The file next to a run's journal that lists its known damage.
pub(crate) const DAMAGE_FILE: &str = "damage.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct DamageFile {
    /// Each stretch once, by offset.
    damage: Vec<Damage>,
}

fn file_of(journal: &Path) -> PathBuf {
    journal.with_file_name(DAMAGE_FILE)
}

/// Adds `found` to the damage noted for the journal at `journal`, writing the file only when
/// a stretch is new. Errors are ignored: see the module's documentation.
pub(crate) fn note(journal: &Path, found: &[Damage]) {
    if found.is_empty() {
        return;
    }
    let path = file_of(journal);
    let mut known = read(&path).unwrap_or_default();
    let mut changed = false;
    for d in found {
        match known.damage.iter_mut().find(|k| k.offset == d.offset) {
            Some(k) if k == d => {}
            Some(k) => {
                // The same start seen further on (more of the file was there): the longer wins.
                if d.len > k.len {
                    *k = d.clone();
                    changed = true;
                }
            }
            None => {
                known.damage.push(d.clone());
                changed = true;
            }
        }
    }
    if changed {
        known.damage.sort_by_key(|d| d.offset);
        let json = serde_json::to_vec_pretty(&known).expect("damage serializes");
        let _ = crate::durable::write_atomic(&path, &json);
    }
}

/// The damage noted for the run whose folder is `run_dir`: empty when none was seen.
pub(crate) fn known(run_dir: &Path) -> Result<Vec<Damage>> {
    read(&run_dir.join(DAMAGE_FILE)).map(|f| f.damage)
}

fn read(path: &Path) -> Result<DamageFile> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Store {
            path: path.to_owned(),
            reason: format!("unreadable ({e})"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DamageFile::default()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stretch(offset: u64, len: u64) -> Damage {
        Damage {
            offset,
            len,
            reason: "block checksum mismatch".into(),
        }
    }

    #[test]
    fn each_stretch_is_kept_once_in_offset_order() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.rj");
        assert!(known(dir.path()).unwrap().is_empty());
        note(&journal, &[stretch(100, 10)]);
        note(&journal, &[stretch(40, 5), stretch(100, 10)]);
        note(&journal, &[stretch(100, 30)]);
        note(&journal, &[]);
        assert_eq!(
            known(dir.path()).unwrap(),
            vec![stretch(40, 5), stretch(100, 30)]
        );
    }
}
