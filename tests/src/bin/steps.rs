//! Steps that the integration tests run as a separate process, the way a launcher or a user
//! would, and that print what they saw as one JSON line.
//!
//! steps <step> [--name value]...    run a registered step (run_runtime::step::dispatch)
//! STEPS_MAIN=train steps [...]      run `train::main()`, the step's own entry point
//! steps --sweep SWEEP.yml            run a sweep (run_runtime::sweep) in $RUNCTX_HOME
//! steps --resume RUN                 resume the interrupted sweep RUN

use std::process::ExitCode;

use run_runtime::prelude::*;
use serde_json::json;

/// Trains nothing, but shows what a step sees: its values, its run, its context.
#[aml_step(
    experiment = "iris",
    description = "fit a classifier",
    tags(team = "vision"),
    inputs(irisdata = "data/iris.csv"),
    outputs(model_output = "outputs/model"),
    params(threshold = 0.9, model = "knn")
)]
fn train(
    run: &Run,
    irisdata: &Path,
    model_output: PathBuf,
    threshold: f64,
    model: String,
) -> Result<(), String> {
    let context = Run::get_context().map_err(|e| e.to_string())?;
    println!(
        "{}",
        json!({
            "run": run.id(), "context": context.id(), "experiment": run.experiment(),
            "parent": run.parent_id(), "irisdata": irisdata, "model_output": model_output,
            "output_exists": model_output.is_dir(), "threshold": threshold, "model": model,
        })
    );
    if threshold > 1.0 {
        return Err(format!("threshold {threshold} is above 1"));
    }
    accuracy(threshold);
    Ok(())
}

#[log_metric]
fn accuracy(threshold: f64) -> f64 {
    threshold / 2.0
}

/// A step whose input has no default: offline it still needs a value.
#[aml_step(inputs(data))]
fn needs_data(data: &Path) {
    println!("{}", json!({"data": data}));
}

/// A step that panics.
#[aml_step(params(message = "the model diverged"))]
fn explode(message: String) {
    println!("{}", json!({"run": Run::get_context().unwrap().id()}));
    panic!("{message}");
}

/// A step whose metric cannot reach its target: the entry point's run has no parent.
#[aml_step(params(times = 3))]
fn orphan(times: u32) -> u32 {
    for _ in 0..times {
        to_parent();
    }
    times
}

#[log_metric(to = parent)]
fn to_parent() -> f64 {
    1.0
}

/// A sweep's trial with a scripted curve: logs each number of `curve` (separated by spaces) as
/// `metric` at steps 0, 1, ..., prints its run and process id, then, if `curve` also holds the
/// word `hold`, waits until a file named `release` exists in the current folder (a minute at
/// most): a trial that a policy or a test stops waits there.
#[aml_step(params(curve = "", metric = "loss"))]
fn curve(run: &Run, curve: String, metric: String) -> Result<(), String> {
    for (step, word) in (0..).zip(curve.split_whitespace().filter(|w| *w != "hold")) {
        let value: f64 = word
            .parse()
            .map_err(|_| format!("{word:?} is not a number"))?;
        run.log_step(&metric, value, step)
            .map_err(|e| e.to_string())?;
    }
    run.flush().map_err(|e| e.to_string())?;
    println!("{}", json!({"run": run.id(), "pid": std::process::id()}));
    if curve.split_whitespace().any(|w| w == "hold") {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !Path::new("release").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    Ok(())
}

/// Runs the sweep file `spec` in `$RUNCTX_HOME`, trials in the current folder; prints the
/// outcome as JSON.
fn sweep(spec: Option<String>, resuming: bool) -> ExitCode {
    use run_runtime::sweep::{SweepSpec, resume};
    let store = Store::new(std::env::var("RUNCTX_HOME").unwrap_or_else(|_| "runs".into()));
    let Some(arg) = spec else {
        eprintln!("give a sweep file (or, to resume, a run)");
        return ExitCode::from(2);
    };
    let outcome = match resuming {
        true => resume(&store, &arg),
        false => std::fs::read_to_string(&arg)
            .map_err(|e| Error::Sweep {
                key: arg.clone(),
                value: String::new(),
                reason: e.to_string(),
            })
            .and_then(|text| SweepSpec::from_yaml(&text))
            .and_then(|spec| spec.run(&store, Path::new("."))),
    };
    match outcome {
        Ok(o) => {
            let best = o.best_trial().map(|t| t.run_id.clone());
            println!(
                "{}",
                json!({"sweep": o.run_id, "trials": o.trials.len(), "best": best, "interrupted": o.interrupted})
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    match std::env::var("STEPS_MAIN").as_deref() {
        Ok("train") => train::main(),
        _ if std::env::args().nth(1).as_deref() == Some("--sweep") => {
            sweep(std::env::args().nth(2), false)
        }
        _ if std::env::args().nth(1).as_deref() == Some("--resume") => {
            sweep(std::env::args().nth(2), true)
        }
        _ => run_runtime::step::dispatch(),
    }
}
