//! `runctx sweep FILE`: a hyperparameter sweep (the library's `run_runtime::sweep`), and
//! `runctx sweep --resume RUN` to go on with an interrupted one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use run_runtime::Store;
use run_runtime::sweep::{self, SweepOutcome, SweepSpec, TrialOutcome};
use serde_json::json;

use crate::failure::Failure;
use crate::output::{self, Output};
use crate::runs::Catalog;

/// `runctx sweep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep file: an Azure ML sweep job (type: sweep) whose trial command takes each
    /// parameter as ${{search_space.NAME}} (docs/sweeps.md)
    #[arg(
        value_name = "FILE",
        required_unless_present = "resume",
        conflicts_with = "resume"
    )]
    file: Option<PathBuf>,

    /// Go on with the interrupted sweep RUN: finished trials are kept, cut-off ones run again
    #[arg(long, value_name = "RUN")]
    resume: Option<String>,

    /// Run nothing; print the sweep as an Azure ML sweep job file (az ml job create --file)
    #[arg(long, value_name = "TARGET", value_parser = ["azureml"], conflicts_with = "resume")]
    export: Option<String>,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<ExitCode, Failure> {
    if let (Some(file), Some(_)) = (&args.file, &args.export) {
        let job = read(file)?.0.to_azureml()?;
        out.print(&job)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut report = |t: &TrialOutcome| output::eprint(&trial_line(t));
    let outcome = match (&args.file, &args.resume) {
        (_, Some(run)) => {
            let catalog = Catalog::load(store)?;
            let id = catalog.resolve(run)?.meta.id.clone();
            sweep::resume_reporting(store, &id, &mut report)?
        }
        (Some(file), None) => {
            let (spec, dir) = read(file)?;
            spec.run_reporting(store, &dir, &mut report)?
        }
        (None, None) => return Err(Failure::usage("give a sweep file, or --resume RUN")),
    };
    out.print(&summary(out, &outcome))?;
    Ok(match (outcome.interrupted, outcome.best) {
        // As a shell reports a Ctrl-C.
        (true, _) => ExitCode::from(130),
        (false, Some(_)) => ExitCode::SUCCESS,
        (false, None) => ExitCode::FAILURE,
    })
}

/// The sweep in `file`, and the folder its trials run in: `trial.code` relative to the file,
/// else the current folder.
fn read(file: &Path) -> Result<(SweepSpec, PathBuf), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::usage(format!(
            "cannot read the sweep file {}: {e}",
            file.display()
        ))
    })?;
    let spec = SweepSpec::from_yaml(&text)
        .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    let dir = match &spec.trial.code {
        Some(code) => file.parent().unwrap_or(Path::new(".")).join(code),
        None => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "{}: trial.code {} is not a folder (it is relative to the sweep file)",
            file.display(),
            dir.display()
        )));
    }
    Ok((spec, dir))
}

/// One line on stderr as a trial ends.
fn trial_line(t: &TrialOutcome) -> String {
    let value = t
        .value
        .map_or_else(|| "no value".into(), |v| format!("{v}"));
    let params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let stopped = t
        .stopped
        .as_ref()
        .map_or_else(String::new, |s| format!(", stopped by {}", s.reason));
    format!(
        "runctx: trial {} {} {value} ({}){stopped}: {}\n",
        t.trial,
        t.status,
        params.join(" "),
        t.run_id
    )
}

/// The best trial, and the commands to look at the sweep.
fn summary(out: &Output, o: &SweepOutcome) -> String {
    if out.json {
        let best = o.best_trial().map(|t| {
            json!({"run": t.run_id, "trial": t.trial, "value": t.value,
                   "params": t.params.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>()})
        });
        return output::json_text(
            &json!({"sweep": o.run_id, "trials": o.trials.len(), "best": best, "interrupted": o.interrupted}),
            false,
        ) + "\n";
    }
    let id = &o.run_id;
    if o.interrupted {
        return format!(
            "sweep {id} interrupted after {} trials; go on with:\n  runctx sweep --resume {id}\n",
            o.trials.len()
        );
    }
    match o.best_trial() {
        None => format!(
            "sweep {id}: no trial logged the primary metric; `runctx show {id}` lists the trials, and each trial's logs/stderr.txt says why\n"
        ),
        Some(best) => {
            let params: Vec<String> = best
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(
                "sweep {id}: {} trials; the best is trial {} ({}), value {}: {}\n\
                 look at it with:\n  runctx show {}\n  runctx compare {id}\n  runctx report {id} -o sweep.html\n",
                o.trials.len(),
                best.trial,
                params.join(" "),
                best.value.unwrap_or(f64::NAN),
                best.run_id,
                best.run_id
            )
        }
    }
}
