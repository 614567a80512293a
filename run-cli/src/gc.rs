//! `runctx gc`: delete runs that ended badly or were abandoned, and what crashed writers left
//! behind, after asking.

use std::path::PathBuf;
use std::time::Duration;

use run_runtime::{RunSummary, Store};
use serde::Serialize;

use crate::confirm::confirm;
use crate::delete::{self, dir_size, is_live};
use crate::failure::Failure;
use crate::format;
use crate::output::{self, Output};
use crate::runs::{self, Catalog, RunJson, State};

/// A temporary file or half-made run folder younger than this may still be in use.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete runs with this status (repeat for several) [default: failed, killed and
    /// process-gone]
    #[arg(long, short, value_enum, value_name = "STATUS")]
    status: Vec<State>,

    /// Only runs that started at least this long ago: 90s, 30m, 12h, 7d or 2w
    #[arg(long, value_name = "AGE", value_parser = format::parse_duration)]
    older_than: Option<i64>,

    /// Only runs of this experiment (repeat for several)
    #[arg(long, short, value_name = "NAME")]
    experiment: Vec<String>,

    /// List what would be deleted, and delete nothing
    #[arg(long)]
    dry_run: bool,

    /// Delete without asking
    #[arg(long, short)]
    yes: bool,
}

#[derive(Serialize)]
struct GcJson {
    dry_run: bool,
    runs: Vec<RunJson>,
    /// Temporary files and half-made run folders.
    leftovers: Vec<String>,
    /// Bytes freed, or that would be.
    bytes: u64,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let statuses = if args.status.is_empty() {
        vec![State::Failed, State::Killed, State::ProcessGone]
    } else {
        args.status.clone()
    };
    if statuses.contains(&State::Running) {
        return Err(Failure::usage(
            "gc never deletes running runs; to delete one anyway, use `runctx delete --force RUN`",
        ));
    }
    let catalog = Catalog::load(store)?;
    let doomed = select(&catalog, &statuses, &args);
    let leftovers = store.leftovers(LEFTOVER_AGE)?;
    let json = GcJson {
        dry_run: args.dry_run,
        runs: doomed
            .iter()
            .map(|r| RunJson::new(&r.meta, r.end.as_ref()))
            .collect(),
        leftovers: leftovers.iter().map(|p| p.display().to_string()).collect(),
        bytes: doomed
            .iter()
            .map(|r| delete::run_size(store, &r.meta.id))
            .chain(leftovers.iter().map(|p| dir_size(p)))
            .sum(),
    };
    let size = format::size(json.bytes);
    let plan = plan(&catalog, store, &doomed, &leftovers);
    if doomed.is_empty() && leftovers.is_empty() || args.dry_run {
        if out.json {
            return out.print_json(&json);
        }
        return out.print(&if plan.is_empty() {
            format!("Nothing to collect in {}.\n", store.root().display())
        } else {
            format!("{plan}Would free {size} (dry run: nothing was deleted).\n")
        });
    }
    output::eprint(&plan);
    confirm(&format!("Delete all this ({size}) for good?"), args.yes)?;
    for path in &leftovers {
        store.remove_leftover(path)?;
    }
    delete::remove_runs(store, &doomed)?;
    if out.json {
        return out.print_json(&json);
    }
    out.print(&format!(
        "Deleted {} runs and {} leftover files or folders ({size}).\n",
        doomed.len(),
        leftovers.len(),
    ))
}

/// The runs that match, with their children (which would be lost without their parent),
/// leaving out any tree in which a run is still running.
fn select<'a>(catalog: &'a Catalog, statuses: &[State], args: &Args) -> Vec<&'a RunSummary> {
    let now = format::now_ms();
    let mut doomed: Vec<&RunSummary> = Vec::new();
    for run in catalog.all() {
        let meta = &run.meta;
        let state = runs::state_of(meta, run.end.as_ref());
        let old_enough = args
            .older_than
            .is_none_or(|age| now.saturating_sub(meta.start_time) >= age);
        let in_experiment =
            args.experiment.is_empty() || args.experiment.contains(&meta.experiment);
        if !(statuses.contains(&state) && old_enough && in_experiment) {
            continue;
        }
        if doomed.iter().any(|d| d.meta.id == meta.id) {
            continue;
        }
        let tree = catalog.subtree(&meta.id);
        if let Some(live) = tree.iter().find(|r| is_live(r)) {
            output::warn(&format!(
                "keeping {}: its child {} is still running",
                catalog.describe(run),
                catalog.describe(live)
            ));
            continue;
        }
        for r in tree {
            if !doomed.iter().any(|d| d.meta.id == r.meta.id) {
                doomed.push(r);
            }
        }
    }
    doomed
}

fn plan(catalog: &Catalog, store: &Store, doomed: &[&RunSummary], leftovers: &[PathBuf]) -> String {
    let mut text = String::new();
    if !doomed.is_empty() {
        text.push_str(&format!("Runs ({}):\n", doomed.len()));
        text.push_str(&delete::listing(catalog, store, doomed));
    }
    if !leftovers.is_empty() {
        text.push_str(&format!(
            "Leftovers of interrupted writes ({}):\n",
            leftovers.len()
        ));
        for p in leftovers {
            text.push_str(&format!("  {}\n", p.display()));
        }
    }
    text
}
