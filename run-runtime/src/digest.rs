//! Content digests of data: the SHA-256 of a file, or of a folder (each file's path inside it
//! and digest, in path order), with the size in bytes. They identify a step's inputs and its
//! program for reuse, and are the digests of its lineage.
//!
//! Hashing a large input on every run would cost as much as reading it, so each file's digest
//! is cached in the store, `<store>/.cache/digests/<sha256 of the path>.json`, under its path,
//! size and modification time: a file whose three are unchanged is not read again. The cache is
//! a file anyone can edit, so an entry is used only when it names the same path, size and time
//! and holds a well-formed digest; anything else is ignored and rewritten. A file modified less
//! than [`RACY`] before it is hashed is not cached: a write in the same tick of the file
//! system's clock could change it without changing its time (git's "racy clean" problem).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The folder of the store that holds the digest cache.
const CACHE_DIR: &str = ".cache/digests";

/// A file modified this recently is hashed but not cached (see the module's docs).
const RACY: Duration = Duration::from_secs(2);

/// Folders deeper than this are refused: a symbolic link to a parent folder would otherwise
/// be walked for ever.
const MAX_DEPTH: usize = 64;

/// The size and content digest of a file or folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DataDigest {
    /// Bytes: the file's, or the sum of the folder's files.
    pub(crate) size: u64,
    /// SHA-256, 64 lowercase hex digits.
    pub(crate) digest: String,
}

/// What a cache file holds.
#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    path: PathBuf,
    size: u64,
    modified_ns: u128,
    digest: String,
}

/// The digest of the file or folder at `path`, through the cache of the store at `store`.
pub(crate) fn of_path(store: &Path, path: &Path) -> Result<DataDigest> {
    let path = std::path::absolute(path).map_err(|e| Error::io("find", path, e))?;
    let meta = fs::metadata(&path).map_err(|e| Error::io("read", &path, e))?;
    match meta.is_dir() {
        true => of_folder(store, &path),
        false => of_file(store, &path, &meta),
    }
}

fn of_folder(store: &Path, root: &Path) -> Result<DataDigest> {
    let mut files = Vec::new();
    list_files(root, Path::new(""), 0, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    let mut size = 0;
    for relative in files {
        let path = root.join(&relative);
        let meta = fs::metadata(&path).map_err(|e| Error::io("read", &path, e))?;
        let file = of_file(store, &path, &meta)?;
        size += file.size;
        // The path's bytes are length-prefixed, so no two folders hash the same bytes.
        let name = relative.to_string_lossy();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(file.digest.as_bytes());
    }
    Ok(DataDigest {
        size,
        digest: hex(&hasher.finalize()),
    })
}

fn list_files(root: &Path, relative: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(relative);
    if depth > MAX_DEPTH {
        return Err(Error::Store {
            path: dir,
            reason: format!(
                "more than {MAX_DEPTH} folders deep (a symbolic link to a parent folder?); \
                 an input's content cannot be hashed"
            ),
        });
    }
    let entries = fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
        let child = relative.join(entry.file_name());
        // Links are followed: the step reads what they point at.
        let meta = fs::metadata(root.join(&child)).map_err(|e| Error::io("read", &child, e))?;
        match meta.is_dir() {
            true => list_files(root, &child, depth + 1, out)?,
            false => out.push(child),
        }
    }
    Ok(())
}

fn of_file(store: &Path, path: &Path, meta: &fs::Metadata) -> Result<DataDigest> {
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos());
    let cache = store.join(CACHE_DIR).join(format!(
        "{}.json",
        hex(&Sha256::digest(path.as_os_str().as_encoded_bytes()))
    ));
    if let Some(modified_ns) = modified_ns
        && let Some(hit) = cached(&cache, path, meta.len(), modified_ns)
    {
        return Ok(hit);
    }
    let digest = hash_file(path)?;
    let settled = meta
        .modified()
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= RACY);
    if let (Some(modified_ns), true) = (modified_ns, settled) {
        let entry = CacheEntry {
            path: path.to_owned(),
            size: meta.len(),
            modified_ns,
            digest: digest.clone(),
        };
        // The cache only saves time: a store that cannot take it costs a rehash next time.
        let _ = write_cache(&cache, &entry);
    }
    Ok(DataDigest {
        size: meta.len(),
        digest,
    })
}

/// The cached digest, if `cache` holds a well-formed entry for this very path, size and time.
fn cached(cache: &Path, path: &Path, size: u64, modified_ns: u128) -> Option<DataDigest> {
    let text = fs::read(cache).ok()?;
    let entry: CacheEntry = serde_json::from_slice(&text).ok()?;
    let fits = entry.path == path
        && entry.size == size
        && entry.modified_ns == modified_ns
        && is_digest(&entry.digest);
    fits.then_some(DataDigest {
        size,
        digest: entry.digest,
    })
}

/// Writes the entry through a file of its own renamed into place: a reader sees the old entry
/// or the new one, and two writers of one path leave one of theirs.
fn write_cache(cache: &Path, entry: &CacheEntry) -> io::Result<()> {
    let dir = cache.parent().expect("a cache file is in the cache folder");
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    fs::write(&temp, serde_json::to_vec(entry).map_err(io::Error::other)?)?;
    fs::rename(&temp, cache).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

fn hash_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// `true` for 64 lowercase hex digits.
pub(crate) fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes`, in hex.
pub(crate) fn of_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(path: &Path) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
    }

    #[test]
    fn a_file_hashes_to_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, "abc").unwrap();
        let d = of_path(&dir.path().join("store"), &file).unwrap();
        assert_eq!(d.size, 3);
        assert_eq!(
            d.digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_folder_changes_with_a_files_content_or_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("sub")).unwrap();
        fs::write(data.join("sub/x"), "1").unwrap();
        fs::write(data.join("y"), "22").unwrap();
        let first = of_path(&store, &data).unwrap();
        assert_eq!(first.size, 3);
        fs::write(data.join("y"), "23").unwrap();
        let content = of_path(&store, &data).unwrap();
        assert_ne!(first.digest, content.digest);
        fs::rename(data.join("y"), data.join("z")).unwrap();
        let renamed = of_path(&store, &data).unwrap();
        assert_ne!(content.digest, renamed.digest);
    }

    #[test]
    fn a_settled_file_is_read_from_the_cache_and_a_forged_entry_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let file = dir.path().join("big.bin");
        fs::write(&file, "original").unwrap();
        old(&file);
        let first = of_path(&store, &file).unwrap();
        let entries: Vec<_> = fs::read_dir(store.join(CACHE_DIR)).unwrap().collect();
        assert_eq!(entries.len(), 1, "one cache entry for one file");
        let cache = entries[0].as_ref().unwrap().path();

        // A cached entry stands for the file while its path, size and time are unchanged:
        // an entry with another digest is believed (that is what saves reading the file)...
        let mut entry: CacheEntry = serde_json::from_slice(&fs::read(&cache).unwrap()).unwrap();
        entry.digest = "0".repeat(64);
        fs::write(&cache, serde_json::to_vec(&entry).unwrap()).unwrap();
        assert_eq!(of_path(&store, &file).unwrap().digest, "0".repeat(64));
        // ...but a malformed one is not, nor one for another size.
        entry.digest = "../../etc".into();
        fs::write(&cache, serde_json::to_vec(&entry).unwrap()).unwrap();
        assert_eq!(of_path(&store, &file).unwrap(), first);
        fs::write(&cache, "not json").unwrap();
        assert_eq!(of_path(&store, &file).unwrap(), first);
        fs::write(&file, "changed!").unwrap();
        old(&file);
        assert_ne!(of_path(&store, &file).unwrap().digest, first.digest);
    }

    #[test]
    fn a_file_written_just_now_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let file = dir.path().join("fresh.txt");
        fs::write(&file, "now").unwrap();
        of_path(&store, &file).unwrap();
        assert!(!store.join(CACHE_DIR).exists());
    }
}
