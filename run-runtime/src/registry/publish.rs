//! `runctx sync` for the local registry: each version that a synced run registered offline is
//! registered on the server too, once.
//!
//! Once: the version carries the tag `runctx.version_key` = `<local run>/<name>/<version>`,
//! looked for before it is created (so a sync that died after creating it finds it), and the
//! server's version number is remembered in the local version's folder (`remote.json`, by
//! server), so a later sync does not ask again.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::server::{
    NewVersion, VERSION_KEY, ask, check_files, create_once, from_wire, version_source,
};
use super::{ModelVersion, local_models, local_versions};
use crate::artifacts::files_below;
use crate::durable::write_atomic;
use crate::error::{Error, Result};
use crate::mlflow::Link;
use crate::mlflow::sync::SyncedModel;
use crate::store::{ARTIFACTS_DIR, Store};

/// Where a version remembers its numbers on servers, in its folder.
const REMOTE_FILE: &str = "remote.json";

/// Registers on the server the versions of the local registry whose runs are among `links`
/// (synced, with their server ids), each once; what became of each, by model and version.
pub(crate) fn publish(store: &Store, links: &HashMap<String, Arc<Link>>) -> Vec<SyncedModel> {
    let mut report = Vec::new();
    let models = match local_models(store) {
        Ok(m) => m,
        Err(e) => {
            report.push(unreadable("*", e));
            return report;
        }
    };
    for model in models {
        let versions = match local_versions(store, &model.name) {
            Ok(v) => v,
            Err(e) => {
                report.push(unreadable(&model.name, e));
                continue;
            }
        };
        for v in versions {
            let Some(link) = v.run_id.as_ref().and_then(|r| links.get(r)) else {
                continue;
            };
            let mut synced = SyncedModel {
                name: v.name.clone(),
                version: v.version,
                run_id: v.run_id.clone().unwrap_or_default(),
                remote_version: None,
                created: false,
                error: None,
            };
            match publish_one(store, link, &v) {
                Ok((remote, created)) => {
                    synced.remote_version = Some(remote);
                    synced.created = created;
                }
                Err(e) => synced.error = Some(e),
            }
            report.push(synced);
        }
    }
    report
}

fn unreadable(name: &str, e: Error) -> SyncedModel {
    SyncedModel {
        name: name.to_owned(),
        version: 0,
        run_id: String::new(),
        remote_version: None,
        created: false,
        error: Some(format!("the local registry cannot be read: {e}")),
    }
}

/// Registers `v` on the server of `link` unless it is there: its number there, and whether
/// this call created it.
fn publish_one(
    store: &Store,
    link: &Arc<Link>,
    v: &ModelVersion,
) -> std::result::Result<(u64, bool), String> {
    let files = v.files.as_deref().ok_or("the version has no files")?;
    let dir = files.parent().ok_or("the version has no folder")?;
    let mut remembered = read_remote(dir).map_err(|e| e.to_string())?;
    if let Some(number) = remembered.get(link.base()) {
        return Ok((*number, false));
    }
    let local_id = v.run_id.clone().unwrap_or_default();
    let remote = link
        .remote_id()
        .ok_or("its run has no id on the server: it was not synced")?;
    let artifact = artifact_folder(v, &local_id)?;
    let run_dir = store.run_dir(&local_id).map_err(|e| e.to_string())?;
    let run_files = run_dir.join(ARTIFACTS_DIR).join(&artifact);
    if !same_files(files, &run_files).map_err(|e| e.to_string())? {
        return Err(format!(
            "its run's artifacts {} no longer hold its files (the run registered the model \
             again, with other files), so no version on the server can point at them",
            run_files.display()
        ));
    }
    if let Some(reason) =
        check_files(link, &local_id, &remote, &artifact, files).map_err(|e| e.to_string())?
    {
        return Err(reason);
    }
    let key = format!("{local_id}/{}/{}", v.name, v.version);
    let (found, created) = match tagged(link, &v.name, &key)? {
        Some(found) => (found, false),
        None => {
            let new = NewVersion {
                name: v.name.clone(),
                source: version_source(link, &remote, &artifact),
                run_id: remote,
                description: v.description.clone(),
                tags: v.tags.clone().into_iter().collect(),
                key,
            };
            (
                create_once(link.client(), new).map_err(|e| e.to_string())?,
                true,
            )
        }
    };
    remembered.insert(link.base().to_owned(), found.version);
    write_remote(dir, &remembered).map_err(|e| e.to_string())?;
    Ok((found.version, created))
}

/// The run's artifact folder that holds the version's files: its source is
/// `runs:/<run id>/<folder>`.
fn artifact_folder(v: &ModelVersion, local_id: &str) -> std::result::Result<String, String> {
    v.source
        .strip_prefix("runs:/")
        .and_then(|rest| rest.strip_prefix(local_id))
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|folder| super::download::inside(Path::new(""), folder).is_some())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "its source {:?} is not a folder of its run {local_id} (runs:/{local_id}/...)",
                v.source
            )
        })
}

/// `true` when the folders `a` and `b` hold the same files with the same bytes.
fn same_files(a: &Path, b: &Path) -> Result<bool> {
    let (a, b) = (files_below(a)?, files_below(b)?);
    if a.len() != b.len() || a.iter().zip(&b).any(|((x, _), (y, _))| x != y) {
        return Ok(false);
    }
    for ((_, x), (_, y)) in a.iter().zip(&b) {
        if !same_bytes(x, y)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `true` when the files `a` and `b` have the same bytes, read a block at a time.
fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| Error::io("read", p, e));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let size = |f: &std::fs::File, p: &Path| {
        f.metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io("read", p, e))
    };
    if size(&fa, a)? != size(&fb, b)? {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba).map_err(|e| Error::io("read", a, e))?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])
            .map_err(|e| Error::io("read", b, e))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// The server's version of `name` tagged with `key`, if there is one.
fn tagged(
    link: &Arc<Link>,
    name: &str,
    key: &str,
) -> std::result::Result<Option<ModelVersion>, String> {
    let (model, key) = (name.to_owned(), key.to_owned());
    let found = ask(
        link.client(),
        &format!("look for model {name:?}"),
        move |c| {
            let (model, key) = (model.clone(), key.clone());
            async move { c.model_version_tagged(&model, VERSION_KEY, &key).await }
        },
    )
    .map_err(|e| e.to_string())?;
    found.map(from_wire).transpose()
}

/// The numbers of the version in `dir` on the servers it was synced to, by server.
fn read_remote(dir: &Path) -> Result<BTreeMap<String, u64>> {
    let path = dir.join(REMOTE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Store {
            path,
            reason: format!("unreadable ({{\"<server>\": <version>}} expected): {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn write_remote(dir: &Path, remote: &BTreeMap<String, u64>) -> Result<()> {
    let json = serde_json::to_vec_pretty(remote).expect("a map serializes");
    write_atomic(&dir.join(REMOTE_FILE), &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(source: &str) -> ModelVersion {
        ModelVersion {
            name: "m".into(),
            version: 1,
            source: source.into(),
            run_id: Some("OfflineRun_a".into()),
            description: None,
            tags: BTreeMap::new(),
            aliases: Vec::new(),
            created: 0,
            files: None,
        }
    }

    #[test]
    fn the_artifact_folder_comes_from_a_source_of_the_versions_own_run() {
        let id = "OfflineRun_a";
        assert_eq!(
            artifact_folder(&version("runs:/OfflineRun_a/models/m"), id).unwrap(),
            "models/m"
        );
        for bad in [
            "runs:/OfflineRun_b/models/m",
            "runs:/OfflineRun_a/../x",
            "s3://b/m",
        ] {
            let e = artifact_folder(&version(bad), id).unwrap_err();
            assert!(e.contains("is not a folder of its run"), "{bad}: {e}");
        }
    }

    #[test]
    fn folders_are_the_same_only_with_the_same_names_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("w")).unwrap();
            std::fs::write(d.join("w/x.bin"), [1, 2, 3]).unwrap();
        }
        assert!(same_files(&a, &b).unwrap());
        std::fs::write(b.join("w/x.bin"), [1, 2, 4]).unwrap();
        assert!(!same_files(&a, &b).unwrap());
        std::fs::write(b.join("w/x.bin"), [1, 2, 3]).unwrap();
        std::fs::write(b.join("extra"), []).unwrap();
        assert!(!same_files(&a, &b).unwrap());
    }

    #[test]
    fn remembered_numbers_round_trip_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_remote(dir.path()).unwrap().is_empty());
        let numbers = BTreeMap::from([("http://a:5000".to_owned(), 3)]);
        write_remote(dir.path(), &numbers).unwrap();
        assert_eq!(read_remote(dir.path()).unwrap(), numbers);
        std::fs::write(dir.path().join(REMOTE_FILE), "[").unwrap();
        let e = read_remote(dir.path()).unwrap_err().to_string();
        assert!(e.contains("remote.json: unreadable"), "{e}");
    }
}
