//! Writing files into a run's artifact folder, and nowhere else.
//!
//! An artifact name is a relative `/`-separated path. Names that would leave the folder are
//! refused before anything is written: `..`, an absolute path, and any path that goes through
//! a symbolic link (which could point anywhere). Files are written to a temporary name and
//! renamed into place, so a reader never sees half a file and a link at the final name is
//! replaced, not followed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::durable;
use crate::error::{Error, Result};

/// Longest artifact path, in bytes.
const MAX_PATH_BYTES: usize = 1024;

/// Checks an artifact name: a relative path without `.`/`..`/empty components or control
/// characters.
pub(crate) fn check_artifact_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Err(invalid(name, reason));
    if name.is_empty() {
        return bad("the name is empty; give the file a name");
    }
    if name.len() > MAX_PATH_BYTES {
        return bad("the name is longer than 1024 bytes");
    }
    if name.starts_with('/') || name.contains('\\') || has_drive(name) {
        return bad(
            "an absolute path would leave the run folder; use a relative name such as \"plots/loss.png\"",
        );
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return bad(&format!(
            "the control character {c:?} is not allowed in a file name"
        ));
    }
    for component in name.split('/') {
        match component {
            "" => {
                return bad(
                    "empty path component ('//' or a trailing '/'); use single '/' between names",
                );
            }
            "." | ".." => {
                return bad(&format!(
                    "the path component '{component}' would leave the run folder; use a plain relative name"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn has_drive(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic()
}

fn invalid(name: &str, reason: &str) -> Error {
    Error::InvalidArtifact {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Creates the folders of artifact `name` below `root` and returns where the file goes,
/// refusing any path through a symbolic link.
pub(crate) fn place(root: &Path, name: &str) -> Result<PathBuf> {
    check_artifact_name(name)?;
    let mut dir = root.to_path_buf();
    let components: Vec<&str> = name.split('/').collect();
    let (file, folders) = components
        .split_last()
        .expect("a checked name has a component");
    for folder in folders {
        dir.push(folder);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(invalid(
                    name,
                    &format!(
                        "{} is a symbolic link, which could lead out of the run folder",
                        dir.display()
                    ),
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(invalid(
                    name,
                    &format!("{} is a file, not a folder", dir.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                Ok(()) => durable::sync_parent(&dir)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(Error::io("create", &dir, e)),
            },
            Err(e) => return Err(Error::io("inspect", &dir, e)),
        }
    }
    let target = dir.join(file);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(invalid(name, "a folder of that name is already there"));
    }
    Ok(target)
}

/// Writes `bytes` as artifact `name`, durably; returns the size.
pub(crate) fn write(root: &Path, name: &str, bytes: &[u8]) -> Result<u64> {
    durable::write_atomic(&place(root, name)?, bytes)?;
    Ok(bytes.len() as u64)
}

/// The file of artifact `name` below `root`, for reading: the name must pass the artifact rules,
/// no component may be a symbolic link, and it must be a file.
pub(crate) fn locate(root: &Path, name: &str) -> Result<PathBuf> {
    check_artifact_name(name)?;
    let mut at = root.to_path_buf();
    for component in name.split('/') {
        at.push(component);
        let kind = fs::symlink_metadata(&at).map_err(|e| Error::io("read", &at, e))?;
        if kind.file_type().is_symlink() {
            return Err(invalid(
                name,
                &format!(
                    "{} is a symbolic link, which could lead out of the run folder",
                    at.display()
                ),
            ));
        }
    }
    if !at.is_file() {
        return Err(invalid(name, &format!("{} is not a file", at.display())));
    }
    Ok(at)
}

/// Copies the file at `source` as artifact `name`; returns the size.
pub(crate) fn copy(root: &Path, name: &str, source: &Path) -> Result<u64> {
    let meta = fs::metadata(source).map_err(|e| Error::io("read", source, e))?;
    if !meta.is_file() {
        return Err(invalid(
            name,
            &format!("{} is not a file", source.display()),
        ));
    }
    let target = place(root, name)?;
    let tmp = durable::temporary(&target, "part");
    let copied = fs::copy(source, &tmp)
        .map_err(|e| Error::io("copy", source, e))
        .and_then(|size| durable::sync_file(&tmp).map(|()| size));
    match copied {
        Ok(size) => durable::commit(&tmp, &target).map(|()| size),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The files below `folder`, as (path relative to it with `/` separators, full path), sorted.
/// Symbolic links are followed to files; links to folders are not entered, so a loop cannot
/// make this endless.
pub(crate) fn files_below(folder: &Path) -> Result<Vec<(String, PathBuf)>> {
    let meta = fs::metadata(folder).map_err(|e| Error::io("read", folder, e))?;
    if !meta.is_dir() {
        return Err(Error::io(
            "read",
            folder,
            io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
        ));
    }
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), folder.to_path_buf())];
    while let Some((prefix, dir)) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| Error::io("inspect", &path, e))?;
            if kind.is_dir() {
                stack.push((rel, path));
            } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_names() {
        for name in [
            "a.txt",
            "plots/loss.png",
            "model/weights.bin",
            "with space.csv",
            "ü/ß.json",
        ] {
            check_artifact_name(name).unwrap();
        }
    }

    #[test]
    fn refuses_names_that_leave_the_folder() {
        for name in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "C:/x",
            "a\\b",
            "a\u{0}b",
        ] {
            let err = check_artifact_name(name).unwrap_err().to_string();
            assert!(err.starts_with(&format!("artifact {name:?}: ")), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_path_through_a_symlink_out_of_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("artifacts");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let err = write(&root, "link/evil.txt", b"x").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(!outside.join("evil.txt").exists());

        // A link at the final name is replaced by the file, never written through.
        let victim = outside.join("victim.txt");
        fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, root.join("file.txt")).unwrap();
        write(&root, "file.txt", b"new").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(fs::read(root.join("file.txt")).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn a_path_from_the_journal_is_checked_again_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("artifacts");
        fs::create_dir_all(root.join("plots")).unwrap();
        fs::write(root.join("plots/loss.png"), b"png").unwrap();
        fs::write(dir.path().join("secret"), b"secret").unwrap();
        assert_eq!(
            locate(&root, "plots/loss.png").unwrap(),
            root.join("plots/loss.png")
        );
        // Names a journal could hold if someone wrote it by hand.
        for name in [
            "../secret",
            "/etc/passwd",
            "plots/../../secret",
            "plots",
            "",
        ] {
            assert!(locate(&root, name).is_err(), "{name:?}");
        }
        // A link inside the run's artifacts, to a file or a folder outside it.
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        for name in ["link", "up/secret"] {
            let err = locate(&root, name).unwrap_err().to_string();
            assert!(err.contains("symbolic link"), "{name}: {err}");
        }
    }

    #[test]
    fn lists_files_below_a_folder_with_relative_names() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("top.txt"), "1").unwrap();
        fs::write(dir.path().join("a/b/deep.txt"), "2").unwrap();
        let names: Vec<String> = files_below(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(names, vec!["a/b/deep.txt", "top.txt"]);
    }
}
