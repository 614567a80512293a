//! Step reuse: a step whose identity matches a FINISHED earlier run of it is not run again; its
//! outputs are linked from that run's, and its run ends FINISHED with the tag
//! `runctx.reused_from` naming the earlier run.
//!
//! The identity is a SHA-256 over the step's name, the digest of the program (the executable
//! that runs the step: this program in process, `program` of [`Mode::Processes`]), its params'
//! values and its inputs' content digests ([`crate::digest`]; an input's path is not part of it,
//! so the same data elsewhere matches). It is the tag `runctx.reuse_key` of the step's run (on
//! the server too, where a search by that tag finds the run), and the store keeps an index from
//! it to the run that made it, `<store>/.cache/reuse/<key>`, so a lookup reads one file and one
//! run whatever the store's size.
//!
//! The index is a file anyone could edit, so what it names is checked before anything is
//! used: a run id (one path component), a run of this step, FINISHED, whose tag holds the same
//! key, and output folders where its pipeline run keeps them (`<run>/data/<output>`, real
//! folders inside the store). Anything else is a miss, and the step runs.
//!
//! [`Mode::Processes`]: super::Mode::Processes

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::exec::DATA_DIR;
use crate::digest;
use crate::error::{Error, Result, Status};
use crate::step::resolve::resolve;
use crate::step::{Bindings, SlotKind, Step};
use crate::store::Store;

/// The tag of a step's run holding its identity.
pub(crate) const REUSE_KEY_TAG: &str = "runctx.reuse_key";

/// The tag of a reused step's run naming the run whose outputs it took.
pub(crate) const REUSED_FROM_TAG: &str = "runctx.reused_from";

/// The folder of the store holding the index from identities to runs.
const INDEX_DIR: &str = ".cache/reuse";

/// Folders deeper than this are not linked (a link to a parent folder would never end).
const MAX_DEPTH: usize = 64;

/// What the identity hashes, as JSON: the values are text, so the encoding keeps them apart
/// (no value can pose as two).
#[derive(Serialize)]
struct IdentityParts<'a> {
    format: u32,
    step: &'a str,
    program: &'a str,
    params: Vec<(&'a str, &'a str)>,
    inputs: Vec<(&'a str, String)>,
}

/// The identity of `step` given `bindings`, with `program` the digest of the executable that
/// runs it. `None` when it has none: `reuse = false`, a value that does not resolve (the step
/// says so when it runs), or an input that is not local data whose content can be hashed.
pub(super) fn identity(
    store: &Store,
    step: &Step,
    program: &str,
    bindings: &Bindings,
    offline: bool,
) -> Option<String> {
    if !step.reuse {
        return None;
    }
    let values = resolve(step, bindings, offline, |v| std::env::var(v).ok()).ok()?;
    let mut parts = IdentityParts {
        format: 1,
        step: step.name,
        program,
        params: Vec::new(),
        inputs: Vec::new(),
    };
    for v in &values {
        match v.kind {
            SlotKind::Param => parts.params.push((v.name, &v.text)),
            SlotKind::Input => {
                let data = digest::of_path(store.root(), Path::new(&v.text)).ok()?;
                parts.inputs.push((v.name, data.digest));
            }
            SlotKind::Output => {}
        }
    }
    let json = serde_json::to_vec(&parts).expect("text and numbers serialize");
    Some(digest::of_bytes(&json))
}

/// A FINISHED earlier run of a step with the same identity.
#[derive(Debug)]
pub(super) struct Earlier {
    /// Its id.
    pub(super) run_id: String,
    /// Its output folders, by output name.
    outputs: Vec<(&'static str, PathBuf)>,
}

/// The earlier run the index names for `key`, if it checks out (see the module's docs).
pub(super) fn find(store: &Store, step: &Step, key: &str) -> Option<Earlier> {
    let text = fs::read_to_string(index_file(store, key)).ok()?;
    let run_id = text.trim();
    let end = store.end(run_id).ok()??;
    let data = store.read(run_id).ok()?;
    let fits = end.status == Status::Finished
        && data.status == Status::Finished
        && data.meta.name == step.name
        && data.tags.get(REUSE_KEY_TAG).map(String::as_str) == Some(key);
    if !fits {
        return None;
    }
    let data_dir = store
        .run_dir(data.meta.parent_id.as_deref()?)
        .ok()?
        .join(DATA_DIR);
    let mut outputs = Vec::new();
    for output in step.outputs {
        let folder = data_dir.join(output.name);
        let real = fs::symlink_metadata(&folder).is_ok_and(|m| m.is_dir());
        if !real {
            return None;
        }
        outputs.push((output.name, folder));
    }
    Some(Earlier {
        run_id: run_id.to_owned(),
        outputs,
    })
}

/// Records that run `run_id` (FINISHED) has the identity `key`. The index only saves time:
/// a store that cannot take it means the step runs next time.
pub(super) fn remember(store: &Store, key: &str, run_id: &str) {
    let file = index_file(store, key);
    let Some(dir) = file.parent() else { return };
    let temp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = fs::create_dir_all(dir)
        .and_then(|()| fs::write(&temp, run_id))
        .and_then(|()| fs::rename(&temp, &file));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
}

fn index_file(store: &Store, key: &str) -> PathBuf {
    debug_assert!(
        digest::is_digest(key),
        "a key is a digest: one path component"
    );
    store.root().join(INDEX_DIR).join(key)
}

/// Links (or, across file systems, copies) the earlier run's output folders to where `bindings`
/// puts this run's. On an error the folders are left empty, for the step to run into.
pub(super) fn take_outputs(earlier: &Earlier, bindings: &Bindings) -> Result<()> {
    for (name, from) in &earlier.outputs {
        let Some(to) = bindings.get(*name) else {
            continue;
        };
        let to = Path::new(to);
        if let Err(e) = link_tree(from, to, 0) {
            let _ = fs::remove_dir_all(to);
            return Err(e);
        }
    }
    Ok(())
}

/// Hard links keep a reused output free (no bytes copied): steps write their outputs once and
/// readers only read them, so two runs can share the files.
fn link_tree(from: &Path, to: &Path, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Store {
            path: from.to_owned(),
            reason: format!("more than {MAX_DEPTH} folders deep; the output is not reused"),
        });
    }
    fs::create_dir_all(to).map_err(|e| Error::io("create", to, e))?;
    for entry in fs::read_dir(from).map_err(|e| Error::io("list", from, e))? {
        let entry = entry.map_err(|e| Error::io("list", from, e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::metadata(&source).map_err(|e| Error::io("read", &source, e))?;
        if meta.is_dir() {
            link_tree(&source, &target, depth + 1)?;
        } else if fs::hard_link(&source, &target).is_err() {
            fs::copy(&source, &target).map_err(|e| Error::io("copy", &source, e))?;
        }
    }
    Ok(())
}
