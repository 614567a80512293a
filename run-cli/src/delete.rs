//! `runctx delete RUN...`: delete runs and their children, after asking.

use std::fs;
use std::path::Path;

use run_runtime::{RunSummary, Store};
use serde::Serialize;

use crate::confirm::confirm;
use crate::failure::Failure;
use crate::format;
use crate::output::{self, Output, Table};
use crate::runs::{self, Catalog, RunJson, State};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runs to delete: ids, unique prefixes of ids, or run names; their children go too
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<String>,

    /// Delete without asking
    #[arg(long, short)]
    yes: bool,

    /// Delete runs whose process is still running as well
    #[arg(long)]
    force: bool,
}

#[derive(Serialize)]
pub struct DeletedJson {
    pub deleted: Vec<RunJson>,
    /// Bytes freed.
    pub bytes: u64,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let catalog = Catalog::load(store)?;
    let mut doomed: Vec<&RunSummary> = Vec::new();
    for run in catalog.resolve_all(&args.runs)? {
        for r in catalog.subtree(&run.meta.id) {
            if !doomed.iter().any(|d| d.meta.id == r.meta.id) {
                doomed.push(r);
            }
        }
    }
    if let Some(live) = doomed.iter().find(|r| is_live(r))
        && !args.force
    {
        let src = &live.meta.source;
        return Err(Failure::usage(format!(
            "run {} is still running (process {} on {}); let it end, or pass --force to \
             delete it anyway",
            catalog.describe(live),
            src.pid,
            src.host.as_deref().unwrap_or("an unknown host"),
        )));
    }
    let bytes: u64 = doomed.iter().map(|r| run_size(store, &r.meta.id)).sum();
    output::eprint(&listing(&catalog, store, &doomed));
    let noun = if doomed.len() == 1 { "run" } else { "runs" };
    confirm(
        &format!(
            "Delete these {} {noun} ({}) for good?",
            doomed.len(),
            format::size(bytes)
        ),
        args.yes,
    )?;
    let deleted = remove_runs(store, &doomed)?;
    report(out, DeletedJson { deleted, bytes })
}

/// Prints what was deleted.
pub fn report(out: &Output, json: DeletedJson) -> Result<(), Failure> {
    if out.json {
        return out.print_json(&json);
    }
    let noun = if json.deleted.len() == 1 {
        "run"
    } else {
        "runs"
    };
    out.print(&format!(
        "Deleted {} {noun} ({}).\n",
        json.deleted.len(),
        format::size(json.bytes)
    ))
}

/// Started, not ended, and its process may still be writing to it.
pub fn is_live(run: &RunSummary) -> bool {
    runs::state_of(&run.meta, run.end.as_ref()) == State::Running
}

/// The runs as a table, for the question before deleting them (printed on stderr).
pub fn listing(catalog: &Catalog, store: &Store, doomed: &[&RunSummary]) -> String {
    let mut table = Table::new(["RUN", "NAME", "STATUS", "STARTED", "SIZE"]).indent(2);
    for r in doomed {
        let state = runs::state_of(&r.meta, r.end.as_ref());
        table.push(vec![
            catalog.short_id(&r.meta.id).into(),
            r.meta.name.clone().into(),
            state.label().into(),
            format::time_short(r.meta.start_time).into(),
            format::size(run_size(store, &r.meta.id)).into(),
        ]);
    }
    let plain = Output {
        json: false,
        color: false,
    };
    table.render(&plain)
}

/// Deletes the folders of `doomed`, children before parents, so that an interrupted delete
/// never leaves a child without its parent.
pub fn remove_runs(store: &Store, doomed: &[&RunSummary]) -> Result<Vec<RunJson>, Failure> {
    let mut deleted = Vec::with_capacity(doomed.len());
    for r in doomed.iter().rev() {
        store.delete_run(&r.meta.id)?;
        deleted.push(RunJson::new(&r.meta, r.end.as_ref()));
    }
    deleted.reverse();
    Ok(deleted)
}

/// Bytes in the folder of run `id`.
pub fn run_size(store: &Store, id: &str) -> u64 {
    store.run_dir(id).map_or(0, |dir| dir_size(&dir))
}

/// Bytes in the files below `path` (symbolic links are not followed).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}
