//! `runctx`: look at the runs of a local store from the terminal.
//!
//! Each command is one module with its clap `Args` and a `run` function; adding a command is
//! one module, one variant of [`Command`] and one arm in [`Command::run`]. Human output is
//! built as text by the command and printed once, so that a closed pipe (`runctx list | head`)
//! ends the program quietly instead of in a panic.

// Output goes through `output`, which keeps a store's control characters off the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod chart;
mod compare;
mod confirm;
mod delete;
mod failure;
mod format;
mod gc;
#[cfg(unix)]
mod launch;
mod list;
mod metrics;
mod models;
mod output;
mod plot;
mod report;
mod runs;
mod show;
#[cfg(unix)]
mod sweep;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use run_runtime::Store;

use crate::failure::Failure;
use crate::output::Output;

/// Look at the runs of a local runctx store: list them, show one, compare, plot, report, sync
/// to a tracking server, delete; run any program as a run.
#[derive(Debug, Parser)]
#[command(
    name = "runctx",
    version,
    after_help = "A RUN is a run id, a unique prefix of one (with or without `OfflineRun_`), or \
                  a run name that only one run has.\n\nExit codes: 0 success, 1 failure \
                  (unreadable store, file error), 2 bad usage, 3 no such run or metric, 4 \
                  declined at a confirmation prompt; `runctx run` exits with its command's code (128 + \
                  the signal's number for a signal); `runctx sweep` exits 130 when interrupted.\n\nDocumentation: docs/cli.md"
)]
struct Cli {
    /// The store of runs [default: $RUNCTX_HOME, else ./runs]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,

    /// Print JSON for scripts instead of tables (docs/cli.md describes each command's schema)
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Experiments and their runs as trees of parents and children, with status, start,
    /// duration and key metrics
    List(list::Args),
    /// Everything about a run: metric summaries, tags, properties, artifacts, children, error
    Show(show::Args),
    /// The metric series of a run, step by step
    Metrics(metrics::Args),
    /// Metrics, properties and tags of runs side by side, differences highlighted
    Compare(compare::Args),
    /// Metric curves of one or more runs, overlaid, as an SVG or PNG file
    Plot(plot::Args),
    /// One self-contained HTML page about a run and its children
    Report(report::Args),
    /// Upload runs (offline ones, and what online ones have not shipped) to a tracking server
    Sync(sync::Args),
    /// Registered models and their versions: the local store's registry, or a tracking
    /// server's (--tracking-uri, $MLFLOW_TRACKING_URI)
    Models(models::Args),
    /// Delete runs and their children, after asking
    Delete(delete::Args),
    /// Delete failed, killed and abandoned runs and the debris of crashed writers, after asking
    Gc(gc::Args),
    /// Run any program as a run: `runctx run -- python train.py`. Its output is passed through
    /// and kept as logs/stdout.txt and logs/stderr.txt, its exit code decides the status, and
    /// runctx exits with that code
    #[cfg(unix)]
    Run(launch::Args),
    /// A hyperparameter sweep from an Azure ML sweep file (type: sweep): a parent run with a
    /// child run per trial, early termination, the best trial recorded; --resume RUN goes on
    /// with an interrupted one
    #[cfg(unix)]
    Sweep(sweep::Args),
}

impl Command {
    fn run(self, store: &Store, out: &Output) -> Result<ExitCode, Failure> {
        let done = match self {
            #[cfg(unix)]
            Command::Run(args) => return launch::run(store, args),
            #[cfg(unix)]
            Command::Sweep(args) => return sweep::run(store, out, args),
            Command::List(args) => list::run(store, out, args),
            Command::Show(args) => show::run(store, out, args),
            Command::Metrics(args) => metrics::run(store, out, args),
            Command::Compare(args) => compare::run(store, out, args),
            Command::Plot(args) => plot::run(store, out, args),
            Command::Report(args) => report::run(store, out, args),
            Command::Sync(args) => sync::run(store, out, args),
            Command::Models(args) => models::run(store, out, args),
            Command::Delete(args) => delete::run(store, out, args),
            Command::Gc(args) => gc::run(store, out, args),
        };
        done.map(|()| ExitCode::SUCCESS)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::for_stdout(cli.json);
    let result = store_root(cli.store).and_then(|root| cli.command.run(&Store::new(root), &out));
    match result {
        Ok(code) => code,
        Err(failure) if failure.is_closed_pipe() => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(&out);
            ExitCode::from(failure.code())
        }
    }
}

/// `--store`, else `$RUNCTX_HOME` (empty counts as unset, as for the library), else `./runs`.
fn store_root(flag: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let root = flag
        .or_else(|| {
            std::env::var_os("RUNCTX_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("runs"));
    if root.is_file() {
        return Err(Failure::usage(format!(
            "the store {} is a file; a store is a folder of runs (pass --store DIR or set \
             RUNCTX_HOME)",
            root.display()
        )));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_flag_has_help() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        for sub in cli.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            for arg in sub.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{} {} has no help",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}
