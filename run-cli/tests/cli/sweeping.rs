//! `runctx sweep FILE`: a line per trial as it ends, the trials as child runs, a bad sweep file
//! refused with the setting, the value and the rule. (The sweep engine itself, with trials that
//! log, is tested in `tests/tests/sweep.rs`.)

use run_runtime::{Status, Store};

use super::bounded::runctx_or_hang;
use super::*;

const SWEEP: &str = "\
type: sweep
trial:
  command: sh -c 'echo trial; exit ${{search_space.code}}'
search_space:
  code: {type: choice, values: [0, 3]}
sampling_algorithm: grid
objective: {goal: maximize, primary_metric: accuracy}
limits: {max_total_trials: 5, max_concurrent_trials: 2}
";

#[test]
fn a_sweep_runs_each_trial_as_a_child_run_and_says_how_each_ended() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.yml");
    std::fs::write(&file, SWEEP).unwrap();
    let ran = runctx_or_hang(dir.path(), &["sweep", file.to_str().unwrap()]);
    // No trial logged accuracy: there is no best, the sweep fails and says where to look.
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stdout.contains("no trial logged the primary metric"),
        "{}",
        ran.stdout
    );
    // A grid of two values gives two trials, whatever max_total_trials says.
    assert!(
        ran.stderr
            .contains("runctx: trial 0 FINISHED no value (code=0)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("runctx: trial 1 FAILED no value (code=3)"),
        "{}",
        ran.stderr
    );
    let store = Store::new(dir.path());
    let runs = store.runs().unwrap();
    let sweep = runs.iter().find(|r| r.meta.parent_id.is_none()).unwrap();
    assert_eq!(sweep.status(), Status::Failed);
    let trials: Vec<_> = runs
        .iter()
        .filter(|r| r.meta.parent_id.as_ref() == Some(&sweep.meta.id))
        .collect();
    assert_eq!(trials.len(), 2);
    for t in trials {
        let data = store.read(&t.meta.id).unwrap();
        let stdout =
            std::fs::read_to_string(store.artifact_file(&t.meta.id, "logs/stdout.txt").unwrap())
                .unwrap();
        assert_eq!(stdout, "trial\n");
        let expected = if data.properties["code"] == "0" {
            Status::Finished
        } else {
            Status::Failed
        };
        assert_eq!(data.status, expected);
    }
}

#[test]
fn a_bad_sweep_file_is_refused_naming_the_setting_the_value_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.yml");
    std::fs::write(
        &file,
        SWEEP.replace(
            "type: choice, values: [0, 3]",
            "type: uniform, min_value: 1, max_value: 0",
        ),
    )
    .unwrap();
    let ran = runctx_or_hang(dir.path(), &["sweep", file.to_str().unwrap()]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("sweep: search_space.code.min_value = 1 (max_value 0): the bounds must be finite numbers with min_value below max_value"),
        "{}",
        ran.stderr
    );
    assert!(
        Store::new(dir.path()).runs().unwrap_or_default().is_empty(),
        "a refused sweep starts no run"
    );
    let not_a_sweep = runctx_or_hang(shared_store(), &["sweep", "--resume", "regression"]);
    assert_ne!(not_a_sweep.code, 0);
    assert!(
        not_a_sweep.stderr.contains("it is not a sweep's run"),
        "{}",
        not_a_sweep.stderr
    );
}

#[test]
fn export_azureml_prints_the_sweep_job_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.yml");
    std::fs::write(&file, SWEEP).unwrap();
    let ran = runctx_or_hang(
        dir.path(),
        &["sweep", file.to_str().unwrap(), "--export", "azureml"],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout.contains("$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\ntype: sweep\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("compute: azureml:serverless\n"),
        "{}",
        ran.stdout
    );
    assert!(Store::new(dir.path()).runs().unwrap_or_default().is_empty());
}
