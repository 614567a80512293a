//! The aliases of the local registry: one small file per alias,
//! `<store>/models/<name>/aliases/<alias>`, holding the version it points at.
//!
//! A file each, replaced atomically, so that processes setting different aliases at once never
//! lose one another's, and a reader sees an alias's old version or its new one, never neither.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::durable::{sync_dir, write_atomic};
use crate::error::{Error, Result};

/// The folder of a model's aliases.
const ALIASES_DIR: &str = "aliases";

/// The content of an alias's file.
#[derive(Debug, Serialize, Deserialize)]
struct AliasFile {
    version: u64,
}

/// The aliases of the model whose registry folder is `folder`, with their versions.
///
/// A file whose name is not an alias is skipped: this module never writes one (the temporary
/// files of interrupted writes start with `.`, which no alias does). A file whose content is
/// not a version is an error naming it.
pub(super) fn read(folder: &Path) -> Result<BTreeMap<String, u64>> {
    let dir = folder.join(ALIASES_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut aliases = BTreeMap::new();
    for name in entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| run_rules::alias_rule(name).is_ok())
    {
        let path = dir.join(&name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // Deleted since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let file: AliasFile = serde_json::from_slice(&bytes).map_err(|e| Error::Store {
            path: path.clone(),
            reason: format!("not an alias's file ({{\"version\": N}}): {e}"),
        })?;
        aliases.insert(name, file.version);
    }
    Ok(aliases)
}

/// Points `alias` at `version` (the caller checked both).
pub(super) fn set(folder: &Path, alias: &str, version: u64) -> Result<()> {
    let dir = folder.join(ALIASES_DIR);
    crate::durable::create_dir_all(&dir)?;
    let json = serde_json::to_vec(&AliasFile { version }).expect("an alias serializes");
    write_atomic(&dir.join(alias), &json)
}

/// Removes `alias` (the caller checked that it exists; one removed meanwhile is fine).
pub(super) fn delete(folder: &Path, alias: &str) -> Result<()> {
    let dir = folder.join(ALIASES_DIR);
    let path = dir.join(alias);
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(&dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_set_moved_read_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        set(dir.path(), "champion", 1).unwrap();
        set(dir.path(), "challenger", 2).unwrap();
        set(dir.path(), "champion", 2).unwrap();
        let read_back = read(dir.path()).unwrap();
        assert_eq!(
            read_back.into_iter().collect::<Vec<_>>(),
            [("challenger".to_owned(), 2), ("champion".to_owned(), 2)]
        );
        delete(dir.path(), "challenger").unwrap();
        delete(dir.path(), "challenger").unwrap();
        assert_eq!(read(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn writers_setting_different_aliases_at_once_keep_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..16u64)
            .map(|i| {
                let folder = dir.path().to_owned();
                std::thread::spawn(move || set(&folder, &format!("a{i}"), i + 1).unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let aliases = read(dir.path()).unwrap();
        assert_eq!(aliases.len(), 16);
        assert!((0..16u64).all(|i| aliases[&format!("a{i}")] == i + 1));
    }

    #[test]
    fn leftovers_are_skipped_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let aliases = dir.path().join(ALIASES_DIR);
        std::fs::create_dir_all(&aliases).unwrap();
        std::fs::write(aliases.join(".champion.77.tmp"), "half").unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        std::fs::write(aliases.join("champion"), "three").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("champion: not an alias's file"), "{e}");
    }
}
