//! `runctx sync [RUN...] --to URI`: upload runs to a tracking server.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use run_runtime::Store;
use run_runtime::StoreProblem;
use run_runtime::sync::{SyncOptions, SyncProgress, SyncedModel, SyncedRun, sync};
use serde::Serialize;

use crate::failure::Failure;
use crate::output::{Cell, Output, Style, Table};
use crate::runs::Catalog;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runs to upload, with their children: ids, unique prefixes of ids, or run names
    /// [default: every run of the store]
    #[arg(value_name = "RUN")]
    runs: Vec<String>,

    /// The tracking server: http(s)://host[:port] or azureml://... [default:
    /// $MLFLOW_TRACKING_URI]. Credentials come from the file RUNCTX_TRACKING_TOKEN_FILE names,
    /// else MLFLOW_TRACKING_TOKEN, else MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.
    #[arg(long, value_name = "URI")]
    to: Option<String>,
}

#[derive(Serialize)]
struct SyncJson<'a> {
    server: &'a str,
    runs: &'a [SyncedRun],
    /// Files of the store that could not be used; their runs were not synced.
    skipped: &'a [StoreProblem],
    /// The local registry's versions registered by the synced runs.
    models: &'a [SyncedModel],
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let uri = args
        .to
        .or_else(|| {
            std::env::var("MLFLOW_TRACKING_URI")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .ok_or_else(|| {
            Failure::usage(
                "no tracking server: pass --to http://host:port (or set MLFLOW_TRACKING_URI)",
            )
        })?;
    let options = SyncOptions::from_env(&uri).map_err(|e| Failure::usage(e.to_string()))?;
    let catalog = Catalog::load(store)?;
    let ids: Vec<String> = catalog
        .resolve_all(&args.runs)?
        .into_iter()
        .map(|r| r.meta.id.clone())
        .collect();
    let bar = progress_bar(out);
    let report = sync(store, &ids, &options, |states: &[SyncProgress]| {
        let total: u64 = states.iter().map(|s| s.total).sum();
        let shipped: u64 = states.iter().map(|s| s.shipped).sum();
        bar.set_length(total);
        bar.set_position(shipped);
    })
    .map_err(|e| Failure::failed(e.to_string()))?;
    bar.finish_and_clear();
    let failed = report.runs.iter().filter(|r| r.error.is_some()).count();
    if out.json {
        out.print_json(&SyncJson {
            server: options.server(),
            runs: &report.runs,
            skipped: &report.skipped,
            models: &report.models,
        })?;
    } else {
        for run in &report.runs {
            for warning in &run.warnings {
                crate::output::warn(&format!("warning: run {}: {warning}", run.id));
            }
        }
        out.print(&summary(out, &catalog, options.server(), &report.runs))?;
        if !report.models.is_empty() {
            out.print(&models_summary(out, &report.models))?;
        }
    }
    let unregistered = report.models.iter().filter(|m| m.error.is_some()).count();
    if failed == 0 && unregistered > 0 {
        return Err(Failure::failed(format!(
            "{unregistered} of {} model versions could not be registered on the server (see \
             above); running the same command again registers what is left, once",
            report.models.len()
        )));
    }
    if failed > 0 {
        return Err(Failure::failed(format!(
            "{failed} of {} runs could not be uploaded (see above); their journals are kept, and \
             running the same command again continues where it stopped",
            report.runs.len()
        )));
    }
    Ok(())
}

/// A bar on standard error, only on a terminal and never with `--json`.
fn progress_bar(out: &Output) -> ProgressBar {
    if out.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} uploading {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
    )
    .expect("the template is valid");
    bar.set_style(style);
    bar
}

fn summary(out: &Output, catalog: &Catalog, server: &str, report: &[SyncedRun]) -> String {
    let mut table = Table::new(["run", "server run", "records", "result"]);
    for r in report {
        let label = catalog
            .get(&r.id)
            .map_or_else(|| r.id.clone(), |s| catalog.describe(s));
        let result = match (&r.error, r.refused.len(), r.records) {
            (Some(e), _, _) => Cell::styled(format!("failed: {e}"), Style::Red),
            (None, 0, 0) => Cell::from("already there"),
            (None, 0, _) => Cell::styled("uploaded", Style::Green),
            (None, n, _) => Cell::styled(
                format!("uploaded; the server refused {n}: {}", r.refused.join("; ")),
                Style::Yellow,
            ),
        };
        table.push(vec![
            Cell::from(label),
            Cell::from(r.remote_id.clone().unwrap_or_else(|| "-".into())),
            Cell::from(r.records.to_string()),
            result,
        ]);
    }
    let uploaded: u64 = report.iter().map(|r| r.records).sum();
    format!(
        "{}\n{} runs, {uploaded} records uploaded to {server}\n",
        table.render(out),
        report.len()
    )
}

/// The local registry's versions and what became of them on the server.
fn models_summary(out: &Output, models: &[SyncedModel]) -> String {
    let mut table = Table::new(["model", "version", "server version", "result"]);
    for m in models {
        let result = match (&m.error, m.created) {
            (Some(e), _) => Cell::styled(format!("failed: {e}"), Style::Red),
            (None, true) => Cell::styled("registered", Style::Green),
            (None, false) => Cell::from("already there"),
        };
        table.push(vec![
            Cell::from(m.name.clone()),
            Cell::from(m.version.to_string()),
            Cell::from(m.remote_version.map_or("-".into(), |v| v.to_string())),
            result,
        ]);
    }
    let created = models.iter().filter(|m| m.created).count();
    format!(
        "{}{} model versions, {created} registered by this sync\n",
        table.render(out),
        models.len()
    )
}
