//! A pipeline the integration tests run, in their own process or as this program (which is
//! what `--processes` and an engine start). Each step prints one JSON line with what it saw:
//! its run, its parent, and the variables of the environment contract.
//!
//! numbers: make --numbers--> total --report--> check --verdict--> audit;   independent
//!
//! diamond (this program with `PIPES_PIPELINE=diamond`), for steps that run at once:
//!
//! ```text
//! seed --seeds--> left  --left_half-->  join
//!      --seeds--> right --right_half--> join, echo
//! ```

use std::process::ExitCode;

use run_runtime::prelude::*;
use serde_json::{Map, Value, json};

/// Prints what the step sees.
pub fn seen(step: &str, run: &Run) {
    let env: Map<String, Value> = std::env::vars()
        .filter(|(k, _)| {
            ["RUNCTX_", "MLFLOW_", "AZUREML_", "AML_"]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    println!(
        "{}",
        json!({"step": step, "pid": std::process::id(), "run": run.id(), "parent": run.parent_id(), "remote": run.remote_id(), "env": env})
    );
}

// Written out in full: #[aml_step] knows a `Result` by its name, not through an alias.
type BoxError = Box<dyn std::error::Error>;

/// Writes the numbers 1 to `count`.
#[aml_step(outputs(numbers = "out/numbers"), params(count = 5))]
pub fn make(run: &Run, numbers: &Path, count: u32) -> Result<(), BoxError> {
    seen("make", run);
    let text: Vec<String> = (1..=count).map(|n| n.to_string()).collect();
    std::fs::write(numbers.join("numbers.txt"), text.join(" "))?;
    run.log("count", count)?;
    Ok(())
}

/// Sums the numbers times `scale`; records the total on its run and on the pipeline's.
#[aml_step(inputs(numbers), outputs(report = "out/report"), params(scale = 1.0))]
pub fn total(run: &Run, numbers: &Path, report: &Path, scale: f64) -> Result<(), BoxError> {
    seen("total", run);
    let text = std::fs::read_to_string(numbers.join("numbers.txt"))?;
    let sum: f64 = text
        .split(' ')
        .map(str::parse::<f64>)
        .sum::<Result<f64, _>>()?;
    let total = sum * scale;
    std::fs::write(report.join("total.txt"), total.to_string())?;
    run.log("total", total)?;
    let parent = run.parent().ok_or("total runs in a pipeline")?;
    parent.log("total", total)?;
    parent.tag("total", total)?;
    parent.add_property("total", total)?;
    Ok(())
}

/// Fails when the total is over `limit`, or panics when asked; checks that the pipeline's run
/// has the total that `total` recorded on it (its metrics, tags and properties).
#[aml_step(
    inputs(report),
    outputs(verdict = "out/verdict"),
    params(limit = 100.0, panic = false, abort = false)
)]
pub fn check(
    run: &Run,
    report: &Path,
    verdict: &Path,
    limit: f64,
    panic: bool,
    abort: bool,
) -> Result<(), BoxError> {
    seen("check", run);
    let total: f64 = std::fs::read_to_string(report.join("total.txt"))?.parse()?;
    let parent = run.parent().ok_or("check runs in a pipeline")?;
    let on_parent = (
        parent.get_metrics()?.get("total").map(|m| m[0].value),
        parent.tags()?.get("total").cloned(),
        parent.properties()?.get("total").cloned(),
    );
    if on_parent
        != (
            Some(total),
            Some(total.to_string()),
            Some(total.to_string()),
        )
    {
        return Err(format!("the pipeline's run has {on_parent:?}, not the total {total}").into());
    }
    if panic {
        panic!("check was asked to panic");
    }
    if abort {
        std::process::abort();
    }
    if total > limit {
        return Err(format!("total {total} is over the limit {limit}").into());
    }
    std::fs::write(verdict.join("ok.txt"), "ok")?;
    Ok(())
}

/// Runs after `check`: skipped when it fails.
#[aml_step(inputs(verdict))]
pub fn audit(run: &Run, verdict: &Path) -> Result<(), BoxError> {
    seen("audit", run);
    run.log("audited", verdict.join("ok.txt").is_file())?;
    Ok(())
}

/// Depends on nothing: runs whatever the others do.
#[aml_step(params(message = "hello"))]
pub fn independent(run: &Run, message: String) -> Result<(), BoxError> {
    seen("independent", run);
    run.tag("message", message)?;
    Ok(())
}

pipeline!(
    /// Numbers: written, summed, checked, audited.
    pub numbers = [check, total, independent, make, audit],
    experiment = "numbers",
    params(scale = 2.0),
);

/// Writes the seed that both branches read; the branches meet in its folder.
#[aml_step(outputs(seeds = "out/seeds"))]
pub fn seed(run: &Run, seeds: &Path) -> Result<(), BoxError> {
    seen("seed", run);
    std::fs::write(seeds.join("seed.txt"), "7")?;
    Ok(())
}

/// How long a branch waits for the other to start before it fails.
const MEETING: std::time::Duration = std::time::Duration::from_secs(60);

/// Marks `me` as started in `seeds`, then waits (at most [`MEETING`]) until `other` has
/// started too: it finishes only if both run at once, whatever their timing.
fn meet(seeds: &Path, me: &str, other: &str) -> Result<(), BoxError> {
    std::fs::write(seeds.join(format!("started-{me}")), "")?;
    let deadline = std::time::Instant::now() + MEETING;
    while !seeds.join(format!("started-{other}")).exists() {
        if std::time::Instant::now() > deadline {
            return Err(format!("step {other:?} did not start while {me:?} ran").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(())
}

/// One branch: waits for `right` when `meet` (so both run at once); fails when `fail`.
#[aml_step(
    inputs(seeds),
    outputs(left_half = "out/left"),
    params(meet = true, fail = false)
)]
pub fn left(
    run: &Run,
    seeds: &Path,
    left_half: &Path,
    meet: bool,
    fail: bool,
) -> Result<(), BoxError> {
    seen("left", run);
    if meet {
        self::meet(seeds, "left", "right")?;
    }
    if fail {
        return Err("left was asked to fail".into());
    }
    std::fs::write(left_half.join("half.txt"), "left")?;
    Ok(())
}

/// The other branch: waits for `left` when `meet`.
#[aml_step(inputs(seeds), outputs(right_half = "out/right"), params(meet = true))]
pub fn right(run: &Run, seeds: &Path, right_half: &Path, meet: bool) -> Result<(), BoxError> {
    seen("right", run);
    if meet {
        self::meet(seeds, "right", "left")?;
    }
    std::fs::write(right_half.join("half.txt"), "right")?;
    Ok(())
}

/// Reads both branches.
#[aml_step(inputs(left_half, right_half))]
pub fn join(run: &Run, left_half: &Path, right_half: &Path) -> Result<(), BoxError> {
    seen("join", run);
    let read = |half: &Path| std::fs::read_to_string(half.join("half.txt"));
    run.tag(
        "halves",
        format!("{}+{}", read(left_half)?, read(right_half)?),
    )?;
    Ok(())
}

/// Reads the right branch only: runs whatever happens to the left one.
#[aml_step(inputs(right_half))]
pub fn echo(run: &Run, right_half: &Path) -> Result<(), BoxError> {
    seen("echo", run);
    run.tag(
        "echo",
        std::fs::read_to_string(right_half.join("half.txt"))?,
    )?;
    Ok(())
}

pipeline!(
    /// A seed, two branches at once, their join, and a reader of one branch.
    pub diamond = [seed, left, right, join, echo],
    experiment = "diamond",
);

#[allow(dead_code)]
fn main() -> ExitCode {
    // Inherited by the step processes, so that `--step` finds the same pipeline's steps.
    match std::env::var("PIPES_PIPELINE").as_deref() {
        Ok("diamond") => diamond::main(),
        _ => numbers::main(),
    }
}
