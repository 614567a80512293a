//! Putting a version's files into a folder: all of them, or nothing under the folder's name.

use std::path::{Component, Path, PathBuf};

use super::{ModelVersion, version_uri};
use crate::error::{Error, Result};

/// One plain component of a path: not empty, not `.` or `..`, without a separator, NUL or
/// (on Windows) a drive prefix. Paths a server gives are made of these before they become
/// local paths, so none can point outside the folder they are joined to.
pub(crate) fn is_plain_component(name: &str) -> bool {
    !name.contains(['/', '\\', '\0'])
        && matches!(
            Path::new(name).components().collect::<Vec<_>>()[..],
            [Component::Normal(c)] if c == name
        )
}

/// `relative` (a `/`-separated path from a listing) below `root`, if every component of it is
/// plain.
pub(crate) fn inside(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = root.to_owned();
    for part in relative.split('/') {
        if !is_plain_component(part) {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

/// Copies the local registry's files of `version` into `dir`.
pub(super) fn local(version: &ModelVersion, dir: &Path) -> Result<PathBuf> {
    let files = version.files.clone().ok_or_else(|| Error::ModelDownload {
        model: version_uri(version),
        to: dir.to_owned(),
        reason: "the local registry has no copy of its files".into(),
    })?;
    into_place(&version_uri(version), dir, |tmp| {
        let pairs = crate::artifacts::files_below(&files).map_err(|e| e.to_string())?;
        if pairs.is_empty() {
            return Err(format!("{} holds no files", files.display()));
        }
        for (relative, source) in pairs {
            let target = inside(tmp, &relative)
                .ok_or_else(|| format!("{relative:?} is not a plain relative path"))?;
            create_parent(&target)?;
            std::fs::copy(&source, &target)
                .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
        }
        Ok(())
    })
}

/// Creates the folder `target` goes in.
pub(crate) fn create_parent(target: &Path) -> std::result::Result<(), String> {
    match target.parent() {
        Some(parent) => std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display())),
        None => Ok(()),
    }
}

/// Fills a temporary folder beside `dir` with `fill`, then renames it to `dir`. `dir` must not
/// exist, or be an empty folder. On any failure the temporary folder is removed and `dir` is
/// as it was.
pub(crate) fn into_place(
    model: &str,
    dir: &Path,
    fill: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<PathBuf> {
    let failed = |reason: String| Error::ModelDownload {
        model: model.to_owned(),
        to: dir.to_owned(),
        reason,
    };
    check_destination(dir).map_err(failed)?;
    create_parent(dir).map_err(failed)?;
    let tmp = crate::durable::temporary(dir, "part");
    // A folder of this process's earlier attempt that died half way.
    let _ = std::fs::remove_dir_all(&tmp);
    let filled = std::fs::create_dir(&tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))
        .and_then(|()| fill(&tmp))
        .and_then(|()| sync_tree(&tmp))
        .and_then(|()| rename_into_place(&tmp, dir));
    if let Err(reason) = filled {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(failed(reason));
    }
    crate::durable::sync_parent(dir)?;
    Ok(dir.to_owned())
}

/// `dir` may be filled: it does not exist, or is an empty folder.
fn check_destination(dir: &Path) -> std::result::Result<(), String> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if dir.exists() && !dir.is_dir() => Err(format!("it is not a folder ({e})")),
        Err(e) => Err(format!("cannot read it: {e}")),
        Ok(entries) => match entries.count() {
            0 => Ok(()),
            _ => Err("it is not empty; give a new folder, or empty this one".into()),
        },
    }
}

/// Renames the complete `tmp` to `dir`, removing `dir` first if it is an empty folder (a
/// rename over a folder is not portable).
fn rename_into_place(tmp: &Path, dir: &Path) -> std::result::Result<(), String> {
    if dir.is_dir() {
        std::fs::remove_dir(dir)
            .map_err(|e| format!("cannot replace the folder, which must be empty: {e}"))?;
    }
    std::fs::rename(tmp, dir).map_err(|e| format!("cannot rename {} to it: {e}", tmp.display()))
}

/// Syncs every file below `dir`, so that the folder renamed into place holds what it says after
/// a power cut.
fn sync_tree(dir: &Path) -> std::result::Result<(), String> {
    for (_, path) in crate::artifacts::files_below(dir).map_err(|e| e.to_string())? {
        crate::durable::sync_file(&path).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_components_make_paths() {
        let root = Path::new("/dest");
        assert_eq!(
            inside(root, "weights/layer 0.bin"),
            Some(PathBuf::from("/dest/weights/layer 0.bin"))
        );
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "",
            "a\\..\\b",
            "a\0b",
        ] {
            assert_eq!(inside(root, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_failed_fill_leaves_nothing_and_a_full_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let e = into_place("models:/m/1", &dest, |tmp| {
            std::fs::write(tmp.join("half.bin"), [1]).unwrap();
            Err("the store went away".into())
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot download models:/m/1 to {}: the store went away",
                dest.display()
            )
        );
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // An empty folder is filled; a full one is refused before anything is fetched.
        std::fs::create_dir(&dest).unwrap();
        into_place("models:/m/1", &dest, |tmp| {
            std::fs::write(tmp.join("w.bin"), [7]).map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read(dest.join("w.bin")).unwrap(), [7]);
        let e = into_place("models:/m/1", &dest, |_| panic!("not called")).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("it is not empty; give a new folder, or empty this one")
        );
    }
}
