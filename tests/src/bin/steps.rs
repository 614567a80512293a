//! Steps that the integration tests run as a separate process, the way a launcher or a user
//! would, and that print what they saw as one JSON line.
//!
//! steps <step> [--name value]...    run a registered step (run_runtime::step::dispatch)
//! STEPS_MAIN=train steps [...]      run `train::main()`, the step's own entry point

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

fn main() -> ExitCode {
    match std::env::var("STEPS_MAIN").as_deref() {
        Ok("train") => train::main(),
        _ => run_runtime::step::dispatch(),
    }
}
