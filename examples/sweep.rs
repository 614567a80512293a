//! A hyperparameter sweep of the training-loop example: its learning rate and epochs, 20
//! trials, 4 at a time, the bandit policy stopping the trials that fall behind.
//!
//! ```sh
//! cargo run --example sweep
//! ```
//!
//! Each trial is this same program run again with `--step train --learning_rate X --epochs N`:
//! a child run of the sweep's run, in a process of its own (`run_runtime::sweep`). At the end it
//! prints the best trial and the `runctx` commands to look at the sweep.

use std::process::ExitCode;

use run_runtime::Store;
use run_runtime::sweep::{
    Goal, Limits, Objective, ParamValue, Policy, Sampling, SearchSpace, Space, SweepSpec,
    TrialOutcome,
};

/// The training loop, whose step `train` (found by name in the step registry) is swept.
#[allow(dead_code)]
#[path = "training_loop.rs"]
mod training_loop;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    // A trial: run the step, as the sweep asked.
    if args.next().as_deref() == Some("--step") {
        return run_runtime::step::dispatch_args(args);
    }
    match sweep() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sweep: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sweep() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let search_space = SearchSpace::from([
        // exp(uniform(ln 0.01, ln 3)): from 0.01 to 3, as likely in each decade.
        (
            "learning_rate".into(),
            Space::Loguniform {
                min_value: 0.01f64.ln(),
                max_value: 3.0f64.ln(),
            },
        ),
        (
            "epochs".into(),
            Space::Choice {
                values: [50, 100, 200, 400].map(ParamValue::Int).to_vec(),
            },
        ),
    ]);
    let program = std::env::current_exe()?;
    let spec = SweepSpec::for_step(
        run_runtime::step::find("train")?,
        &program,
        &["--step", "train"],
        search_space,
        Objective {
            goal: Goal::Minimize,
            primary_metric: "loss".into(),
        },
        Limits {
            max_total_trials: 20,
            max_concurrent_trials: 4,
            timeout: Some(600),
            trial_timeout: None,
        },
    )?
    .sampling(Sampling::Random { seed: 7 })?
    // A trial whose best loss after 20 epochs or more is over 1.2 times the best any trial had by
    // then stops.
    .early_termination(Policy::Bandit {
        slack_factor: Some(0.2),
        slack_amount: None,
        evaluation_interval: 1,
        delay_evaluation: 20,
    })?;
    let store = Store::new(std::env::var("RUNCTX_HOME").unwrap_or_else(|_| "runs".into()));
    println!(
        "sweep: 20 trials of the training loop, 4 at a time, in {}",
        store.root().display()
    );
    let started = std::time::Instant::now();
    let outcome = spec.run_reporting(&store, std::path::Path::new("."), &mut |t| {
        println!("{}", line(t))
    })?;
    let Some(best) = outcome.best_trial() else {
        eprintln!(
            "sweep: no trial logged a loss; `runctx show {}` lists the trials",
            outcome.run_id
        );
        return Ok(ExitCode::FAILURE);
    };
    let stopped = outcome
        .trials
        .iter()
        .filter(|t| t.stopped.is_some())
        .count();
    println!(
        "\n{} trials in {:.1} s, {stopped} stopped early by the bandit policy.\n\
         best: trial {} with learning_rate {} and epochs {}: loss {:.4}\n\n\
         look at it with:\n  runctx show {}\n  runctx compare {}\n  runctx report {} -o sweep.html",
        outcome.trials.len(),
        started.elapsed().as_secs_f64(),
        best.trial,
        best.params["learning_rate"],
        best.params["epochs"],
        best.value.unwrap_or(f64::NAN),
        best.run_id,
        outcome.run_id,
        outcome.run_id
    );
    Ok(ExitCode::SUCCESS)
}

/// A trial as it ends.
fn line(t: &TrialOutcome) -> String {
    let stop = t
        .stopped
        .as_ref()
        .map_or_else(String::new, |s| format!("  ({})", s.reason));
    format!(
        "  trial {:>2} {:<8} learning_rate {:<8.4} epochs {:>3}  loss {:.4}{stop}",
        t.trial,
        t.status.to_string(),
        t.params["learning_rate"].as_f64().unwrap_or(f64::NAN),
        t.params["epochs"],
        t.value.unwrap_or(f64::NAN)
    )
}
