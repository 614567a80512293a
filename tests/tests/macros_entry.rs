//! A step as a program's entry point, in a real process (the `steps` program): values from the
//! command line, the environment and the defaults; the run it logs to; exit codes.

use std::path::Path;
use std::process::Output;

use run_runtime::{Status, Store};
use tests::{command, last_json};

const STEPS: &str = env!("CARGO_BIN_EXE_steps");

/// Runs `steps` in `dir` (its working folder, so relative defaults land there), with the store
/// in `dir/runs`.
fn steps(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(STEPS, &dir.join("runs"))
        .current_dir(dir)
        .args(args)
        .env_remove("AZUREML_DATAREFERENCE_irisdata")
        .env_remove("AML_PARAMETER_threshold")
        .env_remove("AML_PARAMETER_model")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn only_run(dir: &Path) -> run_runtime::RunData {
    let store = Store::new(dir.join("runs"));
    let ids = store.ids().unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");
    store.read(&ids[0]).unwrap()
}

#[test]
fn the_entry_point_uses_the_defaults_offline_and_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(dir.path(), &[], &[("STEPS_MAIN", "train")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = last_json(&out.stdout);
    assert_eq!(seen["irisdata"], "data/iris.csv");
    assert_eq!(seen["model_output"], "outputs/model");
    assert_eq!(seen["output_exists"], true);
    assert_eq!(
        (seen["threshold"].as_f64(), seen["model"].as_str()),
        (Some(0.9), Some("knn"))
    );
    assert_eq!(seen["run"], seen["context"]);
    assert!(dir.path().join("outputs/model").is_dir());
    // No experiment in the environment: the step's own, in a run named after it.
    let data = only_run(dir.path());
    assert_eq!(data.meta.id, seen["run"].as_str().unwrap());
    assert_eq!(
        (data.meta.experiment.as_str(), data.meta.name.as_str()),
        ("iris", "train")
    );
    assert_eq!(data.status, Status::Finished);
    assert_eq!(data.properties["threshold"], "0.9");
    assert_eq!(data.tags["irisdata"], "data/iris.csv");
    assert_eq!(data.tags["team"], "vision");
    assert_eq!(data.tags["mlflow.note.content"], "fit a classifier");
    assert_eq!(data.metrics["accuracy"][0].value, 0.45);
}

#[test]
fn the_command_line_wins_over_the_environment_which_wins_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("AML_PARAMETER_threshold", "0.3"),
        ("AML_PARAMETER_model", "forest"),
        ("AZUREML_DATAREFERENCE_irisdata", "env/iris.csv"),
    ];
    let args = ["train", "--threshold", "0.5", "--model-output=out/m"];
    let out = steps(dir.path(), &args, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = last_json(&out.stdout);
    assert_eq!(seen["threshold"].as_f64(), Some(0.5));
    assert_eq!(seen["model"], "forest");
    assert_eq!(seen["irisdata"], "env/iris.csv");
    assert_eq!(seen["model_output"], "out/m");
    assert!(dir.path().join("out/m").is_dir());
    let data = only_run(dir.path());
    assert_eq!(data.properties["model"], "forest");
    assert_eq!(data.tags["irisdata"], "env/iris.csv");
}

#[test]
fn a_launcher_names_the_run_and_the_step_logs_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let pipeline = store.start_run("pipelines", "pipeline").unwrap();
    let child = pipeline.child_run("train").unwrap();
    let child_id = child.id().to_owned();
    drop(child);
    let out = steps(dir.path(), &["train"], &[("RUNCTX_RUN_ID", &child_id)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = last_json(&out.stdout);
    assert_eq!(seen["run"], child_id.as_str());
    assert_eq!(seen["parent"], pipeline.id());
    let data = store.read(&child_id).unwrap();
    assert_eq!(data.properties["threshold"], "0.9");
    assert_eq!(data.metrics["accuracy"].len(), 1);
}

#[test]
fn an_experiment_in_the_environment_means_the_process_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(
        dir.path(),
        &["train"],
        &[("MLFLOW_EXPERIMENT_NAME", "from-env")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let data = only_run(dir.path());
    assert_eq!(data.meta.experiment, "from-env");
    assert_eq!(data.meta.name, "steps");
}

#[test]
fn an_err_is_exit_code_1_and_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(dir.path(), &["train", "--threshold", "2"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim(), "threshold 2 is above 1");
    let data = only_run(dir.path());
    assert_eq!(data.status, Status::Failed);
    assert_eq!(data.error.as_deref(), Some("threshold 2 is above 1"));
}

#[test]
fn a_panic_fails_the_run_and_ends_the_process_as_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(dir.path(), &["explode"], &[]);
    assert_eq!(out.status.code(), Some(101));
    assert!(
        stderr(&out).contains("the model diverged"),
        "{}",
        stderr(&out)
    );
    let data = only_run(dir.path());
    assert_eq!(data.status, Status::Failed);
    assert_eq!(data.error.as_deref(), Some("panicked: the model diverged"));
}

#[test]
fn a_missing_value_is_exit_code_2_naming_the_three_ways() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(dir.path(), &["needs_data"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "step \"needs_data\": input \"data\" has no value: give it on the command line \
         (--data <value>) or as a binding, set AZUREML_DATAREFERENCE_data, or, for an offline \
         run, write a default (#[aml_step(inputs(data = ...))])"
    );
    let data = only_run(dir.path());
    assert_eq!(data.status, Status::Failed);
    assert!(out.stdout.is_empty(), "the body did not run");
}

#[test]
fn a_bad_command_line_is_exit_code_2_with_the_usage_and_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(dir.path(), &["train", "--treshold", "0.5"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(
        text.starts_with(
            "step \"train\" has no input, output or param --treshold; did you mean \"threshold\"?"
        ),
        "{text}"
    );
    assert!(text.contains("--threshold <f64>"), "{text}");
    assert!(
        Store::new(dir.path().join("runs"))
            .ids()
            .unwrap()
            .is_empty()
    );

    let out = steps(dir.path(), &["train", "--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.starts_with("step train: fit a classifier"), "{help}");
    assert!(help.contains("$AML_PARAMETER_model"), "{help}");
    assert!(
        Store::new(dir.path().join("runs"))
            .ids()
            .unwrap()
            .is_empty()
    );

    let out = steps(dir.path(), &["trian"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("no step named \"trian\"; did you mean \"train\"?"));
}

#[test]
fn a_failing_log_is_reported_once_per_key_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(dir.path(), &["orphan", "--times", "5"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with("run-runtime: to_parent() could not log the metric \"to_parent\" to its parent: run OfflineRun_"),
        "{text}"
    );
    assert!(lines[0].ends_with("(reported once for this key)"), "{text}");
    assert_eq!(only_run(dir.path()).status, Status::Finished);
}

#[test]
fn the_step_list_of_a_program_is_its_registry() {
    let dir = tempfile::tempdir().unwrap();
    let out = steps(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        listing.lines().last(),
        Some("steps: curve, explode, needs_data, orphan, train")
    );
}
