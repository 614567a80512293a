//! Files that survive a power cut once written: replaced by rename after their bytes are on
//! the disk, and with the rename itself made durable by syncing the folder.
//!
//! On Linux (ext4, xfs, btrfs) a rename is atomic but not durable until the folder is synced,
//! and a file's data may reach the disk after its rename unless the file is synced first: the
//! order here (write, `fsync` the file, rename, `fsync` the folder) is what PostgreSQL and
//! SQLite do for the same reason. `docs/guide.md` ("What survives") says what this buys.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary name a file is written under before it replaces `path`: `.NAME.PID.SUFFIX` in
/// the same folder. `runctx gc` recognises these names (see [`is_temporary`]).
pub(crate) fn temporary(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{suffix}", std::process::id()))
}

/// `true` for a name [`temporary`] makes: `.NAME.PID.tmp` or `.NAME.PID.part`.
pub(crate) fn is_temporary(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some(stem) = rest
        .strip_suffix(".tmp")
        .or_else(|| rest.strip_suffix(".part"))
    else {
        return false;
    };
    stem.rsplit_once('.').is_some_and(|(file, pid)| {
        !file.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Writes `bytes` to `path` so that a reader, or the disk after a power cut, has the old content
/// or the new, never a mix; the new content is durable when this returns.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary(path, "tmp");
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| Error::io("write", &tmp, e));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    commit(&tmp, path)
}

/// Renames the fully written `tmp` over `target`, then makes the rename durable. `tmp` must
/// have been synced by its writer.
pub(crate) fn commit(tmp: &Path, target: &Path) -> Result<()> {
    fs::rename(tmp, target).map_err(|e| {
        let _ = fs::remove_file(tmp);
        Error::io("rename", target, e)
    })?;
    sync_parent(target)
}

/// Syncs the file at `path` (its data and size).
pub(crate) fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("sync", path, e))
}

/// Syncs the folder holding `path`, so that a new or renamed entry in it survives a power cut.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// Syncs a folder's entries.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    // Opening a folder read-only and calling fsync is how POSIX makes its entries durable;
    // some file systems refuse it (EINVAL), and then there is nothing more to do.
    match OpenOptions::new()
        .read(true)
        .open(dir)
        .and_then(|d| d.sync_all())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(e) => Err(Error::io("sync", dir, e)),
    }
}

/// Creates `dir` and any missing parents, each made durable in its own parent.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => break,
        }
    }
    for new in missing.iter().rev() {
        match fs::create_dir(new) {
            Ok(()) => sync_parent(new)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && new.is_dir() => {}
            Err(e) => return Err(Error::io("create", new, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        let tmp = temporary(Path::new("/x/run.json"), "tmp");
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert!(is_temporary(name), "{name}");
        assert!(is_temporary(".weights.bin.77.part"));
        assert!(!is_temporary("run.json.1234.tmp"));
        assert!(!is_temporary(".notes.tmp"));
        assert!(!is_temporary(".x.12a.part"));
        assert!(!is_temporary("journal.rj"));
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn create_dir_all_makes_every_missing_level() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_all(&deep).unwrap();
    }
}
